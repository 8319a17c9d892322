//! YAML emitter: a port of go-yaml v3's `emitterc.go` (kyaml's copy with the compact sequence
//! indentation patch) and of the `Node` half of `encode.go`, with kyaml's settings: indent 2,
//! unlimited line width, unicode output.
//!
//! The control flow follows the Go code statement by statement (hence the lint exceptions), so
//! that it can be checked against the original.
#![allow(clippy::collapsible_match, clippy::collapsible_if)]

use super::Error;
use super::node::{Kind, MAP_TAG, Node, SEQ_TAG, STR_TAG, Style};
use super::resolve::{long_tag, resolve};
use super::scanner::{CollectionStyle, Event, EventType, ScalarStyle, width};

/// Sequence indentation inside mappings: kyaml's `compact` (`- ` at the key's column) or
/// `wide` (indented by two).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum SeqIndent {
    #[default]
    Compact,
    Wide,
}

/// Encodes nodes as a YAML stream (one document per node).
pub(crate) fn encode(documents: &[&Node], seq_indents: &[SeqIndent]) -> Result<String, Error> {
    let mut emitter = Emitter::new();
    emitter.emit(Event { typ: EventType::StreamStart, ..Event::default() })?;
    for (i, doc) in documents.iter().enumerate() {
        emitter.compact_sequence_indent =
            seq_indents.get(i).copied().unwrap_or_default() == SeqIndent::Compact;
        if doc.kind == Kind::Document {
            emitter.node(doc, "")?;
        } else {
            emitter.emit(Event {
                typ: EventType::DocumentStart,
                implicit: true,
                ..Event::default()
            })?;
            emitter.node(doc, "")?;
            emitter.emit(Event {
                typ: EventType::DocumentEnd,
                implicit: true,
                ..Event::default()
            })?;
        }
    }
    emitter.open_ended = false;
    emitter.emit(Event { typ: EventType::StreamEnd, ..Event::default() })?;
    String::from_utf8(emitter.out).map_err(|e| Error::Other(e.to_string()))
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    StreamStart,
    FirstDocumentStart,
    DocumentStart,
    DocumentContent,
    DocumentEnd,
    FlowSequenceFirstItem,
    FlowSequenceTrailItem,
    FlowSequenceItem,
    FlowMappingFirstKey,
    FlowMappingTrailKey,
    FlowMappingKey,
    FlowMappingSimpleValue,
    FlowMappingValue,
    BlockSequenceFirstItem,
    BlockSequenceItem,
    BlockMappingFirstKey,
    BlockMappingKey,
    BlockMappingSimpleValue,
    BlockMappingValue,
    End,
}

#[derive(Default)]
struct ScalarData {
    value: Vec<u8>,
    multiline: bool,
    flow_plain_allowed: bool,
    block_plain_allowed: bool,
    single_quoted_allowed: bool,
    block_allowed: bool,
    style: ScalarStyle,
}

struct Emitter {
    out: Vec<u8>,
    best_indent: isize,
    best_width: isize,
    state: State,
    states: Vec<State>,
    events: Vec<Event>,
    events_head: usize,
    indents: Vec<isize>,
    indent: isize,
    flow_level: usize,
    root_context: bool,
    sequence_context: bool,
    mapping_context: bool,
    simple_key_context: bool,
    line: usize,
    column: isize,
    whitespace: bool,
    indention: bool,
    open_ended: bool,
    space_above: bool,
    foot_indent: isize,
    compact_sequence_indent: bool,
    anchor: Option<(Vec<u8>, bool)>,
    tag_handle: Vec<u8>,
    tag_suffix: Vec<u8>,
    scalar_data: ScalarData,
    head_comment: Vec<u8>,
    line_comment: Vec<u8>,
    foot_comment: Vec<u8>,
    tail_comment: Vec<u8>,
    key_line_comment: Vec<u8>,
    tag_directives: Vec<(Vec<u8>, Vec<u8>)>,
}

fn is_space(b: &[u8], i: usize) -> bool {
    b.get(i) == Some(&b' ')
}
fn is_blank(b: &[u8], i: usize) -> bool {
    matches!(b.get(i), Some(b' ') | Some(b'\t'))
}
fn at(b: &[u8], i: usize) -> u8 {
    b.get(i).copied().unwrap_or(0)
}
fn is_break(b: &[u8], i: usize) -> bool {
    let c = at(b, i);
    c == b'\r'
        || c == b'\n'
        || (c == 0xC2 && at(b, i + 1) == 0x85)
        || (c == 0xE2 && at(b, i + 1) == 0x80 && (at(b, i + 2) == 0xA8 || at(b, i + 2) == 0xA9))
}
fn is_blankz(b: &[u8], i: usize) -> bool {
    i >= b.len() || is_blank(b, i) || is_break(b, i) || b[i] == 0
}
fn is_printable(b: &[u8], i: usize) -> bool {
    let c = at(b, i);
    let c1 = at(b, i + 1);
    let c2 = at(b, i + 2);
    c == 0x0A
        || (0x20..=0x7E).contains(&c)
        || (c == 0xC2 && c1 >= 0xA0)
        || (c > 0xC2 && c < 0xED)
        || (c == 0xED && c1 < 0xA0)
        || c == 0xEE
        || (c == 0xEF && !(c1 == 0xBB && c2 == 0xBF) && !(c1 == 0xBF && (c2 == 0xBE || c2 == 0xBF)))
}
fn is_alpha(b: &[u8], i: usize) -> bool {
    let c = at(b, i);
    c.is_ascii_alphanumeric() || c == b'_' || c == b'-'
}

impl Emitter {
    fn new() -> Emitter {
        Emitter {
            out: Vec::new(),
            best_indent: 2,
            best_width: isize::MAX,
            state: State::StreamStart,
            states: Vec::new(),
            events: Vec::new(),
            events_head: 0,
            indents: Vec::new(),
            indent: -1,
            flow_level: 0,
            root_context: false,
            sequence_context: false,
            mapping_context: false,
            simple_key_context: false,
            line: 0,
            column: 0,
            whitespace: true,
            indention: true,
            open_ended: false,
            space_above: true,
            foot_indent: -1,
            compact_sequence_indent: true,
            anchor: None,
            tag_handle: Vec::new(),
            tag_suffix: Vec::new(),
            scalar_data: ScalarData::default(),
            head_comment: Vec::new(),
            line_comment: Vec::new(),
            foot_comment: Vec::new(),
            tail_comment: Vec::new(),
            key_line_comment: Vec::new(),
            tag_directives: Vec::new(),
        }
    }

