//! One writer per lab: every command that changes a lab holds an advisory lock (`flock`) on
//! `labs/NAME/lock`. The kernel releases it when the process dies, so a crash never leaves a
//! lab locked. A second writer fails at once and is told who holds it. Read-only commands
//! (`status`, `list`, `fault status`, `validate`) never take it.
//!
//! Within one process the lock is re-entrant: `play` holds it and calls `up` and the faults
//! in-process, which take it again.

use crate::paths::LabDir;
use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::os::unix::io::AsRawFd;
use std::path::PathBuf;
use std::sync::Mutex;

#[derive(Debug, thiserror::Error)]
pub(crate) enum LockError {
    #[error(
        "lab {lab} is busy: {holder}\n  hint: wait for it, or if that process is gone, run the command again"
    )]
    Busy { lab: String, holder: String },
    #[error(
        "{path} is not a directory (a symlink?): firedrill did not make it and will neither write through it nor remove it\n  hint: look at it and move it away by hand", path = .path.display()
    )]
    NotADirectory { path: PathBuf },
    #[error("cannot lock lab {lab} ({path}): {source}\n  hint: check that the lab directory is writable", path = .path.display())]
    Io {
        lab: String,
        path: PathBuf,
        source: std::io::Error,
    },
}

/// The open lock file (closing it releases the flock) and how many guards share it.
type Held = HashMap<PathBuf, (File, usize)>;

/// Locks held by this process, by lock file.
static HELD: Mutex<Option<Held>> = Mutex::new(None);

/// Held while a command changes the lab; dropping the last guard of this process releases it.
#[derive(Debug)]
pub(crate) struct LabLock {
    path: PathBuf,
}

impl LabLock {
    /// Takes the lab's lock for `command` (e.g. "`firedrill up`"), creating the lab directory
    /// (0700: it holds keys and passwords) if needed (only `up` creates a lab). Never waits.
    pub(crate) fn create(dir: &LabDir, command: &str) -> Result<LabLock, LockError> {
        Self::take(dir, command, true)
    }

    /// Takes the lock of a lab whose directory exists; `None` when it has none (a lab removed
    /// with `down --force` while a level was played can still be ended).
    pub(crate) fn acquire(dir: &LabDir, command: &str) -> Result<Option<LabLock>, LockError> {
        if std::fs::symlink_metadata(dir.dir()).is_err() {
            return Ok(None);
        }
        Self::take(dir, command, false).map(Some)
    }

    fn take(dir: &LabDir, command: &str, create: bool) -> Result<LabLock, LockError> {
        let lab = dir.name().to_string();
        let path = dir.lock_file();
        let io = |source| LockError::Io {
            lab: lab.clone(),
            path: path.clone(),
            source,
        };
        let mut held = HELD.lock().unwrap_or_else(|p| p.into_inner());
        let held = held.get_or_insert_with(HashMap::new);
        if let Some((_, count)) = held.get_mut(&path) {
            *count += 1;
            return Ok(LabLock { path });
        }
        // The lab's directory must be a real one: a symlink there was not made by firedrill, and
        // following it would write (and later remove) somewhere else.
        match std::fs::symlink_metadata(dir.dir()) {
            Ok(m) if !m.is_dir() => {
                return Err(LockError::NotADirectory {
                    path: dir.dir().to_path_buf(),
                });
            }
            Ok(_) => {}
            Err(e) if create && e.kind() == std::io::ErrorKind::NotFound => {
                std::fs::DirBuilder::new()
                    .recursive(true)
                    .mode(0o700)
                    .create(dir.dir())
                    .map_err(io)?
            }
            Err(e) => return Err(io(e)),
        }
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(&path)
            .map_err(io)?;
        // A child forked by another thread of this process holds a copy of a lock file we just
        // closed until it execs (a few ms): try again for a moment before calling the lab busy.
        let mut tries = 0;
        let rc = loop {
            // SAFETY: flock on a file descriptor we own; it has no memory-safety preconditions.
            let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
            let busy = std::io::Error::last_os_error().raw_os_error() == Some(libc::EWOULDBLOCK);
            if rc == 0 || !busy || tries == 10 {
                break rc;
            }
            tries += 1;
            std::thread::sleep(std::time::Duration::from_millis(50));
        };
        if rc != 0 {
            let err = std::io::Error::last_os_error();
            if err.raw_os_error() == Some(libc::EWOULDBLOCK) {
                let mut text = String::new();
                let _ = file.read_to_string(&mut text);
                return Err(LockError::Busy {
                    lab,
                    holder: holder_text(&text),
                });
            }
            return Err(io(err));
        }
        let stamp = format!(
            "{command}\n{}\n{}\n",
            std::process::id(),
            chrono::Local::now().format("%H:%M:%S")
        );
        file.set_len(0).map_err(io)?;
        file.rewind().map_err(io)?;
        file.write_all(stamp.as_bytes()).map_err(io)?;
        held.insert(path.clone(), (file, 1));
        Ok(LabLock { path })
    }
}

impl Drop for LabLock {
    fn drop(&mut self) {
        let mut held = HELD.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(map) = held.as_mut()
            && let Some((_, count)) = map.get_mut(&self.path)
        {
            *count -= 1;
            if *count == 0 {
                // Closing the file releases the flock.
                map.remove(&self.path);
            }
        }
    }
}

/// "`firedrill up` (pid 4242) since 10:31:07", from what the holder wrote into the lock file.
fn holder_text(text: &str) -> String {
    let mut lines = text.lines();
    match (lines.next(), lines.next(), lines.next()) {
        (Some(cmd), Some(pid), Some(since)) => format!("{cmd} (pid {pid}) since {since}"),
        _ => "another firedrill command holds it".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::paths::Home;

    #[test]
    fn the_holder_is_named_and_the_lock_is_reentrant_in_one_process() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = Home::at(tmp.path()).lab(&"busy".into());
        assert!(
            LabLock::acquire(&dir, "`firedrill down`")
                .unwrap()
                .is_none(),
            "only `up` creates a lab's directory"
        );
        assert!(!dir.dir().exists());
        let first = LabLock::create(&dir, "`firedrill up`").unwrap();
        let again = LabLock::acquire(&dir, "`firedrill fault apply`").unwrap();
        drop(again);
        // Another open file description (as another process has) cannot take it.
        let other = File::open(dir.lock_file()).unwrap();
        // SAFETY: flock on a descriptor we own.
        let rc = unsafe { libc::flock(other.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
        assert_ne!(rc, 0, "the lock is still held by `first`");
        let text = std::fs::read_to_string(dir.lock_file()).unwrap();
        let holder = holder_text(&text);
        assert!(
            holder.starts_with(&format!(
                "`firedrill up` (pid {}) since ",
                std::process::id()
            )),
            "{holder}"
        );
        drop(first);
        // SAFETY: as above.
        let rc = unsafe { libc::flock(other.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
        assert_eq!(rc, 0, "released when the last guard goes");
        let mode = std::os::unix::fs::PermissionsExt::mode(
            &std::fs::metadata(dir.dir()).unwrap().permissions(),
        );
        assert_eq!(mode & 0o777, 0o700);
    }

    #[test]
    fn a_busy_message_says_who_and_what_to_do() {
        let e = LockError::Busy {
            lab: "three-tier".into(),
            holder: holder_text("`firedrill up`\n4242\n10:31:07\n"),
        };
        assert_eq!(
            e.to_string(),
            "lab three-tier is busy: `firedrill up` (pid 4242) since 10:31:07\n  hint: wait for it, or if that process is gone, run the command again"
        );
    }
}
