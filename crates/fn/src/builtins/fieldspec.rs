//! kustomize field specs (`group`, `version`, `kind`, `path`, `create`) and the `SetEntry`
//! setter, as used by the annotation and label transformers.

use super::group;
use crate::yaml::{Kind, Node, Style};

#[derive(Clone, Debug, Default)]
pub(crate) struct FieldSpec {
    pub(crate) group: String,
    pub(crate) version: String,
    pub(crate) kind: String,
    pub(crate) path: String,
    pub(crate) create: bool,
}

pub(crate) fn parse_list(node: Option<&Node>) -> Vec<FieldSpec> {
    let Some(list) = node.filter(|n| n.kind == Kind::Sequence) else {
        return Vec::new();
    };
    list.content
        .iter()
        .filter(|n| n.kind == Kind::Mapping)
        .map(|n| FieldSpec {
            group: n.get_str(&["group"]).unwrap_or("").into(),
            version: n.get_str(&["version"]).unwrap_or("").into(),
            kind: n.get_str(&["kind"]).unwrap_or("").into(),
            path: n.get_str(&["path"]).unwrap_or("").into(),
            create: n.get_str(&["create"]) == Some("true"),
        })
        .collect()
}

fn selected(node: &Node, spec: &FieldSpec) -> bool {
    let api_version = node.api_version();
    let version = api_version.rsplit('/').next().unwrap_or(api_version);
    (spec.group.is_empty() || spec.group == group(api_version))
        && (spec.version.is_empty() || spec.version == version)
        && (spec.kind.is_empty() || spec.kind == node.kind_name())
}

/// Walks `spec.path` in a resource (creating maps when `create`), calling `set` on the map at
/// its end. `name[]` segments visit every element of a list.
pub(crate) fn apply(node: &mut Node, spec: &FieldSpec, set: &mut dyn FnMut(&mut Node)) {
    if !selected(node, spec) {
        return;
    }
    let segments: Vec<&str> = spec.path.split('/').filter(|s| !s.is_empty()).collect();
    walk(node, &segments, spec.create, set);
}

fn walk(node: &mut Node, segments: &[&str], create: bool, set: &mut dyn FnMut(&mut Node)) {
    let Some((first, rest)) = segments.split_first() else {
        if node.kind == Kind::Mapping {
            set(node);
        }
        return;
    };
    if node.kind != Kind::Mapping {
        return;
    }
    if let Some(list_field) = first.strip_suffix("[]") {
        if let Some(list) = node.get_mut(list_field).filter(|l| l.kind == Kind::Sequence) {
            for item in list.content.iter_mut() {
                walk(item, rest, create, set);
            }
        }
        return;
    }
    match node.field_index(first) {
        Some(idx) => {
            let child = &mut node.content[idx + 1];
            if child.is_null() {
                if !create {
                    return;
                }
                *child = Node::mapping();
            }
            walk(child, rest, create, set);
        }
        None => {
            if !create {
                return;
            }
            node.content.push(Node::string_key(first));
            node.content.push(Node::mapping());
            let idx = node.content.len() - 1;
            walk(&mut node.content[idx], rest, create, set);
        }
    }
}

/// kustomize `filtersutil.SetEntry(key, value, !!str)`: a FieldSetter with `OverrideStyle`.
pub(crate) fn set_entry(map: &mut Node, key: &str, value: &str) {
    let mut new = Node::string(value);
    if crate::yaml::is_yaml11_non_string(value) {
        new.style = Style::DOUBLE_QUOTED;
    }
    match map.field_index(key) {
        Some(idx) => {
            if map.content[idx + 1].style.0 == 0 {
                new.style = Style::default();
            }
            map.content[idx + 1] = new;
        }
        None => {
            map.content.push(Node::string_key(key));
            map.content.push(new);
        }
    }
}