    fn fail<T>(&self, problem: &str) -> Result<T, Error> {
        Err(Error::Other(problem.to_string()))
    }

    // ---- encode.go: Node → events ----------------------------------------------------------------

    fn node(&mut self, node: &Node, tail: &str) -> Result<(), Error> {
        let mut tag = node.tag.clone();
        let stag = tag.clone();
        let mut force_quoting = false;
        if !tag.is_empty() && !node.style.has(Style::TAGGED) {
            if node.kind == Kind::Scalar {
                if stag == STR_TAG
                    && node.style.0
                        & (Style::SINGLE_QUOTED.0
                            | Style::DOUBLE_QUOTED.0
                            | Style::LITERAL.0
                            | Style::FOLDED.0)
                        != 0
                {
                    tag.clear();
                } else {
                    let rtag = resolve(&node.value);
                    if rtag == stag {
                        tag.clear();
                    } else if stag == STR_TAG {
                        tag.clear();
                        force_quoting = true;
                    }
                }
            } else {
                let rtag = match node.kind {
                    Kind::Mapping => MAP_TAG,
                    Kind::Sequence => SEQ_TAG,
                    _ => "",
                };
                if rtag == stag {
                    tag.clear();
                }
            }
        }
        let bytes = |s: &str| s.as_bytes().to_vec();
        match node.kind {
            Kind::Document => {
                self.emit(Event {
                    typ: EventType::DocumentStart,
                    implicit: true,
                    head_comment: bytes(&node.head_comment),
                    ..Event::default()
                })?;
                for child in &node.content {
                    self.node(child, "")?;
                }
                self.emit(Event {
                    typ: EventType::DocumentEnd,
                    implicit: true,
                    foot_comment: bytes(&node.foot_comment),
                    ..Event::default()
                })?;
            }
            Kind::Sequence => {
                let style = if node.style.has(Style::FLOW) {
                    CollectionStyle::Flow
                } else {
                    CollectionStyle::Block
                };
                self.emit(Event {
                    typ: EventType::SequenceStart,
                    anchor: bytes(&node.anchor),
                    tag: bytes(&long_tag(&tag)),
                    implicit: tag.is_empty(),
                    collection_style: style,
                    head_comment: bytes(&node.head_comment),
                    ..Event::default()
                })?;
                for child in &node.content {
                    self.node(child, "")?;
                }
                self.emit(Event {
                    typ: EventType::SequenceEnd,
                    line_comment: bytes(&node.line_comment),
                    foot_comment: bytes(&node.foot_comment),
                    ..Event::default()
                })?;
            }
            Kind::Mapping => {
                let style = if node.style.has(Style::FLOW) {
                    CollectionStyle::Flow
                } else {
                    CollectionStyle::Block
                };
                self.emit(Event {
                    typ: EventType::MappingStart,
                    anchor: bytes(&node.anchor),
                    tag: bytes(&long_tag(&tag)),
                    implicit: tag.is_empty(),
                    collection_style: style,
                    tail_comment: bytes(tail),
                    head_comment: bytes(&node.head_comment),
                    ..Event::default()
                })?;
                let mut tail = String::new();
                let mut i = 0;
                while i + 1 < node.content.len() {
                    let key = &node.content[i];
                    let foot = key.foot_comment.clone();
                    if !foot.is_empty() {
                        let mut copy = key.clone();
                        copy.foot_comment.clear();
                        self.node(&copy, &tail)?;
                    } else {
                        self.node(key, &tail)?;
                    }
                    tail = foot;
                    self.node(&node.content[i + 1], "")?;
                    i += 2;
                }
                self.emit(Event {
                    typ: EventType::MappingEnd,
                    tail_comment: bytes(&tail),
                    line_comment: bytes(&node.line_comment),
                    foot_comment: bytes(&node.foot_comment),
                    ..Event::default()
                })?;
            }
            Kind::Alias => {
                self.emit(Event {
                    typ: EventType::Alias,
                    anchor: bytes(&node.value),
                    head_comment: bytes(&node.head_comment),
                    line_comment: bytes(&node.line_comment),
                    foot_comment: bytes(&node.foot_comment),
                    ..Event::default()
                })?;
            }
            Kind::Scalar => {
                let value = &node.value;
                let style = if node.style.has(Style::DOUBLE_QUOTED) {
                    ScalarStyle::DoubleQuoted
                } else if node.style.has(Style::SINGLE_QUOTED) {
                    ScalarStyle::SingleQuoted
                } else if node.style.has(Style::LITERAL) {
                    ScalarStyle::Literal
                } else if node.style.has(Style::FOLDED) {
                    ScalarStyle::Folded
                } else if value.contains('\n') {
                    ScalarStyle::Literal
                } else if force_quoting {
                    ScalarStyle::DoubleQuoted
                } else {
                    ScalarStyle::Plain
                };
                let implicit = tag.is_empty();
                self.emit(Event {
                    typ: EventType::Scalar,
                    anchor: bytes(&node.anchor),
                    tag: if implicit { Vec::new() } else { bytes(&long_tag(&tag)) },
                    value: bytes(value),
                    implicit,
                    quoted_implicit: implicit,
                    scalar_style: style,
                    head_comment: bytes(&node.head_comment),
                    line_comment: bytes(&node.line_comment),
                    foot_comment: bytes(&node.foot_comment),
                    tail_comment: bytes(tail),
                    ..Event::default()
                })?;
            }
        }
        Ok(())
    }

    // ---- emitterc.go --------------------------------------------------------------------------

    fn put(&mut self, value: u8) {
        self.out.push(value);
        self.column += 1;
    }

    fn put_break(&mut self) {
        self.out.push(b'\n');
        if self.column == 0 {
            self.space_above = true;
        }
        self.column = 0;
        self.line += 1;
        self.indention = true;
    }

