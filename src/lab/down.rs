//! `firedrill down`: removes everything a lab created — domains, networks, disks, seeds, keys,
//! state — and nothing else. It works from libvirt's ownership marks as well as the state file,
//! so it also cleans up after an `up` that crashed before or while writing state.

use super::LabError;
use crate::hypervisor::{Hypervisor, Libvirt, blocking};
use crate::paths::Home;
use crate::state::{LabPhase, LabState, StateError};
use std::collections::BTreeSet;
use std::time::Instant;

/// Removes the lab; without `force`, refuses while faults may still be on its nodes (checked
/// under the lab's lock, so none is applied in between).
pub(crate) async fn down(home: &Home, lab: Option<&str>, force: bool) -> Result<(), LabError> {
    let started = Instant::now();
    // A lab with no directory may still have libvirt objects (a crash before the first
    // state write, or a deleted FIREDRILL_HOME): clean those when it is named.
    let name = crate::state::select_even_missing(home, lab)?;
    let dir = home.lab(&name);

    let existed = std::fs::symlink_metadata(dir.dir()).is_ok();
    // What marks a directory under labs/ as a lab firedrill made: its state, lock or key.
    let marked = [dir.state_file(), dir.lock_file(), dir.ssh_key()]
        .iter()
        .any(|p| p.exists());
    let _lock = super::LabLock::acquire(&dir, "`firedrill down`")?;
    if !force {
        crate::faults::ensure_none_active(home, Some(&name))
            .map_err(|e| LabError::Fault(Box::new(e)))?;
    }
    let state = LabState::load(&dir).unwrap_or(None);
    // The libvirtd that `up` used (its URI is in the state), not whatever the environment says
    // now; a lab without state is looked for where the environment points.
    let uri = state.as_ref().map(|s| s.uri.clone());
    let hv = blocking(move || Libvirt::open(uri.as_deref()).map_err(LabError::from)).await?;
    // An `up` that was killed may have left a definition in flight: libvirtd finishes it after
    // the client is gone, so look again until a look finds nothing new.
    let interrupted = state.as_ref().is_none_or(|s| s.phase != LabPhase::Up);
    // Each node's snapshots live in its disk, which goes with the lab: name them as they go.
    let snapshots = match &state {
        Some(s) => super::snapshot::removed_with_lab(s).await,
        None => Vec::new(),
    };
    let hv = std::sync::Arc::new(hv);
    let mut removed = Removed::default();
    for round in 0..SETTLE_ROUNDS {
        let (hv, lab_name, state) = (hv.clone(), name.clone(), state.clone());
        let more = blocking(move || remove_objects(hv.as_ref(), &lab_name, state.as_ref())).await?;
        let found = !more.domains.is_empty() || !more.networks.is_empty();
        removed.extend(more);
        if !interrupted || (round > 0 && !found) {
            break;
        }
        tokio::time::sleep(SETTLE).await;
    }
    let Removed {
        domains,
        networks,
        refused,
    } = removed;
    if existed && !marked && domains.is_empty() && networks.is_empty() {
        return Err(LabError::Node {
            node: name.to_string(),
            step: "remove lab files",
            message: format!(
                "{} has no state, lock or key of a firedrill lab and no libvirt objects: firedrill cannot tell it made it, so it is left in place; look at it and remove it by hand",
                dir.dir().display()
            ),
        });
    }
    if existed {
        // A mock client following the event log sees the lab go before its files do.
        let _ = crate::events::append(
            &dir,
            &crate::events::Event::now(
                crate::events::EventKind::LabDown,
                None,
                format!("lab {name} is going down"),
            ),
        );
        crate::fsutil::remove_tree_inside(&home.labs(), dir.dir()).map_err(|e| LabError::Node {
            node: name.to_string(),
            step: "remove lab files",
            message: e.to_string(),
        })?;
    }
    if domains.is_empty() && networks.is_empty() && !existed && refused.is_empty() {
        return Err(StateError::NotFound(name).into());
    }
    for d in &domains {
        println!("domain {d}: removed");
    }
    for n in &networks {
        println!("network {n}: removed");
    }
    if !snapshots.is_empty() {
        println!(
            "snapshots {}: removed with the nodes' disks",
            snapshots.join(", ")
        );
    }
    if existed {
        println!("files {}: removed", dir.dir().display());
    }
    for r in &refused {
        eprintln!("warning: {r}");
    }
    println!(
        "lab {name}: down in {:.1}s (cached images kept: `firedrill image list`)",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// How many times, and how far apart, `down` looks again after an interrupted `up`.
const SETTLE_ROUNDS: usize = 4;
const SETTLE: std::time::Duration = std::time::Duration::from_secs(2);

/// What `down` removed, and what it found but left because it is not the lab's.
#[derive(Default)]
struct Removed {
    domains: Vec<String>,
    networks: Vec<String>,
    refused: Vec<String>,
}

/// Removes the lab's domains first (a network in use cannot go), then its networks. Objects
/// named in the state but not marked as the lab's are left and reported.
impl Removed {
    fn extend(&mut self, more: Removed) {
        self.domains.extend(more.domains);
        self.networks.extend(more.networks);
        for r in more.refused {
            if !self.refused.contains(&r) {
                self.refused.push(r);
            }
        }
    }
}

fn remove_objects(
    hv: &dyn Hypervisor,
    lab: &str,
    state: Option<&LabState>,
) -> Result<Removed, LabError> {
    let mut refused = Vec::new();
    let mut domains: BTreeSet<String> = hv
        .domains()?
        .into_iter()
        .filter(|d| d.owner.as_ref().is_some_and(|(l, _)| l == lab))
        .map(|d| d.name)
        .collect();
    let mut networks: BTreeSet<String> = hv
        .networks()?
        .into_iter()
        .filter(|n| n.owner.as_deref() == Some(lab))
        .map(|n| n.name)
        .collect();
    if let Some(s) = state {
        domains.extend(s.nodes().map(|n| n.domain.name.clone()));
        networks.extend(s.plan.networks.iter().map(|n| n.name.clone()));
    }
    // Every domain at once: stopping a guest waits for its QEMU to exit.
    let results: Vec<(String, Result<bool, crate::hypervisor::HvError>)> =
        std::thread::scope(|s| {
            let handles: Vec<_> = domains
                .into_iter()
                .map(|d| {
                    s.spawn(move || {
                        let removed = match hv.domain(&d) {
                            Ok(None) => Ok(false),
                            Ok(Some(_)) => hv.remove_domain(&d, lab).map(|()| true),
                            Err(e) => Err(e),
                        };
                        (d, removed)
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join().unwrap_or_else(|_| {
                        (
                            String::new(),
                            Err(crate::hypervisor::HvError::Join(
                                "a thread removing a domain panicked".to_string(),
                            )),
                        )
                    })
                })
                .collect()
        });
    let mut removed_domains = Vec::new();
    for (d, result) in results {
        match result {
            Ok(true) => removed_domains.push(d),
            Ok(false) => {}
            Err(e @ crate::hypervisor::HvError::NotOurs { .. }) => refused.push(e.to_string()),
            Err(e) => return Err(e.into()),
        }
    }
    let mut removed_networks = Vec::new();
    for n in networks {
        if hv.network(&n)?.is_none() {
            continue;
        }
        match hv.remove_network(&n, lab) {
            Ok(()) => removed_networks.push(n),
            Err(e @ crate::hypervisor::HvError::NotOurs { .. }) => refused.push(e.to_string()),
            Err(e) => return Err(e.into()),
        }
    }
    Ok(Removed {
        domains: removed_domains,
        networks: removed_networks,
        refused,
    })
}
