//! The PostgreSQL store: what Git cannot hold, shared by every replica on one database.
//!
//! The same tables as the embedded SQLite store (`veranda-store`), created and changed by
//! versioned forward-only [`migrations`]. resourceVersions come from one counter row taken with
//! `UPDATE … RETURNING` inside each writing transaction: its row lock makes commit order equal
//! resourceVersion order (see docs/SCALE-OUT.md). Every change also lands in the `changes` feed
//! and wakes `LISTEN veranda_changes`.
//!
//! Calls run on a fixed [`pool`] of connections, one thread each.

mod claim;
mod locks;
pub mod migrations;
mod pool;

use std::{
    str::FromStr,
    sync::atomic::{AtomicI64, Ordering},
    sync::mpsc,
    time::Duration,
};

use postgres::{Client, Config, GenericClient, error::SqlState};
use postgres_openssl::MakeTlsConnector;
use veranda_storage::{Applied, Change, ErrorKind, ObjectRow, ObjectTable, RevisionRow};

/// Connections per store.
pub const POOL_SIZE: usize = 8;
/// Longest a statement may run on the server.
const STATEMENT_TIMEOUT: Duration = Duration::from_secs(30);
/// Longest a connection attempt may take, unless the URL says otherwise.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Store errors. None carries the connection URL (it may hold a password).
#[derive(Debug)]
pub enum Error {
    /// The database answered with an error, or the connection failed.
    Pg(postgres::Error),
    /// The connection URL could not be read (the reason, never the URL).
    Url(String),
    /// The database's schema cannot be used by this binary.
    Schema(String),
    /// No answer within the time limit.
    Timeout(Duration),
    /// A worker or its caller went away.
    Gone(&'static str),
    /// Another server holds the database (see `Store::claim`), named as PostgreSQL sees it.
    InUse(String),
    /// Another server took the database over after a restart of the database.
    Lost,
    /// A precondition of the transaction ([`Change::Expect`]) did not hold; nothing applied.
    Conflict(String),
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::Pg(e) => match e.as_db_error() {
                Some(db) => write!(f, "postgres: {}: {}", db.code().code(), db.message()),
                None => {
                    // The causes say what failed (refused, TLS, timeout); none holds the URL.
                    let mut text = format!("postgres: {e}");
                    let mut source = std::error::Error::source(e);
                    while let Some(cause) = source {
                        let cause_text = cause.to_string();
                        if !text.contains(&cause_text) {
                            text.push_str(": ");
                            text.push_str(&cause_text);
                        }
                        source = cause.source();
                    }
                    if text.contains("certificate verify failed") {
                        text.push_str(
                            " (the database's certificate is not trusted: give its CA with \
                             --store-ca-file, or use ?sslmode=disable on a trusted network)",
                        );
                    }
                    f.write_str(&text)
                }
            },
            Error::Url(e) => write!(f, "postgres connection URL: {e}"),
            Error::Schema(e) => write!(f, "postgres schema: {e}"),
            Error::Timeout(d) => write!(f, "postgres: no answer within {} s", d.as_secs()),
            Error::Gone(e) => write!(f, "postgres: {e}"),
            Error::Conflict(e) => f.write_str(e),
            Error::InUse(holder) => {
                write!(f, "the database is held by another veranda ({holder}): wait until it ends")
            }
            Error::Lost => f.write_str(
                "another veranda server took this database over while it restarted; this \
                 server takes no more writes: stop one of them",
            ),
        }
    }
}

impl std::error::Error for Error {}

impl From<postgres::Error> for Error {
    fn from(e: postgres::Error) -> Error {
        Error::Pg(e)
    }
}

impl Error {
    /// Whether the connection itself failed (so it is dropped and the call may be retried).
    fn is_connection(&self) -> bool {
        match self {
            Error::Pg(e) => e.is_closed() || e.as_db_error().is_none_or(|db| is_gone(db.code())),
            Error::Timeout(_) | Error::Gone(_) => true,
            Error::Url(_) | Error::Schema(_) | Error::InUse(_) | Error::Lost => false,
            Error::Conflict(_) => false,
        }
    }

