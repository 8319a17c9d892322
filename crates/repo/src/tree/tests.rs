//! Tree editing checked against `git ls-tree` semantics on a scratch repository.

use git2::Repository;

use super::*;

fn files(entries: &[(&str, &str)]) -> Files {
    entries.iter().map(|(path, content)| (path.to_string(), content.as_bytes().to_vec())).collect()
}

/// Lists `path -> content` of every blob in the tree, for comparison.
fn listing(repo: &Repository, tree: Option<Oid>) -> Vec<String> {
    let Some(tree) = tree else { return Vec::new() };
    let tree = repo.find_tree(tree).expect("tree was just written");
    read_files(repo, &tree)
        .expect("tree is readable")
        .into_iter()
        .map(|(path, content)| format!("{path}={}", String::from_utf8_lossy(&content)))
        .collect()
}

#[test]
fn replaces_only_the_package_directory() {
    let dir = tempfile::tempdir().expect("temp dir");
    let repo = Repository::init_bare(dir.path()).expect("init");
    let base =
        write_files(&repo, &files(&[("a/x/Kptfile", "x"), ("a/y/Kptfile", "y"), ("b", "b")]))
            .expect("write")
            .expect("non-empty");
    let base = repo.find_tree(base).expect("base tree");
    let sibling = base.get_path(std::path::Path::new("a/y")).expect("a/y").id();

    let package =
        write_files(&repo, &files(&[("Kptfile", "new"), ("sub/f.yaml", "f")])).expect("write");
    let replaced = replace_dir(&repo, Some(&base), &["a", "x"], package).expect("replace");
    assert_eq!(
        listing(&repo, replaced),
        ["a/x/Kptfile=new", "a/x/sub/f.yaml=f", "a/y/Kptfile=y", "b=b"]
    );
    let replaced_tree = repo.find_tree(replaced.expect("non-empty")).expect("tree");
    assert_eq!(replaced_tree.get_path(std::path::Path::new("a/y")).expect("a/y").id(), sibling);

    let created = replace_dir(&repo, Some(&base), &["c", "d"], package).expect("create");
    assert!(listing(&repo, created).contains(&"c/d/Kptfile=new".to_owned()));

    let removed = replace_dir(&repo, Some(&base), &["a", "x"], None).expect("remove");
    assert_eq!(listing(&repo, removed), ["a/y/Kptfile=y", "b=b"]);
    let removed_all = replace_dir(
        &repo,
        removed.map(|id| repo.find_tree(id).expect("tree")).as_ref(),
        &["a", "y"],
        None,
    )
    .expect("remove");
    assert_eq!(listing(&repo, removed_all), ["b=b"], "empty parent directories are pruned");

    let from_nothing = replace_dir(&repo, None, &["p"], package).expect("from empty");
    assert_eq!(listing(&repo, from_nothing), ["p/Kptfile=new", "p/sub/f.yaml=f"]);
    assert_eq!(replace_dir(&repo, None, &["p"], None).expect("noop"), None);

    let under_file = replace_dir(&repo, Some(&base), &["b", "c"], package);
    assert!(matches!(under_file, Err(Error::InvalidPath { .. })), "{under_file:?}");
}

#[test]
fn rejects_bad_paths() {
    let dir = tempfile::tempdir().expect("temp dir");
    let repo = Repository::init_bare(dir.path()).expect("init");
    for bad in ["", "/a", "a/", "a//b", "../a", "a/./b", ".git/config", "a/.GIT"] {
        let res = write_files(&repo, &files(&[(bad, "x")]));
        assert!(matches!(res, Err(Error::InvalidPath { .. })), "{bad:?}: {res:?}");
    }
    let res = write_files(&repo, &files(&[("a", "x"), ("a/b", "y")]));
    assert!(matches!(res, Err(Error::InvalidPath { .. })), "{res:?}");
    assert_eq!(write_files(&repo, &Files::new()).expect("empty"), None);
}
