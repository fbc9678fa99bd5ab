//! `Lab`: one running lab as every command sees it — its directory, its saved state (which
//! names the libvirt URI `up` used) and, for commands that change it, its lock. The one way to
//! go from a name on the command line to a lab, a node and a shell on it.

use super::{LabLock, LockError};
use crate::paths::{Home, LabDir, LabName};
use crate::plan::NodePlan;
use crate::state::{LabState, StateError};

pub(crate) struct Lab {
    pub(crate) dir: LabDir,
    pub(crate) state: LabState,
    /// Held by commands that change the lab; released when the handle goes.
    _lock: Option<LabLock>,
}

impl Lab {
    /// The lab `name` (or the only one on this host), read-only: no lock is taken.
    pub(crate) fn open(home: &Home, name: Option<&str>) -> Result<Lab, StateError> {
        let name = crate::state::select(home, name)?;
        Self::load(home.lab(&name), None)
    }

    /// The lab named `name`, read-only, when its name is already checked (a play's lab).
    pub(crate) fn at(home: &Home, name: &LabName) -> Result<Lab, StateError> {
        Self::load(home.lab(name), None)
    }

    /// As `at`, but `None` when the lab has no state (it is down, or was never up).
    pub(crate) fn find(home: &Home, name: &LabName) -> Result<Option<Lab>, StateError> {
        let dir = home.lab(name);
        Ok(LabState::load(&dir)?.map(|state| Lab {
            dir,
            state,
            _lock: None,
        }))
    }

    /// The lab, with its lock held for `command` (e.g. "`firedrill fault apply`"): taken
    /// before the state is read, so what is read cannot change underneath.
    pub(crate) fn lock(
        home: &Home,
        name: Option<&str>,
        command: &str,
    ) -> Result<Lab, LabOpenError> {
        let name = crate::state::select(home, name)?;
        let dir = home.lab(&name);
        let lock = LabLock::acquire(&dir, command)?.ok_or(StateError::NotFound(name))?;
        Ok(Self::load(dir, Some(lock))?)
    }

    /// The lab `up` is creating or changing: `state` is what it has just recorded, and `lock`
    /// the lock it took before planning.
    pub(crate) fn held(dir: LabDir, state: LabState, lock: LabLock) -> Lab {
        Lab {
            dir,
            state,
            _lock: Some(lock),
        }
    }

    /// The lab as it was read, without its lock: for what must outlive a borrow of it
    /// (`SshNodes`).
    pub(crate) fn copy(&self) -> Lab {
        Lab {
            dir: self.dir.clone(),
            state: self.state.clone(),
            _lock: None,
        }
    }

    fn load(dir: LabDir, lock: Option<LabLock>) -> Result<Lab, StateError> {
        let state =
            LabState::load(&dir)?.ok_or_else(|| StateError::NotFound(dir.name().clone()))?;
        Ok(Lab {
            dir,
            state,
            _lock: lock,
        })
    }

    pub(crate) fn name(&self) -> &LabName {
        self.dir.name()
    }

    /// The node `name`, or `None`.
    pub(crate) fn node(&self, name: &str) -> Option<&NodePlan> {
        self.state.node(name)
    }

    /// The node a user named: when the lab has none of that name, the error lists its nodes.
    pub(crate) fn require_node(&self, name: &str) -> Result<&NodePlan, NoNode> {
        self.node(name).ok_or_else(|| NoNode {
            lab: self.name().to_string(),
            node: name.to_string(),
            nodes: self.node_names(),
        })
    }

    pub(crate) fn node_names(&self) -> Vec<String> {
        self.state.node_names()
    }

    /// How to reach `node` over SSH: its address, the lab's key and its pinned host key. The
    /// one place a node's SSH target is made.
    pub(crate) fn target(&self, node: &NodePlan) -> crate::ssh::Target {
        crate::ssh::Target {
            node: node.name.clone(),
            addr: std::net::SocketAddr::from((node.ip, 22)),
            user: self.state.user.clone(),
            key_path: self.dir.ssh_key(),
            host_key: self.state.host_key(&node.name).to_string(),
        }
    }

    /// A shell on `node`, waiting for it as `purpose` allows.
    pub(crate) async fn shell(
        &self,
        node: &NodePlan,
        purpose: crate::ssh::Purpose,
    ) -> Result<crate::ssh::Session, crate::ssh::SshError> {
        crate::ssh::connect(&self.target(node), purpose).await
    }
}

impl LabOpenError {
    pub(crate) fn is_usage(&self) -> bool {
        match self {
            LabOpenError::State(e) => e.is_usage(),
            LabOpenError::Lock(e) => matches!(e, LockError::Busy { .. }),
        }
    }
}

/// A node name the lab does not have (`Lab::require_node`).
#[derive(Debug, thiserror::Error)]
#[error("lab `{lab}` has no node `{node}`; its nodes are: {}", .nodes.join(", "))]
pub(crate) struct NoNode {
    lab: String,
    node: String,
    nodes: Vec<String>,
}

/// Why a lab could not be opened for a change.
#[derive(Debug, thiserror::Error)]
pub(crate) enum LabOpenError {
    #[error(transparent)]
    State(#[from] StateError),
    #[error(transparent)]
    Lock(#[from] LockError),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lab_is_opened_by_name_or_as_the_only_one_found_or_not_and_locked_for_changes() {
        let tmp = tempfile::tempdir().unwrap();
        let home = Home::at(tmp.path());
        assert_eq!(
            Lab::open(&home, None).err().map(|e| e.to_string()),
            Some(StateError::NoLab.to_string())
        );
        let state = crate::state::sample();
        let dir = home.lab(&state.name);
        state.save(&dir).unwrap();
        let lab = Lab::open(&home, None).unwrap();
        assert_eq!(lab.name().as_str(), "minimal");
        assert_eq!(Lab::find(&home, &state.name).unwrap().unwrap().state, state);
        assert!(Lab::find(&home, &"other".into()).unwrap().is_none());
        assert_eq!(lab.node_names(), ["web"]);
        assert!(lab.node("db").is_none());
        assert_eq!(
            lab.require_node("db")
                .err()
                .map(|e| e.to_string())
                .as_deref(),
            Some("lab `minimal` has no node `db`; its nodes are: web")
        );
        let t = lab.target(lab.node("web").unwrap());
        assert_eq!(t.addr.to_string(), "10.77.0.10:22");
        let locked = Lab::lock(&home, Some("minimal"), "`firedrill test`").unwrap();
        assert!(dir.lock_file().exists());
        drop(locked);
        assert!(matches!(
            Lab::lock(&home, Some("other"), "`firedrill test`"),
            Err(LabOpenError::State(StateError::NotFound(_)))
        ));
    }
}
