//! The go-yaml v3 `Node` and the small kyaml (`RNode`) toolbox the render engine and the
//! built-in functions need: field lookup, field set with kyaml's placement rules, annotations,
//! and conversion to and from `serde_json::Value`.

use serde_json::Value;

/// Node kinds, as in go-yaml v3.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Kind {
    #[default]
    Document,
    Sequence,
    Mapping,
    Scalar,
    Alias,
}

/// Node style bits, as in go-yaml v3.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Style(pub u8);

impl Style {
    /// The tag is written explicitly (`!!str 1`).
    pub const TAGGED: Style = Style(1);
    /// A double-quoted scalar.
    pub const DOUBLE_QUOTED: Style = Style(2);
    /// A single-quoted scalar.
    pub const SINGLE_QUOTED: Style = Style(4);
    /// A literal block scalar (`|`).
    pub const LITERAL: Style = Style(8);
    /// A folded block scalar (`>`).
    pub const FOLDED: Style = Style(16);
    /// A flow collection (`[a, b]`, `{a: b}`).
    pub const FLOW: Style = Style(32);

    /// Whether any bit of `other` is set.
    pub fn has(self, other: Style) -> bool {
        self.0 & other.0 != 0
    }
}

impl std::ops::BitOr for Style {
    type Output = Style;
    fn bitor(self, rhs: Style) -> Style {
        Style(self.0 | rhs.0)
    }
}

/// A YAML node with comments, like go-yaml v3's `yaml.Node`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Node {
    pub kind: Kind,
    pub style: Style,
    /// Short tag (`!!str`, `!!map`, …) or a custom tag.
    pub tag: String,
    pub value: String,
    pub anchor: String,
    pub content: Vec<Node>,
    pub head_comment: String,
    pub line_comment: String,
    pub foot_comment: String,
    /// 1-based position in the source, 0 for new nodes.
    pub line: usize,
    pub column: usize,
}

pub(crate) const STR_TAG: &str = "!!str";
pub(crate) const MAP_TAG: &str = "!!map";
pub(crate) const SEQ_TAG: &str = "!!seq";
pub(crate) const NULL_TAG: &str = "!!null";
pub(crate) const BOOL_TAG: &str = "!!bool";
pub(crate) const INT_TAG: &str = "!!int";
pub(crate) const FLOAT_TAG: &str = "!!float";

impl Node {
    /// A plain string scalar tagged `!!str` (kyaml `NewStringRNode`).
    pub fn string(value: &str) -> Node {
        Node { kind: Kind::Scalar, tag: STR_TAG.into(), value: value.into(), ..Node::default() }
    }

    /// A scalar whose tag is resolved from its text (kyaml `NewScalarRNode`).
    pub fn scalar(value: &str) -> Node {
        Node {
            kind: Kind::Scalar,
            tag: super::resolve(value).into(),
            value: value.into(),
            ..Node::default()
        }
    }

    /// An empty block mapping (`!!map`).
    pub fn mapping() -> Node {
        Node { kind: Kind::Mapping, tag: MAP_TAG.into(), ..Node::default() }
    }

    /// An empty block sequence (`!!seq`).
    pub fn sequence() -> Node {
        Node { kind: Kind::Sequence, tag: SEQ_TAG.into(), ..Node::default() }
    }

    /// A document node holding `content`.
    pub fn document(content: Node) -> Node {
        Node { kind: Kind::Document, content: vec![content], ..Node::default() }
    }

    /// The node itself, or the content of a document node.
    pub fn inner(&self) -> &Node {
        if self.kind == Kind::Document
            && let Some(first) = self.content.first()
        {
            return first;
        }
        self
    }

    /// The node itself, or the content of a document node, mutably.
    pub fn inner_mut(&mut self) -> &mut Node {
        if self.kind == Kind::Document && !self.content.is_empty() {
            return &mut self.content[0];
        }
        self
    }

    /// Whether this is a mapping node (not looking through a document).
    pub fn is_mapping(&self) -> bool {
        self.kind == Kind::Mapping
    }

