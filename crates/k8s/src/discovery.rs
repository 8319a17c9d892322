//! Discovery documents: `/version`, `/api`, `/api/v1`, `/apis`, `/apis/{group}` and
//! `/apis/{group}/{version}`, in the legacy and the aggregated (`apidiscovery.k8s.io`) formats.
//!
//! What kubectl 1.32 requests (recorded by the integration test server in `tests/it`):
//!
//! 1. `GET /version` (`Accept: application/json, */*`, no credentials) from the gcloud kubectl
//!    dispatcher, which picks the kubectl minor release matching the server; so [`version`]
//!    claims Kubernetes 1.32. `kubectl version` reads it too.
//! 2. `GET /api` and `GET /apis`, both with
//!    `Accept: application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json`.
//!    client-go decides how to decode by the response `Content-Type` alone: with
//!    [`AggregatedVersion::content_type`] it decodes an `APIGroupDiscoveryList` and is done (two
//!    requests); with plain `application/json` it decodes `APIVersions` / `APIGroupList` and then
//!    fetches `/api/v1` and every `/apis/{group}/{version}` (five requests). Both work; serve the
//!    aggregated format when [`crate::accept::discovery_format`] asks for it.
//! 3. The core group must list version `v1`: kubectl maps `kind: List` manifests through the
//!    `List` kind that client-go's RESTMapper adds to every discovered version. It serves
//!    `secrets` ([`resources::CORE_RESOURCES`]).
//!
//! kubectl keeps discovery under `<cache-dir>/discovery/<host>_<port>/`.

use serde_json::{Value, json};

use crate::{
    accept::AggregatedVersion,
    resources::{self, ApiResource},
};

/// Kubernetes minor version veranda claims to be API-compatible with.
pub const KUBERNETES_MINOR: &str = "32";

/// `GET /version`: a `version.Info`.
pub fn version() -> Value {
    json!({
        "major": "1",
        "minor": KUBERNETES_MINOR,
        "gitVersion": format!("v1.{KUBERNETES_MINOR}.0+veranda.{}", env!("CARGO_PKG_VERSION")),
        "gitCommit": "",
        "gitTreeState": "",
        "buildDate": "",
        "goVersion": "",
        "compiler": "",
        "platform": format!("{}/{}", go_os(), go_arch()),
    })
}

/// `GET /api` (legacy format): the core group has version `v1` (see the module documentation).
pub fn core_api_versions() -> Value {
    json!({
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [],
    })
}

/// `GET /api/v1`: the core group's resources ([`resources::CORE_RESOURCES`]).
pub fn core_api_resource_list() -> Value {
    let entries: Vec<Value> = resources::CORE_RESOURCES.iter().map(legacy_resource).collect();
    json!({
        "kind": "APIResourceList",
        "groupVersion": "v1",
        "resources": entries,
    })
}

/// `GET /apis` (legacy format): an `APIGroupList` of the served groups.
pub fn api_group_list() -> Value {
    let groups: Vec<Value> =
        resources::DISCOVERY_GROUPS.iter().filter_map(|group| api_group(group)).collect();
    json!({
        "kind": "APIGroupList",
        "apiVersion": "v1",
        "groups": groups,
    })
}

/// `GET /apis/{group}`: an `APIGroup`, or `None` for an unknown group (answer 404).
pub fn api_group(group: &str) -> Option<Value> {
    let versions = group_versions(group);
    let preferred = versions.first()?.clone();
    Some(json!({
        "kind": "APIGroup",
        "apiVersion": "v1",
        "name": group,
        "versions": versions,
        "preferredVersion": preferred,
    }))
}

/// `GET /apis/{group}/{version}`: an `APIResourceList`, or `None` for an unknown group version.
pub fn api_resource_list(group: &str, version: &str) -> Option<Value> {
    let mut entries = Vec::new();
    for resource in resources::discovered_in_group_version(group, version) {
        entries.push(legacy_resource(resource));
        for subresource in resource.subresources {
            entries.push(json!({
                "name": format!("{}/{}", resource.resource, subresource.name),
                "singularName": "",
                "namespaced": resource.namespaced,
                "kind": resource.kind,
                "verbs": subresource.verbs,
            }));
        }
    }
    if entries.is_empty() {
        return None;
    }
    Some(json!({
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": resources::group_version(group, version),
        "resources": entries,
    }))
}

