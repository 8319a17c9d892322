//! What a structural editor of parsed files needs on top of the go-yaml `Node`, the way kyaml's
//! merge and walker use yaml.v3 nodes: alias expansion before a tree is merged, equality that
//! ignores styles and positions (optionally comments), the type a scalar reads as, mapping
//! edits that keep the comments of the key they change, and a visit of every comment.
//!
//! A mapping keeps its fields as key/value pairs in `content`; a comment on a field belongs to
//! its key node (head, line and foot), a comment before a sequence item to the item's node.

use std::collections::HashMap;

use crate::{Error, Kind, MAX_DEPTH, Node, Style};

/// The style bits that say how a scalar is written (not whether its tag is explicit).
const SCALAR_STYLES: Style =
    Style(Style::DOUBLE_QUOTED.0 | Style::SINGLE_QUOTED.0 | Style::LITERAL.0 | Style::FOLDED.0);

impl Node {
    /// Replaces every alias node with a copy of the node its anchor names (as it is after its
    /// own aliases were expanded; the alias's own comments go) and drops the anchors, so that
    /// the tree can be merged and re-emitted like kyaml's expanded tree. An alias whose anchor
    /// is unknown becomes an empty (null) scalar. Fails when the expansion nests deeper than
    /// [`MAX_DEPTH`]; the composer has already bounded the number of nodes it expands into.
    pub fn expand_aliases(&mut self) -> Result<(), Error> {
        let mut anchors = HashMap::new();
        expand(self, &mut anchors, 0).map(|_| ())
    }

    /// Structural equality: kinds, scalar texts, the type a scalar reads as (see
    /// [`Node::reads_as_string`] and [`Node::reads_as_null`]), mapping keys and, when
    /// `comments`, every comment. Styles, tags beyond the type, anchors and positions are
    /// ignored. Blank lines inside the head and foot comments of keys and items do not count.
    pub fn same(&self, other: &Node, comments: bool) -> bool {
        same(self, other, comments, false)
    }

    /// Whether the node is a scalar that reads as a string: its explicit tag is `!!str`, or it
    /// is quoted or a block scalar, or it is plain and neither YAML 1.2 (as go-yaml resolves)
    /// nor YAML 1.1's booleans (which Kubernetes tools still read) give it another type.
    pub fn reads_as_string(&self) -> bool {
        if self.kind != Kind::Scalar {
            return false;
        }
        if self.style.has(Style::TAGGED) {
            return self.tag == "!!str";
        }
        self.style.has(SCALAR_STYLES) || plain_is_string(&self.value)
    }

    /// Whether the node is a scalar that reads as null: its explicit tag is `!!null`, or it is
    /// plain and empty, `~` or `null` (in any of YAML's three spellings).
    pub fn reads_as_null(&self) -> bool {
        if self.kind != Kind::Scalar {
            return false;
        }
        if self.style.has(Style::TAGGED) {
            return self.tag == "!!null";
        }
        !self.style.has(SCALAR_STYLES)
            && matches!(self.value.as_str(), "" | "~" | "null" | "Null" | "NULL")
    }

    /// A string scalar that reads back as a string: plain where that is safe (see
    /// [`Node::reads_as_string`]), double-quoted otherwise.
    pub fn quoted_string(text: &str) -> Node {
        let mut node = Node::string(text);
        if !plain_is_string(text) {
            node.style = Style::DOUBLE_QUOTED;
        }
        node
    }

    /// The scalar text of a node, if it is a scalar.
    pub fn as_str(&self) -> Option<&str> {
        (self.kind == Kind::Scalar).then_some(self.value.as_str())
    }

    /// The text of the scalar at a path of keys; `None` for nulls, collections and missing
    /// fields.
    pub fn str_at(&self, path: &[&str]) -> Option<&str> {
        self.lookup(path).filter(|n| !n.reads_as_null()).and_then(Node::as_str)
    }

    /// The key node of a mapping field, which carries the field's comments.
    pub fn key(&self, key: &str) -> Option<&Node> {
        self.field_index(key).map(|idx| &self.content[idx])
    }

    /// The key node of a mapping field, mutably.
    pub fn key_mut(&mut self, key: &str) -> Option<&mut Node> {
        self.field_index(key).map(|idx| &mut self.content[idx])
    }

    /// The mapping under `key`: a missing field is appended and a value that is not a mapping
    /// is replaced by an empty one, keeping the key and its comments. A node that is not a
    /// mapping becomes an empty one first.
    pub fn mapping_at(&mut self, key: &str) -> &mut Node {
        if self.kind != Kind::Mapping {
            *self = Node::mapping();
        }
        let idx = match self.field_index(key) {
            Some(idx) => {
                if self.content[idx + 1].kind != Kind::Mapping {
                    self.content[idx + 1] = Node::mapping();
                }
                idx
            }
            None => {
                self.content.push(Node::string_key(key));
                self.content.push(Node::mapping());
                self.content.len() - 2
            }
        };
        &mut self.content[idx + 1]
    }

