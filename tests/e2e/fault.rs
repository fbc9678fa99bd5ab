//! `fault` commands as the tests drive them: apply, the record and check in `fault status`,
//! revert.

use crate::harness::Sandbox;

/// `fault status --json`, parsed.
pub(super) fn fault_status(sb: &Sandbox) -> serde_json::Value {
    let out = sb.firedrill(&["fault", "status", "--json"]);
    out.assert_success("fault status");
    serde_json::from_str(&out.stdout).expect("fault status --json is JSON")
}

/// One fault's entry in `fault status --json`.
pub(super) fn fault(sb: &Sandbox, id: &str) -> serde_json::Value {
    let status = fault_status(sb);
    status["faults"]
        .as_array()
        .and_then(|fs| fs.iter().find(|f| f["id"] == id).cloned())
        .unwrap_or_else(|| panic!("no fault {id} in {status}"))
}

/// Applies a fault and returns its id (the first line of stdout).
pub(super) fn apply_fault(sb: &Sandbox, args: &[&str]) -> String {
    let mut all = vec!["fault", "apply"];
    all.extend_from_slice(args);
    let out = sb.firedrill(&all);
    out.assert_success(&format!("fault apply {}", args.join(" ")));
    let id = out
        .stdout
        .lines()
        .next()
        .unwrap_or_default()
        .trim()
        .to_string();
    assert!(id.starts_with('f'), "no fault id in {:?}", out.stdout);
    id
}

/// The fault is recorded active and its check on the node says it holds.
#[track_caller]
pub(super) fn assert_fault_holds(sb: &Sandbox, id: &str) {
    let f = fault(sb, id);
    assert_eq!(f["state"], "active", "{f}");
    assert_eq!(f["on_node"]["check"], "checked", "{f}");
    assert_eq!(f["on_node"]["active"], true, "{f}");
}

pub(super) fn revert_fault(sb: &Sandbox, id: &str) {
    sb.firedrill(&["fault", "revert", id])
        .assert_success(&format!("fault revert {id}"));
    assert_eq!(fault(sb, id)["state"], "reverted");
}
