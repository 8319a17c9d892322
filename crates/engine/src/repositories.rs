//! Registered repositories: CRUD, opening their Git caches, readiness, periodic sync.

use std::{sync::Arc, time::Duration};

use veranda_api::{
    names,
    types::{Condition, Repository},
};
use veranda_storage::{Author, ObjectTable, RepositoryConfig};

use crate::{
    Engine, Error, Kind, RepoEntry, RepoKey,
    backends::Repo,
    blocking,
    reconcile::Updates,
    schedule::{self, Failure, SyncSpec, SyncState},
    time,
    watch::{Event, EventType, Topic},
};

/// What a periodic sync of one repository did.
pub(crate) enum Synced {
    /// Fetched and re-indexed: the repository's readiness is this sync's to report.
    Done,
    /// Not run: unregistered, not open yet, or busy. Readiness is left to whoever holds it
    /// (a first index in progress must not be reported Ready with an empty listing).
    Skipped,
    /// Not run: another server sharing the store holds the repository's sync lease.
    Elsewhere,
}

/// How long a create or update waits for the first index of a repository before answering.
const OPEN_WAIT: Duration = Duration::from_secs(30);

impl Engine {
    /// Repositories in `namespace` (all namespaces when None), sorted by namespace and name.
    pub fn list_repositories(&self, namespace: Option<&str>) -> Vec<Repository> {
        let state = self.read();
        state
            .repos
            .iter()
            .filter(|((ns, _), _)| namespace.is_none_or(|n| n == ns))
            .map(|(_, e)| served(e))
            .collect()
    }

    /// One repository.
    pub fn get_repository(&self, namespace: &str, name: &str) -> Result<Repository, Error> {
        let state = self.read();
        state
            .repos
            .get(&(namespace.to_string(), name.to_string()))
            .map(served)
            .ok_or_else(|| Error::not_found(Kind::Repository, name))
    }

    /// Registers a repository, opens it and indexes its packages.
    pub async fn create_repository(
        self: &Arc<Self>,
        namespace: &str,
        mut repo: Repository,
    ) -> Result<Repository, Error> {
        let name = repo.metadata.name.clone();
        validate_repository(&name, &mut repo)?;
        if let Some(git) = &repo.spec.git {
            self.config.remotes.check(&git.repo).map_err(|message| {
                Error::invalid(Kind::Repository, &name, "spec.git.repo", message)
            })?;
            if let Some(secret) = git.secret_ref.as_ref().filter(|s| !s.name.is_empty()) {
                self.check_secret_use(Kind::Repository, &name, namespace, &secret.name)?;
            }
        }
        let key = (namespace.to_string(), name.clone());
        let _busy = self
            .try_lock(crate::LockKey::repository(namespace, &name), || {
                format!(
                    "another request is already in progress on repository \"{namespace}/{name}\""
                )
            })
            .await?;
        if self.read().repos.contains_key(&key) {
            return Err(Error::AlreadyExists { kind: Kind::Repository, name, message: None });
        }
        // A repository of that name deleted a moment ago may still be cleaning up.
        let retiring = self.read().retiring.get(&key).cloned();
        if let Some(gate) = retiring {
            let _ = gate.lock().await;
        }
        // Rows of a repository that is not registered are leftovers of a deletion cut short.
        self.store.delete_repository_revisions(namespace.to_string(), name.clone()).await?;
        repo.metadata.namespace = namespace.to_string();
        repo.metadata.uid = uuid_for_repository(namespace, &name);
        repo.metadata.creation_timestamp = Some(time::now());
        repo.metadata.generation = 1;
        repo.status = Default::default();
        repo.status.conditions =
            vec![ready_condition(None, "Reconciling", "Repository reconciliation in progress")];
        self.write().registering.insert(key.clone());
        let stored = self.persist_repository(repo).await;
        let (stored, writing) = {
            let mut state = self.write();
            state.registering.remove(&key);
            let (stored, writing) = stored?;
            let sync = self.first_sync(&key, &stored);
            state.repos.insert(key.clone(), RepoEntry::new(stored.clone(), sync));
            (stored, writing)
        };
        self.publish_repository(EventType::Added, &stored);
        drop(writing);
        let engine = self.clone();
        let task = tokio::spawn(async move { engine.open_repository(&key).await });
        // Answer once the repository is indexed, or after a bounded wait (it keeps opening).
        let _ = tokio::time::timeout(OPEN_WAIT, task).await;
        self.get_repository(namespace, &name)
    }

