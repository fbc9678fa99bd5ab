//! Fault records on the host: `<lab dir>/faults/<id>.json`, one per fault, each written
//! atomically (temp file + rename), so a crash leaves the old record or the new one.
//!
//! The record is what makes revert possible without the node's help: it is written before the
//! node changes and holds, once known, everything needed to undo the change.

use super::{Fault, FaultError};
use crate::paths::LabDir;
use serde::{Deserialize, Serialize};
use std::fs::OpenOptions;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum FaultState {
    /// Written before anything changed; the inject is running or was interrupted.
    Injecting,
    Active,
    Reverted,
    /// The inject failed; `error` says how and whether the rollback worked.
    Failed,
}

impl std::fmt::Display for FaultState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            FaultState::Injecting => "injecting",
            FaultState::Active => "active",
            FaultState::Reverted => "reverted",
            FaultState::Failed => "failed",
        })
    }
}

/// The revert timer written on the node by `--for`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct AutoRevert {
    pub(crate) after_s: u64,
    /// The systemd timer/service name on the node, without suffix.
    pub(crate) unit: String,
    /// When it fires, by this host's clock (RFC 3339 and Unix seconds).
    pub(crate) due: String,
    pub(crate) due_unix: i64,
    /// Written as unit files that start at the next boot (the fault resets the node), rather
    /// than as a transient timer.
    pub(crate) across_reboot: bool,
    /// A sleeping process on this host rather than a timer on the node (the fault acts on the
    /// host side), and its PID.
    #[serde(default)]
    pub(crate) on_host: bool,
    #[serde(default)]
    pub(crate) pid: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct FaultRecord {
    pub(crate) id: String,
    pub(crate) node: String,
    pub(crate) state: FaultState,
    pub(crate) created: String,
    pub(crate) updated: String,
    /// The node's previous state has been read and is in `fault`. Until then nothing on the
    /// node has changed, so reverting such a record only marks it reverted.
    #[serde(default)]
    pub(crate) prepared: bool,
    #[serde(default)]
    pub(crate) auto_revert: Option<AutoRevert>,
    /// For `failed`: what went wrong. For a revert that failed: its error, until one succeeds.
    #[serde(default)]
    pub(crate) error: Option<String>,
    /// For `failed`: the rollback undid everything, so nothing is left on the node.
    #[serde(default)]
    pub(crate) rolled_back: bool,
    /// What the last revert did, one line per change.
    #[serde(default)]
    pub(crate) reverted: Vec<String>,
    /// Applied by a level in play: until it is reverted, the event log and `fault status` do
    /// not say what it is or where, so the client's live view cannot give the cause away.
    #[serde(default)]
    pub(crate) hidden: bool,
    pub(crate) fault: Fault,
}

impl FaultRecord {
    pub(crate) fn new(node: &str, fault: Fault) -> FaultRecord {
        let now = super::text::rfc3339_now();
        FaultRecord {
            id: String::new(),
            node: node.to_string(),
            state: FaultState::Injecting,
            created: now.clone(),
            updated: now,
            prepared: false,
            auto_revert: None,
            error: None,
            rolled_back: false,
            reverted: Vec::new(),
            hidden: false,
            fault,
        }
    }

    /// Whether what it is and where must not be shown (a level's fault, not yet reverted).
    pub(crate) fn secret(&self) -> bool {
        self.hidden && self.needs_revert()
    }

    pub(crate) fn kind(&mut self) -> &'static str {
        self.fault.ops().kind()
    }

    /// Whether something of this fault may still be on the node.
    pub(crate) fn needs_revert(&self) -> bool {
        match self.state {
            FaultState::Injecting | FaultState::Active => true,
            FaultState::Failed => !self.rolled_back,
            FaultState::Reverted => false,
        }
    }

    fn number(&self) -> u64 {
        id_number(&self.id).unwrap_or(u64::MAX)
    }
}

fn id_number(id: &str) -> Option<u64> {
    let digits = id.strip_prefix('f')?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// A record that cannot be used: unreadable, or its contents could build a wrong path or
/// command (an id that is not its file's, a node name that is not a node name).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Damaged {
    pub(crate) id: String,
    pub(crate) path: PathBuf,
    pub(crate) problem: String,
}

/// Every record of a lab: the good ones, oldest first, and the damaged ones, which never
/// block the others.
#[derive(Debug, Default)]
pub(crate) struct Scan {
    pub(crate) records: Vec<FaultRecord>,
    pub(crate) damaged: Vec<Damaged>,
}

/// Whether `id` is a fault id (`f1`, `f2`, ...): the only ids ever joined onto a path.
pub(crate) fn is_id(id: &str) -> bool {
    id_number(id).is_some() && id.len() <= 21 && !id[1..].starts_with('0')
}

/// The records of one lab.
#[derive(Debug, Clone)]
pub(crate) struct Store {
    dir: PathBuf,
}

impl Store {
    pub(crate) fn new(lab: &LabDir) -> Store {
        Store {
            dir: lab.faults_dir(),
        }
    }

    fn path(&self, id: &str) -> PathBuf {
        self.dir.join(format!("{id}.json"))
    }

