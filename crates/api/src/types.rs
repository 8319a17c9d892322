//! The served kinds, field for field as Porch serialises them (reference §1.2–§1.6).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::{Lifecycle, ObjectMeta};

/// `porch.kpt.dev/v1alpha1` PackageRevision.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PackageRevision {
    #[serde(default)]
    pub api_version: String,
    #[serde(default)]
    pub kind: String,
    #[serde(default)]
    pub metadata: ObjectMeta,
    #[serde(default)]
    pub spec: PackageRevisionSpec,
    #[serde(default)]
    pub status: PackageRevisionStatus,
}

/// Spec of a PackageRevision.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PackageRevisionSpec {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub package_name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub repository: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub workspace_name: String,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub revision: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<NameRef>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lifecycle: Option<Lifecycle>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tasks: Vec<Task>,
    /// `None` when the request omitted it: an update then keeps the current gates.
    #[serde(default, skip_serializing_if = "none_or_empty")]
    pub readiness_gates: Option<Vec<ReadinessGate>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub package_metadata: Option<PackageMetadata>,
}

/// A reference by name to another object in the same namespace.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NameRef {
    #[serde(default)]
    pub name: String,
}

/// A readiness gate of a PackageRevision.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReadinessGate {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub condition_type: String,
}

/// Labels and annotations that are written into the Kptfile.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PackageMetadata {
    /// `None` when the request omitted it: an update then keeps the current labels.
    #[serde(default, skip_serializing_if = "none_or_empty_map")]
    pub labels: Option<BTreeMap<String, String>>,
    /// `None` when the request omitted it: an update then keeps the current annotations.
    #[serde(default, skip_serializing_if = "none_or_empty_map")]
    pub annotations: Option<BTreeMap<String, String>>,
}

/// The creation task of a package revision.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Task {
    #[serde(rename = "type", default)]
    pub task_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub init: Option<InitTask>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clone: Option<CloneTask>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub edit: Option<EditTask>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upgrade: Option<UpgradeTask>,
}

/// `init` task parameters.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InitTask {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub subpackage: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub keywords: Vec<String>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub site: String,
}

/// `clone` task parameters.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CloneTask {
    #[serde(default)]
    pub upstream_ref: UpstreamPackage,
}

/// Where a clone comes from: a registered package revision or a Git location.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UpstreamPackage {
    #[serde(rename = "type", default, skip_serializing_if = "String::is_empty")]
    pub origin_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub git: Option<GitPackage>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oci: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upstream_ref: Option<NameRef>,
}

/// A package in a Git repository.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GitPackage {
    #[serde(default)]
    pub repo: String,
    #[serde(default)]
    pub r#ref: String,
    #[serde(default)]
    pub directory: String,
    /// Always shown, `{"name": ""}` for none, as Porch's (a struct field in Go).
    #[serde(default)]
    pub secret_ref: NameRef,
}

/// `edit` (copy) task parameters.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EditTask {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_ref: Option<NameRef>,
}

/// `upgrade` task parameters.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UpgradeTask {
    #[serde(default)]
    pub old_upstream_ref: NameRef,
    #[serde(default)]
    pub new_upstream_ref: NameRef,
    #[serde(default)]
    pub local_package_revision_ref: NameRef,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub strategy: String,
}

/// Status of a PackageRevision.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PackageRevisionStatus {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upstream_lock: Option<Locator>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub self_lock: Option<Locator>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub published_by: String,
    /// Always serialised (Porch emits `null` for unpublished revisions).
    #[serde(default)]
    pub publish_timestamp: Option<String>,
    #[serde(default, skip_serializing_if = "is_false")]
    pub deployment: bool,
    /// The Kptfile's status conditions. `None` when an update omitted them (they stay);
    /// otherwise an update of a Draft makes them the Kptfile's (Porch's `PatchKptfile`).
    #[serde(default, skip_serializing_if = "none_or_empty")]
    pub conditions: Option<Vec<Condition>>,
}