    /// Updates a repository. `type`, `git.repo`, `git.branch` and `git.directory` are immutable.
    pub async fn update_repository(
        self: &Arc<Self>,
        namespace: &str,
        name: &str,
        mut repo: Repository,
    ) -> Result<Repository, Error> {
        let key = (namespace.to_string(), name.to_string());
        let _busy = self
            .try_lock(crate::LockKey::repository(namespace, name), || {
                format!(
                    "another request is already in progress on repository \"{namespace}/{name}\""
                )
            })
            .await?;
        let current = self.get_repository(namespace, name)?;
        if repo.metadata.name.is_empty() {
            repo.metadata.name = name.to_string();
        }
        // A Secret newly named must be one the user may read (see `check_secret_use`).
        let secret = |r: &Repository| {
            r.spec.git.as_ref().and_then(|g| g.secret_ref.as_ref()).map(|s| s.name.clone())
        };
        if let Some(new_secret) = secret(&repo).filter(|s| !s.is_empty())
            && secret(&current).as_ref() != Some(&new_secret)
        {
            self.check_secret_use(Kind::Repository, name, namespace, &new_secret)?;
        }
        if repo.metadata.name != name {
            return Err(Error::invalid(
                Kind::Repository,
                name,
                "metadata.name",
                "field is immutable",
            ));
        }
        check_resource_version(
            Kind::Repository,
            &repo.metadata.resource_version,
            &current.metadata.resource_version,
        )?;
        validate_repository(name, &mut repo)?;
        let (old_git, new_git) = (
            current.spec.git.clone().unwrap_or_default(),
            repo.spec.git.clone().unwrap_or_default(),
        );
        for (field, old, new) in [
            ("spec.type", &current.spec.repo_type, &repo.spec.repo_type),
            ("spec.git.repo", &old_git.repo, &new_git.repo),
            ("spec.git.branch", &old_git.branch, &new_git.branch),
            ("spec.git.directory", &old_git.directory, &new_git.directory),
        ] {
            if old != new {
                return Err(Error::invalid(
                    Kind::Repository,
                    name,
                    field,
                    format!("{field} is immutable"),
                ));
            }
        }
        let spec_changed = repo.spec != current.spec;
        let metadata_changed = repo.metadata.labels != current.metadata.labels
            || repo.metadata.annotations != current.metadata.annotations
            || repo.metadata.finalizers != current.metadata.finalizers
            || repo.metadata.owner_references != current.metadata.owner_references;
        if !spec_changed && !metadata_changed {
            return Ok(current);
        }
        let deleting = current.metadata.deletion_timestamp.is_some();
        if deleting
            && repo.metadata.finalizers.iter().any(|f| !current.metadata.finalizers.contains(f))
        {
            return Err(Error::invalid(
                Kind::Repository,
                name,
                "metadata.finalizers",
                "Forbidden: no new finalizers can be added if the object is being deleted",
            ));
        }
        let metadata = &mut repo.metadata;
        metadata.namespace = namespace.to_string();
        metadata.uid = current.metadata.uid.clone();
        metadata.creation_timestamp = current.metadata.creation_timestamp.clone();
        metadata.deletion_timestamp = current.metadata.deletion_timestamp.clone();
        metadata.generation = current.metadata.generation + i64::from(spec_changed);
        repo.status = current.status.clone();
        let (stored, writing) = self.persist_repository(repo).await?;
        {
            let mut state = self.write();
            if let Some(entry) = state.repos.get_mut(&key) {
                entry.object = stored.clone();
                if spec_changed {
                    entry.repo = None;
                }
            }
        }
        self.publish_repository(EventType::Modified, &stored);
        drop(writing);
        if deleting && stored.metadata.finalizers.is_empty() {
            // The last finalizer is gone: the deletion that waited for it happens now.
            return self.unregister(key).await;
        }
        if spec_changed {
            let engine = self.clone();
            let key2 = key.clone();
            let task = tokio::spawn(async move { engine.open_repository(&key2).await });
            let _ = tokio::time::timeout(OPEN_WAIT, task).await;
        }
        self.get_repository(namespace, name)
    }

