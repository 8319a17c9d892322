//! A registered repository whose tree is 50,000 directories deep is a Repository with
//! `Ready=False` naming the path and the limit, at registration and after a restart; the
//! server and every other repository keep working. Runs on a normal 2 MiB stack.

use std::{path::Path, time::Duration};

use veranda_api::{
    ObjectMeta,
    types::{GitRepositorySpec, Repository, RepositorySpec},
};
use veranda_engine::Engine;

use super::Fixture;

const LEVELS: usize = 50_000;

/// Writes `d/d/.../d/Kptfile` (`LEVELS` directories) into the bare `remote` bottom up with
/// git2 and points `main` at a commit of it.
fn deep_remote(remote: &Path) {
    let repo = git2::Repository::init_bare(remote).expect("init");
    let blob =
        repo.blob(b"apiVersion: kpt.dev/v1\nkind: Kptfile\nmetadata:\n  name: d\n").expect("blob");
    let mut builder = repo.treebuilder(None).expect("builder");
    builder.insert("Kptfile", blob, 0o100644).expect("insert");
    let mut tree = builder.write().expect("write");
    for _ in 0..LEVELS {
        let mut builder = repo.treebuilder(None).expect("builder");
        builder.insert("d", tree, 0o040000).expect("insert");
        tree = builder.write().expect("write");
    }
    let tree = repo.find_tree(tree).expect("tree");
    let sig = git2::Signature::now("t", "t@example.com").expect("signature");
    repo.commit(Some("refs/heads/main"), &sig, &sig, "deep", &tree, &[]).expect("commit");
}

fn registration(name: &str, path: &Path) -> Repository {
    Repository {
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
    }
}

fn ready(engine: &Engine, name: &str) -> (String, String) {
    let repo = engine.get_repository("default", name).expect("repository");
    // Right after a restart a repository has no condition until its first open ends.
    match repo.status.conditions.first() {
        Some(condition) => (condition.status.clone(), condition.message.clone()),
        None => (String::new(), String::new()),
    }
}

fn assert_too_deep(engine: &Engine) {
    let (status, message) = ready(engine, "deep");
    assert_eq!(status, "False", "{message}");
    assert!(message.contains("deeper than the limit of 64"), "{message}");
    assert!(message.contains("d/d/d/d"), "{message}");
}

async fn scenario() {
    let f = Fixture::new().await;
    let deep = f.dir.path().join("deep.git");
    deep_remote(&deep);
    let healthy = f.bare("healthy.git");
    f.register("healthy", &healthy).await;
    let created = f.engine.create_repository("default", registration("deep", &deep)).await.unwrap();
    let message = &created.status.conditions[0].message;
    assert_eq!(created.status.conditions[0].status, "False", "{message}");
    assert_too_deep(&f.engine);

    // The healthy repository still lists and writes.
    f.create("healthy", "app", "ws", None).await.unwrap();
    assert!(f.engine.get_package_revision("default", "healthy.app.ws").is_ok());

    // A restart on the same data: the deep repository is not ready again, the healthy one is.
    let f = f.reopen().await;
    let engine = &f.engine;
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while ready(engine, "deep").0 != "False" || ready(engine, "healthy").0 != "True" {
        assert!(std::time::Instant::now() < deadline, "{:?}", ready(engine, "deep"));
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_too_deep(engine);
    assert!(engine.get_package_revision("default", "healthy.app.ws").is_ok());
}

#[test]
fn a_too_deep_repository_is_not_ready_and_harms_nothing() {
    std::thread::Builder::new()
        .stack_size(2 << 20)
        .spawn(|| {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .thread_stack_size(2 << 20)
                .enable_all()
                .build()
                .expect("runtime")
                .block_on(scenario());
        })
        .expect("spawn")
        .join()
        .expect("no stack overflow");
}
