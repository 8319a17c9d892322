//! kubectl's JSONPath templates (`-o jsonpath=`, `custom-columns=`): text with `{expressions}`,
//! fields, `['quoted']` fields, indices and slices, `*`, `..` recursive descent, filters
//! `[?(@.path == 'value')]` (also `!=`, `<`, `>`, `<=`, `>=`, or existence), and
//! `{range …}…{end}`.

use serde_json::Value;

#[derive(Debug, Clone, PartialEq)]
enum Step {
    Field(String),
    Wildcard,
    Recursive,
    Index(i64),
    Slice(Option<i64>, Option<i64>),
    Filter(Filter),
}

#[derive(Debug, Clone, PartialEq)]
struct Filter {
    path: Vec<Step>,
    op: Option<(String, Value)>,
}

#[derive(Debug, Clone, PartialEq)]
enum Segment {
    Text(String),
    Expr(Vec<Step>),
    Range(Vec<Step>, Vec<Segment>),
}

/// A parsed template.
#[derive(Debug, Clone)]
pub struct Template(Vec<Segment>);

impl Template {
    pub fn parse(text: &str) -> Result<Template, String> {
        let mut pieces = Vec::new();
        let mut rest = text;
        while let Some(open) = rest.find('{') {
            if open > 0 {
                pieces.push(Piece::Text(rest[..open].to_string()));
            }
            let close = find_close(&rest[open..])
                .ok_or_else(|| format!("unclosed action in template {text:?}"))?;
            pieces.push(Piece::Action(rest[open + 1..open + close].trim().to_string()));
            rest = &rest[open + close + 1..];
        }
        if !rest.is_empty() {
            pieces.push(Piece::Text(rest.to_string()));
        }
        let mut iter = pieces.into_iter();
        let segments = build(&mut iter, false)?;
        Ok(Template(segments))
    }

    /// Evaluates the template (kubectl's text output: strings raw, other values as JSON).
    pub fn render(&self, root: &Value) -> Result<String, String> {
        let mut out = String::new();
        render(&self.0, root, root, &mut out)?;
        Ok(out)
    }

    /// The values of a single-expression template (custom columns).
    pub fn values<'a>(&self, root: &'a Value) -> Vec<&'a Value> {
        let mut found = Vec::new();
        for segment in &self.0 {
            if let Segment::Expr(steps) = segment {
                found.extend(eval(steps, root, root));
            }
        }
        found
    }
}

enum Piece {
    Text(String),
    Action(String),
}

fn find_close(text: &str) -> Option<usize> {
    let mut quote = None;
    for (i, c) in text.char_indices() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '\'' | '"') => quote = Some(c),
            (None, '}') => return Some(i),
            _ => {}
        }
    }
    None
}

fn build(pieces: &mut impl Iterator<Item = Piece>, in_range: bool) -> Result<Vec<Segment>, String> {
    let mut out = Vec::new();
    while let Some(piece) = pieces.next() {
        match piece {
            Piece::Text(t) => out.push(Segment::Text(t)),
            Piece::Action(a) if a == "end" => {
                return if in_range { Ok(out) } else { Err("{end} without {range}".into()) };
            }
            Piece::Action(a) => {
                if let Some(expr) = a.strip_prefix("range ") {
                    let steps = parse_path(expr.trim())?;
                    let body = build(pieces, true)?;
                    out.push(Segment::Range(steps, body));
                } else if let Some(lit) = a.strip_prefix('"').and_then(|s| s.strip_suffix('"')) {
                    out.push(Segment::Text(unescape(lit)));
                } else {
                    out.push(Segment::Expr(parse_path(&a)?));
                }
            }
        }
    }
    if in_range { Err("{range} without {end}".into()) } else { Ok(out) }
}

fn unescape(s: &str) -> String {
    s.replace("\\n", "\n").replace("\\t", "\t").replace("\\r", "\r")
}

