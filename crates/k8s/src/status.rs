//! Kubernetes `Status` error bodies, formatted exactly like the kube-apiserver's
//! (`k8s.io/apimachinery/pkg/api/errors`), because clients branch on `reason`/`code` and users (and
//! the Porch e2e tests) read `message`.
//!
//! [`status`] builds any `Status`; the other constructors mirror the Go `errors.NewXxx` functions
//! and take the same arguments. Field validation errors are [`FieldError`]s, the equivalent of
//! `field.Error`, turned into a `422 Invalid` by [`invalid`].

use std::fmt;

use serde_json::{Map, Value, json};

use crate::{
    quote::go_quote,
    resources::{GroupKind, GroupResource},
};

/// `reason` values of `metav1.StatusReason` used by the constructors below.
pub mod reason {
    /// 400: the request is malformed.
    pub const BAD_REQUEST: &str = "BadRequest";
    /// 401: no valid credentials.
    pub const UNAUTHORIZED: &str = "Unauthorized";
    /// 403: the request is understood but not allowed.
    pub const FORBIDDEN: &str = "Forbidden";
    /// 404: the object does not exist.
    pub const NOT_FOUND: &str = "NotFound";
    /// 405: the resource does not support the verb.
    pub const METHOD_NOT_ALLOWED: &str = "MethodNotAllowed";
    /// 406: no representation the `Accept` header allows.
    pub const NOT_ACCEPTABLE: &str = "NotAcceptable";
    /// 409: the write conflicts with the current state (e.g. a stale resourceVersion).
    pub const CONFLICT: &str = "Conflict";
    /// 409: an object of that name exists already.
    pub const ALREADY_EXISTS: &str = "AlreadyExists";
    /// 410: the resource version or `continue` token has expired.
    pub const GONE: &str = "Gone";
    /// 422: the object fails validation; `details.causes` names the fields.
    pub const INVALID: &str = "Invalid";
    /// 413: the request body is too large.
    pub const REQUEST_ENTITY_TOO_LARGE: &str = "RequestEntityTooLarge";
    /// 415: the request body's `Content-Type` is not supported.
    pub const UNSUPPORTED_MEDIA_TYPE: &str = "UnsupportedMediaType";
    /// 429: the server is busy; retry later.
    pub const TOO_MANY_REQUESTS: &str = "TooManyRequests";
    /// 500: the server failed.
    pub const INTERNAL_ERROR: &str = "InternalError";
    /// 503: the server cannot handle the request now.
    pub const SERVICE_UNAVAILABLE: &str = "ServiceUnavailable";
    /// 504: the request did not finish in time.
    pub const TIMEOUT: &str = "Timeout";
}

/// One field validation error, the equivalent of Go's `field.Error`.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldError {
    pub error_type: FieldErrorType,
    /// Field path as the apiserver prints it: `spec.lifecycle`, `metadata.labels[kpt.dev/x]`,
    /// `spec.tasks[0].type`.
    pub field: String,
    /// The offending value. `None` prints no value (Go's `omitValue`).
    pub bad_value: Option<Value>,
    pub detail: String,
}

/// `field.ErrorType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldErrorType {
    NotFound,
    Required,
    Duplicate,
    Invalid,
    NotSupported,
    Forbidden,
    TooLong,
    TooMany,
    Internal,
    TypeInvalid,
}

/// Any `Status`: `{kind: Status, apiVersion: v1, metadata: {}, status: Failure, message, reason,
/// details, code}`. `reason` may be empty (the apiserver's `StatusReasonUnknown`).
pub fn status(code: u16, reason: &str, message: &str, details: Option<Value>) -> Value {
    let mut res = Map::new();
    res.insert("kind".into(), json!("Status"));
    res.insert("apiVersion".into(), json!("v1"));
    res.insert("metadata".into(), json!({}));
    res.insert("status".into(), json!(if code < 400 { "Success" } else { "Failure" }));
    if !message.is_empty() {
        res.insert("message".into(), json!(message));
    }
    if !reason.is_empty() {
        res.insert("reason".into(), json!(reason));
    }
    if let Some(details) = details {
        res.insert("details".into(), details);
    }
    res.insert("code".into(), json!(code));
    Value::Object(res)
}

