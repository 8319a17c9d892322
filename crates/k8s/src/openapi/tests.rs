//! Unit tests of the OpenAPI documents and of strict field validation.

use serde_json::json;

use super::*;

#[test]
fn index_points_at_group_documents() {
    let index = v3_index();
    let paths = index["paths"].as_object().expect("paths is an object");
    let keys = sorted(paths.keys().cloned().collect());
    assert_eq!(keys, ["apis/config.porch.kpt.dev/v1alpha1", "apis/porch.kpt.dev/v1alpha1"]);
    let url = paths["apis/porch.kpt.dev/v1alpha1"]["serverRelativeURL"].as_str().unwrap_or("");
    assert!(url.starts_with("/openapi/v3/apis/porch.kpt.dev/v1alpha1?hash="), "{url}");
    assert_eq!(url.len(), "/openapi/v3/apis/porch.kpt.dev/v1alpha1?hash=".len() + 16);
    // Stable: the hash is a function of the document.
    assert_eq!(index, v3_index());
    assert_eq!(hash("abc"), hash("abc"));
    assert_ne!(hash("abc"), hash("abd"));
}

#[test]
fn group_documents_by_any_spelling_of_the_path() {
    let document = v3_group("apis/porch.kpt.dev/v1alpha1").expect("porch document");
    assert_eq!(document["openapi"], "3.0.0");
    for path in [
        "/apis/porch.kpt.dev/v1alpha1",
        "/openapi/v3/apis/porch.kpt.dev/v1alpha1?hash=0123",
        "openapi/v3/apis/porch.kpt.dev/v1alpha1/",
    ] {
        assert_eq!(v3_group(path).as_ref(), Some(&document), "{path}");
    }
    assert_eq!(v3_group("apis/example.com/v1"), None);
    assert_eq!(v3_group("api/v1"), None);
}

#[test]
fn every_kind_has_a_schema_with_its_gvk_and_refs_resolve() {
    for (path, (document, _)) in documents() {
        let schemas = document["components"]["schemas"].as_object().expect("schemas");
        let mut refs = Vec::new();
        collect_refs(document, &mut refs);
        for target in refs {
            assert!(schemas.contains_key(&target), "{path}: dangling $ref {target}");
        }
        for resource in resources::RESOURCES
            .iter()
            .filter(|it| path == &format!("apis/{}/{}", it.group, it.version))
        {
            for kind in [resource.kind, resource.list_kind] {
                let schema = &schemas[&schemas::kind_schema_name(resource, kind)];
                assert_eq!(
                    schema["x-kubernetes-group-version-kind"],
                    json!([{"group": resource.group, "kind": kind, "version": resource.version}]),
                    "{kind}"
                );
            }
        }
    }
}

