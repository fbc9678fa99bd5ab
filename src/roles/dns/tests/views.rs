//! Split horizon: `dns: {views: [...]}` checked, planned and rendered.

use super::*;

/// lb stands on both networks: the lan's nodes reach it as www at 10.77.0.10, the dmz's at
/// 10.80.0.10 without crossing gw.
pub(super) const SPLIT: &str = "name: net
networks:
  - name: lan
    cidr: 10.77.0.0/24
    dns: {www: lb}
  - {name: dmz, cidr: 10.80.0.0/24, mode: routed, router: gw}
nodes:
  - name: gw
    roles: [router, dns]
    networks: [{name: lan, ip: 10.77.0.2}, {name: dmz, ip: 10.80.0.2}]
    dns:
      ttl: 60
      views:
        - {name: inside, networks: [dmz], records: {www: lb, api: 10.80.0.30}}
  - name: lb
    networks: [{name: lan, ip: 10.77.0.10}, {name: dmz, ip: 10.80.0.10}]
  - {name: web, network: dmz, ip: 10.80.0.20}
";

pub(super) fn inside() -> View {
    View {
        name: "inside".into(),
        networks: vec!["dmz".into()],
        cidrs: vec!["10.80.0.0/24".parse().expect("cidr")],
        records: vec![
            ("www".into(), ip("10.80.0.10")),
            ("api".into(), ip("10.80.0.30")),
        ],
    }
}

/// The SPLIT lab's server as `config` makes it from the plan.
pub(super) fn split_context() -> NodeContext {
    let mut ctx = context(options_of(SPLIT));
    let RoleConfig::Dns(c) = &mut ctx.roles[0] else {
        panic!("a dns node")
    };
    c.zone.records = vec![
        ("gw".into(), ip("10.77.0.2")),
        ("lb".into(), ip("10.77.0.10")),
        ("www".into(), ip("10.77.0.10")),
        ("gw".into(), ip("10.80.0.2")),
        ("lb".into(), ip("10.80.0.10")),
        ("web".into(), ip("10.80.0.20")),
    ];
    ctx
}

#[test]
fn a_view_names_its_networks_and_gives_each_name_an_address_on_them() {
    let o = options_of(SPLIT);
    // www is lb's address on the view's network, dmz, not its first one (lan).
    assert_eq!(o.views, [inside()]);
    assert_eq!(o.clients, ["lb", "web"]);
    // A node on both sides asks from its first network, here lan: it gets the outside answer.
    let lab = valid(SPLIT);
    let resolvers: Vec<(&str, Option<Ipv4Addr>)> = lab
        .nodes
        .iter()
        .map(|n| (n.name.as_str(), n.resolver))
        .collect();
    assert_eq!(
        resolvers,
        [
            ("gw", None),
            ("lb", Some(ip("10.77.0.2"))),
            ("web", Some(ip("10.80.0.2")))
        ]
    );
}

