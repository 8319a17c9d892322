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
