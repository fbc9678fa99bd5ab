//! `firedrill fault status`: every record, and for those that may still be on a node, what a
//! cheap check there says. Nodes are checked in parallel, one SSH session each.

use super::FaultError;
use super::Verdict;
use super::command::LibvirtHost;
use super::engine::Engine;
use super::record::{FaultRecord, FaultState, Store};
use super::text::unix_now;
use crate::lab::Lab;
use crate::paths::Home;
use crate::ssh::Purpose;
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Arc;

/// What the node said about one fault.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase", tag = "check")]
pub(crate) enum OnNode {
    /// Not checked: the record says nothing is left on the node.
    Skipped,
    Checked(Verdict),
    Unreachable {
        error: String,
    },
}

#[derive(Debug, Serialize)]
pub(crate) struct Row {
    pub(crate) id: String,
    pub(crate) kind: String,
    pub(crate) node: String,
    pub(crate) state: FaultState,
    pub(crate) summary: String,
    pub(crate) created: String,
    pub(crate) updated: String,
    pub(crate) on_node: OnNode,
    pub(crate) auto_revert_due: Option<String>,
    pub(crate) error: Option<String>,
}

impl Row {
    /// What `fault status` shows of a record. A level's fault in play shows only that it is
    /// there: its kind, node and what it does would give the level away.
    fn of(mut rec: FaultRecord, on_node: OnNode) -> Row {
        if rec.secret() {
            return Row {
                kind: "(level)".to_string(),
                summary: "hidden while the level is played; `firedrill give-up` reveals it"
                    .to_string(),
                id: rec.id,
                node: "(hidden)".to_string(),
                state: rec.state,
                created: rec.created,
                updated: rec.updated,
                on_node,
                auto_revert_due: None,
                error: None,
            };
        }
        Row {
            kind: rec.kind().to_string(),
            summary: rec.fault.ops().summary(),
            id: rec.id,
            node: rec.node,
            state: rec.state,
            created: rec.created,
            updated: rec.updated,
            on_node,
            auto_revert_due: rec.auto_revert.map(|t| t.due),
            error: rec.error,
        }
    }
}

pub(crate) async fn status(home: &Home, lab: Option<&str>, json: bool) -> Result<(), FaultError> {
    let lab = Arc::new(Lab::open(home, lab)?);
    let store = Store::new(&lab.dir);
    let scan = store.scan()?;
    let records = scan.records;
    let verdicts = check(Arc::clone(&lab), &store, &records).await;
    let state = &lab.state;
    let mut rows = Vec::new();
    for mut rec in records {
        let on_node = verdicts.get(&rec.id).cloned().unwrap_or(OnNode::Skipped);
        settle_timer(&store, &mut rec, &on_node)?;
        rows.push(Row::of(rec, on_node));
    }
    let damaged: Vec<serde_json::Value> = scan
        .damaged
        .iter()
        .map(|d| serde_json::json!({"id": d.id, "path": d.path, "problem": d.problem}))
        .collect();
    if json {
        let doc = serde_json::json!({"lab": state.name, "faults": rows, "damaged": damaged});
        println!("{}", serde_json::to_string_pretty(&doc).unwrap_or_default());
    } else {
        print!("{}", format_table(&state.name, &rows));
        print!("{}", format_damaged(&scan.damaged));
    }
    Ok(())
}

/// Whether each of these faults (by id) still holds on its node: a level's or a game master's,
/// hidden ones included (the caller keeps the verdict to itself). A fault whose record says
/// nothing is left on the node is not checked (no entry). `Err`: the lab cannot be read.
pub(crate) async fn holds(
    home: &Home,
    lab: &crate::paths::LabName,
    ids: &[String],
) -> Result<BTreeMap<String, OnNode>, String> {
    let lab = Lab::at(home, lab).map_err(|e| first_line(&e.to_string()))?;
    let store = Store::new(&lab.dir);
    let records = store
        .scan()
        .map_err(|e| first_line(&e.to_string()))?
        .records;
    let mut by_node: BTreeMap<String, Vec<FaultRecord>> = BTreeMap::new();
    for r in records
        .into_iter()
        .filter(|r| ids.contains(&r.id) && r.needs_revert() && r.prepared)
    {
        by_node.entry(r.node.clone()).or_default().push(r);
    }
    let mut out = BTreeMap::new();
    for (name, recs) in by_node {
        out.extend(check_node(&lab, &store, &name, recs).await);
    }
    Ok(out)
}

fn first_line(s: &str) -> String {
    s.lines().next().unwrap_or_default().to_string()
}

