//! Unit tests of server-side printing.

use serde_json::json;

use super::*;

fn package_revision(name: &str, latest: bool) -> Value {
    let mut res = json!({
        "apiVersion": "porch.kpt.dev/v1alpha1",
        "kind": "PackageRevision",
        "metadata": {"name": name, "namespace": "ns", "resourceVersion": "7"},
        "spec": {"packageName": "a/b", "workspaceName": "ws", "revision": 3, "lifecycle": "Published", "repository": "r"},
    });
    if latest {
        res["metadata"]["labels"] = json!({"kpt.dev/latest-revision": "true"});
    }
    res
}

#[track_caller]
fn check_cells(kind: TableKind, object: Value, expected: Value) {
    assert_eq!(Value::Array(cells(kind, &object)), expected);
}

#[test]
fn column_names() {
    let names = |kind| -> Vec<String> {
        columns(kind)
            .iter()
            .map(|it| {
                format!(
                    "{}:{}",
                    it["name"].as_str().unwrap_or(""),
                    it["type"].as_str().unwrap_or("")
                )
            })
            .collect()
    };
    assert_eq!(
        names(TableKind::PackageRevisions),
        [
            "Name:string",
            "Package:string",
            "WorkspaceName:string",
            "Revision:integer",
            "Latest:boolean",
            "Lifecycle:string",
            "Repository:string"
        ]
    );
    assert_eq!(
        names(TableKind::PackageRevisionResources),
        [
            "Name:string",
            "Package:string",
            "WorkspaceName:string",
            "Revision:integer",
            "Repository:string",
            "Files:integer"
        ]
    );
    assert_eq!(
        names(TableKind::Packages),
        ["Name:string", "Package:string", "Repository:string", "Latest Revision:integer"]
    );
    assert_eq!(
        names(TableKind::Repositories),
        [
            "Name:string",
            "Type:string",
            "Content:string",
            "Deployment:boolean",
            "Ready:string",
            "Address:string",
            "Branch:string",
            "Sync Schedule:string",
            "Age:string"
        ]
    );
    assert_eq!(columns(TableKind::Packages)[0]["format"], "name");
    assert_eq!(columns(TableKind::Packages)[1]["format"], "");
    assert_eq!(columns(TableKind::Packages)[1]["priority"], 0);
}

#[test]
fn cells_of_each_kind() {
    check_cells(
        TableKind::PackageRevisions,
        package_revision("r.a.b.ws", true),
        json!(["r.a.b.ws", "a/b", "ws", 3, true, "Published", "r"]),
    );
    check_cells(
        TableKind::PackageRevisions,
        json!({"metadata": {"name": "x"}}),
        json!(["x", "", "", 0, false, "", ""]),
    );
    check_cells(
        TableKind::PackageRevisions,
        json!({"metadata": {"name": "x", "labels": {"kpt.dev/latest-revision": "false"}}}),
        json!(["x", "", "", 0, false, "", ""]),
    );
    check_cells(
        TableKind::PackageRevisionResources,
        json!({"metadata": {"name": "x"}, "spec": {"packageName": "p", "workspaceName": "w", "revision": 1, "repository": "r", "resources": {"Kptfile": "", "a.yaml": ""}}}),
        json!(["x", "p", "w", 1, "r", 2]),
    );
    check_cells(
        TableKind::Packages,
        json!({"metadata": {"name": "r.p"}, "spec": {"packageName": "p", "repository": "r"}, "status": {"latestRevision": 4}}),
        json!(["r.p", "p", "r", 4]),
    );
    check_cells(
        TableKind::Repositories,
        json!({
            "metadata": {"name": "r"},
            "spec": {"type": "git", "content": "Package", "deployment": true, "git": {"repo": "https://x/r.git", "branch": "main"}, "sync": {"schedule": "*/5 * * * *"}},
            "status": {"conditions": [{"type": "Other", "status": "False"}, {"type": "Ready", "status": "True"}]},
        }),
        json!(["r", "git", "Package", true, "True", "https://x/r.git", "main", "*/5 * * * *", ""]),
    );
    check_cells(
        TableKind::Repositories,
        json!({"metadata": {"name": "o"}, "spec": {"type": "oci", "oci": {"registry": "gcr.io/x"}}}),
        json!(["o", "oci", null, null, null, "gcr.io/x", "", "", ""]),
    );
}

