//! Emission of changed documents: block style, the document's indentation and sequence style,
//! scalar styles kept where they still mean the same value.

use super::{Document, Entry, Item, Node, Style, Value};

pub(super) fn emit_document(doc: &Document) -> String {
    let mut emitter =
        Emitter { out: String::new(), indent: doc.indent.max(1), wide: doc.wide_sequences };
    emitter.lines(&doc.head, 0);
    if let Some(root) = &doc.root {
        match &root.value {
            Value::Mapping(entries) if root.style != Style::Flow && !entries.is_empty() => {
                emitter.mapping(entries, 0);
            }
            Value::Sequence(items) if root.style != Style::Flow && !items.is_empty() => {
                emitter.sequence(items, 0);
            }
            _ => {
                let text = emitter.inline(root, 0);
                emitter.out.push_str(&text);
                emitter.comment(root.comment.as_deref());
                emitter.out.push('\n');
            }
        }
    }
    emitter.lines(&doc.foot, 0);
    emitter.out
}

struct Emitter {
    out: String,
    indent: usize,
    wide: bool,
}

impl Emitter {
    fn pad(&mut self, col: usize) {
        self.out.extend(std::iter::repeat_n(' ', col));
    }

    fn lines(&mut self, lines: &[String], col: usize) {
        for line in lines {
            if !line.is_empty() {
                self.pad(col);
                self.out.push_str(line);
            }
            self.out.push('\n');
        }
    }

    fn comment(&mut self, comment: Option<&str>) {
        if let Some(c) = comment {
            self.out.push(' ');
            self.out.push_str(c);
        }
    }

    fn mapping(&mut self, entries: &[Entry], col: usize) {
        for entry in entries {
            self.lines(&entry.head, col);
            self.pad(col);
            self.entry_body(entry, col);
        }
    }

    /// Writes `key: value...` (the caller wrote the indentation and head lines).
    fn entry_body(&mut self, entry: &Entry, col: usize) {
        self.out.push_str(&format_key(&entry.key, entry.key_style));
        self.out.push(':');
        let value = &entry.value;
        let tag = value.tag.as_deref().map(|t| format!(" {t}")).unwrap_or_default();
        match &value.value {
            Value::Mapping(entries) if value.style != Style::Flow && !entries.is_empty() => {
                self.out.push_str(&tag);
                self.comment(entry.key_comment.as_deref().or(value.comment.as_deref()));
                self.out.push('\n');
                self.mapping(entries, col + self.indent);
            }
            Value::Sequence(items) if value.style != Style::Flow && !items.is_empty() => {
                self.out.push_str(&tag);
                self.comment(entry.key_comment.as_deref().or(value.comment.as_deref()));
                self.out.push('\n');
                let seq_col = if self.wide { col + self.indent } else { col };
                self.sequence(items, seq_col);
            }
            Value::Scalar(text) if is_block_scalar(value, text) => {
                self.out.push_str(&tag);
                self.out.push(' ');
                self.block_scalar(value, text, entry.key_comment.as_deref(), col + self.indent);
            }
            _ => {
                let text = self.inline(value, col + self.indent);
                if !text.is_empty() || !tag.is_empty() {
                    self.out.push_str(&tag);
                    if !text.is_empty() {
                        self.out.push(' ');
                        self.out.push_str(&text);
                    }
                }
                self.comment(value.comment.as_deref().or(entry.key_comment.as_deref()));
                self.out.push('\n');
            }
        }
    }

