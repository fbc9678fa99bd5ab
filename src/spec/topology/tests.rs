use crate::spec::testutil::{problems, valid};
use std::net::Ipv4Addr;

fn ip(s: &str) -> Ipv4Addr {
    s.parse().expect("test ip")
}

/// lan (nat) and dmz (routed through gw); gw on both; `rest` appended as more nodes.
fn two_nets(rest: &str) -> String {
    format!(
        "name: t
networks:
  - {{name: lan, cidr: 10.77.0.0/24}}
  - {{name: dmz, cidr: 10.80.0.0/24, mode: routed, router: gw}}
nodes:
  - name: gw
    roles: [router]
    networks: [{{name: lan, ip: 10.77.0.2}}, {{name: dmz, ip: 10.80.0.2}}]
{rest}"
    )
}

#[test]
fn several_networks_each_with_its_own_address_and_the_old_form_beside_them() {
    let lab = valid(&two_nets(
        "  - {name: web, network: dmz}\n  - {name: pc, ip: 10.77.0.20, routes: [{to: dmz, via: gw}]}\n",
    ));
    let gw = &lab.nodes[0];
    assert_eq!((gw.network, gw.ip), (0, ip("10.77.0.2")));
    let addrs: Vec<(usize, Ipv4Addr)> = gw.interfaces.iter().map(|i| (i.network, i.ip)).collect();
    assert_eq!(addrs, [(0, ip("10.77.0.2")), (1, ip("10.80.0.2"))]);
    // The router's own default route leaves through the nat network's bridge.
    assert_eq!(gw.gateway, ip("10.77.0.1"));
    assert_eq!(lab.networks[1].router.as_deref(), Some("gw"));
    // A node of a routed network goes out through its router.
    let web = &lab.nodes[1];
    assert_eq!((web.ip, web.gateway), (ip("10.80.0.10"), ip("10.80.0.2")));
    let pc = &lab.nodes[2];
    assert_eq!(pc.gateway, ip("10.77.0.1"));
    assert_eq!(pc.routes.len(), 1);
    assert_eq!(pc.routes[0].to, "10.80.0.0/24".parse().unwrap());
    assert_eq!(pc.routes[0].via, ip("10.77.0.2"));
}

#[test]
fn an_address_outside_its_network() {
    assert_eq!(
        problems(&two_nets(
            "  - name: web\n    networks: [{name: dmz, ip: 10.77.0.30}]\n"
        )),
        [
            "t.yaml:10:32: nodes[1].networks[0].ip: 10.77.0.30 is outside network `dmz` (10.80.0.0/24)\n  \
          hint: pick an address from 10.80.0.2 to 10.80.0.254, or leave `ip:` out to get one assigned"
        ]
    );
}

#[test]
fn both_forms_at_once_and_a_network_twice() {
    assert_eq!(
        problems(&two_nets(
            "  - name: web\n    ip: 10.77.0.5\n    networks: [{name: dmz}, {name: dmz}]\n"
        )),
        [
            "t.yaml:10:9: nodes[1].ip: `ip` and `networks` are both given\n  \
             hint: put the address into `networks` (`- {name: NET, ip: A.B.C.D}`, line 11) and remove `ip`",
            "t.yaml:11:36: nodes[1].networks[1].name: node `web` is on network `dmz` twice\n  \
             hint: list each network once per node",
        ]
    );
}

#[test]
fn a_route_via_an_address_not_on_a_connected_network() {
    assert_eq!(
        problems(&two_nets(
            "  - name: pc\n    routes: [{to: dmz, via: 10.80.0.2}]\n"
        )),
        [
            "t.yaml:10:29: nodes[1].routes[0].via: 10.80.0.2 is not on a network `pc` is on (lan 10.77.0.0/24)\n  \
          hint: a next hop must be directly reachable: use an address on one of those networks, e.g. a router's address there"
        ]
    );
    // By name too, and a destination that is neither a CIDR nor a network.
    assert_eq!(
        problems(&two_nets(
            "  - {name: web, network: dmz}\n  - name: pc\n    routes: [{to: dmx, via: web}]\n"
        )),
        [
            "t.yaml:11:19: nodes[2].routes[0].to: `dmx` is neither a CIDR nor a network of this lab\n  \
             hint: did you mean `dmz`?",
            "t.yaml:11:29: nodes[2].routes[0].via: node `web` is not on a network `pc` is on (lan 10.77.0.0/24)\n  \
             hint: a next hop must be directly reachable: put `web` on one of those networks, or route via a node that is",
        ]
    );
}

