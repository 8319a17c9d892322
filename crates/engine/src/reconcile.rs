//! Reconciling a repository: Git → index → store → events.
//!
//! This is the only place that changes the package revision index, so every write and every
//! external change produces exactly the events that describe it.

use std::{
    collections::{BTreeMap, HashMap},
    sync::Arc,
};

use veranda_api::{ObjectMeta, names};
use veranda_kpt::KptfileInfo;
use veranda_storage::{
    Applied, Change, Discovered, Listing, PackageRepository, RefKind, RevisionRow, Store,
};

use crate::{
    Engine, Error, RepoKey, Rev,
    backends::{git_error, store_error},
    blocking,
    build::{self, Parts},
    time,
    watch::{Event, EventType, Hub, Topic, Writing},
};

/// What a reconcile should do besides following Git.
#[derive(Clone, Default)]
pub(crate) struct Updates {
    /// New stored metadata for these revisions (each gets a new resourceVersion).
    pub(crate) meta: BTreeMap<String, ObjectMeta>,
    /// Rebuild every object (e.g. the repository's `deployment` flag changed).
    pub(crate) force: bool,
    /// A full pass: every ref listed and, on a shared store, every row read (another server
    /// changed this repository).
    pub(crate) full: bool,
    /// Revisions another server deleted, with the delete's resourceVersion from the change
    /// feed: announced here with that version, as on every server.
    pub(crate) deleted: BTreeMap<String, i64>,
}

/// The new index of a repository (or of the packages an incremental pass looked at, with the
/// names gone from them) and the events that describe the change.
struct Plan {
    revisions: BTreeMap<String, Arc<Rev>>,
    events: Vec<Event>,
    /// `None`: `revisions` is the whole index. Otherwise it replaces only these packages'
    /// revisions, and these names are gone.
    gone: Option<Vec<String>>,
    /// Two git refs mapped to one object name and the second was left out.
    contested: bool,
    /// Holds the events' turn until they are published (see `watch`).
    writing: Option<Writing>,
}

/// A revision known only from the store (first pass after a restart).
struct Stored {
    meta: ObjectMeta,
    resource_version: i64,
    fingerprint: String,
}

/// What reconcile knew about a revision before this pass.
#[derive(Clone, Copy)]
enum Previous<'a> {
    /// In the index: unchanged revisions are kept as they are, object and JSON included.
    Indexed(&'a Arc<Rev>),
    Stored(&'a Stored),
}

impl<'a> Previous<'a> {
    fn fingerprint(self) -> &'a str {
        match self {
            Previous::Indexed(rev) => &rev.fingerprint,
            Previous::Stored(stored) => &stored.fingerprint,
        }
    }

    fn meta(self) -> &'a ObjectMeta {
        match self {
            Previous::Indexed(rev) => &rev.meta,
            Previous::Stored(stored) => &stored.meta,
        }
    }

    fn resource_version(self) -> i64 {
        match self {
            Previous::Indexed(rev) => indexed_version(rev),
            Previous::Stored(stored) => stored.resource_version,
        }
    }

    fn rev(self) -> Option<&'a Arc<Rev>> {
        match self {
            Previous::Indexed(rev) => Some(rev),
            Previous::Stored(_) => None,
        }
    }
}

/// The revisions of a repository before a reconcile pass.
struct Before {
    indexed: Arc<BTreeMap<String, Arc<Rev>>>,
    stored: HashMap<String, Stored>,
    /// In an incremental pass: the names of the revisions of the packages it looks at, the
    /// only ones that can be gone.
    only: Option<Vec<String>>,
    /// Other servers write the store: `stored` holds the rows of every name the pass looks at,
    /// each write is a compare-and-swap against them, and newer rows are taken over.
    shared: bool,
    /// The index reflected Git before this pass (rows taken over are announced).
    loaded: bool,
}

