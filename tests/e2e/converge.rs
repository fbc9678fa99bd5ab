//! Changing a running lab under load (`up` converges it).

use super::client::{Client, assert_no_write_lost};
use super::lab::{
    ip_of, lab_status, lb_backends, node_status, resolves, served_by_n, virsh, wait_until,
};
use crate::harness::Sandbox;

/// The converge test's lab: lb, the apps named, db. Written into the sandbox's home.
fn converge_lab(sb: &Sandbox, apps: &[(&str, u32)]) -> String {
    converge_lab_at(sb, apps, "v1")
}

fn converge_lab_at(sb: &Sandbox, apps: &[(&str, u32)], release: &str) -> String {
    converge_lab_front(sb, apps, release, None)
}

/// The same lab; with `front: Some(node)`, haproxy's one backend is the `dns:` name `front`,
/// which leads to `node`.
fn converge_lab_front(
    sb: &Sandbox,
    apps: &[(&str, u32)],
    release: &str,
    front: Option<&str>,
) -> String {
    let mut yaml = String::from(
        "name: converge\ndefaults:\n  image: debian-12\n  cpus: 1\n  disk: 8\nnetworks:\n  - name: lan\n    cidr: 10.79.0.0/24\n    mode: nat\n",
    );
    if let Some(node) = front {
        yaml += &format!("    dns:\n      front: {node}\n");
    }
    yaml += "nodes:\n";
    let names: Vec<&str> = apps.iter().map(|(n, _)| *n).collect();
    let backends = match front {
        Some(_) => "front".to_string(),
        None => names.join(", "),
    };
    yaml += &format!(
        "  - name: lb\n    roles: [haproxy]\n    memory: 384\n    haproxy:\n      backends: [{backends}]\n"
    );
    for (name, memory) in apps {
        yaml += &format!(
            "  - name: {name}\n    roles: [app]\n    memory: {memory}\n    app:\n      database: db\n      release: {release}\n"
        );
    }
    yaml += "  - name: db\n    roles: [mysql]\n    memory: 768\n";
    let path = sb.home().join("converge.yaml");
    std::fs::write(&path, yaml).expect("write lab file");
    path.to_string_lossy().into_owned()
}

/// The PIDs of haproxy's processes on lb: a reload replaces the worker.
fn haproxy_pids(sb: &Sandbox) -> String {
    let out = sb.firedrill(&[
        "ssh",
        "lb",
        "--",
        "pgrep -x haproxy | sort -n | tr '\\n' ' '",
    ]);
    out.assert_success("pgrep haproxy");
    out.stdout.trim().to_string()
}

