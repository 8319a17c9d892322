//! kyaml's `kio` layer as kpt uses it: reading package files into resources with the
//! `config.kubernetes.io/*` reader annotations, the `ResourceList` wire format, copying comments
//! and field order back from a function's input to its output, and writing resources back to
//! files by their path and index annotations.

use std::collections::BTreeMap;

use crate::yaml::{self, Kind, Node, SeqIndent, Style};

/// A package's files (veranda-kpt's file map, the one `Files` type).
pub use veranda_kpt::Files;

pub(crate) const PATH: &str = "internal.config.kubernetes.io/path";
pub(crate) const LEGACY_PATH: &str = "config.kubernetes.io/path";
pub(crate) const INDEX: &str = "internal.config.kubernetes.io/index";
pub(crate) const LEGACY_INDEX: &str = "config.kubernetes.io/index";
pub(crate) const ID: &str = "internal.config.kubernetes.io/id";
pub(crate) const LEGACY_ID: &str = "config.k8s.io/id";
pub(crate) const SEQ_INDENT: &str = "internal.config.kubernetes.io/seqindent";
pub(crate) const PACKAGE_PATH: &str = "internal.config.kubernetes.io/package-path";

/// Errors reading or writing package resources.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    #[error("{path}: {source}")]
    Yaml {
        path: String,
        #[source]
        source: yaml::Error,
    },
    #[error("{path}: invalid document separator: {separator}")]
    Separator { path: String, separator: String },
    #[error("{path}: {message}")]
    Invalid { path: String, message: String },
}

/// Splits a YAML stream the way kyaml's `ByteReader` does (on `\n---…\n`).
pub(crate) fn split_documents(text: &str) -> Result<Vec<String>, String> {
    let mut docs = Vec::new();
    if text.is_empty() {
        return Ok(docs);
    }
    let bytes = text.as_bytes();
    let mut prev = 0;
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\n' && text[i + 1..].starts_with("---") {
            // The separator runs to the end of the line and needs a terminating newline.
            if let Some(rel) = text[i + 1..].find('\n') {
                let end = i + 1 + rel + 1;
                let separator = &text[i..end];
                let after = separator[4..].trim();
                if !after.is_empty() && !after.starts_with('#') {
                    return Err(separator.trim().to_string());
                }
                docs.push(text[prev..i].to_string());
                prev = end;
                i = end;
                continue;
            }
        }
        i += 1;
    }
    docs.push(text[prev..].to_string());
    Ok(docs)
}

/// Options of [`read_stream`].
pub(crate) struct ReadOptions<'a> {
    /// Annotations set on every resource (kyaml sets them in sorted key order).
    pub(crate) annotations: Vec<(&'a str, String)>,
    /// Set the index and seqindent reader annotations.
    pub(crate) reader_annotations: bool,
    /// Unwrap a single `ResourceList`/`List`.
    pub(crate) unwrap: bool,
}

/// What a `ResourceList` carried besides its items.
#[derive(Default)]
pub(crate) struct Wrapper {
    pub(crate) function_config: Option<Node>,
    pub(crate) results: Option<Node>,
    pub(crate) wrapped: bool,
}