    fn write(&mut self, s: &[u8], i: &mut usize) {
        let w = width(s[*i]).max(1);
        let end = (*i + w).min(s.len());
        self.out.extend_from_slice(&s[*i..end]);
        self.column += 1;
        *i += w;
    }

    fn write_all(&mut self, s: &[u8]) {
        let mut i = 0;
        while i < s.len() {
            self.write(s, &mut i);
        }
    }

    fn write_break(&mut self, s: &[u8], i: &mut usize) {
        if s[*i] == b'\n' {
            self.put_break();
            *i += 1;
        } else {
            self.write(s, i);
            if self.column == 0 {
                self.space_above = true;
            }
            self.column = 0;
            self.line += 1;
            self.indention = true;
        }
    }

    fn emit(&mut self, event: Event) -> Result<(), Error> {
        self.events.push(event);
        while !self.need_more_events() {
            let idx = self.events_head;
            // Processed events are only looked at for their type again (empty checks).
            let event = std::mem::take(&mut self.events[idx]);
            self.events[idx].typ = event.typ;
            self.analyze_event(&event)?;
            self.state_machine(&event)?;
            self.events_head += 1;
        }
        if self.events_head == self.events.len() {
            self.events.clear();
            self.events_head = 0;
        }
        Ok(())
    }

    fn need_more_events(&self) -> bool {
        if self.events_head == self.events.len() {
            return true;
        }
        let accumulate = match self.events[self.events_head].typ {
            EventType::DocumentStart => 1,
            EventType::SequenceStart => 2,
            EventType::MappingStart => 3,
            _ => return false,
        };
        if self.events.len() - self.events_head > accumulate {
            return false;
        }
        let mut level: isize = 0;
        for event in &self.events[self.events_head..] {
            match event.typ {
                EventType::StreamStart
                | EventType::DocumentStart
                | EventType::SequenceStart
                | EventType::MappingStart => level += 1,
                EventType::StreamEnd
                | EventType::DocumentEnd
                | EventType::SequenceEnd
                | EventType::MappingEnd => level -= 1,
                _ => {}
            }
            if level == 0 {
                return false;
            }
        }
        true
    }

    fn increase_indent(&mut self, flow: bool, indentless: bool, compact_seq: bool) {
        self.indents.push(self.indent);
        if self.indent < 0 {
            self.indent = if flow { self.best_indent } else { 0 };
        } else if !indentless {
            if self.states.last() == Some(&State::BlockSequenceItem) {
                self.indent += 2;
            } else {
                self.indent =
                    self.best_indent * ((self.indent + self.best_indent) / self.best_indent);
            }
            if compact_seq {
                self.indent -= 2;
            }
        }
    }

    fn pop_indent(&mut self) {
        self.indent = self.indents.pop().unwrap_or(-1);
    }

    fn pop_state(&mut self) {
        self.state = self.states.pop().unwrap_or(State::End);
    }

    fn state_machine(&mut self, event: &Event) -> Result<(), Error> {
        match self.state {
            State::StreamStart => self.emit_stream_start(event),
            State::FirstDocumentStart => self.emit_document_start(event, true),
            State::DocumentStart => self.emit_document_start(event, false),
            State::DocumentContent => self.emit_document_content(event),
            State::DocumentEnd => self.emit_document_end(event),
            State::FlowSequenceFirstItem => self.emit_flow_sequence_item(event, true, false),
            State::FlowSequenceTrailItem => self.emit_flow_sequence_item(event, false, true),
            State::FlowSequenceItem => self.emit_flow_sequence_item(event, false, false),
            State::FlowMappingFirstKey => self.emit_flow_mapping_key(event, true, false),
            State::FlowMappingTrailKey => self.emit_flow_mapping_key(event, false, true),
            State::FlowMappingKey => self.emit_flow_mapping_key(event, false, false),
            State::FlowMappingSimpleValue => self.emit_flow_mapping_value(event, true),
            State::FlowMappingValue => self.emit_flow_mapping_value(event, false),
            State::BlockSequenceFirstItem => self.emit_block_sequence_item(event, true),
            State::BlockSequenceItem => self.emit_block_sequence_item(event, false),
            State::BlockMappingFirstKey => self.emit_block_mapping_key(event, true),
            State::BlockMappingKey => self.emit_block_mapping_key(event, false),
            State::BlockMappingSimpleValue => self.emit_block_mapping_value(event, true),
            State::BlockMappingValue => self.emit_block_mapping_value(event, false),
            State::End => self.fail("expected nothing after STREAM-END"),
        }
    }

    fn emit_stream_start(&mut self, event: &Event) -> Result<(), Error> {
        if event.typ != EventType::StreamStart {
            return self.fail("expected STREAM-START");
        }
        self.indent = -1;
        self.line = 0;
        self.column = 0;
        self.whitespace = true;
        self.indention = true;
        self.space_above = true;
        self.foot_indent = -1;
        self.state = State::FirstDocumentStart;
        Ok(())
    }

    fn emit_document_start(&mut self, event: &Event, first: bool) -> Result<(), Error> {
        if event.typ == EventType::DocumentStart {
            for (handle, prefix) in
                [(b"!".to_vec(), b"!".to_vec()), (b"!!".to_vec(), b"tag:yaml.org,2002:".to_vec())]
            {
                if !self.tag_directives.iter().any(|(h, _)| *h == handle) {
                    self.tag_directives.push((handle, prefix));
                }
            }
            let mut implicit = event.implicit;
            if !first {
                implicit = false;
            }
            if !implicit {
                self.write_indent();
                self.write_indicator(b"---", true, false, false);
                self.write_indent();
            }
            if !self.head_comment.is_empty() {
                self.process_head_comment();
                self.put_break();
            }
            self.state = State::DocumentContent;
            return Ok(());
        }
        if event.typ == EventType::StreamEnd {
            if self.open_ended {
                self.write_indicator(b"...", true, false, false);
                self.write_indent();
            }
            self.state = State::End;
            return Ok(());
        }
        self.fail("expected DOCUMENT-START or STREAM-END")
    }