    /// Unregisters a repository: it and its revisions leave the API at once (DELETED events);
    /// Git is untouched. Work of the repository still in flight (a write, a sync waiting for a
    /// slow remote) is not waited for: its revision rows and cache are removed once it ends.
    pub async fn delete_repository(
        &self,
        namespace: &str,
        name: &str,
    ) -> Result<Repository, Error> {
        let key = (namespace.to_string(), name.to_string());
        let _busy = self
            .try_lock(crate::LockKey::repository(namespace, name), || {
                format!(
                    "another request is already in progress on repository \"{namespace}/{name}\""
                )
            })
            .await?;
        let current = self.get_repository(namespace, name)?;
        if !current.metadata.finalizers.is_empty() {
            // Kept, marked for deletion, until its finalizers are removed (Kubernetes' rule).
            if current.metadata.deletion_timestamp.is_some() {
                return Ok(current);
            }
            let mut marked = current;
            marked.metadata.deletion_timestamp = Some(time::now());
            let (stored, writing) = self.persist_repository(marked).await?;
            if let Some(entry) = self.write().repos.get_mut(&key) {
                entry.object = stored.clone();
            }
            self.publish_repository(EventType::Modified, &stored);
            drop(writing);
            return self.get_repository(namespace, name);
        }
        self.unregister(key).await
    }

    /// Removes a registered repository from the API and retires its work (see
    /// [`Engine::delete_repository`]); the caller holds the repository's request lock.
    async fn unregister(&self, key: RepoKey) -> Result<Repository, Error> {
        let (ns, n) = key.clone();
        self.store.delete_object(ObjectTable::Repositories, ns, n).await?;
        self.retire_registration(key, true).await
    }

    /// Drops a registration whose row is gone: its revisions and itself announced deleted,
    /// then its cache removed and, with `rows`, its revision rows (another server that
    /// deleted it removes those of a shared store).
    pub(crate) async fn retire_registration(
        &self,
        key: RepoKey,
        rows: bool,
    ) -> Result<Repository, Error> {
        let name = key.1.clone();
        let gate = Arc::new(tokio::sync::Mutex::new(()));
        let Ok(closed) = gate.clone().try_lock_owned() else {
            return Err(Error::Internal("a new gate is held".into()));
        };
        let entry = {
            let mut state = self.write();
            let Some(entry) = state.repos.remove(&key) else {
                return Err(Error::not_found(Kind::Repository, &name));
            };
            state.retiring.insert(key.clone(), gate);
            entry
        };
        let revisions = entry.revisions.clone();
        let n = revisions.len() as i64;
        let writing = self.hub.writing();
        let first = self.store.reserve_resource_versions(n + 1).await?;
        writing.committed(Some(first));
        for (i, rev) in revisions.values().enumerate() {
            self.hub.publish(crate::reconcile::deleted_event(rev, first + i as i64));
        }
        let rv = first + n;
        let mut object = entry.object;
        object.metadata.resource_version = rv.to_string();
        self.publish_event(rv, EventType::Deleted, Topic::Repositories, &object);
        drop(writing);
        if let Some(engine) = self.me.upgrade() {
            let write = entry.write.clone();
            tokio::spawn(async move {
                let _write = write.lock().await;
                engine.retire(&key, rows).await;
                engine.write().retiring.remove(&key);
                drop(closed);
            });
        }
        Ok(object)
    }

    /// Removes what a deleted repository left: its revision rows and its Git cache.
    async fn retire(&self, key: &RepoKey, rows: bool) {
        let (namespace, repository) = key.clone();
        if rows && let Err(e) = self.store.delete_repository_revisions(namespace, repository).await
        {
            // Removed at the next registration under this name.
            tracing::warn!(namespace = %key.0, repository = %key.1, "cleaning up revisions: {e}");
        }
        let cache = self.cache_dir(key);
        let _ = blocking(move || {
            std::fs::remove_dir_all(cache).map_err(|e| Error::Internal(e.to_string()))
        })
        .await;
    }

