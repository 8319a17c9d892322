//! Builds `Node` trees from parser events: a port of the node-building half of go-yaml v3's
//! `decode.go`, including where it moves foot comments between keys and values.

use super::node::{Kind, MAP_TAG, Node, SEQ_TAG, STR_TAG, Style};
use super::resolve::{resolve, short_tag};
use super::scanner::{CollectionStyle, Event, EventType, Parser, ScalarStyle};
use super::{ALIAS_EXPANSION_FLOOR, ALIAS_EXPANSION_RATIO, Error, MAX_DEPTH};

pub(crate) struct Composer {
    parser: Parser,
    event: Option<Event>,
    /// Type of an event taken with `current` and not yet `expect`ed.
    taken: Option<EventType>,
    /// Anchors defined so far with the number of nodes each would expand into.
    anchors: std::collections::HashMap<String, usize>,
    /// Nodes of the current document as written (an alias counts once).
    raw_nodes: usize,
    /// Nodes of the current document with every alias expanded.
    expanded_nodes: usize,
    /// Collections open around the current event; bounded by [`MAX_DEPTH`].
    depth: usize,
}

impl Composer {
    pub(crate) fn new(input: &[u8]) -> Composer {
        Composer {
            parser: Parser::new(input),
            event: None,
            taken: None,
            anchors: std::collections::HashMap::new(),
            raw_nodes: 0,
            expanded_nodes: 0,
            depth: 0,
        }
    }

    pub(crate) fn documents(mut self) -> Result<Vec<Node>, Error> {
        self.expect(EventType::StreamStart)?;
        let mut docs = Vec::new();
        loop {
            match self.peek()? {
                EventType::StreamEnd | EventType::None => break,
                EventType::DocumentStart => docs.push(self.document()?),
                other => return Err(Error::Other(format!("unexpected event {other:?}"))),
            }
        }
        Ok(docs)
    }

    fn peek(&mut self) -> Result<EventType, Error> {
        if self.event.is_none() {
            self.event = self.parser.parse()?;
        }
        Ok(self.event.as_ref().map(|e| e.typ).unwrap_or(EventType::StreamEnd))
    }

    /// Takes the current event (peeked before); the next `expect` of its type then succeeds.
    fn current(&mut self) -> Event {
        let event = self.event.take().unwrap_or_default();
        self.taken = Some(event.typ);
        event
    }

    fn expect(&mut self, typ: EventType) -> Result<(), Error> {
        if let Some(taken) = self.taken.take() {
            if taken != typ {
                return Err(Error::Other(format!("expected {typ:?} event but got {taken:?}")));
            }
            return Ok(());
        }
        let actual = self.peek()?;
        if actual != typ {
            return Err(Error::Other(format!("expected {typ:?} event but got {actual:?}")));
        }
        self.event = None;
        Ok(())
    }

    fn node(event: Option<&Event>, kind: Kind, default_tag: &str, tag: &[u8], value: &str) -> Node {
        let tag = String::from_utf8_lossy(tag).into_owned();
        let mut style = Style::default();
        let tag = if !tag.is_empty() && tag != "!" {
            style = Style::TAGGED;
            short_tag(&tag)
        } else if !default_tag.is_empty() {
            default_tag.to_string()
        } else if kind == Kind::Scalar {
            resolve(value).to_string()
        } else {
            String::new()
        };
        let mut node = Node { kind, tag, value: value.to_string(), style, ..Node::default() };
        if let Some(event) = event {
            node.line = event.start_mark.line + 1;
            node.column = event.start_mark.column + 1;
            node.head_comment = lossy(&event.head_comment);
            node.line_comment = lossy(&event.line_comment);
            node.foot_comment = lossy(&event.foot_comment);
        }
        node
    }

    fn parse(&mut self) -> Result<Node, Error> {
        let typ = self.peek()?;
        if typ == EventType::DocumentStart {
            return self.document();
        }
        self.raw_nodes += 1;
        if typ != EventType::Alias {
            self.expanded_nodes += 1;
        }
        let before = self.expanded_nodes - usize::from(typ != EventType::Alias);
        let node = self.parse_node(typ)?;
        if !node.anchor.is_empty() {
            self.anchors.insert(node.anchor.clone(), self.expanded_nodes - before);
        }
        Ok(node)
    }

    fn parse_node(&mut self, typ: EventType) -> Result<Node, Error> {
        match typ {
            EventType::Scalar => self.scalar(),
            EventType::Alias => self.alias(),
            EventType::MappingStart => self.nested(Composer::mapping),
            EventType::SequenceStart => self.nested(Composer::sequence),
            EventType::DocumentStart => self.document(),
            other => Err(Error::Other(format!("unexpected event {other:?}"))),
        }
    }

    /// Builds a collection one level deeper; the recursion of the composer stops at
    /// [`MAX_DEPTH`] levels, so a hostile input cannot overflow the thread stack.
    fn nested(&mut self, build: fn(&mut Composer) -> Result<Node, Error>) -> Result<Node, Error> {
        if self.depth >= MAX_DEPTH {
            let line = self.event.as_ref().map_or(0, |e| e.start_mark.line + 1);
            return Err(Error::Limit { line, message: super::depth_message() });
        }
        self.depth += 1;
        let node = build(self);
        self.depth -= 1;
        node
    }

