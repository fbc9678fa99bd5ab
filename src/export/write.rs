//! Writing an export: the Vagrantfile and `provision/NODE.sh`, each only over a file that
//! carries firedrill's marker line, and a provision directory only when every file in it is
//! one of firedrill's scripts. Everything is checked before anything is written.

use super::{Export, ExportError, PROVISION_DIR, provision, vagrantfile};
use crate::fsutil::write_atomic;
use std::path::{Path, PathBuf};

/// Whether `path` is a regular file (not a link) whose line `n` (from 0) is `marker`.
fn marked(path: &Path, n: usize, marker: &str) -> bool {
    let regular = std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_file());
    regular
        && std::fs::read(path)
            .is_ok_and(|bytes| String::from_utf8_lossy(&bytes).lines().nth(n) == Some(marker))
}

fn exists(path: &Path) -> bool {
    std::fs::symlink_metadata(path).is_ok()
}

/// The node a provision script is for: `NODE.sh` with NODE a node name.
fn script_node(name: &str) -> Option<&str> {
    name.strip_suffix(".sh")
        .filter(|n| crate::paths::is_label(n, 63))
}

/// Writes `export` into `dir`; returns a line for each file written or removed.
pub(crate) fn write(dir: &Path, export: &Export) -> Result<Vec<String>, ExportError> {
    let not_ours = |path: PathBuf, marker| ExportError::NotOurs { path, marker };
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| ExportError::Io { path, source }
    };
    let vagrantfile = dir.join("Vagrantfile");
    if exists(&vagrantfile) && !marked(&vagrantfile, 0, vagrantfile::MARKER) {
        return Err(not_ours(vagrantfile, vagrantfile::MARKER));
    }
    let scripts = dir.join(PROVISION_DIR);
    // Scripts of nodes no longer in the lab: firedrill's, so removed.
    let mut stale = Vec::new();
    if exists(&scripts) {
        if !std::fs::symlink_metadata(&scripts).is_ok_and(|m| m.is_dir()) {
            return Err(not_ours(scripts, provision::MARKER));
        }
        for entry in std::fs::read_dir(&scripts).map_err(io(&scripts))? {
            let entry = entry.map_err(io(&scripts))?;
            let path = entry.path();
            let name = entry.file_name();
            let node = name.to_str().and_then(script_node);
            if node.is_none() || !marked(&path, 1, provision::MARKER) {
                return Err(not_ours(path, provision::MARKER));
            }
            if !export.scripts.iter().any(|(n, _)| Some(n.as_str()) == node) {
                stale.push(path);
            }
        }
    } else {
        std::fs::create_dir(&scripts).map_err(io(&scripts))?;
    }
    let mut done = Vec::new();
    for (node, text) in &export.scripts {
        if !crate::paths::is_label(node, 63) {
            return Err(not_ours(scripts.join(node), provision::MARKER));
        }
        let path = scripts.join(format!("{node}.sh"));
        write_atomic(&path, text.as_bytes(), 0o755).map_err(io(&path))?;
        done.push(format!("wrote {}", path.display()));
    }
    for path in stale {
        std::fs::remove_file(&path).map_err(io(&path))?;
        done.push(format!(
            "removed {} (its node left the lab)",
            path.display()
        ));
    }
    write_atomic(&vagrantfile, export.vagrantfile.as_bytes(), 0o644).map_err(io(&vagrantfile))?;
    done.push(format!("wrote {}", vagrantfile.display()));
    Ok(done)
}
