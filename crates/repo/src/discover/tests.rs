//! Name parsing rules of discovery, as Porch applies them.

use super::*;

#[test]
fn revision_numbers_follow_revision2int() {
    for (version, expected) in [
        ("v1", 1),
        ("v12", 12),
        ("3", 3),
        ("v0", 0),
        ("main", -1),
        ("v2.0.0", -1),
        ("vv1", -1),
        ("", -1),
        ("v", -1),
    ] {
        assert_eq!(revision_number(version), expected, "{version:?}");
    }
}

#[test]
fn packages_must_be_strictly_inside_the_directory() {
    for (directory, full, expected) in [
        ("", "a/b", Some("a/b")),
        ("", "", None),
        ("dir", "dir/a", Some("a")),
        ("dir", "dir/a/b", Some("a/b")),
        ("dir", "dir", None),
        ("dir", "dirx/a", None),
        ("dir", "other/a", None),
        ("a/b", "a/b/c", Some("c")),
    ] {
        assert_eq!(relative_path(directory, full), expected, "{directory:?} {full:?}");
    }
}

#[test]
fn full_paths_and_deletion_branches() {
    assert_eq!(full_path("", "a"), "a");
    assert_eq!(full_path("dir", "a/b"), "dir/a/b");
    assert_eq!(full_path("dir", ""), "dir");
    assert_eq!(deletion_proposed_name("dir/a", 2, "ws"), "dir/a/v2");
    assert_eq!(deletion_proposed_name("dir/a", 0, "ws"), "dir/a/ws");
    assert_eq!(deletion_proposed_name("dir/a", -1, "main"), "dir/a/main");
}

fn placeholder(package: &str) -> Arc<Discovered> {
    Arc::new(Discovered {
        package: package.into(),
        workspace: "main".into(),
        revision: -1,
        kind: RefKind::Branch,
        lifecycle: Lifecycle::Published,
        commit: String::new(),
        ref_name: "main".into(),
        tree: String::new(),
        published_by: None,
        published_at: None,
        published_commit: None,
        task: None,
    })
}

/// Merges `new` into `old` with [`step`]: what matched, and what was skipped as gone.
fn merge(old: &[Arc<Discovered>], new: &[&str]) -> (Vec<Option<String>>, Vec<String>) {
    let mut cursor = 0;
    let mut gone = Vec::new();
    let matched = new
        .iter()
        .map(|package| {
            step(old, &mut cursor, package, |d| gone.push(d.package.clone()))
                .map(|d| d.package.clone())
        })
        .collect();
    gone.extend(old[cursor..].iter().map(|d| d.package.clone()));
    (matched, gone)
}

#[test]
fn package_lists_merge_in_walk_order() {
    // The order discovery walks: git's directory order level by level (`a-b` before `a/x`,
    // since the directory `a` sorts as `a/`, after `a-`).
    let old: Vec<_> = ["a-b", "a/x", "b", "c/d/e", "c/f"].map(placeholder).into();
    let (matched, gone) = merge(&old, &["a/x", "a/y", "b", "ba", "c/d/e"]);
    let names = |v: &[&str]| v.iter().map(|s| Some(s.to_string())).collect::<Vec<_>>();
    let mut expected = names(&["a/x", "", "b", "", "c/d/e"]);
    expected[1] = None;
    expected[3] = None;
    assert_eq!(matched, expected);
    assert_eq!(gone, ["a-b", "c/f"]);
    // Out of order: more looks new or gone, nothing that changed is missed.
    let shuffled: Vec<_> = ["b", "a/x"].map(placeholder).into();
    let (matched, gone) = merge(&shuffled, &["a/x", "b"]);
    assert_eq!(matched, [None, Some("b".to_string())]);
    assert_eq!(gone, ["a/x"]);
}
