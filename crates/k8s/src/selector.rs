//! Label selectors (`labelSelector=`) and field selectors (`fieldSelector=`) of list and watch
//! requests, parsed with the grammar of `k8s.io/apimachinery/pkg/labels` and `.../fields`.
//!
//! Label selectors support the whole grammar: `a=b`, `a==b`, `a!=b`, `a in (x,y)`,
//! `a notin (x)`, `a`, `!a`, `a>1`, `a<1`, comma separated (a logical AND), whitespace tolerant.
//! Keys and values are validated like the apiserver does. Field selectors are only parsed here:
//! which fields and operators a resource supports is the caller's decision (Porch accepts `=`
//! and `==` on the fields of `porch.md` §1.8); [`unsupported_field_operator`] and
//! [`unknown_field`] format its error messages.

use std::{collections::BTreeMap, fmt};

use crate::quote::go_quote;

/// A parsed label selector: the conjunction of its requirements. The empty selector matches
/// everything.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LabelSelector {
    pub requirements: Vec<Requirement>,
}

/// One requirement of a label selector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Requirement {
    pub key: String,
    pub operator: Operator,
    /// Sorted, deduplicated. Empty for `Exists`/`DoesNotExist`, one value for `=`/`==`/`!=`/`>`/`<`.
    pub values: Vec<String>,
}

/// The operator of a label selector requirement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operator {
    /// `key=value`
    Equals,
    /// `key==value`
    DoubleEquals,
    /// `key!=value`: the label is absent or has another value.
    NotEquals,
    /// `key in (a,b)`
    In,
    /// `key notin (a,b)`: the label is absent or has none of the values.
    NotIn,
    /// `key`
    Exists,
    /// `!key`
    DoesNotExist,
    /// `key>1`: the label is an integer greater than the value.
    GreaterThan,
    /// `key<1`: the label is an integer less than the value.
    LessThan,
}

/// One term of a field selector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldRequirement {
    pub field: String,
    pub op: FieldOp,
    /// Unescaped (`\,`, `\=`, `\\` in the query string).
    pub value: String,
}

/// Field selector operators. `=` and `==` are the same operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldOp {
    Eq,
    NotEq,
}

/// A selector that does not parse; the apiserver answers `400 BadRequest` with this message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct SelectorError {
    pub message: String,
}

impl LabelSelector {
    /// Parses the `labelSelector` query parameter. The empty string is the empty selector.
    pub fn parse(selector: &str) -> Result<LabelSelector, SelectorError> {
        let tokens = lex(selector)?;
        let mut parser = Parser { tokens, pos: 0 };
        let requirements = parser.parse()?;
        Ok(LabelSelector { requirements })
    }

    /// Whether the selector has no requirement, so it matches everything.
    pub fn is_empty(&self) -> bool {
        self.requirements.is_empty()
    }

    /// Whether `labels` satisfy every requirement.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.requirements.iter().all(|it| it.matches(labels))
    }
}

impl Requirement {
    /// Whether `labels` satisfy this requirement.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        let value = labels.get(&self.key);
        match self.operator {
            Operator::Equals | Operator::DoubleEquals | Operator::In => {
                value.is_some_and(|it| self.values.contains(it))
            }
            Operator::NotEquals | Operator::NotIn => {
                value.is_none_or(|it| !self.values.contains(it))
            }
            Operator::Exists => value.is_some(),
            Operator::DoesNotExist => value.is_none(),
            Operator::GreaterThan | Operator::LessThan => {
                let Some(actual) = value.and_then(|it| it.parse::<i64>().ok()) else {
                    return false;
                };
                let Some(bound) = self.values.first().and_then(|it| it.parse::<i64>().ok()) else {
                    return false;
                };
                if self.operator == Operator::GreaterThan { actual > bound } else { actual < bound }
            }
        }
    }
}

impl fmt::Display for LabelSelector {
    /// The canonical form, as `labels.Selector.String()` prints it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (idx, requirement) in self.requirements.iter().enumerate() {
            if idx > 0 {
                f.write_str(",")?;
            }
            write!(f, "{requirement}")?;
        }
        Ok(())
    }
}

