//! In-memory implementations of the storage traits, with fault injection, so engine tests run
//! without Git or SQLite.
//!
//! [`MemoryRepository`] keeps each revision as the [`Discovered`] it lists, and each version of
//! a package's content under a made-up commit id; it follows the Git backend's rules (a
//! revision that moved since it was listed is a conflict, tags are never overwritten).
//! [`MemoryStore`] keeps rows in maps and applies a change set all or nothing.
//!
//! Every method first consults its [`Faults`]: `faults.fail_next("approve", 1)` makes the next
//! `approve` fail with [`ErrorKind::Other`] and an "injected fault" message, and
//! `faults.delay_next("list", d)` makes the next `list` take `d` longer.

use std::{
    collections::{BTreeMap, HashMap},
    sync::{
        Arc, Mutex, MutexGuard,
        atomic::{AtomicI64, Ordering},
    },
    time::Duration,
};

use crate::{
    Applied, Author, Backend, Change, Content, Discovered, Error, ErrorKind, FetchedPackage, Files,
    Lifecycle, Modes, NewDraft, ObjectRow, ObjectTable, PackageRepository, RefKind,
    RepositoryConfig, RevisionRow, Store, Upstream,
};

/// Armed faults: per method name, the number of calls that are still to fail, and a delay for
/// the next call (a slow remote or disk).
#[derive(Debug, Default)]
pub struct Faults {
    failures: Mutex<HashMap<&'static str, usize>>,
    delays: Mutex<HashMap<&'static str, Duration>>,
}

impl Faults {
    /// Makes the next `n` calls of `method` (the trait method's name) fail.
    pub fn fail_next(&self, method: &'static str, n: usize) {
        *lock(&self.failures).entry(method).or_default() += n;
    }

    /// Disarms the failures left for `method`.
    pub fn clear(&self, method: &'static str) {
        lock(&self.failures).remove(method);
    }

    /// Makes the next call of `method` sleep `delay` (on its thread) before it runs.
    pub fn delay_next(&self, method: &'static str, delay: Duration) {
        lock(&self.delays).insert(method, delay);
    }

    /// Sleeps if a delay is armed for `method`, then fails if a fault is armed, using them up.
    fn check(&self, method: &'static str) -> Result<(), Error> {
        let delay = lock(&self.delays).remove(method);
        if let Some(delay) = delay {
            std::thread::sleep(delay);
        }
        let mut armed = lock(&self.failures);
        match armed.get_mut(method) {
            Some(n) if *n > 0 => {
                *n -= 1;
                Err(Error::new(ErrorKind::Other, format!("injected fault in {method}")))
            }
            _ => Ok(()),
        }
    }
}

/// Opens [`MemoryRepository`]s: one per URL, kept across opens like a remote is, so an engine
/// restarted on the same backend finds its packages again.
#[derive(Debug, Default)]
pub struct MemoryBackend {
    /// Faults of `open` and `fetch_package`.
    pub faults: Faults,
    repositories: Mutex<HashMap<String, Arc<MemoryRepository>>>,
    upstream: Mutex<HashMap<(String, String, String), FetchedPackage>>,
}

impl MemoryBackend {
    /// The repository at `url`, created (empty, on branch `branch`) if it does not exist.
    pub fn repository(&self, url: &str, branch: &str) -> Arc<MemoryRepository> {
        lock(&self.repositories)
            .entry(url.to_owned())
            .or_insert_with(|| Arc::new(MemoryRepository::new(url, branch)))
            .clone()
    }

    /// Makes `fetch_package` answer `package` for `url` at `reference` and `directory`.
    pub fn add_upstream(
        &self,
        url: &str,
        reference: &str,
        directory: &str,
        package: FetchedPackage,
    ) {
        let key = (url.to_owned(), reference.to_owned(), directory.to_owned());
        lock(&self.upstream).insert(key, package);
    }
}

impl Backend for MemoryBackend {
    fn open(&self, config: &RepositoryConfig) -> Result<Arc<dyn PackageRepository>, Error> {
        self.faults.check("open")?;
        Ok(self.repository(&config.url, &config.branch))
    }

    fn fetch_package(&self, upstream: &Upstream) -> Result<FetchedPackage, Error> {
        self.faults.check("fetch_package")?;
        let key = (upstream.url.clone(), upstream.reference.clone(), upstream.directory.clone());
        lock(&self.upstream).get(&key).cloned().ok_or_else(|| {
            let message =
                format!("no package {:?} at {:?}", upstream.directory, upstream.reference);
            Error::new(ErrorKind::NotFound, message)
        })
    }
}