/// The `Status` returned by a successful DELETE of a resource that does not return the object:
/// `{status: Success, details: {name, group, kind, uid}}`.
pub fn success(resource: GroupResource<'_>, name: &str, uid: &str) -> Value {
    let mut details = details(resource.group, resource.resource, name);
    if !uid.is_empty() {
        details["uid"] = json!(uid);
    }
    status(200, "", "", Some(details))
}

/// `400 BadRequest` with `message` as is (Go `NewBadRequest`).
pub fn bad_request(message: &str) -> Value {
    status(400, reason::BAD_REQUEST, message, None)
}

/// `401 Unauthorized` (Go `NewUnauthorized`); an empty message becomes "Unauthorized" like the
/// apiserver's authentication filter.
pub fn unauthorized(message: &str) -> Value {
    status(
        401,
        reason::UNAUTHORIZED,
        if message.is_empty() { "Unauthorized" } else { message },
        None,
    )
}

/// `403 Forbidden`: `packagerevisions.porch.kpt.dev "x" is forbidden: <message>`.
pub fn forbidden(resource: GroupResource<'_>, name: &str, message: &str) -> Value {
    let text = if name.is_empty() {
        format!("{resource} is forbidden: {message}")
    } else {
        format!("{resource} {} is forbidden: {message}", go_quote(name))
    };
    status(403, reason::FORBIDDEN, &text, Some(details(resource.group, resource.resource, name)))
}

/// `404 NotFound`: `packagerevisions.porch.kpt.dev "x" not found`.
pub fn not_found(resource: GroupResource<'_>, name: &str) -> Value {
    let text = format!("{resource} {} not found", go_quote(name));
    status(404, reason::NOT_FOUND, &text, Some(details(resource.group, resource.resource, name)))
}

/// `404 NotFound` for a URL that names no resource at all (the apiserver's catch-all handler).
pub fn path_not_found() -> Value {
    status(
        404,
        reason::NOT_FOUND,
        "the server could not find the requested resource",
        Some(json!({})),
    )
}

/// `405 MethodNotAllowed`: `<action> is not supported on resources of kind "packages.porch.kpt.dev"`
/// (Go `NewMethodNotSupported`; Porch passes whole sentences as `action`).
pub fn method_not_supported(resource: GroupResource<'_>, action: &str) -> Value {
    let text = format!(
        "{action} is not supported on resources of kind {}",
        go_quote(&resource.to_string())
    );
    status(
        405,
        reason::METHOD_NOT_ALLOWED,
        &text,
        Some(details(resource.group, resource.resource, "")),
    )
}

/// `406 NotAcceptable` for an `Accept` header nothing matches.
pub fn not_acceptable() -> Value {
    status(
        406,
        reason::NOT_ACCEPTABLE,
        "only the following media types are accepted: application/json",
        None,
    )
}

/// `409 AlreadyExists`: `packagerevisions.porch.kpt.dev "x" already exists`.
pub fn already_exists(resource: GroupResource<'_>, name: &str) -> Value {
    let text = format!("{resource} {} already exists", go_quote(name));
    status(
        409,
        reason::ALREADY_EXISTS,
        &text,
        Some(details(resource.group, resource.resource, name)),
    )
}

/// `409 Conflict`: `Operation cannot be fulfilled on packagerevisions.porch.kpt.dev "x": <message>`.
pub fn conflict(resource: GroupResource<'_>, name: &str, message: &str) -> Value {
    let text = format!("Operation cannot be fulfilled on {resource} {}: {message}", go_quote(name));
    status(409, reason::CONFLICT, &text, Some(details(resource.group, resource.resource, name)))
}

/// `409 Conflict` with a free message (Porch's "another request is already in progress ...").
pub fn conflict_message(message: &str) -> Value {
    status(409, reason::CONFLICT, message, None)
}

/// `410 Gone` with `message` as is.
pub fn gone(message: &str) -> Value {
    status(410, reason::GONE, message, None)
}

/// `413 RequestEntityTooLarge`: `Request entity too large: <message>`.
pub fn request_entity_too_large(message: &str) -> Value {
    status(
        413,
        reason::REQUEST_ENTITY_TOO_LARGE,
        &format!("Request entity too large: {message}"),
        None,
    )
}

/// `415 UnsupportedMediaType` for a body `Content-Type` the endpoint does not take; `accepted`
/// lists the ones it does.
pub fn unsupported_media_type(accepted: &[&str]) -> Value {
    let text = format!(
        "the body of the request was in an unknown format - accepted media types include: {}",
        accepted.join(", ")
    );
    status(415, reason::UNSUPPORTED_MEDIA_TYPE, &text, None)
}

