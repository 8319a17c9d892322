//! The one place where failures become HTTP responses with Kubernetes `Status` bodies.

use axum::{
    http::{StatusCode, header},
    response::{IntoResponse, Response},
};
use serde_json::{Value, json};
use veranda_engine::Error;
use veranda_k8s::status;

/// A failed request: HTTP status plus `Status` body.
#[derive(Debug)]
pub(crate) struct ApiError {
    code: StatusCode,
    body: Value,
}

pub(crate) type ApiResult<T = Response> = Result<T, ApiError>;

impl ApiError {
    pub(crate) fn new(code: u16, reason: &str, message: impl AsRef<str>) -> ApiError {
        ApiError {
            code: StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            body: status::status(code, reason, message.as_ref(), None),
        }
    }

    pub(crate) fn from_body(code: u16, body: Value) -> ApiError {
        ApiError {
            code: StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            body,
        }
    }

    /// The Status body.
    #[cfg(test)]
    pub(crate) fn body(&self) -> &Value {
        &self.body
    }

    pub(crate) fn is_not_found(&self) -> bool {
        self.code == StatusCode::NOT_FOUND
    }

    pub(crate) fn bad_request(message: impl AsRef<str>) -> ApiError {
        ApiError::from_body(400, status::bad_request(message.as_ref()))
    }

    pub(crate) fn not_found_path() -> ApiError {
        ApiError::from_body(404, status::path_not_found())
    }

    pub(crate) fn method_not_allowed(resource: &str, verb: &str) -> ApiError {
        ApiError::new(
            405,
            "MethodNotAllowed",
            format!(
                "the server does not allow this method on the requested resource ({verb} {resource})"
            ),
        )
    }

    pub(crate) fn unauthorized() -> ApiError {
        ApiError::from_body(401, status::unauthorized("Unauthorized"))
    }

    /// Maps an engine error about object `name` of `resource` (e.g. `packagerevisions.porch.kpt.dev`).
    pub(crate) fn engine(e: Error, resource: &str, name: &str) -> ApiError {
        const PRR_GROUP_RESOURCE: &str = "packagerevisionresources.porch.kpt.dev";
        let describe = |kind: veranda_engine::Kind| kind.to_string();
        // `Secret` for the core group, `Repository.config.porch.kpt.dev` otherwise.
        let kind_name = |kind: veranda_engine::Kind| match kind.group() {
            "" => kind.kind().to_string(),
            group => format!("{}.{group}", kind.kind()),
        };
        match e {
            Error::BadRequest(m) => ApiError::bad_request(m),
            Error::Forbidden { kind, name, message } => ApiError::from_body(
                403,
                status::status(
                    403,
                    "Forbidden",
                    &format!("{} {name:?} is forbidden: {message}", describe(kind)),
                    Some(json!({"name": name, "group": kind.group(), "kind": kind.resource()})),
                ),
            ),
            // A PackageRevisionResources request names its own resource, as Porch's does.
            Error::NotFound { kind, name }
                if kind == veranda_engine::Kind::PackageRevision
                    && resource == PRR_GROUP_RESOURCE =>
            {
                ApiError::from_body(
                    404,
                    status::status(
                        404,
                        "NotFound",
                        &format!("{resource} {name:?} not found"),
                        Some(
                            json!({"name": name, "group": kind.group(), "kind": "packagerevisionresources"}),
                        ),
                    ),
                )
            }
            Error::NotFound { kind, name } => ApiError::from_body(
                404,
                status::status(
                    404,
                    "NotFound",
                    &format!("{} {name:?} not found", describe(kind)),
                    Some(json!({"name": name, "group": kind.group(), "kind": kind.resource()})),
                ),
            ),
            Error::MethodNotAllowed(m) => ApiError::new(405, "MethodNotAllowed", m),
            Error::AlreadyExists { kind, name, message } => ApiError::from_body(
                409,
                status::status(
                    409,
                    "AlreadyExists",
                    &message
                        .unwrap_or_else(|| format!("{} {name:?} already exists", describe(kind))),
                    Some(json!({"name": name, "group": kind.group(), "kind": kind.resource()})),
                ),
            ),
            Error::Conflict(m) if name.is_empty() => ApiError::new(409, "Conflict", m),
            Error::Conflict(m) => ApiError::new(
                409,
                "Conflict",
                format!("Operation cannot be fulfilled on {resource} {name:?}: {m}"),
            ),
            Error::Invalid { kind, name: invalid_name, field, message } => {
                let shown = if invalid_name.is_empty() { name.to_string() } else { invalid_name };
                ApiError::from_body(
                    422,
                    status::status(
                        422,
                        "Invalid",
                        &format!("{} {shown:?} is invalid: {field}: {message}", kind_name(kind)),
                        Some(json!({
                            "name": shown, "group": kind.group(), "kind": kind.kind(),
                            "causes": [{"reason": "FieldValueInvalid", "message": message, "field": field}],
                        })),
                    ),
                )
            }
            Error::Internal(m) => {
                tracing::error!(object = %name, "internal error: {m}");
                ApiError::new(500, "InternalError", format!("Internal error occurred: {m}"))
            }
            Error::Unavailable(m) => ApiError::new(503, "ServiceUnavailable", m),
            Error::Timeout(m) => ApiError::new(504, "Timeout", m),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::to_vec(&self.body).unwrap_or_default();
        (self.code, [(header::CONTENT_TYPE, "application/json")], body).into_response()
    }
}
