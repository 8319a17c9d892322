//! [`PackageRepository`]: the package revisions of one registered repository, and the
//! [`Backend`] that opens repositories and reads upstream packages.

use std::{collections::BTreeMap, path::PathBuf, sync::Arc};

use crate::Error;

/// Files of a package: path relative to the package root (with `/` separators) to content.
pub type Files = BTreeMap<String, Vec<u8>>;

/// The entry kind of a package path that is not a regular (0o100644) file.
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

/// Lifecycle of a discovered package revision, derived from where the repository holds it.
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

/// Where a package revision was discovered.
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

/// One package revision found in a repository (porch.md §2.3).
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

/// New content of a package revision and how to describe the write.
#[derive(Clone, Debug)]
pub struct Content {
    /// Every file of the package.
    pub files: Files,
    /// Modes of the entries of `files` (and submodules) that are not regular files.
    pub modes: Modes,
    /// The headline of the commit message.
    pub headline: String,
    /// The task recorded with the write (the `kpt:` annotation), if any.
    pub task: Option<serde_json::Value>,
}

/// A package revision to create.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewDraft {
    /// Package path relative to the registered directory.
    pub package: String,
    /// Workspace name.
    pub workspace: String,
    /// Created as Proposed rather than Draft.
    pub proposed: bool,
}

/// The author of the commits a repository writes: a repository's configured author, or the
/// user a write is made for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Author {
    /// Display name.
    pub name: String,
    /// Email address.
    pub email: String,
}

impl Author {
    /// The author of a Kubernetes user, who has one name: as Porch, it is both the name and
    /// the email.
    pub fn for_user(name: &str) -> Author {
        Author { name: name.to_string(), email: name.to_string() }
    }
}

/// Everything needed to open one registered repository.
#[derive(Clone, Debug)]
pub struct RepositoryConfig {
    /// A local path, a `file://` URL or an `http(s)://` URL.
    pub url: String,
    /// The registered branch, e.g. `main`.
    pub branch: String,
    /// Sub-directory holding the packages, trimmed of `/`; empty for the repository root.
    pub directory: String,
    /// Create the branch when the remote lacks it.
    pub create_branch: bool,
    /// Directory for this registration's cache, created if absent.
    pub cache_dir: PathBuf,
    /// Author of every commit written, whoever asked for it (Porch's `spec.git.author` and
    /// `email`); if `None`, the user a write is made for, else the service identity.
    pub author: Option<Author>,
    /// Credentials for the remote, asked before each network operation; `None`: anonymous.
    pub credentials: Option<Arc<dyn crate::CredentialSource>>,
    /// PEM certificates trusted for an HTTPS remote instead of the system's.
    pub ca_bundle: Option<String>,
}

/// A package read from any Git URL (the `clone` task's `upstreamRef.git`).
#[derive(Clone, Debug)]
pub struct Upstream {
    /// The repository URL.
    pub url: String,
    /// The branch, tag or commit to read.
    pub reference: String,
    /// The package directory in the repository.
    pub directory: String,
    /// A cache directory reusable between reads of the same URL; the caller holds its lock.
    pub cache_dir: PathBuf,
    /// Credentials for the upstream remote; `None`: anonymous.
    pub credentials: Option<crate::Credentials>,
    /// PEM certificates trusted for an HTTPS remote instead of the system's.
    pub ca_bundle: Option<String>,
}

/// What [`Backend::fetch_package`] read.
#[derive(Clone, Debug)]
pub struct FetchedPackage {
    /// The files of the package directory, relative to it.
    pub files: Files,
    /// Modes of the entries that are not regular files.
    pub modes: Modes,
    /// The commit the reference resolved to (hex).
    pub commit: String,
}

/// What [`PackageRepository::list_changes`] found.
#[derive(Clone, Debug)]
pub enum Listing {
    /// Every package revision, as [`PackageRepository::list`] returns them.
    Full(Vec<Arc<Discovered>>),
    /// Every current revision of these packages (by [`Discovered::package`]); a package with
    /// no revision left maps to an empty list. Revisions of other packages did not change.
    Packages(BTreeMap<String, Vec<Arc<Discovered>>>),
}

/// Opens registered repositories and reads upstream packages.
pub trait Backend: Send + Sync {
    /// Opens (creating its cache if needed) the repository `config` describes. Blocks.
    fn open(&self, config: &RepositoryConfig) -> Result<Arc<dyn PackageRepository>, Error>;

    /// Reads a package from any URL at a reference. Blocks.
    fn fetch_package(&self, upstream: &Upstream) -> Result<FetchedPackage, Error>;
}

