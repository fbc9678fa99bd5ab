//! The dns role's files in a real named (Debian's bind9, from scripts/install-deps), with the
//! dns faults' own scripts run against it as they run on the dns node: the zone's server and
//! the caching resolver in their two views, a learner's zone edit that the resolver hides until
//! the name is flushed, dns-stale put in, seen, fixed and reverted, dns-wrong-record seen at
//! once through the resolver and reverted, and a name outside the lab failing at once; and a
//! split-horizon server answering two source addresses differently, broken by dns-view-order
//! and reverted.
//!
//! NEEDS ROOT. Everything runs inside fresh network, mount and PID namespaces
//! (`unshare --net --mount --pid --fork`): only a loopback exists there, with 127.0.0.2 as the
//! node's lab address (scope global, as a NIC's address is, so the fault finds it there);
//! `/etc/bind`, `/var/cache/bind` and `/run` are private tmpfs mounts, so the files land at the
//! paths the role writes without touching this host's; named ends with the namespace's first
//! process, and `timeout` bounds the whole run.

use super::*;
use crate::faults::Fault;
use crate::faults::testing::{build, fields, node};
use std::path::Path;
use std::process::Command;

/// The node's lab address inside the namespace: the resolver answers there.
const LAB_ADDR: &str = "127.0.0.2";

/// `$1` is the directory with the rendered files and the fault scripts; each step's output
/// goes there as STEP.txt.
const SCRIPT: &str = r#"
set -eu
d=$1
ip link set lo up
ip addr add LAB_ADDR/32 dev lo scope global
mount -t tmpfs firedrill-bind /etc/bind
mount -t tmpfs firedrill-cache /var/cache/bind
mount -t tmpfs firedrill-run /run
mkdir -p /run/named
for f in named.conf named.conf.options named.conf.local db.net.lab; do
    install -m 644 -o root -g bind "$d/$f" "/etc/bind/$f"
done
rndc-confgen -a -u bind 2>/dev/null
chown bind:bind /var/cache/bind /run/named
step() {
    name=$1; shift
    echo "$name: $*" > "$d/step"
    "$@" > "$d/$name.txt" 2> "$d/$name.err" || { cat "$d/$name.err" >> "$d/step"; return 1; }
}
ask() { dig +short +time=5 +tries=1 "$@" | sort | tr '\n' ' '; }
step check sh "$d/check.sh"
named -u bind 2> "$d/named.err"
up=
for i in $(seq 1 100); do
    if rndc status >/dev/null 2>&1; then up=1; break; fi
    sleep 0.1
done
[ -n "$up" ] || { echo "named did not start within 10 s" >&2; exit 1; }
step health sh "$d/health.sh"

# A learner's edit: the zone answers it after the reload, the resolver keeps the answer it
# cached until the name is flushed.
step www-before ask @LAB_ADDR www.net.lab
sed -i 's/^www\tIN\tA\t.*/www\tIN\tA\t10.80.0.99/' /etc/bind/db.net.lab
rndc reload net.lab > /dev/null
for i in $(seq 1 50); do
    [ "$(ask +norecurse @127.0.0.1 www.net.lab)" = "10.80.0.99 " ] && break
    sleep 0.1
done
step www-zone ask +norecurse @127.0.0.1 www.net.lab
step www-cached ask @LAB_ADDR www.net.lab
step www-ttl sh -c "dig +noall +answer @LAB_ADDR www.net.lab | awk '{ print \$2 }'"
rndc flushname www.net.lab
step www-flushed ask @LAB_ADDR www.net.lab

# dns-stale: a node asked before; after the fault the zone is as it was, the resolver is not;
# the learner's fix is a flush; the revert finds nothing to put back.
step web-before ask @LAB_ADDR web.net.lab
cp /etc/bind/db.net.lab "$d/zone-before"
step stale-prepare sh "$d/stale-prepare.sh"
step stale-inject sh "$d/stale-inject.sh"
step stale-verify sh "$d/stale-verify.sh"
step stale-client ask @LAB_ADDR web.net.lab
step stale-zone ask +norecurse @127.0.0.1 web.net.lab
cp /etc/bind/db.net.lab "$d/zone-stale"
rndc flushname web.net.lab
step stale-fixed ask @LAB_ADDR web.net.lab
step stale-verify-fixed sh "$d/stale-verify.sh"
step stale-revert sh "$d/stale-revert.sh"

