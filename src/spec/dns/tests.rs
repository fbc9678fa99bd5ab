use crate::spec::testutil::{problems, valid};

const LAB: &str = "name: t\nnetworks:\n  - name: lan\n    cidr: 10.77.0.0/24\n    dns:\n";
const NODES: &str = "nodes:\n  - name: web\n  - name: db\n";

#[test]
fn names_point_at_nodes_aliases_and_addresses() {
    let lab = valid(&format!(
        "{LAB}      database: db\n      primary: database\n      www: 10.77.0.200\n{NODES}"
    ));
    let db = lab.nodes[1].ip;
    assert_eq!(
        lab.networks[0].dns,
        vec![
            ("database".to_string(), db),
            ("primary".to_string(), db),
            ("www".to_string(), "10.77.0.200".parse().unwrap()),
        ]
    );
}

#[test]
fn every_bad_name_and_target_is_reported_with_its_place() {
    let got = problems(&format!(
        "{LAB}      Data_Base: db\n      web: db\n      far: 10.99.0.1\n      lost: dbb\n      a: b\n      b: a\n{NODES}"
    ));
    assert_eq!(
        got,
        [
            "t.yaml:6:7: networks[0].dns.Data_Base: `Data_Base` is not a DNS name\n  hint: use lowercase letters, digits and '-', starting and ending with a letter or digit, e.g. `database`",
            "t.yaml:7:7: networks[0].dns.web: `web` is already a node's name\n  hint: a node's own name is in the DNS already; give the extra name another spelling",
            "t.yaml:8:12: networks[0].dns.far: 10.99.0.1 is not a host address of this network (10.77.0.0/24)\n  hint: point the name at an address inside the network, or at a node",
            "t.yaml:9:13: networks[0].dns.lost: `dbb` is not a node, a name of this network or an address\n  hint: did you mean `db`?",
            "t.yaml:10:10: networks[0].dns.a: the names b → a point at each other in a loop\n  hint: point one of them at a node or an address",
            "t.yaml:11:10: networks[0].dns.b: the names a → b point at each other in a loop\n  hint: point one of them at a node or an address",
        ]
    );
}

#[test]
fn the_plan_serves_extra_names_with_the_node_they_point_at() {
    let plan = crate::plan::testing::plan_of("labs/three-tier.yaml", |lab| {
        let db = lab.nodes.iter().find(|n| n.name == "db").unwrap().ip;
        lab.networks[0].dns = vec![
            ("database".into(), db),
            ("www".into(), "10.78.0.200".parse().unwrap()),
        ];
    });
    let dns = &plan.networks[0].dns;
    let db = dns.iter().find(|h| h.names[1] == "db").unwrap();
    assert_eq!(
        db.names,
        [
            "db.three-tier.lab",
            "db",
            "database.three-tier.lab",
            "database"
        ]
    );
    let www = dns.last().unwrap();
    assert_eq!(www.ip.to_string(), "10.78.0.200");
    assert_eq!(www.names, ["www.three-tier.lab", "www"]);
}

/// A `database:` that neither a node nor a `dns:` name resolves: one error at the value, with
/// what to write instead.
#[test]
fn an_app_database_that_is_no_node_and_no_dns_name_is_one_error() {
    let app = |database: &str| {
        problems(&format!(
            "{LAB}      database: db\nnodes:\n  - name: web\n    roles: [app]\n    app: {{database: {database}}}\n  - name: db\n    roles: [mysql]\n"
        ))
    };
    let at = "t.yaml:10:21: nodes[0].app.database";
    assert_eq!(
        app("databse"),
        [format!(
            "{at}: `databse` is neither a node nor a `dns:` name of the lab\n  hint: did you mean `database`?"
        )]
    );
    assert_eq!(
        app("database.t.lab"),
        [format!(
            "{at}: `database.t.lab` is neither a node nor a `dns:` name of the lab\n  hint: write the name without its domain: `database: database`"
        )]
    );
    assert_eq!(
        app("db.t.lab"),
        [format!(
            "{at}: `db.t.lab` is neither a node nor a `dns:` name of the lab\n  hint: write `database: db` (the app connects to its address), or give db a network `dns:` name (`dns: {{database: db}}`) and write that name, which the app looks up at each connection"
        )]
    );
    assert_eq!(
        app("store"),
        [format!(
            "{at}: `store` is neither a node nor a `dns:` name of the lab\n  hint: name a database node (db) or a network's `dns:` name that points at one"
        )]
    );
}