/// `422 Invalid`: `PackageRevision.porch.kpt.dev "x" is invalid: spec.lifecycle: Invalid value:
/// "Foo": <detail>`, with one cause per error. Several errors print as `[e1, e2]`, duplicates
/// once, like `field.ErrorList.ToAggregate`.
pub fn invalid(kind: GroupKind<'_>, name: &str, errors: &[FieldError]) -> Value {
    let mut messages: Vec<String> = Vec::new();
    for error in errors {
        let text = error.to_string();
        if !messages.contains(&text) {
            messages.push(text);
        }
    }
    let text = match messages.len() {
        0 => format!("{kind} {} is invalid", go_quote(name)),
        1 => format!("{kind} {} is invalid: {}", go_quote(name), messages[0]),
        _ => format!("{kind} {} is invalid: [{}]", go_quote(name), messages.join(", ")),
    };
    let causes: Vec<Value> = errors
        .iter()
        .map(|it| json!({"reason": it.error_type.cause_type(), "message": it.body(), "field": it.field}))
        .collect();
    let mut details = details(kind.group, kind.kind, name);
    if !causes.is_empty() {
        details["causes"] = Value::Array(causes);
    }
    status(422, reason::INVALID, &text, Some(details))
}

/// `422 Invalid` without a kind, name or causes, used for a patch that cannot be applied. kubectl
/// prints `The request is invalid: <message>`. (The apiserver answers these with the unhelpful
/// "the server rejected our request due to an error in our request"; we keep the reason.)
pub fn unprocessable(message: &str) -> Value {
    status(422, reason::INVALID, message, None)
}

/// `400 BadRequest` for a body with fields the schema does not declare when the request says
/// `fieldValidation=Strict` (kubectl's default):
/// `PackageRevision in version "v1alpha1" cannot be handled as a PackageRevision: strict decoding
/// error: unknown field "spec.foo"`. `fields` come from [`crate::openapi::unknown_fields`].
pub fn strict_decoding_error(kind: &str, version: &str, fields: &[String]) -> Value {
    let errors: Vec<String> =
        fields.iter().map(|it| format!("unknown field {}", go_quote(it))).collect();
    bad_request(&format!(
        "{kind} in version {} cannot be handled as a {kind}: strict decoding error: {}",
        go_quote(version),
        errors.join(", ")
    ))
}

/// The `Warning` header value (`299 - "<text>"`) the apiserver sends per unknown field when the
/// request says `fieldValidation=Warn`; kubectl prints `Warning: unknown field "spec.foo"`.
pub fn unknown_field_warning(field: &str) -> String {
    warning_header(&format!("unknown field {}", go_quote(field)))
}

/// A `Warning` header value: `299 - "<text>"`, quoted like Go's `%q`.
pub fn warning_header(text: &str) -> String {
    format!("299 - {}", go_quote(text))
}

/// `500 InternalError`: `Internal error occurred: <message>`. Do not pass internal details the
/// client should not see.
pub fn internal_error(message: &str) -> Value {
    status(
        500,
        reason::INTERNAL_ERROR,
        &format!("Internal error occurred: {message}"),
        Some(json!({"causes": [{"message": message}]})),
    )
}

/// `503 ServiceUnavailable` with `message` as is.
pub fn service_unavailable(message: &str) -> Value {
    status(503, reason::SERVICE_UNAVAILABLE, message, None)
}

impl FieldError {
    /// `Invalid value: <value>: <detail>`.
    pub fn invalid(
        field: impl Into<String>,
        value: Value,
        detail: impl Into<String>,
    ) -> FieldError {
        FieldError::new(FieldErrorType::Invalid, field, Some(value), detail)
    }

    /// `Required value[: <detail>]`.
    pub fn required(field: impl Into<String>, detail: impl Into<String>) -> FieldError {
        FieldError::new(FieldErrorType::Required, field, None, detail)
    }

    /// `Forbidden[: <detail>]`.
    pub fn forbidden(field: impl Into<String>, detail: impl Into<String>) -> FieldError {
        FieldError::new(FieldErrorType::Forbidden, field, None, detail)
    }

    /// `Duplicate value: <value>`.
    pub fn duplicate(field: impl Into<String>, value: Value) -> FieldError {
        FieldError::new(FieldErrorType::Duplicate, field, Some(value), "")
    }

