//! The engine on the in-memory backends: no Git, no SQLite, and faults where a test wants them.

use std::{sync::Arc, time::Duration};

use veranda_api::{
    Lifecycle, ObjectMeta,
    lifecycle::Endpoint,
    types::{GitRepositorySpec, PackageRevision, PackageRevisionSpec, Repository, RepositorySpec},
};
use veranda_engine::{Backends, Engine, Error};
use veranda_storage::{
    PackageRepository,
    memory::{MemoryBackend, MemoryRepository, MemoryStore},
};

use crate::{config, eventually};

struct Memory {
    _dir: tempfile::TempDir,
    data_dir: std::path::PathBuf,
    backend: Arc<MemoryBackend>,
    store: Arc<MemoryStore>,
    engine: Arc<Engine>,
}

impl Memory {
    async fn new() -> Memory {
        let dir = tempfile::tempdir().unwrap();
        let data_dir = dir.path().join("data");
        let (backend, store) =
            (Arc::new(MemoryBackend::default()), Arc::new(MemoryStore::default()));
        let engine = open(&data_dir, &backend, &store).await;
        Memory { _dir: dir, data_dir, backend, store, engine }
    }

    /// A new engine on the same backends, as after a restart.
    async fn restart(&self) -> Arc<Engine> {
        let engine = open(&self.data_dir, &self.backend, &self.store).await;
        assert!(engine.wait_ready(Duration::from_secs(10)).await);
        engine
    }

    /// Registers repository `name` (at URL `mem://<name>`) and returns its in-memory content.
    async fn register(&self, name: &str) -> Arc<MemoryRepository> {
        let repo = Repository {
            metadata: ObjectMeta { name: name.into(), ..Default::default() },
            spec: RepositorySpec {
                git: Some(GitRepositorySpec {
                    repo: format!("mem://{name}"),
                    ..Default::default()
                }),
                ..Default::default()
            },
            ..Default::default()
        };
        let created = self.engine.create_repository("default", repo).await.unwrap();
        assert_eq!(created.status.conditions[0].status, "True", "{:?}", created.status);
        self.backend.repository(&format!("mem://{name}"), "main")
    }

    async fn create(&self, package: &str, ws: &str) -> Result<Arc<PackageRevision>, Error> {
        let pr = PackageRevision {
            spec: PackageRevisionSpec {
                repository: "r".into(),
                package_name: package.into(),
                workspace_name: ws.into(),
                ..Default::default()
            },
            ..Default::default()
        };
        self.engine.create_package_revision("default", pr).await
    }

    async fn move_to(
        &self,
        name: &str,
        lifecycle: Lifecycle,
        endpoint: Endpoint,
    ) -> Result<Arc<PackageRevision>, Error> {
        let mut pr = (*self.engine.get_package_revision("default", name).unwrap()).clone();
        pr.spec.lifecycle = Some(lifecycle);
        self.engine.update_package_revision("default", name, pr, endpoint).await
    }
}

async fn open(
    data_dir: &std::path::Path,
    backend: &Arc<MemoryBackend>,
    store: &Arc<MemoryStore>,
) -> Arc<Engine> {
    let backends = Backends { repositories: backend.clone(), store: store.clone() };
    Engine::open(config(data_dir), backends).await.unwrap()
}

fn names(engine: &Engine) -> Vec<String> {
    engine
        .list_package_revisions(Some("default"), &Default::default())
        .iter()
        .map(|pr| pr.metadata.name.clone())
        .collect()
}

