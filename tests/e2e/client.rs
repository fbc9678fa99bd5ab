//! The mock client run in the sandbox's namespace, and what its report says.

use super::lab::wait_until;
use crate::harness::Sandbox;

/// A mock client against the lab, in the namespace, until `stop` (or the end of the test: a
/// failing test must not leave it running).
pub(super) struct Client(Option<std::process::Child>);

impl Client {
    pub(super) fn start(sb: &Sandbox, report: &std::path::Path, write_ratio: &str) -> Client {
        Client::start_on(sb, "converge", "5", report, write_ratio)
    }

    pub(super) fn start_on(
        sb: &Sandbox,
        lab: &str,
        rate: &str,
        report: &std::path::Path,
        write_ratio: &str,
    ) -> Client {
        let child = sb
            .in_ns(&["client", "--lab", lab, "--rate", rate])
            .args([
                "--write-ratio",
                write_ratio,
                "--duration",
                "1200s",
                "--timeout",
                "5s",
            ])
            .args([std::ffi::OsStr::new("--report"), report.as_os_str()])
            .args([
                std::ffi::OsStr::new("--ledger"),
                report.with_extension("ledger").as_os_str(),
            ])
            .spawn_quiet();
        Client(Some(child))
    }

    /// Stops the client as Ctrl-C would and returns its summary.
    pub(super) fn stop(mut self, report: &std::path::Path) -> serde_json::Value {
        self.interrupt();
        let text = std::fs::read_to_string(report).expect("client report");
        text.lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .find(|v| v["type"] == "summary")
            .unwrap_or_else(|| panic!("no summary in the client report:\n{text}"))
    }

    fn interrupt(&mut self) {
        if let Some(mut child) = self.0.take() {
            let _ = std::process::Command::new("kill")
                .args(["-INT", &child.id().to_string()])
                .status();
            let _ = child.wait();
        }
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        self.interrupt();
    }
}

/// The per-second lines the client has written to its report so far.
pub(super) fn client_seconds(report: &std::path::Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(report)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["type"] == "second")
        .collect()
}

/// Failed requests and the slowest p99 (ms) in the client's seconds from `from` on.
pub(super) fn client_window(report: &std::path::Path, from: usize) -> (u64, f64) {
    client_seconds(report)
        .iter()
        .skip(from)
        .fold((0, 0.0), |(failed, p99), s| {
            (
                failed + s["failed"].as_u64().unwrap_or(0),
                f64::max(p99, s["p99_ms"].as_f64().unwrap_or(0.0)),
            )
        })
}

/// Waits (at most `secs`) until the client has seen `quiet` seconds in a row without a
/// failed request: the service has recovered for its users.
pub(super) fn wait_recovered(report: &std::path::Path, quiet: usize, secs: u64) {
    wait_until("the client sees no failure again", secs, || {
        let seconds = client_seconds(report);
        seconds.len() >= quiet
            && seconds[seconds.len() - quiet..]
                .iter()
                .all(|s| s["failed"].as_u64() == Some(0) && s["sent"].as_u64() > Some(0))
    });
}

/// Failed requests of `class` (or all failures with "any") in the seconds after the first `from`.
pub(super) fn client_failures(report: &std::path::Path, from: usize, class: &str) -> u64 {
    client_seconds(report)
        .iter()
        .skip(from)
        .map(|s| {
            if class == "any" {
                s["failed"].as_u64().unwrap_or(0)
            } else {
                s["classes"][class].as_u64().unwrap_or(0)
            }
        })
        .sum()
}

/// `client verify` of the ledger a client wrote, against lab `lab`'s database (the only lab
/// when `None`): every acknowledged write is there.
#[track_caller]
pub(super) fn assert_no_write_lost(sb: &Sandbox, lab: Option<&str>, ledger: &std::path::Path) {
    let mut args = vec!["client", "verify"];
    args.extend(lab.map(|lab| ["--lab", lab]).iter().flatten());
    args.extend(["--ledger", ledger.to_str().expect("utf-8 path")]);
    let verified = sb.firedrill(&args);
    verified.assert_success("client verify");
    assert!(
        verified.stdout.contains("\n0 of ")
            && verified.stdout.contains(" acknowledged writes lost\n"),
        "{}",
        verified.stdout
    );
}
