use super::*;
use crate::host::{HostRoute, LibvirtNet};
use crate::spec::Severity;
use crate::spec::testutil::{HEAD, host, problems, problems_with, run_with, valid};

fn net(s: &str) -> Ipv4Network {
    s.parse().expect("test cidr")
}

fn ip(s: &str) -> Ipv4Addr {
    s.parse().expect("test ip")
}

/// A lab whose only network has `cidr` (on line 3, column 23) and one node `a`.
fn with_cidr(cidr: &str) -> String {
    format!("name: t\nnetworks:\n  - {{name: lan, cidr: {cidr}}}\nnodes:\n  - name: a\n")
}

fn node_ips(yaml: &str) -> Vec<(String, Ipv4Addr)> {
    valid(yaml)
        .nodes
        .into_iter()
        .map(|n| (n.name, n.ip))
        .collect()
}

#[test]
fn invalid_cidrs() {
    let hint = "hint: write the network address and prefix length, e.g. `cidr: 10.77.0.0/24`";
    for bad in ["10.77.0.0", "10.77.0.0/33", "lan", "10.77.0.256/24"] {
        assert_eq!(
            problems(&with_cidr(bad)),
            [format!(
                "t.yaml:3:23: networks[0].cidr: `{bad}` is not a valid IPv4 CIDR\n  {hint}"
            )]
        );
    }
}

#[test]
fn host_bits_are_cleared_with_a_warning() {
    let (lab, warnings) = run_with(&with_cidr("10.77.0.5/24"), &host(), false).expect("valid");
    assert_eq!(lab.networks[0].cidr, net("10.77.0.0/24"));
    assert_eq!(lab.networks[0].gateway, ip("10.77.0.1"));
    assert_eq!(warnings[0].severity, Severity::Warning);
    assert_eq!(
        warnings[0].to_string(),
        "t.yaml:3:23: networks[0].cidr: `10.77.0.5/24` has host bits set; the network is 10.77.0.0/24\n  \
         hint: write `cidr: 10.77.0.0/24`"
    );
}

#[test]
fn a_network_smaller_than_a_slash_30_is_refused() {
    assert_eq!(
        problems(&with_cidr("10.77.0.0/31")),
        [
            "t.yaml:3:23: networks[0].cidr: 10.77.0.0/31 is too small: a lab network needs at least a /30\n  \
          hint: use a /24, e.g. `cidr: 10.77.0.0/24`"
        ]
    );
}

#[test]
fn a_public_range_is_refused() {
    assert_eq!(
        problems(&with_cidr("8.8.8.0/24")),
        [
            "t.yaml:3:23: networks[0].cidr: 8.8.8.0/24 is not a private address range\n  \
          hint: use a subnet of 10.0.0.0/8, 172.16.0.0/12 or 192.168.0.0/16, so the lab never hides \
          real hosts on the internet"
        ]
    );
}

#[test]
fn lab_networks_that_overlap_each_other() {
    let yaml = "name: t\nnetworks:\n  - {name: a, cidr: 10.77.0.0/24}\n  - {name: b, cidr: 10.77.0.0/16}\n\
                nodes:\n  - name: n\n";
    assert_eq!(
        problems(yaml),
        [
            "t.yaml:4:21: networks[1].cidr: 10.77.0.0/16 overlaps network `a` (10.77.0.0/24, networks[0])\n  \
          hint: pick a subnet that is free on this host, e.g. `cidr: 10.78.0.0/24`"
        ]
    );
}

fn libvirt(name: &str, cidr: &str, bridge: &str, owner: Option<&str>) -> LibvirtNet {
    LibvirtNet {
        name: name.to_string(),
        cidr: Some(net(cidr)),
        bridge: Some(bridge.to_string()),
        owner_lab: owner.map(str::to_string),
    }
}

fn route(cidr: &str, dev: &str) -> HostRoute {
    HostRoute {
        net: net(cidr),
        dev: dev.to_string(),
    }
}

#[test]
fn overlapping_a_libvirt_network_of_someone_else() {
    let mut h = host();
    h.libvirt_networks = vec![libvirt("default", "10.77.0.0/16", "virbr0", None)];
    // Its bridge route is the same network: reported once, as the libvirt network.
    h.routes = vec![route("10.77.0.0/16", "virbr0")];
    assert_eq!(
        problems_with(&format!("{HEAD}  - name: a\n"), &h, false),
        [
            "t.yaml:4:11: networks[0].cidr: 10.77.0.0/24 overlaps libvirt network `default` (10.77.0.0/16, virbr0)\n  \
          hint: pick a subnet that is free on this host, e.g. `cidr: 10.78.0.0/24`"
        ]
    );
}

#[test]
fn a_lab_that_is_already_up_still_validates() {
    let mut h = host();
    h.libvirt_networks = vec![libvirt("fd-t-lan", "10.77.0.0/24", "fd-t-0", Some("t"))];
    h.routes = vec![route("0.0.0.0/0", "eth0"), route("10.77.0.0/24", "fd-t-0")];
    let yaml = format!("{HEAD}  - name: a\n");
    assert!(run_with(&yaml, &h, false).is_ok());
}

