//! Waiting until a freshly booted node is ready: SSH login works with the lab key and the
//! node's own host key, and cloud-init has finished.
//!
//! Why `cloud-init status --wait` and not the `/var/lib/cloud/instance/boot-finished` file:
//! - it reports failure (`status: error`, exit 1), so a node whose setup broke fails at once
//!   with the reason instead of passing as ready or running into the timeout;
//! - boot-finished belongs to the instance and survives reboots, so after a reboot it says
//!   "finished" before this boot's cloud-init has even started; `status` reads this boot's
//!   state under /run/cloud-init;
//! - it waits on the node (polling every 0.25 s) and returns the moment cloud-init is done,
//!   with no polling loop of ours over SSH.
//!
//! SSH login alone is not enough: cloud-init installs the key early (init stage, before sshd
//! starts), but the config and final stages (packages, runcmd) run after sshd accepts logins.

use super::{Session, SshError, Target};
use crate::remote::Remote;
use backon::{BackoffBuilder, ExponentialBuilder};
use std::time::{Duration, Instant};

/// Cap on one connection attempt. Under TCG a handshake takes a few seconds; a node that takes
/// longer is overloaded, and a fresh attempt is as good as waiting on this one.
const ATTEMPT: Duration = Duration::from_secs(30);

/// What the node is being waited for, for the caller's progress line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    WaitingForSsh,
    WaitingForCloudInit,
    Ready,
}

impl std::fmt::Display for Phase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Phase::WaitingForSsh => "waiting for SSH",
            Phase::WaitingForCloudInit => "waiting for cloud-init",
            Phase::Ready => "ready",
        })
    }
}

/// Why one attempt did not end with a ready node.
enum Attempt {
    /// Worth trying again (nothing listens yet, the key is not installed yet...).
    Retry(String),
    /// Waiting longer cannot help.
    Fatal(SshError),
}

/// Waits until `target` is ready, retrying with exponential backoff (0.25 s doubling to 5 s,
/// with jitter) until `deadline` has passed since the call. Calls `progress` whenever the phase
/// changes. A host key mismatch, an unusable local key or a failed cloud-init end the wait at
/// once; on timeout the error is `SshError::NotReady` with the last problem seen.
pub(crate) async fn wait_ready(
    target: &Target,
    deadline: Duration,
    mut progress: impl FnMut(Phase) + Send,
) -> Result<Session, SshError> {
    let start = Instant::now();
    let mut backoff = ExponentialBuilder::default()
        .with_min_delay(Duration::from_millis(250))
        .with_max_delay(Duration::from_secs(5))
        .with_factor(2.0)
        .with_jitter()
        .without_max_times()
        .build();
    let mut phase = Phase::WaitingForSsh;
    progress(phase);
    let mut last_error = String::from("no attempt finished in time");
    loop {
        let remaining = deadline.saturating_sub(start.elapsed());
        if remaining.is_zero() {
            return Err(SshError::NotReady {
                node: target.node.clone(),
                waited: start.elapsed(),
                last_error,
            });
        }
        let mut set_phase = |p: Phase| {
            if p != phase {
                phase = p;
                progress(p);
            }
        };
        match attempt(target, start, deadline, &mut set_phase).await {
            Ok(session) => {
                set_phase(Phase::Ready);
                return Ok(session);
            }
            Err(Attempt::Fatal(e)) => return Err(e),
            Err(Attempt::Retry(e)) => last_error = e,
        }
        let remaining = deadline.saturating_sub(start.elapsed());
        if !remaining.is_zero() {
            // A connection lost while cloud-init ran (a reboot) puts us back at the start.
            set_phase(Phase::WaitingForSsh);
        }
        let pause = backoff.next().unwrap_or(Duration::from_secs(5));
        tokio::time::sleep(pause.min(remaining)).await;
    }
}

/// Whether cloud-init's result file says this boot's run ended without errors. Anything else
/// (errors, an unreadable file) goes the slow way, which explains failures.
fn finished_cleanly(result_json: &[u8]) -> bool {
    serde_json::from_slice::<serde_json::Value>(result_json)
        .ok()
        .and_then(|v| v["v1"]["errors"].as_array().map(Vec::is_empty))
        .unwrap_or(false)
}

async fn attempt(
    target: &Target,
    start: Instant,
    deadline: Duration,
    set_phase: &mut impl FnMut(Phase),
) -> Result<Session, Attempt> {
    let remaining = deadline.saturating_sub(start.elapsed());
    let session = match Session::connect(target, remaining.min(ATTEMPT)).await {
        Ok(s) => s,
        Err(
            e @ (SshError::HostKeyMismatch { .. }
            | SshError::KeyRead { .. }
            | SshError::PublicKey { .. }),
        ) => return Err(Attempt::Fatal(e)),
        Err(e) => return Err(Attempt::Retry(e.to_string())),
    };
    set_phase(super::Phase::WaitingForCloudInit);
    // Fast path for a node that is already up (a converging `up`, `status`): cloud-init writes
    // /run/cloud-init/result.json when this boot's run ends, and /run does not survive a reboot.
    // Reading it costs one tiny command instead of starting cloud-init's Python, which takes
    // seconds under software emulation.
    if let Ok(out) = session.run("cat /run/cloud-init/result.json", None).await
        && out.success()
        && finished_cleanly(&out.stdout)
    {
        return Ok(session);
    }
    let remaining = deadline.saturating_sub(start.elapsed());
    let waited = tokio::time::timeout(remaining, session.run("cloud-init status --wait", None));
    let output = match waited.await {
        Err(_) => {
            session.close().await;
            return Err(Attempt::Retry(
                "SSH login works, but cloud-init was still running".to_string(),
            ));
        }
        Ok(Err(e)) => return Err(Attempt::Retry(format!("while waiting for cloud-init: {e}"))),
        Ok(Ok(output)) => output,
    };
    match output.status {
        // 2 is "done, with recoverable errors" (deprecated keys and the like) since cloud-init
        // 23.4: the node is set up.
        0 | 2 => Ok(session),
        1 => {
            // `--long` names the failing module; keep the short status if it cannot be had.
            let detail = match session.run("cloud-init status --long", None).await {
                Ok(long) if !long.stdout.is_empty() => long.stdout_str(),
                _ => output.stdout_str(),
            };
            session.close().await;
            Err(Attempt::Fatal(SshError::CloudInit {
                node: target.node.clone(),
                detail: detail.trim_end().to_string(),
            }))
        }
        127 => Err(Attempt::Fatal(SshError::CloudInit {
            node: target.node.clone(),
            detail: "cloud-init is not installed on the node: build the image with \
                     `firedrill image build`, which includes it"
                .to_string(),
        })),
        other => Err(Attempt::Fatal(SshError::CloudInit {
            node: target.node.clone(),
            detail: format!(
                "`cloud-init status --wait` exited with {other}: {}",
                output.stderr_tail(5)
            ),
        })),
    }
}

#[cfg(test)]
mod result_tests {
    use super::finished_cleanly;

    #[test]
    fn only_an_error_free_result_is_a_clean_finish() {
        assert!(finished_cleanly(
            br#"{"v1": {"datasource": "DataSourceNoCloud [seed=/dev/vdb]", "errors": []}}"#
        ));
        assert!(!finished_cleanly(
            br#"{"v1": {"datasource": null, "errors": ["('locale', ProcessExecutionError(...))"]}}"#
        ));
        assert!(!finished_cleanly(b"{ torn"));
        assert!(!finished_cleanly(b""));
    }
}
