//! A lab's state on disk (`labs/NAME/state.json`), written atomically so a crash never leaves a
//! torn file. It is written *before* anything is created, so `down` can find everything a
//! half-finished `up` made, and again when `up` ends.

use crate::hypervisor::xml::Accel;
use crate::paths::{Home, LabDir, LabName};
use crate::plan::{NodePlan, Plan};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum LabPhase {
    /// `up` is running or was interrupted.
    Creating,
    /// The last `up` finished and every node was ready.
    Up,
    /// The last `up` ended with errors.
    Failed,
}

impl std::fmt::Display for LabPhase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            LabPhase::Creating => "creating",
            LabPhase::Up => "up",
            LabPhase::Failed => "failed",
        })
    }
}

/// Seconds each phase of a node took in the last `up` that did it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct Timings {
    /// Disk, seed and the domain's definition.
    pub(crate) prepare_s: Option<f64>,
    /// Of `prepare_s`: looking the domain up in libvirt and defining it.
    pub(crate) define_s: Option<f64>,
    /// libvirt's start of the domain.
    pub(crate) start_s: Option<f64>,
    pub(crate) boot_to_ssh_s: Option<f64>,
    pub(crate) cloud_init_s: Option<f64>,
    pub(crate) total_s: Option<f64>,
}

/// What `up` found out about a node that its plan does not say: its host key, whether it came
/// up, how long that took. Everything else about the node is its `NodePlan` in the state's plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct NodeState {
    pub(crate) name: String,
    /// The node's SSH host key (OpenSSH public line), installed by cloud-init and checked
    /// strictly on every connection.
    pub(crate) host_key: String,
    #[serde(default)]
    pub(crate) ready: bool,
    #[serde(default)]
    pub(crate) timings: Timings,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct LabState {
    pub(crate) name: LabName,
    pub(crate) source: PathBuf,
    pub(crate) uri: String,
    pub(crate) accel: Accel,
    pub(crate) phase: LabPhase,
    pub(crate) user: String,
    /// The plan as last applied by `up`: what the lab is. The next `up` diffs its new plan
    /// against it.
    pub(crate) plan: Plan,
    /// Nodes that left the lab file, as they were planned, until `up` has removed them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) leaving: Vec<NodePlan>,
    /// What `up` observed of each node (of the plan's and the leaving ones).
    #[serde(rename = "nodes")]
    pub(crate) observed: Vec<NodeState>,
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum StateError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "{path} is damaged: {source}\n  hint: run `firedrill down --lab {lab}` to remove the lab, then `firedrill up` again"
    )]
    Parse {
        path: PathBuf,
        lab: String,
        source: serde_json::Error,
    },
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{name}\n  hint: {}", labs_hint(labs))]
    BadName {
        name: crate::paths::BadLabName,
        labs: Vec<String>,
    },
    #[error(
        "{path} is damaged: {problem}\n  hint: firedrill will not use it; run `firedrill down --lab {lab}` to remove the lab, then `firedrill up` again"
    )]
    Damaged {
        path: PathBuf,
        lab: LabName,
        problem: String,
    },
    #[error(
        "lab `{lab}`: its state gives node `{node}` the {role} role but not {what}\n  hint: its state file was changed by hand; run `firedrill up` with the lab file to plan it again, or `firedrill down --lab {lab}` to remove it"
    )]
    Unresolved {
        lab: LabName,
        node: String,
        role: crate::spec::Role,
        what: &'static str,
    },
    #[error(
        "{path} was written by an older firedrill, which did not keep the lab's plan in it\n  hint: run `firedrill down --lab {lab}` (it finds the lab's VMs and networks by libvirt's marks), then `firedrill up` the lab file again"
    )]
    Old { path: PathBuf, lab: LabName },
    #[error("no lab is up\n  hint: bring one up with `firedrill up LAB.yaml`")]
    NoLab,
    #[error(
        "lab `{0}` is not up\n  hint: `firedrill list` shows the labs on this host; bring it up with `firedrill up LAB.yaml`"
    )]
    NotFound(LabName),
    #[error("several labs are up: {}\n  hint: choose one with --lab NAME", .0.join(", "))]
    Ambiguous(Vec<String>),
}

