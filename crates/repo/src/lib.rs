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
//! * libgit2 reports rejected refs of a push only through a callback and returns `Ok`; [`GitRepo::push`]
//!   turns every rejection into [`Error::PushRejected`].
#![warn(missing_docs)]

mod annotation;
mod config;
mod discover;
mod error;
mod local;
mod maintain;
mod repo;
mod stage;
mod transport;
mod tree;
mod upstream;

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;

pub use crate::{
    annotation::{Annotation, annotate_message, format_message, parse_annotations},
    config::{Credentials, GitConfig, Signature},
    error::Error,
    repo::GitRepo,
    tree::{MAX_FILE_BYTES, MAX_PACKAGE_BYTES, MAX_TREE_DEPTH},
    upstream::{FetchedPackage, fetch_package},
};

/// Files of a package: path relative to the package root (with `/` separators) to content
/// (veranda-kpt's file map, the one `Files` type).
pub use veranda_kpt::Files;

/// The git entry kind of a package path that is not a regular (0o100644) file.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum EntryMode {
    /// An executable file (0o100755); its content is in [`Files`].
    Executable,
    /// A symbolic link (0o120000); its target is the content in [`Files`].
    Symlink,
    /// A submodule (gitlink, 0o160000) at this hex commit id; it has no content in [`Files`].
    Submodule(String),
}

/// Modes of the paths of a package that are not regular files; paths not named are regular.
pub type Modes = BTreeMap<String, EntryMode>;

/// Lifecycle of a discovered package revision, derived from the kind of ref that holds it.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Lifecycle {
    /// On a `drafts/<path>/<workspace>` branch.
    Draft,
    /// On a `proposed/<path>/<workspace>` branch.
    Proposed,
    /// A `<path>/v<N>` tag or a package directory on the registered branch.
    Published,
    /// Published, and a `deletionProposed/...` branch exists for it.
    DeletionProposed,
}

/// The kind of ref a package revision was discovered on.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum RefKind {
    /// The registered branch (the `-1` placeholder revision).
    Branch,
    /// A `drafts/...` branch.
    Draft,
    /// A `proposed/...` branch.
    Proposed,
    /// A `<path>/<version>` tag.
    Tag,
}

/// One package revision found in git (porch.md §2.3).
#[derive(Clone, Debug, PartialEq)]
pub struct Discovered {
    /// Package path relative to the registered directory, e.g. `basens` or `a/b/pkg`.
    pub package: String,
    /// Workspace name: from the ref for drafts, the branch name for placeholders, and for tags the
    /// `kpt:` annotation of the tagged commit, else `v<N>` (or the raw version if not numeric).
    pub workspace: String,
    /// 0 for drafts and proposed, N for tag `v<N>`, -1 for placeholders and non-numeric tags.
    pub revision: i64,
    /// The kind of ref holding this revision.
    pub kind: RefKind,
    /// Lifecycle, including `DeletionProposed` when the matching branch exists.
    pub lifecycle: Lifecycle,
    /// Hex id of the commit the revision points at (tags peeled).
    pub commit: String,
    /// Short ref name: `main`, `drafts/<full>/<ws>`, `proposed/<full>/<ws>` or `<full>/v1`.
    pub ref_name: String,
    /// Hex id of the package directory's tree in that commit.
    pub tree: String,
    /// Author email of the publishing commit (only published revisions, when known).
    pub published_by: Option<String>,
    /// Author time in unix seconds of the publishing commit (only published revisions, when known).
    pub published_at: Option<i64>,
    /// For placeholders: the newest commit of the branch annotated for this package (normally its
    /// latest approval), which changes whenever the package is published again.
    pub published_commit: Option<String>,
    /// The creation task reconstructed from history (porch.md §2.10), if any.
    pub task: Option<serde_json::Value>,
}

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
