//! Engine tests against real Git repositories (bare repos made with the `git` CLI) and a real
//! SQLite store in a temporary data directory.

use std::{path::Path, process::Command, sync::Arc, time::Duration};

use veranda_api::{
    Lifecycle, ObjectMeta,
    lifecycle::Endpoint,
    types::{
        EditTask, GitRepositorySpec, InitTask, NameRef, PackageRevision, PackageRevisionSpec,
        Repository, RepositorySpec, Task,
    },
};
use veranda_engine::{Backends, Engine, EngineConfig, Error, EventType, RevisionFilter};
use veranda_storage::memory::{Faults, MemoryStore};

mod deep_repository;
mod memory;
mod resources_modes;

struct Fixture {
    dir: tempfile::TempDir,
    engine: Arc<Engine>,
    // When set, the engine runs on this store (kept across `reopen`) instead of SQLite.
    memory_store: Option<Arc<MemoryStore>>,
}

fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git").arg("-C").arg(dir).args(args).output().expect("git");
    assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The engine configuration of the tests: data under `data_dir`, no periodic sync.
fn config(data_dir: &Path) -> EngineConfig {
    EngineConfig { sync_interval: Duration::from_secs(3600), ..EngineConfig::new(data_dir) }
}

/// The production backends: Git repositories and the SQLite store below `data_dir`.
fn backends(data_dir: &Path) -> Backends {
    std::fs::create_dir_all(data_dir).unwrap();
    Backends {
        repositories: Arc::new(veranda_repo::GitBackend::default()),
        store: Arc::new(veranda_store::Store::open(&data_dir.join("veranda.db")).unwrap()),
    }
}

async fn open_with_store(dir: &tempfile::TempDir, store: Arc<MemoryStore>) -> Arc<Engine> {
    let backends = Backends { repositories: Arc::new(veranda_repo::GitBackend::default()), store };
    Engine::open(config(&dir.path().join("data")), backends).await.unwrap()
}

/// An engine on the production backends.
async fn open(config: EngineConfig) -> Arc<Engine> {
    let backends = backends(&config.data_dir);
    Engine::open(config, backends).await.unwrap()
}

