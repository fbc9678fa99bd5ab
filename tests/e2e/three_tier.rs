//! The three-tier lab as a service: lb over two apps sharing a database.

use super::lab::{add_todo, node_ip};
use crate::harness::Sandbox;

pub(super) fn three_tier_serves_todos_through_the_load_balancer() {
    let sb = Sandbox::start("three-tier");
    sb.ensure_image();
    sb.firedrill(&["up", "labs/three-tier.yaml", "--accel", "tcg"])
        .assert_success("up three-tier");

    let status = sb.firedrill(&["status", "--json"]);
    status.assert_success("status");
    let json: serde_json::Value = serde_json::from_str(&status.stdout).expect("status --json");
    let ip = |name: &str| node_ip(&json, name);
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
    let r = add_todo(&sb, &lb, &item);
    assert_eq!(r.status, 201, "{r:?}");
    let writer = r.header("x-served-by").expect("X-Served-By").to_string();
    let other = if writer == "app1" { "app2" } else { "app1" };
    let r = sb.http("GET", &format!("http://{}:8080/todos", ip(other)), None);
    assert!(r.body.contains(&item), "{other} does not see {item}: {r:?}");

    // Every write the mock client saw acknowledged is in the database; a row deleted by hand is
    // reported lost, by id, and `verify` exits 1.
    let ledger = sb.home().join("writes.jsonl").display().to_string();
    sb.firedrill(&[
        "client",
        "--rate",
        "4",
        "--duration",
        "5s",
        "--write-ratio",
        "0.5",
        "--slo",
        "50",
        "--ledger",
        &ledger,
    ])
    .assert_success("client --ledger");
    let writes: Vec<serde_json::Value> = std::fs::read_to_string(&ledger)
        .expect("the ledger")
        .lines()
        .map(|l| serde_json::from_str(l).expect("a ledger line"))
        .collect();
    assert!(writes.len() >= 5, "few acknowledged writes: {writes:?}");
    let verified = sb.firedrill(&["client", "verify", "--ledger", &ledger]);
    verified.assert_success("client verify");
    let n = writes.len();
    assert!(
        verified
            .stdout
            .contains(&format!("\n0 of {n} acknowledged writes lost\n")),
        "{}",
        verified.stdout
    );
    let id = writes[0]["id"]
        .as_u64()
        .expect("the app returns the new row's id");
    let sql = format!("'DELETE FROM todos WHERE id = {id}'");
    sb.firedrill(&["ssh", "db", "--", "sudo", "mysql", "todo", "-e", &sql])
        .assert_success("delete one acknowledged row");
    let verified = sb.firedrill(&["client", "verify", "--ledger", &ledger]);
    assert_eq!(verified.status, 1, "{}", verified.stdout);
    assert!(
        verified
            .stdout
            .contains(&format!("\n1 of {n} acknowledged writes lost\n"))
            && verified
                .stdout
                .contains(&format!("(id {id}, acknowledged "))
            && verified.stdout.contains("missing on db (mysql)"),
        "{}",
        verified.stdout
    );

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
