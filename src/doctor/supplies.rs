//! What must be installed: the host tools and the golden images, the latter verified against
//! their manifests. Pure functions of the facts.

use super::facts::{Facts, ImageState};
use super::{Check, Fix};

/// (tool, Debian package, Fedora package, what needs it).
const TOOLS: &[(&str, &str, &str, &str)] = &[
    (
        "qemu-system-x86_64",
        "qemu-system-x86",
        "qemu-system-x86-core",
        "runs the guests",
    ),
    (
        "qemu-img",
        "qemu-utils",
        "qemu-img",
        "makes each node's disk",
    ),
    (
        "genisoimage",
        "genisoimage",
        "genisoimage",
        "writes each node's seed (its setup at first boot)",
    ),
    (
        "debootstrap",
        "debootstrap",
        "debootstrap",
        "builds the golden image",
    ),
];

pub(crate) fn tools(f: &Facts) -> Vec<Check> {
    let all_built = f
        .images
        .iter()
        .all(|i| matches!(i.state, ImageState::Verified { .. } | ImageState::Stale));
    f.tools
        .iter()
        .map(|(tool, found)| {
            let (_, debian, fedora, why) = TOOLS
                .iter()
                .find(|t| t.0 == *tool)
                .copied()
                .unwrap_or((tool, tool, tool, "is used by firedrill"));
            match found {
                Some(p) => Check::ok("tools", format!("{tool}: {}", p.display())),
                // Only `image build` needs debootstrap.
                None if *tool == "debootstrap" && all_built => Check::warn(
                    "tools",
                    format!("{tool} is not installed; it {why}, which is built already"),
                    Some(Fix::packages(debian, fedora)),
                ),
                None => Check::fail(
                    "tools",
                    format!("{tool} is not installed; it {why}"),
                    Fix::packages(debian, fedora),
                ),
            }
        })
        .collect()
}

pub(crate) fn images(f: &Facts) -> Vec<Check> {
    const NAME: &str = "image";
    f.images
        .iter()
        .map(|i| {
            let n = &i.name;
            let build = Fix::same(format!("sudo firedrill image build --name {n}"));
            let rebuild = Fix::same(format!("sudo firedrill image build --name {n} --rebuild"));
            match &i.state {
                ImageState::Missing => Check::fail(
                    NAME,
                    format!("{n} is not built (about 10 minutes, once; `up` would build it first)"),
                    build,
                ),
                ImageState::Broken(e) => Check::fail(NAME, format!("{n}: {e}"), rebuild),
                ImageState::Corrupt(e) => Check::fail(NAME, format!("{n} does not match its manifest: {e}"), rebuild),
                ImageState::Stale => Check::warn(
                    NAME,
                    format!("{n} matches its manifest but was built from another recipe than this firedrill's"),
                    Some(rebuild),
                ),
                ImageState::Verified { disk_bytes, created } => Check::ok(
                    NAME,
                    format!(
                        "{n}: disk, kernel and initrd match the manifest's sha256 ({} MiB, built {created})",
                        disk_bytes / (1024 * 1024)
                    ),
                ),
            }
        })
        .collect()
}
