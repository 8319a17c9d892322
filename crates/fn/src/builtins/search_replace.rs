//! `search-replace` (catalog master, compatible with v0.2): finds fields by value, value regex,
//! path pattern (`**`, `*`, `[*]`) and file glob, and replaces values or adds line comments.

use regex::Regex;

use super::apply_setters::go_quote;
use super::{FnResult, result};
use crate::kio;
use crate::yaml::{self, Kind, Node, SeqIndent, Style};

const MATCHERS: &[&str] =
    &["by-value", "by-file-path", "by-value-regex", "by-path", "put-value", "put-comment"];

#[derive(Default)]
struct SearchReplace {
    by_value: String,
    by_value_regex: String,
    by_path: String,
    by_file_path: String,
    put_value: String,
    put_comment: String,
    regex: Option<Regex>,
    file_path: String,
    results: Vec<(String, String, String)>,
}

pub(crate) fn run(mut items: Vec<Node>, config: Option<&Node>) -> FnResult {
    let fail = |items: Vec<Node>, message: String| FnResult {
        items,
        results: vec![result(
            &format!("failed to perform search-replace operation: {}", go_quote(&message)),
            "error",
        )],
        error: true,
        stderr: message,
    };
    let data: Vec<(String, String)> =
        config.and_then(|c| super::get_string_map(c.inner(), &["data"])).unwrap_or_default();
    if let Some((key, _)) = data.iter().find(|(k, _)| !MATCHERS.contains(&k.as_str())) {
        let list: Vec<String> = MATCHERS.iter().map(|m| go_quote(m)).collect();
        return fail(
            items,
            format!("invalid matcher {}, must be one of [{}]", go_quote(key), list.join(" ")),
        );
    }
    let get =
        |k: &str| data.iter().find(|(key, _)| key == k).map(|(_, v)| v.clone()).unwrap_or_default();
    let mut sr = SearchReplace {
        by_value: get("by-value"),
        by_value_regex: get("by-value-regex"),
        by_path: get("by-path"),
        by_file_path: get("by-file-path"),
        put_value: get("put-value"),
        put_comment: get("put-comment"),
        ..SearchReplace::default()
    };
    if !sr.by_value.is_empty() && !sr.by_value_regex.is_empty() {
        return fail(
            items,
            "only one of [\"by-value\", \"by-value-regex\"] can be provided".into(),
        );
    }
    if !sr.by_value_regex.is_empty() {
        match Regex::new(&sr.by_value_regex) {
            Ok(re) => sr.regex = Some(re),
            Err(e) => return fail(items, e.to_string()),
        }
    }
    for item in items.iter_mut() {
        if let Err(message) = sr.perform(item) {
            return fail(items, message);
        }
    }
    let mutate = !sr.put_comment.is_empty() || !sr.put_value.is_empty();
    let mut results = Vec::new();
    if sr.results.is_empty() {
        let mut entry = Node::mapping();
        entry.set_field("message", Node::string("no matches"));
        results.push(entry);
    }
    for (file, field, value) in &sr.results {
        let mut entry = Node::mapping();
        let message = if mutate {
            format!("Mutated field value to {}", go_quote(value))
        } else {
            format!("Matched field value {}", go_quote(value))
        };
        entry.set_field("message", Node::string(&message));
        let mut f = Node::mapping();
        f.set_field("path", Node::string(field));
        entry.set_field("field", f);
        let mut p = Node::mapping();
        p.set_field("path", Node::string(file));
        entry.set_field("file", p);
        results.push(entry);
    }
    FnResult { items, results, error: false, stderr: String::new() }
}

impl SearchReplace {
    fn perform(&mut self, object: &mut Node) -> Result<(), String> {
        let (file_path, _) = kio::file_annotations(object);
        if !self.by_file_path.is_empty() && !kio::glob_match(&self.by_file_path, &file_path) {
            return Ok(());
        }
        self.file_path = file_path;
        if self.should_put_value_by_path() {
            return self.put_value_by_path(object);
        }
        self.accept(object.inner_mut(), "")
    }

    fn accept(&mut self, node: &mut Node, path: &str) -> Result<(), String> {
        match node.kind {
            Kind::Mapping => {
                self.visit_mapping(node, path)?;
                let mut i = 0;
                while i + 1 < node.content.len() {
                    let key = node.content[i].value.clone();
                    self.accept(&mut node.content[i + 1], &format!("{path}.{key}"))?;
                    i += 2;
                }
                Ok(())
            }
            Kind::Sequence => {
                for (i, item) in node.content.iter_mut().enumerate() {
                    self.accept(item, &format!("{path}[{i}]"))?;
                }
                Ok(())
            }
            Kind::Scalar => self.match_and_replace(node, path),
            _ => Ok(()),
        }
    }

    fn visit_mapping(&mut self, node: &mut Node, path: &str) -> Result<(), String> {
        if self.put_comment.is_empty() {
            return Ok(());
        }
        let mut i = 0;
        while i + 1 < node.content.len() {
            let (keys, values) = node.content.split_at_mut(i + 1);
            let key = &mut keys[i];
            let value = &mut values[0];
            i += 2;
            if value.kind != Kind::Sequence || value.content.is_empty() {
                continue;
            }
            let path_to_key = format!("{path}.{}", key.value.trim());
            if self.path_match(path_to_key.trim_start_matches('.')) {
                key.line_comment = self.put_comment.clone();
                value.style = Style::FLOW;
                let text = scalar_text(value);
                value.style = Style::FOLDED;
                self.results.push((
                    self.file_path.clone(),
                    format!("{} # {}", self.by_path, self.put_comment),
                    text,
                ));
            }
        }
        Ok(())
    }