#[tokio::test]
async fn create_propose_approve_and_delete() {
    let m = Memory::new().await;
    let repo = m.register("r").await;
    let created = m.create("p", "ws").await.unwrap();
    assert_eq!(created.spec.lifecycle, Some(Lifecycle::Draft));
    let (files, _) = repo.read_files(&repo.list().unwrap()[0]).unwrap();
    assert!(files.contains_key("Kptfile"), "{:?}", files.keys());

    m.move_to("r.p.ws", Lifecycle::Proposed, Endpoint::Update).await.unwrap();
    // Approval needs the approval subresource.
    let err = m.move_to("r.p.ws", Lifecycle::Published, Endpoint::Update).await.unwrap_err();
    assert!(matches!(err, Error::Invalid { .. }), "{err}");
    let published = m.move_to("r.p.ws", Lifecycle::Published, Endpoint::Approval).await.unwrap();
    assert_eq!(published.spec.revision, 1);
    assert_eq!(published.metadata.labels.get(veranda_api::LATEST_REVISION_LABEL).unwrap(), "true");
    assert_eq!(names(&m.engine), ["r.p.main", "r.p.ws"]);

    // A second revision of the package is revision 2.
    let mut edit = PackageRevision {
        spec: PackageRevisionSpec {
            repository: "r".into(),
            package_name: "p".into(),
            workspace_name: "ws2".into(),
            tasks: vec![crate::edit_task("r.p.ws")],
            ..Default::default()
        },
        ..Default::default()
    };
    edit.spec.lifecycle = Some(Lifecycle::Proposed);
    m.engine.create_package_revision("default", edit).await.unwrap();
    let second = m.move_to("r.p.ws2", Lifecycle::Published, Endpoint::Approval).await.unwrap();
    assert_eq!(second.spec.revision, 2);
    let first = m.engine.get_package_revision("default", "r.p.ws").unwrap();
    assert!(!first.metadata.labels.contains_key(veranda_api::LATEST_REVISION_LABEL));

    // Published revisions are proposed for deletion before they are deleted.
    let err = m.engine.delete_package_revision("default", "r.p.ws").await.unwrap_err();
    assert!(matches!(err, Error::Forbidden { .. }), "{err}");
    m.move_to("r.p.ws", Lifecycle::DeletionProposed, Endpoint::Update).await.unwrap();
    m.engine.delete_package_revision("default", "r.p.ws").await.unwrap();
    assert_eq!(names(&m.engine), ["r.p.main", "r.p.ws2"]);

    // A restarted engine sees the same revisions and metadata.
    assert_eq!(names(&*m.restart().await), ["r.p.main", "r.p.ws2"]);
}

/// Packages cannot be nested, in either direction; siblings that share a prefix of their name
/// are not nested.
#[tokio::test]
async fn packages_cannot_be_nested() {
    let m = Memory::new().await;
    m.register("r").await;
    m.create("a/b", "ws").await.unwrap();
    for (package, other) in [("a", "a/b"), ("a/b/c", "a/b"), ("a/b/c/d", "a/b")] {
        let err = m.create(package, "ws").await.unwrap_err();
        let text = err.to_string();
        assert!(matches!(err, Error::Invalid { .. }), "{package}: {text}");
        assert!(text.contains(&format!("conflicts with existing package {other:?}")), "{text}");
    }
    for sibling in ["a-b", "ab", "a/bc", "a/b-c", "b/a"] {
        m.create(sibling, "ws").await.unwrap_or_else(|e| panic!("{sibling}: {e}"));
    }
    // Below one of those siblings, the error names it.
    let err = m.create("a/bc/x", "ws").await.unwrap_err();
    assert!(err.to_string().contains("\"a/bc\""), "{err}");
}

#[tokio::test]
async fn a_create_whose_indexing_fails_leaves_nothing_behind() {
    let m = Memory::new().await;
    let repo = m.register("r").await;
    let rv_before = m.engine.current_resource_version().unwrap();
    let mut events = m.engine.subscribe(None).unwrap().receiver;
    m.store.faults.fail_next("apply", 1);
    let err = m.create("p", "ws").await.unwrap_err();
    assert!(err.to_string().contains("injected fault"), "{err}");
    assert!(repo.list().unwrap().is_empty(), "the draft was discarded again");
    assert!(m.engine.get_package_revision("default", "r.p.ws").is_err());
    assert!(events.try_recv().is_err(), "no event for a rolled-back create");
    assert_eq!(m.engine.current_resource_version().unwrap(), rv_before);
    m.create("p", "ws").await.unwrap();
}

