//! The one event pre-check for YAML that another parser reads afterwards (`serde_yaml`, which
//! limits neither the nodes aliases expand into nor, below 128, the depth): it walks the
//! go-yaml port's event stream once, iteratively, without building a tree, and rejects what
//! would nest too deep or expand too far. Its limits are those of the composer (see
//! [`crate::MAX_DEPTH`], [`crate::ALIAS_EXPANSION_FLOOR`]); unlike the composer, which keeps
//! aliases as alias nodes, it also counts the depth an alias expands into.

use std::collections::HashMap;

use crate::scanner::{EventType, Parser};
use crate::{ALIAS_EXPANSION_FLOOR, ALIAS_EXPANSION_RATIO, Error, MAX_DEPTH};

struct Frame {
    anchor: Option<Vec<u8>>,
    /// `expanded` when the collection started (its own node included).
    start: usize,
    /// Height of the deepest child collection.
    max_child: usize,
}

/// Checks the characters, nesting depth and alias expansion of every document of `text`; a
/// syntax error is returned as such.
pub fn check_limits(text: &str) -> Result<(), Error> {
    crate::check_characters(text)?;
    let mut parser = Parser::new(text.as_bytes());
    let mut stack: Vec<Frame> = Vec::new();
    // Per anchor: (nodes once expanded, collection height).
    let mut anchors: HashMap<Vec<u8>, (usize, usize)> = HashMap::new();
    let (mut nodes, mut expanded) = (0usize, 0usize);
    loop {
        let Some(event) = parser.parse()? else { return Ok(()) };
        let line = event.start_mark.line + 1;
        let anchor = (!event.anchor.is_empty()).then(|| event.anchor.clone());
        match event.typ {
            EventType::StreamEnd | EventType::None => return Ok(()),
            EventType::DocumentStart => {
                stack.clear();
                anchors.clear();
                (nodes, expanded) = (0, 0);
            }
            EventType::Scalar => {
                nodes += 1;
                expanded += 1;
                if let Some(anchor) = anchor {
                    anchors.insert(anchor, (1, 0));
                }
            }
            EventType::SequenceStart | EventType::MappingStart => {
                nodes += 1;
                expanded += 1;
                stack.push(Frame { anchor, start: expanded - 1, max_child: 0 });
                if stack.len() > MAX_DEPTH {
                    return Err(Error::Limit { line, message: crate::depth_message() });
                }
            }
            EventType::SequenceEnd | EventType::MappingEnd => {
                let Some(frame) = stack.pop() else { continue };
                let height = frame.max_child + 1;
                if let Some(parent) = stack.last_mut() {
                    parent.max_child = parent.max_child.max(height);
                }
                if let Some(anchor) = frame.anchor {
                    anchors.insert(anchor, (expanded - frame.start, height));
                }
            }
            EventType::Alias => {
                nodes += 1;
                let (size, height) = anchors.get(&event.anchor).copied().unwrap_or((1, 0));
                if stack.len() + height > MAX_DEPTH {
                    return Err(Error::Limit { line, message: crate::depth_message() });
                }
                if let Some(parent) = stack.last_mut() {
                    parent.max_child = parent.max_child.max(height);
                }
                expanded = expanded.saturating_add(size);
                let limit = ALIAS_EXPANSION_FLOOR.max(ALIAS_EXPANSION_RATIO.saturating_mul(nodes));
                if expanded > limit {
                    return Err(Error::Limit { line, message: crate::alias_message(limit) });
                }
            }
            EventType::DocumentEnd | EventType::StreamStart | EventType::TailComment => {}
        }
    }
}
