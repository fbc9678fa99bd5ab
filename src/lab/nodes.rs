//! How commands reach a lab's nodes by name: run a script as root, and reboot a node and wait
//! for it. `SshNodes` does it over SSH with the lab's key, one session per node; tests use a
//! scripted fake (`levels::testutil::FakeNodes`, over `remote::fake`).

use super::Lab;
use crate::remote::{Output, Remote, RemoteError};
use crate::ssh::Session;
use crate::state::LabState;
use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Why a node could not be reached or rebooted.
#[derive(Debug, thiserror::Error)]
pub(crate) enum NodeError {
    #[error("{0}\n  hint: is the node up? `firedrill status` shows it")]
    Remote(#[from] RemoteError),
    #[error(transparent)]
    Ssh(#[from] crate::ssh::SshError),
    #[error(
        "{node} did not come back from a reboot within 10 minutes\n  hint: `firedrill console {node}` shows its boot log"
    )]
    NotRebooted { node: String },
}

pub(crate) trait Nodes: Send + Sync {
    /// Runs `script` as root (`sh -c`) on `node`.
    fn run(
        &self,
        node: &str,
        script: &str,
    ) -> impl Future<Output = Result<Output, RemoteError>> + Send;

    /// Reboots `node` and returns once it runs a new boot and is ready.
    fn reboot(&self, node: &str) -> impl Future<Output = Result<(), NodeError>> + Send;

    /// The SSH sessions behind these nodes, for what needs a node's shell rather than one
    /// command (a fault's revert); `None` for fakes.
    fn ssh(&self) -> Option<&SshNodes> {
        None
    }
}

/// The lab's nodes over SSH, one session per node, opened when first needed.
pub(crate) struct SshNodes {
    lab: Lab,
    sessions: tokio::sync::Mutex<BTreeMap<String, Arc<Session>>>,
}

/// A TCG guest takes about two minutes to boot; give it five.
const REBOOT: Duration = Duration::from_secs(600);
const BOOT_ID: &str = "cat /proc/sys/kernel/random/boot_id";

impl SshNodes {
    /// The nodes of `lab` as it was read.
    pub(crate) fn of(lab: &Lab) -> SshNodes {
        SshNodes {
            lab: lab.copy(),
            sessions: tokio::sync::Mutex::new(BTreeMap::new()),
        }
    }

    fn node(&self, node: &str) -> Result<&crate::plan::NodePlan, RemoteError> {
        self.lab.require_node(node).map_err(|e| RemoteError {
            node: node.to_string(),
            message: e.to_string(),
        })
    }

    fn target(&self, node: &str) -> Result<crate::ssh::Target, RemoteError> {
        Ok(self.lab.target(self.node(node)?))
    }

    /// The lab as these nodes were opened from.
    pub(crate) fn state(&self) -> &LabState {
        &self.lab.state
    }

    async fn session(&self, node: &str) -> Result<Arc<Session>, RemoteError> {
        self.shell(node, crate::ssh::Purpose::Check)
            .await
            .map_err(|e| RemoteError {
                node: node.to_string(),
                message: e.to_string(),
            })
    }

    /// `node`'s session, connecting for `purpose` when there is none yet; kept for the next
    /// command (a health check and a level's steps share one login per node).
    pub(crate) async fn shell(
        &self,
        node: &str,
        purpose: crate::ssh::Purpose,
    ) -> Result<Arc<Session>, crate::ssh::SshError> {
        if let Some(s) = self.sessions.lock().await.get(node) {
            return Ok(s.clone());
        }
        let n = self.node(node).map_err(|e| crate::ssh::SshError::Command {
            node: e.node,
            message: e.message,
        })?;
        // Connected without the lock, so the nodes' handshakes overlap.
        let session = self.lab.shell(n, purpose).await?;
        Ok(self.keep(node, session).await)
    }

    /// `shell`, but a kept session is asked a trivial command first: one that broke (the node
    /// rebooted since it was opened) is replaced by a new login.
    pub(crate) async fn live_shell(
        &self,
        node: &str,
        purpose: crate::ssh::Purpose,
    ) -> Result<Arc<Session>, crate::ssh::SshError> {
        let kept = self.sessions.lock().await.get(node).cloned();
        if let Some(s) = kept {
            if s.run("true", None).await.is_ok() {
                return Ok(s);
            }
            self.sessions.lock().await.remove(node);
        }
        self.shell(node, purpose).await
    }

