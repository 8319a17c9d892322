//! [`GitRepo`]: one registered git repository, read through a bare cache and written by pushing.

use std::{
    cell::{Cell, RefCell},
    collections::{BTreeSet, HashSet},
    fs, iter,
    path::{Component, Path, PathBuf},
    sync::{Arc, Mutex, MutexGuard, PoisonError},
    thread::{self, JoinHandle},
};

use git2::{Commit, ErrorCode, ObjectType, Oid, Repository};

use crate::{
    ABSENT, Discovered, Error, Files, GitConfig, Listing, Modes, RefUpdate, Signature,
    annotation::{Annotation, annotate_message, format_message},
    auth::Auth,
    discover::{self, Discovery, Scope},
    kept, local, maintain, packfile,
    smart::{self, Failure},
    stage::{self, Stage},
    transport::{self, HEADS_REFSPEC, ORIGIN, TAGS_REFSPEC, TRACKING_PREFIX},
    tree,
};

const PORCH_NAME: &str = "Package Orchestration Service";
const PORCH_EMAIL: &str = "porch@kpt.dev";
const INITIAL_FILE: &str = "README.md";
const INITIAL_CONTENT: &str = "Created by porch";
const INITIAL_MESSAGE: &str = "Initial commit: Creating main branch";
/// Attempts of a branch update that lost a race with another writer (Porch's default retries).
const BRANCH_UPDATE_ATTEMPTS: usize = 3;

/// One registered git repository. All methods block; the type is `Send + Sync` and serialises
/// operations on its cache with a mutex.
pub struct GitRepo {
    cfg: GitConfig,
    /// The remote URL as registered (local paths made absolute); `origin` has its rewritten
    /// form ([`GitConfig::url_rewrites`]).
    url: String,
    inner: Mutex<Inner>,
    /// Serialises [`GitRepo::download`]s, which run outside `inner`.
    downloading: Mutex<()>,
    /// What the last download saw, until a fetch applies it.
    downloaded: Mutex<Option<Downloaded>>,
}

/// The result of a [`GitRepo::download`] waiting for [`GitRepo::fetch`] to apply it.
struct Downloaded {
    /// The tracking refs just before the download started.
    before: std::collections::BTreeMap<String, Oid>,
    /// The remote's refs as the download saw them.
    advertised: transport::Advertised,
}

struct Inner {
    repo: Repository,
    discovery: Discovery,
    /// Refs written as loose files since they were last packed.
    loose_refs: Cell<usize>,
    /// Refs written loose into the local remote since its refs were last packed.
    remote_loose_refs: Cell<usize>,
    /// The remote when it is a bare repository on this machine ([`local`]), with a handle kept
    /// while it answers as a fresh one would ([`kept`]).
    local: Option<kept::Kept>,
    /// Commits whose objects could not be shown complete in the local remote: they are pushed
    /// with libgit2, which sends whatever the remote lacks.
    unconnected: RefCell<HashSet<Oid>>,
    /// A background merge of small packs ([`maintain`]) in the cache and the local remote.
    maintenance: RefCell<Option<Repack>>,
    /// Local refs this process moved since discovery last looked (full names), so
    /// [`GitRepo::list_changes`] reads only those; `None` after a fetch moved refs, or before
    /// the first list: everything must be read.
    moved: RefCell<Option<BTreeSet<String>>>,
    /// Trees this process wrote as an edit of another, which discovery follows by the edit.
    edits: RefCell<crate::discover::Edits>,
}

/// Stack of the thread a fetch runs on. libgit2's pack builder (used to fetch from a repository
/// on this machine) inserts trees recursively, one frame per directory level, so a hostile
/// remote with tens of thousands of nested directories would overflow a normal 2 MiB stack and
/// abort the process. The stack is reserved, not committed: only pages a fetch touches cost
/// memory (256 MiB hold about a million levels). Our own reads are iterative and bounded ([`tree::MAX_TREE_DEPTH`]).
const FETCH_STACK_BYTES: usize = 256 << 20;

/// [`transport::fetch`] of `repo` on a thread with a [`FETCH_STACK_BYTES`] stack, through a
/// handle of its own on the same repository (a `Repository` cannot be shared across threads).
pub(crate) fn fetch_on_big_stack(repo: &Repository, auth: Auth<'_>) -> Result<usize, Error> {
    on_big_stack(repo, |repo| transport::fetch(repo, auth))
}

/// Runs `f` on a thread with a [`FETCH_STACK_BYTES`] stack with its own handle on `repo`; for
/// libgit2 transfers (fetch, push), whose pack builder recurses once per directory level.
fn on_big_stack<T: Send>(
    repo: &Repository,
    f: impl FnOnce(&Repository) -> Result<T, Error> + Send,
) -> Result<T, Error> {
    let path = repo.path().to_path_buf();
    thread::scope(|scope| {
        let fetch = thread::Builder::new()
            .name("git-transfer".into())
            .stack_size(FETCH_STACK_BYTES)
            .spawn_scoped(scope, || {
                let repo = Repository::open_bare(&path)?;
                f(&repo)
            })
            .map_err(|source| Error::Io { path: path.clone(), source })?;
        fetch.join().map_err(|_| Error::Broken {
            path: path.display().to_string(),
            reason: "the git transfer thread panicked".into(),
        })?
    })
}

/// How many times a fetch from a remote on this machine is tried when one of the remote's refs
/// disappears while it is read ([`ref_vanished`]), waiting a millisecond longer before each
/// new attempt so a burst of deletions can pass.
const LOCAL_FETCH_ATTEMPTS: usize = 10;

/// Whether `err` is libgit2 failing to look up a ref it had just listed: its local transport
/// lists a remote's refs and then reads them one by one, so another process deleting one in
/// between (another server sharing the remote, or `git`) fails the whole fetch. Nothing was
/// written; the next attempt lists again.
fn ref_vanished(err: &Error) -> bool {
    // libgit2 reports it with the generic code.
    matches!(err, Error::Git(err) if err.class() == git2::ErrorClass::Reference
        && matches!(err.code(), ErrorCode::NotFound | ErrorCode::GenericError))
}