#[tokio::test]
async fn a_failed_repository_write_changes_nothing() {
    let m = Memory::new().await;
    let repo = m.register("r").await;
    m.create("p", "ws").await.unwrap();
    let before = m.engine.get_package_revision("default", "r.p.ws").unwrap();
    repo.faults.fail_next("propose", 1);
    let err = m.move_to("r.p.ws", Lifecycle::Proposed, Endpoint::Update).await.unwrap_err();
    assert!(matches!(err, Error::Internal(_)), "{err}");
    let after = m.engine.get_package_revision("default", "r.p.ws").unwrap();
    assert_eq!(after.spec.lifecycle, Some(Lifecycle::Draft));
    assert_eq!(after.metadata.resource_version, before.metadata.resource_version);
    m.move_to("r.p.ws", Lifecycle::Proposed, Endpoint::Update).await.unwrap();
}

#[tokio::test]
async fn a_write_the_repository_holds_is_acknowledged_when_indexing_fails() {
    let m = Memory::new().await;
    m.register("r").await;
    m.create("p", "ws").await.unwrap();
    let mut pr = (*m.engine.get_package_revision("default", "r.p.ws").unwrap()).clone();
    pr.spec.lifecycle = Some(Lifecycle::Proposed);
    pr.metadata.labels.insert("team".into(), "blue".into());
    m.store.faults.fail_next("apply", 1);
    m.engine
        .update_package_revision("default", "r.p.ws", pr, Endpoint::Update)
        .await
        .expect("a write the repository holds is acknowledged");
    eventually("the index shows the proposal and its label", || {
        let pr = m.engine.get_package_revision("default", "r.p.ws").unwrap();
        pr.spec.lifecycle == Some(Lifecycle::Proposed)
            && pr.metadata.labels.get("team").map(String::as_str) == Some("blue")
    })
    .await;
    let restarted = m.restart().await;
    let pr = restarted.get_package_revision("default", "r.p.ws").unwrap();
    assert_eq!(pr.metadata.labels.get("team").map(String::as_str), Some("blue"));
}

/// A write must not act on an index its last reconcile could not bring up to date: the next
/// write reconciles first, and while the store still fails it is refused (503) and changes
/// nothing in the repository.
#[tokio::test]
async fn no_write_acts_on_an_index_behind_git() {
    let m = Memory::new().await;
    let repo = m.register("r").await;
    m.create("p", "ws").await.unwrap();
    // The proposal is in the repository, but the store refuses its rows (and the retries).
    m.store.faults.fail_next("apply", 50);
    m.move_to("r.p.ws", Lifecycle::Proposed, Endpoint::Update)
        .await
        .expect("a write the repository holds is acknowledged");
    let listed = repo.list().unwrap().len();
    let Err(e) = m.move_to("r.p.ws", Lifecycle::Published, Endpoint::Approval).await else {
        panic!("an approval acted on an index behind Git")
    };
    assert!(matches!(e, Error::Unavailable(_)), "{e:?}");
    assert!(e.to_string().contains("catches up"), "{e}");
    assert_eq!(repo.list().unwrap().len(), listed, "the refused write changed nothing");
    // The store is back: the next write brings the index up first. The client's copy was
    // read from the stale index, so it is told to re-read (409), and then the approval works.
    m.store.faults.clear("apply");
    let stale = m.move_to("r.p.ws", Lifecycle::Published, Endpoint::Approval).await;
    assert!(matches!(stale, Err(Error::Conflict(_))), "{stale:?}");
    let pr = m.engine.get_package_revision("default", "r.p.ws").unwrap();
    assert_eq!(pr.spec.lifecycle, Some(Lifecycle::Proposed), "the index caught up");
    let approved = m.move_to("r.p.ws", Lifecycle::Published, Endpoint::Approval).await;
    assert_eq!(approved.expect("approved").spec.lifecycle, Some(Lifecycle::Published));
}

