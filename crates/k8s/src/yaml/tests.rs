//! Hostile YAML: every case runs on a thread with a 2 MiB stack.

use super::*;

fn small_stack<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    match std::thread::Builder::new().stack_size(2 << 20).spawn(f) {
        Ok(handle) => handle.join().expect("the test thread panicked"),
        Err(err) => panic!("cannot spawn: {err}"),
    }
}

pub(crate) fn billion_laughs() -> String {
    let mut text = String::from("a: &a [x,x,x,x,x,x,x,x,x,x]\n");
    let names: Vec<char> = "abcdefghij".chars().collect();
    for pair in names.windows(2) {
        let (prev, name) = (pair[0], pair[1]);
        let items = vec![format!("*{prev}"); 10].join(",");
        text.push_str(&format!("{name}: &{name} [{items}]\n"));
    }
    text
}

fn decode(text: String) -> Result<serde_json::Value, String> {
    small_stack(move || from_slice(text.as_bytes()))
}

#[test]
fn nested_flow_sequences_are_rejected() {
    let err = decode("[".repeat(3000)).unwrap_err();
    assert!(err.contains("nesting depth exceeds the limit of 100"), "{err}");
}

#[test]
fn nested_block_sequences_are_rejected() {
    let err = decode("- ".repeat(50_000)).unwrap_err();
    assert!(err.contains("nesting depth exceeds the limit of 100"), "{err}");
    let mut text = String::new();
    for i in 0..300 {
        text.push_str(&" ".repeat(i * 2));
        text.push_str("-\n");
    }
    let err = decode(text).unwrap_err();
    assert!(err.contains("nesting depth exceeds the limit of 100"), "{err}");
}

#[test]
fn nested_flow_mappings_are_rejected() {
    let text = format!("{}x{}", "{a: ".repeat(3000), "}".repeat(3000));
    let err = decode(text).unwrap_err();
    assert!(err.contains("nesting depth exceeds the limit of 100"), "{err}");
}

#[test]
fn depth_at_the_limit_is_accepted() {
    let text = format!("{}x{}", "[".repeat(MAX_DEPTH), "]".repeat(MAX_DEPTH));
    assert!(decode(text).is_ok());
}

#[test]
fn billion_laughs_is_rejected() {
    let err = decode(billion_laughs()).unwrap_err();
    assert!(err.contains("alias expansion exceeds the limit of"), "{err}");
}

#[test]
fn wide_alias_fan_out_is_rejected() {
    // One big anchor repeated many times: serde_yaml's own jump limit lets this through.
    let items = vec!["x"; 5000].join(",");
    let aliases = vec!["*a"; 5000].join(",");
    let text = format!("a: &a [{items}]\nb: [{aliases}]\n");
    let err = decode(text).unwrap_err();
    assert!(err.contains("alias expansion exceeds the limit of"), "{err}");
}

#[test]
fn deep_alias_nesting_is_rejected() {
    let deep = format!("{}x{}", "[".repeat(60), "]".repeat(60));
    let text = format!("a: &a {deep}\nb: {}*a{}\n", "[".repeat(60), "]".repeat(60));
    let err = decode(text).unwrap_err();
    assert!(err.contains("nesting depth exceeds the limit of 100"), "{err}");
}

#[test]
fn ordinary_aliases_are_accepted() {
    let value = decode("a: &a {x: 1}\nb: *a\nc: [*a, *a]\n".into()).unwrap();
    assert_eq!(value["c"][1]["x"], serde_json::json!(1));
}
