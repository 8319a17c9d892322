//! Unit tests of patch application, one `check` per patch type and case.

use serde_json::{Value, json};

use super::*;

fn current() -> Value {
    json!({
        "apiVersion": "porch.kpt.dev/v1alpha1",
        "kind": "PackageRevision",
        "metadata": {"name": "r.p.ws", "labels": {"a": "1", "b": "2"}},
        "spec": {"lifecycle": "Draft", "revision": 0, "tasks": [{"type": "init"}, {"type": "edit"}]},
    })
}

#[track_caller]
fn check(kind: PatchType, body: &str, expected: Result<Value, (u16, &str)>) {
    let actual = apply_patch(kind, &current(), body.as_bytes());
    match (actual, expected) {
        (Ok(actual), Ok(expected)) => assert_eq!(actual, expected),
        (Err(err), Err((code, message))) => {
            assert_eq!(err.code(), code, "{err}");
            assert!(err.to_string().contains(message), "{err:?} does not contain {message:?}");
            assert_eq!(err.to_status()["code"], json!(code));
        }
        (actual, expected) => panic!("got {actual:?}, expected {expected:?}"),
    }
}

fn patched(edit: impl FnOnce(&mut Value)) -> Value {
    let mut res = current();
    edit(&mut res);
    res
}

#[test]
fn content_types() {
    let cases = [
        ("application/json-patch+json", Some(PatchType::Json)),
        ("application/merge-patch+json", Some(PatchType::Merge)),
        ("application/strategic-merge-patch+json", Some(PatchType::StrategicMerge)),
        ("application/apply-patch+yaml", Some(PatchType::Apply)),
        ("Application/Merge-Patch+JSON; charset=utf-8", Some(PatchType::Merge)),
        ("application/json", None),
        ("", None),
    ];
    for (content_type, expected) in cases {
        assert_eq!(PatchType::from_content_type(content_type), expected, "{content_type}");
    }
    for kind in [PatchType::Json, PatchType::Merge, PatchType::StrategicMerge, PatchType::Apply] {
        assert_eq!(PatchType::from_content_type(kind.content_type()), Some(kind));
        assert!(CONTENT_TYPES.contains(&kind.content_type()));
    }
}

