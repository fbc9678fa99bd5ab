//! The mock client in the background: `play` starts `firedrill client` (this executable) in a
//! session of its own, so closing the terminal does not stop it, and records its PID; the end
//! of a play stops it by that PID after checking that the PID is still that client.

use super::LevelError;
use super::level::ClientSettings;
use super::play_state::ClientProc;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Starts the client for `lab`, writing its report and output into `dir`.
pub(crate) fn start(
    lab: &str,
    settings: &ClientSettings,
    url: Option<&str>,
    cacert: Option<&Path>,
    dir: &Path,
) -> Result<ClientProc, LevelError> {
    std::fs::create_dir_all(dir).map_err(|source| LevelError::Write {
        path: dir.to_path_buf(),
        source,
    })?;
    let report = dir.join("client.jsonl");
    let log = dir.join("client.log");
    let ledger = dir.join("ledger.jsonl");
    let out = std::fs::File::create(&log).map_err(|source| LevelError::Write {
        path: log.clone(),
        source,
    })?;
    let err = out.try_clone().map_err(LevelError::ClientStart)?;
    let exe = std::env::current_exe().map_err(LevelError::ClientStart)?;
    let mut cmd = Command::new(exe);
    cmd.arg("client")
        .args(["--lab", lab])
        .arg("--report")
        .arg(&report)
        .arg("--ledger")
        .arg(&ledger)
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .env("NO_COLOR", "1");
    match (&settings.streams, &settings.ramp) {
        (Some(streams), _) => {
            cmd.arg("--streams").arg(&streams.value);
        }
        (None, Some(ramp)) => {
            cmd.args(["--ramp", &ramp.value]);
            cmd.args(["--write-ratio", &settings.write_ratio.to_string()]);
        }
        (None, None) => {
            cmd.args(["--rate", &settings.rate.to_string()]);
            cmd.args(["--write-ratio", &settings.write_ratio.to_string()]);
        }
    }
    if let Some(url) = url {
        cmd.args(["--url", url]);
    }
    if let Some(ca) = cacert {
        cmd.arg("--cacert").arg(ca);
    }
    // SAFETY: setsid is async-signal-safe and touches no memory of the parent.
    unsafe {
        cmd.pre_exec(|| {
            libc::setsid();
            Ok(())
        });
    }
    let child = cmd.spawn().map_err(LevelError::ClientStart)?;
    Ok(ClientProc {
        pid: child.id(),
        report,
        log,
        ledger: Some(ledger),
    })
}

/// Whether `pid` runs and is not a zombie (a detached client's parent is gone, and PID 1 may
/// not reap it here).
pub(crate) fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state follows the command name in parentheses, which may itself hold spaces.
        Ok(stat) => stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .is_some_and(|state| state != "Z" && state != "X"),
        Err(_) => false,
    }
}

/// Whether `pid`'s command line contains `needle` (the report path): PIDs are reused.
pub(crate) fn is_ours(pid: u32, needle: &str) -> bool {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|c| String::from_utf8_lossy(&c).contains(needle))
        .unwrap_or(false)
}

/// Stops the process with SIGINT (the client then writes its summary), SIGKILL after 10 s.
/// Returns whether it was running.
pub(crate) async fn stop(pid: u32, needle: &str) -> bool {
    if !alive(pid) || !is_ours(pid, needle) {
        return false;
    }
    let Ok(raw) = i32::try_from(pid) else {
        return false;
    };
    // SAFETY: kill(2) with a PID checked above to be our client.
    unsafe { libc::kill(raw, libc::SIGINT) };
    let deadline = Instant::now() + Duration::from_secs(10);
    while alive(pid) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    if alive(pid) {
        // SAFETY: as above.
        unsafe { libc::kill(raw, libc::SIGKILL) };
        // SIGKILL is delivered asynchronously: wait (briefly) until it has taken effect, so a
        // caller never sees the client still running after `stop` (seen under heavy load).
        let deadline = Instant::now() + Duration::from_secs(5);
        while alive(pid) && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    true
}

/// The last lines of the client's output, for error messages.
pub(crate) fn log_tail(log: &Path, n: usize) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn stops_only_its_own_process_and_sees_a_zombie_as_gone() {
        let mut child = Command::new("sleep").arg("30.25").spawn().expect("sleep");
        let pid = child.id();
        // Until the child has exec'd, its command line is ours.
        let deadline = Instant::now() + Duration::from_secs(5);
        while !is_ours(pid, "30.25") && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        assert!(alive(pid));
        // Another needle: not ours, left alone.
        assert!(!stop(pid, "client.jsonl").await);
        assert!(alive(pid));
        assert!(stop(pid, "30.25").await);
        // Not reaped yet: a zombie counts as stopped.
        assert!(!alive(pid));
        let status = child.wait().expect("wait");
        assert!(!status.success());
        assert!(!stop(pid, "30.25").await);
    }

    #[test]
    fn log_tail_keeps_the_last_lines() {
        let tmp = tempfile::tempdir().unwrap();
        let log = tmp.path().join("client.log");
        std::fs::write(&log, "a\nb\nc\n").unwrap();
        assert_eq!(log_tail(&log, 2), "b\nc");
        assert_eq!(log_tail(&tmp.path().join("none"), 2), "");
    }
}