/// How old a lock in a local remote must be for the readiness check to report it.
const LINGERING_LOCK: std::time::Duration = std::time::Duration::from_secs(5);

/// How long opening a registration waits for another server that holds the lock of the branch
/// it is creating in a shared local remote.
const BRANCH_CREATION_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

/// A background pack merge: one result per repository it merged packs in.
type Repack = JoinHandle<Vec<Result<maintain::Merged, Error>>>;

/// Pack refs once this many were written loose: listing thousands of loose ref files costs far
/// more than reading one packed-refs file, while packing rewrites every ref and is not free.
const PACK_REFS_AFTER: usize = 256;

impl GitRepo {
    /// Opens (creating if needed) the bare cache in `cfg.cache_dir`, points `origin` at `cfg.url`
    /// (as rewritten by `cfg.url_rewrites`), fetches, and makes sure the registered branch exists (creating it if `cfg.create_branch`).
    pub fn open(cfg: GitConfig) -> Result<GitRepo, Error> {
        configure_libgit2();
        fs::create_dir_all(&cfg.cache_dir)
            .map_err(|source| Error::Io { path: cfg.cache_dir.clone(), source })?;
        maintain::remove_stale_locks(&cfg.cache_dir);
        maintain::release_own_locks(&cfg.cache_dir.join(maintain::LOCK_JOURNAL));
        let repo = match Repository::open_bare(&cfg.cache_dir) {
            Ok(repo) => repo,
            Err(err) if err.code() == ErrorCode::NotFound => Repository::init_bare(&cfg.cache_dir)?,
            Err(err) => return Err(err.into()),
        };
        let url = normalize_url(&cfg.url)?;
        // Every transfer goes through `origin`, so it alone has the rewritten URL.
        let remote = normalize_url(&cfg.url_rewrites.apply(&url))?;
        if remote != url {
            tracing::debug!(%url, %remote, "the remote is reached at its rewritten URL");
        }
        configure_origin(&repo, &remote)?;
        let local = local::path(&remote);
        let repo = match local::borrows_elsewhere(&cfg.cache_dir, local.as_deref()) {
            false => repo,
            true => {
                tracing::info!(%url, "the cache shares another repository's objects; rebuilding it");
                drop(repo);
                fs::remove_dir_all(&cfg.cache_dir)
                    .map_err(|source| Error::Io { path: cfg.cache_dir.clone(), source })?;
                let repo = Repository::init_bare(&cfg.cache_dir)?;
                configure_origin(&repo, &remote)?;
                repo
            }
        };
        let repo = match &local {
            Some(remote) if local::share_objects(&repo, remote)? => {
                Repository::open_bare(&cfg.cache_dir)?
            }
            _ => repo,
        };
        let inner = Inner {
            repo,
            discovery: Discovery::default(),
            loose_refs: Cell::new(0),
            remote_loose_refs: Cell::new(0),
            local: local.map(kept::Kept::new),
            unconnected: RefCell::new(HashSet::new()),
            maintenance: RefCell::new(None),
            moved: RefCell::new(None),
            edits: RefCell::default(),
        };
        inner.fetch(cfg.resolved()?.auth())?;
        maintain::prune_empty_ref_dirs(inner.repo.path());
        let this = GitRepo {
            cfg,
            url,
            inner: Mutex::new(inner),
            downloading: Mutex::new(()),
            downloaded: Mutex::new(None),
        };
        this.ensure_branch()?;
        if let Err(err) = this.repair() {
            // The leftovers stay recognisable and are repaired at the next open.
            tracing::warn!(%err, "cannot repair interrupted lifecycle moves");
        }
        Ok(this)
    }

    /// Completes or undoes the lifecycle moves a crash interrupted ([`maintain::leftovers`]).
    /// Runs at open, before any write of this process, under the cache's lock.
    fn repair(&self) -> Result<(), Error> {
        let inner = self.lock();
        let updates = maintain::leftovers(&inner.repo, &self.cfg.branch)?;
        if updates.is_empty() {
            return Ok(());
        }
        let (moves, deletions): (Vec<_>, Vec<_>) =
            updates.into_iter().partition(|update| update.new.is_some());
        // Moves first: a crash between leaves the leftovers recognisable, deleted next time.
        for batch in [moves, deletions] {
            if !batch.is_empty() {
                inner.push(self.cfg.resolved()?.auth(), &batch)?;
            }
        }
        Ok(())
    }

    /// [`Error::RemoteLocked`] when a lock file that stops every write (`packed-refs.lock`, the
    /// registered branch's) exists in the local remote; for readiness. Network remotes: `Ok`.
    pub fn check_remote_locks(&self) -> Result<(), Error> {
        let Some(git_dir) = self.lock().local.as_ref().map(|remote| remote.path().to_path_buf())
        else {
            return Ok(());
        };
        let branch = RefUpdate::delete(self.branch_ref());
        match local::held_lock(&git_dir, &[branch]) {
            // Another server's write holds its locks for milliseconds: only one that lingers
            // (a writer that died, until the lock goes stale) makes the repository not ready.
            Some(file) if local::lock_age(&git_dir.join(&file)) >= LINGERING_LOCK => {
                Err(Error::RemoteLocked { file })
            }
            _ => Ok(()),
        }
    }

    /// The registration this repository was opened with.
    pub fn config(&self) -> &GitConfig {
        &self.cfg
    }

    /// Fetches all branches and tags from the remote, pruning refs the remote deleted. After a
    /// [`download`](GitRepo::download), applies what it saw instead of talking to the remote
    /// again.
    pub fn fetch(&self) -> Result<(), Error> {
        let downloaded = self.downloaded.lock().unwrap_or_else(PoisonError::into_inner).take();
        let inner = self.lock();
        match downloaded {
            Some(Downloaded { before, advertised }) => {
                let written = transport::apply(&inner.repo, &before, &advertised);
                inner.fetched(written.as_ref().map_or(1, |written| *written));
                let written = written?;
                inner.start_maintenance();
                inner.refs_written(written)
            }
            None => inner.fetch(self.cfg.resolved()?.auth()),
        }
    }

