//! A comment-preserving YAML document layer for the files of a package: a view of
//! veranda-yaml's go-yaml nodes with mapping entries and sequence items as values of their own,
//! which is what the three-way merge walks (see [`convert`] for the round trip).
//!
//! Parsing and emission are veranda-yaml's (the go-yaml port), so the limits and the output
//! are kpt's; the output of a document the merge did not touch is its original text byte for
//! byte (see [`Document::raw`]). A changed document is re-emitted as kyaml writes it: indent 2,
//! the document's sequence indentation, anchors and aliases expanded.

mod convert;

use std::fmt;

pub use convert::parse;

/// veranda-yaml's limits: the recursive walkers over parsed trees (the emitter, `to_json`,
/// `same`, merge3, heal, resource) rely on the depth bound, which holds with aliases expanded.
pub use veranda_yaml::{ALIAS_EXPANSION_FLOOR, ALIAS_EXPANSION_RATIO, MAX_DEPTH};

/// Errors of the YAML layer.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Nesting or alias expansion beyond [`MAX_DEPTH`] / the alias budget.
    #[error("yaml at line {line}: {message}")]
    Limit { line: usize, message: String },
    #[error("invalid yaml at line {line}: {message}")]
    Syntax { line: usize, message: String },
}

/// One YAML document of a file.
#[derive(Clone, Debug, PartialEq)]
pub struct Document {
    /// The `---` line that opened the document, verbatim, if there was one.
    pub separator: Option<String>,
    /// The document's content; `None` for a document with only comments.
    pub root: Option<Node>,
    /// Comment lines (`"# ..."`) and blank lines (`""`) before a root that has no entry to
    /// carry them (a scalar root or an empty document).
    pub head: Vec<String>,
    /// Comment lines after the last node.
    pub foot: Vec<String>,
    /// The document's original text (without the separator line) as long as it is unchanged;
    /// [`Document::to_text`] then returns it instead of re-emitting. Whoever changes the tree
    /// clears it (see [`Document::touch`]).
    pub raw: Option<String>,
    /// Indentation of nested mappings when re-emitted (kyaml's 2).
    pub indent: usize,
    /// Whether block sequences under a key are indented (`wide`, kpt's Kptfile style) or not.
    pub wide_sequences: bool,
}

/// A YAML node.
#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    pub value: Value,
    /// Explicit tag as written (`!!str`, `!custom`), if any.
    pub tag: Option<String>,
    pub style: Style,
    /// Trailing comment (`# ...`) on the line where the node ends (scalars and flow collections):
    /// go-yaml's line comment.
    pub comment: Option<String>,
    /// go-yaml's head comment of the node (of an item: see [`Item::head`]).
    pub head_comment: String,
    /// go-yaml's foot comment of the node.
    pub foot_comment: String,
}

/// Content of a node.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// A scalar's text after unescaping and folding.
    Scalar(String),
    Mapping(Vec<Entry>),
    Sequence(Vec<Item>),
}

/// How a node is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Style {
    #[default]
    Plain,
    SingleQuoted,
    DoubleQuoted,
    Literal,
    Folded,
    /// A block collection.
    Block,
    /// A flow collection (`[a, b]`, `{a: b}`).
    Flow,
}

/// A key/value pair of a mapping.
#[derive(Clone, Debug, PartialEq)]
pub struct Entry {
    pub key: String,
    pub key_style: Style,
    /// Comment lines before the key (go-yaml's head comment of the key, line by line; `""` is
    /// a blank line).
    pub head: Vec<String>,
    /// Trailing comment after `key:` when the value starts on a later line.
    pub key_comment: Option<String>,
    /// Comment lines after the entry (go-yaml's foot comment of the key).
    pub foot: Vec<String>,
    pub value: Node,
}

/// An element of a sequence.
#[derive(Clone, Debug, PartialEq)]
pub struct Item {
    /// Comment lines before the `-` (go-yaml's head comment of the item).
    pub head: Vec<String>,
    pub value: Node,
}

impl Document {
    /// A new document holding `root`, written with kpt's defaults.
    pub fn new(root: Node) -> Document {
        Document {
            separator: None,
            root: Some(root),
            head: Vec::new(),
            foot: Vec::new(),
            raw: None,
            indent: 2,
            wide_sequences: false,
        }
    }

    /// Marks the document as changed, so that it is re-emitted.
    pub fn touch(&mut self) {
        self.raw = None;
    }

    /// The document's text without its separator line.
    pub fn to_text(&self) -> String {
        match &self.raw {
            Some(raw) => raw.clone(),
            None => convert::emit_document(self),
        }
    }

    /// The root mapping's entries, if the root is a mapping.
    pub fn entries(&self) -> Option<&[Entry]> {
        self.root.as_ref().and_then(Node::entries)
    }
}

/// Writes documents back into one file, separated as they were (new documents get `---`).
pub fn to_file_text(docs: &[Document]) -> String {
    veranda_yaml::stream::join_documents(
        docs.iter().map(|doc| (doc.separator.as_deref(), doc.to_text())),
    )
}

