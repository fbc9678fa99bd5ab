use super::*;
use crate::faults::engine::Reverted;
use crate::faults::record::FaultRecord;
use crate::faults::testing::{Bench, app1, build, sudo};
use crate::remote::fake::{FakeRemote, contains, exact, ok};

fn fault(params: &[(&str, &str)]) -> DnsBroken {
    let Fault::DnsBroken(f) = build("dns-broken", &app1(), params).unwrap() else {
        panic!()
    };
    f
}

#[tokio::test]
async fn replaces_resolvconfs_link_and_links_it_back() {
    let bench = Bench::new();
    let f = fault(&[]);
    let app = FakeRemote::new("app1")
        .once(
            exact(&sudo(&f.prepare_script())),
            ok("link=../run/resolvconf/resolv.conf\n"),
        )
        .once(
            contains("mv -f \"$new\" /etc/resolv.conf"),
            ok("written=yes\n"),
        )
        .once(contains("getent hosts"), ok("broken=yes\nresolves=no\n"))
        .once(
            contains("ln -sfn"),
            ok("/etc/resolv.conf links to ../run/resolvconf/resolv.conf again\n"),
        );
    let engine = bench.engine(&app, "d");
    let mut rec = FaultRecord::new("app1", Fault::DnsBroken(f));
    engine.inject(&mut rec, None).await.unwrap();
    let inject = &app.commands()[1];
    assert!(inject.contains("nameserver 127.0.0.53"), "{inject}");
    assert!(
        inject.contains("^search"),
        "the search domains stay: {inject}"
    );
    assert_eq!(
        engine.verify(&mut rec).await.unwrap(),
        Verdict {
            active: true,
            detail: "/etc/resolv.conf names only 127.0.0.53".into()
        }
    );
    assert_eq!(
        engine.revert(&mut rec).await.unwrap(),
        Reverted::Done(vec![
            "/etc/resolv.conf links to ../run/resolvconf/resolv.conf again".into()
        ])
    );
    let revert = &app.commands()[3];
    assert!(
        revert.starts_with("sudo -n sh -c") && revert.contains("grep -qx"),
        "only while the file is still the fault's: {revert}"
    );
    app.assert_all_used();
}

/// The whole round trip on real files, in a private mount namespace over a copy of this
/// host's resolv.conf: the link is replaced by the fault's file and linked back by revert; a
/// file the learner fixed is left alone.
#[test]
#[ignore = "needs root: scripts/test"]
fn the_scripts_break_and_restore_a_real_resolv_conf_needs_root() {
    let mut f = fault(&[("server", "192.0.2.53")]);
    f.prepared(&Fields::parse("link=/run/resolvconf/resolv.conf\n"))
        .unwrap();
    let script = format!(
        "set -e\nmount -t tmpfs fd-etc /run\nmkdir -p /run/resolvconf\n\
         printf 'search lab.test\\nnameserver 10.78.0.1\\n' > /run/resolvconf/resolv.conf\n\
         cp -a /etc /run/etc-copy 2>/dev/null || true\nmount --bind /run/etc-copy /etc\n\
         ln -sfn /run/resolvconf/resolv.conf /etc/resolv.conf\n\
         {inject}\necho ---\ncat /etc/resolv.conf\necho ---\n{verify}\n{revert}\n\
         readlink /etc/resolv.conf\n\
         {inject}\necho 'nameserver 10.78.0.1' > /etc/resolv.conf\n{revert}\necho fixed-kept=$(cat /etc/resolv.conf)\n",
        inject = f.inject_script(),
        verify = f.verify_script(),
        revert = f.revert_script(Some(1)),
    );
    let out = std::process::Command::new("unshare")
        .args(["--mount", "--fork", "sh", "-c", &script])
        .output()
        .expect("unshare");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let written = text.split("---").nth(1).unwrap_or_default();
    assert!(
        written.contains("nameserver 192.0.2.53\n") && written.contains("search lab.test"),
        "{written}"
    );
    assert!(text.contains("broken=yes"), "{text}");
    assert!(
        text.contains("/etc/resolv.conf links to /run/resolvconf/resolv.conf again\n/run/resolvconf/resolv.conf\n"),
        "{text}"
    );
    assert!(
        text.contains("fixed-kept=nameserver 10.78.0.1"),
        "the learner's fix is kept: {text}"
    );
}

#[test]
fn a_file_comes_back_as_it_was_and_bad_servers_are_refused() {
    let mut f = fault(&[]);
    f.prepared(&Fields::parse("file=bmFtZXNlcnZlciAxMC43OC4wLjEK\n"))
        .unwrap();
    let revert = f.revert_script(None);
    assert!(
        revert.contains("printf %s bmFtZXNlcnZlciAxMC43OC4wLjEK | base64 -d"),
        "{revert}"
    );
    let err = build("dns-broken", &app1(), &[("server", "dns.example")])
        .unwrap_err()
        .to_string();
    assert!(err.contains("write an IPv4 address"), "{err}");
}
