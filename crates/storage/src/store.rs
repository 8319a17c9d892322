//! [`Store`]: what Git cannot hold, in rows of JSON text.

use crate::Error;

/// A row of the package revision metadata table.
#[derive(Clone, Debug, PartialEq)]
pub struct RevisionRow {
    /// Namespace of the revision.
    pub namespace: String,
    /// Object name of the revision.
    pub name: String,
    /// Repository the revision belongs to.
    pub repository: String,
    /// Stored Kubernetes metadata as JSON (labels, annotations, finalizers, ownerReferences,
    /// creationTimestamp, deletionTimestamp).
    pub meta: String,
    /// The resourceVersion the row was written with.
    pub resource_version: i64,
    /// What the row was last reconciled against (commit, lifecycle, revision), opaque to the store.
    pub fingerprint: String,
}

/// A registered object stored whole as text: JSON (repositories, packages) or, for secrets,
/// the engine's ciphertext.
#[derive(Clone, Debug, PartialEq)]
pub struct ObjectRow {
    /// Namespace of the object.
    pub namespace: String,
    /// Name of the object.
    pub name: String,
    /// The object as JSON.
    pub object: String,
    /// The resourceVersion the row was written with.
    pub resource_version: i64,
}

/// One change to apply in a single transaction.
#[derive(Clone, Debug)]
pub enum Change {
    /// Insert or replace a revision row; its `resource_version` is assigned by the store.
    PutRevision(RevisionRow),
    /// Delete a revision row (absent rows are no error).
    DeleteRevision {
        /// Namespace of the revision.
        namespace: String,
        /// Object name of the revision.
        name: String,
    },
    /// A precondition of the whole transaction, checked before any change is applied: the
    /// revision row is at this resourceVersion (`None`: there is no row). When it is not, the
    /// transaction applies nothing and fails with [`crate::ErrorKind::Conflict`]: the
    /// compare-and-swap of servers sharing one store.
    Expect {
        /// Namespace of the revision.
        namespace: String,
        /// Object name of the revision.
        name: String,
        /// The resourceVersion the row must have, `None` for no row.
        resource_version: Option<i64>,
    },
}

impl Change {
    /// Whether the change takes a resourceVersion.
    pub fn is_put(&self) -> bool {
        matches!(self, Change::PutRevision(_))
    }
}

/// What [`Store::apply_all`] wrote.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Applied {
    /// The rows put, as written (with their resourceVersions), in order.
    pub rows: Vec<RevisionRow>,
    /// The revisions deleted, in order: (object name, the delete's resourceVersion).
    pub deleted: Vec<(String, i64)>,
}

/// A held [`Store::try_lock`]; dropping it releases the lock.
pub type SharedLock = Box<dyn Held>;

/// What a [`SharedLock`] guards.
pub trait Held: Send + Sync {
    /// Whether the lock is still held: one whose database session broke is not (another
    /// server may have taken it since).
    fn held(&self) -> bool {
        true
    }
}

/// The lock of a store no other server writes: the in-process lock is the whole of it.
impl Held for () {}

/// What the change feed says changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FeedTable {
    /// A package revision's metadata row.
    Revisions,
    /// A row of an object table.
    Object(ObjectTable),
}

/// One entry of a shared store's change feed, in commit order.
#[derive(Clone, Debug, PartialEq)]
pub struct FeedEntry {
    /// Position in the feed: strictly increasing in commit order.
    pub seq: i64,
    /// The row's resourceVersion (for a delete: the counter when it was deleted).
    pub resource_version: i64,
    /// What changed.
    pub table: FeedTable,
    /// Namespace of the row.
    pub namespace: String,
    /// Name of the row.
    pub name: String,
    /// Whether the row was deleted.
    pub deleted: bool,
}

/// What [`Store::read_feed`] read.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FeedRead {
    /// The feed's entries, oldest first.
    pub entries: Vec<FeedEntry>,
    /// When the read reached the feed's end: the resourceVersion counter of the same
    /// snapshot, so every write that took a version up to it is in `entries` or was read
    /// before. `None` when the limit cut the read short.
    pub position: Option<i64>,
}

/// Tables holding whole JSON objects.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ObjectTable {
    /// Registered repositories.
    Repositories,
    /// Registered (empty) packages.
    Packages,
    /// Core v1 Secrets; `object` is ciphertext the engine made, opaque to the store.
    Secrets,
    /// `rbac.authorization.k8s.io/v1` Roles.
    Roles,
    /// ClusterRoles (namespace `""`).
    ClusterRoles,
    /// RoleBindings.
    RoleBindings,
    /// ClusterRoleBindings (namespace `""`).
    ClusterRoleBindings,
    /// What every server sharing the store serves with (its CA, the admin token): ciphertext
    /// the engine made, opaque to the store, never served by the API.
    ServerIdentity,
}

