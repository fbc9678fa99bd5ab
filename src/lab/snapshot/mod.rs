//! Snapshots of a whole lab: every node's disks and memory, taken while every node is paused
//! together, so the databases and the app servers agree on one moment. Each node's part is a
//! libvirt snapshot of the same name inside the node's qcow2 overlay; libvirt is the record of
//! which exist (nothing of ours to fall out of step with it), and `down` removes them with the
//! disks.
//!
//! One mechanism for two users: `firedrill snapshot save|list|restore|rm NAME` (names the
//! learner picks) and a level's baseline (`firedrill reset`), which is the reserved name
//! `firedrill-baseline`.
//!
//! - `take.rs`: pause, snapshot, resume; revert; delete; the lab's snapshots (libvirt only);
//! - `clock.rs`: guest clocks set from the host's after a pause or a revert (over SSH);
//! - `sizes.rs`: memory state and disk sizes, read from the overlays with `qemu-img info`;
//! - `command.rs`: the commands and what they print.

mod clock;
mod command;
mod sizes;
mod take;
#[cfg(test)]
mod tests;

pub(crate) use command::{SnapshotCommand, removed_with_lab, run};
pub(crate) use take::{restore_lab, save_lab};

use crate::hypervisor::HvError;

/// The rule a snapshot name follows, for messages.
const NAME_RULE: &str =
    "lowercase letters, digits and '-' (at most 40), starting and ending with a letter or digit";

/// Names starting with this are firedrill's own (a level's baseline).
const RESERVED_PREFIX: &str = "firedrill-";

/// A snapshot's name, checked: a DNS label of at most 40 characters. libvirt builds a file name
/// from it (its snapshot metadata), so nothing else ever reaches it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SnapshotName(String);

impl SnapshotName {
    /// A name the learner gave: a label, and not one of firedrill's own.
    pub(crate) fn parse(name: &str) -> Result<SnapshotName, SnapshotError> {
        if !crate::paths::is_label(name, 40) {
            return Err(SnapshotError::BadName(name.to_string()));
        }
        if name.starts_with(RESERVED_PREFIX) {
            return Err(SnapshotError::Reserved(name.to_string()));
        }
        Ok(SnapshotName(name.to_string()))
    }

    /// The snapshot a level takes when it starts and `firedrill reset` returns to.
    pub(crate) fn baseline() -> SnapshotName {
        SnapshotName("firedrill-baseline".to_string())
    }

    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether a name libvirt lists is firedrill's own, not the learner's.
    fn is_reserved(name: &str) -> bool {
        name.starts_with(RESERVED_PREFIX)
    }
}

impl std::fmt::Display for SnapshotName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(&self.0)
    }
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum SnapshotError {
    #[error("`{0}` is not a snapshot name: use {NAME_RULE}")]
    BadName(String),
    #[error(
        "`{0}` is reserved for firedrill's own snapshots (a level's baseline)\n  hint: pick another name; `firedrill reset` returns to a level's baseline"
    )]
    Reserved(String),
    #[error(
        "lab {lab} already has a snapshot `{name}`\n  hint: pick another name, or `firedrill snapshot rm {name}` first"
    )]
    Exists { lab: String, name: String },
    #[error("lab {lab} has no snapshot `{name}`\n  hint: {}", have_hint(.have))]
    NotFound {
        lab: String,
        name: String,
        have: Vec<String>,
    },
    #[error(
        "snapshot `{name}` has no copy of {} (added or rebuilt since it was taken); nothing was restored\n  hint: take the lab back to the nodes it had (edit the lab file, `firedrill up`), or `firedrill snapshot rm {name}`",
        .nodes.join(", ")
    )]
    Incomplete { name: String, nodes: Vec<String> },
    #[error(transparent)]
    Hypervisor(#[from] HvError),
    #[error(transparent)]
    Open(#[from] crate::lab::LabOpenError),
    #[error(transparent)]
    State(#[from] crate::state::StateError),
}

fn have_hint(have: &[String]) -> String {
    if have.is_empty() {
        "it has none; `firedrill snapshot save NAME` takes one".to_string()
    } else {
        format!(
            "its snapshots: {} (`firedrill snapshot list`)",
            have.join(", ")
        )
    }
}

impl SnapshotError {
    /// A bad name, or a name that is not there, is bad usage (exit 2).
    pub(crate) fn is_usage(&self) -> bool {
        match self {
            SnapshotError::BadName(_)
            | SnapshotError::Reserved(_)
            | SnapshotError::NotFound { .. } => true,
            SnapshotError::Open(e) => e.is_usage(),
            SnapshotError::State(e) => e.is_usage(),
            _ => false,
        }
    }
}