    /// Loads registered repositories at start-up and opens each in the background.
    pub(crate) async fn load_repositories(self: &Arc<Self>) -> Result<(), Error> {
        let rows = self.store.list_objects(ObjectTable::Repositories).await?;
        {
            let mut state = self.write();
            for row in rows {
                let Ok(mut object) = serde_json::from_str::<Repository>(&row.object) else {
                    tracing::error!(namespace = %row.namespace, name = %row.name, "unreadable stored repository; skipped");
                    continue;
                };
                object.metadata.resource_version = row.resource_version.to_string();
                object.status.conditions.clear();
                let key = (row.namespace, row.name);
                let sync = self.first_sync(&key, &object);
                state.repos.insert(key, RepoEntry::new(object, sync));
            }
        }
        let keys: Vec<RepoKey> = self.read().repos.keys().cloned().collect();
        for key in keys {
            let engine = self.clone();
            tokio::spawn(async move { engine.open_repository(&key).await });
        }
        let engine = self.clone();
        tokio::spawn(async move { engine.sync_loop().await });
        Ok(())
    }

    /// Opens the Git cache of a repository and indexes it; records readiness in its status.
    pub(crate) async fn open_repository(self: &Arc<Self>, key: &RepoKey) {
        let (object, write) = {
            let state = self.read();
            let Some(entry) = state.repos.get(key) else { return };
            (entry.object.clone(), entry.write.clone())
        };
        // Opening is a sync too: at most `max_concurrent_syncs` at once (1,000 repositories
        // loaded at start-up do not all clone at once).
        let Ok(_slot) = self.syncs.acquire().await else { return };
        let _running = crate::metrics::SyncRunning::start();
        let _write = write.lock().await;
        if self.read().repos.get(key).is_none_or(|e| e.repo.is_some()) {
            // Opened (or unregistered) while this call waited for the lock.
            return;
        }
        if let Err(e) = self.check_credentials(key).await {
            self.record_sync(key, Err(e), None).await;
            return;
        }
        let config = self.repository_config(key, &object);
        let result = match Repo::open(&self.backend, config).await {
            Ok(repo) => {
                {
                    let mut state = self.write();
                    match state.repos.get_mut(key) {
                        Some(entry) => entry.repo = Some(repo),
                        None => return,
                    }
                }
                self.reconcile(key, Updates::default()).await
            }
            Err(e) => Err(e),
        };
        let run_once = self.run_once_due(key);
        self.record_sync(key, result, run_once).await;
    }

