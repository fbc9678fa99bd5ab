//! What roles, faults and checks need from a node: run a command, with optional stdin, and get
//! its exit status and output. The real implementation is an SSH session (`ssh.rs`); tests use a
//! scripted fake. Everything else (uploading a file, running as root) is built on `run`, so a
//! fake only has to script commands.

use std::future::Future;

pub(crate) mod fake;

/// The result of one remote command.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Output {
    pub(crate) status: u32,
    pub(crate) stdout: Vec<u8>,
    pub(crate) stderr: Vec<u8>,
}

impl Output {
    pub(crate) fn success(&self) -> bool {
        self.status == 0
    }
    pub(crate) fn stdout_str(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }
    /// The last `n` lines of stderr, for error messages.
    pub(crate) fn stderr_tail(&self, n: usize) -> String {
        let text = String::from_utf8_lossy(&self.stderr);
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }
}

/// A command that ran on a node (or the host) and exited non-zero: what every module's error
/// wraps, with its own hint, so a failed step reads the same everywhere.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{node}: {step} failed (exit {status}): {stderr_tail}")]
pub(crate) struct CommandFailed {
    pub(crate) node: String,
    pub(crate) step: String,
    pub(crate) status: u32,
    /// The last lines of stderr (of stdout when stderr is empty).
    pub(crate) stderr_tail: String,
}

impl Output {
    /// This output, or the failure it is, for `step` on `node`.
    pub(crate) fn check(self, node: &str, step: &str) -> Result<Output, CommandFailed> {
        if self.success() {
            Ok(self)
        } else {
            Err(self.failure(node, step))
        }
    }

    /// What this output says as a failure of `step` on `node` (for an output known to fail).
    pub(crate) fn failure(&self, node: &str, step: &str) -> CommandFailed {
        let stderr = self.stderr_tail(STDERR_TAIL);
        CommandFailed {
            node: node.to_string(),
            step: step.to_string(),
            status: self.status,
            stderr_tail: if stderr.is_empty() {
                let out = self.stdout_str();
                let lines: Vec<&str> = out.trim().lines().collect();
                lines[lines.len().saturating_sub(STDERR_TAIL)..].join("\n")
            } else {
                stderr
            },
        }
    }
}

/// Lines of output a failure keeps.
const STDERR_TAIL: usize = 5;

/// A connection failure or protocol error (not a non-zero exit status: that is an `Output`).
#[derive(Debug, thiserror::Error)]
#[error("{node}: {message}")]
pub(crate) struct RemoteError {
    pub(crate) node: String,
    pub(crate) message: String,
}

pub(crate) trait Remote: Send + Sync {
    /// The node's name, for messages.
    fn node(&self) -> &str;

    /// Whether commands that need root must go through `sudo -n`: true for lab nodes, where the
    /// login user is `lab`; false when the login user is already root (local tests against a
    /// throwaway sshd, where sudo may not even be installed). See `ssh::as_root`.
    fn needs_sudo(&self) -> bool {
        true
    }

    /// Runs `command` with `sh -c` as the lab user (who has passwordless sudo), feeding `stdin`
    /// if given, and waits for its exit status.
    fn run(
        &self,
        command: &str,
        stdin: Option<&[u8]>,
    ) -> impl Future<Output = Result<Output, RemoteError>> + Send;

    /// Runs `script` with `sh` as root (`ssh::as_root`: through `sudo -n` when `needs_sudo`),
    /// feeding `stdin` if given; any exit status is returned. The one way a script reaches a
    /// node as root.
    fn run_as_root(
        &self,
        script: &str,
        stdin: Option<&[u8]>,
    ) -> impl Future<Output = Result<Output, RemoteError>> + Send
    where
        Self: Sized,
    {
        let command = crate::ssh::as_root(self, script);
        async move { self.run(&command, stdin).await }
    }
}
