//! Bodies in and out: decoding request bodies (JSON or YAML, checked against the resource's type
//! and kube-apiserver's metadata rules) and encoding responses in the representation the
//! `Accept` header negotiates (the object, a `meta.k8s.io/v1` Table, or partial object metadata;
//! 406 for anything else).

use axum::{
    http::{StatusCode, header},
    response::{IntoResponse, Response},
};
use serde::{Serialize, de::DeserializeOwned};
use serde_json::{Value, json};
use veranda_k8s::{
    accept::{self, Representation},
    openapi,
    patch::{self, PatchType},
    table::{self, IncludeObject, TableKind},
};

use crate::{
    error::{ApiError, ApiResult},
    request::Request,
};

/// The representation the request's `Accept` header asks for (406 when none can be produced).
pub(crate) fn negotiate(req: &Request) -> ApiResult<Representation> {
    accept::negotiate(accept_header(req))
        .map_err(|_| ApiError::from_body(406, veranda_k8s::status::not_acceptable()))
}

pub(crate) fn accept_header(req: &Request) -> &str {
    req.header(header::ACCEPT)
}

/// The `includeObject` query parameter of a Table request.
pub(crate) fn include_object(req: &Request) -> ApiResult<IncludeObject> {
    match req.query.get("includeObject") {
        None => Ok(IncludeObject::Metadata),
        Some(v) => IncludeObject::parse(v)
            .ok_or_else(|| ApiError::bad_request(format!("invalid includeObject {v:?}"))),
    }
}

/// The Table layout of the request's resource.
pub(crate) fn table_kind(req: &Request) -> ApiResult<TableKind> {
    TableKind::for_resource(req.resource.plural()).ok_or_else(ApiError::not_found_path)
}

/// One object, in the negotiated representation.
pub(crate) fn respond(req: &Request, status: StatusCode, value: Value) -> ApiResult {
    match negotiate(req)? {
        Representation::Table => Ok(json_response(
            status,
            &table::object_to_table(table_kind(req)?, &value, include_object(req)?),
        )),
        Representation::PartialObjectMetadata | Representation::PartialObjectMetadataList => {
            Ok(json_response(status, &table::partial_object_metadata(&value)))
        }
        Representation::Object => Ok(json_response(status, &value)),
    }
}

/// A list page (`items` and its list metadata), in the negotiated representation.
pub(crate) fn respond_list(req: &Request, items: Vec<Value>, list_meta: Value) -> ApiResult {
    let response = match negotiate(req)? {
        Representation::Table => {
            table::to_table(table_kind(req)?, &items, list_meta, include_object(req)?)
        }
        Representation::PartialObjectMetadataList | Representation::PartialObjectMetadata => {
            let partial: Vec<Value> = items.iter().map(table::partial_object_metadata).collect();
            table::partial_object_metadata_list(&partial, list_meta)
        }
        Representation::Object => json!({
            "kind": req.resource.api().list_kind,
            "apiVersion": req.resource.api().api_version(),
            "metadata": list_meta,
            "items": items,
        }),
    };
    Ok(json_response(StatusCode::OK, &response))
}

pub(crate) fn json_response(status: StatusCode, value: &Value) -> Response {
    let body = serde_json::to_vec(value).unwrap_or_default();
    (status, [(header::CONTENT_TYPE, accept::JSON)], body).into_response()
}

/// A response of pre-serialised JSON: bytes, or a body written as the client reads it.
pub(crate) fn json_bytes_response(body: impl Into<axum::body::Body>) -> Response {
    (StatusCode::OK, [(header::CONTENT_TYPE, accept::JSON)], body.into()).into_response()
}

pub(crate) fn with_content_type(mut response: Response, content_type: &'static str) -> Response {
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, header::HeaderValue::from_static(content_type));
    response
}

pub(crate) fn to_value<T: Serialize>(object: &T) -> Value {
    serde_json::to_value(object).unwrap_or(Value::Null)
}

/// The patch type of a PATCH request's `Content-Type` (415 for anything else).
pub(crate) fn patch_type(req: &Request) -> ApiResult<PatchType> {
    PatchType::from_content_type(req.header(header::CONTENT_TYPE)).ok_or_else(|| {
        ApiError::from_body(415, veranda_k8s::status::unsupported_media_type(patch::CONTENT_TYPES))
    })
}

/// The request body as a JSON object (the body may be YAML).
pub(crate) fn decode_value(req: &Request) -> ApiResult<Value> {
    let content_type = req.header(header::CONTENT_TYPE);
    let value: Value = if veranda_k8s::protobuf::is_protobuf(content_type) {
        // client-go's typed clients (`kubectl create secret`) send core kinds in protobuf.
        use crate::request::Resource;
        let typed_client_kind =
            matches!(req.resource, Resource::Secrets | Resource::Rbac(_) | Resource::Review(_));
        if !typed_client_kind {
            return Err(ApiError::from_body(
                415,
                veranda_k8s::status::unsupported_media_type(&[
                    "application/json",
                    "application/yaml",
                ]),
            ));
        }
        veranda_k8s::protobuf::decode(&req.body)
            .map_err(|e| ApiError::bad_request(e.to_string()))?
    } else if content_type.contains("yaml") {
        veranda_k8s::yaml::from_slice(&req.body)
            .map_err(|e| ApiError::bad_request(format!("invalid YAML body: {e}")))?
    } else {
        serde_json::from_slice(&req.body)
            .map_err(|e| ApiError::bad_request(format!("invalid JSON body: {e}")))?
    };
    if !value.is_object() {
        return Err(ApiError::bad_request("the request body must be a JSON object"));
    }
    Ok(value)
}