    /// Syncs every repository when it is due (see [`schedule`](crate::schedule)), forever;
    /// failed ones are re-opened. Each sync runs in a task of its own, so one slow or
    /// unreachable remote holds up no other.
    async fn sync_loop(self: Arc<Self>) {
        let mut ticker = tokio::time::interval(Duration::from_secs(1));
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            ticker.tick().await;
            let now = time::now_unix();
            let due: Vec<(RepoKey, bool, Option<String>)> = {
                let mut state = self.write();
                state
                    .repos
                    .iter_mut()
                    .filter_map(|(key, entry)| {
                        let spec =
                            SyncSpec::parse(entry.object.spec.sync.as_ref()).unwrap_or_default();
                        let run_once = spec.run_once_due(&entry.sync, now);
                        if run_once.is_none() && now < entry.sync.next_full {
                            return None;
                        }
                        // Not due again until this attempt records its outcome.
                        entry.sync.next_full = i64::MAX;
                        Some((key.clone(), entry.repo.is_some(), run_once))
                    })
                    .collect()
            };
            for (key, open, run_once) in due {
                let engine = self.clone();
                tokio::spawn(async move {
                    if open {
                        let outcome = match engine.sync_repository(&key).await {
                            Ok(Synced::Done) => Some(Ok(())),
                            // Whoever holds the repository reports its readiness.
                            Ok(Synced::Skipped) => None,
                            Ok(Synced::Elsewhere) => {
                                engine.sync_elsewhere(&key, run_once).await;
                                return;
                            }
                            Err(e) => Some(Err(e)),
                        };
                        match outcome {
                            Some(result) => engine.record_sync(&key, result, run_once).await,
                            None => engine.retry_soon(&key),
                        }
                    } else {
                        if !engine.is_busy(&key) {
                            engine.open_repository(&key).await;
                        }
                        // Unless the open recorded an outcome, try again at the next tick.
                        engine.retry_soon(&key);
                    }
                });
            }
        }
    }

    /// The schedule of a repository that was just registered or loaded: its first regular sync
    /// one interval (plus its offset) from now; the `runOnceAt` its status says was honoured.
    pub(crate) fn first_sync(&self, key: &RepoKey, object: &Repository) -> SyncState {
        let interval = self.config.sync_interval;
        let now = time::now_unix();
        let scheduled = SyncSpec::parse(object.spec.sync.as_ref())
            .ok()
            .and_then(|spec| spec.schedule)
            .map(|cron| cron.next_after(now).unwrap_or(i64::MAX));
        SyncState {
            next_full: scheduled.unwrap_or_else(|| {
                now + interval.as_secs().max(1) as i64 + schedule::jitter(key, interval)
            }),
            observed_run_once_at: object.status.observed_run_once_at.clone(),
            ..SyncState::default()
        }
    }

    /// The `runOnceAt` of a repository that is due now, if any.
    fn run_once_due(&self, key: &RepoKey) -> Option<String> {
        let state = self.read();
        let entry = state.repos.get(key)?;
        let spec = SyncSpec::parse(entry.object.spec.sync.as_ref()).unwrap_or_default();
        spec.run_once_due(&entry.sync, time::now_unix())
    }

    /// A sync that could not run now (the repository was busy) is tried at the next tick.
    fn retry_soon(&self, key: &RepoKey) {
        if let Some(entry) = self.write().repos.get_mut(key)
            && entry.sync.next_full == i64::MAX
        {
            entry.sync.next_full = time::now_unix() + 1;
        }
    }

    /// Records how an open or sync ended: the schedule (next sync, back-off), the branch head,
    /// and readiness with the status fields.
    async fn record_sync(
        &self,
        key: &RepoKey,
        result: Result<(), Error>,
        run_once: Option<String>,
    ) {
        let repo = self.read().repos.get(key).and_then(|e| e.repo.clone());
        let head = match (&result, repo) {
            (Ok(()), Some(repo)) => repo.branch_head().await.ok().flatten(),
            _ => None,
        };
        let error = result.err().map(|e| e.to_string());
        {
            let mut state = self.write();
            let Some(entry) = state.repos.get_mut(key) else { return };
            let now = time::now_unix();
            let spec = SyncSpec::parse(entry.object.spec.sync.as_ref()).unwrap_or_default();
            let failure = error.as_deref().map(Failure::of);
            match failure {
                Some(_) => entry.sync.failures = entry.sync.failures.saturating_add(1),
                None => {
                    entry.sync.failures = 0;
                    entry.sync.last_full = Some(now);
                    entry.sync.head = head;
                }
            }
            if run_once.is_some() {
                entry.sync.observed_run_once_at = run_once;
            }
            entry.sync.next_full =
                schedule::next_sync(&spec, &entry.sync, self.config.sync_interval, failure, now);
        }
        self.set_ready(key, error).await;
    }

    /// Whether a write, sync or open of the repository is in progress.
    fn is_busy(&self, key: &RepoKey) -> bool {
        self.read().repos.get(key).is_none_or(|e| e.write.try_lock().is_err())
    }

    /// Fetches one repository and reconciles it, unless a sync of it is already running.
    ///
    /// The network part (the download) runs without the write lock, so requests to the
    /// repository go on while its remote is slow; the lock is taken for the local part only.
    pub(crate) async fn sync_repository(&self, key: &RepoKey) -> Result<Synced, Error> {
        let (repo, write, syncing) = {
            let state = self.read();
            let Some(entry) = state.repos.get(key) else { return Ok(Synced::Skipped) };
            let Some(repo) = entry.repo.clone() else { return Ok(Synced::Skipped) };
            (repo, entry.write.clone(), entry.syncing.clone())
        };
        let Ok(_syncing) = syncing.try_lock() else { return Ok(Synced::Skipped) };
        if !self.holds_sync_lease(key).await? {
            return Ok(Synced::Elsewhere);
        }
        let Ok(_slot) = self.syncs.acquire().await else { return Ok(Synced::Skipped) };
        let _running = crate::metrics::SyncRunning::start();
        self.check_credentials(key).await?;
        repo.download().await?;
        let _write = write.lock().await;
        if !self.read().repos.contains_key(key) {
            return Ok(Synced::Skipped);
        }
        repo.fetch().await?;
        self.reconcile(key, Updates::default()).await?;
        repo.check_remote_locks().await?;
        Ok(Synced::Done)
    }

    /// Whether this server syncs the repository from its remote: always on a store of its
    /// own; on a shared one, while it holds the repository's lease (a session lock, so it goes
    /// with a server that dies or loses the database, and another server takes it at its next
    /// due sync).
    async fn holds_sync_lease(&self, key: &RepoKey) -> Result<bool, Error> {
        if !self.store.blocking().shared() {
            return Ok(true);
        }
        let held = self.read().repos.get(key).and_then(|e| e.lease.as_ref().map(|l| l.held()));
        if held == Some(true) {
            return Ok(true);
        }
        let lease = self.store.try_lock(format!("sync-lease/{}/{}", key.0, key.1)).await?;
        let taken = lease.is_some();
        if taken {
            tracing::info!(namespace = %key.0, repository = %key.1, "this server syncs the repository");
        }
        if let Some(entry) = self.write().repos.get_mut(key) {
            entry.lease = lease;
        }
        Ok(taken)
    }

    /// The next regular sync of a repository another server syncs: one interval on, when this
    /// server tries for the lease again. A due `runOnceAt` is the holder's to run. This server
    /// serves what the holder's rows say, so a failure it recorded when it last synced itself
    /// (the database was down, say) no longer stands once its index is not behind.
    async fn sync_elsewhere(&self, key: &RepoKey, run_once: Option<String>) {
        let recover = {
            let mut state = self.write();
            let Some(entry) = state.repos.get_mut(key) else { return };
            let interval = self.config.sync_interval.as_secs().max(1) as i64;
            entry.sync.next_full = time::now_unix() + interval;
            if run_once.is_some() {
                entry.sync.observed_run_once_at = run_once;
            }
            let failed = entry.sync.failures > 0;
            entry.sync.failures = 0;
            failed && entry.loaded && !entry.behind
        };
        if recover {
            self.set_ready(key, None).await;
        }
    }

    async fn set_ready(&self, key: &RepoKey, error: Option<String>) {
        let updated = {
            let state = self.read();
            let Some(entry) = state.repos.get(key) else { return };
            let condition = match &error {
                None => ready_condition(Some(true), "Ready", "Repository Ready"),
                Some(e) => ready_condition(Some(false), "Error", e),
            };
            let mut condition = condition;
            let generation = entry.object.metadata.generation;
            condition.observed_generation = generation;
            let mut status = entry.object.status.clone();
            if error.is_none() {
                status.package_count = Some(entry.revisions.len() as i64);
                status.git_commit_hash = entry.sync.head.clone();
                status.observed_generation = generation;
            }
            status.observed_run_once_at = entry.sync.observed_run_once_at.clone();
            let old = entry.object.status.conditions.first();
            let same_condition = old.is_some_and(|c| {
                c.status == condition.status
                    && c.message == condition.message
                    && c.observed_generation == condition.observed_generation
            });
            let same_fields = status.package_count == entry.object.status.package_count
                && status.git_commit_hash == entry.object.status.git_commit_hash
                && status.observed_run_once_at == entry.object.status.observed_run_once_at
                && status.observed_generation == entry.object.status.observed_generation;
            if same_condition && same_fields {
                return;
            }
            if !same_condition {
                status.conditions = vec![condition];
            }
            let mut object = entry.object.clone();
            object.status = status;
            object
        };
        if let Some(e) = &error {
            tracing::warn!(namespace = %key.0, repository = %key.1, "repository not ready: {e}");
        }
        match self.persist_repository(updated).await {
            Ok((stored, writing)) => {
                if let Some(entry) = self.write().repos.get_mut(key) {
                    entry.object = stored.clone();
                }
                self.publish_repository(EventType::Modified, &stored);
                drop(writing);
            }
            Err(e) => tracing::error!("store repository status: {e}"),
        }
    }

    /// Writes a Repository row; the caller publishes its event, then drops the guard.
    async fn persist_repository(
        &self,
        mut repo: Repository,
    ) -> Result<(Repository, crate::watch::Writing), Error> {
        let writing = self.hub.writing();
        let namespace = repo.metadata.namespace.clone();
        let name = repo.metadata.name.clone();
        let mut stored = repo.clone();
        let row = self
            .store
            .put_object(ObjectTable::Repositories, namespace, name, move |rv| {
                repo.metadata.resource_version = rv.to_string();
                serde_json::to_string(&repo).unwrap_or_default()
            })
            .await?;
        stored.metadata.resource_version = row.resource_version.to_string();
        writing.committed(Some(row.resource_version));
        Ok((stored, writing))
    }

    fn publish_repository(&self, event_type: EventType, repo: &Repository) {
        let rv = repo.metadata.resource_version.parse().unwrap_or(0);
        self.publish_event(rv, event_type, Topic::Repositories, repo);
    }

    pub(crate) fn publish_event(
        &self,
        rv: i64,
        event_type: EventType,
        topic: Topic,
        object: &impl serde::Serialize,
    ) {
        let value = serde_json::to_value(object).unwrap_or_default();
        let namespace = value["metadata"]["namespace"].as_str().unwrap_or_default().to_string();
        self.hub.publish(Event {
            resource_version: rv,
            event_type,
            topic,
            namespace,
            json: value.to_string().into(),
        });
    }

    fn cache_dir(&self, key: &RepoKey) -> std::path::PathBuf {
        self.config.data_dir.join("git").join(format!("{}.{}", key.0, key.1))
    }

    /// The credentials a Repository's `spec.git.secretRef` names (an empty name: none).
    fn repository_credentials(
        &self,
        key: &RepoKey,
        repo: &Repository,
    ) -> Option<crate::secrets::SecretCredentials> {
        let name = repo.spec.git.as_ref()?.secret_ref.as_ref()?.name.clone();
        (!name.is_empty()).then(|| self.secret_credentials(&key.0, &name))
    }

    /// Why the Repository's credentials cannot be obtained now, if they cannot; checked before
    /// each open and sync so readiness says so plainly.
    async fn check_credentials(&self, key: &RepoKey) -> Result<(), Error> {
        let Some(object) = self.read().repos.get(key).map(|e| e.object.clone()) else {
            return Ok(());
        };
        let Some(source) = self.repository_credentials(key, &object) else { return Ok(()) };
        blocking(move || {
            source
                .resolve()
                .map(drop)
                .map_err(|e| Error::Unavailable(format!("failed to obtain git credentials: {e}")))
        })
        .await
    }

    fn repository_config(&self, key: &RepoKey, repo: &Repository) -> RepositoryConfig {
        let git = repo.spec.git.clone().unwrap_or_default();
        let author = (!git.author.is_empty() || !git.email.is_empty()).then(|| Author {
            name: if git.author.is_empty() { git.email.clone() } else { git.author.clone() },
            email: if git.email.is_empty() { git.author.clone() } else { git.email.clone() },
        });
        RepositoryConfig {
            url: git.repo,
            branch: git.branch,
            directory: git.directory.trim_matches('/').to_string(),
            create_branch: git.create_branch,
            cache_dir: self.cache_dir(key),
            author,
            credentials: self.repository_credentials(key, repo).map(|c| Arc::new(c) as _),
            ca_bundle: self.ca_bundle(&key.0),
        }
    }
}