    /// Reorders the fields of a mapping (keys with their values, stably) by `rank` of the key.
    pub fn sort_fields_by_key<K: Ord>(&mut self, mut rank: impl FnMut(&str) -> K) {
        if self.kind != Kind::Mapping || !self.content.len().is_multiple_of(2) {
            return;
        }
        let mut pairs: Vec<(Node, Node)> = Vec::with_capacity(self.content.len() / 2);
        let mut content = std::mem::take(&mut self.content).into_iter();
        while let (Some(key), Some(value)) = (content.next(), content.next()) {
            pairs.push((key, value));
        }
        pairs.sort_by_key(|(key, _)| rank(&key.value));
        self.content = pairs.into_iter().flat_map(|(key, value)| [key, value]).collect();
    }

    /// Visits every comment of the subtree (line by line for head and foot comments, blank lines
    /// left out) with the path of keys and `[index]`es of the node it belongs to; a field's
    /// comments (on its key) count as its value's.
    pub fn for_each_comment(&self, path: &mut Vec<String>, f: &mut dyn FnMut(&[String], &str)) {
        own_comments(self, path, f);
        match self.kind {
            Kind::Mapping => {
                for (key, value) in self.entries() {
                    path.push(key.value.clone());
                    own_comments(key, path, f);
                    value.for_each_comment(path, f);
                    path.pop();
                }
            }
            Kind::Sequence | Kind::Document => {
                for (idx, item) in self.content.iter().enumerate() {
                    path.push(format!("[{idx}]"));
                    item.for_each_comment(path, f);
                    path.pop();
                }
            }
            Kind::Scalar | Kind::Alias => {}
        }
    }
}

/// Whether a plain scalar with this text reads as a string (YAML 1.2 core schema as go-yaml
/// resolves it, and not a YAML 1.1 boolean).
pub(crate) fn plain_is_string(text: &str) -> bool {
    crate::resolve(text) == "!!str" && !crate::yaml11::is_old_boolean(text)
}

/// Expanded anchored nodes with their collection height.
type Anchors = HashMap<String, (Node, usize)>;

/// Expands the aliases of `node`, `depth` collections deep; returns its collection height.
fn expand(node: &mut Node, anchors: &mut Anchors, depth: usize) -> Result<usize, Error> {
    if node.kind == Kind::Alias {
        let Some((anchored, height)) = anchors.get(&node.value) else {
            *node = Node::scalar("");
            return Ok(0);
        };
        if depth + height > MAX_DEPTH {
            return Err(Error::Limit { line: node.line, message: crate::depth_message() });
        }
        let height = *height;
        *node = anchored.clone();
        return Ok(height);
    }
    let nested = usize::from(matches!(node.kind, Kind::Mapping | Kind::Sequence));
    let mut height = 0;
    for child in &mut node.content {
        height = height.max(expand(child, anchors, depth + nested)?);
    }
    height += nested;
    if !node.anchor.is_empty() {
        let anchor = std::mem::take(&mut node.anchor);
        anchors.insert(anchor, (node.clone(), height));
    }
    Ok(height)
}

fn lines(comment: &str) -> impl Iterator<Item = &str> {
    comment.split('\n').filter(|l| !l.is_empty())
}

fn same_lines(a: &str, b: &str) -> bool {
    lines(a).eq(lines(b))
}

/// `item`: the node is a sequence item, whose head comment compares line by line.
fn same(a: &Node, b: &Node, comments: bool, item: bool) -> bool {
    if comments
        && (a.line_comment != b.line_comment
            || a.foot_comment != b.foot_comment
            || !(if item {
                same_lines(&a.head_comment, &b.head_comment)
            } else {
                a.head_comment == b.head_comment
            }))
    {
        return false;
    }
    if a.kind != b.kind {
        return false;
    }
    match a.kind {
        Kind::Scalar => {
            a.value == b.value
                && a.reads_as_string() == b.reads_as_string()
                && a.reads_as_null() == b.reads_as_null()
        }
        Kind::Alias => a.value == b.value,
        Kind::Mapping => {
            a.content.len() == b.content.len()
                && a.entries().zip(b.entries()).all(|((ak, av), (bk, bv))| {
                    ak.value == bk.value
                        && (!comments
                            || (same_lines(&ak.head_comment, &bk.head_comment)
                                && same_lines(&ak.foot_comment, &bk.foot_comment)
                                && ak.line_comment == bk.line_comment))
                        && same(av, bv, comments, false)
                })
        }
        Kind::Sequence | Kind::Document => {
            a.content.len() == b.content.len()
                && a.content.iter().zip(&b.content).all(|(x, y)| same(x, y, comments, true))
        }
    }
}

fn own_comments(node: &Node, path: &[String], f: &mut dyn FnMut(&[String], &str)) {
    if !node.line_comment.is_empty() {
        f(path, &node.line_comment);
    }
    for line in lines(&node.head_comment).chain(lines(&node.foot_comment)) {
        f(path, line);
    }
}

#[cfg(test)]
mod tests;
