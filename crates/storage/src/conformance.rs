//! The behaviour every implementation of the storage traits must show, as functions over the
//! traits that panic on the first deviation. Each implementation's tests call them on a fresh,
//! empty instance: [`repository`] (the Git backend and [`memory::MemoryRepository`]) and
//! [`store`] (SQLite and [`memory::MemoryStore`]).
//!
//! [`memory::MemoryRepository`]: crate::memory::MemoryRepository
//! [`memory::MemoryStore`]: crate::memory::MemoryStore

use std::sync::Arc;

use crate::{
    Author, Change, Content, Discovered, ErrorKind, Files, Lifecycle, Modes, NewDraft, ObjectTable,
    PackageRepository, RefKind, RevisionRow, Store,
};

/// Checks a repository with no packages whose registered branch is `main`: the whole lifecycle
/// of a package revision, and that stale revisions are refused.
pub fn repository(repo: &dyn PackageRepository) {
    assert!(repo.list().expect("list").is_empty(), "a new repository has no revisions");
    assert!(!repo.origin_url().is_empty());
    repo.fetch().expect("fetch");
    repo.check_remote_locks().expect("no lock is held");

    // Create, and refuse a second create of the same workspace.
    let draft = NewDraft { package: "a/p".into(), workspace: "ws".into(), proposed: false };
    repo.create_draft(&draft, &content("v1"), None).expect("create a draft");
    let again = repo.create_draft(&draft, &content("v1"), None).expect_err("a second create");
    assert_eq!(again.kind(), ErrorKind::Conflict, "{again}");
    let created = only(repo, RefKind::Draft);
    assert_eq!((created.package.as_str(), created.workspace.as_str()), ("a/p", "ws"));
    assert_eq!((created.revision, created.lifecycle), (0, Lifecycle::Draft));
    let (files, _) = repo.read_files(&created).expect("read files");
    assert_eq!(files, content("v1").files);
    assert_eq!(repo.read_file(&created, "Kptfile").expect("read"), Some(kptfile("v1")));
    assert_eq!(repo.read_file(&created, "absent.yaml").expect("read"), None);

    // Commit; a write on the revision as it was before is a conflict.
    let committed = repo.commit_draft(&created, &content("v2"), None).expect("commit");
    assert_ne!(committed.commit, created.commit);
    assert_eq!(repo.read_files(&committed).expect("read").0, content("v2").files);
    let stale = repo.commit_draft(&created, &content("v3"), None).expect_err("a stale commit");
    assert_eq!(stale.kind(), ErrorKind::Conflict, "{stale}");
    let listed = only(repo, RefKind::Draft);
    assert_eq!(listed.commit, committed.commit, "the list shows the commit");
    assert_eq!(listed.tree, committed.tree, "the returned revision is the listed one");

    // Propose, reject, propose again, approve as revision 1.
    repo.propose(&listed).expect("propose");
    let proposed = only(repo, RefKind::Proposed);
    assert_eq!(proposed.lifecycle, Lifecycle::Proposed);
    repo.reject(&proposed).expect("reject");
    repo.propose(&only(repo, RefKind::Draft)).expect("propose");
    // The user the approval is made for is who published it.
    let carol = Author { name: "carol".into(), email: "carol@example.com".into() };
    repo.approve(&only(repo, RefKind::Proposed), 1, Some(&carol)).expect("approve");
    let listed = repo.list().expect("list");
    assert_eq!(listed.len(), 2, "{listed:?}");
    let tag = find(&listed, RefKind::Tag);
    assert_eq!(
        (tag.revision, tag.lifecycle, tag.workspace.as_str()),
        (1, Lifecycle::Published, "ws")
    );
    assert_eq!(tag.published_by.as_deref(), Some("carol@example.com"));
    let placeholder = find(&listed, RefKind::Branch);
    assert_eq!((placeholder.revision, placeholder.workspace.as_str()), (-1, "main"));
    assert_eq!(repo.read_files(&tag).expect("read").0, content("v2").files);
    let unchanged = repo.list().expect("list");
    assert!(
        Arc::ptr_eq(&find(&unchanged, RefKind::Tag), &tag),
        "unchanged revisions keep their Arc"
    );

    // A second revision of the package cannot take a published number again.
    let second = NewDraft { package: "a/p".into(), workspace: "ws2".into(), proposed: true };
    repo.create_draft(&second, &content("v4"), None).expect("create a proposed revision");
    let again =
        repo.approve(&only(repo, RefKind::Proposed), 1, None).expect_err("revision 1 exists");
    assert_eq!(again.kind(), ErrorKind::Conflict, "{again}");
    repo.discard_draft(&second).expect("discard");
    assert!(repo.list().expect("list").iter().all(|d| d.workspace != "ws2"));

    // Propose the tag for deletion and delete it; the package stays on the branch.
    repo.propose_delete(&tag).expect("propose deletion");
    let tag = find(&repo.list().expect("list"), RefKind::Tag);
    assert_eq!(tag.lifecycle, Lifecycle::DeletionProposed);
    repo.delete(&tag, None).expect("delete");
    let listed = repo.list().expect("list");
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0].kind, RefKind::Branch);

    // Deleting the package removes what is left, the placeholder and a draft.
    repo.create_draft(&draft, &content("v5"), None).expect("create a draft");
    let listed = repo.list().expect("list");
    repo.delete_package("a/p", &listed, None).expect("delete the package");
    assert!(repo.list().expect("list").is_empty());
}

