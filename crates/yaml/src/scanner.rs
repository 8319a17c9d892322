//! YAML scanner and event parser: a line-by-line port of go-yaml v3's `scannerc.go` and
//! `parserc.go` (the copy vendored by kyaml), including its comment attribution.
//!
//! kpt reads and writes every package file through this code, so the exact places where it
//! attaches head, line and foot comments decide how a rendered file looks. Porting it instead of
//! writing a new parser is what makes our output byte-identical with kpt's. The input is always a
//! complete in-memory buffer, so the reader's incremental buffering is gone; reads past the end
//! see NUL bytes, as in the original.

use super::Error;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Mark {
    pub(crate) index: usize,
    pub(crate) line: usize,
    pub(crate) column: usize,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) enum ScalarStyle {
    #[default]
    Any,
    Plain,
    SingleQuoted,
    DoubleQuoted,
    Literal,
    Folded,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum TokenType {
    #[default]
    None,
    StreamStart,
    StreamEnd,
    VersionDirective,
    TagDirective,
    DocumentStart,
    DocumentEnd,
    BlockSequenceStart,
    BlockMappingStart,
    BlockEnd,
    FlowSequenceStart,
    FlowSequenceEnd,
    FlowMappingStart,
    FlowMappingEnd,
    BlockEntry,
    FlowEntry,
    Key,
    Value,
    Alias,
    Anchor,
    Tag,
    Scalar,
}

#[derive(Clone, Debug, Default)]
struct Token {
    typ: TokenType,
    start_mark: Mark,
    end_mark: Mark,
    value: Vec<u8>,
    suffix: Vec<u8>,
    prefix: Vec<u8>,
    style: ScalarStyle,
    major: i8,
    minor: i8,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) enum EventType {
    #[default]
    None,
    StreamStart,
    StreamEnd,
    DocumentStart,
    DocumentEnd,
    Alias,
    Scalar,
    SequenceStart,
    SequenceEnd,
    MappingStart,
    MappingEnd,
    TailComment,
}

/// Collection style of a start event: block or flow.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) enum CollectionStyle {
    #[default]
    Any,
    Block,
    Flow,
}

#[derive(Clone, Debug, Default)]
pub(crate) struct Event {
    pub(crate) typ: EventType,
    pub(crate) start_mark: Mark,
    pub(crate) head_comment: Vec<u8>,
    pub(crate) line_comment: Vec<u8>,
    pub(crate) foot_comment: Vec<u8>,
    pub(crate) tail_comment: Vec<u8>,
    pub(crate) anchor: Vec<u8>,
    pub(crate) tag: Vec<u8>,
    pub(crate) value: Vec<u8>,
    pub(crate) implicit: bool,
    pub(crate) quoted_implicit: bool,
    pub(crate) scalar_style: ScalarStyle,
    pub(crate) collection_style: CollectionStyle,
}

#[derive(Clone, Copy, Debug, Default)]
struct SimpleKey {
    possible: bool,
    required: bool,
    token_number: usize,
    mark: Mark,
}

#[derive(Clone, Debug, Default)]
struct Comment {
    scan_mark: Mark,
    token_mark: Mark,
    start_mark: Mark,
    end_mark: Mark,
    head: Vec<u8>,
    line: Vec<u8>,
    foot: Vec<u8>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    StreamStart,
    ImplicitDocumentStart,
    DocumentStart,
    DocumentContent,
    DocumentEnd,
    BlockNode,
    BlockSequenceFirstEntry,
    BlockSequenceEntry,
    IndentlessSequenceEntry,
    BlockMappingFirstKey,
    BlockMappingKey,
    BlockMappingValue,
    FlowSequenceFirstEntry,
    FlowSequenceEntry,
    FlowSequenceEntryMappingKey,
    FlowSequenceEntryMappingValue,
    FlowSequenceEntryMappingEnd,
    FlowMappingFirstKey,
    FlowMappingKey,
    FlowMappingValue,
    FlowMappingEmptyValue,
    End,
}

const MAX_FLOW_LEVEL: usize = 10000;
const MAX_INDENTS: usize = 10000;

pub(crate) struct Parser {
    buffer: Vec<u8>,
    pos: usize,
    newlines: usize,
    mark: Mark,

    head_comment: Vec<u8>,
    line_comment: Vec<u8>,
    foot_comment: Vec<u8>,
    tail_comment: Vec<u8>,
    stem_comment: Option<Vec<u8>>,
    comments: Vec<Comment>,
    comments_head: usize,

    stream_start_produced: bool,
    stream_end_produced: bool,
    flow_level: usize,
    tokens: Vec<Token>,
    tokens_head: usize,
    tokens_parsed: usize,
    token_available: bool,
    indent: isize,
    indents: Vec<isize>,
    simple_key_allowed: bool,
    simple_keys: Vec<SimpleKey>,
    simple_keys_by_tok: std::collections::HashMap<usize, usize>,

    state: State,
    states: Vec<State>,
    marks: Vec<Mark>,
    tag_directives: Vec<(Vec<u8>, Vec<u8>)>,
    errored: bool,
}

fn is_alpha_b(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'-'
}

pub(crate) fn width(b: u8) -> usize {
    if b & 0x80 == 0x00 {
        1
    } else if b & 0xE0 == 0xC0 {
        2
    } else if b & 0xF0 == 0xE0 {
        3
    } else if b & 0xF8 == 0xF0 {
        4
    } else {
        0
    }
}

fn as_hex(b: u8) -> u32 {
    match b {
        b'A'..=b'F' => u32::from(b - b'A') + 10,
        b'a'..=b'f' => u32::from(b - b'a') + 10,
        _ => u32::from(b.wrapping_sub(b'0')),
    }
}

