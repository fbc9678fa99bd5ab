use super::*;
use crate::roles::Release;
use crate::spec::testutil::{HEAD, host, problems, problems_with, run_with, valid};
use crate::spec::{AppOptions, HaproxyOptions, NetMode, Role, RoleOptions, Severity, check};
use std::path::{Path, PathBuf};

const LABEL_RULE: &str = "use lowercase letters, digits and '-' (at most 63), starting and ending with a letter or digit";

#[test]
fn lab_name_rules() {
    let yaml = HEAD.replace("name: t\n", "name: My_Lab\n") + "  - name: a\n";
    assert_eq!(
        problems(&yaml),
        [
            "t.yaml:1:7: name: lab name `My_Lab` is not valid\n  hint: use lowercase letters, digits and '-' \
          (at most 20), starting and ending with a letter or digit, e.g. `my-lab`"
        ]
    );
    let yaml = HEAD.replace("name: t\n", "name: a-very-long-lab-name-2\n") + "  - name: a\n";
    assert_eq!(
        problems(&yaml),
        [
            "t.yaml:1:7: name: lab name `a-very-long-lab-name-2` is longer than 20 characters\n  hint: use lowercase \
          letters, digits and '-' (at most 20), starting and ending with a letter or digit"
        ]
    );
}

#[test]
fn node_names_must_be_dns_labels() {
    assert_eq!(
        problems(&format!("{HEAD}  - name: Web_1\n  - name: -db\n")),
        [
            format!(
                "t.yaml:6:11: nodes[0].name: node name `Web_1` is not a valid DNS label\n  hint: {LABEL_RULE}, e.g. `web-1`"
            ),
            format!(
                "t.yaml:7:11: nodes[1].name: node name `-db` is not a valid DNS label\n  hint: {LABEL_RULE}, e.g. `db`"
            ),
        ]
    );
}

#[test]
fn node_names_must_be_unique() {
    assert_eq!(
        problems(&format!(
            "{HEAD}  - name: web\n  - name: db\n  - name: web\n"
        )),
        [
            "t.yaml:8:11: nodes[2].name: node name `web` is used twice (first at nodes[0])\n  \
          hint: give each node its own name"
        ]
    );
}

#[test]
fn network_names_and_domains() {
    let yaml = "name: t\nnetworks:\n  - {name: lan, cidr: 10.77.0.0/24, domain: my_lab}\n  \
                - {name: lan, cidr: 10.78.0.0/24}\n  - {name: Back, cidr: 10.79.0.0/24}\nnodes:\n  - name: a\n";
    assert_eq!(
        problems(yaml),
        [
            "t.yaml:3:45: networks[0].domain: domain `my_lab` is not a valid DNS name\n  \
             hint: use dot-separated DNS labels, e.g. `t.lab`, or leave `domain` out"
                .to_string(),
            "t.yaml:4:12: networks[1].name: network name `lan` is used twice (first at networks[0])\n  \
             hint: give each network its own name"
                .to_string(),
            format!(
                "t.yaml:5:12: networks[2].name: network name `Back` is not a valid DNS label\n  \
                 hint: {LABEL_RULE}, e.g. `back`"
            ),
        ]
    );
}

#[test]
fn a_lab_needs_a_network_and_a_node() {
    assert_eq!(
        problems("name: t\nnetworks: []\nnodes: []\n"),
        [
            "t.yaml:2:11: networks: a lab needs at least one network\n  \
             hint: add one, e.g. `- {name: lan, cidr: 10.77.0.0/24}`",
            "t.yaml:3:8: nodes: a lab needs at least one node\n  \
             hint: add one, e.g. `- {name: web, roles: [app]}`",
        ]
    );
}

#[test]
fn zero_cpus_memory_disk() {
    let yaml = format!(
        "name: t\ndefaults: {{cpus: 0, memory: 512, disk: 0}}\n{}  - {{name: a, memory: 0, cpus: 2}}\n",
        &HEAD["name: t\n".len()..]
    );
    assert_eq!(
        problems(&yaml),
        [
            "t.yaml:2:18: defaults.cpus: cpus must be at least 1\n  \
             hint: give a positive number, or leave `cpus` out for the default",
            "t.yaml:2:40: defaults.disk: disk must be at least 1\n  \
             hint: give a positive number of GiB, or leave `disk` out for the default",
            "t.yaml:7:23: nodes[0].memory: 0 MiB of memory is too little for image `debian-12`: it needs at least 256 MiB\n  \
             hint: give `memory: 256` or more (memory is in MiB), or leave it out for the default 512",
        ]
    );
}

fn three_nodes_of(memory: u64) -> String {
    format!(
        "name: t\ndefaults: {{memory: {memory}}}\n{}  - name: a\n  - name: b\n  - name: c\n",
        &HEAD[8..]
    )
}

