//! Parsing: documents are split at `---` lines, each is parsed into events by
//! `saphyr-parser`, built into a [`Node`] tree, and the comments of its text are attached in a
//! second pass that walks the tree in the order it was built.

use std::collections::{BTreeMap, HashMap};

use saphyr_parser::{Event, Parser, ScalarStyle, Span, Tag};

use super::{
    ALIAS_EXPANSION_FLOOR, ALIAS_EXPANSION_RATIO, Document, Entry, Error, Item, MAX_DEPTH, Node,
    Style, Value,
};

/// Parses a file into its documents.
pub fn parse(text: &str) -> Result<Vec<Document>, Error> {
    let mut docs = Vec::new();
    let mut line_offset = 0;
    for chunk in split_documents(text) {
        docs.push(parse_document(&chunk, line_offset)?);
        line_offset += chunk.lines + usize::from(chunk.separator.is_some());
    }
    Ok(docs)
}

struct Chunk {
    separator: Option<String>,
    /// Content the separator line carried after `---` that is not a comment.
    inline: Option<String>,
    text: String,
    lines: usize,
}

fn split_documents(text: &str) -> Vec<Chunk> {
    let mut chunks = Vec::new();
    let mut current = Chunk { separator: None, inline: None, text: String::new(), lines: 0 };
    for line in text.split_inclusive('\n') {
        let bare = line.trim_end_matches('\n').trim_end_matches('\r');
        let is_separator = bare == "---" || bare.starts_with("--- ") || bare.starts_with("---\t");
        if is_separator {
            let blank = current.text.trim().is_empty();
            if !(chunks.is_empty() && current.separator.is_none() && blank) {
                chunks.push(current);
            }
            let rest = bare[3..].trim();
            let inline = (!rest.is_empty() && !rest.starts_with('#')).then(|| rest.to_string());
            let separator = if inline.is_some() {
                "---".to_string()
            } else {
                line.trim_end_matches('\n').to_string()
            };
            current = Chunk { separator: Some(separator), inline, text: String::new(), lines: 0 };
            continue;
        }
        current.text.push_str(line);
        current.lines += 1;
    }
    if !(current.text.is_empty() && current.separator.is_none() && !chunks.is_empty()) {
        chunks.push(current);
    }
    chunks
}

#[derive(Clone, Copy, Default)]
struct Pos {
    start_line: usize,
    end_line: usize,
    flow: bool,
    block_scalar: bool,
}

enum LineKind {
    Blank,
    Comment(String),
    Content,
    InScalar,
}

struct Builder<'a> {
    parser: Parser<'a, saphyr_parser::StrInput<'a>>,
    lines: Vec<&'a str>,
    line_offset: usize,
    /// Anchored nodes with their size (nodes once expanded) and collection height.
    anchors: HashMap<usize, (Node, usize, usize)>,
    /// Collections open around the node being built.
    depth: usize,
    /// Collection height of the node built last (a scalar is 0).
    last_height: usize,
    /// Nodes in the text (an alias counts once).
    raw_nodes: usize,
    /// Nodes built, aliases expanded.
    expanded_nodes: usize,
    /// Positions of nodes in pre-order.
    nodes: Vec<Pos>,
    /// Lines of mapping keys in pre-order.
    keys: Vec<usize>,
    scalar_spans: Vec<(usize, usize)>,
    indent: Option<usize>,
    wide: Option<bool>,
}

