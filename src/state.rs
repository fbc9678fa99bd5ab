//! A lab's state on disk (`labs/NAME/state.json`), written atomically so a crash never leaves a
//! torn file. It is written *before* anything is created, so `down` can find everything a
//! half-finished `up` made, and again when `up` ends.

use crate::hypervisor::xml::Accel;
use crate::paths::{Home, LabDir, LabName};
use crate::spec::{Role, RoleOptions};
use serde::{Deserialize, Serialize};
use std::net::Ipv4Addr;
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

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct NetworkState {
    pub(crate) name: String,
    pub(crate) libvirt_name: String,
    pub(crate) bridge: String,
    pub(crate) cidr: String,
    pub(crate) gateway: Ipv4Addr,
    pub(crate) domain: String,
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

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct NodeState {
    pub(crate) name: String,
    pub(crate) domain: String,
    pub(crate) roles: Vec<Role>,
    pub(crate) ip: Ipv4Addr,
    pub(crate) fqdn: String,
    pub(crate) mac: String,
    pub(crate) network: String,
    pub(crate) memory_mib: u64,
    pub(crate) cpus: u32,
    pub(crate) disk_gib: u64,
    pub(crate) image: String,
    /// The node's SSH host key (OpenSSH public line), installed by cloud-init and checked
    /// strictly on every connection.
    pub(crate) host_key: String,
    /// The port the todo app listens on (app nodes).
    #[serde(default)]
    pub(crate) app_port: Option<u16>,
    /// The node whose database the app uses (app nodes).
    #[serde(default)]
    pub(crate) database: Option<String>,
    /// The name it reaches that database by, when the lab file gave a `dns:` name.
    #[serde(default)]
    pub(crate) database_host: Option<String>,
    /// The app nodes behind this node's haproxy.
    #[serde(default)]
    pub(crate) backends: Vec<String>,
    /// Those it reaches by a `dns:` name: node -> FQDN.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub(crate) backend_hosts: std::collections::BTreeMap<String, String>,
    /// The todo release `up` deploys (app nodes); v1 in a state written before releases.
    #[serde(default)]
    pub(crate) release: crate::roles::Release,
    /// The options of the roles that read their own (`RoleDef::has_options`).
    #[serde(default)]
    pub(crate) options: Vec<RoleOptions>,
    /// How its roles reach the nodes they talk to: the address of each and the one it sends
    /// from (a database admits the networks its clients send from).
    #[serde(default)]
    pub(crate) reaches: Vec<crate::spec::Reach>,
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
    pub(crate) networks: Vec<NetworkState>,
    pub(crate) nodes: Vec<NodeState>,
    /// The plan as last applied by `up`: the next `up` diffs its new plan against it. Absent
    /// in the state of a lab brought up by an older firedrill.
    #[serde(default)]
    pub(crate) plan: Option<crate::plan::Plan>,
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

impl NodeState {
    /// The name this node's haproxy gives app node `node`'s server (stats page, runtime API):
    /// the `dns:` name it reaches the node by, or the node's own name.
    pub(crate) fn haproxy_server<'a>(&'a self, node: &'a str) -> &'a str {
        self.backend_hosts
            .get(node)
            .and_then(|h| h.split('.').next())
            .unwrap_or(node)
    }

    /// A node as its lab file describes it, before planning gives it an address, a key or a
    /// port: enough to ask whether something fits its roles (level validation).
    pub(crate) fn sketch(name: &str, roles: &[Role]) -> NodeState {
        NodeState {
            name: name.to_string(),
            domain: String::new(),
            roles: roles.to_vec(),
            ip: Ipv4Addr::UNSPECIFIED,
            fqdn: String::new(),
            mac: String::new(),
            network: String::new(),
            memory_mib: 0,
            cpus: 0,
            disk_gib: 0,
            image: String::new(),
            host_key: String::new(),
            app_port: roles.contains(&Role::App).then_some(8080),
            database: None,
            database_host: None,
            backends: Vec::new(),
            backend_hosts: Default::default(),
            release: crate::roles::Release::V1,
            options: Vec::new(),
            reaches: Vec::new(),
            ready: false,
            timings: Timings::default(),
        }
    }
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
        let state: LabState =
            serde_json::from_slice(&text).map_err(|source| StateError::Parse {
                path: path.clone(),
                lab: lab.to_string(),
                source,
            })?;
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
        if let Some(n) = state
            .nodes
            .iter()
            .find(|n| !crate::paths::is_label(&n.name, 63))
        {
            return Err(damaged(format!("node name `{}` is not valid", n.name)));
        }
        Ok(Some(state))
    }

    pub(crate) fn node(&self, name: &str) -> Option<&NodeState> {
        self.nodes.iter().find(|n| n.name == name)
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

/// A one-node lab state for tests.
#[cfg(test)]
pub(crate) fn sample() -> LabState {
    LabState {
        name: "minimal".into(),
        source: "labs/minimal.yaml".into(),
        uri: "test:///default".into(),
        accel: Accel::Tcg,
        phase: LabPhase::Creating,
        user: "lab".into(),
        networks: vec![],
        nodes: vec![NodeState {
            name: "web".into(),
            domain: "fd-minimal-web".into(),
            roles: vec![Role::App],
            ip: "10.77.0.10".parse().unwrap(),
            fqdn: "web.minimal.lab".into(),
            mac: "52:54:00:00:00:01".into(),
            network: "fd-minimal-lan".into(),
            memory_mib: 384,
            cpus: 1,
            disk_gib: 8,
            image: "debian-12".into(),
            host_key: "ssh-ed25519 AAAA".into(),
            app_port: Some(8080),
            database: Some("db".into()),
            database_host: None,
            backends: vec![],
            backend_hosts: Default::default(),
            release: crate::roles::Release::V1,
            options: vec![],
            reaches: vec![],
            ready: false,
            timings: Timings::default(),
        }],
        plan: None,
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
