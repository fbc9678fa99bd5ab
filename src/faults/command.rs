//! `firedrill fault list | apply | status | revert`: argument types and the I/O around the
//! engine (lab state, SSH sessions, libvirt). Listing and tables are pure functions.

use super::engine::{Engine, Host};
use super::params::{parse_for, parse_param};
use super::record::{FaultRecord, Store};
use super::revert::{forget, revert};
use super::{FaultError, KINDS, Kind};
use crate::lab::Lab;
use crate::paths::Home;
use crate::remote::{Output, RemoteError};
use clap::Subcommand;
use std::fmt::Write;
use std::time::Duration;

#[derive(Debug, Subcommand)]
pub(crate) enum FaultCommand {
    /// Every fault kind, what it does and its parameters.
    List,
    /// Inject a fault into a node; prints the fault's id.
    Apply {
        /// The fault kind (see `firedrill fault list`).
        #[arg(value_parser = kind_names())]
        kind: String,
        /// The node, as in the lab file.
        node: String,
        /// A parameter of the kind, e.g. --param leave=100 (repeatable).
        #[arg(long = "param", value_name = "KEY=VALUE", value_parser = parse_param)]
        params: Vec<(String, String)>,
        /// Revert automatically after this long (a timer on the node does it), e.g. 10m.
        #[arg(long = "for", value_name = "DURATION", value_parser = parse_for)]
        duration: Option<Duration>,
        #[arg(long)]
        lab: Option<String>,
    },
    /// Each fault, its state and whether it is still in effect on its node.
    Status {
        #[arg(long)]
        lab: Option<String>,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Undo a fault (or all of them) from its record.
    Revert {
        /// The fault's id, as `fault apply` printed it (f1, f2, ...).
        #[arg(required_unless_present = "all", conflicts_with = "all")]
        id: Option<String>,
        /// Every fault that may still be on a node, newest first.
        #[arg(long)]
        all: bool,
        #[arg(long)]
        lab: Option<String>,
    },
    /// Set a fault's record aside without reverting it (a damaged record, or a fault you undid
    /// by hand); says what that leaves on the node.
    Forget {
        /// The fault's id (f1, f2, ...).
        id: String,
        #[arg(long)]
        lab: Option<String>,
    },
}

pub(crate) fn kind_names() -> clap::builder::PossibleValuesParser {
    clap::builder::PossibleValuesParser::new(KINDS.iter().map(|k| k.name))
}

pub(crate) async fn run(cmd: FaultCommand, home: &Home) -> Result<(), FaultError> {
    match cmd {
        FaultCommand::List => {
            print!("{}", format_list(KINDS));
            Ok(())
        }
        FaultCommand::Apply {
            kind,
            node,
            params,
            duration,
            lab,
        } => {
            let target = Target {
                lab: lab.as_deref(),
                kind: &kind,
                node: &node,
                params: &params,
                duration,
                hidden: false,
            };
            let rec = apply(home, target).await?;
            print_applied(rec);
            Ok(())
        }
        FaultCommand::Status { lab, json } => {
            super::status::status(home, lab.as_deref(), json).await
        }
        FaultCommand::Revert { id, all, lab } => {
            revert(home, lab.as_deref(), id.as_deref(), all, true).await
        }
        FaultCommand::Forget { id, lab } => forget(home, lab.as_deref(), &id).await,
    }
}

/// `fault list`: each kind with its description, then its parameters indented.
/// The name column is as wide as the longest name.
pub(crate) fn format_list(kinds: &[Kind]) -> String {
    let width = kinds.iter().map(|k| k.name.len()).max().unwrap_or(0);
    let mut out = String::new();
    for k in kinds {
        let _ = writeln!(out, "{:<width$} {}", k.name, k.about);
        for p in k.params {
            let flag = format!("--param {}={}", p.name, p.value);
            let _ = writeln!(out, "{:<width$} {flag:<34} {}", "", p.help);
        }
    }
    out
}

/// Resets domains through libvirt.
pub(crate) struct LibvirtHost {
    pub(crate) uri: String,
}

impl Host for LibvirtHost {
    async fn reset(&self, node: &str, domain: &str) -> Result<(), FaultError> {
        use crate::hypervisor::{HvError, Hypervisor, Libvirt};
        let (uri, name) = (self.uri.clone(), domain.to_string());
        let result = tokio::task::spawn_blocking(move || {
            Libvirt::open(Some(&uri)).and_then(|hv| hv.reset_domain(&name))
        })
        .await
        .unwrap_or_else(|e| Err(HvError::Join(e.to_string())));
        result.map_err(|source| FaultError::Reset {
            node: node.to_string(),
            source,
        })
    }

