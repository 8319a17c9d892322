//! Object names, their parsing, UIDs and the validation of user-supplied names and paths
//! (reference §1.11).

use uuid::Uuid;

/// UUIDv5 namespace used for package revision UIDs (same as Porch, so UIDs match).
const UID_NAMESPACE: Uuid = Uuid::from_u128(0xaac71d91_5c67_456f_8fd2_902ef6da820e);

/// `<repo>.<path-with-dots>.<package>.<workspace>`.
pub fn package_revision_name(repository: &str, package: &str, workspace: &str) -> String {
    format!("{}.{}", package_object_name(repository, package), workspace)
}

/// `<repo>.<path-with-dots>.<package>`.
pub fn package_object_name(repository: &str, package: &str) -> String {
    let dotted = package.replace('/', ".");
    format!("{}.{}", repository, dotted.trim_matches('.'))
}

/// The deterministic UID of a package revision (Porch-compatible).
pub fn package_revision_uid(namespace: &str, name: &str) -> String {
    object_uid("packagerevision:", namespace, name)
}

/// The deterministic UID of a package.
pub fn package_uid(namespace: &str, name: &str) -> String {
    object_uid("package:", namespace, name)
}

fn object_uid(prefix: &str, namespace: &str, name: &str) -> String {
    let key = format!(
        "{prefix}{}/{}/{}",
        crate::PORCH_API_VERSION,
        namespace.to_lowercase(),
        name.to_lowercase()
    );
    Uuid::new_v5(&UID_NAMESPACE, key.as_bytes()).to_string()
}

/// A package revision name split into its parts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParsedName {
    pub repository: String,
    /// Package path relative to the repository directory, `/`-separated.
    pub package: String,
    pub workspace: String,
}

/// Splits `<repo>.<path...>.<package>.<workspace>`.
///
/// A workspace that looks like a version (`v1`, `v2.0.0`) may contain dots, as in Porch.
pub fn parse_package_revision_name(name: &str) -> Option<ParsedName> {
    let (rest, workspace) = split_workspace(name)?;
    let (repository, package) = rest.split_once('.')?;
    if repository.is_empty() || package.is_empty() || package.split('.').any(str::is_empty) {
        return None;
    }
    Some(ParsedName {
        repository: repository.to_string(),
        package: package.replace('.', "/"),
        workspace: workspace.to_string(),
    })
}

/// Splits `<repo>.<path...>.<package>` into repository and package path.
pub fn parse_package_name(name: &str) -> Option<(String, String)> {
    let (repository, package) = name.split_once('.')?;
    if repository.is_empty() || package.is_empty() || package.split('.').any(str::is_empty) {
        return None;
    }
    Some((repository.to_string(), package.replace('.', "/")))
}

fn split_workspace(name: &str) -> Option<(&str, &str)> {
    // `\.v[0-9.]*[0-9]$`: the workspace starts at the last ".v" when the tail is a version.
    if let Some(idx) = name.rfind(".v") {
        let tail = &name[idx + 2..];
        if !tail.is_empty()
            && tail.ends_with(|c: char| c.is_ascii_digit())
            && tail.chars().all(|c| c.is_ascii_digit() || c == '.')
        {
            return Some((&name[..idx], &name[idx + 1..]));
        }
    }
    let idx = name.rfind('.')?;
    let (rest, workspace) = (&name[..idx], &name[idx + 1..]);
    if rest.is_empty() || workspace.is_empty() {
        return None;
    }
    Some((rest, workspace))
}

/// Whether a `spec.packageName` field selector value `selector` selects the package `name` (a
/// path such as `team/net/router`), as Porch's `PackageKey.Matches`: the last segment must be
/// equal and, when the selector has a path before it, so must that path.
pub fn package_name_matches(selector: &str, name: &str) -> bool {
    fn split(s: &str) -> (&str, &str) {
        let s = s.trim_matches('/');
        s.rsplit_once('/').unwrap_or(("", s))
    }
    let ((want_path, want_name), (path, last)) = (split(selector), split(name));
    want_name == last && (want_path.is_empty() || want_path == path)
}

/// Porch's `Revision2Int`: strips a leading `v`; anything non-numeric is -1.
pub fn revision_to_int(s: &str) -> i64 {
    let s = s.strip_prefix('v').unwrap_or(s);
    s.parse::<i64>().unwrap_or(-1)
}

/// Checks a DNS-1123 label (RFC 1123): lowercase alphanumerics and `-`, ≤ 63 characters.
pub fn check_dns1123_label(value: &str) -> Result<(), String> {
    if value.is_empty() {
        return Err("must not be empty".to_string());
    }
    if value.len() > 63 {
        return Err("must be no more than 63 characters".to_string());
    }
    let bytes = value.as_bytes();
    let ok_inner = bytes.iter().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-');
    let ok_ends =
        bytes[0].is_ascii_alphanumeric() && bytes[bytes.len() - 1].is_ascii_alphanumeric();
    if !ok_inner || !ok_ends {
        return Err(format!(
            "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', \
             and must start and end with an alphanumeric character (value {value:?})"
        ));
    }
    Ok(())
}

/// Checks a DNS-1123 subdomain: dot-separated labels, ≤ 253 characters.
pub fn check_dns1123_subdomain(value: &str) -> Result<(), String> {
    if value.len() > 253 {
        return Err("must be no more than 253 characters".to_string());
    }
    for label in value.split('.') {
        check_dns1123_label(label).map_err(|e| format!("{value:?}: {e}"))?;
    }
    Ok(())
}

/// Checks a package path: `/`-separated DNS-1123 labels, no empty segment.
pub fn check_package_path(package: &str) -> Result<(), String> {
    if package.is_empty() {
        return Err("must not be empty".to_string());
    }
    for segment in package.split('/') {
        if segment.is_empty() {
            return Err(format!("{package:?} must not contain empty path segments"));
        }
        check_dns1123_label(segment).map_err(|e| format!("segment {segment:?}: {e}"))?;
    }
    Ok(())
}

/// Checks a file path of a PackageRevisionResources map: relative, no `..`, no `.git`.
pub fn check_resource_path(path: &str) -> Result<(), String> {
    if path.is_empty() {
        return Err("file path must not be empty".to_string());
    }
    if path.starts_with('/') || path.starts_with('\\') || path.contains('\\') {
        return Err(format!("file path {path:?} must be relative and use '/' separators"));
    }
    if path.contains('\0') {
        return Err(format!("file path {path:?} must not contain NUL"));
    }
    for segment in path.split('/') {
        match segment {
            "" => return Err(format!("file path {path:?} must not contain empty segments")),
            "." | ".." => return Err(format!("file path {path:?} must not contain {segment:?}")),
            s if s.eq_ignore_ascii_case(".git") => {
                return Err(format!("file path {path:?} must not touch .git"));
            }
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