/// A repository held in memory.
#[derive(Debug)]
pub struct MemoryRepository {
    /// Faults of every [`PackageRepository`] method.
    pub faults: Faults,
    url: String,
    branch: String,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    // Invariant: keyed by `key(kind, package, workspace or version)`; values are replaced, never
    // mutated, so an unchanged revision is listed as the same `Arc`.
    revisions: BTreeMap<String, Arc<Discovered>>,
    // Content of every commit ever written.
    commits: HashMap<String, (Files, Modes)>,
    last_commit: u64,
}

impl State {
    fn commit(&mut self, files: Files, modes: Modes) -> String {
        self.last_commit += 1;
        let id = format!("{:040x}", self.last_commit);
        self.commits.insert(id.clone(), (files, modes));
        id
    }

    /// The listed revision `revision` names, if it has not moved since.
    fn current(&self, revision: &Discovered) -> Result<(String, Arc<Discovered>), Error> {
        let key = key_of(revision);
        match self.revisions.get(&key) {
            Some(current) if current.commit == revision.commit => Ok((key, current.clone())),
            Some(_) => Err(conflict(&key)),
            None => Err(Error::new(ErrorKind::NotFound, format!("revision {key:?} not found"))),
        }
    }
}

impl MemoryRepository {
    /// An empty repository on branch `branch`.
    pub fn new(url: &str, branch: &str) -> MemoryRepository {
        MemoryRepository {
            faults: Faults::default(),
            url: url.to_owned(),
            branch: branch.to_owned(),
            state: Mutex::default(),
        }
    }

    fn state(&self, method: &'static str) -> Result<MutexGuard<'_, State>, Error> {
        self.faults.check(method)?;
        Ok(lock(&self.state))
    }

    fn moved(&self, state: &mut State, revision: &Discovered, kind: RefKind) -> Result<(), Error> {
        let (key, current) = state.current(revision)?;
        state.revisions.remove(&key);
        let (prefix, lifecycle) = match kind {
            RefKind::Proposed => ("proposed", Lifecycle::Proposed),
            _ => ("drafts", Lifecycle::Draft),
        };
        let moved = Discovered {
            kind,
            lifecycle,
            ref_name: format!("{prefix}/{}/{}", current.package, current.workspace),
            ..(*current).clone()
        };
        state.revisions.insert(key_of(&moved), Arc::new(moved));
        Ok(())
    }
}

impl PackageRepository for MemoryRepository {
    fn list(&self) -> Result<Vec<Arc<Discovered>>, Error> {
        Ok(self.state("list")?.revisions.values().cloned().collect())
    }

    fn read_files(&self, revision: &Discovered) -> Result<(Files, Modes), Error> {
        let state = self.state("read_files")?;
        state.commits.get(&revision.commit).cloned().ok_or_else(|| {
            Error::new(ErrorKind::NotFound, format!("commit {:?} not found", revision.commit))
        })
    }

    fn read_file(&self, revision: &Discovered, file: &str) -> Result<Option<Vec<u8>>, Error> {
        let state = self.state("read_file")?;
        Ok(state.commits.get(&revision.commit).and_then(|(files, _)| files.get(file).cloned()))
    }

    fn create_draft(
        &self,
        draft: &NewDraft,
        content: &Content,
        _by: Option<&Author>,
    ) -> Result<(), Error> {
        let mut state = self.state("create_draft")?;
        let (kind, lifecycle, prefix) = match draft.proposed {
            true => (RefKind::Proposed, Lifecycle::Proposed, "proposed"),
            false => (RefKind::Draft, Lifecycle::Draft, "drafts"),
        };
        let key = key(kind, &draft.package, &draft.workspace);
        if state.revisions.contains_key(&key) {
            return Err(conflict(&key));
        }
        let commit = state.commit(content.files.clone(), content.modes.clone());
        let created = Discovered {
            package: draft.package.clone(),
            workspace: draft.workspace.clone(),
            revision: 0,
            kind,
            lifecycle,
            tree: commit.clone(),
            commit,
            ref_name: format!("{prefix}/{}/{}", draft.package, draft.workspace),
            published_by: None,
            published_at: None,
            published_commit: None,
            task: content.task.clone(),
        };
        state.revisions.insert(key, Arc::new(created));
        Ok(())
    }

    fn discard_draft(&self, draft: &NewDraft) -> Result<(), Error> {
        let mut state = self.state("discard_draft")?;
        let kind = if draft.proposed { RefKind::Proposed } else { RefKind::Draft };
        state.revisions.remove(&key(kind, &draft.package, &draft.workspace));
        Ok(())
    }

    fn commit_draft(
        &self,
        revision: &Discovered,
        content: &Content,
        _by: Option<&Author>,
    ) -> Result<Discovered, Error> {
        let mut state = self.state("commit_draft")?;
        let (key, current) = state.current(revision)?;
        let commit = state.commit(content.files.clone(), content.modes.clone());
        let committed = Discovered { tree: commit.clone(), commit, ..(*current).clone() };
        state.revisions.insert(key, Arc::new(committed.clone()));
        Ok(committed)
    }

