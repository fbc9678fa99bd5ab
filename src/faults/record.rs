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
    id.strip_prefix('f')?.parse().ok()
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

    /// The record `id`, or `None` if there is none (or only its empty reservation).
    pub(crate) fn load(&self, id: &str) -> Result<Option<FaultRecord>, FaultError> {
        let path = self.path(id);
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => return Err(FaultError::RecordRead { path, source }),
        };
        if bytes.is_empty() {
            return Ok(None);
        }
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|source| FaultError::RecordParse { path, source })
    }

    /// Every record, oldest first.
    pub(crate) fn all(&self) -> Result<Vec<FaultRecord>, FaultError> {
        let mut records = Vec::new();
        for id in self.ids()? {
            if let Some(r) = self.load(&id)? {
                records.push(r);
            }
        }
        records.sort_by_key(FaultRecord::number);
        Ok(records)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::faults::testing::{disk_full_fault, lab_dir};

    #[test]
    fn ids_count_up_and_records_round_trip() {
        let (_tmp, lab) = lab_dir();
        let store = Store::new(&lab);
        assert!(store.all().unwrap().is_empty());
        let mut a = FaultRecord::new("app1", disk_full_fault());
        store.create(&mut a).unwrap();
        let mut b = FaultRecord::new("app2", disk_full_fault());
        store.create(&mut b).unwrap();
        assert_eq!((a.id.as_str(), b.id.as_str()), ("f1", "f2"));
        let mut loaded = store.load("f1").unwrap().unwrap();
        loaded.updated = a.updated.clone();
        assert_eq!(loaded, a);
        let ids: Vec<String> = store.all().unwrap().into_iter().map(|r| r.id).collect();
        assert_eq!(ids, ["f1", "f2"]);
        assert_eq!(store.load("f9").unwrap(), None);
    }

    #[test]
    fn ids_sort_by_number_and_skip_gaps() {
        let (_tmp, lab) = lab_dir();
        let store = Store::new(&lab);
        for _ in 0..10 {
            store
                .create(&mut FaultRecord::new("app1", disk_full_fault()))
                .unwrap();
        }
        store.discard("f10").unwrap();
        store.discard("f3").unwrap();
        let ids: Vec<String> = store.all().unwrap().into_iter().map(|r| r.id).collect();
        assert_eq!(ids, ["f1", "f2", "f4", "f5", "f6", "f7", "f8", "f9"]);
        let mut next = FaultRecord::new("app1", disk_full_fault());
        store.create(&mut next).unwrap();
        assert_eq!(next.id, "f10");
    }

    #[test]
    fn save_is_atomic_and_leaves_no_temp_file() {
        let (_tmp, lab) = lab_dir();
        let store = Store::new(&lab);
        let mut r = FaultRecord::new("app1", disk_full_fault());
        store.create(&mut r).unwrap();
        r.state = FaultState::Active;
        store.save(&r).unwrap();
        let names: Vec<String> = std::fs::read_dir(lab.faults_dir())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(names, ["f1.json"]);
        assert_eq!(store.load("f1").unwrap().unwrap().state, FaultState::Active);
        let text = std::fs::read_to_string(lab.faults_dir().join("f1.json")).unwrap();
        assert!(text.contains("\"state\": \"active\""), "{text}");
        assert!(text.contains("\"kind\": \"disk-full\""), "{text}");
    }

    #[test]
    fn an_empty_reservation_is_skipped_and_a_torn_record_is_reported() {
        let (_tmp, lab) = lab_dir();
        let store = Store::new(&lab);
        std::fs::create_dir_all(lab.faults_dir()).unwrap();
        std::fs::write(lab.faults_dir().join("f1.json"), "").unwrap();
        assert!(store.all().unwrap().is_empty());
        let mut r = FaultRecord::new("app1", disk_full_fault());
        store.create(&mut r).unwrap();
        assert_eq!(r.id, "f2", "an empty reservation still holds its id");
        std::fs::write(lab.faults_dir().join("f3.json"), "{ \"id\": ").unwrap();
        let err = store.all().unwrap_err().to_string();
        assert!(err.starts_with("the fault record "), "{err}");
        assert!(err.contains("f3.json is damaged"), "{err}");
    }

    #[test]
    fn which_states_still_need_a_revert() {
        let mut r = FaultRecord::new("app1", disk_full_fault());
        for (state, rolled_back, needs) in [
            (FaultState::Injecting, false, true),
            (FaultState::Active, false, true),
            (FaultState::Reverted, false, false),
            (FaultState::Failed, true, false),
            (FaultState::Failed, false, true),
        ] {
            r.state = state;
            r.rolled_back = rolled_back;
            assert_eq!(r.needs_revert(), needs, "{state} rolled_back={rolled_back}");
        }
    }
}