# dns-wrong-record: the lab's nodes get the wrong address at their next lookup, and the right
# one again right after the revert.
step pc-before ask @LAB_ADDR pc.net.lab
step wrong-prepare sh "$d/wrong-prepare.sh"
step wrong-inject sh "$d/wrong-inject.sh"
step wrong-client ask @LAB_ADDR pc.net.lab
step wrong-revert sh "$d/wrong-revert.sh"
step wrong-reverted ask @LAB_ADDR pc.net.lab

# A name outside the lab fails at once; the cache can be dumped where the comment says.
start=$(date +%s%N)
step outside sh -c "dig +time=10 +tries=1 @LAB_ADDR example.com | grep -o 'status: [A-Z]*'"
echo $(( ($(date +%s%N) - start) / 1000000 )) > "$d/outside-ms.txt"
rndc dumpdb -cache
for i in $(seq 1 200); do [ -s /var/cache/bind/named_dump.db ] && break; sleep 0.1; done
step dump grep -c '^pc.net.lab.' /var/cache/bind/named_dump.db
"#;

fn fault(kind: &str, params: &[(&str, &str)]) -> Fault {
    build(kind, &node("gw", &[Role::Router, Role::Dns]), params).expect("builds")
}

/// Writes the fault's scripts as KIND-STEP.sh, with `prepared` fed what its prepare script must
/// print here (checked against what it did print once the run is over).
fn write_fault(dir: &Path, tag: &str, f: &mut Fault, prepared: &str) {
    let write = |step: &str, body: String| {
        std::fs::write(dir.join(format!("{tag}-{step}.sh")), body).expect("write a script")
    };
    let ops = f.ops();
    write("prepare", ops.prepare_script());
    ops.prepared(&fields(prepared)).expect("prepared");
    write("inject", ops.inject_script());
    write("verify", ops.verify_script());
    write("revert", ops.revert_script(None));
}

