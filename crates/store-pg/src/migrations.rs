//! The schema, as versioned forward-only migrations.
//!
//! A migration is never edited once released: a change is a new entry at the end. Start-up
//! applies the missing ones in order, each in its own transaction with its row in
//! `schema_migrations`, under an advisory lock so that replicas starting together migrate once.
//! A database a newer binary migrated further is refused.

use postgres::Client;

use crate::Error;

/// The key of the advisory lock held while migrating (any constant unique to veranda).
const MIGRATION_LOCK: i64 = 0x7665_7261_6e64_6101;

/// One schema step.
pub struct Migration {
    pub version: i32,
    pub description: &'static str,
    pub sql: &'static str,
}

/// Every migration, in order.
pub const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        description: "the store's tables",
        sql: "
CREATE TABLE counters (name TEXT PRIMARY KEY, value BIGINT NOT NULL);
INSERT INTO counters (name, value) VALUES ('resource_version', 0);
CREATE TABLE repositories (
    namespace TEXT NOT NULL, name TEXT NOT NULL, object TEXT NOT NULL,
    resource_version BIGINT NOT NULL, PRIMARY KEY (namespace, name));
CREATE TABLE packages (
    namespace TEXT NOT NULL, name TEXT NOT NULL, object TEXT NOT NULL,
    resource_version BIGINT NOT NULL, PRIMARY KEY (namespace, name));
CREATE TABLE secrets (
    namespace TEXT NOT NULL, name TEXT NOT NULL, object TEXT NOT NULL,
    resource_version BIGINT NOT NULL, PRIMARY KEY (namespace, name));
CREATE TABLE roles (
    namespace TEXT NOT NULL, name TEXT NOT NULL, object TEXT NOT NULL,
    resource_version BIGINT NOT NULL, PRIMARY KEY (namespace, name));
CREATE TABLE cluster_roles (
    namespace TEXT NOT NULL, name TEXT NOT NULL, object TEXT NOT NULL,
    resource_version BIGINT NOT NULL, PRIMARY KEY (namespace, name));
CREATE TABLE role_bindings (
    namespace TEXT NOT NULL, name TEXT NOT NULL, object TEXT NOT NULL,
    resource_version BIGINT NOT NULL, PRIMARY KEY (namespace, name));
CREATE TABLE cluster_role_bindings (
    namespace TEXT NOT NULL, name TEXT NOT NULL, object TEXT NOT NULL,
    resource_version BIGINT NOT NULL, PRIMARY KEY (namespace, name));
CREATE TABLE package_revisions (
    namespace TEXT NOT NULL, name TEXT NOT NULL, repository TEXT NOT NULL,
    meta TEXT NOT NULL, resource_version BIGINT NOT NULL, fingerprint TEXT NOT NULL,
    PRIMARY KEY (namespace, name));