    fn kind(&self) -> ErrorKind {
        match self {
            Error::Pg(e) => match e.as_db_error().map(|db| db.code()) {
                Some(c) if *c == SqlState::T_R_SERIALIZATION_FAILURE => ErrorKind::Conflict,
                Some(c) if *c == SqlState::T_R_DEADLOCK_DETECTED => ErrorKind::Conflict,
                Some(c) if *c == SqlState::QUERY_CANCELED => ErrorKind::Timeout,
                Some(c) if *c == SqlState::LOCK_NOT_AVAILABLE => ErrorKind::Timeout,
                Some(c) if is_gone(c) => ErrorKind::Unavailable,
                Some(_) => ErrorKind::Other,
                None => ErrorKind::Unavailable,
            },
            Error::Timeout(_) => ErrorKind::Timeout,
            Error::Gone(_) | Error::InUse(_) | Error::Lost => ErrorKind::Unavailable,
            Error::Url(_) | Error::Schema(_) => ErrorKind::Other,
            Error::Conflict(_) => ErrorKind::Conflict,
        }
    }
}

/// The server is shutting down, restarting or refusing connections.
fn is_gone(code: &SqlState) -> bool {
    [
        SqlState::ADMIN_SHUTDOWN,
        SqlState::CRASH_SHUTDOWN,
        SqlState::CANNOT_CONNECT_NOW,
        SqlState::CONNECTION_FAILURE,
        SqlState::CONNECTION_EXCEPTION,
        SqlState::TOO_MANY_CONNECTIONS,
    ]
    .contains(code)
}

impl From<Error> for veranda_storage::Error {
    fn from(e: Error) -> veranda_storage::Error {
        veranda_storage::Error::new(e.kind(), e)
    }
}

/// Where a store's database is: the URL's host, port and database, without credentials (for
/// logs).
pub fn describe(url: &str) -> String {
    match Config::from_str(url) {
        Ok(c) => {
            let host = c
                .get_hosts()
                .first()
                .map(|h| match h {
                    postgres::config::Host::Tcp(h) => h.clone(),
                    postgres::config::Host::Unix(p) => p.display().to_string(),
                })
                .unwrap_or_default();
            let port = c.get_ports().first().copied().unwrap_or(5432);
            format!("postgres://{host}:{port}/{}", c.get_dbname().unwrap_or(""))
        }
        Err(_) => "postgres://(unreadable URL)".to_string(),
    }
}

/// The PostgreSQL store.
pub struct Store {
    pool: pool::Pool,
    // The schema version the store was opened at (older ones for the migration tests).
    schema: i32,
    // The resourceVersion counter as last seen committed.
    committed_rv: AtomicI64,
    // What a claim connects with, and the claim once taken.
    config: Config,
    tls: MakeTlsConnector,
    claim: std::sync::Mutex<Option<claim::Claim>>,
    // The session holding this server's shared try-locks.
    locks: locks::Locks,
    // The connection that `LISTEN`s to the change feed, opened by the first wait for it.
    listener: std::sync::Mutex<Option<Client>>,
}

impl Store {
    /// Connects to `url` (`postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE[?sslmode=…]`),
    /// applies the migrations the database lacks and opens the pool.
    ///
    /// TLS (`sslmode=prefer`, the default, or `require`) verifies the server's certificate and
    /// name against the system's trust store; [`Store::open_with_ca`] names a private CA.
    pub fn open(url: &str) -> Result<Store, Error> {
        Self::open_with(url, None, migrations::latest())
    }

    /// [`Store::open`], trusting the CA certificates in `ca_file` (PEM) for the server's.
    pub fn open_with_ca(url: &str, ca_file: Option<&std::path::Path>) -> Result<Store, Error> {
        Self::open_with(url, ca_file, migrations::latest())
    }

    /// [`Store::open`], migrating only up to `version` (tests of the migrations).
    pub fn open_at(url: &str, version: i32) -> Result<Store, Error> {
        Self::open_with(url, None, version)
    }

    fn open_with(
        url: &str,
        ca_file: Option<&std::path::Path>,
        version: i32,
    ) -> Result<Store, Error> {
        let mut config = Config::from_str(url).map_err(|e| Error::Url(redact(&e.to_string())))?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        config.keepalives(true).keepalives_idle(Duration::from_secs(30));
        if config.get_application_name().is_none() {
            config.application_name("veranda");
        }
        let tls = tls(ca_file)?;
        let mut client = connect(&config, tls.clone())?;
        migrations::migrate(&mut client, version)?;
        let schema = migrations::current_version(&mut client)?;
        let committed = read_counter(&mut client)?;
        drop(client);
        Ok(Store {
            pool: pool::Pool::new(
                config.clone(),
                tls.clone(),
                POOL_SIZE,
                STATEMENT_TIMEOUT + CONNECT_TIMEOUT,
            ),
            locks: locks::Locks::new(
                config.clone(),
                tls.clone(),
                STATEMENT_TIMEOUT + CONNECT_TIMEOUT,
            ),
            config,
            tls,
            claim: std::sync::Mutex::new(None),
            listener: std::sync::Mutex::new(None),
            schema,
            committed_rv: AtomicI64::new(committed),
        })
    }

