//! The labs, levels and exercises shipped inside the binary (`build.rs` embeds every file under
//! `labs/`). A level names its lab by a path relative to itself, so they are used as files:
//! written once to `share/labs/VERSION-HASH/` under the home, a directory firedrill creates and
//! marks as its own. A build with other content gets another directory, so the files of a level
//! being played never change under it.

use crate::paths::Home;
use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

mod table {
    include!(concat!(env!("OUT_DIR"), "/labs.rs"));
}

/// One embedded file: its path relative to `labs/`, and its contents.
pub(crate) type File = (&'static str, &'static [u8]);

/// Every file under `labs/` when this firedrill was built.
pub(crate) const FILES: &[File] = table::FILES;

/// The file that marks a directory as firedrill's copy of the built-in labs.
const MARKER: &str = ".firedrill-builtin";

#[derive(Debug, thiserror::Error)]
pub(crate) enum BuiltinError {
    #[error(
        "built-in file `{0}` does not have a plain relative name\n  hint: this firedrill was built from a broken labs/ directory; rebuild it from a clean checkout"
    )]
    BadName(String),
    #[error(
        "{} exists and was not written by firedrill (it has no {MARKER})\n  hint: move it away; firedrill writes its built-in labs there and never changes what it did not create",
        .0.display()
    )]
    Foreign(PathBuf),
    #[error(
        "{}: `{file}` is not what firedrill wrote there\n  hint: to change a level, copy it to a directory of your own and set FIREDRILL_LEVELS to it; remove {} and firedrill writes it again",
        dir.display(), dir.display()
    )]
    Changed { dir: PathBuf, file: String },
    #[error(
        "cannot write the built-in labs to {}: {source}\n  hint: make FIREDRILL_HOME writable, or run firedrill from its project directory (it reads labs/ there)",
        path.display()
    )]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "no lab file `{name}`, and no built-in lab of that name; built-in labs: {}\n  hint: give the path to a lab file, or one of those names",
        known.join(", ")
    )]
    UnknownLab { name: String, known: Vec<String> },
}

impl BuiltinError {
    pub(crate) fn is_usage(&self) -> bool {
        matches!(self, BuiltinError::UnknownLab { .. })
    }
}

/// The built-in files as a directory, written under `home` the first time.
pub(crate) fn dir(home: &Home) -> Result<PathBuf, BuiltinError> {
    materialise(&home.builtin_labs(), FILES)
}

/// The lab files shipped at the top of `labs/`, by name (`three-tier` for `three-tier.yaml`).
pub(crate) fn lab_names() -> Vec<&'static str> {
    FILES
        .iter()
        .filter_map(|(name, _)| name.strip_suffix(".yaml"))
        .filter(|stem| !stem.contains('/'))
        .collect()
}

/// The lab file `up`/`validate` were given: the path itself when it exists or looks like a path
/// (a directory or `.yaml` in it); a bare name is `labs/NAME.yaml` here, else the built-in lab.
pub(crate) fn lab_file(home: &Home, given: &Path) -> Result<PathBuf, BuiltinError> {
    let Some(name) = given
        .to_str()
        .filter(|n| crate::paths::is_label(n, 64) && fs::symlink_metadata(given).is_err())
    else {
        return Ok(given.to_path_buf());
    };
    let here = Path::new("labs").join(format!("{name}.yaml"));
    if here.is_file() {
        return Ok(here);
    }
    if lab_names().contains(&name) {
        return Ok(dir(home)?.join(format!("{name}.yaml")));
    }
    Err(BuiltinError::UnknownLab {
        name: name.to_string(),
        known: lab_names().iter().map(ToString::to_string).collect(),
    })
}

/// `name` as a path below the directory it is written to (see `paths::is_plain_relative`): no
/// embedded name can reach outside it or pose as the marker.
pub(crate) fn checked_name(name: &str) -> Result<PathBuf, BuiltinError> {
    if crate::paths::is_plain_relative(name) {
        Ok(PathBuf::from(name))
    } else {
        Err(BuiltinError::BadName(name.to_string()))
    }
}

/// The directory name for `files`: this version and the first 16 hex digits of the SHA-256 of
/// every name and content, so a change to any file gives a new directory.
pub(crate) fn dir_name(files: &[File]) -> String {
    use sha2::Digest;
    let mut hash = sha2::Sha256::new();
    for (name, data) in files {
        hash.update((name.len() as u64).to_le_bytes());
        hash.update(name.as_bytes());
        hash.update((data.len() as u64).to_le_bytes());
        hash.update(data);
    }
    let digest = hash.finalize();
    format!(
        "{}-{}",
        env!("CARGO_PKG_VERSION"),
        hex::encode(&digest[..8])
    )
}