#[test]
fn json_patch() {
    check(
        PatchType::Json,
        r#"[{"op":"replace","path":"/spec/lifecycle","value":"Proposed"},{"op":"remove","path":"/metadata/labels/a"}]"#,
        Ok(patched(|it| {
            it["spec"]["lifecycle"] = json!("Proposed");
            it["metadata"]["labels"] = json!({"b": "2"});
        })),
    );
    check(
        PatchType::Json,
        r#"[{"op":"test","path":"/spec/lifecycle","value":"Draft"},{"op":"add","path":"/spec/tasks/-","value":{"type":"x"}}]"#,
        Ok(patched(|it| {
            it["spec"]["tasks"] = json!([{"type": "init"}, {"type": "edit"}, {"type": "x"}])
        })),
    );
    check(
        PatchType::Json,
        r#"[{"op":"test","path":"/spec/lifecycle","value":"Published"}]"#,
        Err((422, "value did not match")),
    );
    check(PatchType::Json, r#"[{"op":"remove","path":"/spec/nope"}]"#, Err((422, "/spec/nope")));
    check(PatchType::Json, r#"{"op":"remove"}"#, Err((400, "invalid JSON patch")));
    check(
        PatchType::Json,
        r#"[{"op":"frobnicate","path":"/a"}]"#,
        Err((400, "invalid JSON patch")),
    );
    check(PatchType::Json, "not json", Err((400, "invalid JSON patch")));
}

#[test]
fn merge_patch() {
    check(
        PatchType::Merge,
        r#"{"metadata":{"labels":{"a":null,"c":"3"}},"spec":{"tasks":[{"type":"clone"}]}}"#,
        Ok(patched(|it| {
            it["metadata"]["labels"] = json!({"b": "2", "c": "3"});
            it["spec"]["tasks"] = json!([{"type": "clone"}]);
        })),
    );
    check(PatchType::Merge, "{}", Ok(current()));
    check(PatchType::Merge, "[1]", Err((400, "must be a JSON object")));
    check(PatchType::Merge, "{", Err((400, "invalid merge patch")));
}

#[test]
fn strategic_merge_patch_is_a_merge_patch() {
    check(
        PatchType::StrategicMerge,
        r#"{"spec":{"lifecycle":"Proposed","tasks":[{"type":"clone"}]}}"#,
        Ok(patched(|it| {
            it["spec"]["lifecycle"] = json!("Proposed");
            it["spec"]["tasks"] = json!([{"type": "clone"}]);
        })),
    );
    check(
        PatchType::StrategicMerge,
        r#"{"spec":{"$setElementOrder/tasks":[{"type":"init"}]}}"#,
        Err((400, "\"$setElementOrder/tasks\" is not supported")),
    );
    check(
        PatchType::StrategicMerge,
        r#"{"spec":{"tasks":[{"$patch":"delete","type":"init"}]}}"#,
        Err((400, "\"$patch\"")),
    );
}

#[test]
fn server_side_apply_merges_the_intent() {
    check(
        PatchType::Apply,
        "apiVersion: porch.kpt.dev/v1alpha1\nkind: PackageRevision\nmetadata:\n  name: r.p.ws\n  labels:\n    c: \"3\"\nspec:\n  lifecycle: Proposed\n",
        Ok(patched(|it| {
            it["metadata"]["labels"]["c"] = json!("3");
            it["spec"]["lifecycle"] = json!("Proposed");
        })),
    );
    // kubectl sends JSON with the YAML content type.
    check(
        PatchType::Apply,
        r#"{"apiVersion":"porch.kpt.dev/v1alpha1","kind":"PackageRevision","spec":{"tasks":[]}}"#,
        Ok(patched(|it| it["spec"]["tasks"] = json!([]))),
    );
    check(PatchType::Apply, "kind: PackageRevision\n", Err((400, "apiVersion must be set")));
    check(PatchType::Apply, "apiVersion: porch.kpt.dev/v1alpha1\n", Err((400, "kind must be set")));
    check(
        PatchType::Apply,
        "apiVersion: porch.kpt.dev/v1alpha1\nkind: Repository\n",
        Err((400, "does not match the object")),
    );
    check(PatchType::Apply, "- a\n", Err((400, "must be a mapping")));
    check(PatchType::Apply, "a: [", Err((400, "error decoding YAML")));

    let created = apply_patch(
        PatchType::Apply,
        &json!({}),
        b"apiVersion: config.porch.kpt.dev/v1alpha1\nkind: Repository\nmetadata: {name: r}\n",
    );
    assert_eq!(
        created.ok(),
        Some(
            json!({"apiVersion": "config.porch.kpt.dev/v1alpha1", "kind": "Repository", "metadata": {"name": "r"}})
        )
    );
}

// ---- limits on hostile patches (each on a thread with a 2 MiB stack) ---------------------------

fn small_stack<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    match std::thread::Builder::new().stack_size(2 << 20).spawn(f) {
        Ok(handle) => handle.join().expect("the test thread panicked"),
        Err(err) => panic!("cannot spawn: {err}"),
    }
}

/// 41 `copy` operations, each doubling the copied value: 2^41 strings without a limit.
pub(crate) fn doubling_copies() -> String {
    let mut ops = vec![r#"{"op":"add","path":"/metadata/annotations","value":{"x":["aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"]}}"#.to_string()];
    for _ in 0..41 {
        ops.push(
            r#"{"op":"copy","from":"/metadata/annotations/x","path":"/metadata/annotations/x/-"}"#
                .into(),
        );
    }
    format!("[{}]", ops.join(","))
}

#[test]
fn json_patch_doubling_copies_stop_at_the_size_limit() {
    let err =
        small_stack(|| apply_patch(PatchType::Json, &current(), doubling_copies().as_bytes()))
            .unwrap_err();
    assert_eq!(err.code(), 422, "{err}");
    assert!(err.to_string().contains("larger than the limit of 6291456 bytes"), "{err}");
}

#[test]
fn json_patch_with_too_many_operations_is_rejected() {
    let op = r#"{"op":"test","path":"/kind","value":"PackageRevision"}"#;
    let body = format!("[{}]", vec![op; MAX_JSON_PATCH_OPERATIONS + 1].join(","));
    let err = apply_patch(PatchType::Json, &current(), body.as_bytes()).unwrap_err();
    assert_eq!(err.code(), 400, "{err}");
    assert!(err.to_string().contains("exceed the limit of 10000"), "{err}");
    let body = format!("[{}]", vec![op; MAX_JSON_PATCH_OPERATIONS].join(","));
    assert!(apply_patch(PatchType::Json, &current(), body.as_bytes()).is_ok());
}

#[test]
fn json_patch_cannot_nest_past_the_depth_limit() {
    // Each add nests a 100-deep value inside the previous one.
    let deep = format!("{}1{}", "[".repeat(100), "]".repeat(100));
    let mut ops = vec![format!(r#"{{"op":"add","path":"/spec/x","value":{deep}}}"#)];
    let mut path = "/spec/x".to_string();
    for _ in 0..50 {
        path.push_str(&"/0".repeat(99));
        ops.push(format!(r#"{{"op":"replace","path":"{path}","value":{deep}}}"#));
    }
    let body = format!("[{}]", ops.join(","));
    let err =
        small_stack(move || apply_patch(PatchType::Json, &current(), body.as_bytes())).unwrap_err();
    assert!(err.to_string().contains("deeper than the limit of 128"), "{err}");
}

#[test]
fn deeply_nested_patch_bodies_hit_serde_json_recursion_limit() {
    for kind in [PatchType::Json, PatchType::Merge, PatchType::StrategicMerge] {
        let body = if kind == PatchType::Json {
            format!(
                "[{{\"op\":\"add\",\"path\":\"/a\",\"value\":{}1{}}}]",
                "[".repeat(3000),
                "]".repeat(3000)
            )
        } else {
            format!("{{\"a\":{}1{}}}", "[".repeat(3000), "]".repeat(3000))
        };
        let err = small_stack(move || apply_patch(kind, &current(), body.as_bytes())).unwrap_err();
        assert_eq!(err.code(), 400, "{err}");
        assert!(err.to_string().contains("recursion limit exceeded"), "{err}");
    }
}

#[test]
fn apply_patch_yaml_billion_laughs_is_rejected() {
    let body = format!(
        "apiVersion: porch.kpt.dev/v1alpha1\nkind: PackageRevision\n{}",
        crate::yaml::tests::billion_laughs()
    );
    let err = small_stack(move || apply_patch(PatchType::Apply, &current(), body.as_bytes()))
        .unwrap_err();
    assert_eq!(err.code(), 400, "{err}");
    assert!(err.to_string().contains("alias expansion exceeds the limit"), "{err}");
    let body = format!("apiVersion: v1\nkind: X\nspec: {}1{}", "[".repeat(3000), "]".repeat(3000));
    let err = small_stack(move || apply_patch(PatchType::Apply, &current(), body.as_bytes()))
        .unwrap_err();
    assert!(err.to_string().contains("nesting depth exceeds the limit of 100"), "{err}");
}