#[test]
fn a_lab_without_views_stores_its_options_as_before() {
    let json = serde_json::to_string(&options_of(LAB)).expect("serializes");
    assert_eq!(json, r#"{"clients":["pc","web"],"ttl":60}"#);
    let back: Options = serde_json::from_str(&json).expect("reads back");
    assert!(back.views.is_empty());
}

#[test]
fn each_problem_of_a_view_is_reported_once_at_its_field() {
    let bad = SPLIT.replace(
        "- {name: inside, networks: [dmz], records: {www: lb, api: 10.80.0.30}}",
        "- {name: inside, networks: [dmx], records: {www: lb}}
        - {name: resolver, networks: [dmz], records: {www: lb}}
        - {name: out, networks: [dmz], records: {www: 10.77.0.10, api: pc, db: web}}",
    );
    assert_eq!(
        problems(&bad),
        [
            "t.yaml:14:37: nodes[0].dns.views[0].networks[0]: `dmx` is not a network of this lab\n  \
             hint: did you mean `dmz`?",
            "t.yaml:15:18: nodes[0].dns.views[1].name: `resolver` is a view firedrill writes \
             itself\n  hint: give the view another name, e.g. `inside`",
            "t.yaml:16:55: nodes[0].dns.views[2].records.www: 10.77.0.10 is not a host address \
             of the view's networks: dmz (10.80.0.0/24)\n  hint: a view answers its nodes with \
             an address they reach on their own network: point the name at one inside the \
             view's networks, or at a node on them",
            "t.yaml:16:72: nodes[0].dns.views[2].records.api: `pc` is not a node of this lab or \
             an address\n  hint: point it at a node (`www: lb`) or at an IPv4 address on the \
             view's networks",
        ]
    );
}

#[test]
fn a_node_off_the_views_networks_and_a_network_in_two_views_are_refused() {
    let bad = SPLIT.replace(
        "- {name: inside, networks: [dmz], records: {www: lb, api: 10.80.0.30}}",
        "- {name: inside, networks: [lan], records: {www: web}}
        - {name: dmz, networks: [dmz, lan], records: {www: lb}}",
    );
    assert_eq!(
        problems(&bad),
        [
            "t.yaml:14:58: nodes[0].dns.views[0].records.www: node `web` is not on the view's \
             networks: lan (10.77.0.0/24)\n  hint: attach `web` to one of them (its \
             `networks:`), or point the name at a node that is",
        ]
    );
    let twice = SPLIT.replace(
        "- {name: inside, networks: [dmz], records: {www: lb, api: 10.80.0.30}}",
        "- {name: inside, networks: [dmz], records: {www: lb}}
        - {name: outside, networks: [lan, dmz], records: {www: lb}}",
    );
    assert_eq!(
        problems(&twice),
        [
            "t.yaml:14:9: nodes[0].dns.views[1].networks: network `dmz` is already in view \
             `inside`\n  hint: named answers a node from the first view that lists its network: \
             list each network in one view",
        ]
    );
}

#[test]
fn a_views_zone_answers_its_names_once_and_keeps_the_rest() {
    let zone = split_context();
    let RoleConfig::Dns(c) = &zone.roles[0] else {
        panic!()
    };
    assert_eq!(
        view::records(&c.zone.records, &inside()),
        [
            ("gw".to_string(), ip("10.77.0.2")),
            ("lb".into(), ip("10.77.0.10")),
            ("www".into(), ip("10.80.0.10")),
            ("gw".into(), ip("10.80.0.2")),
            ("lb".into(), ip("10.80.0.10")),
            ("web".into(), ip("10.80.0.20")),
            ("api".into(), ip("10.80.0.30")),
        ]
    );
}

/// One more view between "authority" and "resolver", for dmz's sources, with its own zone file;
/// the zone's own reload names its view, as `rndc` wants once the zone is in two.
#[test]
fn a_split_server_renders_a_view_per_horizon_with_its_own_zone_file() {
    let ctx = split_context();
    let c = dns(&ctx);
    let files = managed(&ctx, c).expect("renders");
    let paths: Vec<&str> = files.iter().map(|f| f.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            NAMED_CONF_PATH,
            OPTIONS_PATH,
            LOCAL_PATH,
            "/etc/bind/db.net.lab",
            "/etc/bind/db.net.lab.inside"
        ]
    );
    let local = &files[2].contents;
    assert_golden("roles/dns-named.conf.local-split", local);
    assert_golden("roles/dns-zone-inside", &files[4].contents);
    let authority = local.find("view \"authority\"").expect("authority");
    let inside = local
        .find("view \"inside\" {\n\tmatch-clients { 10.80.0.0/24; };\n\trecursion yes;")
        .expect("the inside view");
    let resolver = local.find("view \"resolver\"").expect("resolver");
    assert!(authority < inside && inside < resolver, "{local}");
    assert!(
        local.contains("\t\tfile \"/etc/bind/db.net.lab.inside\";"),
        "{local}"
    );
    assert!(
        local.contains("`dig -b 10.80.0.2 @10.80.0.2 NAME.net.lab`"),
        "{local}"
    );
    assert!(
        local.contains("`rndc reload net.lab IN authority`"),
        "{local}"
    );
    assert!(files[4].contents.contains("www\tIN\tA\t10.80.0.10\n"));
    assert!(files[3].contents.contains("www\tIN\tA\t10.77.0.10\n"));
    assert!(!files[3].contents.contains("10.80.0.30"));
    assert_eq!(
        check_script(c),
        "named-checkconf && named-checkzone -q net.lab /etc/bind/db.net.lab \
         && named-checkzone -q net.lab /etc/bind/db.net.lab.inside"
    );
}

/// What labs/levels/split-horizon.yaml relies on: the DMZ's nodes ask gw on dmz and get lb's
/// dmz address for the shop, lb asks on lan and gets the zone's.
#[test]
fn the_split_horizon_levels_lab_splits_the_shop_between_lan_and_dmz() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/labs/levels/split-horizon.lab.yaml"
    );
    let lab = valid(&std::fs::read_to_string(path).expect("read the lab"));
    let resolver = |name: &str| {
        lab.nodes
            .iter()
            .find(|n| n.name == name)
            .and_then(|n| n.resolver)
    };
    assert_eq!(resolver("lb"), Some(ip("10.88.0.2")));
    for dmz in ["app1", "app2", "db"] {
        assert_eq!(resolver(dmz), Some(ip("10.89.0.2")), "{dmz}");
    }
    let gw = lab.nodes.iter().find(|n| n.name == "gw").expect("gw");
    let views = gw.options.dns().expect("dns options").views.clone();
    assert_eq!(
        views,
        [View {
            name: "inside".into(),
            networks: vec!["dmz".into()],
            cidrs: vec!["10.89.0.0/24".parse().expect("cidr")],
            records: vec![("shop".into(), ip("10.89.0.10"))],
        }]
    );
    let lan = lab.networks.iter().find(|n| n.name == "lan").expect("lan");
    assert_eq!(lan.dns, [("shop".to_string(), ip("10.88.0.10"))]);
}
