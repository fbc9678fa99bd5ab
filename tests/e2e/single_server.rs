//! Fault kinds on the smallest lab with the app and its database (one node), under the
//! mock client.

use super::client::{
    Client, assert_no_write_lost, client_failures, client_seconds, client_window, wait_recovered,
};
use super::fault::{apply_fault, assert_fault_holds, fault, fault_status, revert_fault};
use super::lab::{
    add_todo, app_journal, clock_ahead, ip_of, ssh_stdout, unix_now, upload, wait_until,
};
use crate::harness::Sandbox;

pub(super) fn resource_and_credential_faults_on_single_server() {
    let started = std::time::Instant::now();
    let sb = Sandbox::start("single-server");
    sb.ensure_image();
    sb.firedrill(&["up", "labs/single-server.yaml", "--accel", "tcg"])
        .assert_success("up single-server");
    let base = format!("http://{}", ip_of(&sb, "server"));
    let report = sb.home().join("client-faults.jsonl");
    let client = Client::start_on(&sb, "single-server", "8", &report, "0.3");
    wait_recovered(&report, 10, 90);
    eprintln!("lab up and client steady after {:?}", started.elapsed());
    let show = |prop: &str| {
        ssh_stdout(
            &sb,
            "server",
            &format!("systemctl show -p {prop} --value todo.service"),
        )
    };

    // oom-loop: under the client's load the kernel kills the app, systemd restarts it.
    let from = client_seconds(&report).len();
    let id = apply_fault(&sb, &["oom-loop", "server"]);
    assert_fault_holds(&sb, &id);
    wait_until("the app is OOM-killed and restarted", 240, || {
        show("NRestarts").parse::<u32>().unwrap_or(0) > 0
    });
    let journal = app_journal(&sb, "server");
    assert!(journal.contains("oom-kill"), "{journal}");
    assert!(
        client_window(&report, from).0 > 0,
        "the client saw no failure"
    );
    revert_fault(&sb, &id);
    assert_eq!(show("MemoryMax"), "infinity");
    wait_recovered(&report, 10, 120);
    eprintln!("oom-loop done after {:?}", started.elapsed());

    // fd-exhaustion: the app runs out of descriptors under load.
    let from = client_seconds(&report).len();
    let id = apply_fault(&sb, &["fd-exhaustion", "server"]);
    assert_fault_holds(&sb, &id);
    wait_until("the app logs Too many open files", 180, || {
        app_journal(&sb, "server").contains("Too many open files")
    });
    assert!(
        client_window(&report, from).0 > 0,
        "the client saw no failure"
    );
    revert_fault(&sb, &id);
    let pid = show("MainPID");
    let limits = ssh_stdout(
        &sb,
        "server",
        &format!("grep 'open files' /proc/{pid}/limits"),
    );
    assert!(!limits.contains(" 8 "), "{limits}");
    wait_recovered(&report, 10, 120);
    eprintln!("fd-exhaustion done after {:?}", started.elapsed());

    // slow-disk: the database's cgroup throttles its disk; writes wait.
    let timed_write = || {
        let start = std::time::Instant::now();
        let r = add_todo(&sb, &base, "e2e-slow-disk");
        (r.status, start.elapsed())
    };
    let (status, before) = timed_write();
    assert_eq!(status, 201);
    let id = apply_fault(&sb, &["slow-disk", "server"]);
    assert_fault_holds(&sb, &id);
    let io_max = ssh_stdout(
        &sb,
        "server",
        "cat /sys/fs/cgroup/system.slice/mariadb.service/io.max",
    );
    assert!(io_max.contains("wiops=2"), "{io_max}");
    let (_, slow) = timed_write();
    assert!(
        slow >= before + std::time::Duration::from_millis(300),
        "a write took {before:?} before and {slow:?} with slow-disk"
    );
    revert_fault(&sb, &id);
    // Without limits systemd turns the unit's io controller off: io.max may be gone.
    let io_max = ssh_stdout(
        &sb,
        "server",
        "cat /sys/fs/cgroup/system.slice/mariadb.service/io.max 2>/dev/null || true",
    );
    assert!(!io_max.contains("wiops=2"), "{io_max}");
    wait_recovered(&report, 10, 180);
    let (status, after) = timed_write();
    assert_eq!(status, 201);
    eprintln!(
        "slow-disk: a write {before:?} before, {slow:?} during, {after:?} after; done after {:?}",
        started.elapsed()
    );

    // db-password-rotated: every new connection of the app is refused.
    let from = client_seconds(&report).len();
    let id = apply_fault(&sb, &["db-password-rotated", "server"]);
    assert_fault_holds(&sb, &id);
    let r = sb.http("GET", &format!("{base}/todos"), None);
    assert_eq!(r.status, 500, "{r:?}");
    assert!(r.body.contains("Access denied"), "{r:?}");
    assert!(app_journal(&sb, "server").contains("Access denied"));
    assert!(
        client_window(&report, from).0 > 0,
        "the client saw no failure"
    );
    revert_fault(&sb, &id);
    assert_eq!(sb.http("GET", &format!("{base}/todos"), None).status, 200);
    wait_recovered(&report, 10, 60);
    assert!(
        ssh_stdout(&sb, "server", "sudo ls /var/lib/firedrill")
            .lines()
            .all(|l| !l.contains("db-password")),
        "the saved hash is removed"
    );

    let summary = client.stop(&report);
    eprintln!("client: {summary}");
    assert_no_write_lost(&sb, Some("single-server"), &report.with_extension("ledger"));
    sb.firedrill(&["down"]).assert_success("down");
    eprintln!(
        "e2e_resource_and_credential_faults_on_single_server took {:?}",
        started.elapsed()
    );
}