    fn emit_document_content(&mut self, event: &Event) -> Result<(), Error> {
        self.states.push(State::DocumentEnd);
        self.process_head_comment();
        self.emit_node(event, true, false, false, false)?;
        self.process_line_comment(false);
        self.process_foot_comment();
        Ok(())
    }

    fn emit_document_end(&mut self, event: &Event) -> Result<(), Error> {
        if event.typ != EventType::DocumentEnd {
            return self.fail("expected DOCUMENT-END");
        }
        self.foot_indent = 0;
        self.process_foot_comment();
        self.foot_indent = -1;
        self.write_indent();
        if !event.implicit {
            self.write_indicator(b"...", true, false, false);
            self.write_indent();
        }
        self.state = State::DocumentStart;
        self.tag_directives.clear();
        Ok(())
    }

    fn emit_flow_sequence_item(
        &mut self,
        event: &Event,
        first: bool,
        trail: bool,
    ) -> Result<(), Error> {
        if first {
            self.write_indicator(b"[", true, true, false);
            self.increase_indent(true, false, false);
            self.flow_level += 1;
        }
        if event.typ == EventType::SequenceEnd {
            self.flow_level -= 1;
            self.pop_indent();
            if self.column == 0 {
                self.write_indent();
            }
            self.write_indicator(b"]", false, false, false);
            self.process_line_comment(false);
            self.process_foot_comment();
            self.pop_state();
            return Ok(());
        }
        if !first && !trail {
            self.write_indicator(b",", false, false, false);
        }
        self.process_head_comment();
        if self.column == 0 {
            self.write_indent();
        }
        if self.column > self.best_width {
            self.write_indent();
        }
        let has_comments = !self.line_comment.is_empty()
            || !self.foot_comment.is_empty()
            || !self.tail_comment.is_empty();
        self.states.push(if has_comments {
            State::FlowSequenceTrailItem
        } else {
            State::FlowSequenceItem
        });
        self.emit_node(event, false, true, false, false)?;
        if !self.line_comment.is_empty()
            || !self.foot_comment.is_empty()
            || !self.tail_comment.is_empty()
        {
            self.write_indicator(b",", false, false, false);
        }
        self.process_line_comment(false);
        self.process_foot_comment();
        Ok(())
    }

    fn emit_flow_mapping_key(
        &mut self,
        event: &Event,
        first: bool,
        trail: bool,
    ) -> Result<(), Error> {
        if first {
            self.write_indicator(b"{", true, true, false);
            self.increase_indent(true, false, false);
            self.flow_level += 1;
        }
        if event.typ == EventType::MappingEnd {
            if (!self.head_comment.is_empty()
                || !self.foot_comment.is_empty()
                || !self.tail_comment.is_empty())
                && !first
                && !trail
            {
                self.write_indicator(b",", false, false, false);
            }
            self.process_head_comment();
            self.flow_level -= 1;
            self.pop_indent();
            self.write_indicator(b"}", false, false, false);
            self.process_line_comment(false);
            self.process_foot_comment();
            self.pop_state();
            return Ok(());
        }
        if !first && !trail {
            self.write_indicator(b",", false, false, false);
        }
        self.process_head_comment();
        if self.column == 0 {
            self.write_indent();
        }
        if self.column > self.best_width {
            self.write_indent();
        }
        if self.check_simple_key() {
            self.states.push(State::FlowMappingSimpleValue);
            return self.emit_node(event, false, false, true, true);
        }
        self.write_indicator(b"?", true, false, false);
        self.states.push(State::FlowMappingValue);
        self.emit_node(event, false, false, true, false)
    }

    fn emit_flow_mapping_value(&mut self, event: &Event, simple: bool) -> Result<(), Error> {
        if simple {
            self.write_indicator(b":", false, false, false);
        } else {
            if self.column > self.best_width {
                self.write_indent();
            }
            self.write_indicator(b":", true, false, false);
        }
        let has_comments = !self.line_comment.is_empty()
            || !self.foot_comment.is_empty()
            || !self.tail_comment.is_empty();
        self.states.push(if has_comments {
            State::FlowMappingTrailKey
        } else {
            State::FlowMappingKey
        });
        self.emit_node(event, false, false, true, false)?;
        if !self.line_comment.is_empty()
            || !self.foot_comment.is_empty()
            || !self.tail_comment.is_empty()
        {
            self.write_indicator(b",", false, false, false);
        }
        self.process_line_comment(false);
        self.process_foot_comment();
        Ok(())
    }

    fn emit_block_sequence_item(&mut self, event: &Event, first: bool) -> Result<(), Error> {
        if first {
            let seq = self.mapping_context
                && (self.column == 0 || !self.indention)
                && self.compact_sequence_indent;
            self.increase_indent(false, false, seq);
        }
        if event.typ == EventType::SequenceEnd {
            self.pop_indent();
            self.pop_state();
            return Ok(());
        }
        self.process_head_comment();
        self.write_indent();
        self.write_indicator(b"-", true, false, true);
        self.states.push(State::BlockSequenceItem);
        self.emit_node(event, false, true, false, false)?;
        self.process_line_comment(false);
        self.process_foot_comment();
        Ok(())
    }

    fn emit_block_mapping_key(&mut self, event: &Event, first: bool) -> Result<(), Error> {
        if first {
            self.increase_indent(false, false, false);
        }
        self.process_head_comment();
        if event.typ == EventType::MappingEnd {
            self.pop_indent();
            self.pop_state();
            return Ok(());
        }
        self.write_indent();
        if !self.line_comment.is_empty() {
            self.key_line_comment = std::mem::take(&mut self.line_comment);
        }
        if self.check_simple_key() {
            self.states.push(State::BlockMappingSimpleValue);
            return self.emit_node(event, false, false, true, true);
        }
        self.write_indicator(b"?", true, false, true);
        self.states.push(State::BlockMappingValue);
        self.emit_node(event, false, false, true, false)
    }

