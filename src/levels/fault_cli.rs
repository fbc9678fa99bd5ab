//! Faults are applied and reverted by running `firedrill fault ...` (this executable), not by
//! calling the faults module: the command records, verifies and rolls back each fault itself,
//! and this module needs nothing from it at the Rust level.

use super::LevelError;
use crate::remote::Output;

fn tail(bytes: &[u8], n: usize) -> String {
    Output {
        status: 0,
        stdout: Vec::new(),
        stderr: bytes.to_vec(),
    }
    .stderr_tail(n)
}

async fn firedrill(args: &[String]) -> Result<std::process::Output, LevelError> {
    let exe = std::env::current_exe().map_err(|e| LevelError::Cli {
        command: args.join(" "),
        message: e.to_string(),
        hint: "run firedrill from its installed path".to_string(),
    })?;
    tokio::process::Command::new(exe)
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .map_err(|e| LevelError::Cli {
            command: args.join(" "),
            message: e.to_string(),
            hint: "check the process limits (ulimit -u)".to_string(),
        })
}

fn failed(args: &[String], out: &std::process::Output) -> LevelError {
    let stderr = tail(&out.stderr, 4);
    let hint = if stderr.contains("unrecognized subcommand") {
        "this build of firedrill has no `fault` command; build one that has the faults".to_string()
    } else {
        format!(
            "`firedrill fault status --lab {}` shows the lab's faults",
            lab_of(args)
        )
    };
    LevelError::Cli {
        command: args.join(" "),
        message: if stderr.is_empty() {
            format!("exit {}", out.status)
        } else {
            stderr
        },
        hint,
    }
}

fn lab_of(args: &[String]) -> &str {
    args.iter()
        .position(|a| a == "--lab")
        .and_then(|i| args.get(i + 1))
        .map_or("LAB", String::as_str)
}

/// The arguments of `fault apply`.
pub(crate) fn apply_args(
    lab: &str,
    kind: &str,
    node: &str,
    params: &[(String, String)],
) -> Vec<String> {
    let mut args: Vec<String> = ["fault", "apply", kind, node, "--lab", lab, "--hidden"]
        .map(String::from)
        .to_vec();
    for (k, v) in params {
        args.push("--param".to_string());
        args.push(format!("{k}={v}"));
    }
    args
}

/// Injects a fault; returns its id (the first line `fault apply` prints).
pub(crate) async fn apply(
    lab: &str,
    kind: &str,
    node: &str,
    params: &[(String, String)],
) -> Result<String, LevelError> {
    let args = apply_args(lab, kind, node, params);
    let out = firedrill(&args).await?;
    if !out.status.success() {
        return Err(failed(&args, &out));
    }
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .next()
        .unwrap_or("")
        .trim()
        .to_string())
}

/// Reverts every fault of the lab that may still be active.
pub(crate) async fn revert_all(lab: &str) -> Result<(), LevelError> {
    let args: Vec<String> = ["fault", "revert", "--all", "--lab", lab]
        .map(String::from)
        .to_vec();
    let out = firedrill(&args).await?;
    if out.status.success() {
        Ok(())
    } else {
        Err(failed(&args, &out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn apply_passes_each_param() {
        assert_eq!(
            apply_args(
                "three-tier",
                "time-drift",
                "app1",
                &[
                    ("mode".into(), "clock".into()),
                    ("offset".into(), "-3h".into())
                ]
            ),
            [
                "fault",
                "apply",
                "time-drift",
                "app1",
                "--lab",
                "three-tier",
                "--hidden",
                "--param",
                "mode=clock",
                "--param",
                "offset=-3h"
            ]
        );
    }

    #[test]
    fn a_failure_names_the_command_and_what_to_do() {
        use std::os::unix::process::ExitStatusExt;
        let args = apply_args("lab1", "disk-full", "app1", &[]);
        let out = std::process::Output {
            status: std::process::ExitStatus::from_raw(2 << 8),
            stdout: vec![],
            stderr: b"error: unrecognized subcommand 'fault'\n".to_vec(),
        };
        assert_eq!(
            failed(&args, &out).to_string(),
            "`firedrill fault apply disk-full app1 --lab lab1 --hidden` failed: error: unrecognized subcommand 'fault'\n  \
             hint: this build of firedrill has no `fault` command; build one that has the faults"
        );
        let out = std::process::Output {
            stderr: b"disk-full on app1 is already active (f1)\n".to_vec(),
            ..out
        };
        assert_eq!(
            failed(&args, &out).to_string(),
            "`firedrill fault apply disk-full app1 --lab lab1 --hidden` failed: disk-full on app1 is already active (f1)\n  \
             hint: `firedrill fault status --lab lab1` shows the lab's faults"
        );
    }
}
