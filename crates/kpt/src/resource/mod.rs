//! KRM resource identity: group, kind, namespace and name, the `# kpt-merge: <ns>/<name>`
//! comment that `kpt pkg get` puts on `metadata:` so that renamed resources can still be
//! matched with their upstream originals, and the `internal.kpt.dev/upstream-identifier`
//! annotation that replaces it.

use std::{collections::BTreeMap, fmt};

use veranda_yaml::{
    Node, Style,
    stream::{self, Document},
};

use crate::Files;

/// Annotation with the upstream identity of a resource: `<group>|<Kind>|<namespace>|<name>`.
pub const UPSTREAM_IDENTIFIER: &str = "internal.kpt.dev/upstream-identifier";

/// Prefix of the line comment on `metadata:` that records the upstream namespace and name.
pub const MERGE_COMMENT_PREFIX: &str = "kpt-merge:";

/// Identity of a resource: API group (not version), kind, namespace and name.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ResId {
    /// The API group (`apps`; empty for the core group).
    pub group: String,
    /// The kind (`Deployment`).
    pub kind: String,
    /// `metadata.namespace`, empty when unset.
    pub namespace: String,
    /// `metadata.name`.
    pub name: String,
}

impl ResId {
    /// The identity a resource declares in `apiVersion`, `kind` and `metadata`.
    pub fn of(root: &Node) -> ResId {
        ResId {
            group: group_of(root.str_at(&["apiVersion"]).unwrap_or_default()).to_string(),
            kind: root.str_at(&["kind"]).unwrap_or_default().to_string(),
            namespace: root.str_at(&["metadata", "namespace"]).unwrap_or_default().to_string(),
            name: root.str_at(&["metadata", "name"]).unwrap_or_default().to_string(),
        }
    }

    /// The identity used to match a resource with its upstream versions: namespace and name
    /// come from the `# kpt-merge:` comment when there is one.
    pub fn for_merge(root: &Node) -> ResId {
        let mut id = ResId::of(root);
        if let Some((namespace, name)) = merge_comment(root) {
            id.namespace = namespace;
            id.name = name;
        }
        id
    }

    /// The value of the upstream-identifier annotation for this identity.
    pub fn upstream_identifier(&self) -> String {
        let namespace = if self.namespace.is_empty() { "default" } else { &self.namespace };
        format!("{}|{}|{}|{}", self.group, self.kind, namespace, self.name)
    }
}

impl fmt::Display for ResId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let group = if self.group.is_empty() { String::new() } else { format!("{}/", self.group) };
        if self.namespace.is_empty() {
            write!(f, "{group}{}/{}", self.kind, self.name)
        } else {
            write!(f, "{group}{}/{}/{}", self.kind, self.namespace, self.name)
        }
    }
}

/// The API group of an `apiVersion` (`apps/v1` → `apps`, `v1` → ``).
pub fn group_of(api_version: &str) -> &str {
    match api_version.rsplit_once('/') {
        Some((group, _)) => group,
        None => "",
    }
}

/// Namespace and name from a `# kpt-merge: <ns>/<name>` comment on `metadata:`.
///
/// kpt also wrote the old form `# kpt-merge: <name>` (still in Porch's testdata), on which
/// kpt 1.0.0-beta.56 panics; it is read here as an empty namespace and that name.
pub fn merge_comment(root: &Node) -> Option<(String, String)> {
    let comment = &root.key("metadata")?.line_comment;
    if comment.is_empty() {
        return None;
    }
    parse_merge_comment(comment)
}

/// Parses the text of a `# kpt-merge:` comment.
pub fn parse_merge_comment(comment: &str) -> Option<(String, String)> {
    let rest = comment.trim_start_matches('#').trim().strip_prefix(MERGE_COMMENT_PREFIX)?.trim();
    match rest.split_once('/') {
        Some((namespace, name)) => Some((namespace.to_string(), name.to_string())),
        None if !rest.is_empty() => Some((String::new(), rest.to_string())),
        None => None,
    }
}