/// kyaml `ByteReader.Read`.
pub(crate) fn read_stream(
    text: &str,
    options: &ReadOptions<'_>,
) -> Result<(Vec<Node>, Wrapper), String> {
    let normalized = text.replace("\r\n", "\n");
    let mut values =
        split_documents(&normalized).map_err(|s| format!("invalid document separator: {s}"))?;
    let count = values.len();
    let mut output = Vec::new();
    let mut wrapper = Wrapper::default();
    let mut index = 0usize;
    for (i, value) in values.iter_mut().enumerate() {
        if i != count - 1 {
            value.push('\n');
        }
        let Some(mut node) =
            yaml::parse_document(value).map_err(|e| format!("MalformedYAMLError: {e}"))?
        else {
            continue;
        };
        if node.is_null() {
            continue;
        }
        let inner = node.inner();
        if options.unwrap
            && count == 1
            && inner.kind == Kind::Mapping
            && matches!(inner.kind_name(), "ResourceList" | "List")
            && (inner.get("items").is_some() || inner.get("functionConfig").is_some())
        {
            wrapper.wrapped = true;
            wrapper.function_config = inner.get("functionConfig").cloned();
            wrapper.results = inner.get("results").cloned();
            if let Some(items) = inner.get("items") {
                if items.kind == Kind::Sequence {
                    output.extend(items.content.iter().cloned());
                } else if !items.is_null() {
                    return Err("wrong node kind: expected SequenceNode for items".into());
                }
            }
            continue;
        }
        if inner.kind != Kind::Mapping {
            return Err(format!(
                "wrong node kind: expected MappingNode but got {:?}Node",
                inner.kind
            ));
        }
        let mut annotations = options.annotations.clone();
        if options.reader_annotations {
            copy_legacy_annotations(&mut node);
            annotations.push((INDEX, index.to_string()));
            annotations.push((LEGACY_INDEX, index.to_string()));
            if yaml::derive_seq_indent(value) == SeqIndent::Wide {
                annotations.push((SEQ_INDENT, "wide".into()));
            } else {
                annotations.push((SEQ_INDENT, "compact".into()));
            }
        }
        annotations.sort_by(|a, b| a.0.cmp(b.0));
        for (key, value) in &annotations {
            node.set_annotation(key, value);
        }
        output.push(node);
        index += 1;
    }
    Ok((output, wrapper))
}

/// kyaml `CopyLegacyAnnotations`.
pub(crate) fn copy_legacy_annotations(node: &mut Node) {
    for (legacy, new) in [(LEGACY_PATH, PATH), (LEGACY_INDEX, INDEX), (LEGACY_ID, ID)] {
        let new_value = node.annotation(new).unwrap_or("").to_string();
        let legacy_value = node.annotation(legacy).unwrap_or("").to_string();
        if !new_value.is_empty() {
            if legacy_value.is_empty() {
                node.set_annotation(legacy, &new_value);
            }
        } else if !legacy_value.is_empty() {
            node.set_annotation(new, &legacy_value);
        }
    }
}

/// Path and index annotations (new keys first, legacy as fallback).
pub(crate) fn file_annotations(node: &Node) -> (String, String) {
    let path =
        node.annotation(PATH).or_else(|| node.annotation(LEGACY_PATH)).unwrap_or("").to_string();
    let index =
        node.annotation(INDEX).or_else(|| node.annotation(LEGACY_INDEX)).unwrap_or("").to_string();
    (path, index)
}

/// `<namespace>/<kind>_<name>.yaml`, kyaml's default file for a resource without a path.
fn default_path(node: &Node) -> String {
    let file = format!("{}_{}.yaml", node.kind_name().to_lowercase(), node.name());
    let namespace = node.namespace();
    if namespace.is_empty() { file } else { format!("{namespace}/{file}") }
}

/// kyaml `DefaultPathAnnotation`.
pub(crate) fn default_path_annotation(nodes: &mut [Node]) {
    for node in nodes.iter_mut() {
        copy_legacy_annotations(node);
        if node.annotation(PATH).is_some() {
            continue;
        }
        let path = default_path(node);
        node.set_annotation(PATH, &path);
        node.set_annotation(LEGACY_PATH, &path);
    }
}

/// kyaml `DefaultPathAndIndexAnnotation`.
fn default_path_and_index_annotation(nodes: &mut [Node]) {
    let mut counts: BTreeMap<String, i64> = BTreeMap::new();
    for node in nodes.iter_mut() {
        copy_legacy_annotations(node);
        if let Some(path) = node.annotation(PATH).map(str::to_string) {
            if let Some(index) = node.annotation(INDEX) {
                let index: i64 = index.parse().unwrap_or(0);
                let entry = counts.entry(path).or_insert(0);
                if index > *entry {
                    *entry = index;
                }
            }
            continue;
        }
        let path = default_path(node);
        node.set_annotation(PATH, &path);
        node.set_annotation(LEGACY_PATH, &path);
    }
    for node in nodes.iter_mut() {
        if node.annotation(INDEX).is_some() {
            continue;
        }
        let path = node.annotation(PATH).unwrap_or("").to_string();
        let entry = counts.entry(path).or_insert(0);
        let c = *entry;
        *entry = c + 1;
        node.set_annotation(INDEX, &c.to_string());
        node.set_annotation(LEGACY_INDEX, &c.to_string());
    }
}