/// Checks an empty store: resourceVersions, objects, revision rows.
pub fn store(store: &dyn Store) {
    let start = store.current_resource_version().expect("current");
    let first = store.reserve_resource_versions(3).expect("reserve");
    assert_eq!(first, start + 1);
    assert_eq!(store.current_resource_version().expect("current"), start + 3);

    let row = store
        .put_object(ObjectTable::Packages, "ns", "b", &mut |rv| format!("{{\"rv\":{rv}}}"))
        .expect("put");
    assert_eq!(row.resource_version, start + 4);
    assert_eq!(row.object, format!("{{\"rv\":{}}}", start + 4));
    store.put_object(ObjectTable::Packages, "ns", "a", &mut |_| "{}".into()).expect("put");
    store.put_object(ObjectTable::Repositories, "ns", "r", &mut |_| "{}".into()).expect("put");
    let names: Vec<_> = store
        .list_objects(ObjectTable::Packages)
        .expect("list")
        .into_iter()
        .map(|r| r.name)
        .collect();
    assert_eq!(names, ["a", "b"], "ordered by name, one table only");
    let b = store.get_object(ObjectTable::Packages, "ns", "b").expect("get").expect("b is there");
    assert_eq!((b.name.as_str(), b.resource_version), ("b", start + 4));
    assert!(store.get_object(ObjectTable::Repositories, "ns", "b").expect("get").is_none());
    assert!(store.get_object(ObjectTable::Packages, "other", "b").expect("get").is_none());
    assert!(store.delete_object(ObjectTable::Packages, "ns", "a").expect("delete"));
    assert!(!store.delete_object(ObjectTable::Packages, "ns", "a").expect("delete"));

    // The RBAC tables: one counter for all, cluster-scoped objects under the empty namespace.
    let tables = [
        ObjectTable::Roles,
        ObjectTable::ClusterRoles,
        ObjectTable::RoleBindings,
        ObjectTable::ClusterRoleBindings,
    ];
    for (i, table) in tables.into_iter().enumerate() {
        let before = store.current_resource_version().expect("current");
        let row = store.put_object(table, "", "same-name", &mut |rv| format!("{rv}")).expect("put");
        assert_eq!(row.resource_version, before + 1, "{table:?} takes the next version");
        assert_eq!(row.object, (before + 1).to_string());
        let listed = store.list_objects(table).expect("list");
        assert_eq!(listed.len(), 1, "{table:?} holds only its own rows: {listed:?}");
        assert_eq!(store.list_objects(ObjectTable::Packages).expect("list").len(), 1);
        let got = store.get_object(table, "", "same-name").expect("get").expect("there");
        assert_eq!(got, row);
        if i % 2 == 0 {
            store.put_object(table, "team-a", "same-name", &mut |_| "{}".into()).expect("put");
            assert_eq!(store.list_objects(table).expect("list").len(), 2);
            assert!(store.delete_object(table, "team-a", "same-name").expect("delete"));
        }
    }
    for table in tables {
        assert!(store.delete_object(table, "", "same-name").expect("delete"));
        assert!(store.list_objects(table).expect("list").is_empty());
    }

    let written = store
        .apply(vec![
            Change::PutRevision(revision("x", "r")),
            Change::PutRevision(revision("y", "r")),
            Change::PutRevision(revision("z", "other")),
        ])
        .expect("apply");
    let versions: Vec<_> = written.iter().map(|r| r.resource_version).collect();
    let next = store.current_resource_version().expect("current");
    assert_eq!(versions, [next - 2, next - 1, next], "fresh versions in order");
    assert!(store.apply(Vec::new()).expect("apply nothing").is_empty());
    assert_eq!(store.current_resource_version().expect("current"), next);
    store
        .apply(vec![Change::DeleteRevision { namespace: "ns".into(), name: "x".into() }])
        .expect("delete");
    let mut rows = store.list_revisions("ns", "r").expect("list");
    rows.sort_by(|a, b| a.name.cmp(&b.name));
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!((rows[0].name.as_str(), rows[0].resource_version), ("y", next - 1));
    let mut got = store.get_revisions("ns", &["y".into(), "x".into(), "z".into()]).expect("get");
    got.sort_by(|a, b| a.name.cmp(&b.name));
    let got: Vec<_> = got.iter().map(|r| (r.name.as_str(), r.resource_version)).collect();
    assert_eq!(got, [("y", next - 1), ("z", next)], "only the rows that exist");
    assert!(store.get_revisions("other-ns", &["y".into()]).expect("get").is_empty());
    expectations(store);
    deletes_take_versions(store);
    store.delete_repository_revisions("ns", "r").expect("delete");
    assert!(store.list_revisions("ns", "r").expect("list").is_empty());
    assert_eq!(store.list_revisions("ns", "other").expect("list").len(), 1);
}

