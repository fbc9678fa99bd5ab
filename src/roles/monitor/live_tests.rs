//! The monitor node's alerting as a real Alertmanager runs it: the rendered alertmanager.yml
//! and the Alertmanager settings of its defaults file, `amtool` checking and routing them, and
//! the real receiver (templates/monitor/firedrill-pages.py) keeping what Alertmanager delivers
//! where `play` reads it (levels/page.rs: its own script and parser read the file).
//!
//! NEEDS ROOT and Debian's `prometheus-alertmanager` (amtool; scripts/install-deps installs
//! it). Everything runs inside fresh network, mount and PID namespaces
//! (`unshare --net --mount --pid --fork`): only a loopback exists there, so Alertmanager
//! (127.0.0.1:9093) and the receiver (127.0.0.1:9095, its fixed address) reach nothing else;
//! `/etc/prometheus` and `/var/lib` are private tmpfs mounts, so the files land at the paths
//! the role writes without touching this host's; every process ends with the namespace's
//! first process, and `timeout` bounds the whole run.

use super::alerting::{self, CHECK_SCRIPT, CONFIG_PATH, NOTIFICATIONS};
use crate::levels::page;
use std::process::Command;

/// `$1` alertmanager.yml, `$2` its defaults file, `$3` the receiver, `$4` the output directory.
/// Prints `$4/check.txt` (amtool check-config), `$4/route.txt` (the receiver a page routes
/// to), `$4/pages.txt` (what play's script reads) and `$4/alerts.json` (Alertmanager's view).
const SCRIPT: &str = r#"
set -eu
out=$4
ip link set lo up
mount -t tmpfs firedrill-etc /etc/prometheus
mount -t tmpfs firedrill-var /var/lib
cp "$1" /etc/prometheus/alertmanager.yml
cp "$3" /var/lib/firedrill-pages.py
mkdir -p /var/lib/prometheus/alertmanager /var/lib/firedrill-pages
# As the package and the unit's StateDirectory= leave them: owned by the prometheus user.
chown -R prometheus:prometheus /var/lib/prometheus /var/lib/firedrill-pages
as_prometheus() { setpriv --reuid=prometheus --regid=prometheus --clear-groups "$@"; }
{ CHECK_SCRIPT; } > "$out/check.txt" 2>&1
amtool config routes test --config.file=/etc/prometheus/alertmanager.yml \
    alertname=NodeDiskFull node=web severity=page > "$out/route.txt"
ARGS=
. "$2"
as_prometheus /usr/bin/python3 /var/lib/firedrill-pages.py 2> "$out/receiver.log" &
# The role leaves the listen address to Alertmanager's default (every address of the node);
# here only the loopback.
as_prometheus prometheus-alertmanager $ARGS --web.listen-address=127.0.0.1:9093 \
    2> "$out/alertmanager.log" &
up=
for i in $(seq 1 100); do
    if curl -sf -o /dev/null http://127.0.0.1:9093/-/ready \
        && /usr/bin/python3 -c 'import socket; socket.create_connection(("127.0.0.1", 9095), 1)' 2>/dev/null; then
        up=1; break
    fi
    sleep 0.2
done
[ -n "$up" ] || { echo "alertmanager or the receiver did not start within 20 s" >&2; exit 1; }
am="--alertmanager.url=http://127.0.0.1:9093"
amtool $am alert add NodeDown node=db severity=page \
    --annotation=summary='db is down' --annotation=description='no scrape for 1m'
amtool $am alert add NodeDiskFull node=db severity=page --annotation=summary='db disk full'
amtool $am alert add NodeDiskFull node=web severity=page \
    --annotation=summary='web: / is full' --annotation=description='under 5% free'
# The group wait is 10 s: both pages are due then. The inhibited alert is never sent.
for i in $(seq 1 60); do
    [ "$(PAGES_COUNT)" -ge 2 ] && break
    sleep 0.5
done
sleep 2
PAGES_SINCE > "$out/pages.txt"
amtool $am -o json alert query --inhibited > "$out/alerts.json"
"#;