fn labs_hint(labs: &[String]) -> String {
    if labs.is_empty() {
        "no lab is on this host; bring one up with `firedrill up LAB.yaml`".to_string()
    } else {
        format!("labs on this host: {}", labs.join(", "))
    }
}

impl StateError {
    /// Bad input from the user (exit 2), as opposed to a failure of the host.
    pub(crate) fn is_usage(&self) -> bool {
        matches!(
            self,
            StateError::NotFound(_)
                | StateError::Ambiguous(_)
                | StateError::NoLab
                | StateError::BadName { .. }
        )
    }
}

/// Writes `contents` to `path` through a temp file in the same directory and a rename, with
/// `mode`, so readers see the old file or the new one, never half of one.
pub(crate) fn write_atomic(path: &Path, contents: &[u8], mode: u32) -> Result<(), StateError> {
    crate::fsutil::write_atomic(path, contents, mode).map_err(|source| StateError::Write {
        path: path.to_path_buf(),
        source,
    })
}

impl LabState {
    pub(crate) fn save(&self, dir: &LabDir) -> Result<(), StateError> {
        let json = serde_json::to_vec_pretty(self).expect("lab state serialises");
        write_atomic(&dir.state_file(), &json, 0o644)
    }

    /// The lab's state, or `None` when it has none. A state whose names could build a path
    /// or a command outside the lab (a lab name that is not its directory's, a node name that
    /// is not a label) is reported as damaged and never used.
    pub(crate) fn load(dir: &LabDir) -> Result<Option<LabState>, StateError> {
        let path = dir.state_file();
        let lab = dir.name();
        let text = match std::fs::read(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => return Err(StateError::Read { path, source }),
        };
        let parse_error = |source| StateError::Parse {
            path: path.clone(),
            lab: lab.to_string(),
            source,
        };
        let value: serde_json::Value = serde_json::from_slice(&text).map_err(parse_error)?;
        // Before the plan was the state, a state held a copy of each node's plan and no plan.
        if value.get("plan").is_none_or(serde_json::Value::is_null) {
            return Err(StateError::Old {
                path,
                lab: lab.clone(),
            });
        }
        let state: LabState = serde_json::from_value(value).map_err(parse_error)?;
        let damaged = |problem: String| StateError::Damaged {
            path: path.clone(),
            lab: lab.clone(),
            problem,
        };
        if &state.name != lab {
            return Err(damaged(format!(
                "it names lab `{}`, but it is lab `{lab}`'s",
                state.name
            )));
        }
        if let Some(name) = state
            .nodes()
            .map(|n| n.name.as_str())
            .chain(state.observed.iter().map(|n| n.name.as_str()))
            .find(|n| !crate::paths::is_label(n, 63))
        {
            return Err(damaged(format!("node name `{name}` is not valid")));
        }
        Ok(Some(state))
    }

    /// Every node of the lab as planned: the plan's, then those leaving it.
    pub(crate) fn nodes(&self) -> impl Iterator<Item = &NodePlan> {
        self.plan.nodes.iter().chain(&self.leaving)
    }

    pub(crate) fn node(&self, name: &str) -> Option<&NodePlan> {
        self.nodes().find(|n| n.name == name)
    }

    pub(crate) fn node_names(&self) -> Vec<String> {
        self.nodes().map(|n| n.name.clone()).collect()
    }

    /// What `up` observed of node `name`.
    pub(crate) fn observed(&self, name: &str) -> Option<&NodeState> {
        self.observed.iter().find(|n| n.name == name)
    }

    /// The node's pinned SSH host key; empty before `up` made it.
    pub(crate) fn host_key(&self, name: &str) -> &str {
        self.observed(name).map_or("", |n| n.host_key.as_str())
    }
}

