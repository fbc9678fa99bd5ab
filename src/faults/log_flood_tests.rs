use super::*;
use crate::faults::engine::Reverted;
use crate::faults::record::FaultRecord;
use crate::faults::testing::{Bench, Spawned, build, is_root, node, sh, sudo};
use crate::faults::text::base64;
use crate::remote::fake::{FakeRemote, exact, ok};
use crate::spec::Role;

const PREPARE: &str = r#"if [ "$(systemctl show -p LoadState --value sync-agent.service)" = loaded ]; then echo "a unit sync-agent.service already exists on this node; firedrill will not replace it" >&2; exit 3; fi
f=/var/log/sync-agent.log
avail() { df -B1 --output=avail "$1" | tail -n 1 | tr -d ' '; }
if [ -e "$f" ] || [ -L "$f" ]; then echo "$f already exists, and firedrill only removes files it made" >&2; exit 3; fi
echo "mount=$(df --output=target "$(dirname "$f")" | tail -n 1)"
echo "avail=$(avail "$(dirname "$f")")"
"#;

fn inject() -> String {
    format!(
        r#"set -e
f=/var/log/sync-agent.log
if [ -e "$f" ] || [ -L "$f" ]; then echo "$f appeared after firedrill checked; not touching it" >&2; exit 3; fi
install -m 0640 -o nobody -g nogroup /dev/null "$f"
echo "inode=$(stat -c %i "$f")"
systemd-run --quiet --collect --unit=sync-agent.service --description='Sync agent' --uid=nobody -p StandardInput=data -p StandardInputData={} /bin/bash -c 'exec -a '\''/usr/local/bin/sync-agent --verbose --log-file /var/log/sync-agent.log'\'' /usr/bin/python3'
"#,
        base64(
            Hog {
                unit: UNIT,
                description: "",
                title: "",
                comm: "sync-agent",
                properties: &[],
                program: &program(LOG, 0),
            }
            .source()
            .as_bytes()
        )
    )
}

const VERIFY: &str = r#"echo "state=$(systemctl is-active sync-agent.service 2>/dev/null)"
echo "tasks=$(systemctl show -p TasksCurrent --value sync-agent.service 2>/dev/null)"
f=/var/log/sync-agent.log
avail() { df -B1 --output=avail "$1" | tail -n 1 | tr -d ' '; }
if [ -e "$f" ]; then echo "size=$(stat -c %s "$f")"; fi
echo "avail=$(avail "$(dirname "$f")")"
"#;

fn revert(inode: &str) -> String {
    format!(
        r#"case "$(systemctl is-active sync-agent.service 2>/dev/null)" in
  active|activating|reloading) systemctl stop sync-agent.service; echo "stopped sync-agent.service" ;;
esac
systemctl reset-failed sync-agent.service 2>/dev/null || true
f=/var/log/sync-agent.log
ino={inode}
if [ ! -e "$f" ] && [ ! -L "$f" ]; then :
elif [ -n "$ino" ] && [ "$(stat -c %i "$f")" != "$ino" ]; then
  echo "left $f: it is not the file firedrill made (another inode)"
elif [ -z "$ino" ] && [ "$(stat -c %U "$f")" != nobody ]; then
  echo "left $f: firedrill did not make it (not owned by nobody)"
else
  rm -f "$f"
  echo "removed $f"
fi
"#
    )
}

#[tokio::test]
async fn inject_verify_revert_run_exactly_these_commands() {
    let bench = Bench::new();
    let server = FakeRemote::new("server")
        .once(exact(&sudo(PREPARE)), ok("mount=/\navail=6442450944\n"))
        .once(exact(&sudo(&inject())), ok("inode=5012\n"))
        .once(
            exact(&sudo(VERIFY)),
            ok("state=active\ntasks=1\nsize=6442450944\navail=0\n"),
        )
        .once(
            exact(&sudo(&revert("5012"))),
            ok("stopped sync-agent.service\nremoved /var/log/sync-agent.log\n"),
        );
    let engine = bench.engine(&server, "d");
    let fault = build("log-flood", &node("server", &[Role::App, Role::Mysql]), &[]).unwrap();
    let mut rec = FaultRecord::new("server", fault);
    engine.inject(&mut rec, None).await.unwrap();
    let Fault::LogFlood(f) = &bench.stored(&rec.id).fault else {
        panic!()
    };
    assert_eq!(f.inode, Some(5012));
    assert_eq!(
        engine.verify(&mut rec).await.unwrap(),
        Verdict {
            active: true,
            detail: "sync-agent.service active; /var/log/sync-agent.log 6.0 GiB; 0 MiB free".into()
        }
    );
    assert_eq!(
        engine.revert(&mut rec).await.unwrap(),
        Reverted::Done(vec![
            "stopped sync-agent.service".into(),
            "removed /var/log/sync-agent.log".into()
        ])
    );
    server.assert_all_used();
}

