//! Unit tests of `Status` bodies, against messages printed by the kube-apiserver and Porch.

use serde_json::json;

use super::*;
use crate::resources::{PACKAGE_REVISIONS, PACKAGES};

#[test]
fn generic_status() {
    assert_eq!(
        status(418, "", "", None),
        json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "code": 418})
    );
    assert_eq!(
        bad_request("namespace must be specified"),
        json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": "namespace must be specified",
            "reason": "BadRequest",
            "code": 400,
        })
    );
    assert_eq!(unauthorized("")["message"], "Unauthorized");
    assert_eq!(
        success(PACKAGE_REVISIONS.group_resource(), "r.p.ws", "u")["details"],
        json!({"name": "r.p.ws", "group": "porch.kpt.dev", "kind": "packagerevisions", "uid": "u"})
    );
    assert_eq!(success(PACKAGE_REVISIONS.group_resource(), "r.p.ws", "")["status"], "Success");
}

#[test]
fn resource_errors() {
    let resource = PACKAGE_REVISIONS.group_resource();
    assert_eq!(
        not_found(resource, "r.p.ws"),
        json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": "packagerevisions.porch.kpt.dev \"r.p.ws\" not found",
            "reason": "NotFound",
            "details": {"name": "r.p.ws", "group": "porch.kpt.dev", "kind": "packagerevisions"},
            "code": 404,
        })
    );
    assert_eq!(
        already_exists(resource, "x")["message"],
        "packagerevisions.porch.kpt.dev \"x\" already exists"
    );
    assert_eq!(already_exists(resource, "x")["code"], 409);
    assert_eq!(
        conflict(
            resource,
            "x",
            "the object has been modified; please apply your changes to the latest version and try again"
        )["message"],
        "Operation cannot be fulfilled on packagerevisions.porch.kpt.dev \"x\": the object has been modified; please apply your changes to the latest version and try again"
    );
    assert_eq!(
        forbidden(
            resource,
            "x",
            "published PackageRevisions must be proposed for deletion by setting spec.lifecycle to 'DeletionProposed' prior to deletion"
        )["message"],
        "packagerevisions.porch.kpt.dev \"x\" is forbidden: published PackageRevisions must be proposed for deletion by setting spec.lifecycle to 'DeletionProposed' prior to deletion"
    );
    assert_eq!(
        method_not_supported(
            PACKAGES.group_resource(),
            "create or clone a PackageRevision resource to create a package as direct package creation"
        )["message"],
        "create or clone a PackageRevision resource to create a package as direct package creation is not supported on resources of kind \"packages.porch.kpt.dev\""
    );
    assert_eq!(path_not_found()["message"], "the server could not find the requested resource");
    assert_eq!(gone("repository \"r\" is managed by v1alpha2; use the v1alpha2 API")["code"], 410);
    assert_eq!(
        request_entity_too_large("limit is 3145728")["message"],
        "Request entity too large: limit is 3145728"
    );
    assert_eq!(
        unsupported_media_type(&["application/json-patch+json", "application/merge-patch+json"])["message"],
        "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json"
    );
    assert_eq!(internal_error("boom")["message"], "Internal error occurred: boom");
    assert_eq!(not_acceptable()["reason"], "NotAcceptable");
    assert_eq!(
        conflict_message("another request is already in progress on package revision \"ns/x\"")["code"],
        409
    );
    assert_eq!(unprocessable("operation failed")["details"], serde_json::Value::Null);
}

#[test]
fn invalid_formats_like_the_apiserver() {
    let kind = PACKAGE_REVISIONS.group_kind();
    let lifecycle = FieldError::invalid(
        "spec.lifecycle",
        json!("Published"),
        "value can be only updated to Draft,Proposed",
    );
    assert_eq!(
        invalid(kind, "r.p.ws", std::slice::from_ref(&lifecycle)),
        json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": "PackageRevision.porch.kpt.dev \"r.p.ws\" is invalid: spec.lifecycle: Invalid value: \"Published\": value can be only updated to Draft,Proposed",
            "reason": "Invalid",
            "details": {
                "name": "r.p.ws",
                "group": "porch.kpt.dev",
                "kind": "PackageRevision",
                "causes": [{
                    "reason": "FieldValueInvalid",
                    "message": "Invalid value: \"Published\": value can be only updated to Draft,Proposed",
                    "field": "spec.lifecycle",
                }],
            },
            "code": 422,
        })
    );
    let label = FieldError::forbidden(
        "metadata.labels[kpt.dev/latest-revision]",
        "label is managed by porch and cannot be set by users",
    );
    assert_eq!(
        invalid(kind, "x", &[label.clone(), lifecycle.clone(), label])["message"],
        "PackageRevision.porch.kpt.dev \"x\" is invalid: [metadata.labels[kpt.dev/latest-revision]: Forbidden: label is managed by porch and cannot be set by users, spec.lifecycle: Invalid value: \"Published\": value can be only updated to Draft,Proposed]"
    );
    assert_eq!(
        invalid(kind, "x", &[])["message"],
        "PackageRevision.porch.kpt.dev \"x\" is invalid"
    );
    assert!(invalid(kind, "x", &[])["details"].get("causes").is_none());
}

#[test]
fn field_error_bodies() {
    let cases = [
        (FieldError::required("spec.packageName", ""), "spec.packageName: Required value"),
        (
            FieldError::required("spec.tasks", "at most one task"),
            "spec.tasks: Required value: at most one task",
        ),
        (
            FieldError::invalid("spec.revision", json!(-2), "must be positive"),
            "spec.revision: Invalid value: -2: must be positive",
        ),
        (
            FieldError::invalid("spec.deployment", json!(true), ""),
            "spec.deployment: Invalid value: true",
        ),
        (FieldError::invalid("x", serde_json::Value::Null, ""), "x: Invalid value: null"),
        (FieldError::invalid("x", json!("a\"b\n"), ""), "x: Invalid value: \"a\\\"b\\n\""),
        (FieldError::invalid("x", json!({"a": 1}), ""), "x: Invalid value: {\"a\":1}"),
        (
            FieldError::not_supported("spec.type", json!("svn"), &["git", "oci"]),
            "spec.type: Unsupported value: \"svn\": supported values: \"git\", \"oci\"",
        ),
        (
            FieldError::duplicate("spec.tasks[1]", json!("init")),
            "spec.tasks[1]: Duplicate value: \"init\"",
        ),
        (
            FieldError::not_found("spec.parent.name", json!("p")),
            "spec.parent.name: Not found: \"p\"",
        ),
        (
            FieldError::too_long("metadata.name", 253),
            "metadata.name: Too long: may not be more than 253 bytes",
        ),
        (FieldError::forbidden("spec", ""), "spec: Forbidden"),
    ];
    for (error, expected) in cases {
        assert_eq!(error.to_string(), expected);
    }
}

#[test]
fn strict_decoding() {
    let fields = ["spec.foo".to_owned(), "spec.tasks[0].bar".to_owned()];
    let status = strict_decoding_error("PackageRevision", "v1alpha1", &fields);
    assert_eq!(status["code"], 400);
    assert_eq!(
        status["message"],
        "PackageRevision in version \"v1alpha1\" cannot be handled as a PackageRevision: strict decoding error: unknown field \"spec.foo\", unknown field \"spec.tasks[0].bar\""
    );
    assert_eq!(unknown_field_warning("spec.foo"), r#"299 - "unknown field \"spec.foo\"""#);
}
