//! Exact-bytes tests of the `kpt:` annotation against what Porch writes.

use serde_json::json;

use super::*;

#[track_caller]
fn check_message(headline: &str, annotation: &Annotation, expected: &str) {
    let message = format_message(headline, annotation);
    assert_eq!(message, expected);
    assert_eq!(parse_annotations(&message), vec![annotation.clone()]);
}

#[test]
fn draft_commit_message_is_porch_bytes() {
    let annotation = Annotation {
        package: "blueprints/net".into(),
        workspace_name: "ws1".into(),
        revision: "0".into(),
        task: Some(json!({"init": {"description": "d"}, "type": "init"})),
    };
    check_message(
        "Creating new empty revision",
        &annotation,
        "Creating new empty revision\n\n\nkpt:{\"package\":\"blueprints/net\",\"workspaceName\":\"ws1\",\"revision\":\"0\",\"task\":{\"type\":\"init\",\"init\":{\"description\":\"d\"}}}\n",
    );
}

#[test]
fn approval_message_has_no_task() {
    let annotation = Annotation {
        package: "net".into(),
        workspace_name: "ws1".into(),
        revision: "1".into(),
        task: None,
    };
    let message = annotate_message("Approving package revision net/1", &annotation);
    assert_eq!(
        message,
        "Approving package revision net/1\n\nkpt:{\"package\":\"net\",\"workspaceName\":\"ws1\",\"revision\":\"1\"}\n"
    );
}

#[test]
fn empty_fields_are_omitted() {
    assert_eq!(Annotation::default().to_json(), "{}");
    let annotation = Annotation { package: "p".into(), ..Annotation::default() };
    assert_eq!(annotation.to_json(), r#"{"package":"p"}"#);
}

#[test]
fn task_fields_follow_go_struct_order() {
    let clone = Annotation {
        task: Some(json!({
            "clone": {"upstreamRef": {"upstreamRef": {"name": "blueprints.basens.v1"}, "type": "git",
                "git": {"secretRef": {"name": ""}, "directory": "basens", "ref": "main", "repo": "r"}}},
            "type": "clone",
        })),
        ..Annotation::default()
    };
    assert_eq!(
        clone.to_json(),
        r#"{"task":{"type":"clone","clone":{"upstreamRef":{"type":"git","git":{"repo":"r","ref":"main","directory":"basens","secretRef":{"name":""}},"upstreamRef":{"name":"blueprints.basens.v1"}}}}}"#
    );
    let upgrade = Annotation {
        task: Some(json!({
            "upgrade": {"strategy": "resource-merge", "localPackageRevisionRef": {"name": "l"},
                "newUpstreamRef": {"name": "n"}, "oldUpstreamRef": {"name": "o"}},
            "type": "upgrade",
        })),
        ..Annotation::default()
    };
    assert_eq!(
        upgrade.to_json(),
        r#"{"task":{"type":"upgrade","upgrade":{"oldUpstreamRef":{"name":"o"},"newUpstreamRef":{"name":"n"},"localPackageRevisionRef":{"name":"l"},"strategy":"resource-merge"}}}"#
    );
    let init = Annotation {
        task: Some(
            json!({"type": "init", "init": {"site": "s", "keywords": ["a", "b"], "description": "d", "subpackage": "x"}}),
        ),
        ..Annotation::default()
    };
    assert_eq!(
        init.to_json(),
        r#"{"task":{"type":"init","init":{"subpackage":"x","description":"d","keywords":["a","b"],"site":"s"}}}"#
    );
}

#[test]
fn strings_are_escaped_like_go() {
    let annotation = Annotation {
        package: "a<b>&\"c\"\\\n\t\u{1}\u{8}\u{2028}é".into(),
        ..Annotation::default()
    };
    let json = annotation.to_json();
    assert_eq!(json, r#"{"package":"a\u003cb\u003e\u0026\"c\"\\\n\t\u0001\b\u2028é"}"#);
    assert_eq!(Annotation::from_json(&json), Some(annotation));
}

#[test]
fn parse_reads_legacy_and_skips_invalid_lines() {
    let message = "Intermediate commit: eval\n\n  kpt:{\"package\":\"basens\",\"revision\":\"v1\",\"task\":{\"type\":\"eval\"}}  \n\
        kpt:{not json}\n\
        kpt:{\"package\":1}\n\
        kpt:{\"package\":\"x\",\"task\":\"init\"}\n\
        kpt:null\n\
        not kpt:{\"package\":\"y\"}\n";
    let annotations = parse_annotations(message);
    assert_eq!(
        annotations,
        vec![
            Annotation {
                package: "basens".into(),
                workspace_name: String::new(),
                revision: "v1".into(),
                task: Some(json!({"type": "eval"})),
            },
            Annotation::default(),
        ]
    );
    assert_eq!(annotations[0].task_type(), Some("eval"));
}
