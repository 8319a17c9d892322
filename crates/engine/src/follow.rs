//! Following a shared store's change feed: what other servers on the same database wrote,
//! brought into this server's index and watches, and the wait of consistent reads.
//!
//! A thread waits on the store (`wait_for_changes`, PostgreSQL's `LISTEN`, with a timeout
//! that doubles as a poll) and reads the feed after the last position it handed on; a task
//! applies each batch in feed order:
//! - a revision row this index does not hold at that resourceVersion (another server's write)
//!   makes its repository fetch and reconcile whole (`Updates::full`), which takes the rows
//!   over as they are, with their resourceVersions, and announces them;
//! - a Repository row creates, updates or drops the registration here;
//! - an RBAC row reloads the authorization index.
//!
//! Rows this server wrote itself are in its index already and cost a lookup. Secrets and
//! registered packages are read from the store on every request and need nothing.
//!
//! After each batch the hub is told the store's counter read with it: events up to it are
//! handed out then, in resourceVersion order (see `watch`).

use std::{collections::BTreeMap, sync::Arc, time::Duration};

use veranda_api::types::Repository;
use veranda_storage::{FeedEntry, FeedTable, ObjectTable};

use crate::{Engine, RepoEntry, RepoKey, reconcile::Updates, watch::EventType};

/// What the feed's reader hands the task that applies it.
struct Batch {
    entries: Vec<FeedEntry>,
    /// The store's counter when the read reached the feed's end (`FeedRead::position`).
    counter: Option<i64>,
    /// The hub's writers registered when the read was done.
    writers: u64,
}

/// How long the follower waits for a notification before it reads the feed anyway.
const POLL: Duration = Duration::from_secs(1);
/// How long an event waits for its turn in feed order before it goes out anyway.
const HELD_AT_MOST: Duration = Duration::from_secs(5);
/// Feed entries read at once.
const BATCH: i64 = 1_000;
/// How long a consistent read waits for the follower before it answers from the index as is.
const CONSISTENT_WAIT: Duration = Duration::from_secs(3);