/// A fault whose `--for` timer is due and that the node no longer shows was reverted by that
/// timer: record it, so it stops blocking a new fault of its kind and `down`.
fn settle_timer(store: &Store, rec: &mut FaultRecord, on_node: &OnNode) -> Result<(), FaultError> {
    let due = rec
        .auto_revert
        .as_ref()
        .is_some_and(|t| t.due_unix <= unix_now());
    let gone = matches!(on_node, OnNode::Checked(v) if !v.active);
    if rec.state == FaultState::Active && due && gone {
        rec.state = FaultState::Reverted;
        rec.reverted = vec!["reverted on the node by its --for timer".to_string()];
        store.save(rec)?;
    }
    Ok(())
}

/// Verdicts by fault id, for the records that may still be on their node.
async fn check(lab: Arc<Lab>, store: &Store, records: &[FaultRecord]) -> BTreeMap<String, OnNode> {
    let mut by_node: BTreeMap<String, Vec<FaultRecord>> = BTreeMap::new();
    // A level's fault is not checked: what the check prints would name it.
    for r in records
        .iter()
        .filter(|r| r.needs_revert() && r.prepared && !r.hidden)
    {
        by_node.entry(r.node.clone()).or_default().push(r.clone());
    }
    let shared = Arc::new((lab, store.clone()));
    let mut tasks = tokio::task::JoinSet::new();
    for (name, recs) in by_node {
        let shared = Arc::clone(&shared);
        tasks.spawn(async move {
            let (lab, store) = &*shared;
            check_node(lab, store, &name, recs).await
        });
    }
    let mut out = BTreeMap::new();
    while let Some(joined) = tasks.join_next().await {
        if let Ok(found) = joined {
            out.extend(found);
        }
    }
    out
}

async fn check_node(
    lab: &Lab,
    store: &Store,
    name: &str,
    recs: Vec<FaultRecord>,
) -> Vec<(String, OnNode)> {
    let unreachable = |e: &FaultError, recs: &[FaultRecord]| {
        let error = e.to_string().lines().next().unwrap_or_default().to_string();
        recs.iter()
            .map(|r| {
                (
                    r.id.clone(),
                    OnNode::Unreachable {
                        error: error.clone(),
                    },
                )
            })
            .collect()
    };
    let n = match lab.require_node(name) {
        Ok(n) => n,
        Err(e) => return unreachable(&e.into(), &recs),
    };
    let session = match lab.shell(n, Purpose::Change).await {
        Ok(s) => s,
        Err(e) => return unreachable(&e.into(), &recs),
    };
    let host = LibvirtHost {
        uri: lab.state.uri.clone(),
    };
    let engine = Engine {
        lab: &lab.dir,
        store,
        remote: &session,
        host: &host,
        domain: &n.domain.name,
    };
    let mut out = Vec::new();
    for mut r in recs {
        let verdict = match engine.verify(&mut r).await {
            Ok(v) => OnNode::Checked(v),
            Err(e) => OnNode::Unreachable {
                error: e.to_string().lines().next().unwrap_or_default().to_string(),
            },
        };
        out.push((r.id, verdict));
    }
    session.close().await;
    out
}

/// The table: one line per fault, then indented details (the node's check, errors, timer).
/// Damaged records, after the table: they block `down` and cannot be reverted.
pub(crate) fn format_damaged(damaged: &[super::record::Damaged]) -> String {
    let mut out = String::new();
    for d in damaged {
        let _ = writeln!(
            out,
            "{:<5} {:<16} {:<8} {:<10} {:<9} {}\n      look at {}; `firedrill fault forget {}` sets it aside",
            d.id,
            "?",
            "?",
            "damaged",
            "unknown",
            d.problem,
            d.path.display(),
            d.id
        );
    }
    out
}