    fn propose(&self, revision: &Discovered) -> Result<(), Error> {
        let mut state = self.state("propose")?;
        self.moved(&mut state, revision, RefKind::Proposed)
    }

    fn reject(&self, revision: &Discovered) -> Result<(), Error> {
        let mut state = self.state("reject")?;
        self.moved(&mut state, revision, RefKind::Draft)
    }

    fn approve(
        &self,
        revision: &Discovered,
        number: i64,
        by: Option<&Author>,
    ) -> Result<(), Error> {
        let mut state = self.state("approve")?;
        let (draft_key, current) = state.current(revision)?;
        let version = format!("v{number}");
        let tag_key = key(RefKind::Tag, &current.package, &version);
        if state.revisions.contains_key(&tag_key) {
            return Err(conflict(&tag_key));
        }
        let content = state.commits.get(&current.commit).cloned().unwrap_or_default();
        let commit = state.commit(content.0, content.1);
        let published = Discovered {
            revision: number,
            kind: RefKind::Tag,
            lifecycle: Lifecycle::Published,
            tree: commit.clone(),
            commit: commit.clone(),
            ref_name: format!("{}/{version}", current.package),
            published_by: Some(
                by.map_or_else(|| "memory@veranda.dev".into(), |by| by.email.clone()),
            ),
            published_at: Some(number),
            ..(*current).clone()
        };
        let placeholder_key = key(RefKind::Branch, &current.package, &self.branch);
        let lifecycle = match state.revisions.get(&placeholder_key) {
            Some(old) => old.lifecycle,
            None => Lifecycle::Published,
        };
        let placeholder = Discovered {
            workspace: self.branch.clone(),
            revision: -1,
            kind: RefKind::Branch,
            lifecycle,
            ref_name: self.branch.clone(),
            published_commit: Some(commit),
            ..published.clone()
        };
        state.revisions.remove(&draft_key);
        state.revisions.insert(tag_key, Arc::new(published));
        state.revisions.insert(placeholder_key, Arc::new(placeholder));
        Ok(())
    }

    fn propose_delete(&self, revision: &Discovered) -> Result<(), Error> {
        let mut state = self.state("propose_delete")?;
        let (key, current) = state.current(revision)?;
        let proposed = Discovered { lifecycle: Lifecycle::DeletionProposed, ..(*current).clone() };
        state.revisions.insert(key, Arc::new(proposed));
        Ok(())
    }

    fn delete(&self, revision: &Discovered, _by: Option<&Author>) -> Result<(), Error> {
        let mut state = self.state("delete")?;
        state.revisions.remove(&key_of(revision));
        Ok(())
    }

    fn delete_package(
        &self,
        package: &str,
        revisions: &[Arc<Discovered>],
        _by: Option<&Author>,
    ) -> Result<(), Error> {
        let mut state = self.state("delete_package")?;
        for revision in revisions {
            state.revisions.remove(&key_of(revision));
        }
        state.revisions.remove(&key(RefKind::Branch, package, &self.branch));
        Ok(())
    }

    fn fetch(&self) -> Result<(), Error> {
        self.faults.check("fetch")
    }

    fn check_remote_locks(&self) -> Result<(), Error> {
        self.faults.check("check_remote_locks")
    }

    fn origin_url(&self) -> String {
        self.url.clone()
    }
}

/// A store held in memory.
#[derive(Debug, Default)]
pub struct MemoryStore {
    /// Faults of every [`Store`] method but `current_resource_version`.
    pub faults: Faults,
    state: Mutex<StoreState>,
    committed: AtomicI64,
}

#[derive(Debug, Default)]
struct StoreState {
    resource_version: i64,
    objects: BTreeMap<(ObjectTable, String, String), ObjectRow>,
    revisions: BTreeMap<(String, String), RevisionRow>,
}

impl MemoryStore {
    fn state(&self, method: &'static str) -> Result<MutexGuard<'_, StoreState>, Error> {
        self.faults.check(method)?;
        Ok(lock(&self.state))
    }

    /// Takes `n` resourceVersions and returns the first one.
    fn next(&self, state: &mut StoreState, n: i64) -> i64 {
        state.resource_version += n;
        self.committed.store(state.resource_version, Ordering::Release);
        state.resource_version - n + 1
    }
}

impl Store for MemoryStore {
    fn current_resource_version(&self) -> Result<i64, Error> {
        Ok(self.committed.load(Ordering::Acquire))
    }

