use super::*;
use crate::faults::engine::Reverted;
use crate::faults::record::FaultRecord;
use crate::faults::testing::{Bench, app1, build, sudo};
use crate::remote::fake::{FakeRemote, contains, exact, ok};

const PREPARED: &str = "route=10.90.0.0/24 via 10.78.0.2 dev ens3 proto static\n\
                        connected=10.78.0.0/24\n\
                        ssh_from=10.78.0.1\n";

fn fault(to: &str) -> RouteMissing {
    let Fault::RouteMissing(f) = build("route-missing", &app1(), &[("to", to)]).unwrap() else {
        panic!()
    };
    f
}

#[tokio::test]
async fn removes_the_route_and_puts_back_what_ip_printed() {
    let bench = Bench::new();
    let f = fault("10.90.0.0/24");
    let app = FakeRemote::new("app1")
        .once(exact(&sudo(&f.prepare_script())), ok(PREPARED))
        .once(contains("ip -4 route del \"$to\""), ok("removed=yes\n"))
        .once(contains("ip -4 route show exact"), ok(""))
        .once(
            contains("ip -4 route replace"),
            ok("restored the route 10.90.0.0/24 via 10.78.0.2 dev ens3 proto static\n"),
        );
    let engine = bench.engine(&app, "d");
    let mut rec = FaultRecord::new("app1", Fault::RouteMissing(f));
    engine.inject(&mut rec, None).await.unwrap();
    assert_eq!(
        engine.verify(&mut rec).await.unwrap(),
        Verdict {
            active: true,
            detail: "no route to 10.90.0.0/24 on the node".into()
        }
    );
    assert_eq!(
        engine.revert(&mut rec).await.unwrap(),
        Reverted::Done(vec![
            "restored the route 10.90.0.0/24 via 10.78.0.2 dev ens3 proto static".into()
        ])
    );
    let revert = &app.commands()[3];
    assert!(
        revert.contains("ip -4 route replace 10.90.0.0/24 via 10.78.0.2 dev ens3 proto static"),
        "{revert}"
    );
    app.assert_all_used();
}

#[test]
fn refuses_own_subnets_missing_routes_and_firedrills_own_path() {
    let mut f = fault("10.78.0.0/24");
    let err = f
        .prepared(&Fields::parse(
            "route=10.78.0.0/24 dev ens3 proto kernel scope link src 10.78.0.11\nconnected=10.78.0.0/24\n",
        ))
        .unwrap_err();
    assert!(err.contains("own subnets"), "{err}");
    let err = fault("10.91.0.0/24")
        .prepared(&Fields::parse("connected=10.78.0.0/24\n"))
        .unwrap_err();
    assert!(err.contains("nothing to remove"), "{err}");
    // The default route, when firedrill's SSH comes from beyond the node's own subnets.
    let err = fault("default")
        .prepared(&Fields::parse(
            "route=default via 10.78.0.1 dev ens3\nconnected=10.78.0.0/24\nssh_from=10.80.0.1\n",
        ))
        .unwrap_err();
    assert!(err.contains("impossible to revert"), "{err}");
    // From the node's own subnet, the default route can go.
    let mut f = fault("default");
    f.prepared(&Fields::parse(
        "route=default via 10.78.0.1 dev ens3\nconnected=10.78.0.0/24\nssh_from=10.78.0.1\n",
    ))
    .unwrap();
    assert_eq!(f.summary(), "remove the node's default route");
    for (params, want) in [
        (&[][..], "name the route"),
        (&[("to", "10.90.0.1/24")][..], "host bits"),
        (&[("to", "lan")][..], "write a network"),
    ] {
        let err = build("route-missing", &app1(), params)
            .unwrap_err()
            .to_string();
        assert!(err.contains(want), "{params:?}: {err}");
    }
}