    /// The network half of a fetch, run without this repository's lock so reads and writes go
    /// on while a slow remote is talked to: downloads the objects of the remote's branches and
    /// tags and remembers its refs for the next [`fetch`](GitRepo::fetch), which moves the
    /// tracking refs under the lock. Does nothing for a remote on this machine, whose fetch is
    /// local work.
    pub fn download(&self) -> Result<(), Error> {
        let path = {
            let inner = self.lock();
            if inner.local.is_some() {
                return Ok(());
            }
            inner.repo.path().to_path_buf()
        };
        let _one = self.downloading.lock().unwrap_or_else(PoisonError::into_inner);
        let repo = Repository::open_bare(&path)?;
        let before = transport::tracked(&repo)?;
        let resolved = self.cfg.resolved()?;
        let advertised = on_big_stack(&repo, |repo| transport::download(repo, resolved.auth()))?;
        *self.downloaded.lock().unwrap_or_else(PoisonError::into_inner) =
            Some(Downloaded { before, advertised });
        Ok(())
    }

    /// A hash over all local refs; it changes whenever a fetch or push changed any ref.
    /// Does not fetch.
    pub fn version(&self) -> Result<String, Error> {
        let inner = self.lock();
        let mut lines = Vec::new();
        for reference in inner.repo.references()? {
            let reference = reference?;
            let target = match reference.target() {
                Some(id) => id.to_string(),
                None => {
                    String::from_utf8_lossy(reference.symbolic_target_bytes().unwrap_or_default())
                        .into_owned()
                }
            };
            lines.push(format!("{} {target}\n", String::from_utf8_lossy(reference.name_bytes())));
        }
        lines.sort();
        Ok(Oid::hash_object(ObjectType::Blob, lines.concat().as_bytes())?.to_string())
    }

    /// All package revisions under the registered directory (porch.md §2.3), as of the last fetch
    /// or push. Results are memoised by object id, so listing unchanged refs is cheap.
    pub fn list(&self) -> Result<Vec<Arc<Discovered>>, Error> {
        let mut inner = self.lock();
        let Inner { repo, discovery, moved, .. } = &mut *inner;
        *moved.get_mut() = None;
        let scope = Scope { branch: &self.cfg.branch, directory: &self.cfg.directory };
        let found = discovery.list(repo, &scope)?;
        *moved.get_mut() = Some(BTreeSet::new());
        Ok(found)
    }

    /// Lets go of what a full list and the reads after it left in libgit2's caches (about
    /// 24 MB of heap at 10,000 revisions), by opening the cache afresh.
    pub fn release_caches(&self) {
        self.lock().reopen("to release its caches");
    }

    /// What changed since the last [`list`](GitRepo::list) or `list_changes`: after this
    /// process's own pushes, only the refs they moved are read, and the revisions of the
    /// packages those refs belong to are returned; after a fetch that moved refs (or before
    /// the first list), everything is listed.
    pub fn list_changes(&self) -> Result<Listing, Error> {
        let mut inner = self.lock();
        let Inner { repo, discovery, moved, edits, .. } = &mut *inner;
        let scope = Scope { branch: &self.cfg.branch, directory: &self.cfg.directory };
        let Some(refs) = moved.get_mut().take().filter(|_| discovery.has_listed()) else {
            let found = discovery.list(repo, &scope)?;
            *moved.get_mut() = Some(BTreeSet::new());
            return Ok(Listing::Full(found));
        };
        // On an error `moved` stays `None`: the next call lists everything.
        let changed = discovery.changes(repo, &scope, &refs, edits.get_mut())?;
        *moved.get_mut() = Some(BTreeSet::new());
        Ok(Listing::Packages(changed))
    }

    /// All files of `package` (relative to the registered directory) in `commit`.
    pub fn read_files(&self, commit: &str, package: &str) -> Result<Files, Error> {
        self.read_files_with_modes(commit, package).map(|(files, _)| files)
    }

    /// All files of `package` in `commit`, and the modes of its entries that are not regular
    /// files (executables, symlinks, submodules; see [`Modes`]). Bounded by
    /// [`MAX_TREE_DEPTH`](crate::MAX_TREE_DEPTH) and the size limits.
    pub fn read_files_with_modes(
        &self,
        commit: &str,
        package: &str,
    ) -> Result<(Files, Modes), Error> {
        self.read_files_in(commit, None, package)
    }

    /// [`read_files_with_modes`](Self::read_files_with_modes), reading the package's tree
    /// `package_tree` (its hex id in `commit`, as discovery found it) directly when it is there:
    /// finding a package through the root tree of a directory of thousands of packages parses
    /// that whole tree.
    pub(crate) fn read_files_in(
        &self,
        commit: &str,
        package_tree: Option<&str>,
        package: &str,
    ) -> Result<(Files, Modes), Error> {
        let full = self.full_path(package);
        let inner = self.lock();
        if let Some(tree) = known_tree(&inner.repo, package_tree) {
            return tree::read_files_with_modes(&inner.repo, &tree);
        }
        let commit = find_commit(&inner.repo, commit)?;
        let not_found = || Error::NotFound { kind: "package", name: full.clone() };
        let entry = commit.tree()?.get_path(Path::new(&full)).map_err(|_| not_found())?;
        if entry.kind() != Some(ObjectType::Tree) {
            return Err(not_found());
        }
        let package_tree = inner.repo.find_tree(entry.id()).map_err(|e| tree::broken(&full, e))?;
        tree::read_files_with_modes(&inner.repo, &package_tree)
    }