    /// Makes this store the only one of its database: a second store that claims it fails
    /// with [`Error::InUse`] naming this one (`who`, e.g. `veranda pid 42 on host-a`), after
    /// waiting up to `wait` for a previous holder's session to end. Held until the store is
    /// dropped; if another takes it while the database restarts, writes fail with
    /// [`Error::Lost`].
    pub fn claim(&self, who: &str, wait: Duration) -> Result<(), Error> {
        let taken = claim::take(&self.config, &self.tls, who, wait)?;
        if let Ok(mut slot) = self.claim.lock() {
            *slot = Some(taken);
        }
        Ok(())
    }

    /// Fails once another server holds the database.
    fn check_claim(&self) -> Result<(), Error> {
        match self.claim.lock() {
            Ok(slot) if slot.as_ref().is_some_and(claim::Claim::is_lost) => Err(Error::Lost),
            _ => Ok(()),
        }
    }

    fn seen(&self, rv: i64) {
        self.committed_rv.fetch_max(rv, Ordering::AcqRel);
    }

    /// The last assigned resourceVersion this store has seen committed.
    pub fn current_resource_version(&self) -> i64 {
        self.committed_rv.load(Ordering::Acquire)
    }

    /// The database's counter now (one read; what a consistent read waits for).
    pub fn database_resource_version(&self) -> Result<i64, Error> {
        let rv = self.pool.read(|c| read_counter(&mut c.client))?;
        self.seen(rv);
        Ok(rv)
    }

    /// Reserves `n` consecutive resourceVersions and returns the first.
    pub fn reserve_resource_versions(&self, n: i64) -> Result<i64, Error> {
        self.check_claim()?;
        let first = self.pool.run(move |c| {
            let mut tx = c.client.transaction()?;
            let first = next_rv(&mut tx, n)?;
            // Wakes the other servers' followers: events may wait for this version.
            tx.execute("SELECT pg_notify('veranda_changes', 'counters')", &[])?;
            tx.commit()?;
            Ok(first)
        })?;
        self.seen(first + n - 1);
        Ok(first)
    }

    /// All rows of `table`, ordered by namespace and name.
    pub fn list_objects(&self, table: ObjectTable) -> Result<Vec<ObjectRow>, Error> {
        let sql = format!(
            "SELECT namespace, name, object, resource_version FROM {} ORDER BY namespace, name",
            table_name(table)
        );
        self.pool.read(move |c| {
            let statement = c.prepared(&sql)?;
            Ok(c.client.query(&statement, &[])?.iter().map(object_row).collect())
        })
    }

    /// One row of `table`.
    pub fn get_object(
        &self,
        table: ObjectTable,
        namespace: &str,
        name: &str,
    ) -> Result<Option<ObjectRow>, Error> {
        let sql = format!(
            "SELECT namespace, name, object, resource_version FROM {} \
             WHERE namespace = $1 AND name = $2",
            table_name(table)
        );
        let (namespace, name) = (namespace.to_string(), name.to_string());
        self.pool.read(move |c| {
            let statement = c.prepared(&sql)?;
            Ok(c.client.query_opt(&statement, &[&namespace, &name])?.map(|r| object_row(&r)))
        })
    }