/// [`Change::Expect`]: the compare-and-swap of servers sharing a store. A failed expectation
/// applies nothing of the transaction and takes no resourceVersion.
fn expectations(store: &dyn Store) {
    let expect = |name: &str, resource_version: Option<i64>| Change::Expect {
        namespace: "ns".into(),
        name: name.into(),
        resource_version,
    };
    // Insert if absent.
    let written = store
        .apply(vec![expect("cas", None), Change::PutRevision(revision("cas", "r"))])
        .expect("insert if absent");
    let first = written[0].resource_version;
    let before = store.current_resource_version().expect("current");
    let mut loser = revision("cas", "r");
    loser.meta = r#"{"labels":{"lost":"yes"}}"#.into();
    let err = store
        .apply(vec![
            Change::PutRevision(revision("bystander", "r")),
            expect("cas", None),
            Change::PutRevision(loser.clone()),
        ])
        .expect_err("the row exists");
    assert_eq!(err.kind(), ErrorKind::Conflict, "{err}");
    assert_eq!(store.current_resource_version().expect("current"), before, "no version taken");
    assert!(store.get_revisions("ns", &["bystander".into()]).expect("get").is_empty());
    let row = &store.get_revisions("ns", &["cas".into()]).expect("get")[0];
    assert_eq!((row.meta.as_str(), row.resource_version), ("{}", first), "the winner kept");
    // Update only from the version read.
    let err = store
        .apply(vec![expect("cas", Some(first - 1)), Change::PutRevision(loser.clone())])
        .expect_err("stale");
    assert_eq!(err.kind(), ErrorKind::Conflict, "{err}");
    let written = store
        .apply(vec![expect("cas", Some(first)), Change::PutRevision(loser)])
        .expect("from the version read");
    let second = written[0].resource_version;
    assert!(second > first);
    // Delete only from the version read; an expectation alone changes nothing.
    let delete = Change::DeleteRevision { namespace: "ns".into(), name: "cas".into() };
    let err = store.apply(vec![expect("cas", Some(first)), delete.clone()]).expect_err("stale");
    assert_eq!(err.kind(), ErrorKind::Conflict, "{err}");
    assert!(store.apply(vec![expect("cas", Some(second))]).expect("holds").is_empty());
    store.apply(vec![expect("cas", Some(second)), delete]).expect("delete");
    assert!(store.get_revisions("ns", &["cas".into()]).expect("get").is_empty());
    store.apply(vec![expect("cas", None)]).expect("gone");
}

