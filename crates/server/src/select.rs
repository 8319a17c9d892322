//! Field and label selectors of list and watch requests.
//!
//! Field selectors are checked against each resource's selectable fields (Porch's set, plus `!=`);
//! the ones the engine can use to narrow its work (`spec.repository`, `metadata.name`, ...) are
//! also pushed down as a [`RevisionFilter`].

use std::collections::BTreeMap;

use serde_json::Value;
use veranda_api::{Lifecycle, names};
use veranda_engine::RevisionFilter;
use veranda_k8s::selector::{self, FieldOp, FieldRequirement, LabelSelector};

use crate::{
    error::ApiError,
    request::{Request, Resource},
};

/// The parsed selectors of a request.
pub(crate) struct Selectors {
    fields: Vec<FieldRequirement>,
    labels: Option<LabelSelector>,
    /// Equality requirements the engine applies while listing.
    pub(crate) revision_filter: RevisionFilter,
    /// Whether `revision_filter` covers every field requirement.
    typed: bool,
}

const REVISION_FIELDS: &[&str] = &[
    "metadata.name",
    "metadata.namespace",
    "spec.revision",
    "spec.packageName",
    "spec.repository",
    "spec.workspaceName",
    "spec.lifecycle",
];
const PACKAGE_FIELDS: &[&str] =
    &["metadata.name", "metadata.namespace", "spec.packageName", "spec.repository"];
const REPOSITORY_FIELDS: &[&str] = &["metadata.name", "metadata.namespace"];
const SECRET_FIELDS: &[&str] = &["metadata.name", "metadata.namespace", "type"];

/// The prefix and suffix of a selector on a Kptfile label of the revision (Porch's extension).
const KPTFILE_LABEL: (&str, &str) = ("spec.packageMetadata.labels[", "]");

/// The key of a `spec.packageMetadata.labels[KEY]` field, if `field` is one.
fn kptfile_label(field: &str) -> Option<&str> {
    field.strip_prefix(KPTFILE_LABEL.0)?.strip_suffix(KPTFILE_LABEL.1)
}

impl Selectors {
    /// Parses `fieldSelector` and `labelSelector` of a request; unknown fields are a 400.
    ///
    /// As in Porch, requirements on different fields must all hold and several values for one
    /// field are alternatives (`spec.lifecycle=Draft,spec.lifecycle=Proposed`; Porch does this
    /// for `spec.lifecycle` and keeps the last value for other fields); `!=` is our extension
    /// (docs/selectors.md): every `!=` must hold.
    pub(crate) fn parse(req: &Request) -> Result<Selectors, ApiError> {
        let allowed = match req.resource {
            Resource::PackageRevisions | Resource::PackageRevisionResources => REVISION_FIELDS,
            Resource::Packages => PACKAGE_FIELDS,
            Resource::Repositories | Resource::Rbac(_) | Resource::Review(_) => REPOSITORY_FIELDS,
            Resource::Secrets => SECRET_FIELDS,
        };
        let revisions =
            matches!(req.resource, Resource::PackageRevisions | Resource::PackageRevisionResources);
        let fields = match req.query.get("fieldSelector").map(String::as_str) {
            None | Some("") => Vec::new(),
            Some(s) => selector::parse_field_selector(s)
                .map_err(|e| ApiError::bad_request(e.to_string()))?,
        };
        for requirement in &fields {
            validate(requirement, allowed, revisions)?;
        }
        if let (Some(ns), Some(requirement)) = (
            &req.namespace,
            fields.iter().find(|r| r.field == "metadata.namespace" && r.op == FieldOp::Eq),
        ) && requirement.value != *ns
        {
            return Err(ApiError::bad_request(format!(
                "conflicting namespaces specified: {:?} and {ns:?}",
                requirement.value
            )));
        }
        let labels = match req.query.get("labelSelector").map(String::as_str) {
            None | Some("") => None,
            Some(s) => {
                Some(LabelSelector::parse(s).map_err(|e| ApiError::bad_request(e.to_string()))?)
            }
        };
        let (revision_filter, typed) = push_down(&fields);
        Ok(Selectors { fields, labels, revision_filter, typed })
    }

    /// Whether the engine's typed filter already covers every field requirement, so that only
    /// labels remain to be checked ([`Selectors::matches_labels`]).
    pub(crate) fn typed(&self) -> bool {
        self.typed
    }

    /// Whether labels pass the label selector.
    pub(crate) fn matches_labels(&self, labels: &BTreeMap<String, String>) -> bool {
        self.labels.as_ref().is_none_or(|selector| selector.matches(labels))
    }