/// Parses `.a.b[0]['c'][*]..d[?(@.x=='y')]` (a leading `$` or `@` is allowed).
fn parse_path(text: &str) -> Result<Vec<Step>, String> {
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    let mut steps = Vec::new();
    if matches!(chars.first(), Some('$' | '@')) {
        i = 1;
    }
    while i < chars.len() {
        match chars[i] {
            '.' if chars.get(i + 1) == Some(&'.') => {
                steps.push(Step::Recursive);
                i += 2;
                if chars.get(i) == Some(&'[') {
                    continue;
                }
                let (name, next) = read_name(&chars, i);
                if !name.is_empty() {
                    steps.push(if name == "*" { Step::Wildcard } else { Step::Field(name) });
                }
                i = next;
            }
            '.' => {
                let (name, next) = read_name(&chars, i + 1);
                if name == "*" {
                    steps.push(Step::Wildcard);
                } else if !name.is_empty() {
                    steps.push(Step::Field(name));
                }
                i = next;
            }
            '[' => {
                let close =
                    bracket_end(&chars, i).ok_or_else(|| format!("unclosed [ in {text:?}"))?;
                let inner: String = chars[i + 1..close].iter().collect();
                steps.push(parse_bracket(inner.trim())?);
                i = close + 1;
            }
            c if i == 0 && c.is_alphanumeric() => {
                let (name, next) = read_name(&chars, i);
                steps.push(Step::Field(name));
                i = next;
            }
            c => return Err(format!("unexpected {c:?} in JSONPath {text:?}")),
        }
    }
    Ok(steps)
}

fn read_name(chars: &[char], mut i: usize) -> (String, usize) {
    let start = i;
    while i < chars.len() && !matches!(chars[i], '.' | '[') {
        i += 1;
    }
    (chars[start..i].iter().collect::<String>().trim().to_string(), i)
}

fn bracket_end(chars: &[char], open: usize) -> Option<usize> {
    let mut depth = 0;
    let mut quote = None;
    for (offset, &c) in chars[open..].iter().enumerate() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '\'' | '"') => quote = Some(c),
            (None, '[') => depth += 1,
            (None, ']') => {
                depth -= 1;
                if depth == 0 {
                    return Some(open + offset);
                }
            }
            _ => {}
        }
    }
    None
}

fn parse_bracket(inner: &str) -> Result<Step, String> {
    if inner == "*" {
        return Ok(Step::Wildcard);
    }
    if let Some(quoted) = strip_quotes(inner) {
        return Ok(Step::Field(quoted));
    }
    if let Some(filter) = inner.strip_prefix("?(").and_then(|f| f.strip_suffix(')')) {
        return parse_filter(filter.trim()).map(Step::Filter);
    }
    if let Some((a, b)) = inner.split_once(':') {
        let bound = |s: &str| -> Result<Option<i64>, String> {
            let s = s.split(':').next().unwrap_or("").trim();
            if s.is_empty() {
                Ok(None)
            } else {
                s.parse().map(Some).map_err(|_| format!("bad slice {inner:?}"))
            }
        };
        return Ok(Step::Slice(bound(a)?, bound(b)?));
    }
    inner.parse().map(Step::Index).map_err(|_| format!("bad index [{inner}]"))
}

fn strip_quotes(s: &str) -> Option<String> {
    let q = s.chars().next()?;
    if (q == '\'' || q == '"') && s.len() >= 2 && s.ends_with(q) {
        Some(s[1..s.len() - 1].to_string())
    } else {
        None
    }
}

fn parse_filter(text: &str) -> Result<Filter, String> {
    for op in ["==", "!=", "<=", ">=", "<", ">"] {
        if let Some((left, right)) = text.split_once(op) {
            let path = parse_path(left.trim())?;
            let right = right.trim();
            let value = match strip_quotes(right) {
                Some(s) => Value::String(s),
                None => serde_json::from_str(right)
                    .map_err(|_| format!("bad filter value {right:?}"))?,
            };
            return Ok(Filter { path, op: Some((op.to_string(), value)) });
        }
    }
    Ok(Filter { path: parse_path(text)?, op: None })
}

fn eval<'a>(steps: &[Step], _root: &'a Value, current: &'a Value) -> Vec<&'a Value> {
    let mut values: Vec<&Value> = vec![current];
    for step in steps {
        let mut next = Vec::new();
        for value in values {
            apply(step, value, &mut next);
        }
        values = next;
    }
    values
}

