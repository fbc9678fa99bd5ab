use super::*;
use crate::faults::engine::Reverted;
use crate::faults::record::FaultRecord;
use crate::faults::testing::{Bench, build, node, sudo};
use crate::faults::text::Fields;
use crate::remote::fake::{FakeRemote, exact, ok};
use crate::spec::Role;

#[tokio::test]
async fn stops_and_starts_exactly_the_service() {
    let bench = Bench::new();
    let check = "echo \"active=$(systemctl is-active haproxy.service 2>/dev/null)\"\n";
    let node_lb = FakeRemote::new("lb")
        .once(exact(&sudo(check)), ok("active=active\n"))
        .once(exact(&sudo("set -e\nsystemctl stop haproxy.service\n")), ok(""))
        .once(exact(&sudo(check)), ok("active=inactive\n"))
        .once(
            exact(&sudo(
                "set -e\nif ! systemctl is-active --quiet haproxy.service; then systemctl start haproxy.service; echo \"started haproxy.service\"; fi\n",
            )),
            ok("started haproxy.service\n"),
        );
    let engine = bench.engine(&node_lb, "d");
    let fault = build("service-stopped", &node("lb", &[Role::Haproxy]), &[]).unwrap();
    let mut rec = FaultRecord::new("lb", fault);
    engine.inject(&mut rec, None).await.unwrap();
    assert_eq!(
        engine.verify(&mut rec).await.unwrap(),
        Verdict {
            active: true,
            detail: "haproxy.service inactive".into()
        }
    );
    assert_eq!(
        engine.revert(&mut rec).await.unwrap(),
        Reverted::Done(vec!["started haproxy.service".into()])
    );
    node_lb.assert_all_used();
}

#[test]
fn the_service_must_be_one_of_the_nodes_roles() {
    let db = node("db", &[Role::Mysql]);
    let Fault::ServiceStopped(f) = build("service-stopped", &db, &[]).unwrap() else {
        panic!()
    };
    assert_eq!(f.service, "mariadb.service");
    let Fault::ServiceStopped(f) =
        build("service-stopped", &db, &[("service", "mariadb")]).unwrap()
    else {
        panic!()
    };
    assert_eq!(f.service, "mariadb.service");
    let err = build("service-stopped", &db, &[("service", "sshd")]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "service-stopped: --param service=\"sshd\" is not valid: db runs: mariadb.service"
    );
    let err = build("service-stopped", &node("bare", &[]), &[]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "service-stopped does not fit node bare: the node has no role, so no service to stop"
    );
    let mut f = f;
    assert_eq!(
        f.prepared(&Fields::parse("active=inactive\n")),
        Err("mariadb.service is not running (systemctl is-active says \"inactive\")".into())
    );
}
