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
    assert_eq!(entries[0].head, vec!["# license".to_string(), String::new()]);
    assert_eq!(entries[0].value.comment.as_deref(), Some("# c1"));
    assert_eq!(entries[2].key_comment.as_deref(), Some("# kpt-merge: a/b"));
    let data = root.get("data").unwrap();
    assert_eq!(data.get("lit").unwrap().as_str(), Some("line1\n\nline2\n"));
    assert_eq!(data.entry("fold").unwrap().head, vec!["# about fold".to_string()]);
    assert_eq!(data.get("flow").unwrap().comment.as_deref(), Some("# flow comment"));
    assert_eq!(docs[0].foot, vec!["# foot".to_string()]);
    let out = reemit(text);
    assert_eq!(out, text.replace("  fold: >-\n    a\n    b\n", "  fold: >-\n    a b\n"));
}

#[test]
fn indentation_and_sequence_style_are_detected() {
    let text = "a:\n    b:\n        - x\n        - y\n";
    let docs = parse(text).unwrap();
    assert_eq!(docs[0].indent, 4);
    assert!(docs[0].wide_sequences);
    assert_eq!(reemit(text), text);
}

#[test]
fn scalars_keep_meaning() {
    let text = "a: 'it''s'\nb: \"x\\ny\"\nc: '5'\nd: !!str 6\ne: ~\nf: \"yes\"\ng: -x\n";
    let out = reemit(text);
    let before: serde_json::Value = serde_yaml::from_str(text).unwrap();
    let after: serde_json::Value = serde_yaml::from_str(&out).unwrap();
    assert_eq!(before, after, "{out}");
}
