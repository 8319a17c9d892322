//! Strategy parsing and small upgrade scenarios; the goldens are in `tests/it`.

use super::*;

fn files(list: &[(&str, &str)]) -> Files {
    list.iter().map(|(p, c)| (p.to_string(), c.as_bytes().to_vec())).collect()
}

#[test]
fn strategy_names() {
    assert_eq!(Strategy::parse("").unwrap(), Strategy::ResourceMerge);
    for s in [
        Strategy::ResourceMerge,
        Strategy::FastForward,
        Strategy::ForceDeleteReplace,
        Strategy::CopyMerge,
    ] {
        assert_eq!(Strategy::parse(s.as_str()).unwrap(), s);
    }
    let err = Strategy::parse("merge").unwrap_err().to_string();
    assert!(
        err.contains("resource-merge, fast-forward, force-delete-replace, copy-merge"),
        "{err}"
    );
}

#[test]
fn copy_merge_keeps_locally_changed_files_upstream_deleted() {
    let kf = "apiVersion: kpt.dev/v1\nkind: Kptfile\nmetadata:\n  name: p\n";
    let original = files(&[("Kptfile", kf), ("a.txt", "a\n"), ("b.txt", "b\n")]);
    let updated = files(&[("Kptfile", kf), ("c.txt", "c\n")]);
    let local =
        files(&[("Kptfile", kf), ("a.txt", "a\n"), ("b.txt", "changed\n"), ("l.txt", "l\n")]);
    let out = upgrade(Strategy::CopyMerge, &original, &updated, &local).unwrap();
    assert_eq!(out.keys().collect::<Vec<_>>(), ["Kptfile", "b.txt", "c.txt", "l.txt"]);
}

#[test]
fn subpackage_added_on_both_sides_is_an_error() {
    let kf = "apiVersion: kpt.dev/v1\nkind: Kptfile\nmetadata:\n  name: p\n";
    let original = files(&[("Kptfile", kf)]);
    let both = files(&[("Kptfile", kf), ("sub/Kptfile", kf)]);
    let err = upgrade(Strategy::ResourceMerge, &original, &both, &both).unwrap_err();
    assert_eq!(err.to_string(), "subpackage \"sub\" added in both upstream and local");
}
