//! The lab as the tests look at it: `status --json`, commands over `firedrill ssh`, HTTP
//! through the sandbox, and waiting for a condition.

use crate::harness::Sandbox;

pub(super) fn wait_until(what: &str, secs: u64, mut done: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    while !done() {
        assert!(
            std::time::Instant::now() < deadline,
            "{what}: not within {secs}s"
        );
        std::thread::sleep(std::time::Duration::from_secs(3));
    }
}

pub(super) fn lab_status(sb: &Sandbox) -> serde_json::Value {
    let out = sb.firedrill(&["status", "--json"]);
    out.assert_success("status");
    serde_json::from_str(&out.stdout).expect("status --json is JSON")
}

pub(super) fn all_healthy(status: &serde_json::Value) -> bool {
    status["nodes"].as_array().is_some_and(|ns| {
        ns.iter().all(|n| {
            n["health"]
                .as_array()
                .is_some_and(|hs| hs.iter().all(|h| h["ok"] == true))
        })
    })
}

/// Node `name` as `status --json` shows it.
pub(super) fn node_status(sb: &Sandbox, name: &str) -> serde_json::Value {
    lab_status(sb)["nodes"]
        .as_array()
        .and_then(|ns| ns.iter().find(|n| n["name"] == name))
        .cloned()
        .unwrap_or_else(|| panic!("no node {name} in status"))
}

/// The haproxy health line of lb, e.g. "1/2 backends UP (app1 DOWN)".
pub(super) fn lb_backends(sb: &Sandbox) -> String {
    let status = lab_status(sb);
    status["nodes"]
        .as_array()
        .and_then(|ns| ns.iter().find(|n| n["name"] == "lb"))
        .and_then(|n| n["health"].as_array())
        .and_then(|hs| hs.iter().find(|h| h["role"] == "haproxy"))
        .and_then(|h| h["detail"].as_str())
        .unwrap_or_default()
        .to_string()
}

pub(super) fn todo_count(sb: &Sandbox, base: &str) -> usize {
    let r = sb.http("GET", &format!("{base}/todos"), None);
    assert_eq!(r.status, 200, "{r:?}");
    let body: serde_json::Value = serde_json::from_str(&r.body).expect("JSON body");
    body["todos"].as_array().expect("todos").len()
}

/// Adds a todo named `name` through `base` (`POST /todos`).
pub(super) fn add_todo(sb: &Sandbox, base: &str, name: &str) -> crate::harness::Http {
    let body = format!(r#"{{"name":"{name}","completed":false}}"#);
    sb.http("POST", &format!("{base}/todos"), Some(&body))
}

pub(super) fn upload(sb: &Sandbox, base: &str) -> crate::harness::Http {
    sb.http(
        "POST",
        &format!("{base}/upload"),
        Some(r#"{"e2e": "upload"}"#),
    )
}

/// The last lines of the app's journal on `node`.
pub(super) fn app_journal(sb: &Sandbox, node: &str) -> String {
    let out = sb.firedrill(&[
        "ssh",
        node,
        "--",
        "sudo journalctl -u todo --no-pager -n 100",
    ]);
    out.assert_success("journalctl");
    out.stdout
}

pub(super) fn ssh_stdout(sb: &Sandbox, node: &str, command: &str) -> String {
    let out = sb.firedrill(&["ssh", node, "--", command]);
    out.assert_success(command);
    out.stdout.trim().to_string()
}

/// Which app node served each of `n` requests through the load balancer.
pub(super) fn served_by_n(sb: &Sandbox, n: usize) -> Vec<String> {
    let lb = format!("http://{}", ip_of(sb, "lb"));
    (0..n)
        .map(|_| {
            let r = sb.http("GET", &format!("{lb}/todos"), None);
            r.header("x-served-by").unwrap_or_default().to_string()
        })
        .collect()
}

pub(super) fn ip_of(sb: &Sandbox, node: &str) -> String {
    node_ip(&lab_status(sb), node)
}

/// Node `name`'s address in `status --json`'s output.
pub(super) fn node_ip(status: &serde_json::Value, name: &str) -> String {
    status["nodes"]
        .as_array()
        .and_then(|ns| ns.iter().find(|n| n["name"] == name))
        .and_then(|n| n["ip"].as_str())
        .unwrap_or_else(|| panic!("no node {name} in {status}"))
        .to_string()
}

pub(super) fn resolves(sb: &Sandbox, from: &str, name: &str) -> Option<String> {
    let out = sb.firedrill(&["ssh", from, "--", &format!("getent hosts {name}")]);
    (out.status == 0).then(|| {
        out.stdout
            .split_whitespace()
            .next()
            .unwrap_or("")
            .to_string()
    })
}

/// What `virsh ARGS` prints, asked of the sandbox's libvirtd.
pub(super) fn virsh(sb: &Sandbox, args: &[&str]) -> String {
    let mut all = vec!["virsh", "-c", "qemu:///system"];
    all.extend(args);
    let out = sb.run_in_ns(&all);
    out.assert_success("virsh");
    out.stdout
}

/// Libvirt keeps no domain and no network of lab `lab` (after `down`).
#[track_caller]
pub(super) fn assert_gone_from_libvirt(sb: &Sandbox, lab: &str) {
    let prefix = format!("fd-{lab}-");
    for list in ["list", "net-list"] {
        let names = virsh(sb, &[list, "--all", "--name"]);
        assert!(!names.contains(&prefix), "virsh {list}: {names}");
    }
}

/// The host's clock, in seconds since 1970.
pub(super) fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs() as i64
}

/// How many seconds `node`'s clock is ahead of the host's (behind: negative).
pub(super) fn clock_ahead(sb: &Sandbox, node: &str) -> i64 {
    let on_node: i64 = ssh_stdout(sb, node, "date +%s")
        .parse()
        .expect("date +%s gives the epoch");
    on_node - unix_now()
}