impl Fixture {
    async fn new() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let engine = open(config(&dir.path().join("data"))).await;
        Fixture { dir, engine, memory_store: None }
    }

    /// An engine on Git and an in-memory store whose faults a test can arm.
    async fn with_memory_store() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(MemoryStore::default());
        let engine = open_with_store(&dir, store.clone()).await;
        Fixture { dir, engine, memory_store: Some(store) }
    }

    /// The in-memory store's faults.
    fn store_faults(&self) -> &Faults {
        &self.memory_store.as_ref().expect("a fixture with a memory store").faults
    }

    /// Stops the engine and opens a new one on the same data directory (and memory store).
    async fn reopen(self) -> Fixture {
        let Fixture { dir, engine, memory_store } = self;
        drop(engine);
        let engine = match &memory_store {
            Some(store) => open_with_store(&dir, store.clone()).await,
            None => open(config(&dir.path().join("data"))).await,
        };
        Fixture { dir, engine, memory_store }
    }

    /// Stops the engine and opens a new one with `config`.
    async fn reopen_with(self, config: EngineConfig) -> Fixture {
        let Fixture { dir, engine, memory_store } = self;
        drop(engine);
        Fixture { dir, engine: open(config).await, memory_store }
    }

    fn bare(&self, name: &str) -> std::path::PathBuf {
        let path = self.dir.path().join(name);
        let out = Command::new("git")
            .args(["init", "-q", "--bare", "-b", "main"])
            .arg(&path)
            .output()
            .unwrap();
        assert!(out.status.success());
        path
    }

    async fn register(&self, name: &str, path: &Path) {
        let repo = Repository {
            metadata: ObjectMeta { name: name.into(), ..Default::default() },
            spec: RepositorySpec {
                git: Some(GitRepositorySpec {
                    repo: path.display().to_string(),
                    create_branch: true,
                    ..Default::default()
                }),
                ..Default::default()
            },
            ..Default::default()
        };
        let created = self.engine.create_repository("default", repo).await.unwrap();
        assert_eq!(created.status.conditions[0].status, "True", "{:?}", created.status);
    }

    async fn create(
        &self,
        repo: &str,
        package: &str,
        ws: &str,
        task: Option<Task>,
    ) -> Result<Arc<PackageRevision>, Error> {
        let pr = PackageRevision {
            spec: PackageRevisionSpec {
                repository: repo.into(),
                package_name: package.into(),
                workspace_name: ws.into(),
                tasks: task.into_iter().collect(),
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

    async fn publish(&self, name: &str) -> Arc<PackageRevision> {
        self.move_to(name, Lifecycle::Proposed, Endpoint::Update).await.unwrap();
        self.move_to(name, Lifecycle::Published, Endpoint::Approval).await.unwrap()
    }
}

fn edit_task(source: &str) -> Task {
    Task {
        task_type: "edit".into(),
        edit: Some(EditTask { source_ref: Some(NameRef { name: source.into() }) }),
        ..Default::default()
    }
}

#[tokio::test]
async fn lifecycle_revisions_and_latest_label() {
    let f = Fixture::new().await;
    let remote = f.bare("r.git");
    f.register("r", &remote).await;
    let mut events = f.engine.subscribe(None).unwrap().receiver;

    let draft = f.create("r", "team/app", "ws1", None).await.unwrap();
    assert_eq!(draft.metadata.name, "r.team.app.ws1");
    assert_eq!(draft.spec.lifecycle, Some(Lifecycle::Draft));
    assert_eq!(draft.spec.tasks[0].task_type, "init");
    assert!(git(&remote, &["branch"]).contains("drafts/team/app/ws1"));

    // Publishing through a plain update is refused; through approval it works.
    let err =
        f.move_to("r.team.app.ws1", Lifecycle::Published, Endpoint::Update).await.unwrap_err();
    assert!(matches!(err, Error::Invalid { .. }), "{err:?}");
    let v1 = f.publish("r.team.app.ws1").await;
    assert_eq!(v1.spec.revision, 1);
    assert_eq!(v1.metadata.labels.get("kpt.dev/latest-revision").map(String::as_str), Some("true"));
    assert!(git(&remote, &["tag"]).contains("team/app/v1"));

    // Copy → direct publish (Draft → Published through approval) → revision 2 becomes latest.
    f.create("r", "team/app", "ws2", Some(edit_task("r.team.app.ws1"))).await.unwrap();
    let v2 = f.move_to("r.team.app.ws2", Lifecycle::Published, Endpoint::Approval).await.unwrap();
    assert_eq!(v2.spec.revision, 2);
    let v1 = f.engine.get_package_revision("default", "r.team.app.ws1").unwrap();
    assert!(!v1.metadata.labels.contains_key("kpt.dev/latest-revision"));
    let placeholder = f.engine.get_package_revision("default", "r.team.app.main").unwrap();
    assert_eq!(placeholder.spec.revision, -1);

    // Published → Draft and anything out of DeletionProposed are refused.
    let err = f.move_to("r.team.app.ws1", Lifecycle::Draft, Endpoint::Update).await.unwrap_err();
    assert!(err.to_string().contains("Published") && err.to_string().contains("Draft"), "{err}");
    f.move_to("r.team.app.ws1", Lifecycle::DeletionProposed, Endpoint::Update).await.unwrap();
    let err =
        f.move_to("r.team.app.ws1", Lifecycle::Published, Endpoint::Approval).await.unwrap_err();
    assert!(matches!(err, Error::Invalid { .. }), "{err:?}");

    // Deleting: Published is forbidden, DeletionProposed goes (tag and branch cleaned up).
    let err = f.engine.delete_package_revision("default", "r.team.app.ws2").await.unwrap_err();
    assert!(matches!(err, Error::Forbidden { .. }), "{err:?}");
    f.engine.delete_package_revision("default", "r.team.app.ws1").await.unwrap();
    assert!(!git(&remote, &["tag"]).contains("team/app/v1"));
    assert!(!git(&remote, &["branch"]).contains("deletionProposed"));

    // Events: ADDED for the draft, MODIFIED on each move, DELETED at the end, rv increasing.
    let mut seen = Vec::new();
    while let Ok(event) = events.try_recv() {
        seen.push((
            event.event_type,
            event.object()["metadata"]["name"].as_str().unwrap_or("").to_string(),
            event.resource_version,
        ));
    }
    assert!(seen.windows(2).all(|w| w[0].2 < w[1].2), "{seen:?}");
    assert!(seen.contains(&(
        EventType::Added,
        "r.team.app.ws1".into(),
        seen.iter().find(|e| e.0 == EventType::Added && e.1 == "r.team.app.ws1").unwrap().2
    )));
    assert!(seen.iter().any(|e| e.0 == EventType::Modified && e.1 == "r.team.app.ws1"));
    assert!(seen.iter().any(|e| e.0 == EventType::Deleted && e.1 == "r.team.app.ws1"));
}

#[tokio::test]
async fn creation_rules() {
    let f = Fixture::new().await;
    let remote = f.bare("r.git");
    f.register("r", &remote).await;
    f.create("r", "a/b", "ws", None).await.unwrap();
    // Workspace names are unique per package.
    assert!(matches!(
        f.create("r", "a/b", "ws", None).await.unwrap_err(),
        Error::AlreadyExists { .. }
    ));
    // init of an existing package, nesting in both directions.
    assert!(matches!(f.create("r", "a/b", "ws2", None).await.unwrap_err(), Error::Conflict(_)));
    assert!(matches!(f.create("r", "a/b/c", "ws", None).await.unwrap_err(), Error::Invalid { .. }));
    assert!(matches!(f.create("r", "a", "ws", None).await.unwrap_err(), Error::Invalid { .. }));
    // Copy needs a published source of the same package.
    let err = f.create("r", "a/b", "ws3", Some(edit_task("r.a.b.ws"))).await.unwrap_err();
    assert!(err.to_string().contains("published"), "{err}");
    // Unknown task type and too many tasks.
    let bogus = Task { task_type: "bogus".into(), ..Default::default() };
    assert!(matches!(
        f.create("r", "x", "ws", Some(bogus)).await.unwrap_err(),
        Error::Invalid { .. }
    ));
    // Failed creates left nothing behind.
    let names: Vec<String> = f
        .engine
        .list_package_revisions(None, &RevisionFilter::default())
        .iter()
        .map(|p| p.metadata.name.clone())
        .collect();
    assert_eq!(names, vec!["r.a.b.ws".to_string()]);
    let branches = git(&remote, &["branch"]);
    assert_eq!(branches.lines().count(), 2, "{branches}");
}

#[tokio::test]
async fn optimistic_concurrency_and_metadata() {
    let f = Fixture::new().await;
    let remote = f.bare("r.git");
    f.register("r", &remote).await;
    let pr = f
        .create(
            "r",
            "p",
            "ws",
            Some(Task {
                task_type: "init".into(),
                init: Some(InitTask { description: "d".into(), ..Default::default() }),
                ..Default::default()
            }),
        )
        .await
        .unwrap();
    let mut labelled = (*pr).clone();
    labelled.metadata.labels.insert("stage".into(), "dev".into());
    let updated =
        f.engine.update_package_revision("default", "p", labelled.clone(), Endpoint::Update).await;
    assert!(matches!(updated, Err(Error::NotFound { .. })));
    let updated = f
        .engine
        .update_package_revision("default", "r.p.ws", labelled.clone(), Endpoint::Update)
        .await
        .unwrap();
    assert_ne!(
        updated.metadata.resource_version, pr.metadata.resource_version,
        "metadata-only change bumps rv"
    );
    assert_eq!(updated.metadata.labels["stage"], "dev");
    // The same stale object again → conflict, and nothing changes.
    labelled.metadata.labels.insert("stage".into(), "prod".into());
    let err = f
        .engine
        .update_package_revision("default", "r.p.ws", labelled, Endpoint::Update)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("the object has been modified"), "{err}");
    assert_eq!(
        f.engine.get_package_revision("default", "r.p.ws").unwrap().metadata.labels["stage"],
        "dev"
    );

    // Finalizers hold a delete until the last one is removed.
    let mut with_finalizer = (*f.engine.get_package_revision("default", "r.p.ws").unwrap()).clone();
    with_finalizer.metadata.finalizers = vec!["example.com/hold".into()];
    f.engine
        .update_package_revision("default", "r.p.ws", with_finalizer, Endpoint::Update)
        .await
        .unwrap();
    let held = f.engine.delete_package_revision("default", "r.p.ws").await.unwrap();
    assert!(held.metadata.deletion_timestamp.is_some());
    assert!(git(&remote, &["branch"]).contains("drafts/p/ws"));
    let mut release = (*f.engine.get_package_revision("default", "r.p.ws").unwrap()).clone();
    release.metadata.finalizers.clear();
    f.engine.update_package_revision("default", "r.p.ws", release, Endpoint::Update).await.unwrap();
    assert!(f.engine.get_package_revision("default", "r.p.ws").is_err());
    assert!(!git(&remote, &["branch"]).contains("drafts/p/ws"));
}

#[tokio::test]
async fn concurrent_updates_of_one_revision_conflict() {
    let f = Fixture::new().await;
    let remote = f.bare("r.git");
    f.register("r", &remote).await;
    let pr = f.create("r", "p", "ws", None).await.unwrap();
    let mut proposed = (*pr).clone();
    proposed.spec.lifecycle = Some(Lifecycle::Proposed);
    let (a, b) = tokio::join!(
        f.engine.update_package_revision("default", "r.p.ws", proposed.clone(), Endpoint::Update),
        f.engine.update_package_revision("default", "r.p.ws", proposed.clone(), Endpoint::Update),
    );
    let results = [a, b];
    assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 1, "{results:?}");
    let err = results.into_iter().find_map(Result::err).unwrap();
    assert!(matches!(err, Error::Conflict(_)), "{err:?}");
}