    /// Inserts or replaces an object; `make` builds it from the assigned resourceVersion.
    ///
    /// `make` runs on the caller's thread while the worker holds the transaction open: the
    /// worker sends the resourceVersion, the caller answers with the object.
    pub fn put_object(
        &self,
        table: ObjectTable,
        namespace: &str,
        name: &str,
        make: &mut dyn FnMut(i64) -> String,
    ) -> Result<ObjectRow, Error> {
        self.check_claim()?;
        let sql = format!(
            "INSERT INTO {} (namespace, name, object, resource_version) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (namespace, name) DO UPDATE \
             SET object = EXCLUDED.object, resource_version = EXCLUDED.resource_version",
            table_name(table)
        );
        let (namespace, name) = (namespace.to_string(), name.to_string());
        let (rv_tx, rv_rx) = mpsc::sync_channel::<i64>(1);
        let (object_tx, object_rx) = mpsc::sync_channel::<String>(1);
        let wait = self.pool.wait();
        let answer = self.pool.start(move |worker| {
            worker.with(|c| {
                let upsert = c.prepared(&sql)?;
                let mut tx = c.client.transaction()?;
                let rv = next_rv(&mut tx, 1)?;
                rv_tx.send(rv).map_err(|_| Error::Gone("the caller went away"))?;
                // Dropped without an object (the caller failed): the transaction rolls back.
                let object = object_rx.recv_timeout(wait).map_err(|_| Error::Gone("no object"))?;
                tx.execute(&upsert, &[&namespace, &name, &object, &rv])?;
                tx.commit()?;
                Ok(ObjectRow { namespace, name, object, resource_version: rv })
            })
        })?;
        let timeout = |e| match e {
            mpsc::RecvTimeoutError::Timeout => Error::Timeout(wait),
            mpsc::RecvTimeoutError::Disconnected => Error::Gone("the database worker stopped"),
        };
        match rv_rx.recv_timeout(wait) {
            Ok(rv) => {
                let _ = object_tx.send(make(rv));
            }
            // The worker failed before it had a version: its answer says why.
            Err(mpsc::RecvTimeoutError::Disconnected) => {}
            Err(e) => return Err(timeout(e)),
        }
        let row = answer.recv_timeout(wait).map_err(timeout)??;
        self.seen(row.resource_version);
        Ok(row)
    }

    /// Deletes an object; returns whether it existed.
    pub fn delete_object(
        &self,
        table: ObjectTable,
        namespace: &str,
        name: &str,
    ) -> Result<bool, Error> {
        self.check_claim()?;
        let sql = format!("DELETE FROM {} WHERE namespace = $1 AND name = $2", table_name(table));
        let (namespace, name) = (namespace.to_string(), name.to_string());
        self.pool
            .run(move |c| {
                let delete = c.prepared(&sql)?;
                let mut tx = c.client.transaction()?;
                lock_counter(&mut tx)?;
                let n = tx.execute(&delete, &[&namespace, &name])?;
                // The feed's trigger took a version for the delete (schema 5).
                let counter = current_rv(&mut tx)?;
                tx.commit()?;
                Ok((n > 0, counter))
            })
            .map(|(existed, counter)| {
                self.seen(counter);
                existed
            })
    }

    /// Metadata rows of one repository.
    pub fn list_revisions(
        &self,
        namespace: &str,
        repository: &str,
    ) -> Result<Vec<RevisionRow>, Error> {
        let (namespace, repository) = (namespace.to_string(), repository.to_string());
        self.pool.read(move |c| {
            let list = c.prepared(
                "SELECT namespace, name, repository, meta, resource_version, fingerprint
                 FROM package_revisions WHERE namespace = $1 AND repository = $2",
            )?;
            let rows = c.client.query(&list, &[&namespace, &repository])?;
            Ok(rows.iter().map(revision_row).collect())
        })
    }

    /// Applies changes in one transaction: [`veranda_storage::Store::apply_all`], the rows
    /// as written only.
    pub fn apply(&self, changes: Vec<Change>) -> Result<Vec<RevisionRow>, Error> {
        self.apply_all(changes).map(|applied| applied.rows)
    }

    /// Applies changes in one transaction; each `PutRevision` gets a fresh resourceVersion, in
    /// order, then each `DeleteRevision`.
    pub fn apply_all(&self, changes: Vec<Change>) -> Result<Applied, Error> {
        self.check_claim()?;
        if changes.is_empty() {
            return Ok(Applied::default());
        }
        // A write with preconditions checks them in its transaction, statement by statement.
        let guarded = changes.iter().any(|c| matches!(c, Change::Expect { .. }));
        // From schema 5 the feed's trigger gives each deleted row its version.
        let triggered = self.schema >= 5;
        let applied = match triggered && !guarded {
            true => self.pool.run(move |c| apply_in_one_call(c, changes))?,
            false => self.pool.run(move |c| apply_statements(c, changes, triggered))?,
        };
        let last = applied.rows.iter().map(|r| r.resource_version);
        if let Some(last) = last.chain(applied.deleted.iter().map(|d| d.1)).max() {
            self.seen(last);
        }
        Ok(applied)
    }

