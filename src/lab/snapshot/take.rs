//! The lab's snapshots on the hypervisor: every node paused together and snapshotted, every
//! node reverted, a snapshot deleted from every node, and the snapshots the lab has. These
//! functions take a `Hypervisor`, so libvirt's test driver tests them; `save_lab` and
//! `restore_lab` add the lab's connection and the guests' clocks.

use super::{SnapshotError, SnapshotName, clock};
use crate::hypervisor::{HvError, Hypervisor, Libvirt, blocking};
use crate::lab::Nodes;
use crate::state::LabState;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A lab's node and its domain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Member {
    pub(super) node: String,
    pub(super) domain: String,
}

pub(super) fn members(state: &LabState) -> Vec<Member> {
    state
        .nodes()
        .map(|n| Member {
            node: n.name.clone(),
            domain: n.domain.name.clone(),
        })
        .collect()
}

/// One snapshot of the lab, as its nodes' snapshots of that name make it up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct LabSnapshot {
    pub(super) name: String,
    /// When it was taken (UNIX seconds): the earliest of its nodes' parts.
    pub(super) created: i64,
    /// The nodes that have a part of it, in the lab's order.
    pub(super) nodes: Vec<String>,
}

/// Runs `f` for every domain at once and collects the failures.
fn each(members: &[Member], f: impl Fn(&Member) -> Result<(), HvError> + Sync) -> Vec<HvError> {
    std::thread::scope(|s| {
        let handles: Vec<_> = members
            .iter()
            .map(|m| {
                let f = &f;
                s.spawn(move || f(m))
            })
            .collect();
        handles
            .into_iter()
            .filter_map(|h| match h.join() {
                Ok(r) => r.err(),
                Err(_) => Some(HvError::Join("a snapshot thread panicked".to_string())),
            })
            .collect()
    })
}

/// Pauses every domain, snapshots each as `name` (replacing one of that name), and resumes
/// every domain, also after a failure. Returns how long the lab was paused.
pub(super) fn take(
    hv: &dyn Hypervisor,
    members: &[Member],
    name: &SnapshotName,
) -> Result<Duration, HvError> {
    let start = Instant::now();
    let mut paused = Vec::new();
    let mut failure = None;
    for m in members {
        match hv.suspend_domain(&m.domain) {
            Ok(()) => paused.push(m),
            Err(e) => {
                failure = Some(e);
                break;
            }
        }
    }
    if failure.is_none() {
        failure = each(members, |m| hv.snapshot_domain(&m.domain, name.as_str()))
            .into_iter()
            .next();
    }
    for m in paused {
        if let Err(e) = hv.resume_domain(&m.domain) {
            failure.get_or_insert(e);
        }
    }
    match failure {
        None => Ok(start.elapsed()),
        Some(e) => Err(e),
    }
}

/// The lab's snapshots, oldest first. A name counts once however many nodes have it.
pub(super) fn list(hv: &dyn Hypervisor, members: &[Member]) -> Result<Vec<LabSnapshot>, HvError> {
    let mut all: Vec<LabSnapshot> = Vec::new();
    for m in members {
        if hv.domain(&m.domain)?.is_none() {
            continue;
        }
        for s in hv.snapshots(&m.domain)? {
            match all.iter_mut().find(|l| l.name == s.name) {
                Some(l) => {
                    l.created = l.created.min(s.created);
                    l.nodes.push(m.node.clone());
                }
                None => all.push(LabSnapshot {
                    name: s.name,
                    created: s.created,
                    nodes: vec![m.node.clone()],
                }),
            }
        }
    }
    all.sort_by(|a, b| (a.created, &a.name).cmp(&(b.created, &b.name)));
    Ok(all)
}

/// Checks that every node has snapshot `name`, so that a lab is never left half restored.
pub(super) fn restorable(
    hv: &dyn Hypervisor,
    lab: &str,
    members: &[Member],
    name: &SnapshotName,
) -> Result<(), SnapshotError> {
    let all = list(hv, members)?;
    let Some(found) = all.iter().find(|s| s.name == name.as_str()) else {
        return Err(SnapshotError::NotFound {
            lab: lab.to_string(),
            name: name.to_string(),
            have: all
                .iter()
                .filter(|s| !SnapshotName::is_reserved(&s.name))
                .map(|s| s.name.clone())
                .collect(),
        });
    };
    let missing: Vec<String> = members
        .iter()
        .filter(|m| !found.nodes.contains(&m.node))
        .map(|m| m.node.clone())
        .collect();
    if !missing.is_empty() {
        return Err(SnapshotError::Incomplete {
            name: name.to_string(),
            nodes: missing,
        });
    }
    Ok(())
}

