//! Validation of object metadata maps, as kube-apiserver does it (`ValidateLabels`,
//! `ValidateAnnotations`): label keys and annotation keys are qualified names, label values
//! are at most 63 characters of `[A-Za-z0-9._-]` starting and ending alphanumeric, and all
//! annotations together are at most 256 KiB. The limits keep every stored object small.

use std::collections::BTreeMap;

/// Total bytes of annotation keys and values an object may carry (kube-apiserver's limit).
pub const MAX_ANNOTATIONS_BYTES: usize = 256 * 1024;
/// Longest label value.
pub const MAX_LABEL_VALUE: usize = 63;
/// Most labels or annotations on one object (a bound kube-apiserver leaves to the total size;
/// labels have no total size limit there, so this bounds them).
pub const MAX_ENTRIES: usize = 1024;

/// A field error: the path of the field (`metadata.labels`) and the message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

fn error(field: impl Into<String>, message: impl Into<String>) -> FieldError {
    FieldError { field: field.into(), message: message.into() }
}

fn is_alnum(c: char) -> bool {
    c.is_ascii_alphanumeric()
}

/// `[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?` of at most `max` characters.
fn check_name_part(value: &str, max: usize) -> Result<(), String> {
    if value.len() > max {
        return Err(format!("must be no more than {max} characters"));
    }
    let ok = value.chars().next().is_some_and(is_alnum)
        && value.chars().last().is_some_and(is_alnum)
        && value.chars().all(|c| is_alnum(c) || matches!(c, '-' | '_' | '.'));
    if !ok {
        return Err("must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character".into());
    }
    Ok(())
}

/// A qualified name: `[prefix/]name`, the prefix a DNS subdomain, the name at most 63 characters.
pub fn check_qualified_name(key: &str) -> Result<(), String> {
    let (prefix, name) = match key.split_once('/') {
        Some((prefix, name)) => (Some(prefix), name),
        None => (None, key),
    };
    if let Some(prefix) = prefix {
        if prefix.is_empty() {
            return Err("prefix part must be non-empty".into());
        }
        crate::names::check_dns1123_subdomain(prefix).map_err(|e| format!("prefix part {e}"))?;
    }
    if name.is_empty() {
        return Err("name part must be non-empty".into());
    }
    check_name_part(name, 63).map_err(|e| format!("name part {e}"))
}

/// Checks the labels of an object.
pub fn check_labels<'a>(
    labels: impl ExactSizeIterator<Item = (&'a str, &'a str)>,
) -> Result<(), FieldError> {
    if labels.len() > MAX_ENTRIES {
        return Err(error(
            "metadata.labels",
            format!("Too many: {}: must have at most {MAX_ENTRIES} items", labels.len()),
        ));
    }
    for (key, value) in labels {
        check_qualified_name(key)
            .map_err(|e| error("metadata.labels", format!("Invalid value: {}: {e}", quote(key))))?;
        if !value.is_empty() {
            check_name_part(value, MAX_LABEL_VALUE).map_err(|e| {
                error(
                    format!("metadata.labels[{key}]"),
                    format!("Invalid value: {}: {e}", quote(value)),
                )
            })?;
        }
    }
    Ok(())
}

/// Checks the annotations of an object.
pub fn check_annotations<'a>(
    annotations: impl ExactSizeIterator<Item = (&'a str, &'a str)>,
) -> Result<(), FieldError> {
    if annotations.len() > MAX_ENTRIES {
        return Err(error(
            "metadata.annotations",
            format!("Too many: {}: must have at most {MAX_ENTRIES} items", annotations.len()),
        ));
    }
    let mut total = 0usize;
    for (key, value) in annotations {
        check_qualified_name(&key.to_ascii_lowercase()).map_err(|e| {
            error("metadata.annotations", format!("Invalid value: {}: {e}", quote(key)))
        })?;
        total += key.len() + value.len();
    }
    if total > MAX_ANNOTATIONS_BYTES {
        return Err(error(
            "metadata.annotations",
            format!("Too long: must have at most {MAX_ANNOTATIONS_BYTES} bytes"),
        ));
    }
    Ok(())
}

/// Checks both maps.
pub fn check_metadata_maps(
    labels: &BTreeMap<String, String>,
    annotations: &BTreeMap<String, String>,
) -> Result<(), FieldError> {
    check_labels(labels.iter().map(|(k, v)| (k.as_str(), v.as_str())))?;
    check_annotations(annotations.iter().map(|(k, v)| (k.as_str(), v.as_str())))
}

/// A value quoted for an error message, cut to a readable length.
fn quote(value: &str) -> String {
    const SHOWN: usize = 80;
    if value.len() <= SHOWN {
        return format!("{value:?}");
    }
    let mut end = SHOWN;
    while !value.is_char_boundary(end) {
        end -= 1;
    }
    format!("{:?}...", &value[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(entries: &[(&str, &str)]) -> BTreeMap<String, String> {
        entries.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn labels() {
        let ok = map(&[("app", "web"), ("kpt.dev/latest-revision", "true"), ("empty", "")]);
        assert_eq!(check_metadata_maps(&ok, &BTreeMap::new()), Ok(()));
        for bad in [
            map(&[("app", &"x".repeat(64))]),
            map(&[("app", "-web")]),
            map(&[("app", "a b")]),
            map(&[("/app", "x")]),
            map(&[("Bad_Prefix/app", "x")]),
            map(&[("", "x")]),
            map(&[(&"k".repeat(64), "x")]),
        ] {
            let e = check_metadata_maps(&bad, &BTreeMap::new()).unwrap_err();
            assert!(e.field.starts_with("metadata.labels"), "{e:?}");
        }
    }

    #[test]
    fn annotations_total_size() {
        let big = "x".repeat(MAX_ANNOTATIONS_BYTES);
        let ok = map(&[("a", &big[..MAX_ANNOTATIONS_BYTES - 1])]);
        assert_eq!(check_metadata_maps(&BTreeMap::new(), &ok), Ok(()));
        let e =
            check_metadata_maps(&BTreeMap::new(), &map(&[("a", &big), ("b", "y")])).unwrap_err();
        assert_eq!(e.field, "metadata.annotations");
        assert!(e.message.contains("262144"), "{e:?}");
        // Annotation values are free text; only keys are checked.
        assert_eq!(
            check_metadata_maps(&BTreeMap::new(), &map(&[("note", "any text: {}")])),
            Ok(())
        );
    }

    #[test]
    fn too_many_entries() {
        let many: BTreeMap<String, String> =
            (0..=MAX_ENTRIES).map(|i| (format!("k{i}"), String::new())).collect();
        assert!(check_metadata_maps(&many, &BTreeMap::new()).is_err());
    }
}
