//! kpt's `kptfileutil.UpdateKptfile`: a three-way merge of the Kptfile sections a package owns
//! (labels, annotations, info, pipeline, inventory, status), with associative lists inferred
//! (functions without names are matched by image or exec, as kpt's synthetic
//! `_kpt-merge_<image>` names do). Name, namespace, upstream and upstreamLock stay local, except
//! that a subpackage takes `upstream`/`upstreamLock` from the new upstream.
//!
//! kpt round-trips the Kptfile through its Go type and loses comments and unknown fields; here
//! the local Kptfile is edited in place and keeps both, with its fields in the type's order as
//! kpt writes them.

use std::collections::BTreeSet;

use veranda_yaml::{
    Kind, Node, SeqIndent,
    stream::{self, Document},
};

use crate::{merge3, resource::parse_yaml};

const SECTIONS: &[&[&str]] = &[
    &["metadata", "labels"],
    &["metadata", "annotations"],
    &["info"],
    &["pipeline"],
    &["inventory"],
    &["status"],
];
const SYNTHETIC: &str = "_kpt-merge_";

/// Returns the merged Kptfile, or `None` when there is none to write.
pub(super) fn merge(
    local: Option<&[u8]>,
    original: Option<&[u8]>,
    updated: Option<&[u8]>,
    update_upstream: bool,
) -> Result<Option<Vec<u8>>, veranda_yaml::Error> {
    if local.is_none() && updated.is_none() {
        return Ok(None);
    }
    let parse = |content: Option<&[u8]>| -> Result<Option<Vec<Document>>, veranda_yaml::Error> {
        match content {
            None => Ok(None),
            Some(c) => {
                let text = String::from_utf8_lossy(c);
                parse_yaml(&text).map(Some)
            }
        }
    };
    let mut local_docs = parse(local)?.unwrap_or_default();
    let root_of = |docs: Option<Vec<Document>>| {
        docs.and_then(|d| d.into_iter().find_map(|d| d.node.and_then(|mut n| n.content.pop())))
            .filter(Node::is_mapping)
    };
    let original = root_of(parse(original)?);
    let updated = root_of(parse(updated)?);
    if local_docs.iter().all(|d| d.root().is_none()) {
        local_docs.push(Document::from_root(Node::mapping()));
        local_docs.retain(|d| d.root().is_some());
    }
    let Some(doc) = local_docs.iter_mut().find(|d| d.root().is_some_and(Node::is_mapping)) else {
        return Ok(local.map(<[u8]>::to_vec));
    };
    let Some(root) = doc.root_mut() else { return Ok(local.map(<[u8]>::to_vec)) };
    let before = root.clone();

    let mut views = [Some(view(root)), original.as_ref().map(view), updated.as_ref().map(view)];
    let synthetic = views.iter().flatten().all(functions_unnamed_and_unique);
    if synthetic {
        for v in views.iter_mut().flatten() {
            name_functions(v);
        }
    }
    let [dest, origin, upd] = views;
    let merged = merge3::merge(
        dest,
        origin.as_ref(),
        upd.as_ref(),
        merge3::Options { infer: true, comments: false },
    )
    .ok()
    .flatten();
    let mut merged = merged.unwrap_or_else(Node::mapping);
    if synthetic {
        unname_functions(&mut merged);
    }
    for path in SECTIONS {
        let value = merged
            .lookup(path)
            .filter(|v| !(v.is_mapping() && v.content.is_empty() && path[0] == "metadata"));
        let (parent, key) = match path {
            [key] => (&mut *root, *key),
            [parent, key] => {
                if value.is_none() && root.get(parent).is_none() {
                    continue;
                }
                (root.mapping_at(parent), *key)
            }
            _ => continue,
        };
        match value {
            Some(v) => {
                if !parent.get(key).is_some_and(|old| old.same(v, true)) {
                    parent.set(key, v.clone());
                }
            }
            None => {
                parent.remove(key);
            }
        }
    }
    if update_upstream && let Some(updated) = &updated {
        for key in ["upstream", "upstreamLock"] {
            if let Some(v) = updated.get(key) {
                root.set(key, v.clone());
            }
        }
    }
    if updated.is_some() {
        kpt_field_order(root);
    }
    if root.same(&before, true) {
        return Ok(local
            .map(<[u8]>::to_vec)
            .or_else(|| Some(stream::write_stream(&local_docs).into_bytes())));
    }
    doc.touch();
    doc.seq_indent = SeqIndent::Wide;
    Ok(Some(stream::write_stream(&local_docs).into_bytes()))
}

