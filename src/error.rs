//! The top-level error: every area's error converts into it, and `exit_code` maps it to the
//! process exit status (2 for bad input, 1 for everything else).

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