    /// One file of a package at a commit (`file` relative to the package root); `None` when the
    /// package or the file does not exist there.
    pub fn read_file(
        &self,
        commit: &str,
        package: &str,
        file: &str,
    ) -> Result<Option<Vec<u8>>, Error> {
        self.read_file_in(commit, None, package, file)
    }

    /// [`read_file`](Self::read_file) through the package's tree when it is known (see
    /// [`read_files_in`](Self::read_files_in)).
    pub(crate) fn read_file_in(
        &self,
        commit: &str,
        package_tree: Option<&str>,
        package: &str,
        file: &str,
    ) -> Result<Option<Vec<u8>>, Error> {
        let inner = self.lock();
        let entry = match known_tree(&inner.repo, package_tree) {
            Some(tree) => tree.get_path(Path::new(file)),
            None => {
                let path = format!("{}/{file}", self.full_path(package));
                let commit = find_commit(&inner.repo, commit)?;
                commit.tree()?.get_path(Path::new(&path))
            }
        };
        let Ok(entry) = entry else { return Ok(None) };
        if entry.kind() != Some(ObjectType::Blob) {
            return Ok(None);
        }
        Ok(Some(inner.repo.find_blob(entry.id())?.content().to_vec()))
    }

    /// The commit the registered branch points at, as of the last fetch or push.
    pub fn branch_head(&self) -> Result<Option<String>, Error> {
        let inner = self.lock();
        Ok(self.head_id(&inner.repo)?.map(|id| id.to_string()))
    }

    /// The commit a remote ref (`refs/heads/...` or `refs/tags/...`) points at, as of the last
    /// fetch or push; tags are peeled.
    pub fn resolve(&self, remote_ref: &str) -> Result<Option<String>, Error> {
        let Some(local) = transport::tracking_ref(remote_ref) else {
            return Err(Error::InvalidRef { name: remote_ref.to_owned() });
        };
        let inner = self.lock();
        let reference = match inner.repo.find_reference(&local) {
            Ok(reference) => reference,
            Err(err) if err.code() == ErrorCode::NotFound => return Ok(None),
            Err(err) => return Err(err.into()),
        };
        Ok(Some(reference.peel_to_commit()?.id().to_string()))
    }

    /// Creates (without pushing) a commit whose tree is the tree of `parent` (default: the branch
    /// head; empty if the branch has no commit) with the package directory replaced by `files`
    /// (removed if `files` is empty). The message is [`format_message`]`(headline, annotation)`.
    pub fn commit_package(
        &self,
        package: &str,
        parent: Option<&str>,
        files: &Files,
        headline: &str,
        annotation: &Annotation,
    ) -> Result<String, Error> {
        self.commit_package_with_modes(package, parent, files, &Modes::new(), headline, annotation)
    }

    /// [`GitRepo::commit_package`] writing the entries named in `modes` as executables, symlinks
    /// or submodules (a submodule entry needs no `files` entry; one in `files` makes it a regular
    /// file). Modes of paths that are in neither map are ignored.
    pub fn commit_package_with_modes(
        &self,
        package: &str,
        parent: Option<&str>,
        files: &Files,
        modes: &Modes,
        headline: &str,
        annotation: &Annotation,
    ) -> Result<String, Error> {
        self.commit_package_by(package, parent, files, modes, headline, annotation, None)
    }

    /// [`GitRepo::commit_package_with_modes`] for the user `by` (the commit's author unless the
    /// repository is configured with one).
    #[allow(clippy::too_many_arguments)]
    pub fn commit_package_by(
        &self,
        package: &str,
        parent: Option<&str>,
        files: &Files,
        modes: &Modes,
        headline: &str,
        annotation: &Annotation,
        by: Option<&Signature>,
    ) -> Result<String, Error> {
        let (commit, _) =
            self.commit_package_tree(package, parent, files, modes, headline, annotation, by)?;
        Ok(commit)
    }