#[test]
fn tables_carry_rows_objects_and_list_metadata() {
    let items = [package_revision("a", false), package_revision("b", true)];
    let table = to_table(
        TableKind::PackageRevisions,
        &items,
        json!({"resourceVersion": "10", "continue": "", "remainingItemCount": 5}),
        IncludeObject::Metadata,
    );
    assert_eq!(table["kind"], "Table");
    assert_eq!(table["apiVersion"], "meta.k8s.io/v1");
    assert_eq!(table["metadata"], json!({"resourceVersion": "10", "remainingItemCount": 5}));
    assert_eq!(table["columnDefinitions"].as_array().map(Vec::len), Some(7));
    assert_eq!(
        table["rows"][1]["object"],
        json!({
            "kind": "PartialObjectMetadata",
            "apiVersion": "meta.k8s.io/v1",
            "metadata": {"name": "b", "namespace": "ns", "resourceVersion": "7", "labels": {"kpt.dev/latest-revision": "true"}},
        })
    );
    let table = to_table(TableKind::PackageRevisions, &items, Value::Null, IncludeObject::Object);
    assert_eq!(table["rows"][0]["object"], items[0]);
    assert_eq!(table["metadata"], json!({}));
    let table = to_table(TableKind::PackageRevisions, &items, Value::Null, IncludeObject::None);
    assert!(table["rows"][0].get("object").is_none());
    assert_eq!(table["rows"][0]["cells"][0], "a");

    let single = object_to_table(TableKind::PackageRevisions, &items[1], IncludeObject::default());
    assert_eq!(single["metadata"], json!({"resourceVersion": "7"}));
    assert_eq!(single["rows"].as_array().map(Vec::len), Some(1));
    assert_eq!(single["rows"][0]["object"]["kind"], "PartialObjectMetadata");
}

#[test]
fn partial_object_metadata_lists() {
    let list = partial_object_metadata_list(
        &[package_revision("a", false)],
        json!({"resourceVersion": "3"}),
    );
    assert_eq!(list["kind"], "PartialObjectMetadataList");
    assert_eq!(list["metadata"], json!({"resourceVersion": "3"}));
    assert_eq!(list["items"][0]["metadata"]["name"], "a");
    assert_eq!(partial_object_metadata(&json!({}))["metadata"], json!({}));
}

#[test]
fn options() {
    assert!(wants_table(
        "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json"
    ));
    assert!(!wants_table("application/json"));
    assert!(!wants_table("application/vnd.kubernetes.protobuf"));
    assert_eq!(IncludeObject::parse("None"), Some(IncludeObject::None));
    assert_eq!(IncludeObject::parse("Metadata"), Some(IncludeObject::Metadata));
    assert_eq!(IncludeObject::parse("Object"), Some(IncludeObject::Object));
    assert_eq!(IncludeObject::parse("object"), None);
    assert_eq!(IncludeObject::default(), IncludeObject::Metadata);
    assert_eq!(TableKind::for_resource("repositories"), Some(TableKind::Repositories));
    assert_eq!(TableKind::for_resource("packages"), Some(TableKind::Packages));
    assert_eq!(TableKind::for_resource("pods"), None);
}

#[test]
fn streamed_tables_match_built_ones() {
    let items = [package_revision("r.a.ws", true), package_revision("r.b.ws", false)];
    let list_meta = json!({"resourceVersion": "9", "continue": "abc", "remainingItemCount": null});
    for include in [IncludeObject::None, IncludeObject::Metadata, IncludeObject::Object] {
        for items in [&items[..], &[]] {
            let built = to_table(TableKind::PackageRevisions, items, list_meta.clone(), include);
            let mut streamed = Vec::new();
            write_table(
                &mut streamed,
                TableKind::PackageRevisions,
                items.iter().cloned(),
                &list_meta,
                include,
            )
            .expect("write");
            let streamed: Value = serde_json::from_slice(&streamed).expect("valid JSON");
            assert_eq!(streamed, built, "{include:?}");
        }
    }
}
