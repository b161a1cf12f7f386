//! What can go wrong in a `canopy` command, and the exit status each failure gives.

use canopy_shared::ErrorBody;

/// Exit status for success.
pub const EXIT_OK: u8 = 0;
/// Exit status for usage, connection and local problems.
pub const EXIT_FAILURE: u8 = 1;
/// Exit status when the server answered with an error.
pub const EXIT_SERVER_ERROR: u8 = 2;

/// A failed command.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// The command line or the local state does not allow the command (no profile, a
    /// missing token, a bad argument).
    #[error("{0}")]
    Usage(String),
    /// The server could not be reached, or the connection broke.
    #[error("{0}")]
    Connection(String),
    /// A local file could not be read or written.
    #[error("{0}")]
    Local(String),
    /// The server answered with an error code (game socket or ops HTTP).
    #[error("{0}")]
    Server(ErrorBody),
    /// The ops HTTP answered with a failure status and no error object.
    #[error("the ops HTTP answered {status}: {body}")]
    Http {
        /// The HTTP status.
        status: u16,
        /// The answer's text.
        body: String,
    },
}

impl CliError {
    /// The process exit status for this failure: 2 for answers from the server, 1 for
    /// everything else.
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::Server(_) | Self::Http { .. } => EXIT_SERVER_ERROR,
            Self::Usage(_) | Self::Connection(_) | Self::Local(_) => EXIT_FAILURE,
        }
    }
}

impl From<ErrorBody> for CliError {
    fn from(body: ErrorBody) -> Self {
        Self::Server(body)
    }
}