fn parse_document(chunk: &Chunk, line_offset: usize) -> Result<Document, Error> {
    let owned;
    let text: &str = match &chunk.inline {
        Some(inline) => {
            owned = format!("{inline}\n{}", chunk.text);
            &owned
        }
        None => &chunk.text,
    };
    let mut builder = Builder {
        parser: Parser::new_from_str(text),
        lines: text.split('\n').collect(),
        line_offset,
        anchors: HashMap::new(),
        depth: 0,
        last_height: 0,
        raw_nodes: 0,
        expanded_nodes: 0,
        nodes: Vec::new(),
        keys: Vec::new(),
        scalar_spans: Vec::new(),
        indent: None,
        wide: None,
    };
    let mut root = None;
    loop {
        let (event, span) = builder.next()?;
        match event {
            Event::StreamStart | Event::DocumentStart(_) | Event::DocumentEnd => {}
            Event::StreamEnd => break,
            Event::Nothing => {}
            other => {
                if root.is_some() {
                    return Err(builder
                        .unsupported(span, "more than one document without a `---` separator"));
                }
                root = Some(builder.node(other, span, None)?);
            }
        }
    }
    let line_kinds = classify_lines(text, &builder.scalar_spans);
    let mut attach = Attach {
        kinds: line_kinds,
        nodes: &builder.nodes,
        keys: &builder.keys,
        next_node: 0,
        next_key: 0,
        last_line: 0,
    };
    let mut head = Vec::new();
    if let Some(root) = root.as_mut() {
        let first_line = builder.nodes.first().map_or(1, |p| p.start_line);
        if !matches!(root.value, Value::Mapping(ref e) if !e.is_empty() && root.style == Style::Block)
            && !matches!(root.value, Value::Sequence(ref i) if !i.is_empty() && root.style == Style::Block)
        {
            head = attach.take_head(first_line);
        }
        attach.node(root);
    }
    let mut foot = attach.take_head(usize::MAX);
    while foot.last().is_some_and(String::is_empty) {
        foot.pop();
    }
    if root.is_none() {
        head.append(&mut foot);
        while head.last().is_some_and(String::is_empty) {
            head.pop();
        }
    }
    Ok(Document {
        separator: chunk.separator.clone(),
        root,
        head,
        foot,
        raw: Some(chunk.text.clone()),
        indent: builder.indent.unwrap_or(2),
        wide_sequences: builder.wide.unwrap_or(false),
    })
}

impl<'a> Builder<'a> {
    fn next(&mut self) -> Result<(Event<'a>, Span), Error> {
        match self.parser.next_event() {
            Some(Ok(pair)) => Ok(pair),
            Some(Err(e)) if e.info().contains("recursion limit") => Err(Error::Limit {
                line: e.marker().line() + self.line_offset,
                message: super::depth_message(),
            }),
            Some(Err(e)) => Err(Error::Syntax {
                line: e.marker().line() + self.line_offset,
                message: e.info().to_string(),
            }),
            None => Err(Error::Syntax {
                line: self.line_offset,
                message: "unexpected end of input".into(),
            }),
        }
    }

    fn unsupported(&self, span: Span, message: &str) -> Error {
        Error::Unsupported { line: span.start.line() + self.line_offset, message: message.into() }
    }

    fn limit(&self, span: Span, message: String) -> Error {
        Error::Limit { line: span.start.line() + self.line_offset, message }
    }

    /// Enters a collection; the recursion of [`Builder::node`] stops at [`MAX_DEPTH`].
    fn enter(&mut self, span: Span) -> Result<(), Error> {
        if self.depth >= MAX_DEPTH {
            return Err(self.limit(span, super::depth_message()));
        }
        self.depth += 1;
        Ok(())
    }

