//! `limit` and `continue`: the generic pages, the package revision fast paths (JSON and Table)
//! and the bounded PackageRevisionResources pages.

use axum::http::{Method, header};

use super::{Fixture, PRRS, PRS, REPOS, TABLE, check_status, names};

#[tokio::test]
async fn repositories_in_pages() {
    let f = Fixture::new().await;
    for name in ["c", "a", "b"] {
        f.register(name).await;
    }
    let first = f.get(&format!("{REPOS}?limit=2")).await.body;
    assert_eq!(names(&first), ["a", "b"], "{first}");
    assert_eq!(first["metadata"]["remainingItemCount"], 1, "{first}");
    let token = first["metadata"]["continue"].as_str().unwrap_or_default().to_string();
    assert!(!token.is_empty(), "{first}");
    assert!(first["metadata"]["resourceVersion"].as_str().is_some_and(|rv| !rv.is_empty()));

    let second = f.get(&format!("{REPOS}?limit=2&continue={token}")).await.body;
    assert_eq!(names(&second), ["c"], "{second}");
    assert!(second["metadata"].get("continue").is_none(), "{second}");
    assert!(second["metadata"].get("remainingItemCount").is_none(), "{second}");

    let all = f.get(REPOS).await.body;
    assert_eq!(names(&all), ["a", "b", "c"], "{all}");
}

#[tokio::test]
async fn package_revisions_in_pages() {
    let f = Fixture::new().await;
    f.register("blue").await;
    for package in ["p1", "p2", "p3"] {
        f.create_draft("blue", package, "ws").await;
    }
    // The JSON fast path.
    let first = f.get(&format!("{PRS}?limit=2")).await.body;
    assert_eq!(names(&first), ["blue.p1.ws", "blue.p2.ws"], "{first}");
    assert_eq!(first["kind"], "PackageRevisionList");
    assert_eq!(first["metadata"]["remainingItemCount"], 1);
    let token = first["metadata"]["continue"].as_str().unwrap_or_default().to_string();
    let second = f.get(&format!("{PRS}?limit=2&continue={token}")).await.body;
    assert_eq!(names(&second), ["blue.p3.ws"], "{second}");

    // The Table fast path pages the same way.
    let accept = [(header::ACCEPT, TABLE)];
    let table = f.send(Method::GET, &format!("{PRS}?limit=1"), &accept, "").await.body;
    assert_eq!(table["kind"], "Table", "{table}");
    assert_eq!(table["rows"].as_array().map(Vec::len), Some(1), "{table}");
    assert_eq!(table["metadata"]["remainingItemCount"], 2, "{table}");

    // A field selector the engine cannot apply takes the generic path, paged alike.
    let generic = f.get(&format!("{PRS}?limit=1&fieldSelector=spec.packageName!=p1")).await.body;
    assert_eq!(names(&generic), ["blue.p2.ws"], "{generic}");
    assert_eq!(generic["metadata"]["remainingItemCount"], 1, "{generic}");
}

#[tokio::test]
async fn package_revision_resources_in_pages() {
    let f = Fixture::new().await;
    f.register("blue").await;
    for package in ["p1", "p2"] {
        f.create_draft("blue", package, "ws").await;
    }
    let first = f.get(&format!("{PRRS}?limit=1")).await.body;
    assert_eq!(names(&first), ["blue.p1.ws"], "{first}");
    assert!(first["items"][0]["spec"]["resources"]["Kptfile"].is_string(), "{first}");
    assert_eq!(first["metadata"]["remainingItemCount"], 1);
    let token = first["metadata"]["continue"].as_str().unwrap_or_default().to_string();
    let second = f.get(&format!("{PRRS}?limit=1&continue={token}")).await.body;
    assert_eq!(names(&second), ["blue.p2.ws"], "{second}");
    assert!(second["metadata"].get("continue").is_none(), "{second}");
}

#[tokio::test]
async fn bad_page_parameters() {
    let f = Fixture::new().await;
    let answer = f.get(&format!("{REPOS}?continue=not-a-token")).await;
    check_status(
        &answer,
        410,
        "Gone",
        "the provided continue parameter is too old or malformed; please restart the list",
    );
    let answer = f.get(&format!("{PRRS}?continue=not-a-token")).await;
    assert_eq!(answer.status.as_u16(), 410, "{}", answer.body);
    let answer = f.get(&format!("{REPOS}?limit=ten")).await;
    check_status(&answer, 400, "BadRequest", "invalid limit \"ten\"");
}
