//! Git storage for package revisions, following Porch's git model (porch.md §2).
//!
//! A [`GitRepo`] keeps one bare cache repository per registration. It reads the remote only through
//! `refs/remotes/origin/*` and `refs/tags/*` (filled by [`GitRepo::fetch`]) and writes only by pushing
//! explicit `<sha>:<ref>` updates ([`GitRepo::push`]); it never creates local branches.
//!
//! Design decisions:
//! * All methods are blocking and serialised by one mutex around the `git2::Repository`; callers run
//!   them on a blocking thread.
//! * Discovery ([`GitRepo::list`]) is memoised by object id: package lists per tree, revisions per
//!   ref target, and commit-history indexes that are extended incrementally when refs move. A repeated
//!   list over unchanged refs reads no git objects.
//! * Commits are built from in-memory trees with `TreeBuilder`, rebuilding only the trees along the
//!   package path, so a commit costs the same however many packages the repository holds. The new
//!   objects of an operation reach disk as one pack (`stage`), never as loose files, and small
//!   packs are merged in the background (`maintain`).
//! * A remote that is a bare repository on this machine is written directly (`local`): the pack
//!   is indexed into it and its refs move in one locked transaction with the same
//!   compare-and-swap and fast-forward rules as a push.
//! * Every network operation reaches the remote through the operator's [`UrlRewrites`]
//!   (`--git-url-rewrite`); the URL a registration names is kept for everything shown.
//! * libgit2 reports rejected refs of a push only through a callback and returns `Ok`; [`GitRepo::push`]
//!   turns every rejection into [`Error::PushRejected`].
#![warn(missing_docs)]

mod annotation;
pub mod auth;
mod backend;
mod cacherefs;
mod config;
mod deadline;
mod discover;
mod error;
mod kept;
mod local;
mod maintain;
mod packedrefs;
mod packfile;
#[cfg(test)]
mod random;
mod rawtree;
mod repo;
mod rewrite;
mod smart;
mod stage;
mod transport;
mod tree;
mod treecache;
mod upstream;

#[cfg(test)]
mod tests;

pub use crate::{
    annotation::{Annotation, annotate_message, format_message, parse_annotations},
    backend::GitBackend,
    config::{Credentials, GitConfig, Signature},
    deadline::{NetworkTimeouts, network_timeouts, set_network_timeouts},
    error::Error,
    repo::GitRepo,
    rewrite::{UrlRewrite, UrlRewrites},
    tree::{MAX_FILE_BYTES, MAX_PACKAGE_BYTES, MAX_TREE_DEPTH},
    upstream::{FetchedPackage, fetch_package},
};

// The types of the storage traits are the types of this crate's API too.
pub use veranda_storage::{Discovered, EntryMode, Files, Lifecycle, Listing, Modes, RefKind};

/// One ref update of a [`GitRepo::push`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RefUpdate {
    /// Full remote ref name, e.g. `refs/heads/drafts/a/b/ws` or `refs/tags/a/b/v1`.
    pub name: String,
    /// Hex id of the new target; `None` deletes the ref.
    pub new: Option<String>,
    /// Compare-and-swap: the push fails with [`Error::Conflict`] unless the remote ref currently
    /// points here. [`ABSENT`] means "the ref must not exist yet".
    pub expected_old: Option<String>,
}

/// The all-zero object id: as [`RefUpdate::expected_old`] it requires the ref to be absent.
pub const ABSENT: &str = "0000000000000000000000000000000000000000";

impl RefUpdate {
    /// Create or move `name` to `new`, without compare-and-swap.
    pub fn set(name: impl Into<String>, new: impl Into<String>) -> RefUpdate {
        RefUpdate { name: name.into(), new: Some(new.into()), expected_old: None }
    }

    /// Delete `name`; deleting a ref the remote does not have is not an error.
    pub fn delete(name: impl Into<String>) -> RefUpdate {
        RefUpdate { name: name.into(), new: None, expected_old: None }
    }

    /// Adds a compare-and-swap condition on the remote's current value.
    pub fn expecting(mut self, old: impl Into<String>) -> RefUpdate {
        self.expected_old = Some(old.into());
        self
    }
}
