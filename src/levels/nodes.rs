//! How checks reach the lab's nodes: run a script as root, and reboot a node and wait for it.
//! `SshNodes` does it over SSH with the lab's key; tests use a scripted fake (`evaluate_tests`).

use super::LevelError;
use crate::paths::LabDir;
use crate::remote::{Output, Remote, RemoteError};
use crate::ssh::{Session, as_root};
use crate::state::LabState;
use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

pub(crate) trait Nodes: Send + Sync {
    /// Runs `script` as root (`sh -c`) on `node`.
    fn run(
        &self,
        node: &str,
        script: &str,
    ) -> impl Future<Output = Result<Output, RemoteError>> + Send;

    /// Reboots `node` and returns once it runs a new boot and is ready.
    fn reboot(&self, node: &str) -> impl Future<Output = Result<(), LevelError>> + Send;
}

/// The lab's nodes over SSH, one session per node, opened when first needed.
pub(crate) struct SshNodes {
    dir: LabDir,
    state: LabState,
    sessions: tokio::sync::Mutex<BTreeMap<String, Arc<Session>>>,
}

/// A TCG guest takes about two minutes to boot; give it five.
const REBOOT: Duration = Duration::from_secs(600);
const BOOT_ID: &str = "cat /proc/sys/kernel/random/boot_id";

impl SshNodes {
    pub(crate) fn new(dir: LabDir, state: LabState) -> SshNodes {
        SshNodes {
            dir,
            state,
            sessions: tokio::sync::Mutex::new(BTreeMap::new()),
        }
    }

    fn target(&self, node: &str) -> Result<crate::ssh::Target, RemoteError> {
        let n = self.state.node(node).ok_or_else(|| RemoteError {
            node: node.to_string(),
            message: format!("lab `{}` has no node `{node}`", self.state.name),
        })?;
        Ok(crate::lab::target(&self.dir, &self.state, n))
    }

    async fn session(&self, node: &str) -> Result<Arc<Session>, RemoteError> {
        let mut sessions = self.sessions.lock().await;
        if let Some(s) = sessions.get(node) {
            return Ok(s.clone());
        }
        let session = crate::ssh::connect(&self.target(node)?, crate::ssh::Purpose::Check)
            .await
            .map_err(|e| RemoteError {
                node: node.to_string(),
                message: e.to_string(),
            })?;
        let session = Arc::new(session);
        sessions.insert(node.to_string(), session.clone());
        Ok(session)
    }

    /// Waits until every node of the lab accepts a login and has finished booting: a fault that
    /// resets a node leaves it booting (two minutes under TCG), and the incident starts once it
    /// is back, as the briefing says.
    pub(crate) async fn wait_all_ready(&self) -> Result<(), LevelError> {
        for node in &self.state.nodes {
            if self.run(&node.name, "true").await.is_ok() {
                continue;
            }
            let session = crate::ssh::wait_ready(&self.target(&node.name)?, REBOOT, |_| {}).await?;
            self.sessions
                .lock()
                .await
                .insert(node.name.clone(), Arc::new(session));
        }
        Ok(())
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
    async fn run(&self, node: &str, script: &str) -> Result<Output, RemoteError> {
        let session = self.session(node).await?;
        let result = session.run(&as_root(&*session, script), None).await;
        if result.is_err() {
            // A broken session is not reused: the next command connects again.
            self.sessions.lock().await.remove(node);
        }
        result
    }

    async fn reboot(&self, node: &str) -> Result<(), LevelError> {
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
                return Err(LevelError::NotRebooted {
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
