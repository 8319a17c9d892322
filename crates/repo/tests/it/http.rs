//! Fetch and push over smart HTTP (`git http-backend`), with basic and bearer authentication and
//! a server-side hook that rejects pushes.

use std::{
    fs,
    os::unix::fs::PermissionsExt,
    path::PathBuf,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
};

use veranda_repo::{Credentials, Error, GitRepo, RefUpdate};

use crate::{
    http_server::{Auth, GitHttpServer, RequestHook, enable_push},
    util::{Scratch, create_draft, files, find, git, kptfile},
};

/// Serves a bare clone of test-blueprints as `blueprints.git`.
fn served(scratch: &Scratch) -> PathBuf {
    let root = scratch.path("served");
    fs::create_dir_all(&root).expect("create served dir");
    let repo = scratch.blueprints("served/blueprints.git");
    enable_push(&repo);
    repo
}

fn basic(username: &str, password: &str) -> Option<Credentials> {
    Some(Credentials::Basic { username: username.into(), password: password.into() })
}

#[test]
fn basic_auth_fetch_and_push() {
    let scratch = Scratch::new();
    let remote = served(&scratch);
    let server = GitHttpServer::start(
        scratch.path("served"),
        Auth::Basic { username: "porch".into(), password: "s3cret".into() },
    );
    let mut cfg = scratch.config(&server.url("blueprints.git"), "cache");
    cfg.credentials = basic("porch", "s3cret");
    let repo = GitRepo::open(cfg.clone()).expect("open over http");
    assert_eq!(repo.list().expect("list").len(), 16);

    let draft = create_draft(&repo, "web", "ws", &files(&[("Kptfile", &kptfile("web"))]));
    assert_eq!(git(&remote, &["rev-parse", "drafts/web/ws"]), draft);
    let approved =
        repo.approve("web", "ws", &draft, 1, &repo.draft_ref("web", "ws")).expect("approve");
    assert_eq!(git(&remote, &["rev-parse", "main"]), approved);
    assert_eq!(git(&remote, &["rev-parse", "web/v1"]), approved);
    assert!(git(&remote, &["branch", "--list", "drafts/*"]).is_empty());
    repo.push(&[RefUpdate::delete("refs/heads/drafts/never/existed")])
        .expect("deleting a missing ref");
    assert_eq!(find(&repo.list().expect("list"), "web", "ws").revision, 1);

    // A second cache sees the pushes through fetch.
    let mut other = cfg.clone();
    other.cache_dir = scratch.path("cache-2");
    let other = GitRepo::open(other).expect("open second cache");
    assert_eq!(find(&other.list().expect("list"), "web", "main").commit, approved);

    // Wrong or missing credentials fail without looping.
    for credentials in [basic("porch", "wrong"), None] {
        let before = server.unauthorized();
        let mut bad = cfg.clone();
        bad.cache_dir = scratch.path("cache-bad");
        bad.credentials = credentials;
        let err = GitRepo::open(bad).err().expect("authentication fails");
        assert!(matches!(err, Error::Git(_)), "{err:?}");
        assert!(server.unauthorized() - before <= 3, "gave up after a few attempts");
    }
}

#[test]
fn bearer_token() {
    let scratch = Scratch::new();
    let remote = served(&scratch);
    let server = GitHttpServer::start(scratch.path("served"), Auth::Bearer("t0ken".into()));
    let mut cfg = scratch.config(&server.url("blueprints.git"), "cache");
    cfg.credentials = Some(Credentials::Bearer("t0ken".into()));
    let repo = GitRepo::open(cfg.clone()).expect("open with bearer token");
    let draft = create_draft(&repo, "web", "ws", &files(&[("Kptfile", &kptfile("web"))]));
    assert_eq!(git(&remote, &["rev-parse", "drafts/web/ws"]), draft);
    assert_eq!(server.unauthorized(), 0);

    cfg.credentials = Some(Credentials::Bearer("wrong".into()));
    cfg.cache_dir = scratch.path("cache-bad");
    assert!(GitRepo::open(cfg).is_err());
    assert!(format!("{:?}", Credentials::Bearer("t0ken".into())).contains("redacted"));
}

#[test]
fn rejected_push_is_an_error() {
    let scratch = Scratch::new();
    let remote = served(&scratch);
    let hook = remote.join("hooks/pre-receive");
    fs::write(&hook, "#!/bin/sh\necho 'rejected by test hook' >&2\nexit 1\n").expect("write hook");
    fs::set_permissions(&hook, fs::Permissions::from_mode(0o755)).expect("chmod hook");
    let server = GitHttpServer::start(scratch.path("served"), Auth::None);

    let repo = GitRepo::open(scratch.config(&server.url("blueprints.git"), "cache")).expect("open");
    let before = repo.version().expect("version");
    let annotation = veranda_repo::Annotation::default();
    let commit = repo
        .commit_package("web", None, &files(&[("Kptfile", &kptfile("web"))]), "h", &annotation)
        .expect("commit");
    let err = repo
        .push(&[RefUpdate::set(repo.draft_ref("web", "ws"), &commit)])
        .expect_err("hook rejects");
    match &err {
        Error::PushRejected { refname, message } => {
            assert_eq!(refname, "refs/heads/drafts/web/ws");
            assert!(message.contains("pre-receive hook declined"), "{message}");
        }
        other => panic!("expected PushRejected, got {other:?}"),
    }
    assert_eq!(repo.version().expect("version"), before, "tracking refs are untouched");
    assert!(git(&remote, &["branch", "--list", "drafts/*"]).is_empty());
}

#[test]
fn approve_retries_when_the_branch_moves_during_the_push() {
    let scratch = Scratch::new();
    let remote = served(&scratch);
    let armed = Arc::new(AtomicBool::new(false));
    let interloper = Arc::new(Mutex::new(None::<String>));
    let hook: RequestHook = {
        let (remote, armed, interloper) = (remote.clone(), armed.clone(), interloper.clone());
        Arc::new(move |_method: &str, _path: &str, query: &str| {
            // Just before the approval's first push, another writer moves the branch.
            if query == "service=git-receive-pack" && armed.swap(false, Ordering::SeqCst) {
                let commit =
                    git(&remote, &["commit-tree", "-p", "main", "-m", "interloper", "main^{tree}"]);
                git(&remote, &["update-ref", "refs/heads/main", &commit]);
                *interloper.lock().expect("not poisoned") = Some(commit);
            }
        })
    };
    let server = GitHttpServer::start_with_hook(scratch.path("served"), Auth::None, hook);
    let repo = GitRepo::open(scratch.config(&server.url("blueprints.git"), "cache")).expect("open");
    let draft = create_draft(&repo, "web", "ws", &files(&[("Kptfile", &kptfile("web"))]));

    armed.store(true, Ordering::SeqCst);
    let approved =
        repo.approve("web", "ws", &draft, 1, &repo.draft_ref("web", "ws")).expect("approve");
    let interloper =
        interloper.lock().expect("not poisoned").clone().expect("the branch was moved");
    assert_eq!(git(&remote, &["rev-parse", "main"]), approved);
    assert_eq!(
        git(&remote, &["log", "-1", "--format=%P", "main"]),
        format!("{interloper} {draft}")
    );
    assert_eq!(git(&remote, &["rev-parse", "web/v1"]), approved);
}