    fn document(&mut self) -> Result<Node, Error> {
        let event = self.current();
        let mut node = Composer::node(Some(&event), Kind::Document, "", b"", "");
        self.anchors.clear();
        self.raw_nodes = 0;
        self.expanded_nodes = 0;
        self.expect(EventType::DocumentStart)?;
        let child = self.parse()?;
        node.content.push(child);
        if self.peek()? == EventType::DocumentEnd {
            node.foot_comment = lossy(&self.current().foot_comment);
        }
        self.expect(EventType::DocumentEnd)?;
        Ok(node)
    }

    fn alias(&mut self) -> Result<Node, Error> {
        let event = self.current();
        let name = lossy(&event.anchor);
        let node = Composer::node(Some(&event), Kind::Alias, "", b"", &name);
        let Some(&size) = self.anchors.get(&name) else {
            return Err(Error::Other(format!("unknown anchor '{name}' referenced")));
        };
        // Aliases stay alias nodes here, but whoever reads the file later expands them.
        self.expanded_nodes = self.expanded_nodes.saturating_add(size);
        let limit = ALIAS_EXPANSION_FLOOR.max(ALIAS_EXPANSION_RATIO.saturating_mul(self.raw_nodes));
        if self.expanded_nodes > limit {
            return Err(Error::Limit {
                line: event.start_mark.line + 1,
                message: super::alias_message(limit),
            });
        }
        self.expect(EventType::Alias)?;
        Ok(node)
    }

    fn scalar(&mut self) -> Result<Node, Error> {
        let event = self.current();
        let node_style = match event.scalar_style {
            ScalarStyle::DoubleQuoted => Style::DOUBLE_QUOTED,
            ScalarStyle::SingleQuoted => Style::SINGLE_QUOTED,
            ScalarStyle::Literal => Style::LITERAL,
            ScalarStyle::Folded => Style::FOLDED,
            _ => Style::default(),
        };
        let value = lossy(&event.value);
        let default_tag =
            if node_style.0 == 0 { if value == "<<" { "!!merge" } else { "" } } else { STR_TAG };
        let mut node = Composer::node(Some(&event), Kind::Scalar, default_tag, &event.tag, &value);
        node.style = node.style | node_style;
        self.anchor(&mut node, &event.anchor);
        self.expect(EventType::Scalar)?;
        Ok(node)
    }

    fn anchor(&mut self, node: &mut Node, anchor: &[u8]) {
        if !anchor.is_empty() {
            node.anchor = lossy(anchor);
            // Known from here on, as in go-yaml; its size is set once the node is built (see
            // `parse`).
            self.anchors.insert(node.anchor.clone(), 0);
        }
    }

    fn sequence(&mut self) -> Result<Node, Error> {
        let event = self.current();
        let mut node = Composer::node(Some(&event), Kind::Sequence, SEQ_TAG, &event.tag, "");
        if event.collection_style == CollectionStyle::Flow {
            node.style = node.style | Style::FLOW;
        }
        self.anchor(&mut node, &event.anchor);
        self.expect(EventType::SequenceStart)?;
        while self.peek()? != EventType::SequenceEnd {
            let child = self.parse()?;
            node.content.push(child);
        }
        let end = self.current();
        node.line_comment = lossy(&end.line_comment);
        node.foot_comment = lossy(&end.foot_comment);
        self.expect(EventType::SequenceEnd)?;
        Ok(node)
    }

    fn mapping(&mut self) -> Result<Node, Error> {
        let event = self.current();
        let mut node = Composer::node(Some(&event), Kind::Mapping, MAP_TAG, &event.tag, "");
        let mut block = true;
        if event.collection_style == CollectionStyle::Flow {
            block = false;
            node.style = node.style | Style::FLOW;
        }
        self.anchor(&mut node, &event.anchor);
        self.expect(EventType::MappingStart)?;
        while self.peek()? != EventType::MappingEnd {
            let mut key = self.parse()?;
            if block && !key.foot_comment.is_empty() && node.content.len() >= 2 {
                let len = node.content.len();
                node.content[len - 2].foot_comment = std::mem::take(&mut key.foot_comment);
            }
            let mut value = self.parse()?;
            if key.foot_comment.is_empty() && !value.foot_comment.is_empty() {
                key.foot_comment = std::mem::take(&mut value.foot_comment);
            }
            node.content.push(key);
            node.content.push(value);
            if self.peek()? == EventType::TailComment {
                let len = node.content.len();
                if node.content[len - 2].foot_comment.is_empty() {
                    node.content[len - 2].foot_comment = lossy(&self.current().foot_comment);
                }
                self.expect(EventType::TailComment)?;
            }
        }
        let end = self.current();
        node.line_comment = lossy(&end.line_comment);
        node.foot_comment = lossy(&end.foot_comment);
        if !node.style.has(Style::FLOW) && !node.foot_comment.is_empty() && node.content.len() > 1 {
            let len = node.content.len();
            node.content[len - 2].foot_comment = std::mem::take(&mut node.foot_comment);
        }
        self.expect(EventType::MappingEnd)?;
        Ok(node)
    }
}

fn lossy(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}