#[test]
fn more_guest_memory_than_the_host_has_needs_force() {
    let mut h = host();
    h.mem_total_mib = 1024;
    let yaml = three_nodes_of(512);
    assert_eq!(
        problems_with(&yaml, &h, false),
        [
            "t.yaml:7:3: nodes: the nodes need 1536 MiB of memory in total but this host has 1024 MiB; \
          `firedrill up` refuses this without `--force`\n  \
          hint: lower `memory` on some nodes, or pass `--force` to start them anyway"
        ]
    );
    let (lab, warnings) = run_with(&yaml, &h, true).expect("allowed with --force");
    assert_eq!(lab.nodes.len(), 3);
    assert_eq!(warnings[0].severity, Severity::Warning);
    assert_eq!(
        warnings[0].to_string(),
        "t.yaml:7:3: nodes: the nodes need 1536 MiB of memory in total but this host has 1024 MiB; \
         going ahead because of `--force`\n  \
         hint: the host may swap or kill VMs; lower `memory` on some nodes to avoid it"
    );
    // Exactly the host's memory is fine.
    assert!(run_with(&three_nodes_of(341), &h, false).is_ok());
}

#[test]
fn an_image_that_is_not_built_is_a_warning_once_per_image() {
    let mut h = host();
    h.images.clear();
    let yaml = format!(
        "{HEAD}  - name: a\n  - name: b\n  - {{name: c, image: ubuntu-24.04}}\n  - {{name: d, image: ubuntu-24.04}}\n"
    );
    let (lab, warnings) = run_with(&yaml, &h, false).expect("warnings only");
    assert_eq!(lab.nodes[2].image, "ubuntu-24.04");
    let text: Vec<String> = warnings.iter().map(ToString::to_string).collect();
    assert_eq!(
        text,
        [
            "t.yaml:8:22: nodes[2].image: image `ubuntu-24.04` is not built yet\n  \
             hint: `firedrill up` builds it, or run `firedrill image build --name ubuntu-24.04`",
            "t.yaml: defaults.image: image `debian-12` is not built yet\n  \
             hint: `firedrill up` builds it, or run `firedrill image build --name debian-12`",
        ]
    );
}

#[test]
fn an_image_name_that_cannot_be_a_file_name() {
    assert_eq!(
        problems(&format!("{HEAD}  - {{name: a, image: ../etc}}\n")),
        [
            "t.yaml:6:22: nodes[0].image: image name `../etc` is not valid\n  \
          hint: use letters, digits, '.', '_' and '-', e.g. `debian-12` (see `firedrill image list`)"
        ]
    );
}

#[test]
fn dns_labels() {
    assert!(is_dns_label("web-1", 63));
    assert!(is_dns_label("1web", 63));
    assert!(!is_dns_label("", 63));
    assert!(!is_dns_label("web-", 63));
    assert!(!is_dns_label("web.lab", 63));
    assert!(!is_dns_label(&"a".repeat(64), 63));
}

/// The shipped labs on a 16 GiB host with no routes and no image built yet.
fn check_shipped(file: &str) -> ValidLab {
    let mut h = host();
    h.images.clear();
    let (lab, warnings) = match check(Path::new(file), &h, false) {
        Ok(ok) => ok,
        Err(problems) => panic!("{file} does not validate:\n{problems}"),
    };
    let text: Vec<String> = warnings.iter().map(|w| w.message.clone()).collect();
    assert_eq!(text, ["image `debian-12` is not built yet"], "{file}");
    lab
}

fn node(name: &str, roles: Vec<Role>, ip: [u8; 4], memory_mib: u64) -> ValidNode {
    ValidNode {
        name: name.to_string(),
        network: 0,
        ip: ip.into(),
        interfaces: vec![crate::spec::Interface {
            network: 0,
            ip: ip.into(),
        }],
        routes: Vec::new(),
        gateway: [ip[0], ip[1], ip[2], 1].into(),
        reaches: Vec::new(),
        resolver: None,
        image: "debian-12".to_string(),
        cpus: 1,
        memory_mib,
        disk_gib: 8,
        options: roles
            .iter()
            .filter_map(|r| match r {
                Role::App => Some(RoleOptions::App(AppOptions {
                    database_host: None,
                    database: None,
                    port: 8080,
                    release: crate::roles::Release::V1,
                })),
                Role::Haproxy => Some(RoleOptions::Haproxy(HaproxyOptions::default())),
                _ => None,
            })
            .collect(),
        roles,
    }
}

/// How `from` reaches `to` on their one network.
fn reach(to: &ValidNode, from: &ValidNode) -> crate::spec::Reach {
    crate::spec::Reach {
        peer: to.name.clone(),
        ip: to.ip,
        from: from.ip,
    }
}

fn lan(cidr: &str, domain: &str) -> ValidNetwork {
    let cidr: ipnetwork::Ipv4Network = cidr.parse().expect("test cidr");
    ValidNetwork {
        name: "lan".to_string(),
        cidr,
        mode: NetMode::Nat,
        router: None,
        domain: domain.to_string(),
        gateway: network::gateway(cidr),
        dns: vec![],
    }
}