    fn emit_block_mapping_value(&mut self, event: &Event, simple: bool) -> Result<(), Error> {
        if simple {
            self.write_indicator(b":", false, false, false);
        } else {
            self.write_indent();
            self.write_indicator(b":", true, false, true);
        }
        if !self.key_line_comment.is_empty() {
            if event.typ == EventType::Scalar {
                if self.line_comment.is_empty() {
                    self.line_comment = std::mem::take(&mut self.key_line_comment);
                }
            } else if event.collection_style != CollectionStyle::Flow
                && (event.typ == EventType::MappingStart || event.typ == EventType::SequenceStart)
            {
                std::mem::swap(&mut self.line_comment, &mut self.key_line_comment);
                self.process_line_comment(false);
                std::mem::swap(&mut self.line_comment, &mut self.key_line_comment);
            }
        }
        self.states.push(State::BlockMappingKey);
        self.emit_node(event, false, false, true, false)?;
        self.process_line_comment(false);
        self.process_foot_comment();
        Ok(())
    }

    fn emit_node(
        &mut self,
        event: &Event,
        root: bool,
        sequence: bool,
        mapping: bool,
        simple_key: bool,
    ) -> Result<(), Error> {
        self.root_context = root;
        self.sequence_context = sequence;
        self.mapping_context = mapping;
        self.simple_key_context = simple_key;
        match event.typ {
            EventType::Alias => {
                self.process_anchor();
                self.pop_state();
                Ok(())
            }
            EventType::Scalar => self.emit_scalar(event),
            EventType::SequenceStart => {
                self.process_anchor();
                self.process_tag();
                if self.flow_level > 0
                    || event.collection_style == CollectionStyle::Flow
                    || self.check_empty_sequence()
                {
                    self.state = State::FlowSequenceFirstItem;
                } else {
                    self.state = State::BlockSequenceFirstItem;
                }
                Ok(())
            }
            EventType::MappingStart => {
                self.process_anchor();
                self.process_tag();
                if self.flow_level > 0
                    || event.collection_style == CollectionStyle::Flow
                    || self.check_empty_mapping()
                {
                    self.state = State::FlowMappingFirstKey;
                } else {
                    self.state = State::BlockMappingFirstKey;
                }
                Ok(())
            }
            other => self.fail(&format!(
                "expected SCALAR, SEQUENCE-START, MAPPING-START, or ALIAS, but got {other:?}"
            )),
        }
    }

    fn emit_scalar(&mut self, event: &Event) -> Result<(), Error> {
        self.select_scalar_style(event)?;
        self.process_anchor();
        self.process_tag();
        self.increase_indent(true, false, false);
        self.process_scalar();
        self.pop_indent();
        self.pop_state();
        Ok(())
    }

    fn check_empty_sequence(&self) -> bool {
        if self.events.len() - self.events_head < 2 {
            return false;
        }
        self.events[self.events_head].typ == EventType::SequenceStart
            && self.events[self.events_head + 1].typ == EventType::SequenceEnd
    }

    fn check_empty_mapping(&self) -> bool {
        if self.events.len() - self.events_head < 2 {
            return false;
        }
        self.events[self.events_head].typ == EventType::MappingStart
            && self.events[self.events_head + 1].typ == EventType::MappingEnd
    }

    fn check_simple_key(&self) -> bool {
        let event = &self.events[self.events_head];
        let anchor_len = self.anchor.as_ref().map(|(a, _)| a.len()).unwrap_or(0);
        let length = match event.typ {
            EventType::Alias => anchor_len,
            EventType::Scalar => {
                if self.scalar_data.multiline {
                    return false;
                }
                anchor_len
                    + self.tag_handle.len()
                    + self.tag_suffix.len()
                    + self.scalar_data.value.len()
            }
            EventType::SequenceStart => {
                if !self.check_empty_sequence() {
                    return false;
                }
                anchor_len + self.tag_handle.len() + self.tag_suffix.len()
            }
            EventType::MappingStart => {
                if !self.check_empty_mapping() {
                    return false;
                }
                anchor_len + self.tag_handle.len() + self.tag_suffix.len()
            }
            _ => return false,
        };
        length <= 128
    }

    fn select_scalar_style(&mut self, event: &Event) -> Result<(), Error> {
        let no_tag = self.tag_handle.is_empty() && self.tag_suffix.is_empty();
        if no_tag && !event.implicit && !event.quoted_implicit {
            return self.fail("neither tag nor implicit flags are specified");
        }
        let mut style = event.scalar_style;
        if style == ScalarStyle::Any {
            style = ScalarStyle::Plain;
        }
        if self.simple_key_context && self.scalar_data.multiline {
            style = ScalarStyle::DoubleQuoted;
        }
        if style == ScalarStyle::Plain {
            if (self.flow_level > 0 && !self.scalar_data.flow_plain_allowed)
                || (self.flow_level == 0 && !self.scalar_data.block_plain_allowed)
            {
                style = ScalarStyle::SingleQuoted;
            }
            if self.scalar_data.value.is_empty() && (self.flow_level > 0 || self.simple_key_context)
            {
                style = ScalarStyle::SingleQuoted;
            }
            if no_tag && !event.implicit {
                style = ScalarStyle::SingleQuoted;
            }
        }
        if style == ScalarStyle::SingleQuoted && !self.scalar_data.single_quoted_allowed {
            style = ScalarStyle::DoubleQuoted;
        }
        if (style == ScalarStyle::Literal || style == ScalarStyle::Folded)
            && (!self.scalar_data.block_allowed || self.flow_level > 0 || self.simple_key_context)
        {
            style = ScalarStyle::DoubleQuoted;
        }
        if no_tag && !event.quoted_implicit && style != ScalarStyle::Plain {
            self.tag_handle = b"!".to_vec();
        }
        self.scalar_data.style = style;
        Ok(())
    }

    fn process_anchor(&mut self) {
        let Some((anchor, alias)) = self.anchor.clone() else {
            return;
        };
        self.write_indicator(if alias { b"*" } else { b"&" }, true, false, false);
        self.write_all(&anchor);
        self.whitespace = false;
        self.indention = false;
    }

    fn process_tag(&mut self) {
        if self.tag_handle.is_empty() && self.tag_suffix.is_empty() {
            return;
        }
        if !self.tag_handle.is_empty() {
            let handle = self.tag_handle.clone();
            self.write_tag_handle(&handle);
            if !self.tag_suffix.is_empty() {
                let suffix = self.tag_suffix.clone();
                self.write_tag_content(&suffix, false);
            }
        } else {
            self.write_indicator(b"!<", true, false, false);
            let suffix = self.tag_suffix.clone();
            self.write_tag_content(&suffix, false);
            self.write_indicator(b">", false, false, false);
        }
    }