#[test]
fn operations_declare_gvk_and_field_validation() {
    let document = v3_group("apis/porch.kpt.dev/v1alpha1").expect("porch document");
    let paths = &document["paths"];
    let named =
        &paths["/apis/porch.kpt.dev/v1alpha1/namespaces/{namespace}/packagerevisions/{name}"];
    let patch = &named["patch"];
    assert_eq!(
        patch["x-kubernetes-group-version-kind"],
        json!({"group": "porch.kpt.dev", "version": "v1alpha1", "kind": "PackageRevision"})
    );
    assert_eq!(patch["operationId"], "patchPorchKptDevV1alpha1NamespacedPackageRevision");
    assert_eq!(patch["x-kubernetes-action"], "patch");
    let parameters: Vec<&str> = patch["parameters"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|it| it["name"].as_str())
        .collect();
    assert_eq!(parameters, ["dryRun", "fieldManager", "fieldValidation", "force"]);
    let content = sorted(
        patch["requestBody"]["content"]
            .as_object()
            .map(|it| it.keys().cloned().collect())
            .unwrap_or_default(),
    );
    assert_eq!(
        content,
        [
            "application/apply-patch+yaml",
            "application/json-patch+json",
            "application/merge-patch+json"
        ]
    );
    assert_eq!(named["get"]["operationId"], "readPorchKptDevV1alpha1NamespacedPackageRevision");
    assert_eq!(named["put"]["operationId"], "replacePorchKptDevV1alpha1NamespacedPackageRevision");
    assert_eq!(
        named["delete"]["operationId"],
        "deletePorchKptDevV1alpha1NamespacedPackageRevision"
    );

    let approval = &paths["/apis/porch.kpt.dev/v1alpha1/namespaces/{namespace}/packagerevisions/{name}/approval"];
    assert_eq!(
        approval["put"]["operationId"],
        "replacePorchKptDevV1alpha1NamespacedPackageRevisionApproval"
    );
    assert!(approval["patch"]["parameters"].to_string().contains("fieldValidation"));
    assert!(approval.get("delete").is_none());

    let all_namespaces = &paths["/apis/porch.kpt.dev/v1alpha1/packagerevisions"]["get"];
    assert_eq!(
        all_namespaces["operationId"],
        "listPorchKptDevV1alpha1PackageRevisionForAllNamespaces"
    );
    assert!(all_namespaces["parameters"].to_string().contains("\"watch\""));

    // Packages cannot be patched or updated, so kubectl validates them client side (v2).
    let packages = &paths["/apis/porch.kpt.dev/v1alpha1/namespaces/{namespace}/packages/{name}"];
    assert!(packages.get("patch").is_none() && packages.get("put").is_none());
    assert!(packages.get("get").is_some() && packages.get("delete").is_some());
    let resources =
        &paths["/apis/porch.kpt.dev/v1alpha1/namespaces/{namespace}/packagerevisionresources"];
    assert!(resources.get("post").is_none() && resources.get("get").is_some());
    assert!(!resources["get"]["parameters"].to_string().contains("\"watch\""));
}

#[test]
fn schemas_declare_every_porch_field() {
    let document = v3_group("apis/porch.kpt.dev/v1alpha1").expect("porch document");
    let schemas = &document["components"]["schemas"];
    let properties = |name: &str| -> Vec<String> {
        schemas[format!("com.github.nephio-project.porch.api.porch.v1alpha1.{name}")]["properties"]
            .as_object()
            .map(|it| sorted(it.keys().cloned().collect()))
            .unwrap_or_default()
    };
    assert_eq!(
        properties("PackageRevisionSpec"),
        [
            "lifecycle",
            "packageMetadata",
            "packageName",
            "parent",
            "readinessGates",
            "repository",
            "revision",
            "tasks",
            "workspaceName"
        ]
    );
    assert_eq!(
        properties("PackageRevisionStatus"),
        ["conditions", "deployment", "publishTimestamp", "publishedBy", "selfLock", "upstreamLock"]
    );
    assert_eq!(properties("Task"), ["clone", "edit", "init", "type", "upgrade"]);
    assert_eq!(properties("UpstreamPackage"), ["git", "oci", "type", "upstreamRef"]);
    assert_eq!(
        properties("PackageRevisionResourcesSpec"),
        ["packageName", "repository", "resources", "revision", "workspaceName"]
    );
    assert_eq!(properties("RenderStatus"), ["error", "result"]);
    assert_eq!(properties("PackageStatus"), ["latestRevision"]);

    let config = v3_group("apis/config.porch.kpt.dev/v1alpha1").expect("config document");
    let spec = &config["components"]["schemas"]["dev.kpt.porch.config.v1alpha1.RepositorySpec"];
    let keys = sorted(
        spec["properties"].as_object().map(|it| it.keys().cloned().collect()).unwrap_or_default(),
    );
    assert_eq!(keys, ["content", "deployment", "description", "git", "oci", "sync", "type"]);
    assert!(
        config["components"]["schemas"]
            .get("io.k8s.apimachinery.pkg.apis.meta.v1.Condition")
            .is_some()
    );
    // Only what the group references is included.
    assert!(
        config["components"]["schemas"]
            .get("com.github.nephio-project.porch.api.porch.v1alpha1.Task")
            .is_none()
    );
}

