//! Entry modes (executable, symlink, submodule) and binary blobs survive a read → write round
//! trip, and hostile trees (too deep, too large) are bounded errors, not stack overflows.

use std::{path::Path, thread};

use veranda_repo::{Annotation, EntryMode, Error, GitRepo, MAX_TREE_DEPTH, Modes, RefUpdate};

use crate::util::{Scratch, find, git, kptfile};

const SUBMODULE_COMMIT: &str = "0123456789abcdef0123456789abcdef01234567";
const BINARY: &[u8] = b"\x89PNG\r\n\x1a\n\x00\xff\xfe binary";

/// `ls-tree -r` of `rev` in `dir`: one `mode type id\tpath` line per entry.
fn ls_tree(dir: &Path, rev: &str) -> Vec<String> {
    git(dir, &["ls-tree", "-r", rev]).lines().map(str::to_owned).collect()
}

/// A remote whose `main` holds package `pkg` with a binary file, an executable, a symlink and a
/// submodule entry, made with the git CLI.
fn special_remote(scratch: &Scratch) -> std::path::PathBuf {
    let remote = scratch.bare("remote.git");
    let work = scratch.worktree("work", &remote);
    work.write(&[("pkg/Kptfile", &kptfile("pkg")), ("pkg/run.sh", "#!/bin/sh\necho hi\n")]);
    std::fs::write(work.path.join("pkg/logo.png"), BINARY).expect("write binary");
    std::os::unix::fs::symlink("run.sh", work.path.join("pkg/link")).expect("symlink");
    work.run(&["add", "-A"]);
    work.run(&["update-index", "--chmod=+x", "pkg/run.sh"]);
    work.run(&[
        "update-index",
        "--add",
        "--cacheinfo",
        &format!("160000,{SUBMODULE_COMMIT},pkg/sub"),
    ]);
    work.run(&["commit", "-q", "-m", "special entries"]);
    work.run(&["push", "-q", "origin", "HEAD:main"]);
    remote
}

#[test]
fn modes_and_binary_blobs_round_trip() {
    let scratch = Scratch::new();
    let remote = special_remote(&scratch);
    let before = ls_tree(&remote, "main");
    let repo =
        GitRepo::open(scratch.config(remote.to_str().expect("utf-8"), "cache")).expect("open");
    let list = repo.list().expect("list");
    let placeholder = find(&list, "pkg", "main");
    let (mut files, modes) = repo.read_files_with_modes(&placeholder.commit, "pkg").expect("read");
    assert_eq!(files["logo.png"], BINARY);
    assert_eq!(files["link"], b"run.sh");
    assert!(!files.contains_key("sub"));
    assert_eq!(
        modes,
        Modes::from([
            ("link".to_owned(), EntryMode::Symlink),
            ("run.sh".to_owned(), EntryMode::Executable),
            ("sub".to_owned(), EntryMode::Submodule(SUBMODULE_COMMIT.to_owned())),
        ])
    );
    // The old API still reads the same contents.
    assert_eq!(repo.read_files(&placeholder.commit, "pkg").expect("read"), files);

    files.insert("new.yaml".to_owned(), b"a: 1\n".to_vec());
    let annotation = Annotation {
        package: "pkg".to_owned(),
        workspace_name: "ws".to_owned(),
        revision: "0".to_owned(),
        task: None,
    };
    let commit = repo
        .commit_package_with_modes("pkg", None, &files, &modes, "Update", &annotation)
        .expect("commit");
    repo.push(&[RefUpdate::set("refs/heads/drafts/pkg/ws", commit.clone())]).expect("push");
    let after = ls_tree(&remote, "drafts/pkg/ws");
    let new_line = after.iter().find(|l| l.ends_with("\tpkg/new.yaml")).expect("new file");
    assert!(new_line.starts_with("100644 blob "), "{new_line}");
    let unchanged: Vec<_> = after.iter().filter(|l| !l.ends_with("\tpkg/new.yaml")).collect();
    assert_eq!(unchanged, before.iter().collect::<Vec<_>>());
    for (mode, path) in [
        ("100755 blob", "pkg/run.sh"),
        ("120000 blob", "pkg/link"),
        (&*format!("160000 commit {SUBMODULE_COMMIT}"), "pkg/sub"),
        ("100644 blob", "pkg/logo.png"),
    ] {
        assert!(
            after.iter().any(|l| l.starts_with(mode) && l.ends_with(&format!("\t{path}"))),
            "{path}: {after:?}"
        );
    }
    // Reading the written commit gives the same entries back.
    let (again, again_modes) = repo.read_files_with_modes(&commit, "pkg").expect("read again");
    assert_eq!((again, again_modes), (files, modes));

    // A map entry at a submodule path makes it a regular file.
    let mut files2 = Files::new();
    files2.insert("Kptfile".to_owned(), kptfile("pkg").into_bytes());
    files2.insert("sub".to_owned(), b"now a file".to_vec());
    let commit = repo
        .commit_package_with_modes(
            "pkg",
            None,
            &files2,
            &Modes::from([("sub".to_owned(), EntryMode::Submodule(SUBMODULE_COMMIT.to_owned()))]),
            "Replace",
            &annotation,
        )
        .expect("commit");
    repo.push(&[RefUpdate::set("refs/heads/drafts/pkg/ws2", commit)]).expect("push");
    let lines = ls_tree(&remote, "drafts/pkg/ws2");
    assert!(
        lines.iter().any(|l| l.starts_with("100644 blob ") && l.ends_with("\tpkg/sub")),
        "{lines:?}"
    );
}