    fn process_scalar(&mut self) {
        let value = std::mem::take(&mut self.scalar_data.value);
        let allow_breaks = !self.simple_key_context;
        match self.scalar_data.style {
            ScalarStyle::Plain | ScalarStyle::Any => self.write_plain_scalar(&value, allow_breaks),
            ScalarStyle::SingleQuoted => self.write_single_quoted_scalar(&value, allow_breaks),
            ScalarStyle::DoubleQuoted => self.write_double_quoted_scalar(&value, allow_breaks),
            ScalarStyle::Literal => self.write_literal_scalar(&value),
            ScalarStyle::Folded => self.write_folded_scalar(&value),
        }
        self.scalar_data.value = value;
    }

    fn process_head_comment(&mut self) {
        if !self.tail_comment.is_empty() {
            self.write_indent();
            let tail = std::mem::take(&mut self.tail_comment);
            self.write_comment(&tail);
            self.foot_indent = self.indent.max(0);
        }
        if self.head_comment.is_empty() {
            return;
        }
        self.write_indent();
        let head = std::mem::take(&mut self.head_comment);
        self.write_comment(&head);
    }

    fn process_line_comment(&mut self, linebreak: bool) {
        if self.line_comment.is_empty() {
            if linebreak {
                self.put_break();
            }
            return;
        }
        if !self.whitespace {
            self.put(b' ');
        }
        let line = std::mem::take(&mut self.line_comment);
        self.write_comment(&line);
    }

    fn process_foot_comment(&mut self) {
        if self.foot_comment.is_empty() {
            return;
        }
        self.write_indent();
        let foot = std::mem::take(&mut self.foot_comment);
        self.write_comment(&foot);
        self.foot_indent = self.indent.max(0);
    }

    fn analyze_tag(&mut self, tag: &[u8]) -> Result<(), Error> {
        if tag.is_empty() {
            return self.fail("tag value must not be empty");
        }
        for (handle, prefix) in &self.tag_directives {
            if tag.starts_with(prefix) {
                self.tag_handle = handle.clone();
                self.tag_suffix = tag[prefix.len()..].to_vec();
                return Ok(());
            }
        }
        self.tag_suffix = tag.to_vec();
        Ok(())
    }

    fn analyze_scalar(&mut self, value: &[u8]) {
        let data = &mut self.scalar_data;
        data.value = value.to_vec();
        if value.is_empty() {
            data.multiline = false;
            data.flow_plain_allowed = false;
            data.block_plain_allowed = true;
            data.single_quoted_allowed = true;
            data.block_allowed = false;
            return;
        }
        let mut block_indicators = false;
        let mut flow_indicators = false;
        let mut line_breaks = false;
        let mut special_characters = false;
        let mut tab_characters = false;
        let mut leading_space = false;
        let mut leading_break = false;
        let mut trailing_space = false;
        let mut trailing_break = false;
        let mut break_space = false;
        let mut space_break = false;
        let mut previous_space = false;
        let mut previous_break = false;
        if value.len() >= 3 && (value.starts_with(b"---") || value.starts_with(b"...")) {
            block_indicators = true;
            flow_indicators = true;
        }
        let mut preceded_by_whitespace = true;
        let mut i = 0;
        while i < value.len() {
            let w = width(value[i]).max(1);
            let followed_by_whitespace = i + w >= value.len() || is_blank(value, i + w);
            if i == 0 {
                match value[i] {
                    b'#' | b',' | b'[' | b']' | b'{' | b'}' | b'&' | b'*' | b'!' | b'|' | b'>'
                    | b'\'' | b'"' | b'%' | b'@' | b'`' => {
                        flow_indicators = true;
                        block_indicators = true;
                    }
                    b'?' | b':' => {
                        flow_indicators = true;
                        if followed_by_whitespace {
                            block_indicators = true;
                        }
                    }
                    b'-' => {
                        if followed_by_whitespace {
                            flow_indicators = true;
                            block_indicators = true;
                        }
                    }
                    _ => {}
                }
            } else {
                match value[i] {
                    b',' | b'?' | b'[' | b']' | b'{' | b'}' => flow_indicators = true,
                    b':' => {
                        flow_indicators = true;
                        if followed_by_whitespace {
                            block_indicators = true;
                        }
                    }
                    b'#' => {
                        if preceded_by_whitespace {
                            flow_indicators = true;
                            block_indicators = true;
                        }
                    }
                    _ => {}
                }
            }
            if value[i] == b'\t' {
                tab_characters = true;
            } else if !is_printable(value, i) {
                special_characters = true;
            }
            if is_space(value, i) {
                if i == 0 {
                    leading_space = true;
                }
                if i + w == value.len() {
                    trailing_space = true;
                }
                if previous_break {
                    break_space = true;
                }
                previous_space = true;
                previous_break = false;
            } else if is_break(value, i) {
                line_breaks = true;
                if i == 0 {
                    leading_break = true;
                }
                if i + w == value.len() {
                    trailing_break = true;
                }
                if previous_space {
                    space_break = true;
                }
                previous_space = false;
                previous_break = true;
            } else {
                previous_space = false;
                previous_break = false;
            }
            preceded_by_whitespace = is_blankz(value, i);
            i += w;
        }
        data.multiline = line_breaks;
        data.flow_plain_allowed = true;
        data.block_plain_allowed = true;
        data.single_quoted_allowed = true;
        data.block_allowed = true;
        if leading_space || leading_break || trailing_space || trailing_break {
            data.flow_plain_allowed = false;
            data.block_plain_allowed = false;
        }
        if trailing_space {
            data.block_allowed = false;
        }
        if break_space {
            data.flow_plain_allowed = false;
            data.block_plain_allowed = false;
            data.single_quoted_allowed = false;
        }
        if space_break || tab_characters || special_characters {
            data.flow_plain_allowed = false;
            data.block_plain_allowed = false;
            data.single_quoted_allowed = false;
        }
        if space_break || special_characters {
            data.block_allowed = false;
        }
        if line_breaks {
            data.flow_plain_allowed = false;
            data.block_plain_allowed = false;
        }
        if flow_indicators {
            data.flow_plain_allowed = false;
        }
        if block_indicators {
            data.block_plain_allowed = false;
        }
    }