pub(super) fn process_inode_log_clock_faults_on_single_server() {
    let began = std::time::Instant::now();
    let elapsed = |since: std::time::Instant| format!("{:.0} s", since.elapsed().as_secs_f64());
    let sb = Sandbox::start("single-server");
    sb.ensure_image();
    sb.firedrill(&["up", "labs/single-server.yaml", "--accel", "tcg"])
        .assert_success("up single-server");
    eprintln!("timing: lab up after {}", elapsed(began));
    let base = format!("http://{}", ip_of(&sb, "server"));
    let list = sb.firedrill(&["fault", "list"]);
    list.assert_success("fault list");
    for kind in [
        "process-freeze",
        "inode-exhaustion",
        "log-flood",
        "clock-jump",
    ] {
        assert!(list.stdout.contains(kind), "{}", list.stdout);
    }

    let report = sb.home().join("client-faults.jsonl");
    let client = Client::start_on(&sb, "single-server", "5", &report, "0.1");
    wait_until("the client gets answers", 60, || {
        client_seconds(&report)
            .iter()
            .any(|s| s["ok"].as_u64().unwrap_or(0) > 0)
    });

    // process-freeze: the app is "active" to systemd and answers nothing.
    let step = std::time::Instant::now();
    let mark = client_seconds(&report).len();
    let id = apply_fault(&sb, &["process-freeze", "server"]);
    assert_fault_holds(&sb, &id);
    assert_eq!(
        ssh_stdout(&sb, "server", "systemctl is-active todo"),
        "active"
    );
    let main = ssh_stdout(&sb, "server", "systemctl show -p MainPID --value todo");
    assert_eq!(
        ssh_stdout(&sb, "server", &format!("ps -o stat= -p {main}"))
            .chars()
            .next(),
        Some('T')
    );
    assert_eq!(sb.http("GET", &format!("{base}/healthz"), None).status, 0);
    wait_until("the client's requests time out", 60, || {
        client_failures(&report, mark, "timeout") > 0
    });
    revert_fault(&sb, &id);
    assert_eq!(sb.http("GET", &format!("{base}/todos"), None).status, 200);
    assert_eq!(
        ssh_stdout(&sb, "server", "systemctl show -p MainPID --value todo"),
        main,
        "the same process answers again"
    );
    eprintln!("timing: process-freeze {}", elapsed(step));

    // inode-exhaustion: uploads fail with "No space left on device" and megabytes free.
    let step = std::time::Instant::now();
    assert_eq!(upload(&sb, &base).status, 201);
    let id = apply_fault(&sb, &["inode-exhaustion", "server"]);
    eprintln!("timing: inode-exhaustion applied in {}", elapsed(step));
    assert_fault_holds(&sb, &id);
    let r = upload(&sb, &base);
    assert_eq!(r.status, 500, "{r:?}");
    assert!(r.body.contains("No space left on device"), "{r:?}");
    let df = ssh_stdout(
        &sb,
        "server",
        "df -B1 --output=iavail,avail /var/lib/todo/uploads | tail -n 1",
    );
    let df: Vec<u64> = df
        .split_whitespace()
        .map(|v| v.parse().expect("df number"))
        .collect();
    assert!(
        df[0] == 0 && df[1] > 50 << 20,
        "inodes and bytes free: {df:?}"
    );
    revert_fault(&sb, &id);
    assert_eq!(upload(&sb, &base).status, 201);
    assert_eq!(
        ssh_stdout(
            &sb,
            "server",
            "findmnt -n /var/lib/todo/uploads || echo none; ls -A /srv | wc -l"
        ),
        "none\n0"
    );
    eprintln!("timing: inode-exhaustion {}", elapsed(step));

    // log-flood: a log under /var/log grows until the disk is full for everyone but root.
    let step = std::time::Instant::now();
    let free = |sb: &Sandbox| -> u64 {
        ssh_stdout(
            sb,
            "server",
            "df -B1 --output=avail /var/lib/todo | tail -n 1",
        )
        .parse()
        .expect("free bytes")
    };
    let free_before = free(&sb);
    let id = apply_fault(&sb, &["log-flood", "server"]);
    wait_until("the log fills the disk", 900, || {
        fault(&sb, &id)["on_node"]["active"] == true
    });
    eprintln!(
        "timing: log-flood filled {} MiB in {}",
        free_before >> 20,
        elapsed(step)
    );
    let r = upload(&sb, &base);
    assert_eq!(r.status, 500, "{r:?}");
    assert!(r.body.contains("No space left on device"), "{r:?}");
    assert!(
        ssh_stdout(&sb, "server", "ps -eo args").contains("/usr/local/bin/sync-agent"),
        "the chatty process is visible under its name"
    );
    revert_fault(&sb, &id);
    assert_eq!(
        ssh_stdout(
            &sb,
            "server",
            "test -e /var/log/sync-agent.log && echo kept || echo removed"
        ),
        "removed"
    );
    let free_after = free(&sb);
    assert!(
        free_after + (64 << 20) > free_before,
        "{free_before} bytes free before, {free_after} after"
    );
    wait_until("uploads work again", 120, || {
        upload(&sb, &base).status == 201
    });
    // The full disk may take the database down with it, as it would in production: MariaDB
    // runs as `mysql`, not root, and its restart fails while its start script cannot write to
    // /tmp. That damage is not the fault's to revert (it only stops its agent and removes its
    // file); `up` puts back what the lab file says, as a learner's `up` would.
    if ssh_stdout(&sb, "server", "systemctl is-active mariadb || true") != "active" {
        eprintln!("log-flood: mariadb stopped on the full disk; `up` starts it again");
        sb.firedrill(&["up", "labs/single-server.yaml", "--accel", "tcg"])
            .assert_success("up after log-flood");
        assert_eq!(
            ssh_stdout(&sb, "server", "systemctl is-active mariadb || true"),
            "active"
        );
    }
    eprintln!("timing: log-flood {}", elapsed(step));

    // clock-jump with --for: "today" is two days ahead, then the node's timer puts it back.
    let step = std::time::Instant::now();
    let sync_before = ssh_stdout(&sb, "server", "systemctl is-active chrony || true");
    let r = add_todo(&sb, &base, "e2e-before-the-jump");
    assert_eq!(r.status, 201, "{r:?}");
    let today = |sb: &Sandbox| {
        let r = sb.http("GET", &format!("{base}/todos?since=today"), None);
        assert_eq!(r.status, 200, "{r:?}");
        r.body.contains("e2e-before-the-jump")
    };
    // Unless the day ends during the step: the item is then "yesterday" at the end.
    let decisive = unix_now() % 86_400 < 86_400 - 900;
    assert!(today(&sb) || !decisive);
    let id = apply_fault(&sb, &["clock-jump", "server", "--for", "90s"]);
    assert_fault_holds(&sb, &id);
    let ahead = clock_ahead(&sb, "server");
    assert!(
        (ahead - 172_800).abs() < 120,
        "the clock is {ahead} s ahead"
    );
    assert!(
        !today(&sb),
        "an item made before the jump still shows as today"
    );
    assert_eq!(
        ssh_stdout(&sb, "server", "systemctl is-active chrony || true"),
        "inactive"
    );
    wait_until("the node's timer reverts clock-jump", 300, || {
        fault(&sb, &id)["state"] == "reverted"
    });
    let off = clock_ahead(&sb, "server");
    assert!(
        off.abs() < 120,
        "the clock is off by {off} s after the revert"
    );
    assert_eq!(
        ssh_stdout(&sb, "server", "systemctl is-active chrony || true"),
        sync_before
    );
    assert!(today(&sb) || !decisive);
    eprintln!("timing: clock-jump {}", elapsed(step));

    // Recovery as the client sees it: its last 20 seconds all succeeded.
    let mark = client_seconds(&report).len();
    std::thread::sleep(std::time::Duration::from_secs(20));
    assert_eq!(
        client_failures(&report, mark, "any"),
        0,
        "the client still fails after every revert"
    );
    let summary = client.stop(&report);
    assert!(summary["failed"].as_u64().unwrap_or(0) > 0, "{summary}");
    for f in fault_status(&sb)["faults"].as_array().unwrap() {
        assert_eq!(f["state"], "reverted", "{f}");
    }
    sb.firedrill(&["down"]).assert_success("down");
    eprintln!("timing: the whole test {}", elapsed(began));
}
