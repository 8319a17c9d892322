//! `ensure-name-substring` (catalog v0.2.0): prepends or appends a substring to resource names
//! (and to extra name fields), updates `config.kubernetes.io/depends-on` annotations and the
//! name references kustomize's `nameReference` rules know (ConfigMaps, Secrets, service
//! accounts, claims and roles referenced from pod specs and bindings).

use std::collections::BTreeMap;

use super::fieldspec::{FieldSpec, parse_list};
use super::{FnResult, result};
use crate::yaml::{Kind, Node};

#[derive(PartialEq, Eq, Clone, Copy)]
enum Mode {
    Prepend,
    Append,
}

struct Config {
    substring: String,
    mode: Mode,
    fields: Vec<FieldSpec>,
}

pub(crate) fn run(mut items: Vec<Node>, config: Option<&Node>) -> FnResult {
    let config = match parse_config(config) {
        Ok(c) => c,
        Err(message) => {
            let message = format!("failed to load the `functionConfig`: {message}");
            return FnResult {
                items,
                results: vec![result(&message, "error")],
                error: true,
                stderr: message,
            };
        }
    };
    let mut specs = vec![FieldSpec { path: "metadata/name".into(), ..FieldSpec::default() }];
    specs.extend(config.fields.iter().cloned());
    let keys: Vec<(String, String, String)> = items.iter().map(resource_key).collect();
    // (kind, namespace, old name) → new name.
    let mut renamed: BTreeMap<(String, String, String), String> = BTreeMap::new();
    for item in items.iter_mut() {
        if skip(item) {
            continue;
        }
        let (kind, namespace, name) =
            (item.kind_name().to_string(), item.namespace().to_string(), item.name().to_string());
        for spec in &specs {
            if !selected(item, spec) {
                continue;
            }
            let segments: Vec<&str> = spec.path.split('/').filter(|s| !s.is_empty()).collect();
            let current = item.inner().lookup(&segments).map(|n| n.value.clone());
            if current.as_deref().is_some_and(|v| v.contains(&config.substring)) {
                continue;
            }
            let Some(value) = current else {
                continue;
            };
            let updated = edit(&value, &config);
            if let Some(node) = lookup_mut(item.inner_mut(), &segments)
                && node.kind == Kind::Scalar
            {
                node.value = updated.clone();
            }
            if spec.path == "metadata/name" {
                renamed.insert((kind.clone(), namespace.clone(), name.clone()), updated);
            }
            update_depends_on(item, &config, &keys);
        }
    }
    fix_name_references(&mut items, &renamed);
    FnResult { items, results: Vec::new(), error: false, stderr: String::new() }
}

fn edit(value: &str, config: &Config) -> String {
    match config.mode {
        Mode::Prepend => format!("{}{value}", config.substring),
        Mode::Append => format!("{value}{}", config.substring),
    }
}

fn parse_config(config: Option<&Node>) -> Result<Config, String> {
    let Some(config) = config.map(Node::inner).filter(|c| c.kind == Kind::Mapping) else {
        return Err("missing functionConfig".into());
    };
    let (api_version, kind) = (config.api_version(), config.kind_name());
    let mut parsed = if api_version == "v1" && kind == "ConfigMap" {
        let data = super::get_string_map(config, &["data"]).unwrap_or_default();
        if data.len() != 1 {
            return Err(format!(
                "only 1 entry is allowed in the ConfigMap, but got: {}",
                data.len()
            ));
        }
        let (k, v) = &data[0];
        let mode = match k.as_str() {
            "prepend" => Mode::Prepend,
            "append" => Mode::Append,
            other => {
                return Err(format!(
                    "unknown editMode: {other}, only prepend and append are allowed"
                ));
            }
        };
        Config { substring: v.clone(), mode, fields: Vec::new() }
    } else if api_version == "fn.kpt.dev/v1alpha1" && kind == "EnsureNameSubstring" {
        let mode = match config.get_str(&["editMode"]).unwrap_or("") {
            "" | "prepend" => Mode::Prepend,
            "append" => Mode::Append,
            other => {
                return Err(format!(
                    "unknown editMode: {other}, only prepend and append are allowed"
                ));
            }
        };
        let additional = config.get("additionalNameFields");
        let legacy = config.get("fieldSpecs");
        if additional.is_some() && legacy.is_some() {
            return Err(
                "`fieldSpecs` has been deprecated, please rename it to `additionalNameFields`"
                    .into(),
            );
        }
        Config {
            substring: config.get_str(&["substring"]).unwrap_or("").to_string(),
            mode,
            fields: parse_list(additional.or(legacy)),
        }
    } else {
        let gvk = |v: &str, k: &str| match v.split_once('/') {
            Some((g, v)) => format!("{g}/{v}, Kind={k}"),
            None => format!("/{v}, Kind={k}"),
        };
        return Err(format!(
            "function config must be either {} or {}, but we got: {}",
            gvk("v1", "ConfigMap"),
            gvk("fn.kpt.dev/v1alpha1", "EnsureNameSubstring"),
            gvk(api_version, kind)
        ));
    };
    if parsed.substring.is_empty() {
        return Err("substring must not be empty".into());
    }
    parsed.fields.retain(|f| !f.path.is_empty());
    Ok(parsed)
}

