//! `firedrill fault list | apply | status | revert`: argument types and the I/O around the
//! engine (lab state, SSH sessions, libvirt). Listing and tables are pure functions.

use super::engine::{Engine, Host, Reverted};
use super::params::{parse_for, parse_param};
use super::record::{FaultRecord, Store};
use super::{FaultError, KINDS, Kind};
use crate::lab::Lab;
use crate::paths::{Home, LabDir};
use crate::remote::{Output, Remote, RemoteError};
use crate::state::{LabState, NodeState};
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

fn kind_names() -> clap::builder::PossibleValuesParser {
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
pub(crate) fn format_list(kinds: &[Kind]) -> String {
    let mut out = String::new();
    for k in kinds {
        let _ = writeln!(out, "{:<16} {}", k.name, k.about);
        for p in k.params {
            let flag = format!("--param {}={}", p.name, p.value);
            let _ = writeln!(out, "{:<16} {flag:<34} {}", "", p.help);
        }
    }
    out
}

pub(crate) fn load(home: &Home, lab: Option<&str>) -> Result<(LabDir, LabState), FaultError> {
    let lab = Lab::open(home, lab)?;
    Ok((lab.dir, lab.state))
}

pub(crate) fn node<'a>(state: &'a LabState, name: &str) -> Result<&'a NodeState, FaultError> {
    state.node(name).ok_or_else(|| FaultError::NoNode {
        lab: state.name.to_string(),
        node: name.to_string(),
        nodes: state.nodes.iter().map(|n| n.name.clone()).collect(),
    })
}

