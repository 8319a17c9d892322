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
//! Deviations from kyaml, all on inputs where kyaml loses data: an upstream scalar keeps its own
//! quoting where the local style would change its type (`"1.0"` into a plain field), a comment
//! on a key is never dropped when kpt would overwrite it, and a keyed list element without
//! its key does not delete all keyed elements.

pub(crate) mod schema;

use std::collections::BTreeSet;

use crate::yaml::{Entry, Item, Node, Style, Value};

use self::schema::{Schema, Ty};

/// A merge that cannot be done.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot merge field {path:?}: {message}")]
    Conflict { path: String, message: String },
}

/// How to merge.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Options {
    /// Infer associative lists from element keys (`name`) where the schema says nothing.
    pub(crate) infer: bool,
    /// Treat comment changes as changes (resources: yes; the typed Kptfile merge: no).
    pub(crate) comments: bool,
}

/// Merges `origin → updated` into `dest`. `None` means the resource is cleared.
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
enum Kind {
    Mapping,
    Sequence,
    Scalar,
}

fn kind_of(node: Option<&Node>) -> Option<Kind> {
    let node = node.filter(|n| !n.is_null())?;
    Some(match node.value {
        Value::Mapping(_) => Kind::Mapping,
        Value::Sequence(_) => Kind::Sequence,
        Value::Scalar(_) => Kind::Scalar,
    })
}

fn missing_or_null(node: Option<&Node>) -> bool {
    node.is_none_or(Node::is_null)
}

