//! Server-side printing: `meta.k8s.io/v1` `Table` responses for `kubectl get`, and the
//! `PartialObjectMetadata` representations metadata-only clients ask for.
//!
//! kubectl asks for a Table with
//! `Accept: application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json`
//! on both list and single-object GETs, and adds `includeObject=Object` only for `--sort-by`.
//! Without an `includeObject` query parameter each row carries the object's metadata as a
//! `PartialObjectMetadata` (kubectl reads labels and names from it). The columns are Porch's
//! (`pkg/registry/porch/tableconvertor.go`) and the Repository CRD's printer columns (see
//! `porch.md` §1.1), except that integer columns say `integer` where Porch says `int`.

use serde_json::{Map, Value, json};

use crate::accept::{self, Representation};

/// Label computed on read that marks the latest published revision of a package.
pub const LATEST_REVISION_LABEL: &str = "kpt.dev/latest-revision";

/// Which column layout to print.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TableKind {
    PackageRevisions,
    PackageRevisionResources,
    Packages,
    Repositories,
    Secrets,
    /// Roles and ClusterRoles (kube-apiserver's columns: name, creation time).
    Roles,
    /// RoleBindings and ClusterRoleBindings (name, role, age).
    RoleBindings,
}

/// The `includeObject` query parameter: what each row's `object` holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum IncludeObject {
    /// No object.
    None,
    /// A `PartialObjectMetadata` with the object's `metadata` (the default).
    #[default]
    Metadata,
    /// The whole object.
    Object,
}

/// Whether `accept` asks for a Table before anything else we can produce.
pub fn wants_table(accept: &str) -> bool {
    accept::negotiate(accept) == Ok(Representation::Table)
}

/// Builds a `Table` of `items` (list GET). `list_meta` is the list's `metadata`
/// (`resourceVersion`, `continue`, `remainingItemCount`); pass `Value::Null` for none.
pub fn to_table(
    kind: TableKind,
    items: &[Value],
    list_meta: Value,
    include_object: IncludeObject,
) -> Value {
    let rows: Vec<Value> = items.iter().map(|item| row(kind, item, include_object)).collect();
    json!({
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": table_metadata(&list_meta),
        "columnDefinitions": columns(kind),
        "rows": rows,
    })
}