/// kpt writes a merged Kptfile through its Go type (`kptfileutil.WriteFile`), so the fields of
/// the type come in the type's order (`metadata` with `name`, `namespace`, `labels`,
/// `annotations`) even where the local file had them otherwise. Comments move with their
/// fields, and fields the type does not know (kpt drops them) stay, after the known ones.
fn kpt_field_order(root: &mut Node) {
    const TOP: &[&str] = &[
        "apiVersion",
        "kind",
        "metadata",
        "upstream",
        "upstreamLock",
        "info",
        "pipeline",
        "inventory",
        "status",
    ];
    const METADATA: &[&str] = &["name", "namespace", "labels", "annotations"];
    let order = |node: &mut Node, fields: &[&str]| {
        node.sort_fields_by_key(|key| {
            fields.iter().position(|f| *f == key).unwrap_or(fields.len())
        });
    };
    order(root, TOP);
    if let Some(metadata) = root.get_mut("metadata") {
        order(metadata, METADATA);
    }
}

/// The sections kpt merges, as one mapping.
fn view(root: &Node) -> Node {
    let mut out = Node::mapping();
    for path in SECTIONS {
        if let Some(v) = root.lookup(path) {
            match path {
                [key] => out.set(key, v.clone()),
                [parent, key] => out.mapping_at(parent).set(key, v.clone()),
                _ => {}
            }
        }
    }
    out
}

fn function_lists(view: &Node) -> impl Iterator<Item = &Node> {
    ["mutators", "validators"].into_iter().filter_map(move |k| view.lookup(&["pipeline", k]))
}

fn function_key(f: &Node) -> String {
    match f.str_at(&["exec"]).filter(|e| !e.is_empty()) {
        Some(exec) => exec.to_string(),
        None => f
            .str_at(&["image"])
            .unwrap_or_default()
            .split(':')
            .next()
            .unwrap_or_default()
            .to_string(),
    }
}

fn functions_unnamed_and_unique(view: &Node) -> bool {
    function_lists(view).all(|list| {
        let mut keys = BTreeSet::new();
        let items = if list.kind == Kind::Sequence { list.content.as_slice() } else { &[] };
        items.iter().all(|item| {
            item.str_at(&["name"]).is_none_or(str::is_empty) && keys.insert(function_key(item))
        })
    })
}

fn name_functions(view: &mut Node) {
    for k in ["mutators", "validators"] {
        if let Some(list) = view.get_mut("pipeline").and_then(|p| p.get_mut(k))
            && list.kind == Kind::Sequence
        {
            for item in &mut list.content {
                if item.is_mapping() {
                    let name = format!("{SYNTHETIC}{}", function_key(item));
                    item.set("name", Node::quoted_string(&name));
                }
            }
        }
    }
}

fn unname_functions(view: &mut Node) {
    for k in ["mutators", "validators"] {
        if let Some(list) = view.get_mut("pipeline").and_then(|p| p.get_mut(k))
            && list.kind == Kind::Sequence
        {
            for item in &mut list.content {
                if item.str_at(&["name"]).is_some_and(|n| n.starts_with(SYNTHETIC)) {
                    item.remove("name");
                }
            }
        }
    }
}