/// A delete takes a resourceVersion in its own transaction, after the puts, whether or not
/// its row was there; the change feed (of a shared store) carries that version.
fn deletes_take_versions(store: &dyn Store) {
    let delete = |name: &str| Change::DeleteRevision { namespace: "ns".into(), name: name.into() };
    store.apply(vec![Change::PutRevision(revision("doomed", "r"))]).expect("put");
    let feed_from = store.feed_position().expect("feed position");
    let before = store.current_resource_version().expect("current");
    let applied = store
        .apply_all(vec![
            delete("doomed"),
            Change::PutRevision(revision("w", "r")),
            delete("never-there"),
            Change::PutRevision(revision("v", "r")),
        ])
        .expect("apply");
    let rows: Vec<_> = applied.rows.iter().map(|r| (r.name.as_str(), r.resource_version)).collect();
    assert_eq!(rows, [("w", before + 1), ("v", before + 2)], "puts first");
    let deleted: Vec<_> = applied.deleted.iter().map(|(n, rv)| (n.as_str(), *rv)).collect();
    assert_eq!(deleted, [("doomed", before + 3), ("never-there", before + 4)], "then deletes");
    assert_eq!(store.current_resource_version().expect("current"), before + 4);
    assert!(store.get_revisions("ns", &["doomed".into()]).expect("get").is_empty());
    // With a precondition (the compare-and-swap path of a shared store) the same.
    let guarded = store
        .apply_all(vec![
            Change::Expect {
                namespace: "ns".into(),
                name: "w".into(),
                resource_version: Some(before + 1),
            },
            delete("w"),
        ])
        .expect("guarded delete");
    assert_eq!(guarded.deleted, [("w".to_string(), before + 5)]);
    assert_eq!(store.current_resource_version().expect("current"), before + 5);
    if store.shared() {
        let feed = store.changes_since(feed_from, 100).expect("feed");
        let deletes: Vec<_> = feed
            .iter()
            .filter(|e| e.deleted && e.table == crate::FeedTable::Revisions)
            .map(|e| (e.name.as_str(), e.resource_version))
            .collect();
        assert_eq!(deletes, [("doomed", before + 3), ("w", before + 5)], "{feed:?}");
        let found =
            |name: &str, after: i64| store.deleted_version("ns", name, after).expect("read");
        assert_eq!(found("doomed", before), Some(before + 3), "the delete another server made");
        assert_eq!(found("doomed", before + 3), None, "none after the one known");
        assert_eq!(found("v", 0), None, "never deleted");
        // Within a transaction the feed keeps statement order; a reader sees it whole.
        let mut versions: Vec<_> = feed.iter().map(|e| e.resource_version).collect();
        versions.sort();
        assert_eq!(versions, [before + 1, before + 2, before + 3, before + 5], "{feed:?}");
    }
    store.apply(vec![delete("v")]).expect("delete");
}

fn kptfile(name: &str) -> Vec<u8> {
    format!("apiVersion: kpt.dev/v1\nkind: Kptfile\nmetadata:\n  name: {name}\n").into_bytes()
}

fn content(version: &str) -> Content {
    let files = Files::from([
        ("Kptfile".to_string(), kptfile(version)),
        ("cm.yaml".to_string(), format!("# {version}\n").into_bytes()),
    ]);
    Content { files, modes: Modes::new(), headline: "test".into(), task: None }
}

fn revision(name: &str, repository: &str) -> RevisionRow {
    RevisionRow {
        namespace: "ns".into(),
        name: name.into(),
        repository: repository.into(),
        meta: "{}".into(),
        resource_version: 0,
        fingerprint: "f".into(),
    }
}

/// The one revision of `kind` in the repository.
fn only(repo: &dyn PackageRepository, kind: RefKind) -> Arc<Discovered> {
    let listed = repo.list().expect("list");
    let found: Vec<_> = listed.iter().filter(|d| d.kind == kind).collect();
    assert_eq!(found.len(), 1, "one {kind:?} revision: {listed:?}");
    found[0].clone()
}

fn find(listed: &[Arc<Discovered>], kind: RefKind) -> Arc<Discovered> {
    listed
        .iter()
        .find(|d| d.kind == kind)
        .cloned()
        .unwrap_or_else(|| panic!("no {kind:?} in {listed:?}"))
}

#[cfg(test)]
mod tests {
    use crate::memory::{MemoryRepository, MemoryStore};

    #[test]
    fn memory_repository_conforms() {
        super::repository(&MemoryRepository::new("mem://r", "main"));
    }

    #[test]
    fn memory_store_conforms() {
        super::store(&MemoryStore::default());
    }
}
