//! kpt package knowledge, pure and I/O free: the content `kpt pkg init` writes, reading a Kptfile,
//! and the Kptfile edits the engine makes (upstream locks, package metadata, readiness gates).
//!
//! Modules: [`kptfile`] (typed Kptfile), [`resource`] (KRM identity, `kpt-merge` comments,
//! upstream identifiers), [`upgrade`] (`kpt pkg update` strategies) with the three-way merge in
//! `merge3`, and comment healing ([`heal_comments`]), all on veranda-yaml's go-yaml nodes and
//! [`veranda_yaml::stream`] documents, as kpt works on kyaml's yaml.v3 nodes.
//! Every Kptfile read ([`read_kptfile`]) and edit (`set_upstream`, `set_upstream_ref`,
//! `set_package_metadata`, `set_status_conditions`) works on veranda-yaml's nodes, within its
//! parsing limits, and keeps the file's comments and layout.

mod heal;
pub mod kptfile;
pub(crate) mod merge3;
pub mod resource;
pub mod upgrade;

pub use heal::heal_comments;
pub use resource::add_upstream_identifiers;
pub use upgrade::{Error as UpgradeError, Strategy, upgrade};

use std::collections::BTreeMap;

use veranda_yaml::{Node, stream};

/// A package's files: path relative to the package root → content.
pub type Files = BTreeMap<String, Vec<u8>>;

/// Name of the package manifest file.
pub const KPTFILE: &str = "Kptfile";

/// Errors reading or editing a Kptfile.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid Kptfile: {0}")]
    Shape(String),
}

/// Parameters of `kpt pkg init`.
#[derive(Clone, Debug, Default)]
pub struct InitOptions {
    pub name: String,
    pub description: String,
    pub keywords: Vec<String>,
    pub site: String,
}

/// The files `kpt pkg init` creates (byte-identical with kpt 1.0.0-beta.56).
pub fn init_package(options: &InitOptions) -> Files {
    let name = &options.name;
    let mut kptfile = format!(
        "apiVersion: kpt.dev/v1\nkind: Kptfile\nmetadata:\n  name: {}\n  annotations:\n    config.kubernetes.io/local-config: \"true\"\n",
        yaml_scalar(name)
    );
    let mut info = String::new();
    if !options.site.is_empty() {
        info.push_str(&format!("  site: {}\n", yaml_scalar(&options.site)));
    }
    if !options.description.is_empty() {
        info.push_str(&format!("  description: {}\n", yaml_scalar(&options.description)));
    }
    if !options.keywords.is_empty() {
        info.push_str("  keywords:\n");
        for keyword in &options.keywords {
            info.push_str(&format!("  - {}\n", yaml_scalar(keyword)));
        }
    }
    if !info.is_empty() {
        kptfile.push_str("info:\n");
        kptfile.push_str(&info);
    }
    let readme = format!(
        "# {name}\n\n## Description\n{}\n\n## Usage\n\n### Fetch the package\n`kpt pkg get REPO_URI[.git]/PKG_PATH[@VERSION] {name}`\nDetails: https://kpt.dev/reference/cli/pkg/get/\n\n### View package content\n`kpt pkg tree {name}`\nDetails: https://kpt.dev/reference/cli/pkg/tree/\n\n### Apply the package\n```\nkpt live init {name}\nkpt live apply {name} --reconcile-timeout=2m --output=table\n```\nDetails: https://kpt.dev/reference/cli/live/\n",
        options.description
    );
    let context = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: kptfile.kpt.dev\n  annotations:\n    config.kubernetes.io/local-config: \"true\"\ndata:\n  name: example\n";
    Files::from([
        (KPTFILE.to_string(), kptfile.into_bytes()),
        ("README.md".to_string(), readme.into_bytes()),
        ("package-context.yaml".to_string(), context.as_bytes().to_vec()),
    ])
}

/// What the server reads out of a Kptfile.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct KptfileInfo {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    pub readiness_gates: Vec<String>,
    /// `status.conditions` as JSON objects (`type`, `status`, `reason`, `message`).
    pub conditions: Vec<serde_json::Value>,
    /// `upstreamLock.git` when the Kptfile has both `upstream.git` and `upstreamLock.git`.
    pub upstream_lock: Option<GitLock>,
}

/// A pinned Git location as written in `upstreamLock`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GitLock {
    pub repo: String,
    pub directory: String,
    pub reference: String,
    pub commit: String,
}