#[test]
fn a_routed_network_needs_a_router_on_it() {
    let text = "name: t
networks:
  - {name: lan, cidr: 10.77.0.0/24}
  - {name: dmz, cidr: 10.80.0.0/24, mode: routed}
  - {name: x, cidr: 10.81.0.0/24, router: a}
  - {name: y, cidr: 10.82.0.0/24, mode: routed, router: a}
nodes:
  - name: a
";
    assert_eq!(
        problems(text),
        [
            "t.yaml:4:43: networks[1].mode: routed network `dmz` has no `router`\n  \
             hint: name the node its traffic leaves through, e.g. `router: gw` (a node on this network and another one), or use `mode: nat`",
            "t.yaml:5:43: networks[2].router: `router` is set but network `x` is not routed\n  \
             hint: add `mode: routed`, or remove `router`",
            "t.yaml:6:57: networks[3].router: router `a` is not on network `y`\n  \
             hint: add `- {name: y}` to the `networks` of node `a`",
        ]
    );
}

#[test]
fn a_loop_of_default_routes_is_reported_once() {
    let text = "name: t
networks:
  - {name: lan, cidr: 10.77.0.0/24}
nodes:
  - {name: a, gateway: b}
  - {name: b, gateway: c}
  - {name: c, gateway: a}
  - {name: d, gateway: a}
";
    assert_eq!(
        problems(text),
        [
            "t.yaml:5:24: nodes[0].gateway: the default routes go round in a loop: a → b → c → a\n  \
          hint: give one of these nodes a `gateway:` that leads out of the loop (the bridge of a `nat` network, its .1 address), so packets for elsewhere stop circling"
        ]
    );
}

#[test]
fn a_node_that_cannot_reach_the_node_its_role_needs() {
    // The app on lan, its database on dmz: lan's default route is the host's bridge.
    let nodes = "  - {name: db, network: dmz, roles: [mysql]}
  - {name: app, roles: [app]}
";
    assert_eq!(
        problems(&two_nets(nodes)),
        [
            "t.yaml:10:25: nodes[2].roles[0]: `app` cannot reach `db` (10.80.0.10 on dmz), which its app role needs: `app` sends it to 10.77.0.1 on lan, the host's bridge, which does not route between the lab's networks\n  \
          hint: give `app` a route through `gw`, which is on dmz: `routes: [{to: dmz, via: gw}]` (or `gateway: gw`)"
        ]
    );
    // With the route it works: db answers through its router, gw.
    valid(&two_nets(
        "  - {name: db, network: dmz, roles: [mysql]}\n  - {name: app, roles: [app], routes: [{to: 10.80.0.0/24, via: 10.77.0.2}]}\n",
    ));
}

#[test]
fn the_way_back_counts_too() {
    // dmz is not routed here, so db's default route is dmz's bridge: it cannot answer app.
    let text = "name: t
networks:
  - {name: lan, cidr: 10.77.0.0/24}
  - {name: dmz, cidr: 10.80.0.0/24, mode: isolated}
nodes:
  - name: gw
    roles: [router]
    networks: [{name: lan}, {name: dmz}]
  - {name: db, network: dmz, roles: [mysql]}
  - {name: app, roles: [app], gateway: gw}
";
    assert_eq!(
        problems(text),
        [
            "t.yaml:10:25: nodes[2].roles[0]: `db` cannot answer `app` (10.77.0.11 on lan), which app's app role needs: `db` sends it to 10.80.0.1 on dmz, the host's bridge, which does not route between the lab's networks\n  \
          hint: give `db` a route through `gw`, which is on lan: `routes: [{to: lan, via: gw}]` (or `gateway: gw`)"
        ]
    );
}

#[test]
fn the_single_network_form_is_unchanged() {
    let lab = valid(&format!("{}  - {{name: a}}\n", crate::spec::testutil::HEAD));
    let a = &lab.nodes[0];
    assert_eq!(a.interfaces.len(), 1);
    assert_eq!((a.ip, a.gateway), (ip("10.77.0.10"), ip("10.77.0.1")));
    assert!(a.routes.is_empty());
}

