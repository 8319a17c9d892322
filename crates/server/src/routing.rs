//! Paths to handlers. Paths follow the kube-apiserver:
//! `/apis/<group>/<version>[/namespaces/<ns>]/<resource>[/<name>[/<sub>]]`, plus the documents
//! (`/version`, discovery, OpenAPI, `/metrics`).
//!
//! One fallback handler parses every path, so all resources share the same parsing into a typed
//! [`Request`]; the middleware in front of it (see [`crate::app`]) has already authenticated the
//! request and read its body.

use std::{collections::HashMap, sync::Arc};

use axum::{
    body::Bytes,
    extract::State,
    http::{Uri, header, request::Parts},
    response::{IntoResponse, Response},
};
use veranda_api::names;
use veranda_engine::requester;

use crate::{
    app::AppState,
    auth::User,
    authz,
    error::{ApiError, ApiResult},
    handlers::{self, documents::Document},
    middleware,
    request::{Request, Resource},
};

/// What a path names.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Target<'a> {
    Document(Document<'a>),
    Resource(ResourcePath<'a>),
    NotFound,
}

/// The segments of a resource path, not yet checked.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct ResourcePath<'a> {
    pub(crate) group: &'a str,
    pub(crate) version: &'a str,
    pub(crate) namespace: Option<&'a str>,
    pub(crate) resource: &'a str,
    pub(crate) name: Option<&'a str>,
    pub(crate) subresource: Option<&'a str>,
}

/// Entry point for every request except the health probes.
pub(crate) async fn dispatch(
    State(state): State<Arc<AppState>>,
    request: axum::extract::Request,
) -> Response {
    match route(&state, request).await {
        Ok(response) => response,
        Err(e) => e.into_response(),
    }
}

/// Parses a path.
pub(crate) fn target(path: &str) -> Target<'_> {
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    match *segments.as_slice() {
        ["version"] => Target::Document(Document::Version),
        ["metrics"] => Target::Document(Document::Metrics),
        ["api"] => Target::Document(Document::CoreVersions),
        ["api", "v1"] => Target::Document(Document::CoreResources),
        ["apis"] => Target::Document(Document::Groups),
        ["apis", group] => Target::Document(Document::Group(group)),
        ["apis", group, version] => Target::Document(Document::Resources(group, version)),
        ["openapi", "v2"] => Target::Document(Document::OpenApiV2),
        ["openapi", "v3"] => Target::Document(Document::OpenApiV3),
        ["openapi", "v3", ref rest @ ..] => {
            Target::Document(Document::OpenApiV3Group(rest.join("/")))
        }
        ["apis", group, version, name] => resource_target(group, version, None, name, &[]),
        // A cluster-scoped object (`/apis/rbac.authorization.k8s.io/v1/clusterroles/NAME`).
        ["apis", group, version, resource, ref rest @ ..]
            if resource != "namespaces" && (1..=2).contains(&rest.len()) =>
        {
            resource_target(group, version, None, resource, rest)
        }
        ["api", "v1", name] => resource_target("", "v1", None, name, &[]),
        ["api", "v1", "namespaces", namespace, name, ref rest @ ..] if rest.len() <= 2 => {
            resource_target("", "v1", Some(namespace), name, rest)
        }
        ["apis", group, version, "namespaces", namespace, name, ref rest @ ..]
            if rest.len() <= 2 =>
        {
            resource_target(group, version, Some(namespace), name, rest)
        }
        _ => Target::NotFound,
    }
}

async fn route(state: &Arc<AppState>, request: axum::extract::Request) -> ApiResult {
    let (mut parts, body) = request.into_parts();
    // Put there by the authentication middleware; without it the request is not authenticated.
    let user = parts.extensions.remove::<User>().ok_or_else(ApiError::unauthorized)?;
    // Already read (and limited) by the body-limit middleware.
    let body = axum::body::to_bytes(body, middleware::MAX_BODY)
        .await
        .map_err(|_| middleware::too_large())?;
    let uri = parts.uri.clone();
    let authenticated = user.clone();
    let user = authz::impersonate(state, user, &parts.headers)?;
    if user != authenticated
        && let Some(audit) = parts.extensions.get::<crate::audit::AuditUser>()
    {
        audit.impersonated(&user);
    }
    match target(uri.path()) {
        Target::Document(document) => {
            // The version is public (see `middleware::authenticate`).
            if document != Document::Version {
                authz::authorize_path(state, &user, &parts.method, uri.path())?;
            }
            handlers::documents::serve(
                document,
                &parts.method,
                uri.path(),
                parts.headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).unwrap_or(""),
            )
        }
        Target::Resource(path) => {
            // The engine acts for the user: commits are theirs (and approvals published by
            // them, as Porch), and what a request may touch depends on who they are.
            let on_behalf =
                requester::User { name: user.name.clone(), groups: user.groups.clone() };
            // On a shared store, first everything other servers wrote before this request
            // began (consistent reads; `resourceVersion=0` asks for any state, as in
            // Kubernetes). Authorization reads the roles too.
            if !uri.query().is_some_and(|q| q.split('&').any(|p| p == "resourceVersion=0")) {
                state.engine.consistent().await;
            }
            let request = resource_request(path, parts, body, user)?;
            // Every resource request is authorized here, once typed, before any handler.
            authz::authorize(state, &request)?;
            requester::as_user(Some(on_behalf), handlers::handle(state, request)).await
        }
        Target::NotFound => {
            authz::authorize_path(state, &user, &parts.method, uri.path())?;
            Err(ApiError::not_found_path())
        }
    }
}

/// Checks a resource path (404 for an unknown resource or subresource, 400 for an invalid
/// namespace or query) and makes it a [`Request`].
fn resource_request(
    path: ResourcePath<'_>,
    parts: Parts,
    body: Bytes,
    user: User,
) -> ApiResult<Request> {
    let resource = Resource::find(path.group, path.version, path.resource)
        .ok_or_else(ApiError::not_found_path)?;
    // A namespaced object has no cluster-scoped path, a cluster-scoped one no namespaced path.
    match (resource.namespaced(), path.namespace, path.name) {
        (true, None, Some(_)) | (false, Some(_), _) => return Err(ApiError::not_found_path()),
        _ => {}
    }
    if let Some(namespace) = path.namespace {
        names::check_dns1123_label(namespace)
            .map_err(|e| ApiError::bad_request(format!("invalid namespace {namespace:?}: {e}")))?;
    }
    let query = parse_query(&parts.uri)?;
    let subresource = match path.subresource {
        Some(name) => Some(resource.subresource(name).ok_or_else(ApiError::not_found_path)?),
        None => None,
    };
    Ok(Request {
        method: parts.method,
        namespace: path.namespace.map(str::to_string),
        resource,
        name: path.name.map(str::to_string),
        subresource,
        query,
        headers: parts.headers,
        body,
        user,
    })
}

fn resource_target<'a>(
    group: &'a str,
    version: &'a str,
    namespace: Option<&'a str>,
    resource: &'a str,
    rest: &[&'a str],
) -> Target<'a> {
    Target::Resource(ResourcePath {
        group,
        version,
        namespace,
        resource,
        name: rest.first().copied(),
        subresource: rest.get(1).copied(),
    })
}

fn parse_query(uri: &Uri) -> ApiResult<HashMap<String, String>> {
    serde_urlencoded::from_str(uri.query().unwrap_or(""))
        .map_err(|e| ApiError::bad_request(format!("invalid query string: {e}")))
}

#[cfg(test)]
mod tests;