#[test]
#[ignore = "needs root: scripts/test"]
fn alertmanager_routes_the_rendered_config_to_the_receiver_and_play_reads_the_pages_needs_root() {
    let dir = tempfile::tempdir().expect("temp dir");
    let files = alerting::files();
    let file = |path: &str| {
        files
            .iter()
            .find(|f| f.path.ends_with(path))
            .unwrap_or_else(|| panic!("the role writes {path}"))
    };
    let config = dir.path().join("alertmanager.yml");
    let defaults = dir.path().join("defaults");
    let receiver = dir.path().join("firedrill-pages.py");
    std::fs::write(&config, &file(CONFIG_PATH).contents).expect("write config");
    std::fs::write(
        &defaults,
        &file("/etc/default/prometheus-alertmanager").contents,
    )
    .expect("write defaults");
    std::fs::write(&receiver, &file("/usr/local/bin/firedrill-pages").contents)
        .expect("write receiver");
    let script = SCRIPT
        .replace("CHECK_SCRIPT", CHECK_SCRIPT)
        .replace("PAGES_COUNT", &page::count_script())
        .replace("PAGES_SINCE", &page::since_script(0));
    assert!(script.contains(NOTIFICATIONS));

    let started = std::time::Instant::now();
    let out = Command::new("timeout")
        .args(["--kill-after=5", "60"])
        .args(["unshare", "--net", "--mount", "--pid", "--fork"])
        .args(["sh", "-c", &script, "sh"])
        .args([&config, &defaults, &receiver, &dir.path().to_path_buf()])
        .output()
        .expect("run unshare");
    let read = |name: &str| std::fs::read_to_string(dir.path().join(name)).unwrap_or_default();
    assert!(
        out.status.success(),
        "{out:?}\nalertmanager:\n{}\nreceiver:\n{}",
        read("alertmanager.log"),
        read("receiver.log")
    );
    eprintln!("alertmanager delivered in {:.1?}", started.elapsed());

    let check = read("check.txt");
    assert!(
        check.contains("SUCCESS") && check.contains("1 inhibit rules"),
        "{check}"
    );
    assert_eq!(read("route.txt").trim(), "firedrill");

    // What the receiver kept, as play reads it: one notification per alert and node, each to
    // the firedrill receiver and firing; db's disk alert inhibited by db being down.
    let pages = read("pages.txt");
    let mut groups: Vec<(String, String)> = pages
        .lines()
        .map(|line| {
            let record: serde_json::Value = serde_json::from_str(line).expect("a JSON line");
            let n = &record["notification"];
            assert!(record["received"].as_f64().is_some(), "{line}");
            assert_eq!(n["receiver"], "firedrill", "{line}");
            assert_eq!(n["status"], "firing", "{line}");
            let label = |k: &str| n["groupLabels"][k].as_str().unwrap_or_default().to_string();
            (label("alertname"), label("node"))
        })
        .collect();
    groups.sort();
    assert_eq!(
        groups,
        [
            ("NodeDiskFull".to_string(), "web".to_string()),
            ("NodeDown".to_string(), "db".to_string())
        ],
        "{pages}"
    );
    assert_eq!(
        page::find(&pages, "NodeDiskFull"),
        Some(("web: / is full".into(), "under 5% free".into()))
    );
    assert_eq!(
        page::find(&pages, "NodeDown"),
        Some(("db is down".into(), "no scrape for 1m".into()))
    );

    let alerts: serde_json::Value =
        serde_json::from_str(&read("alerts.json")).expect("amtool's JSON");
    let inhibited: Vec<&serde_json::Value> = alerts
        .as_array()
        .expect("a list of alerts")
        .iter()
        .filter(|a| {
            a["status"]["inhibitedBy"]
                .as_array()
                .is_some_and(|by| !by.is_empty())
        })
        .collect();
    assert_eq!(inhibited.len(), 1, "{alerts:#}");
    assert_eq!(inhibited[0]["labels"]["alertname"], "NodeDiskFull");
    assert_eq!(inhibited[0]["labels"]["node"], "db");
}
