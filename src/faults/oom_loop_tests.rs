use super::*;
use crate::faults::engine::Reverted;
use crate::faults::record::FaultRecord;
use crate::faults::testing::{Bench, app1, build, node, sudo};
use crate::remote::fake::{FakeRemote, contains, exact, ok};

const DROPIN: &str = "/etc/systemd/system/todo.service.d/50-memory.conf";

#[tokio::test]
async fn writes_the_limit_verifies_it_and_removes_only_its_file() {
    let bench = Bench::new();
    let fault = build("oom-loop", &app1(), &[("max", "48")]).unwrap();
    let Fault::OomLoop(f) = fault.clone() else {
        panic!()
    };
    let app = FakeRemote::new("app1")
        .once(
            exact(&sudo(&f.dropin.prepare_script())),
            ok("dir=absent\nactive=active\n"),
        )
        .once(contains("MemoryMax=48M"), ok(""))
        .once(
            contains("NRestarts"),
            ok("dropin=present\nmemory_max=50331648\nrestarts=3\n"),
        )
        .once(
            contains("rm -f"),
            ok(&format!("removed {DROPIN}\nstarted todo.service\n")),
        );
    let engine = bench.engine(&app, "d");
    let mut rec = FaultRecord::new("app1", fault);
    engine.inject(&mut rec, None).await.unwrap();
    let calls = app.commands();
    assert!(calls[1].contains("systemctl daemon-reload"), "{}", calls[1]);
    assert_eq!(
        engine.verify(&mut rec).await.unwrap(),
        Verdict {
            active: true,
            detail: "todo.service may use 48 MiB; systemd restarted it 3 times".into()
        }
    );
    assert_eq!(
        engine.revert(&mut rec).await.unwrap(),
        Reverted::Done(vec![
            format!("removed {DROPIN}"),
            "started todo.service".into()
        ])
    );
    let revert = &app.commands()[3];
    assert!(
        revert.contains("rmdir"),
        "firedrill made the directory: {revert}"
    );
    app.assert_all_used();
}

#[test]
fn verdict_reads_the_units_limit() {
    let Fault::OomLoop(f) = build("oom-loop", &app1(), &[]).unwrap() else {
        panic!()
    };
    assert_eq!(f.max_mib, 18);
    let v = f.verdict(
        &Fields::parse("dropin=absent\nmemory_max=infinity\nrestarts=0\n"),
        0,
    );
    assert_eq!(
        v,
        Verdict {
            active: false,
            detail: "todo.service has no 18 MiB limit (MemoryMax=infinity)".into()
        }
    );
    // The file is there but someone raised the limit elsewhere: the fault does not hold.
    let v = f.verdict(&Fields::parse("dropin=present\nmemory_max=536870912\n"), 0);
    assert!(!v.active);
}

#[test]
fn only_app_nodes_and_sane_limits() {
    let err = build("oom-loop", &node("db", &[crate::spec::Role::Mysql]), &[]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "oom-loop does not fit node db: it limits the todo app's memory, and the node has no app role"
    );
    let err = build("oom-loop", &app1(), &[("max", "2")]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "oom-loop: --param max=\"2\" is not valid: it must be between 8 and 1048576"
    );
}
