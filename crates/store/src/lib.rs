//! The durable store: what Git cannot hold.
//!
//! Registered repositories, per-revision Kubernetes metadata (labels, annotations, finalizers,
//! owner references, timestamps), registered empty packages, and the server-wide
//! `resourceVersion` counter. Package content never lives here: losing this file loses no package.
//!
//! The embedded backend is SQLite (WAL mode, one connection behind a mutex: every statement is
//! sub-millisecond, and a single writer is what SQLite wants anyway). All values are JSON text
//! so that the schema does not change when the API grows.

use std::{path::Path, sync::Mutex};

use rusqlite::{Connection, OptionalExtension, params};

/// Store errors.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("store: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("store is poisoned by an earlier panic")]
    Poisoned,
    #[error("revision {name} is at resourceVersion {found:?}, not {expected:?}")]
    Conflict { name: String, found: Option<i64>, expected: Option<i64> },
}

// The rows of the storage trait are the rows of this crate's API too.
pub use veranda_storage::{Applied, Change, ObjectRow, ObjectTable, RevisionRow};

/// The SQLite store.
pub struct Store {
    conn: Mutex<Connection>,
    // The resourceVersion counter as last committed (read under `conn` after every operation).
    committed_rv: std::sync::atomic::AtomicI64,
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
INSERT OR IGNORE INTO counters (name, value) VALUES ('resource_version', 0);
CREATE TABLE IF NOT EXISTS repositories (
    namespace TEXT NOT NULL, name TEXT NOT NULL, object TEXT NOT NULL,
    resource_version INTEGER NOT NULL, PRIMARY KEY (namespace, name));
CREATE TABLE IF NOT EXISTS packages (
    namespace TEXT NOT NULL, name TEXT NOT NULL, object TEXT NOT NULL,
    resource_version INTEGER NOT NULL, PRIMARY KEY (namespace, name));
CREATE TABLE IF NOT EXISTS secrets (
    namespace TEXT NOT NULL, name TEXT NOT NULL, object TEXT NOT NULL,
    resource_version INTEGER NOT NULL, PRIMARY KEY (namespace, name));
CREATE TABLE IF NOT EXISTS roles (
    namespace TEXT NOT NULL, name TEXT NOT NULL, object TEXT NOT NULL,
    resource_version INTEGER NOT NULL, PRIMARY KEY (namespace, name));
CREATE TABLE IF NOT EXISTS cluster_roles (
    namespace TEXT NOT NULL, name TEXT NOT NULL, object TEXT NOT NULL,
    resource_version INTEGER NOT NULL, PRIMARY KEY (namespace, name));
CREATE TABLE IF NOT EXISTS role_bindings (
    namespace TEXT NOT NULL, name TEXT NOT NULL, object TEXT NOT NULL,
    resource_version INTEGER NOT NULL, PRIMARY KEY (namespace, name));
CREATE TABLE IF NOT EXISTS cluster_role_bindings (
    namespace TEXT NOT NULL, name TEXT NOT NULL, object TEXT NOT NULL,
    resource_version INTEGER NOT NULL, PRIMARY KEY (namespace, name));
CREATE TABLE IF NOT EXISTS package_revisions (
    namespace TEXT NOT NULL, name TEXT NOT NULL, repository TEXT NOT NULL,
    meta TEXT NOT NULL, resource_version INTEGER NOT NULL, fingerprint TEXT NOT NULL,
    PRIMARY KEY (namespace, name));
CREATE INDEX IF NOT EXISTS package_revisions_repo ON package_revisions (namespace, repository);
CREATE TABLE IF NOT EXISTS server_identity (
    namespace TEXT NOT NULL, name TEXT NOT NULL, object TEXT NOT NULL,
    resource_version INTEGER NOT NULL, PRIMARY KEY (namespace, name));
";

impl Store {
    /// Opens (creating if needed) the store file.
    pub fn open(path: &Path) -> Result<Store, Error> {
        let conn = Connection::open(path)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        Self::init(conn)
    }

