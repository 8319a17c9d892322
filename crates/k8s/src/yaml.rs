//! Limits on untrusted YAML before it reaches `serde_yaml`.
//!
//! `serde_yaml` (the `yaml_serde` crate) stops at a nesting depth of 128 and at 100 alias jumps
//! per event, but the nodes an alias jump produces are not counted: a small document whose
//! anchors are repeated by aliases (the "billion laughs") expands into gigabytes. [`check`] is
//! veranda-yaml's event pre-check ([`veranda_yaml::check_limits`]), shared with veranda-kpt.

pub use veranda_yaml::{ALIAS_EXPANSION_FLOOR, ALIAS_EXPANSION_RATIO, MAX_DEPTH};

/// The largest patched object accepted, serialized as JSON (the server's request body limit).
pub const MAX_OBJECT_BYTES: usize = 6 * 1024 * 1024;

/// Checks the nesting depth and alias expansion of every document of `text`; a syntax error is
/// returned as such.
pub fn check(text: &str) -> Result<(), String> {
    veranda_yaml::check_limits(text).map_err(|e| e.to_string())
}

/// Decodes untrusted YAML into a JSON value after [`check`].
pub fn from_slice(body: &[u8]) -> Result<serde_json::Value, String> {
    let text = std::str::from_utf8(body).map_err(|e| format!("yaml: invalid UTF-8: {e}"))?;
    check(text)?;
    serde_yaml::from_str(text).map_err(|e| e.to_string())
}

#[cfg(test)]
pub(crate) mod tests;
