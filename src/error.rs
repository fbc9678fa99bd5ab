//! The top-level error: every module's error converts into it, and `exit_code` maps it to the
//! process exit status (2 for bad input, 1 for everything else).

use thiserror::Error;

#[derive(Debug, Error)]
pub(crate) enum Error {
    /// Bad input: the user must change something before retrying. Exit code 2.
    #[error("{0}")]
    Usage(String),
    #[error(transparent)]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Client(#[from] crate::client::ClientError),
}

impl Error {
    pub(crate) fn exit_code(&self) -> u8 {
        match self {
            Error::Usage(_) => 2,
            Error::Client(e) => e.exit_code(),
            _ => 1,
        }
    }
}