/// Where a package revision lives.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Locator {
    #[serde(rename = "type", default, skip_serializing_if = "String::is_empty")]
    pub origin_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub git: Option<GitLock>,
}

/// A pinned Git location.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GitLock {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub repo: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub directory: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub r#ref: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub commit: String,
}

/// A status condition (Kptfile style for package revisions).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Condition {
    #[serde(rename = "type", default)]
    pub condition_type: String,
    #[serde(default)]
    pub status: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub reason: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_transition_time: Option<String>,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub observed_generation: i64,
}

/// `porch.kpt.dev/v1alpha1` PackageRevisionResources.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PackageRevisionResources {
    #[serde(default)]
    pub api_version: String,
    #[serde(default)]
    pub kind: String,
    #[serde(default)]
    pub metadata: ObjectMeta,
    #[serde(default)]
    pub spec: PackageRevisionResourcesSpec,
    #[serde(default)]
    pub status: PackageRevisionResourcesStatus,
}

/// Spec of PackageRevisionResources: the whole file map of the package.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PackageRevisionResourcesSpec {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub package_name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub workspace_name: String,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub revision: i64,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub repository: String,
    #[serde(default)]
    pub resources: BTreeMap<String, String>,
}

/// Status of PackageRevisionResources.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PackageRevisionResourcesStatus {
    #[serde(default)]
    pub render_status: RenderStatus,
}

/// Outcome of rendering the package pipeline.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RenderStatus {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<serde_json::Value>,
    #[serde(default)]
    pub error: String,
}

/// `porch.kpt.dev/v1alpha1` PorchPackage (resource `packages`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PorchPackage {
    #[serde(default)]
    pub api_version: String,
    #[serde(default)]
    pub kind: String,
    #[serde(default)]
    pub metadata: ObjectMeta,
    #[serde(default)]
    pub spec: PackageSpec,
    #[serde(default)]
    pub status: PackageStatus,
}

/// Spec of a PorchPackage.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PackageSpec {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub package_name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub repository: String,
}

/// Status of a PorchPackage.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PackageStatus {
    #[serde(default, skip_serializing_if = "is_zero")]
    pub latest_revision: i64,
}

/// `config.porch.kpt.dev/v1alpha1` Repository.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Repository {
    #[serde(default)]
    pub api_version: String,
    #[serde(default)]
    pub kind: String,
    #[serde(default)]
    pub metadata: ObjectMeta,
    #[serde(default)]
    pub spec: RepositorySpec,
    #[serde(default)]
    pub status: RepositoryStatus,
}

/// Spec of a Repository.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RepositorySpec {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    #[serde(default, skip_serializing_if = "is_false")]
    pub deployment: bool,
    #[serde(rename = "type", default, skip_serializing_if = "String::is_empty")]
    pub repo_type: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub content: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sync: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub git: Option<GitRepositorySpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oci: Option<serde_json::Value>,
}

/// Git settings of a Repository.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GitRepositorySpec {
    #[serde(default)]
    pub repo: String,
    #[serde(default)]
    pub branch: String,
    #[serde(default, skip_serializing_if = "is_false")]
    pub create_branch: bool,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub directory: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_ref: Option<NameRef>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub author: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub email: String,
}

/// Status of a Repository.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RepositoryStatus {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub package_count: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub git_commit_hash: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_full_sync_time: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_full_sync_time: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_run_once_at: Option<String>,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub observed_generation: i64,
}

fn none_or_empty<T>(v: &Option<Vec<T>>) -> bool {
    v.as_ref().is_none_or(Vec::is_empty)
}

fn none_or_empty_map(v: &Option<BTreeMap<String, String>>) -> bool {
    v.as_ref().is_none_or(BTreeMap::is_empty)
}

fn is_zero(n: &i64) -> bool {
    *n == 0
}

fn is_false(b: &bool) -> bool {
    !*b
}