#[test]
fn validate_prints_every_address_route_and_gateway() {
    let lab = valid(&two_nets(
        "  - {name: web, network: dmz}\n  - {name: pc, routes: [{to: dmz, via: gw}]}\n",
    ));
    assert_eq!(
        lab.to_string(),
        "t.yaml: lab `t` is valid
network lan: 10.77.0.0/24 nat, gateway 10.77.0.1, domain t.lab
network dmz: 10.80.0.0/24 routed, gateway 10.80.0.1, domain t.lab, routed through gw
node gw: 10.77.0.2 on lan, 10.80.0.2 on dmz, roles [router], image debian-12, 1 cpu, 512 MiB, 8 GiB
node web: 10.80.0.10 on dmz, roles [], image debian-12, 1 cpu, 512 MiB, 8 GiB, gateway 10.80.0.2
node pc: 10.77.0.10 on lan, roles [], image debian-12, 1 cpu, 512 MiB, 8 GiB, route 10.80.0.0/24 via 10.77.0.2
"
    );
}

#[test]
fn a_hop_that_does_not_forward() {
    let text = two_nets(
        "  - {name: db, network: dmz, roles: [mysql]}\n  - {name: app, roles: [app], gateway: gw}\n",
    )
    .replace("    roles: [router]\n", "");
    assert_eq!(
        problems(&text),
        [
            "t.yaml:9:25: nodes[2].roles[0]: `app` cannot reach `db` (10.80.0.10 on dmz), which its app role needs: its path goes through `gw`, which does not forward packets (add `router` to its roles)\n  \
          hint: give `app` a route through `gw`, which is on dmz: `routes: [{to: dmz, via: gw}]` (or `gateway: gw`)"
        ]
    );
}

#[test]
fn a_nat_network_behind_a_router_on_a_host_whose_bridges_call_iptables() {
    let lab = two_nets("  - {name: web, network: dmz}\n");
    let host = crate::host::HostFacts {
        bridged_iptables: true,
        ..crate::spec::testutil::host()
    };
    assert_eq!(
        crate::spec::testutil::problems_with(&lab, &host, false),
        [
            "t.yaml:3:5: networks[0].mode: libvirt's NAT of `lan` would rewrite what router `gw` \
             forwards out of it: this host passes bridged frames through iptables \
             (net.bridge.bridge-nf-call-iptables = 1), so connections from `lan` to another \
             network get no answer\n  \
             hint: where libvirtd runs, turn it off: `sysctl -w \
             net.bridge.bridge-nf-call-iptables=0` (scripts/libvirtd-ns does so in the namespace \
             it creates; Docker's bridges need it on), or make `lan` `mode: isolated`"
        ]
    );
    // An isolated lan has no NAT rule to meet.
    let isolated = lab.replace(
        "{name: lan, cidr: 10.77.0.0/24}",
        "{name: lan, cidr: 10.77.0.0/24, mode: isolated}",
    );
    assert_eq!(
        crate::spec::testutil::problems_with(&isolated, &host, false),
        Vec::<String>::new()
    );
}

#[test]
fn roles_reach_a_peer_on_a_shared_network_else_where_the_routes_lead() {
    // db's first address is on mgmt, which neither app can reach; app shares dmz with it, and
    // pc's route to dmz leads through gw.
    let lab = valid(
        "name: t
networks:
  - {name: lan, cidr: 10.77.0.0/24}
  - {name: dmz, cidr: 10.80.0.0/24, mode: routed, router: gw}
  - {name: mgmt, cidr: 10.81.0.0/24, mode: isolated}
nodes:
  - name: gw
    roles: [router]
    networks: [{name: lan, ip: 10.77.0.2}, {name: dmz, ip: 10.80.0.2}]
  - name: db
    roles: [mysql]
    networks: [{name: mgmt, ip: 10.81.0.5}, {name: dmz, ip: 10.80.0.5}]
  - {name: app, roles: [app], network: dmz, ip: 10.80.0.10}
  - {name: pc, roles: [app], ip: 10.77.0.10, routes: [{to: dmz, via: gw}]}
",
    );
    let reach = |node: usize| -> Vec<(String, Ipv4Addr, Ipv4Addr)> {
        lab.nodes[node]
            .reaches
            .iter()
            .map(|r| (r.peer.clone(), r.ip, r.from))
            .collect()
    };
    assert_eq!(
        reach(2),
        [("db".to_string(), ip("10.80.0.5"), ip("10.80.0.10"))]
    );
    assert_eq!(
        reach(3),
        [("db".to_string(), ip("10.80.0.5"), ip("10.77.0.10"))]
    );
    assert!(reach(1).is_empty() && reach(0).is_empty());
}
