//! Running the build's external commands with their output appended to the build log, so a
//! failure can show the log's tail and where the whole log is.

use super::ImageError;
use super::util::{fmt_duration, io_err};
use std::path::Path;
use std::process::Stdio;
use std::time::Instant;
use tokio::process::Command;

/// Runs `cmd` with its output appended to `log`; a failure carries the log's tail.
pub(crate) async fn run(
    step: &'static str,
    cmd: &mut Command,
    log: &Path,
) -> Result<(), ImageError> {
    let described = describe(cmd);
    let file = open_log(log, &described)?;
    let err_file = file.try_clone().map_err(io_err("cannot open", log))?;
    cmd.stdin(Stdio::null())
        .stdout(Stdio::from(file))
        .stderr(Stdio::from(err_file))
        .env("LC_ALL", "C")
        .env("DEBIAN_FRONTEND", "noninteractive")
        .kill_on_drop(true);
    let started = Instant::now();
    let status = cmd
        .status()
        .await
        .map_err(io_err("cannot run", Path::new(&described)))?;
    log_line(
        log,
        &format!("({status} after {})", fmt_duration(started.elapsed())),
    );
    if status.success() {
        Ok(())
    } else {
        Err(command_failed(step, described, status, log))
    }
}

/// Like `run`, but returns stdout (stderr goes to the log).
pub(crate) async fn output(
    step: &'static str,
    cmd: &mut Command,
    log: &Path,
) -> Result<String, ImageError> {
    let described = describe(cmd);
    let file = open_log(log, &described)?;
    cmd.stdin(Stdio::null())
        .stderr(Stdio::from(file))
        .env("LC_ALL", "C")
        .kill_on_drop(true);
    let out = cmd
        .output()
        .await
        .map_err(io_err("cannot run", Path::new(&described)))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(command_failed(step, described, out.status, log))
    }
}

fn describe(cmd: &Command) -> String {
    let std = cmd.as_std();
    std::iter::once(std.get_program())
        .chain(std.get_args())
        .map(|a| a.to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

fn open_log(log: &Path, described: &str) -> Result<std::fs::File, ImageError> {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(log)
        .map_err(io_err("cannot open", log))?;
    writeln!(f, "\n$ {described}").map_err(io_err("cannot write", log))?;
    Ok(f)
}

/// Best effort: the log is for people, a failure to append must not fail the build.
fn log_line(log: &Path, line: &str) {
    use std::io::Write;
    if let Ok(mut f) = std::fs::OpenOptions::new().append(true).open(log) {
        let _ = writeln!(f, "{line}");
    }
}

fn command_failed(
    step: &'static str,
    command: String,
    status: std::process::ExitStatus,
    log: &Path,
) -> ImageError {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    let tail = lines[lines.len().saturating_sub(15)..].join("\n");
    ImageError::Command {
        step,
        command,
        status: status.to_string(),
        log: log.to_path_buf(),
        tail,
    }
}
