//! Capacity checks: memory, disk and CPUs against what the lab asks for, counting what labs
//! already up hold. Pure functions of the facts.

use super::checks::{DISK_SLACK_MIB, IMAGE_BUILD_MIB, OVERLAY_MIB};
use super::facts::{Facts, ImageState, LabFacts};
use super::{Check, Fix};

fn lab(f: &Facts) -> Option<&LabFacts> {
    f.lab.as_ref()?.as_ref().ok()
}

/// The lab's nodes that are not running yet: (name, memory, cpus).
fn to_start<'a>(f: &'a Facts, lab: &'a LabFacts) -> impl Iterator<Item = &'a (String, u64, u32)> {
    let running: &[String] = f.libvirt.as_ref().map_or(&[], |l| &l.lab_running);
    lab.nodes
        .iter()
        .filter(move |(n, _, _)| !running.contains(n))
}

pub(crate) fn memory(f: &Facts) -> Check {
    const NAME: &str = "memory";
    let others = f.libvirt.as_ref().map_or(0, |l| l.others_running_mib);
    let avail = f.mem_available_mib;
    let have = format!(
        "{avail} MiB available of {} MiB; guests already running hold up to {others} MiB",
        f.mem_total_mib
    );
    let Some(lab) = lab(f) else {
        return Check::ok(NAME, have);
    };
    let need: u64 = to_start(f, lab).map(|(_, m, _)| m).sum();
    let total: u64 = lab.nodes.iter().map(|(_, m, _)| m).sum();
    let starting = to_start(f, lab).count();
    let what = format!("the lab's {starting} guests to start need {need} MiB; {have}");
    let fix = Fix::same(format!(
        "lower `memory:` in {} (in MiB), or bring another lab down: `firedrill list`, then `firedrill down --lab NAME`",
        lab.file.display()
    ));
    if need > avail {
        return Check::fail(NAME, what, fix);
    }
    // Guests touch their memory lazily: what is free now can be taken back by guests already up.
    if others + total > f.mem_total_mib {
        return Check::warn(
            NAME,
            format!(
                "{what}; with every guest at its full size ({} MiB) the host would swap",
                others + total
            ),
            Some(fix),
        );
    }
    if need * 10 > avail * 8 {
        return Check::warn(
            NAME,
            format!("{what}: less than 20% is left for the host"),
            Some(fix),
        );
    }
    Check::ok(NAME, what)
}

/// What the lab needs on disk, in MiB, where the lab's disks go and where images go.
fn disk_need(f: &Facts) -> (u64, u64) {
    let image = f
        .images
        .iter()
        .filter(|i| i.state == ImageState::Missing)
        .count() as u64
        * IMAGE_BUILD_MIB;
    let overlays = lab(f).map_or(0, |lab| {
        to_start(f, lab).map(|(_, m, _)| OVERLAY_MIB + m).sum()
    });
    (overlays, image)
}

pub(crate) fn disk(f: &Facts) -> Check {
    const NAME: &str = "disk";
    let (overlays, image) = disk_need(f);
    let mib = |b: u64| b / (1024 * 1024);
    let mut places = Vec::new();
    match (&f.home_free, &f.images_free) {
        (Some(h), Some(i)) if h.dev == i.dev => places.push((h, overlays + image)),
        (h, i) => {
            places.extend(h.iter().map(|h| (h, overlays)));
            places.extend(i.iter().map(|i| (i, image)));
        }
    }
    let basis = format!(
        "each new node's disk is budgeted {OVERLAY_MIB} MiB plus its memory (a level's snapshot), an image build {IMAGE_BUILD_MIB} MiB"
    );
    let mut worst = Check::ok(NAME, "");
    let mut details = Vec::new();
    for (free, need) in places {
        let have = mib(free.bytes);
        details.push(format!(
            "{need} MiB needed, {have} MiB free on {}",
            free.path.display()
        ));
        let fix = || {
            Some(Fix::same(format!(
                "free space on {}, or point FIREDRILL_HOME (labs) or FIREDRILL_IMAGES (images) at a file system with {need} MiB free",
                free.path.display()
            )))
        };
        if need > have {
            worst = Check {
                verdict: super::Verdict::Fail,
                fix: fix(),
                ..worst
            };
        } else if have - need < DISK_SLACK_MIB && worst.verdict == super::Verdict::Ok {
            worst = Check {
                verdict: super::Verdict::Warn,
                fix: fix(),
                ..worst
            };
        }
    }
    if details.is_empty() {
        details.push("cannot tell the free space (statvfs failed)".into());
    }
    worst.detail = format!("{}; {basis}", details.join(", "));
    worst
}

pub(crate) fn cpus(f: &Facts) -> Check {
    const NAME: &str = "cpus";
    let n = f.cpus;
    let Some(lab) = lab(f) else {
        return if n < 2 {
            Check::warn(
                NAME,
                format!("{n} CPU online: guests and the host share it, boots are slow"),
                None,
            )
        } else {
            Check::ok(NAME, format!("{n} CPUs online"))
        };
    };
    let total: u32 = lab.nodes.iter().map(|(_, _, c)| c).sum();
    let widest = lab.nodes.iter().max_by_key(|(_, _, c)| *c);
    let what = format!("{n} CPUs online; the lab's guests have {total} vCPUs");
    match widest {
        Some((node, _, c)) if *c > n => Check::warn(
            NAME,
            format!("{what}: node {node} has {c}, more than the host"),
            Some(Fix::same(format!(
                "set `cpus: {n}` or less on node {node} in {}",
                lab.file.display()
            ))),
        ),
        _ if total > 4 * n.max(1) => Check::warn(
            NAME,
            format!("{what}: more than 4 per CPU, expect slow boots"),
            None,
        ),
        _ => Check::ok(NAME, what),
    }
}