    /// An in-memory store, for tests.
    pub fn open_in_memory() -> Result<Store, Error> {
        Self::init(Connection::open_in_memory()?)
    }

    fn init(conn: Connection) -> Result<Store, Error> {
        conn.execute_batch(SCHEMA)?;
        let committed = read_counter(&conn)?;
        Ok(Store {
            conn: Mutex::new(conn),
            committed_rv: std::sync::atomic::AtomicI64::new(committed),
        })
    }

    fn with<T>(&self, f: impl FnOnce(&mut Connection) -> rusqlite::Result<T>) -> Result<T, Error> {
        let mut conn = self.conn.lock().map_err(|_| Error::Poisoned)?;
        let result = f(&mut conn);
        // The committed counter, whatever `f` did (a rolled-back transaction leaves it as it was).
        let committed = read_counter(&conn)?;
        self.committed_rv.fetch_max(committed, std::sync::atomic::Ordering::AcqRel);
        Ok(result?)
    }

    /// The last assigned resourceVersion.
    ///
    /// Answered from memory (the counter as last committed), so async callers never wait for the
    /// connection.
    pub fn current_resource_version(&self) -> Result<i64, Error> {
        Ok(self.committed_rv.load(std::sync::atomic::Ordering::Acquire))
    }

    /// Reserves `n` consecutive resourceVersions and returns the first one.
    pub fn reserve_resource_versions(&self, n: i64) -> Result<i64, Error> {
        self.with(|c| next_rv(c, n))
    }

    // Repositories and packages.

    /// All rows of `table` (`repositories` or `packages`).
    pub fn list_objects(&self, table: ObjectTable) -> Result<Vec<ObjectRow>, Error> {
        self.with(|c| {
            let mut stmt = c.prepare(&format!(
                "SELECT namespace, name, object, resource_version FROM {} ORDER BY namespace, name",
                table_name(table)
            ))?;
            let rows = stmt.query_map([], object_row)?.collect::<Result<Vec<_>, _>>()?;
            Ok(rows)
        })
    }

    /// One row of `table`.
    pub fn get_object(
        &self,
        table: ObjectTable,
        namespace: &str,
        name: &str,
    ) -> Result<Option<ObjectRow>, Error> {
        self.with(|c| {
            c.query_row(
                &format!(
                    "SELECT namespace, name, object, resource_version FROM {} WHERE namespace = ?1 AND name = ?2",
                    table_name(table)
                ),
                params![namespace, name],
                object_row,
            )
            .optional()
        })
    }

    /// Inserts or replaces an object; `object` is built by `make` from the assigned resourceVersion.
    pub fn put_object(
        &self,
        table: ObjectTable,
        namespace: &str,
        name: &str,
        make: impl FnOnce(i64) -> String,
    ) -> Result<ObjectRow, Error> {
        self.with(|c| {
            let tx = c.transaction()?;
            let rv = next_rv(&tx, 1)?;
            let object = make(rv);
            tx.execute(
                &format!(
                    "INSERT OR REPLACE INTO {} (namespace, name, object, resource_version) VALUES (?1, ?2, ?3, ?4)",
                    table_name(table)
                ),
                params![namespace, name, object, rv],
            )?;
            tx.commit()?;
            Ok(ObjectRow {
                namespace: namespace.to_string(),
                name: name.to_string(),
                object,
                resource_version: rv,
            })
        })
    }

    /// Deletes an object; returns whether it existed.
    pub fn delete_object(
        &self,
        table: ObjectTable,
        namespace: &str,
        name: &str,
    ) -> Result<bool, Error> {
        self.with(|c| {
            let n = c.execute(
                &format!("DELETE FROM {} WHERE namespace = ?1 AND name = ?2", table_name(table)),
                params![namespace, name],
            )?;
            Ok(n > 0)
        })
    }

    // Package revisions.

