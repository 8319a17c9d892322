//! Structural three-way merge of one resource, a port of kyaml's `merge3` walker as used by
//! `kpt pkg update --strategy resource-merge` (kustomize/kyaml v0.15, the version in kpt
//! 1.0.0-beta.56):
//!
//! - the destination (local) tree is kept and changed in place, so local field order,
//!   comments and styles stay; fields new upstream are appended in alphabetical order;
//! - scalars and non-associative lists: the updated (new upstream) value is taken when it
//!   differs from the origin (old upstream), so on conflicts upstream wins; otherwise local;
//! - a null value on either side clears the field;
//! - associative lists (Kubernetes strategic-merge lists, see [`schema`], or, when inferring
//!   as for the Kptfile, lists whose elements all have a `name`) are merged per element;
//!   elements new upstream are appended after the local ones;
//! - comments are compared with the values, so a comment changed upstream replaces the local
//!   one unless the value was changed locally.
//!
//! It works on veranda-yaml's go-yaml nodes, with aliases expanded: a field's comments are
//! those of its key node, an item's head comment is that of the item's node.
//!
//! Deviations from kyaml, all on inputs where kyaml loses data: an upstream scalar keeps its own
//! quoting where the local style would change its type (`"1.0"` into a plain field), a comment
//! on a key is never dropped when kpt would overwrite it, and a keyed list element without
//! its key does not delete all keyed elements.

pub(crate) mod schema;

use std::collections::BTreeSet;

use veranda_yaml::{Kind, Node, Style};

use self::schema::{Schema, Ty};

/// A merge that cannot be done.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The sides disagree on the shape of a field, or an associative list has no usable key.
    #[error("cannot merge field {path:?}: {message}")]
    Conflict {
        /// The field, as keys and `[key values]` joined with `.`.
        path: String,
        /// What is wrong.
        message: String,
    },
}

/// How to merge.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Options {
    /// Infer associative lists from element keys (`name`) where the schema says nothing.
    pub(crate) infer: bool,
    /// Treat comment changes as changes (resources: yes; the typed Kptfile merge: no).
    pub(crate) comments: bool,
}

/// Merges `origin → updated` into `dest` (content nodes, aliases expanded). `None` means the
/// resource is cleared.
pub(crate) fn merge(
    dest: Option<Node>,
    origin: Option<&Node>,
    updated: Option<&Node>,
    options: Options,
) -> Result<Option<Node>, Error> {
    let walker = Walker { options, path: Vec::new() };
    let schema = [dest.as_ref(), origin, updated].into_iter().flatten().find_map(resource_schema);
    walker.walk(dest, origin, updated, schema)
}

struct Walker {
    options: Options,
    path: Vec<String>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Shape {
    Mapping,
    Sequence,
    Scalar,
}

fn shape_of(node: Option<&Node>) -> Option<Shape> {
    let node = node.filter(|n| !n.reads_as_null())?;
    Some(match node.kind {
        Kind::Mapping => Shape::Mapping,
        Kind::Sequence => Shape::Sequence,
        _ => Shape::Scalar,
    })
}

fn is_null(node: &Node) -> bool {
    node.reads_as_null()
}

fn missing_or_null(node: Option<&Node>) -> bool {
    node.is_none_or(is_null)
}

fn resource_schema(node: &Node) -> Option<Schema> {
    let api_version = node.str_at(&["apiVersion"])?;
    let kind = node.str_at(&["kind"])?;
    schema::for_resource(api_version, kind)
}

/// A mapping field: its key node (with the field's comments) and its value.
fn field<'a>(node: &'a Node, name: &str) -> Option<(&'a Node, &'a Node)> {
    if node.kind != Kind::Mapping {
        return None;
    }
    node.entries().find(|(k, _)| k.value == name)
}

fn is_empty_mapping(node: &Node) -> bool {
    node.kind == Kind::Mapping && node.content.is_empty()
}

impl Walker {
    fn error(&self, message: String) -> Error {
        Error::Conflict { path: self.path.join("."), message }
    }

