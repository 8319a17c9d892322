//! Copying one store into another (`veranda store copy`): every registered object and every
//! revision row of every registered repository, through the [`Store`] trait, so any pair of
//! backends works (SQLite into PostgreSQL, the way from the embedded store to a shared one).
//!
//! The target's counter is first moved past the source's, so every copied row gets a
//! resourceVersion newer than any a client saw from the source: a watch resumed from an old
//! version gets 410 and re-lists instead of missing changes. Secrets are copied as sealed
//! text, so the target server needs the same key.

use crate::{Change, Error, ErrorKind, ObjectTable, Store};

/// Every table of registered objects, in the order they are copied.
const TABLES: [ObjectTable; 8] = [
    ObjectTable::Repositories,
    ObjectTable::Packages,
    ObjectTable::Secrets,
    ObjectTable::Roles,
    ObjectTable::ClusterRoles,
    ObjectTable::RoleBindings,
    ObjectTable::ClusterRoleBindings,
    ObjectTable::ServerIdentity,
];

/// What a copy wrote.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Copied {
    /// Registered objects, per table, in the order of [`TABLES`].
    pub objects: Vec<(ObjectTable, usize)>,
    /// Revision rows.
    pub revisions: usize,
}

/// Copies everything in `from` into `to`, which must be empty (no object in any table).
pub fn copy(from: &dyn Store, to: &dyn Store) -> Result<Copied, Error> {
    for table in TABLES {
        if !to.list_objects(table)?.is_empty() {
            return Err(Error::new(
                ErrorKind::Other,
                format!(
                    "the target store is not empty (it holds {table:?}); copy into an empty one, \
                     before any server starts on it"
                ),
            ));
        }
    }
    let past = from.current_resource_version()? - to.current_resource_version()?;
    if past > 0 {
        to.reserve_resource_versions(past)?;
    }
    let mut copied = Copied::default();
    for table in TABLES {
        let rows = from.list_objects(table)?;
        for row in &rows {
            to.put_object(table, &row.namespace, &row.name, &mut |_| row.object.clone())?;
        }
        copied.objects.push((table, rows.len()));
    }
    for repository in from.list_objects(ObjectTable::Repositories)? {
        let rows = from.list_revisions(&repository.namespace, &repository.name)?;
        copied.revisions += rows.len();
        to.apply(rows.into_iter().map(Change::PutRevision).collect())?;
    }
    Ok(copied)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{RevisionRow, memory::MemoryStore};

    fn revision(repository: &str, name: &str) -> RevisionRow {
        RevisionRow {
            namespace: "ns".into(),
            name: name.into(),
            repository: repository.into(),
            meta: format!("{{\"labels\":{{\"n\":\"{name}\"}}}}"),
            resource_version: 0,
            fingerprint: "f".into(),
        }
    }

    #[test]
    fn everything_is_copied_with_newer_versions_into_an_empty_store_only() {
        let from = MemoryStore::default();
        from.put_object(ObjectTable::Repositories, "ns", "r", &mut |_| "{\"repo\":1}".into())
            .unwrap();
        from.put_object(ObjectTable::Secrets, "ns", "s", &mut |_| "v1:sealed".into()).unwrap();
        from.put_object(ObjectTable::ClusterRoles, "", "c", &mut |_| "{}".into()).unwrap();
        from.apply(vec![
            Change::PutRevision(revision("r", "a")),
            Change::PutRevision(revision("r", "b")),
        ])
        .unwrap();
        // A row of a repository no longer registered is not worth copying.
        from.apply(vec![Change::PutRevision(revision("gone", "x"))]).unwrap();
        let last = from.current_resource_version().unwrap();

        let to = MemoryStore::default();
        let copied = copy(&from, &to).unwrap();
        assert_eq!(copied.revisions, 2);
        assert!(copied.objects.contains(&(ObjectTable::Secrets, 1)), "{copied:?}");
        let secret = to.get_object(ObjectTable::Secrets, "ns", "s").unwrap().unwrap();
        assert_eq!(secret.object, "v1:sealed", "copied sealed, as it was");
        assert!(secret.resource_version > last, "newer than anything the source gave out");
        let mut rows = to.list_revisions("ns", "r").unwrap();
        rows.sort_by(|a, b| a.name.cmp(&b.name));
        assert_eq!(
            rows.iter().map(|r| r.meta.as_str()).collect::<Vec<_>>(),
            ["{\"labels\":{\"n\":\"a\"}}", "{\"labels\":{\"n\":\"b\"}}"]
        );
        assert!(rows.iter().all(|r| r.resource_version > last));
        assert!(to.list_revisions("ns", "gone").unwrap().is_empty());

        let e = copy(&from, &to).expect_err("a second copy into a filled store");
        assert!(e.to_string().contains("not empty"), "{e}");
    }
}