#[test]
fn overlapping_a_host_route() {
    let mut h = host();
    // The default route overlaps everything and is not a conflict.
    h.routes = vec![route("0.0.0.0/0", "eth0"), route("10.0.0.0/9", "eth1")];
    assert_eq!(
        problems_with(&format!("{HEAD}  - name: a\n"), &h, false),
        [
            "t.yaml:4:11: networks[0].cidr: 10.77.0.0/24 overlaps the host route 10.0.0.0/9 on eth1\n  \
          hint: pick a subnet that is free on this host, e.g. `cidr: 10.128.0.0/24`"
        ]
    );
}

#[test]
fn free_subnet_skips_what_is_taken() {
    let taken = [
        net("10.77.0.0/24"),
        net("10.78.0.0/16"),
        net("10.79.0.0/16"),
    ];
    assert_eq!(free_subnet(&taken), Some(net("10.80.0.0/24")));
    assert_eq!(free_subnet(&[net("10.0.0.0/8")]), None);
}

#[test]
fn node_addresses_that_cannot_be_used() {
    let yaml = format!(
        "{HEAD}  - {{name: a, ip: 10.78.0.5}}\n  - {{name: b, ip: 10.77.0.0}}\n  - {{name: c, ip: 10.77.0.1}}\n  \
         - {{name: d, ip: 10.77.0.255}}\n  - {{name: e, ip: 10.77.0.20}}\n  - {{name: f, ip: 10.77.0.20}}\n  \
         - {{name: g, ip: 10.77.0.20/24}}\n"
    );
    let hint = "hint: pick an address from 10.77.0.2 to 10.77.0.254, or leave `ip:` out to get one assigned";
    assert_eq!(
        problems(&yaml),
        [
            format!("t.yaml:6:19: nodes[0].ip: 10.78.0.5 is outside network `lan` (10.77.0.0/24)\n  {hint}"),
            format!("t.yaml:7:19: nodes[1].ip: 10.77.0.0 is the network address of `lan` (10.77.0.0/24)\n  {hint}"),
            format!("t.yaml:8:19: nodes[2].ip: 10.77.0.1 is the gateway of network `lan` (libvirt's bridge has it)\n  {hint}"),
            format!("t.yaml:9:19: nodes[3].ip: 10.77.0.255 is the broadcast address of `lan` (10.77.0.0/24)\n  {hint}"),
            "t.yaml:11:19: nodes[5].ip: 10.77.0.20 is already used by node `e` (nodes[4].ip)\n  \
             hint: give each node its own address, or leave `ip:` out to get one assigned"
                .to_string(),
            "t.yaml:12:19: nodes[6].ip: `10.77.0.20/24` is not an IPv4 address\n  \
             hint: write a plain address such as `ip: 10.77.0.10` (no prefix length), or leave `ip:` out \
             to get one assigned"
                .to_string(),
        ]
    );
}

#[test]
fn unknown_network_of_a_node() {
    assert_eq!(
        problems(&format!("{HEAD}  - {{name: a, network: lna}}\n")),
        ["t.yaml:6:24: nodes[0].network: no network named `lna`\n  \
          hint: did you mean `lan`? (networks in this lab: lan)"]
    );
}

#[test]
fn subnet_too_small_for_its_nodes() {
    let yaml = "name: t\nnetworks:\n  - {name: lan, cidr: 10.77.0.0/30}\nnodes:\n  - name: a\n  - name: b\n";
    assert_eq!(
        problems(yaml),
        [
            "t.yaml:3:23: networks[0].cidr: 10.77.0.0/30 is too small for its 2 nodes: it has room for 1 \
          (10.77.0.2 to 10.77.0.2)\n  hint: use a larger subnet, e.g. a /24"
        ]
    );
}

#[test]
fn subnet_too_small_for_automatic_addresses() {
    let nodes: String = (0..6).map(|i| format!("  - name: n{i}\n")).collect();
    let yaml =
        format!("name: t\nnetworks:\n  - {{name: lan, cidr: 10.77.0.0/28}}\nnodes:\n{nodes}");
    assert_eq!(
        problems(&yaml),
        [
            "t.yaml:3:23: networks[0].cidr: 10.77.0.0/28 has 5 free addresses for automatic assignment \
          (10.77.0.10 to 10.77.0.14) but 6 nodes have no `ip:`\n  \
          hint: give nodes an `ip:` from 10.77.0.2 to 10.77.0.14, or use a larger subnet"
        ]
    );
    let yaml = "name: t\nnetworks:\n  - {name: lan, cidr: 10.77.0.0/29}\nnodes:\n  - name: a\n";
    assert_eq!(
        problems(yaml),
        [
            "t.yaml:3:23: networks[0].cidr: 10.77.0.0/29 has 0 free addresses for automatic assignment \
          (none in so small a subnet) but 1 nodes have no `ip:`\n  \
          hint: give nodes an `ip:` from 10.77.0.2 to 10.77.0.6, or use a larger subnet"
        ]
    );
    // With explicit addresses a small subnet is fine.
    let yaml = "name: t\nnetworks:\n  - {name: lan, cidr: 10.77.0.0/29}\nnodes:\n  - {name: a, ip: 10.77.0.6}\n";
    assert_eq!(node_ips(yaml), [("a".to_string(), ip("10.77.0.6"))]);
}

