//! `?watch=true`: a chunked stream of `{"type": ..., "object": ...}` lines.
//!
//! Order of work: subscribe to the engine's events first, then list, then stream — so nothing
//! that happens during the list is lost. Events already reflected in the initial list are
//! skipped by comparing per-object resourceVersions. A watch with a `resourceVersion` resumes
//! from the engine's retained event log instead of listing (410 Gone when it is too old).

use std::{collections::HashMap, convert::Infallible, sync::Arc, time::Duration};

use axum::{
    body::{Body, Bytes},
    http::{StatusCode, header},
    response::IntoResponse,
};
use serde_json::{Value, json};
use tokio::sync::{broadcast::error::RecvError, mpsc};
use veranda_engine::{EventType, Topic, WatchError};
use veranda_k8s::{accept, table};

use crate::{
    app::AppState,
    codec::{accept_header, include_object, table_kind},
    error::{ApiError, ApiResult},
    handlers::collect,
    request::{Request, Resource, Verb},
    select::Selectors,
};

const BOOKMARK_INTERVAL: Duration = Duration::from_secs(30);

/// The objects a watch without a resourceVersion starts with.
enum Initial {
    /// (namespace, name), resourceVersion and the engine's JSON of each package revision.
    Shared(Vec<((String, String), i64, std::sync::Arc<str>)>),
    Values(Vec<Value>),
}

