//! Go's `%q` string quoting, because kube-apiserver messages quote names and values with it and
//! clients (and tests ported from Go) compare those messages verbatim.

use std::fmt::Write;

/// Quotes `s` like Go's `strconv.Quote`: double quotes, backslash escapes, printable Unicode kept.
pub(crate) fn go_quote(s: &str) -> String {
    let mut res = String::with_capacity(s.len() + 2);
    res.push('"');
    for c in s.chars() {
        match c {
            '"' => res.push_str("\\\""),
            '\\' => res.push_str("\\\\"),
            '\n' => res.push_str("\\n"),
            '\r' => res.push_str("\\r"),
            '\t' => res.push_str("\\t"),
            '\u{7}' => res.push_str("\\a"),
            '\u{8}' => res.push_str("\\b"),
            '\u{c}' => res.push_str("\\f"),
            '\u{b}' => res.push_str("\\v"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                let _ = write!(res, "\\x{:02x}", c as u32);
            }
            c if c.is_control() => {
                let _ = write!(res, "\\u{:04x}", c as u32);
            }
            c => res.push(c),
        }
    }
    res.push('"');
    res
}
