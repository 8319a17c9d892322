//! The tree of this module as a view of veranda-yaml's go-yaml nodes: a file is read with
//! [`veranda_yaml::stream`] (documents split at `---` lines, so that an untouched document
//! keeps its text) and its nodes regrouped into entries and items; a changed document is turned
//! back into go-yaml nodes and written by the go-yaml emitter, as kyaml writes it. Every comment go-yaml keeps (head, line and foot comments of keys, values and
//! items) survives the round trip; aliases are expanded, within the port's budget.

use std::collections::HashMap;

use veranda_yaml::{Kind, SeqIndent};

use super::{Document, Entry, Error, Item, Node, Style, Value};

/// Parses a file into its documents.
pub fn parse(text: &str) -> Result<Vec<Document>, Error> {
    let docs = veranda_yaml::stream::parse_stream(text).map_err(|e| match e {
        veranda_yaml::Error::Limit { line, message } => Error::Limit { line, message },
        veranda_yaml::Error::Syntax { line, message } => Error::Syntax { line, message },
        veranda_yaml::Error::Other(message) => Error::Syntax { line: 0, message },
    })?;
    docs.into_iter().map(view).collect()
}

fn view(doc: veranda_yaml::stream::Document) -> Result<Document, Error> {
    let raw = doc.raw.unwrap_or_default();
    let mut out = Document {
        separator: doc.separator,
        root: None,
        head: Vec::new(),
        foot: Vec::new(),
        raw: None,
        indent: 2,
        wide_sequences: doc.seq_indent == SeqIndent::Wide,
    };
    match doc.node {
        None => {
            // Only comments (or nothing): they are kept as the document's head.
            out.head = raw
                .lines()
                .map(str::trim)
                .filter(|l| l.starts_with('#'))
                .map(String::from)
                .collect();
        }
        Some(node) => {
            out.head = lines(&node.head_comment);
            out.foot = lines(&node.foot_comment);
            let mut anchors = HashMap::new();
            out.root = match node.content.first() {
                Some(root) => Some(from_yaml(root, &mut anchors, 0)?.0),
                None => None,
            };
        }
    }
    out.raw = Some(raw);
    Ok(out)
}

fn lines(comment: &str) -> Vec<String> {
    if comment.is_empty() { Vec::new() } else { comment.split('\n').map(String::from).collect() }
}

fn joined(lines: &[String]) -> String {
    lines.join("\n")
}

fn non_empty(text: &str) -> Option<String> {
    (!text.is_empty()).then(|| text.to_string())
}

/// Anchored nodes, converted, with their collection height.
type Anchors = HashMap<String, (Node, usize)>;

/// Converts a go-yaml node `depth` collections deep, with its collection height; aliases become
/// copies of their anchored nodes (anchors precede their aliases; the composer has bounded the
/// nodes they expand into, and an expansion deeper than [`veranda_yaml::MAX_DEPTH`] is an
/// error here).
fn from_yaml(
    node: &veranda_yaml::Node,
    anchors: &mut Anchors,
    depth: usize,
) -> Result<(Node, usize), Error> {
    let mut height = 0;
    let flow = node.style.has(veranda_yaml::Style::FLOW);
    let tag = node.style.has(veranda_yaml::Style::TAGGED).then(|| node.tag.clone());
    let mut out = match node.kind {
        Kind::Alias => {
            let Some((anchored, height)) = anchors.get(&node.value) else {
                return Ok((Node::scalar("", Style::Plain), 0));
            };
            if depth + height > veranda_yaml::MAX_DEPTH {
                return Err(Error::Limit {
                    line: node.line,
                    message: format!(
                        "nesting depth exceeds the limit of {}",
                        veranda_yaml::MAX_DEPTH
                    ),
                });
            }
            return Ok((anchored.clone(), *height));
        }
        Kind::Document => {
            return match node.content.first() {
                Some(n) => from_yaml(n, anchors, depth),
                None => Ok((Node::scalar("", Style::Plain), 0)),
            };
        }
        Kind::Scalar => {
            let s = node.style;
            let style = if s.has(veranda_yaml::Style::DOUBLE_QUOTED) {
                Style::DoubleQuoted
            } else if s.has(veranda_yaml::Style::SINGLE_QUOTED) {
                Style::SingleQuoted
            } else if s.has(veranda_yaml::Style::LITERAL) {
                Style::Literal
            } else if s.has(veranda_yaml::Style::FOLDED) {
                Style::Folded
            } else {
                Style::Plain
            };
            Node::scalar(&node.value, style)
        }
        Kind::Mapping => {
            let mut entries = Vec::with_capacity(node.content.len() / 2);
            for pair in node.content.chunks(2) {
                let [key, value] = pair else { continue };
                let key_style = match from_yaml(key, anchors, depth + 1)?.0 {
                    Node { value: Value::Scalar(_), style, .. } => style,
                    _ => Style::Plain,
                };
                let (value_node, value_height) = from_yaml(value, anchors, depth + 1)?;
                height = height.max(value_height);
                entries.push(Entry {
                    key: key.value.clone(),
                    key_style,
                    head: lines(&key.head_comment),
                    key_comment: non_empty(&key.line_comment),
                    foot: lines(&key.foot_comment),
                    value: value_node,
                });
            }
            height += 1;
            let mut n = Node::mapping();
            n.value = Value::Mapping(entries);
            if flow {
                n.style = Style::Flow;
            }
            n
        }
        Kind::Sequence => {
            let mut items = Vec::with_capacity(node.content.len());
            for item in &node.content {
                let (mut value, item_height) = from_yaml(item, anchors, depth + 1)?;
                height = height.max(item_height);
                let head = lines(&std::mem::take(&mut value.head_comment));
                items.push(Item { head, value });
            }
            height += 1;
            let mut n = Node::sequence();
            n.value = Value::Sequence(items);
            if flow {
                n.style = Style::Flow;
            }
            n
        }
    };
    out.tag = tag;
    out.comment = non_empty(&node.line_comment);
    out.head_comment = node.head_comment.clone();
    out.foot_comment = node.foot_comment.clone();
    if !node.anchor.is_empty() {
        anchors.insert(node.anchor.clone(), (out.clone(), height));
    }
    Ok((out, height))
}

