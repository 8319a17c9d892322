//! Strict field validation: the fields of a request body that the schema does not declare.
//!
//! This is what the kube-apiserver's strict decoding reports (`sigs.k8s.io/json`): with
//! `fieldValidation=Strict` (kubectl's default) the request fails with
//! [`crate::status::strict_decoding_error`]; with `Warn` (the default when the parameter is
//! absent) it succeeds with one [`crate::status::unknown_field_warning`] header per field and the
//! fields dropped; with `Ignore` they are dropped silently. Paths are printed the same way:
//! `spec.foo`, `spec.tasks[0].bar`, `metadata.ownerReferences[1].x`. Free-form content (objects
//! without declared properties, `x-kubernetes-preserve-unknown-fields`) is not inspected.

use std::collections::BTreeMap;

use serde_json::Value;

use super::schemas::{self, REF_PREFIX};
use crate::resources;

/// The undeclared fields of `object`, a `kind` (or list kind) of `api_version`, sorted. `None` if
/// the kind is not served (the caller answers 404 or 400 before decoding).
pub fn unknown_fields(api_version: &str, kind: &str, object: &Value) -> Option<Vec<String>> {
    let resource = resources::find_by_kind(api_version, kind)?;
    let all = all_schemas();
    let root = all.get(&schemas::kind_schema_name(resource, kind))?;
    let mut res = Vec::new();
    walk(all, root, object, "", &mut res);
    res.sort();
    Some(res)
}

fn all_schemas() -> &'static BTreeMap<String, Value> {
    static SCHEMAS: std::sync::OnceLock<BTreeMap<String, Value>> = std::sync::OnceLock::new();
    SCHEMAS.get_or_init(schemas::all)
}

fn walk(
    all: &BTreeMap<String, Value>,
    schema: &Value,
    value: &Value,
    path: &str,
    out: &mut Vec<String>,
) {
    let schema = resolve(all, schema);
    if schema.get("x-kubernetes-preserve-unknown-fields") == Some(&Value::Bool(true)) {
        return;
    }
    match value {
        Value::Object(map) => {
            let properties = schema.get("properties").and_then(Value::as_object);
            let additional = schema.get("additionalProperties").filter(|it| it.is_object());
            if properties.is_none() && additional.is_none() {
                return;
            }
            for (key, child) in map {
                let child_path =
                    if path.is_empty() { key.clone() } else { format!("{path}.{key}") };
                match properties.and_then(|it| it.get(key)).or(additional) {
                    Some(child_schema) => walk(all, child_schema, child, &child_path, out),
                    None => out.push(child_path),
                }
            }
        }
        Value::Array(items) => {
            if let Some(item_schema) = schema.get("items") {
                for (idx, item) in items.iter().enumerate() {
                    walk(all, item_schema, item, &format!("{path}[{idx}]"), out);
                }
            }
        }
        _ => {}
    }
}

/// Follows `$ref` and single-element `allOf` wrappers to the schema that declares the type.
fn resolve<'a>(all: &'a BTreeMap<String, Value>, schema: &'a Value) -> &'a Value {
    let mut current = schema;
    for _ in 0..32 {
        if let Some(target) = current.get("$ref").and_then(Value::as_str) {
            match target.strip_prefix(REF_PREFIX).and_then(|name| all.get(name)) {
                Some(next) => current = next,
                None => return current,
            }
        } else if let Some([only]) =
            current.get("allOf").and_then(Value::as_array).map(Vec::as_slice)
        {
            current = only;
        } else {
            return current;
        }
    }
    current
}
