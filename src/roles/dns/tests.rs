use super::*;
use crate::golden::assert_golden;
use crate::roles::{OptionsByRole, RoleConfig};
use crate::spec::testutil::{problems, valid};

/// gw routes and serves DNS on lan and dmz; pc and web use it.
const LAB: &str = "name: net
networks:
  - {name: lan, cidr: 10.77.0.0/24}
  - name: dmz
    cidr: 10.80.0.0/24
    mode: routed
    router: gw
    dns: {www: web}
nodes:
  - name: gw
    roles: [router, dns]
    networks: [{name: lan, ip: 10.77.0.2}, {name: dmz, ip: 10.80.0.2}]
    dns: {ttl: 60}
  - {name: pc, ip: 10.77.0.10, routes: [{to: dmz, via: gw}]}
  - {name: web, network: dmz, ip: 10.80.0.10}
";

fn options_of(text: &str) -> Options {
    valid(text).nodes[0]
        .options
        .dns()
        .cloned()
        .expect("dns options")
}

fn ip(s: &str) -> Ipv4Addr {
    s.parse().expect("ip")
}

fn context(options: Options) -> NodeContext {
    NodeContext {
        lab: "net".into(),
        node: "gw".into(),
        ip: ip("10.77.0.2"),
        subnet: "10.77.0.0/24".parse().expect("cidr"),
        clients: Vec::new(),
        roles: vec![RoleConfig::Dns(Config {
            options,
            zone: Zone {
                domain: "net.lab".into(),
                records: vec![
                    ("gw".into(), ip("10.77.0.2")),
                    ("pc".into(), ip("10.77.0.10")),
                    ("gw".into(), ip("10.80.0.2")),
                    ("web".into(), ip("10.80.0.10")),
                    ("www".into(), ip("10.80.0.10")),
                ],
            },
            addresses: vec![ip("10.77.0.2"), ip("10.80.0.2")],
        })],
        peers: Vec::new(),
    }
}

/// The dns role's settings in `ctx`.
fn dns(ctx: &NodeContext) -> &Config {
    ctx.roles
        .iter()
        .find_map(|c| match c {
            RoleConfig::Dns(c) => Some(c),
            _ => None,
        })
        .expect("a dns node")
}

#[test]
fn every_other_node_is_a_client_and_each_reaches_the_server_on_its_own_network() {
    let o = options_of(LAB);
    assert_eq!(
        o,
        Options {
            clients: vec!["pc".into(), "web".into()],
            ttl: 60,
            views: Vec::new()
        }
    );
    let lab = valid(LAB);
    let resolvers: Vec<(&str, Option<Ipv4Addr>)> = lab
        .nodes
        .iter()
        .map(|n| (n.name.as_str(), n.resolver))
        .collect();
    assert_eq!(
        resolvers,
        [
            ("gw", None),
            ("pc", Some(ip("10.77.0.2"))),
            ("web", Some(ip("10.80.0.2")))
        ]
    );
}

#[test]
fn a_client_the_server_cannot_serve_is_reported_where_the_server_lists_it() {
    // ns sits on dmz only; pc (lan) has no route there.
    let text = "name: net
networks:
  - {name: lan, cidr: 10.77.0.0/24}
  - {name: dmz, cidr: 10.80.0.0/24, mode: routed, router: gw}
nodes:
  - name: gw
    roles: [router]
    networks: [{name: lan, ip: 10.77.0.2}, {name: dmz, ip: 10.80.0.2}]
  - {name: ns, roles: [dns], network: dmz, ip: 10.80.0.53, dns: {clients: [pc]}}
  - {name: pc, ip: 10.77.0.10}
";
    assert_eq!(
        problems(text),
        [
            "t.yaml:9:24: nodes[1].dns.clients: `pc` cannot reach `ns` (10.80.0.53 on dmz), its \
             resolver: `pc` sends it to 10.77.0.1 on lan, the host's bridge, which does not \
             route between the lab's networks\n  \
             hint: give `pc` a route through `gw`, which is on dmz: `routes: [{to: dmz, via: \
             gw}]` (or `gateway: gw`)"
        ]
    );
}

#[test]
fn unknown_clients_and_the_server_itself_are_refused() {
    let text = LAB.replace("dns: {ttl: 60}", "dns: {clients: [pc, gw, wbe], ttl: -1}");
    assert_eq!(
        problems(&text),
        [
            "t.yaml:13:25: nodes[0].dns.clients[1]: `gw` is not another node of this lab\n  \
             hint: the server resolves through its own network's DNS; list the other nodes",
            "t.yaml:13:29: nodes[0].dns.clients[2]: `wbe` is not another node of this lab\n  \
             hint: did you mean `web`?",
            "t.yaml:13:40: nodes[0].dns.ttl: -1 is out of range\n  \
             hint: seconds a resolver may cache an answer, e.g. `ttl: 300`",
        ]
    );
}