    /// `sh -c` here, through `sudo -n` unless firedrill runs as root (tc needs it), with the
    /// lab's libvirt URI for virsh.
    async fn run(&self, script: &str, stdin: Option<&[u8]>) -> Result<Output, FaultError> {
        use tokio::io::AsyncWriteExt;
        // SAFETY: geteuid has no preconditions and cannot fail.
        let root = unsafe { libc::geteuid() } == 0;
        let mut cmd = if root {
            tokio::process::Command::new("sh")
        } else {
            let mut c = tokio::process::Command::new("sudo");
            c.args(["-n", "--preserve-env=LIBVIRT_DEFAULT_URI", "sh"]);
            c
        };
        cmd.arg("-c")
            .arg(script)
            .env("LIBVIRT_DEFAULT_URI", &self.uri)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        let failed = |e: std::io::Error| {
            FaultError::Remote(RemoteError {
                node: "host".to_string(),
                message: format!("cannot run sh: {e}"),
            })
        };
        let mut child = cmd.spawn().map_err(failed)?;
        if let Some(mut input) = child.stdin.take() {
            input
                .write_all(stdin.unwrap_or_default())
                .await
                .map_err(failed)?;
        }
        let out = child.wait_with_output().await.map_err(failed)?;
        Ok(Output {
            status: out
                .status
                .code()
                .map_or(255, |c| u32::try_from(c).unwrap_or(255)),
            stdout: out.stdout,
            stderr: out.stderr,
        })
    }
}

/// Which fault goes where, and how.
pub(crate) struct Target<'a> {
    pub(crate) lab: Option<&'a str>,
    pub(crate) kind: &'a str,
    pub(crate) node: &'a str,
    pub(crate) params: &'a [(String, String)],
    /// Revert automatically after this long (`--for`).
    pub(crate) duration: Option<Duration>,
    /// For levels: the event log and `fault status` keep the kind and node secret.
    pub(crate) hidden: bool,
}

/// Injects a fault and returns its record (levels call this in-process; the CLI prints it).
pub(crate) async fn apply(home: &Home, target: Target<'_>) -> Result<FaultRecord, FaultError> {
    let lab = Lab::lock(home, target.lab, "`firedrill fault apply`")?;
    let (dir, state) = (&lab.dir, &lab.state);
    let node = lab.require_node(target.node)?;
    let kind = Kind::find(target.kind)?;
    let fault = kind.fault(node, target.params)?;
    let store = Store::new(dir);
    for mut r in store.all()? {
        if r.node == node.name && r.needs_revert() && r.kind() == kind.name {
            return Err(FaultError::AlreadyActive {
                kind: kind.name.to_string(),
                node: node.name.clone(),
                id: r.id,
            });
        }
    }
    let session = lab.shell(node, crate::ssh::Purpose::Change).await?;
    let host = LibvirtHost {
        uri: state.uri.clone(),
    };
    let mut rec = FaultRecord::new(&node.name, fault);
    rec.hidden = target.hidden;
    let result = Engine {
        lab: dir,
        store: &store,
        remote: &session,
        host: &host,
        domain: &node.domain.name,
    }
    .inject(&mut rec, target.duration.map(|d| d.as_secs()))
    .await;
    session.close().await;
    result?;
    Ok(rec)
}

/// What `fault apply` prints: the id alone on stdout, for scripts; the rest is for people.
fn print_applied(mut rec: FaultRecord) {
    println!("{}", rec.id);
    let summary = rec.fault.ops().summary();
    eprintln!("{} on {}: active ({summary})", rec.kind(), rec.node);
    if let Some(t) = &rec.auto_revert {
        eprintln!(
            "  the node reverts it by itself at {} (timer {}.timer)",
            t.due, t.unit
        );
    }
    if rec.fault.ops().resets_node() {
        eprintln!(
            "  {} was reset and is booting; `firedrill fault status` checks it once it answers",
            rec.node
        );
    }
    eprintln!("  revert: firedrill fault revert {}", rec.id);
}

#[cfg(test)]
#[path = "command_tests.rs"]
mod tests;
