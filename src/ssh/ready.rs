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
//! But `cloud-init status` is a Python program that loads most of cloud-init: started while a
//! freshly booted node still runs cloud-init's last stages, it takes the guest's CPU from them,
//! seconds of it under software emulation. So a booting node is first waited for by a shell loop
//! on this boot's result file (`wait_for_result`); `cloud-init status` runs only to explain a
//! failure, or when the boot ended without a result (cloud-init disabled, or not run).
//!
//! SSH login alone is not enough: cloud-init installs the key early (init stage, before sshd
//! starts), but the config and final stages (packages, runcmd) run after sshd accepts logins.

use super::{Session, SshError, Target};
use crate::remote::{Output, Remote};
use backon::{BackoffBuilder, ExponentialBuilder};
use std::time::{Duration, Instant};

/// Cap on one connection attempt. Under TCG a handshake takes a few seconds; a node that takes
/// longer is overloaded, and a fresh attempt is as good as waiting on this one.
const ATTEMPT: Duration = Duration::from_secs(30);

/// What the node is being waited for, for the caller's progress line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    WaitingForSsh,
    /// Logged in; its check waits for its turn (see `wait_ready_with`).
    WaitingForTurn,
    WaitingForCloudInit,
    Ready,
}

impl std::fmt::Display for Phase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Phase::WaitingForSsh => "waiting for SSH",
            Phase::WaitingForTurn => "logged in, waiting for its turn to be checked",
            Phase::WaitingForCloudInit => "waiting for its setup (first boot)",
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

/// Waits until `target` is ready, retrying with exponential backoff (0.25 s doubling to 1 s,
/// with jitter) until `deadline` has passed since the call. A refused connection costs a booting
/// node nothing, and each second between tries is a second its sshd may wait unused: with 5 s
/// (and jitter up to 10 s) a lone node was logged into 6.6 s after its last refusal. Calls
/// `progress` whenever the phase changes. A host key mismatch, an unusable local key or a failed
/// cloud-init end the wait at once; on timeout the error is `SshError::NotReady` with the last
/// problem seen.
pub(crate) async fn wait_ready(
    target: &Target,
    deadline: Duration,
    progress: impl FnMut(Phase) + Send,
) -> Result<Session, SshError> {
    wait_ready_with(target, deadline, progress, None, None)
        .await
        .map(|(session, _)| session)
}

/// A read-only check run as root in the same command that finds a node ready, when the fast
/// path finds it so: `up` checks an already running node's roles there, so that a lab with
/// nothing to change costs one command per node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Piggyback {
    pub(crate) script: String,
    /// Secrets the check reads, never on its command line.
    pub(crate) stdin: Option<Vec<u8>>,
}

/// `wait_ready`, with `extra` run in the readiness command when the node is found ready by
/// cloud-init's result file: its output comes back with the session. `None` when the node took
/// the slow path (it was booting), and the caller runs its check itself. With a `turn`, the
/// check waits for a permit once logged in (the login does not): the caller decides how many
/// nodes are checked at once.
pub(crate) async fn wait_ready_with(
    target: &Target,
    deadline: Duration,
    mut progress: impl FnMut(Phase) + Send,
    extra: Option<&Piggyback>,
    turn: Option<&tokio::sync::Semaphore>,
) -> Result<(Session, Option<Output>), SshError> {
    let start = Instant::now();
    let mut backoff = ExponentialBuilder::default()
        .with_min_delay(Duration::from_millis(250))
        .with_max_delay(Duration::from_secs(1))
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
        match attempt(target, start, deadline, &mut set_phase, extra, turn).await {
            Ok(ready) => {
                set_phase(Phase::Ready);
                return Ok(ready);
            }
            Err(Attempt::Fatal(e)) => return Err(e),
            Err(Attempt::Retry(e)) => last_error = e,
        }
        let remaining = deadline.saturating_sub(start.elapsed());
        if !remaining.is_zero() {
            // A connection lost while cloud-init ran (a reboot) puts us back at the start.
            set_phase(Phase::WaitingForSsh);
        }
        let pause = backoff.next().unwrap_or(Duration::from_secs(1));
        tokio::time::sleep(pause.min(remaining)).await;
    }
}