fn skip(item: &Node) -> bool {
    let group = super::group(item.api_version());
    let kind = item.kind_name();
    kind == "CustomResourceDefinition"
        || (group == "apiregistration.k8s.io" && kind == "APIService")
        || kind == "Namespace"
        || (group == "kpt.dev" && kind == "Kptfile")
}

fn selected(item: &Node, spec: &FieldSpec) -> bool {
    let api_version = item.api_version();
    let version = api_version.rsplit('/').next().unwrap_or(api_version);
    (spec.group.is_empty() || spec.group == super::group(api_version))
        && (spec.version.is_empty() || spec.version == version)
        && (spec.kind.is_empty() || spec.kind == item.kind_name())
}

fn lookup_mut<'a>(node: &'a mut Node, path: &[&str]) -> Option<&'a mut Node> {
    let mut current = node;
    for key in path {
        current = current.get_mut(key)?;
    }
    Some(current)
}

/// (group, kind, name) of every input resource, what `depends-on` may point at.
fn resource_key(item: &Node) -> (String, String, String) {
    (
        super::group(item.api_version()).to_string(),
        item.kind_name().to_string(),
        item.name().to_string(),
    )
}

fn update_depends_on(item: &mut Node, config: &Config, keys: &[(String, String, String)]) {
    let Some(annotation) = item.annotation("config.kubernetes.io/depends-on").map(str::to_string)
    else {
        return;
    };
    let mut segments: Vec<String> = annotation.split('/').map(str::to_string).collect();
    let valid =
        segments.iter().all(|s| s.chars().all(|c| c.is_alphanumeric() || "-._".contains(c)));
    let (group, kind, name) = match segments.len() {
        5 if valid && segments[1] == "namespaces" => (0, 3, 4),
        3 if valid => (0, 1, 2),
        _ => return,
    };
    let key = (segments[group].clone(), segments[kind].clone(), segments[name].clone());
    if !keys.contains(&key) {
        return;
    }
    segments[name] = edit(&segments[name], config);
    super::sdk_set_string(
        item,
        &["metadata", "annotations", "config.kubernetes.io/depends-on"],
        &segments.join("/"),
    );
}

/// Locations of pod specs in workload resources.
fn pod_spec_paths(kind: &str) -> &'static [&'static str] {
    match kind {
        "Pod" => &["spec"],
        "Deployment"
        | "ReplicaSet"
        | "DaemonSet"
        | "StatefulSet"
        | "Job"
        | "ReplicationController" => &["spec", "template", "spec"],
        "CronJob" => &["spec", "jobTemplate", "spec", "template", "spec"],
        _ => &[],
    }
}

/// kustomize `nameReference` for the common referral kinds.
fn fix_name_references(items: &mut [Node], renamed: &BTreeMap<(String, String, String), String>) {
    if renamed.is_empty() {
        return;
    }
    for item in items.iter_mut() {
        let namespace = item.namespace().to_string();
        let kind = item.kind_name().to_string();
        let rename = |target_kind: &str, node: &mut Node, ns: &str| {
            if node.kind != Kind::Scalar {
                return;
            }
            let cluster_scoped = matches!(
                target_kind,
                "ClusterRole" | "Namespace" | "PersistentVolume" | "StorageClass"
            );
            let key_ns = if cluster_scoped { String::new() } else { ns.to_string() };
            if let Some(new) = renamed
                .get(&(target_kind.to_string(), key_ns.clone(), node.value.clone()))
                .or_else(|| {
                    renamed
                        .get(&(target_kind.to_string(), String::new(), node.value.clone()))
                        .filter(|_| key_ns == "default")
                })
            {
                node.value = new.clone();
            }
        };
        let pod_path = pod_spec_paths(&kind);
        if !pod_path.is_empty()
            && let Some(spec) = lookup_mut(item.inner_mut(), pod_path)
        {
            fix_pod_spec(spec, &namespace, &rename);
        }
        let root = item.inner_mut();
        match kind.as_str() {
            "RoleBinding" | "ClusterRoleBinding" => {
                if let Some(role_ref) = root.get_mut("roleRef") {
                    let role_kind = role_ref.get_str(&["kind"]).unwrap_or("").to_string();
                    if let Some(name) = role_ref.get_mut("name") {
                        rename(&role_kind, name, &namespace);
                    }
                }
                if let Some(subjects) =
                    root.get_mut("subjects").filter(|s| s.kind == Kind::Sequence)
                {
                    for subject in subjects.content.iter_mut() {
                        if subject.get_str(&["kind"]) == Some("ServiceAccount") {
                            let ns =
                                subject.get_str(&["namespace"]).unwrap_or(&namespace).to_string();
                            if let Some(name) = subject.get_mut("name") {
                                rename("ServiceAccount", name, &ns);
                            }
                        }
                    }
                }
            }
            "StatefulSet" => {
                if let Some(name) = root.get_mut("spec").and_then(|s| s.get_mut("serviceName")) {
                    rename("Service", name, &namespace);
                }
            }
            "HorizontalPodAutoscaler" => {
                if let Some(target) = root.get_mut("spec").and_then(|s| s.get_mut("scaleTargetRef"))
                {
                    let target_kind = target.get_str(&["kind"]).unwrap_or("").to_string();
                    if let Some(name) = target.get_mut("name") {
                        rename(&target_kind, name, &namespace);
                    }
                }
            }
            "ServiceAccount" => {
                for field in ["secrets", "imagePullSecrets"] {
                    if let Some(list) = root.get_mut(field).filter(|l| l.kind == Kind::Sequence) {
                        for entry in list.content.iter_mut() {
                            if let Some(name) = entry.get_mut("name") {
                                rename("Secret", name, &namespace);
                            }
                        }
                    }
                }
            }
            "Ingress" => {
                if let Some(tls) = root
                    .get_mut("spec")
                    .and_then(|s| s.get_mut("tls"))
                    .filter(|l| l.kind == Kind::Sequence)
                {
                    for entry in tls.content.iter_mut() {
                        if let Some(name) = entry.get_mut("secretName") {
                            rename("Secret", name, &namespace);
                        }
                    }
                }
            }
            _ => {}
        }
    }
}