impl fmt::Display for Requirement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let values = self.values.join(",");
        match self.operator {
            Operator::Exists => write!(f, "{}", self.key),
            Operator::DoesNotExist => write!(f, "!{}", self.key),
            Operator::Equals => write!(f, "{}={values}", self.key),
            Operator::DoubleEquals => write!(f, "{}=={values}", self.key),
            Operator::NotEquals => write!(f, "{}!={values}", self.key),
            Operator::GreaterThan => write!(f, "{}>{values}", self.key),
            Operator::LessThan => write!(f, "{}<{values}", self.key),
            Operator::In => write!(f, "{} in ({values})", self.key),
            Operator::NotIn => write!(f, "{} notin ({values})", self.key),
        }
    }
}

impl Operator {
    /// The operator as the apiserver names it in messages (`selection.Operator`).
    pub fn as_str(self) -> &'static str {
        match self {
            Operator::Equals => "=",
            Operator::DoubleEquals => "==",
            Operator::NotEquals => "!=",
            Operator::In => "in",
            Operator::NotIn => "notin",
            Operator::Exists => "exists",
            Operator::DoesNotExist => "!",
            Operator::GreaterThan => "gt",
            Operator::LessThan => "lt",
        }
    }
}

impl FieldOp {
    /// The operator as written in a field selector: `=` or `!=`.
    pub fn as_str(self) -> &'static str {
        match self {
            FieldOp::Eq => "=",
            FieldOp::NotEq => "!=",
        }
    }
}

/// Parses the `fieldSelector` query parameter: comma separated `field=value`, `field==value` or
/// `field!=value` terms; `\` escapes `,`, `=` and `\` in values. The empty string gives no
/// requirements.
pub fn parse_field_selector(selector: &str) -> Result<Vec<FieldRequirement>, SelectorError> {
    let mut res = Vec::new();
    for term in split_terms(selector) {
        if term.is_empty() {
            continue;
        }
        let Some((field, op, raw_value)) = split_field_term(term) else {
            return Err(SelectorError {
                message: format!("invalid selector: '{selector}'; can't understand '{term}'"),
            });
        };
        let value = unescape_field_value(raw_value).map_err(|message| SelectorError { message })?;
        res.push(FieldRequirement { field: field.to_owned(), op, value });
    }
    Ok(res)
}

/// `unsupported fieldSelector operator "!=" for field "spec.lifecycle"` (Porch, `porch.md` §1.8).
pub fn unsupported_field_operator(requirement: &FieldRequirement) -> String {
    format!(
        "unsupported fieldSelector operator {} for field {}",
        go_quote(requirement.op.as_str()),
        go_quote(&requirement.field)
    )
}

/// `unknown fieldSelector field "spec.foo"` (Porch, `porch.md` §1.8).
pub fn unknown_field(field: &str) -> String {
    format!("unknown fieldSelector field {}", go_quote(field))
}

/// `unsupported fieldSelector value "Foo" for field "spec.lifecycle"` (Porch, `porch.md` §1.8).
pub fn unsupported_field_value(requirement: &FieldRequirement) -> String {
    format!(
        "unsupported fieldSelector value {} for field {}",
        go_quote(&requirement.value),
        go_quote(&requirement.field)
    )
}

/// Validates a label key: an optional DNS-1123 subdomain prefix and `/`, then a name of at most 63
/// characters of alphanumerics, `-`, `_` and `.`, starting and ending alphanumeric.
pub fn validate_label_key(key: &str) -> Result<(), String> {
    let (prefix, name) = match key.split_once('/') {
        Some((prefix, name)) => (Some(prefix), name),
        None => (None, key),
    };
    if let Some(prefix) = prefix {
        if prefix.is_empty() {
            return Err(format!("{}: prefix part must be non-empty", go_quote(key)));
        }
        if prefix.len() > 253 || !is_dns1123_subdomain(prefix) {
            return Err(format!(
                "{}: prefix part a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')",
                go_quote(key)
            ));
        }
    }
    if name.is_empty() {
        return Err(format!("{}: name part must be non-empty", go_quote(key)));
    }
    if name.len() > 63 {
        return Err(format!("{}: name part must be no more than 63 characters", go_quote(key)));
    }
    if !is_qualified_name_part(name) {
        return Err(format!(
            "{}: name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')",
            go_quote(key)
        ));
    }
    Ok(())
}