impl Before {
    /// What was known of `name`: the index, unless the store holds a newer row (another
    /// server sharing the store wrote it since).
    fn get(&self, name: &str) -> Option<Previous<'_>> {
        match (self.indexed.get(name), self.stored.get(name)) {
            (Some(rev), Some(stored)) if stored.resource_version > indexed_version(rev) => {
                Some(Previous::Stored(stored))
            }
            (Some(rev), _) => Some(Previous::Indexed(rev)),
            (None, stored) => stored.map(Previous::Stored),
        }
    }

    /// The resourceVersion the row has in the store as this pass read it, `None` for no row;
    /// only read on a shared store.
    fn stored_version(&self, name: &str) -> Option<i64> {
        self.stored.get(name).map(|s| s.resource_version)
    }

    fn names(&self) -> Box<dyn Iterator<Item = &String> + '_> {
        match (&self.only, self.shared) {
            (Some(names), _) => Box::new(names.iter()),
            // On a shared store a row this server never indexed may be another server's
            // newer revision its cache has not fetched yet: only indexed names can be gone.
            (None, true) => Box::new(self.indexed.keys()),
            (None, false) => Box::new(
                self.indexed
                    .keys()
                    .chain(self.stored.keys().filter(|name| !self.indexed.contains_key(*name))),
            ),
        }
    }
}

fn indexed_version(rev: &Rev) -> i64 {
    rev.object.metadata.resource_version.parse().unwrap_or(0)
}

impl Engine {
    /// Re-lists Git for one repository and brings index, store and watchers up to date.
    ///
    /// The caller holds the repository's write lock.
    pub(crate) async fn reconcile(&self, key: &RepoKey, mut updates: Updates) -> Result<(), Error> {
        let (git, prev, loaded, deployment, pending, behind, contested) = {
            let mut state = self.write();
            let Some(entry) = state.repos.get_mut(key) else { return Ok(()) };
            let Some(repo) = entry.repo.clone() else { return Ok(()) };
            let pending = std::mem::take(&mut entry.pending);
            let deployment = entry.object.spec.deployment;
            let (loaded, behind, contested) = (entry.loaded, entry.behind, entry.contested);
            (repo, entry.revisions.clone(), loaded, deployment, pending, behind, contested)
        };
        // Metadata of earlier acknowledged writes goes in first; this pass's own is newer.
        for (name, meta) in &pending {
            updates.meta.entry(name.clone()).or_insert_with(|| meta.clone());
        }
        // Only what changed since the last pass, unless that pass failed (its changes were
        // handed out and not applied), nothing was indexed yet, or every object is rebuilt. A
        // pass whose compare-and-swap lost to another server's write runs again, whole. While
        // two refs claim one name, only a full pass sees the other claimant when one goes.
        let mut incremental = loaded && !behind && !contested && !updates.force && !updates.full;
        let mut attempts = 0;
        let planned = loop {
            let pass = Pass {
                git: git.clone(),
                store: self.store.clone(),
                key: key.clone(),
                prev: prev.clone(),
                loaded,
                deployment,
                incremental,
                updates: updates.clone(),
                hub: self.hub.clone(),
            };
            match blocking(move || pass.run()).await {
                Err(Error::Conflict(e)) if attempts < 3 => {
                    tracing::debug!(namespace = %key.0, repository = %key.1, "another server wrote a row this pass read; again: {e}");
                    attempts += 1;
                    incremental = false;
                }
                planned => break planned,
            }
        };
        // The index is edited in place below only if nothing else holds it.
        drop(prev);
        let Plan { revisions, events, gone, contested, writing } = match planned {
            Ok(planned) => planned,
            Err(e) => {
                if let Some(entry) = self.write().repos.get_mut(key) {
                    entry.behind = true;
                }
                if !pending.is_empty() {
                    self.keep_pending(key, pending);
                }
                return Err(e);
            }
        };
        {
            let mut state = self.write();
            if let Some(entry) = state.repos.get_mut(key) {
                match gone {
                    None => {
                        entry.links = crate::links::Links::of(&revisions);
                        entry.revisions = Arc::new(revisions);
                    }
                    Some(gone) => {
                        // Copies the map only if a reader still holds the previous one.
                        let index = Arc::make_mut(&mut entry.revisions);
                        let links = &mut entry.links;
                        for name in gone {
                            if let Some(old) = index.remove(&name) {
                                links.remove(&name, &old);
                            }
                        }
                        for (name, rev) in revisions {
                            if let Some(old) = index.get(&name) {
                                links.remove(&name, old);
                            }
                            links.add(&name, &rev);
                            index.insert(name, rev);
                        }
                    }
                }
                entry.loaded = true;
                entry.behind = false;
                entry.contested = contested;
            }
        }
        for event in events {
            self.hub.publish(event);
        }
        drop(writing);
        Ok(())
    }

