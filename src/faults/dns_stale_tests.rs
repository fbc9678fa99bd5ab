use super::*;
use crate::faults::engine::Reverted;
use crate::faults::record::FaultRecord;
use crate::faults::testing::{Bench, app1, build, node, sudo};
use crate::faults::text::Fields;
use crate::remote::fake::{FakeRemote, contains, exact, ok};
use crate::roles::Role;

fn gw() -> crate::plan::NodePlan {
    node("gw", &[Role::Router, Role::Dns])
}

fn fault(params: &[(&str, &str)]) -> DnsStale {
    let Fault::DnsStale(f) = build("dns-stale", &gw(), params).unwrap() else {
        panic!()
    };
    f
}

const PREPARED: &str = "zone=network.lab\nfile=/etc/bind/db.network.lab\nwas=10.85.0.20\n\
                        to=10.85.0.30\nresolver=10.84.0.2\n";

#[test]
fn build_checks_the_node_the_name_and_the_ttl() {
    let err = build("dns-stale", &app1(), &[("name", "db")]).unwrap_err();
    assert!(
        err.to_string()
            .contains("app1 serves no zone: apply dns-stale to the node with the dns role"),
        "{err}"
    );
    assert!(build("dns-stale", &gw(), &[]).is_err());
    assert!(build("dns-stale", &gw(), &[("name", "db"), ("ttl", "60")]).is_err());
    assert!(build("dns-stale", &gw(), &[("name", "db"), ("ttl", "9999999")]).is_err());
    assert_eq!(fault(&[("name", "DB")]).ttl, 86_400);
    assert_eq!(fault(&[("name", "db"), ("ttl", "3600")]).ttl, 3600);
}

#[test]
fn prepared_keeps_the_record_and_the_resolver() {
    let mut f = fault(&[("name", "db")]);
    f.prepared(&Fields::parse(PREPARED)).unwrap();
    assert_eq!(
        f.summary(),
        "the lab's resolver serves 10.85.0.30 for db.network.lab (cached for 86400 s); \
         the zone has 10.85.0.20"
    );
    assert_eq!(f.resolver, Some("10.84.0.2".parse().unwrap()));
    let mut f = fault(&[("name", "db")]);
    let err = f
        .prepared(&Fields::parse(
            &PREPARED.replace("resolver=10.84.0.2\n", ""),
        ))
        .unwrap_err();
    assert!(err.contains("resolver"), "{err}");
}

#[test]
fn the_verdict_says_how_long_the_old_answer_lasts() {
    let mut f = fault(&[("name", "db")]);
    f.prepared(&Fields::parse(PREPARED)).unwrap();
    let v = f.verdict(
        &Fields::parse("answer=10.85.0.30 \nleft=86372\nauthority=10.85.0.20 \n"),
        0,
    );
    assert_eq!(
        v,
        Verdict {
            active: true,
            detail: "the resolver answers 10.85.0.30 for db.network.lab for 86372 s more; \
                     the zone has 10.85.0.20"
                .into()
        }
    );
    let v = f.verdict(
        &Fields::parse("answer=10.85.0.20 \nleft=300\nauthority=10.85.0.20 \n"),
        0,
    );
    assert!(!v.active);
    assert_eq!(
        v.detail,
        "the resolver answers 10.85.0.20 for db.network.lab; the zone has 10.85.0.20"
    );
}

/// Through the engine: the record and the resolver found on the dns node, the stale answer
/// cached there, verified by asking the resolver, forgotten by the revert.
#[tokio::test]
async fn caches_the_old_answer_on_the_dns_node() {
    let bench = Bench::new();
    let f = fault(&[("name", "db"), ("to", "10.85.0.30")]);
    let gw = FakeRemote::new("gw")
        .once(exact(&sudo(&f.prepare_script())), ok(PREPARED))
        .once(
            contains("out=$(rewrite 10.85.0.20 10.85.0.30 86400)\n"),
            ok("cached=yes\n"),
        )
        .once(
            contains("@10.84.0.2 db.network.lab A"),
            ok("answer=10.85.0.30 \nleft=86399\nauthority=10.85.0.20 \n"),
        )
        .once(
            contains("out=$(rewrite 10.85.0.30 10.85.0.20)"),
            ok("the resolver forgot its answer for db.network.lab\n"),
        );
    let engine = bench.engine(&gw, "d");
    let mut rec = FaultRecord::new("gw", Fault::DnsStale(f));
    engine.inject(&mut rec, None).await.unwrap();
    assert!(engine.verify(&mut rec).await.unwrap().active);
    assert_eq!(
        engine.revert(&mut rec).await.unwrap(),
        Reverted::Done(vec![
            "the resolver forgot its answer for db.network.lab".into()
        ])
    );
    gw.assert_all_used();
}

/// The prepare refuses a server that caches nothing for the lab (the dns role's configuration
/// before its resolver view), before anything changes: a real shell on a copy of that file.
#[test]
fn a_server_without_a_resolver_view_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let zf = tmp.path().join("db.network.lab");
    std::fs::write(&zf, "db\tIN\tA\t10.85.0.20\ngw\tIN\tA\t10.85.0.2\n").unwrap();
    let conf = tmp.path().join("named.conf.local");
    std::fs::write(
        &conf,
        format!(
            "zone \"network.lab\" {{\n\ttype primary;\n\tfile \"{}\";\n}};\n",
            zf.display()
        ),
    )
    .unwrap();
    let script = fault(&[("name", "db")])
        .prepare_script()
        .replace(zone_edit::LOCAL_CONF, &conf.display().to_string());
    let out = crate::faults::testing::sh(&script);
    assert_eq!(out.status, 3, "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("has no view with 'recursion yes'): run 'firedrill up'"),
        "{out:?}"
    );
}
