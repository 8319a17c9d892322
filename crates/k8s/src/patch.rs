//! PATCH bodies: JSON patch (RFC 6902), JSON merge patch (RFC 7396), strategic merge patch and
//! server-side apply, chosen by the request `Content-Type`.
//!
//! Design choices, because none of our types is a built-in Kubernetes type:
//!
//! - **Strategic merge patch is applied as a merge patch.** Our lists (`spec.tasks`,
//!   `spec.readinessGates`, `status.conditions`, `metadata.finalizers`, ...) are atomic: a list in
//!   the patch replaces the whole list. kubectl itself never sends a strategic merge patch for our
//!   kinds: `apply`, `label`, `annotate` and `edit` compute JSON merge patches for kinds that are
//!   not compiled into kubectl, and the OpenAPI document does not advertise
//!   `application/strategic-merge-patch+json`. Only an explicit `kubectl patch` (whose default
//!   `--type` is `strategic`) sends one; its `$patch`, `$retainKeys`, `$setElementOrder/...` and
//!   `$deleteFromPrimitiveList/...` directives are rejected rather than stored as fields.
//! - **Server-side apply merges the applied configuration onto the current object** (objects
//!   merged key by key, lists and scalars replaced, `null` removes). There is no field ownership:
//!   fields a manager applied earlier and omits now are kept, not removed, and there are no apply
//!   conflicts. The body is YAML or JSON and must carry `apiVersion` and `kind`.
//!
//! Errors keep the apiserver's split: a body that cannot be decoded is `400 BadRequest`, a valid
//! patch that does not apply to the object (a failed `test` op, a missing path) is
//! `422 Invalid`.

use serde_json::Value;

use crate::status;

/// The patch format, from the request `Content-Type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchType {
    /// `application/json-patch+json`
    Json,
    /// `application/merge-patch+json`
    Merge,
    /// `application/strategic-merge-patch+json`
    StrategicMerge,
    /// `application/apply-patch+yaml` (server-side apply)
    Apply,
}

/// Why a patch failed.
#[derive(Debug, thiserror::Error)]
pub enum PatchError {
    /// The body is not a patch of the declared type (`400 BadRequest`).
    #[error("{message}")]
    Malformed { message: String },
    /// The patch is well formed but cannot be applied to the object (`422 Invalid`).
    #[error("{message}")]
    CannotApply { message: String },
}

/// Every supported patch `Content-Type`, for `415 UnsupportedMediaType` messages.
pub const CONTENT_TYPES: &[&str] = &[
    "application/json-patch+json",
    "application/merge-patch+json",
    "application/apply-patch+yaml",
    "application/strategic-merge-patch+json",
];

/// Applies `body` of type `kind` to `current` and returns the patched object. `current` is not
/// modified; for server-side apply of an object that does not exist yet pass `{}`.
pub fn apply_patch(kind: PatchType, current: &Value, body: &[u8]) -> Result<Value, PatchError> {
    match kind {
        PatchType::Json => json_patch(current, body),
        PatchType::Merge => {
            let patch = parse_json_object(body, "merge patch")?;
            merge(current, &patch)
        }
        PatchType::StrategicMerge => {
            let patch = parse_json_object(body, "strategic merge patch")?;
            if let Some(directive) = find_directive(&patch) {
                return Err(PatchError::Malformed {
                    message: format!(
                        "strategic merge patch directive {directive:?} is not supported for this resource; use a JSON merge patch"
                    ),
                });
            }
            merge(current, &patch)
        }
        PatchType::Apply => {
            let intent = parse_apply(body)?;
            for key in ["apiVersion", "kind"] {
                let value = intent.get(key).and_then(Value::as_str).unwrap_or("");
                if value.is_empty() {
                    return Err(PatchError::Malformed {
                        message: format!(
                            "invalid object: {key} must be set in an apply configuration"
                        ),
                    });
                }
                let existing = current.get(key).and_then(Value::as_str).unwrap_or("");
                if !existing.is_empty() && existing != value {
                    return Err(PatchError::Malformed {
                        message: format!(
                            "{key} of the apply configuration ({value:?}) does not match the object ({existing:?})"
                        ),
                    });
                }
            }
            merge(current, &intent)
        }
    }
}

impl PatchType {
    /// Parses a `Content-Type` header (parameters such as `charset` are ignored); `None` means
    /// `415 UnsupportedMediaType`.
    pub fn from_content_type(content_type: &str) -> Option<PatchType> {
        let media_type = content_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
        match media_type.as_str() {
            "application/json-patch+json" => Some(PatchType::Json),
            "application/merge-patch+json" => Some(PatchType::Merge),
            "application/strategic-merge-patch+json" => Some(PatchType::StrategicMerge),
            "application/apply-patch+yaml" => Some(PatchType::Apply),
            _ => None,
        }
    }

    /// The `Content-Type` a client sends for this patch type.
    pub fn content_type(self) -> &'static str {
        match self {
            PatchType::Json => "application/json-patch+json",
            PatchType::Merge => "application/merge-patch+json",
            PatchType::StrategicMerge => "application/strategic-merge-patch+json",
            PatchType::Apply => "application/apply-patch+yaml",
        }
    }
}

impl PatchError {
    /// The HTTP status code: 400 or 422.
    pub fn code(&self) -> u16 {
        match self {
            PatchError::Malformed { .. } => 400,
            PatchError::CannotApply { .. } => 422,
        }
    }

    /// The `Status` body the apiserver would answer with.
    pub fn to_status(&self) -> Value {
        match self {
            PatchError::Malformed { message } => status::bad_request(message),
            PatchError::CannotApply { message } => status::unprocessable(message),
        }
    }
}

/// Most operations a JSON patch may carry.
pub const MAX_JSON_PATCH_OPERATIONS: usize = 10_000;