    /// Before a write acts on the index: if the last reconcile failed (the store could not be
    /// written, so the index may be behind Git), reconciles first, and refuses the write with
    /// 503 if that fails too. A write on a stale index would move refs that are gone.
    ///
    /// The caller holds the repository's write lock.
    pub(crate) async fn ensure_indexed(&self, key: &RepoKey) -> Result<(), Error> {
        let behind = self.read().repos.get(key).is_some_and(|e| e.behind);
        if !behind {
            return Ok(());
        }
        self.reconcile(key, Updates::default()).await.map_err(|e| {
            Error::Unavailable(format!(
                "repository {:?} cannot take writes until its index catches up with Git: {e}",
                key.1
            ))
        })
    }

    /// Before an update is checked against the indexed revision: on a shared store, 409 when
    /// another server has written the revision's row since this index took it (this server
    /// has not followed it yet). The caller holds the revision's lock, which every server
    /// sees, so no other write of it is in flight; without this a request that began before
    /// the other server's write was acknowledged would pass the version check here and win a
    /// second time from the same version.
    pub(crate) async fn ensure_current(&self, namespace: &str, rev: &Rev) -> Result<(), Error> {
        if !self.store.blocking().shared() {
            return Ok(());
        }
        let name = rev.object.metadata.name.clone();
        let rows = self.store.get_revisions(namespace.to_string(), vec![name]).await?;
        match rows.first() {
            Some(row) if row.resource_version > indexed_version(rev) => Err(Error::stale()),
            _ => Ok(()),
        }
    }

    /// Brings the index up to date after a write that Git already holds.
    ///
    /// The write is acknowledged whatever happens here: Git is the truth, and a failure to
    /// index it (store error, unreadable listing) must not tell the client that its write
    /// failed. The metadata of the write is kept in memory for the next reconcile, and a
    /// retry runs in the background until one succeeds or the periodic sync takes over.
    pub(crate) async fn index_after_write(&self, key: &RepoKey, updates: Updates) {
        let meta = updates.meta.clone();
        let Err(e) = self.reconcile(key, updates).await else { return };
        tracing::warn!(
            namespace = %key.0, repository = %key.1,
            "write is in Git but indexing it failed; retrying in the background: {e}"
        );
        self.keep_pending(key, meta);
        if let Some(engine) = self.me.upgrade() {
            let key = key.clone();
            tokio::spawn(async move { engine.catch_up(&key).await });
        }
    }

    /// Retries reconciling a repository whose last write could not be indexed.
    async fn catch_up(&self, key: &RepoKey) {
        let mut delay = std::time::Duration::from_millis(200);
        while delay < self.config.sync_interval {
            tokio::time::sleep(delay).await;
            let write = {
                let state = self.read();
                let Some(entry) = state.repos.get(key) else { return };
                entry.write.clone()
            };
            let _write = write.lock().await;
            match self.reconcile(key, Updates::default()).await {
                Ok(()) => return,
                Err(e) => {
                    tracing::warn!(namespace = %key.0, repository = %key.1, "catching up: {e}")
                }
            }
            delay *= 4;
        }
    }

    /// Keeps metadata for the next reconcile, over what was kept before for the same names.
    ///
    /// The caller holds the repository's write lock, so kept entries are replaced in order.
    fn keep_pending(&self, key: &RepoKey, meta: BTreeMap<String, ObjectMeta>) {
        if let Some(entry) = self.write().repos.get_mut(key) {
            entry.pending.extend(meta);
        }
    }
}