pub(crate) async fn watch(state: &Arc<AppState>, req: &Request) -> ApiResult {
    let topic = match req.resource {
        Resource::PackageRevisions => Topic::PackageRevisions,
        Resource::Repositories => Topic::Repositories,
        Resource::Rbac(kind) => Topic::Rbac(kind),
        Resource::PackageRevisionResources
        | Resource::Packages
        | Resource::Secrets
        | Resource::Review(_) => {
            return Err(ApiError::method_not_allowed(req.resource.plural(), Verb::Watch.as_str()));
        }
    };
    let selectors = Selectors::parse(req)?;
    let since = match req.query.get("resourceVersion").map(String::as_str) {
        None | Some("") | Some("0") => None,
        Some(v) => Some(
            v.parse::<i64>()
                .map_err(|_| ApiError::bad_request(format!("invalid resourceVersion {v:?}")))?,
        ),
    };
    let table = match accept::negotiate(accept_header(req)) {
        Ok(accept::Representation::Table) => Some((table_kind(req)?, include_object(req)?)),
        _ => None,
    };
    let veranda_engine::Subscription { receiver: mut events, backlog } =
        state.engine.subscribe(since).map_err(|e| match e {
            WatchError::Gone { oldest } => ApiError::from_body(
                410,
                veranda_k8s::status::gone(&format!(
                    "too old resource version: {} ({oldest})",
                    since.unwrap_or_default()
                )),
            ),
        })?;
    // The initial ADDED events. Package revisions in JSON share the engine's serialised objects
    // (no value tree per object and watcher); everything else is collected as values.
    let initial = match since {
        Some(_) => Initial::Values(Vec::new()),
        None if topic == Topic::PackageRevisions && table.is_none() && selectors.typed() => {
            let mut shared: Vec<_> = state
                .engine
                .list_package_revisions_json(req.namespace.as_deref(), &selectors.revision_filter)
                .into_iter()
                .filter(|(pr, _)| selectors.matches_labels(&pr.metadata.labels))
                .map(|(pr, json)| {
                    let key = (pr.metadata.namespace.clone(), pr.metadata.name.clone());
                    (key, pr.metadata.resource_version.parse::<i64>().unwrap_or(0), json)
                })
                .collect();
            shared.sort_unstable_by(|a, b| a.0.cmp(&b.0));
            Initial::Shared(shared)
        }
        None => Initial::Values(collect(state, req, &selectors).await?),
    };
    let bookmarks = req.query.get("allowWatchBookmarks").is_some_and(|v| v == "true");
    let timeout = req
        .query
        .get("timeoutSeconds")
        .and_then(|t| t.parse::<u64>().ok())
        .map(Duration::from_secs)
        .unwrap_or(Duration::from_secs(30 * 60));
    let namespace = req.namespace.clone();
    let kind = req.resource.api().kind;
    let api_version = req.resource.api().api_version();
    let engine = state.engine.clone();
    let (tx, rx) = mpsc::channel::<Bytes>(64);

    tokio::spawn(async move {
        let _open = OpenWatch::new();
        let render = |event_type: &str, object: &Value| -> Bytes {
            let object = match table {
                Some((kind, include)) => table::object_to_table(kind, object, include),
                None => object.clone(),
            };
            let mut line = serde_json::to_vec(&json!({"type": event_type, "object": object}))
                .unwrap_or_default();
            line.push(b'\n');
            Bytes::from(line)
        };
        let rv_of = |object: &Value| -> i64 {
            object
                .pointer("/metadata/resourceVersion")
                .and_then(Value::as_str)
                .and_then(|s| s.parse().ok())
                .unwrap_or(0)
        };
        let key_of = |object: &Value| -> (String, String) {
            let meta = &object["metadata"];
            (
                meta["namespace"].as_str().unwrap_or("").into(),
                meta["name"].as_str().unwrap_or("").into(),
            )
        };
        let mut sent: HashMap<(String, String), i64> = HashMap::new();
        let mut last_rv = since.unwrap_or(0);
        match initial {
            Initial::Values(objects) => {
                for object in &objects {
                    let rv = rv_of(object);
                    last_rv = last_rv.max(rv);
                    sent.insert(key_of(object), rv);
                    if tx.send(render("ADDED", object)).await.is_err() {
                        return;
                    }
                }
            }
            Initial::Shared(objects) => {
                for (key, rv, json) in objects {
                    last_rv = last_rv.max(rv);
                    sent.insert(key, rv);
                    let mut line = Vec::with_capacity(json.len() + 32);
                    line.extend_from_slice(b"{\"type\":\"ADDED\",\"object\":");
                    line.extend_from_slice(json.as_bytes());
                    line.extend_from_slice(b"}\n");
                    if tx.send(Bytes::from(line)).await.is_err() {
                        return;
                    }
                }
            }
        }
        let bookmark = |rv: i64, initial_end: bool| -> Bytes {
            let mut metadata = json!({"resourceVersion": rv.to_string()});
            if initial_end {
                metadata["annotations"] = json!({"k8s.io/initial-events-end": "true"});
            }
            let mut line = serde_json::to_vec(&json!({
                "type": "BOOKMARK",
                "object": {"kind": kind, "apiVersion": api_version, "metadata": metadata},
            }))
            .unwrap_or_default();
            line.push(b'\n');
            Bytes::from(line)
        };
        if bookmarks {
            let rv = engine.watch_position().unwrap_or(last_rv).max(last_rv);
            if tx.send(bookmark(rv, true)).await.is_err() {
                return;
            }
        }
        let deadline = tokio::time::Instant::now() + timeout;
        let mut backlog = backlog.into_iter();
        let mut ticker = tokio::time::interval(BOOKMARK_INTERVAL);
        ticker.tick().await;
        loop {
            let event = if let Some(event) = backlog.next() {
                event
            } else {
                tokio::select! {
                    received = events.recv() => match received {
                        Ok(event) => event,
                        // A watcher that cannot keep up is closed; the client re-lists.
                        Err(RecvError::Lagged(_)) | Err(RecvError::Closed) => return,
                    },
                    _ = ticker.tick() => {
                        if bookmarks && tx.send(bookmark(last_rv, false)).await.is_err() {
                            return;
                        }
                        continue;
                    }
                    _ = tokio::time::sleep_until(deadline) => return,
                    _ = tx.closed() => return,
                }
            };
            if event.topic != topic || namespace.as_ref().is_some_and(|ns| *ns != event.namespace) {
                continue;
            }
            if since.is_some_and(|s| event.resource_version <= s) {
                continue;
            }
            let object = event.object();
            let key = key_of(&object);
            if sent.get(&key).is_some_and(|rv| *rv >= event.resource_version) {
                continue;
            }
            if !selectors.matches(&object) {
                continue;
            }
            last_rv = last_rv.max(event.resource_version);
            sent.insert(key, event.resource_version);
            let event_type = match event.event_type {
                EventType::Added => "ADDED",
                EventType::Modified => "MODIFIED",
                EventType::Deleted => "DELETED",
            };
            if tx.send(render(event_type, &object)).await.is_err() {
                return;
            }
        }
    });

    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|chunk| (Ok::<_, Infallible>(chunk), rx))
    });
    Ok((
        StatusCode::OK,
        [(header::CONTENT_TYPE, accept::JSON), (header::CACHE_CONTROL, "no-cache")],
        Body::from_stream(stream),
    )
        .into_response())
}

/// Counts an open watch stream in the `veranda_watches` gauge for as long as it lives.
struct OpenWatch;

impl OpenWatch {
    fn new() -> OpenWatch {
        veranda_engine::metrics::gauge_add("veranda_watches", Vec::new(), 1);
        OpenWatch
    }
}

impl Drop for OpenWatch {
    fn drop(&mut self) {
        veranda_engine::metrics::gauge_add("veranda_watches", Vec::new(), -1);
    }
}
