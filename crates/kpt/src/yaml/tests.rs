//! Round trips and comment attachment of the YAML layer.

use super::*;

#[track_caller]
fn reemit(text: &str) -> String {
    let mut docs = parse(text).unwrap();
    for doc in &mut docs {
        doc.touch();
    }
    to_file_text(&docs)
}

#[test]
fn untouched_documents_are_byte_identical() {
    let text = "# head\napiVersion: v1   # odd spacing\n---\n\nkind:    X\n...\n";
    let docs = parse(text).unwrap();
    assert_eq!(to_file_text(&docs), text);
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
    let docs = parse(text).unwrap();
    let root = docs[0].root.as_ref().unwrap();
    let entries = root.entries().unwrap();
    // go-yaml: a comment block separated from the first key by a blank line is the document's.
    assert_eq!(docs[0].head, vec!["# license".to_string()]);
    assert_eq!(entries[0].value.comment.as_deref(), Some("# c1"));
    assert_eq!(entries[2].key_comment.as_deref(), Some("# kpt-merge: a/b"));
    let data = root.get("data").unwrap();
    assert_eq!(data.get("lit").unwrap().as_str(), Some("line1\n\nline2\n"));
    assert_eq!(data.entry("fold").unwrap().head, vec!["# about fold".to_string()]);
    assert_eq!(data.get("flow").unwrap().comment.as_deref(), Some("# flow comment"));
    let out = reemit(text);
    assert_eq!(out, text.replace("  fold: >-\n    a\n    b\n", "  fold: >-\n    a b\n"), "{out}");
}

/// A re-emitted document is written as kyaml writes it: indent 2, the sequence indentation
/// derived from the source (kyaml's `DeriveSeqIndentStyle`).
#[test]
fn sequence_style_is_detected_and_indentation_normalised() {
    let text = "a:\n    b:\n        - x\n        - y\n";
    let docs = parse(text).unwrap();
    assert!(!docs[0].wide_sequences, "kyaml: wide is exactly two more spaces than the key");
    assert_eq!(to_file_text(&docs), text);
    assert_eq!(reemit(text), "a:\n  b:\n  - x\n  - y\n");
    let text = "a:\n    b:\n      - x\n      - y\n";
    assert!(parse(text).unwrap()[0].wide_sequences);
    assert_eq!(reemit(text), "a:\n  b:\n    - x\n    - y\n");
    assert_eq!(reemit("a:\n  - x\n"), "a:\n  - x\n");
    assert_eq!(reemit("a:\n- x\n"), "a:\n- x\n");
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

/// Both the tree parser and the event pre-check reject `text` with `message`.
#[track_caller]
fn rejected(text: String, message: &str) {
    let copy = text.clone();
    let err = small_stack(move || super::parse(&copy).map(|_| ())).unwrap_err();
    assert!(err.to_string().contains(message), "parse: {err}");
    let copy = text.clone();
    let err = small_stack(move || veranda_yaml::check_limits(&copy)).unwrap_err();
    assert!(err.to_string().contains(message), "check_limits: {err}");
    let err = small_stack(move || crate::read_kptfile(text.as_bytes()).map(|_| ())).unwrap_err();
    assert!(err.to_string().contains(message), "read_kptfile: {err}");
}

const TOO_DEEP: &str = "nesting depth exceeds the limit of 100";

pub(crate) fn billion_laughs() -> String {
    let mut text = String::from("a: &a [x,x,x,x,x,x,x,x,x,x]\n");
    let names: Vec<char> = "abcdefghij".chars().collect();
    for pair in names.windows(2) {
        let items = vec![format!("*{}", pair[0]); 10].join(",");
        text.push_str(&format!("{}: &{} [{items}]\n", pair[1], pair[1]));
    }
    text
}

#[test]
fn nested_flow_sequences_are_rejected() {
    rejected("[".repeat(3000), TOO_DEEP);
}

#[test]
fn nested_block_sequences_are_rejected() {
    // About 100 KB each.
    rejected("- ".repeat(50_000), TOO_DEEP);
    let mut text = String::new();
    for i in 0..300 {
        text.push_str(&" ".repeat(i * 2));
        text.push_str("-\n");
    }
    rejected(text, TOO_DEEP);
}

#[test]
fn nested_flow_mappings_are_rejected() {
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
    let err = small_stack(|| {
        crate::read_kptfile(format!("apiVersion: kpt.dev/v1\n{}", billion_laughs()).as_bytes())
            .map(|_| ())
    })
    .unwrap_err();
    assert!(err.to_string().contains("alias expansion exceeds the limit"), "{err}");
}

#[test]
fn alias_cannot_nest_past_the_depth_limit() {
    let deep = format!("{}x{}", "[".repeat(60), "]".repeat(60));
    rejected(format!("a: &a {deep}\nb: {}*a{}\n", "[".repeat(60), "]".repeat(60)), TOO_DEEP);
}

#[test]
fn depth_and_aliases_within_the_limits_round_trip() {
    let depth = super::MAX_DEPTH;
    let text = format!("{}x{}\n", "[".repeat(depth), "]".repeat(depth));
    let docs = small_stack(move || super::parse(&text).expect("parse"));
    assert!(super::to_file_text(&docs).starts_with("[[[["));
    let docs = super::parse("a: &a {x: 1}\nb: *a\n").expect("parse");
    let json = docs[0].root.as_ref().map(|r| r.to_json());
    assert_eq!(json, Some(serde_json::json!({"a": {"x": 1}, "b": {"x": 1}})));
}
