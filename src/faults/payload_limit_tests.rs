use super::*;
use crate::faults::engine::Reverted;
use crate::faults::record::FaultRecord;
use crate::faults::testing::{Bench, build, node, sudo};
use crate::remote::fake::{FakeRemote, exact, ok};

const VARS: &str = "cfg=/etc/haproxy/haproxy.cfg\nline='    http-request deny deny_status 413 if { req.hdr_val(content-length) gt 16 }'\n";

const REPLACE: &str = r#"chown --reference="$cfg" "$tmp"
chmod --reference="$cfg" "$tmp"
if ! haproxy -c -q -f "$tmp"; then rm -f "$tmp"; echo "haproxy rejects the changed configuration" >&2; exit 1; fi
mv -f "$tmp" "$cfg"
main=$(systemctl show -p MainPID --value haproxy.service || true)
workers() { cat /proc/$main/task/*/children 2>/dev/null || true; }
old=" $(workers) "
systemctl reload haproxy.service
i=0
while [ "${main:-0}" != 0 ] && [ $i -lt 100 ]; do
  fresh=
  for p in $(workers); do
    case "$old" in *" $p "*) ;; *) fresh=$p ;; esac
  done
  if [ -n "$fresh" ]; then break; fi
  sleep 0.1
  i=$((i + 1))
done
"#;

fn prepare() -> String {
    format!(
        "{VARS}if ! grep -qx 'frontend web' \"$cfg\"; then echo \"$cfg has no 'frontend web' section\" >&2; exit 3; fi\n\
         if grep -qxF \"$line\" \"$cfg\"; then echo \"$cfg already has that limit\" >&2; exit 3; fi\n\
         echo \"active=$(systemctl is-active haproxy.service 2>/dev/null)\"\n"
    )
}

fn inject() -> String {
    format!(
        "set -e\n{VARS}tmp=$(mktemp \"$cfg.XXXXXX\")\n\
         awk -v line=\"$line\" -v section='frontend web' '{{ print }} $0 == section {{ print line }}' \"$cfg\" > \"$tmp\"\n{REPLACE}"
    )
}

fn revert() -> String {
    format!(
        "set -e\n{VARS}if grep -qxF \"$line\" \"$cfg\"; then\ntmp=$(mktemp \"$cfg.XXXXXX\")\n\
         grep -vxF \"$line\" \"$cfg\" > \"$tmp\" || true\n{REPLACE}echo \"removed the body size limit from $cfg\"\nfi\n"
    )
}

#[tokio::test]
async fn inject_verify_revert_run_exactly_these_commands() {
    let bench = Bench::new();
    let verify = format!("{VARS}echo \"lines=$(grep -cxF \"$line\" \"$cfg\")\"\n");
    let lb = FakeRemote::new("lb")
        .once(exact(&sudo(&prepare())), ok("active=active\n"))
        .once(exact(&sudo(&inject())), ok(""))
        .once(exact(&sudo(&verify)), ok("lines=1\n"))
        .once(
            exact(&sudo(&revert())),
            ok("removed the body size limit from /etc/haproxy/haproxy.cfg\n"),
        );
    let engine = bench.engine(&lb, "d");
    let fault = build(
        "payload-limit",
        &node("lb", &[crate::spec::Role::Haproxy]),
        &[],
    )
    .unwrap();
    let mut rec = FaultRecord::new("lb", fault);
    engine.inject(&mut rec, None).await.unwrap();
    assert_eq!(
        engine.verify(&mut rec).await.unwrap(),
        Verdict {
            active: true,
            detail: "/etc/haproxy/haproxy.cfg limits bodies to 16 bytes".into()
        }
    );
    assert_eq!(
        engine.revert(&mut rec).await.unwrap(),
        Reverted::Done(vec![
            "removed the body size limit from /etc/haproxy/haproxy.cfg".into()
        ])
    );
    lb.assert_all_used();
}

#[test]
fn only_haproxy_nodes() {
    let err = build("payload-limit", &crate::faults::testing::app1(), &[]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "payload-limit does not fit node app1: it changes haproxy's configuration, and the node has no haproxy role"
    );
}

/// The scripts for real on a copy of a haproxy configuration: haproxy itself accepts the
/// changed file, the rule sits in `frontend web`, and revert gives back the file byte for
/// byte, keeping a line the learner added meanwhile.
#[test]
#[ignore = "needs haproxy: scripts/test (scripts/install-deps installs it)"]
fn haproxy_accepts_the_rule_and_revert_restores_the_file() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = tmp.path().join("haproxy.cfg");
    let original = "global\n    log /dev/log local0\n\ndefaults\n    mode http\n    timeout connect 5s\n    timeout client 30s\n    timeout server 30s\n\n\
                    frontend web\n    bind 127.0.0.1:8080\n    default_backend app\n\n\
                    backend app\n    server app1 127.0.0.1:9999\n";
    std::fs::write(&cfg, original).unwrap();
    let f = PayloadLimit {
        max: 1024,
        config: cfg.to_str().unwrap().to_string(),
    };
    let run = |script: &str| crate::faults::testing::sh(&format!("systemctl() {{ :; }}\n{script}"));
    let out = run(&f.inject_script());
    assert!(out.success(), "{out:?}");
    let changed = std::fs::read_to_string(&cfg).unwrap();
    assert!(
        changed.contains("frontend web\n    http-request deny deny_status 413 if { req.hdr_val(content-length) gt 1024 }\n    bind 127.0.0.1:8080\n"),
        "{changed}"
    );
    let check = std::process::Command::new("haproxy")
        .args(["-c", "-q", "-f"])
        .arg(&cfg)
        .output()
        .unwrap();
    assert!(check.status.success(), "{check:?}");
    let verify = run(&f.verify_script());
    assert!(
        f.verdict(&crate::faults::text::Fields::parse(&verify.stdout_str()), 0)
            .active
    );
    // The learner's own edit survives the revert.
    std::fs::write(
        &cfg,
        changed.replace(
            "    default_backend app\n",
            "    default_backend app\n    option forwardfor\n",
        ),
    )
    .unwrap();
    let out = run(&f.revert_script(None));
    assert_eq!(
        out.stdout_str(),
        format!("removed the body size limit from {}\n", cfg.display())
    );
    assert_eq!(
        std::fs::read_to_string(&cfg).unwrap(),
        original.replace(
            "    default_backend app\n",
            "    default_backend app\n    option forwardfor\n"
        )
    );
    assert_eq!(run(&f.revert_script(None)).stdout_str(), "");
    let left: Vec<_> = std::fs::read_dir(tmp.path()).unwrap().collect();
    assert_eq!(left.len(), 1, "temp files left: {left:?}");
}
