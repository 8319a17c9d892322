//! What a killed server leaves behind: stale lock files in the cache (removed at open), lock files
//! in a local remote (named, never removed), and lifecycle moves interrupted between their ref
//! updates (completed at open). Each leftover state is made with the `git` CLI in a real remote.

use std::{fs, path::PathBuf};

use veranda_repo::{Error, GitConfig, GitRepo};

use crate::util::{Scratch, create_draft, files, git, kptfile};

/// An empty bare remote with `main` created through a first open: (remote, config).
fn remote(scratch: &Scratch) -> (PathBuf, GitConfig) {
    let remote = scratch.bare("remote.git");
    let mut cfg = scratch.config(remote.to_str().expect("utf-8"), "cache");
    cfg.create_branch = true;
    GitRepo::open(cfg.clone()).expect("first open");
    (remote, cfg)
}

fn refs(remote: &std::path::Path) -> String {
    git(remote, &["for-each-ref", "--format=%(refname) %(objectname)"])
}

#[test]
fn stale_locks_in_the_cache_are_removed_at_open() {
    let scratch = Scratch::new();
    let (_remote, cfg) = remote(&scratch);
    let repo = GitRepo::open(cfg.clone()).expect("open");
    let draft = create_draft(&repo, "p", "ws", &files(&[("Kptfile", &kptfile("p"))]));
    drop(repo);

    let cache = cfg.cache_dir.clone();
    let stale = [
        "packed-refs.lock",
        "index.lock",
        "config.lock",
        "shallow.lock",
        "refs/remotes/origin/drafts/p/ws.lock",
        "refs/remotes/origin/main.lock",
        "refs/tags/p/v1.lock",
    ];
    // And what a writer killed mid-pack leaves: temporaries, and a pack without its index.
    let packs = [
        "objects/pack/tmp_pack_1_0",
        "objects/pack/tmp_idx_1_1",
        "objects/pack/pack-0123456789012345678901234567890123456789.pack",
    ];
    for file in stale.iter().chain(&packs) {
        let path = cache.join(file);
        fs::create_dir_all(path.parent().expect("parent")).expect("dirs");
        fs::write(&path, "").expect("plant lock");
    }
    let indexed: Vec<_> = fs::read_dir(cache.join("objects/pack"))
        .expect("packs")
        .flatten()
        .map(|entry| entry.path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "idx"))
        .collect();
    assert!(!indexed.is_empty(), "the draft's pack is there");
    let repo = GitRepo::open(cfg).expect("reopen with stale locks");
    for file in stale.iter().chain(&packs) {
        assert!(!cache.join(file).exists(), "{file} was removed");
    }
    for index in &indexed {
        assert!(index.with_extension("pack").exists(), "an indexed pack stays");
    }
    repo.approve("p", "ws", &draft, 1, &repo.draft_ref("p", "ws")).expect("approve after reopen");
    assert!(repo.resolve("refs/tags/p/v1").expect("resolve").is_some());
}

#[test]
fn a_held_lock_in_the_remote_is_named_and_kept() {
    let scratch = Scratch::new();
    let (remote, cfg) = remote(&scratch);
    let repo = GitRepo::open(cfg).expect("open");
    let draft = create_draft(&repo, "p", "ws", &files(&[("Kptfile", &kptfile("p"))]));
    let before = refs(&remote);

    for file in ["refs/heads/main.lock", "packed-refs.lock"] {
        fs::write(remote.join(file), "").expect("plant lock");
        let res = repo.approve("p", "ws", &draft, 1, &repo.draft_ref("p", "ws"));
        assert!(
            matches!(&res, Err(Error::RemoteLocked { file: named }) if named == file),
            "{file}: {res:?}"
        );
        assert!(res.unwrap_err().to_string().contains(file));
        assert!(remote.join(file).exists(), "a remote's lock is never removed");
        assert_eq!(refs(&remote), before, "nothing moved");
        fs::remove_file(remote.join(file)).expect("unlock");
    }
    repo.approve("p", "ws", &draft, 1, &repo.draft_ref("p", "ws")).expect("approve once unlocked");
    let after = refs(&remote);
    assert!(after.contains("refs/tags/p/v1"), "{after}");
    assert!(!after.contains("drafts/"), "{after}");
}

/// Approves `p/ws` (revision 1) and returns (old branch head, approval commit, draft commit).
fn approved(remote: &std::path::Path, cfg: &GitConfig) -> (String, String, String) {
    let repo = GitRepo::open(cfg.clone()).expect("open");
    let draft = create_draft(&repo, "p", "ws", &files(&[("Kptfile", &kptfile("p"))]));
    let old = git(remote, &["rev-parse", "main"]);
    let id = repo.approve("p", "ws", &draft, 1, &repo.draft_ref("p", "ws")).expect("approve");
    (old, id, draft)
}

fn reopen_fresh(scratch: &Scratch, cfg: &GitConfig, cache: &str) -> GitRepo {
    let mut cfg = cfg.clone();
    cfg.cache_dir = scratch.path(cache);
    GitRepo::open(cfg).expect("open repairs")
}

#[test]
fn an_approval_killed_after_the_tag_is_completed() {
    let scratch = Scratch::new();
    let (remote, cfg) = remote(&scratch);
    let (old, id, draft) = approved(&remote, &cfg);
    git(&remote, &["update-ref", "refs/heads/main", &old]);
    git(&remote, &["update-ref", "refs/heads/drafts/p/ws", &draft]);

    reopen_fresh(&scratch, &cfg, "cache2");
    assert_eq!(git(&remote, &["rev-parse", "main"]), id, "the branch was fast-forwarded");
    assert!(!refs(&remote).contains("drafts/"), "{}", refs(&remote));
}