/// The durable store. Every method may block except
/// [`Store::current_resource_version`]; every write takes fresh resourceVersions from one
/// server-wide counter.
pub trait Store: Send + Sync {
    /// The last assigned resourceVersion, answered from memory (callers are async).
    fn current_resource_version(&self) -> Result<i64, Error>;

    /// Reserves `n` consecutive resourceVersions and returns the first one.
    fn reserve_resource_versions(&self, n: i64) -> Result<i64, Error>;

    /// All rows of `table`, ordered by namespace and name.
    fn list_objects(&self, table: ObjectTable) -> Result<Vec<ObjectRow>, Error>;

    /// One row of `table`, `None` when there is none.
    fn get_object(
        &self,
        table: ObjectTable,
        namespace: &str,
        name: &str,
    ) -> Result<Option<ObjectRow>, Error>;

    /// Inserts or replaces an object; `make` builds it from the assigned resourceVersion.
    fn put_object(
        &self,
        table: ObjectTable,
        namespace: &str,
        name: &str,
        make: &mut dyn FnMut(i64) -> String,
    ) -> Result<ObjectRow, Error>;

    /// Deletes an object; returns whether it existed.
    fn delete_object(&self, table: ObjectTable, namespace: &str, name: &str)
    -> Result<bool, Error>;

    /// Metadata rows of one repository.
    fn list_revisions(&self, namespace: &str, repository: &str) -> Result<Vec<RevisionRow>, Error>;

    /// Applies changes atomically (all or none), in the transaction that takes their
    /// resourceVersions: each `PutRevision` gets a fresh one, in order, then each
    /// `DeleteRevision` (whether or not its row was there), in order. So a delete is ordered
    /// with every other write by its resourceVersion, and the change feed carries it.
    fn apply_all(&self, changes: Vec<Change>) -> Result<Applied, Error>;

    /// [`Store::apply_all`], the rows as written only.
    fn apply(&self, changes: Vec<Change>) -> Result<Vec<RevisionRow>, Error> {
        self.apply_all(changes).map(|applied| applied.rows)
    }

    /// Removes every revision row of a repository.
    fn delete_repository_revisions(&self, namespace: &str, repository: &str) -> Result<(), Error>;

    /// The rows of these revisions that exist, in no particular order.
    fn get_revisions(&self, namespace: &str, names: &[String]) -> Result<Vec<RevisionRow>, Error>;

    /// Whether other servers write this store too, so that rows can change under the index
    /// and [`Store::changes_since`] says which.
    fn shared(&self) -> bool {
        false
    }

    /// The change feed after `seq`, oldest first, at most `limit` entries (a store no other
    /// server writes has none).
    fn changes_since(&self, seq: i64, limit: i64) -> Result<Vec<FeedEntry>, Error> {
        let _ = (seq, limit);
        Ok(Vec::new())
    }

    /// [`Store::changes_since`] with the resourceVersion counter of the same moment, so that
    /// the reader knows every write up to that version is in what it read or before.
    fn read_feed(&self, seq: i64, limit: i64) -> Result<FeedRead, Error> {
        let counter = self.current_resource_version()?;
        let entries = self.changes_since(seq, limit)?;
        let complete = (entries.len() as i64) < limit;
        Ok(FeedRead { entries, position: complete.then_some(counter) })
    }

    /// The resourceVersion of the latest delete of this revision row in the feed, if it is
    /// above `after`: what another server announced the delete with (a store no other server
    /// writes has no feed, and none).
    fn deleted_version(
        &self,
        namespace: &str,
        name: &str,
        after: i64,
    ) -> Result<Option<i64>, Error> {
        let _ = (namespace, name, after);
        Ok(None)
    }

    /// The position of the feed's last entry (0 when empty or without a feed).
    fn feed_position(&self) -> Result<i64, Error> {
        Ok(0)
    }

    /// Takes a try-lock that every server on this store sees (what one request works on,
    /// named by the engine); `None` when another holds it. Dropping the guard releases it. A
    /// store no other server writes has nothing to share: the in-process lock is enough.
    fn try_lock(&self, name: &str) -> Result<Option<SharedLock>, Error> {
        let _ = name;
        Ok(Some(Box::new(())))
    }

    /// Blocks until the feed may have new entries or `timeout` passes.
    fn wait_for_changes(&self, timeout: std::time::Duration) {
        std::thread::sleep(timeout);
    }
}