    fn analyze_event(&mut self, event: &Event) -> Result<(), Error> {
        self.anchor = None;
        self.tag_handle.clear();
        self.tag_suffix.clear();
        self.scalar_data.value.clear();
        if !event.head_comment.is_empty() {
            self.head_comment = event.head_comment.clone();
        }
        if !event.line_comment.is_empty() {
            self.line_comment = event.line_comment.clone();
        }
        if !event.foot_comment.is_empty() {
            self.foot_comment = event.foot_comment.clone();
        }
        if !event.tail_comment.is_empty() {
            self.tail_comment = event.tail_comment.clone();
        }
        match event.typ {
            EventType::Alias => {
                self.analyze_anchor(&event.anchor, true)?;
            }
            EventType::Scalar => {
                if !event.anchor.is_empty() {
                    self.analyze_anchor(&event.anchor, false)?;
                }
                if !event.tag.is_empty() && !event.implicit && !event.quoted_implicit {
                    self.analyze_tag(&event.tag)?;
                }
                self.analyze_scalar(&event.value);
            }
            EventType::SequenceStart | EventType::MappingStart => {
                if !event.anchor.is_empty() {
                    self.analyze_anchor(&event.anchor, false)?;
                }
                if !event.tag.is_empty() && !event.implicit {
                    self.analyze_tag(&event.tag)?;
                }
            }
            _ => {}
        }
        Ok(())
    }

    fn analyze_anchor(&mut self, anchor: &[u8], alias: bool) -> Result<(), Error> {
        if anchor.is_empty() {
            return self.fail(if alias {
                "alias value must not be empty"
            } else {
                "anchor value must not be empty"
            });
        }
        self.anchor = Some((anchor.to_vec(), alias));
        Ok(())
    }

    fn write_indent(&mut self) {
        let indent = self.indent.max(0);
        if !self.indention || self.column > indent || (self.column == indent && !self.whitespace) {
            self.put_break();
        }
        if self.foot_indent == indent {
            self.put_break();
        }
        while self.column < indent {
            self.put(b' ');
        }
        self.whitespace = true;
        self.space_above = false;
        self.foot_indent = -1;
    }

    fn write_indicator(
        &mut self,
        indicator: &[u8],
        need_whitespace: bool,
        is_whitespace: bool,
        is_indention: bool,
    ) {
        if need_whitespace && !self.whitespace {
            self.put(b' ');
        }
        self.write_all(indicator);
        self.whitespace = is_whitespace;
        self.indention = self.indention && is_indention;
        self.open_ended = false;
    }

    fn write_tag_handle(&mut self, value: &[u8]) {
        if !self.whitespace {
            self.put(b' ');
        }
        self.write_all(value);
        self.whitespace = false;
        self.indention = false;
    }

    fn write_tag_content(&mut self, value: &[u8], need_whitespace: bool) {
        if need_whitespace && !self.whitespace {
            self.put(b' ');
        }
        let mut i = 0;
        while i < value.len() {
            let must_write = matches!(
                value[i],
                b';' | b'/'
                    | b'?'
                    | b':'
                    | b'@'
                    | b'&'
                    | b'='
                    | b'+'
                    | b'$'
                    | b','
                    | b'_'
                    | b'.'
                    | b'~'
                    | b'*'
                    | b'\''
                    | b'('
                    | b')'
                    | b'['
                    | b']'
            ) || is_alpha(value, i);
            if must_write {
                self.write(value, &mut i);
            } else {
                let w = width(value[i]).max(1);
                for _ in 0..w {
                    let octet = at(value, i);
                    i += 1;
                    self.put(b'%');
                    let hex = |c: u8| if c < 10 { c + b'0' } else { c + b'A' - 10 };
                    self.put(hex(octet >> 4));
                    self.put(hex(octet & 0x0f));
                }
            }
        }
        self.whitespace = false;
        self.indention = false;
    }

    fn write_plain_scalar(&mut self, value: &[u8], allow_breaks: bool) {
        if !value.is_empty() && !self.whitespace {
            self.put(b' ');
        }
        let mut spaces = false;
        let mut breaks = false;
        let mut i = 0;
        while i < value.len() {
            if is_space(value, i) {
                if allow_breaks
                    && !spaces
                    && self.column > self.best_width
                    && !is_space(value, i + 1)
                {
                    self.write_indent();
                    i += 1;
                } else {
                    self.write(value, &mut i);
                }
                spaces = true;
            } else if is_break(value, i) {
                if !breaks && value[i] == b'\n' {
                    self.put_break();
                }
                self.write_break(value, &mut i);
                breaks = true;
            } else {
                if breaks {
                    self.write_indent();
                }
                self.write(value, &mut i);
                self.indention = false;
                spaces = false;
                breaks = false;
            }
        }
        if !value.is_empty() {
            self.whitespace = false;
        }
        self.indention = false;
        if self.root_context {
            self.open_ended = true;
        }
    }

    fn write_single_quoted_scalar(&mut self, value: &[u8], allow_breaks: bool) {
        self.write_indicator(b"'", true, false, false);
        let mut spaces = false;
        let mut breaks = false;
        let mut i = 0;
        while i < value.len() {
            if is_space(value, i) {
                if allow_breaks
                    && !spaces
                    && self.column > self.best_width
                    && i > 0
                    && i < value.len() - 1
                    && !is_space(value, i + 1)
                {
                    self.write_indent();
                    i += 1;
                } else {
                    self.write(value, &mut i);
                }
                spaces = true;
            } else if is_break(value, i) {
                if !breaks && value[i] == b'\n' {
                    self.put_break();
                }
                self.write_break(value, &mut i);
                breaks = true;
            } else {
                if breaks {
                    self.write_indent();
                }
                if value[i] == b'\'' {
                    self.put(b'\'');
                }
                self.write(value, &mut i);
                self.indention = false;
                spaces = false;
                breaks = false;
            }
        }
        self.write_indicator(b"'", false, false, false);
        self.whitespace = false;
        self.indention = false;
    }

