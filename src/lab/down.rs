//! `firedrill down`: removes everything a lab created — domains, networks, disks, seeds, keys,
//! state — and nothing else. It works from libvirt's ownership marks as well as the state file,
//! so it also cleans up after an `up` that crashed before or while writing state.

use super::LabError;
use crate::hypervisor::{Hypervisor, Libvirt, blocking};
use crate::paths::Home;
use crate::state::{LabState, StateError};
use std::collections::BTreeSet;
use std::time::Instant;

pub(crate) async fn down(home: &Home, lab: Option<&str>) -> Result<(), LabError> {
    let started = Instant::now();
    let hv = blocking(|| Libvirt::open(None).map_err(LabError::from)).await?;
    // A lab with no directory may still have libvirt objects (a crash before the first
    // state write, or a deleted FIREDRILL_HOME): clean those when it is named.
    let name = crate::state::select_even_missing(home, lab)?;
    let dir = home.lab(&name);

    let existed = std::fs::symlink_metadata(dir.dir()).is_ok();
    let _lock = super::LabLock::acquire(&dir, "`firedrill down`")?;
    let state = LabState::load(&dir).unwrap_or(None);
    let lab_name = name.clone();
    let Removed {
        domains,
        networks,
        refused,
    } = blocking(move || remove_objects(&hv, &lab_name, state.as_ref())).await?;
    if existed {
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

/// What `down` removed, and what it found but left because it is not the lab's.
struct Removed {
    domains: Vec<String>,
    networks: Vec<String>,
    refused: Vec<String>,
}

/// Removes the lab's domains first (a network in use cannot go), then its networks. Objects
/// named in the state but not marked as the lab's are left and reported.
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
        domains.extend(s.nodes.iter().map(|n| n.domain.clone()));
        networks.extend(s.networks.iter().map(|n| n.libvirt_name.clone()));
    }
    let mut removed_domains = Vec::new();
    for d in domains {
        if hv.domain(&d)?.is_none() {
            continue;
        }
        match hv.remove_domain(&d, lab) {
            Ok(()) => removed_domains.push(d),
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