/// Returns one node's domain to `name`, running.
pub(super) fn revert(hv: &dyn Hypervisor, m: &Member, name: &SnapshotName) -> Result<(), HvError> {
    if hv.revert_domain(&m.domain, name.as_str())? {
        Ok(())
    } else {
        Err(HvError::Call {
            action: "revert",
            object: m.domain.clone(),
            message: format!("snapshot {name} went away during the restore"),
        })
    }
}

/// Deletes `name` from every node that has it; returns how many had it.
pub(super) fn remove(
    hv: &dyn Hypervisor,
    members: &[Member],
    name: &str,
) -> Result<usize, HvError> {
    let mut removed = 0;
    for m in members {
        if hv.domain(&m.domain)?.is_some() && hv.delete_snapshot(&m.domain, name)? {
            removed += 1;
        }
    }
    Ok(removed)
}

/// The lab's own libvirt connection (the URI `up` used), off the async runtime.
pub(super) async fn on_lab<T: Send + 'static>(
    state: &LabState,
    f: impl FnOnce(&Libvirt, &[Member]) -> Result<T, SnapshotError> + Send + 'static,
) -> Result<T, SnapshotError> {
    let (uri, members) = (state.uri.clone(), members(state));
    blocking(move || f(&Libvirt::open(Some(&uri))?, &members)).await
}

/// What a save did: how long the lab was paused, and the nodes whose clock could not be set.
pub(crate) struct Saved {
    pub(crate) paused: Duration,
    pub(crate) clock_failures: Vec<String>,
}

/// What a restore did: how long until every node was reverted, how much longer until every
/// node had answered and had its clock set, and the nodes whose clock could not be set.
pub(crate) struct Restored {
    pub(crate) took: Duration,
    pub(crate) answered: Duration,
    pub(crate) clock_failures: Vec<String>,
}

/// Takes snapshot `name` of the whole lab, then sets the guests' clocks (they stood still while
/// paused).
pub(crate) async fn save_lab<N: Nodes>(
    state: &LabState,
    nodes: &N,
    name: &SnapshotName,
) -> Result<Saved, SnapshotError> {
    let n = name.clone();
    let paused = on_lab(state, move |hv, m| Ok(take(hv, m, &n)?)).await?;
    let clock_failures = clock::sync(nodes, &state.node_names()).await;
    Ok(Saved {
        paused,
        clock_failures,
    })
}

/// Returns the whole lab to snapshot `name` and sets the guests' clocks (a snapshot keeps the
/// clock of its moment). Every node is reverted at once, and each is reached as soon as its own
/// revert is done: under TCG the first login after a revert costs a node seconds of CPU (its
/// translated code is gone), and those logins overlap the other nodes' reverts.
pub(crate) async fn restore_lab<N: Nodes>(
    state: &LabState,
    nodes: &N,
    name: &SnapshotName,
) -> Result<Restored, SnapshotError> {
    let start = Instant::now();
    let (uri, lab, n) = (state.uri.clone(), state.name.to_string(), name.clone());
    let members = members(state);
    let m = members.clone();
    let hv = blocking(move || {
        let hv = Libvirt::open(Some(&uri))?;
        restorable(&hv, &lab, &m, &n)?;
        Ok::<_, SnapshotError>(Arc::new(hv))
    })
    .await?;
    let each = members.into_iter().map(|m| {
        let (hv, n) = (hv.clone(), name.clone());
        async move {
            let node = m.node.clone();
            blocking(move || revert(&*hv, &m, &n)).await?;
            let reverted = start.elapsed();
            let failure = clock::set_one(nodes, &node).await;
            Ok::<_, HvError>((reverted, start.elapsed(), failure))
        }
    });
    let mut took = Duration::ZERO;
    let mut answered = Duration::ZERO;
    let mut clock_failures = Vec::new();
    let mut failed = None;
    for result in futures::future::join_all(each).await {
        match result {
            Ok((reverted, reached, failure)) => {
                took = took.max(reverted);
                answered = answered.max(reached);
                clock_failures.extend(failure);
            }
            Err(e) => {
                failed.get_or_insert(e);
            }
        }
    }
    if let Some(e) = failed {
        return Err(e.into());
    }
    Ok(Restored {
        took,
        answered: answered.saturating_sub(took),
        clock_failures,
    })
}
