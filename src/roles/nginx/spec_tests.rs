//! nginx's options in the lab file: defaults, every error with its position, the front door.

use super::*;
use crate::roles::RoleOptions;
use crate::spec::testutil::{HEAD, problems, valid};

fn lab(nodes: &[&str]) -> String {
    let nodes: String = nodes.iter().map(|n| format!("  - {n}\n")).collect();
    format!("{HEAD}{nodes}")
}

fn nginx_options(yaml: &str, node: &str) -> Options {
    let lab = valid(yaml);
    let n = lab.nodes.iter().find(|n| n.name == node).expect("node");
    n.options
        .nginx()
        .cloned()
        .unwrap_or_else(|| panic!("nginx options expected, got {:?}", n.options))
}

#[test]
fn without_options_it_fronts_the_haproxy_node_on_port_80_with_1m() {
    let yaml = lab(&[
        "{name: edge, roles: [nginx]}",
        "{name: lb, roles: [haproxy]}",
        "{name: app1, roles: [app, mysql]}",
    ]);
    assert_eq!(
        nginx_options(&yaml, "edge"),
        Options {
            upstreams: vec!["lb".into()],
            port: 80,
            client_max_body_size: "1m".into(),
        }
    );
}

#[test]
fn without_haproxy_it_takes_every_app_node() {
    let yaml = lab(&[
        "{name: edge, roles: [nginx], nginx: {client_max_body_size: 64k}}",
        "{name: app1, roles: [app]}",
        "{name: app2, roles: [app]}",
        "{name: db, roles: [mysql]}",
    ]);
    let o = nginx_options(&yaml, "edge");
    assert_eq!(o.upstreams, ["app1", "app2"]);
    assert_eq!(o.client_max_body_size, "64k");
}

#[test]
fn on_one_node_with_the_app_and_the_database() {
    let yaml = lab(&[
        "{name: one, roles: [mysql, app, nginx], nginx: {upstreams: [one], client_max_body_size: 1024}}",
    ]);
    let o = nginx_options(&yaml, "one");
    assert_eq!((o.upstreams, o.port), (vec!["one".to_string()], 80));
    assert_eq!(o.client_max_body_size, "1024");
}

#[test]
fn on_the_haproxy_node_it_needs_another_port() {
    let yaml = lab(&[
        "{name: lb, roles: [haproxy, nginx]}",
        "{name: app1, roles: [app, mysql]}",
    ]);
    assert_eq!(
        problems(&yaml),
        [
            "t.yaml:6:33: nodes[0].roles: nginx cannot listen on port 80: haproxy does on this node\n  \
             hint: set another port, e.g. `nginx: {port: 8000}`, or put nginx on a node of its own"
        ]
    );
    let fixed = lab(&[
        "{name: lb, roles: [haproxy, nginx], nginx: {port: 8000}}",
        "{name: app1, roles: [app, mysql]}",
    ]);
    assert_eq!(nginx_options(&fixed, "lb").port, 8000);
}

#[test]
fn ports_taken_by_ssh_the_stats_page_or_the_app_are_refused() {
    let yaml = lab(&[
        "{name: lb, roles: [haproxy, nginx], nginx: {port: 8404}}",
        "{name: app1, roles: [app, mysql, nginx], nginx: {port: 8080, upstreams: [app1]}}",
        "{name: e, roles: [nginx], nginx: {port: 22}}",
    ]);
    assert_eq!(
        problems(&yaml),
        [
            "t.yaml:6:55: nodes[0].nginx.port: nginx cannot listen on port 8404: the haproxy stats page does on this node\n  \
             hint: set another port, e.g. `nginx: {port: 8000}`, or put nginx on a node of its own",
            "t.yaml:7:60: nodes[1].nginx.port: nginx cannot listen on port 8080: the app does on this node\n  \
             hint: set another port, e.g. `nginx: {port: 8000}`, or put nginx on a node of its own",
            "t.yaml:8:45: nodes[2].nginx.port: nginx cannot listen on port 22: SSH does on this node\n  \
             hint: set another port, e.g. `nginx: {port: 8000}`, or put nginx on a node of its own",
        ]
    );
}