/// One planning pass over Git and the store, run on the blocking pool (see `backends`).
struct Pass {
    git: crate::backends::Repo,
    store: crate::backends::Db,
    key: RepoKey,
    prev: Arc<BTreeMap<String, Arc<Rev>>>,
    loaded: bool,
    deployment: bool,
    incremental: bool,
    updates: Updates,
    hub: Arc<Hub>,
}

impl Pass {
    fn run(self) -> Result<Plan, Error> {
        let Pass {
            git, store, key: (namespace, repository), prev, loaded, deployment, hub, ..
        } = self;
        let (git, store) = (git.blocking(), store.blocking());
        let shared = store.shared();
        let listing = match self.incremental {
            true => crate::metrics::git("list_changes", || git.list_changes()),
            false => crate::metrics::git("list", || git.list()).map(Listing::Full),
        }
        .map_err(git_error)?;
        let scope = Scope {
            namespace: &namespace,
            repository: &repository,
            deployment,
            origin_url: git.origin_url(),
        };
        let read = |rows: Result<Vec<RevisionRow>, veranda_storage::Error>| {
            let mut stored = HashMap::new();
            for row in rows.map_err(store_error)? {
                let meta = serde_json::from_str(&row.meta).unwrap_or_default();
                let (resource_version, fingerprint) = (row.resource_version, row.fingerprint);
                stored.insert(row.name, Stored { meta, resource_version, fingerprint });
            }
            Ok::<_, Error>(stored)
        };
        let discovered = match listing {
            Listing::Full(discovered) => discovered,
            Listing::Packages(packages) => {
                let (discovered, only, contested) =
                    scope.incremental(&prev, packages, &self.updates);
                let stored = match shared {
                    false => HashMap::new(),
                    true => {
                        let mut names = only.clone();
                        names.extend(discovered.iter().map(|d| scope.name_of(d)));
                        names.sort();
                        names.dedup();
                        read(crate::metrics::store("get_revisions", || {
                            store.get_revisions(&namespace, &names)
                        }))?
                    }
                };
                let previous = Before { indexed: prev, stored, only: Some(only), shared, loaded };
                let mut plan =
                    plan(git, store, &hub, &scope, &discovered, &previous, self.updates)?;
                plan.contested |= contested;
                return Ok(plan);
            }
        };
        let stored = match !loaded || shared {
            false => HashMap::new(),
            true => read(crate::metrics::store("list_revisions", || {
                store.list_revisions(&namespace, &repository)
            }))?,
        };
        let previous = Before { indexed: prev, stored, only: None, shared, loaded };
        let planned = plan(git, store, &hub, &scope, &discovered, &previous, self.updates);
        // Every revision was read: what that left cached is not needed by the next writes. A
        // small repository caches little, and keeps it.
        if discovered.len() >= RELEASE_CACHES_FROM {
            git.release_caches();
        }
        planned
    }
}

/// A full pass over at least this many revisions lets go of what Git reading left cached
/// ([`PackageRepository::release_caches`]): at 10,000 revisions that was 24 MB.
const RELEASE_CACHES_FROM: usize = 1_000;

/// Where a reconcile pass writes: the repository and what every object built for it shares.
struct Scope<'a> {
    namespace: &'a str,
    repository: &'a str,
    deployment: bool,
    origin_url: String,
}

/// A revision whose object must be (re)built in this pass.
struct Next {
    name: String,
    discovered: Arc<Discovered>,
    kptfile: KptfileInfo,
    latest: bool,
    fingerprint: String,
    meta: ObjectMeta,
    existed: bool,
    /// The resourceVersion to keep; `-1` when the store assigns a new one.
    resource_version: i64,
    /// Whether the revision is announced with `resource_version` (a row another server wrote).
    announce: bool,
}

