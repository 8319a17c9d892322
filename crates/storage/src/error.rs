//! The one error type of both traits: what the engine branches on (the kind) and the backend's
//! own error as the cause.

use std::fmt;

/// A failure of a backend operation.
#[derive(Debug, thiserror::Error)]
#[error("{source}")]
pub struct Error {
    kind: ErrorKind,
    #[source]
    source: Box<dyn std::error::Error + Send + Sync>,
}

/// What the engine must learn from a failure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// The revision or the branch changed concurrently (a compare-and-swap failed): retryable.
    Conflict,
    /// The remote is locked by a lock file that may belong to another process.
    Locked,
    /// What the caller named (a revision, a commit, a package) does not exist.
    NotFound,
    /// A remote did not answer within the network time limits.
    Timeout,
    /// The backend cannot be reached now (its database is down or restarting): retryable.
    Unavailable,
    /// Anything else: a fault of the backend.
    Other,
}

impl Error {
    /// An error of `kind` caused by `source`.
    pub fn new(
        kind: ErrorKind,
        source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> Error {
        Error { kind, source: source.into() }
    }

    /// What kind of failure this is.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ErrorKind::Conflict => "conflict",
            ErrorKind::Locked => "locked",
            ErrorKind::NotFound => "not found",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Unavailable => "unavailable",
            ErrorKind::Other => "other",
        })
    }
}