    /// [`commit_package_by`](Self::commit_package_by), also returning the package's new tree
    /// (`None` when `files` is empty).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn commit_package_tree(
        &self,
        package: &str,
        parent: Option<&str>,
        files: &Files,
        modes: &Modes,
        headline: &str,
        annotation: &Annotation,
        by: Option<&Signature>,
    ) -> Result<(String, Option<Oid>), Error> {
        let full = self.full_path(package);
        let components = tree::split_path(&full)?;
        if !files.is_empty() && !files.contains_key("Kptfile") {
            return Err(Error::MissingKptfile { package: full });
        }
        let inner = self.lock();
        let parent = match parent {
            Some(parent) => Some(find_commit(&inner.repo, parent)?.id()),
            None => self.head_id(&inner.repo)?,
        };
        let (id, package_tree) = inner.write(|stage| {
            let base = parent.map(|id| stage.find_commit(id).map(|c| c.tree_id())).transpose()?;
            let package_tree = tree::write_files(stage, files, modes)?;
            let root = match tree::replace_dir(stage, base, &components, package_tree)? {
                Some(root) => root,
                None => tree::empty_tree(stage)?,
            };
            let message = format_message(headline, annotation);
            let commit = self.write_commit(stage, root, &message, parent.as_slice(), by)?;
            Ok((commit, package_tree))
        })?;
        Ok((id.to_string(), package_tree))
    }

    /// Pushes all `updates` in one push and, on success, updates the local tracking refs so
    /// [`GitRepo::list`] reflects the push without a fetch. A refused ref is
    /// [`Error::PushRejected`]; a failed compare-and-swap or fast-forward is [`Error::Conflict`].
    pub fn push(&self, updates: &[RefUpdate]) -> Result<(), Error> {
        self.lock().push(self.cfg.resolved()?.auth(), updates)
    }

    /// Publishes a proposed revision (porch.md §2.6): fetches, merges the draft's package tree
    /// into the branch head (parents `[head, draft]`), and pushes the branch (compare-and-swap),
    /// the tag `<full>/v<revision>` and the deletion of `delete_ref` (skipped when empty) in one
    /// push. Retries when the branch moved concurrently. Returns the approval commit.
    pub fn approve(
        &self,
        package: &str,
        workspace: &str,
        draft_commit: &str,
        revision: i64,
        delete_ref: &str,
    ) -> Result<String, Error> {
        self.approve_by(package, workspace, draft_commit, revision, delete_ref, None)
    }

    /// [`GitRepo::approve`] for the user `by`, who authors the approval commit (and so is its
    /// `publishedBy`) unless the repository is configured with an author.
    pub fn approve_by(
        &self,
        package: &str,
        workspace: &str,
        draft_commit: &str,
        revision: i64,
        delete_ref: &str,
        by: Option<&Signature>,
    ) -> Result<String, Error> {
        let full = self.full_path(package);
        let components = tree::split_path(&full)?;
        let annotation = Annotation {
            package: full.clone(),
            workspace_name: workspace.to_owned(),
            revision: revision.to_string(),
            task: None,
        };
        let message =
            annotate_message(&format!("Approving package revision {full}/{revision}"), &annotation);
        let branch_ref = self.branch_ref();
        let inner = self.lock();
        let mut attempt = 1;
        loop {
            // Over the network a stale branch costs less than asking first: the push's
            // compare-and-swap refuses it and the next attempt fetches.
            if attempt > 1 || inner.local.is_some() {
                inner.refresh(self.cfg.resolved()?.auth(), &branch_ref)?;
            }
            let draft = find_commit(&inner.repo, draft_commit)?.id();
            let head = self.head_id(&inner.repo)?;
            let id = inner.write(|stage| {
                let draft_root = stage.find_commit(draft)?.tree_id();
                let Some(package_tree) = tree::dir_at(stage, draft_root, &components)? else {
                    return Err(Error::NotFound { kind: "package", name: full.clone() });
                };
                let base = head.map(|id| stage.find_commit(id).map(|c| c.tree_id())).transpose()?;
                let root = tree::replace_dir(stage, base, &components, Some(package_tree))?
                    .expect("a tree holding the package is never empty");
                let parents: Vec<Oid> = head.into_iter().chain(iter::once(draft)).collect();
                self.write_commit(stage, root, &message, &parents, by)
            })?;
            let old_head = head.map_or_else(|| ABSENT.to_owned(), |head| head.to_string());
            // Tag, branch, then the draft's deletion: a crash leaves a prefix of these, which
            // [`GitRepo::repair`] completes (see there).
            let mut updates = vec![
                RefUpdate::set(self.tag_ref(package, revision), id.to_string()).expecting(ABSENT),
                RefUpdate::set(&branch_ref, id.to_string()).expecting(old_head),
            ];
            if !delete_ref.is_empty() {
                updates.push(RefUpdate::delete(delete_ref));
            }
            match inner.push(self.cfg.resolved()?.auth(), &updates) {
                Ok(()) => return Ok(id.to_string()),
                Err(Error::Conflict { refname, .. })
                    if refname == branch_ref && attempt < BRANCH_UPDATE_ATTEMPTS =>
                {
                    tracing::info!(package = %full, attempt, "branch moved during approval, retrying");
                    attempt += 1;
                }
                Err(err) => return Err(err),
            }
        }
    }

    /// Removes the package directory from the registered branch with a `Delete <full>` commit and
    /// pushes it; does nothing if the branch or the directory does not exist.
    pub fn remove_package_from_branch(&self, package: &str) -> Result<(), Error> {
        self.remove_package_from_branch_by(package, None)
    }

    /// [`GitRepo::remove_package_from_branch`] for the user `by`.
    pub fn remove_package_from_branch_by(
        &self,
        package: &str,
        by: Option<&Signature>,
    ) -> Result<(), Error> {
        let full = self.full_path(package);
        let components = tree::split_path(&full)?;
        let message = format!("Delete {full}");
        let branch_ref = self.branch_ref();
        let inner = self.lock();
        let mut attempt = 1;
        loop {
            inner.refresh(self.cfg.resolved()?.auth(), &branch_ref)?;
            let Some(head) = self.head_id(&inner.repo)? else { return Ok(()) };
            let id = inner.write(|stage| {
                let base = stage.find_commit(head)?.tree_id();
                if tree::dir_at(stage, base, &components)?.is_none() {
                    return Ok(None);
                }
                let root = match tree::replace_dir(stage, Some(base), &components, None)? {
                    Some(root) => root,
                    None => tree::empty_tree(stage)?,
                };
                self.write_commit(stage, root, &message, &[head], by).map(Some)
            })?;
            let Some(id) = id else { return Ok(()) };
            let update = RefUpdate::set(&branch_ref, id.to_string()).expecting(head.to_string());
            match inner.push(self.cfg.resolved()?.auth(), &[update]) {
                Ok(()) => return Ok(()),
                Err(Error::Conflict { .. }) if attempt < BRANCH_UPDATE_ATTEMPTS => {
                    tracing::info!(package = %full, attempt, "branch moved during package removal, retrying");
                    attempt += 1;
                }
                Err(err) => return Err(err),
            }
        }
    }

    /// `directory/package`: the path used in git for a package relative to the directory.
    pub fn full_path(&self, package: &str) -> String {
        discover::full_path(&self.cfg.directory, package)
    }

    /// `refs/heads/drafts/<full>/<workspace>`.
    pub fn draft_ref(&self, package: &str, workspace: &str) -> String {
        format!("refs/heads/drafts/{}/{workspace}", self.full_path(package))
    }

    /// `refs/heads/proposed/<full>/<workspace>`.
    pub fn proposed_ref(&self, package: &str, workspace: &str) -> String {
        format!("refs/heads/proposed/{}/{workspace}", self.full_path(package))
    }

    /// `refs/tags/<full>/v<revision>`.
    pub fn tag_ref(&self, package: &str, revision: i64) -> String {
        format!("refs/tags/{}/v{revision}", self.full_path(package))
    }

    /// `refs/heads/deletionProposed/<full>/v<revision>`, or `.../<workspace>` when revision ≤ 0.
    pub fn deletion_proposed_ref(&self, package: &str, revision: i64, workspace: &str) -> String {
        let name = discover::deletion_proposed_name(&self.full_path(package), revision, workspace);
        format!("refs/heads/deletionProposed/{name}")
    }

    /// `refs/heads/<branch>`.
    pub fn branch_ref(&self) -> String {
        format!("refs/heads/{}", self.cfg.branch)
    }

    /// The remote URL as registered (local paths made absolute, never rewritten), for
    /// `selfLock.repo`.
    pub fn origin_url(&self) -> String {
        self.url.clone()
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic mid-operation leaves at worst unreferenced objects or stale memo entries keyed by
        // object id, both harmless, so a poisoned lock is still usable.
        let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        inner.finish_maintenance();
        inner
    }

    /// The commit the tracking ref of the registered branch points at.
    fn head_id(&self, repo: &Repository) -> Result<Option<Oid>, Error> {
        let name = format!("{TRACKING_PREFIX}{}", self.cfg.branch);
        match repo.find_reference(&name) {
            Ok(reference) => Ok(Some(reference.peel_to_commit()?.id())),
            Err(err) if err.code() == ErrorCode::NotFound => Ok(None),
            Err(err) => Err(err.into()),
        }
    }

    /// Writes a commit authored by the repository's configured author, else by `by`, else by
    /// the service identity (which always commits).
    fn write_commit(
        &self,
        stage: &Stage<'_>,
        tree: Oid,
        message: &str,
        parents: &[Oid],
        by: Option<&Signature>,
    ) -> Result<Oid, Error> {
        let committer = git2::Signature::now(PORCH_NAME, PORCH_EMAIL)?;
        let configured =
            self.cfg.author.as_ref().filter(|a| !a.name.is_empty() || !a.email.is_empty());
        let author = match configured.or(by) {
            // Porch fills in a missing name or email from the other one.
            Some(author) if !author.name.is_empty() || !author.email.is_empty() => {
                let name = if author.name.is_empty() { &author.email } else { &author.name };
                let email = if author.email.is_empty() { &author.name } else { &author.email };
                git2::Signature::now(name, email)?
            }
            _ => committer.clone(),
        };
        stage.commit(&author, &committer, message, tree, parents)
    }

    /// Creates the registered branch if it is missing and `create_branch` allows it (§2.1).
    fn ensure_branch(&self) -> Result<(), Error> {
        let inner = self.lock();
        if self.head_id(&inner.repo)?.is_some() {
            return Ok(());
        }
        if !self.cfg.create_branch {
            return Err(Error::BranchNotFound { branch: self.cfg.branch.clone() });
        }
        let id = inner.write(|stage| {
            let mut builder = stage.builder(None)?;
            builder.insert(INITIAL_FILE, stage.blob(INITIAL_CONTENT.as_bytes())?, 0o100644)?;
            let tree = stage.tree(&builder)?;
            let signature = git2::Signature::now(PORCH_NAME, PORCH_EMAIL)?;
            stage.commit(&signature, &signature, INITIAL_MESSAGE, tree, &[])
        })?;
        let update = RefUpdate::set(self.branch_ref(), id.to_string()).expecting(ABSENT);
        match inner.push(self.cfg.resolved()?.auth(), &[update]) {
            Ok(()) => Ok(()),
            // Someone else created the branch first; use theirs.
            Err(Error::Conflict { .. }) => inner.fetch(self.cfg.resolved()?.auth()),
            // Another server sharing the remote is creating it now (servers opening a new
            // registration at once): its lock is held for milliseconds; use theirs.
            Err(Error::RemoteLocked { file }) if inner.local.is_some() => {
                let deadline = std::time::Instant::now() + BRANCH_CREATION_WAIT;
                loop {
                    thread::sleep(std::time::Duration::from_millis(20));
                    inner.fetch(self.cfg.resolved()?.auth())?;
                    if self.head_id(&inner.repo)?.is_some() {
                        return Ok(());
                    }
                    if std::time::Instant::now() > deadline {
                        return Err(Error::RemoteLocked { file });
                    }
                }
            }
            Err(err) => Err(err),
        }
    }
}

