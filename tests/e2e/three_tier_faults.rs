//! The faults on the three-tier lab, seen from outside and reverted.

use super::fault::{apply_fault, assert_fault_holds, fault, fault_status, revert_fault};
use super::lab::{
    add_todo, all_healthy, app_journal, clock_ahead, lab_status, lb_backends, node_ip, ssh_stdout,
    todo_count, upload, wait_until,
};
use crate::harness::Sandbox;

pub(super) fn faults_on_three_tier() {
    let sb = Sandbox::start("three-tier");
    sb.ensure_image();
    sb.firedrill(&["up", "labs/three-tier.yaml", "--accel", "tcg"])
        .assert_success("up three-tier");
    let status = lab_status(&sb);
    let ip = |name: &str| node_ip(&status, name);
    let lb = format!("http://{}", ip("lb"));
    let app1 = format!("http://{}:8080", ip("app1"));
    let app2 = format!("http://{}:8080", ip("app2"));

    let list = sb.firedrill(&["fault", "list"]);
    list.assert_success("fault list");
    for kind in [
        "disk-full",
        "memory-hog",
        "cpu-hog",
        "reboot-no-unit",
        "time-drift",
        "bad-permissions",
    ] {
        assert!(list.stdout.contains(kind), "{}", list.stdout);
    }
    // Bad input is refused with exit 2 and leaves no record.
    let bad = sb.firedrill(&["fault", "apply", "disk-full", "db"]);
    assert_eq!(bad.status, 2, "{}", bad.stderr);
    let bad = sb.firedrill(&["fault", "apply", "disk-full", "app1", "--param", "size=1"]);
    assert_eq!(bad.status, 2, "{}", bad.stderr);
    assert!(fault_status(&sb)["faults"].as_array().unwrap().is_empty());

    // An item made six hours ago, for the time-drift check below; then the baseline count.
    sb.firedrill(&[
        "ssh",
        "db",
        "--",
        "sudo mysql todo -e \"INSERT INTO todos (name, completed, created_at) VALUES ('e2e-earlier-today', 0, UTC_TIMESTAMP() - INTERVAL 6 HOUR)\"",
    ])
    .assert_success("insert an earlier item");
    let rows = todo_count(&sb, &lb);
    assert_eq!(upload(&sb, &app1).status, 201);

    // disk-full: uploads on app1 fail with ENOSPC, in the answer and in the journal.
    let id = apply_fault(&sb, &["disk-full", "app1"]);
    assert_fault_holds(&sb, &id);
    upload_fails_on_app1(&sb, &app1, "No space left on device");
    let again = sb.firedrill(&["fault", "apply", "disk-full", "app1"]);
    assert_eq!(
        again.status, 2,
        "a second disk-full on app1: {}",
        again.stderr
    );
    revert_fault(&sb, &id);
    assert_eq!(upload(&sb, &app1).status, 201);
    let twice = sb.firedrill(&["fault", "revert", &id]);
    twice.assert_success("second revert");
    assert!(
        twice.stdout.contains("already reverted"),
        "{}",
        twice.stdout
    );

    // bad-permissions: the upload directory is no longer the app user's.
    let id = apply_fault(&sb, &["bad-permissions", "app1"]);
    assert_fault_holds(&sb, &id);
    upload_fails_on_app1(&sb, &app1, "Permission denied");
    revert_fault(&sb, &id);
    assert_eq!(upload(&sb, &app1).status, 201);

    // cpu-hog with --for: verified on the node under its plausible name, then gone by itself.
    let id = apply_fault(&sb, &["cpu-hog", "app2", "--for", "45s"]);
    assert_fault_holds(&sb, &id);
    let ps = ssh_stdout(&sb, "app2", "ps -eo comm,args");
    assert!(ps.contains("xz -9 -T0 /var/backups/todo-db.sql"), "{ps}");
    wait_until("the node's timer reverts cpu-hog", 240, || {
        fault(&sb, &id)["state"] == "reverted"
    });
    let ps = ssh_stdout(&sb, "app2", "ps -eo args");
    assert!(!ps.contains("xz -9"), "{ps}");

    // time-drift (timezone): app1's "today" moves; app2's does not.
    assert_eq!(
        ssh_stdout(&sb, "app1", "readlink /etc/localtime"),
        "/usr/share/zoneinfo/Etc/UTC"
    );
    let hour: u32 = ssh_stdout(&sb, "app1", "date -u +%H")
        .parse()
        .expect("hour");
    let earlier_today = |base: &str| {
        let r = sb.http("GET", &format!("{base}/todos?since=today"), None);
        assert_eq!(r.status, 200, "{r:?}");
        r.body.contains("e2e-earlier-today")
    };
    // The item is six hours old: "today" in UTC from 06:00; the fault's zone is less than an
    // hour past midnight from 01:00 UTC on. Stay clear of both edges and of the day's end.
    let decisive = (7..=22).contains(&hour);
    if decisive {
        assert!(earlier_today(&app1));
    }
    let id = apply_fault(&sb, &["time-drift", "app1"]);
    assert_fault_holds(&sb, &id);
    assert_ne!(
        ssh_stdout(&sb, "app1", "readlink /etc/localtime"),
        "/usr/share/zoneinfo/Etc/UTC"
    );
    if decisive {
        assert!(
            !earlier_today(&app1),
            "app1 still shows the earlier item as today"
        );
        assert!(earlier_today(&app2));
    }
    revert_fault(&sb, &id);
    assert_eq!(
        ssh_stdout(&sb, "app1", "readlink /etc/localtime"),
        "/usr/share/zoneinfo/Etc/UTC"
    );
    if decisive {
        assert!(earlier_today(&app1));
    }

    // reboot-no-unit: app1 comes back without the app; haproxy marks it DOWN; lb still serves.
    let id = apply_fault(&sb, &["reboot-no-unit", "app1"]);
    wait_until("app1 answers SSH again after the reset", 900, || {
        let f = fault(&sb, &id);
        f["on_node"]["check"] == "checked"
    });
    assert_fault_holds(&sb, &id);
    assert_eq!(sb.http("GET", &format!("{app1}/healthz"), None).status, 0);
    wait_until("haproxy marks app1 DOWN", 90, || {
        lb_backends(&sb).contains("app1 DOWN")
    });
    for _ in 0..6 {
        let r = sb.http("GET", &format!("{lb}/todos"), None);
        assert_eq!(r.status, 200, "{r:?}");
        assert_eq!(r.header("x-served-by"), Some("app2"), "{r:?}");
    }
    revert_fault(&sb, &id);
    assert_eq!(
        ssh_stdout(&sb, "app1", "systemctl is-enabled todo"),
        "enabled"
    );
    wait_until("app1 answers again", 60, || {
        sb.http("GET", &format!("{app1}/healthz"), None).status == 200
    });

    // payload-limit: lb answers 413 to writes; reads still work; the app never saw them.
    let id = apply_fault(&sb, &["payload-limit", "lb"]);
    assert_fault_holds(&sb, &id);
    let r = add_todo(&sb, &lb, "e2e-too-big");
    assert_eq!(r.status, 413, "{r:?}");
    assert_eq!(sb.http("GET", &format!("{lb}/todos"), None).status, 200);
    revert_fault(&sb, &id);
    let r = add_todo(&sb, &lb, "e2e-fits-again");
    assert_eq!(r.status, 201, "{r:?}");
    let rows = rows + 1;

    // db-lock: reads of the todo table hang, while /healthz (SELECT 1) still answers.
    let id = apply_fault(&sb, &["db-lock", "db"]);
    assert_fault_holds(&sb, &id);
    assert_eq!(
        sb.http("GET", &format!("{app1}/todos"), None).status,
        0,
        "the read did not hang"
    );
    assert_eq!(sb.http("GET", &format!("{app1}/healthz"), None).status, 200);
    revert_fault(&sb, &id);
    assert_eq!(sb.http("GET", &format!("{app1}/todos"), None).status, 200);

    // net-delay: app2 answers later, seen from outside. On a host whose kernel has netem it
    // goes on app2's tap and nothing changes inside app2; on one without (this one) it goes
    // inside app2, with firedrill's SSH exempt, and `fault status` says which.
    let timed = |url: &str| {
        let start = std::time::Instant::now();
        let r = sb.http("GET", url, None);
        assert_eq!(r.status, 200, "{r:?}");
        start.elapsed()
    };
    let before = timed(&format!("{app2}/healthz"));
    let id = apply_fault(
        &sb,
        &[
            "net-delay",
            "app2",
            "--param",
            "delay=400",
            "--param",
            "loss=100",
        ],
    );
    // loss=100: nothing but SSH gets through; the node still answers firedrill.
    assert_fault_holds(&sb, &id);
    assert_eq!(
        sb.http("GET", &format!("{app2}/healthz"), None).status,
        0,
        "a request got through 100% loss"
    );
    revert_fault(&sb, &id);
    let id = apply_fault(&sb, &["net-delay", "app2", "--param", "delay=400"]);
    assert_fault_holds(&sb, &id);
    let f = fault(&sb, &id);
    let summary = f["summary"].as_str().unwrap_or_default().to_string();
    let inside = summary.contains("inside the node");
    assert!(
        inside || summary.contains("on the host side"),
        "the summary says where netem is: {f}"
    );
    let slow = timed(&format!("{app2}/healthz"));
    assert!(
        slow >= before + std::time::Duration::from_millis(400),
        "before {before:?}, with net-delay {slow:?} ({summary})"
    );
    assert_eq!(
        ssh_stdout(
            &sb,
            "app2",
            "sudo tc qdisc show dev eth0 | grep -c netem || true"
        ),
        if inside { "1" } else { "0" },
        "{summary}"
    );
    revert_fault(&sb, &id);
    assert_eq!(
        ssh_stdout(
            &sb,
            "app2",
            "sudo tc qdisc show dev eth0 | grep -c netem || true"
        ),
        "0"
    );
    // The best of three: the first request after the loss may pay for the app's database
    // connections being opened again (420 ms once under TCG), which is not the delay.
    let after = (0..3)
        .map(|_| timed(&format!("{app2}/healthz")))
        .min()
        .expect("three samples");
    assert!(
        after < before + std::time::Duration::from_millis(300),
        "still slow after the revert: before {before:?}, after {after:?}"
    );

    // Several at once, then `revert --all`.
    let missing = apply_fault(&sb, &["missing-dir", "app1"]);
    let memory = apply_fault(&sb, &["memory-hog", "app2"]);
    let clock = apply_fault(
        &sb,
        &[
            "time-drift",
            "app2",
            "--param",
            "mode=clock",
            "--param",
            "offset=-3h",
        ],
    );
    let stopped = apply_fault(&sb, &["service-stopped", "lb"]);
    // The hog needs a moment to fill the memory under TCG.
    wait_until("memory-hog holds", 120, || {
        fault(&sb, &memory)["on_node"]["active"] == true
    });
    for id in [&missing, &memory, &clock, &stopped] {
        assert_fault_holds(&sb, id);
    }
    let r = upload(&sb, &app1);
    assert_eq!(r.status, 500, "{r:?}");
    assert!(r.body.contains("No such file or directory"), "{r:?}");
    let ahead = clock_ahead(&sb, "app2");
    assert!((ahead + 10_800).abs() < 120, "app2 is off by {ahead}s");
    assert_eq!(sb.http("GET", &format!("{lb}/todos"), None).status, 0);
    let refused = sb.firedrill(&["down"]);
    assert_ne!(
        refused.status, 0,
        "down must refuse while faults are active"
    );
    assert!(
        refused.stderr.contains("may still be on nodes"),
        "{}",
        refused.stderr
    );

    sb.firedrill(&["fault", "revert", "--all"])
        .assert_success("fault revert --all");
    let status = fault_status(&sb);
    for f in status["faults"].as_array().unwrap() {
        assert_eq!(f["state"], "reverted", "{status}");
    }
    let ahead = clock_ahead(&sb, "app2");
    assert!(ahead.abs() < 120, "app2 is off by {ahead}s");
    wait_until("every role healthy again", 180, || {
        all_healthy(&lab_status(&sb))
    });
    assert_eq!(upload(&sb, &app1).status, 201);
    assert_eq!(
        todo_count(&sb, &lb),
        rows,
        "a fault or revert lost todo rows"
    );
    let nothing = sb.firedrill(&["fault", "revert", "--all"]);
    nothing.assert_success("revert --all with nothing left");
    assert!(
        nothing.stdout.contains("no fault to revert"),
        "{}",
        nothing.stdout
    );
    sb.firedrill(&["down"]).assert_success("down");
}

/// An upload to app1 (at `app1`) answers 500 with `error`, which app1's journal shows too.
#[track_caller]
fn upload_fails_on_app1(sb: &Sandbox, app1: &str, error: &str) {
    let r = upload(sb, app1);
    assert_eq!(r.status, 500, "{r:?}");
    assert!(r.body.contains(error), "{r:?}");
    assert!(
        app_journal(sb, "app1").contains(error),
        "app1's journal: no {error:?}"
    );
}
