//! Identity, merge comments and upstream identifiers, checked against what `kpt pkg get` wrote
//! into the goldens.

use super::*;

#[test]
fn merge_comment_forms() {
    assert_eq!(parse_merge_comment("# kpt-merge: a/b"), Some(("a".into(), "b".into())));
    assert_eq!(parse_merge_comment("# kpt-merge: /b"), Some((String::new(), "b".into())));
    assert_eq!(
        parse_merge_comment("# kpt-merge: example"),
        Some((String::new(), "example".into()))
    );
    assert_eq!(parse_merge_comment("# other"), None);
}

#[test]
fn identifiers_are_added_like_kpt_pkg_get() {
    let files = Files::from([
        (
            "deploy.yaml".to_string(),
            b"# license\n\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: my-nginx\nspec:\n  replicas: 1\n".to_vec(),
        ),
        ("README.md".to_string(), b"# title\n".to_vec()),
        (
            "ns.yaml".to_string(),
            b"apiVersion: v1\nkind: Namespace\nmetadata: # kpt-merge: /example\n  name: backend\n".to_vec(),
        ),
        ("values.yaml".to_string(), b"replicas: 3\n".to_vec()),
    ]);
    let out = add_upstream_identifiers(&files);
    assert_eq!(
        String::from_utf8_lossy(&out["deploy.yaml"]),
        "# license\n\napiVersion: apps/v1\nkind: Deployment\nmetadata: # kpt-merge: /my-nginx\n  name: my-nginx\n  annotations:\n    internal.kpt.dev/upstream-identifier: 'apps|Deployment|default|my-nginx'\nspec:\n  replicas: 1\n"
    );
    assert!(String::from_utf8_lossy(&out["ns.yaml"]).contains("'|Namespace|default|example'"));
    assert_eq!(out["README.md"], files["README.md"]);
    assert_eq!(out["values.yaml"], files["values.yaml"]);
    assert_eq!(add_upstream_identifiers(&out), out, "idempotent");
}
