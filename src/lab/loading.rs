//! Whether a mock client is loading a lab. Each `firedrill client` that targets a lab holds a
//! shared lock on `labs/NAME/clients` for its whole run (the kernel drops it when the process
//! ends, however it ends). `up` asks for that lock exclusively without waiting: a refusal means
//! a client runs, and `up` then checks its running nodes a few at a time, so that the nodes
//! that serve keep the host's CPU (`node::checks_at_once`).

use crate::paths::LabDir;
use std::fs::{File, OpenOptions, TryLockError};
use std::os::unix::fs::OpenOptionsExt;

/// Held by a client while it loads the lab; dropping it (or the process ending) lets go.
#[derive(Debug)]
pub(crate) struct Loading {
    _file: File,
}

/// The marker file, never through a symlink (firedrill made the lab's directory and the file).
fn open(dir: &LabDir, create: bool) -> std::io::Result<File> {
    if !std::fs::symlink_metadata(dir.dir())?.is_dir() {
        return Err(std::io::Error::other(format!(
            "{} is not a directory",
            dir.dir().display()
        )));
    }
    OpenOptions::new()
        .read(true)
        .write(create)
        .create(create)
        .truncate(false)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW)
        .open(dir.clients_file())
}

/// Marks the lab as loaded by this process until the result is dropped.
pub(crate) fn mark(dir: &LabDir) -> std::io::Result<Loading> {
    let file = open(dir, true)?;
    file.lock_shared()?;
    Ok(Loading { _file: file })
}

/// Whether a client (in any process) is loading the lab now.
pub(crate) fn loaded(dir: &LabDir) -> bool {
    let Ok(file) = open(dir, false) else {
        return false;
    };
    matches!(file.try_lock(), Err(TryLockError::WouldBlock))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::paths::{Home, LabName};

    /// A child another test forks holds copies of this process's descriptors (and so of their
    /// locks) until it execs: these tests take turns, and a mark let go is waited for a moment.
    static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

    fn soon_not_loaded(dir: &LabDir) -> bool {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
        while loaded(dir) {
            if std::time::Instant::now() > deadline {
                return false;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        true
    }

    fn lab_dir(root: &std::path::Path) -> LabDir {
        let dir = Home::at(root).lab(&LabName::parse("t").unwrap());
        std::fs::create_dir_all(dir.dir()).unwrap();
        dir
    }

    #[test]
    fn a_lab_is_loaded_while_a_client_holds_its_mark_and_not_after() {
        let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
        let root = tempfile::tempdir().unwrap();
        let dir = lab_dir(root.path());
        assert!(!loaded(&dir), "no client has run: no marker file");
        let one = mark(&dir).unwrap();
        let two = mark(&dir).unwrap();
        assert!(loaded(&dir));
        drop(one);
        assert!(loaded(&dir), "the second client still runs");
        drop(two);
        assert!(soon_not_loaded(&dir));
        // Asking does not take the mark away from a client that starts later.
        let three = mark(&dir).unwrap();
        assert!(loaded(&dir) && loaded(&dir));
        drop(three);
    }

    #[test]
    fn a_client_in_another_process_counts_until_it_ends() {
        let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
        let root = tempfile::tempdir().unwrap();
        let dir = lab_dir(root.path());
        let path = dir.clients_file();
        std::fs::write(&path, "").unwrap();
        let mut child = std::process::Command::new("flock")
            .args(["--shared", "--no-fork"])
            .arg(&path)
            .args(["sleep", "30"])
            .spawn()
            .expect("flock(1) runs");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while !loaded(&dir) && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        assert!(loaded(&dir), "the other process's shared lock is seen");
        child.kill().unwrap();
        child.wait().unwrap();
        assert!(
            soon_not_loaded(&dir),
            "the kernel dropped it with the process"
        );
    }

    #[test]
    fn a_symlink_in_the_markers_place_is_neither_followed_nor_created_through() {
        let root = tempfile::tempdir().unwrap();
        let dir = lab_dir(root.path());
        let elsewhere = root.path().join("elsewhere");
        std::os::unix::fs::symlink(&elsewhere, dir.clients_file()).unwrap();
        assert!(mark(&dir).is_err());
        assert!(!elsewhere.exists());
        assert!(!loaded(&dir));
    }
}