    /// Keeps `session` for `node`, unless another command connected meanwhile: then that one.
    async fn keep(&self, node: &str, session: Session) -> Arc<Session> {
        let mut sessions = self.sessions.lock().await;
        if let Some(s) = sessions.get(node) {
            let kept = s.clone();
            drop(sessions);
            session.close().await;
            return kept;
        }
        let session = Arc::new(session);
        sessions.insert(node.to_string(), session.clone());
        session
    }

    /// Waits until every node of the lab accepts a login and has finished booting: a fault that
    /// resets a node leaves it booting (two minutes under TCG), and the incident starts once it
    /// is back, as the briefing says. The nodes are asked at once.
    pub(crate) async fn wait_all_ready(&self) -> Result<(), NodeError> {
        let each = self.lab.state.nodes().map(|node| async move {
            if self.run(&node.name, "true").await.is_ok() {
                return Ok(());
            }
            let session = crate::ssh::wait_ready(&self.target(&node.name)?, REBOOT, |_| {}).await?;
            self.sessions
                .lock()
                .await
                .insert(node.name.clone(), Arc::new(session));
            Ok(())
        });
        futures::future::join_all(each).await.into_iter().collect()
    }

    pub(crate) async fn close(self) {
        for (_, s) in self.sessions.into_inner() {
            if let Ok(s) = Arc::try_unwrap(s) {
                s.close().await;
            }
        }
    }
}

impl Nodes for SshNodes {
    fn ssh(&self) -> Option<&SshNodes> {
        Some(self)
    }

    async fn run(&self, node: &str, script: &str) -> Result<Output, RemoteError> {
        let session = self.session(node).await?;
        let result = session.run_as_root(script, None).await;
        if result.is_err() {
            // A broken session is not reused: the next command connects again.
            self.sessions.lock().await.remove(node);
        }
        result
    }

    async fn reboot(&self, node: &str) -> Result<(), NodeError> {
        let before = self.run(node, BOOT_ID).await?.stdout_str();
        // The connection drops as the node goes down; that is not a failure.
        let _ = self.run(node, "systemctl reboot").await;
        self.sessions.lock().await.remove(node);
        let target = self.target(node)?;
        let start = Instant::now();
        loop {
            tokio::time::sleep(Duration::from_secs(3)).await;
            let left = REBOOT.saturating_sub(start.elapsed());
            if left.is_zero() {
                return Err(NodeError::NotRebooted {
                    node: node.to_string(),
                });
            }
            let session = crate::ssh::wait_ready(&target, left, |_| {}).await?;
            let now = session.run(BOOT_ID, None).await?.stdout_str();
            if now.trim() != before.trim() && !now.trim().is_empty() {
                self.sessions
                    .lock()
                    .await
                    .insert(node.to_string(), Arc::new(session));
                return Ok(());
            }
            // Still the old boot: it had not gone down yet.
            session.close().await;
        }
    }
}

/// The lab's nodes as scripted fakes. Commands reach each fake exactly as `SshNodes` sends them
/// (through `Remote::run_as_root`); reboots are recorded, and a node's fake answers as the rebooted node.
#[cfg(test)]
pub(crate) struct FakeNodes {
    pub(crate) nodes: std::collections::BTreeMap<String, crate::remote::fake::FakeRemote>,
    pub(crate) reboots: std::sync::Mutex<Vec<String>>,
}

#[cfg(test)]
impl FakeNodes {
    pub(crate) fn new(nodes: Vec<crate::remote::fake::FakeRemote>) -> FakeNodes {
        use crate::remote::Remote;
        FakeNodes {
            nodes: nodes
                .into_iter()
                .map(|n| (n.node().to_string(), n))
                .collect(),
            reboots: std::sync::Mutex::new(Vec::new()),
        }
    }

    pub(crate) fn reboots(&self) -> Vec<String> {
        self.reboots.lock().map(|r| r.clone()).unwrap_or_default()
    }
}

#[cfg(test)]
impl Nodes for FakeNodes {
    async fn run(
        &self,
        node: &str,
        script: &str,
    ) -> Result<crate::remote::Output, crate::remote::RemoteError> {
        use crate::remote::Remote;
        let remote = self
            .nodes
            .get(node)
            .unwrap_or_else(|| panic!("no fake node {node}"));
        remote.run_as_root(script, None).await
    }

    async fn reboot(&self, node: &str) -> Result<(), NodeError> {
        if let Ok(mut r) = self.reboots.lock() {
            r.push(node.to_string());
        }
        Ok(())
    }
}
