//! Two networks and a router: a lab written here, and the shipped labs/network.yaml.

use super::client::assert_no_write_lost;
use super::fault::{apply_fault, assert_fault_holds, revert_fault};
use super::lab::{
    all_healthy, assert_gone_from_libvirt, lab_status, node_ip, served_by_n, ssh_stdout, wait_until,
};
use crate::harness::Sandbox;

/// The smallest lab with a router: `pc` on lan, `web` on dmz (routed through `gw`), `gw` on
/// both with the router role, forwarding only ICMP and TCP 8000 from lan to dmz, and the DNS
/// server of both (the dns role: pc and web resolve through it).
const ROUTED_LAB: &str = "name: routed
networks:
  - {name: lan, cidr: 10.91.0.0/24}
  - {name: dmz, cidr: 10.92.0.0/24, mode: routed, router: gw, dns: {www: web}}
defaults: {memory: 384}
nodes:
  - name: gw
    roles: [router, dns]
    networks: [{name: lan, ip: 10.91.0.2}, {name: dmz, ip: 10.92.0.2}]
    router: {forward: drop, allow: [{from: lan, to: dmz, tcp: [8000]}]}
  - {name: pc, network: lan, routes: [{to: dmz, via: gw}]}
  - {name: web, network: dmz}
";