/// kyaml `LocalPackageWriter.Write` into a file map: groups resources by path, orders them by
/// index, clears the reader annotations and encodes each file.
pub(crate) fn write_files(mut nodes: Vec<Node>) -> Result<Files, Error> {
    default_path_and_index_annotation(&mut nodes);
    let mut by_path: BTreeMap<String, Vec<Node>> = BTreeMap::new();
    for node in nodes {
        let path = node.annotation(PATH).unwrap_or("").to_string();
        if path.is_empty() {
            return Err(Error::Invalid {
                path: String::new(),
                message: format!("resources must be annotated with {PATH} to be written to files"),
            });
        }
        if path.starts_with('/') || clean_path(&path).split('/').any(|c| c == "..") {
            return Err(Error::Invalid {
                path: path.clone(),
                message: "resource must be written under the package".into(),
            });
        }
        by_path.entry(clean_path(&path)).or_default().push(node);
    }
    let mut files = Files::new();
    for (path, mut group) in by_path {
        group
            .sort_by_key(|n| n.annotation(INDEX).and_then(|i| i.parse::<i64>().ok()).unwrap_or(-1));
        let content = encode_file(&path, group)
            .map_err(|source| Error::Yaml { path: path.clone(), source })?;
        files.insert(path, content.into_bytes());
    }
    Ok(files)
}

/// kyaml `ByteWriter.Write` for one file (reader annotations cleared).
fn encode_file(path: &str, mut nodes: Vec<Node>) -> Result<String, yaml::Error> {
    let seq_indents: Vec<SeqIndent> = nodes
        .iter()
        .map(|n| {
            if n.annotation(SEQ_INDENT) == Some("wide") {
                SeqIndent::Wide
            } else {
                SeqIndent::Compact
            }
        })
        .collect();
    for node in nodes.iter_mut() {
        for key in [INDEX, LEGACY_INDEX, SEQ_INDENT, PATH, LEGACY_PATH] {
            node.clear_annotation(key);
        }
        node.clear_empty_annotations();
    }
    if nodes.len() == 1 && path.ends_with(".json") {
        let value = nodes[0].to_json();
        let mut text =
            serde_json::to_string_pretty(&value).map_err(|e| yaml::Error::Other(e.to_string()))?;
        text.push('\n');
        return Ok(text);
    }
    let refs: Vec<&Node> = nodes.iter().collect();
    yaml::emit_with_styles(&refs, &seq_indents)
}

/// `path.Clean` for relative slash paths.
pub(crate) fn clean_path(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if parts.last().is_some_and(|p| *p != "..") {
                    parts.pop();
                } else {
                    parts.push("..");
                }
            }
            other => parts.push(other),
        }
    }
    if parts.is_empty() { ".".into() } else { parts.join("/") }
}

/// kyaml `ByteWriter` with a `ResourceList` wrapper (reader annotations kept).
pub(crate) fn encode_resource_list(
    items: &[Node],
    function_config: Option<&Node>,
) -> Result<String, yaml::Error> {
    let mut list = Node::mapping();
    list.content.push(Node::string_key("apiVersion"));
    list.content.push(plain("config.kubernetes.io/v1"));
    list.content.push(Node::string_key("kind"));
    list.content.push(plain("ResourceList"));
    list.content.push(Node::string_key("items"));
    let mut seq = Node::sequence();
    for item in items {
        let mut copy = item.clone();
        copy.clear_empty_annotations();
        seq.content.push(copy.inner().clone());
    }
    list.content.push(seq);
    if let Some(config) = function_config {
        list.content.push(Node::string_key("functionConfig"));
        list.content.push(config.inner().clone());
    }
    yaml::emit(&[&Node::document(list)], SeqIndent::Compact)
}

fn plain(value: &str) -> Node {
    Node { kind: Kind::Scalar, value: value.into(), ..Node::default() }
}