pub(crate) async fn connect(
    dir: &LabDir,
    state: &LabState,
    node: &NodeState,
) -> Result<crate::ssh::Session, FaultError> {
    let target = crate::lab::target(dir, state, node);
    Ok(crate::ssh::connect(&target, crate::ssh::Purpose::Change).await?)
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
    let node = node(state, target.node)?;
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
        domain: &node.domain,
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

/// A node that is never contacted: reverting a record that never got past its first write, or
/// a fault whose every change is on the host.
struct Unreached(String);

impl Remote for Unreached {
    fn node(&self) -> &str {
        &self.0
    }
    async fn run(&self, _command: &str, _stdin: Option<&[u8]>) -> Result<Output, RemoteError> {
        Err(RemoteError {
            node: self.0.clone(),
            message: "not connected".to_string(),
        })
    }
}

/// Reverts fault `id`, or with `all` every fault that may still be on a node, newest first;
/// `print` says what was undone (levels keep it to their debrief).
pub(crate) async fn revert(
    home: &Home,
    lab: Option<&str>,
    id: Option<&str>,
    all: bool,
    print: bool,
) -> Result<(), FaultError> {
    let lab = Lab::lock(home, lab, "`firedrill fault revert`")?;
    let (dir, state) = (&lab.dir, &lab.state);
    let store = Store::new(dir);
    let mut damaged = 0;
    let records: Vec<FaultRecord> = match (id, all) {
        (Some(_), true) | (None, false) => return Err(FaultError::RevertWhat),
        (Some(id), false) => {
            let found = store.load(id)?.ok_or_else(|| FaultError::NoSuchFault {
                lab: state.name.to_string(),
                id: id.to_string(),
                known: store
                    .all()
                    .map(|rs| rs.into_iter().map(|r| r.id).collect())
                    .unwrap_or_default(),
            })?;
            vec![found]
        }
        (None, true) => {
            let scan = store.scan()?;
            for d in &scan.damaged {
                eprintln!(
                    "error: {}: {}\n  hint: look at {}; `firedrill fault forget {}` sets it aside",
                    d.id,
                    d.problem,
                    d.path.display(),
                    d.id
                );
            }
            damaged = scan.damaged.len();
            scan.records
                .into_iter()
                .rev()
                .filter(FaultRecord::needs_revert)
                .collect()
        }
    };
    if all && records.is_empty() && damaged == 0 {
        if print {
            println!("no fault to revert in lab {}", state.name);
        }
        return Ok(());
    }
    let host = LibvirtHost {
        uri: state.uri.clone(),
    };
    let total = records.len();
    let mut failed = 0;
    for mut rec in records {
        match revert_one(dir, state, &store, &host, &mut rec).await {
            Ok(lines) if print => print!("{lines}"),
            Ok(_) => {}
            Err(e) if !all => return Err(e),
            Err(e) => {
                failed += 1;
                eprintln!("error: {}: {e}", rec.id);
            }
        }
    }
    if failed + damaged > 0 {
        return Err(FaultError::SomeRevertsFailed {
            failed: failed + damaged,
            total: total + damaged,
        });
    }
    Ok(())
}

/// Reverts one record; returns what to print.
async fn revert_one(
    dir: &LabDir,
    state: &LabState,
    store: &Store,
    host: &LibvirtHost,
    rec: &mut FaultRecord,
) -> Result<String, FaultError> {
    let kind = rec.kind();
    let head = format!("{}: {kind} on {}", rec.id, rec.node);
    if !rec.needs_revert() {
        return Ok(format!(
            "{head}: already reverted ({}); nothing to do\n",
            rec.updated
        ));
    }
    let node = node(state, &rec.node)?;
    // A fault that acts on the host side (net-delay's qdisc on the node's tap) is undone
    // there: the node need not answer (with loss=100 it cannot).
    let on_host = rec.fault.ops().on_host();
    let outcome = if rec.prepared && !on_host {
        let session = connect(dir, state, node).await?;
        let outcome = Engine {
            lab: dir,
            store,
            remote: &session,
            host,
            domain: &node.domain,
        }
        .revert(rec)
        .await;
        session.close().await;
        outcome?
    } else {
        let unreached = Unreached(node.name.clone());
        Engine {
            lab: dir,
            store,
            remote: &unreached,
            host,
            domain: &node.domain,
        }
        .revert(rec)
        .await?
    };
    Ok(format_reverted(&head, &outcome))
}

pub(crate) fn format_reverted(head: &str, outcome: &Reverted) -> String {
    match outcome {
        Reverted::Done(lines) if lines.is_empty() => {
            format!("{head}: reverted (nothing was left to undo on the node)\n")
        }
        Reverted::Done(lines) => {
            let mut out = format!("{head}: reverted\n");
            for l in lines {
                let _ = writeln!(out, "  {l}");
            }
            out
        }
        Reverted::NothingChanged => {
            format!("{head}: reverted (the inject had not changed anything on the node)\n")
        }
        Reverted::Already => format!("{head}: already reverted; nothing to do\n"),
    }
}

/// For `down`: refuses while faults may still be on nodes. A lab that cannot be selected is
/// left for `down` itself to report.
pub(crate) fn ensure_none_active(home: &Home, lab: Option<&str>) -> Result<(), FaultError> {
    let Ok(name) = crate::state::select(home, lab) else {
        return Ok(());
    };
    let scan = Store::new(&home.lab(&name)).scan()?;
    let damaged: Vec<String> = scan.damaged.into_iter().map(|d| d.id).collect();
    let ids: Vec<String> = scan
        .records
        .into_iter()
        .filter(FaultRecord::needs_revert)
        .map(|r| r.id)
        .chain(damaged.iter().cloned())
        .collect();
    if ids.is_empty() {
        return Ok(());
    }
    Err(FaultError::StillActive {
        lab: name.to_string(),
        count: ids.len(),
        ids,
        damaged,
    })
}

/// `(id, node)` of every fault that may still be on a node of the lab (damaged records count
/// with node `?`: nothing can tell where they are).
pub(crate) fn active(dir: &LabDir) -> Result<Vec<(String, String)>, FaultError> {
    let scan = Store::new(dir).scan()?;
    Ok(scan
        .records
        .into_iter()
        .filter(FaultRecord::needs_revert)
        .map(|r| (r.id, r.node))
        .chain(scan.damaged.into_iter().map(|d| (d.id, "?".to_string())))
        .collect())
}

/// `fault forget ID`: sets a record aside so that it no longer blocks anything, and says what
/// that leaves on the node.
async fn forget(home: &Home, lab: Option<&str>, id: &str) -> Result<(), FaultError> {
    let lab = Lab::lock(home, lab, "`firedrill fault forget`")?;
    let dir = &lab.dir;
    let store = Store::new(dir);
    let left = match store.load(id) {
        Ok(None) => {
            return Err(FaultError::NoSuchFault {
                lab: dir.name().to_string(),
                id: id.to_string(),
                known: store.all()?.into_iter().map(|r| r.id).collect(),
            });
        }
        Ok(Some(mut rec)) if rec.needs_revert() => {
            let (kind, summary) = (rec.kind(), rec.fault.ops().summary());
            format!(
                "what it did stays on {}: {kind} ({summary}); undo it by hand",
                rec.node
            )
        }
        Ok(Some(_)) => "nothing of it is left on its node".to_string(),
        Err(e @ (FaultError::RecordParse { .. } | FaultError::RecordDamaged { .. })) => format!(
            "the record was damaged ({}), so whatever the fault did to its node stays; check the node by hand",
            e.to_string().lines().next().unwrap_or_default()
        ),
        Err(e) => return Err(e),
    };
    let kept = store.forget(id)?;
    println!("fault {id}: forgotten; {left}");
    println!("  the record is kept at {}", kept.display());
    Ok(())
}

#[cfg(test)]
#[path = "command_tests.rs"]
mod tests;
