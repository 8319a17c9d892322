//! Comment healing for `PUT packagerevisionresources` (porch.md §3.3): clients such as
//! kubectl or UIs round-trip resources through JSON and drop YAML comments; the comments of a
//! resource are restored from the previous version of the same resource (same apiVersion,
//! kind, namespace and name), like kyaml's `comments.CopyComments`: a comment is copied where
//! the new node has none. ytt templates (`#@`, `#!`) are left alone since their comments are
//! code.

use std::collections::HashMap;

use crate::{
    Files,
    resource::is_yaml_path,
    yaml::{self, Document, Node, Value},
};

type Identity = (String, String, String, String);

/// Restores comments that `new` lost relative to `previous`; files that gain nothing keep
/// their bytes.
pub fn heal_comments(previous: &Files, new: &Files) -> Files {
    let mut old: HashMap<Identity, Document> = HashMap::new();
    for (path, content) in previous {
        for doc in parse_yaml(path, content).unwrap_or_default() {
            if let Some(id) = doc.root.as_ref().and_then(identity) {
                old.entry(id).or_insert(doc);
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
                let Some(root) = doc.root.as_mut() else { continue };
                let Some(previous) = identity(root).and_then(|id| old.get(&id)) else { continue };
                let Some(previous_root) = &previous.root else { continue };
                let mut healed = copy_comments(previous_root, root);
                // Comments above the first key and after the last one are the document's.
                for (to, from) in [(&mut doc.head, &previous.head), (&mut doc.foot, &previous.foot)]
                {
                    if to.iter().all(String::is_empty) && from.iter().any(|l| !l.is_empty()) {
                        to.clone_from(from);
                        healed = true;
                    }
                }
                if healed {
                    doc.touch();
                    changed = true;
                }
            }
            let content =
                if changed { yaml::to_file_text(&docs).into_bytes() } else { content.clone() };
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
    yaml::parse(text).ok()
}

fn identity(root: &Node) -> Option<Identity> {
    let s = |path: &[&str]| root.str_at(path).unwrap_or_default().to_string();
    let id =
        (s(&["apiVersion"]), s(&["kind"]), s(&["metadata", "namespace"]), s(&["metadata", "name"]));
    (!id.1.is_empty() && !id.3.is_empty()).then_some(id)
}

/// Copies comments of `from` onto the nodes of `to` that have none; returns whether any was.
fn copy_comments(from: &Node, to: &mut Node) -> bool {
    let mut changed = false;
    if to.comment.is_none() && from.comment.is_some() {
        to.comment = from.comment.clone();
        changed = true;
    }
    for (to, from) in
        [(&mut to.head_comment, &from.head_comment), (&mut to.foot_comment, &from.foot_comment)]
    {
        if to.is_empty() && !from.is_empty() {
            to.clone_from(from);
            changed = true;
        }
    }
    match (&from.value, &mut to.value) {
        (Value::Mapping(old), Value::Mapping(new)) => {
            for entry in new.iter_mut() {
                let Some(prev) = old.iter().find(|e| e.key == entry.key) else { continue };
                if entry.head_comments().is_empty() && !prev.head_comments().is_empty() {
                    entry.head = prev.head.clone();
                    changed = true;
                }
                if entry.key_comment.is_none() && prev.key_comment.is_some() {
                    entry.key_comment = prev.key_comment.clone();
                    changed = true;
                }
                if entry.foot.iter().all(String::is_empty)
                    && prev.foot.iter().any(|l| !l.is_empty())
                {
                    entry.foot = prev.foot.clone();
                    changed = true;
                }
                changed |= copy_comments(&prev.value, &mut entry.value);
            }
        }
        (Value::Sequence(old), Value::Sequence(new)) => {
            let by_name = |n: &Node| n.str_at(&["name"]).map(str::to_string);
            let named = old.iter().chain(new.iter()).all(|i| by_name(&i.value).is_some());
            for (idx, item) in new.iter_mut().enumerate() {
                let prev = if named {
                    old.iter().find(|o| by_name(&o.value) == by_name(&item.value))
                } else {
                    // Positional, as kyaml does for lists without keys.
                    old.get(idx)
                };
                let Some(prev) = prev else { continue };
                if item.head.iter().all(String::is_empty) && prev.head.iter().any(|l| !l.is_empty())
                {
                    item.head = prev.head.clone();
                    changed = true;
                }
                changed |= copy_comments(&prev.value, &mut item.value);
            }
        }
        _ => {}
    }
    changed
}

#[cfg(test)]
mod tests;