pub(crate) fn format_table(lab: &str, rows: &[Row]) -> String {
    if rows.is_empty() {
        return format!("lab {lab}: no faults\n");
    }
    // As wide as the longest kind (db-password-rotated is wider than the usual 16).
    let kw = rows.iter().map(|r| r.kind.len()).fold(16, usize::max);
    let mut out = format!(
        "{:<5} {:<kw$} {:<8} {:<10} {:<9} CHECK\n",
        "ID", "KIND", "NODE", "STATE", "ON NODE"
    );
    for r in rows {
        let (on, check) = match &r.on_node {
            OnNode::Skipped => ("-", String::new()),
            OnNode::Checked(v) if v.active => ("yes", v.detail.clone()),
            OnNode::Checked(v) => ("no", v.detail.clone()),
            OnNode::Unreachable { error } => ("unknown", format!("cannot check: {error}")),
        };
        let check = if check.is_empty() {
            r.summary.clone()
        } else {
            check
        };
        let _ = writeln!(
            out,
            "{:<5} {:<kw$} {:<8} {:<10} {:<9} {check}",
            r.id,
            r.kind,
            r.node,
            r.state.to_string(),
            on
        );
        if let (Some(due), true) = (&r.auto_revert_due, r.state == FaultState::Active) {
            let _ = writeln!(out, "      reverts itself at {due}");
        }
        if let Some(e) = &r.error {
            for line in e.lines() {
                let _ = writeln!(out, "      {line}");
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(id: &str, state: FaultState, on_node: OnNode) -> Row {
        Row {
            id: id.into(),
            kind: "disk-full".into(),
            node: "app1".into(),
            state,
            summary: "fill the filesystem of /var/lib/todo until 0 MiB are free".into(),
            created: "2024-05-01T12:00:00.000Z".into(),
            updated: "2024-05-01T12:00:01.000Z".into(),
            on_node,
            auto_revert_due: None,
            error: None,
        }
    }

    #[test]
    fn a_level_fault_shows_neither_kind_nor_node_until_reverted() {
        let mut rec = FaultRecord::new("app1", crate::faults::testing::disk_full_fault());
        rec.id = "f1".into();
        rec.state = FaultState::Active;
        rec.hidden = true;
        let shown = Row::of(rec.clone(), OnNode::Skipped);
        assert_eq!(
            (shown.kind.as_str(), shown.node.as_str()),
            ("(level)", "(hidden)")
        );
        let table = format_table("three-tier", &[shown]);
        assert!(
            !table.contains("disk") && !table.contains("app1"),
            "{table}"
        );
        rec.state = FaultState::Reverted;
        let shown = Row::of(rec, OnNode::Skipped);
        assert_eq!(
            (shown.kind.as_str(), shown.node.as_str()),
            ("disk-full", "app1")
        );
    }

    #[test]
    fn the_table_says_what_the_node_said() {
        let mut active = row(
            "f1",
            FaultState::Active,
            OnNode::Checked(Verdict {
                active: true,
                detail: "filler /var/backups/todo-uploads.tar (7.1 GiB) present; 0 MiB free".into(),
            }),
        );
        active.auto_revert_due = Some("2024-05-01T12:10:00.000Z".into());
        let reverted = row("f2", FaultState::Reverted, OnNode::Skipped);
        let mut failed = row("f3", FaultState::Failed, OnNode::Skipped);
        failed.error = Some("app1: disk-full: inject failed (exit 1): boom\n(rolled back)".into());
        let lost = row(
            "f4",
            FaultState::Active,
            OnNode::Unreachable {
                error: "app1 (10.78.0.11:22): cannot connect: refused".into(),
            },
        );
        assert_eq!(
            format_table("three-tier", &[active, reverted, failed, lost]),
            "ID    KIND             NODE     STATE      ON NODE   CHECK\n\
             f1    disk-full        app1     active     yes       filler /var/backups/todo-uploads.tar (7.1 GiB) present; 0 MiB free\n\
             \x20     reverts itself at 2024-05-01T12:10:00.000Z\n\
             f2    disk-full        app1     reverted   -         fill the filesystem of /var/lib/todo until 0 MiB are free\n\
             f3    disk-full        app1     failed     -         fill the filesystem of /var/lib/todo until 0 MiB are free\n\
             \x20     app1: disk-full: inject failed (exit 1): boom\n\
             \x20     (rolled back)\n\
             f4    disk-full        app1     active     unknown   cannot check: app1 (10.78.0.11:22): cannot connect: refused\n"
        );
        assert_eq!(format_table("lab", &[]), "lab lab: no faults\n");
    }

    #[test]
    fn json_rows_carry_the_check() {
        let r = row(
            "f1",
            FaultState::Active,
            OnNode::Checked(Verdict {
                active: false,
                detail: "gone".into(),
            }),
        );
        let v = serde_json::to_value(&r).unwrap();
        assert_eq!(v["state"], "active");
        assert_eq!(v["on_node"]["check"], "checked");
        assert_eq!(v["on_node"]["active"], false);
        assert_eq!(v["on_node"]["detail"], "gone");
        let u = serde_json::to_value(row(
            "f2",
            FaultState::Active,
            OnNode::Unreachable { error: "x".into() },
        ))
        .unwrap();
        assert_eq!(
            u["on_node"],
            serde_json::json!({"check": "unreachable", "error": "x"})
        );
        let s = serde_json::to_value(row("f3", FaultState::Reverted, OnNode::Skipped)).unwrap();
        assert_eq!(s["on_node"], serde_json::json!({"check": "skipped"}));
    }
}
