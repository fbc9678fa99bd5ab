//! Golden images: a Debian root filesystem built offline with debootstrap, with every package
//! the roles need, stored as a qcow2 disk with the kernel and initrd beside it for direct kernel
//! boot. Nodes get linked clones of `disk.qcow2`, never copies.
//!
//! Layout: `IMAGES/NAME/{disk.qcow2, vmlinuz, initrd.img, manifest.json}` where IMAGES is
//! `FIREDRILL_IMAGES` or `FIREDRILL_HOME/images`. Names starting with `.` are the build's own
//! (temp dirs, locks, the package cache) and never images.

mod build;
mod cache;
pub(crate) mod command;
mod exec;
mod export;
pub(crate) mod recipe;
mod rootfs;
mod util;
mod vagrant_box;

#[cfg(test)]
mod boot_test;

use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use thiserror::Error;

pub(crate) use build::{build, which};
pub(crate) use cache::{find, is_current, list, verify};
pub(crate) use export::{default_output, export_vagrant};
pub(crate) use recipe::known_names;

/// A built image, read back from its manifest.
#[derive(Debug, Clone)]
pub(crate) struct Image {
    pub name: String,
    pub dir: PathBuf,
    pub disk: PathBuf,
    pub kernel: PathBuf,
    pub initrd: PathBuf,
    pub manifest: Manifest,
}

/// `manifest.json`: what was built, from which recipe, and the digests to check it against.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Manifest {
    pub name: String,
    /// RFC 3339, UTC.
    pub created: String,
    pub recipe_version: u32,
    /// sha256 of the recipe; a cached image whose hash differs from the current recipe is stale.
    pub recipe_hash: String,
    pub suite: String,
    /// `name=version` of every installed package, sorted.
    pub packages: Vec<String>,
    /// File names inside the image directory.
    pub disk: String,
    pub kernel: String,
    pub initrd: String,
    pub disk_sha256: String,
    pub kernel_sha256: String,
    pub initrd_sha256: String,
    /// Bytes the qcow2 file takes.
    pub disk_bytes: u64,
    /// The disk's virtual size in bytes: a node's disk must be at least this large. The node's
    /// first boot grows the file system to the node's disk size.
    pub virtual_size: u64,
    /// The installed kernel, e.g. `6.1.0-50-amd64`.
    pub kernel_release: String,
    /// The kernel command line to boot the image with.
    pub cmdline: String,
    /// Whether the image sets a lab node up itself at boot from the seed's `first-boot` script
    /// (firedrill-first-boot.service), so that lab nodes can boot with cloud-init off. Images
    /// built before it had only cloud-init.
    #[serde(default)]
    pub first_boot: bool,
}

#[derive(Debug, Error)]
pub(crate) enum ImageError {
    #[error(
        "building an image needs root (debootstrap, chroot and device nodes in the root file system)\n  hint: run `sudo firedrill image build --name {name}`"
    )]
    NotRoot { name: String },
    #[error("`{tool}` is not installed: install it with `apt-get install {package}` and retry")]
    MissingTool {
        tool: &'static str,
        package: &'static str,
    },
    #[error("no image recipe is called `{name}`: the known names are {}", known.join(", "))]
    UnknownRecipe {
        name: String,
        known: &'static [&'static str],
    },
    #[error(
        "`{name}` is not a valid image name: use letters, digits, '-', '_' and '.', not starting with '.'"
    )]
    InvalidName { name: String },
    #[error(
        "another `image build --name {name}` is running (it holds {lock}); wait for it to finish"
    )]
    Busy { name: String, lock: PathBuf },
    #[error("{action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "{step} failed: `{command}` exited with {status}; the full log is {log}\n{tail}\nfix the cause and run `firedrill image build` again"
    )]
    Command {
        step: &'static str,
        command: String,
        status: String,
        log: PathBuf,
        tail: String,
    },
    #[error("image build of `{name}` interrupted; nothing was installed, run it again to build")]
    Interrupted { name: String },
    #[error("the built root file system is unusable: {problem}; see {log} and rebuild")]
    BadRootfs { problem: String, log: PathBuf },
    #[error("there is no image `{name}` in {dir}: `firedrill image list` shows the images")]
    NoSuchImage { name: String, dir: PathBuf },
    #[error(
        "{dir} is not a firedrill image (no readable manifest.json naming `{name}`); refusing to touch it, remove it by hand if you are sure"
    )]
    NotAnImage { name: String, dir: PathBuf },
    #[error(
        "image `{name}` in {dir} is broken: {problem}; rebuild it with `sudo firedrill image build --name {name} --rebuild`"
    )]
    Broken {
        name: String,
        dir: PathBuf,
        problem: String,
    },
    #[error(
        "{path} already exists, and firedrill does not write over a file it did not make\n  hint: remove or rename it, or write the box elsewhere with `--output FILE`"
    )]
    OutputExists { path: PathBuf },
    #[error(
        "{step} failed: `{command}` exited with {status}:\n{stderr}\nnothing was written to {output}; fix the cause and run `firedrill image export --vagrant` again"
    )]
    ExportCommand {
        step: &'static str,
        command: String,
        status: String,
        stderr: String,
        output: PathBuf,
    },
    #[error("image export interrupted: nothing was written to {output}; run it again to export")]
    ExportInterrupted { output: PathBuf },
    #[error(transparent)]
    Seed(#[from] crate::seed::SeedError),
    #[error(
        "image `{name}` is the backing file of {}\n  hint: run `firedrill down --lab LAB` for those labs first",
        users.join(", ")
    )]
    InUse { name: String, users: Vec<String> },
}

impl ImageError {
    /// Errors the user fixes by changing the command line (exit status 2).
    pub(crate) fn is_usage(&self) -> bool {
        matches!(
            self,
            ImageError::NotRoot { .. }
                | ImageError::UnknownRecipe { .. }
                | ImageError::InvalidName { .. }
                | ImageError::NoSuchImage { .. }
                | ImageError::NotAnImage { .. }
                | ImageError::InUse { .. }
                | ImageError::OutputExists { .. }
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_say_what_to_do_next() {
        let e = ImageError::NotRoot {
            name: "debian-12".into(),
        };
        assert_eq!(
            e.to_string(),
            "building an image needs root (debootstrap, chroot and device nodes in the root file system)\n  hint: run `sudo firedrill image build --name debian-12`"
        );
        let e = ImageError::UnknownRecipe {
            name: "arch".into(),
            known: known_names(),
        };
        assert_eq!(
            e.to_string(),
            "no image recipe is called `arch`: the known names are debian-12"
        );
        let e = ImageError::InUse {
            name: "debian-12".into(),
            users: vec![
                "lab minimal (node db)".into(),
                "lab minimal (node web)".into(),
            ],
        };
        assert_eq!(
            e.to_string(),
            "image `debian-12` is the backing file of lab minimal (node db), lab minimal (node web)\n  hint: run `firedrill down --lab LAB` for those labs first"
        );
    }
}
