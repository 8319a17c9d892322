//! What runs before routing: authentication, the body limit, the request metrics, and the task
//! of its own every write runs in.

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use axum::{
    Router,
    body::Body,
    http::{Method, Request, StatusCode, header},
    middleware::from_fn,
};
use tower::ServiceExt;

use super::{Fixture, REPOS, check_status};
use crate::middleware::{self, is_mutating};

#[tokio::test]
async fn authentication() {
    let f = Fixture::new().await;
    let answer = f.send_raw(Method::GET, REPOS, &[], "").await;
    check_status(&answer, 401, "Unauthorized", "Unauthorized");
    let wrong = [(header::AUTHORIZATION, "Bearer not-the-token")];
    let answer = f.send_raw(Method::GET, REPOS, &wrong, "").await;
    check_status(&answer, 401, "Unauthorized", "Unauthorized");
    let answer = f.send_raw(Method::GET, "/metrics", &[], "").await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    // Public: the version and the health probes.
    let answer = f.send_raw(Method::GET, "/version", &[], "").await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    assert!(answer.body["gitVersion"].is_string(), "{}", answer.body);
    for probe in ["/healthz", "/livez", "/readyz"] {
        let answer = f.send_raw(Method::GET, probe, &[], "").await;
        assert_eq!(answer.status, StatusCode::OK, "{probe}");
        assert_eq!(answer.body, "ok", "{probe}");
    }
}

#[tokio::test]
async fn metrics_count_authenticated_requests() {
    let f = Fixture::new().await;
    // Label sets no other test produces: the registry is shared by the whole test binary.
    let counted =
        "veranda_http_requests_total{verb=\"patch\",resource=\"repositories/status\",code=\"415\"}";
    let uncounted = "veranda_http_requests_total{verb=\"update\",resource=\"repositories/status\",code=\"401\"}";
    let count = |text: &str, series: &str| -> u64 {
        text.lines().find_map(|line| line.strip_prefix(series)?.trim().parse().ok()).unwrap_or(0)
    };
    let before = count(f.get("/metrics").await.body.as_str().unwrap_or_default(), counted);
    let path = format!("{REPOS}/blue/status");
    let text = [(header::CONTENT_TYPE, "text/plain")];
    let answer = f.send(Method::PATCH, &path, &text, "{}").await;
    assert_eq!(answer.status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{}", answer.body);
    let answer = f.send_raw(Method::PUT, &path, &[], "{}").await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);

    let metrics = f.get("/metrics").await;
    assert_eq!(metrics.headers[header::CONTENT_TYPE], "text/plain; version=0.0.4; charset=utf-8");
    let metrics = metrics.body.as_str().unwrap_or_default().to_string();
    assert_eq!(count(&metrics, counted), before + 1, "{metrics}");
    assert!(!metrics.contains(uncounted), "{metrics}");
    assert!(
        metrics.contains(
            "veranda_http_request_duration_seconds_count{verb=\"patch\",resource=\"repositories/status\"}"
        ),
        "{metrics}"
    );
}

#[test]
fn writes_are_mutating() {
    for method in [Method::POST, Method::PUT, Method::PATCH, Method::DELETE] {
        assert!(is_mutating(&method), "{method}");
    }
    for method in [Method::GET, Method::HEAD, Method::OPTIONS] {
        assert!(!is_mutating(&method), "{method}");
    }
}

/// A client that goes away in the middle of a write does not cut it: the write runs in a task
/// of its own, which dropping the request's future does not drop. A read is simply dropped.
#[tokio::test]
async fn a_disconnect_does_not_cut_a_write() {
    for (method, completes) in [(Method::POST, true), (Method::DELETE, true), (Method::GET, false)]
    {
        let done = Arc::new(AtomicBool::new(false));
        let handler = {
            let done = done.clone();
            move || async move {
                tokio::time::sleep(Duration::from_millis(50)).await;
                done.store(true, Ordering::SeqCst);
            }
        };
        let app = Router::new().fallback(handler).layer(from_fn(middleware::spawn_writes));
        let request = Request::builder().method(method.clone()).uri("/").body(Body::empty());
        let call = app.oneshot(request.expect("build the request"));
        // The client gives up long before the handler is done.
        assert!(tokio::time::timeout(Duration::from_millis(5), call).await.is_err());
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(done.load(Ordering::SeqCst), completes, "{method}");
    }
}