impl Parser {
    pub(crate) fn new(input: &[u8]) -> Parser {
        let input = input.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(input);
        let mut buffer = if input.is_empty() { b"\n".to_vec() } else { input.to_vec() };
        buffer.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 0]);
        Parser {
            buffer,
            pos: 0,
            newlines: 0,
            mark: Mark::default(),
            head_comment: Vec::new(),
            line_comment: Vec::new(),
            foot_comment: Vec::new(),
            tail_comment: Vec::new(),
            stem_comment: None,
            comments: Vec::new(),
            comments_head: 0,
            stream_start_produced: false,
            stream_end_produced: false,
            flow_level: 0,
            tokens: Vec::new(),
            tokens_head: 0,
            tokens_parsed: 0,
            token_available: false,
            indent: -1,
            indents: Vec::new(),
            simple_key_allowed: false,
            simple_keys: Vec::new(),
            simple_keys_by_tok: std::collections::HashMap::new(),
            state: State::StreamStart,
            states: Vec::new(),
            marks: Vec::new(),
            tag_directives: Vec::new(),
            errored: false,
        }
    }

    // ---- character classes at buffer offsets -------------------------------------------------

    fn at(&self, k: usize) -> u8 {
        self.buffer.get(self.pos + k).copied().unwrap_or(0)
    }
    fn is_blank(&self, k: usize) -> bool {
        matches!(self.at(k), b' ' | b'\t')
    }
    fn is_break(&self, k: usize) -> bool {
        let b = self.at(k);
        b == b'\r'
            || b == b'\n'
            || (b == 0xC2 && self.at(k + 1) == 0x85)
            || (b == 0xE2
                && self.at(k + 1) == 0x80
                && (self.at(k + 2) == 0xA8 || self.at(k + 2) == 0xA9))
    }
    fn is_z(&self, k: usize) -> bool {
        self.at(k) == 0
    }
    fn is_breakz(&self, k: usize) -> bool {
        self.is_break(k) || self.is_z(k)
    }
    fn is_blankz(&self, k: usize) -> bool {
        self.is_blank(k) || self.is_breakz(k)
    }
    fn is_crlf(&self, k: usize) -> bool {
        self.at(k) == b'\r' && self.at(k + 1) == b'\n'
    }

    fn err<T>(&mut self, context: &str, context_mark: Mark, problem: &str) -> Result<T, Error> {
        self.errored = true;
        let mark = if context_mark.line != 0 { context_mark } else { self.mark };
        let _ = context;
        Err(Error::Syntax { line: mark.line + 1, message: problem.to_string() })
    }

    fn parser_err<T>(&mut self, problem: &str, mark: Mark) -> Result<T, Error> {
        self.errored = true;
        Err(Error::Syntax { line: mark.line + 1, message: problem.to_string() })
    }

    // ---- low-level reading ---------------------------------------------------------------------

    fn skip(&mut self) {
        if !self.is_blank(0) {
            self.newlines = 0;
        }
        self.mark.index += 1;
        self.mark.column += 1;
        let w = width(self.at(0)).max(1);
        self.pos += w;
    }

    fn skip_line(&mut self) {
        if self.is_crlf(0) {
            self.mark.index += 2;
            self.mark.column = 0;
            self.mark.line += 1;
            self.pos += 2;
            self.newlines += 1;
        } else if self.is_break(0) {
            self.mark.index += 1;
            self.mark.column = 0;
            self.mark.line += 1;
            self.pos += width(self.at(0)).max(1);
            self.newlines += 1;
        }
    }

    fn read(&mut self, s: &mut Vec<u8>) {
        if !self.is_blank(0) {
            self.newlines = 0;
        }
        let w = width(self.at(0)).max(1);
        let end = (self.pos + w).min(self.buffer.len());
        s.extend_from_slice(&self.buffer[self.pos..end]);
        self.pos += w;
        self.mark.index += 1;
        self.mark.column += 1;
    }

    fn read_line(&mut self, s: &mut Vec<u8>) {
        let b0 = self.at(0);
        let b1 = self.at(1);
        if b0 == b'\r' && b1 == b'\n' {
            s.push(b'\n');
            self.pos += 2;
            self.mark.index += 1;
        } else if b0 == b'\r' || b0 == b'\n' {
            s.push(b'\n');
            self.pos += 1;
        } else if b0 == 0xC2 && b1 == 0x85 {
            s.push(b'\n');
            self.pos += 2;
        } else if b0 == 0xE2 && b1 == 0x80 && (self.at(2) == 0xA8 || self.at(2) == 0xA9) {
            s.extend_from_slice(&self.buffer[self.pos..self.pos + 3]);
            self.pos += 3;
        } else {
            return;
        }
        self.mark.index += 1;
        self.mark.column = 0;
        self.mark.line += 1;
        self.newlines += 1;
    }

    // ---- token queue ---------------------------------------------------------------------------

    fn insert_token(&mut self, pos: Option<usize>, token: Token) {
        // Drop consumed tokens (keeping the last two, which the comment logic looks at) so that
        // inserting a KEY token before a simple key never moves a long queue.
        if self.tokens_head > 64 {
            let drop = self.tokens_head - 2;
            self.tokens.drain(..drop);
            self.tokens_head -= drop;
        }
        match pos {
            None => self.tokens.push(token),
            Some(p) => {
                let at = (self.tokens_head + p).min(self.tokens.len());
                self.tokens.insert(at, token);
            }
        }
    }

    fn last_token_typ(&self) -> Option<TokenType> {
        self.tokens.last().map(|t| t.typ)
    }

    fn fetch_more_tokens(&mut self) -> Result<(), Error> {
        loop {
            if self.tokens_head + 2 < self.tokens.len() {
                match self.simple_keys_by_tok.get(&self.tokens_parsed).copied() {
                    None => break,
                    Some(idx) => {
                        if !self.simple_key_is_valid(idx)? {
                            break;
                        }
                    }
                }
            }
            self.fetch_next_token()?;
        }
        self.token_available = true;
        Ok(())
    }

    fn fetch_next_token(&mut self) -> Result<(), Error> {
        if !self.stream_start_produced {
            self.fetch_stream_start();
            return Ok(());
        }
        let scan_mark = self.mark;
        self.scan_to_next_token()?;
        self.unroll_indent(self.mark.column as isize, scan_mark);

        if self.is_z(0) {
            return self.fetch_stream_end();
        }
        if self.mark.column == 0 && self.at(0) == b'%' {
            return self.fetch_directive();
        }
        if self.mark.column == 0
            && self.at(0) == b'-'
            && self.at(1) == b'-'
            && self.at(2) == b'-'
            && self.is_blankz(3)
        {
            return self.fetch_document_indicator(TokenType::DocumentStart);
        }
        if self.mark.column == 0
            && self.at(0) == b'.'
            && self.at(1) == b'.'
            && self.at(2) == b'.'
            && self.is_blankz(3)
        {
            return self.fetch_document_indicator(TokenType::DocumentEnd);
        }

        let mut comment_mark = self.mark;
        let c = self.at(0);
        if ((self.flow_level == 0 && c == b':') || (self.flow_level > 0 && c == b','))
            && let Some(t) = self.tokens.last()
        {
            comment_mark = t.start_mark;
        }

        self.fetch_token_body()?;

        if self.last_token_typ() == Some(TokenType::BlockEntry) {
            return Ok(());
        }
        self.scan_line_comment(comment_mark);
        Ok(())
    }

    fn fetch_token_body(&mut self) -> Result<(), Error> {
        let c = self.at(0);
        match c {
            b'[' => return self.fetch_flow_collection_start(TokenType::FlowSequenceStart),
            b'{' => return self.fetch_flow_collection_start(TokenType::FlowMappingStart),
            b']' => return self.fetch_flow_collection_end(TokenType::FlowSequenceEnd),
            b'}' => return self.fetch_flow_collection_end(TokenType::FlowMappingEnd),
            b',' => return self.fetch_flow_entry(),
            _ => {}
        }
        if c == b'-' && self.is_blankz(1) {
            return self.fetch_block_entry();
        }
        if c == b'?' && (self.flow_level > 0 || self.is_blankz(1)) {
            return self.fetch_key();
        }
        if c == b':' && (self.flow_level > 0 || self.is_blankz(1)) {
            return self.fetch_value();
        }
        match c {
            b'*' => return self.fetch_anchor(TokenType::Alias),
            b'&' => return self.fetch_anchor(TokenType::Anchor),
            b'!' => return self.fetch_tag(),
            b'|' if self.flow_level == 0 => return self.fetch_block_scalar(true),
            b'>' if self.flow_level == 0 => return self.fetch_block_scalar(false),
            b'\'' => return self.fetch_flow_scalar(true),
            b'"' => return self.fetch_flow_scalar(false),
            _ => {}
        }
        let special = self.is_blankz(0)
            || matches!(
                c,
                b'-' | b'?'
                    | b':'
                    | b','
                    | b'['
                    | b']'
                    | b'{'
                    | b'}'
                    | b'#'
                    | b'&'
                    | b'*'
                    | b'!'
                    | b'|'
                    | b'>'
                    | b'\''
                    | b'"'
                    | b'%'
                    | b'@'
                    | b'`'
            );
        if !special
            || (c == b'-' && !self.is_blank(1))
            || (self.flow_level == 0 && (c == b'?' || c == b':') && !self.is_blankz(1))
        {
            return self.fetch_plain_scalar();
        }
        let mark = self.mark;
        self.err(
            "while scanning for the next token",
            mark,
            "found character that cannot start any token",
        )
    }

    fn simple_key_is_valid(&mut self, idx: usize) -> Result<bool, Error> {
        let key = self.simple_keys[idx];
        if !key.possible {
            return Ok(false);
        }
        if key.mark.line < self.mark.line || key.mark.index + 1024 < self.mark.index {
            if key.required {
                return self.err(
                    "while scanning a simple key",
                    key.mark,
                    "could not find expected ':'",
                );
            }
            self.simple_keys[idx].possible = false;
            return Ok(false);
        }
        Ok(true)
    }

    fn save_simple_key(&mut self) -> Result<(), Error> {
        let required = self.flow_level == 0 && self.indent == self.mark.column as isize;
        if self.simple_key_allowed {
            let key = SimpleKey {
                possible: true,
                required,
                token_number: self.tokens_parsed + (self.tokens.len() - self.tokens_head),
                mark: self.mark,
            };
            self.remove_simple_key()?;
            let last = self.simple_keys.len() - 1;
            self.simple_keys[last] = key;
            self.simple_keys_by_tok.insert(key.token_number, last);
        }
        Ok(())
    }

    fn remove_simple_key(&mut self) -> Result<(), Error> {
        let i = self.simple_keys.len() - 1;
        if self.simple_keys[i].possible {
            if self.simple_keys[i].required {
                let mark = self.simple_keys[i].mark;
                return self.err(
                    "while scanning a simple key",
                    mark,
                    "could not find expected ':'",
                );
            }
            self.simple_keys[i].possible = false;
            let n = self.simple_keys[i].token_number;
            self.simple_keys_by_tok.remove(&n);
        }
        Ok(())
    }

    fn increase_flow_level(&mut self) -> Result<(), Error> {
        self.simple_keys.push(SimpleKey {
            possible: false,
            required: false,
            token_number: self.tokens_parsed + (self.tokens.len() - self.tokens_head),
            mark: self.mark,
        });
        self.flow_level += 1;
        if self.flow_level > MAX_FLOW_LEVEL {
            let mark = self.mark;
            return self.err("while increasing flow level", mark, "exceeded max depth of 10000");
        }
        Ok(())
    }

    fn decrease_flow_level(&mut self) {
        if self.flow_level > 0 {
            self.flow_level -= 1;
            if let Some(last) = self.simple_keys.pop() {
                self.simple_keys_by_tok.remove(&last.token_number);
            }
        }
    }

    fn roll_indent(
        &mut self,
        column: isize,
        number: Option<usize>,
        typ: TokenType,
        mark: Mark,
    ) -> Result<(), Error> {
        if self.flow_level > 0 {
            return Ok(());
        }
        if self.indent < column {
            self.indents.push(self.indent);
            self.indent = column;
            if self.indents.len() > MAX_INDENTS {
                return self.err(
                    "while increasing indent level",
                    mark,
                    "exceeded max depth of 10000",
                );
            }
            let token = Token { typ, start_mark: mark, end_mark: mark, ..Token::default() };
            let pos = number.map(|n| n - self.tokens_parsed);
            self.insert_token(pos, token);
        }
        Ok(())
    }

    fn unroll_indent(&mut self, column: isize, scan_mark: Mark) {
        if self.flow_level > 0 {
            return;
        }
        let mut block_mark = scan_mark;
        block_mark.index = block_mark.index.wrapping_sub(1);
        while self.indent > column {
            let mut stop_index = block_mark.index;
            for i in (0..self.comments.len()).rev() {
                let comment = &self.comments[i];
                if comment.end_mark.index < stop_index {
                    break;
                }
                if comment.start_mark.column as isize == self.indent + 1 {
                    block_mark = comment.start_mark;
                }
                stop_index = comment.scan_mark.index;
            }
            let token = Token {
                typ: TokenType::BlockEnd,
                start_mark: block_mark,
                end_mark: block_mark,
                ..Token::default()
            };
            self.insert_token(None, token);
            self.indent = self.indents.pop().unwrap_or(-1);
        }
    }

    fn fetch_stream_start(&mut self) {
        self.indent = -1;
        self.simple_keys.push(SimpleKey::default());
        self.simple_keys_by_tok.clear();
        self.simple_key_allowed = true;
        self.stream_start_produced = true;
        let token = Token {
            typ: TokenType::StreamStart,
            start_mark: self.mark,
            end_mark: self.mark,
            ..Token::default()
        };
        self.insert_token(None, token);
    }

    fn fetch_stream_end(&mut self) -> Result<(), Error> {
        if self.mark.column != 0 {
            self.mark.column = 0;
            self.mark.line += 1;
        }
        self.unroll_indent(-1, self.mark);
        self.remove_simple_key()?;
        self.simple_key_allowed = false;
        let token = Token {
            typ: TokenType::StreamEnd,
            start_mark: self.mark,
            end_mark: self.mark,
            ..Token::default()
        };
        self.insert_token(None, token);
        Ok(())
    }

    fn fetch_directive(&mut self) -> Result<(), Error> {
        self.unroll_indent(-1, self.mark);
        self.remove_simple_key()?;
        self.simple_key_allowed = false;
        let token = self.scan_directive()?;
        self.insert_token(None, token);
        Ok(())
    }

    fn fetch_document_indicator(&mut self, typ: TokenType) -> Result<(), Error> {
        self.unroll_indent(-1, self.mark);
        self.remove_simple_key()?;
        self.simple_key_allowed = false;
        let start_mark = self.mark;
        self.skip();
        self.skip();
        self.skip();
        let end_mark = self.mark;
        self.insert_token(None, Token { typ, start_mark, end_mark, ..Token::default() });
        Ok(())
    }

    fn fetch_flow_collection_start(&mut self, typ: TokenType) -> Result<(), Error> {
        self.save_simple_key()?;
        self.increase_flow_level()?;
        self.simple_key_allowed = true;
        let start_mark = self.mark;
        self.skip();
        let end_mark = self.mark;
        self.insert_token(None, Token { typ, start_mark, end_mark, ..Token::default() });
        Ok(())
    }

    fn fetch_flow_collection_end(&mut self, typ: TokenType) -> Result<(), Error> {
        self.remove_simple_key()?;
        self.decrease_flow_level();
        self.simple_key_allowed = false;
        let start_mark = self.mark;
        self.skip();
        let end_mark = self.mark;
        self.insert_token(None, Token { typ, start_mark, end_mark, ..Token::default() });
        Ok(())
    }

    fn fetch_flow_entry(&mut self) -> Result<(), Error> {
        self.remove_simple_key()?;
        self.simple_key_allowed = true;
        let start_mark = self.mark;
        self.skip();
        let end_mark = self.mark;
        self.insert_token(
            None,
            Token { typ: TokenType::FlowEntry, start_mark, end_mark, ..Token::default() },
        );
        Ok(())
    }

    fn fetch_block_entry(&mut self) -> Result<(), Error> {
        if self.flow_level == 0 {
            if !self.simple_key_allowed {
                let mark = self.mark;
                return self.err(
                    "",
                    mark,
                    "block sequence entries are not allowed in this context",
                );
            }
            self.roll_indent(
                self.mark.column as isize,
                None,
                TokenType::BlockSequenceStart,
                self.mark,
            )?;
        }
        self.remove_simple_key()?;
        self.simple_key_allowed = true;
        let start_mark = self.mark;
        self.skip();
        let end_mark = self.mark;
        self.insert_token(
            None,
            Token { typ: TokenType::BlockEntry, start_mark, end_mark, ..Token::default() },
        );
        Ok(())
    }

    fn fetch_key(&mut self) -> Result<(), Error> {
        if self.flow_level == 0 {
            if !self.simple_key_allowed {
                let mark = self.mark;
                return self.err("", mark, "mapping keys are not allowed in this context");
            }
            self.roll_indent(
                self.mark.column as isize,
                None,
                TokenType::BlockMappingStart,
                self.mark,
            )?;
        }
        self.remove_simple_key()?;
        self.simple_key_allowed = self.flow_level == 0;
        let start_mark = self.mark;
        self.skip();
        let end_mark = self.mark;
        self.insert_token(
            None,
            Token { typ: TokenType::Key, start_mark, end_mark, ..Token::default() },
        );
        Ok(())
    }

    fn fetch_value(&mut self) -> Result<(), Error> {
        let idx = self.simple_keys.len() - 1;
        if self.simple_key_is_valid(idx)? {
            let key = self.simple_keys[idx];
            let token = Token {
                typ: TokenType::Key,
                start_mark: key.mark,
                end_mark: key.mark,
                ..Token::default()
            };
            self.insert_token(Some(key.token_number - self.tokens_parsed), token);
            self.roll_indent(
                key.mark.column as isize,
                Some(key.token_number),
                TokenType::BlockMappingStart,
                key.mark,
            )?;
            self.simple_keys[idx].possible = false;
            self.simple_keys_by_tok.remove(&key.token_number);
            self.simple_key_allowed = false;
        } else {
            if self.flow_level == 0 {
                if !self.simple_key_allowed {
                    let mark = self.mark;
                    return self.err("", mark, "mapping values are not allowed in this context");
                }
                self.roll_indent(
                    self.mark.column as isize,
                    None,
                    TokenType::BlockMappingStart,
                    self.mark,
                )?;
            }
            self.simple_key_allowed = self.flow_level == 0;
        }
        let start_mark = self.mark;
        self.skip();
        let end_mark = self.mark;
        self.insert_token(
            None,
            Token { typ: TokenType::Value, start_mark, end_mark, ..Token::default() },
        );
        Ok(())
    }

    fn fetch_anchor(&mut self, typ: TokenType) -> Result<(), Error> {
        self.save_simple_key()?;
        self.simple_key_allowed = false;
        let token = self.scan_anchor(typ)?;
        self.insert_token(None, token);
        Ok(())
    }

    fn fetch_tag(&mut self) -> Result<(), Error> {
        self.save_simple_key()?;
        self.simple_key_allowed = false;
        let token = self.scan_tag()?;
        self.insert_token(None, token);
        Ok(())
    }

    fn fetch_block_scalar(&mut self, literal: bool) -> Result<(), Error> {
        self.remove_simple_key()?;
        self.simple_key_allowed = true;
        let token = self.scan_block_scalar(literal)?;
        self.insert_token(None, token);
        Ok(())
    }

    fn fetch_flow_scalar(&mut self, single: bool) -> Result<(), Error> {
        self.save_simple_key()?;
        self.simple_key_allowed = false;
        let token = self.scan_flow_scalar(single)?;
        self.insert_token(None, token);
        Ok(())
    }

    fn fetch_plain_scalar(&mut self) -> Result<(), Error> {
        self.save_simple_key()?;
        self.simple_key_allowed = false;
        let token = self.scan_plain_scalar()?;
        self.insert_token(None, token);
        Ok(())
    }

    fn scan_to_next_token(&mut self) -> Result<(), Error> {
        let scan_mark = self.mark;
        loop {
            while self.at(0) == b' '
                || ((self.flow_level > 0 || !self.simple_key_allowed) && self.at(0) == b'\t')
            {
                self.skip();
            }
            if !self.comments.is_empty() && self.tokens.len() > 1 {
                let a = self.tokens[self.tokens.len() - 2].typ;
                let b = self.tokens[self.tokens.len() - 1].typ;
                let is_break = self.is_break(0);
                let line = self.mark.line;
                let cur = self.mark;
                if let Some(comment) = self.comments.last_mut()
                    && a == TokenType::BlockSequenceStart
                    && b == TokenType::BlockEntry
                    && !comment.line.is_empty()
                    && !is_break
                {
                    comment.head = std::mem::take(&mut comment.line);
                    if comment.start_mark.line + 1 == line {
                        comment.token_mark = cur;
                    }
                }
            }
            if self.at(0) == b'#' {
                self.scan_comments(scan_mark)?;
            }
            if self.is_break(0) {
                self.skip_line();
                if self.flow_level == 0 {
                    self.simple_key_allowed = true;
                }
            } else {
                break;
            }
        }
        Ok(())
    }

    fn scan_directive(&mut self) -> Result<Token, Error> {
        let start_mark = self.mark;
        self.skip();
        let mut name = Vec::new();
        while is_alpha_b(self.at(0)) {
            self.read(&mut name);
        }
        if name.is_empty() {
            return self.err(
                "while scanning a directive",
                start_mark,
                "could not find expected directive name",
            );
        }
        if !self.is_blankz(0) {
            return self.err(
                "while scanning a directive",
                start_mark,
                "found unexpected non-alphabetical character",
            );
        }
        let token = if name == b"YAML" {
            while self.is_blank(0) {
                self.skip();
            }
            let major = self.scan_version_number(start_mark)?;
            if self.at(0) != b'.' {
                return self.err(
                    "while scanning a %YAML directive",
                    start_mark,
                    "did not find expected digit or '.' character",
                );
            }
            self.skip();
            let minor = self.scan_version_number(start_mark)?;
            Token {
                typ: TokenType::VersionDirective,
                start_mark,
                end_mark: self.mark,
                major,
                minor,
                ..Token::default()
            }
        } else if name == b"TAG" {
            while self.is_blank(0) {
                self.skip();
            }
            let handle = self.scan_tag_handle(true, start_mark)?;
            if !self.is_blank(0) {
                return self.err(
                    "while scanning a %TAG directive",
                    start_mark,
                    "did not find expected whitespace",
                );
            }
            while self.is_blank(0) {
                self.skip();
            }
            let prefix = self.scan_tag_uri(true, &[], start_mark)?;
            if !self.is_blankz(0) {
                return self.err(
                    "while scanning a %TAG directive",
                    start_mark,
                    "did not find expected whitespace or line break",
                );
            }
            Token {
                typ: TokenType::TagDirective,
                start_mark,
                end_mark: self.mark,
                value: handle,
                prefix,
                ..Token::default()
            }
        } else {
            return self.err(
                "while scanning a directive",
                start_mark,
                "found unknown directive name",
            );
        };
        while self.is_blank(0) {
            self.skip();
        }
        if self.at(0) == b'#' {
            while !self.is_breakz(0) {
                self.skip();
            }
        }
        if !self.is_breakz(0) {
            return self.err(
                "while scanning a directive",
                start_mark,
                "did not find expected comment or line break",
            );
        }
        if self.is_break(0) {
            self.skip_line();
        }
        Ok(token)
    }

    fn scan_version_number(&mut self, start_mark: Mark) -> Result<i8, Error> {
        let mut value: i8 = 0;
        let mut length = 0;
        while self.at(0).is_ascii_digit() {
            length += 1;
            if length > 2 {
                return self.err(
                    "while scanning a %YAML directive",
                    start_mark,
                    "found extremely long version number",
                );
            }
            value = value * 10 + (self.at(0) - b'0') as i8;
            self.skip();
        }
        if length == 0 {
            return self.err(
                "while scanning a %YAML directive",
                start_mark,
                "did not find expected version number",
            );
        }
        Ok(value)
    }

    fn scan_anchor(&mut self, typ: TokenType) -> Result<Token, Error> {
        let mut s = Vec::new();
        let start_mark = self.mark;
        self.skip();
        while is_alpha_b(self.at(0)) {
            self.read(&mut s);
        }
        let end_mark = self.mark;
        let c = self.at(0);
        if s.is_empty()
            || !(self.is_blankz(0)
                || matches!(c, b'?' | b':' | b',' | b']' | b'}' | b'%' | b'@' | b'`'))
        {
            let context = if typ == TokenType::Anchor {
                "while scanning an anchor"
            } else {
                "while scanning an alias"
            };
            return self.err(
                context,
                start_mark,
                "did not find expected alphabetic or numeric character",
            );
        }
        Ok(Token { typ, start_mark, end_mark, value: s, ..Token::default() })
    }

    fn scan_tag(&mut self) -> Result<Token, Error> {
        let start_mark = self.mark;
        let mut handle;
        let mut suffix;
        if self.at(1) == b'<' {
            handle = Vec::new();
            self.skip();
            self.skip();
            suffix = self.scan_tag_uri(false, &[], start_mark)?;
            if self.at(0) != b'>' {
                return self.err(
                    "while scanning a tag",
                    start_mark,
                    "did not find the expected '>'",
                );
            }
            self.skip();
        } else {
            handle = self.scan_tag_handle(false, start_mark)?;
            if handle.first() == Some(&b'!') && handle.len() > 1 && handle.last() == Some(&b'!') {
                suffix = self.scan_tag_uri(false, &[], start_mark)?;
            } else {
                suffix = self.scan_tag_uri(false, &handle, start_mark)?;
                handle = b"!".to_vec();
                if suffix.is_empty() {
                    std::mem::swap(&mut handle, &mut suffix);
                }
            }
        }
        if !self.is_blankz(0) {
            return self.err(
                "while scanning a tag",
                start_mark,
                "did not find expected whitespace or line break",
            );
        }
        Ok(Token {
            typ: TokenType::Tag,
            start_mark,
            end_mark: self.mark,
            value: handle,
            suffix,
            ..Token::default()
        })
    }

    fn scan_tag_handle(&mut self, directive: bool, start_mark: Mark) -> Result<Vec<u8>, Error> {
        if self.at(0) != b'!' {
            return self.err("while parsing a tag", start_mark, "did not find expected '!'");
        }
        let mut s = Vec::new();
        self.read(&mut s);
        while is_alpha_b(self.at(0)) {
            self.read(&mut s);
        }
        if self.at(0) == b'!' {
            self.read(&mut s);
        } else if directive && s != b"!" {
            return self.err("while parsing a tag", start_mark, "did not find expected '!'");
        }
        Ok(s)
    }

    fn scan_tag_uri(
        &mut self,
        directive: bool,
        head: &[u8],
        start_mark: Mark,
    ) -> Result<Vec<u8>, Error> {
        let mut s = Vec::new();
        let mut has_tag = !head.is_empty();
        if head.len() > 1 {
            s.extend_from_slice(&head[1..]);
        }
        loop {
            let c = self.at(0);
            let ok = is_alpha_b(c)
                || matches!(
                    c,
                    b';' | b'/'
                        | b'?'
                        | b':'
                        | b'@'
                        | b'&'
                        | b'='
                        | b'+'
                        | b'$'
                        | b','
                        | b'.'
                        | b'!'
                        | b'~'
                        | b'*'
                        | b'\''
                        | b'('
                        | b')'
                        | b'['
                        | b']'
                        | b'%'
                );
            if !ok {
                break;
            }
            if c == b'%' {
                self.scan_uri_escapes(start_mark, &mut s)?;
            } else {
                self.read(&mut s);
            }
            has_tag = true;
        }
        if !has_tag {
            let _ = directive;
            return self.err("while parsing a tag", start_mark, "did not find expected tag URI");
        }
        Ok(s)
    }

    fn scan_uri_escapes(&mut self, start_mark: Mark, s: &mut Vec<u8>) -> Result<(), Error> {
        let mut w: usize = 1024;
        while w > 0 {
            if !(self.at(0) == b'%'
                && self.at(1).is_ascii_hexdigit()
                && self.at(2).is_ascii_hexdigit())
            {
                return self.err(
                    "while parsing a tag",
                    start_mark,
                    "did not find URI escaped octet",
                );
            }
            let octet = ((as_hex(self.at(1)) << 4) + as_hex(self.at(2))) as u8;
            if w == 1024 {
                w = width(octet);
                if w == 0 {
                    return self.err(
                        "while parsing a tag",
                        start_mark,
                        "found an incorrect leading UTF-8 octet",
                    );
                }
            } else if octet & 0xC0 != 0x80 {
                return self.err(
                    "while parsing a tag",
                    start_mark,
                    "found an incorrect trailing UTF-8 octet",
                );
            }
            s.push(octet);
            self.skip();
            self.skip();
            self.skip();
            w -= 1;
        }
        Ok(())
    }

    fn scan_block_scalar(&mut self, literal: bool) -> Result<Token, Error> {
        let start_mark = self.mark;
        self.skip();
        let mut chomping = 0i32;
        let mut increment = 0usize;
        if self.at(0) == b'+' || self.at(0) == b'-' {
            chomping = if self.at(0) == b'+' { 1 } else { -1 };
            self.skip();
            if self.at(0).is_ascii_digit() {
                if self.at(0) == b'0' {
                    return self.err(
                        "while scanning a block scalar",
                        start_mark,
                        "found an indentation indicator equal to 0",
                    );
                }
                increment = usize::from(self.at(0) - b'0');
                self.skip();
            }
        } else if self.at(0).is_ascii_digit() {
            if self.at(0) == b'0' {
                return self.err(
                    "while scanning a block scalar",
                    start_mark,
                    "found an indentation indicator equal to 0",
                );
            }
            increment = usize::from(self.at(0) - b'0');
            self.skip();
            if self.at(0) == b'+' || self.at(0) == b'-' {
                chomping = if self.at(0) == b'+' { 1 } else { -1 };
                self.skip();
            }
        }
        while self.is_blank(0) {
            self.skip();
        }
        if self.at(0) == b'#' {
            self.scan_line_comment(start_mark);
            while !self.is_breakz(0) {
                self.skip();
            }
        }
        if !self.is_breakz(0) {
            return self.err(
                "while scanning a block scalar",
                start_mark,
                "did not find expected comment or line break",
            );
        }
        if self.is_break(0) {
            self.skip_line();
        }
        let mut end_mark = self.mark;
        let mut indent: usize = 0;
        if increment > 0 {
            indent = if self.indent >= 0 { self.indent as usize + increment } else { increment };
        }
        let mut s = Vec::new();
        let mut leading_break = Vec::new();
        let mut trailing_breaks = Vec::new();
        self.scan_block_scalar_breaks(
            &mut indent,
            &mut trailing_breaks,
            start_mark,
            &mut end_mark,
        )?;
        let mut leading_blank = false;
        while self.mark.column == indent && !self.is_z(0) {
            let trailing_blank = self.is_blank(0);
            if !literal
                && !leading_blank
                && !trailing_blank
                && leading_break.first() == Some(&b'\n')
            {
                if trailing_breaks.is_empty() {
                    s.push(b' ');
                }
            } else {
                s.extend_from_slice(&leading_break);
            }
            leading_break.clear();
            s.extend_from_slice(&trailing_breaks);
            trailing_breaks.clear();
            leading_blank = self.is_blank(0);
            while !self.is_breakz(0) {
                self.read(&mut s);
            }
            self.read_line(&mut leading_break);
            self.scan_block_scalar_breaks(
                &mut indent,
                &mut trailing_breaks,
                start_mark,
                &mut end_mark,
            )?;
        }
        if chomping != -1 {
            s.extend_from_slice(&leading_break);
        }
        if chomping == 1 {
            s.extend_from_slice(&trailing_breaks);
        }
        Ok(Token {
            typ: TokenType::Scalar,
            start_mark,
            end_mark,
            value: s,
            style: if literal { ScalarStyle::Literal } else { ScalarStyle::Folded },
            ..Token::default()
        })
    }

    fn scan_block_scalar_breaks(
        &mut self,
        indent: &mut usize,
        breaks: &mut Vec<u8>,
        start_mark: Mark,
        end_mark: &mut Mark,
    ) -> Result<(), Error> {
        *end_mark = self.mark;
        let mut max_indent = 0;
        loop {
            while (*indent == 0 || self.mark.column < *indent) && self.at(0) == b' ' {
                self.skip();
            }
            if self.mark.column > max_indent {
                max_indent = self.mark.column;
            }
            if (*indent == 0 || self.mark.column < *indent) && self.at(0) == b'\t' {
                return self.err(
                    "while scanning a block scalar",
                    start_mark,
                    "found a tab character where an indentation space is expected",
                );
            }
            if !self.is_break(0) {
                break;
            }
            self.read_line(breaks);
            *end_mark = self.mark;
        }
        if *indent == 0 {
            *indent = max_indent;
            let min = (self.indent + 1).max(1) as usize;
            if *indent < min {
                *indent = min;
            }
        }
        Ok(())
    }

    fn scan_flow_scalar(&mut self, single: bool) -> Result<Token, Error> {
        let start_mark = self.mark;
        self.skip();
        let mut s = Vec::new();
        let mut leading_break = Vec::new();
        let mut trailing_breaks = Vec::new();
        let mut whitespaces = Vec::new();
        loop {
            if self.mark.column == 0
                && ((self.at(0) == b'-' && self.at(1) == b'-' && self.at(2) == b'-')
                    || (self.at(0) == b'.' && self.at(1) == b'.' && self.at(2) == b'.'))
                && self.is_blankz(3)
            {
                return self.err(
                    "while scanning a quoted scalar",
                    start_mark,
                    "found unexpected document indicator",
                );
            }
            if self.is_z(0) {
                return self.err(
                    "while scanning a quoted scalar",
                    start_mark,
                    "found unexpected end of stream",
                );
            }
            let mut leading_blanks = false;
            while !self.is_blankz(0) {
                let c = self.at(0);
                if single && c == b'\'' && self.at(1) == b'\'' {
                    s.push(b'\'');
                    self.skip();
                    self.skip();
                } else if (single && c == b'\'') || (!single && c == b'"') {
                    break;
                } else if !single && c == b'\\' && self.is_break(1) {
                    self.skip();
                    self.skip_line();
                    leading_blanks = true;
                    break;
                } else if !single && c == b'\\' {
                    let mut code_length = 0;
                    match self.at(1) {
                        b'0' => s.push(0),
                        b'a' => s.push(0x07),
                        b'b' => s.push(0x08),
                        b't' | b'\t' => s.push(0x09),
                        b'n' => s.push(0x0A),
                        b'v' => s.push(0x0B),
                        b'f' => s.push(0x0C),
                        b'r' => s.push(0x0D),
                        b'e' => s.push(0x1B),
                        b' ' => s.push(0x20),
                        b'"' => s.push(b'"'),
                        b'\'' => s.push(b'\''),
                        b'\\' => s.push(b'\\'),
                        b'N' => s.extend_from_slice(&[0xC2, 0x85]),
                        b'_' => s.extend_from_slice(&[0xC2, 0xA0]),
                        b'L' => s.extend_from_slice(&[0xE2, 0x80, 0xA8]),
                        b'P' => s.extend_from_slice(&[0xE2, 0x80, 0xA9]),
                        b'x' => code_length = 2,
                        b'u' => code_length = 4,
                        b'U' => code_length = 8,
                        _ => {
                            return self.err(
                                "while parsing a quoted scalar",
                                start_mark,
                                "found unknown escape character",
                            );
                        }
                    }
                    self.skip();
                    self.skip();
                    if code_length > 0 {
                        let mut value: u32 = 0;
                        for k in 0..code_length {
                            if !self.at(k).is_ascii_hexdigit() {
                                return self.err(
                                    "while parsing a quoted scalar",
                                    start_mark,
                                    "did not find expected hexdecimal number",
                                );
                            }
                            value = (value << 4) + as_hex(self.at(k));
                        }
                        match char::from_u32(value) {
                            Some(ch) => {
                                let mut tmp = [0u8; 4];
                                s.extend_from_slice(ch.encode_utf8(&mut tmp).as_bytes());
                            }
                            None => {
                                return self.err(
                                    "while parsing a quoted scalar",
                                    start_mark,
                                    "found invalid Unicode character escape code",
                                );
                            }
                        }
                        for _ in 0..code_length {
                            self.skip();
                        }
                    }
                } else {
                    self.read(&mut s);
                }
            }
            if single {
                if self.at(0) == b'\'' {
                    break;
                }
            } else if self.at(0) == b'"' {
                break;
            }
            while self.is_blank(0) || self.is_break(0) {
                if self.is_blank(0) {
                    if !leading_blanks {
                        self.read(&mut whitespaces);
                    } else {
                        self.skip();
                    }
                } else if !leading_blanks {
                    whitespaces.clear();
                    self.read_line(&mut leading_break);
                    leading_blanks = true;
                } else {
                    self.read_line(&mut trailing_breaks);
                }
            }
            if leading_blanks {
                if leading_break.first() == Some(&b'\n') {
                    if trailing_breaks.is_empty() {
                        s.push(b' ');
                    } else {
                        s.extend_from_slice(&trailing_breaks);
                    }
                } else {
                    s.extend_from_slice(&leading_break);
                    s.extend_from_slice(&trailing_breaks);
                }
                trailing_breaks.clear();
                leading_break.clear();
            } else {
                s.extend_from_slice(&whitespaces);
                whitespaces.clear();
            }
        }
        self.skip();
        Ok(Token {
            typ: TokenType::Scalar,
            start_mark,
            end_mark: self.mark,
            value: s,
            style: if single { ScalarStyle::SingleQuoted } else { ScalarStyle::DoubleQuoted },
            ..Token::default()
        })
    }

    fn scan_plain_scalar(&mut self) -> Result<Token, Error> {
        let mut s = Vec::new();
        let mut leading_break = Vec::new();
        let mut trailing_breaks = Vec::new();
        let mut whitespaces = Vec::new();
        let mut leading_blanks = false;
        let indent = self.indent + 1;
        let start_mark = self.mark;
        let mut end_mark = self.mark;
        loop {
            if self.mark.column == 0
                && ((self.at(0) == b'-' && self.at(1) == b'-' && self.at(2) == b'-')
                    || (self.at(0) == b'.' && self.at(1) == b'.' && self.at(2) == b'.'))
                && self.is_blankz(3)
            {
                break;
            }
            if self.at(0) == b'#' {
                break;
            }
            while !self.is_blankz(0) {
                let c = self.at(0);
                if (c == b':' && self.is_blankz(1))
                    || (self.flow_level > 0 && matches!(c, b',' | b'?' | b'[' | b']' | b'{' | b'}'))
                {
                    break;
                }
                if leading_blanks || !whitespaces.is_empty() {
                    if leading_blanks {
                        if leading_break.first() == Some(&b'\n') {
                            if trailing_breaks.is_empty() {
                                s.push(b' ');
                            } else {
                                s.extend_from_slice(&trailing_breaks);
                            }
                        } else {
                            s.extend_from_slice(&leading_break);
                            s.extend_from_slice(&trailing_breaks);
                        }
                        trailing_breaks.clear();
                        leading_break.clear();
                        leading_blanks = false;
                    } else {
                        s.extend_from_slice(&whitespaces);
                        whitespaces.clear();
                    }
                }
                self.read(&mut s);
                end_mark = self.mark;
            }
            if !(self.is_blank(0) || self.is_break(0)) {
                break;
            }
            while self.is_blank(0) || self.is_break(0) {
                if self.is_blank(0) {
                    if leading_blanks && (self.mark.column as isize) < indent && self.at(0) == b'\t'
                    {
                        return self.err(
                            "while scanning a plain scalar",
                            start_mark,
                            "found a tab character that violates indentation",
                        );
                    }
                    if !leading_blanks {
                        self.read(&mut whitespaces);
                    } else {
                        self.skip();
                    }
                } else if !leading_blanks {
                    whitespaces.clear();
                    self.read_line(&mut leading_break);
                    leading_blanks = true;
                } else {
                    self.read_line(&mut trailing_breaks);
                }
            }
            if self.flow_level == 0 && (self.mark.column as isize) < indent {
                break;
            }
        }
        if leading_blanks {
            self.simple_key_allowed = true;
        }
        Ok(Token {
            typ: TokenType::Scalar,
            start_mark,
            end_mark,
            value: s,
            style: ScalarStyle::Plain,
            ..Token::default()
        })
    }

    fn scan_line_comment(&mut self, token_mark: Mark) {
        if self.newlines > 0 {
            return;
        }
        let mut start_mark = Mark::default();
        let mut text = Vec::new();
        let mut peek = 0;
        while peek < 512 {
            if self.is_blank(peek) {
                peek += 1;
                continue;
            }
            if self.at(peek) == b'#' {
                let seen = self.mark.index + peek;
                loop {
                    if self.is_breakz(0) {
                        if self.mark.index >= seen {
                            break;
                        }
                        self.skip_line();
                    } else if self.mark.index >= seen {
                        if text.is_empty() {
                            start_mark = self.mark;
                        }
                        self.read(&mut text);
                    } else {
                        self.skip();
                    }
                }
            }
            break;
        }
        if !text.is_empty() {
            self.comments.push(Comment {
                token_mark,
                start_mark,
                line: text,
                ..Comment::default()
            });
        }
    }

    fn scan_comments(&mut self, scan_mark_in: Mark) -> Result<(), Error> {
        let mut scan_mark = scan_mark_in;
        let ntok = self.tokens.len();
        let mut token = self.tokens.last().cloned().unwrap_or_default();
        if token.typ == TokenType::FlowEntry && ntok > 1 {
            token = self.tokens[ntok - 2].clone();
        }
        let mut token_mark = token.start_mark;
        let mut start_mark = Mark::default();
        let mut next_indent: isize = self.indent.max(0);
        let mut recent_empty = false;
        let mut first_empty = self.newlines <= 1;
        let mut line = self.mark.line;
        let mut column = self.mark.column;
        let mut text: Vec<u8> = Vec::new();

        let mut foot_line: isize = -1;
        if scan_mark.line > 0 {
            foot_line = self.mark.line as isize - self.newlines as isize + 1;
            if self.newlines == 0 && self.mark.column > 1 {
                foot_line += 1;
            }
        }

        let mut peek = 0usize;
        while peek < 512 {
            column += 1;
            if self.is_blank(peek) {
                peek += 1;
                continue;
            }
            let c = self.at(peek);
            let close_flow = self.flow_level > 0 && (c == b']' || c == b'}');
            if close_flow || self.is_breakz(peek) {
                if close_flow || !recent_empty {
                    if close_flow
                        || (first_empty
                            && ((start_mark.line as isize == foot_line
                                && token.typ != TokenType::Value)
                                || (start_mark.column as isize - 1) < next_indent))
                    {
                        if !text.is_empty() {
                            if (start_mark.column as isize - 1) < next_indent {
                                token_mark = start_mark;
                            }
                            let end = Mark { index: self.mark.index + peek, line, column };
                            self.comments.push(Comment {
                                scan_mark,
                                token_mark,
                                start_mark,
                                end_mark: end,
                                foot: std::mem::take(&mut text),
                                ..Comment::default()
                            });
                            scan_mark = end;
                            token_mark = scan_mark;
                        }
                    } else if !text.is_empty() && self.at(peek) != 0 {
                        text.push(b'\n');
                    }
                }
                if !self.is_break(peek) {
                    break;
                }
                first_empty = false;
                recent_empty = true;
                column = 0;
                line += 1;
                peek += 1;
                continue;
            }

            if !text.is_empty()
                && (close_flow
                    || ((column as isize - 1) < next_indent && column != start_mark.column))
            {
                let end = Mark { index: self.mark.index + peek, line, column };
                self.comments.push(Comment {
                    scan_mark,
                    token_mark,
                    start_mark,
                    end_mark: end,
                    foot: std::mem::take(&mut text),
                    ..Comment::default()
                });
                scan_mark = end;
                token_mark = scan_mark;
            }

            if self.at(peek) != b'#' {
                break;
            }

            if text.is_empty() {
                start_mark = Mark { index: self.mark.index + peek, line, column };
            } else {
                text.push(b'\n');
            }
            recent_empty = false;

            let seen = self.mark.index + peek;
            loop {
                if self.is_breakz(0) {
                    if self.mark.index >= seen {
                        break;
                    }
                    self.skip_line();
                } else if self.mark.index >= seen {
                    self.read(&mut text);
                } else {
                    self.skip();
                }
            }

            // Go resets `peek` to 0 and its for-loop then increments it, so the line break that
            // ended the comment is skipped without counting a line. Reproduce that exactly.
            column = 0;
            line = self.mark.line;
            next_indent = self.indent.max(0);
            peek = 1;
        }

        if !text.is_empty() {
            self.comments.push(Comment {
                scan_mark,
                token_mark: start_mark,
                start_mark,
                end_mark: Mark { index: (self.mark.index + peek).wrapping_sub(1), line, column },
                head: text,
                ..Comment::default()
            });
        }
        Ok(())
    }

    // ---- parser ---------------------------------------------------------------------------------

    fn peek_token(&mut self) -> Result<usize, Error> {
        if !self.token_available {
            self.fetch_more_tokens()?;
        }
        let idx = self.tokens_head;
        self.unfold_comments(idx);
        Ok(idx)
    }

    fn tok(&self, idx: usize) -> &Token {
        &self.tokens[idx]
    }

    fn unfold_comments(&mut self, idx: usize) {
        let token_index = self.tokens[idx].start_mark.index;
        let token_typ = self.tokens[idx].typ;
        while self.comments_head < self.comments.len()
            && token_index >= self.comments[self.comments_head].token_mark.index
        {
            let comment = &mut self.comments[self.comments_head];
            if !comment.head.is_empty() {
                if token_typ == TokenType::BlockEnd {
                    break;
                }
                if !self.head_comment.is_empty() {
                    self.head_comment.push(b'\n');
                }
                self.head_comment.extend_from_slice(&comment.head);
            }
            if !comment.foot.is_empty() {
                if !self.foot_comment.is_empty() {
                    self.foot_comment.push(b'\n');
                }
                self.foot_comment.extend_from_slice(&comment.foot);
            }
            if !comment.line.is_empty() {
                if !self.line_comment.is_empty() {
                    self.line_comment.push(b'\n');
                }
                self.line_comment.extend_from_slice(&comment.line);
            }
            *comment = Comment::default();
            self.comments_head += 1;
        }
    }

    fn skip_token(&mut self) {
        self.token_available = false;
        self.tokens_parsed += 1;
        self.stream_end_produced = self.tokens[self.tokens_head].typ == TokenType::StreamEnd;
        self.tokens_head += 1;
    }

    /// Produces the next event, or `None` after the end of the stream.
    pub(crate) fn parse(&mut self) -> Result<Option<Event>, Error> {
        if self.stream_end_produced || self.errored || self.state == State::End {
            return Ok(None);
        }
        self.state_machine().map(Some)
    }

    fn pop_state(&mut self) {
        self.state = self.states.pop().unwrap_or(State::End);
    }

    fn state_machine(&mut self) -> Result<Event, Error> {
        match self.state {
            State::StreamStart => self.parse_stream_start(),
            State::ImplicitDocumentStart => self.parse_document_start(true),
            State::DocumentStart => self.parse_document_start(false),
            State::DocumentContent => self.parse_document_content(),
            State::DocumentEnd => self.parse_document_end(),
            State::BlockNode => self.parse_node(true, false),
            State::BlockSequenceFirstEntry => self.parse_block_sequence_entry(true),
            State::BlockSequenceEntry => self.parse_block_sequence_entry(false),
            State::IndentlessSequenceEntry => self.parse_indentless_sequence_entry(),
            State::BlockMappingFirstKey => self.parse_block_mapping_key(true),
            State::BlockMappingKey => self.parse_block_mapping_key(false),
            State::BlockMappingValue => self.parse_block_mapping_value(),
            State::FlowSequenceFirstEntry => self.parse_flow_sequence_entry(true),
            State::FlowSequenceEntry => self.parse_flow_sequence_entry(false),
            State::FlowSequenceEntryMappingKey => self.parse_flow_sequence_entry_mapping_key(),
            State::FlowSequenceEntryMappingValue => self.parse_flow_sequence_entry_mapping_value(),
            State::FlowSequenceEntryMappingEnd => self.parse_flow_sequence_entry_mapping_end(),
            State::FlowMappingFirstKey => self.parse_flow_mapping_key(true),
            State::FlowMappingKey => self.parse_flow_mapping_key(false),
            State::FlowMappingValue => self.parse_flow_mapping_value(false),
            State::FlowMappingEmptyValue => self.parse_flow_mapping_value(true),
            State::End => Ok(Event { typ: EventType::StreamEnd, ..Event::default() }),
        }
    }

    fn parse_stream_start(&mut self) -> Result<Event, Error> {
        let idx = self.peek_token()?;
        let token = self.tok(idx).clone();
        if token.typ != TokenType::StreamStart {
            return self.parser_err("did not find expected <stream-start>", token.start_mark);
        }
        self.state = State::ImplicitDocumentStart;
        self.skip_token();
        Ok(Event { typ: EventType::StreamStart, start_mark: token.start_mark, ..Event::default() })
    }

    fn parse_document_start(&mut self, implicit: bool) -> Result<Event, Error> {
        let mut idx = self.peek_token()?;
        if !implicit {
            while self.tok(idx).typ == TokenType::DocumentEnd {
                self.skip_token();
                idx = self.peek_token()?;
            }
        }
        let typ = self.tok(idx).typ;
        if implicit
            && typ != TokenType::VersionDirective
            && typ != TokenType::TagDirective
            && typ != TokenType::DocumentStart
            && typ != TokenType::StreamEnd
        {
            self.process_directives()?;
            self.states.push(State::DocumentEnd);
            self.state = State::BlockNode;
            let mut head_comment = Vec::new();
            if !self.head_comment.is_empty() {
                let hc = &self.head_comment;
                let mut i = hc.len() - 1;
                while i > 0 {
                    if hc[i] == b'\n' {
                        if i == hc.len() - 1 {
                            head_comment = hc[..i].to_vec();
                            self.head_comment = hc[i + 1..].to_vec();
                            break;
                        } else if hc[i - 1] == b'\n' {
                            head_comment = hc[..i - 1].to_vec();
                            self.head_comment = hc[i + 1..].to_vec();
                            break;
                        }
                    }
                    i -= 1;
                }
            }
            let start_mark = self.tok(idx).start_mark;
            return Ok(Event {
                typ: EventType::DocumentStart,
                start_mark,
                head_comment,
                implicit: true,
                ..Event::default()
            });
        }
        if typ != TokenType::StreamEnd {
            let start_mark = self.tok(idx).start_mark;
            self.process_directives()?;
            let idx = self.peek_token()?;
            if self.tok(idx).typ != TokenType::DocumentStart {
                let mark = self.tok(idx).start_mark;
                return self.parser_err("did not find expected <document start>", mark);
            }
            self.states.push(State::DocumentEnd);
            self.state = State::DocumentContent;
            self.skip_token();
            return Ok(Event {
                typ: EventType::DocumentStart,
                start_mark,
                implicit: false,
                ..Event::default()
            });
        }
        self.state = State::End;
        let start_mark = self.tok(idx).start_mark;
        self.skip_token();
        Ok(Event { typ: EventType::StreamEnd, start_mark, ..Event::default() })
    }

    fn parse_document_content(&mut self) -> Result<Event, Error> {
        let idx = self.peek_token()?;
        let typ = self.tok(idx).typ;
        if matches!(
            typ,
            TokenType::VersionDirective
                | TokenType::TagDirective
                | TokenType::DocumentStart
                | TokenType::DocumentEnd
                | TokenType::StreamEnd
        ) {
            self.pop_state();
            let mark = self.tok(idx).start_mark;
            return Ok(empty_scalar(mark));
        }
        self.parse_node(true, false)
    }

    fn parse_document_end(&mut self) -> Result<Event, Error> {
        let idx = self.peek_token()?;
        let start_mark = self.tok(idx).start_mark;
        let mut implicit = true;
        if self.tok(idx).typ == TokenType::DocumentEnd {
            self.skip_token();
            implicit = false;
        }
        self.tag_directives.clear();
        self.state = State::DocumentStart;
        let mut event =
            Event { typ: EventType::DocumentEnd, start_mark, implicit, ..Event::default() };
        self.set_event_comments(&mut event);
        if !event.head_comment.is_empty() && event.foot_comment.is_empty() {
            event.foot_comment = std::mem::take(&mut event.head_comment);
        }
        Ok(event)
    }

    fn set_event_comments(&mut self, event: &mut Event) {
        event.head_comment = std::mem::take(&mut self.head_comment);
        event.line_comment = std::mem::take(&mut self.line_comment);
        event.foot_comment = std::mem::take(&mut self.foot_comment);
        self.tail_comment.clear();
        self.stem_comment = None;
    }

    fn parse_node(&mut self, block: bool, indentless_sequence: bool) -> Result<Event, Error> {
        let mut idx = self.peek_token()?;
        if self.tok(idx).typ == TokenType::Alias {
            self.pop_state();
            let token = self.tok(idx).clone();
            let mut event = Event {
                typ: EventType::Alias,
                start_mark: token.start_mark,
                anchor: token.value,
                ..Event::default()
            };
            self.set_event_comments(&mut event);
            self.skip_token();
            return Ok(event);
        }
        let mut start_mark = self.tok(idx).start_mark;
        let mut tag_token = false;
        let mut tag_handle = Vec::new();
        let mut tag_suffix = Vec::new();
        let mut anchor = Vec::new();
        let mut tag_mark = Mark::default();
        if self.tok(idx).typ == TokenType::Anchor {
            anchor = self.tok(idx).value.clone();
            start_mark = self.tok(idx).start_mark;
            self.skip_token();
            idx = self.peek_token()?;
            if self.tok(idx).typ == TokenType::Tag {
                tag_token = true;
                tag_handle = self.tok(idx).value.clone();
                tag_suffix = self.tok(idx).suffix.clone();
                tag_mark = self.tok(idx).start_mark;
                self.skip_token();
                idx = self.peek_token()?;
            }
        } else if self.tok(idx).typ == TokenType::Tag {
            tag_token = true;
            tag_handle = self.tok(idx).value.clone();
            tag_suffix = self.tok(idx).suffix.clone();
            start_mark = self.tok(idx).start_mark;
            tag_mark = self.tok(idx).start_mark;
            self.skip_token();
            idx = self.peek_token()?;
            if self.tok(idx).typ == TokenType::Anchor {
                anchor = self.tok(idx).value.clone();
                self.skip_token();
                idx = self.peek_token()?;
            }
        }
        let mut tag = Vec::new();
        if tag_token {
            if tag_handle.is_empty() {
                tag = std::mem::take(&mut tag_suffix);
            } else {
                for (handle, prefix) in &self.tag_directives {
                    if *handle == tag_handle {
                        tag = prefix.clone();
                        tag.extend_from_slice(&tag_suffix);
                        break;
                    }
                }
                if tag.is_empty() {
                    return self.parser_err("found undefined tag handle", tag_mark);
                }
            }
        }
        let implicit = tag.is_empty();
        let token = Token {
            typ: self.tokens[idx].typ,
            start_mark: self.tokens[idx].start_mark,
            end_mark: self.tokens[idx].end_mark,
            value: std::mem::take(&mut self.tokens[idx].value),
            style: self.tokens[idx].style,
            ..Token::default()
        };
        if indentless_sequence && token.typ == TokenType::BlockEntry {
            self.state = State::IndentlessSequenceEntry;
            return Ok(Event {
                typ: EventType::SequenceStart,
                start_mark,
                anchor,
                tag,
                implicit,
                collection_style: CollectionStyle::Block,
                ..Event::default()
            });
        }
        if token.typ == TokenType::Scalar {
            let mut plain_implicit = false;
            let mut quoted_implicit = false;
            if (tag.is_empty() && token.style == ScalarStyle::Plain) || tag == b"!" {
                plain_implicit = true;
            } else if tag.is_empty() {
                quoted_implicit = true;
            }
            self.pop_state();
            let mut event = Event {
                typ: EventType::Scalar,
                start_mark,
                anchor,
                tag,
                value: token.value,
                implicit: plain_implicit,
                quoted_implicit,
                scalar_style: token.style,
                ..Event::default()
            };
            self.set_event_comments(&mut event);
            self.skip_token();
            return Ok(event);
        }
        if token.typ == TokenType::FlowSequenceStart {
            self.state = State::FlowSequenceFirstEntry;
            let mut event = Event {
                typ: EventType::SequenceStart,
                start_mark,
                anchor,
                tag,
                implicit,
                collection_style: CollectionStyle::Flow,
                ..Event::default()
            };
            self.set_event_comments(&mut event);
            return Ok(event);
        }
        if token.typ == TokenType::FlowMappingStart {
            self.state = State::FlowMappingFirstKey;
            let mut event = Event {
                typ: EventType::MappingStart,
                start_mark,
                anchor,
                tag,
                implicit,
                collection_style: CollectionStyle::Flow,
                ..Event::default()
            };
            self.set_event_comments(&mut event);
            return Ok(event);
        }
        if block && token.typ == TokenType::BlockSequenceStart {
            self.state = State::BlockSequenceFirstEntry;
            let mut event = Event {
                typ: EventType::SequenceStart,
                start_mark,
                anchor,
                tag,
                implicit,
                collection_style: CollectionStyle::Block,
                ..Event::default()
            };
            if let Some(stem) = self.stem_comment.take() {
                event.head_comment = stem;
            }
            return Ok(event);
        }
        if block && token.typ == TokenType::BlockMappingStart {
            self.state = State::BlockMappingFirstKey;
            let mut event = Event {
                typ: EventType::MappingStart,
                start_mark,
                anchor,
                tag,
                implicit,
                collection_style: CollectionStyle::Block,
                ..Event::default()
            };
            if let Some(stem) = self.stem_comment.take() {
                event.head_comment = stem;
            }
            return Ok(event);
        }
        if !anchor.is_empty() || !tag.is_empty() {
            self.pop_state();
            return Ok(Event {
                typ: EventType::Scalar,
                start_mark,
                anchor,
                tag,
                implicit,
                quoted_implicit: false,
                scalar_style: ScalarStyle::Plain,
                ..Event::default()
            });
        }
        let _ = block;
        self.parser_err("did not find expected node content", token.start_mark)
    }

    fn parse_block_sequence_entry(&mut self, first: bool) -> Result<Event, Error> {
        if first {
            let idx = self.peek_token()?;
            let mark = self.tok(idx).start_mark;
            self.marks.push(mark);
            self.skip_token();
        }
        let idx = self.peek_token()?;
        let token = self.tok(idx).clone();
        if token.typ == TokenType::BlockEntry {
            let mark = token.end_mark;
            let prior_head_len = self.head_comment.len();
            self.skip_token();
            self.split_stem_comment(prior_head_len)?;
            let idx = self.peek_token()?;
            let typ = self.tok(idx).typ;
            if typ != TokenType::BlockEntry && typ != TokenType::BlockEnd {
                self.states.push(State::BlockSequenceEntry);
                return self.parse_node(true, false);
            }
            self.state = State::BlockSequenceEntry;
            return Ok(empty_scalar(mark));
        }
        if token.typ == TokenType::BlockEnd {
            self.pop_state();
            self.marks.pop();
            self.skip_token();
            return Ok(Event {
                typ: EventType::SequenceEnd,
                start_mark: token.start_mark,
                ..Event::default()
            });
        }
        self.marks.pop();
        self.parser_err("did not find expected '-' indicator", token.start_mark)
    }

    fn parse_indentless_sequence_entry(&mut self) -> Result<Event, Error> {
        let idx = self.peek_token()?;
        let token = self.tok(idx).clone();
        if token.typ == TokenType::BlockEntry {
            let mark = token.end_mark;
            let prior_head_len = self.head_comment.len();
            self.skip_token();
            self.split_stem_comment(prior_head_len)?;
            let idx = self.peek_token()?;
            let typ = self.tok(idx).typ;
            if typ != TokenType::BlockEntry
                && typ != TokenType::Key
                && typ != TokenType::Value
                && typ != TokenType::BlockEnd
            {
                self.states.push(State::IndentlessSequenceEntry);
                return self.parse_node(true, false);
            }
            self.state = State::IndentlessSequenceEntry;
            return Ok(empty_scalar(mark));
        }
        self.pop_state();
        Ok(Event { typ: EventType::SequenceEnd, start_mark: token.start_mark, ..Event::default() })
    }

    fn split_stem_comment(&mut self, stem_len: usize) -> Result<(), Error> {
        if stem_len == 0 {
            return Ok(());
        }
        let idx = self.peek_token()?;
        let typ = self.tok(idx).typ;
        if typ != TokenType::BlockSequenceStart && typ != TokenType::BlockMappingStart {
            return Ok(());
        }
        self.stem_comment = Some(self.head_comment[..stem_len].to_vec());
        if self.head_comment.len() == stem_len {
            self.head_comment.clear();
        } else {
            self.head_comment = self.head_comment[stem_len + 1..].to_vec();
        }
        Ok(())
    }

    fn parse_block_mapping_key(&mut self, first: bool) -> Result<Event, Error> {
        if first {
            let idx = self.peek_token()?;
            let mark = self.tok(idx).start_mark;
            self.marks.push(mark);
            self.skip_token();
        }
        let idx = self.peek_token()?;
        let token = self.tok(idx).clone();
        if !self.tail_comment.is_empty() {
            return Ok(Event {
                typ: EventType::TailComment,
                start_mark: token.start_mark,
                foot_comment: std::mem::take(&mut self.tail_comment),
                ..Event::default()
            });
        }
        if token.typ == TokenType::Key {
            let mark = token.end_mark;
            self.skip_token();
            let idx = self.peek_token()?;
            let typ = self.tok(idx).typ;
            if typ != TokenType::Key && typ != TokenType::Value && typ != TokenType::BlockEnd {
                self.states.push(State::BlockMappingValue);
                return self.parse_node(true, true);
            }
            self.state = State::BlockMappingValue;
            return Ok(empty_scalar(mark));
        } else if token.typ == TokenType::BlockEnd {
            self.pop_state();
            self.marks.pop();
            let mut event = Event {
                typ: EventType::MappingEnd,
                start_mark: token.start_mark,
                ..Event::default()
            };
            self.set_event_comments(&mut event);
            self.skip_token();
            return Ok(event);
        }
        self.marks.pop();
        self.parser_err("did not find expected key", token.start_mark)
    }

    fn parse_block_mapping_value(&mut self) -> Result<Event, Error> {
        let idx = self.peek_token()?;
        let token = self.tok(idx).clone();
        if token.typ == TokenType::Value {
            let mark = token.end_mark;
            self.skip_token();
            let idx = self.peek_token()?;
            let typ = self.tok(idx).typ;
            if typ != TokenType::Key && typ != TokenType::Value && typ != TokenType::BlockEnd {
                self.states.push(State::BlockMappingKey);
                return self.parse_node(true, true);
            }
            self.state = State::BlockMappingKey;
            return Ok(empty_scalar(mark));
        }
        self.state = State::BlockMappingKey;
        Ok(empty_scalar(token.start_mark))
    }

    fn parse_flow_sequence_entry(&mut self, first: bool) -> Result<Event, Error> {
        if first {
            let idx = self.peek_token()?;
            let mark = self.tok(idx).start_mark;
            self.marks.push(mark);
            self.skip_token();
        }
        let mut idx = self.peek_token()?;
        if self.tok(idx).typ != TokenType::FlowSequenceEnd {
            if !first {
                if self.tok(idx).typ == TokenType::FlowEntry {
                    self.skip_token();
                    idx = self.peek_token()?;
                } else {
                    self.marks.pop();
                    let mark = self.tok(idx).start_mark;
                    return self.parser_err("did not find expected ',' or ']'", mark);
                }
            }
            let token = self.tok(idx).clone();
            if token.typ == TokenType::Key {
                self.state = State::FlowSequenceEntryMappingKey;
                self.skip_token();
                return Ok(Event {
                    typ: EventType::MappingStart,
                    start_mark: token.start_mark,
                    implicit: true,
                    collection_style: CollectionStyle::Flow,
                    ..Event::default()
                });
            } else if token.typ != TokenType::FlowSequenceEnd {
                self.states.push(State::FlowSequenceEntry);
                return self.parse_node(false, false);
            }
        }
        let start_mark = self.tok(idx).start_mark;
        self.pop_state();
        self.marks.pop();
        let mut event = Event { typ: EventType::SequenceEnd, start_mark, ..Event::default() };
        self.set_event_comments(&mut event);
        self.skip_token();
        Ok(event)
    }

    fn parse_flow_sequence_entry_mapping_key(&mut self) -> Result<Event, Error> {
        let idx = self.peek_token()?;
        let token = self.tok(idx).clone();
        if token.typ != TokenType::Value
            && token.typ != TokenType::FlowEntry
            && token.typ != TokenType::FlowSequenceEnd
        {
            self.states.push(State::FlowSequenceEntryMappingValue);
            return self.parse_node(false, false);
        }
        let mark = token.end_mark;
        self.skip_token();
        self.state = State::FlowSequenceEntryMappingValue;
        Ok(empty_scalar(mark))
    }

    fn parse_flow_sequence_entry_mapping_value(&mut self) -> Result<Event, Error> {
        let idx = self.peek_token()?;
        let mut token = self.tok(idx).clone();
        if token.typ == TokenType::Value {
            self.skip_token();
            let idx = self.peek_token()?;
            token = self.tok(idx).clone();
            if token.typ != TokenType::FlowEntry && token.typ != TokenType::FlowSequenceEnd {
                self.states.push(State::FlowSequenceEntryMappingEnd);
                return self.parse_node(false, false);
            }
        }
        self.state = State::FlowSequenceEntryMappingEnd;
        Ok(empty_scalar(token.start_mark))
    }

    fn parse_flow_sequence_entry_mapping_end(&mut self) -> Result<Event, Error> {
        let idx = self.peek_token()?;
        let start_mark = self.tok(idx).start_mark;
        self.state = State::FlowSequenceEntry;
        Ok(Event { typ: EventType::MappingEnd, start_mark, ..Event::default() })
    }

    fn parse_flow_mapping_key(&mut self, first: bool) -> Result<Event, Error> {
        if first {
            let idx = self.peek_token()?;
            let mark = self.tok(idx).start_mark;
            self.marks.push(mark);
            self.skip_token();
        }
        let mut idx = self.peek_token()?;
        if self.tok(idx).typ != TokenType::FlowMappingEnd {
            if !first {
                if self.tok(idx).typ == TokenType::FlowEntry {
                    self.skip_token();
                    idx = self.peek_token()?;
                } else {
                    self.marks.pop();
                    let mark = self.tok(idx).start_mark;
                    return self.parser_err("did not find expected ',' or '}'", mark);
                }
            }
            if self.tok(idx).typ == TokenType::Key {
                self.skip_token();
                let idx = self.peek_token()?;
                let token = self.tok(idx).clone();
                if token.typ != TokenType::Value
                    && token.typ != TokenType::FlowEntry
                    && token.typ != TokenType::FlowMappingEnd
                {
                    self.states.push(State::FlowMappingValue);
                    return self.parse_node(false, false);
                }
                self.state = State::FlowMappingValue;
                return Ok(empty_scalar(token.start_mark));
            } else if self.tok(idx).typ != TokenType::FlowMappingEnd {
                self.states.push(State::FlowMappingEmptyValue);
                return self.parse_node(false, false);
            }
        }
        let start_mark = self.tok(idx).start_mark;
        self.pop_state();
        self.marks.pop();
        let mut event = Event { typ: EventType::MappingEnd, start_mark, ..Event::default() };
        self.set_event_comments(&mut event);
        self.skip_token();
        Ok(event)
    }

    fn parse_flow_mapping_value(&mut self, empty: bool) -> Result<Event, Error> {
        let idx = self.peek_token()?;
        let mut token = self.tok(idx).clone();
        if empty {
            self.state = State::FlowMappingKey;
            return Ok(empty_scalar(token.start_mark));
        }
        if token.typ == TokenType::Value {
            self.skip_token();
            let idx = self.peek_token()?;
            token = self.tok(idx).clone();
            if token.typ != TokenType::FlowEntry && token.typ != TokenType::FlowMappingEnd {
                self.states.push(State::FlowMappingKey);
                return self.parse_node(false, false);
            }
        }
        self.state = State::FlowMappingKey;
        Ok(empty_scalar(token.start_mark))
    }

    #[allow(clippy::type_complexity)]
    fn process_directives(&mut self) -> Result<(bool, Vec<(Vec<u8>, Vec<u8>)>), Error> {
        let mut version_directive = false;
        let mut tag_directives = Vec::new();
        let mut idx = self.peek_token()?;
        loop {
            let token = self.tok(idx).clone();
            if token.typ == TokenType::VersionDirective {
                if version_directive {
                    return self.parser_err("found duplicate %YAML directive", token.start_mark);
                }
                if token.major != 1 || token.minor != 1 {
                    return self.parser_err("found incompatible YAML document", token.start_mark);
                }
                version_directive = true;
            } else if token.typ == TokenType::TagDirective {
                let value = (token.value.clone(), token.prefix.clone());
                if self.tag_directives.iter().any(|(h, _)| *h == value.0) {
                    return self.parser_err("found duplicate %TAG directive", token.start_mark);
                }
                self.tag_directives.push(value.clone());
                tag_directives.push(value);
            } else {
                break;
            }
            self.skip_token();
            idx = self.peek_token()?;
        }
        for (handle, prefix) in
            [(b"!".to_vec(), b"!".to_vec()), (b"!!".to_vec(), b"tag:yaml.org,2002:".to_vec())]
        {
            if !self.tag_directives.iter().any(|(h, _)| *h == handle) {
                self.tag_directives.push((handle, prefix));
            }
        }
        Ok((version_directive, tag_directives))
    }
}

fn empty_scalar(mark: Mark) -> Event {
    Event {
        typ: EventType::Scalar,
        start_mark: mark,
        implicit: true,
        scalar_style: ScalarStyle::Plain,
        ..Event::default()
    }
}
