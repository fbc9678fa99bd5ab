//! How long a command waits for a node, decided in one place by what it needs the node for.
//! A node that does not answer yet (booting after a fault's reset: minutes under TCG) is
//! waited for, visibly and within a bound, by commands that must reach it; `status` never waits.

use super::{Session, SshError, Target};
use std::time::Duration;

/// What a connection is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Purpose {
    /// `status` and health columns: a quick look; a node that does not answer is shown so.
    Look,
    /// `ssh NODE -- CMD`: the user is waiting at the terminal.
    Command,
    /// Changing a node (configure roles, apply or revert a fault): it must be reached, so a
    /// booting node is waited for.
    Change,
    /// A level's checks and steps, on nodes that the incident may have swamped (a full-table
    /// scan under TCG delays a login by over 15 s).
    Check,
}

impl Purpose {
    /// One attempt's limit.
    pub(crate) fn attempt(self) -> Duration {
        Duration::from_secs(match self {
            Purpose::Look => 5,
            Purpose::Command => 15,
            Purpose::Change => 30,
            Purpose::Check => 90,
        })
    }

    /// How long a node that does not answer is waited for after the first attempt (a TCG
    /// node takes 2-4 minutes to boot; four at once, longer).
    pub(crate) fn wait(self) -> Duration {
        Duration::from_secs(match self {
            Purpose::Look | Purpose::Command => 0,
            Purpose::Change | Purpose::Check => 600,
        })
    }
}

/// Whether waiting longer could help: not for a wrong host key or an unusable key file.
pub(crate) fn worth_waiting(e: &SshError) -> bool {
    !matches!(
        e,
        SshError::HostKeyMismatch { .. } | SshError::KeyRead { .. } | SshError::PublicKey { .. }
    )
}

/// Connects for `purpose`; when the node does not answer and the purpose allows, says so once
/// on stderr and waits until it is ready (SSH and cloud-init) or the bound has passed.
pub(crate) async fn connect(target: &Target, purpose: Purpose) -> Result<Session, SshError> {
    match Session::connect(target, purpose.attempt()).await {
        Ok(s) => Ok(s),
        Err(e) if purpose.wait().is_zero() || !worth_waiting(&e) => Err(e),
        Err(e) => {
            eprintln!(
                "{}: does not answer over SSH yet ({}); it may be booting: waiting up to {} s",
                target.node,
                first_line(&e.to_string()),
                purpose.wait().as_secs()
            );
            super::wait_ready(target, purpose.wait(), |_| {}).await
        }
    }
}

fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_commands_that_must_reach_a_node_wait_for_it() {
        assert!(Purpose::Look.wait().is_zero());
        assert!(Purpose::Command.wait().is_zero());
        assert!(Purpose::Change.wait() >= Duration::from_secs(300));
        assert!(Purpose::Check.wait() >= Duration::from_secs(300));
        assert!(Purpose::Look.attempt() < Purpose::Check.attempt());
    }

    #[test]
    fn a_wrong_host_key_is_not_waited_for() {
        assert!(!worth_waiting(&SshError::KeyRead {
            path: "/k".into(),
            message: "gone".into()
        }));
        assert!(worth_waiting(&SshError::Timeout {
            node: "app1".into(),
            addr: "10.0.0.1:22".parse().unwrap(),
            after: Duration::from_secs(1)
        }));
    }
}
