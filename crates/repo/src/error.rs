//! Errors of git repository operations; callers branch on the variant, never on the message.

use std::{io, path::PathBuf};

/// An error of a [`GitRepo`](crate::GitRepo) operation.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The registered branch is missing on the remote and may not be created.
    #[error("branch {branch:?} doesn't exist")]
    BranchNotFound {
        /// The registered branch.
        branch: String,
    },
    /// A commit, package or other object that the caller named does not exist.
    #[error("{kind} {name:?} not found")]
    NotFound {
        /// What was looked up, e.g. `commit` or `package`.
        kind: &'static str,
        /// The name or id that was looked up.
        name: String,
    },
    /// The remote refused to update a ref (e.g. a pre-receive hook declined it).
    #[error("push of {refname:?} rejected: {message}")]
    PushRejected {
        /// The remote ref that was refused.
        refname: String,
        /// The reason the remote gave.
        message: String,
    },
    /// The remote ref moved since the caller read it (compare-and-swap or fast-forward failed).
    #[error("ref {refname:?} was changed concurrently: {message}")]
    Conflict {
        /// The remote ref whose value was unexpected.
        refname: String,
        /// What was expected and what was found.
        message: String,
    },
    /// A package or file path is not a valid relative path.
    #[error("invalid path {path:?}: {reason}")]
    InvalidPath {
        /// The offending path.
        path: String,
        /// Why it is invalid.
        reason: &'static str,
    },
    /// A package revision must have a `Kptfile` at its root.
    #[error("package {package:?} must contain Kptfile at root")]
    MissingKptfile {
        /// Full package path.
        package: String,
    },
    /// A string that should be a hex object id is not one.
    #[error("invalid object id {id:?}")]
    InvalidOid {
        /// The offending string.
        id: String,
    },
    /// A ref name that cannot be pushed.
    #[error("invalid ref name {name:?}")]
    InvalidRef {
        /// The offending ref name.
        name: String,
    },
    /// A lock file in the remote repository is held (or was left behind by a writer that died):
    /// the remote's refs cannot be changed until it is gone. Not removed here, since another
    /// process may own it.
    #[error(
        "the remote repository is locked: {file} exists; remove it if no git process is running"
    )]
    RemoteLocked {
        /// The lock file, relative to the remote repository (e.g. `refs/heads/main.lock`).
        file: String,
    },
    /// A tree nests deeper than the read limit ([`MAX_TREE_DEPTH`](crate::MAX_TREE_DEPTH)).
    #[error("tree {path:?} is nested deeper than the limit of {limit} directory levels")]
    TooDeep {
        /// The first path below the limit.
        path: String,
        /// The limit in directory levels.
        limit: usize,
    },
    /// A file, or a package's files together, are larger than the read limit
    /// ([`MAX_FILE_BYTES`](crate::MAX_FILE_BYTES), [`MAX_PACKAGE_BYTES`](crate::MAX_PACKAGE_BYTES)).
    #[error("{path:?} is too large: {size} bytes exceed the limit of {limit} bytes")]
    TooLarge {
        /// The file (for the package limit: the file that crossed it).
        path: String,
        /// Its size, or the package's running total.
        size: usize,
        /// The limit in bytes.
        limit: usize,
    },
    /// A tree or blob the repository refers to cannot be read (missing or corrupt object).
    #[error("broken git content at {path:?}: {reason}")]
    Broken {
        /// The path of the unreadable entry.
        path: String,
        /// What libgit2 reported.
        reason: String,
    },
    /// The remote did not answer in time (see [`NetworkTimeouts`](crate::NetworkTimeouts)).
    #[error("the git remote did not answer within {seconds}s; giving up")]
    Timeout {
        /// The overall limit that was exceeded.
        seconds: u64,
    },
    /// The credentials for the remote could not be obtained (names what is missing, never a
    /// credential).
    #[error("failed to obtain git credentials: {0}")]
    Credentials(String),
    /// libgit2 failed.
    #[error("git operation failed: {0}")]
    Git(#[from] git2::Error),
    /// The cache directory could not be prepared.
    #[error("cannot access {path:?}")]
    Io {
        /// The path that failed.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
}
