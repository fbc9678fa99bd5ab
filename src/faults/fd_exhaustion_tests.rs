use super::*;
use crate::faults::engine::Reverted;
use crate::faults::record::FaultRecord;
use crate::faults::testing::{Bench, app1, build, node, sudo};
use crate::remote::fake::{FakeRemote, contains, exact, ok};

const DROPIN: &str = "/etc/systemd/system/todo.service.d/50-limits.conf";

#[tokio::test]
async fn sets_the_limit_restarts_and_restarts_again_on_revert() {
    let bench = Bench::new();
    let fault = build("fd-exhaustion", &app1(), &[]).unwrap();
    let Fault::FdExhaustion(f) = fault.clone() else {
        panic!()
    };
    let app = FakeRemote::new("app1")
        .once(
            exact(&sudo(&f.dropin.prepare_script())),
            ok("dir=existed\nactive=active\n"),
        )
        .once(contains("LimitNOFILE=8"), ok("restarted todo.service\n"))
        .once(
            contains("/proc/$main_pid/limits"),
            ok("dropin=present\nmain_pid=812\nsoft=8\nopen=7\n"),
        )
        .once(
            contains("rm -f"),
            ok(&format!("removed {DROPIN}\nrestarted todo.service\n")),
        );
    let engine = bench.engine(&app, "d");
    let mut rec = FaultRecord::new("app1", fault);
    engine.inject(&mut rec, None).await.unwrap();
    assert!(app.commands()[1].contains("systemctl restart todo.service"));
    assert_eq!(
        engine.verify(&mut rec).await.unwrap(),
        Verdict {
            active: true,
            detail: "todo.service (PID 812) may open 8 files and has 7 open".into()
        }
    );
    assert_eq!(
        engine.revert(&mut rec).await.unwrap(),
        Reverted::Done(vec![
            format!("removed {DROPIN}"),
            "restarted todo.service".into()
        ])
    );
    let revert = &app.commands()[3];
    assert!(
        !revert.contains("rmdir"),
        "the directory was there before: {revert}"
    );
    app.assert_all_used();
}

#[test]
fn verdict_and_fit() {
    let Fault::FdExhaustion(f) = build("fd-exhaustion", &app1(), &[("limit", "20")]).unwrap()
    else {
        panic!()
    };
    let v = f.verdict(&Fields::parse("dropin=absent\nmain_pid=0\n"), 0);
    assert_eq!(
        v,
        Verdict {
            active: false,
            detail: "todo.service is not running".into()
        }
    );
    let v = f.verdict(
        &Fields::parse("dropin=present\nmain_pid=5\nsoft=1024\nopen=9\n"),
        0,
    );
    assert!(!v.active, "the process still has the old limit: {v:?}");
    let err = build(
        "fd-exhaustion",
        &node("lb", &[crate::spec::Role::Haproxy]),
        &[],
    )
    .unwrap_err();
    assert!(
        err.to_string().contains("the node has no app role"),
        "{err}"
    );
}