    fn write_double_quoted_scalar(&mut self, value: &[u8], allow_breaks: bool) {
        let mut spaces = false;
        self.write_indicator(b"\"", true, false, false);
        let mut i = 0;
        while i < value.len() {
            let bom = at(value, i) == 0xEF && at(value, i + 1) == 0xBB && at(value, i + 2) == 0xBF;
            if !is_printable(value, i)
                || bom
                || is_break(value, i)
                || value[i] == b'"'
                || value[i] == b'\\'
            {
                let octet = value[i];
                let (w, mut v): (usize, u32) = if octet & 0x80 == 0 {
                    (1, u32::from(octet & 0x7F))
                } else if octet & 0xE0 == 0xC0 {
                    (2, u32::from(octet & 0x1F))
                } else if octet & 0xF0 == 0xE0 {
                    (3, u32::from(octet & 0x0F))
                } else {
                    (4, u32::from(octet & 0x07))
                };
                for k in 1..w {
                    v = (v << 6) + u32::from(at(value, i + k) & 0x3F);
                }
                i += w;
                self.put(b'\\');
                match v {
                    0x00 => self.put(b'0'),
                    0x07 => self.put(b'a'),
                    0x08 => self.put(b'b'),
                    0x09 => self.put(b't'),
                    0x0A => self.put(b'n'),
                    0x0b => self.put(b'v'),
                    0x0c => self.put(b'f'),
                    0x0d => self.put(b'r'),
                    0x1b => self.put(b'e'),
                    0x22 => self.put(b'"'),
                    0x5c => self.put(b'\\'),
                    0x85 => self.put(b'N'),
                    0xA0 => self.put(b'_'),
                    0x2028 => self.put(b'L'),
                    0x2029 => self.put(b'P'),
                    _ => {
                        let digits = if v <= 0xFF {
                            self.put(b'x');
                            2
                        } else if v <= 0xFFFF {
                            self.put(b'u');
                            4
                        } else {
                            self.put(b'U');
                            8
                        };
                        for k in (0..digits).rev() {
                            let digit = ((v >> (k * 4)) & 0x0F) as u8;
                            self.put(if digit < 10 { digit + b'0' } else { digit + b'A' - 10 });
                        }
                    }
                }
                spaces = false;
            } else if is_space(value, i) {
                if allow_breaks
                    && !spaces
                    && self.column > self.best_width
                    && i > 0
                    && i < value.len() - 1
                {
                    self.write_indent();
                    if is_space(value, i + 1) {
                        self.put(b'\\');
                    }
                    i += 1;
                } else {
                    self.write(value, &mut i);
                }
                spaces = true;
            } else {
                self.write(value, &mut i);
                spaces = false;
            }
        }
        self.write_indicator(b"\"", false, false, false);
        self.whitespace = false;
        self.indention = false;
    }

    fn write_block_scalar_hints(&mut self, value: &[u8]) {
        if is_space(value, 0) || is_break(value, 0) {
            let hint = [b'0' + self.best_indent as u8];
            self.write_indicator(&hint, false, false, false);
        }
        self.open_ended = false;
        let mut chomp_hint = 0u8;
        if value.is_empty() {
            chomp_hint = b'-';
        } else {
            let mut i = value.len() - 1;
            while i > 0 && value[i] & 0xC0 == 0x80 {
                i -= 1;
            }
            if !is_break(value, i) {
                chomp_hint = b'-';
            } else if i == 0 {
                chomp_hint = b'+';
                self.open_ended = true;
            } else {
                i -= 1;
                while i > 0 && value[i] & 0xC0 == 0x80 {
                    i -= 1;
                }
                if is_break(value, i) {
                    chomp_hint = b'+';
                    self.open_ended = true;
                }
            }
        }
        if chomp_hint != 0 {
            self.write_indicator(&[chomp_hint], false, false, false);
        }
    }

    fn write_literal_scalar(&mut self, value: &[u8]) {
        self.write_indicator(b"|", true, false, false);
        self.write_block_scalar_hints(value);
        self.process_line_comment(true);
        self.whitespace = true;
        let mut breaks = true;
        let mut i = 0;
        while i < value.len() {
            if is_break(value, i) {
                self.write_break(value, &mut i);
                breaks = true;
            } else {
                if breaks {
                    self.write_indent();
                }
                self.write(value, &mut i);
                self.indention = false;
                breaks = false;
            }
        }
    }

    fn write_folded_scalar(&mut self, value: &[u8]) {
        self.write_indicator(b">", true, false, false);
        self.write_block_scalar_hints(value);
        self.process_line_comment(true);
        self.whitespace = true;
        let mut breaks = true;
        let mut leading_spaces = true;
        let mut i = 0;
        while i < value.len() {
            if is_break(value, i) {
                if !breaks && !leading_spaces && value[i] == b'\n' {
                    let mut k = 0;
                    while is_break(value, k) {
                        k += width(value[k]).max(1);
                    }
                    if !is_blankz(value, k) {
                        self.put_break();
                    }
                }
                self.write_break(value, &mut i);
                breaks = true;
            } else {
                if breaks {
                    self.write_indent();
                    leading_spaces = is_blank(value, i);
                }
                if !breaks
                    && is_space(value, i)
                    && !is_space(value, i + 1)
                    && self.column > self.best_width
                {
                    self.write_indent();
                    i += 1;
                } else {
                    self.write(value, &mut i);
                }
                self.indention = false;
                breaks = false;
            }
        }
    }

    fn write_comment(&mut self, comment: &[u8]) {
        let mut breaks = false;
        let mut pound = false;
        let mut i = 0;
        while i < comment.len() {
            if is_break(comment, i) {
                self.write_break(comment, &mut i);
                breaks = true;
                pound = false;
            } else {
                if breaks {
                    self.write_indent();
                }
                if !pound {
                    if comment[i] != b'#' {
                        self.put(b'#');
                        self.put(b' ');
                    }
                    pound = true;
                }
                self.write(comment, &mut i);
                self.indention = false;
                breaks = false;
            }
        }
        if !breaks {
            self.put_break();
        }
        self.whitespace = true;
    }
}
