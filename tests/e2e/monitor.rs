//! The monitor role and a level paged by its alert.

use super::lab::{all_healthy, lab_status, wait_until};
use crate::harness::Sandbox;

pub(super) fn monitor_scrapes_every_target_and_the_disk_alert_pages_and_resolves() {
    let started = std::time::Instant::now();
    let sb = Sandbox::start("monitored");
    sb.ensure_image();
    let lab = sb.home().join("monitored.yaml");
    std::fs::write(
        &lab,
        "name: monitored\ndefaults:\n  image: debian-12\n  cpus: 1\n  disk: 8\n\
         networks:\n  - name: lan\n    cidr: 10.87.0.0/24\n    mode: nat\nnodes:\n\
         \x20 - name: web\n    roles: [app, mysql]\n    ip: 10.87.0.10\n    memory: 768\n\
         \x20 - name: mon\n    roles: [monitor]\n    ip: 10.87.0.30\n    memory: 640\n",
    )
    .expect("write lab file");
    let lab = lab.to_string_lossy().into_owned();
    sb.firedrill(&["up", &lab, "--accel", "tcg"])
        .assert_success("up");
    eprintln!("# up after {:.0?}", started.elapsed());

    // `open` prints the URL; from inside the lab's namespace, no forwarding hint.
    for (page, url) in [
        ("prometheus", "http://10.87.0.30:9090/\n"),
        ("alertmanager", "http://10.87.0.30:9093/\n"),
    ] {
        let open = sb.firedrill(&["open", page]);
        open.assert_success(&format!("open {page}"));
        assert_eq!(open.stdout, url);
        assert!(!open.stderr.contains("forward"), "{}", open.stderr);
    }
    let api = "http://10.87.0.30:9090/api/v1";

    // Every target up: both node exporters, the MariaDB exporter, the app, Prometheus and
    // Alertmanager, and the blackbox probe of the front door (the app on web: no proxy here).
    let mut seen = Vec::new();
    wait_until("every target up", 240, || {
        let r = sb.http("GET", &format!("{api}/targets?state=active"), None);
        let json: serde_json::Value = serde_json::from_str(&r.body).unwrap_or_default();
        let mut targets: Vec<String> = json["data"]["activeTargets"]
            .as_array()
            .map(|ts| {
                ts.iter()
                    .map(|t| {
                        format!(
                            "{}@{} {}",
                            t["labels"]["job"].as_str().unwrap_or("?"),
                            t["labels"]["node"].as_str().unwrap_or("?"),
                            t["health"].as_str().unwrap_or("?")
                        )
                    })
                    .collect::<Vec<_>>()
            })
            .unwrap_or_default();
        targets.sort();
        if targets != seen {
            eprintln!("# targets: {targets:?}");
            seen = targets.clone();
        }
        targets
            == [
                "alertmanager@mon up",
                "frontdoor@web up",
                "mysql@web up",
                "node@mon up",
                "node@web up",
                "prometheus@mon up",
                "todo@web up",
            ]
    });
    // The probe itself succeeds: the front door answers the prober with a 2xx.
    wait_until("the front door probe succeeds", 60, || {
        let r = sb.http(
            "GET",
            &format!("{api}/query?query=probe_success%7Bjob%3D%22frontdoor%22%7D"),
            None,
        );
        let json: serde_json::Value = serde_json::from_str(&r.body).unwrap_or_default();
        json["data"]["result"][0]["value"][1] == "1"
    });
    // The status line of the monitor role says so too.
    let status = lab_status(&sb);
    assert!(all_healthy(&status), "{status}");
    // A second up finds everything in place and changes nothing.
    let again = sb.firedrill(&["up", &lab, "--accel", "tcg"]);
    again.assert_success("second up");
    assert!(again.stdout.contains("nothing changed"), "{}", again.stdout);

    // A level whose briefing is Alertmanager's page: disk-full on web pages NodeDiskFull.
    let level = sb.home().join("paged-e2e.yaml");
    std::fs::write(
        &level,
        "id: paged-e2e\ntitle: Paged by the monitoring\ndifficulty: easy\nminutes: 10\n\
         lab: monitored.yaml\npage: {alert: NodeDiskFull}\n\
         briefing: You are on call; the page above just came in.\n\
         faults:\n  - {kind: disk-full, node: web, params: {leave: 0}}\n\
         objectives:\n  - id: room\n    description: web has room again\n    check:\n\
         \x20     state:\n        node: web\n\
         \x20       command: test $(df -BM --output=avail / | tail -n 1 | tr -dc 0-9) -ge 200\n\
         \x20       expect: {exit: 0}\n\
         hints:\n  - {text: Read the page's labels, cost: 10}\n\
         debrief: A file under /var/backups filled the disk.\n\
         solution:\n  - {node: web, run: rm -f /var/backups/todo-uploads.tar}\n",
    )
    .expect("write level file");
    let play = sb.firedrill(&["play", &level.to_string_lossy(), "--accel", "tcg"]);
    play.assert_success("play paged-e2e");
    assert!(
        play.stdout
            .contains("waiting for Alertmanager to page NodeDiskFull"),
        "{}",
        play.stdout
    );
    assert!(
        play.stdout.contains("** PAGE from Alertmanager, ")
            && play
                .stdout
                .contains(": NodeDiskFull **\n  / on web is full\n"),
        "{}",
        play.stdout
    );
    let report = sb.home().join("paged.md");
    sb.firedrill(&["report", "--out", &report.to_string_lossy()])
        .assert_success("report");
    let text = std::fs::read_to_string(&report).expect("report written");
    let detect = text
        .lines()
        .find(|l| l.starts_with("- Time to detect: "))
        .unwrap_or_else(|| panic!("no time to detect in the report:\n{text}"));
    assert!(
        detect.ends_with(
            ", from the first fault to Alertmanager's page (NodeDiskFull: / on web is full)."
        ),
        "{detect}"
    );
    eprintln!("# {detect}");
    sb.firedrill(&["give-up"]).assert_success("give-up");
    let gave_up = std::time::Instant::now();

    // Alertmanager delivered the alert firing, then (after the revert) resolved, to the
    // receiver on mon.
    let deliveries = || -> Vec<String> {
        let out = sb.firedrill(&[
            "ssh",
            "mon",
            "--",
            "cat",
            "/var/lib/firedrill-pages/notifications.jsonl",
        ]);
        out.stdout
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .flat_map(|n| {
                n["notification"]["alerts"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default()
            })
            .filter(|a| a["labels"]["alertname"] == "NodeDiskFull" && a["labels"]["node"] == "web")
            .map(|a| a["status"].as_str().unwrap_or("?").to_string())
            .collect()
    };
    wait_until(
        "NodeDiskFull delivered resolved after the revert",
        240,
        || deliveries().last().is_some_and(|s| s == "resolved"),
    );
    let statuses = deliveries();
    assert_eq!(
        statuses.first().map(String::as_str),
        Some("firing"),
        "{statuses:?}"
    );
    eprintln!(
        "# NodeDiskFull delivered resolved {:.0?} after give-up (deliveries: {statuses:?})",
        gave_up.elapsed()
    );
    sb.firedrill(&["down"]).assert_success("down");
    eprintln!("# total {:.0?}", started.elapsed());
}