    /// Removes every revision row of a repository.
    pub fn delete_repository_revisions(
        &self,
        namespace: &str,
        repository: &str,
    ) -> Result<(), Error> {
        self.check_claim()?;
        let (namespace, repository) = (namespace.to_string(), repository.to_string());
        self.pool
            .run(move |c| {
                let mut tx = c.client.transaction()?;
                lock_counter(&mut tx)?;
                tx.execute(
                    "DELETE FROM package_revisions WHERE namespace = $1 AND repository = $2",
                    &[&namespace, &repository],
                )?;
                let counter = current_rv(&mut tx)?;
                tx.commit()?;
                Ok(counter)
            })
            .map(|counter| self.seen(counter))
    }

    /// The change feed after `seq`, oldest first, at most `limit` entries.
    pub fn changes_since(&self, seq: i64, limit: i64) -> Result<Vec<FeedEntry>, Error> {
        Ok(self.read_feed(seq, limit)?.entries)
    }

    /// [`veranda_storage::Store::read_feed`]: the feed and the counter in one statement, so
    /// one snapshot (every transaction that took a version up to the counter has committed,
    /// and its feed rows are in the snapshot).
    pub fn read_feed(&self, seq: i64, limit: i64) -> Result<FeedRead, Error> {
        let (counter, rows, entries) = self.pool.read(move |c| {
            let query = c.prepared(
                "SELECT k.value, ch.seq, ch.resource_version, ch.kind, ch.namespace, ch.name, ch.op
                 FROM (SELECT value FROM counters WHERE name = 'resource_version') AS k
                 LEFT JOIN LATERAL (SELECT * FROM changes WHERE seq > $1 ORDER BY seq LIMIT $2)
                   AS ch ON true
                 ORDER BY ch.seq",
            )?;
            let rows = c.client.query(&query, &[&seq, &limit])?;
            let counter: i64 = rows.first().map_or(0, |r| r.get(0));
            let read = rows.iter().filter(|r| r.get::<_, Option<i64>>(1).is_some()).count();
            let entries = rows
                .iter()
                .filter_map(|r| {
                    Some(FeedEntry {
                        seq: r.get::<_, Option<i64>>(1)?,
                        resource_version: r.get::<_, Option<i64>>(2)?,
                        table: feed_table(r.get::<_, Option<&str>>(3)?)?,
                        namespace: r.get::<_, Option<String>>(4)?,
                        name: r.get::<_, Option<String>>(5)?,
                        deleted: r.get::<_, Option<String>>(6)?.as_str() == "delete",
                    })
                })
                .collect::<Vec<_>>();
            Ok((counter, read as i64, entries))
        })?;
        self.seen(counter);
        Ok(FeedRead { entries, position: (rows < limit).then_some(counter) })
    }

    /// The version of the latest delete of a revision row in the feed, if above `after`.
    pub fn deleted_version(
        &self,
        namespace: &str,
        name: &str,
        after: i64,
    ) -> Result<Option<i64>, Error> {
        let (namespace, name) = (namespace.to_string(), name.to_string());
        self.pool.read(move |c| {
            let query = c.prepared(
                "SELECT max(resource_version) FROM changes WHERE namespace = $1 AND name = $2
                 AND op = 'delete' AND kind = 'package_revisions'",
            )?;
            let found: Option<i64> = c.client.query_one(&query, &[&namespace, &name])?.get(0);
            Ok(found.filter(|rv| *rv > after))
        })
    }

    /// The position of the feed's last entry (0 when it is empty).
    pub fn feed_position(&self) -> Result<i64, Error> {
        self.pool.read(move |c| {
            let query = c.prepared("SELECT COALESCE(MAX(seq), 0) FROM changes")?;
            Ok(c.client.query_one(&query, &[])?.get(0))
        })
    }

    /// The metadata rows of these revisions that exist.
    pub fn get_revisions(
        &self,
        namespace: &str,
        names: &[String],
    ) -> Result<Vec<RevisionRow>, Error> {
        let (namespace, names) = (namespace.to_string(), names.to_vec());
        self.pool.read(move |c| {
            let query = c.prepared(
                "SELECT namespace, name, repository, meta, resource_version, fingerprint
                 FROM package_revisions WHERE namespace = $1 AND name = ANY($2)",
            )?;
            let rows = c.client.query(&query, &[&namespace, &names])?;
            Ok(rows.iter().map(revision_row).collect())
        })
    }

