//! Writes to a remote that is a local bare repository: one pack per write instead of loose
//! objects, refs moved by a transaction, and a complete object graph in the remote even when the
//! cache holds objects the remote lost.

use std::{
    fs,
    path::{Path, PathBuf},
};

use veranda_repo::{ABSENT, Error, GitRepo, RefUpdate};

use crate::util::{Scratch, create_draft, files, git, kptfile};

/// Loose object files under `repo/objects`.
fn loose_objects(repo: &Path) -> usize {
    let mut count = 0;
    for dir in fs::read_dir(repo.join("objects")).expect("objects dir") {
        let dir = dir.expect("entry");
        let name = dir.file_name();
        let name = name.to_string_lossy();
        if name.len() == 2 && name.chars().all(|c| c.is_ascii_hexdigit()) {
            count += fs::read_dir(dir.path()).expect("fan-out dir").count();
        }
    }
    count
}

/// An empty bare remote, opened (creating `main`) with a cache: (remote, cache, repo).
fn open_empty(scratch: &Scratch) -> (PathBuf, PathBuf, GitRepo) {
    let remote = scratch.bare("remote.git");
    let mut cfg = scratch.config(remote.to_str().expect("utf-8"), "cache");
    cfg.create_branch = true;
    let cache = cfg.cache_dir.clone();
    (remote, cache, GitRepo::open(cfg).expect("open"))
}

fn package(name: &str, resources: usize) -> veranda_repo::Files {
    let mut content = files(&[("Kptfile", &kptfile(name))]);
    for i in 0..resources {
        let yaml = format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm-{i}\n");
        content.insert(format!("cm-{i}.yaml"), yaml.into_bytes());
    }
    content
}

#[test]
fn writes_are_packed_and_the_remote_stays_complete() {
    let scratch = Scratch::new();
    let (remote, cache, repo) = open_empty(&scratch);

    let draft = create_draft(&repo, "net", "ws", &package("net", 50));
    repo.approve("net", "ws", &draft, 1, &repo.draft_ref("net", "ws")).expect("approve");
    repo.remove_package_from_branch("net").expect("remove");

    assert_eq!(loose_objects(&remote), 0, "the remote got packs, not loose objects");
    assert_eq!(loose_objects(&cache), 0, "the cache got packs, not loose objects");
    git(&remote, &["fsck", "--strict", "--no-dangling"]);
    assert_eq!(git(&remote, &["ls-tree", "--name-only", "net/v1", "net/"]).lines().count(), 51);
    assert_eq!(git(&remote, &["ls-tree", "--name-only", "main"]), "README.md");
}

