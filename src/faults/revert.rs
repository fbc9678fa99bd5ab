//! `fault revert`, `fault forget` and what `down` and `up` ask about active faults: undoing
//! faults from their records, the damaged ones reported and never used.

use super::FaultError;
use super::command::LibvirtHost;
use super::engine::{Engine, Reverted};
use super::record::{FaultRecord, Store};
use crate::lab::{Lab, SshNodes};
use crate::paths::{Home, LabDir};
use crate::remote::{Output, Remote, RemoteError};
use crate::ssh::Purpose;
use std::fmt::Write;
use std::sync::Arc;

/// A node that is never contacted: reverting a record that never got past its first write, or
/// a fault whose every change is on the host.
struct Unreached(String);

impl Remote for Unreached {
    fn node(&self) -> &str {
        &self.0
    }
    async fn run(&self, _command: &str, _stdin: Option<&[u8]>) -> Result<Output, RemoteError> {
        Err(RemoteError {
            node: self.0.clone(),
            message: "not connected".to_string(),
        })
    }
}

/// Reverts fault `id`, or with `all` every fault that may still be on a node, newest first;
/// `print` says what was undone (levels keep it to their debrief).
pub(crate) async fn revert(
    home: &Home,
    lab: Option<&str>,
    id: Option<&str>,
    all: bool,
    print: bool,
) -> Result<(), FaultError> {
    revert_in(home, lab, id, all, print, None).await
}

/// The play's own sessions, for `revert_all_over`.
#[derive(Clone, Copy)]
struct Over<'a> {
    nodes: &'a SshNodes,
    /// Every node was just returned to a snapshot taken before any of the faults.
    restored: bool,
}

/// `revert` of every fault of `nodes`' lab, quietly, over the sessions `nodes` holds: a level
/// ends on nodes it is logged in to already, and a new login costs seconds under emulation
/// (right after a snapshot's restore, 3-5 s a node). With `restored` (every node was just
/// returned to a snapshot from before the faults), a fault that acts on the node is only
/// recorded as reverted: the restore undid it, and a command on a node just restored costs
/// about a second under emulation. Faults on the host side are reverted there as always.
pub(crate) async fn revert_all_over(
    home: &Home,
    nodes: &SshNodes,
    restored: bool,
) -> Result<(), FaultError> {
    let lab = nodes.state().name.to_string();
    let over = Over { nodes, restored };
    revert_in(home, Some(&lab), None, true, false, Some(over)).await
}

async fn revert_in(
    home: &Home,
    lab: Option<&str>,
    id: Option<&str>,
    all: bool,
    print: bool,
    shared: Option<Over<'_>>,
) -> Result<(), FaultError> {
    let lab = Lab::lock(home, lab, "`firedrill fault revert`")?;
    let (dir, state) = (&lab.dir, &lab.state);
    let store = Store::new(dir);
    let mut damaged = 0;
    let records: Vec<FaultRecord> = match (id, all) {
        (Some(_), true) | (None, false) => return Err(FaultError::RevertWhat),
        (Some(id), false) => {
            let found = store.load(id)?.ok_or_else(|| FaultError::NoSuchFault {
                lab: state.name.to_string(),
                id: id.to_string(),
                known: store
                    .all()
                    .map(|rs| rs.into_iter().map(|r| r.id).collect())
                    .unwrap_or_default(),
            })?;
            vec![found]
        }
        (None, true) => {
            let scan = store.scan()?;
            for d in &scan.damaged {
                eprintln!(
                    "error: {}: {}\n  hint: look at {}; `firedrill fault forget {}` sets it aside",
                    d.id,
                    d.problem,
                    d.path.display(),
                    d.id
                );
            }
            damaged = scan.damaged.len();
            scan.records
                .into_iter()
                .rev()
                .filter(FaultRecord::needs_revert)
                .collect()
        }
    };
    if all && records.is_empty() && damaged == 0 {
        if print {
            println!("no fault to revert in lab {}", state.name);
        }
        return Ok(());
    }
    let host = LibvirtHost {
        uri: state.uri.clone(),
    };
    let total = records.len();
    let mut failed = 0;
    for mut rec in records {
        match revert_one(&lab, &store, &host, &mut rec, shared).await {
            Ok(lines) if print => print!("{lines}"),
            Ok(_) => {}
            Err(e) if !all => return Err(e),
            Err(e) => {
                failed += 1;
                eprintln!("error: {}: {e}", rec.id);
            }
        }
    }
    if failed + damaged > 0 {
        return Err(FaultError::SomeRevertsFailed {
            failed: failed + damaged,
            total: total + damaged,
        });
    }
    Ok(())
}

