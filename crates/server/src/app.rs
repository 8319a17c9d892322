//! The application: the router with its middleware, built from the shared state, so that it is
//! served by [`crate::serve`] and tested in process alike.
//!
//! The health probes answer before any middleware (no token, not counted). Every other path
//! goes, for writes in a task of its own, through the audit log, authentication, the body limit, the request metrics and, for writes, a task of
//! its own (see [`crate::middleware`]) before [`routing::dispatch`] parses it.

use std::sync::Arc;

use axum::{
    Router,
    middleware::{from_fn, from_fn_with_state},
    routing::get,
};
use veranda_engine::Engine;

use crate::{
    audit::{self, AuditLog},
    auth::{TokenFile, lockout::Lockout},
    middleware, routing,
};

/// Shared state of every handler.
pub(crate) struct AppState {
    pub(crate) engine: Arc<Engine>,
    pub(crate) tokens: TokenFile,
    /// Failed authentications per source address.
    pub(crate) lockout: Lockout,
    /// Where audit events go; `None`: no audit log.
    pub(crate) audit: Option<AuditLog>,
}

/// The whole HTTP application.
pub(crate) fn app(state: Arc<AppState>) -> Router {
    // Layers wrap what is already there: the last one added runs first.
    let api = Router::new()
        .fallback(routing::dispatch)
        .layer(from_fn(middleware::record_metrics))
        .layer(from_fn(middleware::limit_body))
        .layer(from_fn_with_state(state.clone(), middleware::authenticate))
        .layer(from_fn_with_state(state.audit.clone(), audit::record))
        // Outermost: a write runs to completion, its audit event included, whatever the client.
        .layer(from_fn(middleware::spawn_writes))
        .with_state(state);
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/livez", get(|| async { "ok" }))
        .route("/readyz", get(|| async { "ok" }))
        .fallback_service(api)
}

#[cfg(test)]
mod tests;