/// Copies comments from a function's input resource to its output (kyaml `CopyComments`),
/// restores the input's field order (`SyncOrder`).
pub(crate) fn copy_comments_and_sync_order(from: &Node, to: &mut Node) {
    copy_field_comments(from, to);
    copy_comments(from.inner(), to.inner_mut());
    sync_order(from.inner(), to.inner_mut());
    rearrange_head_comment_of_seq_node(to);
}

fn copy_field_comments(from: &Node, to: &mut Node) {
    if to.line_comment.is_empty() {
        to.line_comment = from.line_comment.clone();
    }
    if to.head_comment.is_empty() {
        to.head_comment = from.head_comment.clone();
    }
    if to.foot_comment.is_empty() {
        to.foot_comment = from.foot_comment.clone();
    }
}

fn copy_comments(from: &Node, to: &mut Node) {
    match (from.kind, to.kind) {
        (Kind::Mapping, Kind::Mapping) => {
            let mut i = 0;
            while i + 1 < to.content.len() {
                let key = to.content[i].value.clone();
                if let Some(fi) = from.field_index(&key) {
                    copy_field_comments(&from.content[fi], &mut to.content[i]);
                    let from_value = &from.content[fi + 1];
                    let to_value = &mut to.content[i + 1];
                    visit(from_value, to_value);
                } else {
                    fold_to_double(&mut to.content[i + 1]);
                }
                i += 2;
            }
        }
        (Kind::Sequence, Kind::Sequence) => {
            let n = from.content.len().min(to.content.len());
            for i in 0..n {
                if from.content[i].value == to.content[i].value {
                    let from_item = &from.content[i];
                    let to_item = &mut to.content[i];
                    copy_field_comments(from_item, to_item);
                    visit(from_item, to_item);
                }
            }
        }
        _ => {}
    }
}

fn visit(from: &Node, to: &mut Node) {
    if to.kind == Kind::Scalar {
        if to.style.has(Style::FOLDED) {
            to.style = Style::DOUBLE_QUOTED;
        }
        copy_field_comments(from, to);
        return;
    }
    if from.kind == to.kind {
        copy_field_comments(from, to);
    }
    copy_comments(from, to);
}

/// Scalars reached only on the output side still go through the comment copier's scalar
/// visitor, which turns folded scalars into double-quoted ones.
fn fold_to_double(node: &mut Node) {
    match node.kind {
        Kind::Scalar if node.style.has(Style::FOLDED) => node.style = Style::DOUBLE_QUOTED,
        Kind::Mapping => {
            let mut i = 1;
            while i < node.content.len() {
                fold_to_double(&mut node.content[i]);
                i += 2;
            }
        }
        _ => {}
    }
}

fn sync_order(from: &Node, to: &mut Node) {
    match (from.kind, to.kind) {
        (Kind::Mapping, Kind::Mapping) => {
            if to.content.is_empty() || from.content.is_empty() {
                return;
            }
            if !needs_reorder(from, to) {
                let mut i = 0;
                while i + 1 < to.content.len() {
                    if let Some(fi) = from.field_index(&to.content[i].value) {
                        sync_order(&from.content[fi + 1], &mut to.content[i + 1]);
                    }
                    i += 2;
                }
                return;
            }
            let mut pairs: Vec<(Node, Node)> = Vec::new();
            let mut rest = std::mem::take(&mut to.content);
            for (fk, _) in from.entries() {
                if let Some(idx) = rest.chunks(2).position(|c| c[0].value == fk.value) {
                    let value = rest.remove(idx * 2 + 1);
                    let key = rest.remove(idx * 2);
                    pairs.push((key, value));
                }
            }
            let mut content = Vec::new();
            for (k, v) in pairs {
                content.push(k);
                content.push(v);
            }
            content.extend(rest);
            to.content = content;
            for (fk, fv) in from.entries() {
                if let Some(idx) = to.field_index(&fk.value) {
                    sync_order(fv, &mut to.content[idx + 1]);
                }
            }
        }
        (Kind::Sequence, Kind::Sequence) => {
            let n = from.content.len().min(to.content.len());
            for i in 0..n {
                sync_order(&from.content[i], &mut to.content[i]);
            }
        }
        _ => {}
    }
}