#[test]
fn addresses_are_assigned_from_gateway_plus_nine_in_file_order() {
    let yaml = "name: t\nnetworks:\n  - {name: lan, cidr: 10.77.0.0/24}\n  - {name: back, cidr: 192.168.50.0/24}\n\
                nodes:\n  - name: a\n  - {name: b, ip: 10.77.0.10}\n  - {name: c, network: back}\n  - name: d\n";
    let expected = vec![
        ("a".to_string(), ip("10.77.0.11")),
        ("b".to_string(), ip("10.77.0.10")),
        ("c".to_string(), ip("192.168.50.10")),
        ("d".to_string(), ip("10.77.0.12")),
    ];
    assert_eq!(node_ips(yaml), expected);
    // A node added at the end takes the next free address and moves no one.
    let mut more = expected.clone();
    more.push(("e".to_string(), ip("10.77.0.13")));
    assert_eq!(node_ips(&format!("{yaml}  - name: e\n")), more);
}

/// 5,000 nodes on a /8, a few with addresses of their own: each gets the lowest free address,
/// skipping those given by hand. `validate` of such a lab took 65-70 s in a release build when
/// assignment was quadratic (over 5 min in a debug build); 0.14 s now, 0.2 s for this test in a
/// debug build. No timing assertion: `cargo test -- --nocapture` prints it.
#[test]
fn five_thousand_nodes_on_a_slash_8_are_assigned_in_order() {
    let mut yaml = String::from(
        "name: t\ndefaults: {memory: 256}\nnetworks:\n  - {name: lan, cidr: 10.0.0.0/8}\nnodes:\n",
    );
    for i in 0..5000 {
        match i {
            1 => yaml.push_str("  - {name: n1, ip: 10.0.0.11}\n"),
            4999 => yaml.push_str("  - {name: n4999, ip: 10.0.0.10}\n"),
            _ => yaml.push_str(&format!("  - name: n{i}\n")),
        }
    }
    let started = std::time::Instant::now();
    let host = HostFacts {
        mem_total_mib: 4 << 20,
        ..host()
    };
    let (lab, warnings) = run_with(&yaml, &host, false).expect("valid");
    println!("validated 5,000 nodes on a /8 in {:?}", started.elapsed());
    assert!(warnings.is_empty(), "{warnings:?}");
    let ips: Vec<Ipv4Addr> = lab.nodes.iter().map(|n| n.ip).collect();
    assert_eq!(ips[0], ip("10.0.0.12"));
    assert_eq!(ips[1], ip("10.0.0.11"));
    assert_eq!(ips[2], ip("10.0.0.13"));
    assert_eq!(ips[4998], ip("10.0.19.145"));
    assert_eq!(ips[4999], ip("10.0.0.10"));
    let mut unique = ips.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), 5000);
}

#[test]
fn nodes_of_a_running_lab_keep_their_addresses_when_the_file_changes_around_them() {
    // The lab is up with web .10 and db .11; the file now has app before db.
    let host = HostFacts {
        node_addresses: vec![
            ("t".into(), "web".into(), ip("10.77.0.10")),
            ("t".into(), "db".into(), ip("10.77.0.11")),
            ("other".into(), "app".into(), ip("10.77.0.12")),
        ],
        ..host()
    };
    let yaml = format!("{HEAD}  - name: web\n  - name: app\n  - name: db\n");
    let (lab, _) = run_with(&yaml, &host, false).expect("valid");
    let got: Vec<(&str, Ipv4Addr)> = lab.nodes.iter().map(|n| (n.name.as_str(), n.ip)).collect();
    assert_eq!(
        got,
        [
            ("web", ip("10.77.0.10")),
            ("app", ip("10.77.0.12")),
            ("db", ip("10.77.0.11"))
        ]
    );
    // A kept address that a node now claims with `ip:` goes to that node; the other moves.
    let yaml = format!("{HEAD}  - name: web\n  - name: db\n  - {{name: app, ip: 10.77.0.11}}\n");
    let (lab, _) = run_with(&yaml, &host, false).expect("valid");
    let got: Vec<(&str, Ipv4Addr)> = lab.nodes.iter().map(|n| (n.name.as_str(), n.ip)).collect();
    assert_eq!(
        got,
        [
            ("web", ip("10.77.0.10")),
            ("db", ip("10.77.0.12")),
            ("app", ip("10.77.0.11"))
        ]
    );
}
