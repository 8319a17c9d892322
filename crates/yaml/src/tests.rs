//! Round trips through the go-yaml port, with expectations recorded from kpt (kyaml).

use super::{SeqIndent, derive_seq_indent, emit, parse_documents, resolve};

#[track_caller]
fn check(input: &str, seq_indent: SeqIndent, expected: &str) {
    let docs = parse_documents(input).expect("parse");
    let refs: Vec<_> = docs.iter().collect();
    let actual = emit(&refs, seq_indent).expect("emit");
    assert_eq!(actual, expected, "\n--- actual\n{actual}\n--- expected\n{expected}");
}

#[test]
fn reindents_and_keeps_comments() {
    check(
        "# head\n\na:   1 # one\nb:\n    c: d\n    # foot of c\n",
        SeqIndent::Compact,
        "# head\n\na: 1 # one\nb:\n  c: d\n  # foot of c\n",
    );
}

#[test]
fn sequence_indentation_styles() {
    let input = "a:\n  - x\n  - y: 1\n    z: 2\n";
    check(input, SeqIndent::Wide, "a:\n  - x\n  - y: 1\n    z: 2\n");
    check(input, SeqIndent::Compact, "a:\n- x\n- y: 1\n  z: 2\n");
}

#[test]
fn scalar_styles_survive() {
    check(
        "a: 'single'\nb: \"double\"\nc: |\n  lit\nd: {e: [1, \"2\"]}\n",
        SeqIndent::Compact,
        "a: 'single'\nb: \"double\"\nc: |\n  lit\nd: {e: [1, \"2\"]}\n",
    );
}

#[test]
fn multiple_documents() {
    check("---\na: 1\n---\nb: 2\n...\n", SeqIndent::Compact, "a: 1\n---\nb: 2\n");
}

#[test]
fn syntax_errors_are_reported_with_lines() {
    let error = parse_documents("a: [1, 2\nb: 3\n").expect_err("unclosed flow sequence");
    assert!(error.to_string().starts_with("yaml: line"), "{error}");
    assert!(parse_documents("a: b: c\n").is_err());
    assert!(parse_documents("\tfoo: bar\n").is_err());
}

#[test]
fn seq_indent_detection() {
    assert_eq!(derive_seq_indent("a:\n  - b\n"), SeqIndent::Wide);
    assert_eq!(derive_seq_indent("a:\n- b\n"), SeqIndent::Compact);
    assert_eq!(derive_seq_indent("a: b\n"), SeqIndent::Compact);
}

#[test]
fn implicit_tags() {
    for (value, tag) in [
        ("true", "!!bool"),
        ("yes", "!!str"),
        ("0123", "!!int"),
        ("0x1F", "!!int"),
        ("1.5e3", "!!float"),
        (".inf", "!!float"),
        ("~", "!!null"),
        ("", "!!null"),
        ("2021-01-01", "!!timestamp"),
        ("1_000", "!!int"),
        ("08", "!!float"),
        ("nginx:1.18", "!!str"),
    ] {
        assert_eq!(resolve(value), tag, "{value:?}");
    }
}

#[test]
fn truncated_and_mangled_input_never_panics() {
    let sample = "# c\n\na: 'x' # y\nb: \"q\\n\\u00e9\"\nc: |+\n  lit\n\nd: >-\n  f\n  g\ne: [1, {f: g}, &a h, *a]\n? k\n: v\nl:\n- m # n\n  # o\n- - p\n  - q\n---\n!!str s\n...\n%YAML 1.1\n---\nt: !custom u\n";
    for end in 0..=sample.len() {
        if !sample.is_char_boundary(end) {
            continue;
        }
        let prefix = &sample[..end];
        if let Ok(docs) = parse_documents(prefix) {
            let refs: Vec<_> = docs.iter().collect();
            let _ = emit(&refs, SeqIndent::Compact);
        }
        let mangled: String = prefix.chars().map(|c| if c == ' ' { '\t' } else { c }).collect();
        let _ = parse_documents(&mangled);
        let swapped = prefix.replace(':', "-").replace('[', "{");
        let _ = parse_documents(&swapped);
    }
}

// ---- hostile input: each case on a thread with a 2 MiB stack -------------------------------------

fn small_stack<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    match std::thread::Builder::new().stack_size(2 << 20).spawn(f) {
        Ok(handle) => handle.join().expect("the test thread panicked"),
        Err(err) => panic!("cannot spawn: {err}"),
    }
}

/// Both the composer and the event pre-check ([`super::check_limits`]) reject `text` with
/// `message`.
#[track_caller]
fn rejected(text: String, message: &str) {
    let copy = text.clone();
    let err = small_stack(move || parse_documents(&copy).map(|_| ())).unwrap_err();
    assert!(err.to_string().contains(message), "parse: {err}");
    let err = small_stack(move || super::check_limits(&text)).unwrap_err();
    assert!(err.to_string().contains(message), "check_limits: {err}");
}

#[track_caller]
fn rejected_as_too_deep(text: String) {
    rejected(text, "nesting depth exceeds the limit of 100");
}

#[test]
fn nested_flow_sequences_are_rejected() {
    rejected_as_too_deep("[".repeat(3000));
}

#[test]
fn nested_block_sequences_are_rejected() {
    rejected_as_too_deep("- ".repeat(50_000));
    let mut text = String::new();
    for i in 0..300 {
        text.push_str(&" ".repeat(i * 2));
        text.push_str("-\n");
    }
    rejected_as_too_deep(text);
}

