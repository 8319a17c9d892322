//! The `kpt:<json>` line Porch writes into every commit message (porch.md §2.5).
//!
//! The JSON is written byte for byte as Go's `encoding/json` writes Porch's `gitAnnotation` and
//! `Task` structs: struct fields in declaration order with `omitempty`, and Go's string escaping
//! (`<`, `>`, `&`, U+2028 and U+2029 escaped). `serde_json` would sort object keys and escape
//! differently, so the writer is hand-rolled.

#[cfg(test)]
mod tests;

use serde_json::Value;

/// The structured data stored in a commit message.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Annotation {
    /// Full package path, including the registered directory.
    pub package: String,
    /// Workspace name of the package revision; empty in legacy commits.
    pub workspace_name: String,
    /// Revision as a string: `"0"` for drafts, `"N"` on approval; legacy commits use `"v1"`.
    pub revision: String,
    /// The task that caused the commit, as a JSON object.
    pub task: Option<Value>,
}

impl Annotation {
    /// The JSON form, exactly as Porch writes it.
    pub fn to_json(&self) -> String {
        let mut out = String::from("{");
        let mut first = true;
        for (key, value) in [
            ("package", &self.package),
            ("workspaceName", &self.workspace_name),
            ("revision", &self.revision),
        ] {
            if value.is_empty() {
                continue;
            }
            push_key(&mut out, &mut first, key);
            push_string(&mut out, value);
        }
        if let Some(task) = &self.task {
            push_key(&mut out, &mut first, "task");
            push_value(&mut out, task, "task");
        }
        out.push('}');
        out
    }

    fn from_json(text: &str) -> Option<Annotation> {
        let value: Value = serde_json::from_str(text).ok()?;
        let object = match value {
            // Go's json.Unmarshal accepts `null` for a struct and leaves it empty.
            Value::Null => return Some(Annotation::default()),
            Value::Object(object) => object,
            _ => return None,
        };
        let string = |key: &str| match object.get(key) {
            None | Some(Value::Null) => Some(String::new()),
            Some(Value::String(s)) => Some(s.clone()),
            Some(_) => None,
        };
        let task = match object.get("task") {
            None | Some(Value::Null) => None,
            Some(task @ Value::Object(_)) => Some(task.clone()),
            Some(_) => return None,
        };
        Some(Annotation {
            package: string("package")?,
            workspace_name: string("workspaceName")?,
            revision: string("revision")?,
            task,
        })
    }

    /// The task's `type`, if the annotation has a task.
    pub(crate) fn task_type(&self) -> Option<&str> {
        self.task.as_ref()?.get("type")?.as_str()
    }
}

/// The message of a draft commit: `<headline>\n\n\nkpt:<json>\n`.
pub fn format_message(headline: &str, annotation: &Annotation) -> String {
    annotate_message(&format!("{headline}\n"), annotation)
}

/// Appends the annotation to `message`: `<message>\n\nkpt:<json>\n` (used as is for approvals).
pub fn annotate_message(message: &str, annotation: &Annotation) -> String {
    format!("{message}\n\nkpt:{}\n", annotation.to_json())
}

/// Reads all annotations of a commit message; lines with invalid JSON are skipped.
pub fn parse_annotations(message: &str) -> Vec<Annotation> {
    let mut res = Vec::new();
    for line in message.split('\n') {
        let Some(json) = line.trim().strip_prefix("kpt:") else { continue };
        match Annotation::from_json(json) {
            Some(annotation) => res.push(annotation),
            None => tracing::debug!(line, "ignoring invalid kpt annotation"),
        }
    }
    res
}

/// Field order of the Go structs an object appears as, keyed by the JSON key it appears under.
/// Keys not listed follow in byte order, as Go writes maps.
fn field_order(context: &str) -> &'static [&'static str] {
    match context {
        "task" => &["type", "init", "clone", "edit", "upgrade"],
        "init" => &["subpackage", "description", "keywords", "site"],
        "clone" => &["upstreamRef", "strategy"],
        // `UpstreamPackage` in a clone task, and `PackageRevisionRef` nested inside it.
        "upstreamRef" => &["type", "git", "oci", "upstreamRef", "name"],
        "git" => &["repo", "ref", "directory", "secretRef"],
        "edit" => &["sourceRef"],
        "upgrade" => &["oldUpstreamRef", "newUpstreamRef", "localPackageRevisionRef", "strategy"],
        _ => &[],
    }
}

fn push_key(out: &mut String, first: &mut bool, key: &str) {
    if !*first {
        out.push(',');
    }
    *first = false;
    push_string(out, key);
    out.push(':');
}

fn push_value(out: &mut String, value: &Value, context: &str) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => out.push_str(&n.to_string()),
        Value::String(s) => push_string(out, s),
        Value::Array(items) => {
            out.push('[');
            for (idx, item) in items.iter().enumerate() {
                if idx > 0 {
                    out.push(',');
                }
                push_value(out, item, context);
            }
            out.push(']');
        }
        Value::Object(object) => {
            let order = field_order(context);
            let mut keys: Vec<&String> = object.keys().collect();
            let rank = |key: &str| order.iter().position(|k| *k == key).unwrap_or(order.len());
            keys.sort_by(|a, b| rank(a).cmp(&rank(b)).then_with(|| a.as_bytes().cmp(b.as_bytes())));
            out.push('{');
            let mut first = true;
            for key in keys {
                push_key(out, &mut first, key);
                push_value(out, &object[key.as_str()], key);
            }
            out.push('}');
        }
    }
}

/// Writes a JSON string the way Go's `encoding/json` does (HTML-safe escaping).
fn push_string(out: &mut String, s: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '<' | '>' | '&' | '\u{0}'..='\u{1f}' => {
                let byte = c as u32;
                out.push_str("\\u00");
                out.push(HEX[(byte >> 4) as usize] as char);
                out.push(HEX[(byte & 0xf) as usize] as char);
            }
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c => out.push(c),
        }
    }
    out.push('"');
}
