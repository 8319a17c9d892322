//! The `Accept` header picks the representation (object, Table, partial object metadata; 406
//! otherwise); request bodies may be JSON or YAML.

use axum::http::{Method, StatusCode, header};

use super::{Fixture, PRS, REPOS, TABLE, check_status, names};

#[tokio::test]
async fn representations_of_an_object() {
    let f = Fixture::new().await;
    f.register("blue").await;
    let path = format!("{REPOS}/blue");
    for accept in ["", "application/json", "*/*", "application/yaml;q=0.5,application/json"] {
        let answer = f.send(Method::GET, &path, &[(header::ACCEPT, accept)], "").await;
        assert_eq!(answer.status, StatusCode::OK, "{accept}: {}", answer.body);
        assert_eq!(answer.body["kind"], "Repository", "{accept}");
        assert_eq!(answer.headers[header::CONTENT_TYPE], "application/json");
    }

    let table = f.send(Method::GET, &path, &[(header::ACCEPT, TABLE)], "").await.body;
    assert_eq!(table["kind"], "Table", "{table}");
    assert_eq!(table["apiVersion"], "meta.k8s.io/v1");
    assert!(table["columnDefinitions"].as_array().is_some_and(|c| !c.is_empty()), "{table}");
    assert_eq!(table["rows"][0]["cells"][0], "blue", "{table}");

    let partial = "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1";
    let answer = f.send(Method::GET, &path, &[(header::ACCEPT, partial)], "").await.body;
    assert_eq!(answer["kind"], "PartialObjectMetadata", "{answer}");
    assert_eq!(answer["metadata"]["name"], "blue", "{answer}");
    assert!(answer.get("spec").is_none(), "{answer}");

    for accept in ["application/yaml", "application/json;as=Table;g=meta.k8s.io;v=v1beta1"] {
        let answer = f.send(Method::GET, &path, &[(header::ACCEPT, accept)], "").await;
        check_status(
            &answer,
            406,
            "NotAcceptable",
            "only the following media types are accepted: application/json",
        );
    }
}

#[tokio::test]
async fn representations_of_a_list() {
    let f = Fixture::new().await;
    f.register("blue").await;
    f.create_draft("blue", "p", "ws").await;
    for path in [REPOS, PRS] {
        let table = f.send(Method::GET, path, &[(header::ACCEPT, TABLE)], "").await.body;
        assert_eq!(table["kind"], "Table", "{path}: {table}");
        assert_eq!(table["rows"].as_array().map(Vec::len), Some(1), "{path}: {table}");

        let partial = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1";
        let list = f.send(Method::GET, path, &[(header::ACCEPT, partial)], "").await.body;
        assert_eq!(list["kind"], "PartialObjectMetadataList", "{path}: {list}");
        assert_eq!(list["items"].as_array().map(Vec::len), Some(1), "{path}: {list}");

        let answer = f.send(Method::GET, path, &[(header::ACCEPT, "text/html")], "").await;
        assert_eq!(answer.status, StatusCode::NOT_ACCEPTABLE, "{path}: {}", answer.body);
    }
}

#[tokio::test]
async fn yaml_request_body() {
    let f = Fixture::new().await;
    let bare = f.bare("green");
    let yaml = format!(
        "apiVersion: config.porch.kpt.dev/v1alpha1\nkind: Repository\nmetadata:\n  name: green\nspec:\n  type: git\n  content: Package\n  git:\n    repo: {}\n    branch: main\n    createBranch: true\n",
        bare.display()
    );
    let content_type = [(header::CONTENT_TYPE, "application/yaml")];
    let answer = f.send(Method::POST, REPOS, &content_type, yaml).await;
    assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.body);
    assert_eq!(answer.body["metadata"]["name"], "green");
    assert_eq!(names(&f.get(REPOS).await.body), ["green"]);

    let answer = f.send(Method::POST, REPOS, &content_type, "a: [unclosed").await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{}", answer.body);
    let message = answer.body["message"].as_str().unwrap_or_default();
    assert!(message.starts_with("invalid YAML body: "), "{message}");
}

#[tokio::test]
async fn aggregated_discovery_content_type() {
    let f = Fixture::new().await;
    let v2 = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList";
    let answer = f.send(Method::GET, "/apis", &[(header::ACCEPT, v2)], "").await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.headers[header::CONTENT_TYPE], v2);
    assert_eq!(answer.body["kind"], "APIGroupDiscoveryList", "{}", answer.body);
    let legacy = f.get("/apis").await;
    assert_eq!(legacy.headers[header::CONTENT_TYPE], "application/json");
    assert_eq!(legacy.body["kind"], "APIGroupList", "{}", legacy.body);
}

/// The JSON list of package revisions is written chunk by chunk (`listbody`): a list longer
/// than a chunk arrives whole, every item once and in order, with the length it announced.
#[tokio::test]
async fn a_list_longer_than_a_chunk_arrives_whole_with_its_length() {
    let f = Fixture::new().await;
    f.register("blue").await;
    let packages: Vec<String> = (0..120).map(|i| format!("p{i:03}")).collect();
    for package in &packages {
        f.create_draft("blue", package, "ws").await;
    }
    let answer = f.get(PRS).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    assert!(answer.length > crate::listbody::CHUNK, "{} bytes", answer.length);
    let announced =
        answer.headers[header::CONTENT_LENGTH].to_str().ok().and_then(|v| v.parse().ok());
    assert_eq!(announced, Some(answer.length));
    assert_eq!(answer.headers[header::CONTENT_TYPE], "application/json");
    assert_eq!(answer.body["kind"], "PackageRevisionList");
    let expected: Vec<String> = packages.iter().map(|p| format!("blue.{p}.ws")).collect();
    assert_eq!(names(&answer.body), expected);
}