/// Reverts one record; returns what to print.
async fn revert_one(
    lab: &Lab,
    store: &Store,
    host: &LibvirtHost,
    rec: &mut FaultRecord,
    shared: Option<Over<'_>>,
) -> Result<String, FaultError> {
    let kind = rec.kind();
    let head = format!("{}: {kind} on {}", rec.id, rec.node);
    if !rec.needs_revert() {
        return Ok(format!(
            "{head}: already reverted ({}); nothing to do\n",
            rec.updated
        ));
    }
    let node = lab.require_node(&rec.node)?;
    // A fault that acts on the host side (net-delay's qdisc on the node's tap) is undone
    // there: the node need not answer (with loss=100 it cannot).
    let on_host = rec.fault.ops().on_host();
    // After a restore from before the fault, a fault on the node is gone with the rest.
    let undone_by_restore = shared.is_some_and(|o| o.restored) && rec.prepared && !on_host;
    let outcome = if rec.prepared && !on_host && !undone_by_restore {
        let session = match shared {
            Some(o) => o.nodes.live_shell(&rec.node, Purpose::Change).await?,
            None => Arc::new(lab.shell(node, Purpose::Change).await?),
        };
        let outcome = Engine {
            lab: &lab.dir,
            store,
            remote: &*session,
            host,
            domain: &node.domain.name,
        }
        .revert(rec)
        .await;
        // A session of `shared` stays open for its owner.
        if shared.is_none()
            && let Ok(own) = Arc::try_unwrap(session)
        {
            own.close().await;
        }
        outcome?
    } else {
        let unreached = Unreached(node.name.clone());
        let engine = Engine {
            lab: &lab.dir,
            store,
            remote: &unreached,
            host,
            domain: &node.domain.name,
        };
        if undone_by_restore {
            engine.restored(rec)?
        } else {
            engine.revert(rec).await?
        }
    };
    Ok(format_reverted(&head, &outcome))
}

pub(super) fn format_reverted(head: &str, outcome: &Reverted) -> String {
    match outcome {
        Reverted::Done(lines) if lines.is_empty() => {
            format!("{head}: reverted (nothing was left to undo on the node)\n")
        }
        Reverted::Done(lines) => {
            let mut out = format!("{head}: reverted\n");
            for l in lines {
                let _ = writeln!(out, "  {l}");
            }
            out
        }
        Reverted::NothingChanged => {
            format!("{head}: reverted (the inject had not changed anything on the node)\n")
        }
        Reverted::Already => format!("{head}: already reverted; nothing to do\n"),
        Reverted::Restored => {
            format!("{head}: reverted (the node went back to its snapshot from before the fault)\n")
        }
    }
}

/// For `down`: refuses while faults may still be on nodes. A lab that cannot be selected is
/// left for `down` itself to report.
pub(crate) fn ensure_none_active(home: &Home, lab: Option<&str>) -> Result<(), FaultError> {
    let Ok(name) = crate::state::select(home, lab) else {
        return Ok(());
    };
    let scan = Store::new(&home.lab(&name)).scan()?;
    let damaged: Vec<String> = scan.damaged.into_iter().map(|d| d.id).collect();
    let ids: Vec<String> = scan
        .records
        .into_iter()
        .filter(FaultRecord::needs_revert)
        .map(|r| r.id)
        .chain(damaged.iter().cloned())
        .collect();
    if ids.is_empty() {
        return Ok(());
    }
    Err(FaultError::StillActive {
        lab: name.to_string(),
        count: ids.len(),
        ids,
        damaged,
    })
}

/// `(id, node)` of every fault that may still be on a node of the lab (damaged records count
/// with node `?`: nothing can tell where they are).
pub(crate) fn active(dir: &LabDir) -> Result<Vec<(String, String)>, FaultError> {
    let scan = Store::new(dir).scan()?;
    Ok(scan
        .records
        .into_iter()
        .filter(FaultRecord::needs_revert)
        .map(|r| (r.id, r.node))
        .chain(scan.damaged.into_iter().map(|d| (d.id, "?".to_string())))
        .collect())
}

/// `fault forget ID`: sets a record aside so that it no longer blocks anything, and says what
/// that leaves on the node.
pub(super) async fn forget(home: &Home, lab: Option<&str>, id: &str) -> Result<(), FaultError> {
    let lab = Lab::lock(home, lab, "`firedrill fault forget`")?;
    let dir = &lab.dir;
    let store = Store::new(dir);
    let left = match store.load(id) {
        Ok(None) => {
            return Err(FaultError::NoSuchFault {
                lab: dir.name().to_string(),
                id: id.to_string(),
                known: store.all()?.into_iter().map(|r| r.id).collect(),
            });
        }
        Ok(Some(mut rec)) if rec.needs_revert() => {
            let (kind, summary) = (rec.kind(), rec.fault.ops().summary());
            format!(
                "what it did stays on {}: {kind} ({summary}); undo it by hand",
                rec.node
            )
        }
        Ok(Some(_)) => "nothing of it is left on its node".to_string(),
        Err(e @ (FaultError::RecordParse { .. } | FaultError::RecordDamaged { .. })) => format!(
            "the record was damaged ({}), so whatever the fault did to its node stays; check the node by hand",
            e.to_string().lines().next().unwrap_or_default()
        ),
        Err(e) => return Err(e),
    };
    let kept = store.forget(id)?;
    println!("fault {id}: forgotten; {left}");
    println!("  the record is kept at {}", kept.display());
    Ok(())
}
