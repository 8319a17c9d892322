//! Store round trips on a real SQLite file.

use super::*;

fn row(name: &str) -> RevisionRow {
    RevisionRow {
        namespace: "default".into(),
        name: name.into(),
        repository: "repo".into(),
        meta: "{}".into(),
        resource_version: 0,
        fingerprint: "c1".into(),
    }
}

#[test]
fn resource_versions_are_monotonic_across_tables_and_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.db");
    let store = Store::open(&path).unwrap();
    let repo = store
        .put_object(ObjectTable::Repositories, "default", "repo", |rv| format!("{{\"rv\":{rv}}}"))
        .unwrap();
    assert_eq!(repo.resource_version, 1);
    assert_eq!(repo.object, "{\"rv\":1}");
    let written =
        store.apply(vec![Change::PutRevision(row("a")), Change::PutRevision(row("b"))]).unwrap();
    assert_eq!(written.iter().map(|r| r.resource_version).collect::<Vec<_>>(), vec![2, 3]);
    drop(store);
    let store = Store::open(&path).unwrap();
    assert_eq!(store.current_resource_version().unwrap(), 3);
    assert_eq!(store.list_revisions("default", "repo").unwrap().len(), 2);
    store
        .apply(vec![Change::DeleteRevision { namespace: "default".into(), name: "a".into() }])
        .unwrap();
    let left = store.list_revisions("default", "repo").unwrap();
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].name, "b");
    assert!(store.delete_object(ObjectTable::Repositories, "default", "repo").unwrap());
    assert!(!store.delete_object(ObjectTable::Repositories, "default", "repo").unwrap());
    store.delete_repository_revisions("default", "repo").unwrap();
    assert!(store.list_revisions("default", "repo").unwrap().is_empty());
}

#[test]
fn sqlite_store_conforms() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("store.db")).unwrap();
    veranda_storage::conformance::store(&store);
}
