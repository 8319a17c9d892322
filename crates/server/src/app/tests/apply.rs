//! Server-side apply: a PATCH of an object that does not exist creates it.

use axum::http::{Method, StatusCode, header};

use super::{Fixture, PRRS, REPOS, check_status};

const APPLY: (header::HeaderName, &str) = (header::CONTENT_TYPE, "application/apply-patch+yaml");

#[tokio::test]
async fn apply_creates_then_updates() {
    let f = Fixture::new().await;
    let bare = f.bare("green");
    let intent = |description: &str| {
        format!(
            "apiVersion: config.porch.kpt.dev/v1alpha1\nkind: Repository\nspec:\n  description: {description}\n  type: git\n  content: Package\n  git:\n    repo: {}\n    branch: main\n    createBranch: true\n",
            bare.display()
        )
    };
    let path = format!("{REPOS}/green?fieldManager=kubectl");
    let created = f.send(Method::PATCH, &path, &[APPLY], intent("first")).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    // The name comes from the path.
    assert_eq!(created.body["metadata"]["name"], "green");
    assert_eq!(created.body["metadata"]["namespace"], "default");
    assert_eq!(created.body["spec"]["description"], "first");

    let updated = f.send(Method::PATCH, &path, &[APPLY], intent("second")).await;
    assert_eq!(updated.status, StatusCode::OK, "{}", updated.body);
    assert_eq!(updated.body["spec"]["description"], "second");
    assert_eq!(f.get(&format!("{REPOS}/green")).await.body["spec"]["description"], "second");
}

#[tokio::test]
async fn only_apply_creates() {
    let f = Fixture::new().await;
    let merge = [(header::CONTENT_TYPE, "application/merge-patch+json")];
    let answer = f.send(Method::PATCH, &format!("{REPOS}/green"), &merge, "{}").await;
    check_status(&answer, 404, "NotFound", "repositories.config.porch.kpt.dev \"green\" not found");
    // An apply configuration must name its type.
    let answer = f.send(Method::PATCH, &format!("{REPOS}/green"), &[APPLY], "spec: {}").await;
    check_status(
        &answer,
        400,
        "BadRequest",
        "invalid object: apiVersion must be set in an apply configuration",
    );
    // PackageRevisionResources are never created: the apply is a create, which they refuse.
    let intent = "apiVersion: porch.kpt.dev/v1alpha1\nkind: PackageRevisionResources\n";
    let answer = f.send(Method::PATCH, &format!("{PRRS}/blue.p.ws"), &[APPLY], intent).await;
    check_status(
        &answer,
        405,
        "MethodNotAllowed",
        "the server does not allow this method on the requested resource (create packagerevisionresources)",
    );
}

/// A patch may turn the object, or its metadata, into anything JSON allows: a clear 422, never
/// a panic of the request.
#[tokio::test]
async fn a_patch_that_makes_a_non_object_is_refused() {
    let f = Fixture::new().await;
    let bare = f.bare("green");
    let intent = format!(
        "apiVersion: config.porch.kpt.dev/v1alpha1\nkind: Repository\nspec:\n  type: git\n  git:\n    repo: {}\n    branch: main\n    createBranch: true\n",
        bare.display()
    );
    let path = format!("{REPOS}/green?fieldManager=kubectl");
    let created = f.send(Method::PATCH, &path, &[APPLY], intent).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let json_patch = [(header::CONTENT_TYPE, "application/json-patch+json")];
    for body in [
        r#"[{"op":"replace","path":"","value":[1]}]"#,
        r#"[{"op":"replace","path":"","value":"text"}]"#,
        r#"[{"op":"replace","path":"/metadata","value":5}]"#,
        r#"[{"op":"replace","path":"/metadata","value":[]}]"#,
    ] {
        let answer = f.send(Method::PATCH, &format!("{REPOS}/green"), &json_patch, body).await;
        check_status(
            &answer,
            422,
            "Invalid",
            "the patched object must be a JSON object whose metadata is an object",
        );
    }
    let merge = [(header::CONTENT_TYPE, "application/merge-patch+json")];
    let answer =
        f.send(Method::PATCH, &format!("{REPOS}/green"), &merge, r#"{"metadata":"x"}"#).await;
    assert_eq!(answer.status.as_u16(), 422, "{}", answer.body);
    // The repository is unchanged and still served.
    assert_eq!(f.get(&format!("{REPOS}/green")).await.status, StatusCode::OK);
}