#[test]
fn objects_the_remote_lost_are_sent_again() {
    let scratch = Scratch::new();
    let (remote, _, repo) = open_empty(&scratch);
    let content = package("lost", 5);
    create_draft(&repo, "lost", "ws", &content);

    // Someone deletes the draft in the remote and prunes its objects; the cache still has them.
    git(&remote, &["update-ref", "-d", "refs/heads/drafts/lost/ws"]);
    git(&remote, &["reflog", "expire", "--expire=now", "--all"]);
    git(&remote, &["gc", "-q", "--prune=now"]);
    repo.fetch().expect("fetch");

    // The same content again: its blobs exist in the cache, so this write packs none of them.
    let commit = create_draft(&repo, "lost", "ws2", &content);
    let out = std::process::Command::new("git")
        .args(["fsck", "--strict", "--no-dangling"])
        .current_dir(&remote)
        .output()
        .unwrap();
    eprintln!("COMMIT {commit} remote objects: {}", git(&remote, &["count-objects", "-v"]));
    eprintln!(
        "FSCK {} {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    git(&remote, &["fsck", "--strict", "--no-dangling"]);
    let listed = git(&remote, &["ls-tree", "-r", "--name-only", &commit, "lost"]);
    assert_eq!(listed.lines().count(), 6, "{listed}");
    git(&remote, &["cat-file", "-p", &format!("{commit}:lost/cm-4.yaml")]);
}

#[test]
fn ref_updates_are_all_or_nothing() {
    let scratch = Scratch::new();
    let (remote, _, repo) = open_empty(&scratch);
    let draft = create_draft(&repo, "p", "ws", &package("p", 1));
    let taken = create_draft(&repo, "q", "ws", &package("q", 1));
    repo.push(&[RefUpdate::set(repo.tag_ref("p", 1), &taken).expecting(ABSENT)]).expect("tag");

    // The second update fails its condition, so the first must not happen either.
    let res = repo.push(&[
        RefUpdate::set(repo.proposed_ref("p", "ws"), &draft).expecting(ABSENT),
        RefUpdate::set(repo.tag_ref("p", 1), &draft).expecting(ABSENT),
    ]);
    assert!(matches!(&res, Err(Error::Conflict { refname, .. }) if refname.ends_with("p/v1")));
    let heads = git(&remote, &["for-each-ref", "--format=%(refname)"]);
    assert!(!heads.contains("proposed/"), "{heads}");

    // A ref another writer holds locked is named, not a corruption.
    fs::write(remote.join("refs/heads/main.lock"), "").expect("lock");
    let res = repo.push(&[RefUpdate::set(repo.branch_ref(), &draft)]);
    assert!(
        matches!(&res, Err(Error::RemoteLocked { file }) if file == "refs/heads/main.lock"),
        "{res:?}"
    );
    fs::remove_file(remote.join("refs/heads/main.lock")).expect("unlock");
    repo.push(&[RefUpdate::set(repo.branch_ref(), &draft)]).expect("fast-forward");
    assert_eq!(git(&remote, &["rev-parse", "main"]), draft);
}

/// `.idx` files under `repo/objects/pack`.
fn packs(repo: &Path) -> usize {
    fs::read_dir(repo.join("objects/pack"))
        .expect("pack dir")
        .flatten()
        .filter(|entry| entry.path().extension().is_some_and(|ext| ext == "idx"))
        .count()
}

#[test]
fn small_packs_are_merged_in_the_background() {
    let scratch = Scratch::new();
    let (remote, cache, repo) = open_empty(&scratch);
    let drafts: Vec<(String, String)> = (0..60)
        .map(|i| {
            let name = format!("p{i}");
            let commit = create_draft(&repo, &name, "ws", &package(&name, 3));
            (name, commit)
        })
        .collect();
    // Merges finish in the background and are completed by the next operation.
    let mut settled = false;
    for _ in 0..200 {
        repo.branch_head().expect("head");
        if packs(&remote) <= 13 && packs(&cache) <= 13 {
            settled = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert!(settled, "packs: remote {}, cache {}", packs(&remote), packs(&cache));
    git(&remote, &["fsck", "--strict", "--no-dangling"]);
    git(&cache, &["fsck", "--strict", "--no-dangling"]);
    for (name, commit) in &drafts {
        assert_eq!(repo.read_files(commit, name).expect("read").len(), 4, "{name}");
    }
}

#[test]
fn refs_written_to_the_remote_get_packed() {
    let scratch = Scratch::new();
    let (remote, _, repo) = open_empty(&scratch);
    let commit = create_draft(&repo, "p", "ws", &package("p", 1));
    let tags: Vec<RefUpdate> = (1..=300)
        .map(|i| RefUpdate::set(repo.tag_ref("p", i), &commit).expecting(ABSENT))
        .collect();
    repo.push(&tags).expect("push tags");
    let packed = fs::read_to_string(remote.join("packed-refs")).expect("packed-refs written");
    assert!(packed.contains("refs/tags/p/v300"), "{packed}");
    let loose = fs::read_dir(remote.join("refs/tags/p")).map(|dir| dir.count()).unwrap_or(0);
    assert_eq!(loose, 0, "the tags are no longer loose files");
    assert_eq!(git(&remote, &["tag", "--list", "p/*"]).lines().count(), 300);
}

#[test]
fn a_cache_left_by_another_remote_is_rebuilt() {
    let scratch = Scratch::new();
    let (first, cache, repo) = open_empty(&scratch);
    let draft = create_draft(&repo, "net", "ws", &package("net", 3));
    drop(repo);

    // The same name is registered again for a copy of the remote, and the first one goes.
    let second = scratch.path("second.git");
    git(
        scratch.tmp.path(),
        &["clone", "-q", "--bare", "--no-local", first.to_str().unwrap(), second.to_str().unwrap()],
    );
    fs::remove_dir_all(&first).expect("remove the first remote");
    let mut cfg = scratch.config(second.to_str().expect("utf-8"), "cache");
    cfg.create_branch = true;
    assert_eq!(cfg.cache_dir, cache);
    let repo = GitRepo::open(cfg).expect("open");

    let read = repo.read_files(&draft, "net").expect("the draft's objects are readable");
    assert_eq!(read.len(), 4);
    let alternates = fs::read_to_string(cache.join("objects/info/alternates")).expect("alternates");
    assert_eq!(alternates.trim(), second.join("objects").display().to_string());
    git(&cache, &["fsck", "--no-dangling"]);
}

#[test]
fn a_lock_a_dead_writer_left_is_broken_once_stale_and_a_fresh_one_is_respected() {
    let scratch = Scratch::new();
    let (remote, _cache, repo) = open_empty(&scratch);
    let lock = remote.join("refs/heads/main.lock");
    let plant = |age: &str| {
        fs::write(&lock, "").expect("plant lock");
        let out = std::process::Command::new("touch").args(["-d", age]).arg(&lock).output();
        assert!(out.expect("touch").status.success());
    };

    plant("now");
    let draft = create_draft(&repo, "net", "ws", &package("net", 1));
    let refused = repo.approve("net", "ws", &draft, 1, &repo.draft_ref("net", "ws"));
    assert!(matches!(refused, Err(Error::RemoteLocked { .. })), "{refused:?}");
    assert!(lock.exists(), "a live writer's lock stays");

    plant("2 minutes ago");
    repo.approve("net", "ws", &draft, 1, &repo.draft_ref("net", "ws")).expect("approve");
    assert!(!lock.exists());
    assert_eq!(git(&remote, &["ls-tree", "--name-only", "main"]).lines().count(), 2);
}

/// A second cache of the same remote, as another server sharing it has.
fn open_second(scratch: &Scratch, remote: &Path) -> GitRepo {
    GitRepo::open(scratch.config(remote.to_str().expect("utf-8"), "cache2")).expect("open")
}

#[test]
fn a_fetch_is_not_failed_by_refs_another_writer_deletes_meanwhile() {
    let scratch = Scratch::new();
    let (remote, _, writer) = open_empty(&scratch);
    let reader = open_second(&scratch, &remote);
    let commit = create_draft(&writer, "p", "ws", &package("p", 1));
    let stop = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|scope| {
        let churn = scope.spawn(|| {
            let mut i = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                i += 1;
                // Many refs to list, and some of them gone by the time they are read.
                let tags: Vec<RefUpdate> = (0..20)
                    .map(|k| RefUpdate::set(writer.tag_ref("p", i * 100 + k), &commit))
                    .collect();
                writer.push(&tags).expect("create tags");
                let gone: Vec<RefUpdate> =
                    (0..20).map(|k| RefUpdate::delete(writer.tag_ref("p", i * 100 + k))).collect();
                writer.push(&gone).expect("delete tags");
            }
        });
        let mut failed = Vec::new();
        for _ in 0..150 {
            if let Err(err) = reader.fetch() {
                failed.push(err.to_string());
            }
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        churn.join().expect("churn");
        assert!(failed.is_empty(), "{} of 150 fetches failed: {:?}", failed.len(), &failed[..1]);
    });
}

/// Writes and deletions while `git pack-refs` runs in a loop: every write lands (a packing that
/// removes the directory a lock is being created in is tried again; a packing's lock does not
/// stop a write that deletes nothing) and no other ref is lost. A deletion reads `packed-refs`
/// under its lock; the window that closes is too narrow for this test to hit reliably.
#[test]
fn deleting_refs_while_git_packs_them_loses_no_other_ref() {
    let scratch = Scratch::new();
    let (remote, _, repo) = open_empty(&scratch);
    let commit = create_draft(&repo, "p", "ws", &package("p", 1));
    let stop = std::sync::atomic::AtomicBool::new(false);
    let rounds = 150;
    std::thread::scope(|scope| {
        let packer = scope.spawn(|| {
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                // git waits for packed-refs.lock for a second, as the deletions here do.
                let _ = std::process::Command::new("git")
                    .args(["pack-refs", "--all"])
                    .current_dir(&remote)
                    .output();
                std::thread::sleep(std::time::Duration::from_millis(2));
            }
        });
        // Stops the packer even when an assertion fails.
        struct Stop<'a>(&'a std::sync::atomic::AtomicBool);
        impl Drop for Stop<'_> {
            fn drop(&mut self) {
                self.0.store(true, std::sync::atomic::Ordering::Relaxed);
            }
        }
        let _stop = Stop(&stop);
        for i in 1..=rounds {
            // A tag that stays (loose until git packs it) and one that is deleted, maybe
            // after git packed it.
            repo.push(&[
                RefUpdate::set(repo.tag_ref("p", i), &commit),
                RefUpdate::set(repo.tag_ref("q", i), &commit),
            ])
            .expect("create");
            match repo.push(&[RefUpdate::delete(repo.tag_ref("q", i))]) {
                Ok(()) | Err(Error::RemoteLocked { .. }) => {}
                Err(err) => panic!("delete: {err}"),
            }
        }
        drop(_stop);
        packer.join().expect("packer");
    });
    let kept = git(&remote, &["tag", "--list", "p/*"]).lines().count();
    assert_eq!(kept, rounds as usize, "tags lost to a deletion racing a packing of the refs");
}