fn resource_schema(node: &Node) -> Option<Schema> {
    let api_version = node.str_at(&["apiVersion"])?;
    let kind = node.str_at(&["kind"])?;
    schema::for_resource(api_version, kind)
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
        let kinds = [kind_of(dest.as_ref()), kind_of(origin), kind_of(updated)];
        let kind = kinds.iter().flatten().next().copied();
        if kinds.iter().flatten().any(|k| Some(*k) != kind) {
            return Err(
                self.error("the value is a mapping, a list or a scalar on different sides".into())
            );
        }
        match kind {
            Some(Kind::Mapping) | None => {
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
            Some(Kind::Sequence) => match schema {
                Some(Schema::Merge { keys, element }) => {
                    let keys = keys.iter().map(|k| k.to_string()).collect();
                    self.walk_associative(dest, origin, updated, Some(keys), element)
                }
                Some(Schema::Object(_)) => Ok(self.visit_plain_list(dest, origin, updated)),
                None if self.options.infer
                    && [dest.as_ref(), origin, updated]
                        .into_iter()
                        .flatten()
                        .any(|n| !n.is_null() && associative_key(n).is_some()) =>
                {
                    self.walk_associative(dest, origin, updated, None, None)
                }
                None => Ok(self.visit_plain_list(dest, origin, updated)),
            },
            Some(Kind::Scalar) => Ok(self.visit_scalar(dest, origin, updated)),
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
        if updated.is_some_and(Node::is_null) || dest.as_ref().is_some_and(Node::is_null) {
            return Ok(None);
        }
        let mut dest = match dest {
            None if updated.is_none() => return Ok(None),
            None => Node::mapping(),
            Some(dest) => dest,
        };
        let mut names = BTreeSet::new();
        for node in [Some(&dest), origin, updated].into_iter().flatten() {
            for entry in node.entries().unwrap_or_default() {
                names.insert(entry.key.clone());
            }
        }
        for name in names {
            let origin_entry = origin.and_then(|n| n.entry(&name));
            let updated_entry = updated.and_then(|n| n.entry(&name));
            let field_schema = ty.and_then(|t| schema::field(t, &name));
            let dest_entry_idx = dest.entries().and_then(|e| e.iter().position(|x| x.key == name));
            let dest_value = dest_entry_idx.and_then(|idx| {
                dest.entries_mut()
                    .map(|e| std::mem::replace(&mut e[idx].value, Node::scalar("", Style::Plain)))
            });
            let key_choice = {
                let dest_entry = dest_entry_idx.and_then(|idx| dest.entries().map(|e| &e[idx]));
                self.choose_comments(
                    dest_entry.map(entry_comments),
                    origin_entry.map(entry_comments),
                    updated_entry.map(entry_comments),
                )
            };
            let mut walker = Walker { options: self.options, path: self.path.clone() };
            walker.path.push(name.clone());
            // Only scalars need the old node (for its type); collections need their style.
            let original_style = dest_value.as_ref().map(|n| {
                let old = if matches!(n.value, Value::Scalar(_)) {
                    n.clone()
                } else {
                    Node::new(
                        match n.value {
                            Value::Mapping(_) => Value::Mapping(Vec::new()),
                            _ => Value::Sequence(Vec::new()),
                        },
                        n.style,
                    )
                };
                (n.style, old)
            });
            let value = walker.walk(
                dest_value,
                origin_entry.map(|e| &e.value),
                updated_entry.map(|e| &e.value),
                field_schema,
            )?;
            let entries = dest.entries_mut().expect("dest is a mapping");
            match value {
                None => {
                    if let Some(idx) = dest_entry_idx {
                        entries.remove(idx);
                    }
                }
                Some(value) if value.is_null() => {
                    if let Some(idx) = dest_entry_idx {
                        entries.remove(idx);
                    }
                }
                Some(mut value) => {
                    if let Some((style, old)) = original_style {
                        keep_style(&mut value, style, &old);
                    }
                    match dest_entry_idx {
                        Some(idx) => {
                            let entry = &mut entries[idx];
                            entry.value = value;
                            if let Some(Choice::Updated) = key_choice
                                && let Some(source) = updated_entry
                            {
                                entry.head = source.head.clone();
                                entry.key_comment = source.key_comment.clone();
                                entry.foot = source.foot.clone();
                            }
                        }
                        None => {
                            let source = match key_choice {
                                Some(Choice::Updated) => updated_entry,
                                _ => None,
                            };
                            let key_style = updated_entry
                                .or(origin_entry)
                                .map_or(Style::Plain, |e| e.key_style);
                            entries.push(Entry {
                                key: name.clone(),
                                key_style,
                                head: source.map(|e| e.head.clone()).unwrap_or_default(),
                                key_comment: source.and_then(|e| e.key_comment.clone()),
                                foot: source.map(|e| e.foot.clone()).unwrap_or_default(),
                                value: new_field_style(value),
                            });
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
        if updated.is_some_and(Node::is_null) || dest.as_ref().is_some_and(Node::is_null) {
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
            node.comment = if dest.comment == origin.comment {
                updated.comment.clone()
            } else {
                dest.comment.clone()
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
        if updated.is_some_and(Node::is_null) || dest.as_ref().is_some_and(Node::is_null) {
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
        let had_items =
            dest.as_ref().is_none_or(|d| d.is_null() || d.items().is_some_and(|i| !i.is_empty()));
        let mut dest = match dest {
            Some(dest) if !dest.is_null() => dest,
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
                for item in node.items().unwrap_or_default() {
                    let v: Vec<String> = keys.iter().map(|k| key_value(&item.value, k)).collect();
                    if !values.contains(&v) {
                        values.push(v);
                    }
                }
            }
        }
        let keys = if keys.is_empty() {
            for node in sources.into_iter().flatten() {
                for item in node.items().unwrap_or_default() {
                    let v = vec![item.value.as_str().unwrap_or_default().to_string()];
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
        if had_items && dest.items().is_some_and(<[Item]>::is_empty) {
            // A list the merge empties is removed, as kpt does for a local list; a list deleted
            // locally whose elements upstream did not change stays deleted (kyaml writes `[]`).
            return Ok(None);
        }
        Ok(Some(dest))
    }

    fn element_key(&self, sources: [Option<&Node>; 3]) -> Result<String, Error> {
        let mut key: Option<String> = None;
        for node in sources.into_iter().flatten() {
            if node.items().is_none_or(|i| i.is_empty()) {
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
        let mut to_add: Vec<Item> = Vec::new();
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
                node?.items()?.iter().position(|i| element_matches(&i.value, &mkeys, &mvalues))
            };
            let dest_idx = find(Some(dest));
            let dest_item = dest_idx.and_then(|i| dest.items().map(|items| items[i].clone()));
            let origin_item =
                find(origin).and_then(|i| origin.and_then(Node::items).map(|items| &items[i]));
            let updated_item =
                find(updated).and_then(|i| updated.and_then(Node::items).map(|items| &items[i]));
            let mut walker = Walker { options: self.options, path: self.path.clone() };
            walker.path.push(format!("[{}]", vvalues.join(",")));
            let head_choice = self.choose_comments(
                dest_item.as_ref().map(|i| item_comments(i)),
                origin_item.map(item_comments),
                updated_item.map(item_comments),
            );
            let dest_head = dest_item.as_ref().map(|i| i.head.clone());
            let value = walker.walk(
                dest_item.map(|i| i.value),
                origin_item.map(|i| &i.value),
                updated_item.map(|i| &i.value),
                element_schema,
            )?;
            let value = match value {
                Some(v)
                    if !(v.is_null()
                        || v.is_mapping() && v.entries().is_some_and(<[Entry]>::is_empty)) =>
                {
                    v
                }
                _ => {
                    if let Some(items) = items_mut(dest) {
                        set_element(items, None, &vkeys, &vvalues);
                    }
                    continue;
                }
            };
            let mut value = value;
            if value.is_mapping() {
                for (key, v) in vkeys.iter().zip(&vvalues) {
                    if !key.is_empty() && !v.is_empty() && value.get(key).is_none() {
                        value.set(key, Node::string(v));
                    }
                }
            }
            let head = match head_choice {
                Some(Choice::Updated) => updated_item.map(|i| i.head.clone()).unwrap_or_default(),
                _ => dest_head.or_else(|| updated_item.map(|i| i.head.clone())).unwrap_or_default(),
            };
            set_element(&mut to_add, Some(Item { head, value }), &vkeys, &vvalues);
        }
        let Some(items) = items_mut(dest) else { return Ok(()) };
        for item in to_add {
            let v: Vec<String> = valid_keys.iter().map(|k| key_value(&item.value, k)).collect();
            if valid_keys.len() > 1 {
                set_element(items, None, &valid_keys, &v);
            }
            set_element(items, Some(item), &valid_keys, &v);
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

fn entry_comments(entry: &Entry) -> Comments<'_> {
    let mut lines = entry.head_comments();
    lines.extend(entry.foot.iter().map(String::as_str).filter(|l| !l.is_empty()));
    (lines, entry.key_comment.as_deref())
}

fn item_comments(item: &Item) -> Comments<'_> {
    (item.head.iter().map(String::as_str).filter(|l| !l.is_empty()).collect(), None)
}

fn items_mut(node: &mut Node) -> Option<&mut Vec<Item>> {
    match &mut node.value {
        Value::Sequence(items) => Some(items),
        _ => None,
    }
}

/// kyaml infers `name` as the key of a list whose elements all have one.
fn associative_key(node: &Node) -> Option<String> {
    let items = node.items()?;
    items.iter().all(|i| i.value.get("name").is_some()).then(|| "name".to_string())
}

/// The value of a key field of an element (`""` when missing, null or not a scalar); with the
/// empty key, the element's own scalar value.
fn key_value(node: &Node, key: &str) -> String {
    if key.is_empty() {
        return node.as_str().unwrap_or_default().to_string();
    }
    match node.get(key) {
        Some(v) if !v.is_null() => v.as_str().unwrap_or_default().to_string(),
        _ => String::new(),
    }
}

/// kyaml's `MatchElementList`: an element whose key fields have exactly these values.
fn element_matches(node: &Node, keys: &[String], values: &[String]) -> bool {
    if keys.is_empty() || keys[0].is_empty() {
        return node.as_str() == values.first().map(String::as_str);
    }
    node.is_mapping()
        && keys
            .iter()
            .zip(values)
            .all(|(k, v)| node.get(k).is_some_and(|f| f.as_str() == Some(v.as_str())))
}

/// kyaml's `ElementSetter`: replaces the elements matching the key values with `item` (or
/// removes them when `None`), appending `item` when nothing matched. Empty elements are dropped.
fn set_element(items: &mut Vec<Item>, item: Option<Item>, keys: &[String], values: &[String]) {
    let mapping_setter =
        !keys.is_empty() && !keys[0].is_empty() && values.first().is_some_and(|v| !v.is_empty());
    let mut out = Vec::with_capacity(items.len() + 1);
    let mut found = false;
    for existing in std::mem::take(items) {
        let node = &existing.value;
        if node.is_null() || node.entries().is_some_and(<[Entry]>::is_empty) {
            continue;
        }
        if !node.is_mapping() && mapping_setter {
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
fn keep_style(value: &mut Node, style: Style, old: &Node) {
    match (&value.value, &old.value) {
        (Value::Scalar(_), Value::Scalar(_)) => {
            if value.tag.is_some() || matches!(style, Style::Block | Style::Flow) {
                return;
            }
            let mut candidate = value.clone();
            candidate.style = style;
            if candidate.is_string() == value.is_string() && candidate.is_null() == value.is_null()
            {
                value.style = style;
            }
        }
        (Value::Mapping(_), Value::Mapping(_)) | (Value::Sequence(_), Value::Sequence(_)) => {
            value.style = style;
        }
        _ => {}
    }
}

/// kyaml quotes new plain strings that YAML 1.1 would read as booleans.
fn new_field_style(mut value: Node) -> Node {
    if value.style == Style::Plain
        && value.tag.is_none()
        && let Some(text) = value.as_str()
        && veranda_yaml::yaml11::is_old_boolean(text)
    {
        value.style = Style::DoubleQuoted;
    }
    value
}

#[cfg(test)]
mod tests;
