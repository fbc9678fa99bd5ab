use super::*;
use crate::roles::Release;
use crate::spec::AppOptions;
use crate::spec::testutil::{HEAD, problems, valid};

fn lab(nodes: &[&str]) -> String {
    let nodes: String = nodes.iter().map(|n| format!("  - {n}\n")).collect();
    format!("{HEAD}{nodes}")
}

fn databases(yaml: &str) -> Vec<(String, Option<String>)> {
    valid(yaml)
        .nodes
        .into_iter()
        .map(|n| {
            let db = n.app().and_then(|a| a.database.clone());
            (n.name, db)
        })
        .collect()
}

#[test]
fn app_database_must_name_a_node() {
    let yaml = lab(&[
        "{name: web, roles: [app], app: {database: dbb}}",
        "{name: db, roles: [mysql]}",
    ]);
    assert_eq!(
        problems(&yaml),
        [
            "t.yaml:6:47: nodes[0].app.database: `dbb` is neither a node nor a `dns:` name of the lab\n  hint: did you mean `db`?"
        ]
    );
}

#[test]
fn app_database_must_name_a_database_node() {
    let yaml = lab(&[
        "{name: web, roles: [app], app: {database: web2}}",
        "{name: web2, roles: [app], app: {database: db}}",
        "{name: db, roles: [mysql]}",
    ]);
    assert_eq!(
        problems(&yaml),
        [
            "t.yaml:6:47: nodes[0].app.database: node `web2` has no database role (mysql or postgres)\n  \
          hint: name a node with role mysql or postgres: db"
        ]
    );
}

#[test]
fn app_database_is_the_named_node_or_the_only_database() {
    let yaml = lab(&[
        "{name: a, roles: [app], app: {database: pg}}",
        "{name: b, roles: [app], app: {database: my}}",
        "{name: my, roles: [mysql]}",
        "{name: pg, roles: [postgres]}",
    ]);
    assert_eq!(
        databases(&yaml),
        [
            ("a".to_string(), Some("pg".to_string())),
            ("b".to_string(), Some("my".to_string())),
            ("my".to_string(), None),
            ("pg".to_string(), None),
        ]
    );
    let yaml = lab(&["{name: a, roles: [app]}", "{name: db, roles: [postgres]}"]);
    assert_eq!(
        databases(&yaml),
        [
            ("a".to_string(), Some("db".to_string())),
            ("db".to_string(), None)
        ]
    );
}

#[test]
fn an_app_needs_a_database_node() {
    assert_eq!(
        problems(&lab(&["{name: web, roles: [app]}"])),
        [
            "t.yaml:6:25: nodes[0].roles: node `web` has role app but the lab has no database node\n  \
          hint: add a node with role mysql or postgres, e.g. `- {name: db, roles: [mysql]}`"
        ]
    );
}

#[test]
fn a_lab_without_app_needs_no_database() {
    let lab = valid(&lab(&["{name: plain}", "{name: other, roles: []}"]));
    assert_eq!(lab.nodes[0].roles, Vec::<Role>::new());
    assert_eq!(lab.nodes[0].app(), None);
}

#[test]
fn several_databases_need_app_database() {
    let yaml = lab(&[
        "{name: web, roles: [app]}",
        "{name: db1, roles: [mysql]}",
        "{name: db2, roles: [postgres]}",
    ]);
    assert_eq!(
        problems(&yaml),
        [
            "t.yaml:6:25: nodes[0].roles: the lab has several database nodes (db1, db2): the app on `web` \
          needs to be told which one to use\n  hint: set `app: {database: db1}` on `web`"
        ]
    );
}

#[test]
fn a_database_node_with_both_engines_is_ambiguous_for_the_app() {
    let yaml = lab(&[
        "{name: web, roles: [app]}",
        "{name: db, roles: [mysql, postgres]}",
    ]);
    assert_eq!(
        problems(&yaml),
        [
            "t.yaml:6:25: nodes[0].roles: node `db` has both mysql and postgres, so the app on `web` cannot \
          tell which to use\n  hint: keep one database role on `db`"
        ]
    );
}

#[test]
fn haproxy_backends_must_be_app_nodes_listed_once() {
    let yaml = lab(&[
        "{name: lb, roles: [haproxy], haproxy: {backends: [ap1, db, app1, app1]}}",
        "{name: app1, roles: [app]}",
        "{name: db, roles: [mysql]}",
    ]);
    assert_eq!(
        problems(&yaml),
        [
            "t.yaml:6:55: nodes[0].haproxy.backends[0]: no node named `ap1`\n  hint: did you mean `app1`?",
            "t.yaml:6:60: nodes[0].haproxy.backends[1]: node `db` has no `app` role\n  \
             hint: list nodes with role app: app1",
            "t.yaml:6:70: nodes[0].haproxy.backends[3]: `app1` is listed twice\n  hint: list each backend once",
        ]
    );
}

#[test]
fn haproxy_backends_may_not_be_empty() {
    let yaml = lab(&[
        "{name: lb, roles: [haproxy], haproxy: {backends: []}}",
        "{name: app1, roles: [app]}",
        "{name: db, roles: [mysql]}",
    ]);
    assert_eq!(
        problems(&yaml),
        [
            "t.yaml:6:54: nodes[0].haproxy.backends: `backends` is empty\n  \
          hint: list the app nodes to balance, or leave `backends` out to use every app node"
        ]
    );
}