impl Inner {
    fn fetch(&self, auth: Auth<'_>) -> Result<(), Error> {
        if let Some(remote) = self.local()? {
            if local::in_sync(&remote, &self.repo)? {
                return Ok(());
            }
            // Even a failed copy may have written refs.
            let copied = local::copy_refs_into_empty(&remote, &self.repo);
            if !matches!(copied, Ok(false)) {
                self.fetched(1);
                return copied.map(drop);
            }
        }
        let mut attempt = 1;
        let written = loop {
            let written = fetch_on_big_stack(&self.repo, auth);
            match &written {
                Err(err)
                    if self.local.is_some()
                        && attempt < LOCAL_FETCH_ATTEMPTS
                        && ref_vanished(err) =>
                {
                    tracing::debug!(%err, attempt, "a ref of the remote went while fetching it; fetching again");
                    self.fetched(1);
                    thread::sleep(std::time::Duration::from_millis(attempt as u64));
                    attempt += 1;
                }
                _ => break written,
            }
        };
        self.fetched(written.as_ref().map_or(1, |written| *written));
        let written = written?;
        self.start_maintenance();
        self.refs_written(written)
    }

    /// After a fetch that wrote `written` refs (an error counts as some): discovery must read
    /// every ref again, since it cannot tell which moved.
    fn fetched(&self, written: usize) {
        if written > 0 {
            *self.moved.borrow_mut() = None;
        }
    }

    /// Remembers that `updates` may have moved their tracking refs, for [`GitRepo::list_changes`].
    fn pushed(&self, updates: &[RefUpdate]) {
        if let Some(moved) = self.moved.borrow_mut().as_mut() {
            moved.extend(updates.iter().filter_map(|update| transport::tracking_ref(&update.name)));
        }
    }

