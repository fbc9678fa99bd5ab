//! The top-level error: every area's error converts into it, and `exit_code` maps it to the
//! process exit status (2 for bad input, 1 for everything else).
//!
//! Every message a user sees says what to do next, in one of two forms:
//! - one line, `SUBJECT: what is wrong; what to do`, for a value typed on the command line
//!   (`--FLAG VALUE: ...`: the mock client's flags, `--param`, `--restart`) and for a failure
//!   that other messages carry as their cause (SSH, I/O, host facts, an image step), so that it
//!   still reads as one sentence inside them;
//! - otherwise `what happened`, then `\n  hint: what to do next` on a line of its own, below a
//!   message that may span lines. A lab or level file's problems take this form through
//!   `spec::Problem` (`FILE:LINE:COL: FIELD: what`, then its hint).
//!
//! Both are the literal format strings of each area's `thiserror` enum, which the tests assert
//! word for word; no function assembles them.

use thiserror::Error;

#[derive(Debug, Error)]
pub(crate) enum Error {
    #[error(transparent)]
    Lab(#[from] crate::lab::LabError),
    #[error(transparent)]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Roles(#[from] crate::roles::RoleError),
    #[error(transparent)]
    Image(#[from] crate::image::ImageError),
    #[error(transparent)]
    Level(#[from] crate::levels::LevelError),
    #[error(transparent)]
    Fault(#[from] crate::faults::FaultError),
    #[error(transparent)]
    Forward(#[from] crate::lab::ForwardError),
    #[error(transparent)]
    Builtin(#[from] crate::builtin::BuiltinError),
    #[error(transparent)]
    Man(#[from] crate::manpage::ManError),
    #[error(transparent)]
    Snapshot(#[from] crate::lab::snapshot::SnapshotError),
    #[error(transparent)]
    Capture(#[from] crate::lab::CaptureError),
    #[error(transparent)]
    Export(#[from] crate::export::ExportError),
}

impl Error {
    pub(crate) fn exit_code(&self) -> u8 {
        match self {
            Error::Lab(e) if e.is_usage() => 2,
            Error::Image(e) if e.is_usage() => 2,
            Error::Level(e) if e.is_usage() => 2,
            Error::Fault(e) if e.is_usage() => 2,
            Error::Forward(e) if e.is_usage() => 2,
            Error::Builtin(e) if e.is_usage() => 2,
            Error::Snapshot(e) if e.is_usage() => 2,
            Error::Capture(e) if e.is_usage() => 2,
            _ => 1,
        }
    }
}