/// After a restart, a repository whose first index is slower than the sync interval must not
/// report Ready before that index is in: a sync that finds the repository busy changes nothing.
#[tokio::test(flavor = "multi_thread")]
async fn a_repository_is_not_ready_before_its_first_index() {
    let m = Memory::new().await;
    let repository = m.register("r").await;
    m.create("p", "ws").await.unwrap();
    repository.faults.delay_next("list", Duration::from_millis(1500));
    let backends = Backends { repositories: m.backend.clone(), store: m.store.clone() };
    let config = veranda_engine::EngineConfig {
        sync_interval: Duration::from_millis(50),
        ..config(&m.data_dir)
    };
    let restarted = Engine::open(config, backends).await.unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let ready = restarted.get_repository("default", "r").unwrap().status.conditions;
        if ready.first().is_some_and(|c| c.status == "True") {
            assert_eq!(names(&restarted), ["r.p.ws"], "Ready, so the listing is complete");
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "never Ready: {ready:?}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// The built-in ClusterRoles are created on first start and re-created at the next start when
/// deleted (kube's auto-reconcile); an edited one is kept; RBAC objects survive a restart with
/// their resourceVersions, and the authorization index follows every write.
#[tokio::test]
async fn rbac_objects_persist_and_built_in_roles_are_recreated() {
    use veranda_api::rbac::{
        Attributes, RbacKind, ResourceAttributes, Role, RoleBinding, RoleRef, Subject, UserInfo,
    };
    let m = Memory::new().await;
    let viewer: Role = m.engine.get_rbac(RbacKind::ClusterRole, "", "veranda:viewer").unwrap();
    assert_eq!(viewer.metadata.labels["kubernetes.io/bootstrapping"], "rbac-defaults");
    let deleted: Role =
        m.engine.delete_rbac(RbacKind::ClusterRole, "", "veranda:viewer").await.unwrap();
    assert_eq!(deleted.metadata.name, "veranda:viewer");
    let mut editor: Role = m.engine.get_rbac(RbacKind::ClusterRole, "", "veranda:editor").unwrap();
    editor.rules.truncate(1);
    m.engine.update_rbac(RbacKind::ClusterRole, "", "veranda:editor", editor).await.unwrap();

    let binding = RoleBinding {
        metadata: ObjectMeta { name: "alice-view".into(), ..Default::default() },
        subjects: vec![Subject { kind: "User".into(), name: "alice".into(), ..Default::default() }],
        role_ref: RoleRef {
            kind: "ClusterRole".into(),
            name: "veranda:viewer".into(),
            ..Default::default()
        },
        ..Default::default()
    };
    let created = m.engine.create_rbac(RbacKind::RoleBinding, "team-a", binding).await.unwrap();
    let list = Attributes::Resource(ResourceAttributes {
        verb: "list",
        group: "porch.kpt.dev",
        resource: "packagerevisions",
        namespace: "team-a",
        ..Default::default()
    });
    let alice = UserInfo { name: "alice", groups: &[] };
    assert!(!m.engine.rbac_index().allows(&alice, &list), "the role is gone until a restart");

    let engine = m.restart().await;
    let viewer: Role = engine.get_rbac(RbacKind::ClusterRole, "", "veranda:viewer").unwrap();
    assert_eq!(viewer.rules.len(), 1, "re-created");
    let editor: Role = engine.get_rbac(RbacKind::ClusterRole, "", "veranda:editor").unwrap();
    assert_eq!(editor.rules.len(), 1, "an edited built-in role is kept");
    let again: RoleBinding =
        engine.get_rbac(RbacKind::RoleBinding, "team-a", "alice-view").unwrap();
    assert_eq!(again.metadata.resource_version, created.metadata.resource_version);
    assert!(engine.rbac_index().allows(&alice, &list));
    let listed: Vec<RoleBinding> = engine.list_rbac(RbacKind::RoleBinding, Some("team-b"));
    assert!(listed.is_empty());
}
