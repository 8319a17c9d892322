//! Built-in KRM functions: native Rust versions of the kpt catalog functions, run in process.
//!
//! Each function works on the `ResourceList` node tree with kyaml-equivalent edits, so that the
//! render engine sees the same output the Go function would have produced. Functions are found
//! by image name with or without the `ghcr.io/kptdev/krm-functions-catalog/` and
//! `gcr.io/kpt-fn/` prefixes, with any tag or digest.

mod apply_replacements;
mod apply_setters;
mod ensure_name_substring;
mod fieldspec;
mod search_replace;
mod set_annotations;
mod set_labels;
mod set_namespace;
mod starlark;

use crate::kio;
use crate::runtime::{
    FunctionOutput, FunctionRef, FunctionRuntime, NodeOutput, NodeRun, RuntimeError,
};
use crate::yaml::{self, Node};

const PREFIXES: &[&str] = &["ghcr.io/kptdev/krm-functions-catalog/", "gcr.io/kpt-fn/"];

/// The catalog name of an image (`gcr.io/kpt-fn/set-labels:v0.2` → `set-labels`).
pub fn short_name(image: &str) -> &str {
    let image = crate::runtime::image_without_version(image);
    for prefix in PREFIXES {
        if let Some(rest) = image.strip_prefix(prefix) {
            return rest;
        }
    }
    image
}

/// What a built-in function returns: the items, result entries and whether it failed.
pub(crate) struct FnResult {
    pub(crate) items: Vec<Node>,
    pub(crate) results: Vec<Node>,
    pub(crate) error: bool,
    pub(crate) stderr: String,
}

type BuiltinFn = fn(Vec<Node>, Option<&Node>) -> FnResult;

fn lookup(name: &str) -> Option<BuiltinFn> {
    match name {
        "set-namespace" => Some(set_namespace::run),
        "set-labels" => Some(set_labels::run),
        "set-annotations" => Some(set_annotations::run),
        "apply-setters" => Some(apply_setters::run),
        "apply-replacements" => Some(apply_replacements::run),
        "search-replace" => Some(search_replace::run),
        "ensure-name-substring" => Some(ensure_name_substring::run),
        "starlark" => Some(starlark::run),
        _ => None,
    }
}

/// Runs the built-in functions in process.
#[derive(Clone, Debug, Default)]
pub struct BuiltinRuntime;

impl BuiltinRuntime {
    /// Whether a built-in implements this image.
    pub fn provides(image: &str) -> bool {
        lookup(short_name(image)).is_some()
    }
}

impl FunctionRuntime for BuiltinRuntime {
    fn run_nodes(
        &self,
        function: &FunctionRef,
        items: Vec<Node>,
        function_config: Option<&Node>,
    ) -> NodeRun {
        let FunctionRef::Image(image) = function else {
            return NodeRun::Unsupported(items);
        };
        let Some(builtin) = lookup(short_name(image)) else {
            return NodeRun::Unsupported(items);
        };
        let config = function_config.map(|c| c.inner().clone());
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            builtin(items, config.as_ref())
        }));
        NodeRun::Done(match result {
            Ok(result) => {
                let results = if result.results.is_empty() {
                    None
                } else {
                    let mut seq = Node::sequence();
                    seq.content = result.results;
                    Some(seq)
                };
                Ok(Box::new(NodeOutput {
                    items: result.items,
                    results,
                    stderr: result.stderr,
                    exit_code: i32::from(result.error),
                }))
            }
            Err(_) => Err(RuntimeError::Failed {
                name: image.clone(),
                message: "KRM function panicked".into(),
            }),
        })
    }

    fn handles_nodes(&self) -> bool {
        true
    }

    fn run(&self, function: &FunctionRef, input: &[u8]) -> Result<FunctionOutput, RuntimeError> {
        let FunctionRef::Image(image) = function else {
            return Err(RuntimeError::NotFound(function.display_name().to_string()));
        };
        let Some(builtin) = lookup(short_name(image)) else {
            return Err(RuntimeError::NotFound(image.clone()));
        };
        let text = std::str::from_utf8(input).map_err(|_| RuntimeError::Failed {
            name: image.clone(),
            message: "input is not UTF-8".into(),
        })?;
        let options =
            kio::ReadOptions { annotations: Vec::new(), reader_annotations: false, unwrap: true };
        let (items, wrapper) = kio::read_stream(text, &options)
            .map_err(|e| RuntimeError::Failed { name: image.clone(), message: e })?;
        let config = wrapper.function_config;
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            builtin(items, config.as_ref())
        }))
        .map_err(|_| RuntimeError::Failed {
            name: image.clone(),
            message: "function panicked".into(),
        })?;
        let stdout = encode_output(&result, config.as_ref())
            .map_err(|e| RuntimeError::Failed { name: image.clone(), message: e.to_string() })?;
        Ok(FunctionOutput {
            stdout: stdout.into_bytes(),
            stderr: result.stderr,
            exit_code: i32::from(result.error),
        })
    }
}

fn encode_output(result: &FnResult, config: Option<&Node>) -> Result<String, yaml::Error> {
    let mut list = Node::mapping();
    list.set_field("apiVersion", Node::string("config.kubernetes.io/v1"));
    list.set_field("kind", Node::string("ResourceList"));
    let mut items = Node::sequence();
    items.content = result.items.iter().map(|n| n.inner().clone()).collect();
    list.set_field("items", items);
    if let Some(config) = config {
        list.set_field("functionConfig", config.inner().clone());
    }
    if !result.results.is_empty() {
        let mut results = Node::sequence();
        results.content = result.results.clone();
        list.set_field("results", results);
    }
    yaml::emit(&[&list], yaml::SeqIndent::Compact)
}

