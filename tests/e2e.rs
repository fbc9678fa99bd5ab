//! End-to-end: boots real VMs. Runs as root; creates its own network namespace, starts its own
//! libvirtd and virtlogd inside it (so every bridge, dnsmasq, NAT rule, SSH session and request
//! stays inside), forces TCG, and tears all of it down on success and on failure.
//!
//! The golden image is built once outside the namespace (debootstrap needs the Debian mirror)
//! into `FIREDRILL_IMAGES` (default /var/cache/firedrill/images), and reused while its recipe
//! is unchanged.

mod harness;

use harness::Sandbox;

#[test]
fn e2e_minimal_lab_up_status_resolve_converge_down() {
    let sb = Sandbox::start("minimal");
    sb.ensure_image();

    let up = sb.firedrill(&["up", "labs/minimal.yaml", "--accel", "tcg"]);
    up.assert_success("first up");
    assert!(up.stdout.contains("web"), "{}", up.stdout);

    // status shows both nodes running, with their addresses and uptime (read over SSH).
    let status = sb.firedrill(&["status", "--json"]);
    status.assert_success("status");
    let json: serde_json::Value =
        serde_json::from_str(&status.stdout).expect("status --json is JSON");
    let nodes = json["nodes"].as_array().expect("nodes");
    assert_eq!(nodes.len(), 2, "{json}");
    for n in nodes {
        assert_eq!(n["state"], "running", "{json}");
        assert!(n["uptime_s"].as_u64().is_some(), "{json}");
    }
    let table = sb.firedrill(&["status"]);
    assert!(table.stdout.contains("web.minimal.lab"), "{}", table.stdout);
    assert!(table.stdout.contains("10.77.0.10"), "{}", table.stdout);

    // Each node resolves and pings the other, by short name and by FQDN.
    for (from, to) in [("web", "db"), ("db", "web")] {
        for name in [to.to_string(), format!("{to}.minimal.lab")] {
            let out = sb.firedrill(&["ssh", from, "--", "ping", "-c", "1", "-W", "5", &name]);
            out.assert_success(&format!("{from} pings {name}"));
            assert!(out.stdout.contains("1 received"), "{}", out.stdout);
        }
    }

    // The ssh-config works with plain OpenSSH.
    let cfg = sb.firedrill(&["ssh-config"]);
    cfg.assert_success("ssh-config");
    let ssh = sb.run_in_ns(&[
        "ssh",
        "-F",
        &sb.lab_file("minimal", "ssh_config"),
        "-o",
        "BatchMode=yes",
        "db",
        "hostname",
    ]);
    ssh.assert_success("openssh with the generated config");
    assert_eq!(ssh.stdout.trim(), "db");

    // A second up changes nothing.
    let again = sb.firedrill(&["up", "labs/minimal.yaml", "--accel", "tcg"]);
    again.assert_success("second up");
    assert!(again.stdout.contains("nothing changed"), "{}", again.stdout);

    // down leaves no domain, network, disk or file of the lab.
    let down = sb.firedrill(&["down"]);
    down.assert_success("down");
    let doms = sb.run_in_ns(&["virsh", "-c", "qemu:///system", "list", "--all", "--name"]);
    assert!(!doms.stdout.contains("fd-minimal-"), "{}", doms.stdout);
    let nets = sb.run_in_ns(&[
        "virsh",
        "-c",
        "qemu:///system",
        "net-list",
        "--all",
        "--name",
    ]);
    assert!(!nets.stdout.contains("fd-minimal-"), "{}", nets.stdout);
    assert!(!sb.home().join("labs/minimal").exists());
    let list = sb.firedrill(&["list"]);
    assert!(!list.stdout.contains("minimal"), "{}", list.stdout);
}

/// The three-tier lab ends as a working service: lb balances over app1 and app2, which share the
/// database on db; losing one app server is invisible through lb.
#[test]
fn e2e_three_tier_serves_todos_through_the_load_balancer() {
    let sb = Sandbox::start("three-tier");
    sb.ensure_image();
    sb.firedrill(&["up", "labs/three-tier.yaml", "--accel", "tcg"])
        .assert_success("up three-tier");

    let status = sb.firedrill(&["status", "--json"]);
    status.assert_success("status");
    let json: serde_json::Value = serde_json::from_str(&status.stdout).expect("status --json");
    let ip = |name: &str| {
        json["nodes"]
            .as_array()
            .and_then(|ns| ns.iter().find(|n| n["name"] == name))
            .and_then(|n| n["ip"].as_str())
            .unwrap_or_else(|| panic!("no node {name} in {json}"))
            .to_string()
    };
    for n in json["nodes"].as_array().expect("nodes") {
        for h in n["health"].as_array().expect("health") {
            assert_eq!(h["ok"], true, "unhealthy role in {json}");
        }
    }
    let lb = format!("http://{}", ip("lb"));

    // GET /todos through lb has the documented shape, and both app servers answer.
    let mut served_by = std::collections::BTreeSet::new();
    for _ in 0..8 {
        let r = sb.http("GET", &format!("{lb}/todos"), None);
        assert_eq!(r.status, 200, "{r:?}");
        let body: serde_json::Value = serde_json::from_str(&r.body).expect("JSON body");
        let todos = body["todos"].as_array().expect("todos array");
        assert!(
            todos
                .iter()
                .all(|t| t["name"].is_string() && t["completed"].is_boolean()),
            "{body}"
        );
        served_by.insert(r.header("x-served-by").expect("X-Served-By").to_string());
    }
    assert_eq!(
        served_by,
        ["app1", "app2"].iter().map(|s| s.to_string()).collect()
    );

    // A write through one app server is visible through the other.
    let item = format!("e2e-{}", std::process::id());
    let r = sb.http(
        "POST",
        &format!("{lb}/todos"),
        Some(&format!(r#"{{"name":"{item}","completed":false}}"#)),
    );
    assert_eq!(r.status, 201, "{r:?}");
    let writer = r.header("x-served-by").expect("X-Served-By").to_string();
    let other = if writer == "app1" { "app2" } else { "app1" };
    let r = sb.http("GET", &format!("http://{}:8080/todos", ip(other)), None);
    assert!(r.body.contains(&item), "{other} does not see {item}: {r:?}");

    // With the app stopped on app1, every request through lb still succeeds.
    sb.firedrill(&["ssh", "app1", "--", "sudo", "systemctl", "stop", "todo"])
        .assert_success("stop todo on app1");
    std::thread::sleep(std::time::Duration::from_secs(6));
    for _ in 0..10 {
        let r = sb.http("GET", &format!("{lb}/todos"), None);
        assert_eq!(r.status, 200, "{r:?}");
        assert_eq!(r.header("x-served-by"), Some("app2"), "{r:?}");
    }
    sb.firedrill(&["ssh", "app1", "--", "sudo", "systemctl", "start", "todo"])
        .assert_success("start todo on app1");

    // A second up changes nothing, per node.
    let again = sb.firedrill(&["up", "labs/three-tier.yaml", "--accel", "tcg"]);
    again.assert_success("second up");
    assert!(again.stdout.contains("nothing changed"), "{}", again.stdout);
}
