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

impl Selectors {
    /// Parses `fieldSelector` and `labelSelector` of a request; unknown fields are a 400.
    pub(crate) fn parse(req: &Request) -> Result<Selectors, ApiError> {
        let allowed = match req.resource {
            Resource::PackageRevisions | Resource::PackageRevisionResources => REVISION_FIELDS,
            Resource::Packages => PACKAGE_FIELDS,
            Resource::Repositories => REPOSITORY_FIELDS,
            Resource::Secrets => SECRET_FIELDS,
        };
        let fields = match req.query.get("fieldSelector").map(String::as_str) {
            None | Some("") => Vec::new(),
            Some(s) => selector::parse_field_selector(s)
                .map_err(|e| ApiError::bad_request(e.to_string()))?,
        };
        let mut filter = RevisionFilter::default();
        for requirement in &fields {
            let field = requirement.field.as_str();
            if !allowed.contains(&field) {
                return Err(ApiError::bad_request(format!(
                    "unknown fieldSelector field {field:?}"
                )));
            }
            if requirement.value.is_empty() {
                return Err(ApiError::bad_request(format!(
                    "empty value for fieldSelector field {field:?}"
                )));
            }
            if field == "spec.lifecycle"
                && Lifecycle::parse(&requirement.value).is_none_or(|_| requirement.value.is_empty())
            {
                return Err(ApiError::bad_request(format!(
                    "unsupported fieldSelector value {:?} for field \"spec.lifecycle\"",
                    requirement.value
                )));
            }
            if requirement.op != FieldOp::Eq {
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
                _ => {}
            }
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
        Ok(Selectors { fields, labels, revision_filter: filter })
    }

    /// Whether the engine's typed filter already covers every field requirement, so that only
    /// labels remain to be checked ([`Selectors::matches_labels`]).
    pub(crate) fn typed(&self) -> bool {
        self.fields.iter().all(|r| r.op == FieldOp::Eq && r.field != "metadata.namespace")
    }

    /// Whether labels pass the label selector.
    pub(crate) fn matches_labels(&self, labels: &BTreeMap<String, String>) -> bool {
        self.labels.as_ref().is_none_or(|selector| selector.matches(labels))
    }

    /// Whether an object (as served) passes every selector.
    pub(crate) fn matches(&self, object: &Value) -> bool {
        self.fields.iter().all(|r| field_matches(r, object))
            && self.labels.as_ref().is_none_or(|selector| selector.matches(&labels(object)))
    }
}

fn field_matches(requirement: &FieldRequirement, object: &Value) -> bool {
    let pointer = format!("/{}", requirement.field.replace('.', "/"));
    let actual = object.pointer(&pointer);
    let equal = if requirement.field == "spec.revision" {
        let wanted = names::revision_to_int(&requirement.value);
        // Porch: revision 0 selects everything (drafts have no revision field).
        wanted == 0 || actual.and_then(Value::as_i64).unwrap_or(0) == wanted
    } else {
        match actual {
            Some(Value::String(s)) => *s == requirement.value,
            Some(Value::Number(n)) => n.to_string() == requirement.value,
            Some(Value::Bool(b)) => b.to_string() == requirement.value,
            _ => requirement.value.is_empty(),
        }
    };
    match requirement.op {
        FieldOp::Eq => equal,
        FieldOp::NotEq => !equal,
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
