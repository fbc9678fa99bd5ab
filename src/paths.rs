//! Every on-disk name in one place.

use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The longest lab name: libvirt object names are built from it (`fd-NAME-NODE`).
pub(crate) const LAB_NAME_MAX: usize = 20;

/// The rule a lab name follows, for messages.
pub(crate) const LAB_NAME_RULE: &str =
    "lowercase letters, digits and '-' (at most 20), starting and ending with a letter or digit";

/// A lab's name, checked: lowercase letters, digits and '-', at most 20, starting and ending
/// with a letter or digit. `Home::lab` takes only this type, so no name from the command line, a
/// state file, a fault record or a level can become a path (`..`, `/etc`, `''`) unchecked.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub(crate) struct LabName(String);

/// A name that is not a valid lab name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a lab name: use {LAB_NAME_RULE}")]
pub(crate) struct BadLabName(pub(crate) String);

impl LabName {
    pub(crate) fn parse(name: &str) -> Result<LabName, BadLabName> {
        if is_label(name, LAB_NAME_MAX) {
            Ok(LabName(name.to_string()))
        } else {
            Err(BadLabName(name.to_string()))
        }
    }

    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for LabName {
    type Error = BadLabName;
    fn try_from(s: String) -> Result<LabName, BadLabName> {
        LabName::parse(&s)
    }
}

/// Test fixtures name labs with literals; a bad literal is a bug in the test.
#[cfg(test)]
impl From<&str> for LabName {
    fn from(s: &str) -> LabName {
        LabName::parse(s).expect("a valid lab name in a test")
    }
}

impl From<LabName> for String {
    fn from(n: LabName) -> String {
        n.0
    }
}

impl std::ops::Deref for LabName {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for LabName {
    /// `pad` honours width and alignment, so `{lab:<22}` lines up columns (`firedrill list`).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(&self.0)
    }
}

impl PartialEq<str> for LabName {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

impl PartialEq<&str> for LabName {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

/// A DNS label as RFC 1123 hostnames use it, lowercase only so names are written one way. Lab,
/// node and network names follow it, and only such names are ever joined onto a path.
pub(crate) fn is_label(s: &str, max: usize) -> bool {
    !s.is_empty()
        && s.len() <= max
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

/// A relative path written with '/' whose segments are none of empty, `.`, `..` or hidden
/// (starting with '.', as firedrill's own markers do): joined onto a directory, it stays inside
/// it and cannot pose as a marker. Names that come with firedrill (its built-in files) follow it.
pub(crate) fn is_plain_relative(s: &str) -> bool {
    !s.is_empty()
        && s.split('/')
            .all(|seg| !seg.is_empty() && !seg.starts_with('.') && !seg.contains('\0'))
}

/// The state directory: `FIREDRILL_HOME`, else `~/.local/share/firedrill`.
#[derive(Debug, Clone)]
pub(crate) struct Home {
    root: PathBuf,
    images: PathBuf,
}

impl Home {
    pub(crate) fn from_env() -> Home {
        let root = match std::env::var_os("FIREDRILL_HOME") {
            Some(p) if !p.is_empty() => PathBuf::from(p),
            _ => {
                let home = std::env::var_os("HOME")
                    .map(PathBuf::from)
                    .unwrap_or_else(|| PathBuf::from("/root"));
                home.join(".local/share/firedrill")
            }
        };
        // The image cache may live elsewhere (a CI machine keeps it at a fixed path across
        // runs while each run gets a fresh FIREDRILL_HOME).
        let images = match std::env::var_os("FIREDRILL_IMAGES") {
            Some(p) if !p.is_empty() => PathBuf::from(p),
            _ => root.join("images"),
        };
        Home { root, images }
    }

    #[cfg(test)]
    pub(crate) fn at(root: impl Into<PathBuf>) -> Home {
        let root = root.into();
        let images = root.join("images");
        Home { root, images }
    }

    pub(crate) fn root(&self) -> &Path {
        &self.root
    }

    /// This home's mark on the libvirt objects it makes: the first 12 hex digits of the SHA-256
    /// of its canonical path, so CI runs and two users of one libvirtd stay apart.
    pub(crate) fn installation(&self) -> String {
        installation_of(&self.root)
    }

    /// Cached golden images: `FIREDRILL_IMAGES` if set, else `images/` under the home.
    pub(crate) fn images(&self) -> PathBuf {
        self.images.clone()
    }

    pub(crate) fn labs(&self) -> PathBuf {
        self.root.join("labs")
    }

    /// The labs, levels and exercises built into firedrill, written out as files: one
    /// directory per content (see `builtin`). Not `labs/`, where each lab keeps its state.
    pub(crate) fn builtin_labs(&self) -> PathBuf {
        self.root.join("share/labs")
    }

    /// The level being played (`current.json`) and one directory per play.
    pub(crate) fn play_dir(&self) -> PathBuf {
        self.root.join("play")
    }

    /// Every play's outcome and score, one JSON object per line.
    pub(crate) fn scores_file(&self) -> PathBuf {
        self.root.join("scores.jsonl")
    }

    /// The lab's directory. Only a checked name builds it.
    pub(crate) fn lab(&self, name: &LabName) -> LabDir {
        LabDir {
            dir: self.labs().join(name.as_str()),
            name: name.clone(),
        }
    }
}

fn installation_of(root: &Path) -> String {
    use sha2::Digest;
    let root = std::fs::canonicalize(root).unwrap_or_else(|_| root.to_path_buf());
    let digest = sha2::Sha256::digest(root.as_os_str().as_encoded_bytes());
    hex::encode(&digest[..6])
}

/// `labs/NAME/`: everything one lab owns on disk.
#[derive(Debug, Clone)]
pub(crate) struct LabDir {
    dir: PathBuf,
    name: LabName,
}

impl LabDir {
    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }
    /// The lab's name (the directory's).
    pub(crate) fn name(&self) -> &LabName {
        &self.name
    }
    /// The mark of the home this lab lives in (see `Home::installation`).
    pub(crate) fn installation(&self) -> String {
        let root = self
            .dir
            .parent()
            .and_then(Path::parent)
            .unwrap_or(Path::new("/"));
        installation_of(root)
    }
    /// The advisory lock every command that changes the lab holds (see `lab::lock`).
    pub(crate) fn lock_file(&self) -> PathBuf {
        self.dir.join("lock")
    }
    pub(crate) fn state_file(&self) -> PathBuf {
        self.dir.join("state.json")
    }
    pub(crate) fn secrets_file(&self) -> PathBuf {
        self.dir.join("secrets.json")
    }
    pub(crate) fn events_file(&self) -> PathBuf {
        self.dir.join("events.jsonl")
    }
    /// Locked (shared) by every mock client while it loads the lab (see `lab::loading`).
    pub(crate) fn clients_file(&self) -> PathBuf {
        self.dir.join("clients")
    }
    /// Fault records, one JSON file per fault (see `faults::record`).
    pub(crate) fn faults_dir(&self) -> PathBuf {
        self.dir.join("faults")
    }
    /// The lab user's SSH private key (0600); the public key is beside it with `.pub`.
    pub(crate) fn ssh_key(&self) -> PathBuf {
        self.dir.join("id_ed25519")
    }
    pub(crate) fn known_hosts(&self) -> PathBuf {
        self.dir.join("known_hosts")
    }
    pub(crate) fn ssh_config(&self) -> PathBuf {
        self.dir.join("ssh_config")
    }
    pub(crate) fn node_dir(&self, node: &str) -> PathBuf {
        self.dir.join("nodes").join(node)
    }
    pub(crate) fn disk(&self, node: &str) -> PathBuf {
        self.node_dir(node).join("disk.qcow2")
    }
    pub(crate) fn seed(&self, node: &str) -> PathBuf {
        self.node_dir(node).join("seed.iso")
    }
    pub(crate) fn console_log(&self, node: &str) -> PathBuf {
        self.node_dir(node).join("console.log")
    }
    pub(crate) fn host_key(&self, node: &str) -> PathBuf {
        self.node_dir(node).join("ssh_host_ed25519_key")
    }
}