pub(super) fn two_networks_through_a_router() {
    let sb = Sandbox::start("routed");
    sb.ensure_image();
    let file = sb.home().join("routed.yaml");
    std::fs::write(&file, ROUTED_LAB).expect("write the lab file");
    let file = file.to_string_lossy().into_owned();

    let up = sb.firedrill(&["up", &file, "--accel", "tcg"]);
    up.assert_success("up");

    // gw has an interface on each network, forwards, and runs the rules from the lab file.
    let addrs = ssh_stdout(&sb, "gw", "ip -4 -o addr show");
    assert!(
        addrs.contains("10.91.0.2/24") && addrs.contains("10.92.0.2/24"),
        "{addrs}"
    );
    assert_eq!(
        ssh_stdout(&sb, "gw", "cat /proc/sys/net/ipv4/ip_forward"),
        "1"
    );
    let rules = ssh_stdout(&sb, "gw", "sudo nft list ruleset");
    assert!(rules.contains("tcp dport 8000 accept"), "{rules}");

    // pc's route to dmz goes via gw; web's default route is gw.
    let via = ssh_stdout(&sb, "pc", "ip route get 10.92.0.10");
    assert!(via.contains("via 10.91.0.2 dev eth0"), "{via}");
    let default = ssh_stdout(&sb, "web", "ip route show default");
    assert!(default.contains("via 10.92.0.2"), "{default}");

    // Names come from BIND on gw, each node asking gw's address on its own network: lan's
    // dnsmasq knows no `web` (it is on dmz only), dmz's knows no `pc`.
    let resolv = ssh_stdout(&sb, "pc", "cat /etc/resolv.conf");
    assert!(resolv.contains("nameserver 10.91.0.2"), "{resolv}");
    assert_eq!(
        ssh_stdout(&sb, "pc", "getent hosts web | cut -d' ' -f1"),
        "10.92.0.10"
    );
    assert_eq!(
        ssh_stdout(&sb, "web", "getent hosts pc | cut -d' ' -f1"),
        "10.91.0.10"
    );
    // gw's named is also the lab's caching resolver: an edit of the zone answers at once on
    // gw (the zone's own view, 127.0.0.1), while pc keeps the answer the resolver cached
    // until the name is flushed.
    let www = ssh_stdout(&sb, "pc", "dig +noall +answer www.routed.lab");
    assert!(www.contains("300") && www.ends_with("10.92.0.10"), "{www}");
    ssh_stdout(
        &sb,
        "gw",
        "sudo sed -i 's/^www\tIN\tA\t.*/www\tIN\tA\t10.92.0.99/' /etc/bind/db.routed.lab \
         && sudo rndc reload routed.lab",
    );
    wait_until("the edited zone answers", 30, || {
        let out = sb.firedrill(&["ssh", "gw", "--", "dig +short @127.0.0.1 www.routed.lab"]);
        out.stdout.trim() == "10.92.0.99"
    });
    let ask_www = || ssh_stdout(&sb, "pc", "dig +short www.routed.lab");
    assert_eq!(ask_www(), "10.92.0.10", "the resolver's cached answer");
    ssh_stdout(&sb, "gw", "sudo rndc flushname www.routed.lab");
    assert_eq!(ask_www(), "10.92.0.99", "after the flush");

    // A ping crosses gw: one hop, so the answer's TTL is 64 - 1.
    let ping = ssh_stdout(&sb, "pc", "ping -c 1 -W 5 10.92.0.10");
    assert!(
        ping.contains("1 received") && ping.contains("ttl=63"),
        "{ping}"
    );

    // HTTP on web's port 8000 crosses it too; its port 22 is not in `allow`.
    ssh_stdout(
        &sb,
        "web",
        "sudo systemd-run --unit=fd-http --property=WorkingDirectory=/etc python3 -m http.server 8000",
    );
    wait_until("web serves on 8000 through gw", 30, || {
        let out = sb.firedrill(&[
            "ssh",
            "pc",
            "--",
            "curl -s --max-time 5 http://10.92.0.10:8000/hostname",
        ]);
        out.stdout.trim() == "web"
    });
    let blocked = sb.firedrill(&[
        "ssh",
        "pc",
        "--",
        "timeout 5 bash -c '</dev/tcp/10.92.0.10/22' && echo open || echo closed",
    ]);
    assert_eq!(blocked.stdout.trim(), "closed", "{}", blocked.stderr);

    // route-missing: pc loses its route to dmz, so web is out of reach (lan still works);
    // revert puts the route back as `ip route` printed it.
    let http = "curl -s --max-time 5 http://10.92.0.10:8000/hostname";
    sb.firedrill(&[
        "fault",
        "apply",
        "route-missing",
        "pc",
        "--param",
        "to=10.92.0.0/24",
    ])
    .assert_success("fault apply route-missing");
    let cut = sb.firedrill(&["ssh", "pc", "--", http]);
    assert_ne!(
        cut.stdout.trim(),
        "web",
        "web still answers without the route"
    );
    sb.firedrill(&["ssh", "pc", "--", "ping", "-c", "1", "-W", "5", "10.91.0.2"])
        .assert_success("lan still works");
    sb.firedrill(&["fault", "revert", "--all"])
        .assert_success("revert route-missing");
    assert_eq!(ssh_stdout(&sb, "pc", http), "web", "the route is back");

    // dns-wrong-record on gw: `web` leads elsewhere (another node's address, from the zone),
    // so a request by name no longer reaches web; revert loads the right record again.
    let by_name = "curl -s --max-time 5 http://web:8000/hostname";
    assert_eq!(ssh_stdout(&sb, "pc", by_name), "web");
    let ask = || ssh_stdout(&sb, "pc", "dig +short @10.91.0.2 web.routed.lab");
    // With a wrong address the request fails (curl exits non-zero) or another server answers.
    let reaches_web = || sb.firedrill(&["ssh", "pc", "--", by_name]).stdout.trim() == "web";
    let id = apply_fault(&sb, &["dns-wrong-record", "gw", "--param", "name=web"]);
    assert_fault_holds(&sb, &id);
    let wrong = ask();
    assert!(
        !wrong.is_empty() && wrong != "10.92.0.10",
        "web still resolves to {wrong:?}"
    );
    assert!(!reaches_web(), "a request by name still reaches web");
    let serial = ssh_stdout(
        &sb,
        "gw",
        "dig +short @127.0.0.1 routed.lab SOA | cut -d' ' -f3",
    );
    assert_ne!(serial, "1", "the zone's serial was raised");
    revert_fault(&sb, &id);
    assert_eq!(ask(), "10.92.0.10");
    assert_eq!(ssh_stdout(&sb, "pc", by_name), "web");

    // dns-stale on gw: the zone is right, the resolver keeps an old answer for `web` (another
    // node's address) with a day's TTL; revert makes it forget.
    let id = apply_fault(&sb, &["dns-stale", "gw", "--param", "name=web"]);
    assert_fault_holds(&sb, &id);
    let stale = ask();
    assert!(
        !stale.is_empty() && stale != "10.92.0.10",
        "the resolver answers {stale:?}"
    );
    assert_eq!(
        ssh_stdout(&sb, "gw", "dig +short @127.0.0.1 web.routed.lab"),
        "10.92.0.10",
        "the zone is right"
    );
    assert!(!reaches_web(), "a request by name still reaches web");
    revert_fault(&sb, &id);
    assert_eq!(ask(), "10.92.0.10");
    assert_eq!(ssh_stdout(&sb, "pc", by_name), "web");

    let down = sb.firedrill(&["down"]);
    down.assert_success("down");
    assert_gone_from_libvirt(&sb, "routed");
}

