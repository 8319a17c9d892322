//! The editing helpers on parsed documents.

use crate::{Kind, Node, SeqIndent, Style, emit, parse_document};

fn parse(text: &str) -> Node {
    parse_document(text).unwrap().unwrap()
}

fn text(node: &Node) -> String {
    emit(&[node], SeqIndent::Compact).unwrap()
}

#[test]
fn aliases_are_expanded_and_anchors_dropped() {
    let mut doc = parse("a: &x\n  b: 1\nc: *x\n");
    doc.expand_aliases().unwrap();
    assert_eq!(text(&doc), "a:\n  b: 1\nc:\n  b: 1\n");
}

#[test]
fn alias_expansion_is_bounded_by_the_depth_limit() {
    let deep = |n: usize| format!("{}x{}", "[".repeat(n), "]".repeat(n));
    let mut doc = parse(&format!("a: &x {}\nb: [[[[*x]]]]\n", deep(crate::MAX_DEPTH - 2)));
    let err = doc.expand_aliases().unwrap_err();
    assert!(err.to_string().contains("nesting depth"), "{err}");
}

#[test]
fn equality_ignores_style_and_position_but_not_type() {
    let a = parse("a: x # c\nb: [1, 2]\n");
    let b = parse("\n\na: 'x' # c\nb:\n- 1\n- 2\n");
    assert!(a.same(&b, true));
    assert!(!a.same(&parse("a: x # other\nb: [1, 2]\n"), true));
    assert!(a.same(&parse("a: x # other\nb: [1, 2]\n"), false));
    assert!(!parse("a: 1\n").same(&parse("a: '1'\n"), false));
    assert!(!parse("a: yes\n").same(&parse("a: 'yes'\n"), false), "a YAML 1.1 boolean");
}

#[test]
fn scalar_types() {
    let doc = parse("a: x\nb: '1'\nc: 1\nd: on\ne: !!str 1\nf: ~\ng: 'null'\n");
    let root = doc.inner();
    let string = |k: &str| root.get(k).unwrap().reads_as_string();
    assert_eq!(
        ["a", "b", "c", "d", "e"].map(string),
        [true, true, false, false, true],
        "YAML 1.1 booleans are no strings"
    );
    assert!(root.get("f").unwrap().reads_as_null());
    assert!(!root.get("g").unwrap().reads_as_null());
    assert_eq!(root.str_at(&["f"]), None);
    assert_eq!(root.str_at(&["b"]), Some("1"));
    assert_eq!(Node::quoted_string("on").style, Style::DOUBLE_QUOTED);
    assert_eq!(Node::quoted_string("nginx").style, Style::default());
}

#[test]
fn mapping_edits_keep_key_comments() {
    let mut doc = parse("# head\nmetadata: # line\n  a: 1\nkind: K\nspec: 3\n");
    let root = doc.inner_mut();
    root.mapping_at("metadata").set("name", Node::string("n"));
    root.mapping_at("spec");
    root.sort_fields_by_key(|k| k != "kind");
    assert_eq!(text(&doc), "kind: K\n# head\nmetadata: # line\n  a: 1\n  name: n\nspec: {}\n");
    assert_eq!(doc.inner().key("metadata").unwrap().line_comment, "# line");
    assert_eq!(doc.inner().key("spec").unwrap().kind, Kind::Scalar);
}

#[test]
fn every_comment_is_visited_with_its_path() {
    let doc = parse("# top\na: # on a\n  # item\n  - x # on x\nb: 1\n# foot\n");
    let mut seen = Vec::new();
    doc.inner().for_each_comment(&mut Vec::new(), &mut |path, c| {
        seen.push(format!("{}={c}", path.join(".")));
    });
    seen.sort();
    assert_eq!(seen, ["a.[0]=# item", "a.[0]=# on x", "a=# on a", "a=# top", "b=# foot"]);
}
