//! `set-labels` (catalog v0.2.1): sets labels in `metadata.labels` and in the selectors and
//! templates that must carry them (Service selectors, workload `matchLabels` and pod
//! templates, CronJob job templates, StatefulSet volume claims, NetworkPolicy peers,
//! topology spread constraints and pod affinity terms).

use super::{FnResult, is_local_config, result, sdk_set_string};
use crate::yaml::{Kind, Node};

pub(crate) fn run(mut items: Vec<Node>, config: Option<&Node>) -> FnResult {
    let mut results = Vec::new();
    let labels = match parse_config(config, &mut results) {
        Ok(labels) => labels,
        Err(message) => {
            results.push(result(&message, "error"));
            return FnResult { items, results, error: true, stderr: function_failure() };
        }
    };
    let indices: Vec<usize> = (0..items.len()).filter(|&i| !is_local_config(&items[i])).collect();
    if indices.is_empty() {
        results.push(result("no input resources", "info"));
        return FnResult { items, results, error: false, stderr: String::new() };
    }
    if empty_config(config) {
        return FnResult { items, results, error: true, stderr: function_failure() };
    }
    let Some(mut labels) = labels.filter(|l| !l.is_empty()) else {
        results.push(result("no `labels` arguments are given in FunctionConfig", "warning"));
        return FnResult { items, results, error: false, stderr: String::new() };
    };
    labels.sort();
    let mut count = 0;
    for i in indices {
        set_labels(items[i].inner_mut(), &labels, &mut count);
    }
    results.push(result(&format!("set {count} labels in total"), "info"));
    FnResult { items, results, error: false, stderr: String::new() }
}

pub(crate) fn function_failure() -> String {
    "failed to evaluate function: error: function failure\n".into()
}

/// The SDK's `runnerProcessor.config` for a runner whose only string map is `labels`.
fn parse_config(
    config: Option<&Node>,
    results: &mut Vec<Node>,
) -> Result<Option<Vec<(String, String)>>, String> {
    let Some(config) =
        config.map(Node::inner).filter(|c| c.kind == Kind::Mapping && !c.content.is_empty())
    else {
        results.push(result("`FunctionConfig` is not given", "info"));
        return Ok(None);
    };
    let group = super::group(config.api_version());
    let kind = config.kind_name();
    if kind == "ConfigMap" && group.is_empty() {
        let data = super::get_string_map(config, &["data"]);
        if config.name() == "function-input" && data.as_ref().is_none_or(|d| d.is_empty()) {
            results.push(result("`FunctionConfig` is not given", "info"));
            return Ok(None);
        }
        return Ok(data);
    }
    if kind == "SetLabels" && group == "fn.kpt.dev" {
        let Some(labels) = config.get("labels") else {
            return Ok(None);
        };
        return match labels.kind {
            Kind::Mapping => {
                let mut map = Vec::new();
                for (k, v) in labels.entries() {
                    if v.kind != Kind::Scalar || !matches!(v.tag.as_str(), "!!str" | "!!null") {
                        let found = match v.kind {
                            Kind::Sequence => "array",
                            Kind::Mapping => "object",
                            _ if v.tag == "!!bool" => "bool",
                            _ => "number",
                        };
                        return Err(format!(
                            "unable to convert object to *setlabels.SetLabels with error: json: cannot unmarshal {found} into Go struct field SetLabels.labels of type string"
                        ));
                    }
                    map.push((k.value.clone(), v.value.clone()));
                }
                Ok(Some(map))
            }
            Kind::Scalar if labels.is_null() => Ok(None),
            other => {
                let found = if other == Kind::Sequence { "array" } else { "string" };
                Err(format!(
                    "unable to convert object to *setlabels.SetLabels with error: json: cannot unmarshal {found} into Go struct field SetLabels.labels of type map[string]string"
                ))
            }
        };
    }
    let gk = if group.is_empty() { kind.to_string() } else { format!("{kind}.{group}") };
    Err(format!("unknown FunctionConfig `{gk}`, expect `SetLabels.fn.kpt.dev` or `ConfigMap.v1`"))
}

fn empty_config(config: Option<&Node>) -> bool {
    let Some(config) = config.map(Node::inner) else {
        return true;
    };
    if config.kind_name() == "ConfigMap" && config.name() == "function-input" {
        return super::get_string_map(config, &["data"]).is_none_or(|d| d.is_empty());
    }
    config.kind_name().is_empty() && config.name().is_empty()
}

fn is_gvk(node: &Node, group: &str, version: &str, kind: &str) -> bool {
    let api_version = node.api_version();
    let (g, v) = match api_version.split_once('/') {
        Some((g, v)) => (g, v),
        None => ("", api_version),
    };
    (group.is_empty() || group == g)
        && (version.is_empty() || version == v)
        && (kind.is_empty() || kind == node.kind_name())
}