/// What changed between the previous index and Git.
struct Diff {
    /// Revisions kept as they were (object and JSON included).
    kept: BTreeMap<String, Arc<Rev>>,
    next: Vec<Next>,
    changes: Vec<Change>,
    gone: Vec<String>,
    /// A discovered revision was left out: its name was taken.
    contested: bool,
}

/// Plans one pass: compares Git with what was known, writes the changes to the store and
/// builds the new index with the events that describe it.
fn plan(
    git: &dyn PackageRepository,
    store: &dyn Store,
    hub: &Arc<Hub>,
    scope: &Scope<'_>,
    discovered: &[Arc<Discovered>],
    previous: &Before,
    mut updates: Updates,
) -> Result<Plan, Error> {
    let deleted_elsewhere = std::mem::take(&mut updates.deleted);
    let mut diff = scope.diff(git, discovered, previous, updates);
    let changes = std::mem::take(&mut diff.changes);
    let writing = (!changes.is_empty() || !diff.gone.is_empty()).then(|| hub.writing());
    let applied = match changes.is_empty() {
        true => Applied::default(),
        false => {
            crate::metrics::store("apply", || store.apply_all(changes)).map_err(store_error)?
        }
    };
    let assigned: HashMap<String, i64> =
        applied.rows.into_iter().map(|row| (row.name, row.resource_version)).collect();
    // A delete is announced with the version its transaction took: here, or on the server
    // that deleted the row. Only a revision gone without either takes a fresh one.
    let mut deleted: HashMap<String, i64> = applied.deleted.into_iter().collect();
    for name in &diff.gone {
        if deleted.contains_key(name) {
            continue;
        }
        // Another server deleted the row: the follower knows its version, or the feed does
        // (both servers saw the revision leave Git, and the other one was first).
        let elsewhere = match (deleted_elsewhere.get(name), previous.get(name)) {
            (Some(rv), _) => Some(*rv),
            (None, Some(Previous::Indexed(rev))) if previous.shared => {
                let known = indexed_version(rev);
                crate::metrics::store("deleted_version", || {
                    store.deleted_version(scope.namespace, name, known)
                })
                .map_err(store_error)?
            }
            _ => None,
        };
        if let Some(rv) = elsewhere {
            deleted.insert(name.clone(), rv);
        }
    }
    let unversioned: Vec<&String> =
        diff.gone.iter().filter(|n| !deleted.contains_key(*n)).collect();
    if !unversioned.is_empty() {
        let first =
            store.reserve_resource_versions(unversioned.len() as i64).map_err(store_error)?;
        for (name, rv) in unversioned.into_iter().zip(first..) {
            deleted.insert(name.clone(), rv);
        }
    }
    if let Some(writing) = &writing {
        writing.committed(assigned.values().chain(deleted.values()).min().copied());
    }
    let gone = previous.only.is_some().then(|| diff.gone.clone());
    let contested = diff.contested;
    let (revisions, events) = scope.materialize(diff, assigned, &deleted, previous);
    Ok(Plan { revisions, events, gone, contested, writing })
}

/// The indexed revisions of `package`: a range of the index, since every name of a package's
/// revisions starts with the package's object name and a dot.
pub(crate) fn of_package<'a>(
    indexed: &'a BTreeMap<String, Arc<Rev>>,
    repository: &str,
    package: &'a str,
) -> impl Iterator<Item = (&'a String, &'a Arc<Rev>)> + 'a {
    let prefix = format!("{}.", names::package_object_name(repository, package));
    indexed
        .range(prefix.clone()..)
        .take_while(move |(name, _)| name.starts_with(&prefix))
        .filter(move |(_, rev)| rev.discovered.package == package)
}

/// The highest published revision number per package: that one carries the latest label.
fn latest_published(discovered: &[Arc<Discovered>]) -> HashMap<&str, i64> {
    let mut latest: HashMap<&str, i64> = HashMap::new();
    for d in discovered {
        if build::lifecycle(d).is_published() && d.revision > 0 {
            let slot = latest.entry(d.package.as_str()).or_insert(0);
            *slot = (*slot).max(d.revision);
        }
    }
    latest
}