    fn walk(
        &self,
        dest: Option<Node>,
        origin: Option<&Node>,
        updated: Option<&Node>,
        schema: Option<Schema>,
    ) -> Result<Option<Node>, Error> {
        let shapes = [shape_of(dest.as_ref()), shape_of(origin), shape_of(updated)];
        let shape = shapes.iter().flatten().next().copied();
        if shapes.iter().flatten().any(|k| Some(*k) != shape) {
            return Err(
                self.error("the value is a mapping, a list or a scalar on different sides".into())
            );
        }
        match shape {
            Some(Shape::Mapping) | None => {
                let ty = match schema {
                    Some(Schema::Object(ty)) => Some(ty),
                    Some(Schema::Merge { .. }) => None,
                    None => [dest.as_ref(), origin, updated]
                        .into_iter()
                        .flatten()
                        .find_map(resource_schema)
                        .and_then(|s| match s {
                            Schema::Object(ty) => Some(ty),
                            Schema::Merge { .. } => None,
                        }),
                };
                self.walk_map(dest, origin, updated, ty)
            }
            Some(Shape::Sequence) => match schema {
                Some(Schema::Merge { keys, element }) => {
                    let keys = keys.iter().map(|k| k.to_string()).collect();
                    self.walk_associative(dest, origin, updated, Some(keys), element)
                }
                Some(Schema::Object(_)) => Ok(self.visit_plain_list(dest, origin, updated)),
                None if self.options.infer
                    && [dest.as_ref(), origin, updated]
                        .into_iter()
                        .flatten()
                        .any(|n| !is_null(n) && associative_key(n).is_some()) =>
                {
                    self.walk_associative(dest, origin, updated, None, None)
                }
                None => Ok(self.visit_plain_list(dest, origin, updated)),
            },
            Some(Shape::Scalar) => Ok(self.visit_scalar(dest, origin, updated)),
        }
    }

    fn walk_map(
        &self,
        dest: Option<Node>,
        origin: Option<&Node>,
        updated: Option<&Node>,
        ty: Option<Ty>,
    ) -> Result<Option<Node>, Error> {
        // VisitMap: null on either side clears; missing on both clears; missing locally starts
        // from an empty mapping.
        if updated.is_some_and(is_null) || dest.as_ref().is_some_and(is_null) {
            return Ok(None);
        }
        let mut dest = match dest {
            None if updated.is_none() => return Ok(None),
            None => Node::mapping(),
            Some(dest) => dest,
        };
        let mut names = BTreeSet::new();
        for node in [Some(&dest), origin, updated].into_iter().flatten() {
            if node.kind == Kind::Mapping {
                for (key, _) in node.entries() {
                    names.insert(key.value.clone());
                }
            }
        }
        for name in names {
            let origin_field = origin.and_then(|n| field(n, &name));
            let updated_field = updated.and_then(|n| field(n, &name));
            let field_schema = ty.and_then(|t| schema::field(t, &name));
            let dest_idx = dest.field_index(&name);
            let dest_value = dest_idx.map(|idx| std::mem::take(&mut dest.content[idx + 1]));
            let key_choice = self.choose_comments(
                dest_idx.map(|idx| key_comments(&dest.content[idx])),
                origin_field.map(|(k, _)| key_comments(k)),
                updated_field.map(|(k, _)| key_comments(k)),
            );
            let mut walker = Walker { options: self.options, path: self.path.clone() };
            walker.path.push(name.clone());
            // Only scalars need the old node (for its type); collections need their style.
            let old = dest_value.as_ref().map(|n| {
                if n.kind == Kind::Scalar {
                    n.clone()
                } else {
                    Node { kind: n.kind, style: n.style, ..Node::default() }
                }
            });
            let value = walker.walk(
                dest_value,
                origin_field.map(|(_, v)| v),
                updated_field.map(|(_, v)| v),
                field_schema,
            )?;
            match value {
                None => {
                    if let Some(idx) = dest_idx {
                        dest.content.drain(idx..idx + 2);
                    }
                }
                Some(value) if is_null(&value) => {
                    if let Some(idx) = dest_idx {
                        dest.content.drain(idx..idx + 2);
                    }
                }
                Some(mut value) => {
                    if let Some(old) = &old {
                        keep_style(&mut value, old);
                    }
                    match dest_idx {
                        Some(idx) => {
                            dest.content[idx + 1] = value;
                            if let Some(Choice::Updated) = key_choice
                                && let Some((source, _)) = updated_field
                            {
                                copy_comments(&mut dest.content[idx], source);
                            }
                        }
                        None => {
                            let like = updated_field.or(origin_field).map(|(k, _)| k);
                            let mut key = new_key(&name, like);
                            if let Some(Choice::Updated) = key_choice
                                && let Some((source, _)) = updated_field
                            {
                                copy_comments(&mut key, source);
                            }
                            dest.content.push(key);
                            dest.content.push(new_field_style(value));
                        }
                    }
                }
            }
        }
        Ok(Some(dest))
    }

