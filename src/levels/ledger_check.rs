//! The `ledger` check: every write the play's mock client saw acknowledged must still be in the
//! lab's database(s). The same dump, comparison and tally as `firedrill client verify`, run
//! through the level's `Nodes`.

use super::level::LedgerCheck;
use crate::client::ledger;
use crate::client::verify::{self, Finding, thousands};
use crate::lab::Nodes;
use crate::roles::Engine;
use std::path::Path;

/// (met, what `check` says). `databases`: the lab's database nodes and their engines.
pub(crate) async fn judge<N: Nodes>(
    nodes: &N,
    check: &LedgerCheck,
    ledger_file: Option<&Path>,
    databases: &[(String, Engine)],
) -> super::evaluate::Judged {
    let Some(file) = ledger_file else {
        return (false, Some("this play has no write ledger".into()), true);
    };
    let writes = match ledger::read(file) {
        Ok((w, _)) => w,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => {
            return (
                false,
                Some(format!("cannot read {}: {e}", file.display())),
                true,
            );
        }
    };
    if writes.is_empty() {
        return (true, Some("no write acknowledged yet".into()), false);
    }
    let only = check.node.as_ref().map(|n| n.value.as_str());
    let wanted: Vec<&(String, Engine)> = databases
        .iter()
        .filter(|(n, _)| only.is_none_or(|o| o == n))
        .collect();
    if wanted.is_empty() {
        return (
            false,
            Some(format!(
                "the lab has no database node{}",
                only.map_or(String::new(), |o| format!(" `{o}`"))
            )),
            true,
        );
    }
    let mut found: Vec<(String, Vec<Finding>)> = Vec::new();
    let mut unread = Vec::new();
    for (node, engine) in wanted {
        let script = verify::dump_script(*engine, crate::lab::DB_NAME, verify::first_id(&writes));
        // Bounded like every check: a dump can queue behind a lock (the db-lock level).
        let bounded = format!("timeout 30 sh -c {}", crate::ssh::quote(&script));
        let table = match nodes.run(node, &bounded).await {
            Ok(out) if out.success() => verify::parse_table(*engine, &out.stdout_str()),
            Ok(out) if out.status == 124 => Err("it did not answer within 30 s".to_string()),
            Ok(out) => Err(format!("exit {}", out.status)),
            Err(e) => Err(e.to_string()),
        };
        match table {
            Ok(t) => found.push((node.clone(), verify::compare(&writes, &t))),
            Err(why) => unread.push(format!("{node} ({})", why.lines().next().unwrap_or(""))),
        }
    }
    // Without `node`, a database that is gone (moved away from, stopped) does not count; the
    // writes must be in one that answers.
    if found.is_empty() || (only.is_some() && !unread.is_empty()) {
        return (
            false,
            Some(format!(
                "cannot read the todo table on {}",
                unread.join(", ")
            )),
            true,
        );
    }
    let t = verify::tally(&writes, &found);
    let checkable = writes.len() - t.uncheckable;
    let lost = t.lost.len() as u64;
    let mut note = format!(
        "{} of {} acknowledged writes lost (at most {})",
        thousands(t.lost.len()),
        thousands(checkable),
        check.max_lost
    );
    if !unread.is_empty() {
        note += &format!("; not read: {}", unread.join(", "));
    }
    (lost <= check.max_lost, Some(note), false)
}