    /// Blocks until `veranda_changes` is notified or `timeout` passes. The notification only
    /// wakes the caller: [`Store::changes_since`] says what changed, so one lost while the
    /// listener reconnects delays, never loses, a change.
    pub fn wait_for_changes(&self, timeout: Duration) {
        let mut listener = self.listener.lock().unwrap_or_else(|e| e.into_inner());
        if listener.is_none() {
            match connect(&self.config, self.tls.clone()).and_then(|mut c| {
                c.batch_execute("LISTEN veranda_changes").map(|()| c).map_err(Error::from)
            }) {
                Ok(client) => *listener = Some(client),
                Err(_) => {
                    // The database is down: the caller reads the feed when it is back.
                    drop(listener);
                    std::thread::sleep(timeout);
                    return;
                }
            }
        }
        let Some(client) = listener.as_mut() else { return };
        let broken = {
            use postgres::fallible_iterator::FallibleIterator;
            let mut notifications = client.notifications();
            let broken = notifications.timeout_iter(timeout).next().is_err();
            // Everything already delivered is covered by the same read of the feed.
            while let Ok(Some(_)) = notifications.iter().next() {}
            broken
        };
        if broken || client.is_closed() {
            // The next wait opens a new one.
            *listener = None;
        }
    }
}

pub use veranda_storage::{FeedEntry, FeedRead, FeedTable};

fn feed_table(kind: &str) -> Option<FeedTable> {
    Some(match kind {
        "package_revisions" => FeedTable::Revisions,
        "repositories" => FeedTable::Object(ObjectTable::Repositories),
        "packages" => FeedTable::Object(ObjectTable::Packages),
        "secrets" => FeedTable::Object(ObjectTable::Secrets),
        "roles" => FeedTable::Object(ObjectTable::Roles),
        "cluster_roles" => FeedTable::Object(ObjectTable::ClusterRoles),
        "role_bindings" => FeedTable::Object(ObjectTable::RoleBindings),
        "cluster_role_bindings" => FeedTable::Object(ObjectTable::ClusterRoleBindings),
        _ => return None,
    })
}

/// [`Store::apply_all`] as one call of `veranda_apply` (schema 5): one round trip.
fn apply_in_one_call(c: &mut pool::Conn, changes: Vec<Change>) -> Result<Applied, Error> {
    let call = c.prepared("SELECT veranda_apply($1, $2, $3, $4, $5, $6)")?;
    let n = changes.len();
    let (mut ops, mut namespaces, mut names) =
        (Vec::with_capacity(n), Vec::with_capacity(n), Vec::with_capacity(n));
    let (mut repositories, mut metas, mut fingerprints) =
        (Vec::with_capacity(n), Vec::with_capacity(n), Vec::with_capacity(n));
    let (mut puts, mut deleted) = (Vec::new(), Vec::new());
    for change in changes {
        match change {
            Change::PutRevision(row) => {
                ops.push("put");
                namespaces.push(row.namespace.clone());
                names.push(row.name.clone());
                repositories.push(row.repository.clone());
                metas.push(row.meta.clone());
                fingerprints.push(row.fingerprint.clone());
                puts.push(row);
            }
            // Routed to `apply_statements` (see `Store::apply`).
            Change::Expect { .. } => {}
            Change::DeleteRevision { namespace, name } => {
                ops.push("delete");
                namespaces.push(namespace);
                deleted.push(name.clone());
                names.push(name);
                repositories.push(String::new());
                metas.push(String::new());
                fingerprints.push(String::new());
            }
        }
    }
    let first: i64 = c
        .client
        .query_one(&call, &[&ops, &namespaces, &names, &repositories, &metas, &fingerprints])?
        .get(0);
    // Puts take `first..`, then the deletes the versions after them, in order.
    let deleted_from = first + puts.len() as i64;
    let rows = puts
        .into_iter()
        .zip(first..)
        .map(|(mut row, rv)| {
            row.resource_version = rv;
            row
        })
        .collect();
    Ok(Applied { rows, deleted: deleted.into_iter().zip(deleted_from..).collect() })
}