/// The request body as an object of the request's resource.
pub(crate) fn decode_object<T: DeserializeOwned>(req: &Request) -> ApiResult<T> {
    let value = decode_value(req)?;
    check_type(req, &value)?;
    from_value(value)
}

/// The body's `apiVersion`/`kind`, when present, must name the request's resource, and with
/// `fieldValidation=Strict` (kubectl's default) unknown fields are rejected.
pub(crate) fn check_type(req: &Request, value: &Value) -> ApiResult<()> {
    let resource = req.resource.api();
    let strict = req.query.get("fieldValidation").is_some_and(|v| v == "Strict");
    if strict && req.resource == crate::request::Resource::Secrets {
        let mut unknown: Vec<String> = value
            .as_object()
            .map(|o| {
                o.keys()
                    .filter(|k| !veranda_api::secret::FIELDS.contains(&k.as_str()))
                    .cloned()
                    .collect()
            })
            .unwrap_or_default();
        if !unknown.is_empty() {
            unknown.sort();
            return Err(ApiError::from_body(
                400,
                veranda_k8s::status::strict_decoding_error(
                    resource.kind,
                    resource.version,
                    &unknown,
                ),
            ));
        }
    }
    if strict
        && let Some(fields) = openapi::unknown_fields(&resource.api_version(), resource.kind, value)
        && !fields.is_empty()
    {
        return Err(ApiError::from_body(
            400,
            veranda_k8s::status::strict_decoding_error(resource.kind, resource.version, &fields),
        ));
    }
    let api_version = value.get("apiVersion").and_then(Value::as_str).unwrap_or("");
    let kind = value.get("kind").and_then(Value::as_str).unwrap_or("");
    let expected_kind = resource.kind;
    if (!api_version.is_empty() && api_version != resource.api_version())
        || (!kind.is_empty() && kind != expected_kind)
    {
        return Err(ApiError::bad_request(format!(
            "the body of the request was of type {api_version}, Kind={kind}, expected {}, Kind={expected_kind}",
            resource.api_version()
        )));
    }
    Ok(())
}

/// A typed object from a JSON value the client wrote.
pub(crate) fn from_value<T: DeserializeOwned>(mut value: Value) -> ApiResult<T> {
    // An unknown lifecycle is a field error (422), not an undecodable body.
    if let Some(lifecycle) = value.pointer("/spec/lifecycle").cloned() {
        match lifecycle.as_str() {
            Some("") => {
                if let Some(spec) = value.get_mut("spec").and_then(Value::as_object_mut) {
                    spec.remove("lifecycle");
                }
            }
            Some(l) if veranda_api::Lifecycle::ALL.iter().any(|v| v.as_str() == l) => {}
            _ => {
                let name =
                    value.pointer("/metadata/name").and_then(Value::as_str).unwrap_or_default();
                let message = format!(
                    "Unsupported value: {lifecycle}: supported values: \"Draft\", \"Proposed\", \"Published\", \"DeletionProposed\""
                );
                return Err(ApiError::engine(
                    veranda_engine::Error::Invalid {
                        kind: veranda_engine::Kind::PackageRevision,
                        name: name.to_string(),
                        field: "spec.lifecycle".into(),
                        message,
                    },
                    "packagerevisions.porch.kpt.dev",
                    name,
                ));
            }
        }
    }
    check_metadata_maps(&value)?;
    serde_json::from_value(value).map_err(|e| ApiError::bad_request(format!("invalid object: {e}")))
}

/// kube-apiserver's rules for labels and annotations (keys, label values, 256 KiB of
/// annotations), checked on every object a client writes: 422 naming the field.
fn check_metadata_maps(value: &Value) -> ApiResult<()> {
    let strings = |field: &str| -> Vec<(&str, &str)> {
        value
            .pointer(&format!("/metadata/{field}"))
            .and_then(Value::as_object)
            .map(|m| m.iter().filter_map(|(k, v)| Some((k.as_str(), v.as_str()?))).collect())
            .unwrap_or_default()
    };
    let labels = strings("labels");
    let annotations = strings("annotations");
    veranda_api::metadata::check_labels(labels.into_iter())
        .and_then(|()| veranda_api::metadata::check_annotations(annotations.into_iter()))
        .map_err(|e| {
            let kind = value.get("kind").and_then(Value::as_str).unwrap_or("object");
            let name = value.pointer("/metadata/name").and_then(Value::as_str).unwrap_or_default();
            ApiError::from_body(
                422,
                veranda_k8s::status::status(
                    422,
                    "Invalid",
                    &format!("{kind} {name:?} is invalid: {}: {}", e.field, e.message),
                    Some(json!({
                        "name": name, "kind": kind,
                        "causes": [{"reason": "FieldValueInvalid", "message": e.message, "field": e.field}],
                    })),
                ),
            )
        })
}