fn validate_repository(name: &str, repo: &mut Repository) -> Result<(), Error> {
    let invalid =
        |field: &str, message: String| Error::invalid(Kind::Repository, name, field, message);
    if name.is_empty() {
        return Err(invalid("metadata.name", "name or generateName is required".into()));
    }
    if name.len() > 63 {
        return Err(invalid(
            "metadata.name",
            "metadata.name must be no more than 63 characters".into(),
        ));
    }
    names::check_dns1123_label(name).map_err(|_| {
        invalid(
            "metadata.name",
            "metadata.name must conform to the RFC1123 DNS label standard".into(),
        )
    })?;
    match repo.spec.repo_type.as_str() {
        "" | "git" => repo.spec.repo_type = "git".into(),
        "oci" => {
            return Err(invalid(
                "spec.type",
                "OCI repositories are not supported; use type git".into(),
            ));
        }
        other => {
            return Err(invalid(
                "spec.type",
                format!("unsupported value {other:?}: supported values: \"git\""),
            ));
        }
    }
    if !matches!(repo.spec.content.as_str(), "" | "Package") {
        return Err(invalid(
            "spec.content",
            "The 'content' field is deprecated, its only valid value is 'Package'".into(),
        ));
    }
    // Porch's CRD defaults it.
    if repo.spec.content.is_empty() {
        repo.spec.content = "Package".into();
    }
    let Some(git) = repo.spec.git.as_mut() else {
        return Err(invalid(
            "spec.git",
            "Required value: spec.git is required for a git repository".into(),
        ));
    };
    if git.repo.trim().is_empty() {
        return Err(invalid("spec.git.repo", "Required value".into()));
    }
    crate::secrets::check_url_has_no_credentials(&git.repo)
        .map_err(|e| invalid("spec.git.repo", format!("{e} (spec.git.secretRef)")))?;
    if git.branch.is_empty() {
        git.branch = "main".into();
    }
    if git.branch.contains("..")
        || git.branch.starts_with('/')
        || git.branch.ends_with('/')
        || git.branch.contains(' ')
    {
        return Err(invalid("spec.git.branch", format!("invalid branch name {:?}", git.branch)));
    }
    let directory = git.directory.trim_matches('/');
    if directory.split('/').any(|s| s == ".." || s == "." || s == ".git") {
        return Err(invalid(
            "spec.git.directory",
            format!("invalid directory {:?}", git.directory),
        ));
    }
    SyncSpec::parse(repo.spec.sync.as_ref()).map_err(|(field, message)| invalid(field, message))?;
    Ok(())
}

