//! veranda's one YAML stack: a document model that round-trips like kpt's: go-yaml v3 `Node`s
//! with head, line and foot comments and scalar styles, parsed and emitted by ports of
//! go-yaml's own scanner, parser and emitter (the copy inside kyaml, including its compact
//! sequence indentation).
//!
//! Everything kpt does to a package file (read, hand to a function, copy comments back, merge,
//! write) happens on these nodes; see `veranda_fn::kio` for the kyaml-level operations. The
//! parser limits (nesting depth, alias expansion, control characters) are enforced here, once.

mod compose;
mod edit;
mod emitter;
mod limits;
mod node;
mod resolve;
mod scanner;
pub mod stream;
pub mod yaml11;

#[cfg(test)]
mod tests;

pub use emitter::SeqIndent;
pub use limits::check_limits;
pub use node::{Kind, Node, Style};

pub use node::parse_go_int;
pub use resolve::resolve;
pub use yaml11::is_yaml11_non_string;

/// Deepest nesting of collections (mappings and sequences) the composer builds; deeper input is
/// an error. Every recursive function over [`Node`]s (JSON conversion, the emitter, the
/// built-in functions' walkers) relies on this bound for parsed trees.
pub const MAX_DEPTH: usize = 100;

/// Alias expansion budget. Aliases are kept as alias nodes here, never expanded (`to_json`
/// gives null), but every later reader of the file (kpt, kubectl, the apiserver) expands them,
/// so a document whose aliases would expand into more than
/// `max(ALIAS_EXPANSION_FLOOR, ALIAS_EXPANSION_RATIO × nodes written so far)` nodes is an error.
pub const ALIAS_EXPANSION_FLOOR: usize = 10_000;

/// See [`ALIAS_EXPANSION_FLOOR`].
pub const ALIAS_EXPANSION_RATIO: usize = 10;

pub(crate) fn alias_message(limit: usize) -> String {
    format!("alias expansion exceeds the limit of {limit} nodes")
}

pub(crate) fn depth_message() -> String {
    format!("nesting depth exceeds the limit of {MAX_DEPTH}")
}

/// A YAML syntax or structure error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    #[error("yaml: line {line}: {message}")]
    Syntax { line: usize, message: String },
    /// Nesting beyond [`MAX_DEPTH`] or aliases beyond the expansion budget.
    #[error("yaml: line {line}: {message}")]
    Limit { line: usize, message: String },
    #[error("yaml: {0}")]
    Other(String),
}

/// Parses every document of a YAML stream into `DocumentNode`s.
pub fn parse_documents(input: &str) -> Result<Vec<Node>, Error> {
    check_characters(input)?;
    compose::Composer::new(input.as_bytes()).documents()
}

/// go-yaml's reader refuses control characters (and NUL, which the scanner takes for the end
/// of the input) before scanning: `#x9 | #xA | #xD | [#x20-#x7E] | #x85 | [#xA0-#xD7FF] |
/// [#xE000-#xFFFD] | [#x10000-#x10FFFF]` only.
pub(crate) fn check_characters(input: &str) -> Result<(), Error> {
    let allowed = |c: char| {
        matches!(c, '\t' | '\n' | '\r' | ' '..='~' | '\u{85}' | '\u{A0}'..='\u{D7FF}')
            || matches!(c, '\u{E000}'..='\u{FFFD}' | '\u{10000}'..='\u{10FFFF}')
    };
    if input.chars().all(allowed) {
        Ok(())
    } else {
        Err(Error::Other("control characters are not allowed".into()))
    }
}

/// Parses a single-document YAML text; an empty document gives `None`.
pub fn parse_document(input: &str) -> Result<Option<Node>, Error> {
    let mut docs = parse_documents(input)?;
    if docs.is_empty() {
        return Ok(None);
    }
    Ok(Some(docs.swap_remove(0)))
}

/// Encodes documents like kyaml's encoder (indent 2, the given sequence indentation); a
/// non-document node is wrapped in an implicit document. Documents after the first are
/// preceded by `---`.
pub fn emit(documents: &[&Node], seq_indent: SeqIndent) -> Result<String, Error> {
    let styles = vec![seq_indent; documents.len()];
    emitter::encode(documents, &styles)
}

/// Like [`emit`] with one sequence indentation per document (kyaml switches it per resource).
pub fn emit_with_styles(documents: &[&Node], seq_indents: &[SeqIndent]) -> Result<String, Error> {
    emitter::encode(documents, seq_indents)
}

/// kyaml's `DeriveSeqIndentStyle`: "wide" when the first block sequence item under a `key:`
/// line is indented by two more spaces than the key, "compact" when at the same column.
pub fn derive_seq_indent(original: &str) -> SeqIndent {
    let lines: Vec<&str> = original.split('\n').collect();
    for (i, line) in lines.iter().enumerate() {
        let Some((before, _)) = line.split_once("- ") else {
            continue;
        };
        if !before.trim_matches(' ').is_empty() {
            continue;
        }
        let spaces_before_item = before.len();
        let Some(key_line) = key_line_before(&lines, i) else {
            continue;
        };
        if key_line.is_empty() {
            continue;
        }
        let spaces_before_key = key_line.len() - key_line.trim_start_matches(' ').len();
        let trimmed = key_line.trim_matches(' ');
        if trimmed.matches(':').count() != 1 || !trimmed.ends_with(':') {
            continue;
        }
        if spaces_before_item == spaces_before_key {
            return SeqIndent::Compact;
        }
        if spaces_before_item >= 2 && spaces_before_item - 2 == spaces_before_key {
            return SeqIndent::Wide;
        }
    }
    SeqIndent::Compact
}

fn key_line_before<'a>(lines: &[&'a str], index: usize) -> Option<&'a str> {
    for line in lines[..index].iter().rev() {
        if line.trim_matches(' ').starts_with('#') {
            continue;
        }
        return Some(line.split('#').next().unwrap_or(""));
    }
    None
}