#[test]
fn it_holds_once_the_disk_is_full_and_the_agent_runs() {
    let Fault::LogFlood(mut f) = build("log-flood", &crate::faults::testing::app1(), &[]).unwrap()
    else {
        panic!()
    };
    let v = |text: &str| f.verdict(&Fields::parse(text), 0);
    let filling = v("state=active\nsize=1048576\navail=4294967296\n");
    assert!(!filling.active);
    assert_eq!(
        filling.detail,
        "sync-agent.service active; /var/log/sync-agent.log 1 MiB; 4.0 GiB free"
    );
    // The file was deleted while the agent holds it open: still full.
    let deleted = v("state=active\navail=0\n");
    assert!(deleted.active);
    assert_eq!(
        deleted.detail,
        "sync-agent.service active; /var/log/sync-agent.log gone; 0 MiB free"
    );
    assert!(!v("state=inactive\nsize=10\navail=0\n").active);
    assert_eq!(
        f.prepared(&Fields::parse("mount=/\navail=4096\n")),
        Err("only 0 MiB are free on / already".into())
    );
    assert_eq!(
        f.summary(),
        "grow /var/log/sync-agent.log as fast as the disk takes it until the disk is full"
    );
    let err = build(
        "log-flood",
        &crate::faults::testing::app1(),
        &[("rate", "fast")],
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "log-flood: --param rate=\"fast\" is not valid: write a whole number"
    );
}

/// The agent for real, slowed to 2 MiB/s, into a temp dir: it writes whole warning lines at
/// about that rate; revert removes its file by inode and leaves a file that replaced it.
#[test]
fn the_agent_writes_warning_lines_at_the_rate_and_revert_removes_only_its_file() {
    let tmp = tempfile::tempdir().unwrap();
    let log = tmp.path().join("sync-agent.log");
    let log_s = log.to_str().unwrap();
    let agent = Spawned::python("sync-agent", &program(log_s, 2));
    assert!(
        agent.wait_for(20, |_| std::fs::metadata(&log)
            .map(|m| m.len() >= 3 << 20)
            .unwrap_or(false)),
        "the log did not grow"
    );
    let size = std::fs::metadata(&log).unwrap().len();
    drop(agent);
    let text = std::fs::read_to_string(&log).unwrap();
    let first = text.lines().next().unwrap();
    assert!(
        first.contains(" WARN sync-agent[")
            && first.ends_with(
                "]: upstream sync.internal:8443 unreachable (connection refused); retrying now"
            ),
        "{first}"
    );
    assert!(text.ends_with("retrying now\n"), "only whole lines");
    assert!(size < 16 << 20, "{size} bytes: the rate was not kept");

    let inode = std::fs::metadata(&log).map(|m| {
        use std::os::unix::fs::MetadataExt;
        m.ino()
    });
    let f = LogFlood {
        rate_mib: 2,
        log: log_s.to_string(),
        inode: Some(inode.unwrap()),
    };
    // Another file at the path (the learner's, say) is left alone.
    std::fs::rename(&log, tmp.path().join("old.log")).unwrap();
    std::fs::write(&log, "mine\n").unwrap();
    assert_eq!(
        sh(&f.revert_script(None)).stdout_str(),
        format!("left {log_s}: it is not the file firedrill made (another inode)\n")
    );
    assert!(log.exists());
    std::fs::remove_file(&log).unwrap();
    std::fs::rename(tmp.path().join("old.log"), &log).unwrap();
    assert_eq!(
        sh(&f.revert_script(None)).stdout_str(),
        format!("removed {log_s}\n")
    );
    assert!(!log.exists());
    assert_eq!(sh(&f.revert_script(None)).stdout_str(), "");
}

/// On a full filesystem (an 8 MiB tmpfs in a private mount namespace), the agent fills it,
/// keeps running, and refills the file after it is truncated.
#[test]
#[ignore = "needs root: scripts/test"]
fn the_agent_fills_a_small_tmpfs_and_refills_it_after_a_truncate() {
    assert!(
        is_root(),
        "needs root (a private mount namespace and a tmpfs): run scripts/test"
    );
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path().to_str().unwrap().to_string();
    let log = format!("{t}/sync-agent.log");
    let avail = format!("df -B1 --output=avail {t} | tail -n 1 | tr -d ' '");
    let driver = format!(
        "set -e\n\
         mount -t tmpfs -o size=8m tmpfs {t}\n\
         python3 - <<'EOF' &\n{program}EOF\n\
         agent=$!\n\
         full() {{ for i in $(seq 100); do [ \"$({avail})\" -lt 1048576 ] && return 0; sleep 0.1; done; return 1; }}\n\
         full; echo \"full=$({avail}) size=$(stat -c %s {log})\"\n\
         kill -STOP $agent; : > {log}; echo marker >> {log}\n\
         echo \"truncated=$({avail})\"\n\
         kill -CONT $agent\n\
         full; echo \"refilled=$({avail}) size=$(stat -c %s {log}) first=$(head -n 1 {log})\"\n\
         kill -0 $agent && echo alive=yes\n\
         kill $agent\n",
        program = program(&log, 0),
    );
    let out = std::process::Command::new("unshare")
        .args(["--mount", "--propagation", "private", "sh", "-c", &driver])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{out:?}");
    let fields = Fields::parse(&stdout.replace(' ', "\n"));
    assert!(fields.number::<u64>("full").unwrap() < 1 << 20, "{stdout}");
    assert!(
        fields.number::<u64>("truncated").unwrap() > 6 << 20,
        "{stdout}"
    );
    assert!(
        fields.number::<u64>("refilled").unwrap() < 1 << 20,
        "{stdout}"
    );
    // O_APPEND: after the truncate it wrote from the new end, not into a hole.
    assert_eq!(fields.get("first"), Some("marker"), "{stdout}");
    assert!(fields.number::<u64>("size").unwrap() > 7 << 20, "{stdout}");
    assert_eq!(fields.get("alive"), Some("yes"), "{stdout}");
}
