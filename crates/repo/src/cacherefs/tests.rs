use std::collections::BTreeMap;

use git2::Repository;

use super::*;
use crate::random::Random;

fn repo() -> (tempfile::TempDir, Repository) {
    let dir = tempfile::tempdir().expect("tempdir");
    let repo = Repository::init_bare(dir.path()).expect("init");
    (dir, repo)
}

fn commit(repo: &Repository, n: u8) -> Oid {
    let tree = repo.treebuilder(None).expect("builder").write().expect("tree");
    let tree = repo.find_tree(tree).expect("tree");
    let sig = git2::Signature::new("t", "t@example.com", &git2::Time::new(i64::from(n), 0))
        .expect("signature");
    repo.commit(None, &sig, &sig, &format!("c{n}"), &tree, &[]).expect("commit")
}

/// Every direct ref libgit2 sees, by name.
fn refs(repo: &Repository) -> BTreeMap<String, Oid> {
    let mut out = BTreeMap::new();
    for reference in repo.references().expect("refs") {
        let reference = reference.expect("ref");
        if let (Ok(name), Some(target)) = (reference.name(), reference.target()) {
            out.insert(name.to_owned(), target);
        }
    }
    out
}

#[test]
fn refs_move_loose_and_packed_as_libgit2_sees_them() {
    let (_dir, repo) = repo();
    let (a, b) = (commit(&repo, 1), commit(&repo, 2));
    repo.reference("refs/tags/p/v1", a, false, "").expect("ref");
    repo.reference("refs/tags/q/v1", a, false, "").expect("ref");
    repo.reference("refs/remotes/origin/main", a, false, "").expect("ref");
    repo.refdb_compress().expect("pack");
    let git_dir = repo.path();

    assert_eq!(set(git_dir, "refs/tags/p/v2", b).expect("set"), Done::Yes);
    assert_eq!(set(git_dir, "refs/remotes/origin/main", b).expect("set"), Done::Yes);
    assert_eq!(delete(git_dir, "refs/tags/q/v1").expect("delete"), Done::Yes);
    assert_eq!(delete(git_dir, "refs/tags/none").expect("delete"), Done::Yes, "nothing to do");
    let seen = refs(&repo);
    assert_eq!(
        seen,
        BTreeMap::from([
            ("refs/remotes/origin/main".to_owned(), b),
            ("refs/tags/p/v1".to_owned(), a),
            ("refs/tags/p/v2".to_owned(), b),
        ])
    );
    let packed = fs::read_to_string(git_dir.join("packed-refs")).expect("packed");
    assert!(!packed.contains("refs/tags/q/v1"), "cut from packed-refs: {packed}");
    assert!(!git_dir.read_dir().expect("dir").flatten().any(|e| e.path().ends_with(".lock")));

    // A packed ref deleted after its loose copy moved is gone from both.
    assert_eq!(delete(git_dir, "refs/remotes/origin/main").expect("delete"), Done::Yes);
    assert!(repo.find_reference("refs/remotes/origin/main").is_err());
}

#[test]
fn clashes_locks_odd_names_and_unsorted_files_are_left_to_libgit2() {
    let (_dir, repo) = repo();
    let a = commit(&repo, 1);
    repo.reference("refs/tags/a", a, false, "").expect("ref");
    repo.reference("refs/tags/x/y", a, false, "").expect("ref");
    repo.refdb_compress().expect("pack");
    repo.reference("refs/tags/loose", a, false, "").expect("ref");
    repo.reference("refs/tags/dir/below", a, false, "").expect("ref");
    let git_dir = repo.path();
    let no = |res: Result<Done, Error>| assert_eq!(res.expect("no error"), Done::No);
    no(set(git_dir, "refs/tags/a/b", a));
    no(set(git_dir, "refs/tags/x", a));
    no(set(git_dir, "refs/tags/loose/b", a));
    no(set(git_dir, "refs/tags/dir", a));
    no(set(git_dir, "refs/tags/bad..name", a));
    no(set(git_dir, "refs/tags/sp ace", a));
    no(set(git_dir, "HEAD", a));

    fs::write(git_dir.join("refs/tags/held.lock"), "").expect("lock");
    no(set(git_dir, "refs/tags/held", a));
    fs::write(git_dir.join("packed-refs.lock"), "").expect("lock");
    no(delete(git_dir, "refs/tags/x/y"));
    assert!(repo.find_reference("refs/tags/x/y").is_ok(), "left as it was");
    fs::remove_file(git_dir.join("packed-refs.lock")).expect("unlock");

    fs::write(git_dir.join("packed-refs"), format!("{a} refs/tags/z\n")).expect("unsorted");
    no(set(git_dir, "refs/tags/new", a));
}

#[test]
fn random_moves_end_where_libgit2_alone_ends() {
    let (_ours_dir, ours) = repo();
    let (_theirs_dir, theirs) = repo();
    let ids: Vec<Oid> = (1..=3).map(|n| commit(&ours, n)).collect();
    for n in 1..=3 {
        commit(&theirs, n);
    }
    // Names that clash with each other (`a` and `a/b`).
    let names = [
        "refs/tags/a",
        "refs/tags/a/b",
        "refs/tags/a/c",
        "refs/tags/a-b",
        "refs/remotes/origin/drafts/p/w",
        "refs/remotes/origin/drafts/p",
        "refs/remotes/origin/main",
    ];
    let mut random = Random(0x2545_f491_4f6c_dd1d);
    for step in 0..400 {
        let name = names[random.below(names.len())];
        match random.below(10) {
            0 => {
                ours.refdb_compress().expect("pack");
                theirs.refdb_compress().expect("pack");
            }
            1..=3 => {
                let done = delete(ours.path(), name).expect("delete");
                if done == Done::No
                    && let Ok(mut reference) = ours.find_reference(name)
                {
                    reference.delete().expect("delete");
                }
                if let Ok(mut reference) = theirs.find_reference(name) {
                    reference.delete().expect("delete");
                }
            }
            _ => {
                let id = ids[random.below(ids.len())];
                let expected = theirs.reference(name, id, true, "").map(|_| ());
                let got = match set(ours.path(), name, id).expect("set") {
                    Done::Yes => Ok(()),
                    Done::No => ours.reference(name, id, true, "").map(|_| ()),
                };
                assert_eq!(got.is_ok(), expected.is_ok(), "step {step}: set {name}");
            }
        }
        assert_eq!(refs(&ours), refs(&theirs), "step {step}");
    }
}
