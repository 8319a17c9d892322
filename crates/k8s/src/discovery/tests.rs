//! Unit tests of the discovery documents.

use serde_json::json;

use super::*;
use crate::resources::{CONFIG_GROUP, PORCH_GROUP};

#[test]
fn version_claims_kubernetes_1_32() {
    let version = version();
    assert_eq!(version["major"], "1");
    assert_eq!(version["minor"], "32");
    let git_version = version["gitVersion"].as_str().unwrap_or("");
    assert!(git_version.starts_with("v1.32.0+veranda."), "{git_version}");
}

#[test]
fn legacy_documents() {
    assert_eq!(core_api_versions()["versions"], json!(["v1"]));
    assert_eq!(core_api_resource_list()["resources"][0]["name"], "secrets");
    assert_eq!(core_api_resource_list()["resources"][0]["kind"], "Secret");
    let groups = api_group_list();
    assert_eq!(groups["kind"], "APIGroupList");
    assert_eq!(
        groups["groups"][0],
        json!({
            "kind": "APIGroup",
            "apiVersion": "v1",
            "name": "porch.kpt.dev",
            "versions": [{"groupVersion": "porch.kpt.dev/v1alpha1", "version": "v1alpha1"}],
            "preferredVersion": {"groupVersion": "porch.kpt.dev/v1alpha1", "version": "v1alpha1"},
        })
    );
    assert_eq!(groups["groups"][1]["name"], CONFIG_GROUP);
    assert_eq!(api_group("example.com"), None);
}

#[test]
fn resource_lists() {
    let porch = api_resource_list(PORCH_GROUP, "v1alpha1").expect("porch group is served");
    let names: Vec<&str> = porch["resources"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|it| it["name"].as_str())
        .collect();
    assert_eq!(
        names,
        ["packagerevisions", "packagerevisions/approval", "packagerevisionresources", "packages"]
    );
    assert_eq!(
        porch["resources"][1],
        json!({
            "name": "packagerevisions/approval",
            "singularName": "",
            "namespaced": true,
            "kind": "PackageRevision",
            "verbs": ["get", "patch", "update"],
        })
    );
    assert_eq!(porch["resources"][3]["singularName"], "package");
    assert_eq!(porch["resources"][3]["kind"], "PorchPackage");
    assert_eq!(porch["resources"][3]["verbs"], json!(["create", "delete", "get", "list"]));

    let config = api_resource_list(CONFIG_GROUP, "v1alpha1").expect("config group is served");
    assert_eq!(
        config["resources"][0],
        json!({
            "name": "repositories",
            "singularName": "repository",
            "namespaced": true,
            "kind": "Repository",
            "verbs": ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"],
            "shortNames": ["repo"],
        })
    );
    assert_eq!(config["resources"][1]["name"], "repositories/status");
    assert_eq!(api_resource_list(PORCH_GROUP, "v1"), None);
    assert_eq!(api_resource_list("example.com", "v1alpha1"), None);
}

#[test]
fn aggregated_documents() {
    let core = aggregated_core(AggregatedVersion::V2);
    assert_eq!(core["apiVersion"], "apidiscovery.k8s.io/v2");
    assert_eq!(core["items"][0]["versions"][0]["version"], "v1");
    let secrets = &core["items"][0]["versions"][0]["resources"][0];
    assert_eq!(secrets["resource"], "secrets");
    assert_eq!(secrets["responseKind"], json!({"group": "", "version": "v1", "kind": "Secret"}));

    let apis = aggregated_apis(AggregatedVersion::V2Beta1);
    assert_eq!(apis["apiVersion"], "apidiscovery.k8s.io/v2beta1");
    assert_eq!(apis["kind"], "APIGroupDiscoveryList");
    assert_eq!(apis["items"][0]["metadata"]["name"], PORCH_GROUP);
    let package_revisions = &apis["items"][0]["versions"][0]["resources"][0];
    assert_eq!(
        *package_revisions,
        json!({
            "resource": "packagerevisions",
            "responseKind": {"group": "porch.kpt.dev", "version": "v1alpha1", "kind": "PackageRevision"},
            "scope": "Namespaced",
            "singularResource": "packagerevision",
            "verbs": ["create", "delete", "get", "list", "patch", "update", "watch"],
            "subresources": [{
                "subresource": "approval",
                "responseKind": {"group": "porch.kpt.dev", "version": "v1alpha1", "kind": "PackageRevision"},
                "verbs": ["get", "patch", "update"],
            }],
        })
    );
    let repositories = &apis["items"][1]["versions"][0]["resources"][0];
    assert_eq!(repositories["shortNames"], json!(["repo"]));
    assert_eq!(apis["items"][1]["versions"][0]["freshness"], "Current");
}