CREATE INDEX package_revisions_repo ON package_revisions (namespace, repository);
",
    },
    Migration {
        version: 2,
        description: "the change feed: a row per changed object, and a notification",
        // Every writing transaction holds the counter row's lock (the store takes it first),
        // so `seq` order is commit order and a reader of `seq > last` misses nothing.
        sql: "
CREATE TABLE changes (
    seq BIGSERIAL PRIMARY KEY,
    resource_version BIGINT NOT NULL,
    kind TEXT NOT NULL,
    namespace TEXT NOT NULL,
    name TEXT NOT NULL,
    op TEXT NOT NULL CHECK (op IN ('put', 'delete')),
    at TIMESTAMPTZ NOT NULL DEFAULT now());
CREATE INDEX changes_at ON changes (at);
CREATE FUNCTION veranda_record_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        INSERT INTO changes (resource_version, kind, namespace, name, op)
        VALUES ((SELECT value FROM counters WHERE name = 'resource_version'),
                TG_TABLE_NAME, OLD.namespace, OLD.name, 'delete');
    ELSE
        INSERT INTO changes (resource_version, kind, namespace, name, op)
        VALUES (NEW.resource_version, TG_TABLE_NAME, NEW.namespace, NEW.name, 'put');
    END IF;
    PERFORM pg_notify('veranda_changes', TG_TABLE_NAME);
    RETURN NULL;
END
$$;
CREATE TRIGGER repositories_changes AFTER INSERT OR UPDATE OR DELETE ON repositories
    FOR EACH ROW EXECUTE FUNCTION veranda_record_change();
CREATE TRIGGER packages_changes AFTER INSERT OR UPDATE OR DELETE ON packages
    FOR EACH ROW EXECUTE FUNCTION veranda_record_change();
CREATE TRIGGER secrets_changes AFTER INSERT OR UPDATE OR DELETE ON secrets
    FOR EACH ROW EXECUTE FUNCTION veranda_record_change();
CREATE TRIGGER roles_changes AFTER INSERT OR UPDATE OR DELETE ON roles
    FOR EACH ROW EXECUTE FUNCTION veranda_record_change();
CREATE TRIGGER cluster_roles_changes AFTER INSERT OR UPDATE OR DELETE ON cluster_roles
    FOR EACH ROW EXECUTE FUNCTION veranda_record_change();
CREATE TRIGGER role_bindings_changes AFTER INSERT OR UPDATE OR DELETE ON role_bindings
    FOR EACH ROW EXECUTE FUNCTION veranda_record_change();
CREATE TRIGGER cluster_role_bindings_changes AFTER INSERT OR UPDATE OR DELETE
    ON cluster_role_bindings FOR EACH ROW EXECUTE FUNCTION veranda_record_change();
CREATE TRIGGER package_revisions_changes AFTER INSERT OR UPDATE OR DELETE ON package_revisions
    FOR EACH ROW EXECUTE FUNCTION veranda_record_change();
",
    },
    Migration {
        version: 3,
        description: "apply in one round trip: the revision rows of a write in one function call",
        // The same steps as the store's statement-by-statement path: the counter first (its
        // lock orders every writer), then each change in order.
        sql: "
CREATE FUNCTION veranda_apply(ops TEXT[], namespaces TEXT[], names TEXT[], repositories TEXT[],
                              metas TEXT[], fingerprints TEXT[]) RETURNS BIGINT
LANGUAGE plpgsql AS $$
DECLARE
    puts BIGINT := (SELECT count(*) FROM unnest(ops) AS o WHERE o = 'put');
    first BIGINT := 0;
    rv BIGINT;
BEGIN
    IF puts > 0 THEN
        UPDATE counters SET value = value + puts WHERE name = 'resource_version'
        RETURNING value - puts + 1 INTO first;
    ELSE
        PERFORM value FROM counters WHERE name = 'resource_version' FOR UPDATE;
    END IF;
    rv := first;
    FOR i IN 1 .. coalesce(array_length(ops, 1), 0) LOOP
        IF ops[i] = 'put' THEN
            INSERT INTO package_revisions
                (namespace, name, repository, meta, resource_version, fingerprint)
            VALUES (namespaces[i], names[i], repositories[i], metas[i], rv, fingerprints[i])
            ON CONFLICT (namespace, name) DO UPDATE SET repository = EXCLUDED.repository,
                meta = EXCLUDED.meta, resource_version = EXCLUDED.resource_version,
                fingerprint = EXCLUDED.fingerprint;
            rv := rv + 1;
        ELSIF ops[i] = 'delete' THEN
            DELETE FROM package_revisions WHERE namespace = namespaces[i] AND name = names[i];
        ELSE
            RAISE EXCEPTION 'veranda_apply: unknown operation %', ops[i];
        END IF;
    END LOOP;
    RETURN first;
END
$$;
",
    },
    Migration {
        version: 4,
        description: "the server identity every replica shares (sealed; not in the feed)",
        sql: "
CREATE TABLE server_identity (
    namespace TEXT NOT NULL, name TEXT NOT NULL, object TEXT NOT NULL,
    resource_version BIGINT NOT NULL, PRIMARY KEY (namespace, name));
",
    },
    Migration {
        version: 5,
        description: "a delete takes a resourceVersion of its own, in its transaction",
        // A delete's feed row carried the counter as it was, shared with the write before it;
        // now each deleted row takes the next value (the writing transaction holds the
        // counter's lock already), so every server announces the delete with that version,
        // in feed order. `veranda_apply` returns the first version the call takes, puts first
        // and then deletes in order, a delete of an absent row taking one as well. The index
        // finds the delete another server made of a row (`Store::deleted_version`).
        sql: "
CREATE INDEX changes_deletes ON changes (namespace, name) WHERE op = 'delete';
CREATE OR REPLACE FUNCTION veranda_record_change() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    rv BIGINT;
BEGIN
    IF TG_OP = 'DELETE' THEN
        UPDATE counters SET value = value + 1 WHERE name = 'resource_version'
        RETURNING value INTO rv;
        INSERT INTO changes (resource_version, kind, namespace, name, op)
        VALUES (rv, TG_TABLE_NAME, OLD.namespace, OLD.name, 'delete');
    ELSE
        INSERT INTO changes (resource_version, kind, namespace, name, op)
        VALUES (NEW.resource_version, TG_TABLE_NAME, NEW.namespace, NEW.name, 'put');
    END IF;
    PERFORM pg_notify('veranda_changes', TG_TABLE_NAME);
    RETURN NULL;
END
$$;
CREATE OR REPLACE FUNCTION veranda_apply(ops TEXT[], namespaces TEXT[], names TEXT[],
                                         repositories TEXT[], metas TEXT[],
                                         fingerprints TEXT[]) RETURNS BIGINT
LANGUAGE plpgsql AS $$
DECLARE
    puts BIGINT := (SELECT count(*) FROM unnest(ops) AS o WHERE o = 'put');
    first BIGINT;
    rv BIGINT;
BEGIN
    -- Takes the counter's lock even when nothing is put: it orders every writer.
    UPDATE counters SET value = value + puts WHERE name = 'resource_version'
    RETURNING value - puts + 1 INTO first;
    rv := first;
    FOR i IN 1 .. coalesce(array_length(ops, 1), 0) LOOP
        IF ops[i] = 'put' THEN
            INSERT INTO package_revisions
                (namespace, name, repository, meta, resource_version, fingerprint)
            VALUES (namespaces[i], names[i], repositories[i], metas[i], rv, fingerprints[i])
            ON CONFLICT (namespace, name) DO UPDATE SET repository = EXCLUDED.repository,
                meta = EXCLUDED.meta, resource_version = EXCLUDED.resource_version,
                fingerprint = EXCLUDED.fingerprint;
            rv := rv + 1;
        ELSIF ops[i] = 'delete' THEN
            DELETE FROM package_revisions WHERE namespace = namespaces[i] AND name = names[i];
            IF NOT FOUND THEN
                UPDATE counters SET value = value + 1 WHERE name = 'resource_version';
            END IF;
        ELSE
            RAISE EXCEPTION 'veranda_apply: unknown operation %', ops[i];
        END IF;
    END LOOP;
    RETURN first;
END
$$;
",
    },
];