pub(super) fn converge_a_running_lab() {
    let sb = Sandbox::start("converge");
    sb.ensure_image();
    let file = converge_lab(&sb, &[("app1", 448)]);
    sb.firedrill(&["up", &file, "--accel", "tcg"])
        .assert_success("first up");

    // --dry-run: the plan as a diff, nothing changed.
    let file = converge_lab(&sb, &[("app1", 448), ("app2", 448)]);
    let dry = sb.firedrill(&["up", &file, "--accel", "tcg", "--dry-run"]);
    dry.assert_success("up --dry-run");
    assert!(
        dry.stdout.contains("+ node app2 10.79.0."),
        "{}",
        dry.stdout
    );
    assert!(
        dry.stdout.contains("~ lb haproxy backends +app2"),
        "{}",
        dry.stdout
    );
    assert_eq!(lab_status(&sb)["nodes"].as_array().unwrap().len(), 3);

    // Add app2 under load.
    let report = sb.home().join("client-add.jsonl");
    let client = Client::start(&sb, &report, "0.25");
    std::thread::sleep(std::time::Duration::from_secs(15));
    let add = sb.firedrill(&["up", &file, "--accel", "tcg"]);
    add.assert_success("up with app2");
    assert!(add.stdout.contains("lease app2"), "{}", add.stdout);
    std::thread::sleep(std::time::Duration::from_secs(10));
    let summary = client.stop(&report);
    assert_eq!(
        summary["failed"], 0,
        "requests failed while app2 was added: {summary}"
    );
    assert_eq!(summary["dropped"], 0, "{summary}");
    assert!(summary["ok"].as_u64().unwrap() > 60, "{summary}");
    let app2_ip = node_status(&sb, "app2")["ip"]
        .as_str()
        .expect("app2's address")
        .to_string();
    for node in ["lb", "app1", "db"] {
        assert_eq!(
            resolves(&sb, node, "app2").as_deref(),
            Some(app2_ip.as_str()),
            "app2 resolves from {node}"
        );
    }
    // Every write the app acknowledged while app2 came is in the database.
    assert_no_write_lost(&sb, Some("converge"), &report.with_extension("ledger"));
    wait_until("both backends UP", 60, || {
        lb_backends(&sb).starts_with("2/2")
    });

    // A new release on every app node, one node at a time behind haproxy: a reading client sees
    // no failed request (v1 clients' writes are refused by v2 by design, so this one only reads).
    let file = converge_lab_at(&sb, &[("app1", 448), ("app2", 448)], "v2");
    let report = sb.home().join("client-release.jsonl");
    let client = Client::start(&sb, &report, "0");
    std::thread::sleep(std::time::Duration::from_secs(10));
    let rollout = sb.firedrill(&["up", &file, "--accel", "tcg"]);
    rollout.assert_success("up with release v2");
    std::thread::sleep(std::time::Duration::from_secs(5));
    let summary = client.stop(&report);
    assert_eq!(
        summary["failed"], 0,
        "requests failed during the rollout: {summary}"
    );
    let lb = format!("http://{}", ip_of(&sb, "lb"));
    let mut served_by = std::collections::BTreeSet::new();
    for _ in 0..6 {
        let r = sb.http("GET", &format!("{lb}/todos"), None);
        assert_eq!(r.status, 200, "{r:?}");
        assert_eq!(r.header("x-release"), Some("v2"), "{r:?}");
        let body: serde_json::Value = serde_json::from_str(&r.body).expect("JSON body");
        let items = body.as_array().expect("v2 answers a list");
        assert!(
            items
                .iter()
                .all(|t| t["title"].is_string() && t["done"].is_boolean()),
            "{body}"
        );
        served_by.insert(r.header("x-served-by").unwrap_or_default().to_string());
    }
    assert_eq!(served_by.len(), 2, "both app nodes serve v2: {served_by:?}");

    // Nothing to change on four nodes: one command per node, the migration not run again.
    let started = std::time::Instant::now();
    let same = sb.firedrill(&["up", &file, "--accel", "tcg"]);
    same.assert_success("up with nothing to change");
    eprintln!(
        "no-change up of lb, app1, app2, db: {:.1} s",
        started.elapsed().as_secs_f64()
    );
    assert!(same.stdout.contains("nothing changed"), "{}", same.stdout);
    assert!(!same.stdout.contains("migrat"), "{}", same.stdout);
    assert!(
        !same.stdout.contains("something differs"),
        "every node passes its one-pass check: {}",
        same.stdout
    );

    // haproxy reaches its one backend by the `dns:` name `front`: repointing the name from app1
    // to app2 moves the traffic within seconds, without a reload, and no request fails.
    let file = converge_lab_front(&sb, &[("app1", 448), ("app2", 448)], "v2", Some("app1"));
    sb.firedrill(&["up", &file, "--accel", "tcg"])
        .assert_success("up with haproxy's backend by name");
    wait_until("haproxy sends everything to app1 by name", 60, || {
        served_by_n(&sb, 4).iter().all(|s| s == "app1")
    });
    let pids = haproxy_pids(&sb);
    let report = sb.home().join("client-repoint.jsonl");
    let client = Client::start(&sb, &report, "0");
    std::thread::sleep(std::time::Duration::from_secs(10));
    let file = converge_lab_front(&sb, &[("app1", 448), ("app2", 448)], "v2", Some("app2"));
    let repoint = sb.firedrill(&["up", &file, "--accel", "tcg"]);
    repoint.assert_success("up with `front` repointed to app2");
    let moved = std::time::Instant::now();
    wait_until("the traffic follows the name to app2", 60, || {
        served_by_n(&sb, 4).iter().all(|s| s == "app2")
    });
    eprintln!(
        "haproxy followed `front` to app2 {:.1} s after up returned",
        moved.elapsed().as_secs_f64()
    );
    std::thread::sleep(std::time::Duration::from_secs(5));
    let summary = client.stop(&report);
    assert_eq!(
        summary["failed"], 0,
        "requests failed while `front` moved: {summary}"
    );
    assert_eq!(haproxy_pids(&sb), pids, "haproxy was not reloaded");

    // Less memory is given back live, through the balloon; more than a node booted with goes
    // into the definition and waits for --restart.
    let mem_total = || {
        let out = sb.firedrill(&[
            "ssh",
            "app1",
            "--",
            "awk '/MemTotal/ {print $2}' /proc/meminfo",
        ]);
        out.assert_success("MemTotal on app1");
        out.stdout.trim().parse::<u64>().expect("MemTotal in KiB") / 1024
    };
    let app1_before = mem_total();
    let file = converge_lab_at(&sb, &[("app1", 384), ("app2", 512)], "v2");
    let resize = sb.firedrill(&["up", &file, "--accel", "tcg"]);
    let said = format!("{}{}", resize.stdout, resize.stderr);
    assert!(
        said.contains("app1: memory 448 → 384 MiB live, through the balloon"),
        "{said}"
    );
    let app1_after = mem_total();
    eprintln!("app1's MemTotal: {app1_before} MiB → {app1_after} MiB (balloon to 384)");
    assert!(
        app1_after + 48 <= app1_before,
        "the guest sees less memory: {app1_before} → {app1_after} MiB"
    );
    let app1 = node_status(&sb, "app1");
    assert_eq!(app1["memory_mib"], 384, "{app1}");
    assert!(app1["file_memory_mib"].is_null(), "{app1}");
    assert_eq!(
        resize.status, 1,
        "a pending resize is reported: {}",
        resize.stderr
    );
    assert!(
        resize
            .stderr
            .contains("app2 memory 448 → 512 MiB (--restart app2)"),
        "{}",
        resize.stderr
    );
    let app2 = node_status(&sb, "app2");
    assert_eq!(app2["memory_mib"], 448, "{app2}");
    assert_eq!(app2["file_memory_mib"], 512, "{app2}");
    let dominfo = virsh(&sb, &["dumpxml", "--inactive", "fd-converge-app2"]);
    assert!(
        dominfo.contains("<memory unit='KiB'>524288</memory>"),
        "{dominfo}"
    );

    // Remove app2 under load (v2 clients write v2's shape: this client only reads).
    let file = converge_lab_at(&sb, &[("app1", 448)], "v2");
    let report = sb.home().join("client-remove.jsonl");
    let client = Client::start(&sb, &report, "0");
    std::thread::sleep(std::time::Duration::from_secs(10));
    let remove = sb.firedrill(&["up", &file, "--accel", "tcg"]);
    remove.assert_success("up without app2");
    assert!(
        remove.stdout.contains("node app2: removed"),
        "{}",
        remove.stdout
    );
    // app1 back to 448 MiB, the size it booted with: live again.
    let said = format!("{}{}", remove.stdout, remove.stderr);
    assert!(
        said.contains("app1: memory 384 → 448 MiB live, through the balloon"),
        "{said}"
    );
    std::thread::sleep(std::time::Duration::from_secs(5));
    let summary = client.stop(&report);
    // app2 is drained before haproxy drops it and before it goes, so no request reaches it on
    // its way out; haproxy's old process closing an idle keep-alive connection just as the
    // client reuses it (1 reset in 464 requests before) is a GET the client sends again.
    assert_eq!(
        summary["failed"], 0,
        "requests failed while app2 was removed: {summary}"
    );
    let domains = virsh(&sb, &["list", "--all", "--name"]);
    assert!(!domains.contains("fd-converge-app2"), "{domains}");
    assert_eq!(resolves(&sb, "lb", "app2"), None, "app2 left the DNS");
    assert!(!sb.home().join("labs/converge/nodes/app2").exists());
    let again = sb.firedrill(&["up", &file, "--accel", "tcg", "--dry-run"]);
    assert!(
        again.stdout.contains("nothing to change"),
        "{}",
        again.stdout
    );

    sb.firedrill(&["down"]).assert_success("down");
}