    /// kyaml's VisitScalar applied to the comments of a key or list item: which side's
    /// comments the merged key carries.
    fn choose_comments(
        &self,
        dest: Option<Comments>,
        origin: Option<Comments>,
        updated: Option<Comments>,
    ) -> Option<Choice> {
        if updated.is_none() != origin.is_none() {
            return updated.map(|_| Choice::Updated);
        }
        if updated.is_none() {
            return dest.map(|_| Choice::Dest);
        }
        if self.options.comments && (dest.is_none() || dest == origin) && origin != updated {
            return Some(Choice::Updated);
        }
        dest.map(|_| Choice::Dest)
    }

    fn same(&self, a: &Node, b: &Node) -> bool {
        a.same(b, self.options.comments)
    }

    fn visit_scalar(
        &self,
        dest: Option<Node>,
        origin: Option<&Node>,
        updated: Option<&Node>,
    ) -> Option<Node> {
        if updated.is_some_and(is_null) || dest.as_ref().is_some_and(is_null) {
            return None;
        }
        let (updated_missing, origin_missing) = (missing_or_null(updated), missing_or_null(origin));
        if updated_missing != origin_missing {
            return updated.cloned();
        }
        if updated_missing {
            return dest;
        }
        let (Some(origin), Some(updated)) = (origin, updated) else { return dest };
        let dest_unchanged = dest.as_ref().is_none_or(|d| self.same(d, origin));
        let chosen = if (dest_unchanged && !self.same(origin, updated))
            || updated.as_str() != origin.as_str()
        {
            Some(updated.clone())
        } else {
            dest.clone()
        };
        chosen.map(|node| self.merge_comment(node, dest.as_ref(), origin, updated))
    }

    /// The trailing comment of a merged value, merged on its own: a comment changed on one
    /// side only wins, on both sides upstream wins. kyaml takes the comment of whichever value
    /// it picks, which drops a local comment on a field upstream changed.
    fn merge_comment(
        &self,
        mut node: Node,
        dest: Option<&Node>,
        origin: &Node,
        updated: &Node,
    ) -> Node {
        if let Some(dest) = dest
            && self.options.comments
        {
            node.line_comment = if dest.line_comment == origin.line_comment {
                updated.line_comment.clone()
            } else {
                dest.line_comment.clone()
            };
        }
        node
    }

    fn visit_plain_list(
        &self,
        dest: Option<Node>,
        origin: Option<&Node>,
        updated: Option<&Node>,
    ) -> Option<Node> {
        if updated.is_some_and(is_null) || dest.as_ref().is_some_and(is_null) {
            return None;
        }
        let (updated_missing, origin_missing) = (missing_or_null(updated), missing_or_null(origin));
        if updated_missing != origin_missing {
            return updated.cloned();
        }
        if updated_missing {
            return dest;
        }
        match (origin, updated) {
            (Some(origin), Some(updated)) if !self.same(origin, updated) => {
                Some(self.merge_comment(updated.clone(), dest.as_ref(), origin, updated))
            }
            _ => dest,
        }
    }

