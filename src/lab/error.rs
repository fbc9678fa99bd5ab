use crate::hypervisor::HvError;
use crate::plan::PlanError;
use crate::spec::Problems;
use crate::state::StateError;

#[derive(Debug, thiserror::Error)]
pub(crate) enum LabError {
    /// The lab file is invalid: every problem is listed; nothing was created.
    #[error("{0}")]
    Invalid(Problems),
    #[error(transparent)]
    Hypervisor(#[from] HvError),
    #[error(transparent)]
    State(#[from] StateError),
    #[error(transparent)]
    Plan(#[from] PlanError),
    #[error(transparent)]
    Lock(#[from] super::lock::LockError),
    #[error(transparent)]
    Fault(Box<crate::faults::FaultError>),
    #[error(transparent)]
    Image(#[from] crate::image::ImageError),
    #[error(transparent)]
    Host(#[from] crate::host::HostError),
    #[error(transparent)]
    Ssh(#[from] crate::ssh::SshError),
    #[error("{node}: {step} failed: {message}")]
    Node {
        node: String,
        step: &'static str,
        message: String,
    },
    #[error(
        "{failed} of {total} nodes did not come up (see above)\n  hint: fix the cause and run `firedrill up` again: it keeps what is already done"
    )]
    NodesFailed { failed: usize, total: usize },
    #[error(
        "--accel kvm was asked for, but /dev/kvm is not usable: {0}\n  hint: use --accel tcg (slow) or enable KVM"
    )]
    NoKvm(String),
    #[error(transparent)]
    NoNode(#[from] super::NoNode),
    #[error(
        "node {node} is no longer in the lab file, but fault(s) {} may still be on it\n  hint: put it back and revert them first (`firedrill fault revert --all`), then remove it", .ids.join(", ")
    )]
    NodeHasFaults { node: String, ids: Vec<String> },
    #[error(
        "these changes cannot be made to a running lab:\n{}\n  hint: nothing was changed; undo them in the lab file, or remove and re-add the node (or `firedrill down` the lab) to recreate it", .0.iter().map(|l| format!("  {l}")).collect::<Vec<_>>().join("\n")
    )]
    Unappliable(Vec<String>),
    #[error(
        "not applied, waiting for a restart:\n{}\n  hint: libvirt has the new sizes for the next boot; restart now with `firedrill up FILE --restart NODE` (the node is down for a minute or two)", .0.iter().map(|l| format!("  {l}")).collect::<Vec<_>>().join("\n")
    )]
    PendingRestart(Vec<String>),
    #[error(
        "files firedrill manages were edited on the nodes, so `up` left them as they are:\n{}\n  hint: keep your edits (and this message), or run `firedrill up FILE --force` to overwrite them with firedrill's version", .0.iter().map(|l| format!("  {l}")).collect::<Vec<_>>().join("\n")
    )]
    EditedFiles(Vec<String>),
    #[error("--restart {node}: the lab file has no node `{node}`; its nodes are: {}", .nodes.join(", "))]
    NoRestartNode { node: String, nodes: Vec<String> },
    #[error(
        "lab `{lab}` was brought up through libvirt at `{was}`, but this command talks to `{now}`\n  hint: run it where that libvirtd is, with LIBVIRT_DEFAULT_URI={was}; or remove the lab there first (`firedrill down --lab {lab}` reads its libvirt from the lab's state)"
    )]
    OtherLibvirt {
        lab: String,
        was: String,
        now: String,
    },
    #[error("cannot run {program}: {message}\n  hint: {hint}")]
    Exec {
        program: String,
        message: String,
        hint: String,
    },
}

impl LabError {
    /// Bad input exits with 2, everything else with 1.
    pub(crate) fn is_usage(&self) -> bool {
        matches!(
            self,
            LabError::Invalid(_)
                | LabError::NoNode(_)
                | LabError::NodeHasFaults { .. }
                | LabError::Unappliable(_)
                | LabError::NoRestartNode { .. }
        ) || matches!(self, LabError::State(e) if e.is_usage())
            || matches!(self, LabError::Lock(super::lock::LockError::Busy { .. }))
            || matches!(self, LabError::Fault(e) if e.is_usage())
    }
}