impl Engine {
    /// Starts following the feed after `position` (read before anything was loaded, so
    /// nothing written meanwhile is missed). Nothing to do on a store no other server writes.
    pub(crate) fn follow(self: &Arc<Self>, position: i64) {
        if !self.store.blocking().shared() {
            return;
        }
        self.followed.send_replace(position);
        let (tx, mut rx) = tokio::sync::mpsc::channel::<Batch>(4);
        let (store, hub) = (self.store.clone(), self.hub.clone());
        let reader = std::thread::Builder::new().name("veranda-feed".into()).spawn(move || {
            let (mut position, mut announced) = (position, None);
            while !tx.is_closed() {
                match store.blocking().read_feed(position, BATCH) {
                    Ok(read) if read.entries.is_empty() && read.position == announced => {
                        store.blocking().wait_for_changes(POLL)
                    }
                    Ok(read) => {
                        // Taken after the read: a writer registered later takes versions
                        // above the counter read (see `watch`).
                        let writers = hub.writers_so_far();
                        position = read.entries.last().map_or(position, |e| e.seq);
                        announced = read.position.or(announced);
                        let batch =
                            Batch { entries: read.entries, counter: read.position, writers };
                        if tx.blocking_send(batch).is_err() {
                            return;
                        }
                    }
                    Err(e) => {
                        tracing::warn!("reading the change feed: {e}");
                        std::thread::sleep(POLL);
                    }
                }
            }
        });
        if let Err(e) = reader {
            tracing::error!("cannot start the change feed's reader: {e}");
            return;
        }
        let me = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut ticker = tokio::time::interval(POLL);
            loop {
                ticker.tick().await;
                let Some(engine) = me.upgrade() else { return };
                engine.hub.expire(HELD_AT_MOST);
            }
        });
        let me = Arc::downgrade(self);
        tokio::spawn(async move {
            while let Some(Batch { entries, counter, writers }) = rx.recv().await {
                let Some(engine) = me.upgrade() else { return };
                let last = entries.last().map(|e| e.seq);
                let (count, began) = (entries.len(), std::time::Instant::now());
                if !entries.is_empty() {
                    engine.apply_feed(entries).await;
                    tracing::debug!(last, count, took = ?began.elapsed(), "applied the change feed");
                }
                // Every write up to the counter is applied here now: its events may go out.
                if let Some(counter) = counter {
                    engine.hub.advance(counter, writers);
                }
                // `send` stores nothing while no request waits (no receiver): `send_replace` always does.
                if let Some(last) = last {
                    engine.followed.send_replace(last);
                }
            }
        });
    }

    /// Waits until this server has applied everything the shared store held when the call
    /// began (kube-apiserver's consistent reads from its cache), at most [`CONSISTENT_WAIT`].
    /// Returns at once on a store no other server writes.
    pub async fn consistent(&self) {
        let store = self.store.clone();
        if !store.blocking().shared() {
            return;
        }
        let target = match store.feed_position().await {
            Ok(target) => target,
            // The store is down: the read answers from the index as it is.
            Err(_) => return,
        };
        let mut followed = self.followed.subscribe();
        let reached = tokio::time::timeout(CONSISTENT_WAIT, followed.wait_for(|p| *p >= target));
        if reached.await.is_err() {
            tracing::warn!(target, "the change feed's follower is behind; answering as indexed");
        }
    }

    async fn apply_feed(self: &Arc<Self>, entries: Vec<FeedEntry>) {
        // Repositories to follow, with what each must show afterwards (name → version).
        let mut follow: BTreeMap<RepoKey, Vec<(String, i64, bool)>> = BTreeMap::new();
        let mut rbac = false;
        for entry in entries {
            match entry.table {
                FeedTable::Revisions => {
                    if let Some(key) = self.foreign_revision(&entry).await {
                        let wanted = (entry.name, entry.resource_version, entry.deleted);
                        follow.entry(key).or_default().push(wanted);
                    }
                }
                FeedTable::Object(ObjectTable::Repositories) => {
                    self.follow_repository(&entry).await
                }
                FeedTable::Object(
                    ObjectTable::Roles
                    | ObjectTable::ClusterRoles
                    | ObjectTable::RoleBindings
                    | ObjectTable::ClusterRoleBindings,
                ) => rbac = true,
                FeedTable::Object(
                    ObjectTable::Secrets | ObjectTable::Packages | ObjectTable::ServerIdentity,
                ) => {}
            }
        }
        if rbac && let Err(e) = self.load_rbac().await {
            tracing::warn!("reloading RBAC after another server's change: {e}");
        }
        for (key, wanted) in follow {
            tracing::debug!(namespace = %key.0, repository = %key.1, revisions = wanted.len(), "following another server's revisions");
            if let Err(e) = self.follow_revisions(&key, &wanted).await {
                tracing::warn!(namespace = %key.0, repository = %key.1, "following another server's write: {e}");
            }
        }
    }

    /// The repository of a revision row another server changed; `None` when this index
    /// already shows the change (this server made it) or the repository is not registered.
    async fn foreign_revision(&self, entry: &FeedEntry) -> Option<RepoKey> {
        let held = {
            let state = self.read();
            state.repos.iter().filter(|((ns, _), _)| *ns == entry.namespace).find_map(|(key, e)| {
                e.revisions.get(&entry.name).map(|rev| (key.clone(), rev.clone()))
            })
        };
        match held {
            Some((key, rev)) => {
                let indexed: i64 = rev.object.metadata.resource_version.parse().unwrap_or(0);
                (entry.deleted || indexed < entry.resource_version).then_some(key)
            }
            None if entry.deleted => None,
            None => {
                let (namespace, name) = (entry.namespace.clone(), vec![entry.name.clone()]);
                let rows = self.store.get_revisions(namespace, name).await.ok()?;
                let row = rows.into_iter().next()?;
                let key = (row.namespace, row.repository);
                self.read().repos.contains_key(&key).then_some(key)
            }
        }
    }

    /// Fetches a repository another server wrote to and reconciles it whole, unless the index
    /// shows every change already once its write lock is held.
    async fn follow_revisions(
        self: &Arc<Self>,
        key: &RepoKey,
        wanted: &[(String, i64, bool)],
    ) -> Result<(), crate::Error> {
        let (repo, write, syncing) = {
            let state = self.read();
            let Some(entry) = state.repos.get(key) else { return Ok(()) };
            let Some(repo) = entry.repo.clone() else { return Ok(()) };
            (repo, entry.write.clone(), entry.syncing.clone())
        };
        let shown = |engine: &Engine| {
            let state = engine.read();
            let Some(entry) = state.repos.get(key) else { return true };
            wanted.iter().all(|(name, rv, deleted)| match entry.revisions.get(name) {
                Some(rev) => {
                    !deleted && rev.object.metadata.resource_version.parse().unwrap_or(0) >= *rv
                }
                None => *deleted,
            })
        };
        // A sync in flight may have downloaded before the other server pushed: wait for it.
        let _syncing = syncing.lock().await;
        if shown(self) {
            return Ok(());
        }
        repo.download().await?;
        tracing::debug!(namespace = %key.0, repository = %key.1, "following: downloaded");
        let _write = write.lock().await;
        if shown(self) {
            return Ok(());
        }
        repo.fetch().await?;
        let deleted = wanted.iter().filter(|w| w.2).map(|(name, rv, _)| (name.clone(), *rv));
        let updates = Updates { full: true, deleted: deleted.collect(), ..Updates::default() };
        self.reconcile(key, updates).await
    }

    /// Brings a Repository row another server wrote into this server's registrations.
    async fn follow_repository(self: &Arc<Self>, entry: &FeedEntry) {
        let key = (entry.namespace.clone(), entry.name.clone());
        let (known, registering) = {
            let state = self.read();
            let known = state.repos.get(&key);
            let known = known.map(|e| e.object.metadata.resource_version.parse().unwrap_or(0i64));
            (known, state.registering.contains(&key))
        };
        if entry.deleted {
            if known.is_some()
                && let Err(e) = self.retire_registration(key.clone(), false).await
            {
                tracing::warn!(namespace = %key.0, repository = %key.1, "dropping a repository another server deleted: {e}");
            }
            return;
        }
        if known.is_some_and(|rv| rv >= entry.resource_version) || (known.is_none() && registering)
        {
            return;
        }
        let row = match self
            .store
            .get_object(ObjectTable::Repositories, key.0.clone(), key.1.clone())
            .await
        {
            Ok(Some(row)) => row,
            Ok(None) => return,
            Err(e) => {
                tracing::warn!(namespace = %key.0, repository = %key.1, "reading another server's repository: {e}");
                return;
            }
        };
        let Ok(mut object) = serde_json::from_str::<Repository>(&row.object) else {
            tracing::error!(namespace = %key.0, repository = %key.1, "unreadable stored repository; skipped");
            return;
        };
        object.metadata.resource_version = row.resource_version.to_string();
        let event = {
            let mut state = self.write();
            match state.repos.get_mut(&key) {
                Some(existing) => {
                    // Status (readiness) is this server's own; the rest is the row's.
                    object.status = existing.object.status.clone();
                    existing.object = object.clone();
                    EventType::Modified
                }
                None => {
                    object.status.conditions.clear();
                    let sync = self.first_sync(&key, &object);
                    state.repos.insert(key.clone(), RepoEntry::new(object.clone(), sync));
                    EventType::Added
                }
            }
        };
        self.publish_event(row.resource_version, event, crate::watch::Topic::Repositories, &object);
        if event == EventType::Added {
            let engine = self.clone();
            tokio::spawn(async move { engine.open_repository(&key).await });
        }
    }
}