fn fix_pod_spec(spec: &mut Node, namespace: &str, rename: &dyn Fn(&str, &mut Node, &str)) {
    if let Some(name) = spec.get_mut("serviceAccountName") {
        rename("ServiceAccount", name, namespace);
    }
    if let Some(name) = spec.get_mut("serviceAccount") {
        rename("ServiceAccount", name, namespace);
    }
    if let Some(list) = spec.get_mut("imagePullSecrets").filter(|l| l.kind == Kind::Sequence) {
        for entry in list.content.iter_mut() {
            if let Some(name) = entry.get_mut("name") {
                rename("Secret", name, namespace);
            }
        }
    }
    if let Some(volumes) = spec.get_mut("volumes").filter(|l| l.kind == Kind::Sequence) {
        for volume in volumes.content.iter_mut() {
            if let Some(name) = volume.get_mut("configMap").and_then(|c| c.get_mut("name")) {
                rename("ConfigMap", name, namespace);
            }
            if let Some(name) = volume.get_mut("secret").and_then(|c| c.get_mut("secretName")) {
                rename("Secret", name, namespace);
            }
            if let Some(name) =
                volume.get_mut("persistentVolumeClaim").and_then(|c| c.get_mut("claimName"))
            {
                rename("PersistentVolumeClaim", name, namespace);
            }
            if let Some(sources) = volume
                .get_mut("projected")
                .and_then(|p| p.get_mut("sources"))
                .filter(|l| l.kind == Kind::Sequence)
            {
                for source in sources.content.iter_mut() {
                    if let Some(name) = source.get_mut("configMap").and_then(|c| c.get_mut("name"))
                    {
                        rename("ConfigMap", name, namespace);
                    }
                    if let Some(name) = source.get_mut("secret").and_then(|c| c.get_mut("name")) {
                        rename("Secret", name, namespace);
                    }
                }
            }
        }
    }
    for containers in ["containers", "initContainers", "ephemeralContainers"] {
        let Some(list) = spec.get_mut(containers).filter(|l| l.kind == Kind::Sequence) else {
            continue;
        };
        for container in list.content.iter_mut() {
            if let Some(env) = container.get_mut("env").filter(|l| l.kind == Kind::Sequence) {
                for var in env.content.iter_mut() {
                    let Some(value_from) = var.get_mut("valueFrom") else {
                        continue;
                    };
                    if let Some(name) =
                        value_from.get_mut("configMapKeyRef").and_then(|c| c.get_mut("name"))
                    {
                        rename("ConfigMap", name, namespace);
                    }
                    if let Some(name) =
                        value_from.get_mut("secretKeyRef").and_then(|c| c.get_mut("name"))
                    {
                        rename("Secret", name, namespace);
                    }
                }
            }
            if let Some(env_from) =
                container.get_mut("envFrom").filter(|l| l.kind == Kind::Sequence)
            {
                for source in env_from.content.iter_mut() {
                    if let Some(name) =
                        source.get_mut("configMapRef").and_then(|c| c.get_mut("name"))
                    {
                        rename("ConfigMap", name, namespace);
                    }
                    if let Some(name) = source.get_mut("secretRef").and_then(|c| c.get_mut("name"))
                    {
                        rename("Secret", name, namespace);
                    }
                }
            }
        }
    }
}