#[test]
fn nested_flow_mappings_are_rejected() {
    rejected_as_too_deep(format!("{}x{}", "{a: ".repeat(3000), "}".repeat(3000)));
    let mut text = String::new();
    for i in 0..300 {
        text.push_str(&" ".repeat(i * 2));
        text.push_str("a:\n");
    }
    rejected_as_too_deep(text);
}

#[test]
fn depth_at_the_limit_round_trips() {
    let text = format!("{}x{}\n", "[".repeat(super::MAX_DEPTH), "]".repeat(super::MAX_DEPTH));
    let out = small_stack(move || {
        let docs = parse_documents(&text).expect("parse");
        let json = docs[0].to_json();
        let refs: Vec<_> = docs.iter().collect();
        (emit(&refs, SeqIndent::Compact).expect("emit"), json)
    });
    assert!(out.0.starts_with("[[[["), "{}", out.0);
}

#[test]
fn billion_laughs_is_rejected() {
    let mut text = String::from("a: &a [x,x,x,x,x,x,x,x,x,x]\n");
    let names: Vec<char> = "abcdefghij".chars().collect();
    for pair in names.windows(2) {
        let items = vec![format!("*{}", pair[0]); 10].join(",");
        text.push_str(&format!("{}: &{} [{items}]\n", pair[1], pair[1]));
    }
    rejected(text, "alias expansion exceeds the limit of 10000 nodes");
}

#[test]
fn wide_alias_fan_out_is_rejected() {
    let items = vec!["x"; 5000].join(",");
    let aliases = vec!["*a"; 5000].join(",");
    rejected(format!("a: &a [{items}]\nb: [{aliases}]\n"), "alias expansion exceeds the limit of");
}

/// Only the pre-check expands aliases (for readers that do), so only it counts their depth.
#[test]
fn alias_cannot_nest_past_the_depth_limit_in_the_pre_check() {
    let deep = format!("{}x{}", "[".repeat(60), "]".repeat(60));
    let text = format!("a: &a {deep}\nb: {}*a{}\n", "[".repeat(60), "]".repeat(60));
    let err = small_stack(move || super::check_limits(&text)).unwrap_err();
    assert!(err.to_string().contains("nesting depth exceeds the limit of 100"), "{err}");
}

#[test]
fn the_pre_check_accepts_what_is_within_the_limits() {
    let depth = super::MAX_DEPTH;
    let text = format!("{}x{}\n", "[".repeat(depth), "]".repeat(depth));
    assert_eq!(small_stack(move || super::check_limits(&text)), Ok(()));
    assert_eq!(super::check_limits("a: &a {x: 1}\nb: *a\nc: [*a, *a]\n---\nd: *a\n"), Ok(()));
    let err = super::check_limits("a: [b\n").unwrap_err();
    assert!(matches!(err, super::Error::Syntax { .. }), "{err}");
    let err = super::check_limits("a: \u{1}").unwrap_err();
    assert_eq!(err.to_string(), "yaml: control characters are not allowed");
}

#[test]
fn aliases_within_the_budget_are_kept_unexpanded() {
    let mut text = String::from("a: &a [x,x,x,x,x,x,x,x,x,x]\n");
    let names: Vec<char> = "abc".chars().collect();
    for pair in names.windows(2) {
        let items = vec![format!("*{}", pair[0]); 10].join(",");
        text.push_str(&format!("{}: &{} [{items}]\n", pair[1], pair[1]));
    }
    let (json, out) = small_stack(move || {
        let docs = parse_documents(&text).expect("parse");
        let refs: Vec<_> = docs.iter().collect();
        (docs[0].to_json(), emit(&refs, SeqIndent::Compact).expect("emit"))
    });
    assert!(json.to_string().len() < 1000, "{json}");
    assert!(out.len() < 1000, "{out}");
}

/// Found by the `fn_yaml` fuzz target: a comment holding control characters and NUL made the
/// scanner loop forever.
#[test]
fn comment_with_control_characters_terminates() {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(super::parse_documents("#\u{1}\u{0}#").map_err(|e| e.to_string()));
    });
    let result = rx.recv_timeout(std::time::Duration::from_secs(10)).expect("the parser returns");
    assert_eq!(result.unwrap_err(), "yaml: control characters are not allowed");
    // Tabs, line breaks and printable Unicode stay allowed.
    assert!(super::parse_documents("a: \"\t\u{e9}\u{1F600}\"\r\nb: c\n").is_ok());
}

#[test]
fn streams_keep_untouched_documents_and_re_emit_touched_ones() {
    use super::stream::{parse_stream, write_stream};
    let text =
        "# head\napiVersion: v1   # odd spacing\n--- # second\n\nkind:    X\nlist:\n    - a\n";
    let mut docs = parse_stream(text).expect("parse");
    assert_eq!(docs.len(), 2);
    assert_eq!(write_stream(&docs), text);
    docs[1].touch();
    assert_eq!(
        write_stream(&docs),
        "# head\napiVersion: v1   # odd spacing\n--- # second\nkind: X\nlist:\n- a\n"
    );
    let err = parse_stream("a: 1\n---\nb: [\n").unwrap_err();
    assert!(matches!(err, super::Error::Syntax { line: 3, .. }), "{err:?}");
    assert!(parse_stream("a: 1\n...\nb: 2\n").is_err());
}
