//! What every API request goes through before routing, as axum middleware (outermost first):
//! [`authenticate`] (401), [`limit_body`] (413), [`record_metrics`], [`spawn_writes`].
//!
//! Rejections by the first two are not counted in the request metrics, so that unauthenticated
//! clients cannot fill them.

use std::{sync::Arc, time::Instant};

use axum::{
    body::{Body, Bytes},
    extract::{Request, State},
    http::{Method, Uri, header},
    middleware::Next,
    response::{IntoResponse, Response},
};
use veranda_k8s::resources;

use crate::{
    app::AppState,
    audit::AuditUser,
    auth::{User, lockout},
    error::ApiError,
};

/// Largest accepted request body (as Porch: 6 MiB).
pub(crate) const MAX_BODY: usize = 6 * 1024 * 1024;

/// Authenticates the bearer token and puts the [`User`] into the request's extensions.
///
/// A failure is logged (without the credential) and counted; a source address with too many
/// failures is refused for a while (see [`crate::auth::lockout`]).
pub(crate) async fn authenticate(
    State(state): State<Arc<AppState>>,
    mut request: Request,
    next: Next,
) -> Response {
    let source = request
        .extensions()
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|info| info.0.ip());
    let now = Instant::now();
    if let Some(wait) = source.and_then(|ip| state.lockout.locked(ip, now)) {
        return too_many_attempts(wait);
    }
    let authorization = request.headers().get(header::AUTHORIZATION).and_then(|v| v.to_str().ok());
    // A client certificate (verified against the CA in the handshake) first, as kube-apiserver.
    let user =
        client_certificate_user(&request).or_else(|| state.tokens.authenticate(authorization));
    let user = match user {
        Some(user) => user,
        // The version is public, as in the kube-apiserver: kubectl wrappers pick a client
        // version from it before they authenticate.
        None if request.uri().path() == "/version" => {
            User { name: "system:anonymous".into(), groups: Vec::new() }
        }
        None => {
            let reason = if authorization.is_some() { "invalid" } else { "missing" };
            veranda_engine::metrics::inc(
                "veranda_authentication_failures_total",
                vec![("reason", reason.to_string())],
            );
            let shown = source.map_or_else(|| "unknown".to_string(), |ip| ip.to_string());
            tracing::warn!(source = %shown, path = %request.uri().path(), reason, "authentication failed");
            if let Some(ip) = source
                && state.lockout.fail(ip, now)
            {
                veranda_engine::metrics::inc("veranda_authentication_lockouts_total", vec![]);
                tracing::warn!(source = %ip, "too many failed authentications; refusing the address for {} s", lockout::WINDOW.as_secs());
            }
            return ApiError::unauthorized().into_response();
        }
    };
    if let Some(audit) = request.extensions().get::<AuditUser>() {
        audit.set(&user);
    }
    request.extensions_mut().insert(user);
    next.run(request).await
}

/// The user of the client certificate the connection presented, if any.
fn client_certificate_user(request: &Request) -> Option<User> {
    request.extensions().get::<crate::tls::PeerUser>()?.0.clone()
}

/// The 429 of a locked-out source address.
fn too_many_attempts(wait: u64) -> Response {
    let mut response = ApiError::new(
        429,
        "TooManyRequests",
        format!("too many failed authentication attempts from this address; retry in {wait} s"),
    )
    .into_response();
    if let Ok(value) = axum::http::HeaderValue::from_str(&wait.to_string()) {
        response.headers_mut().insert(header::RETRY_AFTER, value);
    }
    response
}

/// Reads the whole body, of at most [`MAX_BODY`] bytes (413 otherwise), before any handler runs.
pub(crate) async fn limit_body(request: Request, next: Next) -> Response {
    let (parts, body) = request.into_parts();
    match read_body(body).await {
        Ok(body) => next.run(Request::from_parts(parts, Body::from(body))).await,
        Err(TooLarge) => too_large().into_response(),
    }
}

/// The 413 of a body over [`MAX_BODY`].
pub(crate) fn too_large() -> ApiError {
    ApiError::from_body(
        413,
        veranda_k8s::status::request_entity_too_large(&format!(
            "the request body is larger than the limit of {MAX_BODY} bytes"
        )),
    )
}