/// [`Store::apply_all`] statement by statement in a transaction (a write with preconditions,
/// and schemas before 5). `triggered`: the feed's trigger gives a deleted row its version
/// (schema 5); otherwise each delete takes one here.
fn apply_statements(
    c: &mut pool::Conn,
    changes: Vec<Change>,
    triggered: bool,
) -> Result<Applied, Error> {
    let put = c.prepared(
        "INSERT INTO package_revisions
         (namespace, name, repository, meta, resource_version, fingerprint)
         VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (namespace, name) DO UPDATE SET repository = EXCLUDED.repository,
           meta = EXCLUDED.meta, resource_version = EXCLUDED.resource_version,
           fingerprint = EXCLUDED.fingerprint",
    )?;
    let delete = c.prepared("DELETE FROM package_revisions WHERE namespace = $1 AND name = $2")?;
    let expect = c.prepared(
        "SELECT resource_version FROM package_revisions WHERE namespace = $1 AND name = $2",
    )?;
    let mut tx = c.client.transaction()?;
    let puts = changes.iter().filter(|ch| ch.is_put()).count() as i64;
    // The counter's lock first, always: it orders every writer (and the feed).
    let mut rv = if puts > 0 { next_rv(&mut tx, puts)? } else { lock_counter(&mut tx)? + 1 };
    // Deletes take the versions after the puts, one each, in order: by the feed's trigger
    // for a row deleted (schema 5), here otherwise.
    let mut deleted_rv = rv + puts;
    for change in &changes {
        if let Change::Expect { namespace, name, resource_version } = change {
            let found: Option<i64> = tx.query_opt(&expect, &[namespace, name])?.map(|r| r.get(0));
            if found != *resource_version {
                // Dropping the transaction rolls it back: nothing is applied.
                return Err(Error::Conflict(format!(
                    "revision {name} is at resourceVersion {found:?}, not {resource_version:?}"
                )));
            }
        }
    }
    let mut written = Applied::default();
    for change in changes {
        match change {
            Change::PutRevision(mut row) => {
                row.resource_version = rv;
                rv += 1;
                tx.execute(
                    &put,
                    &[
                        &row.namespace,
                        &row.name,
                        &row.repository,
                        &row.meta,
                        &row.resource_version,
                        &row.fingerprint,
                    ],
                )?;
                written.rows.push(row);
            }
            Change::DeleteRevision { namespace, name } => {
                if triggered {
                    if tx.execute(&delete, &[&namespace, &name])? == 0 {
                        next_rv(&mut tx, 1)?;
                    }
                } else {
                    // Taken first: the older trigger records the counter as it is.
                    next_rv(&mut tx, 1)?;
                    tx.execute(&delete, &[&namespace, &name])?;
                }
                written.deleted.push((name, deleted_rv));
                deleted_rv += 1;
            }
            Change::Expect { .. } => {}
        }
    }
    tx.commit()?;
    Ok(written)
}

fn tls(ca_file: Option<&std::path::Path>) -> Result<MakeTlsConnector, Error> {
    let mut builder = openssl::ssl::SslConnector::builder(openssl::ssl::SslMethod::tls())
        .map_err(|e| Error::Url(format!("TLS setup: {e}")))?;
    if let Some(file) = ca_file {
        builder
            .set_ca_file(file)
            .map_err(|e| Error::Url(format!("read the CA file {}: {e}", file.display())))?;
    }
    Ok(MakeTlsConnector::new(builder.build()))
}

/// Connection attempts given up on and still waiting on a silent server, at most.
const MAX_ABANDONED: isize = POOL_SIZE as isize + 2;
static ABANDONED: std::sync::atomic::AtomicIsize = std::sync::atomic::AtomicIsize::new(0);

/// Opens one connection with the session settings every connection has, within the connect
/// timeout for the whole handshake.
///
/// The client's own `connect_timeout` bounds only the TCP connect: a server that accepts and
/// then says nothing would hold the caller forever. The handshake runs on a thread of its own
/// and the caller waits for it at most the timeout. A thread given up on ends when its socket
/// does; while [`MAX_ABANDONED`] of them are still waiting, new attempts fail at once.
fn connect(config: &Config, tls: MakeTlsConnector) -> Result<Client, Error> {
    let limit = config.get_connect_timeout().copied().unwrap_or(CONNECT_TIMEOUT);
    if ABANDONED.load(Ordering::Acquire) >= MAX_ABANDONED {
        return Err(Error::Timeout(limit));
    }
    let (tx, rx) = mpsc::sync_channel(1);
    // Set first by the caller giving up or by the thread finishing; whichever comes second
    // finds it set and settles the count of abandoned attempts.
    let settled = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (config, thread_settled) = (config.clone(), settled.clone());
    let spawned = std::thread::Builder::new().name("veranda-pg-connect".into()).spawn(move || {
        let opened = open_session(&config, tls);
        if thread_settled.swap(true, Ordering::AcqRel) {
            ABANDONED.fetch_sub(1, Ordering::AcqRel);
        }
        // A caller that gave up has dropped the receiver: the client is closed here.
        let _ = tx.send(opened);
    });
    if spawned.is_err() {
        return Err(Error::Gone("could not start a connection thread"));
    }
    match rx.recv_timeout(limit) {
        Ok(opened) => opened,
        Err(mpsc::RecvTimeoutError::Timeout) => {
            if !settled.swap(true, Ordering::AcqRel) {
                ABANDONED.fetch_add(1, Ordering::AcqRel);
            }
            Err(Error::Timeout(limit))
        }
        Err(mpsc::RecvTimeoutError::Disconnected) => Err(Error::Gone("the connection thread died")),
    }
}