#[test]
#[ignore = "needs root: scripts/test"]
fn named_serves_the_zone_and_caches_it_and_the_dns_faults_work_on_it_needs_root() {
    let dir = tempfile::tempdir().expect("temp dir");
    let d = dir.path();
    let mut ctx = context(options_of(LAB));
    ctx.ip = LAB_ADDR.parse().expect("ip");
    let z = dns(&ctx).zone.clone();
    for f in managed(&ctx, dns(&ctx)).expect("renders") {
        let name = Path::new(&f.path).file_name().expect("a file name");
        std::fs::write(d.join(name), &f.contents).expect("write a rendered file");
    }
    std::fs::write(d.join("check.sh"), check_script(dns(&ctx))).expect("write");
    std::fs::write(d.join("health.sh"), health_script(&ctx, &z)).expect("write");
    let stale_prepared = format!(
        "zone=net.lab\nfile=/etc/bind/db.net.lab\nwas=10.80.0.10\nto=10.77.0.2\nresolver={LAB_ADDR}\n"
    );
    let wrong_prepared = "zone=net.lab\nfile=/etc/bind/db.net.lab\nwas=10.77.0.10\nto=10.77.0.2\n";
    let mut stale = fault("dns-stale", &[("name", "web"), ("ttl", "3600")]);
    write_fault(d, "stale", &mut stale, &stale_prepared);
    let mut wrong = fault("dns-wrong-record", &[("name", "pc")]);
    write_fault(d, "wrong", &mut wrong, wrong_prepared);

    let started = std::time::Instant::now();
    let out = Command::new("timeout")
        .args(["--kill-after=5", "120"])
        .args(["unshare", "--net", "--mount", "--pid", "--fork"])
        .args(["sh", "-c", &SCRIPT.replace("LAB_ADDR", LAB_ADDR), "sh"])
        .arg(d)
        .output()
        .expect("run unshare");
    let read = |name: &str| std::fs::read_to_string(d.join(name)).unwrap_or_default();
    let txt = |step: &str| read(&format!("{step}.txt")).trim().to_string();
    assert!(
        out.status.success(),
        "{out:?} (124: stopped after 120 s)\nnamed:\n{}\nthe last step: {}",
        read("named.err"),
        read("step")
    );
    eprintln!("named and the dns faults ran in {:.1?}", started.elapsed());

    assert_eq!(read("check.err"), "", "named-checkconf and named-checkzone");
    assert_eq!(
        txt("health"),
        "10.77.0.2",
        "the role's health through the resolver"
    );
    assert!(
        judge_health(
            &ctx,
            &z,
            &Output {
                status: 0,
                stdout: read("health.txt").into_bytes(),
                stderr: Vec::new()
            }
        )
        .ok
    );

    // The learner's edit: the zone has it, the resolver keeps its answer for the lab's TTL
    // (60 s) until the name is flushed.
    assert_eq!(txt("www-before"), "10.80.0.10");
    assert_eq!(txt("www-zone"), "10.80.0.99");
    assert_eq!(txt("www-cached"), "10.80.0.10");
    let left: u32 = txt("www-ttl").parse().expect("a TTL");
    assert!((1..=60).contains(&left), "{left}");
    assert_eq!(txt("www-flushed"), "10.80.0.99");

    // dns-stale.
    assert_eq!(fields(&read("stale-prepare.txt")), fields(&stale_prepared));
    assert_eq!(txt("web-before"), "10.80.0.10");
    assert_eq!(txt("stale-inject"), "cached=yes");
    let Fault::DnsStale(_) = &stale else { panic!() };
    let verdict = stale.ops().verdict(&fields(&read("stale-verify.txt")), 0);
    assert!(verdict.active, "{verdict:?}");
    assert!(
        verdict
            .detail
            .starts_with("the resolver answers 10.77.0.2 for web.net.lab for 3")
            && verdict.detail.ends_with(" s more; the zone has 10.80.0.10"),
        "{verdict:?}"
    );
    assert_eq!(txt("stale-client"), "10.77.0.2");
    assert_eq!(txt("stale-zone"), "10.80.0.10");
    // The zone is as it was but for its serial, raised twice.
    assert_eq!(
        read("zone-stale"),
        read("zone-before").replace("\t\t1\t; serial", "\t\t3\t; serial")
    );
    assert_eq!(txt("stale-fixed"), "10.80.0.10");
    let verdict = stale
        .ops()
        .verdict(&fields(&read("stale-verify-fixed.txt")), 0);
    assert!(!verdict.active, "{verdict:?}");
    assert_eq!(
        txt("stale-revert"),
        "the resolver forgot its answer for web.net.lab"
    );

    // dns-wrong-record, through the resolver.
    assert_eq!(fields(&read("wrong-prepare.txt")), fields(wrong_prepared));
    assert_eq!(txt("pc-before"), "10.77.0.10");
    assert_eq!(txt("wrong-inject"), "changed=yes");
    assert_eq!(txt("wrong-client"), "10.77.0.2");
    assert_eq!(
        txt("wrong-revert"),
        "pc points at 10.77.0.10 again in net.lab"
    );
    assert_eq!(txt("wrong-reverted"), "10.77.0.10");

    assert_eq!(txt("outside"), "status: SERVFAIL");
    let ms: u64 = txt("outside-ms").parse().expect("milliseconds");
    // Well under dig's own 10 s: an answer, not a timeout (about 60 ms on an idle host).
    assert!(ms < 5000, "a name outside the lab took {ms} ms to fail");
    let dumped: u32 = txt("dump").parse().expect("a count");
    assert!(dumped > 0, "the cache dump names pc.net.lab");
}