    /// Whether this is a null scalar (or an empty document).
    pub fn is_null(&self) -> bool {
        match self.kind {
            Kind::Scalar => self.tag == NULL_TAG,
            Kind::Document => self.content.is_empty() || self.content[0].is_null(),
            _ => false,
        }
    }

    /// The value of a mapping field.
    pub fn get(&self, key: &str) -> Option<&Node> {
        let node = self.inner();
        if node.kind != Kind::Mapping {
            return None;
        }
        let mut i = 0;
        while i + 1 < node.content.len() {
            if node.content[i].value == key {
                return Some(&node.content[i + 1]);
            }
            i += 2;
        }
        None
    }

    /// The value of `key` in this mapping (or the document's mapping), mutably.
    pub fn get_mut(&mut self, key: &str) -> Option<&mut Node> {
        let node = self.inner_mut();
        if node.kind != Kind::Mapping {
            return None;
        }
        let idx = node.field_index(key)?;
        node.content.get_mut(idx + 1)
    }

    /// Index of the key node of a mapping field.
    pub fn field_index(&self, key: &str) -> Option<usize> {
        let mut i = 0;
        while i + 1 < self.content.len() {
            if self.content[i].value == key {
                return Some(i);
            }
            i += 2;
        }
        None
    }

    /// Follows a path of mapping keys.
    pub fn lookup(&self, path: &[&str]) -> Option<&Node> {
        let mut node = self.inner();
        for key in path {
            node = node.get(key)?;
        }
        Some(node)
    }

    /// The string value of a scalar at a path of keys.
    pub fn get_str(&self, path: &[&str]) -> Option<&str> {
        let node = self.lookup(path)?;
        if node.kind == Kind::Scalar { Some(node.value.as_str()) } else { None }
    }

    /// Sets a mapping field like kyaml's `SetField`: an existing value is replaced in place
    /// (its key and comments kept), a new field is appended.
    pub fn set(&mut self, key: &str, value: Node) {
        let node = self.inner_mut();
        if let Some(idx) = node.field_index(key) {
            node.content[idx + 1] = value;
            return;
        }
        node.content.push(Node::string_key(key));
        node.content.push(value);
    }

    /// A mapping key node (kyaml creates keys as plain `!!str` scalars).
    pub fn string_key(key: &str) -> Node {
        Node { kind: Kind::Scalar, tag: STR_TAG.into(), value: key.into(), ..Node::default() }
    }

    /// Removes a mapping field, returning its value.
    pub fn remove(&mut self, key: &str) -> Option<Node> {
        let node = self.inner_mut();
        let idx = node.field_index(key)?;
        let value = node.content.remove(idx + 1);
        node.content.remove(idx);
        Some(value)
    }

    /// Returns the mapping at `path`, creating empty mappings on the way (kyaml
    /// `LookupCreate(MappingNode, …)`). Fails when a non-mapping value is in the way.
    pub fn ensure_mapping(&mut self, path: &[&str]) -> Option<&mut Node> {
        let mut node = self.inner_mut();
        for key in path {
            if node.kind != Kind::Mapping {
                return None;
            }
            let idx = match node.field_index(key) {
                Some(idx) => {
                    let existing = &mut node.content[idx + 1];
                    if existing.is_null() {
                        *existing = Node::mapping();
                    }
                    idx
                }
                None => {
                    node.content.push(Node::string_key(key));
                    node.content.push(Node::mapping());
                    node.content.len() - 2
                }
            };
            node = &mut node.content[idx + 1];
        }
        if node.kind != Kind::Mapping {
            return None;
        }
        Some(node)
    }

    /// Mapping entries as (key, value) pairs.
    pub fn entries(&self) -> impl Iterator<Item = (&Node, &Node)> {
        self.content.chunks(2).filter(|c| c.len() == 2).map(|c| (&c[0], &c[1]))
    }

    // ---- KRM metadata ---------------------------------------------------------------------------

    /// `apiVersion`, or empty.
    pub fn api_version(&self) -> &str {
        self.get_str(&["apiVersion"]).unwrap_or("")
    }

    /// `kind`, or empty.
    pub fn kind_name(&self) -> &str {
        self.get_str(&["kind"]).unwrap_or("")
    }

    /// `metadata.name`, or empty.
    pub fn name(&self) -> &str {
        self.get_str(&["metadata", "name"]).unwrap_or("")
    }