/// `files` as a directory below `base`: the existing copy when there is one (checked), else
/// written to a temp directory firedrill creates, marked, and renamed into place without
/// replacing anything, so a reader never sees half of it and two firedrills racing both end up
/// with the one copy.
pub(crate) fn materialise(base: &Path, files: &[File]) -> Result<PathBuf, BuiltinError> {
    let names = files
        .iter()
        .map(|(name, _)| checked_name(name))
        .collect::<Result<Vec<_>, _>>()?;
    let name = dir_name(files);
    let dir = base.join(&name);
    if fs::symlink_metadata(&dir).is_ok() {
        check(&dir, files, &names)?;
        return Ok(dir);
    }
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| BuiltinError::Io { path, source }
    };
    fs::create_dir_all(base).map_err(io(base))?;
    let tmp = base.join(format!(
        ".{name}.tmp-{}-{:08x}",
        std::process::id(),
        rand::random::<u32>()
    ));
    fs::create_dir(&tmp).map_err(io(&tmp))?;
    let written = write_tree(&tmp, files, &names, &name).map_err(io(&tmp));
    let placed = written.and_then(|()| rename_noreplace(&tmp, &dir).map_err(io(&dir)));
    match placed {
        Ok(()) => Ok(dir),
        Err(e) => {
            // Only the temp directory this call created is removed.
            let _ = crate::fsutil::remove_tree_inside(base, &tmp);
            if fs::symlink_metadata(&dir).is_ok() {
                // Another firedrill placed its copy first.
                check(&dir, files, &names)?;
                return Ok(dir);
            }
            Err(e)
        }
    }
}

/// Writes every file (new files only, read-only for others) and then the marker into `tmp`.
fn write_tree(tmp: &Path, files: &[File], names: &[PathBuf], id: &str) -> std::io::Result<()> {
    let write_new = |path: &Path, data: &[u8]| -> std::io::Result<()> {
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o644)
            .open(path)?;
        f.write_all(data)?;
        f.sync_all()
    };
    for ((_, data), name) in files.iter().zip(names) {
        let path = tmp.join(name);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent)?;
        }
        write_new(&path, data)?;
    }
    write_new(
        &tmp.join(MARKER),
        format!(
            "firedrill's built-in labs, levels and exercises ({id}); firedrill wrote this directory and never changes it\n"
        )
        .as_bytes(),
    )
}

/// An existing copy is used only if firedrill made it (a real directory with the marker) and
/// every file is still what is embedded.
fn check(dir: &Path, files: &[File], names: &[PathBuf]) -> Result<(), BuiltinError> {
    let is_dir = fs::symlink_metadata(dir).is_ok_and(|m| m.is_dir());
    let marked = fs::symlink_metadata(dir.join(MARKER)).is_ok_and(|m| m.is_file());
    if !is_dir || !marked {
        return Err(BuiltinError::Foreign(dir.to_path_buf()));
    }
    for ((shown, data), name) in files.iter().zip(names) {
        let path = dir.join(name);
        let same = fs::symlink_metadata(&path)
            .is_ok_and(|m| m.is_file() && m.len() == data.len() as u64)
            && fs::read(&path).is_ok_and(|d| d == *data);
        if !same {
            return Err(BuiltinError::Changed {
                dir: dir.to_path_buf(),
                file: shown.to_string(),
            });
        }
    }
    Ok(())
}

/// `rename` that fails with `AlreadyExists` instead of replacing `to` (plain `rename` replaces
/// an empty directory). Filesystems without `RENAME_NOREPLACE` get a check, then `rename`.
fn rename_noreplace(from: &Path, to: &Path) -> std::io::Result<()> {
    use std::os::unix::ffi::OsStrExt;
    let c = |p: &Path| {
        std::ffi::CString::new(p.as_os_str().as_bytes())
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))
    };
    let (cfrom, cto) = (c(from)?, c(to)?);
    // SAFETY: both are valid NUL-terminated strings that outlive the call.
    let rc = unsafe {
        libc::renameat2(
            libc::AT_FDCWD,
            cfrom.as_ptr(),
            libc::AT_FDCWD,
            cto.as_ptr(),
            libc::RENAME_NOREPLACE,
        )
    };
    if rc == 0 {
        return Ok(());
    }
    let err = std::io::Error::last_os_error();
    match err.raw_os_error() {
        Some(libc::EINVAL) | Some(libc::ENOSYS) => {
            if fs::symlink_metadata(to).is_ok() {
                return Err(std::io::ErrorKind::AlreadyExists.into());
            }
            fs::rename(from, to)
        }
        _ => Err(err),
    }
}

#[cfg(test)]
#[path = "builtin_tests.rs"]
mod tests;