/// Writes the JSON of the `Table` [`to_table`] would build, one row at a time: `items` yields
/// each object only when its row is written, so a list of thousands never holds all rows (or all
/// objects) as value trees at once.
pub fn write_table(
    out: &mut Vec<u8>,
    kind: TableKind,
    items: impl IntoIterator<Item = Value>,
    list_meta: &Value,
    include_object: IncludeObject,
) -> serde_json::Result<()> {
    out.extend_from_slice(br#"{"kind":"Table","apiVersion":"meta.k8s.io/v1","metadata":"#);
    serde_json::to_writer(&mut *out, &table_metadata(list_meta))?;
    out.extend_from_slice(br#","columnDefinitions":"#);
    serde_json::to_writer(&mut *out, &columns(kind))?;
    out.extend_from_slice(br#","rows":["#);
    for (i, item) in items.into_iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        serde_json::to_writer(&mut *out, &row(kind, &item, include_object))?;
    }
    out.extend_from_slice(b"]}");
    Ok(())
}

/// The list metadata a `Table` carries: resourceVersion, continue and remainingItemCount.
fn table_metadata(list_meta: &Value) -> Map<String, Value> {
    let mut metadata = Map::new();
    if let Value::Object(list_meta) = list_meta {
        for key in ["resourceVersion", "continue", "remainingItemCount"] {
            if let Some(value) = list_meta.get(key)
                && !value.is_null()
                && value != ""
            {
                metadata.insert(key.to_owned(), value.clone());
            }
        }
    }
    metadata
}

/// Builds a one-row `Table` for a single-object GET; the table's `resourceVersion` is the object's.
pub fn object_to_table(kind: TableKind, object: &Value, include_object: IncludeObject) -> Value {
    let resource_version =
        object.pointer("/metadata/resourceVersion").cloned().unwrap_or(Value::Null);
    to_table(
        kind,
        std::slice::from_ref(object),
        json!({"resourceVersion": resource_version}),
        include_object,
    )
}

/// The column definitions of `kind`, in order.
pub fn columns(kind: TableKind) -> Vec<Value> {
    let specs: &[(&str, &str, &str)] = match kind {
        TableKind::PackageRevisions => &[
            ("Name", "string", "Name of the package revision."),
            ("Package", "string", "Package path within the repository."),
            ("WorkspaceName", "string", "Workspace name of the package revision."),
            ("Revision", "integer", "Revision number; 0 while not published."),
            ("Latest", "boolean", "Whether this is the latest published revision of the package."),
            ("Lifecycle", "string", "Lifecycle: Draft, Proposed, Published or DeletionProposed."),
            ("Repository", "string", "Repository the package revision lives in."),
        ],
        TableKind::PackageRevisionResources => &[
            ("Name", "string", "Name of the package revision."),
            ("Package", "string", "Package path within the repository."),
            ("WorkspaceName", "string", "Workspace name of the package revision."),
            ("Revision", "integer", "Revision number; 0 while not published."),
            ("Repository", "string", "Repository the package revision lives in."),
            ("Files", "integer", "Number of files in the package."),
        ],
        TableKind::Packages => &[
            ("Name", "string", "Name of the package."),
            ("Package", "string", "Package path within the repository."),
            ("Repository", "string", "Repository the package lives in."),
            ("Latest Revision", "integer", "Highest published revision number."),
        ],
        TableKind::Repositories => &[
            ("Name", "string", "Name of the repository."),
            ("Type", "string", "Repository type: git or oci."),
            ("Content", "string", "Repository content type."),
            ("Deployment", "boolean", "Whether packages in this repository are deployment ready."),
            ("Ready", "string", "Status of the Ready condition."),
            ("Address", "string", "Git repository URL or OCI registry address."),
            ("Branch", "string", "The registered branch."),
            ("Sync Schedule", "string", "Cron schedule of the repository's syncs."),
            ("Age", "string", "Time since the repository was registered."),
        ],
        TableKind::Secrets => &[
            ("Name", "string", "Name of the secret."),
            ("Type", "string", "Type of the secret."),
            ("Data", "string", "Number of keys in the secret."),
            ("Age", "string", "Time since the secret was created."),
        ],
        TableKind::Roles => &[
            ("Name", "string", "Name must be unique within a namespace."),
            ("Created At", "date", "Time the role was created."),
        ],
        TableKind::RoleBindings => &[
            ("Name", "string", "Name must be unique within a namespace."),
            ("Role", "string", "The role referenced by the binding."),
            ("Age", "string", "Time since the binding was created."),
        ],
    };
    specs
        .iter()
        .enumerate()
        .map(|(idx, (name, column_type, description))| {
            // `format: name` marks the name column; kubectl prefixes it with the kind when
            // printing several resource types at once.
            json!({
                "name": name,
                "type": column_type,
                "format": if idx == 0 { "name" } else { "" },
                "description": description,
                "priority": 0,
            })
        })
        .collect()
}

/// The cells of one row, in column order.
pub fn cells(kind: TableKind, object: &Value) -> Vec<Value> {
    let name = string_at(object, "/metadata/name");
    match kind {
        TableKind::PackageRevisions => vec![
            name,
            string_at(object, "/spec/packageName"),
            string_at(object, "/spec/workspaceName"),
            int_at(object, "/spec/revision"),
            json!(
                object.pointer("/metadata/labels").and_then(|it| it.get(LATEST_REVISION_LABEL))
                    == Some(&json!("true"))
            ),
            string_at(object, "/spec/lifecycle"),
            string_at(object, "/spec/repository"),
        ],
        TableKind::PackageRevisionResources => vec![
            name,
            string_at(object, "/spec/packageName"),
            string_at(object, "/spec/workspaceName"),
            int_at(object, "/spec/revision"),
            string_at(object, "/spec/repository"),
            json!(object.pointer("/spec/resources").and_then(Value::as_object).map_or(0, Map::len)),
        ],
        TableKind::Packages => vec![
            name,
            string_at(object, "/spec/packageName"),
            string_at(object, "/spec/repository"),
            int_at(object, "/status/latestRevision"),
        ],
        // Like the CRD printer columns: a missing value is a `null` cell, which kubectl prints
        // as an empty cell.
        TableKind::Repositories => vec![
            name,
            object.pointer("/spec/type").cloned().unwrap_or(Value::Null),
            object.pointer("/spec/content").cloned().unwrap_or(Value::Null),
            object.pointer("/spec/deployment").cloned().unwrap_or(Value::Null),
            ready_status(object),
            object
                .pointer("/spec/git/repo")
                .or_else(|| object.pointer("/spec/oci/registry"))
                .cloned()
                .unwrap_or(Value::Null),
            string_at(object, "/spec/git/branch"),
            string_at(object, "/spec/sync/schedule"),
            json!(
                object
                    .pointer("/metadata/creationTimestamp")
                    .and_then(Value::as_str)
                    .map(age)
                    .unwrap_or_default()
            ),
        ],
        // Never a value: only the key count.
        TableKind::Secrets => vec![
            name,
            string_at(object, "/type"),
            json!(object.get("data").and_then(Value::as_object).map_or(0, Map::len).to_string()),
            json!(
                object
                    .pointer("/metadata/creationTimestamp")
                    .and_then(Value::as_str)
                    .map(age)
                    .unwrap_or_default()
            ),
        ],
        TableKind::Roles => vec![name, string_at(object, "/metadata/creationTimestamp")],
        TableKind::RoleBindings => vec![
            name,
            json!(format!(
                "{}/{}",
                object.pointer("/roleRef/kind").and_then(Value::as_str).unwrap_or(""),
                object.pointer("/roleRef/name").and_then(Value::as_str).unwrap_or("")
            )),
            json!(
                object
                    .pointer("/metadata/creationTimestamp")
                    .and_then(Value::as_str)
                    .map(age)
                    .unwrap_or_default()
            ),
        ],
    }
}

/// Unix seconds of `YYYY-MM-DDTHH:MM:SSZ` (what the server writes), `None` for anything else.
fn parse_utc(t: &str) -> Option<i64> {
    let b = t.as_bytes();
    if b.len() != 20 || b[4] != b'-' || b[7] != b'-' || b[10] != b'T' || b[19] != b'Z' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| t.get(r)?.parse::<i64>().ok();
    let (y, m, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hh, mm, ss) = (num(11..13)?, num(14..16)?, num(17..19)?);
    // Days from the civil date (Howard Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * ((m + 9) % 12) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days * 86400 + hh * 3600 + mm * 60 + ss)
}

/// kubectl's short duration since an RFC 3339 UTC timestamp (`5s`, `3m`, `2h`, `4d`).
fn age(timestamp: &str) -> String {
    let Some(then) = parse_utc(timestamp) else { return String::new() };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let secs = (now - then).max(0);
    match secs {
        s if s < 120 => format!("{s}s"),
        s if s < 7200 => format!("{}m", s / 60),
        s if s < 48 * 3600 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86400),
    }
}

/// `meta.k8s.io/v1` `PartialObjectMetadata` of `object`.
pub fn partial_object_metadata(object: &Value) -> Value {
    json!({
        "kind": "PartialObjectMetadata",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": object.get("metadata").cloned().unwrap_or_else(|| json!({})),
    })
}

/// `meta.k8s.io/v1` `PartialObjectMetadataList` of `items`; `list_meta` as in [`to_table`].
pub fn partial_object_metadata_list(items: &[Value], list_meta: Value) -> Value {
    let items: Vec<Value> = items.iter().map(partial_object_metadata).collect();
    json!({
        "kind": "PartialObjectMetadataList",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": if list_meta.is_object() { list_meta } else { json!({}) },
        "items": items,
    })
}

impl TableKind {
    /// The layout for a plural resource name (`packagerevisions`, ...).
    pub fn for_resource(resource: &str) -> Option<TableKind> {
        match resource {
            "packagerevisions" => Some(TableKind::PackageRevisions),
            "packagerevisionresources" => Some(TableKind::PackageRevisionResources),
            "packages" => Some(TableKind::Packages),
            "repositories" => Some(TableKind::Repositories),
            "secrets" => Some(TableKind::Secrets),
            "roles" | "clusterroles" => Some(TableKind::Roles),
            "rolebindings" | "clusterrolebindings" => Some(TableKind::RoleBindings),
            _ => None,
        }
    }
}

impl IncludeObject {
    /// Parses the `includeObject` query parameter (`None`, `Metadata`, `Object`). An unknown value
    /// is a `400 BadRequest` in the apiserver.
    pub fn parse(value: &str) -> Option<IncludeObject> {
        match value {
            "None" => Some(IncludeObject::None),
            "Metadata" => Some(IncludeObject::Metadata),
            "Object" => Some(IncludeObject::Object),
            _ => None,
        }
    }
}

fn row(kind: TableKind, object: &Value, include_object: IncludeObject) -> Value {
    let mut res = json!({"cells": cells(kind, object)});
    match include_object {
        IncludeObject::None => {}
        IncludeObject::Metadata => res["object"] = partial_object_metadata(object),
        IncludeObject::Object => res["object"] = object.clone(),
    }
    res
}

fn string_at(object: &Value, pointer: &str) -> Value {
    json!(object.pointer(pointer).and_then(Value::as_str).unwrap_or(""))
}

fn int_at(object: &Value, pointer: &str) -> Value {
    json!(object.pointer(pointer).and_then(Value::as_i64).unwrap_or(0))
}

fn ready_status(object: &Value) -> Value {
    object
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .and_then(|conditions| {
            conditions.iter().find(|it| it.get("type").and_then(Value::as_str) == Some("Ready"))
        })
        .and_then(|it| it.get("status").cloned())
        .unwrap_or(Value::Null)
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod age_tests {
    #[test]
    fn parses_server_timestamps() {
        assert_eq!(super::parse_utc("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(super::parse_utc("2026-11-26T12:00:00Z"), Some(1_795_694_400));
        assert_eq!(super::parse_utc("2000-02-29T00:00:00Z"), Some(951_782_400));
        assert_eq!(super::parse_utc("garbage"), None);
        assert_eq!(super::age("garbage"), "");
    }
}