    /// Whether an object (as served) passes every selector.
    pub(crate) fn matches(&self, object: &Value) -> bool {
        fields_match(&self.fields, object)
            && self.labels.as_ref().is_none_or(|selector| selector.matches(&labels(object)))
    }
}

/// Checks one requirement against the fields a resource allows, with Porch's messages.
fn validate(
    requirement: &FieldRequirement,
    allowed: &[&str],
    revisions: bool,
) -> Result<(), ApiError> {
    let field = requirement.field.as_str();
    let label = revisions.then(|| kptfile_label(field)).flatten();
    if label == Some("") {
        return Err(ApiError::bad_request(format!(
            "label key cannot be empty in field selector {field:?}"
        )));
    }
    if label.is_none() && !allowed.contains(&field) {
        return Err(ApiError::bad_request(format!("unknown fieldSelector field {field:?}")));
    }
    if requirement.value.is_empty() {
        let op = match requirement.op {
            FieldOp::Eq => "=",
            FieldOp::NotEq => "!=",
        };
        return Err(ApiError::bad_request(format!(
            "unsupported fieldSelector value \"\" for field {field:?} with operator {op:?}"
        )));
    }
    if field == "spec.lifecycle" && Lifecycle::parse(&requirement.value).is_none() {
        return Err(ApiError::bad_request(format!(
            "unsupported fieldSelector value {:?} for field \"spec.lifecycle\"",
            requirement.value
        )));
    }
    Ok(())
}

/// The engine's filter for the requirements it can apply itself (a field with exactly one `=`
/// value), and whether that covers all of them.
fn push_down(fields: &[FieldRequirement]) -> (RevisionFilter, bool) {
    let mut filter = RevisionFilter::default();
    let mut typed = true;
    for requirement in fields {
        let field = requirement.field.as_str();
        let alternatives =
            fields.iter().filter(|r| r.field == field && r.op == FieldOp::Eq).count();
        if requirement.op != FieldOp::Eq || alternatives > 1 {
            typed = false;
            continue;
        }
        let value = requirement.value.clone();
        match field {
            "metadata.name" => filter.name = Some(value),
            "spec.repository" => filter.repository = Some(value),
            "spec.packageName" => filter.package = Some(value),
            "spec.workspaceName" => filter.workspace = Some(value),
            "spec.revision" => filter.revision = Some(names::revision_to_int(&value)),
            "spec.lifecycle" => filter.lifecycle = Lifecycle::parse(&value),
            _ => typed = false,
        }
    }
    (filter, typed)
}

/// Whether `object` passes `requirements`: for every field, one of its `=` values, and none of
/// the `!=` values.
fn fields_match(requirements: &[FieldRequirement], object: &Value) -> bool {
    let mut fields: BTreeMap<&str, bool> = BTreeMap::new();
    for requirement in requirements {
        let equal = field_equals(&requirement.field, &requirement.value, object);
        match requirement.op {
            FieldOp::Eq => *fields.entry(requirement.field.as_str()).or_insert(false) |= equal,
            FieldOp::NotEq if equal => return false,
            FieldOp::NotEq => {}
        }
    }
    fields.values().all(|matched| *matched)
}

fn field_equals(field: &str, wanted: &str, object: &Value) -> bool {
    if let Some(key) = kptfile_label(field) {
        let labels = object.pointer("/spec/packageMetadata/labels");
        return labels.and_then(|l| l.get(key)).and_then(Value::as_str) == Some(wanted);
    }
    let pointer = format!("/{}", field.replace('.', "/"));
    let actual = object.pointer(&pointer);
    match field {
        "spec.revision" => {
            let wanted = names::revision_to_int(wanted);
            // Porch: revision 0 selects everything (drafts have no revision field).
            wanted == 0 || actual.and_then(Value::as_i64).unwrap_or(0) == wanted
        }
        "spec.packageName" => actual
            .and_then(Value::as_str)
            .is_some_and(|name| names::package_name_matches(wanted, name)),
        _ => match actual {
            Some(Value::String(s)) => s == wanted,
            Some(Value::Number(n)) => n.to_string() == wanted,
            Some(Value::Bool(b)) => b.to_string() == wanted,
            _ => wanted.is_empty(),
        },
    }
}

fn labels(object: &Value) -> BTreeMap<String, String> {
    object
        .pointer("/metadata/labels")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter().filter_map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_string()))).collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests;