    /// Builds the node that starts with `event`; `key_col` is the column of the key whose value
    /// it is.
    fn node(
        &mut self,
        event: Event<'a>,
        span: Span,
        key_col: Option<usize>,
    ) -> Result<Node, Error> {
        let slot = self.nodes.len();
        self.nodes.push(Pos { start_line: span.start.line(), ..Pos::default() });
        self.raw_nodes += 1;
        let expanded_before = self.expanded_nodes;
        if !matches!(event, Event::Alias(_)) {
            self.expanded_nodes += 1;
        }
        let mut height = 0;
        let (node, anchor, end) = match event {
            Event::Scalar(value, style, anchor, tag) => {
                self.scalar_spans.push((span.start.index(), span.end.index()));
                let style = match style {
                    ScalarStyle::Plain => Style::Plain,
                    ScalarStyle::SingleQuoted => Style::SingleQuoted,
                    ScalarStyle::DoubleQuoted => Style::DoubleQuoted,
                    ScalarStyle::Literal => Style::Literal,
                    ScalarStyle::Folded => Style::Folded,
                };
                self.nodes[slot].block_scalar = matches!(style, Style::Literal | Style::Folded);
                let node = Node {
                    value: Value::Scalar(value.into_owned()),
                    tag: tag.map(|t| tag_text(&t)),
                    style,
                    comment: None,
                };
                (node, anchor, span)
            }
            Event::SequenceStart(anchor, tag) => {
                self.enter(span)?;
                let mut items = Vec::new();
                let end = loop {
                    let (event, span) = self.next()?;
                    if let Event::SequenceEnd = event {
                        break span;
                    }
                    if items.is_empty()
                        && self.wide.is_none()
                        && let Some(key_col) = key_col
                        && let Some(dash) = self.dash_col(span)
                    {
                        self.wide = Some(dash > key_col);
                    }
                    items.push(Item { head: Vec::new(), value: self.node(event, span, None)? });
                    height = height.max(self.last_height);
                };
                self.depth -= 1;
                height += 1;
                let flow = end.end.index() > end.start.index();
                let node = Node {
                    value: Value::Sequence(items),
                    tag: tag.map(|t| tag_text(&t)),
                    style: if flow { Style::Flow } else { Style::Block },
                    comment: None,
                };
                (node, anchor, end)
            }
            Event::MappingStart(anchor, tag) => {
                self.enter(span)?;
                let mut entries = Vec::new();
                let end = loop {
                    let (event, span) = self.next()?;
                    let (key, key_style) = match event {
                        Event::MappingEnd => break span,
                        Event::Scalar(value, style, _, _) => {
                            self.scalar_spans.push((span.start.index(), span.end.index()));
                            let style = match style {
                                ScalarStyle::SingleQuoted => Style::SingleQuoted,
                                ScalarStyle::DoubleQuoted => Style::DoubleQuoted,
                                _ => Style::Plain,
                            };
                            (value.into_owned(), style)
                        }
                        _ => {
                            return Err(
                                self.unsupported(span, "only scalar mapping keys are supported")
                            );
                        }
                    };
                    if entries.is_empty()
                        && self.indent.is_none()
                        && let Some(parent) = key_col
                        && span.start.col() > parent
                    {
                        self.indent = Some(span.start.col() - parent);
                    }
                    self.keys.push(span.start.line());
                    let key_col = span.start.col();
                    let (event, vspan) = self.next()?;
                    self.raw_nodes += 1;
                    self.expanded_nodes += 1;
                    let value = self.node(event, vspan, Some(key_col))?;
                    height = height.max(self.last_height);
                    entries.push(Entry {
                        key,
                        key_style,
                        head: Vec::new(),
                        key_comment: None,
                        value,
                    });
                };
                self.depth -= 1;
                height += 1;
                let flow = end.end.index() > end.start.index();
                let node = Node {
                    value: Value::Mapping(entries),
                    tag: tag.map(|t| tag_text(&t)),
                    style: if flow { Style::Flow } else { Style::Block },
                    comment: None,
                };
                (node, anchor, end)
            }
            Event::Alias(id) => {
                let &(_, size, anchor_height) = self
                    .anchors
                    .get(&id)
                    .ok_or_else(|| self.unsupported(span, "alias of an unknown anchor"))?;
                if self.depth + anchor_height > MAX_DEPTH {
                    return Err(self.limit(span, super::depth_message()));
                }
                let limit = ALIAS_EXPANSION_FLOOR.max(ALIAS_EXPANSION_RATIO * self.raw_nodes);
                self.expanded_nodes = self.expanded_nodes.saturating_add(size);
                if self.expanded_nodes > limit {
                    return Err(self.limit(span, super::alias_message(limit)));
                }
                height = anchor_height;
                let node = self
                    .anchors
                    .get(&id)
                    .map(|a| a.0.clone())
                    .ok_or_else(|| self.unsupported(span, "alias of an unknown anchor"))?;
                (node, 0, span)
            }
            _ => return Err(self.unsupported(span, "unexpected event")),
        };
        let pos = &mut self.nodes[slot];
        pos.end_line = end.end.line();
        pos.flow = node.style == Style::Flow;
        if anchor > 0 {
            let size = self.expanded_nodes - expanded_before;
            self.anchors.insert(anchor, (node.clone(), size, height));
        }
        self.last_height = height;
        Ok(node)
    }

    /// Column of the `-` before a block sequence item that starts at `span`.
    fn dash_col(&self, span: Span) -> Option<usize> {
        let line = self.lines.get(span.start.line().checked_sub(1)?)?;
        let chars: Vec<char> = line.chars().take(span.start.col()).collect();
        let idx = chars.iter().rposition(|c| !c.is_whitespace())?;
        (chars[idx] == '-').then_some(idx)
    }
}

fn tag_text(tag: &Tag) -> String {
    if tag.handle == "tag:yaml.org,2002:" {
        format!("!!{}", tag.suffix)
    } else {
        format!("{}{}", tag.handle, tag.suffix)
    }
}

