//! The firedrill executable as a user runs it, where no VM is needed: `validate`, the level
//! commands without a play, and the safety rules (names never become paths, one writer per lab),
//! against libvirt's test driver. Every test runs the executable through `firedrill()` or
//! `command()`.

mod anywhere;
mod levels;
mod safety;
mod vagrant;
mod vagrant_box;
mod validate;

use crate::exe::Exe;
use std::path::Path;
use std::process::Output;

/// The one way these tests run firedrill: `command(home)` run to the end.
pub fn firedrill(home: &Path, args: &[&str]) -> Output {
    command(home).args(args).output()
}

/// firedrill as `firedrill()` runs it, for a test that changes the directory or the
/// environment: from the repository, with `home` as FIREDRILL_HOME, the image cache inside it,
/// only the shipped levels, libvirt's test driver (no daemon, no VM) and TCG.
pub fn command(home: &Path) -> Exe {
    Exe::new(home).test_driver()
}

/// A fresh, empty directory for one test.
pub fn scratch(name: &str) -> std::path::PathBuf {
    let p = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&p);
    std::fs::create_dir_all(&p).expect("create a scratch directory");
    p
}