fn open_session(config: &Config, tls: MakeTlsConnector) -> Result<Client, Error> {
    let mut client = config.connect(tls)?;
    client.batch_execute(&format!(
        "SET statement_timeout = {}; SET lock_timeout = {}; \
         SET idle_in_transaction_session_timeout = {}",
        STATEMENT_TIMEOUT.as_millis(),
        STATEMENT_TIMEOUT.as_millis(),
        (STATEMENT_TIMEOUT * 2).as_millis()
    ))?;
    Ok(client)
}

/// A configuration error's text without anything that looks like the URL's password.
fn redact(message: &str) -> String {
    match message.find("://") {
        Some(_) => "invalid connection URL".to_string(),
        None => message.to_string(),
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

fn read_counter(c: &mut impl GenericClient) -> Result<i64, Error> {
    Ok(c.query_one("SELECT value FROM counters WHERE name = 'resource_version'", &[])?.get(0))
}

/// Takes the counter row's lock (held to the end of the transaction); returns its value.
fn lock_counter(c: &mut impl GenericClient) -> Result<i64, Error> {
    Ok(c.query_one("SELECT value FROM counters WHERE name = 'resource_version' FOR UPDATE", &[])?
        .get(0))
}

fn current_rv(c: &mut impl GenericClient) -> Result<i64, Error> {
    Ok(c.query_one("SELECT value FROM counters WHERE name = 'resource_version'", &[])?.get(0))
}

fn next_rv(c: &mut impl GenericClient, n: i64) -> Result<i64, Error> {
    let last: i64 = c
        .query_one(
            "UPDATE counters SET value = value + $1 WHERE name = 'resource_version' RETURNING value",
            &[&n],
        )?
        .get(0);
    Ok(last - n + 1)
}

fn object_row(r: &postgres::Row) -> ObjectRow {
    ObjectRow { namespace: r.get(0), name: r.get(1), object: r.get(2), resource_version: r.get(3) }
}

fn revision_row(r: &postgres::Row) -> RevisionRow {
    RevisionRow {
        namespace: r.get(0),
        name: r.get(1),
        repository: r.get(2),
        meta: r.get(3),
        resource_version: r.get(4),
        fingerprint: r.get(5),
    }
}

impl veranda_storage::Store for Store {
    fn current_resource_version(&self) -> Result<i64, veranda_storage::Error> {
        Ok(Store::current_resource_version(self))
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

    fn shared(&self) -> bool {
        true
    }

    fn changes_since(
        &self,
        seq: i64,
        limit: i64,
    ) -> Result<Vec<FeedEntry>, veranda_storage::Error> {
        Ok(Store::changes_since(self, seq, limit)?)
    }

    fn read_feed(&self, seq: i64, limit: i64) -> Result<FeedRead, veranda_storage::Error> {
        Ok(Store::read_feed(self, seq, limit)?)
    }

    fn feed_position(&self) -> Result<i64, veranda_storage::Error> {
        Ok(Store::feed_position(self)?)
    }

    fn deleted_version(
        &self,
        namespace: &str,
        name: &str,
        after: i64,
    ) -> Result<Option<i64>, veranda_storage::Error> {
        Ok(Store::deleted_version(self, namespace, name, after)?)
    }

    fn wait_for_changes(&self, timeout: Duration) {
        Store::wait_for_changes(self, timeout)
    }

    fn try_lock(
        &self,
        name: &str,
    ) -> Result<Option<veranda_storage::SharedLock>, veranda_storage::Error> {
        Ok(self.locks.try_lock(name)?.map(|g| Box::new(g) as veranda_storage::SharedLock))
    }
}
