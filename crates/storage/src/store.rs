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

    /// Applies changes atomically (all or none). Each `PutRevision` gets a fresh
    /// resourceVersion, in order; the rows as written are returned (deletes return nothing).
    fn apply(&self, changes: Vec<Change>) -> Result<Vec<RevisionRow>, Error>;

    /// Removes every revision row of a repository.
    fn delete_repository_revisions(&self, namespace: &str, repository: &str) -> Result<(), Error>;
}