/// Reads the interesting parts of a Kptfile.
pub fn read_kptfile(content: &[u8]) -> Result<KptfileInfo, Error> {
    let root = parse_root(content)?;
    let mut info = KptfileInfo {
        name: root.get_str(&["metadata", "name"]).unwrap_or_default().to_owned(),
        labels: string_map(root.lookup(&["metadata", "labels"])),
        annotations: string_map(root.lookup(&["metadata", "annotations"])),
        ..KptfileInfo::default()
    };
    if let Some(gates) = root.lookup(&["info", "readinessGates"]) {
        info.readiness_gates = gates
            .content
            .iter()
            .filter_map(|g| g.get_str(&["conditionType"]).map(String::from))
            .collect();
    }
    if let Some(conditions) = root.lookup(&["status", "conditions"]) {
        info.conditions = conditions.content.iter().map(Node::to_json).collect();
    }
    if root.lookup(&["upstream", "git"]).is_some()
        && let Some(lock) = root.lookup(&["upstreamLock", "git"])
    {
        let field = |k: &str| lock.get_str(&[k]).unwrap_or_default().to_owned();
        info.upstream_lock = Some(GitLock {
            repo: field("repo"),
            directory: field("directory"),
            reference: field("ref"),
            commit: field("commit"),
        });
    }
    Ok(info)
}

/// The root mapping of a Kptfile's first non-empty document, aliases expanded, within
/// veranda-yaml's parsing limits.
fn parse_root(content: &[u8]) -> Result<Node, Error> {
    let text = std::str::from_utf8(content).map_err(|_| Error::Shape("not utf-8".into()))?;
    let docs = stream::parse_stream(text).map_err(|e| Error::Shape(e.to_string()))?;
    let mut root = docs
        .iter()
        .find_map(|d| d.root().filter(|r| !r.is_null()).cloned())
        .ok_or_else(|| Error::Shape("empty file".into()))?;
    if !root.is_mapping() {
        return Err(Error::Shape("top level must be a mapping".into()));
    }
    root.expand_aliases().map_err(|e| Error::Shape(e.to_string()))?;
    Ok(root)
}

/// Sets `upstream` and `upstreamLock` (type git) the way Porch does on clone and upgrade
/// (kpt's `kptops.UpdateUpstream`): `upstream` is `{type, git: {repo, directory, ref}}` and
/// nothing else, the repo gets a `.git` suffix, the directory loses its leading `/`; `name`, when given,
/// replaces `metadata.name`. Comments and the layout of the rest of the Kptfile are kept.
pub fn set_upstream(content: &[u8], name: Option<&str>, lock: &GitLock) -> Result<Vec<u8>, Error> {
    let repo =
        if lock.repo.ends_with(".git") { lock.repo.clone() } else { format!("{}.git", lock.repo) };
    let directory = lock.directory.trim_start_matches('/').to_string();
    edit_kptfile(content, |root| {
        if let Some(name) = name {
            mapping_at(root, "metadata").set("name", string(name));
        }
        let mut git = Node::mapping();
        git.set("repo", string(&repo));
        git.set("directory", string(&directory));
        git.set("ref", string(&lock.reference));
        let mut upstream = Node::mapping();
        upstream.set("type", string("git"));
        // Porch writes no `updateStrategy` (kpt's CLI does): an upgrade names its strategy.
        upstream.set("git", git.clone());
        git.set("commit", string(&lock.commit));
        let mut upstream_lock = Node::mapping();
        upstream_lock.set("type", string("git"));
        upstream_lock.set("git", git);
        insert_after(root, "upstream", upstream, "metadata");
        insert_after(root, "upstreamLock", upstream_lock, "upstream");
    })
}

/// Moves `upstream` and `upstreamLock` to a new version the way `kpt pkg update` does: the
/// repo and directory stay, `ref` (both) and `commit` change, and `updateStrategy` is set when
/// a strategy is given. Comments and layout are kept.
pub fn set_upstream_ref(
    content: &[u8],
    reference: &str,
    commit: &str,
    strategy: Option<upgrade::Strategy>,
) -> Result<Vec<u8>, Error> {
    edit_kptfile(content, |root| {
        let upstream = mapping_at(root, "upstream");
        let git = mapping_at(upstream, "git").clone();
        mapping_at(upstream, "git").set("ref", string(reference));
        if let Some(strategy) = strategy {
            upstream.set("updateStrategy", string(strategy.as_str()));
        }
        let lock = mapping_at(root, "upstreamLock");
        if lock.get("type").is_none() {
            lock.set("type", string("git"));
        }
        let lock_git = mapping_at(lock, "git");
        for key in ["repo", "directory"] {
            if lock_git.get(key).is_none()
                && let Some(v) = git.get(key)
            {
                lock_git.set(key, v.clone());
            }
        }
        lock_git.set("ref", string(reference));
        lock_git.set("commit", string(commit));
    })
}