/// The newest schema version this binary knows.
pub fn latest() -> i32 {
    MIGRATIONS.last().map_or(0, |m| m.version)
}

/// Applies the migrations up to `target` that the database lacks; returns the versions applied.
pub fn migrate(client: &mut Client, target: i32) -> Result<Vec<i32>, Error> {
    client.execute("SELECT pg_advisory_lock($1)", &[&MIGRATION_LOCK])?;
    let result = migrate_locked(client, target);
    let unlocked = client.execute("SELECT pg_advisory_unlock($1)", &[&MIGRATION_LOCK]);
    let applied = result?;
    unlocked?;
    Ok(applied)
}

fn migrate_locked(client: &mut Client, target: i32) -> Result<Vec<i32>, Error> {
    client.batch_execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
             version INTEGER PRIMARY KEY,
             description TEXT NOT NULL,
             applied_at TIMESTAMPTZ NOT NULL DEFAULT now())",
    )?;
    let current = current_version(client)?;
    if current > latest() {
        return Err(Error::Schema(format!(
            "the database's schema is at version {current}, newer than this binary's {}: \
             run a veranda at least as new as the one that migrated it",
            latest()
        )));
    }
    let mut applied = Vec::new();
    for m in MIGRATIONS.iter().filter(|m| m.version > current && m.version <= target) {
        let mut tx = client.transaction()?;
        tx.batch_execute(m.sql)?;
        tx.execute(
            "INSERT INTO schema_migrations (version, description) VALUES ($1, $2)",
            &[&m.version, &m.description],
        )?;
        tx.commit()?;
        applied.push(m.version);
    }
    Ok(applied)
}

/// The highest version applied (0 for an empty database).
pub fn current_version(client: &mut Client) -> Result<i32, Error> {
    let row = client.query_one("SELECT COALESCE(MAX(version), 0) FROM schema_migrations", &[])?;
    Ok(row.get(0))
}