    fn walk_associative(
        &self,
        dest: Option<Node>,
        origin: Option<&Node>,
        updated: Option<&Node>,
        keys: Option<Vec<String>>,
        element: Option<Ty>,
    ) -> Result<Option<Node>, Error> {
        // VisitList for associative lists.
        if missing_or_null(updated) && !missing_or_null(origin) {
            return Ok(None);
        }
        let had_items = dest
            .as_ref()
            .is_none_or(|d| is_null(d) || (d.kind == Kind::Sequence && !d.content.is_empty()));
        let mut dest = match dest {
            Some(dest) if !is_null(&dest) => dest,
            _ => Node::sequence(),
        };
        let keys = match keys {
            Some(keys) => keys,
            None => vec![self.element_key([Some(&dest), origin, updated])?],
        };
        let sources = [Some(&dest), origin, updated];
        let mut values = Vec::new();
        if !keys.is_empty() {
            for node in sources.into_iter().flatten() {
                for item in items(node) {
                    let v: Vec<String> = keys.iter().map(|k| key_value(item, k)).collect();
                    if !values.contains(&v) {
                        values.push(v);
                    }
                }
            }
        }
        let keys = if keys.is_empty() {
            for node in sources.into_iter().flatten() {
                for item in items(node) {
                    let v = vec![item.as_str().unwrap_or_default().to_string()];
                    if !values.contains(&v) {
                        values.push(v);
                    }
                }
            }
            vec![String::new()]
        } else {
            keys
        };
        self.set_elements(values, keys, &mut dest, origin, updated, element)?;
        if had_items && dest.kind == Kind::Sequence && dest.content.is_empty() {
            // A list the merge empties is removed, as kpt does for a local list; a list deleted
            // locally whose elements upstream did not change stays deleted (kyaml writes `[]`).
            return Ok(None);
        }
        Ok(Some(dest))
    }

    fn element_key(&self, sources: [Option<&Node>; 3]) -> Result<String, Error> {
        let mut key: Option<String> = None;
        for node in sources.into_iter().flatten() {
            if items(node).is_empty() {
                continue;
            }
            let found = associative_key(node).unwrap_or_default();
            if let Some(k) = &key
                && !k.is_empty()
                && *k != found
            {
                return Err(self.error(format!("conflicting merge keys [{k},{found}]")));
            }
            key = Some(found);
        }
        match key {
            Some(k) if !k.is_empty() => Ok(k),
            _ => Err(self.error("no merge key found".into())),
        }
    }

    fn set_elements(
        &self,
        mut values_list: Vec<Vec<String>>,
        keys: Vec<String>,
        dest: &mut Node,
        origin: Option<&Node>,
        updated: Option<&Node>,
        element: Option<Ty>,
    ) -> Result<(), Error> {
        if keys.len() > 1 {
            merge_values(&mut values_list);
        }
        let element_schema = element.map(Schema::Object);
        let mut to_add: Vec<Node> = Vec::new();
        let mut valid_keys = keys.clone();
        for values in &values_list {
            if values.is_empty() {
                continue;
            }
            let (vkeys, vvalues) = validate_keys(&values_list, values, &keys);
            valid_keys = vkeys.clone();
            if vvalues.iter().all(String::is_empty) && !vkeys[0].is_empty() {
                // An element without its key: kyaml would delete every keyed element here.
                continue;
            }
            let (mkeys, mvalues) = validate_keys(std::slice::from_ref(&vvalues), &vvalues, &vkeys);
            let find = |node: Option<&Node>| -> Option<usize> {
                items(node?).iter().position(|i| element_matches(i, &mkeys, &mvalues))
            };
            let dest_item = find(Some(dest)).map(|i| dest.content[i].clone());
            let origin_item = origin.and_then(|o| find(Some(o)).map(|i| &o.content[i]));
            let updated_item = updated.and_then(|u| find(Some(u)).map(|i| &u.content[i]));
            let mut walker = Walker { options: self.options, path: self.path.clone() };
            walker.path.push(format!("[{}]", vvalues.join(",")));
            let head_choice = self.choose_comments(
                dest_item.as_ref().map(item_comments),
                origin_item.map(item_comments),
                updated_item.map(item_comments),
            );
            let dest_head = dest_item.as_ref().map(|i| i.head_comment.clone());
            let value = walker.walk(dest_item, origin_item, updated_item, element_schema)?;
            let mut value = match value {
                Some(v) if !(is_null(&v) || is_empty_mapping(&v)) => v,
                _ => {
                    if dest.kind == Kind::Sequence {
                        set_element(&mut dest.content, None, &vkeys, &vvalues);
                    }
                    continue;
                }
            };
            if value.kind == Kind::Mapping {
                for (key, v) in vkeys.iter().zip(&vvalues) {
                    if !key.is_empty() && !v.is_empty() && value.get(key).is_none() {
                        value.set(key, Node::quoted_string(v));
                    }
                }
            }
            value.head_comment = match head_choice {
                Some(Choice::Updated) => {
                    updated_item.map(|i| i.head_comment.clone()).unwrap_or_default()
                }
                _ => dest_head
                    .or_else(|| updated_item.map(|i| i.head_comment.clone()))
                    .unwrap_or_default(),
            };
            set_element(&mut to_add, Some(value), &vkeys, &vvalues);
        }
        if dest.kind != Kind::Sequence {
            return Ok(());
        }
        for item in to_add {
            let v: Vec<String> = valid_keys.iter().map(|k| key_value(&item, k)).collect();
            if valid_keys.len() > 1 {
                set_element(&mut dest.content, None, &valid_keys, &v);
            }
            set_element(&mut dest.content, Some(item), &valid_keys, &v);
        }
        Ok(())
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Choice {
    Dest,
    Updated,
}

type Comments<'a> = (Vec<&'a str>, Option<&'a str>);

fn comment_lines(comment: &str) -> impl Iterator<Item = &str> {
    comment.split('\n').filter(|l| !l.is_empty())
}

/// A field's comments: the head and foot lines and the line comment of its key.
fn key_comments(key: &Node) -> Comments<'_> {
    let lines = comment_lines(&key.head_comment).chain(comment_lines(&key.foot_comment));
    (lines.collect(), (!key.line_comment.is_empty()).then_some(key.line_comment.as_str()))
}

fn item_comments(item: &Node) -> Comments<'_> {
    (comment_lines(&item.head_comment).collect(), None)
}