/// The package revisions of one registered repository. Every method may block; writes are
/// durable in the repository when they return.
///
/// A revision argument is one [`PackageRepository::list`] returned (or a write returned): a
/// write whose revision moved since is refused with [`ErrorKind::Conflict`](crate::ErrorKind).
pub trait PackageRepository: Send + Sync {
    /// Every package revision, as of the last fetch or write. Unchanged revisions are handed
    /// out as the same `Arc` as by the previous call, so callers can skip them cheaply.
    fn list(&self) -> Result<Vec<Arc<Discovered>>, Error>;

    /// What changed since the previous [`list`](PackageRepository::list) or `list_changes`:
    /// every current revision of each package whose revisions may have changed, or everything
    /// when the implementation cannot tell (the first call, after a fetch that moved refs).
    /// Costs what changed, not the size of the repository, after the repository's own writes.
    ///
    /// The changes are handed out once: a caller that cannot apply them must call `list` next.
    fn list_changes(&self) -> Result<Listing, Error> {
        Ok(Listing::Full(self.list()?))
    }

    /// Lets go of what reading every revision left cached (called after a full
    /// [`list`](PackageRepository::list) and the reads that follow it). Only memory changes:
    /// what the repository holds and hands out stays as it is.
    fn release_caches(&self) {}

    /// The files of a revision and the modes of those that are not regular files.
    fn read_files(&self, revision: &Discovered) -> Result<(Files, Modes), Error>;

    /// One file of a revision (relative to the package root); `None` when it does not exist.
    fn read_file(&self, revision: &Discovered, file: &str) -> Result<Option<Vec<u8>>, Error>;

    /// Creates a Draft (or Proposed) revision; [`ErrorKind::Conflict`](crate::ErrorKind) when
    /// one of that package and workspace exists.
    ///
    /// `by` (here and in every write below) is the user the write is made for: the author of
    /// the commits it makes, unless the repository is configured with an author of its own
    /// ([`RepositoryConfig::author`]); `None` writes as the service identity.
    fn create_draft(
        &self,
        draft: &NewDraft,
        content: &Content,
        by: Option<&Author>,
    ) -> Result<(), Error>;

    /// Deletes the revision [`PackageRepository::create_draft`] created for `draft`, whatever
    /// it holds now (the rollback of a create); deleting one that is gone is no error.
    fn discard_draft(&self, draft: &NewDraft) -> Result<(), Error>;

    /// Replaces the content of a Draft revision; returns the revision as it now is.
    fn commit_draft(
        &self,
        revision: &Discovered,
        content: &Content,
        by: Option<&Author>,
    ) -> Result<Discovered, Error>;

    /// Moves a Draft to Proposed.
    fn propose(&self, revision: &Discovered) -> Result<(), Error>;

    /// Moves a Proposed revision back to Draft.
    fn reject(&self, revision: &Discovered) -> Result<(), Error>;

    /// Publishes a Draft or Proposed revision as revision `number` of its package.
    fn approve(&self, revision: &Discovered, number: i64, by: Option<&Author>)
    -> Result<(), Error>;

    /// Proposes a Published revision for deletion.
    fn propose_delete(&self, revision: &Discovered) -> Result<(), Error>;

    /// Deletes one revision: a Draft or Proposed one entirely; a published one with its
    /// deletion proposal (a placeholder by removing its package from the registered branch).
    fn delete(&self, revision: &Discovered, by: Option<&Author>) -> Result<(), Error>;

    /// Deletes every revision of `package` in `revisions` (all of them, as listed) and the
    /// package on the registered branch.
    fn delete_package(
        &self,
        package: &str,
        revisions: &[Arc<Discovered>],
        by: Option<&Author>,
    ) -> Result<(), Error>;

    /// Brings the repository up to date with its remote; after a
    /// [`download`](PackageRepository::download), with what the download saw.
    fn fetch(&self) -> Result<(), Error>;

    /// The network half of a [`fetch`](PackageRepository::fetch), safe to run while other
    /// operations of this repository proceed: the engine runs it without the repository's
    /// write lock. Backends with nothing to download do nothing.
    fn download(&self) -> Result<(), Error> {
        Ok(())
    }

    /// [`ErrorKind::Locked`](crate::ErrorKind) while a lock that stops every write is held.
    fn check_remote_locks(&self) -> Result<(), Error>;

    /// The URL of the repository as served in `selfLock.repo` and `upstreamLock.repo`.
    fn origin_url(&self) -> String;

    /// The commit the registered branch points at, as of the last fetch or write; `None` when
    /// the backend has no such notion or the branch is empty.
    fn branch_head(&self) -> Result<Option<String>, Error> {
        Ok(None)
    }
}