#[test]
fn an_app_may_reach_its_database_by_a_dns_name() {
    let lab = valid(&format!(
        "{LAB}      database: db\nnodes:\n  - name: web\n    roles: [app]\n    app: {{database: database}}\n  - name: db\n    roles: [mysql]\n"
    ));
    assert_eq!(
        lab.nodes[0].app().and_then(|a| a.database.as_deref()),
        Some("db")
    );
    assert_eq!(
        lab.nodes[0].app().and_then(|a| a.database_host.as_deref()),
        Some("database")
    );
    // A name that leads to an address rather than a database node is no database.
    let got = problems(&format!(
        "{LAB}      database: 10.77.0.50\nnodes:\n  - name: web\n    roles: [app]\n    app: {{database: database}}\n  - name: db\n    roles: [mysql]\n"
    ));
    assert_eq!(
        got,
        [
            "t.yaml:10:21: nodes[0].app.database: `database` is a `dns:` name, but it does not lead to a node\n  hint: point it at a database node, e.g. `database: db`"
        ]
    );
}

#[test]
fn haproxy_may_reach_a_backend_by_a_dns_name() {
    let nodes = "nodes:\n  - name: lb\n    roles: [haproxy]\n    haproxy: {backends: [front, app2]}\n  - name: app1\n    roles: [app]\n  - name: app2\n    roles: [app]\n  - name: db\n    roles: [mysql]\n";
    let lab = valid(&format!("{LAB}      front: app1\n{nodes}"));
    let lb = lab.nodes[0].haproxy().expect("haproxy");
    assert_eq!(lb.backends, ["app1", "app2"]);
    assert_eq!(
        lb.backend_hosts.get("app1").map(String::as_str),
        Some("front")
    );
    assert_eq!(lb.backend_hosts.len(), 1);
    // The plan keeps the name's FQDN in the network's domain, which haproxy resolves.
    let plan = crate::plan::testing::plan_of("labs/three-tier.yaml", |lab| {
        let lb = lab.nodes.iter_mut().find(|n| n.name == "lb").unwrap();
        lb.haproxy_mut()
            .backend_hosts
            .insert("app1".into(), "front".into());
    });
    let lb = plan.nodes.iter().find(|n| n.name == "lb").unwrap();
    assert_eq!(
        lb.backend_hosts.get("app1").map(String::as_str),
        Some("front.three-tier.lab")
    );
}

#[test]
fn a_backend_by_name_must_lead_to_an_app_node_not_listed_already() {
    let nodes = |backends: &str| {
        format!(
            "nodes:\n  - name: lb\n    roles: [haproxy]\n    haproxy: {{backends: [{backends}]}}\n  - name: app1\n    roles: [app]\n  - name: db\n    roles: [mysql]\n"
        )
    };
    let got = problems(&format!(
        "{LAB}      front: app1\n      store: db\n      www: 10.77.0.9\n{}",
        nodes("front, app1, store, www")
    ));
    assert_eq!(
        got,
        [
            "t.yaml:12:33: nodes[0].haproxy.backends[1]: `app1` is node `app1`, already listed as `front`\n  hint: list each backend once",
            "t.yaml:12:39: nodes[0].haproxy.backends[2]: `store` leads to node `db`, which has no `app` role\n  hint: list nodes with role app: app1",
            "t.yaml:12:46: nodes[0].haproxy.backends[3]: `www` is a `dns:` name, but it does not lead to a node\n  hint: point it at an app node, e.g. `www: app1`",
        ]
    );
}