    fn sequence(&mut self, items: &[Item], col: usize) {
        for item in items {
            self.lines(&item.head, col);
            let value = &item.value;
            match &value.value {
                Value::Mapping(entries) if value.style != Style::Flow && !entries.is_empty() => {
                    let first = &entries[0];
                    self.lines(&first.head, col);
                    self.pad(col);
                    self.out.push_str("- ");
                    if let Some(tag) = &value.tag {
                        self.out.push_str(tag);
                        self.out.push('\n');
                        self.mapping(entries, col + 2);
                        continue;
                    }
                    self.entry_body(first, col + 2);
                    self.mapping(&entries[1..], col + 2);
                }
                Value::Sequence(items) if value.style != Style::Flow && !items.is_empty() => {
                    self.pad(col);
                    self.out.push('-');
                    self.comment(value.comment.as_deref());
                    self.out.push('\n');
                    self.sequence(items, col + 2);
                }
                Value::Scalar(text) if is_block_scalar(value, text) => {
                    self.pad(col);
                    self.out.push_str("- ");
                    if let Some(tag) = &value.tag {
                        self.out.push_str(tag);
                        self.out.push(' ');
                    }
                    self.block_scalar(value, text, None, col + 2);
                }
                _ => {
                    self.pad(col);
                    self.out.push('-');
                    let text = self.inline(value, col + 2);
                    if let Some(tag) = &value.tag {
                        self.out.push(' ');
                        self.out.push_str(tag);
                    }
                    if !text.is_empty() {
                        self.out.push(' ');
                        self.out.push_str(&text);
                    }
                    self.comment(value.comment.as_deref());
                    self.out.push('\n');
                }
            }
        }
    }

    /// A literal (or single-line folded) block scalar: header, then the content at `col`.
    fn block_scalar(&mut self, node: &Node, text: &str, header_comment: Option<&str>, col: usize) {
        let body = text.trim_end_matches('\n');
        let trailing = text.len() - body.len();
        let folded = node.style == Style::Folded && !body.contains('\n');
        self.out.push(if folded { '>' } else { '|' });
        match trailing {
            0 => self.out.push('-'),
            1 => {}
            _ => self.out.push('+'),
        }
        self.comment(header_comment.or(node.comment.as_deref()));
        self.out.push('\n');
        for line in body.split('\n') {
            if !line.is_empty() {
                self.pad(col);
                self.out.push_str(line);
            }
            self.out.push('\n');
        }
        for _ in 1..trailing {
            self.out.push('\n');
        }
    }

    /// A node on one line: a scalar or a flow collection (empty block collections too).
    fn inline(&mut self, node: &Node, col: usize) -> String {
        match &node.value {
            Value::Scalar(text) => format_scalar(text, node.style, node.tag.is_some(), false),
            Value::Mapping(entries) => {
                let parts: Vec<String> = entries
                    .iter()
                    .map(|e| {
                        let value = self.flow_value(&e.value, col);
                        let key = format_flow_key(&e.key, e.key_style);
                        if value.is_empty() { key } else { format!("{key}: {value}") }
                    })
                    .collect();
                if parts.is_empty() {
                    "{}".to_string()
                } else {
                    format!("{{{}}}", parts.join(", "))
                }
            }
            Value::Sequence(items) => {
                let parts: Vec<String> =
                    items.iter().map(|i| self.flow_value(&i.value, col)).collect();
                format!("[{}]", parts.join(", "))
            }
        }
    }

    fn flow_value(&mut self, node: &Node, col: usize) -> String {
        let text = match &node.value {
            Value::Scalar(text) => format_scalar(text, node.style, node.tag.is_some(), true),
            _ => self.inline(node, col),
        };
        match &node.tag {
            Some(tag) => format!("{tag} {text}"),
            None => text,
        }
    }
}

fn is_block_scalar(node: &Node, text: &str) -> bool {
    match node.style {
        Style::Literal | Style::Folded => {
            !text.is_empty()
                && !text.starts_with([' ', '\t', '\n'])
                && !text.trim_end_matches('\n').is_empty()
                && !text.contains('\r')
                && text.chars().all(|c| c == '\n' || c == '\t' || !c.is_control())
        }
        _ => false,
    }
}

fn format_key(key: &str, style: Style) -> String {
    match style {
        Style::Plain if plain_ok(key, false) && plain_is_string(key) => key.to_string(),
        Style::SingleQuoted if !key.contains('\n') => single_quoted(key),
        _ if plain_ok(key, false) && plain_is_string(key) && style == Style::Plain => {
            key.to_string()
        }
        _ => double_quoted(key),
    }
}