#[tokio::test]
async fn state_survives_restart_and_external_changes_are_seen() {
    let dir = tempfile::tempdir().unwrap();
    let remote = dir.path().join("r.git");
    Command::new("git").args(["init", "-q", "--bare", "-b", "main"]).arg(&remote).output().unwrap();
    let config = config(&dir.path().join("data"));
    let rv_before;
    {
        let f = Fixture {
            engine: open(config.clone()).await,
            dir: tempfile::tempdir().unwrap(),
            memory_store: None,
        };
        f.register("r", &remote).await;
        let pr = f.create("r", "p", "ws", None).await.unwrap();
        let mut labelled = (*pr).clone();
        labelled.metadata.labels.insert("keep".into(), "me".into());
        rv_before = f
            .engine
            .update_package_revision("default", "r.p.ws", labelled, Endpoint::Update)
            .await
            .unwrap()
            .metadata
            .resource_version
            .clone();
    }
    let engine = open(EngineConfig { sync_interval: Duration::from_millis(200), ..config }).await;
    assert!(engine.wait_ready(Duration::from_secs(30)).await);
    let pr = engine.get_package_revision("default", "r.p.ws").unwrap();
    assert_eq!(pr.metadata.labels["keep"], "me");
    assert_eq!(
        pr.metadata.resource_version, rv_before,
        "an unchanged revision keeps its resourceVersion"
    );

    // A branch deleted with plain git disappears at the next sync, with a DELETED event.
    let mut events = engine.subscribe(None).unwrap().receiver;
    git(&remote, &["branch", "-D", "drafts/p/ws"]);
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while engine.get_package_revision("default", "r.p.ws").is_ok() {
        assert!(std::time::Instant::now() < deadline, "external deletion never seen");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let event = events.recv().await.unwrap();
    assert_eq!(event.event_type, EventType::Deleted);
    assert_eq!(event.object()["metadata"]["name"], "r.p.ws");
}

#[tokio::test]
async fn failed_create_rolls_back_completely() {
    let f = Fixture::with_memory_store().await;
    let remote = f.bare("r.git");
    f.register("r", &remote).await;
    let refs_before = git(&remote, &["show-ref"]);
    let rv_before = f.engine.current_resource_version().unwrap();
    let mut events = f.engine.subscribe(None).unwrap().receiver;
    // The draft branch is pushed, then indexing it fails.
    f.store_faults().fail_next("apply", 1);
    let err = f.create("r", "p", "ws", None).await.unwrap_err();
    assert!(err.to_string().contains("injected fault"), "{err}");
    assert_eq!(git(&remote, &["show-ref"]), refs_before, "the draft branch was removed again");
    assert!(f.engine.get_package_revision("default", "r.p.ws").is_err());
    assert!(events.try_recv().is_err(), "no event for a rolled-back create");
    assert_eq!(f.engine.current_resource_version().unwrap(), rv_before, "no store row was written");
    // The same create works afterwards.
    f.create("r", "p", "ws", None).await.unwrap();
}

#[tokio::test]
async fn packages_register_fill_and_delete() {
    use veranda_api::types::{PackageSpec, PorchPackage};
    let f = Fixture::new().await;
    let remote = f.bare("r.git");
    f.register("r", &remote).await;
    let empty = PorchPackage {
        spec: PackageSpec { repository: "r".into(), package_name: "net/base".into() },
        ..Default::default()
    };
    let created = f.engine.create_package("default", empty.clone()).await.unwrap();
    assert_eq!(created.metadata.name, "r.net.base");
    assert!(matches!(
        f.engine.create_package("default", empty).await.unwrap_err(),
        Error::AlreadyExists { .. }
    ));
    assert_eq!(f.engine.get_package("default", "r.net.base").unwrap().status.latest_revision, 0);
    // A first revision fills the registered package.
    f.create("r", "net/base", "ws1", None).await.unwrap();
    f.publish("r.net.base.ws1").await;
    f.create("r", "net/base", "ws2", Some(edit_task("r.net.base.ws1"))).await.unwrap();
    assert_eq!(f.engine.get_package("default", "r.net.base").unwrap().status.latest_revision, 1);
    let packages = f.engine.list_packages(Some("default")).unwrap();
    assert_eq!(packages.len(), 1, "{packages:?}");
    // A package with a Published revision cannot be deleted (the placeholder needs no proposal).
    let refused = f.engine.delete_package("default", "r.net.base").await.unwrap_err();
    match &refused {
        Error::Forbidden { message, .. } => {
            assert!(message.contains("r.net.base.ws1"), "{message}");
            assert!(!message.contains("r.net.base.main"), "{message}");
        }
        other => panic!("expected Forbidden, got {other:?}"),
    }
    // Nor one whose revision is the upstream of another package's revision.
    let clone = Task {
        task_type: "clone".into(),
        clone: Some(veranda_api::types::CloneTask {
            upstream_ref: veranda_api::types::UpstreamPackage {
                upstream_ref: Some(NameRef { name: "r.net.base.ws1".into() }),
                ..Default::default()
            },
        }),
        ..Default::default()
    };
    f.create("r", "app", "ws", Some(clone)).await.unwrap();
    f.move_to("r.net.base.ws1", Lifecycle::DeletionProposed, Endpoint::Update).await.unwrap();
    let refused = f.engine.delete_package("default", "r.net.base").await.unwrap_err();
    match &refused {
        Error::Forbidden { message, .. } => {
            assert!(message.contains("r.net.base.ws1 (upstream of r.app.ws)"), "{message}")
        }
        other => panic!("expected Forbidden, got {other:?}"),
    }
    assert_eq!(git(&remote, &["tag"]).trim(), "net/base/v1", "nothing was deleted");
    f.engine.delete_package_revision("default", "r.app.ws").await.unwrap();
    // Deleting the package removes every revision, its branches, tags and directory.
    f.engine.delete_package("default", "r.net.base").await.unwrap();
    assert!(f.engine.list_package_revisions(None, &RevisionFilter::default()).is_empty());
    assert!(f.engine.list_packages(None).unwrap().is_empty());
    assert!(git(&remote, &["tag"]).is_empty());
    assert!(!git(&remote, &["branch"]).contains("drafts/"));
    assert!(!git(&remote, &["ls-tree", "-r", "--name-only", "main"]).contains("net/base"));
}

#[tokio::test]
async fn deleting_a_repository_unregisters_its_revisions_only() {
    let f = Fixture::new().await;
    let remote = f.bare("r.git");
    f.register("r", &remote).await;
    f.create("r", "p", "ws", None).await.unwrap();
    let mut events = f.engine.subscribe(None).unwrap().receiver;
    f.engine.delete_repository("default", "r").await.unwrap();
    assert!(f.engine.list_package_revisions(None, &RevisionFilter::default()).is_empty());
    let mut deleted = Vec::new();
    while let Ok(event) = events.try_recv() {
        if event.event_type == EventType::Deleted {
            deleted
                .push(event.object()["metadata"]["name"].as_str().unwrap_or_default().to_string());
        }
    }
    assert!(deleted.contains(&"r.p.ws".to_string()), "{deleted:?}");
    assert!(git(&remote, &["branch"]).contains("drafts/p/ws"), "git is untouched");
}

#[tokio::test]
async fn watches_resume_from_a_resource_version() {
    let dir = tempfile::tempdir().unwrap();
    let config = config(&dir.path().join("data"));
    let remote = dir.path().join("r.git");
    Command::new("git").args(["init", "-q", "--bare", "-b", "main"]).arg(&remote).output().unwrap();
    {
        let f = Fixture {
            engine: open(config.clone()).await,
            dir: tempfile::tempdir().unwrap(),
            memory_store: None,
        };
        f.register("r", &remote).await;
    }
    // A restarted engine has no log before its start: older versions are gone (410).
    let f = Fixture { engine: open(config).await, dir, memory_store: None };
    assert!(f.engine.wait_ready(Duration::from_secs(30)).await);
    assert!(matches!(f.engine.subscribe(Some(0)), Err(veranda_engine::WatchError::Gone { .. })));
    let start = f.engine.current_resource_version().unwrap();
    f.create("r", "a", "ws", None).await.unwrap();
    let middle = f.engine.current_resource_version().unwrap();
    f.create("r", "b", "ws", None).await.unwrap();
    let resumed = f.engine.subscribe(Some(middle)).unwrap();
    let names: Vec<String> = resumed
        .backlog
        .iter()
        .filter_map(|e| e.object()["metadata"]["name"].as_str().map(String::from))
        .collect();
    assert_eq!(names, vec!["r.b.ws"]);
    let all = f.engine.subscribe(Some(start)).unwrap();
    assert!(all.backlog.iter().any(|e| e.object()["metadata"]["name"] == "r.a.ws"));
    assert!(all.backlog.windows(2).all(|w| w[0].resource_version < w[1].resource_version));
}

#[tokio::test]
async fn clone_from_a_git_url_into_a_deployment_repository() {
    use veranda_api::types::{CloneTask, GitPackage, UpstreamPackage};
    let f = Fixture::new().await;
    let upstream = f.dir.path().join("upstream");
    std::fs::create_dir_all(upstream.join("blueprints/ns")).unwrap();
    git(&upstream, &["init", "-q", "-b", "main"]);
    std::fs::write(
        upstream.join("blueprints/ns/Kptfile"),
        "apiVersion: kpt.dev/v1\nkind: Kptfile\nmetadata:\n  name: ns\n",
    )
    .unwrap();
    std::fs::write(
        upstream.join("blueprints/ns/ns.yaml"),
        "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: example\n",
    )
    .unwrap();
    git(&upstream, &["add", "."]);
    git(
        &upstream,
        &["-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-q", "-m", "v1"],
    );
    git(&upstream, &["tag", "blueprints/ns/v1"]);
    let remote = f.bare("deploy.git");
    let repo = Repository {
        metadata: ObjectMeta { name: "deploy".into(), ..Default::default() },
        spec: RepositorySpec {
            deployment: true,
            git: Some(GitRepositorySpec {
                repo: remote.display().to_string(),
                create_branch: true,
                ..Default::default()
            }),
            ..Default::default()
        },
        ..Default::default()
    };
    f.engine.create_repository("default", repo).await.unwrap();
    let clone = |directory: &str, reference: &str| Task {
        task_type: "clone".into(),
        clone: Some(CloneTask {
            upstream_ref: UpstreamPackage {
                origin_type: "git".into(),
                git: Some(GitPackage {
                    repo: upstream.display().to_string(),
                    r#ref: reference.into(),
                    directory: directory.into(),
                    secret_ref: Default::default(),
                }),
                ..Default::default()
            },
        }),
        ..Default::default()
    };
    // A bad directory or ref fails with a field error and leaves nothing behind.
    let refs_before = git(&remote, &["show-ref"]);
    let err = f
        .create("deploy", "team-ns", "ws", Some(clone("/blueprints/none", "v1")))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Invalid { .. }), "{err:?}");
    let err =
        f.create("deploy", "team-ns", "ws", Some(clone("blueprints/ns", "v9"))).await.unwrap_err();
    assert!(matches!(err, Error::Invalid { .. }), "{err:?}");
    assert_eq!(git(&remote, &["show-ref"]), refs_before);
    // A leading "/" in the directory is accepted; the lock names the resolved commit.
    let pr =
        f.create("deploy", "team-ns", "ws", Some(clone("/blueprints/ns", "v1"))).await.unwrap();
    let lock = pr.status.upstream_lock.as_ref().and_then(|l| l.git.as_ref()).unwrap();
    assert_eq!(lock.directory, "blueprints/ns");
    assert_eq!(lock.r#ref, "v1");
    assert_eq!(lock.commit, git(&upstream, &["rev-parse", "HEAD"]).trim());
    let resources = f.engine.get_resources("default", "deploy.team-ns.ws").await.unwrap();
    let context = &resources.spec.resources["package-context.yaml"];
    assert!(
        context.contains("name: team-ns") && context.contains("package-path: team-ns"),
        "{context}"
    );
    assert!(resources.spec.resources["Kptfile"].contains("name: team-ns"));
}