use veranda_repo::Files;

/// Writes a chain of `levels` nested directories `d/d/d/...` ending in a package into `remote`
/// (with git2, bottom up) and points `main` at a commit of it. Returns the commit.
pub fn deep_remote(remote: &Path, levels: usize) -> String {
    let repo = git2::Repository::open_bare(remote).expect("open remote");
    let kptfile = repo.blob(kptfile("deep").as_bytes()).expect("blob");
    let mut builder = repo.treebuilder(None).expect("builder");
    builder.insert("Kptfile", kptfile, 0o100644).expect("insert");
    let mut tree = builder.write().expect("write");
    for _ in 0..levels {
        let mut builder = repo.treebuilder(None).expect("builder");
        builder.insert("d", tree, 0o040000).expect("insert");
        tree = builder.write().expect("write");
    }
    let tree = repo.find_tree(tree).expect("tree");
    let sig = git2::Signature::now("Fixture", "fixture@example.com").expect("signature");
    let commit =
        repo.commit(Some("refs/heads/main"), &sig, &sig, "deep", &tree, &[]).expect("commit");
    commit.to_string()
}

/// A 50,000-level tree: opening (the fetch runs on its own big stack, see `FETCH_STACK_BYTES`)
/// and listing on a normal 2 MiB thread stack give a bounded error, not a stack overflow.
#[test]
fn deep_trees_are_bounded_errors_on_a_small_stack() {
    let scratch = Scratch::new();
    let remote = scratch.bare("deep.git");
    deep_remote(&remote, 50_000);
    let config = scratch.config(remote.to_str().expect("utf-8"), "cache");
    thread::Builder::new()
        .stack_size(2 << 20)
        .spawn(move || {
            let repo = GitRepo::open(config).expect("open");
            let err = repo.list().expect_err("too deep");
            assert!(matches!(err, Error::TooDeep { limit: MAX_TREE_DEPTH, .. }), "{err}");
            let message = err.to_string();
            assert!(message.contains("d/d/d") && message.contains("64"), "{message}");
            let head = repo.branch_head().expect("head").expect("branch exists");
            let err = repo.read_files(&head, "d").expect_err("too deep");
            assert!(matches!(err, Error::TooDeep { .. }), "{err}");
        })
        .expect("spawn")
        .join()
        .expect("no stack overflow");
}

#[test]
fn package_reads_are_bounded() {
    let scratch = Scratch::new();
    let remote = scratch.bare("remote.git");
    let work = scratch.worktree("work", &remote);
    let deep_dir = vec!["x"; MAX_TREE_DEPTH + 1].join("/");
    work.write(&[("pkg/Kptfile", &kptfile("pkg")), (&format!("pkg/{deep_dir}/f"), "f")]);
    std::fs::create_dir_all(work.path.join("big")).expect("dir");
    std::fs::write(work.path.join("big/Kptfile"), kptfile("big")).expect("write");
    std::fs::write(work.path.join("big/blob"), vec![b'a'; veranda_repo::MAX_FILE_BYTES + 1])
        .expect("write");
    work.commit("bounded");
    work.run(&["push", "-q", "origin", "HEAD:main"]);
    let repo =
        GitRepo::open(scratch.config(remote.to_str().expect("utf-8"), "cache")).expect("open");
    let list = repo.list().expect("list");
    let pkg = find(&list, "pkg", "main");
    let err = repo.read_files(&pkg.commit, "pkg").expect_err("too deep");
    assert!(matches!(err, Error::TooDeep { .. }), "{err}");
    let err = repo.read_files(&pkg.commit, "big").expect_err("too large");
    assert!(matches!(err, Error::TooLarge { ref path, .. } if path == "blob"), "{err}");
}

