//! The firedrill executable as a user runs it, where no VM is needed: `validate`, the level
//! commands without a play, and the safety rules (names never become paths, one writer per lab),
//! against libvirt's test driver. Every test runs the executable through `firedrill()`.

mod levels;
mod safety;
mod validate;

use std::path::Path;
use std::process::{Command, Output};

/// The one way these tests run firedrill: from the repository (so `labs/` resolves), with
/// `home` as FIREDRILL_HOME, the image cache inside it, libvirt's test driver (no daemon, no
/// VM) and TCG.
pub fn firedrill(home: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_firedrill"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("FIREDRILL_HOME", home)
        .env_remove("FIREDRILL_IMAGES")
        .env("LIBVIRT_DEFAULT_URI", "test:///default")
        .env("FIREDRILL_ACCEL", "tcg")
        .output()
        .expect("run firedrill")
}

/// A fresh, empty directory for one test.
pub fn scratch(name: &str) -> std::path::PathBuf {
    let p = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&p);
    std::fs::create_dir_all(&p).expect("create a scratch directory");
    p
}