/// Counts the request and its duration by verb, resource and code.
pub(crate) async fn record_metrics(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let (method, uri) = (request.method().clone(), request.uri().clone());
    let response = next.run(request).await;
    let elapsed = started.elapsed();
    let (verb, resource) = metric_labels(&method, &uri);
    let code = response.status().as_u16();
    veranda_engine::metrics::inc(
        "veranda_http_requests_total",
        vec![
            ("verb", verb.to_string()),
            ("resource", resource.clone()),
            ("code", code.to_string()),
        ],
    );
    veranda_engine::metrics::observe(
        "veranda_http_request_duration_seconds",
        vec![("verb", verb.to_string()), ("resource", resource)],
        elapsed.as_secs_f64(),
    );
    let path = uri.path();
    tracing::debug!(%method, %path, status = code, elapsed_us = elapsed.as_micros() as u64, "request");
    response
}

/// Runs a mutating request in a task of its own: it runs to completion (rollback included) even
/// when its client goes away, which drops this future but not the task.
pub(crate) async fn spawn_writes(request: Request, next: Next) -> Response {
    if !is_mutating(request.method()) {
        return next.run(request).await;
    }
    let path = request.uri().path().to_string();
    match tokio::spawn(next.run(request)).await {
        Ok(response) => response,
        Err(e) => {
            tracing::error!(%path, "request handler failed: {e}");
            ApiError::new(500, "InternalError", "the request failed unexpectedly").into_response()
        }
    }
}

/// Whether a request may change state (and so must not be cut short by its client).
pub(crate) fn is_mutating(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// A body over [`MAX_BODY`], or one that could not be read.
struct TooLarge;

/// Reads a request body of at most [`MAX_BODY`] bytes. A larger body is drained (up to a cap)
/// before the 413 is sent, so that the client reads the answer instead of a reset connection.
async fn read_body(body: Body) -> Result<Bytes, TooLarge> {
    use futures_util::StreamExt;
    const DRAIN_CAP: usize = 64 * 1024 * 1024;
    let mut stream = body.into_data_stream();
    let mut buffer = Vec::new();
    let mut seen = 0usize;
    while let Some(chunk) = stream.next().await {
        let Ok(chunk) = chunk else { return Err(TooLarge) };
        seen += chunk.len();
        if seen <= MAX_BODY {
            buffer.extend_from_slice(&chunk);
        } else if seen > DRAIN_CAP {
            break;
        }
    }
    if seen > MAX_BODY { Err(TooLarge) } else { Ok(Bytes::from(buffer)) }
}

/// The `verb` and `resource` labels of a request's metrics (bounded sets, never user input).
fn metric_labels(method: &Method, uri: &Uri) -> (&'static str, String) {
    let segments: Vec<&str> = uri.path().trim_matches('/').split('/').collect();
    let (resource, named) = match segments.as_slice() {
        ["apis", group, version, "namespaces", _, resource, rest @ ..] => {
            let sub = rest
                .get(1)
                .and_then(|s| resources::find(group, version, resource)?.subresource(s))
                .map(|s| s.name);
            (resources::find(group, version, resource).map(|r| r.resource), (!rest.is_empty(), sub))
        }
        ["apis", group, version, resource] => {
            (resources::find(group, version, resource).map(|r| r.resource), (false, None))
        }
        // A cluster-scoped object (`clusterroles/NAME`).
        ["apis", group, version, resource, _] if *resource != "namespaces" => {
            (resources::find(group, version, resource).map(|r| r.resource), (true, None))
        }
        ["metrics"] => (Some("metrics"), (false, None)),
        _ => (Some("discovery"), (false, None)),
    };
    let resource = match (resource, named.1) {
        (Some(r), Some(sub)) => format!("{r}/{sub}"),
        (Some(r), None) => r.to_string(),
        (None, _) => "unknown".to_string(),
    };
    let watch =
        uri.query().is_some_and(|q| q.split('&').any(|kv| kv == "watch=true" || kv == "watch=1"));
    let verb = match (method.as_str(), named.0) {
        ("GET", _) if watch => "watch",
        ("GET", true) => "get",
        ("GET", false) => "list",
        ("POST", _) => "create",
        ("PUT", _) => "update",
        ("PATCH", _) => "patch",
        ("DELETE", _) => "delete",
        _ => "other",
    };
    (verb, resource)
}