fn set_labels(object: &mut Node, labels: &[(String, String)], count: &mut usize) {
    update(Some(object), &["metadata", "labels"], labels, true, count);
    // Selectors.
    if is_gvk(object, "", "v1", "Service") || is_gvk(object, "", "v1", "ReplicationController") {
        update(Some(object), &["spec", "selector"], labels, true, count);
    }
    let label_selector = if is_gvk(object, "", "", "Deployment")
        || is_gvk(object, "", "", "ReplicaSet")
        || is_gvk(object, "", "", "DaemonSet")
        || is_gvk(object, "apps", "", "StatefulSet")
    {
        Some(true)
    } else if is_gvk(object, "batch", "", "Job")
        || is_gvk(object, "policy", "", "PodDisruptionBudget")
    {
        Some(false)
    } else {
        None
    };
    if let Some(create) = label_selector {
        update(Some(object), &["spec", "selector", "matchLabels"], labels, create, count);
    }
    let network_policy = is_gvk(object, "networking.k8s.io", "", "NetworkPolicy");
    if network_policy {
        update(Some(object), &["spec", "podSelector", "matchLabels"], labels, false, count);
    }
    let contains_pod_spec = is_gvk(object, "", "v1", "ReplicationController")
        || is_gvk(object, "", "", "Deployment")
        || is_gvk(object, "", "", "ReplicaSet")
        || is_gvk(object, "", "", "DaemonSet")
        || is_gvk(object, "apps", "", "StatefulSet")
        || is_gvk(object, "batch", "", "Job");
    let cron_job = is_gvk(object, "batch", "", "CronJob");
    let stateful_set = is_gvk(object, "apps", "", "StatefulSet");
    let Some(spec) = object.get_mut("spec").filter(|s| s.kind == Kind::Mapping) else {
        return;
    };
    if contains_pod_spec {
        set_in_pod(spec.get_mut("template"), labels, count);
    }
    if cron_job && let Some(job) = spec.get_mut("jobTemplate").filter(|j| j.kind == Kind::Mapping) {
        update(Some(job), &["metadata", "labels"], labels, true, count);
        if let Some(job_spec) = job.get_mut("spec").filter(|s| s.kind == Kind::Mapping) {
            update(Some(job_spec), &["selector", "matchLabels"], labels, false, count);
            set_in_pod(job_spec.get_mut("template"), labels, count);
        }
    }
    if stateful_set
        && let Some(volumes) =
            spec.get_mut("volumeClaimTemplates").filter(|v| v.kind == Kind::Sequence)
    {
        for volume in volumes.content.iter_mut().filter(|v| v.kind == Kind::Mapping) {
            update(Some(volume), &["metadata", "labels"], labels, true, count);
            update(Some(volume), &["selector", "matchLabels"], labels, false, count);
        }
    }
    if network_policy {
        for (rules, peers) in [("ingress", "from"), ("egress", "to")] {
            if let Some(list) = spec.get_mut(rules).filter(|l| l.kind == Kind::Sequence) {
                for rule in list.content.iter_mut() {
                    if let Some(peer_list) =
                        rule.get_mut(peers).filter(|l| l.kind == Kind::Sequence)
                    {
                        for peer in peer_list.content.iter_mut().filter(|p| p.kind == Kind::Mapping)
                        {
                            update(
                                Some(peer),
                                &["podSelector", "matchLabels"],
                                labels,
                                false,
                                count,
                            );
                        }
                    }
                }
            }
        }
    }
}

fn set_in_pod(pod: Option<&mut Node>, labels: &[(String, String)], count: &mut usize) {
    let Some(pod) = pod.filter(|p| p.kind == Kind::Mapping) else {
        return;
    };
    update(Some(pod), &["metadata", "labels"], labels, true, count);
    let Some(spec) = pod.get_mut("spec").filter(|s| s.kind == Kind::Mapping) else {
        return;
    };
    if let Some(list) =
        spec.get_mut("topologySpreadConstraints").filter(|l| l.kind == Kind::Sequence)
    {
        for item in list.content.iter_mut().filter(|i| i.kind == Kind::Mapping) {
            update(Some(item), &["labelSelector", "matchLabels"], labels, false, count);
        }
    }
    // The catalog code looks the affinity term lists up on `affinity` itself (not on
    // podAffinity/podAntiAffinity), once per affinity kind present; reproduced as is.
    if let Some(affinity) = spec.get_mut("affinity").filter(|a| a.kind == Kind::Mapping) {
        for kind in ["podAffinity", "podAntiAffinity"] {
            if affinity.get(kind).is_none_or(|a| a.kind != Kind::Mapping) {
                continue;
            }
            if let Some(list) = affinity
                .get_mut("preferredDuringSchedulingIgnoredDuringExecution")
                .filter(|l| l.kind == Kind::Sequence)
            {
                for item in list.content.iter_mut() {
                    if let Some(term) =
                        item.get_mut("podAffinityTerm").filter(|t| t.kind == Kind::Mapping)
                    {
                        update(Some(term), &["labelSelector", "matchLabels"], labels, false, count);
                    }
                }
            }
            if let Some(list) = affinity
                .get_mut("requiredDuringSchedulingIgnoredDuringExecution")
                .filter(|l| l.kind == Kind::Sequence)
            {
                for item in list.content.iter_mut().filter(|i| i.kind == Kind::Mapping) {
                    update(Some(item), &["labelSelector", "matchLabels"], labels, false, count);
                }
            }
        }
    }
}

fn update(
    object: Option<&mut Node>,
    path: &[&str],
    labels: &[(String, String)],
    create: bool,
    count: &mut usize,
) {
    let Some(object) = object else {
        return;
    };
    for (key, value) in labels {
        let mut full: Vec<&str> = path.to_vec();
        full.push(key);
        let old = object.lookup(&full).filter(|n| n.kind == Kind::Scalar).map(|n| n.value.clone());
        let exists = old.is_some();
        if (exists && old.as_deref() != Some(value.as_str())) || (!exists && create) {
            sdk_set_string(object, &full, value);
        }
        *count += 1;
    }
}