fn copy_comments(key: &mut Node, source: &Node) {
    key.head_comment = source.head_comment.clone();
    key.line_comment = source.line_comment.clone();
    key.foot_comment = source.foot_comment.clone();
}

/// The key of a field new in the merged mapping, written like the key it comes from (`like`)
/// but without its comments.
fn new_key(name: &str, like: Option<&Node>) -> Node {
    let mut key = Node::scalar(name);
    if let Some(like) = like {
        key.style = Style(like.style.0 & !Style::TAGGED.0 & !Style::FLOW.0);
        if key.style.0 != 0 {
            key.tag = "!!str".into();
        }
    }
    key
}

fn items(node: &Node) -> &[Node] {
    if node.kind == Kind::Sequence { &node.content } else { &[] }
}

/// kyaml infers `name` as the key of a list whose elements all have one.
fn associative_key(node: &Node) -> Option<String> {
    if node.kind != Kind::Sequence {
        return None;
    }
    node.content.iter().all(|i| i.get("name").is_some()).then(|| "name".to_string())
}

/// The value of a key field of an element (`""` when missing, null or not a scalar); with the
/// empty key, the element's own scalar value.
fn key_value(node: &Node, key: &str) -> String {
    if key.is_empty() {
        return node.as_str().unwrap_or_default().to_string();
    }
    match node.get(key) {
        Some(v) if !is_null(v) => v.as_str().unwrap_or_default().to_string(),
        _ => String::new(),
    }
}

/// kyaml's `MatchElementList`: an element whose key fields have exactly these values.
fn element_matches(node: &Node, keys: &[String], values: &[String]) -> bool {
    if keys.is_empty() || keys[0].is_empty() {
        return node.as_str() == values.first().map(String::as_str);
    }
    node.kind == Kind::Mapping
        && keys
            .iter()
            .zip(values)
            .all(|(k, v)| node.get(k).is_some_and(|f| f.as_str() == Some(v.as_str())))
}

