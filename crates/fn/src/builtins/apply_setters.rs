//! `apply-setters` (catalog v0.2.1): rewrites fields marked with `# kpt-set: <pattern>` line
//! comments from the setter values in the functionConfig's `data`.

use super::{FnResult, result};
use crate::kio;
use crate::yaml::{Kind, Node, Style};

const SETTER_COMMENT: &str = "# kpt-set: ";

struct Applied {
    file: String,
    field: String,
    value: String,
}

pub(crate) fn run(mut items: Vec<Node>, config: Option<&Node>) -> FnResult {
    let setters: Vec<(String, String)> =
        config.and_then(|c| super::get_string_map(c.inner(), &["data"])).unwrap_or_default();
    let mut applied = Vec::new();
    for item in items.iter_mut() {
        let (file, _) = kio::file_annotations(item);
        if let Err(message) = accept(item.inner_mut(), "", &setters, &file, &mut applied) {
            return FnResult {
                items,
                results: vec![result(&format!("failed to apply setters: {message}"), "error")],
                error: true,
                stderr: message,
            };
        }
    }
    let mut results = Vec::new();
    if applied.is_empty() {
        let mut entry = Node::mapping();
        entry.set_field("message", Node::string("no matches for input setter(s)"));
        results.push(entry);
    }
    for a in &applied {
        let mut entry = Node::mapping();
        entry.set_field(
            "message",
            Node::string(&format!("set field value to {}", go_quote(&a.value))),
        );
        let mut field = Node::mapping();
        field.set_field("path", Node::string(&a.field));
        entry.set_field("field", field);
        let mut file = Node::mapping();
        file.set_field("path", Node::string(&a.file));
        entry.set_field("file", file);
        results.push(entry);
    }
    FnResult { items, results, error: false, stderr: String::new() }
}

/// Go's `%q` for the strings setters produce.
pub(crate) fn go_quote(value: &str) -> String {
    serde_json::to_string(value).unwrap_or_default()
}

fn accept(
    node: &mut Node,
    path: &str,
    setters: &[(String, String)],
    file: &str,
    applied: &mut Vec<Applied>,
) -> Result<(), String> {
    match node.kind {
        Kind::Document => {
            if let Some(first) = node.content.first_mut() {
                return accept(first, "", setters, file, applied);
            }
            Ok(())
        }
        Kind::Mapping => {
            visit_mapping(node, path, setters, file, applied)?;
            let mut i = 0;
            while i + 1 < node.content.len() {
                let key = node.content[i].value.clone();
                accept(&mut node.content[i + 1], &format!("{path}.{key}"), setters, file, applied)?;
                i += 2;
            }
            Ok(())
        }
        Kind::Sequence => {
            for (i, item) in node.content.iter_mut().enumerate() {
                accept(item, &format!("{path}[{i}]"), setters, file, applied)?;
            }
            Ok(())
        }
        Kind::Scalar => visit_scalar(node, path, setters, file, applied),
        Kind::Alias => Ok(()),
    }
}

fn visit_mapping(
    node: &mut Node,
    path: &str,
    setters: &[(String, String)],
    file: &str,
    applied: &mut Vec<Applied>,
) -> Result<(), String> {
    let mut i = 0;
    while i + 1 < node.content.len() {
        let (key_part, value_part) = node.content.split_at_mut(i + 1);
        let key = &mut key_part[i];
        let value = &mut value_part[0];
        i += 2;
        if value.kind != Kind::Sequence {
            continue;
        }
        let line_comment = if value.style.has(Style::FLOW) {
            value.line_comment.clone()
        } else {
            key.line_comment.clone()
        };
        let pattern = extract_pattern(&line_comment);
        if pattern.is_empty() || !should_set(&pattern, setters) {
            continue;
        }
        let names = unresolved(&pattern);
        if !(names.len() == 1 && pattern.starts_with("${") && pattern.ends_with('}')) {
            return Err(format!("invalid setter pattern for array node: {}", go_quote(&pattern)));
        }
        let name = clean(&pattern);
        let setter_value =
            setters.iter().find(|(n, _)| *n == name).map(|(_, v)| v.clone()).unwrap_or_default();
        let field = format!("{path}.{}", key.value).trim_start_matches('.').to_string();
        if setter_value.is_empty() {
            value.content.clear();
            value.style = Style::FLOW;
            value.line_comment = line_comment;
            key.line_comment.clear();
        } else {
            let parsed = crate::yaml::parse_document(&setter_value)
                .ok()
                .flatten()
                .map(|d| d.inner().clone())
                .filter(|n| n.kind == Kind::Sequence)
                .ok_or_else(|| {
                    format!(
                        "input to array setter must be an array of values, but found {}",
                        go_quote(&setter_value)
                    )
                })?;
            value.content = parsed.content;
            key.line_comment = line_comment;
            value.style = Style::FOLDED;
        }
        applied.push(Applied { file: file.to_string(), field, value: setter_value });
    }
    Ok(())
}