#[test]
fn shipped_minimal_lab() {
    let mut web = node("web", vec![Role::App], [10, 77, 0, 10], 384);
    web.app_mut().database = Some("db".to_string());
    let db = node("db", vec![Role::Mysql], [10, 77, 0, 11], 512);
    web.reaches = vec![reach(&db, &web)];
    assert_eq!(
        check_shipped("labs/minimal.yaml"),
        ValidLab {
            name: "minimal".into(),
            networks: vec![lan("10.77.0.0/24", "minimal.lab")],
            nodes: vec![web, db],
            source: PathBuf::from("labs/minimal.yaml"),
        }
    );
}

#[test]
fn shipped_three_tier_lab() {
    let mut lb = node("lb", vec![Role::Haproxy], [10, 78, 0, 10], 384);
    lb.haproxy_mut().backends = vec!["app1".to_string(), "app2".to_string()];
    let mut app1 = node("app1", vec![Role::App], [10, 78, 0, 11], 448);
    app1.app_mut().database = Some("db".to_string());
    let mut app2 = node("app2", vec![Role::App], [10, 78, 0, 12], 448);
    app2.app_mut().database = Some("db".to_string());
    let db = node("db", vec![Role::Mysql], [10, 78, 0, 13], 768);
    lb.reaches = vec![reach(&app1, &lb), reach(&app2, &lb)];
    app1.reaches = vec![reach(&db, &app1)];
    app2.reaches = vec![reach(&db, &app2)];
    let lab = check_shipped("labs/three-tier.yaml");
    assert_eq!(lab.networks, [lan("10.78.0.0/24", "three-tier.lab")]);
    assert_eq!(lab.nodes, [lb, app1, app2, db]);
    // It must fit a 16 GB laptop with room to spare.
    assert!(lab.nodes.iter().map(|n| n.memory_mib).sum::<u64>() <= 3 * 1024);
}

#[test]
fn shipped_single_server_lab() {
    let mut server = node(
        "server",
        vec![Role::App, Role::Mysql],
        [10, 79, 0, 10],
        1024,
    );
    *server.app_mut() = AppOptions {
        database_host: None,
        database: Some("server".to_string()),
        port: 80,
        release: crate::roles::Release::V1,
    };
    server.reaches = vec![reach(&server, &server)];
    let lab = check_shipped("labs/single-server.yaml");
    assert_eq!(lab.networks, [lan("10.79.0.0/24", "single-server.lab")]);
    assert_eq!(lab.nodes, [server]);
}

#[test]
fn shipped_postgres_and_two_engine_labs() {
    let lab = check_shipped("labs/pg-three-tier.yaml");
    let db: Vec<(&str, &[Role])> = lab
        .nodes
        .iter()
        .map(|n| (n.name.as_str(), n.roles.as_slice()))
        .collect();
    assert_eq!(db[3], ("db", &[Role::Postgres][..]));
    assert!(lab.nodes[1..3].iter().all(|n| {
        n.app()
            .is_some_and(|a| a.database.as_deref() == Some("db") && a.release == Release::V1)
    }));
    let lab = check_shipped("labs/two-engines.yaml");
    let roles: Vec<&[Role]> = lab.nodes.iter().map(|n| n.roles.as_slice()).collect();
    assert_eq!(
        roles,
        [
            &[Role::Haproxy][..],
            &[Role::App],
            &[Role::Mysql],
            &[Role::Postgres]
        ]
    );
    assert_eq!(
        lab.nodes[1].app().and_then(|a| a.database.as_deref()),
        Some("mysql")
    );
}

/// Every lab file in `labs/` validates (levels live in `labs/levels/` and have their own test).
#[test]
fn every_shipped_lab_validates() {
    let mut seen = Vec::new();
    for entry in std::fs::read_dir("labs").expect("labs/ is there") {
        let path = entry.expect("entry").path();
        if path.extension().is_some_and(|e| e == "yaml") {
            check_shipped(path.to_str().expect("utf-8 path"));
            seen.push(path);
        }
    }
    assert!(seen.len() >= 5, "{seen:?}");
}

#[test]
fn validate_output_for_a_valid_lab() {
    let lab = valid(&format!(
        "{HEAD}  - {{name: web, roles: [app]}}\n  - {{name: db, roles: [mysql]}}\n"
    ));
    assert_eq!(
        lab.to_string(),
        "t.yaml: lab `t` is valid\n\
         network lan: 10.77.0.0/24 nat, gateway 10.77.0.1, domain t.lab\n\
         node web: 10.77.0.10 on lan, roles [app], image debian-12, 1 cpu, 512 MiB, 8 GiB, app v1 on port 8080 using db\n\
         node db: 10.77.0.11 on lan, roles [mysql], image debian-12, 1 cpu, 512 MiB, 8 GiB\n"
    );
}