    fn reserve_resource_versions(&self, n: i64) -> Result<i64, Error> {
        let mut state = self.state("reserve_resource_versions")?;
        Ok(self.next(&mut state, n))
    }

    fn list_objects(&self, table: ObjectTable) -> Result<Vec<ObjectRow>, Error> {
        let state = self.state("list_objects")?;
        Ok(state.objects.iter().filter(|(k, _)| k.0 == table).map(|(_, row)| row.clone()).collect())
    }

    fn get_object(
        &self,
        table: ObjectTable,
        namespace: &str,
        name: &str,
    ) -> Result<Option<ObjectRow>, Error> {
        let state = self.state("get_object")?;
        Ok(state.objects.get(&(table, namespace.to_owned(), name.to_owned())).cloned())
    }

    fn put_object(
        &self,
        table: ObjectTable,
        namespace: &str,
        name: &str,
        make: &mut dyn FnMut(i64) -> String,
    ) -> Result<ObjectRow, Error> {
        let mut state = self.state("put_object")?;
        let resource_version = self.next(&mut state, 1);
        let row = ObjectRow {
            namespace: namespace.to_owned(),
            name: name.to_owned(),
            object: make(resource_version),
            resource_version,
        };
        state.objects.insert((table, namespace.to_owned(), name.to_owned()), row.clone());
        Ok(row)
    }

    fn delete_object(
        &self,
        table: ObjectTable,
        namespace: &str,
        name: &str,
    ) -> Result<bool, Error> {
        let mut state = self.state("delete_object")?;
        Ok(state.objects.remove(&(table, namespace.to_owned(), name.to_owned())).is_some())
    }

    fn list_revisions(&self, namespace: &str, repository: &str) -> Result<Vec<RevisionRow>, Error> {
        let state = self.state("list_revisions")?;
        let rows = state.revisions.values();
        Ok(rows
            .filter(|r| r.namespace == namespace && r.repository == repository)
            .cloned()
            .collect())
    }

    fn apply_all(&self, changes: Vec<Change>) -> Result<Applied, Error> {
        let mut state = self.state("apply")?;
        if changes.is_empty() {
            return Ok(Applied::default());
        }
        for change in &changes {
            if let Change::Expect { namespace, name, resource_version } = change {
                let key = (namespace.clone(), name.clone());
                let found = state.revisions.get(&key).map(|r| r.resource_version);
                if found != *resource_version {
                    return Err(Error::new(
                        ErrorKind::Conflict,
                        format!("revision {name} is at {found:?}, not {resource_version:?}"),
                    ));
                }
            }
        }
        let taking = changes.iter().filter(|c| !matches!(c, Change::Expect { .. })).count();
        let mut resource_version = match taking {
            0 => 0,
            n => self.next(&mut state, n as i64),
        };
        // Deletes take theirs after every put.
        let puts = changes.iter().filter(|c| c.is_put()).count() as i64;
        let mut deleted_version = resource_version + puts;
        let mut applied = Applied::default();
        for change in changes {
            match change {
                Change::PutRevision(mut row) => {
                    row.resource_version = resource_version;
                    resource_version += 1;
                    state.revisions.insert((row.namespace.clone(), row.name.clone()), row.clone());
                    applied.rows.push(row);
                }
                Change::DeleteRevision { namespace, name } => {
                    state.revisions.remove(&(namespace, name.clone()));
                    applied.deleted.push((name, deleted_version));
                    deleted_version += 1;
                }
                Change::Expect { .. } => {}
            }
        }
        Ok(applied)
    }

    fn get_revisions(&self, namespace: &str, names: &[String]) -> Result<Vec<RevisionRow>, Error> {
        let state = self.state("get_revisions")?;
        Ok(names
            .iter()
            .filter_map(|name| state.revisions.get(&(namespace.to_owned(), name.clone())).cloned())
            .collect())
    }

    fn delete_repository_revisions(&self, namespace: &str, repository: &str) -> Result<(), Error> {
        let mut state = self.state("delete_repository_revisions")?;
        state.revisions.retain(|_, r| !(r.namespace == namespace && r.repository == repository));
        Ok(())
    }
}

fn key(kind: RefKind, package: &str, name: &str) -> String {
    format!("{kind:?}:{package}:{name}")
}

/// The key of a listed revision: tags by version, the others by workspace.
fn key_of(revision: &Discovered) -> String {
    match revision.kind {
        RefKind::Tag => key(revision.kind, &revision.package, &format!("v{}", revision.revision)),
        _ => key(revision.kind, &revision.package, &revision.workspace),
    }
}

fn conflict(key: &str) -> Error {
    Error::new(ErrorKind::Conflict, format!("{key:?} was changed concurrently"))
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Every critical section leaves the maps consistent, so a poisoned lock is still usable.
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}
