//! Comment healing for `PUT packagerevisionresources` (porch.md §3.3): clients such as
//! kubectl or UIs round-trip resources through JSON and drop YAML comments; the comments of a
//! resource are restored from the previous version of the same resource (same apiVersion,
//! kind, namespace and name), like kyaml's `comments.CopyComments`: a comment is copied where
//! the new node has none. ytt templates (`#@`, `#!`) are left alone since their comments are
//! code. This works on veranda-yaml's go-yaml nodes directly, as kyaml does.

use std::collections::HashMap;

use veranda_yaml::{
    Kind, Node,
    stream::{self, Document},
};

use crate::{Files, resource::is_yaml_path};

type Identity = (String, String, String, String);

/// Restores comments that `new` lost relative to `previous`; files that gain nothing keep
/// their bytes.
pub fn heal_comments(previous: &Files, new: &Files) -> Files {
    let mut old: HashMap<Identity, Node> = HashMap::new();
    for (path, content) in previous {
        for doc in parse_yaml(path, content).unwrap_or_default() {
            if let Some(id) = doc.root().and_then(identity)
                && let Some(node) = doc.node
            {
                old.entry(id).or_insert(node);
            }
        }
    }
    new.iter()
        .map(|(path, content)| {
            let Some(mut docs) = parse_yaml(path, content) else {
                return (path.clone(), content.clone());
            };
            let mut changed = false;
            for doc in &mut docs {
                let Some(previous) = doc.root().and_then(identity).and_then(|id| old.get(&id))
                else {
                    continue;
                };
                if let Some(node) = doc.node.as_mut()
                    && copy_comments(previous, node)
                {
                    doc.touch();
                    changed = true;
                }
            }
            let content =
                if changed { stream::write_stream(&docs).into_bytes() } else { content.clone() };
            (path.clone(), content)
        })
        .collect()
}

fn parse_yaml(path: &str, content: &[u8]) -> Option<Vec<Document>> {
    if !is_yaml_path(path) {
        return None;
    }
    let text = std::str::from_utf8(content).ok()?;
    if text.contains("#@") || text.contains("#!") {
        return None;
    }
    stream::parse_stream(text).ok()
}

fn identity(root: &Node) -> Option<Identity> {
    let s = |path: &[&str]| {
        let node = root.lookup(path).filter(|n| n.kind == Kind::Scalar && !n.is_null());
        node.map(|n| n.value.clone()).unwrap_or_default()
    };
    let id =
        (s(&["apiVersion"]), s(&["kind"]), s(&["metadata", "namespace"]), s(&["metadata", "name"]));
    (!id.1.is_empty() && !id.3.is_empty()).then_some(id)
}

/// Copies the head, line and foot comments of `from` onto `to` where `to` has none.
fn copy_own_comments(from: &Node, to: &mut Node) -> bool {
    let mut changed = false;
    for (to, from) in [
        (&mut to.head_comment, &from.head_comment),
        (&mut to.line_comment, &from.line_comment),
        (&mut to.foot_comment, &from.foot_comment),
    ] {
        if to.trim().is_empty() && !from.trim().is_empty() {
            to.clone_from(from);
            changed = true;
        }
    }
    changed
}

/// Copies comments of `from` onto the nodes of `to` that have none; returns whether any was.
/// Mapping fields are matched by key, list items by `name` when every item has one, else by
/// position (as kyaml does for lists without keys).
fn copy_comments(from: &Node, to: &mut Node) -> bool {
    let mut changed = copy_own_comments(from, to);
    match (from.kind, to.kind) {
        (Kind::Document, Kind::Document) => {
            if let (Some(old), Some(new)) = (from.content.first(), to.content.first_mut()) {
                changed |= copy_comments(old, new);
            }
        }
        (Kind::Mapping, Kind::Mapping) => {
            for pair in to.content.chunks_mut(2) {
                let [key, value] = pair else { continue };
                let Some(idx) = from.field_index(&key.value) else { continue };
                changed |= copy_own_comments(&from.content[idx], key);
                if let Some(prev) = from.content.get(idx + 1) {
                    changed |= copy_comments(prev, value);
                }
            }
        }
        (Kind::Sequence, Kind::Sequence) => {
            let by_name = |n: &Node| n.get_str(&["name"]).map(str::to_string);
            let named = from.content.iter().chain(&to.content).all(|i| by_name(i).is_some());
            for (idx, item) in to.content.iter_mut().enumerate() {
                let prev = if named {
                    from.content.iter().find(|o| by_name(o) == by_name(item))
                } else {
                    from.content.get(idx)
                };
                if let Some(prev) = prev {
                    changed |= copy_comments(prev, item);
                }
            }
        }
        _ => {}
    }
    changed
}

#[cfg(test)]
mod tests;