/// Applies the operations one at a time so that a chain of growing `copy`/`add` operations stops
/// as soon as the object would serialize to more than [`crate::yaml::MAX_OBJECT_BYTES`].
fn json_patch(current: &Value, body: &[u8]) -> Result<Value, PatchError> {
    let operations: json_patch::Patch = serde_json::from_slice(body)
        .map_err(|err| PatchError::Malformed { message: format!("invalid JSON patch: {err}") })?;
    if operations.0.len() > MAX_JSON_PATCH_OPERATIONS {
        return Err(PatchError::Malformed {
            message: format!(
                "invalid JSON patch: {} operations exceed the limit of {MAX_JSON_PATCH_OPERATIONS}",
                operations.0.len()
            ),
        });
    }
    let limit = crate::yaml::MAX_OBJECT_BYTES;
    let mut res = current.clone();
    // An upper bound of the serialized size: exact after a measurement, plus what was added since.
    let mut estimate = json_size(&res, usize::MAX);
    for op in &operations.0 {
        let growth = match op {
            json_patch::PatchOperation::Add(add) => json_size(&add.value, limit + 1),
            json_patch::PatchOperation::Replace(replace) => json_size(&replace.value, limit + 1),
            json_patch::PatchOperation::Copy(copy) => res
                .pointer(copy.from.as_str())
                .map_or(0, |value| json_size(value, limit + 1) + copy.path.as_str().len()),
            _ => 0,
        };
        let placed = match op {
            json_patch::PatchOperation::Add(add) => Some((&add.path, json_height(&add.value))),
            json_patch::PatchOperation::Replace(replace) => {
                Some((&replace.path, json_height(&replace.value)))
            }
            json_patch::PatchOperation::Copy(json_patch::CopyOperation { from, path })
            | json_patch::PatchOperation::Move(json_patch::MoveOperation { from, path }) => {
                res.pointer(from.as_str()).map(|value| (path, json_height(value)))
            }
            _ => None,
        };
        if let Some((path, height)) = placed
            && path.count() + height > MAX_JSON_DEPTH
        {
            return Err(PatchError::CannotApply {
                message: format!(
                    "the patched object would nest deeper than the limit of {MAX_JSON_DEPTH}"
                ),
            });
        }
        estimate = estimate.saturating_add(growth);
        if estimate > limit {
            estimate = json_size(&res, limit + 1).saturating_add(growth);
            if estimate > limit {
                return Err(too_large(limit));
            }
        }
        json_patch::patch(&mut res, std::slice::from_ref(op))
            .map_err(|err| PatchError::CannotApply { message: err.to_string() })?;
    }
    if json_size(&res, limit + 1) > limit {
        return Err(too_large(limit));
    }
    Ok(res)
}

/// Deepest nesting a JSON patch may build (serde_json's own recursion limit for bodies).
pub const MAX_JSON_DEPTH: usize = 128;

/// Nesting height of a JSON value (a scalar is 0), computed without recursion.
fn json_height(value: &Value) -> usize {
    let mut max = 0;
    let mut stack = vec![(value, 0usize)];
    while let Some((value, depth)) = stack.pop() {
        max = max.max(depth);
        match value {
            Value::Array(items) => stack.extend(items.iter().map(|v| (v, depth + 1))),
            Value::Object(map) => stack.extend(map.values().map(|v| (v, depth + 1))),
            _ => {}
        }
    }
    max
}

fn too_large(limit: usize) -> PatchError {
    PatchError::CannotApply {
        message: format!("the patched object is larger than the limit of {limit} bytes"),
    }
}

/// The length of `value` serialized as JSON, counted up to `cap` (a larger value gives `cap`).
fn json_size(value: &Value, cap: usize) -> usize {
    struct Counter {
        count: usize,
        cap: usize,
    }
    impl std::io::Write for Counter {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.count = self.count.saturating_add(buf.len());
            if self.count >= self.cap {
                return Err(std::io::Error::other("cap reached"));
            }
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut counter = Counter { count: 0, cap };
    let _ = serde_json::to_writer(&mut counter, value);
    counter.count.min(cap)
}

fn parse_json_object(body: &[u8], what: &str) -> Result<Value, PatchError> {
    let patch: Value = serde_json::from_slice(body)
        .map_err(|err| PatchError::Malformed { message: format!("invalid {what}: {err}") })?;
    if !patch.is_object() {
        return Err(PatchError::Malformed {
            message: format!("invalid {what}: the body must be a JSON object"),
        });
    }
    Ok(patch)
}

fn parse_apply(body: &[u8]) -> Result<Value, PatchError> {
    let intent: Value = crate::yaml::from_slice(body)
        .map_err(|err| PatchError::Malformed { message: format!("error decoding YAML: {err}") })?;
    if !intent.is_object() {
        return Err(PatchError::Malformed {
            message: "invalid object: an apply configuration must be a mapping".to_owned(),
        });
    }
    Ok(intent)
}

/// RFC 7396 on a copy of `current`.
fn merge(current: &Value, patch: &Value) -> Result<Value, PatchError> {
    let mut res = current.clone();
    json_patch::merge(&mut res, patch);
    let limit = crate::yaml::MAX_OBJECT_BYTES;
    if json_size(&res, limit + 1) > limit {
        return Err(too_large(limit));
    }
    Ok(res)
}

/// The first strategic merge patch directive key in `patch`, depth first.
fn find_directive(patch: &Value) -> Option<String> {
    match patch {
        Value::Object(map) => map.iter().find_map(|(key, value)| {
            if key.starts_with('$') { Some(key.clone()) } else { find_directive(value) }
        }),
        Value::Array(items) => items.iter().find_map(find_directive),
        _ => None,
    }
}

#[cfg(test)]
mod tests;