impl Scope<'_> {
    /// The object name of a discovered revision.
    fn name_of(&self, d: &Discovered) -> String {
        names::package_revision_name(self.repository, &d.package, &d.workspace)
    }

    /// What an incremental pass compares: the current revisions of the packages that changed
    /// in Git and of those whose metadata `updates` changes (unchanged in Git: as indexed), and
    /// the names those packages had in the index. A revision whose name another package's
    /// revision already has is left out, as a full pass leaves out the second of two.
    fn incremental(
        &self,
        indexed: &BTreeMap<String, Arc<Rev>>,
        mut packages: BTreeMap<String, Vec<Arc<Discovered>>>,
        updates: &Updates,
    ) -> (Vec<Arc<Discovered>>, Vec<String>, bool) {
        for name in updates.meta.keys() {
            if let Some(rev) = indexed.get(name)
                && !packages.contains_key(&rev.discovered.package)
            {
                let package = rev.discovered.package.clone();
                let revisions = of_package(indexed, self.repository, &package)
                    .map(|(_, rev)| rev.discovered.clone())
                    .collect();
                packages.insert(package, revisions);
            }
        }
        let mut only = Vec::new();
        let mut discovered = Vec::new();
        let mut contested = false;
        for (package, revisions) in &packages {
            only.extend(
                of_package(indexed, self.repository, package).map(|(name, _)| name.clone()),
            );
            for d in revisions {
                let name = names::package_revision_name(self.repository, &d.package, &d.workspace);
                if let Some(other) = indexed.get(&name)
                    && !packages.contains_key(&other.discovered.package)
                {
                    tracing::warn!(%name, git_ref = %d.ref_name, "two git refs map to one package revision name; ignoring the second");
                    contested = true;
                    continue;
                }
                discovered.push(d.clone());
            }
        }
        (discovered, only, contested)
    }

    /// Sorts every discovered revision into kept or to rebuild, and lists the store changes.
    fn diff(
        &self,
        git: &dyn PackageRepository,
        discovered: &[Arc<Discovered>],
        previous: &Before,
        mut updates: Updates,
    ) -> Diff {
        let latest = latest_published(discovered);
        let mut diff = Diff {
            kept: BTreeMap::new(),
            next: Vec::new(),
            changes: Vec::new(),
            gone: Vec::new(),
            contested: false,
        };
        // Names of revisions that changed; unchanged ones are already in `kept`.
        let mut rebuilt = std::collections::HashSet::new();
        // Kptfiles read, by package tree: a placeholder and the latest revision of its package
        // have the same tree, so a full pass would read and parse each such Kptfile twice.
        let mut kptfiles: HashMap<&str, KptfileInfo> = HashMap::new();
        for d in discovered {
            let name = names::package_revision_name(self.repository, &d.package, &d.workspace);
            if diff.kept.contains_key(&name) || !rebuilt.insert(name.clone()) {
                tracing::warn!(%name, git_ref = %d.ref_name, "two git refs map to one package revision name; ignoring the second");
                diff.contested = true;
                continue;
            }
            let is_latest = d.revision > 0
                && latest.get(d.package.as_str()) == Some(&d.revision)
                && build::lifecycle(d).is_published();
            let prev = previous.get(&name);
            let new_meta = updates.meta.remove(&name);
            if let Some(rev) = self.unchanged(d, is_latest, prev, new_meta.is_some(), &updates) {
                diff.kept.insert(name, rev.clone());
                continue;
            }
            let fingerprint = fingerprint(d, is_latest, self.deployment);
            let indexed = previous.indexed.get(&name);
            if let (Some(Previous::Stored(stored)), Some(rev), None) = (prev, indexed, &new_meta)
                && stored.fingerprint != fingerprint
                && stored.fingerprint != rev.fingerprint
            {
                // Another server moved this revision in Git and this cache has not fetched it
                // yet: keep what is indexed until the fetch that follows its row.
                diff.kept.insert(name, rev.clone());
                continue;
            }
            let changed = new_meta.is_some()
                || updates.force
                || prev.is_none_or(|p| p.fingerprint() != fingerprint);
            let kptfile = match prev.and_then(Previous::rev) {
                Some(rev)
                    if rev.discovered.commit == d.commit && rev.discovered.package == d.package =>
                {
                    rev.kptfile.clone()
                }
                _ if d.tree.is_empty() => read_kptfile(git, d).unwrap_or_default(),
                _ => match kptfiles.get(d.tree.as_str()) {
                    Some(kptfile) => kptfile.clone(),
                    // A read that failed is not kept: the next revision of the tree tries again.
                    None => match read_kptfile(git, d) {
                        Some(kptfile) => kptfiles.entry(&d.tree).or_insert(kptfile).clone(),
                        None => KptfileInfo::default(),
                    },
                },
            };
            let meta = match (new_meta, prev) {
                (Some(meta), _) => meta,
                (None, Some(p)) => p.meta().clone(),
                (None, None) => {
                    ObjectMeta { creation_timestamp: Some(time::now()), ..ObjectMeta::default() }
                }
            };
            if changed && previous.shared {
                diff.changes.push(Change::Expect {
                    namespace: self.namespace.to_string(),
                    name: name.clone(),
                    resource_version: previous.stored_version(&name),
                });
            }
            if changed {
                diff.changes.push(Change::PutRevision(RevisionRow {
                    namespace: self.namespace.to_string(),
                    name: name.clone(),
                    repository: self.repository.to_string(),
                    meta: serde_json::to_string(&meta).unwrap_or_else(|_| "{}".into()),
                    resource_version: 0,
                    fingerprint: fingerprint.clone(),
                }));
            }
            let resource_version =
                if changed { -1 } else { prev.map(Previous::resource_version).unwrap_or(0) };
            // A row another server wrote, taken over as it is: announced with its version.
            let announce = !changed
                && previous.shared
                && previous.loaded
                && indexed.map(|rev| indexed_version(rev)) != Some(resource_version);
            diff.next.push(Next {
                name,
                discovered: d.clone(),
                kptfile,
                latest: is_latest,
                fingerprint,
                meta,
                existed: indexed.is_some() || (prev.is_some() && !previous.shared),
                resource_version,
                announce,
            });
        }
        diff.gone = previous
            .names()
            .filter(|n| !diff.kept.contains_key(*n) && !rebuilt.contains(*n))
            .cloned()
            .collect();
        for name in &diff.gone {
            if previous.shared {
                // Only the row as this server knew it: a newer one is another server's (its
                // revision not fetched here yet), and a missing one was deleted already.
                let known = previous.indexed.get(name).map(|rev| indexed_version(rev));
                let stored = previous.stored_version(name);
                if stored.is_none() || stored != known {
                    continue;
                }
                diff.changes.push(Change::Expect {
                    namespace: self.namespace.to_string(),
                    name: name.clone(),
                    resource_version: stored,
                });
            }
            diff.changes.push(Change::DeleteRevision {
                namespace: self.namespace.to_string(),
                name: name.clone(),
            });
        }
        diff
    }

    /// The indexed revision to keep as it is, when nothing it was built from changed.
    fn unchanged<'p>(
        &self,
        d: &Arc<Discovered>,
        is_latest: bool,
        prev: Option<Previous<'p>>,
        new_meta: bool,
        updates: &Updates,
    ) -> Option<&'p Arc<Rev>> {
        let rev = prev.and_then(Previous::rev)?;
        if new_meta || updates.force {
            return None;
        }
        if Arc::ptr_eq(&rev.discovered, d)
            && rev.latest == is_latest
            && rev.object.status.deployment == self.deployment
        {
            // The ref did not move (discovery hands out the same `Arc`): nothing to recompute.
            return Some(rev);
        }
        // Same commit, ref, lifecycle, revision and latest label, same metadata: the object
        // and its JSON are still right. This keeps a write O(changed revisions).
        (rev.fingerprint == fingerprint(d, is_latest, self.deployment)).then_some(rev)
    }

    /// Builds the objects of the rebuilt revisions and the events of the pass, in order.
    fn materialize(
        &self,
        diff: Diff,
        mut assigned: HashMap<String, i64>,
        deleted: &HashMap<String, i64>,
        previous: &Before,
    ) -> (BTreeMap<String, Arc<Rev>>, Vec<Event>) {
        let Diff { kept: mut revisions, next, gone, .. } = diff;
        let mut events = Vec::new();
        for n in next {
            let new_rv = assigned.remove(&n.name);
            let rv = new_rv.unwrap_or(n.resource_version);
            let object = Arc::new(build::package_revision(Parts {
                namespace: self.namespace,
                repository: self.repository,
                origin_url: &self.origin_url,
                deployment: self.deployment,
                discovered: &n.discovered,
                kptfile: &n.kptfile,
                meta: &n.meta,
                resource_version: rv,
                latest: n.latest,
            }));
            let json: Arc<str> = serde_json::to_string(&*object).unwrap_or_default().into();
            if let Some(rv) = new_rv.or(n.announce.then_some(rv)) {
                events.push(Event {
                    resource_version: rv,
                    event_type: if n.existed { EventType::Modified } else { EventType::Added },
                    topic: Topic::PackageRevisions,
                    namespace: self.namespace.to_string(),
                    json: json.clone(),
                });
            }
            let rev = Rev {
                discovered: n.discovered,
                meta: n.meta,
                kptfile: n.kptfile,
                latest: n.latest,
                fingerprint: n.fingerprint,
                object,
                json,
            };
            revisions.insert(n.name, Arc::new(rev));
        }
        for name in &gone {
            if let (Some(Previous::Indexed(rev)), Some(rv)) =
                (previous.get(name), deleted.get(name))
            {
                events.push(deleted_event(rev, *rv));
            }
        }
        events.sort_by_key(|e| e.resource_version);
        (revisions, events)
    }
}