    /// `metadata.namespace`, or empty.
    pub fn namespace(&self) -> &str {
        self.get_str(&["metadata", "namespace"]).unwrap_or("")
    }

    /// The value of annotation `key`, if set.
    pub fn annotation(&self, key: &str) -> Option<&str> {
        self.get_str(&["metadata", "annotations", key])
    }

    /// The value of label `key`, if set.
    pub fn label(&self, key: &str) -> Option<&str> {
        self.get_str(&["metadata", "labels", key])
    }

    /// The string-valued entries of `metadata.<field>` (labels or annotations).
    pub fn string_map(&self, field: &str) -> Vec<(String, String)> {
        match self.lookup(&["metadata", field]) {
            Some(node) if node.kind == Kind::Mapping => {
                node.entries().map(|(k, v)| (k.value.clone(), v.value.clone())).collect()
            }
            _ => Vec::new(),
        }
    }

    /// kyaml `FieldSetter`: an existing field's value node is replaced whole (its comments go)
    /// and the new value inherits the old value's style; a new field is appended. A string value
    /// without style that YAML 1.1 would read as another type is double-quoted.
    pub fn set_field(&mut self, key: &str, mut value: Node) {
        if value.kind == Kind::Scalar
            && value.tag == STR_TAG
            && value.style.0 == 0
            && super::yaml11::is_yaml11_non_string(&value.value)
        {
            value.style = Style::DOUBLE_QUOTED;
        }
        let node = self.inner_mut();
        if let Some(idx) = node.field_index(key) {
            value.style = node.content[idx + 1].style;
            node.content[idx + 1] = value;
            return;
        }
        node.content.push(Node::string_key(key));
        node.content.push(value);
    }

    /// kyaml `SetAnnotation`: clears empty annotations/metadata, then sets a single-quoted value
    /// under `metadata.annotations` (created at the end of `metadata` when missing).
    pub fn set_annotation(&mut self, key: &str, value: &str) {
        self.clear_empty_annotations();
        let mut v = Node::string(value);
        v.style = Style::SINGLE_QUOTED;
        if let Some(map) = self.ensure_mapping(&["metadata", "annotations"]) {
            map.set_field(key, v);
        }
    }

    /// kyaml `SetLabel`.
    pub fn set_label(&mut self, key: &str, value: &str) {
        let mut v = Node::string(value);
        v.style = Style::SINGLE_QUOTED;
        if let Some(map) = self.ensure_mapping(&["metadata", "labels"]) {
            map.set_field(key, v);
        }
    }

    /// kyaml `ClearAnnotation` (leaves an emptied `annotations` map in place).
    pub fn clear_annotation(&mut self, key: &str) -> Option<Node> {
        let annotations = self.inner_mut().get_mut("metadata")?.get_mut("annotations")?;
        if annotations.kind != Kind::Mapping {
            return None;
        }
        annotations.remove(key)
    }

    /// kyaml `ClearEmptyAnnotations`: drops an empty `metadata.annotations`, then an empty
    /// `metadata`.
    pub fn clear_empty_annotations(&mut self) {
        let inner = self.inner_mut();
        if inner.kind != Kind::Mapping {
            return;
        }
        if let Some(metadata) = inner.get_mut("metadata")
            && metadata.kind == Kind::Mapping
            && metadata.get("annotations").is_some_and(is_nil_or_empty)
        {
            metadata.remove("annotations");
        }
        if let Some(metadata) = inner.get("metadata")
            && is_nil_or_empty(metadata)
        {
            inner.remove("metadata");
        }
    }

    // ---- JSON conversion ------------------------------------------------------------------------

    /// The node as a JSON value (go-yaml decoding rules for tags; aliases become null).
    pub fn to_json(&self) -> Value {
        match self.kind {
            Kind::Document => self.content.first().map(Node::to_json).unwrap_or(Value::Null),
            Kind::Mapping => {
                let mut map = serde_json::Map::new();
                for (k, v) in self.entries() {
                    if k.value == "<<" && k.tag == "!!merge" {
                        if let Value::Object(merged) = v.to_json() {
                            for (mk, mv) in merged {
                                map.entry(mk).or_insert(mv);
                            }
                        }
                        continue;
                    }
                    map.insert(k.value.clone(), v.to_json());
                }
                Value::Object(map)
            }
            Kind::Sequence => Value::Array(self.content.iter().map(Node::to_json).collect()),
            Kind::Alias => Value::Null,
            Kind::Scalar => scalar_to_json(&self.tag, &self.value),
        }
    }