/// Validates a label value: empty, or at most 63 characters of alphanumerics, `-`, `_` and `.`,
/// starting and ending alphanumeric.
pub fn validate_label_value(value: &str) -> Result<(), String> {
    if value.is_empty() {
        return Ok(());
    }
    if value.len() > 63 {
        return Err(format!("{}: must be no more than 63 characters", go_quote(value)));
    }
    if !is_qualified_name_part(value) {
        return Err(format!(
            "{}: a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')",
            go_quote(value)
        ));
    }
    Ok(())
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Identifier(String),
    In,
    NotIn,
    OpenPar,
    ClosedPar,
    Comma,
    Bang,
    Equals,
    DoubleEquals,
    NotEquals,
    GreaterThan,
    LessThan,
}

struct Parser {
    tokens: Vec<Token>,
    pos: usize,
}

impl Parser {
    fn parse(&mut self) -> Result<Vec<Requirement>, SelectorError> {
        let mut res = Vec::new();
        loop {
            match self.peek_value() {
                None => return Ok(res),
                Some(Token::Identifier(_)) | Some(Token::Bang) => {
                    res.push(self.parse_requirement()?);
                    match self.next_value() {
                        None => return Ok(res),
                        Some(Token::Comma) => match self.peek_value() {
                            Some(Token::Identifier(_)) | Some(Token::Bang) => {}
                            other => {
                                return Err(error(format!(
                                    "found '{}', expected: identifier after ','",
                                    literal(other.as_ref())
                                )));
                            }
                        },
                        other => {
                            return Err(error(format!(
                                "found '{}', expected: ',' or 'end of string'",
                                literal(other.as_ref())
                            )));
                        }
                    }
                }
                other => {
                    return Err(error(format!(
                        "found '{}', expected: !, identifier, or 'end of string'",
                        literal(other.as_ref())
                    )));
                }
            }
        }
    }

    fn parse_requirement(&mut self) -> Result<Requirement, SelectorError> {
        let mut operator = None;
        if self.peek() == Some(&Token::Bang) {
            self.pos += 1;
            operator = Some(Operator::DoesNotExist);
        }
        let key = match self.next() {
            Some(Token::Identifier(key)) => key,
            other => {
                return Err(error(format!(
                    "found '{}', expected: identifier",
                    literal(other.as_ref())
                )));
            }
        };
        validate_label_key(&key)
            .map_err(|message| error(format!("unable to parse requirement: {message}")))?;
        if matches!(self.peek(), None | Some(Token::Comma)) {
            let operator = operator.unwrap_or(Operator::Exists);
            return Ok(Requirement { key, operator, values: Vec::new() });
        }
        if operator == Some(Operator::DoesNotExist) {
            return Err(error(format!(
                "found '{}', expected: ',' or 'end of string'",
                literal(self.peek())
            )));
        }
        let operator = match self.next() {
            Some(Token::In) => Operator::In,
            Some(Token::NotIn) => Operator::NotIn,
            Some(Token::Equals) => Operator::Equals,
            Some(Token::DoubleEquals) => Operator::DoubleEquals,
            Some(Token::NotEquals) => Operator::NotEquals,
            Some(Token::GreaterThan) => Operator::GreaterThan,
            Some(Token::LessThan) => Operator::LessThan,
            other => {
                return Err(error(format!(
                    "found '{}', expected: !=, ==, =, >, <, in, notin",
                    literal(other.as_ref())
                )));
            }
        };
        let mut values = match operator {
            Operator::In | Operator::NotIn => self.parse_values()?,
            _ => vec![self.parse_exact_value()?],
        };
        values.sort();
        values.dedup();
        for value in &values {
            validate_label_value(value).map_err(|message| {
                error(format!(
                    "unable to parse requirement: values[0][{key}]: Invalid value: {message}"
                ))
            })?;
        }
        if matches!(operator, Operator::GreaterThan | Operator::LessThan)
            && values.iter().any(|it| it.parse::<i64>().is_err())
        {
            return Err(error(format!(
                "unable to parse requirement: values[0][{key}]: Invalid value: {}: for 'Gt', 'Lt' operators, the value must be an integer",
                go_quote(values.first().map_or("", String::as_str))
            )));
        }
        Ok(Requirement { key, operator, values })
    }