#[tokio::test]
async fn upgrade_keeps_local_edits() {
    use veranda_api::types::{CloneTask, PackageRevisionResources, UpgradeTask, UpstreamPackage};
    let f = Fixture::new().await;
    let shared = match std::env::var_os("VERANDA_SHARED") {
        Some(dir) if !dir.is_empty() => std::path::PathBuf::from(dir),
        _ => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared"),
    };
    let bundle = shared
        .join("testdata/packages/nephio-project-porch/test/pkgs/test-pkgs/test-blueprints.bundle");
    let blueprints = f.dir.path().join("blueprints.git");
    let out = Command::new("git")
        .args(["clone", "-q", "--bare"])
        .arg(&bundle)
        .arg(&blueprints)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    f.register("blueprints", &blueprints).await;
    let deploy = f.bare("deploy.git");
    f.register("deploy", &deploy).await;

    let clone = Task {
        task_type: "clone".into(),
        clone: Some(CloneTask {
            upstream_ref: UpstreamPackage {
                upstream_ref: Some(NameRef { name: "blueprints.basens.v1".into() }),
                ..Default::default()
            },
        }),
        ..Default::default()
    };
    f.create("deploy", "my-ns", "v1", Some(clone)).await.unwrap();
    // Local edit: a label on the namespace, with a comment.
    let mut resources: PackageRevisionResources =
        f.engine.get_resources("default", "deploy.my-ns.v1").await.unwrap();
    let ns = resources.spec.resources["namespace.yaml"].clone();
    assert!(ns.contains("internal.kpt.dev/upstream-identifier"), "clone adds merge keys: {ns}");
    let edited = ns.replace(
        "  name: example\n",
        "  name: example # the team's namespace\n  labels:\n    team: blue\n",
    );
    assert_ne!(edited, ns, "{ns}");
    resources.spec.resources.insert("namespace.yaml".into(), edited);
    f.engine.update_resources("default", "deploy.my-ns.v1", resources).await.unwrap();
    f.publish("deploy.my-ns.v1").await;

    let upgrade = |strategy: &str| Task {
        task_type: "upgrade".into(),
        upgrade: Some(UpgradeTask {
            old_upstream_ref: NameRef { name: "blueprints.basens.v1".into() },
            new_upstream_ref: NameRef { name: "blueprints.basens.v2".into() },
            local_package_revision_ref: NameRef { name: "deploy.my-ns.v1".into() },
            strategy: strategy.into(),
        }),
        ..Default::default()
    };
    // fast-forward refuses: the local package differs from the old upstream.
    let err = f.create("deploy", "my-ns", "v2", Some(upgrade("fast-forward"))).await.unwrap_err();
    assert!(matches!(err, Error::Invalid { .. }), "{err:?}");
    let pr = f.create("deploy", "my-ns", "v2", Some(upgrade(""))).await.unwrap();
    assert_eq!(pr.spec.tasks[0].task_type, "upgrade");
    let lock = pr.status.upstream_lock.as_ref().and_then(|l| l.git.as_ref()).unwrap();
    assert_eq!(lock.r#ref, "basens/v2");
    let merged = f.engine.get_resources("default", "deploy.my-ns.v2").await.unwrap().spec.resources;
    assert!(
        merged.contains_key("resourcequota.yaml"),
        "upstream addition applied: {:?}",
        merged.keys()
    );
    let ns = &merged["namespace.yaml"];
    assert!(
        ns.contains("team: blue") && ns.contains("# the team's namespace"),
        "local edit and comment kept: {ns}"
    );
    assert!(merged["Kptfile"].contains("name: my-ns"), "{}", merged["Kptfile"]);

    // Unpublished or placeholder sources are refused, naming the field.
    let mut bad = upgrade("");
    bad.upgrade.as_mut().unwrap().new_upstream_ref.name = "blueprints.basens.main".into();
    let err = f.create("deploy", "my-ns", "v3", Some(bad)).await.unwrap_err();
    assert!(err.to_string().contains("newUpstreamRef"), "{err}");
    let mut bad = upgrade("");
    bad.upgrade.as_mut().unwrap().local_package_revision_ref.name = "deploy.my-ns.v2".into();
    let err = f.create("deploy", "my-ns", "v3", Some(bad)).await.unwrap_err();
    assert!(err.to_string().contains("must be published"), "{err}");
}

#[tokio::test]
async fn resource_updates_render_the_pipeline() {
    use veranda_api::types::PackageRevisionResources;
    let f = Fixture::new().await;
    let remote = f.bare("r.git");
    f.register("r", &remote).await;
    let created = f.create("r", "app", "ws", None).await.unwrap();
    // init packages are rendered too: the Kptfile records the Rendered condition.
    assert!(
        created
            .status
            .conditions
            .iter()
            .flatten()
            .any(|c| c.condition_type == "Rendered" && c.status == "True"),
        "{:?}",
        created.status
    );

    let kptfile = "apiVersion: kpt.dev/v1\nkind: Kptfile\nmetadata:\n  name: app\npipeline:\n  mutators:\n  - image: ghcr.io/kptdev/krm-functions-catalog/set-namespace:v0.4.1\n    configMap:\n      namespace: prod\n";
    let cm = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings # keep me\n  namespace: dev\ndata:\n  a: b\n";
    let update = |resources: Vec<(&str, &str)>, rv: String| PackageRevisionResources {
        metadata: ObjectMeta {
            name: "r.app.ws".into(),
            resource_version: rv,
            ..Default::default()
        },
        spec: veranda_api::types::PackageRevisionResourcesSpec {
            resources: resources.into_iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            ..Default::default()
        },
        ..Default::default()
    };
    let rv = f
        .engine
        .get_package_revision("default", "r.app.ws")
        .unwrap()
        .metadata
        .resource_version
        .clone();
    let updated = f
        .engine
        .update_resources(
            "default",
            "r.app.ws",
            update(vec![("Kptfile", kptfile), ("cm.yaml", cm)], rv),
        )
        .await
        .unwrap();
    let rendered = &updated.spec.resources["cm.yaml"];
    assert!(rendered.contains("namespace: prod") && rendered.contains("# keep me"), "{rendered}");
    assert_eq!(updated.status.render_status.error, "");

    // A failing pipeline pushes nothing and says so.
    let broken = "apiVersion: kpt.dev/v1\nkind: Kptfile\nmetadata:\n  name: app\npipeline:\n  mutators:\n  - image: example.com/no-such-function:v1\n";
    let rv = f
        .engine
        .get_package_revision("default", "r.app.ws")
        .unwrap()
        .metadata
        .resource_version
        .clone();
    let head = git(&remote, &["rev-parse", "drafts/app/ws"]);
    let err = f
        .engine
        .update_resources(
            "default",
            "r.app.ws",
            update(vec![("Kptfile", broken), ("cm.yaml", cm)], rv.clone()),
        )
        .await
        .unwrap_err();
    assert!(err.to_string().contains("Package NOT pushed to remote"), "{err}");
    assert_eq!(git(&remote, &["rev-parse", "drafts/app/ws"]), head);

    // With porch.kpt.dev/push-on-render-failure the input is pushed and the error still reported.
    let mut pr = (*f.engine.get_package_revision("default", "r.app.ws").unwrap()).clone();
    pr.metadata.annotations.insert("porch.kpt.dev/push-on-render-failure".into(), "true".into());
    let pr = f
        .engine
        .update_package_revision("default", "r.app.ws", pr, Endpoint::Update)
        .await
        .unwrap();
    let err = f
        .engine
        .update_resources(
            "default",
            "r.app.ws",
            update(
                vec![("Kptfile", broken), ("cm.yaml", cm)],
                pr.metadata.resource_version.clone(),
            ),
        )
        .await
        .unwrap_err();
    assert!(err.to_string().contains("Package pushed to remote despite render failure"), "{err}");
    assert_ne!(git(&remote, &["rev-parse", "drafts/app/ws"]), head);
    let stored = f.engine.get_resources("default", "r.app.ws").await.unwrap();
    assert!(stored.spec.resources["Kptfile"].contains("no-such-function"));
}

#[tokio::test]
async fn save_and_push_on_render_failure_and_a_five_mib_package() {
    use veranda_api::types::{PackageRevisionResources, PackageRevisionResourcesSpec};
    let f = Fixture::new().await;
    let remote = f.bare("r.git");
    f.register("r", &remote).await;
    f.create("r", "app", "ws", None).await.unwrap();
    let mut pr = (*f.engine.get_package_revision("default", "r.app.ws").unwrap()).clone();
    pr.metadata.annotations.insert("porch.kpt.dev/push-on-render-failure".into(), "true".into());
    f.engine.update_package_revision("default", "r.app.ws", pr, Endpoint::Update).await.unwrap();
    let put = |resources: BTreeMapFiles| {
        let rv = f
            .engine
            .get_package_revision("default", "r.app.ws")
            .unwrap()
            .metadata
            .resource_version
            .clone();
        PackageRevisionResources {
            metadata: ObjectMeta {
                name: "r.app.ws".into(),
                resource_version: rv,
                ..Default::default()
            },
            spec: PackageRevisionResourcesSpec { resources, ..Default::default() },
            ..Default::default()
        }
    };
    // set-namespace succeeds, then an unknown function fails: with save-on-render-failure the
    // partially rendered output is what gets pushed.
    let kptfile = "apiVersion: kpt.dev/v1\nkind: Kptfile\nmetadata:\n  name: app\n  annotations:\n    kpt.dev/save-on-render-failure: \"true\"\npipeline:\n  mutators:\n  - image: set-namespace:v0.4.1\n    configMap:\n      namespace: prod\n  - image: example.com/missing:v1\n";
    let cm = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n  namespace: dev\n";
    let resources = BTreeMapFiles::from([
        ("Kptfile".to_string(), kptfile.to_string()),
        ("cm.yaml".to_string(), cm.to_string()),
    ]);
    let err = f.engine.update_resources("default", "r.app.ws", put(resources)).await.unwrap_err();
    assert!(err.to_string().contains("Package pushed to remote despite render failure"), "{err}");
    let stored = f.engine.get_resources("default", "r.app.ws").await.unwrap();
    assert!(
        stored.spec.resources["cm.yaml"].contains("namespace: prod"),
        "{}",
        stored.spec.resources["cm.yaml"]
    );

    // A 5 MiB package renders and is stored.
    let kptfile = "apiVersion: kpt.dev/v1\nkind: Kptfile\nmetadata:\n  name: app\npipeline:\n  mutators:\n  - image: ghcr.io/kptdev/krm-functions-catalog/set-labels:v0.2.0\n    configMap:\n      tier: big\n";
    let mut resources = BTreeMapFiles::from([("Kptfile".to_string(), kptfile.to_string())]);
    let payload = "x".repeat(5 * 1024);
    for i in 0..1024 {
        resources.insert(
            format!("cm-{i}.yaml"),
            format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm-{i}\ndata:\n  blob: {payload}\n"),
        );
    }
    let total: usize = resources.values().map(String::len).sum();
    assert!(total > 5 * 1024 * 1024, "{total}");
    let updated = f.engine.update_resources("default", "r.app.ws", put(resources)).await.unwrap();
    assert_eq!(updated.spec.resources.len(), 1025);
    assert!(updated.spec.resources["cm-1023.yaml"].contains("tier: big"));
}

type BTreeMapFiles = std::collections::BTreeMap<String, String>;

#[tokio::test]
async fn approving_one_package_leaves_the_others_untouched() {
    let f = Fixture::new().await;
    let remote = f.bare("r.git");
    f.register("r", &remote).await;
    f.create("r", "a", "ws", None).await.unwrap();
    f.publish("r.a.ws").await;
    f.create("r", "b", "ws", None).await.unwrap();
    f.publish("r.b.ws").await;
    let a_main = f.engine.get_package_revision("default", "r.a.main").unwrap();
    let a_v1 = f.engine.get_package_revision("default", "r.a.ws").unwrap();
    let b_main = f.engine.get_package_revision("default", "r.b.main").unwrap();
    let mut events = f.engine.subscribe(None).unwrap().receiver;

    // A new revision of b moves the branch head; a's objects must not change or be announced.
    f.create("r", "b", "ws2", Some(edit_task("r.b.ws"))).await.unwrap();
    f.publish("r.b.ws2").await;
    let a_main_after = f.engine.get_package_revision("default", "r.a.main").unwrap();
    assert_eq!(a_main_after.metadata.resource_version, a_main.metadata.resource_version);
    let a_v1_after = f.engine.get_package_revision("default", "r.a.ws").unwrap();
    assert_eq!(a_v1_after.metadata.resource_version, a_v1.metadata.resource_version);
    let head = git(&remote, &["rev-parse", "main"]).trim().to_string();
    // a's placeholder still names a commit of the branch where a has exactly this content.
    let lock = a_main_after.status.self_lock.as_ref().and_then(|l| l.git.as_ref()).unwrap();
    assert_ne!(lock.commit, head);
    assert_eq!(
        git(&remote, &["rev-parse", &format!("{}:a", lock.commit)]),
        git(&remote, &["rev-parse", &format!("{head}:a")])
    );
    // b's placeholder moved with its new revision.
    let b_main_after = f.engine.get_package_revision("default", "r.b.main").unwrap();
    assert_ne!(b_main_after.metadata.resource_version, b_main.metadata.resource_version);
    let b_lock = b_main_after.status.self_lock.as_ref().and_then(|l| l.git.as_ref()).unwrap();
    assert_eq!(b_lock.commit, head);

    let mut names = Vec::new();
    while let Ok(event) = events.try_recv() {
        names.push(event.object()["metadata"]["name"].as_str().unwrap_or("").to_string());
    }
    assert!(names.iter().all(|name| name.starts_with("r.b.")), "{names:?}");
    assert!(names.iter().any(|name| name == "r.b.main"), "{names:?}");
}

/// Polls until `check` holds (the engine catches up in the background), at most 10 s.
async fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    for _ in 0..200 {
        if check() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("never happened: {what}");
}

#[tokio::test]
async fn write_in_git_is_acknowledged_when_indexing_fails() {
    let f = Fixture::with_memory_store().await;
    let remote = f.bare("r.git");
    f.register("r", &remote).await;
    f.create("r", "p", "ws", None).await.unwrap();

    // A lifecycle move with a label: Git takes the move, indexing it fails once.
    let mut pr = (*f.engine.get_package_revision("default", "r.p.ws").unwrap()).clone();
    pr.spec.lifecycle = Some(Lifecycle::Proposed);
    pr.metadata.labels.insert("team".into(), "blue".into());
    f.store_faults().fail_next("apply", 1);
    f.engine
        .update_package_revision("default", "r.p.ws", pr, Endpoint::Update)
        .await
        .expect("a write Git holds is acknowledged");
    assert!(git(&remote, &["branch"]).contains("proposed/p/ws"));
    eventually("the index shows the proposal and its label", || {
        let pr = f.engine.get_package_revision("default", "r.p.ws").unwrap();
        pr.spec.lifecycle == Some(Lifecycle::Proposed)
            && pr.metadata.labels.get("team").map(String::as_str) == Some("blue")
    })
    .await;

    // A delete whose indexing fails: acknowledged, and the revision goes away.
    f.store_faults().fail_next("apply", 1);
    f.engine.delete_package_revision("default", "r.p.ws").await.expect("acknowledged");
    assert!(!git(&remote, &["branch"]).contains("proposed/p/ws"));
    eventually("the index drops the deleted revision", || {
        f.engine.get_package_revision("default", "r.p.ws").is_err()
    })
    .await;

    // The label survives a restart: it was stored when the index caught up.
    f.create("r", "q", "ws", None).await.unwrap();
    let mut pr = (*f.engine.get_package_revision("default", "r.q.ws").unwrap()).clone();
    pr.spec.lifecycle = Some(Lifecycle::Proposed);
    pr.metadata.labels.insert("team".into(), "green".into());
    f.store_faults().fail_next("apply", 1);
    f.engine.update_package_revision("default", "r.q.ws", pr, Endpoint::Update).await.unwrap();
    eventually("caught up", || {
        f.engine.get_package_revision("default", "r.q.ws").unwrap().spec.lifecycle
            == Some(Lifecycle::Proposed)
    })
    .await;
    let reopened = f.reopen().await;
    assert!(reopened.engine.wait_ready(Duration::from_secs(10)).await);
    let pr = reopened.engine.get_package_revision("default", "r.q.ws").unwrap();
    assert_eq!(pr.metadata.labels.get("team").map(String::as_str), Some("green"));
}

/// Writes reconcile only what they moved (`PackageRepository::list_changes`); an external push
/// in between is still found by the periodic sync, and the index always equals what a fresh
/// engine lists from Git.
#[tokio::test]
async fn incremental_reconciles_and_external_pushes_add_up() {
    let dir = tempfile::tempdir().unwrap();
    let remote = dir.path().join("r.git");
    Command::new("git").args(["init", "-q", "--bare", "-b", "main"]).arg(&remote).output().unwrap();
    let config = EngineConfig {
        sync_interval: Duration::from_millis(200),
        ..config(&dir.path().join("data"))
    };
    let f = Fixture {
        engine: open(config.clone()).await,
        dir: tempfile::tempdir().unwrap(),
        memory_store: None,
    };
    f.register("r", &remote).await;
    f.create("r", "a", "ws", None).await.unwrap();
    f.publish("r.a.ws").await;
    f.create("r", "b", "ws", None).await.unwrap();

    // Someone else adds package c on the branch and a draft of d.
    let work = dir.path().join("work");
    git(dir.path(), &["clone", "-q", remote.to_str().unwrap(), work.to_str().unwrap()]);
    std::fs::create_dir_all(work.join("c")).unwrap();
    std::fs::write(
        work.join("c/Kptfile"),
        "apiVersion: kpt.dev/v1\nkind: Kptfile\nmetadata:\n  name: c\n",
    )
    .unwrap();
    git(&work, &["add", "-A"]);
    git(
        &work,
        &["-c", "user.name=x", "-c", "user.email=x@example.com", "commit", "-q", "-m", "add c"],
    );
    std::fs::create_dir_all(work.join("d")).unwrap();
    std::fs::write(
        work.join("d/Kptfile"),
        "apiVersion: kpt.dev/v1\nkind: Kptfile\nmetadata:\n  name: d\n",
    )
    .unwrap();
    git(&work, &["add", "-A"]);
    git(
        &work,
        &["-c", "user.name=x", "-c", "user.email=x@example.com", "commit", "-q", "-m", "add d"],
    );
    git(&work, &["push", "-q", "origin", "HEAD~1:main", "HEAD:refs/heads/drafts/d/ext"]);
    eventually("the external push is indexed", || {
        f.engine.get_package_revision("default", "r.c.main").is_ok()
            && f.engine.get_package_revision("default", "r.d.ext").is_ok()
    })
    .await;

    // Writes after the sync are incremental again and see the new branch head.
    f.publish("r.b.ws").await;
    let mut labelled = (*f.engine.get_package_revision("default", "r.a.ws").unwrap()).clone();
    labelled.metadata.labels.insert("k".into(), "v".into());
    f.engine
        .update_package_revision("default", "r.a.ws", labelled, Endpoint::Update)
        .await
        .unwrap();
    f.move_to("r.a.ws", Lifecycle::DeletionProposed, Endpoint::Update).await.unwrap();
    f.engine.delete_package_revision("default", "r.d.ext").await.unwrap();

    let listed = |engine: &Engine| {
        let mut all: Vec<String> = engine
            .list_package_revisions(Some("default"), &Default::default())
            .iter()
            .map(|pr| {
                let latest = pr.metadata.labels.get(veranda_api::LATEST_REVISION_LABEL).cloned();
                format!(
                    "{} {:?} {} {latest:?} {:?}",
                    pr.metadata.name,
                    pr.spec.lifecycle,
                    pr.spec.revision,
                    pr.metadata.labels.get("k")
                )
            })
            .collect();
        all.sort();
        all
    };
    let before = listed(&f.engine);
    assert!(
        before.iter().any(|line| line.starts_with("r.a.ws Some(DeletionProposed)")),
        "{before:?}"
    );
    assert!(!before.iter().any(|line| line.starts_with("r.d.ext")), "{before:?}");
    assert!(before.iter().any(|line| line.starts_with("r.b.main")), "{before:?}");
    let f = f.reopen_with(config).await;
    assert!(f.engine.wait_ready(Duration::from_secs(30)).await);
    assert_eq!(listed(&f.engine), before);
}

#[tokio::test]
async fn a_name_two_refs_claim_goes_to_the_other_when_the_first_is_deleted() {
    let f = Fixture::new().await;
    let remote = f.bare("r.git");
    f.register("r", &remote).await;
    // Packages `x.y` and `x/y` both map to the object name `r.x.y.ws`.
    let work = f.dir.path().join("work");
    git(f.dir.path(), &["clone", "-q", remote.to_str().unwrap(), work.to_str().unwrap()]);
    for package in ["x.y", "x/y"] {
        std::fs::create_dir_all(work.join(package)).unwrap();
        std::fs::write(
            work.join(package).join("Kptfile"),
            format!("apiVersion: kpt.dev/v1\nkind: Kptfile\nmetadata:\n  name: {package}\n"),
        )
        .unwrap();
    }
    git(&work, &["add", "-A"]);
    git(
        &work,
        &["-c", "user.name=x", "-c", "user.email=x@example.com", "commit", "-q", "-m", "both"],
    );
    git(
        &work,
        &["push", "-q", "origin", "HEAD:refs/heads/drafts/x.y/ws", "HEAD:refs/heads/drafts/x/y/ws"],
    );
    let f = f.reopen().await;
    assert!(f.engine.wait_ready(Duration::from_secs(30)).await);
    let first = f.engine.get_package_revision("default", "r.x.y.ws").unwrap();
    assert_eq!(first.spec.package_name, "x.y");

    // Deleting it frees the name at once: the next pass sees the other claimant.
    f.engine.delete_package_revision("default", "r.x.y.ws").await.unwrap();
    let second = f.engine.get_package_revision("default", "r.x.y.ws").unwrap();
    assert_eq!(second.spec.package_name, "x/y");
    let refs = git(&remote, &["for-each-ref", "--format=%(refname)"]);
    assert!(!refs.contains("drafts/x.y/ws") && refs.contains("drafts/x/y/ws"), "{refs}");
}
