//! `firedrill client` driven as a user runs it, against servers on 127.0.0.1 that misbehave in
//! known ways. Every run is bounded: a few seconds, and killed if it overstays.

mod html;
mod ramp;
mod retry;
mod server;
mod streams;
mod tls;
mod traffic;
mod usage;

use crate::exe::Exe;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Child;
use std::time::{Duration, Instant};

/// What a finished run left behind.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    /// The `--report` file, one JSON value per line (empty without a report).
    pub report: Vec<Value>,
}

impl Run {
    pub fn summary(&self) -> &Value {
        self.report
            .iter()
            .find(|v| v["type"] == "summary")
            .unwrap_or_else(|| panic!("no summary in the report; stdout:\n{}", self.stdout))
    }

    pub fn seconds(&self) -> Vec<&Value> {
        self.report
            .iter()
            .filter(|v| v["type"] == "second")
            .collect()
    }

    /// Sums a field over the per-second records.
    pub fn per_second_sum(&self, field: &str) -> u64 {
        self.seconds()
            .iter()
            .map(|s| s[field].as_u64().expect("a count"))
            .sum()
    }

    pub fn class(&self, name: &str) -> u64 {
        self.summary()["classes"][name].as_u64().expect("a count")
    }

    pub fn count(&self, field: &str) -> u64 {
        self.summary()[field].as_u64().expect("a count")
    }
}

/// Builds one invocation of the real binary with its own FIREDRILL_HOME.
pub struct Client {
    args: Vec<String>,
    home: tempfile::TempDir,
    report: Option<PathBuf>,
}

impl Default for Client {
    fn default() -> Client {
        Client::new()
    }
}

impl Client {
    pub fn new() -> Client {
        Client {
            args: vec!["client".into()],
            home: tempfile::tempdir().expect("tempdir"),
            report: None,
        }
    }

    pub fn args(mut self, args: &[&str]) -> Client {
        self.args.extend(args.iter().map(|a| a.to_string()));
        self
    }

    pub fn home(&self) -> &Path {
        self.home.path()
    }

    /// Adds `--report` to a file in the home directory.
    pub fn with_report(mut self) -> Client {
        let path = self.home.path().join("report.jsonl");
        self.args.push("--report".into());
        self.args.push(path.display().to_string());
        self.report = Some(path);
        self
    }

    pub fn spawn(&self) -> Child {
        Exe::new(self.home.path())
            .args(&self.args)
            .env_remove("NO_COLOR")
            .spawn()
    }

    /// Waits for `child`, killing it after `limit`.
    pub fn wait(&self, mut child: Child, limit: Duration) -> Run {
        let deadline = Instant::now() + limit;
        while child.try_wait().expect("try_wait").is_none() {
            if Instant::now() > deadline {
                let _ = child.kill();
                let out = child.wait_with_output().expect("output");
                panic!(
                    "firedrill client ran longer than {limit:?}; stdout:\n{}",
                    String::from_utf8_lossy(&out.stdout)
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let out = child.wait_with_output().expect("output");
        let report = match &self.report {
            Some(p) => std::fs::read_to_string(p)
                .unwrap_or_default()
                .lines()
                .map(|l| serde_json::from_str(l).expect("every report line is JSON"))
                .collect(),
            None => Vec::new(),
        };
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            report,
        }
    }

    pub fn run(&self, limit: Duration) -> Run {
        let child = self.spawn();
        self.wait(child, limit)
    }
}