    /// `( a, b )`; `()` is the set with the empty value, empty items are empty values.
    fn parse_values(&mut self) -> Result<Vec<String>, SelectorError> {
        match self.next() {
            Some(Token::OpenPar) => {}
            other => {
                return Err(error(format!("found '{}' expected: '('", literal(other.as_ref()))));
            }
        }
        let mut res = Vec::new();
        if self.peek() == Some(&Token::ClosedPar) {
            self.pos += 1;
            return Ok(vec![String::new()]);
        }
        let mut expect_value = true;
        loop {
            match self.next_value() {
                Some(Token::Identifier(value)) if expect_value => {
                    res.push(value);
                    expect_value = false;
                }
                Some(Token::Comma) => {
                    if expect_value {
                        res.push(String::new());
                    }
                    expect_value = true;
                }
                Some(Token::ClosedPar) => {
                    if expect_value {
                        res.push(String::new());
                    }
                    return Ok(res);
                }
                other => {
                    let expected = if expect_value { "',', or identifier" } else { "',' or ')'" };
                    return Err(error(format!(
                        "found '{}', expected: {expected}",
                        literal(other.as_ref())
                    )));
                }
            }
        }
    }

    fn parse_exact_value(&mut self) -> Result<String, SelectorError> {
        match self.peek_value() {
            None | Some(Token::Comma) => Ok(String::new()),
            Some(Token::Identifier(_)) => match self.next_value() {
                Some(Token::Identifier(value)) => Ok(value),
                _ => Err(error("found 'end of string', expected: identifier".to_owned())),
            },
            other => {
                Err(error(format!("found '{}', expected: identifier", literal(other.as_ref()))))
            }
        }
    }

    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.pos)
    }

    fn next(&mut self) -> Option<Token> {
        let res = self.tokens.get(self.pos).cloned();
        self.pos += 1;
        res
    }

    /// Like `peek`, but in value position the keywords `in` and `notin` are plain identifiers.
    fn peek_value(&self) -> Option<Token> {
        self.peek().cloned().map(keyword_as_identifier)
    }

    fn next_value(&mut self) -> Option<Token> {
        self.next().map(keyword_as_identifier)
    }
}

fn keyword_as_identifier(token: Token) -> Token {
    match token {
        Token::In => Token::Identifier("in".to_owned()),
        Token::NotIn => Token::Identifier("notin".to_owned()),
        other => other,
    }
}

fn lex(input: &str) -> Result<Vec<Token>, SelectorError> {
    let chars: Vec<char> = input.chars().collect();
    let mut res = Vec::new();
    let mut idx = 0;
    while idx < chars.len() {
        let c = chars[idx];
        if c.is_whitespace() {
            idx += 1;
            continue;
        }
        if is_special(c) {
            let next = chars.get(idx + 1).copied();
            let (token, len) = match (c, next) {
                ('!', Some('=')) => (Token::NotEquals, 2),
                ('=', Some('=')) => (Token::DoubleEquals, 2),
                ('!', _) => (Token::Bang, 1),
                ('=', _) => (Token::Equals, 1),
                ('(', _) => (Token::OpenPar, 1),
                (')', _) => (Token::ClosedPar, 1),
                (',', _) => (Token::Comma, 1),
                ('>', _) => (Token::GreaterThan, 1),
                ('<', _) => (Token::LessThan, 1),
                _ => return Err(error(format!("error: unexpected character {c:?}"))),
            };
            res.push(token);
            idx += len;
            continue;
        }
        let start = idx;
        while idx < chars.len() && !chars[idx].is_whitespace() && !is_special(chars[idx]) {
            idx += 1;
        }
        let word: String = chars[start..idx].iter().collect();
        res.push(match word.as_str() {
            "in" => Token::In,
            "notin" => Token::NotIn,
            _ => Token::Identifier(word),
        });
    }
    Ok(res)
}

