//! What can go wrong with a fault, with what a person needs to act on it.

use crate::remote::RemoteError;
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub(crate) enum FaultError {
    #[error("unknown fault kind `{kind}`; the kinds are: {}\n  hint: `firedrill fault list` describes each", .known.join(", "))]
    UnknownKind { kind: String, known: Vec<String> },

    #[error("{kind} has no parameter `{param}`; {}\n  hint: `firedrill fault list` shows each kind's parameters", allowed_text(.allowed))]
    UnknownParam {
        kind: String,
        param: String,
        allowed: Vec<String>,
    },

    #[error("{kind}: --param {param}={value:?} is not valid: {why}")]
    BadParam {
        kind: String,
        param: String,
        value: String,
        why: String,
    },

    #[error("--param {param} is given twice; give each parameter once")]
    RepeatedParam { param: String },

    #[error(transparent)]
    NoNode(#[from] crate::lab::NoNode),

    #[error("{kind} does not fit node {node}: {why}")]
    DoesNotFit {
        kind: String,
        node: String,
        why: String,
    },

    #[error(
        "{kind} is already on {node} as fault {id}\n  hint: revert it first with `firedrill fault revert {id}`"
    )]
    AlreadyActive {
        kind: String,
        node: String,
        id: String,
    },

    #[error("lab `{lab}` has no fault `{id}`{}\n  hint: `firedrill fault status` lists them", known_text(.known))]
    NoSuchFault {
        lab: String,
        id: String,
        known: Vec<String>,
    },

    #[error(
        "give a fault id or --all, not both\n  hint: `firedrill fault revert f1` or `firedrill fault revert --all`"
    )]
    RevertWhat,

    #[error("{failed}\n  hint: {hint}")]
    Step {
        failed: crate::remote::CommandFailed,
        hint: String,
    },

    #[error(
        "{node}: {step}: unexpected output: {detail}\n  hint: see the node's state with `firedrill ssh {node}`"
    )]
    Unexpected {
        node: String,
        step: String,
        detail: String,
    },

    #[error("{0}\n  hint: is the node up? `firedrill status` shows it")]
    Remote(#[from] RemoteError),

    #[error(transparent)]
    Ssh(#[from] crate::ssh::SshError),

    #[error(transparent)]
    State(#[from] crate::state::StateError),

    #[error(transparent)]
    Lock(#[from] crate::lab::LockError),

    #[error(transparent)]
    Open(#[from] crate::lab::LabOpenError),

    #[error(
        "{node}: the forced reset through libvirt failed: {source}\n  hint: check the domain with `firedrill status`; the fault was rolled back"
    )]
    Reset {
        node: String,
        source: crate::hypervisor::HvError,
    },

    #[error("cannot write the fault record {}: {source}\n  hint: check that the lab directory is writable", path.display())]
    RecordWrite {
        path: PathBuf,
        source: std::io::Error,
    },

    #[error("cannot read the fault records in {}: {source}\n  hint: check the directory's permissions", path.display())]
    RecordRead {
        path: PathBuf,
        source: std::io::Error,
    },

    #[error(
        "the fault record {} is damaged: {source}\n  hint: look at it; `firedrill fault forget ID` sets it aside", path.display()
    )]
    RecordParse {
        path: PathBuf,
        source: serde_json::Error,
    },

    #[error(
        "the fault record {} is damaged: {problem}\n  hint: firedrill will not use it; look at it, and `firedrill fault forget ID` sets it aside", path.display()
    )]
    RecordDamaged { path: PathBuf, problem: String },

    #[error(
        "`{id}` is not a fault id: ids are f1, f2, ...\n  hint: `firedrill fault status` lists them"
    )]
    BadId { id: String },

    #[error(transparent)]
    Event(crate::events::EventError),

    #[error(
        "{count} fault(s) may still be on nodes of lab {lab}: {}\n  hint: revert them with `firedrill fault revert --all`{}, or use `down --force`", .ids.join(", "), damaged_hint(.damaged)
    )]
    StillActive {
        lab: String,
        count: usize,
        ids: Vec<String>,
        /// Damaged records: they cannot be reverted, only forgotten.
        damaged: Vec<String>,
    },

    #[error("fault {id} ({kind} on {node}) failed: {cause}\n{}", rollback_text(.id, .rollback_error.as_deref()))]
    InjectFailed {
        id: String,
        kind: String,
        node: String,
        cause: String,
        rollback_error: Option<String>,
    },

    #[error(
        "{failed} of {total} reverts failed (see above)\n  hint: fix the cause and run `firedrill fault revert --all` again"
    )]
    SomeRevertsFailed { failed: usize, total: usize },
}

fn damaged_hint(damaged: &[String]) -> String {
    if damaged.is_empty() {
        String::new()
    } else {
        format!(
            "; {} damaged and cannot be reverted: look at them, then `firedrill fault forget ID`",
            damaged.join(", ")
        )
    }
}

fn allowed_text(allowed: &[String]) -> String {
    if allowed.is_empty() {
        "it takes no parameters".to_string()
    } else {
        format!("its parameters are: {}", allowed.join(", "))
    }
}

fn rollback_text(id: &str, rollback_error: Option<&str>) -> String {
    match rollback_error {
        None => format!(
            "  every change was rolled back; `firedrill fault status` shows the record ({id})"
        ),
        Some(r) => format!(
            "  the rollback failed too: {r}\n  hint: fix the cause, then run `firedrill fault revert {id}`"
        ),
    }
}

fn known_text(known: &[String]) -> String {
    if known.is_empty() {
        " (it has none)".to_string()
    } else {
        format!("; its faults are: {}", known.join(", "))
    }
}

impl FaultError {
    /// Bad input (exit 2): nothing was changed.
    pub(crate) fn is_usage(&self) -> bool {
        matches!(
            self,
            FaultError::UnknownKind { .. }
                | FaultError::UnknownParam { .. }
                | FaultError::BadParam { .. }
                | FaultError::RepeatedParam { .. }
                | FaultError::NoNode(_)
                | FaultError::DoesNotFit { .. }
                | FaultError::AlreadyActive { .. }
                | FaultError::NoSuchFault { .. }
                | FaultError::RevertWhat
                | FaultError::BadId { .. }
        ) || matches!(self, FaultError::State(e) if e.is_usage())
            || matches!(self, FaultError::Lock(crate::lab::LockError::Busy { .. }))
            || matches!(self, FaultError::Open(e) if e.is_usage())
    }
}
