//! The fault kinds a level may name, with their parameters and the role their node needs.
//!
//! This mirrors `faults::KINDS` (branch `faults`) so that validation works on a build without
//! the faults module; once it is merged, this table should be derived from `faults::KINDS`.
//! Faults are applied through `firedrill fault apply`, which checks the values themselves.

use crate::spec::Role;

#[derive(Debug, Clone, Copy)]
pub(crate) struct KindInfo {
    pub(crate) name: &'static str,
    pub(crate) params: &'static [&'static str],
    /// The role the node must have, when the kind breaks something of one role.
    pub(crate) needs: Option<Role>,
}

pub(crate) const KINDS: &[KindInfo] = &[
    KindInfo {
        name: "disk-full",
        params: &["leave", "path"],
        needs: Some(Role::App),
    },
    KindInfo {
        name: "memory-hog",
        params: &["leave"],
        needs: None,
    },
    KindInfo {
        name: "cpu-hog",
        params: &["workers"],
        needs: None,
    },
    KindInfo {
        name: "reboot-no-unit",
        params: &[],
        needs: Some(Role::App),
    },
    KindInfo {
        name: "time-drift",
        params: &["mode", "zone", "offset"],
        needs: None,
    },
    KindInfo {
        name: "bad-permissions",
        params: &["target", "how"],
        needs: Some(Role::App),
    },
    KindInfo {
        name: "missing-dir",
        params: &[],
        needs: Some(Role::App),
    },
    KindInfo {
        name: "service-stopped",
        params: &["service"],
        needs: None,
    },
];

pub(crate) fn find(name: &str) -> Option<&'static KindInfo> {
    KINDS.iter().find(|k| k.name == name)
}

/// The ways a text can name a kind: `disk-full`, `disk full`.
pub(crate) fn spellings(name: &str) -> [String; 2] {
    [name.to_string(), name.replace('-', " ")]
}