    fn match_and_replace(&mut self, node: &mut Node, path: &str) -> Result<(), String> {
        if !self.criteria_match(node, path) {
            return Ok(());
        }
        if !self.put_comment.is_empty() {
            node.line_comment =
                resolve_pattern(&node.value, &self.by_value_regex, &self.put_comment)?;
        }
        if !self.put_value.is_empty() {
            node.value = resolve_pattern(&node.value, &self.by_value_regex, &self.put_value)?;
            node.tag = String::new();
        }
        if !self.file_path.is_empty() {
            let text = scalar_text(node);
            self.results.push((
                self.file_path.clone(),
                path.trim_start_matches('.').to_string(),
                text,
            ));
        }
        Ok(())
    }

    fn criteria_match(&self, node: &Node, path: &str) -> bool {
        let path_match = self.path_match(path);
        let regex_match = self.regex.as_ref().is_some_and(|r| r.is_match(&node.value));
        let value_match = (!self.by_value.is_empty() && self.by_value == node.value) || regex_match;
        (value_match && (path_match || self.by_path.is_empty()))
            || (path_match && self.by_value.is_empty() && self.by_value_regex.is_empty())
    }

    fn path_match(&self, yaml_path: &str) -> bool {
        if self.by_path.is_empty() {
            return false;
        }
        let pattern: Vec<&str> = self.by_path.split('.').collect();
        let elems: Vec<&str> = yaml_path.trim_start_matches('.').split('.').collect();
        back_track_match(&elems, &pattern)
    }

    fn should_put_value_by_path(&self) -> bool {
        let abs = !self.by_path.is_empty()
            && self.by_path.split('.').all(|e| !e.is_empty() && !e.contains('*'));
        abs && !self.by_path.contains('[')
            && self.by_value.is_empty()
            && self.by_value_regex.is_empty()
            && !self.put_value.is_empty()
    }

    fn put_value_by_path(&mut self, object: &mut Node) -> Result<(), String> {
        let path: Vec<&str> = self.by_path.split('.').collect();
        let (last, parents) = path.split_last().ok_or("empty path")?;
        let Some(map) = object.ensure_mapping(parents) else {
            return Err(format!("wrong node kind at {}", self.by_path));
        };
        let value = Node { kind: Kind::Scalar, value: self.put_value.clone(), ..Node::default() };
        map.set_field(last, value);
        self.results.push((self.file_path.clone(), self.by_path.clone(), self.put_value.clone()));
        Ok(())
    }
}

/// `yaml.String(node)` trimmed: the node as kyaml would print it.
fn scalar_text(node: &Node) -> String {
    yaml::emit(&[node], SeqIndent::Compact).unwrap_or_default().trim().to_string()
}

fn back_track_match(elems: &[&str], pattern: &[&str]) -> bool {
    let (n, m) = (elems.len(), pattern.len());
    let mut dp = vec![vec![false; m + 1]; n + 1];
    dp[0][0] = true;
    for j in 1..=m {
        if pattern[j - 1] == "**" {
            dp[0][j] = dp[0][j - 1];
        }
    }
    for i in 1..=n {
        for j in 1..=m {
            if pattern[j - 1] == "**" {
                dp[i][j] = dp[i][j - 1] || dp[i - 1][j];
            } else if pattern[j - 1] == "*" || element_match(elems[i - 1], pattern[j - 1]) {
                dp[i][j] = dp[i - 1][j - 1];
            }
        }
    }
    dp[n][m]
}

fn element_match(elem: &str, pattern: &str) -> bool {
    if elem == pattern {
        return true;
    }
    if elem.contains('[') {
        let elem_parts: Vec<&str> = elem.split('[').collect();
        let pattern_parts: Vec<&str> = pattern.split('[').collect();
        if pattern_parts[0] != "*" && elem_parts[0] != pattern_parts[0] {
            return false;
        }
        return pattern_parts.len() > 1
            && (pattern_parts[1] == "*]" || elem_parts.get(1) == pattern_parts.get(1));
    }
    false
}

fn resolve_pattern(value: &str, value_regex: &str, pattern: &str) -> Result<String, String> {
    if value_regex.is_empty() {
        return Ok(pattern.to_string());
    }
    let re = Regex::new(value_regex)
        .map_err(|e| format!("failed to compile input pattern {}: {e}", go_quote(value_regex)))?;
    let mut out = pattern.to_string();
    if let Some(captures) = re.captures(value) {
        for i in 1..captures.len() {
            let text = captures.get(i).map(|m| m.as_str()).unwrap_or("");
            out = out.replace(&format!("${{{i}}}"), text);
        }
    }
    let unresolved = Regex::new(r"\$\{([0-9]+)\}").map_err(|e| e.to_string())?;
    if unresolved.is_match(&out) {
        return Err("unable to resolve capture groups".into());
    }
    Ok(out)
}