    /// Builds nodes from a JSON value; strings that would resolve to another type are tagged
    /// `!!str` so that they are quoted on output.
    pub fn from_json(value: &Value) -> Node {
        match value {
            Value::Null => Node {
                kind: Kind::Scalar,
                tag: NULL_TAG.into(),
                value: "null".into(),
                ..Node::default()
            },
            Value::Bool(b) => Node {
                kind: Kind::Scalar,
                tag: BOOL_TAG.into(),
                value: b.to_string(),
                ..Node::default()
            },
            Value::Number(n) => {
                let tag = if n.is_f64() { FLOAT_TAG } else { INT_TAG };
                Node {
                    kind: Kind::Scalar,
                    tag: tag.into(),
                    value: n.to_string(),
                    ..Node::default()
                }
            }
            Value::String(s) => {
                let mut node = Node::string(s);
                if s.contains('\n') {
                    node.style = Style::LITERAL;
                }
                node
            }
            Value::Array(items) => {
                let mut node = Node::sequence();
                node.content = items.iter().map(Node::from_json).collect();
                node
            }
            Value::Object(map) => {
                let mut node = Node::mapping();
                for (k, v) in map {
                    node.content.push(Node::string_key(k));
                    node.content.push(Node::from_json(v));
                }
                node
            }
        }
    }
}

/// kyaml `IsNilOrEmpty` on a value node.
pub(crate) fn is_nil_or_empty(node: &Node) -> bool {
    match node.kind {
        Kind::Scalar => node.tag == NULL_TAG,
        Kind::Mapping | Kind::Sequence => node.content.is_empty(),
        _ => false,
    }
}

fn scalar_to_json(tag: &str, value: &str) -> Value {
    match tag {
        NULL_TAG => Value::Null,
        BOOL_TAG => Value::Bool(matches!(value, "true" | "True" | "TRUE")),
        INT_TAG => {
            let plain = value.replace('_', "");
            if let Some(v) = parse_go_int(&plain) {
                return Value::from(v);
            }
            Value::String(value.into())
        }
        FLOAT_TAG => match value.parse::<f64>() {
            Ok(f) => serde_json::Number::from_f64(f)
                .map(Value::Number)
                .unwrap_or(Value::String(value.into())),
            Err(_) => Value::String(value.into()),
        },
        _ => Value::String(value.into()),
    }
}

/// Go's `strconv.ParseInt(s, 0, 64)`: optional sign, `0x`/`0o`/`0b` prefixes, leading `0` for
/// octal.
pub fn parse_go_int(s: &str) -> Option<i64> {
    parse_go_integer(s).and_then(|v| i64::try_from(v).ok())
}

/// The integer syntax of Go's `strconv.ParseInt(s, 0, …)` with a wide result.
pub(crate) fn parse_go_integer(s: &str) -> Option<i128> {
    let (neg, digits) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    if digits.is_empty() {
        return None;
    }
    let (radix, body) =
        if let Some(rest) = digits.strip_prefix("0x").or_else(|| digits.strip_prefix("0X")) {
            (16, rest)
        } else if let Some(rest) = digits.strip_prefix("0o").or_else(|| digits.strip_prefix("0O")) {
            (8, rest)
        } else if let Some(rest) = digits.strip_prefix("0b").or_else(|| digits.strip_prefix("0B")) {
            (2, rest)
        } else if digits.len() > 1 && digits.starts_with('0') {
            (8, &digits[1..])
        } else {
            (10, digits)
        };
    if body.is_empty() || body.starts_with('+') || body.starts_with('-') {
        return None;
    }
    if body.len() > 40 {
        return None;
    }
    let magnitude = i128::from_str_radix(body, radix).ok()?;
    Some(if neg { -magnitude } else { magnitude })
}
