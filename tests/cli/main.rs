//! The firedrill executable as a user runs it, where no VM is needed: `validate`, the level
//! commands without a play, and the safety rules (names never become paths, one writer per lab),
//! against libvirt's test driver. Every test runs the executable through `firedrill()`.

mod anywhere;
mod levels;
mod safety;
mod vagrant;
mod validate;

use std::path::Path;
use std::process::{Command, Output};

/// The one way these tests run firedrill: from the repository (so `labs/` resolves), with
/// `home` as FIREDRILL_HOME (see `command`).
pub fn firedrill(home: &Path, args: &[&str]) -> Output {
    command(home).args(args).output().expect("run firedrill")
}

/// firedrill as `firedrill()` runs it, for a test that changes the directory or the
/// environment: from the repository, with `home` as FIREDRILL_HOME, the image cache inside it,
/// only the shipped levels (no FIREDRILL_LEVELS or FIREDRILL_EXERCISES from the caller),
/// libvirt's test driver (no daemon, no VM) and TCG.
pub fn command(home: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_firedrill"));
    cmd.current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("FIREDRILL_HOME", home)
        .env_remove("FIREDRILL_IMAGES")
        .env_remove("FIREDRILL_LEVELS")
        .env_remove("FIREDRILL_EXERCISES")
        .env("LIBVIRT_DEFAULT_URI", "test:///default")
        .env("FIREDRILL_ACCEL", "tcg");
    cmd
}

/// A fresh, empty directory for one test.
pub fn scratch(name: &str) -> std::path::PathBuf {
    let p = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&p);
    std::fs::create_dir_all(&p).expect("create a scratch directory");
    p
}
