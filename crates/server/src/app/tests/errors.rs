//! Engine errors and request errors become `Status` answers with the right code, reason and
//! message.

use axum::http::{Method, StatusCode, header};
use serde_json::json;

use super::{Fixture, PRS, REPOS, check_status, draft};

#[tokio::test]
async fn not_found() {
    let f = Fixture::new().await;
    let answer = f.get(&format!("{PRS}/blue.p.ws")).await;
    check_status(
        &answer,
        404,
        "NotFound",
        "packagerevisions.porch.kpt.dev \"blue.p.ws\" not found",
    );
    assert_eq!(
        answer.body["details"],
        json!({"name": "blue.p.ws", "group": "porch.kpt.dev", "kind": "packagerevisions"})
    );
    let answer = f.get("/apis/porch.kpt.dev/v1alpha1/namespaces/default/nothings").await;
    check_status(&answer, 404, "NotFound", "the server could not find the requested resource");
    let answer = f.get(&format!("{PRS}/blue.p.ws/nothing")).await;
    check_status(&answer, 404, "NotFound", "the server could not find the requested resource");
}

#[tokio::test]
async fn already_exists_and_stale_resource_version_conflict() {
    let f = Fixture::new().await;
    f.register("blue").await;
    let again = f.post(REPOS, &super::repository("blue", &f.dir.path().join("blue.git"))).await;
    check_status(
        &again,
        409,
        "AlreadyExists",
        "repositories.config.porch.kpt.dev \"blue\" already exists",
    );

    let created = f.create_draft("blue", "p", "ws").await.body;
    let mut stale = created.clone();
    stale["spec"]["lifecycle"] = json!("Proposed");
    stale["metadata"]["resourceVersion"] = json!("1");
    let answer = f.put(&format!("{PRS}/blue.p.ws"), &stale).await;
    check_status(
        &answer,
        409,
        "Conflict",
        "Operation cannot be fulfilled on packagerevisions.porch.kpt.dev \"blue.p.ws\": the object has been modified; please apply your changes to the latest version and try again",
    );
}

#[tokio::test]
async fn invalid() {
    let f = Fixture::new().await;
    f.register("blue").await;
    let mut bogus = draft("blue", "p", "ws");
    bogus["metadata"]["name"] = json!("blue.p.ws");
    bogus["spec"]["lifecycle"] = json!("Bogus");
    let answer = f.post(PRS, &bogus).await;
    check_status(
        &answer,
        422,
        "Invalid",
        "PackageRevision.porch.kpt.dev \"blue.p.ws\" is invalid: spec.lifecycle: Unsupported value: \"Bogus\": supported values: \"Draft\", \"Proposed\", \"Published\", \"DeletionProposed\"",
    );
    assert_eq!(answer.body["details"]["causes"][0]["field"], "spec.lifecycle");

    let mut labelled = draft("blue", "p", "ws");
    labelled["metadata"]["labels"] = json!({"a": "x".repeat(64)});
    let answer = f.post(PRS, &labelled).await;
    assert_eq!(answer.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", answer.body);
    assert_eq!(answer.body["reason"], "Invalid");
    assert_eq!(answer.body["details"]["causes"][0]["field"], "metadata.labels[a]");
}

/// An update without a resourceVersion is refused naming the kind that was updated.
#[tokio::test]
async fn an_update_without_a_resource_version_names_its_kind() {
    let f = Fixture::new().await;
    f.register("blue").await;
    f.create_draft("blue", "p", "ws").await;
    let prrs = PRS.replace("packagerevisions", "packagerevisionresources");
    let mut resources = f.get(&format!("{prrs}/blue.p.ws")).await.body;
    resources["metadata"].as_object_mut().expect("metadata").remove("resourceVersion");
    let answer = f.put(&format!("{prrs}/blue.p.ws"), &resources).await;
    check_status(
        &answer,
        422,
        "Invalid",
        "PackageRevisionResources.porch.kpt.dev \"blue.p.ws\" is invalid: metadata.resourceVersion: Invalid value: 0x0: must be specified for an update",
    );
    let mut repository = f.get(&format!("{REPOS}/blue")).await.body;
    repository["metadata"].as_object_mut().expect("metadata").remove("resourceVersion");
    repository["spec"]["description"] = json!("changed");
    let answer = f.put(&format!("{REPOS}/blue"), &repository).await;
    assert_eq!(answer.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", answer.body);
    let message = answer.body["message"].as_str().unwrap_or_default();
    assert!(
        message.starts_with("Repository.config.porch.kpt.dev \"blue\" is invalid"),
        "{message}"
    );
}

#[tokio::test]
async fn forbidden_to_delete_a_published_revision() {
    let f = Fixture::new().await;
    f.register("blue").await;
    let mut pr = f.create_draft("blue", "p", "ws").await.body;
    pr["spec"]["lifecycle"] = json!("Proposed");
    let proposed = f.put(&format!("{PRS}/blue.p.ws"), &pr).await;
    assert_eq!(proposed.status, StatusCode::OK, "{}", proposed.body);
    let mut pr = proposed.body;
    pr["spec"]["lifecycle"] = json!("Published");
    let published = f.put(&format!("{PRS}/blue.p.ws/approval"), &pr).await;
    assert_eq!(published.status, StatusCode::OK, "{}", published.body);

    let answer = f.send(Method::DELETE, &format!("{PRS}/blue.p.ws"), &[], "").await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN, "{}", answer.body);
    assert_eq!(answer.body["reason"], "Forbidden");
    let message = answer.body["message"].as_str().unwrap_or_default();
    assert!(
        message.starts_with("packagerevisions.porch.kpt.dev \"blue.p.ws\" is forbidden: "),
        "{message}"
    );
    assert_eq!(
        answer.body["details"],
        json!({"name": "blue.p.ws", "group": "porch.kpt.dev", "kind": "packagerevisions"})
    );
}

#[tokio::test]
async fn request_errors() {
    let f = Fixture::new().await;
    let huge = vec![b' '; 6 * 1024 * 1024 + 1];
    let json = [(header::CONTENT_TYPE, "application/json")];
    let answer = f.send(Method::POST, PRS, &json, huge).await;
    check_status(
        &answer,
        413,
        "RequestEntityTooLarge",
        "Request entity too large: the request body is larger than the limit of 6291456 bytes",
    );

    let packages = "/apis/porch.kpt.dev/v1alpha1/namespaces/default/packages";
    let answer = f.put(&format!("{packages}/blue.p"), &json!({})).await;
    check_status(
        &answer,
        405,
        "MethodNotAllowed",
        "the server does not allow this method on the requested resource (update packages)",
    );

    let answer =
        f.get("/apis/porch.kpt.dev/v1alpha1/namespaces/Not_A_Label/packagerevisions").await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{}", answer.body);
    let message = answer.body["message"].as_str().unwrap_or_default();
    assert!(message.starts_with("invalid namespace \"Not_A_Label\": "), "{message}");

    let answer = f.get("/apis/porch.kpt.dev/v1alpha1/packagerevisions/blue.p.ws").await;
    check_status(&answer, 404, "NotFound", "the server could not find the requested resource");

    let answer = f.post(PRS, &json!(["not", "an", "object"])).await;
    check_status(&answer, 400, "BadRequest", "the request body must be a JSON object");

    let text = [(header::CONTENT_TYPE, "text/plain")];
    let answer = f.send(Method::PATCH, &format!("{REPOS}/blue"), &text, "{}").await;
    assert_eq!(answer.status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{}", answer.body);
    assert_eq!(answer.body["reason"], "UnsupportedMediaType");
}