impl Node {
    /// A plain (or, where plain would change its meaning, double-quoted) string scalar.
    pub fn string(text: &str) -> Node {
        let style = if plain_is_string(text) { Style::Plain } else { Style::DoubleQuoted };
        Node::scalar(text, style)
    }

    /// A node without tag and comments.
    pub fn new(value: Value, style: Style) -> Node {
        Node {
            value,
            tag: None,
            style,
            comment: None,
            head_comment: String::new(),
            foot_comment: String::new(),
        }
    }

    /// A scalar with the given style.
    pub fn scalar(text: &str, style: Style) -> Node {
        Node::new(Value::Scalar(text.to_string()), style)
    }

    /// An empty block mapping.
    pub fn mapping() -> Node {
        Node::new(Value::Mapping(Vec::new()), Style::Block)
    }

    /// An empty block sequence.
    pub fn sequence() -> Node {
        Node::new(Value::Sequence(Vec::new()), Style::Block)
    }

    pub fn as_str(&self) -> Option<&str> {
        match &self.value {
            Value::Scalar(s) => Some(s),
            _ => None,
        }
    }

    pub fn entries(&self) -> Option<&[Entry]> {
        match &self.value {
            Value::Mapping(entries) => Some(entries),
            _ => None,
        }
    }

    pub fn entries_mut(&mut self) -> Option<&mut Vec<Entry>> {
        match &mut self.value {
            Value::Mapping(entries) => Some(entries),
            _ => None,
        }
    }

    pub fn items(&self) -> Option<&[Item]> {
        match &self.value {
            Value::Sequence(items) => Some(items),
            _ => None,
        }
    }

    /// Whether the node is a null scalar (`null`, `~`, empty, or tagged `!!null`).
    pub fn is_null(&self) -> bool {
        match &self.value {
            Value::Scalar(s) => match self.tag.as_deref() {
                Some(tag) => tag == "!!null",
                None => {
                    self.style == Style::Plain
                        && matches!(s.as_str(), "" | "~" | "null" | "Null" | "NULL")
                }
            },
            _ => false,
        }
    }

    /// Whether the node is a string scalar (not null, bool or number).
    pub fn is_string(&self) -> bool {
        match &self.value {
            Value::Scalar(s) => match self.tag.as_deref() {
                Some(tag) => tag == "!!str",
                None => self.style != Style::Plain || plain_is_string(s),
            },
            _ => false,
        }
    }

    pub fn is_mapping(&self) -> bool {
        matches!(self.value, Value::Mapping(_))
    }

    pub fn is_sequence(&self) -> bool {
        matches!(self.value, Value::Sequence(_))
    }

    /// The entry with the given key.
    pub fn entry(&self, key: &str) -> Option<&Entry> {
        self.entries()?.iter().find(|e| e.key == key)
    }

    pub fn entry_mut(&mut self, key: &str) -> Option<&mut Entry> {
        self.entries_mut()?.iter_mut().find(|e| e.key == key)
    }

    /// The value of a field.
    pub fn get(&self, key: &str) -> Option<&Node> {
        self.entry(key).map(|e| &e.value)
    }

    pub fn get_mut(&mut self, key: &str) -> Option<&mut Node> {
        self.entry_mut(key).map(|e| &mut e.value)
    }

    /// The value at a path of field names.
    pub fn get_path(&self, path: &[&str]) -> Option<&Node> {
        path.iter().try_fold(self, |node, key| node.get(key))
    }

    /// The string value at a path (`None` for nulls and collections).
    pub fn str_at(&self, path: &[&str]) -> Option<&str> {
        self.get_path(path).filter(|n| !n.is_null()).and_then(Node::as_str)
    }

    /// Sets a field, keeping the key's comments and position when it exists, else appending.
    /// A mapping is made of a node that is not one.
    pub fn set(&mut self, key: &str, value: Node) {
        if !self.is_mapping() {
            *self = Node::mapping();
        }
        if let Some(entry) = self.entry_mut(key) {
            entry.value = value;
            return;
        }
        if let Some(entries) = self.entries_mut() {
            entries.push(Entry::new(key, value));
        }
    }

    /// Sets a field; a new one is inserted right after `after` (or appended).
    pub fn insert_after(&mut self, key: &str, value: Node, after: &str) {
        if self.get(key).is_some() || !self.is_mapping() {
            self.set(key, value);
            return;
        }
        if let Some(entries) = self.entries_mut() {
            let at = entries.iter().position(|e| e.key == after).map_or(entries.len(), |i| i + 1);
            entries.insert(at, Entry::new(key, value));
        }
    }

    /// The mapping under `key`, created (or replacing a non-mapping) when needed.
    pub fn mapping_at(&mut self, key: &str) -> &mut Node {
        let missing = self.get(key).is_none_or(|n| !n.is_mapping());
        if missing {
            self.set(key, Node::mapping());
        }
        self.get_mut(key).expect("the field was just set")
    }