/// Two horizons on one named: the SPLIT lab's files, with its lan and dmz addresses on the
/// namespace's loopback; a client's source address picks its view, as a node's does. Then
/// dns-view-order moves the inside view below the resolver and the dmz client gets the lan
/// answer, until the revert; a zone edit (dns-wrong-record) still reloads the zone, now in two
/// views.
const SPLIT_SCRIPT: &str = r#"
set -eu
d=$1
ip link set lo up
for a in 10.77.0.2 10.77.0.10 10.80.0.2 10.80.0.20; do ip addr add $a/32 dev lo scope global; done
mount -t tmpfs firedrill-bind /etc/bind
mount -t tmpfs firedrill-cache /var/cache/bind
mount -t tmpfs firedrill-run /run
mkdir -p /run/named
for f in named.conf named.conf.options named.conf.local db.net.lab db.net.lab.inside; do
    install -m 644 -o root -g bind "$d/$f" "/etc/bind/$f"
done
rndc-confgen -a -u bind 2>/dev/null
chown bind:bind /var/cache/bind /run/named
step() {
    name=$1; shift
    echo "$name: $*" > "$d/step"
    "$@" > "$d/$name.txt" 2> "$d/$name.err" || { cat "$d/$name.err" >> "$d/step"; return 1; }
}
ask() { dig +short +time=5 +tries=1 "$@" | sort | tr '\n' ' '; }
status() { dig +time=5 +tries=1 "$@" | grep -o 'status: [A-Z]*'; }
outside() { ask -b 10.77.0.10 @10.77.0.2 "$@"; }
inside() { ask -b 10.80.0.20 @10.80.0.2 "$@"; }
step check sh "$d/check.sh"
named -u bind 2> "$d/named.err"
up=
for i in $(seq 1 100); do
    if rndc status >/dev/null 2>&1; then up=1; break; fi
    sleep 0.1
done
[ -n "$up" ] || { echo "named did not start within 10 s" >&2; exit 1; }

step outside-www outside www.net.lab
step inside-www inside www.net.lab
step inside-web inside web.net.lab
step inside-api inside api.net.lab
step outside-api status -b 10.77.0.10 @10.77.0.2 api.net.lab
step zone-www ask +norecurse @127.0.0.1 www.net.lab
step inside-elsewhere status -b 10.80.0.20 @10.80.0.2 example.com

# dns-view-order: the dmz client gets the lan answer; the revert gives the file back as it was.
cp /etc/bind/named.conf.local "$d/local-before"
step order-prepare sh "$d/order-prepare.sh"
step order-inject sh "$d/order-inject.sh"
step order-verify sh "$d/order-verify.sh"
step order-inside inside www.net.lab
step order-outside outside www.net.lab
step order-revert sh "$d/order-revert.sh"
step order-verify-reverted sh "$d/order-verify.sh"
step order-reverted inside www.net.lab
cp /etc/bind/named.conf.local "$d/local-after"

# A zone edit reloads the authority's zone, which the zone's name alone no longer names.
step wrong-prepare sh "$d/wrong-prepare.sh"
step wrong-inject sh "$d/wrong-inject.sh"
step wrong-outside outside web.net.lab
step wrong-inside inside web.net.lab
step wrong-revert sh "$d/wrong-revert.sh"
step wrong-reverted outside web.net.lab

# labs/levels/split-horizon.yaml's reference solution, on the fault put in again.
step order-again sh "$d/order-inject.sh"
step solution-broken inside www.net.lab
step solution sh -e "$d/solution.sh"
step solution-fixed inside www.net.lab
cp /etc/bind/named.conf.local "$d/local-solved"
"#;

/// The `run` of the split-horizon level's one solution step (on gw).
fn level_solution() -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("labs/levels/split-horizon.yaml");
    let text = std::fs::read_to_string(path).expect("read the level");
    let level: serde_json::Value = serde_saphyr::from_str(&text).expect("parse the level");
    assert_eq!(level["solution"][0]["node"], "gw");
    level["solution"][0]["run"]
        .as_str()
        .expect("a run step")
        .to_string()
}