/// Applies `edit` to the Kptfile's root mapping (veranda-yaml nodes); the text is re-emitted
/// only if it changed.
fn edit_kptfile(content: &[u8], edit: impl FnOnce(&mut Node)) -> Result<Vec<u8>, Error> {
    let text = std::str::from_utf8(content).map_err(|_| Error::Shape("not utf-8".into()))?;
    let mut docs = stream::parse_stream(text).map_err(|e| Error::Shape(e.to_string()))?;
    let doc = docs
        .iter_mut()
        .find(|d| d.root().is_some_and(|r| !r.is_null()))
        .ok_or_else(|| Error::Shape("empty file".into()))?;
    let root = doc.root_mut().ok_or_else(|| Error::Shape("empty file".into()))?;
    if !root.is_mapping() {
        return Err(Error::Shape("top level must be a mapping".into()));
    }
    let before = root.clone();
    edit(root);
    if same(root, &before) {
        return Ok(content.to_vec());
    }
    doc.touch();
    Ok(stream::write_stream(&docs).into_bytes())
}

/// A string scalar; YAML 1.1 booleans (`yes`, `on`) are double-quoted, the emitter quotes
/// whatever else would not read back as a string.
fn string(text: &str) -> Node {
    let mut node = Node::string(text);
    if veranda_yaml::yaml11::is_old_boolean(text) {
        node.style = veranda_yaml::Style::DOUBLE_QUOTED;
    }
    node
}

/// The mapping under `key`, created (or replacing a non-mapping) when needed.
fn mapping_at<'a>(node: &'a mut Node, key: &str) -> &'a mut Node {
    if !node.get(key).is_some_and(Node::is_mapping) {
        node.set(key, Node::mapping());
    }
    let idx = node.field_index(key).map_or(0, |i| i + 1);
    &mut node.content[idx]
}

/// Sets a field; a new one is inserted right after `after` (or appended).
fn insert_after(node: &mut Node, key: &str, value: Node, after: &str) {
    if node.get(key).is_some() {
        node.set(key, value);
        return;
    }
    let at = node.field_index(after).map_or(node.content.len(), |i| i + 2);
    node.content.insert(at, value);
    node.content.insert(at, Node::string_key(key));
}

/// Structural equality of go-yaml nodes: kinds, values, resolved tags and comments; styles and
/// source positions are ignored.
fn same(a: &Node, b: &Node) -> bool {
    a.kind == b.kind
        && a.value == b.value
        && a.tag == b.tag
        && a.head_comment == b.head_comment
        && a.line_comment == b.line_comment
        && a.foot_comment == b.foot_comment
        && a.content.len() == b.content.len()
        && a.content.iter().zip(&b.content).all(|(x, y)| same(x, y))
}

/// A condition of the Kptfile's `status.conditions`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Condition {
    pub condition_type: String,
    /// `True`, `False` or `Unknown`.
    pub status: String,
    pub reason: String,
    pub message: String,
}

/// Makes the Kptfile's `status.conditions` the `desired` set, as Porch's `PatchKptfile`: a
/// condition already there keeps its place and takes the desired status, reason and message
/// (an empty reason or message is removed), one not desired is removed, new ones are appended
/// (in the order given). `None` when nothing changes; comments and layout are kept.
pub fn set_status_conditions(
    content: &[u8],
    desired: &[Condition],
) -> Result<Option<Vec<u8>>, Error> {
    let before = content.to_vec();
    let after = edit_kptfile(content, |root| {
        let existing: Vec<Node> = root
            .lookup(&["status", "conditions"])
            .map(|seq| seq.content.clone())
            .unwrap_or_default();
        let mut conditions = Vec::new();
        let mut placed = Vec::new();
        for mut node in existing {
            let kind = node.get_str(&["type"]).unwrap_or_default().to_owned();
            let Some(wanted) = desired.iter().find(|c| c.condition_type == kind) else { continue };
            write_condition(&mut node, wanted);
            placed.push(kind);
            conditions.push(node);
        }
        for wanted in desired.iter().filter(|c| !placed.contains(&c.condition_type)) {
            let mut node = Node::mapping();
            node.set("type", string(&wanted.condition_type));
            write_condition(&mut node, wanted);
            conditions.push(node);
        }
        let unchanged = root.lookup(&["status", "conditions"]).is_none() && conditions.is_empty();
        if unchanged {
            return;
        }
        let status = mapping_at(root, "status");
        if conditions.is_empty() {
            status.remove("conditions");
        } else {
            let mut seq = Node::sequence();
            seq.content = conditions;
            status.set("conditions", seq);
        }
        if status.content.is_empty() {
            root.remove("status");
        }
    })?;
    Ok((after != before).then_some(after))
}