    /// Removes a field; returns whether it existed.
    pub fn remove(&mut self, key: &str) -> bool {
        match self.entries_mut() {
            Some(entries) => {
                let before = entries.len();
                entries.retain(|e| e.key != key);
                entries.len() != before
            }
            None => false,
        }
    }

    /// Structural equality: values, tags and (when `comments`) every comment; styles and
    /// indentation are ignored, except that a plain scalar and a quoted one differ in type.
    pub fn same(&self, other: &Node, comments: bool) -> bool {
        if comments
            && (self.comment != other.comment
                || self.head_comment != other.head_comment
                || self.foot_comment != other.foot_comment)
        {
            return false;
        }
        match (&self.value, &other.value) {
            (Value::Scalar(a), Value::Scalar(b)) => {
                a == b && self.is_string() == other.is_string() && self.is_null() == other.is_null()
            }
            (Value::Mapping(a), Value::Mapping(b)) => {
                a.len() == b.len()
                    && a.iter().zip(b).all(|(x, y)| {
                        x.key == y.key
                            && (!comments
                                || (x.head_comments() == y.head_comments()
                                    && comment_lines(&x.foot) == comment_lines(&y.foot)
                                    && x.key_comment == y.key_comment))
                            && x.value.same(&y.value, comments)
                    })
            }
            (Value::Sequence(a), Value::Sequence(b)) => {
                a.len() == b.len()
                    && a.iter().zip(b).all(|(x, y)| {
                        (!comments || comment_lines(&x.head) == comment_lines(&y.head))
                            && x.value.same(&y.value, comments)
                    })
            }
            _ => false,
        }
    }

    /// Converts to a JSON value (scalars resolved with the YAML 1.2 core schema).
    pub fn to_json(&self) -> serde_json::Value {
        match &self.value {
            Value::Scalar(s) => {
                if self.is_null() {
                    serde_json::Value::Null
                } else if self.is_string() {
                    serde_json::Value::String(s.clone())
                } else {
                    veranda_yaml::Node::scalar(s).to_json()
                }
            }
            Value::Mapping(entries) => serde_json::Value::Object(
                entries.iter().map(|e| (e.key.clone(), e.value.to_json())).collect(),
            ),
            Value::Sequence(items) => {
                serde_json::Value::Array(items.iter().map(|i| i.value.to_json()).collect())
            }
        }
    }

    /// Visits every comment of the subtree with the path of field names / item indexes
    /// where it sits.
    pub fn for_each_comment(&self, path: &mut Vec<String>, f: &mut dyn FnMut(&[String], &str)) {
        if let Some(c) = &self.comment {
            f(path, c);
        }
        for c in self.head_comment.split('\n').chain(self.foot_comment.split('\n')) {
            if !c.is_empty() {
                f(path, c);
            }
        }
        match &self.value {
            Value::Scalar(_) => {}
            Value::Mapping(entries) => {
                for e in entries {
                    path.push(e.key.clone());
                    for c in e.head_comments() {
                        f(path, c);
                    }
                    if let Some(c) = &e.key_comment {
                        f(path, c);
                    }
                    for c in comment_lines(&e.foot) {
                        f(path, c);
                    }
                    e.value.for_each_comment(path, f);
                    path.pop();
                }
            }
            Value::Sequence(items) => {
                for (idx, item) in items.iter().enumerate() {
                    path.push(format!("[{idx}]"));
                    for c in comment_lines(&item.head) {
                        f(path, c);
                    }
                    item.value.for_each_comment(path, f);
                    path.pop();
                }
            }
        }
    }
}

impl Entry {
    /// An entry without comments; the key is quoted when plain would not read back as a string.
    pub fn new(key: &str, value: Node) -> Entry {
        let key_style = if plain_is_string(key) { Style::Plain } else { Style::DoubleQuoted };
        Entry {
            key: key.to_string(),
            key_style,
            head: Vec::new(),
            key_comment: None,
            foot: Vec::new(),
            value,
        }
    }

    /// The head lines that are comments (blank lines left out).
    pub fn head_comments(&self) -> Vec<&str> {
        comment_lines(&self.head)
    }
}

/// Whether a plain scalar with this text reads as a string (YAML 1.2 core schema as go-yaml
/// resolves it, and not a YAML 1.1 boolean, which Kubernetes tools still read as one).
pub(crate) fn plain_is_string(text: &str) -> bool {
    veranda_yaml::resolve(text) == "!!str" && !veranda_yaml::yaml11::is_old_boolean(text)
}

fn comment_lines(lines: &[String]) -> Vec<&str> {
    lines.iter().map(String::as_str).filter(|l| !l.is_empty()).collect()
}

impl fmt::Display for Node {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let doc = Document::new(self.clone());
        f.write_str(&doc.to_text())
    }
}

#[cfg(test)]
mod tests;
