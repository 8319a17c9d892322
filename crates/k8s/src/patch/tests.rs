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