/// An update's resourceVersion against the object's: 422 naming `kind` when it is missing (as
/// kube-apiserver's), 409 when it is stale.
pub(crate) fn check_resource_version(
    kind: Kind,
    requested: &str,
    current: &str,
) -> Result<(), Error> {
    if requested.is_empty() {
        return Err(Error::Invalid {
            kind,
            name: String::new(),
            field: "metadata.resourceVersion".into(),
            message: "Invalid value: 0x0: must be specified for an update".into(),
        });
    }
    if requested != current {
        return Err(Error::stale());
    }
    Ok(())
}

/// The stored object with the schedule's times, which change every sync and so are kept in
/// memory rather than written (and announced to watchers) each time.
fn served(entry: &RepoEntry) -> Repository {
    let mut object = entry.object.clone();
    object.status.last_full_sync_time = entry.sync.last_full.map(time::rfc3339);
    object.status.next_full_sync_time =
        (entry.sync.next_full != i64::MAX).then(|| time::rfc3339(entry.sync.next_full));
    object
}

fn ready_condition(status: Option<bool>, reason: &str, message: &str) -> Condition {
    Condition {
        condition_type: "Ready".into(),
        status: match status {
            Some(true) => "True",
            Some(false) => "False",
            None => "False",
        }
        .into(),
        reason: reason.into(),
        message: message.into(),
        last_transition_time: Some(time::now()),
        observed_generation: 0,
    }
}

fn uuid_for_repository(namespace: &str, name: &str) -> String {
    // Repositories get a deterministic UID too, so re-registering yields the same identity.
    names::package_uid(namespace, &format!("repositories.{name}"))
}