#[test]
#[ignore = "needs root: scripts/test"]
fn named_answers_each_horizon_and_dns_view_order_breaks_it_until_reverted_needs_root() {
    let dir = tempfile::tempdir().expect("temp dir");
    let d = dir.path();
    let ctx = super::views::split_context();
    let c = dns(&ctx);
    for f in managed(&ctx, c).expect("renders") {
        let name = Path::new(&f.path).file_name().expect("a file name");
        std::fs::write(d.join(name), &f.contents).expect("write a rendered file");
    }
    std::fs::write(d.join("check.sh"), check_script(c)).expect("write");
    std::fs::write(d.join("solution.sh"), level_solution()).expect("write");
    let gw = crate::faults::testing::gw_with_views(&["inside"]);
    let order_prepared = "views=authority inside resolver \n";
    let mut order = build("dns-view-order", &gw, &[]).expect("builds");
    write_fault(d, "order", &mut order, order_prepared);
    let wrong_prepared = "zone=net.lab\nfile=/etc/bind/db.net.lab\nwas=10.80.0.20\nto=10.77.0.2\n";
    let mut wrong = fault("dns-wrong-record", &[("name", "web")]);
    write_fault(d, "wrong", &mut wrong, wrong_prepared);

    let started = std::time::Instant::now();
    let out = Command::new("timeout")
        .args(["--kill-after=5", "120"])
        .args(["unshare", "--net", "--mount", "--pid", "--fork"])
        .args(["sh", "-c", SPLIT_SCRIPT, "sh"])
        .arg(d)
        .output()
        .expect("run unshare");
    let read = |name: &str| std::fs::read_to_string(d.join(name)).unwrap_or_default();
    let txt = |step: &str| read(&format!("{step}.txt")).trim().to_string();
    assert!(
        out.status.success(),
        "{out:?} (124: stopped after 120 s)\nnamed:\n{}\nthe last step: {}",
        read("named.err"),
        read("step")
    );
    eprintln!(
        "named's two horizons and dns-view-order ran in {:.1?}",
        started.elapsed()
    );

    assert_eq!(read("check.err"), "", "named-checkconf and both zones");
    // Each horizon its answer; the rest of the zone the same in both; a name only the inside
    // view has is unknown outside; names outside the lab fail on both sides.
    assert_eq!(txt("outside-www"), "10.77.0.10");
    assert_eq!(txt("inside-www"), "10.80.0.10");
    assert_eq!(txt("inside-web"), "10.80.0.20");
    assert_eq!(txt("inside-api"), "10.80.0.30");
    assert_eq!(txt("outside-api"), "status: NXDOMAIN");
    assert_eq!(txt("zone-www"), "10.77.0.10");
    assert_eq!(txt("inside-elsewhere"), "status: SERVFAIL");

    // dns-view-order.
    assert_eq!(read("order-prepare.txt"), order_prepared);
    assert_eq!(txt("order-inject"), "moved=yes");
    let verdict = order.ops().verdict(&fields(&read("order-verify.txt")), 0);
    assert!(verdict.active, "{verdict:?}");
    assert_eq!(
        txt("order-inside"),
        "10.77.0.10",
        "the dmz client gets the lan answer"
    );
    assert_eq!(txt("order-outside"), "10.77.0.10");
    assert_eq!(
        txt("order-revert"),
        "view inside is in front of resolver again in /etc/bind/named.conf.local"
    );
    let verdict = order
        .ops()
        .verdict(&fields(&read("order-verify-reverted.txt")), 0);
    assert!(!verdict.active, "{verdict:?}");
    assert_eq!(txt("order-reverted"), "10.80.0.10");
    assert_eq!(read("local-after"), read("local-before"));

    // dns-wrong-record on a split server: the authority's zone changes, the inside copy not.
    assert_eq!(fields(&read("wrong-prepare.txt")), fields(wrong_prepared));
    assert_eq!(txt("wrong-inject"), "changed=yes");
    assert_eq!(txt("wrong-outside"), "10.77.0.2");
    assert_eq!(txt("wrong-inside"), "10.80.0.20");
    assert_eq!(
        txt("wrong-revert"),
        "web points at 10.80.0.20 again in net.lab"
    );
    assert_eq!(txt("wrong-reverted"), "10.80.0.20");

    // The level's reference solution undoes the fault as the revert does, byte for byte.
    assert_eq!(txt("order-again"), "moved=yes");
    assert_eq!(txt("solution-broken"), "10.77.0.10");
    assert_eq!(read("solution.err"), "");
    assert_eq!(txt("solution-fixed"), "10.80.0.10");
    assert_eq!(read("local-solved"), read("local-before"));
}