#[test]
fn upstreams_must_name_nodes_that_serve() {
    let yaml = lab(&[
        "{name: edge, roles: [nginx], nginx: {upstreams: [lbb, db, app1, app1], client_max_body_size: 2x}}",
        "{name: app1, roles: [app]}",
        "{name: db, roles: [mysql]}",
    ]);
    assert_eq!(
        problems(&yaml),
        [
            "t.yaml:6:54: nodes[0].nginx.upstreams[0]: no node named `lbb`\n  \
             hint: nodes nginx can proxy to: app1",
            "t.yaml:6:59: nodes[0].nginx.upstreams[1]: node `db` has no haproxy or app role\n  \
             hint: nodes nginx can proxy to: app1",
            "t.yaml:6:69: nodes[0].nginx.upstreams[3]: `app1` is listed twice\n  \
             hint: list each upstream once",
            "t.yaml:6:98: nodes[0].nginx.client_max_body_size: `2x` is not a size nginx understands\n  \
             hint: a number of bytes with an optional k, m or g, e.g. `1m` or `512k`",
        ]
    );
}

#[test]
fn options_on_a_node_without_nginx_and_unknown_keys_are_reported() {
    let yaml = lab(&[
        "{name: app1, roles: [app, mysql], nginx: {port: 81}}",
        "{name: edge, roles: [nginx], nginx: {listen: 81}}",
    ]);
    assert_eq!(
        problems(&yaml),
        [
            "t.yaml:6:39: nodes[0].nginx: `nginx:` options on node `app1`, which has no `nginx` role\n  \
             hint: add `nginx` to its `roles`, or remove `nginx:`",
            "t.yaml:7:42: nodes[1].nginx.listen: unknown key `listen`\n  \
             hint: keys allowed here: upstreams, port, client_max_body_size",
        ]
    );
}

#[test]
fn nothing_to_proxy_to_or_several_haproxy_nodes_is_an_error() {
    let alone = lab(&["{name: edge, roles: [nginx]}"]);
    assert_eq!(
        problems(&alone),
        [
            "t.yaml:6:26: nodes[0].roles: nginx on `edge` has nothing to proxy to: the lab has no haproxy or app node\n  \
             hint: add a node with role app, or list upstreams in `nginx: {upstreams: [NODE]}`"
        ]
    );
    let two = lab(&[
        "{name: edge, roles: [nginx]}",
        "{name: lb1, roles: [haproxy]}",
        "{name: lb2, roles: [haproxy]}",
        "{name: app1, roles: [app, mysql]}",
    ]);
    assert_eq!(
        problems(&two),
        [
            "t.yaml:6:26: nodes[0].roles: the lab has several haproxy nodes (lb1, lb2): nginx on `edge` needs to be told which to use\n  \
             hint: set `nginx: {upstreams: [lb1]}`"
        ]
    );
}

#[test]
fn the_front_door_is_nginx_then_haproxy_then_the_app() {
    let yaml = lab(&[
        "{name: edge, roles: [nginx], nginx: {port: 8000}}",
        "{name: lb, roles: [haproxy]}",
        "{name: app1, roles: [app, mysql]}",
    ]);
    let lab = valid(&yaml);
    let mut nodes: Vec<crate::plan::NodePlan> = lab
        .nodes
        .iter()
        .map(|n| {
            let mut s = crate::plan::testing::node(&n.name, &n.roles);
            s.options = n.options.clone();
            s
        })
        .collect();
    let door = |nodes: &[crate::plan::NodePlan]| {
        crate::roles::front_door(nodes).map(|(n, port)| (n.name.clone(), port))
    };
    assert_eq!(door(&nodes), Some(("edge".into(), 8000)));
    nodes.remove(0);
    assert_eq!(door(&nodes), Some(("lb".into(), 80)));
    nodes.remove(0);
    assert_eq!(door(&nodes), Some(("app1".into(), 8080)));
}

#[test]
fn the_shipped_nginx_lab_puts_nginx_in_front_of_its_own_app() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("labs/nginx.yaml");
    let (lab, _) = crate::spec::check(&path, &crate::spec::testutil::host(), false)
        .expect("labs/nginx.yaml is valid");
    // The node's other role with options, its app, comes first (table order).
    assert_eq!(
        lab.nodes[0].options[1..],
        [RoleOptions::Nginx(Options {
            upstreams: vec!["web".into()],
            port: 80,
            client_max_body_size: "64k".into(),
        })]
    );
}

#[test]
fn nginx_listed_twice_is_reported_once_and_checked_once() {
    let yaml = lab(&["{name: one, roles: [mysql, app, nginx, nginx], nginx: {port: 22}}"]);
    let problems = problems(&yaml);
    assert_eq!(problems.len(), 2, "{problems:?}");
    assert!(
        problems[0].contains("role `nginx` is listed twice"),
        "{problems:?}"
    );
    assert!(
        problems[1].contains("nginx cannot listen on port 22"),
        "{problems:?}"
    );
}