pub(super) fn network_lab_serves_through_the_router() {
    let sb = Sandbox::start("network");
    sb.ensure_image();
    let started = std::time::Instant::now();
    sb.firedrill(&["up", "labs/network.yaml", "--accel", "tcg"])
        .assert_success("up labs/network.yaml");
    eprintln!("# up labs/network.yaml took {:?}", started.elapsed());
    let status = lab_status(&sb);
    assert!(all_healthy(&status), "{status:#}");
    let ip = |name: &str| node_ip(&status, name);
    let (lb, gw_lan, db) = (ip("lb"), "10.84.0.2", ip("db"));
    assert!(lb.starts_with("10.84.0."), "lb is on lan: {lb}");
    assert!(db.starts_with("10.85.0."), "db is on dmz: {db}");

    // lb's way to dmz is gw, and the app servers answer lb through it.
    let via = ssh_stdout(&sb, "lb", &format!("ip route get {db}"));
    assert!(via.contains(&format!("via {gw_lan}")), "{via}");
    let served_by: std::collections::BTreeSet<String> = served_by_n(&sb, 8).into_iter().collect();
    assert_eq!(
        served_by,
        ["app1", "app2"].iter().map(|s| s.to_string()).collect()
    );

    // The mock client through lb: nothing fails, no acknowledged write is lost.
    let ledger = sb.home().join("writes.jsonl").display().to_string();
    let client = sb.firedrill(&[
        "client",
        "--rate",
        "5",
        "--duration",
        "20s",
        "--write-ratio",
        "0.3",
        "--slo",
        "100",
        "--ledger",
        &ledger,
    ]);
    client.assert_success("client through lb and gw");
    assert_no_write_lost(&sb, None, std::path::Path::new(&ledger));

    // gw forwards lan to dmz on 8080 only: MySQL on db is closed to lb, open to app1 (dmz).
    let probe = format!("timeout 5 bash -c '</dev/tcp/{db}/3306' && echo open || echo closed");
    assert_eq!(ssh_stdout(&sb, "lb", &probe), "closed");
    assert_eq!(ssh_stdout(&sb, "app1", &probe), "open");

    // Names from BIND on gw, from both networks.
    let resolv = ssh_stdout(&sb, "lb", "cat /etc/resolv.conf");
    assert!(resolv.contains(&format!("nameserver {gw_lan}")), "{resolv}");
    assert_eq!(
        ssh_stdout(&sb, "lb", "getent hosts app1 | cut -d' ' -f1"),
        ip("app1")
    );
    assert_eq!(
        ssh_stdout(&sb, "app2", "getent hosts lb | cut -d' ' -f1"),
        lb
    );
    // The apps reach the database by the name `database` of gw's zone, looked up through gw
    // (the dns-stale level relies on it).
    let hosts = ssh_stdout(&sb, "app1", "sudo grep '^host = ' /etc/todo/config.ini");
    assert!(hosts.contains("host = database.network.lab"), "{hosts}");
    assert_eq!(
        ssh_stdout(&sb, "app1", "getent hosts database | cut -d' ' -f1"),
        db
    );

    let svg = sb.firedrill(&["topology", "labs/network.yaml", "--format", "svg"]);
    svg.assert_success("topology");
    for name in ["lan", "dmz", "gw", "lb", "db"] {
        assert!(svg.stdout.contains(name), "{name} missing in the drawing");
    }

    sb.firedrill(&["down"]).assert_success("down");
    assert_gone_from_libvirt(&sb, "network");
}
