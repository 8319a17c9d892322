//! Tree editing checked against `git ls-tree` semantics on a scratch repository.

use git2::{Repository, TreeWalkMode, TreeWalkResult};

use super::*;
use crate::stage::{Stage, stage};

/// Runs `test` against a stage over a fresh bare repository.
fn with_stage(test: impl FnOnce(&Stage<'_>)) {
    let dir = tempfile::tempdir().expect("temp dir");
    let repo = Repository::init_bare(dir.path()).expect("init");
    stage(&repo, |stage| {
        test(stage);
        Ok(())
    })
    .expect("stage");
}

fn files(entries: &[(&str, &str)]) -> Files {
    entries.iter().map(|(path, content)| (path.to_string(), content.as_bytes().to_vec())).collect()
}

/// Lists `path -> content` of every blob in the tree, for comparison.
fn listing(stage: &Stage<'_>, tree: Option<Oid>) -> Vec<String> {
    let Some(tree) = tree else { return Vec::new() };
    let tree = stage.find_tree(tree).expect("tree was just written");
    let mut blobs = Vec::new();
    tree.walk(TreeWalkMode::PreOrder, |dir, entry| {
        if entry.kind() == Some(ObjectType::Blob) {
            blobs.push((format!("{dir}{}", entry.name().expect("utf-8")), entry.id()));
        }
        TreeWalkResult::Ok
    })
    .expect("walk");
    blobs
        .into_iter()
        .map(|(path, id)| (path, stage.find_blob(id).expect("blob was just written")))
        .map(|(path, content)| format!("{path}={}", String::from_utf8_lossy(&content)))
        .collect()
}

#[test]
fn replaces_only_the_package_directory() {
    with_stage(replaces_only_the_package_directory_in);
}

fn replaces_only_the_package_directory_in(stage: &Stage<'_>) {
    let base = write_files(
        stage,
        &files(&[("a/x/Kptfile", "x"), ("a/y/Kptfile", "y"), ("b", "b")]),
        &Modes::new(),
    )
    .expect("write")
    .expect("non-empty");
    let base = stage.find_tree(base).expect("base tree");
    let sibling = base.get_path(std::path::Path::new("a/y")).expect("a/y").id();

    let package =
        write_files(stage, &files(&[("Kptfile", "new"), ("sub/f.yaml", "f")]), &Modes::new())
            .expect("write");
    let replaced = replace_dir(stage, Some(&base), &["a", "x"], package).expect("replace");
    assert_eq!(
        listing(stage, replaced),
        ["a/x/Kptfile=new", "a/x/sub/f.yaml=f", "a/y/Kptfile=y", "b=b"]
    );
    let replaced_tree = stage.find_tree(replaced.expect("non-empty")).expect("tree");
    assert_eq!(replaced_tree.get_path(std::path::Path::new("a/y")).expect("a/y").id(), sibling);

    let created = replace_dir(stage, Some(&base), &["c", "d"], package).expect("create");
    assert!(listing(stage, created).contains(&"c/d/Kptfile=new".to_owned()));

    let removed = replace_dir(stage, Some(&base), &["a", "x"], None).expect("remove");
    assert_eq!(listing(stage, removed), ["a/y/Kptfile=y", "b=b"]);
    let removed_all = replace_dir(
        stage,
        removed.map(|id| stage.find_tree(id).expect("tree")).as_ref(),
        &["a", "y"],
        None,
    )
    .expect("remove");
    assert_eq!(listing(stage, removed_all), ["b=b"], "empty parent directories are pruned");

    let from_nothing = replace_dir(stage, None, &["p"], package).expect("from empty");
    assert_eq!(listing(stage, from_nothing), ["p/Kptfile=new", "p/sub/f.yaml=f"]);
    assert_eq!(replace_dir(stage, None, &["p"], None).expect("noop"), None);

    let under_file = replace_dir(stage, Some(&base), &["b", "c"], package);
    assert!(matches!(under_file, Err(Error::InvalidPath { .. })), "{under_file:?}");
}

#[test]
fn rejects_bad_paths() {
    with_stage(rejects_bad_paths_in);
}

fn rejects_bad_paths_in(stage: &Stage<'_>) {
    for bad in ["", "/a", "a/", "a//b", "../a", "a/./b", ".git/config", "a/.GIT"] {
        let res = write_files(stage, &files(&[(bad, "x")]), &Modes::new());
        assert!(matches!(res, Err(Error::InvalidPath { .. })), "{bad:?}: {res:?}");
    }
    let res = write_files(stage, &files(&[("a", "x"), ("a/b", "y")]), &Modes::new());
    assert!(matches!(res, Err(Error::InvalidPath { .. })), "{res:?}");
    assert_eq!(write_files(stage, &Files::new(), &Modes::new()).expect("empty"), None);
}