/// Whether a path names a file kpt reads resources from (`*.yaml`, `*.yml`).
pub fn is_yaml_path(path: &str) -> bool {
    let base = path.rsplit('/').next().unwrap_or(path);
    base.ends_with(".yaml") || base.ends_with(".yml")
}

/// Parses a YAML file into its documents with their aliases expanded, which is how the merge,
/// the upgrade and the Kptfile model read files; every document keeps its source text, so an
/// untouched one is written back byte for byte ([`stream::write_stream`]).
pub(crate) fn parse_yaml(text: &str) -> Result<Vec<Document>, veranda_yaml::Error> {
    let mut docs = stream::parse_stream(text)?;
    for doc in &mut docs {
        doc.expand_aliases()?;
    }
    Ok(docs)
}

/// Adds the `# kpt-merge:` comment and the upstream-identifier annotation to every resource of
/// every YAML file that lacks them, as kpt does after `pkg get` and `pkg update` and Porch after
/// clone and upgrade. Files that do not parse are left alone (kpt does this best effort too);
/// documents without name, namespace and labels are not resources and are skipped.
pub fn add_upstream_identifiers(files: &Files) -> Files {
    with_upstream_identifiers(files).0
}

/// [`add_upstream_identifiers`], also returning the parsed documents of the YAML files (as
/// they are in the returned files), so that callers need not parse them again.
pub(crate) fn with_upstream_identifiers(files: &Files) -> (Files, BTreeMap<String, Vec<Document>>) {
    let mut parsed = BTreeMap::new();
    let out = files
        .iter()
        .map(|(path, content)| {
            if !is_yaml_path(path) {
                return (path.clone(), content.clone());
            }
            let Some(mut docs) = std::str::from_utf8(content).ok().and_then(|t| parse_yaml(t).ok())
            else {
                return (path.clone(), content.clone());
            };
            let mut changed = false;
            for doc in &mut docs {
                changed |= add_merge_identity(doc);
            }
            let content =
                if changed { stream::write_stream(&docs).into_bytes() } else { content.clone() };
            parsed.insert(path.clone(), docs);
            (path.clone(), content)
        })
        .collect();
    (out, parsed)
}

/// Adds comment and annotation to one document; returns whether it changed.
pub(crate) fn add_merge_identity(doc: &mut Document) -> bool {
    let Some(root) = doc.root_mut() else { return false };
    if !root.is_mapping() {
        return false;
    }
    let id = ResId::of(root);
    let has_labels = root
        .lookup(&["metadata", "labels"])
        .is_some_and(|labels| labels.is_mapping() && !labels.content.is_empty());
    if id.name.is_empty() && id.namespace.is_empty() && !has_labels {
        return false;
    }
    let mut changed = false;
    let Some(metadata) = root.key_mut("metadata") else { return false };
    if !metadata.line_comment.contains(MERGE_COMMENT_PREFIX) {
        // kpt replaces any other line comment there; keep it on the line above instead.
        let other = std::mem::take(&mut metadata.line_comment);
        if !other.is_empty() {
            if !metadata.head_comment.is_empty() {
                metadata.head_comment.push('\n');
            }
            metadata.head_comment.push_str(&other);
        }
        metadata.line_comment = format!("# {MERGE_COMMENT_PREFIX} {}/{}", id.namespace, id.name);
        changed = true;
    }
    let merge_id = ResId::for_merge(root);
    let value = merge_id.upstream_identifier();
    let metadata = root.mapping_at("metadata");
    let annotations = metadata.mapping_at("annotations");
    if annotations.str_at(&[UPSTREAM_IDENTIFIER]) != Some(value.as_str()) {
        let mut node = Node::string(&value);
        node.style = Style::SINGLE_QUOTED;
        annotations.set(UPSTREAM_IDENTIFIER, node);
        changed = true;
    }
    if changed {
        doc.touch();
    }
    changed
}

#[cfg(test)]
mod tests;