/// The errors a boot's result file lists: the image's own first boot writes `{"errors": [...]}`,
/// cloud-init `{"v1": {"errors": [...]}}`. `None` when it is neither.
fn result_errors(result_json: &[u8]) -> Option<Vec<String>> {
    let v = serde_json::from_slice::<serde_json::Value>(result_json).ok()?;
    errors_of(&v["errors"]).or_else(|| errors_of(&v["v1"]["errors"]))
}

/// A result's list of errors, as text.
fn errors_of(list: &serde_json::Value) -> Option<Vec<String>> {
    let errors = list.as_array()?;
    Some(
        errors
            .iter()
            .map(|e| e.as_str().map_or_else(|| e.to_string(), str::to_string))
            .collect(),
    )
}

/// Whether a result file says this boot's setup ended without errors. Anything else (errors,
/// an unreadable file) goes the slow way, which explains failures.
fn finished_cleanly(result_json: &[u8]) -> bool {
    result_errors(result_json).is_some_and(|e| e.is_empty())
}

/// This boot's result (`/run` does not survive a reboot): the image's own first boot
/// (firedrill-first-boot.service, what lab nodes run), or cloud-init's (nodes of an image
/// from before it).
const FIRST_BOOT_RESULT: &str = "/run/firedrill/first-boot.json";
const CLOUD_INIT_RESULT: &str = "/run/cloud-init/result.json";
const RESULTS: [&str; 2] = [FIRST_BOOT_RESULT, CLOUD_INIT_RESULT];

/// Waits on the node, in the shell, until this boot's setup has ended, and prints its result.
/// Exits 3 when the boot is over (systemd says `running` or `degraded`, checked every 2 s)
/// without a result file: nothing set the node up, and `cloud-init status` says why. Exits 4
/// after `patience` (about as long as firedrill waits for it): a loop whose SSH session is gone
/// (firedrill gave up, or the connection dropped and it logged in again) ends by itself, on a node
/// whose boot hangs as well.
fn wait_for_result(patience: Duration) -> String {
    wait_for_any(patience, RESULTS)
}

fn wait_for_any(patience: Duration, [ours, cloud_init]: [&str; 2]) -> String {
    // Four checks a second, and one more second for the session's own start.
    let checks = patience.as_millis().div_ceil(250) + 4;
    format!(
        "i=0
while [ ! -e {ours} ] && [ ! -e {cloud_init} ]; do
  i=$((i + 1))
  [ $i -gt {checks} ] && exit 4
  if [ $((i % 8)) = 0 ]; then
    case $(systemctl is-system-running 2>/dev/null) in running|degraded) exit 3 ;; esac
  fi
  sleep 0.25
done
cat {ours} 2>/dev/null || cat {cloud_init}"
    )
}
/// Ends the result file in the output of a readiness command that carries a check.
const READY_MARK: &str = "--firedrill-ready--";

/// The fast path's command: the result file, then, only if it is there, `extra`'s script. With
/// an `extra` all of it runs as root (the check needs it; reading the file does not mind).
fn ready_command<R: Remote>(remote: &R, extra: Option<&Piggyback>) -> String {
    ready_command_of(remote, extra, RESULTS)
}

fn ready_command_of<R: Remote>(
    remote: &R,
    extra: Option<&Piggyback>,
    [ours, cloud_init]: [&str; 2],
) -> String {
    let cat = format!("{{ cat {ours} 2>/dev/null || cat {cloud_init}; }}");
    match extra {
        None => cat,
        Some(p) => super::as_root(
            remote,
            &format!("{cat} || exit 1\necho\necho {READY_MARK}\n{}", p.script),
        ),
    }
}

/// Whether cloud-init's result file says this boot's run ended cleanly: `Some` with `extra`'s
/// output (when given) if it does, `None` otherwise (the slow path explains failures).
pub(crate) async fn ready_now<R: Remote>(
    remote: &R,
    extra: Option<&Piggyback>,
) -> Option<Option<Output>> {
    let stdin = extra.and_then(|p| p.stdin.as_deref());
    let out = remote
        .run(&ready_command(remote, extra), stdin)
        .await
        .ok()?;
    judge_ready(out, extra.is_some())
}

