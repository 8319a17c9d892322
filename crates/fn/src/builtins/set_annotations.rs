//! `set-annotations` (catalog v0.1.4, the published image): kustomize's annotations filter
//! with the default `commonAnnotations` field specs plus `additionalAnnotationFields`.

use std::collections::BTreeMap;

use super::{FnResult, fieldspec, result};
use crate::kio;
use crate::yaml::{Kind, Node};

/// kustomize's default field specs for common annotations.
const DEFAULT_FIELD_SPECS: &[(&str, &str, &str, &str)] = &[
    ("", "", "", "metadata/annotations"),
    ("", "v1", "ReplicationController", "spec/template/metadata/annotations"),
    ("", "", "Deployment", "spec/template/metadata/annotations"),
    ("", "", "ReplicaSet", "spec/template/metadata/annotations"),
    ("", "", "DaemonSet", "spec/template/metadata/annotations"),
    ("", "", "StatefulSet", "spec/template/metadata/annotations"),
    ("batch", "", "Job", "spec/template/metadata/annotations"),
    ("batch", "", "CronJob", "spec/jobTemplate/metadata/annotations"),
    ("batch", "", "CronJob", "spec/jobTemplate/spec/template/metadata/annotations"),
];

pub(crate) fn run(mut items: Vec<Node>, config: Option<&Node>) -> FnResult {
    let (annotations, mut specs) = match parse_config(config) {
        Ok(parsed) => parsed,
        Err(message) => {
            let message = format!("failed to configure function: {message}");
            return FnResult {
                items,
                results: vec![result(&message, "error")],
                error: true,
                stderr: format!("[error] : {message}"),
            };
        }
    };
    for (group, version, kind, path) in DEFAULT_FIELD_SPECS {
        specs.push(fieldspec::FieldSpec {
            group: group.to_string(),
            version: version.to_string(),
            kind: kind.to_string(),
            path: path.to_string(),
            create: true,
        });
    }
    let mut sorted = annotations;
    sorted.sort();
    // (file path, file index, field path) → annotations set there.
    let mut applied: BTreeMap<(String, i64, String), BTreeMap<String, String>> = BTreeMap::new();
    for item in items.iter_mut() {
        let (path, index) = kio::file_annotations(item);
        let index: i64 = index.parse().unwrap_or(0);
        for spec in &specs {
            let field =
                spec.path.split('/').filter(|s| !s.is_empty()).collect::<Vec<_>>().join(".");
            fieldspec::apply(item.inner_mut(), spec, &mut |map: &mut Node| {
                for (key, value) in &sorted {
                    fieldspec::set_entry(map, key, value);
                    applied
                        .entry((path.clone(), index, field.clone()))
                        .or_default()
                        .insert(key.clone(), value.clone());
                }
            });
        }
    }
    let mut results = Vec::new();
    for ((path, index, field), values) in &applied {
        let json = serde_json::to_string(values).unwrap_or_default();
        let mut entry = Node::mapping();
        entry.set_field("message", Node::string(&format!("set annotations: {json}")));
        let mut field_node = Node::mapping();
        field_node.set_field("path", Node::string(field));
        entry.set_field("field", field_node);
        let mut file = Node::mapping();
        file.set_field("path", Node::string(path));
        if *index != 0 {
            file.set_field("index", Node::scalar(&index.to_string()));
        }
        entry.set_field("file", file);
        results.push(entry);
    }
    if results.is_empty() {
        let mut entry = Node::mapping();
        entry.set_field("message", Node::string("no annotations applied"));
        results.push(entry);
    }
    FnResult { items, results, error: false, stderr: String::new() }
}

#[allow(clippy::type_complexity)]
fn parse_config(
    config: Option<&Node>,
) -> Result<(Vec<(String, String)>, Vec<fieldspec::FieldSpec>), String> {
    let config = config.map(Node::inner).filter(|c| c.kind == Kind::Mapping);
    let Some(config) = config else {
        return Err("`functionConfig` must be a `ConfigMap` or `SetAnnotations`".into());
    };
    let (api_version, kind) = (config.api_version(), config.kind_name());
    let mut specs = Vec::new();
    let annotations = if api_version == "v1" && kind == "ConfigMap" {
        super::get_string_map(config, &["data"]).unwrap_or_default()
    } else if api_version == "fn.kpt.dev/v1alpha1"
        && (kind == "SetAnnotations" || kind == "SetAnnotationConfig")
    {
        let additional = fieldspec::parse_list(config.get("additionalAnnotationFields"));
        let legacy = fieldspec::parse_list(config.get("fieldSpecs"));
        if config.get("additionalAnnotationFields").is_some() && config.get("fieldSpecs").is_some()
        {
            return Err("`fieldSpecs` has been deprecated, please rename it to `additionalAnnotationFields`".into());
        }
        specs =
            if config.get("additionalAnnotationFields").is_some() { additional } else { legacy };
        super::get_string_map(config, &["annotations"]).unwrap_or_default()
    } else {
        return Err("`functionConfig` must be a `ConfigMap` or `SetAnnotations`".into());
    };
    if annotations.is_empty() {
        return Err("input annotation list cannot be empty".into());
    }
    Ok((annotations, specs))
}