#[track_caller]
fn check_unknown(kind: &str, object: serde_json::Value, expected: &[&str]) {
    let api_version = resources::RESOURCES
        .iter()
        .find(|it| it.kind == kind || it.list_kind == kind)
        .map(|it| it.api_version())
        .unwrap_or_default();
    assert_eq!(
        unknown_fields(&api_version, kind, &object),
        Some(expected.iter().map(|it| it.to_string()).collect())
    );
}

#[test]
fn unknown_fields_of_valid_objects() {
    check_unknown(
        "PackageRevision",
        json!({
            "apiVersion": "porch.kpt.dev/v1alpha1",
            "kind": "PackageRevision",
            "metadata": {
                "name": "r.p.ws",
                "labels": {"a": "b"},
                "ownerReferences": [{"apiVersion": "v1", "kind": "X", "name": "x", "uid": "u"}],
                "managedFields": [{"manager": "kubectl", "fieldsV1": {"f:spec": {"f:anything": {}}}}],
                "creationTimestamp": null,
            },
            "spec": {
                "packageName": "p",
                "tasks": [{"type": "clone", "clone": {"upstreamRef": {"upstreamRef": {"name": "x"}}}}],
                "packageMetadata": {"labels": {"x": "y"}},
            },
            "status": {"upstreamLock": {}, "publishTimestamp": null, "conditions": [{"type": "Ready", "status": "True"}]},
        }),
        &[],
    );
    check_unknown(
        "PackageRevisionResources",
        json!({
            "spec": {"resources": {"Kptfile": "apiVersion: kpt.dev/v1\n", "a/b.yaml": ""}},
            "status": {"renderStatus": {"error": "", "result": {"metadata": {"name": "x"}, "exitCode": 1, "items": [
                {"image": "i", "exitCode": 1, "results": [{"field": {"path": "p"}, "tags": {"t": "v"}}]}
            ]}}},
        }),
        &[],
    );
    check_unknown(
        "RepositoryList",
        json!({"items": [{"spec": {"git": {"repo": "r", "secretRef": {"name": "s"}}, "sync": {"runOnceAt": "2025-01-01T00:00:00Z"}}}]}),
        &[],
    );
}

#[test]
fn unknown_fields_are_reported_with_paths() {
    check_unknown(
        "PackageRevision",
        json!({
            "spek": {},
            "metadata": {"nmae": "x", "ownerReferences": [{}, {"bogus": 1}]},
            "spec": {"tasks": [{"type": "init"}, {"init": {"descripton": "x"}}], "Lifecycle": "Draft"},
        }),
        &[
            "metadata.nmae",
            "metadata.ownerReferences[1].bogus",
            "spec.Lifecycle",
            "spec.tasks[1].init.descripton",
            "spek",
        ],
    );
    check_unknown("PorchPackage", json!({"spec": {"latestRevision": 1}}), &["spec.latestRevision"]);
    check_unknown(
        "Repository",
        json!({"spec": {"git": {"repo": "x", "bogus": true}, "mutators": []}}),
        &["spec.git.bogus", "spec.mutators"],
    );
    assert_eq!(unknown_fields("porch.kpt.dev/v1alpha1", "Repository", &json!({})), None);
    assert_eq!(unknown_fields("v1", "ConfigMap", &json!({})), None);
}