/// Labs that have a directory under `labs/`, sorted. A directory whose name is not a lab name
/// is not a lab's (firedrill never made it) and is left alone.
pub(crate) fn lab_names(home: &Home) -> Result<Vec<LabName>, StateError> {
    let dir = home.labs();
    let entries = match std::fs::read_dir(&dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(vec![]),
        Err(source) => return Err(StateError::Read { path: dir, source }),
    };
    let mut names = entries
        .filter_map(Result::ok)
        // Not `path().is_dir()`: that follows a symlink, and a symlink is not a lab firedrill made.
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .filter_map(|e| e.file_name().into_string().ok())
        .filter_map(|n| LabName::parse(&n).ok())
        .collect::<Vec<LabName>>();
    names.sort();
    Ok(names)
}

/// The lab a command acts on: `--lab NAME` if given, else the only lab on this host.
/// A name given on the command line is checked as a lab name first (a bad one is a usage error
/// that lists the labs there are).
pub(crate) fn select(home: &Home, lab: Option<&str>) -> Result<LabName, StateError> {
    let names = lab_names(home)?;
    match lab {
        Some(l) => {
            let name = LabName::parse(l).map_err(|e| StateError::BadName {
                name: e,
                labs: names.iter().map(|n| n.to_string()).collect(),
            })?;
            if names.contains(&name) {
                Ok(name)
            } else {
                Err(StateError::NotFound(name))
            }
        }
        None => match names.as_slice() {
            [] => Err(StateError::NoLab),
            [one] => Ok(one.clone()),
            _ => Err(StateError::Ambiguous(
                names.iter().map(|n| n.to_string()).collect(),
            )),
        },
    }
}

/// Like `select`, but a valid name that has no directory is still returned (`down` cleans the
/// libvirt objects of a lab whose files are gone).
pub(crate) fn select_even_missing(home: &Home, lab: Option<&str>) -> Result<LabName, StateError> {
    match select(home, lab) {
        Err(StateError::NotFound(n)) => Ok(n),
        other => other,
    }
}

/// The state of `labs/minimal.yaml` brought up by tests: its plan, with only node `web` (an app
/// at 10.77.0.10:8080 whose database is `db`).
#[cfg(test)]
pub(crate) fn sample() -> LabState {
    let mut plan = crate::plan::testing::plan_of("labs/minimal.yaml", |_| {});
    plan.nodes.retain(|n| n.name == "web");
    of_plan(plan)
}