pub(crate) fn deleted_event(rev: &Rev, resource_version: i64) -> Event {
    let mut object = (*rev.object).clone();
    object.metadata.resource_version = resource_version.to_string();
    Event {
        resource_version,
        event_type: EventType::Deleted,
        topic: Topic::PackageRevisions,
        namespace: object.metadata.namespace.clone(),
        json: serde_json::to_string(&object).unwrap_or_default().into(),
    }
}

/// What a served revision is built from, as one comparable string.
///
/// A placeholder (the package on the registered branch) is identified by its package tree and
/// its latest publishing commit rather than the branch head: every approval moves the head, and
/// keying on it would rebuild, re-version and announce every package of the repository on every
/// approval. An unchanged placeholder keeps the head it was built at in `selfLock.commit`, a
/// commit of the branch where the package has exactly the content it has at the head.
fn fingerprint(d: &Discovered, latest: bool, deployment: bool) -> String {
    let version = match d.kind {
        RefKind::Branch => {
            format!("{}@{}", d.tree, d.published_commit.as_deref().unwrap_or_default())
        }
        _ => d.commit.clone(),
    };
    format!("{version}|{:?}|{}|{}|{}|{}", d.lifecycle, d.revision, d.ref_name, latest, deployment)
}

/// What the revision's Kptfile says (the default when it has none or it does not parse);
/// `None` when it could not be read.
fn read_kptfile(git: &dyn PackageRepository, d: &Discovered) -> Option<KptfileInfo> {
    let content = match git.read_file(d, veranda_kpt::KPTFILE) {
        Ok(Some(content)) => content,
        Ok(None) => return Some(KptfileInfo::default()),
        Err(e) => {
            tracing::warn!(package = %d.package, commit = %d.commit, "read Kptfile: {e}");
            return None;
        }
    };
    Some(veranda_kpt::read_kptfile(&content).unwrap_or_else(|e| {
        tracing::debug!(package = %d.package, commit = %d.commit, "unreadable Kptfile: {e}");
        KptfileInfo::default()
    }))
}
