use crate::spec::Problems;
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub(crate) enum LevelError {
    /// The level file is invalid: every problem is listed.
    #[error("{0}")]
    Invalid(Problems),
    #[error("no level `{name}` in {searched}; levels: {}\n  hint: give a level id from that list or a path to a level file", known.join(", "))]
    NotFound {
        name: String,
        /// The directories searched (`sources::Search::describe`).
        searched: String,
        known: Vec<String>,
    },
    #[error("no level files in {0}\n  hint: set FIREDRILL_LEVELS to a directory of level files")]
    NoLevels(String),
    #[error(
        "no {difficulty} incident in {searched}\n  hint: `firedrill play --list` shows each level's difficulty (easy, medium, hard)"
    )]
    NoneOfDifficulty {
        difficulty: String,
        searched: String,
    },
    #[error(transparent)]
    Builtin(#[from] crate::builtin::BuiltinError),
    #[error(
        "no level is being played\n  hint: start one with `firedrill play LEVEL` or `firedrill play --random`"
    )]
    NoPlay,
    #[error(
        "level `{0}` is still being played\n  hint: finish it (`firedrill check`), or end it with `firedrill give-up` or `firedrill reset`"
    )]
    InProgress(String),
    #[error(
        "level `{level}` has ended ({outcome})\n  hint: `firedrill report` writes its incident report; `firedrill play` starts another level"
    )]
    Ended { level: String, outcome: String },
    #[error(
        "lab `{lab}` is not healthy, so the level would not start from a known state:\n{detail}\n  hint: `firedrill up {file}` repairs it; if that does not help, `firedrill down --lab {lab}` and up again"
    )]
    Unhealthy {
        lab: String,
        file: PathBuf,
        detail: String,
    },
    #[error("the service is not healthy before the faults: {detail}\n  hint: see the mock client's log {}; `firedrill status` shows each node", log.display())]
    ServiceUnhealthy { detail: String, log: PathBuf },
    #[error(
        "level `{level}`: \"solved\" did not hold on the next check:\n{detail}  hint: a check that changes its mind on a solved lab is a defect of the level; make it wait for a settled state"
    )]
    Flaky { level: String, detail: String },
    #[error("{failed}\n  hint: {hint}")]
    Step {
        failed: crate::remote::CommandFailed,
        hint: String,
    },
    #[error(
        "level `{0}` has no fault of a kind (its faults are scripts)\n  hint: inject a kind from `firedrill gm list` instead"
    )]
    NoFaultKinds(String),
    #[error(
        "the level is paged by Alertmanager ({alert}), but lab `{lab}` runs no monitor node\n  hint: `firedrill down` and play again: the level's lab file has one, so this lab was brought up from another file"
    )]
    NoMonitor { lab: String, alert: String },
    #[error(
        "the level's client loads HTTPS from haproxy, but lab `{lab}` runs no haproxy node\n  hint: `firedrill down` and play again: the level's lab file has one, so this lab was brought up from another file"
    )]
    NoHaproxy { lab: String },
    #[error("{0}\n  hint: is the node up? `firedrill status` shows it")]
    Remote(#[from] crate::remote::RemoteError),
    #[error("could not undo everything the level did:\n{}\n  hint: fix it by hand, or `firedrill reset` to try again", .0.iter().map(|f| format!("  - {f}")).collect::<Vec<_>>().join("\n"))]
    Undo(Vec<String>),
    #[error(transparent)]
    Node(#[from] crate::lab::NodeError),
    #[error("cannot start the mock client: {0}\n  hint: check the process limits (ulimit -u)")]
    ClientStart(std::io::Error),
    #[error("cannot read {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{} is damaged: {source}\n  hint: remove it to forget the current play", path.display())]
    Parse {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("cannot write {}: {source}\n  hint: check that the directory is writable and the disk has space", path.display())]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Lab(#[from] crate::lab::LabError),
    #[error(transparent)]
    State(#[from] crate::state::StateError),
    #[error(transparent)]
    Lock(#[from] crate::lab::LockError),
    #[error(transparent)]
    Fault(#[from] crate::faults::FaultError),
    #[error(transparent)]
    Ssh(#[from] crate::ssh::SshError),
}

impl LevelError {
    /// Bad input exits with 2, everything else with 1.
    pub(crate) fn is_usage(&self) -> bool {
        match self {
            LevelError::Invalid(_)
            | LevelError::NotFound { .. }
            | LevelError::NoLevels(_)
            | LevelError::NoPlay
            | LevelError::InProgress(_)
            | LevelError::Ended { .. } => true,
            LevelError::Lab(e) => e.is_usage(),
            LevelError::Builtin(e) => e.is_usage(),
            LevelError::State(e) => e.is_usage(),
            LevelError::Lock(e) => matches!(e, crate::lab::LockError::Busy { .. }),
            _ => false,
        }
    }
}