/// A state holding `plan`, every node ready with a host key, for tests.
#[cfg(test)]
pub(crate) fn of_plan(plan: Plan) -> LabState {
    LabState {
        name: plan.lab.clone(),
        source: format!("labs/{}.yaml", plan.lab).into(),
        uri: "test:///default".into(),
        accel: Accel::Tcg,
        phase: LabPhase::Creating,
        user: "lab".into(),
        observed: plan
            .nodes
            .iter()
            .map(|n| NodeState {
                name: n.name.clone(),
                host_key: "ssh-ed25519 AAAA".into(),
                ready: false,
                timings: Timings::default(),
            })
            .collect(),
        plan,
        leaving: vec![],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn save_then_load_round_trips_and_leaves_no_temp_file() {
        let tmp = tempdir();
        let home = Home::at(&tmp);
        let dir = home.lab(&"minimal".into());
        sample().save(&dir).unwrap();
        assert_eq!(LabState::load(&dir).unwrap(), Some(sample()));
        let files: Vec<_> = std::fs::read_dir(dir.dir())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(files, vec![std::ffi::OsString::from("state.json")]);
        std::fs::remove_dir_all(&tmp).unwrap();
    }

    /// The state file's format, as `up` writes it (`FIREDRILL_UPDATE_GOLDEN=1` rewrites the
    /// file; the client's integration test reads it as a lab's state).
    #[test]
    fn the_state_file_is_the_golden_one() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/golden/state/minimal.json");
        let actual = serde_json::to_string_pretty(&sample()).expect("state serialises") + "\n";
        if std::env::var_os("FIREDRILL_UPDATE_GOLDEN").is_some() {
            std::fs::write(&path, &actual).expect("update golden file");
        }
        let expected =
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert_eq!(actual, expected, "{} differs", path.display());
        let read: LabState = serde_json::from_str(&expected).expect("the golden state reads");
        assert_eq!(read, sample());
    }

    /// The firedrill before this one kept a copy of each node's plan beside the plan: such a
    /// state reads as the plan and what was observed.
    #[test]
    fn a_state_with_a_plan_and_copies_of_it_reads() {
        let tmp = tempdir();
        let dir = Home::at(&tmp).lab(&"minimal".into());
        std::fs::create_dir_all(dir.dir()).unwrap();
        let mut value = serde_json::to_value(sample()).unwrap();
        let node = &mut value["nodes"][0];
        node["domain"] = "fd-minimal-web".into();
        node["roles"] = serde_json::json!(["app"]);
        node["ip"] = "10.77.0.10".into();
        node["app_port"] = 8080.into();
        node["release"] = "v1".into();
        std::fs::write(dir.state_file(), value.to_string()).unwrap();
        assert_eq!(LabState::load(&dir).unwrap(), Some(sample()));
        std::fs::remove_dir_all(&tmp).unwrap();
    }

    #[test]
    fn a_state_without_a_plan_says_what_to_do() {
        let tmp = tempdir();
        let dir = Home::at(&tmp).lab(&"minimal".into());
        std::fs::create_dir_all(dir.dir()).unwrap();
        // As an older firedrill wrote it: each node's settings, no plan.
        std::fs::write(
            dir.state_file(),
            r#"{"name": "minimal", "nodes": [{"name": "web", "ip": "10.77.0.10"}]}"#,
        )
        .unwrap();
        let msg = LabState::load(&dir).unwrap_err().to_string();
        assert_eq!(
            msg,
            format!(
                "{} was written by an older firedrill, which did not keep the lab's plan in it\n  hint: run `firedrill down --lab minimal` (it finds the lab's VMs and networks by libvirt's marks), then `firedrill up` the lab file again",
                dir.state_file().display()
            )
        );
        std::fs::remove_dir_all(&tmp).unwrap();
    }

    #[test]
    fn a_damaged_state_file_says_how_to_recover() {
        let tmp = tempdir();
        let dir = Home::at(&tmp).lab(&"minimal".into());
        std::fs::create_dir_all(dir.dir()).unwrap();
        std::fs::write(dir.state_file(), "{ torn").unwrap();
        let msg = LabState::load(&dir).unwrap_err().to_string();
        assert!(msg.contains("is damaged"), "{msg}");
        assert!(msg.contains("firedrill down --lab minimal"), "{msg}");
        std::fs::remove_dir_all(&tmp).unwrap();
    }

    #[test]
    fn select_picks_the_only_lab_and_lists_several() {
        let tmp = tempdir();
        let home = Home::at(&tmp);
        assert!(matches!(select(&home, None), Err(StateError::NoLab)));
        std::fs::create_dir_all(home.lab(&"a".into()).dir()).unwrap();
        assert_eq!(select(&home, None).unwrap(), "a");
        std::fs::create_dir_all(home.lab(&"b".into()).dir()).unwrap();
        let msg = select(&home, None).unwrap_err().to_string();
        assert_eq!(
            msg,
            "several labs are up: a, b\n  hint: choose one with --lab NAME"
        );
        assert_eq!(select(&home, Some("b")).unwrap(), "b");
        assert!(matches!(
            select(&home, Some("c")),
            Err(StateError::NotFound(_))
        ));
        std::fs::remove_dir_all(&tmp).unwrap();
    }

    fn tempdir() -> PathBuf {
        let p = std::env::temp_dir().join(format!(
            "fd-state-test-{}-{}",
            std::process::id(),
            rand::random::<u64>()
        ));
        std::fs::create_dir_all(&p).unwrap();
        p
    }
}