/// Whether `to`'s fields are not already in `from`'s order (fields unknown to `from` last).
fn needs_reorder(from: &Node, to: &Node) -> bool {
    let mut last_from_index = 0;
    let mut seen_new = false;
    let mut i = 0;
    while i + 1 < to.content.len() {
        match from.field_index(&to.content[i].value) {
            Some(fi) => {
                if seen_new || fi < last_from_index {
                    return true;
                }
                last_from_index = fi;
            }
            None => seen_new = true,
        }
        i += 2;
    }
    false
}

fn rearrange_head_comment_of_seq_node(node: &mut Node) {
    match node.kind {
        Kind::Document | Kind::Mapping => {
            for child in node.content.iter_mut() {
                rearrange_head_comment_of_seq_node(child);
            }
        }
        Kind::Sequence => {
            for item in node.content.iter_mut() {
                if !item.content.is_empty() && item.content[0].kind == Kind::Scalar {
                    if item.head_comment.is_empty() {
                        item.head_comment = item.content[0].head_comment.clone();
                        continue;
                    }
                    if !item.content[0].head_comment.is_empty() {
                        let extra = std::mem::take(&mut item.content[0].head_comment);
                        item.head_comment.push('\n');
                        item.head_comment.push_str(&extra);
                    }
                }
            }
        }
        _ => {}
    }
}

/// Orders paths the way Go's `filepath.Walk` visits them (lexically per directory level).
pub(crate) fn walk_order(a: &str, b: &str) -> std::cmp::Ordering {
    a.split('/').cmp(b.split('/'))
}

/// A `.krmignore` file: gitignore patterns relative to the package directory.
#[derive(Default)]
pub(crate) struct IgnoreRules {
    patterns: Vec<(String, bool, bool, bool)>,
}

impl IgnoreRules {
    pub(crate) fn parse(text: &str) -> IgnoreRules {
        let mut patterns = Vec::new();
        for line in text.lines() {
            let line = line.trim_end();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (negated, line) = match line.strip_prefix('!') {
                Some(rest) => (true, rest),
                None => (false, line),
            };
            let dir_only = line.ends_with('/');
            let line = line.trim_end_matches('/');
            let anchored = line.contains('/');
            let line = line.trim_start_matches('/');
            patterns.push((line.to_string(), negated, dir_only, anchored));
        }
        IgnoreRules { patterns }
    }

    /// Whether a file (path relative to the package) is ignored.
    pub(crate) fn ignored(&self, path: &str) -> bool {
        let parts: Vec<&str> = path.split('/').collect();
        let mut ignored = false;
        for (pattern, negated, dir_only, anchored) in &self.patterns {
            for end in 1..=parts.len() {
                let is_dir = end < parts.len();
                if *dir_only && !is_dir {
                    continue;
                }
                let matched = if *anchored {
                    glob_match(pattern, &parts[..end].join("/"))
                } else {
                    glob_match(pattern, parts[end - 1])
                };
                if matched {
                    ignored = !negated;
                }
            }
        }
        ignored
    }
}

/// Shell-style glob (`*`, `?`, `**`) matching.
pub(crate) fn glob_match(pattern: &str, text: &str) -> bool {
    fn inner(p: &[u8], t: &[u8]) -> bool {
        if p.is_empty() {
            return t.is_empty();
        }
        if p.starts_with(b"**") {
            let rest = p[2..].strip_prefix(b"/").unwrap_or(&p[2..]);
            return (0..=t.len()).any(|i| inner(rest, &t[i..]));
        }
        match p[0] {
            b'*' => (0..=t.len())
                .take_while(|&i| i == 0 || t[i - 1] != b'/')
                .any(|i| inner(&p[1..], &t[i..])),
            b'?' => !t.is_empty() && t[0] != b'/' && inner(&p[1..], &t[1..]),
            c => !t.is_empty() && t[0] == c && inner(&p[1..], &t[1..]),
        }
    }
    inner(pattern.as_bytes(), text.as_bytes())
}