fn is_special(c: char) -> bool {
    matches!(c, '=' | '!' | '(' | ')' | ',' | '>' | '<')
}

fn literal(token: Option<&Token>) -> String {
    match token {
        None => "end of string".to_owned(),
        Some(Token::Identifier(it)) => it.clone(),
        Some(Token::In) => "in".to_owned(),
        Some(Token::NotIn) => "notin".to_owned(),
        Some(Token::OpenPar) => "(".to_owned(),
        Some(Token::ClosedPar) => ")".to_owned(),
        Some(Token::Comma) => ",".to_owned(),
        Some(Token::Bang) => "!".to_owned(),
        Some(Token::Equals) => "=".to_owned(),
        Some(Token::DoubleEquals) => "==".to_owned(),
        Some(Token::NotEquals) => "!=".to_owned(),
        Some(Token::GreaterThan) => ">".to_owned(),
        Some(Token::LessThan) => "<".to_owned(),
    }
}

fn error(message: String) -> SelectorError {
    SelectorError { message }
}

/// Splits on commas not escaped with a backslash.
fn split_terms(selector: &str) -> Vec<&str> {
    let mut res = Vec::new();
    let mut start = 0;
    let mut escaped = false;
    for (idx, c) in selector.char_indices() {
        if escaped {
            escaped = false;
        } else if c == '\\' {
            escaped = true;
        } else if c == ',' {
            res.push(&selector[start..idx]);
            start = idx + 1;
        }
    }
    res.push(&selector[start..]);
    res
}

/// Splits `field<op>value` at the first operator; at each position `!=` and `==` are tried
/// before `=` (Go's `splitTerm`, which does not look at escapes).
fn split_field_term(term: &str) -> Option<(&str, FieldOp, &str)> {
    for (idx, _) in term.char_indices() {
        let rest = &term[idx..];
        if rest.starts_with("!=") {
            return Some((&term[..idx], FieldOp::NotEq, &term[idx + 2..]));
        }
        if rest.starts_with("==") {
            return Some((&term[..idx], FieldOp::Eq, &term[idx + 2..]));
        }
        if rest.starts_with('=') {
            return Some((&term[..idx], FieldOp::Eq, &term[idx + 1..]));
        }
    }
    None
}

/// Go's `fields.UnescapeValue`: `\\`, `\,` and `\=` are escapes; a bare `,` or `=` is an error.
fn unescape_field_value(value: &str) -> Result<String, String> {
    let mut res = String::with_capacity(value.len());
    let mut chars = value.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some(escaped @ ('\\' | ',' | '=')) => res.push(escaped),
                Some(other) => {
                    return Err(format!(
                        "invalid field selector: invalid escape sequence: \\{other}"
                    ));
                }
                None => {
                    return Err("invalid field selector: invalid escape sequence: \\".to_owned());
                }
            },
            ',' | '=' => return Err(format!("invalid field selector: unescaped character {c:?}")),
            c => res.push(c),
        }
    }
    Ok(res)
}

fn is_qualified_name_part(name: &str) -> bool {
    let bytes = name.as_bytes();
    let (Some(first), Some(last)) = (bytes.first(), bytes.last()) else { return false };
    first.is_ascii_alphanumeric()
        && last.is_ascii_alphanumeric()
        && bytes.iter().all(|it| it.is_ascii_alphanumeric() || matches!(it, b'-' | b'_' | b'.'))
}

fn is_dns1123_subdomain(value: &str) -> bool {
    value.split('.').all(|label| {
        let bytes = label.as_bytes();
        let (Some(first), Some(last)) = (bytes.first(), bytes.last()) else { return false };
        (first.is_ascii_lowercase() || first.is_ascii_digit())
            && (last.is_ascii_lowercase() || last.is_ascii_digit())
            && bytes.iter().all(|it| it.is_ascii_lowercase() || it.is_ascii_digit() || *it == b'-')
    })
}

#[cfg(test)]
mod tests;