#[test]
fn v2_document_uses_definitions() {
    let document = v2();
    assert_eq!(document["swagger"], "2.0");
    let definitions = document["definitions"].as_object().expect("definitions");
    assert!(definitions.contains_key("dev.kpt.porch.config.v1alpha1.Repository"));
    assert!(
        definitions
            .contains_key("com.github.nephio-project.porch.api.porch.v1alpha1.PackageRevision")
    );
    let text = document.to_string();
    assert!(!text.contains("#/components/schemas/"));
    assert!(!text.contains("\"allOf\""), "single-ref allOf wrappers become plain refs");
    assert_eq!(
        definitions["com.github.nephio-project.porch.api.porch.v1alpha1.PackageRevision"]["properties"]
            ["metadata"]["$ref"],
        "#/definitions/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
    );
    let patch = &document["paths"]["/apis/porch.kpt.dev/v1alpha1/namespaces/{namespace}/packagerevisions/{name}"]
        ["patch"];
    assert_eq!(
        patch["consumes"],
        json!([
            "application/apply-patch+yaml",
            "application/json-patch+json",
            "application/merge-patch+json"
        ])
    );
    assert_eq!(patch["parameters"][0]["in"], "body");
    assert_eq!(patch["parameters"][3]["name"], "fieldValidation");
    assert_eq!(patch["parameters"][3]["type"], "string");
}

#[test]
fn v2_protobuf_encodes_the_document() {
    let bytes = v2_protobuf();
    let fields = decode(&bytes);
    // Document.swagger = 1, info = 2, paths = 8, definitions = 9.
    assert_eq!(fields[0], (1, b"2.0".to_vec()));
    let numbers: Vec<u32> = fields.iter().map(|(it, _)| *it).collect();
    assert_eq!(numbers, [1, 2, 8, 9]);
    let definitions = decode(&fields[3].1);
    assert_eq!(definitions.len(), v2()["definitions"].as_object().map_or(0, |it| it.len()));
    // NamedSchema { name = 1; value = 2 }; Schema.vendor_extension = 31 carries the GVK as YAML.
    let repository = definitions
        .iter()
        .map(|(_, it)| decode(it))
        .find(|it| it[0].1 == b"dev.kpt.porch.config.v1alpha1.Repository")
        .expect("Repository definition");
    let schema = decode(&repository[1].1);
    let extension = schema.iter().find(|(it, _)| *it == 31).expect("vendor extension");
    let extension = decode(&extension.1);
    assert_eq!(extension[0].1, b"x-kubernetes-group-version-kind");
    let any = decode(&extension[1].1);
    assert_eq!(
        String::from_utf8_lossy(&any[0].1),
        r#"[{"group":"config.porch.kpt.dev","kind":"Repository","version":"v1alpha1"}]"#
    );
    assert!(v2_wants_protobuf("application/com.github.proto-openapi.spec.v2@v1.0+protobuf"));
    assert!(v2_wants_protobuf(
        "application/json, application/com.github.proto-openapi.spec.v2.v1.0+protobuf"
    ));
    assert!(!v2_wants_protobuf("application/json"));
}

fn sorted(mut items: Vec<String>) -> Vec<String> {
    items.sort();
    items
}

/// Splits a protobuf message into `(field number, payload)`; varints as their raw bytes.
fn decode(bytes: &[u8]) -> Vec<(u32, Vec<u8>)> {
    let mut res = Vec::new();
    let mut idx = 0;
    while idx < bytes.len() {
        let tag = read_varint(bytes, &mut idx);
        let field = (tag >> 3) as u32;
        match tag & 7 {
            0 => {
                let start = idx;
                read_varint(bytes, &mut idx);
                res.push((field, bytes[start..idx].to_vec()));
            }
            2 => {
                let len = read_varint(bytes, &mut idx) as usize;
                res.push((field, bytes[idx..idx + len].to_vec()));
                idx += len;
            }
            other => panic!("unexpected wire type {other}"),
        }
    }
    res
}

fn read_varint(bytes: &[u8], idx: &mut usize) -> u64 {
    let mut res = 0;
    let mut shift = 0;
    loop {
        let byte = bytes[*idx];
        *idx += 1;
        res |= u64::from(byte & 0x7f) << shift;
        if byte < 0x80 {
            return res;
        }
        shift += 7;
    }
}