    /// Starts merging small packs of the cache and the local remote in the background, unless a
    /// merge is running or nothing needs one.
    fn start_maintenance(&self) {
        let mut job = self.maintenance.borrow_mut();
        if job.is_some() {
            return;
        }
        let remote = self.local.as_ref().map(|remote| remote.path().to_path_buf());
        let dirs = iter::once(self.repo.path().to_path_buf()).chain(remote);
        let work: Vec<_> =
            dirs.filter_map(|dir| maintain::plan(&dir).map(|packs| (dir, packs))).collect();
        if work.is_empty() {
            return;
        }
        let spawned = thread::Builder::new().name("veranda-repack".into()).spawn(move || {
            work.into_iter().map(|(dir, packs)| maintain::merge(&dir, packs)).collect()
        });
        match spawned {
            Ok(handle) => *job = Some(handle),
            Err(err) => tracing::warn!(%err, "cannot start merging packs"),
        }
    }

    /// Completes a finished background merge: deletes the merged packs and reopens the cache so
    /// no handle refers to them.
    fn finish_maintenance(&mut self) {
        let job = self.maintenance.get_mut();
        if !job.as_ref().is_some_and(JoinHandle::is_finished) {
            return;
        }
        let Some(handle) = job.take() else { return };
        let Ok(results) = handle.join() else {
            tracing::warn!("merging packs panicked");
            return;
        };
        for result in results {
            match result {
                Ok(merged) => merged.remove(),
                Err(err) => tracing::warn!(%err, "merging packs failed"),
            }
        }
        self.reopen("after merging packs");
    }

    /// Opens the cache afresh. The old handle's caches go with it: libgit2 keeps decompressed
    /// delta bases (up to 16 MiB a pack) and parsed trees and commits as long as a handle is
    /// open.
    fn reopen(&mut self, why: &str) {
        if let Some(remote) = &self.local {
            remote.forget();
        }
        match Repository::open_bare(self.repo.path()) {
            Ok(repo) => self.repo = repo,
            Err(err) => tracing::warn!(%err, "cannot reopen the cache {why}"),
        }
    }

    /// Fetches unless the remote is local and its `branch_ref` is where the cache last saw it.
    fn refresh(&self, auth: Auth<'_>, branch_ref: &str) -> Result<(), Error> {
        if let Some(remote) = self.local()? {
            let tracking = transport::tracking_ref(branch_ref)
                .ok_or_else(|| Error::InvalidRef { name: branch_ref.to_owned() })?;
            if local::target(&remote, branch_ref)? == local::target(&self.repo, &tracking)? {
                return Ok(());
            }
            tracing::debug!(branch = branch_ref, "the branch moved in the remote; fetching");
        } else if let Some(url) = self.network_url() {
            match smart::branch_head(&url, auth, branch_ref) {
                Ok(head) => {
                    let tracking = transport::tracking_ref(branch_ref)
                        .ok_or_else(|| Error::InvalidRef { name: branch_ref.to_owned() })?;
                    if head.unwrap_or(Oid::ZERO_SHA1) == local::target(&self.repo, &tracking)? {
                        return Ok(());
                    }
                }
                Err(Failure::Failed(err)) => return Err(err),
                Err(Failure::Unsupported(reason)) => {
                    tracing::debug!(%reason, "fetching to learn where the branch is");
                }
            }
        }
        self.fetch(auth)
    }

    /// Runs `build` on a [`Stage`] and stores what it wrote as one pack in the cache and, when
    /// the remote is local, in the remote too.
    fn write<T>(&self, build: impl FnOnce(&Stage<'_>) -> Result<T, Error>) -> Result<T, Error> {
        let (out, staged) = stage::stage(&self.repo, build)?;
        self.edits.borrow_mut().record(&staged.derived);
        if let Some(pack) = &staged.pack {
            // The cache can be rebuilt from the remote: its packs are not flushed.
            packfile::install(self.repo.path(), pack, false)?;
            self.repo.odb()?.refresh()?;
        }
        if let Some(kept) = &self.local {
            let remote = kept.get()?;
            if let Some(pack) = &staged.pack {
                // Refs of the remote move right after this and the write is acknowledged then.
                kept.install(&remote, |path| packfile::install(path, pack, true))?;
            }
            let odb = remote.odb()?;
            let missing =
                stage::missing_references(&self.repo, &staged.written, &staged.derived, &odb)?;
            if !missing.is_empty() {
                tracing::info!(
                    missing = missing.len(),
                    "the remote lacks objects the cache has; the next push sends them"
                );
                let commits = staged.written.iter().filter(|(_, kind)| *kind == ObjectType::Commit);
                self.unconnected.borrow_mut().extend(commits.map(|(id, _)| *id));
            }
        }
        self.start_maintenance();
        Ok(out)
    }

    fn push(&self, auth: Auth<'_>, updates: &[RefUpdate]) -> Result<(), Error> {
        transport::validate(&self.repo, updates)?;
        // Even a failed push may have moved some of them.
        self.pushed(updates);
        let res = match self.local()? {
            Some(remote) if self.direct(&remote, updates)? => {
                let journal = self.repo.path().join(maintain::LOCK_JOURNAL);
                let res = local::push(&remote, updates, &journal)
                    .and_then(|()| transport::mirror(&self.repo, updates));
                self.remote_refs_written(&remote, updates.len());
                res
            }
            _ => self.push_to_remote(auth, updates),
        };
        if res.is_ok() {
            let mut unconnected = self.unconnected.borrow_mut();
            for new in updates.iter().filter_map(|update| update.new.as_deref()) {
                unconnected.remove(&transport::parse_oid(new)?);
            }
        }
        self.refs_written(updates.len())?;
        res
    }

    /// Pushes to a remote that is not a local bare repository: over smart HTTP ourselves when
    /// the remote is served that way ([`smart::push`]), else (or when that client cannot) with
    /// libgit2.
    fn push_to_remote(&self, auth: Auth<'_>, updates: &[RefUpdate]) -> Result<(), Error> {
        if let Some(url) = self.network_url() {
            match smart::push(&self.repo, &url, auth, updates) {
                Ok(()) => return Ok(()),
                Err(Failure::Failed(err)) => return Err(err),
                Err(Failure::Unsupported(reason)) => {
                    tracing::debug!(%reason, "pushing with libgit2 instead");
                }
            }
        }
        on_big_stack(&self.repo, |repo| transport::push(repo, auth, updates))
    }

    /// The URL of `origin` when it is an `http(s)` URL.
    fn network_url(&self) -> Option<String> {
        let remote = self.repo.find_remote(transport::ORIGIN).ok()?;
        let url = remote.url().ok()?;
        let lower = url.to_ascii_lowercase();
        (lower.starts_with("http://") || lower.starts_with("https://")).then(|| url.to_owned())
    }

    /// A handle on the local remote that answers as a fresh one would, if the remote is local.
    fn local(&self) -> Result<Option<kept::Handle<'_>>, Error> {
        self.local.as_ref().map(kept::Kept::get).transpose()
    }