/// `GET /api` (aggregated format): the core group with version `v1` and its resources (see the
/// module documentation).
/// Answer with `Content-Type: version.content_type()`.
pub fn aggregated_core(version: AggregatedVersion) -> Value {
    let entries: Vec<Value> = resources::CORE_RESOURCES.iter().map(aggregated_resource).collect();
    json!({
        "kind": "APIGroupDiscoveryList",
        "apiVersion": version.api_version(),
        "metadata": {},
        "items": [{
            "metadata": {"creationTimestamp": null},
            "versions": [{"version": "v1", "resources": entries, "freshness": "Current"}],
        }],
    })
}

/// `GET /apis` (aggregated format): every group, version and resource in one document.
/// Answer with `Content-Type: version.content_type()`.
pub fn aggregated_apis(version: AggregatedVersion) -> Value {
    let items: Vec<Value> = resources::DISCOVERY_GROUPS
        .iter()
        .map(|group| {
            let versions: Vec<Value> = served_versions(group)
                .into_iter()
                .map(|group_version| {
                    let entries: Vec<Value> =
                        resources::discovered_in_group_version(group, group_version)
                            .map(aggregated_resource)
                            .collect();
                    json!({"version": group_version, "resources": entries, "freshness": "Current"})
                })
                .collect();
            json!({
                "metadata": {"name": group, "creationTimestamp": null},
                "versions": versions,
            })
        })
        .collect();
    json!({
        "kind": "APIGroupDiscoveryList",
        "apiVersion": version.api_version(),
        "metadata": {},
        "items": items,
    })
}

fn legacy_resource(resource: &ApiResource) -> Value {
    let mut res = json!({
        "name": resource.resource,
        "singularName": resource.singular,
        "namespaced": resource.namespaced,
        "kind": resource.kind,
        "verbs": resource.verbs,
    });
    if !resource.short_names.is_empty() {
        res["shortNames"] = json!(resource.short_names);
    }
    res
}

fn aggregated_resource(resource: &ApiResource) -> Value {
    let response_kind = json!({
        "group": resource.group,
        "version": resource.version,
        "kind": resource.kind,
    });
    let subresources: Vec<Value> = resource
        .subresources
        .iter()
        .map(|it| {
            json!({
                "subresource": it.name,
                "responseKind": response_kind,
                "verbs": it.verbs,
            })
        })
        .collect();
    let mut res = json!({
        "resource": resource.resource,
        "responseKind": response_kind,
        "scope": if resource.namespaced { "Namespaced" } else { "Cluster" },
        "singularResource": resource.singular,
        "verbs": resource.verbs,
    });
    if !resource.short_names.is_empty() {
        res["shortNames"] = json!(resource.short_names);
    }
    if !subresources.is_empty() {
        res["subresources"] = Value::Array(subresources);
    }
    res
}

fn group_versions(group: &str) -> Vec<Value> {
    served_versions(group)
        .into_iter()
        .map(|version| {
            json!({"groupVersion": resources::group_version(group, version), "version": version})
        })
        .collect()
}

/// Versions of `group`, preferred first, without duplicates.
fn served_versions(group: &str) -> Vec<&'static str> {
    let mut res: Vec<&'static str> = Vec::new();
    for resource in resources::RESOURCES
        .iter()
        .chain(resources::ACCESS_RESOURCES)
        .filter(|it| it.group == group)
    {
        if !res.contains(&resource.version) {
            res.push(resource.version);
        }
    }
    res
}

fn go_os() -> &'static str {
    match std::env::consts::OS {
        "macos" => "darwin",
        other => other,
    }
}

fn go_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        other => other,
    }
}

#[cfg(test)]
mod tests;