/// The go-yaml node of a node of this tree.
pub(super) fn to_yaml(node: &Node) -> veranda_yaml::Node {
    let mut out = match &node.value {
        Value::Scalar(text) => {
            let (tag, style) = match node.style {
                Style::DoubleQuoted => ("!!str", veranda_yaml::Style::DOUBLE_QUOTED),
                Style::SingleQuoted => ("!!str", veranda_yaml::Style::SINGLE_QUOTED),
                Style::Literal => ("!!str", veranda_yaml::Style::LITERAL),
                Style::Folded => ("!!str", veranda_yaml::Style::FOLDED),
                _ => (veranda_yaml::resolve(text), veranda_yaml::Style::default()),
            };
            let mut n = veranda_yaml::Node::scalar(text);
            n.tag = tag.to_string();
            n.style = style;
            n
        }
        Value::Mapping(entries) => {
            let mut n = veranda_yaml::Node::mapping();
            for entry in entries {
                let mut key = to_yaml(&Node::scalar(&entry.key, entry.key_style));
                key.head_comment = joined(&entry.head);
                key.line_comment = entry.key_comment.clone().unwrap_or_default();
                key.foot_comment = joined(&entry.foot);
                n.content.push(key);
                n.content.push(to_yaml(&entry.value));
            }
            n
        }
        Value::Sequence(items) => {
            let mut n = veranda_yaml::Node::sequence();
            for item in items {
                let mut value = to_yaml(&item.value);
                value.head_comment = joined(&item.head);
                n.content.push(value);
            }
            n
        }
    };
    if node.style == Style::Flow {
        out.style = out.style | veranda_yaml::Style::FLOW;
    }
    if let Some(tag) = &node.tag {
        out.tag = tag.clone();
        out.style = out.style | veranda_yaml::Style::TAGGED;
    }
    if let Some(comment) = &node.comment {
        out.line_comment = comment.clone();
    }
    if !node.head_comment.is_empty() {
        out.head_comment = node.head_comment.clone();
    }
    out.foot_comment = node.foot_comment.clone();
    out
}

/// Writes a document as kyaml does (indent 2, the document's sequence indentation).
pub(super) fn emit_document(doc: &Document) -> String {
    let Some(root) = &doc.root else {
        let mut out = String::new();
        for line in doc.head.iter().chain(&doc.foot) {
            out.push_str(line);
            out.push('\n');
        }
        return out;
    };
    let mut node = veranda_yaml::Node::document(to_yaml(root));
    node.head_comment = joined(&doc.head);
    node.foot_comment = joined(&doc.foot);
    let seq_indent = if doc.wide_sequences { SeqIndent::Wide } else { SeqIndent::Compact };
    // The emitter only fails on trees the parser cannot produce (a document inside a node).
    veranda_yaml::emit(&[&node], seq_indent).unwrap_or_default()
}