/// A package whose files add up to more than `MAX_PACKAGE_BYTES` (each file under the per-file
/// limit) is refused naming the limit, without reading it all.
#[test]
fn package_size_is_bounded() {
    let scratch = Scratch::new();
    let remote = scratch.bare("remote.git");
    let work = scratch.worktree("work", &remote);
    std::fs::create_dir_all(work.path.join("huge")).expect("dir");
    std::fs::write(work.path.join("huge/Kptfile"), kptfile("huge")).expect("write");
    let file = veranda_repo::MAX_FILE_BYTES - 1;
    for i in 0..=veranda_repo::MAX_PACKAGE_BYTES / file {
        // Distinct contents, so that the files are distinct blobs.
        let mut content = vec![b'a'; file];
        content[0] = b'0' + i as u8;
        std::fs::write(work.path.join(format!("huge/part{i}")), content).expect("write");
    }
    work.commit("huge");
    work.run(&["push", "-q", "origin", "HEAD:main"]);
    let repo =
        GitRepo::open(scratch.config(remote.to_str().expect("utf-8"), "cache")).expect("open");
    let list = repo.list().expect("list");
    let pkg = find(&list, "huge", "main");
    let err = repo.read_files(&pkg.commit, "huge").expect_err("too large");
    assert!(
        matches!(err, Error::TooLarge { limit, .. } if limit == veranda_repo::MAX_PACKAGE_BYTES),
        "{err}"
    );
}

/// A tree naming a blob the repository does not have: reading the package is an error naming
/// the path, not a panic, and the other packages stay readable.
#[test]
fn a_missing_object_is_an_error_naming_its_path() {
    let scratch = Scratch::new();
    let remote = scratch.bare("remote.git");
    let work = scratch.worktree("work", &remote);
    work.write(&[("ok/Kptfile", &kptfile("ok")), ("gap/Kptfile", &kptfile("gap"))]);
    work.commit("two packages");
    work.run(&["push", "-q", "origin", "HEAD:main"]);
    let config = scratch.config(remote.to_str().expect("utf-8"), "cache");
    drop(GitRepo::open(config.clone()).expect("open"));
    // Remove the blob of gap/Kptfile from the object store the cache reads (the remote's:
    // a cache of a remote on this machine shares its objects), then open it again.
    let blob = work.run(&["rev-parse", "HEAD:gap/Kptfile"]).trim().to_string();
    let blob_ok = work.run(&["rev-parse", "HEAD:ok/Kptfile"]).trim().to_string();
    assert_ne!(blob, blob_ok);
    drop_object(&remote, &blob);
    let repo = GitRepo::open(config).expect("open");
    let head = repo.branch_head().expect("head").expect("branch");
    let err = repo.read_files(&head, "gap").expect_err("missing object");
    let message = err.to_string();
    assert!(message.contains("Kptfile"), "{message}");
    assert!(repo.read_files(&head, "ok").is_ok());
}

/// Rewrites the object store of the bare repository at `dir` without `id`: every pack is
/// unpacked to loose objects, then the loose file of `id` is deleted.
fn drop_object(dir: &Path, id: &str) {
    let git = |args: &[&str]| {
        let out = std::process::Command::new("git").arg("-C").arg(dir).args(args).output().unwrap();
        assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    };
    let packs = dir.join("objects/pack");
    let moved = dir.join("packs-unpacked");
    std::fs::create_dir_all(&moved).unwrap();
    for entry in std::fs::read_dir(&packs).unwrap() {
        let path = entry.unwrap().path();
        std::fs::rename(&path, moved.join(path.file_name().unwrap())).unwrap();
    }
    for entry in std::fs::read_dir(&moved).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "pack") {
            let out = std::process::Command::new("git")
                .arg("-C")
                .arg(dir)
                .arg("unpack-objects")
                .stdin(std::fs::File::open(&path).unwrap())
                .output()
                .unwrap();
            assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        }
    }
    git(&["cat-file", "-e", id]);
    std::fs::remove_file(dir.join("objects").join(&id[..2]).join(&id[2..])).unwrap();
}
