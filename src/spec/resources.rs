//! The resources a node asks for: CPUs, memory and disk within what libvirt, the image and a
//! sane lab accept (errors) and what this host has (warnings), the images named, and the memory
//! of all nodes against the host's. Every check runs before `up` creates anything.

use super::Lab;
use super::defaults::{self, Effective, Resources};
use super::problem::Report;
use crate::host::HostFacts;
use std::collections::{BTreeSet, HashSet};

/// QEMU's q35 machine without an IOMMU gives its CPUs 8-bit (xAPIC) IDs: 255 at most. More need
/// interrupt remapping, which firedrill's domains do not have, so libvirt would fail at start.
pub(crate) const MAX_CPUS: u32 = 255;
/// 1 TiB: far beyond a lab node, and well inside what QEMU accepts.
pub(crate) const MAX_MEMORY_MIB: u64 = 1 << 20;
/// The disk is a thin clone that grows as the node writes; 2 TiB is past any lab's need.
pub(crate) const MAX_DISK_GIB: u64 = 2048;
/// The minimum for an image that no recipe of this build describes (built elsewhere).
const FALLBACK_MIN_MEMORY_MIB: u64 = 256;

/// The least memory a node of `image` runs in.
pub(crate) fn min_memory_mib(image: &str) -> u64 {
    crate::image::recipe::recipe(image).map_or(FALLBACK_MIN_MEMORY_MIB, |r| r.min_memory_mib)
}

pub(super) fn check(lab: &Lab, host: &HostFacts, force: bool, r: &mut Report) {
    // A value is reported once, however many nodes inherit it.
    let mut reported = HashSet::new();
    check_limits(&defaults::of_defaults(lab), host, &mut reported, r);
    let mut total_mib: u64 = 0;
    let mut images_seen = BTreeSet::new();
    for (i, node) in lab.nodes.value.iter().enumerate() {
        let res = defaults::resources(lab, i, node);
        check_limits(&res, host, &mut reported, r);
        total_mib = total_mib.saturating_add(res.memory_mib.value);
        let image = res.image;
        if !images_seen.insert(image.value.clone()) {
            continue;
        }
        let name_ok = !image.value.is_empty()
            && !image.value.starts_with(['.', '-'])
            && image
                .value
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
        if !name_ok {
            r.error(
                image.pos,
                &image.path,
                format!("image name `{}` is not valid", image.value),
                "use letters, digits, '.', '_' and '-', e.g. `debian-12` (see `firedrill image list`)",
            );
        } else if !host.images.contains(&image.value) {
            r.warning(
                image.pos,
                &image.path,
                format!("image `{}` is not built yet", image.value),
                format!(
                    "`firedrill up` builds it, or run `firedrill image build --name {}`",
                    image.value
                ),
            );
        }
    }
    let host_mib = host.mem_total_mib;
    if host_mib > 0 && total_mib > host_mib {
        let need = format!(
            "the nodes need {total_mib} MiB of memory in total but this host has {host_mib} MiB"
        );
        let pos = Some(lab.nodes.pos);
        if force {
            r.warning(
                pos,
                "nodes",
                format!("{need}; going ahead because of `--force`"),
                "the host may swap or kill VMs; lower `memory` on some nodes to avoid it",
            );
        } else {
            r.error(
                pos,
                "nodes",
                format!("{need}; `firedrill up` refuses this without `--force`"),
                "lower `memory` on some nodes, or pass `--force` to start them anyway",
            );
        }
    }
}

/// CPUs, memory and disk of one node (or of `defaults:`) within their bounds. Values set
/// nowhere (`pos` is `None`) are the built-in defaults, which are within them.
fn check_limits(res: &Resources, host: &HostFacts, reported: &mut HashSet<String>, r: &mut Report) {
    let mut once = |e: &Effective<u64>| e.pos.is_some() && reported.insert(e.path.clone());
    let cpus = Effective {
        value: u64::from(res.cpus.value),
        pos: res.cpus.pos,
        path: res.cpus.path.clone(),
    };
    if once(&cpus) {
        let host_cpus = u64::from(host.cpus);
        if cpus.value == 0 {
            r.error(
                cpus.pos,
                &cpus.path,
                "cpus must be at least 1",
                "give a positive number, or leave `cpus` out for the default",
            );
        } else if cpus.value > u64::from(MAX_CPUS) {
            r.error(
                cpus.pos,
                &cpus.path,
                format!(
                    "{} CPUs is more than a node can have: libvirt starts at most {MAX_CPUS} on firedrill's q35 machine",
                    cpus.value
                ),
                "lower `cpus`; a lab node rarely needs more than 2",
            );
        } else if host_cpus > 0 && cpus.value > host_cpus {
            r.warning(
                cpus.pos,
                &cpus.path,
                format!("{} CPUs is more than this host has ({host_cpus})", cpus.value),
                format!("the node still runs, sharing the host's {host_cpus}; give `cpus: {host_cpus}` or fewer"),
            );
        }
    }
    let memory = &res.memory_mib;
    if once(memory) {
        let image = &res.image.value;
        let min = min_memory_mib(image);
        if memory.value < min {
            r.error(
                memory.pos,
                &memory.path,
                format!("{} MiB of memory is too little for image `{image}`: it needs at least {min} MiB", memory.value),
                format!("give `memory: {min}` or more (memory is in MiB), or leave it out for the default {}", defaults::DEFAULT_MEMORY_MIB),
            );
        } else if memory.value > MAX_MEMORY_MIB {
            r.error(
                memory.pos,
                &memory.path,
                format!("{} MiB of memory is more than firedrill gives a node (at most {MAX_MEMORY_MIB} MiB, 1 TiB)", memory.value),
                "memory is in MiB: `memory: 2048` is 2 GiB",
            );
        }
    }
    let disk = &res.disk_gib;
    if once(disk) {
        if disk.value == 0 {
            r.error(
                disk.pos,
                &disk.path,
                "disk must be at least 1",
                "give a positive number of GiB, or leave `disk` out for the default",
            );
        } else if disk.value > MAX_DISK_GIB {
            r.error(
                disk.pos,
                &disk.path,
                format!("{} GiB of disk is more than firedrill gives a node (at most {MAX_DISK_GIB} GiB)", disk.value),
                format!("disk is in GiB and grows as the node writes; the default {} is enough for every role", defaults::DEFAULT_DISK_GIB),
            );
        }
    }
}

#[cfg(test)]
mod tests;