#[test]
fn the_zone_file_holds_every_name_with_the_lab_files_ttl() {
    let ctx = context(options_of(LAB));
    let zone = render_zone(&ctx, dns(&ctx)).expect("renders");
    assert_golden("roles/dns-zone", &zone);
    for line in [
        "$ORIGIN net.lab.\n",
        "$TTL 60\n",
        "@\tIN\tNS\tgw.net.lab.\n",
        "gw\tIN\tA\t10.77.0.2\n",
        "gw\tIN\tA\t10.80.0.2\n",
        "www\tIN\tA\t10.80.0.10\n",
    ] {
        assert!(zone.contains(line), "{line:?} missing from\n{zone}");
    }
}

/// One named, two views: queries to 127.0.0.1 reach the zone, every other query the caching
/// resolver, which asks the zone (the live test runs these files in a real named).
#[test]
fn the_server_holds_the_zone_and_a_caching_resolver_in_two_views() {
    let ctx = context(options_of(LAB));
    let files = managed(&ctx, dns(&ctx)).expect("renders");
    let paths: Vec<&str> = files.iter().map(|f| f.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            NAMED_CONF_PATH,
            OPTIONS_PATH,
            LOCAL_PATH,
            "/etc/bind/db.net.lab"
        ]
    );
    assert!(
        !files[0]
            .contents
            .contains("include \"/etc/bind/named.conf.default-zones\"")
    );
    let local = &files[2].contents;
    assert_golden("roles/dns-named.conf.local", local);
    for part in [
        "view \"authority\" {\n\tmatch-destinations { 127.0.0.1; };\n\trecursion no;\n\tzone \"net.lab\" {",
        "\t\tfile \"/etc/bind/db.net.lab\";",
        "view \"resolver\" {\n\tmatch-clients { any; };\n\trecursion yes;",
        "\tforwarders { 127.0.0.1; };",
    ] {
        assert!(local.contains(part), "{part:?} missing from\n{local}");
    }
}

#[test]
fn health_asks_the_server_for_its_own_name() {
    let ctx = context(options_of(LAB));
    let z = dns(&ctx).zone.clone();
    let out = |s: &str| Output {
        status: 0,
        stdout: s.as_bytes().to_vec(),
        stderr: Vec::new(),
    };
    assert_eq!(
        health_script(&ctx, &z),
        "dig +short +time=2 +tries=2 @10.77.0.2 gw.net.lab A | grep -x -F 10.77.0.2"
    );
    assert!(judge_health(&ctx, &z, &out("10.77.0.2\n")).ok);
    let missing = judge_health(&ctx, &z, &out(""));
    assert_eq!(
        (missing.ok, missing.detail.as_str()),
        (
            false,
            "named on the node does not resolve gw.net.lab to 10.77.0.2 (asked at 10.77.0.2)"
        )
    );
}

mod apply {
    use super::*;
    use crate::remote::fake::{FakeRemote, answer, contains};
    use crate::roles::files::state_script;
    use crate::roles::role_tests::{
        as_root, commands, run_apply, service_cmd, state_of, uploads_of,
    };

    #[tokio::test]
    async fn a_fresh_server_checks_its_files_then_starts_named() {
        let ctx = context(options_of(LAB));
        let files = managed(&ctx, dns(&ctx)).expect("renders");
        let fake = FakeRemote::new("gw")
            .answers(
                contains("sha256sum"),
                vec![answer(0, "missing\nmissing\nmissing\nmissing\n")],
            )
            .answers(contains("chown"), vec![answer(0, "")])
            .answers(contains("named-checkconf"), vec![answer(0, "")])
            .answers(
                contains("systemctl is-enabled"),
                vec![answer(3, "disabled\ninactive\n")],
            )
            .answers(contains("systemctl enable"), vec![answer(0, "")])
            .answers(contains("systemctl start"), vec![answer(0, "")]);
        let (result, _) = run_apply(&fake, &ctx).await;
        let report = result.expect("apply succeeds");
        assert_eq!(
            commands(&fake.calls()),
            vec![
                as_root(&state_script(&[
                    NAMED_CONF_PATH,
                    OPTIONS_PATH,
                    LOCAL_PATH,
                    "/etc/bind/db.net.lab"
                ])),
                uploads_of(&files[0..=3]),
                as_root(&check_script(dns(&ctx))),
                state_of(SERVICE),
                service_cmd("enable --no-reload", "named.service"),
                service_cmd("start", "named.service"),
            ]
        );
        assert_eq!(
            report.changed.last().map(String::as_str),
            Some("named.service started")
        );
    }
}

mod live;
mod views;