/// Classifies every line (1-based index) and collects trailing comments by line.
fn classify_lines(
    text: &str,
    spans: &[(usize, usize)],
) -> (Vec<LineKind>, BTreeMap<usize, String>) {
    let mut spans = spans.to_vec();
    spans.sort_unstable();
    // Whether a character index lies inside a scalar, and whether a scalar starts there.
    let inside = |idx: usize| {
        let pos = spans.partition_point(|&(start, _)| start <= idx);
        pos > 0 && idx < spans[pos - 1].1
    };
    let starts = |idx: usize| spans.binary_search_by_key(&idx, |s| s.0).is_ok();
    let mut kinds = vec![LineKind::Blank];
    let mut trailing = BTreeMap::new();
    let mut char_idx = 0;
    for (line_no, line) in text.split('\n').enumerate() {
        let line_no = line_no + 1;
        let mut kind = None;
        let mut prev_space = true;
        for (col, (byte, c)) in line.char_indices().enumerate() {
            let idx = char_idx + col;
            if c.is_whitespace() {
                prev_space = true;
                continue;
            }
            if c == '#' && prev_space && !inside(idx) {
                let comment = line[byte..].trim_end().to_string();
                match kind {
                    None => kind = Some(LineKind::Comment(comment)),
                    Some(_) => {
                        trailing.insert(line_no, comment);
                    }
                }
                break;
            }
            if kind.is_none() {
                kind = Some(if inside(idx) && !starts(idx) {
                    LineKind::InScalar
                } else {
                    LineKind::Content
                });
            }
            prev_space = false;
        }
        let kind = kind.unwrap_or_else(|| {
            if char_idx > 0 && inside(char_idx) && !starts(char_idx) {
                LineKind::InScalar
            } else {
                LineKind::Blank
            }
        });
        kinds.push(kind);
        char_idx += line.chars().count() + 1;
    }
    (kinds, trailing)
}

struct Attach<'p> {
    kinds: (Vec<LineKind>, BTreeMap<usize, String>),
    nodes: &'p [Pos],
    keys: &'p [usize],
    next_node: usize,
    next_key: usize,
    last_line: usize,
}

impl Attach<'_> {
    /// Comment and blank lines after the last anchor line and before `line`, plus trailing
    /// comments nobody took there.
    fn take_head(&mut self, line: usize) -> Vec<String> {
        let mut head = Vec::new();
        let end = line.min(self.kinds.0.len());
        for l in (self.last_line + 1)..end {
            match &self.kinds.0[l] {
                LineKind::Blank => head.push(String::new()),
                LineKind::Comment(c) => head.push(c.clone()),
                LineKind::Content | LineKind::InScalar => {
                    if let Some(c) = self.kinds.1.remove(&l) {
                        head.push(c);
                    }
                }
            }
        }
        if line > self.last_line && line != usize::MAX {
            self.last_line = line;
        } else if line == usize::MAX {
            self.last_line = self.kinds.0.len();
        }
        head
    }

    fn node(&mut self, node: &mut Node) {
        let pos = self.nodes.get(self.next_node).copied().unwrap_or_default();
        self.next_node += 1;
        if pos.flow {
            node.comment = self.kinds.1.remove(&pos.end_line);
            self.skip(node);
            return;
        }
        match &mut node.value {
            Value::Scalar(_) => {
                if !pos.block_scalar {
                    node.comment = self.kinds.1.remove(&pos.end_line);
                }
            }
            Value::Mapping(entries) => {
                for entry in entries {
                    let line = self.keys.get(self.next_key).copied().unwrap_or(0);
                    self.next_key += 1;
                    entry.head = self.take_head(line);
                    let value_pos = self.nodes.get(self.next_node).copied().unwrap_or_default();
                    let value_on_key_line = !value_pos.block_scalar
                        && (value_pos.flow || matches!(entry.value.value, Value::Scalar(_)))
                        && value_pos.end_line == line;
                    if !value_on_key_line {
                        entry.key_comment = self.kinds.1.remove(&line);
                    }
                    self.node(&mut entry.value);
                }
            }
            Value::Sequence(items) => {
                for item in items {
                    let line = self.nodes.get(self.next_node).map_or(0, |p| p.start_line);
                    item.head = self.take_head(line);
                    self.node(&mut item.value);
                }
            }
        }
    }

    /// Skips the positions of a subtree whose comments are not attached (inside a flow node).
    fn skip(&mut self, node: &Node) {
        match &node.value {
            Value::Scalar(_) => {}
            Value::Mapping(entries) => {
                for entry in entries {
                    self.next_key += 1;
                    self.next_node += 1;
                    self.skip(&entry.value);
                }
            }
            Value::Sequence(items) => {
                for item in items {
                    self.next_node += 1;
                    self.skip(&item.value);
                }
            }
        }
    }
}