    fn write_err(path: &Path) -> impl FnOnce(std::io::Error) -> FaultError + '_ {
        move |source| FaultError::RecordWrite {
            path: path.to_path_buf(),
            source,
        }
    }

    /// Gives `record` the next free id (`f1`, `f2`, ...) and writes it. The id is taken with
    /// an exclusive create, so two commands at once cannot take the same one.
    pub(crate) fn create(&self, record: &mut FaultRecord) -> Result<(), FaultError> {
        std::fs::create_dir_all(&self.dir).map_err(Self::write_err(&self.dir))?;
        let mut n = self
            .ids()?
            .iter()
            .filter_map(|i| id_number(i))
            .max()
            .unwrap_or(0)
            + 1;
        loop {
            let id = format!("f{n}");
            let path = self.path(&id);
            // An empty file reserves the id; `save` replaces it atomically. A crash in
            // between leaves an empty file, which `all` skips: nothing changed on the node yet.
            match OpenOptions::new().write(true).create_new(true).open(&path) {
                Ok(_) => {
                    record.id = id;
                    return self.save(record);
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => n += 1,
                Err(e) => return Err(Self::write_err(&path)(e)),
            }
        }
    }

    pub(crate) fn save(&self, record: &FaultRecord) -> Result<(), FaultError> {
        let path = self.path(&record.id);
        let mut record = record.clone();
        record.updated = super::text::rfc3339_now();
        let json = serde_json::to_vec_pretty(&record).map_err(|e| FaultError::RecordWrite {
            path: path.clone(),
            source: std::io::Error::other(e),
        })?;
        crate::fsutil::write_atomic(&path, &json, 0o644).map_err(Self::write_err(&path))
    }

    /// Removes a record whose fault never touched the node (it did not fit, or the node could
    /// not be reached), so that bad input leaves nothing behind.
    pub(crate) fn discard(&self, id: &str) -> Result<(), FaultError> {
        let path = self.path(id);
        match std::fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Self::write_err(&path)(e)),
        }
    }

    fn ids(&self) -> Result<Vec<String>, FaultError> {
        let entries = match std::fs::read_dir(&self.dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(vec![]),
            Err(source) => {
                return Err(FaultError::RecordRead {
                    path: self.dir.clone(),
                    source,
                });
            }
        };
        Ok(entries
            .filter_map(Result::ok)
            .filter_map(|e| e.file_name().into_string().ok())
            .filter_map(|n| n.strip_suffix(".json").map(str::to_string))
            .filter(|id| id_number(id).is_some())
            .collect())
    }

    /// The record `id`, or `None` if there is none (or only its empty reservation). An id that
    /// is not a fault id is refused before any path is built from it.
    pub(crate) fn load(&self, id: &str) -> Result<Option<FaultRecord>, FaultError> {
        if !is_id(id) {
            return Err(FaultError::BadId { id: id.to_string() });
        }
        let path = self.path(id);
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => return Err(FaultError::RecordRead { path, source }),
        };
        if bytes.is_empty() {
            return Ok(None);
        }
        let rec: FaultRecord =
            serde_json::from_slice(&bytes).map_err(|source| FaultError::RecordParse {
                path: path.clone(),
                source,
            })?;
        let problem = if rec.id != id {
            Some(format!("it says it is fault `{}`", rec.id))
        } else if !crate::paths::is_label(&rec.node, 63) {
            Some(format!("node name `{}` is not valid", rec.node))
        } else {
            None
        };
        match problem {
            Some(problem) => Err(FaultError::RecordDamaged { path, problem }),
            None => Ok(Some(rec)),
        }
    }

    /// Every record: good ones oldest first, and the damaged ones beside them.
    pub(crate) fn scan(&self) -> Result<Scan, FaultError> {
        let mut scan = Scan::default();
        for id in self.ids()? {
            match self.load(&id) {
                Ok(Some(r)) => scan.records.push(r),
                Ok(None) => {}
                Err(e @ (FaultError::RecordParse { .. } | FaultError::RecordDamaged { .. })) => {
                    scan.damaged.push(Damaged {
                        path: self.path(&id),
                        id,
                        problem: e.to_string().lines().next().unwrap_or_default().to_string(),
                    });
                }
                Err(e) => return Err(e),
            }
        }
        scan.records.sort_by_key(FaultRecord::number);
        scan.damaged.sort_by_key(|d| id_number(&d.id));
        Ok(scan)
    }

    /// Every good record, oldest first (damaged ones: `scan`).
    pub(crate) fn all(&self) -> Result<Vec<FaultRecord>, FaultError> {
        Ok(self.scan()?.records)
    }

    /// Sets record `id` aside (`ID.forgotten-TIME.json`, kept for the user to read): it is no
    /// longer reverted, checked or counted as active.
    pub(crate) fn forget(&self, id: &str) -> Result<PathBuf, FaultError> {
        if !is_id(id) {
            return Err(FaultError::BadId { id: id.to_string() });
        }
        let from = self.path(id);
        let to = self.dir.join(format!(
            "{id}.forgotten-{}.json",
            chrono::Utc::now().format("%Y%m%dT%H%M%SZ")
        ));
        std::fs::rename(&from, &to).map_err(Self::write_err(&from))?;
        Ok(to)
    }
}

#[cfg(test)]
#[path = "record_tests.rs"]
mod tests;