fn write_condition(node: &mut Node, wanted: &Condition) {
    node.set("status", Node::quoted_string(&wanted.status));
    for (key, value) in [("reason", &wanted.reason), ("message", &wanted.message)] {
        if value.is_empty() {
            node.remove(key);
        } else {
            node.set(key, string(value));
        }
    }
}

/// How package metadata from the API is written into the Kptfile.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MetadataMode {
    /// Add or overwrite keys (create).
    Merge,
    /// Replace the label and annotation maps (update of a Draft).
    Replace,
}

/// Writes labels, annotations and readiness gates into the Kptfile; `None` when nothing changes.
pub fn set_package_metadata(
    content: &[u8],
    labels: &BTreeMap<String, String>,
    annotations: &BTreeMap<String, String>,
    readiness_gates: Option<&[String]>,
    mode: MetadataMode,
) -> Result<Option<Vec<u8>>, Error> {
    let before = read_kptfile(content)?;
    let merged = |old: &BTreeMap<String, String>, new: &BTreeMap<String, String>| match mode {
        MetadataMode::Merge => {
            let mut out = old.clone();
            out.extend(new.iter().map(|(k, v)| (k.clone(), v.clone())));
            out
        }
        MetadataMode::Replace => {
            // The Kptfile's own local-config annotation is not the user's to remove.
            new.clone()
        }
    };
    let new_labels = merged(&before.labels, labels);
    let mut new_annotations = merged(&before.annotations, annotations);
    if mode == MetadataMode::Replace
        && let Some(v) = before.annotations.get("config.kubernetes.io/local-config")
    {
        new_annotations
            .entry("config.kubernetes.io/local-config".into())
            .or_insert_with(|| v.clone());
    }
    let gates_change = readiness_gates.is_some_and(|g| g != before.readiness_gates.as_slice());
    if new_labels == before.labels && new_annotations == before.annotations && !gates_change {
        return Ok(None);
    }
    let edited = edit_kptfile(content, |root| {
        let metadata = mapping_at(root, "metadata");
        set_string_map(metadata, "labels", &new_labels);
        set_string_map(metadata, "annotations", &new_annotations);
        if let Some(gates) = readiness_gates.filter(|_| gates_change) {
            let info = mapping_at(root, "info");
            if gates.is_empty() {
                info.remove("readinessGates");
            } else {
                let mut seq = Node::sequence();
                seq.content = gates
                    .iter()
                    .map(|g| {
                        let mut gate = Node::mapping();
                        gate.set("conditionType", string(g));
                        gate
                    })
                    .collect();
                info.set("readinessGates", seq);
            }
        }
    })?;
    Ok(Some(edited))
}

/// Replaces the string map `key` of `parent` (keys in order); an empty map removes it.
fn set_string_map(parent: &mut Node, key: &str, map: &BTreeMap<String, String>) {
    if map.is_empty() {
        parent.remove(key);
        return;
    }
    if string_map(parent.get(key)) == *map {
        return;
    }
    let mut node = Node::mapping();
    for (k, v) in map {
        node.set(k, string(v));
    }
    parent.set(key, node);
}

/// The scalar entries of a mapping node, as text.
fn string_map(node: Option<&Node>) -> BTreeMap<String, String> {
    let Some(node) = node.filter(|n| n.is_mapping()) else { return BTreeMap::new() };
    node.entries()
        .filter(|(_, v)| v.as_str().is_some() && !v.reads_as_null())
        .map(|(k, v)| (k.value.clone(), v.value.clone()))
        .collect()
}

/// Quotes a scalar when plain YAML would change its meaning.
fn yaml_scalar(s: &str) -> String {
    let plain_ok = !s.is_empty()
        && !s.starts_with(|c: char| "-?:,[]{}#&*!|>'\"%@` ".contains(c))
        && !s.contains(": ")
        && !s.contains(" #")
        && !s.ends_with(':')
        && !s.ends_with(' ')
        && Node::scalar(s).reads_as_string();
    if plain_ok { s.to_string() } else { serde_json::to_string(s).unwrap_or_default() }
}

#[cfg(test)]
mod tests;