/// kyaml's `ElementSetter`: replaces the elements matching the key values with `item` (or
/// removes them when `None`), appending `item` when nothing matched. Empty elements are dropped.
fn set_element(items: &mut Vec<Node>, item: Option<Node>, keys: &[String], values: &[String]) {
    let mapping_setter =
        !keys.is_empty() && !keys[0].is_empty() && values.first().is_some_and(|v| !v.is_empty());
    let mut out = Vec::with_capacity(items.len() + 1);
    let mut found = false;
    for existing in std::mem::take(items) {
        let node = &existing;
        if is_null(node) || is_empty_mapping(node) {
            continue;
        }
        if node.kind != Kind::Mapping && mapping_setter {
            out.push(existing);
            continue;
        }
        let matches = keys.iter().zip(values).all(|(k, v)| {
            if k.is_empty() {
                node.as_str() == Some(v.as_str())
            } else {
                match node.get(k) {
                    Some(field) => v.is_empty() || field.as_str() == Some(v.as_str()),
                    None => false,
                }
            }
        });
        if !matches {
            out.push(existing);
            continue;
        }
        found = true;
        if let Some(item) = &item {
            out.push(item.clone());
        }
    }
    if let Some(item) = item
        && !found
    {
        out.push(item);
    }
    *items = out;
}
/// kyaml's `validateKeys`: drop keys that no element has a value for.
fn validate_keys(
    values_list: &[Vec<String>],
    values: &[String],
    keys: &[String],
) -> (Vec<String>, Vec<String>) {
    let valid: Vec<bool> = (0..keys.len())
        .map(|i| values_list.iter().any(|v| v.get(i).is_some_and(|x| !x.is_empty())))
        .collect();
    if !valid.iter().any(|v| *v) {
        return (keys.to_vec(), values.to_vec());
    }
    let vkeys = keys.iter().zip(&valid).filter(|(_, v)| **v).map(|(k, _)| k.clone()).collect();
    let vvalues = values.iter().zip(&valid).filter(|(_, v)| **v).map(|(x, _)| x.clone()).collect();
    (vkeys, vvalues)
}

/// kyaml's `mergeValues`: key tuples that differ only where one side is empty are the same
/// element (a port with and without `protocol: TCP`).
fn merge_values(list: &mut [Vec<String>]) {
    for i in 0..list.len() {
        let first = list[i].clone();
        for j in 0..list.len() {
            if let Some(merged) = match_values(&first, &list[j]) {
                list[i] = merged.clone();
                list[j] = merged;
            }
        }
    }
}

fn match_values(a: &[String], b: &[String]) -> Option<Vec<String>> {
    if a.len() != b.len() {
        return None;
    }
    let mut common = false;
    let mut out = Vec::with_capacity(a.len());
    for (x, y) in a.iter().zip(b) {
        if x == y {
            common = true;
            out.push(x.clone());
        } else if !x.is_empty() && !y.is_empty() {
            return None;
        } else {
            out.push(if x.is_empty() { y.clone() } else { x.clone() });
        }
    }
    common.then_some(out)
}

/// kyaml keeps the style of the field it overwrites. Done here only where the value still reads
/// as the same type, and for collections only between collections of the same kind.
fn keep_style(value: &mut Node, old: &Node) {
    const SCALAR: u8 =
        Style::DOUBLE_QUOTED.0 | Style::SINGLE_QUOTED.0 | Style::LITERAL.0 | Style::FOLDED.0;
    match (value.kind, old.kind) {
        (Kind::Scalar, Kind::Scalar) => {
            if value.style.has(Style::TAGGED) {
                return;
            }
            let mut candidate = value.clone();
            candidate.style = Style((value.style.0 & !SCALAR) | (old.style.0 & SCALAR));
            if candidate.reads_as_string() == value.reads_as_string()
                && candidate.reads_as_null() == value.reads_as_null()
            {
                value.style = candidate.style;
            }
        }
        (Kind::Mapping, Kind::Mapping) | (Kind::Sequence, Kind::Sequence) => {
            value.style = Style((value.style.0 & !Style::FLOW.0) | (old.style.0 & Style::FLOW.0));
        }
        _ => {}
    }
}

/// kyaml quotes new plain strings that YAML 1.1 would read as booleans.
fn new_field_style(mut value: Node) -> Node {
    if value.kind == Kind::Scalar
        && value.style.0 == 0
        && veranda_yaml::yaml11::is_old_boolean(&value.value)
    {
        value.style = Style::DOUBLE_QUOTED;
    }
    value
}

#[cfg(test)]
mod tests;