#[test]
fn haproxy_backends_are_the_list_or_every_app_node() {
    let yaml = lab(&[
        "{name: lb, roles: [haproxy]}",
        "{name: lb2, roles: [haproxy], haproxy: {backends: [b]}}",
        "{name: a, roles: [app]}",
        "{name: db, roles: [mysql]}",
        "{name: b, roles: [app]}",
    ]);
    let lab = valid(&yaml);
    let backends: Vec<Vec<String>> = lab
        .nodes
        .into_iter()
        .map(|n| n.haproxy().map(|h| h.backends.clone()).unwrap_or_default())
        .collect();
    assert_eq!(
        backends,
        [
            vec!["a".to_string(), "b".to_string()],
            vec!["b".to_string()],
            vec![],
            vec![],
            vec![]
        ]
    );
}

#[test]
fn haproxy_without_any_app_node() {
    assert_eq!(
        problems(&lab(&["{name: lb, roles: [haproxy]}"])),
        [
            "t.yaml:6:24: nodes[0].roles: haproxy on `lb` has no backends: the lab has no node with role app\n  \
          hint: add a node with role app, or list backends in `haproxy: {backends: [NODE]}`"
        ]
    );
}

#[test]
fn role_options_on_a_node_without_the_role() {
    assert_eq!(
        problems(&lab(&["{name: db, roles: [mysql], app: {port: 80}}"])),
        [
            "t.yaml:6:32: nodes[0].app: `app:` options on node `db`, which has no `app` role\n  \
          hint: add `app` to its `roles`, or remove `app:`"
        ]
    );
    assert_eq!(
        problems(&lab(&[
            "{name: db, roles: [mysql], haproxy: {backends: []}}"
        ])),
        [
            "t.yaml:6:32: nodes[0].haproxy: `haproxy:` options on node `db`, which has no `haproxy` role\n  \
          hint: add `haproxy` to its `roles`, or remove `haproxy:`"
        ]
    );
}

#[test]
fn app_port_zero() {
    assert_eq!(
        problems(&lab(&[
            "{name: a, roles: [app], app: {port: 0}}",
            "{name: db, roles: [mysql]}"
        ])),
        [
            "t.yaml:6:41: nodes[0].app.port: the app port must be from 1 to 65535\n  \
          hint: leave `port` out for the default 8080"
        ]
    );
}

#[test]
fn app_port_out_of_range() {
    assert_eq!(
        problems(&lab(&[
            "{name: a, roles: [app], app: {port: 70000}}",
            "{name: db, roles: [mysql]}"
        ])),
        ["t.yaml:6:41: nodes[0].app.port: 70000 is out of range\n  \
          hint: a TCP port from 1 to 65535, e.g. `port: 8080`"]
    );
}

#[test]
fn app_port_taken_on_the_same_node() {
    assert_eq!(
        problems(&lab(&[
            "{name: a, roles: [app, haproxy], app: {port: 80}}",
            "{name: db, roles: [mysql]}"
        ])),
        [
            "t.yaml:6:50: nodes[0].app.port: port 80 is taken by haproxy on this node\n  \
          hint: pick another port, e.g. 8080"
        ]
    );
    assert_eq!(
        problems(&lab(&[
            "{name: a, roles: [app], app: {port: 22}}",
            "{name: db, roles: [mysql]}"
        ])),
        [
            "t.yaml:6:41: nodes[0].app.port: port 22 is taken by SSH on this node\n  \
          hint: pick another port, e.g. 8080"
        ]
    );
    assert_eq!(
        problems(&lab(&["{name: a, roles: [app, mysql], app: {port: 3306}}"])),
        [
            "t.yaml:6:48: nodes[0].app.port: port 3306 is taken by mysql on this node\n  \
          hint: pick another port, e.g. 8080"
        ]
    );
}

#[test]
fn app_port_80_on_a_single_server() {
    let lab = valid(&lab(&["{name: s, roles: [app, mysql], app: {port: 80}}"]));
    assert_eq!(
        lab.nodes[0].app(),
        Some(&AppOptions {
            database_host: None,
            database: Some("s".to_string()),
            port: 80,
            release: crate::roles::Release::V1,
        })
    );
}

#[test]
fn a_role_listed_twice() {
    assert_eq!(
        problems(&lab(&["{name: db, roles: [mysql, mysql]}"])),
        ["t.yaml:6:31: nodes[0].roles: role `mysql` is listed twice\n  hint: list each role once"]
    );
}

#[test]
fn app_release_is_v1_unless_the_file_picks_another() {
    let yaml = lab(&[
        "{name: a, roles: [app], app: {release: v3}}",
        "{name: b, roles: [app]}",
        "{name: db, roles: [postgres]}",
    ]);
    let releases: Vec<Release> = valid(&yaml)
        .nodes
        .iter()
        .map(|n| n.app().map(|a| a.release).unwrap_or_default())
        .collect();
    assert_eq!(releases, [Release::V3, Release::V1, Release::V1]);
}

#[test]
fn an_unknown_release_is_one_error_listing_the_releases() {
    let yaml = lab(&[
        "{name: a, roles: [app], app: {release: v9}}",
        "{name: b, roles: [app], app: {release: V2}}",
        "{name: db, roles: [mysql]}",
    ]);
    assert_eq!(
        problems(&yaml),
        [
            "t.yaml:6:44: nodes[0].app.release: there is no release `v9` of the todo app\n  \
             hint: the releases are v1, v2, v3, v4, v5",
            "t.yaml:7:44: nodes[1].app.release: there is no release `V2` of the todo app\n  \
             hint: write it in lowercase: `v2`",
        ]
    );
}
