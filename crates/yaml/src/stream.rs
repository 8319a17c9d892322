//! A file of YAML documents that is written back byte for byte where nobody changed it: the
//! text is split into documents at `---` lines, each is parsed on its own by the composer
//! (which enforces the limits; aliases stay alias nodes, so whoever expands them checks the
//! depth they expand into, see [`Document::expand_aliases`]), and a document
//! keeps its source text until it is [`Document::touch`]ed; a touched document is written by
//! the emitter as kyaml writes it (indent 2, the sequence indentation of its source).

use crate::{Error, Node, SeqIndent};

/// One document of a file.
#[derive(Clone, Debug, PartialEq)]
pub struct Document {
    /// The `---` line that opened the document, verbatim, if there was one.
    pub separator: Option<String>,
    /// The document node (kind `Document`); `None` for a document with only comments.
    pub node: Option<Node>,
    /// The document's source text (without the separator line) while it is unchanged.
    pub raw: Option<String>,
    /// Sequence indentation of the source (kyaml's `DeriveSeqIndentStyle`), used when the
    /// document is re-emitted.
    pub seq_indent: SeqIndent,
}

impl Document {
    /// A new document holding `root`, written with kyaml's defaults (compact sequences).
    pub fn from_root(root: Node) -> Document {
        Document {
            separator: None,
            node: Some(Node::document(root)),
            raw: None,
            seq_indent: SeqIndent::Compact,
        }
    }

    /// Expands the aliases of the document's tree ([`Node::expand_aliases`]); the source text
    /// stays, so an untouched document is still written back as it was.
    pub fn expand_aliases(&mut self) -> Result<(), Error> {
        match &mut self.node {
            Some(node) => node.expand_aliases(),
            None => Ok(()),
        }
    }

    /// Marks the document as changed, so that it is re-emitted.
    pub fn touch(&mut self) {
        self.raw = None;
    }

    /// The document's content node (a document node's only child).
    pub fn root(&self) -> Option<&Node> {
        self.node.as_ref().and_then(|n| n.content.first())
    }

    /// The document's content node, mutably.
    pub fn root_mut(&mut self) -> Option<&mut Node> {
        self.node.as_mut().and_then(|n| n.content.first_mut())
    }

    /// The document's text without its separator line.
    pub fn to_text(&self) -> String {
        if let Some(raw) = &self.raw {
            return raw.clone();
        }
        match &self.node {
            // The emitter only fails on trees the parser cannot produce (a document in a node).
            Some(node) => crate::emit(&[node], self.seq_indent).unwrap_or_default(),
            None => String::new(),
        }
    }
}

/// A `---`-separated piece of a file.
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

fn with_offset(error: Error, offset: usize) -> Error {
    match error {
        Error::Limit { line, message } => Error::Limit { line: line + offset, message },
        Error::Syntax { line, message } => Error::Syntax { line: line + offset, message },
        Error::Other(message) => Error::Other(message),
    }
}

/// Parses a file into its documents. A piece between two `---` lines holding more than one
/// document (`...` followed by content) is an error.
pub fn parse_stream(text: &str) -> Result<Vec<Document>, Error> {
    let mut docs = Vec::new();
    let mut line_offset = 0;
    for chunk in split_documents(text) {
        let owned;
        let source: &str = match &chunk.inline {
            Some(inline) => {
                owned = format!("{inline}\n{}", chunk.text);
                &owned
            }
            None => &chunk.text,
        };
        let mut nodes = crate::parse_documents(source).map_err(|e| with_offset(e, line_offset))?;
        if nodes.len() > 1 {
            return Err(Error::Syntax {
                line: line_offset + nodes[1].line,
                message: "more than one document without a `---` separator".into(),
            });
        }
        docs.push(Document {
            separator: chunk.separator.clone(),
            node: nodes.pop(),
            raw: Some(chunk.text.clone()),
            seq_indent: crate::derive_seq_indent(source),
        });
        line_offset += chunk.lines + usize::from(chunk.separator.is_some());
    }
    Ok(docs)
}

/// Writes documents back into one file, separated as they were (new documents get `---`).
pub fn write_stream(docs: &[Document]) -> String {
    join_documents(docs.iter().map(|doc| (doc.separator.as_deref(), doc.to_text())))
}

/// Joins document texts into one file: each after its own separator line, or `---` when it
/// has none and is not the first.
pub fn join_documents<'a>(docs: impl IntoIterator<Item = (Option<&'a str>, String)>) -> String {
    let mut out = String::new();
    for (idx, (separator, text)) in docs.into_iter().enumerate() {
        match separator {
            Some(sep) => {
                out.push_str(sep);
                out.push('\n');
            }
            None if idx > 0 => out.push_str("---\n"),
            None => {}
        }
        if !out.is_empty() && !out.ends_with('\n') {
            out.push('\n');
        }
        out.push_str(&text);
    }
    out
}
