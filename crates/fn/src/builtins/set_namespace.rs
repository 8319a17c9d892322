//! `set-namespace` (catalog v0.4.1): sets `metadata.namespace` of namespaced resources, the
//! name of `Namespace` objects, namespace references in CRD webhooks, APIServices and
//! (Cluster)RoleBinding subjects, and the namespace in `config.kubernetes.io/depends-on`.

use std::collections::{BTreeMap, BTreeSet};

use super::{FnResult, get_string, is_local_config, is_namespace_scoped, result, sdk_set_string};
use crate::yaml::{Kind, Node};

const DEPENDS_ON: &str = "config.kubernetes.io/depends-on";

pub(crate) fn run(mut items: Vec<Node>, config: Option<&Node>) -> FnResult {
    let new_ns = match parse_config(config) {
        Ok(ns) => ns,
        Err(message) => {
            return FnResult {
                items,
                results: vec![result(&message, "error")],
                error: false,
                stderr: String::new(),
            };
        }
    };
    let mut count = 0;
    let mut old: BTreeSet<String> = BTreeSet::new();
    visit_namespaces(&mut items, |ns, _| {
        if *ns != new_ns {
            old.insert(ns.clone());
            *ns = new_ns.clone();
            count += 1;
        }
    });
    // Resources (group/Kind/name) whose namespace the function visits.
    let mut depends_on_keys: BTreeMap<String, bool> = BTreeMap::new();
    visit_namespaces(&mut items, |_, key| {
        depends_on_keys.insert(key.to_string(), true);
    });
    update_depends_on(&mut items, &new_ns, &old, &depends_on_keys);
    let message = if let Some(dup) = duplicate(&items) {
        return FnResult {
            items,
            results: vec![result(&dup, "error")],
            error: false,
            stderr: String::new(),
        };
    } else if count == 0 {
        format!("all namespaces are already {new_ns:?}. no value changed")
    } else {
        let olds: Vec<String> = old.iter().map(|o| format!("\"{o}\"")).collect();
        format!("namespace [{}] updated to {new_ns:?}, {count} value(s) changed", olds.join(","))
    };
    FnResult { items, results: vec![result(&message, "info")], error: false, stderr: String::new() }
}

fn parse_config(config: Option<&Node>) -> Result<String, String> {
    let Some(config) =
        config.filter(|c| c.inner().kind == Kind::Mapping && !c.inner().content.is_empty())
    else {
        return Err("FunctionConfig is missing. Expect `ConfigMap` or `SetNamespace`".into());
    };
    let (api_version, kind) = (config.api_version(), config.kind_name());
    if api_version == "v1" && kind == "ConfigMap" {
        let ns = get_string(config, &["data", "namespace"]).unwrap_or_default();
        if !ns.is_empty() {
            return Ok(ns);
        }
        if config.name() == "kptfile.kpt.dev" {
            let name = get_string(config, &["data", "name"]).unwrap_or_default();
            if name.is_empty() {
                return Err("`data.name` should not be empty".into());
            }
            return Ok(name);
        }
        return Err("`data.namespace` should not be empty".into());
    }
    if api_version == "fn.kpt.dev/v1alpha1" && kind == "SetNamespace" {
        let ns = get_string(config, &["namespace"]).unwrap_or_default();
        if ns.is_empty() {
            return Err("`namespace` should not be empty".into());
        }
        return Ok(ns);
    }
    Err(format!(
        "unknown functionConfig Kind={kind} ApiVersion={api_version}, expect `SetNamespace` or `ConfigMap`"
    ))
}

/// `group/Kind/name` of a resource, the key `depends-on` annotations refer to.
fn depends_on_key(node: &Node) -> String {
    let api_version = node.api_version();
    let group = api_version.split('/').next().unwrap_or(api_version);
    let group = if api_version.contains('/') { group } else { api_version };
    format!("{group}/{}/{}", node.kind_name(), node.name())
}

/// The SDK version's `VisitNamespaces`: every namespace field the function owns, written back
/// (as a plain string) after the visitor ran.
fn visit_namespaces(items: &mut [Node], mut visitor: impl FnMut(&mut String, &str)) {
    for item in items.iter_mut() {
        if is_local_config(item) {
            continue;
        }
        let key = depends_on_key(item);
        let (api_version, kind) = (item.api_version().to_string(), item.kind_name().to_string());
        let paths: &[&[&str]] = match (api_version.as_str(), kind.as_str()) {
            ("v1", "Namespace") => &[&["metadata", "name"]],
            ("apiextensions.k8s.io/v1", "CustomResourceDefinition") => {
                &[&["spec", "conversion", "webhook", "clientConfig", "service", "namespace"]]
            }
            ("apiregistration.k8s.io/v1", "APIService") => &[&["spec", "service", "namespace"]],
            _ => &[],
        };
        for path in paths {
            let mut ns = get_string(item, path).unwrap_or_default();
            visitor(&mut ns, &key);
            sdk_set_string(item, path, &ns);
        }
        if (kind == "ClusterRoleBinding" || kind == "RoleBinding")
            && let Some(subjects) = item.get_mut("subjects").filter(|s| s.kind == Kind::Sequence)
        {
            for subject in subjects.content.iter_mut() {
                if subject.kind != Kind::Mapping {
                    continue;
                }
                if let Some(value) = subject.get("namespace") {
                    let mut ns = value.value.clone();
                    visitor(&mut ns, &key);
                    sdk_set_string(subject, &["namespace"], &ns);
                }
            }
        }
        if is_namespace_scoped(item) {
            let mut ns = get_string(item, &["metadata", "namespace"]).unwrap_or_default();
            visitor(&mut ns, &key);
            sdk_set_string(item, &["metadata", "namespace"], &ns);
        }
    }
}

fn update_depends_on(
    items: &mut [Node],
    new_ns: &str,
    old: &BTreeSet<String>,
    keys: &BTreeMap<String, bool>,
) {
    for item in items.iter_mut() {
        if is_local_config(item) {
            continue;
        }
        let Some(annotation) = item.annotation(DEPENDS_ON).map(str::to_string) else {
            continue;
        };
        let segments: Vec<&str> = annotation.split('/').collect();
        // group/namespaces/<namespace>/Kind/name
        let valid = segments.len() == 5
            && segments[1] == "namespaces"
            && segments.iter().all(|s| s.chars().all(|c| c.is_alphanumeric() || "-._".contains(c)));
        if !valid {
            continue;
        }
        let key = format!("{}/{}/{}", segments[0], segments[3], segments[4]);
        if keys.contains_key(&key) && old.contains(segments[2]) {
            let updated =
                format!("{}/namespaces/{new_ns}/{}/{}", segments[0], segments[3], segments[4]);
            sdk_set_string(item, &["metadata", "annotations", DEPENDS_ON], &updated);
        }
    }
}

fn duplicate(items: &[Node]) -> Option<String> {
    let mut seen = BTreeSet::new();
    for item in items {
        let api_version = item.api_version();
        let group = if api_version.contains('/') {
            api_version.split('/').next().unwrap_or("")
        } else {
            ""
        };
        let id = (
            group.to_string(),
            item.kind_name().to_string(),
            item.namespace().to_string(),
            item.name().to_string(),
        );
        if !seen.insert(id.clone()) {
            return Some(format!(
                "duplicate Resource(apiVersion: {}, kind: {}, namespace: {}, name: {})",
                api_version, id.1, id.2, id.3
            ));
        }
    }
    None
}