#[test]
fn an_approval_killed_before_the_draft_deletion_is_completed() {
    let scratch = Scratch::new();
    let (remote, cfg) = remote(&scratch);
    let (_, id, draft) = approved(&remote, &cfg);
    git(&remote, &["update-ref", "refs/heads/proposed/p/ws", &draft]);

    reopen_fresh(&scratch, &cfg, "cache2");
    assert_eq!(git(&remote, &["rev-parse", "main"]), id);
    assert!(!refs(&remote).contains("proposed/"), "{}", refs(&remote));
    assert_eq!(git(&remote, &["rev-parse", "p/v1"]), id);
}

#[test]
fn an_approval_that_moved_the_branch_first_gets_its_tag() {
    let scratch = Scratch::new();
    let (remote, cfg) = remote(&scratch);
    let (_, id, draft) = approved(&remote, &cfg);
    git(&remote, &["update-ref", "-d", "refs/tags/p/v1"]);
    git(&remote, &["update-ref", "refs/heads/proposed/p/ws", &draft]);

    reopen_fresh(&scratch, &cfg, "cache2");
    assert_eq!(git(&remote, &["rev-parse", "p/v1"]), id, "the tag was created");
    assert!(!refs(&remote).contains("proposed/"), "{}", refs(&remote));
}

#[test]
fn leftovers_of_deletions_are_removed() {
    let scratch = Scratch::new();
    let (remote, cfg) = remote(&scratch);
    let (_, id, _) = approved(&remote, &cfg);
    // The tag of v2 was deleted, its deletionProposed branch not; a placeholder's
    // deletionProposed branch outlived the package on main.
    git(&remote, &["update-ref", "refs/heads/deletionProposed/p/v2", &id]);
    git(&remote, &["update-ref", "refs/heads/deletionProposed/gone/main", &id]);
    // These belong to listed revisions and stay.
    git(&remote, &["update-ref", "refs/heads/deletionProposed/p/v1", &id]);
    git(&remote, &["update-ref", "refs/heads/deletionProposed/p/main", &id]);

    reopen_fresh(&scratch, &cfg, "cache2");
    let after = refs(&remote);
    assert!(!after.contains("deletionProposed/p/v2"), "{after}");
    assert!(!after.contains("deletionProposed/gone/main"), "{after}");
    assert!(after.contains("deletionProposed/p/v1"), "{after}");
    assert!(after.contains("deletionProposed/p/main"), "{after}");
}

#[test]
fn a_proposal_killed_between_its_two_refs_is_completed() {
    let scratch = Scratch::new();
    let (remote, cfg) = remote(&scratch);
    let repo = GitRepo::open(cfg.clone()).expect("open");
    let draft = create_draft(&repo, "p", "ws", &files(&[("Kptfile", &kptfile("p"))]));
    drop(repo);
    git(&remote, &["update-ref", "refs/heads/proposed/p/ws", &draft]);

    reopen_fresh(&scratch, &cfg, "cache2");
    let after = refs(&remote);
    assert!(after.contains("refs/heads/proposed/p/ws"), "{after}");
    assert!(!after.contains("refs/heads/drafts/"), "{after}");
}

#[test]
fn locks_a_killed_write_of_this_cache_left_in_the_remote_are_released_at_open() {
    use std::os::unix::fs::MetadataExt;
    let scratch = Scratch::new();
    let (remote, cfg) = remote(&scratch);
    // What a kill between taking the locks and moving the refs leaves: the lock files, and the
    // cache's journal naming them. A lock nobody journalled is another process's.
    let own = remote.join("refs/heads/main.lock");
    fs::write(&own, "").expect("own lock");
    let foreign = remote.join("refs/heads/other.lock");
    fs::write(&foreign, "").expect("foreign lock");
    let replaced = remote.join("packed-refs.lock");
    fs::write(&replaced, "").expect("lock");
    let journal = format!(
        "{} {}\n{} {}\n",
        fs::metadata(&own).expect("meta").ino(),
        own.display(),
        // The journalled file was replaced since: another process's now.
        fs::metadata(&replaced).expect("meta").ino() + 1,
        replaced.display()
    );
    // A kill right after the intent was journalled, before the inode was (or while libgit2
    // pushed): a lock made in the minute after the intent is ours.
    let intended = remote.join("refs/heads/intended.lock");
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("time");
    fs::write(&intended, "").expect("intended lock");
    let journal = format!("{journal}intent {} {}\n", now.as_nanos(), intended.display());
    fs::write(cfg.cache_dir.join("veranda-remote-locks"), journal).expect("journal");

    let repo = GitRepo::open(cfg.clone()).expect("open");
    assert!(!own.exists(), "our own lock was released");
    assert!(!intended.exists(), "the lock we meant to take was released");
    assert!(foreign.exists() && replaced.exists(), "other processes' locks stay");
    fs::remove_file(&replaced).expect("unlock");
    create_draft(&repo, "p", "ws", &files(&[("Kptfile", &kptfile("p"))]));
    assert!(!cfg.cache_dir.join("veranda-remote-locks").exists(), "the journal is cleared");
}
