//! What roles, faults and checks need from a node: run a command, with optional stdin, and get
//! its exit status and output. The real implementation is an SSH session (`ssh.rs`); tests use a
//! scripted fake. Everything else (uploading a file, running as root) is built on `run`, so a
//! fake only has to script commands.

use std::future::Future;

#[cfg(test)]
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
}