    /// Whether `updates` can be applied to the local `remote` directly: every new target is
    /// there and known to be complete.
    fn direct(&self, remote: &Repository, updates: &[RefUpdate]) -> Result<bool, Error> {
        let odb = remote.odb()?;
        let unconnected = self.unconnected.borrow();
        for new in updates.iter().filter_map(|update| update.new.as_deref()) {
            let id = transport::parse_oid(new)?;
            if unconnected.contains(&id) || !odb.exists(id) {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Packs the local remote's refs now and then, as `git gc` after a push would: the direct
    /// writes leave one loose file per ref, and every reader of the remote lists them all.
    /// Packing takes the same locks as any writer, so a failure is only logged.
    fn remote_refs_written(&self, remote: &Repository, count: usize) {
        let loose = self.remote_loose_refs.get() + count;
        if loose < PACK_REFS_AFTER {
            self.remote_loose_refs.set(loose);
            return;
        }
        self.remote_loose_refs.set(0);
        let journal = self.repo.path().join(maintain::LOCK_JOURNAL);
        if let Err(err) = maintain::pack_refs(remote.path(), Some(&journal)) {
            tracing::warn!(%err, "cannot pack the refs of the remote");
        }
    }

    fn refs_written(&self, count: usize) -> Result<(), Error> {
        let loose = self.loose_refs.get() + count;
        if loose >= PACK_REFS_AFTER {
            self.repo.refdb_compress()?;
            maintain::prune_empty_ref_dirs(self.repo.path());
            self.loose_refs.set(0);
        } else {
            self.loose_refs.set(loose);
        }
        Ok(())
    }
}

/// The tree `hex` if it names a tree this repository has.
fn known_tree<'r>(repo: &'r Repository, hex: Option<&str>) -> Option<git2::Tree<'r>> {
    repo.find_tree(transport::parse_oid(hex?).ok()?).ok()
}

fn find_commit<'r>(repo: &'r Repository, hex: &str) -> Result<Commit<'r>, Error> {
    let id = transport::parse_oid(hex)?;
    match repo.find_object(id, None) {
        Ok(object) => Ok(object.peel_to_commit()?),
        Err(err) if err.code() == ErrorCode::NotFound => {
            Err(Error::NotFound { kind: "commit", name: hex.to_owned() })
        }
        Err(err) => Err(err.into()),
    }
}

/// URLs pass through; anything else is a local path, made absolute with `.` and `..` resolved
/// lexically (symlinks are kept, so the URL stays the one the user gave, only absolute).
/// Process-wide libgit2 settings, applied once.
///
/// Hash verification of every object read is off: it was a third of the CPU time of writes in
/// large repositories (docs/PERFORMANCE.md), and git itself does not re-hash objects on read
/// either. Objects that arrive from remotes are still verified when their pack is indexed.
///
/// Strict object creation (every tree entry must exist in the repository being written) is off
/// because writes are built in a [`Stage`] whose object store holds only the new objects; entries
/// always come from trees read from the cache, and before a local remote's refs move
/// [`stage::missing_references`] checks that the remote has everything they point at.
pub(crate) fn configure_libgit2() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        git2::opts::strict_hash_verification(false);
        git2::opts::strict_object_creation(false);
    });
}

pub(crate) fn normalize_url(url: &str) -> Result<String, Error> {
    // A URL, or git's scp-like SSH syntax `[user@]host:path` (a `:` before any `/`).
    let scp_like =
        url.split_once(':').is_some_and(|(host, _)| !host.is_empty() && !host.contains('/'));
    if url.contains("://") || scp_like {
        return Ok(url.to_owned());
    }
    let absolute =
        std::path::absolute(url).map_err(|source| Error::Io { path: url.into(), source })?;
    let mut path = PathBuf::new();
    for component in absolute.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => {
                path.pop();
            }
            other => path.push(other),
        }
    }
    Ok(path.to_string_lossy().into_owned())
}

/// Points `origin` at `url` with Porch's fetch refspecs, repairing an existing remote.
pub(crate) fn configure_origin(repo: &Repository, url: &str) -> Result<(), Error> {
    match repo.find_remote(ORIGIN) {
        Ok(remote) => {
            let refspecs = remote.fetch_refspecs()?;
            let refspecs: Vec<&str> = refspecs.iter().flatten().flatten().collect();
            if refspecs != [HEADS_REFSPEC, TAGS_REFSPEC] {
                repo.remote_delete(ORIGIN)?;
            } else {
                if remote.url().ok() != Some(url) {
                    repo.remote_set_url(ORIGIN, url)?;
                }
                return Ok(());
            }
        }
        Err(err) if err.code() == ErrorCode::NotFound => {}
        Err(err) => return Err(err.into()),
    }
    repo.remote_with_fetch(ORIGIN, url, HEADS_REFSPEC)?;
    repo.remote_add_fetch(ORIGIN, TAGS_REFSPEC)?;
    Ok(())
}