/// What the fast path's output says: ready or not, and the check's own output when it ran.
fn judge_ready(out: Output, with_check: bool) -> Option<Option<Output>> {
    if !with_check {
        return (out.success() && finished_cleanly(&out.stdout)).then_some(None);
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let (result, rest) = text.split_once(&format!("\n{READY_MARK}\n"))?;
    finished_cleanly(result.as_bytes()).then(|| {
        Some(Output {
            status: out.status,
            stdout: rest.as_bytes().to_vec(),
            stderr: out.stderr.clone(),
        })
    })
}

/// The errors of a failed first boot of the image's own (`None` for anything else: cloud-init's
/// result, or a clean one).
fn first_boot_failed(result_json: &[u8]) -> Option<String> {
    let v = serde_json::from_slice::<serde_json::Value>(result_json).ok()?;
    let errors = errors_of(&v["errors"])?;
    (!errors.is_empty()).then(|| errors.join("\n"))
}

async fn attempt(
    target: &Target,
    start: Instant,
    deadline: Duration,
    set_phase: &mut impl FnMut(Phase),
    extra: Option<&Piggyback>,
    turn: Option<&tokio::sync::Semaphore>,
) -> Result<(Session, Option<Output>), Attempt> {
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
    // Logged in: only the check waits for its turn, and holds it while it runs.
    let permit = match (extra, turn) {
        (Some(_), Some(turn)) => match turn.try_acquire() {
            Ok(permit) => Some(permit),
            Err(_) => {
                set_phase(super::Phase::WaitingForTurn);
                turn.acquire().await.ok()
            }
        },
        _ => None,
    };
    set_phase(super::Phase::WaitingForCloudInit);
    // Fast path for a node that is already up (a converging `up`, `status`): cloud-init writes
    // /run/cloud-init/result.json when this boot's run ends, and /run does not survive a reboot.
    // Reading it costs one tiny command instead of starting cloud-init's Python, which takes
    // seconds under software emulation. Without a check to run with it, the wait below does the
    // same in one command (it prints the file at once when it is there): a booting node, busy
    // with cloud-init's last stage, took seconds to start each command.
    let ready = match extra {
        Some(_) => ready_now(&session, extra).await,
        None => None,
    };
    drop(permit);
    if let Some(checked) = ready {
        return Ok((session, checked));
    }
    let remaining = deadline.saturating_sub(start.elapsed());
    match tokio::time::timeout(remaining, session.run(&wait_for_result(remaining), None)).await {
        Err(_) => {
            session.close().await;
            return Err(Attempt::Retry(
                "SSH login works, but its setup (first boot) was still running".to_string(),
            ));
        }
        Ok(Err(e)) => {
            return Err(Attempt::Retry(format!(
                "while waiting for its setup (first boot): {e}"
            )));
        }
        Ok(Ok(out)) if out.success() && finished_cleanly(&out.stdout) => {
            return Ok((session, None));
        }
        // The image's own setup failed: its result says how, and its unit's log the rest.
        Ok(Ok(out)) if out.success() => {
            if let Some(detail) = first_boot_failed(&out.stdout) {
                session.close().await;
                return Err(Attempt::Fatal(SshError::FirstBoot {
                    node: target.node.clone(),
                    detail,
                }));
            }
        }
        // Errors in cloud-init's result, or no result: `cloud-init status` explains (below).
        Ok(Ok(_)) => {}
    }
    let remaining = deadline.saturating_sub(start.elapsed());
    let waited = tokio::time::timeout(remaining, session.run("cloud-init status --wait", None));
    let output = match waited.await {
        Err(_) => {
            session.close().await;
            return Err(Attempt::Retry(
                "SSH login works, but its setup (first boot) was still running".to_string(),
            ));
        }
        Ok(Err(e)) => {
            return Err(Attempt::Retry(format!(
                "while waiting for its setup (first boot): {e}"
            )));
        }
        Ok(Ok(output)) => output,
    };
    match output.status {
        // 2 is "done, with recoverable errors" (deprecated keys and the like) since cloud-init
        // 23.4: the node is set up.
        0 | 2 => Ok((session, None)),
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
    use super::*;

    /// The readiness command with a check, run by a real shell with cloud-init's result file at
    /// `result` (and the first boot's beside it, absent unless written).
    fn run_ready(result: &std::path::Path, extra: &Piggyback) -> Output {
        use std::io::Write;
        let fake = crate::remote::fake::FakeRemote::new("n").logged_in_as_root();
        let ours = result.with_file_name("first-boot.json");
        let command = ready_command_of(
            &fake,
            Some(extra),
            [&ours.to_string_lossy(), &result.to_string_lossy()],
        );
        let script = command.strip_prefix("sh -c ").expect("as root");
        let mut child = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!("eval {script}"))
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("sh runs");
        let mut input = child.stdin.take().expect("stdin");
        input
            .write_all(extra.stdin.as_deref().unwrap_or_default())
            .expect("write");
        drop(input);
        let out = child.wait_with_output().expect("sh ends");
        Output {
            status: out.status.code().unwrap_or(-1) as u32,
            stdout: out.stdout,
            stderr: out.stderr,
        }
    }

    #[test]
    fn the_check_runs_in_the_readiness_command_only_once_cloud_init_is_done() {
        let dir = tempfile::tempdir().unwrap();
        let result = dir.path().join("result.json");
        // No newline at its end, as cloud-init writes it.
        std::fs::write(&result, br#"{"v1": {"errors": []}}"#).unwrap();
        let extra = Piggyback {
            script: "echo 'one two'\nread -r pw && echo \"got $pw\"\n".into(),
            stdin: Some(b"s3cret\n".to_vec()),
        };
        let checked = judge_ready(run_ready(&result, &extra), true)
            .expect("ready")
            .expect("checked");
        assert_eq!(checked.stdout_str(), "one two\ngot s3cret\n");
        assert!(checked.success());

        std::fs::write(&result, br#"{"v1": {"errors": ["boom"]}}"#).unwrap();
        assert_eq!(judge_ready(run_ready(&result, &extra), true), None);
        std::fs::remove_file(&result).unwrap();
        let out = run_ready(&result, &extra);
        assert_eq!((out.status, out.stdout_str()), (1, String::new()));
        assert_eq!(judge_ready(out, true), None);
    }

    /// `wait_for_result(bound)` in a real shell, with the result file at `result` and a
    /// `systemctl` that says `system` (the boot's state); `None` if it still waits after
    /// `patience`.
    fn run_wait(
        result: &std::path::Path,
        system: &str,
        bound: Duration,
        patience: Duration,
    ) -> Option<(i32, String, Duration)> {
        use std::os::unix::fs::PermissionsExt;
        let bin = result.parent().unwrap().join("bin");
        std::fs::create_dir_all(&bin).unwrap();
        let systemctl = bin.join("systemctl");
        std::fs::write(&systemctl, format!("#!/bin/sh\necho {system}\n")).unwrap();
        std::fs::set_permissions(&systemctl, std::fs::Permissions::from_mode(0o755)).unwrap();
        let ours = result.with_file_name("first-boot.json");
        let script = wait_for_any(bound, [&ours.to_string_lossy(), &result.to_string_lossy()]);
        let path = format!(
            "{}:{}",
            bin.display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let started = Instant::now();
        let mut child = std::process::Command::new("sh")
            .args(["-c", &script])
            .env("PATH", path)
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("sh runs");
        while started.elapsed() < patience {
            if let Some(status) = child.try_wait().expect("wait") {
                let mut out = String::new();
                std::io::Read::read_to_string(&mut child.stdout.take().unwrap(), &mut out).unwrap();
                return Some((status.code().unwrap_or(-1), out, started.elapsed()));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        child.kill().expect("kill");
        child.wait().expect("reaped");
        None
    }

    /// A bound that the tests never reach.
    const LONG: Duration = Duration::from_secs(60);

    /// `body` written to `file` 0.6 s into the wait on cloud-init's `result` (and the first
    /// boot's beside it): the wait ends soon after, with the file's text, which it returns.
    fn written_while_waiting(
        result: &std::path::Path,
        file: &std::path::Path,
        body: &'static str,
    ) -> String {
        let writer = {
            let file = file.to_path_buf();
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(600));
                std::fs::write(&file, body).unwrap();
            })
        };
        let (code, out, took) =
            run_wait(result, "starting", LONG, Duration::from_secs(10)).expect("it ends");
        writer.join().unwrap();
        assert_eq!((code, out.as_str()), (0, body));
        assert!(took >= Duration::from_millis(550), "{took:?}");
        out
    }

    #[test]
    fn a_booting_node_is_waited_for_in_the_shell_until_its_result_is_written() {
        let dir = tempfile::tempdir().unwrap();
        let result = dir.path().join("result.json");
        let body = r#"{"v1": {"errors": []}}"#;
        let out = written_while_waiting(&result, &result, body);
        assert!(finished_cleanly(out.as_bytes()));
        // Already there: at once.
        let (code, _, took) =
            run_wait(&result, "starting", LONG, Duration::from_secs(10)).expect("it ends");
        assert_eq!(code, 0);
        assert!(took < Duration::from_secs(1), "{took:?}");
    }

    #[test]
    fn a_boot_that_ended_without_a_result_is_left_to_cloud_init_status() {
        let dir = tempfile::tempdir().unwrap();
        let result = dir.path().join("result.json");
        // Still booting: it keeps waiting.
        assert_eq!(
            run_wait(&result, "starting", LONG, Duration::from_millis(2600)),
            None
        );
        // Until its bound, then exit 4.
        let (code, out, took) = run_wait(
            &result,
            "starting",
            Duration::from_millis(1500),
            Duration::from_secs(10),
        )
        .expect("it ends");
        assert_eq!((code, out.as_str()), (4, ""));
        assert!(took >= Duration::from_millis(1500), "{took:?}");
        assert!(took < Duration::from_secs(4), "{took:?}");
        // Booted, no result: exit 3 within one check (every 2 s).
        for system in ["running", "degraded"] {
            let (code, out, took) =
                run_wait(&result, system, LONG, Duration::from_secs(10)).expect("it ends");
            assert_eq!((code, out.as_str()), (3, ""), "{system}");
            assert!(took < Duration::from_secs(4), "{took:?}");
        }
    }

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
        // The image's own first boot.
        assert!(finished_cleanly(b"{\"errors\": []}\n"));
        assert!(!finished_cleanly(
            br#"{"errors": ["exited with 1: useradd: boom"]}"#
        ));
        assert!(!finished_cleanly(br#"{"errors": "none"}"#));
    }

    #[test]
    fn a_failed_first_boot_is_told_apart_from_cloud_init() {
        assert_eq!(
            first_boot_failed(br#"{"errors": ["a", "b"]}"#).as_deref(),
            Some("a\nb")
        );
        assert_eq!(first_boot_failed(br#"{"errors": []}"#), None);
        // cloud-init's failures go to `cloud-init status`, which names the module.
        assert_eq!(first_boot_failed(br#"{"v1": {"errors": ["x"]}}"#), None);
        assert_eq!(first_boot_failed(b"nonsense"), None);
    }

    #[test]
    fn the_first_boot_result_ends_the_wait_like_cloud_init_s() {
        let dir = tempfile::tempdir().unwrap();
        let cloud_init = dir.path().join("result.json");
        let ours = dir.path().join("first-boot.json");
        written_while_waiting(&cloud_init, &ours, "{\"errors\": []}\n");
        // The fast path reads it too, and runs the check after it.
        let extra = Piggyback {
            script: "echo checked\n".into(),
            stdin: None,
        };
        let checked = judge_ready(run_ready(&cloud_init, &extra), true)
            .expect("ready")
            .expect("checked");
        assert_eq!(checked.stdout_str(), "checked\n");
        std::fs::write(&ours, br#"{"errors": ["exited with 1: boom"]}"#).unwrap();
        assert_eq!(judge_ready(run_ready(&cloud_init, &extra), true), None);
    }
}
