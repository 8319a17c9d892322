//! YAML 1.1 scalar rules, in one place. go-yaml v3 resolves plain scalars with the YAML 1.2
//! core schema (`yes`, `on`, `y` are strings), but Kubernetes tools and go-yaml's own encoder
//! still treat some YAML 1.1 forms as non-strings, so kyaml and go-yaml quote them on output.

/// The words YAML 1.1 reads as booleans besides `true`/`false` (go-yaml v3 `isOldBool`).
pub const OLD_BOOLEANS: &[&str] = &[
    "y", "Y", "yes", "Yes", "YES", "on", "On", "ON", "n", "N", "no", "No", "NO", "off", "Off",
    "OFF",
];

/// Whether YAML 1.1 reads this plain text as a boolean that YAML 1.2 reads as a string.
pub fn is_old_boolean(value: &str) -> bool {
    OLD_BOOLEANS.contains(&value)
}

/// go-yaml v3 `isBase60Float`: YAML 1.1 sexagesimal numbers (`1:20`, `-190:20:30.15`).
pub fn is_base60_float(value: &str) -> bool {
    let body = value.trim_start_matches(['-', '+']);
    let mut parts = body.split(':');
    let first = parts.next().unwrap_or("");
    let rest: Vec<&str> = parts.collect();
    !rest.is_empty()
        && first.chars().next().is_some_and(|c| c.is_ascii_digit())
        && first.chars().all(|c| c.is_ascii_digit() || c == '_')
        && rest.iter().enumerate().all(|(i, p)| {
            let p = if i == rest.len() - 1 { p.split('.').next().unwrap_or("") } else { p };
            !p.is_empty() && p.len() <= 2 && p.chars().all(|c| c.is_ascii_digit())
        })
}

/// kyaml `IsValueNonString`: values YAML 1.1 reads as bool, null, int or float.
pub fn is_yaml11_non_string(value: &str) -> bool {
    if value.is_empty() || value.contains('\n') {
        return false;
    }
    const KEYWORDS: &[&str] = &[
        "true", "True", "TRUE", "false", "False", "FALSE", "~", "null", "Null", "NULL", ".nan",
        ".NaN", ".NAN", ".inf", ".Inf", ".INF", "-.inf", "-.Inf", "-.INF", "+.inf", "+.Inf",
        "+.INF",
    ];
    if KEYWORDS.contains(&value) || is_old_boolean(value) {
        return true;
    }
    // Collections and comments do not unmarshal into strings either.
    if value.starts_with(['[', '{', '#'])
        || value.starts_with("- ")
        || value.contains(": ")
        || value.ends_with(':')
    {
        return true;
    }
    let plain = value.replace('_', "");
    if super::node::parse_go_integer(&plain).is_some() {
        return true;
    }
    // YAML 1.1 floats, sexagesimal numbers and the like.
    plain.parse::<f64>().is_ok()
        && !plain.eq_ignore_ascii_case("inf")
        && !plain.to_ascii_lowercase().contains("inf")
        && !plain.to_ascii_lowercase().contains("nan")
}

/// Whether go-yaml's encoder double-quotes this string (an old boolean or a base 60 float).
pub fn encoder_quotes(value: &str) -> bool {
    is_old_boolean(value) || is_base60_float(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn old_booleans_and_base60() {
        for word in ["y", "yes", "On", "OFF", "n"] {
            assert!(is_old_boolean(word), "{word}");
        }
        for word in ["true", "t", "yess", ""] {
            assert!(!is_old_boolean(word), "{word}");
        }
        assert!(is_base60_float("1:20") && is_base60_float("-190:20:30.15"));
        assert!(!is_base60_float("1:200") && !is_base60_float("a:20") && !is_base60_float("12"));
    }
}
