//! Limits on untrusted YAML before it reaches `serde_yaml`.
//!
//! `serde_yaml` (the `yaml_serde` crate) stops at a nesting depth of 128 and at 100 alias jumps
//! per event, but the nodes an alias jump produces are not counted: a small document whose
//! anchors are repeated by aliases (the "billion laughs") expands into gigabytes. [`check`]
//! walks the event stream of `saphyr-parser` once, iteratively, without building a tree, and
//! rejects what would expand too far or nest too deep.

use std::collections::HashMap;

use saphyr_parser::{Event, Parser};

/// Deepest nesting of collections (mappings and sequences) accepted, as kube-apiserver does.
pub const MAX_DEPTH: usize = 100;

/// Alias expansion budget: a document may produce at most
/// `max(ALIAS_EXPANSION_FLOOR, ALIAS_EXPANSION_RATIO × its own nodes)` nodes once its aliases
/// are expanded.
pub const ALIAS_EXPANSION_FLOOR: usize = 10_000;

/// See [`ALIAS_EXPANSION_FLOOR`].
pub const ALIAS_EXPANSION_RATIO: usize = 10;

/// The largest patched object accepted, serialized as JSON (the server's request body limit).
pub const MAX_OBJECT_BYTES: usize = 6 * 1024 * 1024;

/// The error message when nesting is deeper than [`MAX_DEPTH`].
pub fn depth_message() -> String {
    format!("yaml nesting depth exceeds the limit of {MAX_DEPTH}")
}

/// The error message when aliases expand into more than `limit` nodes.
pub fn alias_message(limit: usize) -> String {
    format!("yaml alias expansion exceeds the limit of {limit} nodes")
}

struct Frame {
    anchor: usize,
    /// `expanded` when the collection started (its own node included).
    start: usize,
    /// Height of the deepest child collection.
    max_child: usize,
}

/// Checks the nesting depth and alias expansion of every document of `text`; a syntax error is
/// returned as such.
pub fn check(text: &str) -> Result<(), String> {
    let mut parser = Parser::new_from_str(text);
    let mut stack: Vec<Frame> = Vec::new();
    // Per anchor: (nodes once expanded, collection height).
    let mut anchors: HashMap<usize, (usize, usize)> = HashMap::new();
    let mut nodes = 0usize;
    let mut expanded = 0usize;
    loop {
        let (event, _span) = match parser.next_event() {
            None => return Ok(()),
            Some(Ok(pair)) => pair,
            Some(Err(err)) if err.info().contains("recursion limit") => {
                return Err(depth_message());
            }
            Some(Err(err)) => {
                return Err(format!("yaml: line {}: {}", err.marker().line(), err.info()));
            }
        };
        match event {
            Event::StreamEnd => return Ok(()),
            Event::DocumentStart(_) => {
                stack.clear();
                anchors.clear();
                nodes = 0;
                expanded = 0;
            }
            Event::Scalar(_, _, anchor, _) => {
                nodes += 1;
                expanded += 1;
                if anchor > 0 {
                    anchors.insert(anchor, (1, 0));
                }
            }
            Event::SequenceStart(anchor, _) | Event::MappingStart(anchor, _) => {
                nodes += 1;
                expanded += 1;
                stack.push(Frame { anchor, start: expanded - 1, max_child: 0 });
                if stack.len() > MAX_DEPTH {
                    return Err(depth_message());
                }
            }
            Event::SequenceEnd | Event::MappingEnd => {
                let Some(frame) = stack.pop() else { continue };
                let height = frame.max_child + 1;
                if let Some(parent) = stack.last_mut() {
                    parent.max_child = parent.max_child.max(height);
                }
                if frame.anchor > 0 {
                    anchors.insert(frame.anchor, (expanded - frame.start, height));
                }
            }
            Event::Alias(id) => {
                nodes += 1;
                let (size, height) = anchors.get(&id).copied().unwrap_or((1, 0));
                if stack.len() + height > MAX_DEPTH {
                    return Err(depth_message());
                }
                if let Some(parent) = stack.last_mut() {
                    parent.max_child = parent.max_child.max(height);
                }
                expanded = expanded.saturating_add(size);
                let limit = ALIAS_EXPANSION_FLOOR.max(ALIAS_EXPANSION_RATIO.saturating_mul(nodes));
                if expanded > limit {
                    return Err(alias_message(limit));
                }
            }
            Event::Nothing | Event::StreamStart | Event::DocumentEnd => {}
        }
    }
}

/// Decodes untrusted YAML into a JSON value after [`check`].
pub fn from_slice(body: &[u8]) -> Result<serde_json::Value, String> {
    let text = std::str::from_utf8(body).map_err(|e| format!("yaml: invalid UTF-8: {e}"))?;
    check(text)?;
    serde_yaml::from_str(text).map_err(|e| e.to_string())
}

#[cfg(test)]
pub(crate) mod tests;