    /// Metadata rows of one repository.
    pub fn list_revisions(
        &self,
        namespace: &str,
        repository: &str,
    ) -> Result<Vec<RevisionRow>, Error> {
        self.with(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT namespace, name, repository, meta, resource_version, fingerprint
                 FROM package_revisions WHERE namespace = ?1 AND repository = ?2",
            )?;
            let rows = stmt
                .query_map(params![namespace, repository], revision_row)?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(rows)
        })
    }

    /// Applies changes atomically: [`veranda_storage::Store::apply_all`].
    pub fn apply(&self, changes: Vec<Change>) -> Result<Vec<RevisionRow>, Error> {
        self.apply_all(changes).map(|applied| applied.rows)
    }

    /// Applies changes atomically. Each `PutRevision` gets a fresh resourceVersion, in order,
    /// then each `DeleteRevision`.
    pub fn apply_all(&self, changes: Vec<Change>) -> Result<Applied, Error> {
        if changes.is_empty() {
            return Ok(Applied::default());
        }
        self.with(|c| {
            let tx = c.transaction()?;
            for change in &changes {
                if let Change::Expect { namespace, name, resource_version } = change {
                    let found: Option<i64> = tx
                        .prepare_cached(
                            "SELECT resource_version FROM package_revisions
                             WHERE namespace = ?1 AND name = ?2",
                        )?
                        .query_row(params![namespace, name], |r| r.get(0))
                        .optional()?;
                    if found != *resource_version {
                        // Dropping the transaction rolls it back: nothing is applied.
                        let (name, expected) = (name.clone(), *resource_version);
                        return Ok(Err(Error::Conflict { name, found, expected }));
                    }
                }
            }
            let puts = changes.iter().filter(|ch| ch.is_put()).count() as i64;
            let deletes =
                changes.iter().filter(|ch| matches!(ch, Change::DeleteRevision { .. })).count()
                    as i64;
            let mut rv = if puts + deletes > 0 { next_rv(&tx, puts + deletes)? } else { 0 };
            let mut deleted_rv = rv + puts;
            let mut written = Applied::default();
            {
                let mut put = tx.prepare_cached(
                    "INSERT OR REPLACE INTO package_revisions
                     (namespace, name, repository, meta, resource_version, fingerprint)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                )?;
                let mut delete = tx.prepare_cached(
                    "DELETE FROM package_revisions WHERE namespace = ?1 AND name = ?2",
                )?;
                for change in changes {
                    match change {
                        Change::PutRevision(mut row) => {
                            row.resource_version = rv;
                            rv += 1;
                            put.execute(params![
                                row.namespace,
                                row.name,
                                row.repository,
                                row.meta,
                                row.resource_version,
                                row.fingerprint
                            ])?;
                            written.rows.push(row);
                        }
                        Change::DeleteRevision { namespace, name } => {
                            delete.execute(params![namespace, name])?;
                            written.deleted.push((name, deleted_rv));
                            deleted_rv += 1;
                        }
                        Change::Expect { .. } => {}
                    }
                }
            }
            tx.commit()?;
            Ok(Ok(written))
        })?
    }

    /// The rows of these revisions that exist.
    pub fn get_revisions(
        &self,
        namespace: &str,
        names: &[String],
    ) -> Result<Vec<RevisionRow>, Error> {
        self.with(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT namespace, name, repository, meta, resource_version, fingerprint
                 FROM package_revisions WHERE namespace = ?1 AND name = ?2",
            )?;
            let mut rows = Vec::new();
            for name in names {
                if let Some(row) =
                    stmt.query_row(params![namespace, name], revision_row).optional()?
                {
                    rows.push(row);
                }
            }
            Ok(rows)
        })
    }

    /// Removes every revision row of a repository.
    pub fn delete_repository_revisions(
        &self,
        namespace: &str,
        repository: &str,
    ) -> Result<(), Error> {
        self.with(|c| {
            c.execute(
                "DELETE FROM package_revisions WHERE namespace = ?1 AND repository = ?2",
                params![namespace, repository],
            )?;
            Ok(())
        })
    }
}