fn format_flow_key(key: &str, style: Style) -> String {
    if style == Style::Plain && plain_ok(key, true) && plain_is_string(key) {
        key.to_string()
    } else if style == Style::SingleQuoted && !key.contains('\n') {
        single_quoted(key)
    } else {
        double_quoted(key)
    }
}

/// A scalar on one line in its style, or double-quoted where the style cannot hold it.
pub(super) fn format_scalar(text: &str, style: Style, tagged: bool, flow: bool) -> String {
    match style {
        Style::Plain => {
            if text.is_empty() && !tagged {
                String::new()
            } else if plain_ok(text, flow) {
                text.to_string()
            } else {
                double_quoted(text)
            }
        }
        Style::SingleQuoted if !text.contains('\n') => single_quoted(text),
        _ => double_quoted(text),
    }
}

fn single_quoted(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

fn double_quoted(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Whether `text` can be written as a plain scalar and read back as the same text.
fn plain_ok(text: &str, flow: bool) -> bool {
    if text.is_empty() || text.contains('\n') || text.trim() != text {
        return false;
    }
    let first = text.chars().next().unwrap_or(' ');
    if "-?:,[]{}#&*!|>'\"%@`".contains(first) {
        let second = text.chars().nth(1);
        // `-x`, `:x` and `?x` are plain when followed by a non-space.
        if !("-?:".contains(first)
            && second.is_some_and(|c| !(c.is_whitespace() || flow && ",[]{}".contains(c))))
        {
            return false;
        }
    }
    if text.contains(": ") || text.contains(" #") || text.ends_with(':') {
        return false;
    }
    if flow && text.contains([',', '[', ']', '{', '}']) {
        return false;
    }
    !text.chars().any(|c| c.is_control())
}

/// Whether a plain scalar with this text reads as a string under the YAML 1.2 core schema
/// (and YAML 1.1 booleans, which Kubernetes tools still treat as booleans).
pub(super) fn plain_is_string(text: &str) -> bool {
    matches!(resolve_plain(text), serde_json::Value::String(_))
        && !veranda_yaml::yaml11::is_old_boolean(text)
        && plain_ok(text, false)
}

/// Resolves a plain scalar with the YAML 1.2 core schema.
pub(super) fn resolve_plain(text: &str) -> serde_json::Value {
    use serde_json::Value as J;
    match text {
        "" | "~" | "null" | "Null" | "NULL" => return J::Null,
        "true" | "True" | "TRUE" => return J::Bool(true),
        "false" | "False" | "FALSE" => return J::Bool(false),
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" | "-.inf" | "-.Inf" | "-.INF"
        | ".nan" | ".NaN" | ".NAN" => return J::String(format!("!!float {text}")),
        _ => {}
    }
    let digits = |s: &str, radix: u32| !s.is_empty() && s.chars().all(|c| c.is_digit(radix));
    let unsigned = text.strip_prefix(['-', '+']).unwrap_or(text);
    if digits(unsigned, 10) {
        if let Ok(i) = text.parse::<i64>() {
            return J::from(i);
        }
        if let Ok(f) = text.parse::<f64>() {
            return serde_json::Number::from_f64(f).map_or(J::Null, J::Number);
        }
    }
    if let Some(hex) = text.strip_prefix("0x")
        && digits(hex, 16)
    {
        return i64::from_str_radix(hex, 16).map_or_else(|_| J::String(text.into()), J::from);
    }
    if let Some(oct) = text.strip_prefix("0o")
        && digits(oct, 8)
    {
        return i64::from_str_radix(oct, 8).map_or_else(|_| J::String(text.into()), J::from);
    }
    let float_like = unsigned.chars().next().is_some_and(|c| c.is_ascii_digit() || c == '.')
        && unsigned.chars().all(|c| c.is_ascii_digit() || ".eE+-".contains(c))
        && unsigned.chars().any(|c| c.is_ascii_digit());
    if float_like && let Ok(f) = text.parse::<f64>() {
        return serde_json::Number::from_f64(f).map_or(J::Null, J::Number);
    }
    J::String(text.to_string())
}