fn visit_scalar(
    node: &mut Node,
    path: &str,
    setters: &[(String, String)],
    file: &str,
    applied: &mut Vec<Applied>,
) -> Result<(), String> {
    let pattern = extract_pattern(&node.line_comment);
    if pattern.is_empty() || !should_set(&pattern, setters) {
        return Ok(());
    }
    let mut value = pattern.clone();
    for (name, setter_value) in setters {
        value = value.replace(&format!("${{{name}}}"), setter_value);
    }
    for (name, current) in current_values(&pattern, &node.value) {
        value = value.replace(&format!("${{{name}}}"), &current);
    }
    let remaining = unresolved(&value);
    if !remaining.is_empty() {
        return Err(format!("values for setters [{}] must be provided", remaining.join(" ")));
    }
    node.value = value.clone();
    if value.is_empty() {
        node.style = Style::DOUBLE_QUOTED;
    }
    node.tag = String::new();
    applied.push(Applied {
        file: file.to_string(),
        field: path.trim_start_matches('.').to_string(),
        value,
    });
    Ok(())
}

fn extract_pattern(line_comment: &str) -> String {
    match line_comment.strip_prefix(SETTER_COMMENT) {
        Some(rest) => rest.trim().to_string(),
        None => String::new(),
    }
}

fn should_set(pattern: &str, setters: &[(String, String)]) -> bool {
    setters.iter().any(|(name, _)| pattern.contains(&format!("${{{name}}}")))
}

/// `${name}` occurrences in a pattern.
fn unresolved(pattern: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = pattern;
    while let Some(start) = rest.find("${") {
        let after = &rest[start + 2..];
        match after.find('}') {
            Some(end) => {
                out.push(format!("${{{}}}", &after[..end]));
                rest = &after[end + 1..];
            }
            None => break,
        }
    }
    out
}

fn clean(input: &str) -> String {
    let input = input.trim();
    input
        .strip_prefix("${")
        .unwrap_or(input)
        .strip_suffix('}')
        .unwrap_or(input.strip_prefix("${").unwrap_or(input))
        .to_string()
}

/// The values the setters in `pattern` currently have in `value` (each `${x}` matches `.*`).
fn current_values(pattern: &str, value: &str) -> Vec<(String, String)> {
    let names = unresolved(pattern);
    if names.is_empty() {
        return Vec::new();
    }
    // Literal parts between the setters.
    let mut literals = Vec::new();
    let mut rest = pattern;
    for name in &names {
        let idx = rest.find(name.as_str()).unwrap_or(0);
        literals.push(&rest[..idx]);
        rest = &rest[idx + name.len()..];
    }
    literals.push(rest);
    let mut captures = Vec::new();
    if !match_greedy(value, &literals, &mut captures) {
        return Vec::new();
    }
    if captures.iter().any(|c| c.is_empty()) {
        return Vec::new();
    }
    names.iter().map(|n| clean(n)).zip(captures).collect()
}

/// Regex `^?lit0(.*)lit1(.*)…litN` search semantics of Go's FindStringSubmatch (leftmost,
/// greedy captures).
fn match_greedy(value: &str, literals: &[&str], captures: &mut Vec<String>) -> bool {
    for start in 0..=value.len() {
        if !value.is_char_boundary(start) {
            continue;
        }
        if let Some(caps) = match_from(&value[start..], literals) {
            *captures = caps;
            return true;
        }
    }
    false
}

fn match_from(value: &str, literals: &[&str]) -> Option<Vec<String>> {
    let first = literals.first()?;
    let rest = value.strip_prefix(first)?;
    if literals.len() == 1 {
        return Some(Vec::new());
    }
    // Greedy: try the longest capture first.
    for end in (0..=rest.len()).rev() {
        if !rest.is_char_boundary(end) {
            continue;
        }
        let capture = &rest[..end];
        if capture.contains('\n') {
            continue;
        }
        if let Some(mut more) = match_from(&rest[end..], &literals[1..]) {
            more.insert(0, capture.to_string());
            return Some(more);
        }
    }
    None
}
