//! Implicit tag resolution of plain scalars (go-yaml v3 `resolve.go`, YAML 1.2 core schema as
//! go-yaml applies it: `yes`/`no`/`on`/`off` are strings).

use super::node::{BOOL_TAG, FLOAT_TAG, INT_TAG, NULL_TAG, STR_TAG, parse_go_integer};

const LONG_TAG_PREFIX: &str = "tag:yaml.org,2002:";

/// The tag a plain scalar with this text resolves to.
pub fn resolve(value: &str) -> &'static str {
    match value {
        "true" | "True" | "TRUE" | "false" | "False" | "FALSE" => return BOOL_TAG,
        "" | "~" | "null" | "Null" | "NULL" => return NULL_TAG,
        ".nan" | ".NaN" | ".NAN" | ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF"
        | "-.inf" | "-.Inf" | "-.INF" => return FLOAT_TAG,
        "<<" => return "!!merge",
        _ => {}
    }
    let first = value.as_bytes()[0];
    match first {
        b'.' if value.parse::<f64>().is_ok() => return FLOAT_TAG,
        b'0'..=b'9' | b'+' | b'-' => {
            if is_timestamp(value) {
                return "!!timestamp";
            }
            let plain = value.replace('_', "");
            if let Some(v) = parse_go_integer(&plain)
                && v >= i128::from(i64::MIN)
                && v <= i128::from(u64::MAX)
            {
                return INT_TAG;
            }
            if is_yaml_float(&plain) {
                return FLOAT_TAG;
            }
        }
        _ => {}
    }
    STR_TAG
}

/// `^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$`
fn is_yaml_float(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    if i < b.len() && (b[i] == b'-' || b[i] == b'+') {
        i += 1;
    }
    let digits = |i: &mut usize| {
        let start = *i;
        while *i < b.len() && b[*i].is_ascii_digit() {
            *i += 1;
        }
        *i - start
    };
    if i < b.len() && b[i] == b'.' {
        i += 1;
        if digits(&mut i) == 0 {
            return false;
        }
    } else {
        if digits(&mut i) == 0 {
            return false;
        }
        if i < b.len() && b[i] == b'.' {
            i += 1;
            digits(&mut i);
        }
    }
    if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
        i += 1;
        if i < b.len() && (b[i] == b'-' || b[i] == b'+') {
            i += 1;
        }
        if digits(&mut i) == 0 {
            return false;
        }
    }
    i == b.len()
}

/// go-yaml accepts `2006-1-2`, `2006-1-2 15:4:5.999999999`, RFC 3339 with short fields.
fn is_timestamp(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() && b[i].is_ascii_digit() {
        i += 1;
    }
    if i != 4 || i == b.len() || b[i] != b'-' {
        return false;
    }
    let num = |i: &mut usize, max: usize| {
        let start = *i;
        while *i < b.len() && b[*i].is_ascii_digit() && *i - start < max {
            *i += 1;
        }
        *i - start
    };
    i += 1;
    if num(&mut i, 2) == 0 || i >= b.len() || b[i] != b'-' {
        return false;
    }
    i += 1;
    if num(&mut i, 2) == 0 {
        return false;
    }
    if i == b.len() {
        return true;
    }
    if !matches!(b[i], b'T' | b't' | b' ') {
        return false;
    }
    i += 1;
    for part in 0..3 {
        if num(&mut i, 2) == 0 {
            return false;
        }
        if part < 2 {
            if i >= b.len() || b[i] != b':' {
                return false;
            }
            i += 1;
        }
    }
    if i < b.len() && b[i] == b'.' {
        i += 1;
        if num(&mut i, 9) == 0 {
            return false;
        }
    }
    if i == b.len() {
        return b.contains(&b' ');
    }
    let rest = &s[i..];
    if rest == "Z" {
        return true;
    }
    let rb = rest.as_bytes();
    rb.len() == 6 && (rb[0] == b'+' || rb[0] == b'-') && rb[3] == b':'
}

/// `tag:yaml.org,2002:str` → `!!str`.
pub(crate) fn short_tag(tag: &str) -> String {
    match tag.strip_prefix(LONG_TAG_PREFIX) {
        Some(rest) => format!("!!{rest}"),
        None => tag.to_string(),
    }
}

/// `!!str` → `tag:yaml.org,2002:str`.
pub(crate) fn long_tag(tag: &str) -> String {
    match tag.strip_prefix("!!") {
        Some(rest) => format!("{LONG_TAG_PREFIX}{rest}"),
        None => tag.to_string(),
    }
}
