//! Writing files so that a crash never leaves a torn one: a temp file beside the target, then a
//! rename. Every module that persists something (state, keys, secrets, images) uses this. And
//! reading a file given by the user with a bound, so `/dev/zero` cannot fill the memory.

use std::fs::{self, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Writes `data` to `path` with `mode`, creating the parent directory if needed. Readers see the
/// old file or the new one, never half of one.
pub(crate) fn write_atomic(path: &Path, data: &[u8], mode: u32) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    fs::create_dir_all(dir)?;
    let name = path
        .file_name()
        .map_or_else(|| "file".into(), |n| n.to_string_lossy().into_owned());
    let tmp = dir.join(format!(
        ".{name}.tmp-{}-{:08x}",
        std::process::id(),
        rand::random::<u32>()
    ));
    let result = (|| {
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&tmp)?;
        // The umask may have cleared bits of `mode` (0644 under umask 077).
        file.set_permissions(fs::Permissions::from_mode(mode))?;
        file.write_all(data)?;
        file.sync_all()?;
        fs::rename(&tmp, path)?;
        fs::File::open(dir)?.sync_all()
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// The most firedrill reads of a lab or level file. Real ones are a few KiB; 5,000 nodes take
/// about 100 KiB.
pub(crate) const INPUT_LIMIT: u64 = 4 << 20;

/// Why a file given by the user could not be read as text.
#[derive(Debug, thiserror::Error)]
pub(crate) enum InputError {
    #[error("{0}")]
    Io(std::io::Error),
    #[error("it is a directory, not a file")]
    Directory,
    #[error("it is larger than {} MiB, far more than a lab or level file needs", .limit >> 20)]
    TooLarge { limit: u64 },
    #[error("it is not UTF-8 text (byte {at} is not)")]
    NotText { at: usize },
}

/// Reads `path` as UTF-8 text of at most `limit` bytes. A regular file is refused by its size
/// before anything is read; anything else (`/dev/zero`, a pipe) is read through a bound of
/// `limit + 1` bytes, so a file that never ends costs at most that much memory.
pub(crate) fn read_input(path: &Path, limit: u64) -> Result<String, InputError> {
    let file = fs::File::open(path).map_err(InputError::Io)?;
    let meta = file.metadata().map_err(InputError::Io)?;
    if meta.is_dir() {
        return Err(InputError::Directory);
    }
    if meta.is_file() && meta.len() > limit {
        return Err(InputError::TooLarge { limit });
    }
    let mut bytes = Vec::new();
    file.take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(InputError::Io)?;
    if bytes.len() as u64 > limit {
        return Err(InputError::TooLarge { limit });
    }
    String::from_utf8(bytes).map_err(|e| InputError::NotText {
        at: e.utf8_error().valid_up_to(),
    })
}

/// Why `remove_tree_inside` refused to remove a directory.
#[derive(Debug, thiserror::Error)]
pub(crate) enum RemoveError {
    #[error(
        "refusing to remove {path}: it is not a directory strictly inside {root} (firedrill removes only what it created there)"
    )]
    Outside { path: PathBuf, root: PathBuf },
    #[error("cannot remove {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// The one way firedrill removes a directory tree: `dir` must be an existing directory (not a
/// symlink) whose canonical parent is the canonical `root`, so no name, `..`, absolute path or
/// symlink can make it remove anything else. Symlinks inside are removed, never followed.
pub(crate) fn remove_tree_inside(root: &Path, dir: &Path) -> Result<(), RemoveError> {
    let outside = || RemoveError::Outside {
        path: dir.to_path_buf(),
        root: root.to_path_buf(),
    };
    let meta = fs::symlink_metadata(dir).map_err(|source| RemoveError::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    if !meta.is_dir() {
        return Err(outside());
    }
    let (Ok(canon_root), Ok(canon_dir)) = (fs::canonicalize(root), fs::canonicalize(dir)) else {
        return Err(outside());
    };
    if canon_dir.parent() != Some(canon_root.as_path()) || canon_dir == canon_root {
        return Err(outside());
    }
    fs::remove_dir_all(&canon_dir).map_err(|source| RemoveError::Io {
        path: dir.to_path_buf(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn removes_only_a_real_directory_directly_inside_the_root() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("home/labs");
        fs::create_dir_all(root.join("a/nodes")).unwrap();
        fs::write(root.join("a/nodes/f"), b"x").unwrap();
        let outside = tmp.path().join("precious");
        fs::create_dir_all(&outside).unwrap();
        fs::write(outside.join("keep"), b"x").unwrap();
        std::os::unix::fs::symlink(&outside, root.join("link")).unwrap();
        std::os::unix::fs::symlink(&outside, root.join("a/escape")).unwrap();

        for bad in [
            root.join(".."),
            root.join("../.."),
            root.clone(),
            root.join("."),
            outside.clone(),
            root.join("link"),
            root.join("a/nodes"),
            root.join("a/nodes/f"),
        ] {
            let err = remove_tree_inside(&root, &bad).unwrap_err();
            assert!(
                matches!(err, RemoveError::Outside { .. }),
                "{}: {err}",
                bad.display()
            );
        }
        assert!(matches!(
            remove_tree_inside(&root, &root.join("missing")),
            Err(RemoveError::Io { .. })
        ));
        remove_tree_inside(&root, &root.join("a")).unwrap();
        assert!(!root.join("a").exists());
        assert!(
            outside.join("keep").exists(),
            "a symlink inside is not followed"
        );
        assert!(root.exists() && root.join("link").exists());
    }

    #[test]
    fn input_is_read_with_a_bound_and_must_be_text() {
        let tmp = tempfile::tempdir().unwrap();
        let small = tmp.path().join("lab.yaml");
        fs::write(&small, "name: x\n").unwrap();
        assert_eq!(read_input(&small, 8).unwrap(), "name: x\n");
        let msg = |path: &Path, limit| read_input(path, limit).unwrap_err().to_string();
        assert_eq!(
            msg(&small, 7),
            "it is larger than 0 MiB, far more than a lab or level file needs"
        );
        // Endless and not a regular file: refused after reading limit + 1 bytes.
        assert_eq!(
            msg(Path::new("/dev/zero"), INPUT_LIMIT),
            "it is larger than 4 MiB, far more than a lab or level file needs"
        );
        assert_eq!(
            msg(tmp.path(), INPUT_LIMIT),
            "it is a directory, not a file"
        );
        fs::write(&small, b"name: \xff\n").unwrap();
        assert_eq!(
            msg(&small, INPUT_LIMIT),
            "it is not UTF-8 text (byte 6 is not)"
        );
        assert_eq!(
            msg(&tmp.path().join("nope"), INPUT_LIMIT),
            "No such file or directory (os error 2)"
        );
    }

    #[test]
    fn creates_the_directory_sets_the_mode_and_leaves_no_temp_file() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("a/b/secret.json");
        write_atomic(&path, b"one", 0o600).unwrap();
        write_atomic(&path, b"two", 0o600).unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"two");
        assert_eq!(
            fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        let names: Vec<_> = fs::read_dir(path.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("secret.json")]);
    }
}
