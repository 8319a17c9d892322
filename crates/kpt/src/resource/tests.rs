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

// ---- how files are read and written back (`parse_yaml`, `stream::write_stream`) --------------

#[track_caller]
fn reemit(text: &str) -> String {
    let mut docs = parse_yaml(text).unwrap();
    for doc in &mut docs {
        doc.touch();
    }
    stream::write_stream(&docs)
}

#[test]
fn untouched_documents_are_byte_identical() {
    let text =
        "# head\napiVersion: v1   # odd spacing\n---\n\nkind:    X\n...\n---\na: &x 1\nb: *x\n";
    let docs = parse_yaml(text).unwrap();
    assert_eq!(stream::write_stream(&docs), text);
}

#[test]
fn comments_are_attached_and_reemitted() {
    let text = "\
# license

apiVersion: v1 # c1
kind: \"Kind\"
metadata: # kpt-merge: a/b
  name: x
data:
  lit: |
    line1

    line2
  # about fold
  fold: >-
    a
    b
  flow: [a, 'b', {c: d}] # flow comment
  empty:
  seq:
  - a
  - b: 1
    # about c
    c: 2
# foot
";
    let docs = parse_yaml(text).unwrap();
    let root = docs[0].root().unwrap();
    // go-yaml: a comment block separated from the first key by a blank line is the document's.
    assert_eq!(docs[0].node.as_ref().unwrap().head_comment, "# license");
    assert_eq!(root.get("apiVersion").unwrap().line_comment, "# c1");
    assert_eq!(merge_comment(root), Some(("a".into(), "b".into())));
    let data = root.get("data").unwrap();
    assert_eq!(data.get("lit").unwrap().as_str(), Some("line1\n\nline2\n"));
    assert_eq!(data.key("fold").unwrap().head_comment, "# about fold");
    assert_eq!(data.get("flow").unwrap().line_comment, "# flow comment");
    let out = reemit(text);
    assert_eq!(out, text.replace("  fold: >-\n    a\n    b\n", "  fold: >-\n    a b\n"), "{out}");
}

/// A re-emitted document is written as kyaml writes it: indent 2, the sequence indentation
/// derived from the source (kyaml's `DeriveSeqIndentStyle`), aliases expanded.
#[test]
fn reemitted_documents_are_written_as_kyaml_writes_them() {
    let text = "a:\n    b:\n        - x\n        - y\n";
    assert_eq!(reemit(text), "a:\n  b:\n  - x\n  - y\n");
    assert_eq!(reemit("a:\n    b:\n      - x\n      - y\n"), "a:\n  b:\n    - x\n    - y\n");
    assert_eq!(reemit("a:\n  - x\n"), "a:\n  - x\n");
    assert_eq!(reemit("a:\n- x\n"), "a:\n- x\n");
    assert_eq!(reemit("a: &x {k: 1}\nb: *x\n"), "a: {k: 1}\nb: {k: 1}\n");
}

#[test]
fn scalars_keep_meaning() {
    let text = "a: 'it''s'\nb: \"x\\ny\"\nc: '5'\nd: !!str 6\ne: ~\nf: \"yes\"\ng: -x\n";
    let out = reemit(text);
    let before: serde_json::Value = serde_yaml::from_str(text).unwrap();
    let after: serde_json::Value = serde_yaml::from_str(&out).unwrap();
    assert_eq!(before, after, "{out}");
}

// ---- hostile input: each case on a thread with a 2 MiB stack -------------------------------------

fn small_stack<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    match std::thread::Builder::new().stack_size(2 << 20).spawn(f) {
        Ok(handle) => handle.join().expect("the test thread panicked"),
        Err(err) => panic!("cannot spawn: {err}"),
    }
}

/// The file reader, the event pre-check and the Kptfile readers reject `text` with `message`.
#[track_caller]
fn rejected(text: String, message: &str) {
    let copy = text.clone();
    let err = small_stack(move || parse_yaml(&copy).map(|_| ())).unwrap_err();
    assert!(err.to_string().contains(message), "parse: {err}");
    let copy = text.clone();
    let err = small_stack(move || veranda_yaml::check_limits(&copy)).unwrap_err();
    assert!(err.to_string().contains(message), "check_limits: {err}");
    let copy = text.clone();
    let err = small_stack(move || crate::read_kptfile(copy.as_bytes()).map(|_| ())).unwrap_err();
    assert!(err.to_string().contains(message), "read_kptfile: {err}");
    let err = small_stack(move || crate::kptfile::Kptfile::parse(text.as_bytes()).map(|_| ()))
        .unwrap_err();
    assert!(err.to_string().contains(message), "Kptfile::parse: {err}");
}

const TOO_DEEP: &str = "nesting depth exceeds the limit of 100";

fn billion_laughs() -> String {
    let mut text = String::from("a: &a [x,x,x,x,x,x,x,x,x,x]\n");
    let names: Vec<char> = "abcdefghij".chars().collect();
    for pair in names.windows(2) {
        let items = vec![format!("*{}", pair[0]); 10].join(",");
        text.push_str(&format!("{}: &{} [{items}]\n", pair[1], pair[1]));
    }
    text
}

#[test]
fn nested_collections_are_rejected() {
    rejected("[".repeat(3000), TOO_DEEP);
    rejected("- ".repeat(50_000), TOO_DEEP);
    rejected(format!("{}x{}", "{a: ".repeat(3000), "}".repeat(3000)), TOO_DEEP);
    let mut text = String::new();
    for i in 0..300 {
        text.push_str(&" ".repeat(i * 2));
        text.push_str("a:\n");
    }
    rejected(text, TOO_DEEP);
}

#[test]
fn billion_laughs_is_rejected() {
    rejected(billion_laughs(), "alias expansion exceeds the limit of 10000 nodes");
}

#[test]
fn alias_cannot_nest_past_the_depth_limit() {
    let deep = format!("{}x{}", "[".repeat(60), "]".repeat(60));
    rejected(format!("a: &a {deep}\nb: {}*a{}\n", "[".repeat(60), "]".repeat(60)), TOO_DEEP);
}

#[test]
fn depth_and_aliases_within_the_limits_round_trip() {
    let depth = veranda_yaml::MAX_DEPTH;
    let text = format!("{}x{}\n", "[".repeat(depth), "]".repeat(depth));
    let docs = small_stack(move || parse_yaml(&text).expect("parse"));
    assert!(stream::write_stream(&docs).starts_with("[[[["));
    let docs = parse_yaml("a: &a {x: 1}\nb: *a\n").expect("parse");
    let json = docs[0].root().map(Node::to_json);
    assert_eq!(json, Some(serde_json::json!({"a": {"x": 1}, "b": {"x": 1}})));
}
