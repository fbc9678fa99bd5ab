//! Every on-disk name in one place.

use std::path::{Path, PathBuf};

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

    /// The same home with the image cache somewhere else (what `FIREDRILL_IMAGES` does).
    #[allow(dead_code)] // for tests that share one image cache between homes
    pub(crate) fn with_images(self, images: impl Into<PathBuf>) -> Home {
        Home {
            images: images.into(),
            ..self
        }
    }

    pub(crate) fn root(&self) -> &Path {
        &self.root
    }

    /// Cached golden images: `FIREDRILL_IMAGES` if set, else `images/` under the home.
    pub(crate) fn images(&self) -> PathBuf {
        self.images.clone()
    }

    pub(crate) fn labs(&self) -> PathBuf {
        self.root.join("labs")
    }

    /// The level being played (`current.json`) and one directory per play.
    pub(crate) fn play_dir(&self) -> PathBuf {
        self.root.join("play")
    }

    /// Every play's outcome and score, one JSON object per line.
    pub(crate) fn scores_file(&self) -> PathBuf {
        self.root.join("scores.jsonl")
    }

    pub(crate) fn lab(&self, name: &str) -> LabDir {
        LabDir {
            dir: self.labs().join(name),
        }
    }
}

/// `labs/NAME/`: everything one lab owns on disk.
#[derive(Debug, Clone)]
pub(crate) struct LabDir {
    dir: PathBuf,
}

impl LabDir {
    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }
    /// The lab's name (the directory's).
    pub(crate) fn name(&self) -> String {
        self.dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
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
