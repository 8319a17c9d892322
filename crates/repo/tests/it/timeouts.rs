//! Network time limits and lock discipline: a remote that accepts connections and never
//! answers, a remote that hangs after the repository is open, and a download that runs while
//! the repository is read and written.

use std::{
    fs,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    thread,
    time::{Duration, Instant},
};

use veranda_repo::{Error, GitRepo, NetworkTimeouts, set_network_timeouts};

use crate::{
    http_server::{Auth, GitHttpServer, Tarpit, enable_push},
    util::{Scratch, create_draft, files, git, kptfile},
};

/// The limits of these tests; process-wide, so every test of this binary that talks to a
/// network remote runs under them (they are generous for a server on 127.0.0.1).
const TOTAL: Duration = Duration::from_secs(8);

fn limits() {
    set_network_timeouts(NetworkTimeouts::from_total(TOTAL));
}

#[test]
fn a_remote_that_never_answers_times_out() {
    limits();
    let scratch = Scratch::new();
    let tarpit = Tarpit::start();
    let started = Instant::now();
    let opened = GitRepo::open(scratch.config(&tarpit.url("http", "hung.git"), "cache"));
    let took = started.elapsed();
    assert!(matches!(opened, Err(Error::Timeout { .. })), "{:?}", opened.err());
    assert!(took < TOTAL + Duration::from_secs(5), "open took {took:?}");
    assert!(tarpit.connections() >= 1);

    let started = Instant::now();
    let fetched = veranda_repo::fetch_package(
        &tarpit.url("http", "hung.git"),
        "main",
        "",
        None,
        None,
        &Default::default(),
        &scratch.path("upstream"),
    );
    assert!(matches!(fetched, Err(Error::Timeout { .. })), "{:?}", fetched.err());
    assert!(started.elapsed() < TOTAL + Duration::from_secs(5));
    let message = Error::Timeout { seconds: 8 }.to_string();
    assert!(message.contains("did not answer within 8s"), "{message}");
}

#[test]
fn a_download_from_a_hanging_remote_blocks_neither_reads_nor_writes() {
    limits();
    let scratch = Scratch::new();
    let root = scratch.path("served");
    fs::create_dir_all(&root).expect("create served dir");
    let remote = scratch.blueprints("served/blueprints.git");
    enable_push(&remote);
    let hang = Arc::new(AtomicBool::new(false));
    let hook = {
        let hang = hang.clone();
        Arc::new(move |_: &str, path: &str, _: &str| {
            // Only the fetch side hangs: pushes (receive-pack) get through.
            if hang.load(Ordering::SeqCst) && path.contains("upload-pack") {
                thread::sleep(Duration::from_secs(3));
            }
        })
    };
    let server = GitHttpServer::start_with_hook(&root, Auth::None, hook);
    let repo = Arc::new(
        GitRepo::open(scratch.config(&server.url("blueprints.git"), "cache")).expect("open"),
    );
    let listed = repo.list().expect("list").len();

    // Someone else pushes a tag of a new commit (so the download has objects to ask for, which
    // is the request that hangs) while the remote is slow to answer fetches.
    let work = scratch.path("work");
    git(scratch.tmp.path(), &["clone", "-q", remote.to_str().expect("utf-8"), "work"]);
    git(&work, &["commit", "-q", "--allow-empty", "-m", "outside"]);
    git(&work, &["tag", "outside/v1"]);
    git(&work, &["push", "-q", "origin", "outside/v1"]);
    hang.store(true, Ordering::SeqCst);
    let downloading = {
        let repo = repo.clone();
        thread::spawn(move || repo.download())
    };
    thread::sleep(Duration::from_millis(300));
    let started = Instant::now();
    assert_eq!(repo.list().expect("list during a download").len(), listed);
    // A write during the download: its ref must survive the download's view of the remote.
    hang.store(false, Ordering::SeqCst);
    let draft = create_draft(&repo, "during", "ws", &files(&[("Kptfile", &kptfile("during"))]));
    let blocked = started.elapsed();
    assert!(blocked < Duration::from_secs(2), "reads and writes waited {blocked:?}");
    downloading.join().expect("download thread").expect("download");
    repo.fetch().expect("apply the download");
    assert_eq!(git(&remote, &["rev-parse", "drafts/during/ws"]), draft);
    let cache = scratch.path("cache");
    assert_eq!(git(&cache, &["rev-parse", "refs/remotes/origin/drafts/during/ws"]), draft);
    assert_eq!(
        git(&cache, &["rev-parse", "refs/tags/outside/v1"]),
        git(&remote, &["rev-parse", "outside/v1"])
    );
}