/// A result entry.
pub(crate) fn result(message: &str, severity: &str) -> Node {
    let mut node = Node::mapping();
    node.set_field("message", Node::string(message));
    node.set_field("severity", Node::string(severity));
    node
}

/// The kpt functions SDK's `SetNestedField` for strings: creates missing maps on the way and
/// replaces the value with a plain `!!str` node, keeping the old value's comments.
pub(crate) fn sdk_set_string(node: &mut Node, path: &[&str], value: &str) {
    sdk_set_node(node, path, Node::string(value));
}

/// `SetNestedField` with an arbitrary value node.
pub(crate) fn sdk_set_node(node: &mut Node, path: &[&str], value: Node) {
    let Some((last, parents)) = path.split_last() else {
        return;
    };
    let mut current = node.inner_mut();
    for key in parents {
        if current.kind != yaml::Kind::Mapping {
            return;
        }
        let idx = match current.field_index(key) {
            Some(idx) => {
                if current.content[idx + 1].kind != yaml::Kind::Mapping {
                    current.content[idx + 1] = Node::mapping();
                }
                idx
            }
            None => {
                current.content.push(Node::string(key));
                current.content.push(Node::mapping());
                current.content.len() - 2
            }
        };
        current = &mut current.content[idx + 1];
    }
    if current.kind != yaml::Kind::Mapping {
        return;
    }
    let mut value = value;
    match current.field_index(last) {
        Some(idx) => {
            let old = &current.content[idx + 1];
            value.head_comment = old.head_comment.clone();
            value.line_comment = old.line_comment.clone();
            value.foot_comment = old.foot_comment.clone();
            current.content[idx + 1] = value;
        }
        None => {
            current.content.push(Node::string(last));
            current.content.push(value);
        }
    }
}

/// The string value at a path (scalars only).
pub(crate) fn get_string(node: &Node, path: &[&str]) -> Option<String> {
    node.lookup(path)
        .filter(|n| n.kind == yaml::Kind::Scalar && !n.is_null())
        .map(|n| n.value.clone())
}

/// The string map at a path (`data` of a ConfigMap, labels, …), in document order.
pub(crate) fn get_string_map(node: &Node, path: &[&str]) -> Option<Vec<(String, String)>> {
    let map = node.lookup(path)?;
    if map.kind != yaml::Kind::Mapping {
        return None;
    }
    Some(map.entries().map(|(k, v)| (k.value.clone(), v.value.clone())).collect())
}

/// `config.kubernetes.io/local-config` set to anything but "false".
pub(crate) fn is_local_config(node: &Node) -> bool {
    !matches!(node.annotation("config.kubernetes.io/local-config"), None | Some("") | Some("false"))
}

/// The API group of an apiVersion (`apps/v1` → `apps`, `v1` → ``).
pub(crate) fn group(api_version: &str) -> &str {
    match api_version.split_once('/') {
        Some((group, _)) => group,
        None => "",
    }
}

/// Built-in Kubernetes kinds that are cluster-scoped.
const CLUSTER_SCOPED: &[&str] = &[
    "APIService",
    "CSIDriver",
    "CSINode",
    "CertificateSigningRequest",
    "ClusterRole",
    "ClusterRoleBinding",
    "ComponentStatus",
    "CustomResourceDefinition",
    "FlowSchema",
    "IngressClass",
    "MutatingWebhookConfiguration",
    "Namespace",
    "Node",
    "PersistentVolume",
    "PodSecurityPolicy",
    "PriorityClass",
    "PriorityLevelConfiguration",
    "RuntimeClass",
    "SelfSubjectAccessReview",
    "SelfSubjectRulesReview",
    "StorageClass",
    "SubjectAccessReview",
    "TokenReview",
    "ValidatingAdmissionPolicy",
    "ValidatingAdmissionPolicyBinding",
    "ValidatingWebhookConfiguration",
    "VolumeAttachment",
];

/// Built-in Kubernetes kinds that are namespace-scoped.
const NAMESPACE_SCOPED: &[&str] = &[
    "Binding",
    "ConfigMap",
    "ControllerRevision",
    "CronJob",
    "CSIStorageCapacity",
    "DaemonSet",
    "Deployment",
    "Endpoints",
    "EndpointSlice",
    "Event",
    "HorizontalPodAutoscaler",
    "Ingress",
    "Job",
    "Lease",
    "LimitRange",
    "LocalSubjectAccessReview",
    "NetworkPolicy",
    "PersistentVolumeClaim",
    "Pod",
    "PodDisruptionBudget",
    "PodTemplate",
    "ReplicaSet",
    "ReplicationController",
    "ResourceQuota",
    "Role",
    "RoleBinding",
    "Secret",
    "Service",
    "ServiceAccount",
    "StatefulSet",
];

fn is_builtin_group(group: &str) -> bool {
    group.is_empty() || !group.contains('.') || group.ends_with(".k8s.io")
}

/// The SDK's `IsNamespaceScoped`: known built-in types by table, others when they have a
/// `metadata.namespace`.
pub(crate) fn is_namespace_scoped(node: &Node) -> bool {
    let kind = node.kind_name();
    if is_builtin_group(group(node.api_version())) {
        if NAMESPACE_SCOPED.contains(&kind) {
            return true;
        }
        if CLUSTER_SCOPED.contains(&kind) {
            return false;
        }
    }
    node.lookup(&["metadata", "namespace"]).is_some()
}