fn apply<'a>(step: &Step, value: &'a Value, out: &mut Vec<&'a Value>) {
    match step {
        Step::Field(name) => {
            if let Some(v) = value.get(name.as_str()) {
                out.push(v);
            }
        }
        Step::Wildcard => match value {
            Value::Array(a) => out.extend(a.iter()),
            Value::Object(o) => out.extend(o.values()),
            _ => {}
        },
        Step::Recursive => descend(value, out),
        Step::Index(i) => {
            if let Value::Array(a) = value {
                let idx = if *i < 0 { a.len() as i64 + i } else { *i };
                if let Some(v) = usize::try_from(idx).ok().and_then(|i| a.get(i)) {
                    out.push(v);
                }
            }
        }
        Step::Slice(start, end) => {
            if let Value::Array(a) = value {
                let len = a.len() as i64;
                let norm = |v: i64| if v < 0 { (len + v).max(0) } else { v.min(len) };
                let s = norm(start.unwrap_or(0)) as usize;
                let e = norm(end.unwrap_or(len)) as usize;
                if s < e {
                    out.extend(a[s..e].iter());
                }
            }
        }
        Step::Filter(filter) => {
            let items: Vec<&Value> = match value {
                Value::Array(a) => a.iter().collect(),
                other => vec![other],
            };
            for item in items {
                if matches(filter, item) {
                    out.push(item);
                }
            }
        }
    }
}

fn descend<'a>(value: &'a Value, out: &mut Vec<&'a Value>) {
    out.push(value);
    match value {
        Value::Array(a) => a.iter().for_each(|v| descend(v, out)),
        Value::Object(o) => o.values().for_each(|v| descend(v, out)),
        _ => {}
    }
}

fn matches(filter: &Filter, item: &Value) -> bool {
    let found = eval(&filter.path, item, item);
    let Some((op, want)) = &filter.op else { return !found.is_empty() };
    found.iter().any(|got| match (op.as_str(), got.as_f64(), want.as_f64()) {
        ("==", ..) => loose_eq(got, want),
        ("!=", ..) => !loose_eq(got, want),
        ("<", Some(a), Some(b)) => a < b,
        (">", Some(a), Some(b)) => a > b,
        ("<=", Some(a), Some(b)) => a <= b,
        (">=", Some(a), Some(b)) => a >= b,
        _ => false,
    })
}

fn loose_eq(a: &Value, b: &Value) -> bool {
    match (a.as_f64(), b.as_f64()) {
        (Some(x), Some(y)) => x == y,
        _ => a == b,
    }
}

fn render(
    segments: &[Segment],
    root: &Value,
    current: &Value,
    out: &mut String,
) -> Result<(), String> {
    for segment in segments {
        match segment {
            Segment::Text(t) => out.push_str(t),
            Segment::Expr(steps) => {
                let found = eval(steps, root, current);
                let text: Vec<String> = found.iter().map(|v| text(v)).collect();
                out.push_str(&text.join(" "));
            }
            Segment::Range(steps, body) => {
                for item in eval(steps, root, current) {
                    let items: Vec<&Value> = match item {
                        Value::Array(a) => a.iter().collect(),
                        other => vec![other],
                    };
                    for inner in items {
                        render(body, root, inner, out)?;
                    }
                }
            }
        }
    }
    Ok(())
}

/// A value as kubectl prints it in templates and columns.
pub fn text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn run(template: &str, value: &Value) -> String {
        Template::parse(template).expect("parse").render(value).expect("render")
    }

    #[test]
    fn evaluates_kubectl_templates() {
        let repo = json!({"metadata": {"name": "r"}, "status": {"conditions": [
            {"type": "Other", "status": "False"}, {"type": "Ready", "status": "True"}]},
            "spec": {"revision": 2, "tags": ["a", "b"]}});
        assert_eq!(run("{.metadata.name}", &repo), "r");
        assert_eq!(run("{.status.conditions[?(@.type=='Ready')].status}", &repo), "True");
        assert_eq!(run("{.status.conditions[?(@.type!=\"Ready\")].type}", &repo), "Other");
        assert_eq!(run("{.spec.revision}", &repo), "2");
        assert_eq!(run("{.spec.tags[*]}", &repo), "a b");
        assert_eq!(run("{.spec.tags[-1]}", &repo), "b");
        assert_eq!(run("{.spec['tags'][0:1]}", &repo), "a");
        assert_eq!(run("x={..type}", &repo), "x=Other Ready");
        let list = json!({"items": [{"metadata": {"name": "a"}}, {"metadata": {"name": "b"}}]});
        assert_eq!(run("{range .items[*]}{.metadata.name}{\"\\n\"}{end}", &list), "a\nb\n");
        assert_eq!(run("{.items[?(@.metadata.name)].metadata.name}", &list), "a b");
        assert!(Template::parse("{.a").is_err());
        assert!(Template::parse("{range .a}").is_err());
        assert!(Template::parse("{.a[x]}").is_err());
    }
}