    /// `Not found: <value>`.
    pub fn not_found(field: impl Into<String>, value: Value) -> FieldError {
        FieldError::new(FieldErrorType::NotFound, field, Some(value), "")
    }

    /// `Unsupported value: <value>: supported values: "a", "b"`.
    pub fn not_supported(field: impl Into<String>, value: Value, supported: &[&str]) -> FieldError {
        let detail = if supported.is_empty() {
            String::new()
        } else {
            let quoted: Vec<String> = supported.iter().map(|it| go_quote(it)).collect();
            format!("supported values: {}", quoted.join(", "))
        };
        FieldError::new(FieldErrorType::NotSupported, field, Some(value), detail)
    }

    /// `Too long: may not be more than <max> bytes`.
    pub fn too_long(field: impl Into<String>, max: usize) -> FieldError {
        FieldError::new(
            FieldErrorType::TooLong,
            field,
            None,
            format!("may not be more than {max} bytes"),
        )
    }

    /// A field error of any type; its message shows `bad_value` for the types Go prints it for
    /// (all but Required, Forbidden, TooLong and Internal).
    pub fn new(
        error_type: FieldErrorType,
        field: impl Into<String>,
        bad_value: Option<Value>,
        detail: impl Into<String>,
    ) -> FieldError {
        FieldError { error_type, field: field.into(), bad_value, detail: detail.into() }
    }

    /// The message without the field, Go's `ErrorBody`: `Invalid value: "x": detail`.
    pub fn body(&self) -> String {
        let mut res = self.error_type.as_str().to_owned();
        let prints_value = !matches!(
            self.error_type,
            FieldErrorType::Required
                | FieldErrorType::Forbidden
                | FieldErrorType::TooLong
                | FieldErrorType::Internal
        );
        if prints_value && let Some(value) = &self.bad_value {
            res.push_str(": ");
            res.push_str(&format_value(value));
        }
        if !self.detail.is_empty() {
            res.push_str(": ");
            res.push_str(&self.detail);
        }
        res
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.body())
    }
}

impl FieldErrorType {
    /// The text at the start of the message (`field.ErrorType.String()`).
    pub fn as_str(self) -> &'static str {
        match self {
            FieldErrorType::NotFound => "Not found",
            FieldErrorType::Required => "Required value",
            FieldErrorType::Duplicate => "Duplicate value",
            FieldErrorType::Invalid => "Invalid value",
            FieldErrorType::NotSupported => "Unsupported value",
            FieldErrorType::Forbidden => "Forbidden",
            FieldErrorType::TooLong => "Too long",
            FieldErrorType::TooMany => "Too many",
            FieldErrorType::Internal => "Internal error",
            FieldErrorType::TypeInvalid => "Invalid value",
        }
    }

    /// The `reason` of the `StatusCause` (`metav1.CauseType`).
    pub fn cause_type(self) -> &'static str {
        match self {
            FieldErrorType::NotFound => "FieldValueNotFound",
            FieldErrorType::Required => "FieldValueRequired",
            FieldErrorType::Duplicate => "FieldValueDuplicate",
            FieldErrorType::Invalid => "FieldValueInvalid",
            FieldErrorType::NotSupported => "FieldValueNotSupported",
            FieldErrorType::Forbidden => "FieldValueForbidden",
            FieldErrorType::TooLong => "FieldValueTooLong",
            FieldErrorType::TooMany => "FieldValueTooMany",
            FieldErrorType::Internal => "InternalError",
            FieldErrorType::TypeInvalid => "FieldValueTypeInvalid",
        }
    }
}

fn details(group: &str, kind: &str, name: &str) -> Value {
    let mut res = Map::new();
    if !name.is_empty() {
        res.insert("name".into(), json!(name));
    }
    if !group.is_empty() {
        res.insert("group".into(), json!(group));
    }
    if !kind.is_empty() {
        res.insert("kind".into(), json!(kind));
    }
    Value::Object(res)
}

/// Prints a bad value like Go's `ErrorBody`: strings quoted, numbers and booleans bare, `null`,
/// anything else as compact JSON (Go would print a `%#v` struct dump, which has no JSON equivalent).
fn format_value(value: &Value) -> String {
    match value {
        Value::String(it) => go_quote(it),
        Value::Null => "null".to_owned(),
        Value::Number(it) => it.to_string(),
        Value::Bool(it) => it.to_string(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests;