fn table_name(table: ObjectTable) -> &'static str {
    match table {
        ObjectTable::Repositories => "repositories",
        ObjectTable::Packages => "packages",
        ObjectTable::Secrets => "secrets",
        ObjectTable::Roles => "roles",
        ObjectTable::ClusterRoles => "cluster_roles",
        ObjectTable::RoleBindings => "role_bindings",
        ObjectTable::ClusterRoleBindings => "cluster_role_bindings",
        ObjectTable::ServerIdentity => "server_identity",
    }
}

fn read_counter(c: &Connection) -> rusqlite::Result<i64> {
    c.query_row("SELECT value FROM counters WHERE name = 'resource_version'", [], |r| r.get(0))
}

fn next_rv(c: &Connection, n: i64) -> rusqlite::Result<i64> {
    let last: i64 = c.query_row(
        "UPDATE counters SET value = value + ?1 WHERE name = 'resource_version' RETURNING value",
        params![n],
        |r| r.get(0),
    )?;
    Ok(last - n + 1)
}

fn object_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<ObjectRow> {
    Ok(ObjectRow {
        namespace: r.get(0)?,
        name: r.get(1)?,
        object: r.get(2)?,
        resource_version: r.get(3)?,
    })
}

fn revision_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<RevisionRow> {
    Ok(RevisionRow {
        namespace: r.get(0)?,
        name: r.get(1)?,
        repository: r.get(2)?,
        meta: r.get(3)?,
        resource_version: r.get(4)?,
        fingerprint: r.get(5)?,
    })
}

impl From<Error> for veranda_storage::Error {
    fn from(e: Error) -> veranda_storage::Error {
        let kind = match e {
            Error::Conflict { .. } => veranda_storage::ErrorKind::Conflict,
            _ => veranda_storage::ErrorKind::Other,
        };
        veranda_storage::Error::new(kind, e)
    }
}

impl veranda_storage::Store for Store {
    fn current_resource_version(&self) -> Result<i64, veranda_storage::Error> {
        Ok(Store::current_resource_version(self)?)
    }

    fn reserve_resource_versions(&self, n: i64) -> Result<i64, veranda_storage::Error> {
        Ok(Store::reserve_resource_versions(self, n)?)
    }

    fn list_objects(&self, table: ObjectTable) -> Result<Vec<ObjectRow>, veranda_storage::Error> {
        Ok(Store::list_objects(self, table)?)
    }

    fn get_object(
        &self,
        table: ObjectTable,
        namespace: &str,
        name: &str,
    ) -> Result<Option<ObjectRow>, veranda_storage::Error> {
        Ok(Store::get_object(self, table, namespace, name)?)
    }

    fn put_object(
        &self,
        table: ObjectTable,
        namespace: &str,
        name: &str,
        make: &mut dyn FnMut(i64) -> String,
    ) -> Result<ObjectRow, veranda_storage::Error> {
        Ok(Store::put_object(self, table, namespace, name, make)?)
    }

    fn delete_object(
        &self,
        table: ObjectTable,
        namespace: &str,
        name: &str,
    ) -> Result<bool, veranda_storage::Error> {
        Ok(Store::delete_object(self, table, namespace, name)?)
    }

    fn list_revisions(
        &self,
        namespace: &str,
        repository: &str,
    ) -> Result<Vec<RevisionRow>, veranda_storage::Error> {
        Ok(Store::list_revisions(self, namespace, repository)?)
    }

    fn apply_all(&self, changes: Vec<Change>) -> Result<Applied, veranda_storage::Error> {
        Ok(Store::apply_all(self, changes)?)
    }

    fn delete_repository_revisions(
        &self,
        namespace: &str,
        repository: &str,
    ) -> Result<(), veranda_storage::Error> {
        Ok(Store::delete_repository_revisions(self, namespace, repository)?)
    }

    fn get_revisions(
        &self,
        namespace: &str,
        names: &[String],
    ) -> Result<Vec<RevisionRow>, veranda_storage::Error> {
        Ok(Store::get_revisions(self, namespace, names)?)
    }
}

#[cfg(test)]
mod tests;
