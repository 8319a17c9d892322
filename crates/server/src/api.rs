//! Routing of the Kubernetes-style REST API and the handlers of every resource.
//!
//! Paths follow the kube-apiserver: `/apis/<group>/<version>[/namespaces/<ns>]/<resource>[/<name>[/<sub>]]`.
//! One dispatcher parses the path, so every resource shares the same parsing, content
//! negotiation, body limits and error mapping.

use std::{collections::HashMap, sync::Arc};

use axum::{
    body::{Body, Bytes},
    extract::State,
    http::{HeaderMap, Method, StatusCode, Uri, header},
    response::{IntoResponse, Response},
};
use serde::{Serialize, de::DeserializeOwned};
use serde_json::{Value, json};
use veranda_api::{
    lifecycle::Endpoint,
    names,
    types::{PackageRevision, PackageRevisionResources, PorchPackage, Repository},
};
use veranda_engine::Engine;
use veranda_k8s::{
    accept::{self, DiscoveryFormat},
    discovery, openapi,
    patch::{self, PatchType},
    resources::{self, ApiResource},
    table::{self, IncludeObject, TableKind},
};

use crate::{
    auth::{Tokens, User},
    error::{ApiError, ApiResult},
    select::Selectors,
    watch,
};

/// Largest accepted request body (as Porch: 6 MiB).
pub(crate) const MAX_BODY: usize = 6 * 1024 * 1024;

/// Shared state of every handler.
pub(crate) struct AppState {
    pub(crate) engine: Arc<Engine>,
    pub(crate) tokens: Tokens,
}

/// A parsed resource request.
pub(crate) struct Request {
    pub(crate) method: Method,
    pub(crate) namespace: Option<String>,
    pub(crate) resource: &'static ApiResource,
    pub(crate) name: Option<String>,
    pub(crate) subresource: Option<String>,
    pub(crate) query: HashMap<String, String>,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Bytes,
    #[allow(dead_code)]
    pub(crate) user: User,
}

/// Entry point for every request except the health probes.
pub(crate) async fn dispatch(
    State(state): State<Arc<AppState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let user = match state
        .tokens
        .authenticate(headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()))
    {
        Some(user) => user.clone(),
        // The version is public, as in the kube-apiserver: kubectl wrappers pick a client
        // version from it before they authenticate.
        None if uri.path() == "/version" => {
            User { name: "system:anonymous".into(), groups: Vec::new() }
        }
        None => return ApiError::unauthorized().into_response(),
    };
    let body = match read_body(body).await {
        Ok(body) => body,
        Err(()) => {
            return ApiError::from_body(
                413,
                veranda_k8s::status::request_entity_too_large(&format!(
                    "the request body is larger than the limit of {MAX_BODY} bytes"
                )),
            )
            .into_response();
        }
    };
    let started = std::time::Instant::now();
    let path = uri.path().to_string();
    let response = if is_mutating(&method) {
        // A write runs to completion (rollback included) in a task of its own: a client that
        // goes away drops this future, not the task.
        let (state, method, uri) = (state.clone(), method.clone(), uri.clone());
        let task = tokio::spawn(async move {
            match route(&state, method, &uri, headers, body, user).await {
                Ok(response) => response,
                Err(e) => e.into_response(),
            }
        });
        match task.await {
            Ok(response) => response,
            Err(e) => {
                tracing::error!(%path, "request handler failed: {e}");
                ApiError::new(500, "InternalError", "the request failed unexpectedly")
                    .into_response()
            }
        }
    } else {
        match route(&state, method.clone(), &uri, headers, body, user).await {
            Ok(response) => response,
            Err(e) => e.into_response(),
        }
    };
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
    tracing::debug!(%method, %path, status = code, elapsed_us = elapsed.as_micros() as u64, "request");
    response
}

/// Whether a request may change state (and so must not be cut short by its client).
fn is_mutating(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
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

/// Reads a request body of at most [`MAX_BODY`] bytes. A larger body is drained (up to a cap)
/// before the 413 is sent, so that the client reads the answer instead of a reset connection.
async fn read_body(body: Body) -> Result<Bytes, ()> {
    use futures_util::StreamExt;
    const DRAIN_CAP: usize = 64 * 1024 * 1024;
    let mut stream = body.into_data_stream();
    let mut buffer = Vec::new();
    let mut seen = 0usize;
    while let Some(chunk) = stream.next().await {
        let Ok(chunk) = chunk else { return Err(()) };
        seen += chunk.len();
        if seen <= MAX_BODY {
            buffer.extend_from_slice(&chunk);
        } else if seen > DRAIN_CAP {
            break;
        }
    }
    if seen > MAX_BODY { Err(()) } else { Ok(Bytes::from(buffer)) }
}

async fn route(
    state: &Arc<AppState>,
    method: Method,
    uri: &Uri,
    headers: HeaderMap,
    body: Bytes,
    user: User,
) -> ApiResult {
    let segments: Vec<&str> = uri.path().trim_matches('/').split('/').collect();
    let accept_header =
        headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    let get_only = |value: Option<Value>| -> ApiResult {
        if method != Method::GET {
            return Err(ApiError::method_not_allowed(uri.path(), method.as_str()));
        }
        value.map(|v| json_response(StatusCode::OK, &v)).ok_or_else(ApiError::not_found_path)
    };
    match segments.as_slice() {
        ["version"] => get_only(Some(discovery::version())),
        ["metrics"] if method == Method::GET => Ok((
            StatusCode::OK,
            [(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")],
            veranda_engine::metrics::render(),
        )
            .into_response()),
        ["api"] => match accept::discovery_format(&accept_header) {
            DiscoveryFormat::Aggregated(v) => Ok(with_content_type(
                get_only(Some(discovery::aggregated_core(v)))?,
                v.content_type(),
            )),
            DiscoveryFormat::Legacy => get_only(Some(discovery::core_api_versions())),
        },
        ["api", "v1"] => get_only(Some(discovery::core_api_resource_list())),
        ["apis"] => match accept::discovery_format(&accept_header) {
            DiscoveryFormat::Aggregated(v) => Ok(with_content_type(
                get_only(Some(discovery::aggregated_apis(v)))?,
                v.content_type(),
            )),
            DiscoveryFormat::Legacy => get_only(Some(discovery::api_group_list())),
        },
        ["apis", group] => get_only(discovery::api_group(group)),
        ["apis", group, version] => get_only(discovery::api_resource_list(group, version)),
        ["openapi", "v2"] if openapi::v2_wants_protobuf(&accept_header) => {
            if method != Method::GET {
                return Err(ApiError::method_not_allowed(uri.path(), method.as_str()));
            }
            Ok((
                StatusCode::OK,
                [(header::CONTENT_TYPE, openapi::V2_PROTOBUF_CONTENT_TYPE)],
                openapi::v2_protobuf(),
            )
                .into_response())
        }
        ["openapi", "v2"] => get_only(Some(openapi::v2())),
        ["openapi", "v3"] => get_only(Some(openapi::v3_index())),
        ["openapi", "v3", rest @ ..] => get_only(openapi::v3_group(&rest.join("/"))),
        ["apis", group, version, resource] => {
            let resource =
                resources::find(group, version, resource).ok_or_else(ApiError::not_found_path)?;
            let request = Request {
                method,
                namespace: None,
                resource,
                name: None,
                subresource: None,
                query: parse_query(uri)?,
                headers,
                body,
                user,
            };
            handle(state, request).await
        }
        ["apis", group, version, "namespaces", namespace, resource, rest @ ..]
            if rest.len() <= 2 =>
        {
            let resource =
                resources::find(group, version, resource).ok_or_else(ApiError::not_found_path)?;
            names::check_dns1123_label(namespace).map_err(|e| {
                ApiError::bad_request(format!("invalid namespace {namespace:?}: {e}"))
            })?;
            let request = Request {
                method,
                namespace: Some(namespace.to_string()),
                resource,
                name: rest.first().map(|s| s.to_string()),
                subresource: rest.get(1).map(|s| s.to_string()),
                query: parse_query(uri)?,
                headers,
                body,
                user,
            };
            handle(state, request).await
        }
        _ => Err(ApiError::not_found_path()),
    }
}

async fn handle(state: &Arc<AppState>, req: Request) -> ApiResult {
    if let Some(sub) = &req.subresource
        && req.resource.subresource(sub).is_none()
    {
        return Err(ApiError::not_found_path());
    }
    let verb = verb(&req);
    if !req.resource.supports(verb) && req.subresource.is_none() {
        return Err(ApiError::method_not_allowed(req.resource.resource, verb));
    }
    if req.namespace.is_none() && !matches!(verb, "list" | "watch") {
        return Err(ApiError::bad_request("namespace must be specified"));
    }
    match (req.resource.resource, verb) {
        (_, "list") => list(state, &req).await,
        (_, "watch") => watch::watch(state, &req).await,
        (_, "get") => get(state, &req).await,
        ("packagerevisions", "create") => {
            let pr: PackageRevision = decode_object(&req)?;
            let ns = namespace_for_create(&req, &pr.metadata.namespace)?;
            let name = pr.metadata.name.clone();
            let created = state.engine.create_package_revision(&ns, pr).await.map_err(|e| {
                ApiError::engine(e, &req.resource.group_resource().to_string(), &name)
            })?;
            respond_object(&req, StatusCode::CREATED, &*created)
        }
        ("repositories", "create") => {
            let repo: Repository = decode_object(&req)?;
            let ns = namespace_for_create(&req, &repo.metadata.namespace)?;
            let name = repo.metadata.name.clone();
            let created = state.engine.create_repository(&ns, repo).await.map_err(|e| {
                ApiError::engine(e, &req.resource.group_resource().to_string(), &name)
            })?;
            respond_object(&req, StatusCode::CREATED, &created)
        }
        ("packages", "create") => {
            let package: PorchPackage = decode_object(&req)?;
            let ns = namespace_for_create(&req, &package.metadata.namespace)?;
            let name = package.metadata.name.clone();
            let created = state.engine.create_package(&ns, package).await.map_err(|e| {
                ApiError::engine(e, &req.resource.group_resource().to_string(), &name)
            })?;
            respond_object(&req, StatusCode::CREATED, &created)
        }
        (_, "update" | "patch") => update(state, &req).await,
        (_, "delete") => delete(state, &req).await,
        (resource, verb) => Err(ApiError::method_not_allowed(resource, verb)),
    }
}

fn verb(req: &Request) -> &'static str {
    let watch = req.query.get("watch").is_some_and(|v| v == "true" || v == "1");
    match (&req.method, req.name.is_some()) {
        (&Method::GET, false) if watch => "watch",
        (&Method::GET, false) => "list",
        (&Method::GET, true) => "get",
        (&Method::POST, false) => "create",
        (&Method::PUT, true) => "update",
        (&Method::PATCH, true) => "patch",
        (&Method::DELETE, true) => "delete",
        (&Method::DELETE, false) => "deletecollection",
        _ => "unsupported",
    }
}

/// All objects of the request's resource that pass its selectors, as JSON, ordered by
/// namespace and name.
pub(crate) async fn collect(
    state: &AppState,
    req: &Request,
    selectors: &Selectors,
) -> ApiResult<Vec<Value>> {
    let engine = &state.engine;
    let ns = req.namespace.as_deref();
    let mut items: Vec<Value> = match req.resource.resource {
        "packagerevisions" => engine
            .list_package_revisions(ns, &selectors.revision_filter)
            .iter()
            .map(|pr| to_value(&**pr))
            .collect(),
        "packagerevisionresources" => engine
            .list_resources(ns, &selectors.revision_filter)
            .await
            .map_err(|e| ApiError::engine(e, &req.resource.group_resource().to_string(), ""))?
            .iter()
            .map(to_value)
            .collect(),
        "packages" => off_reactor(engine, ns.map(str::to_string), |engine, ns| {
            engine.list_packages(ns.as_deref())
        })
        .await
        .map_err(|e| ApiError::engine(e, &req.resource.group_resource().to_string(), ""))?
        .iter()
        .map(to_value)
        .collect(),
        "repositories" => engine.list_repositories(ns).iter().map(to_value).collect(),
        other => return Err(ApiError::method_not_allowed(other, "list")),
    };
    items.retain(|item| selectors.matches(item));
    items.sort_by_key(sort_key);
    Ok(items)
}

/// Most PackageRevisionResources one list page holds, whatever `limit` asks...
const RESOURCES_PAGE_ITEMS: usize = 500;
/// ...and most bytes of package files in one page (a page ends after the item that crosses it).
const RESOURCES_PAGE_BYTES: usize = 32 << 20;

/// A page of PackageRevisionResources: selection, order, `continue` and `limit` are applied to
/// the package revisions first, and files are read only for the revisions of the page. A page
/// holds at most [`RESOURCES_PAGE_ITEMS`] items and about [`RESOURCES_PAGE_BYTES`] of files; a
/// longer list ends with a `continue` token, as a kube-apiserver page does.
async fn resources_page(
    state: &AppState,
    req: &Request,
    selectors: &Selectors,
    resource_version: i64,
) -> ApiResult<(Vec<Value>, Value)> {
    let engine = &state.engine;
    let mut candidates: Vec<_> = engine
        .list_package_revisions(req.namespace.as_deref(), &selectors.revision_filter)
        .into_iter()
        .filter(|pr| selectors.matches(&to_value(&**pr)))
        .map(|pr| (pr.metadata.namespace.clone(), pr.metadata.name.clone()))
        .collect();
    candidates.sort();
    if let Some(token) = req.query.get("continue").filter(|t| !t.is_empty()) {
        let after = decode_continue(token)?;
        candidates.retain(|key| *key > after);
    }
    let limit = match req.query.get("limit").filter(|l| !l.is_empty()) {
        Some(l) => l.parse().map_err(|_| ApiError::bad_request(format!("invalid limit {l:?}")))?,
        None => 0usize,
    };
    let limit = if limit == 0 { RESOURCES_PAGE_ITEMS } else { limit.min(RESOURCES_PAGE_ITEMS) };
    let mut items = Vec::new();
    let mut bytes = 0usize;
    let mut consumed = 0usize;
    for (ns, name) in &candidates {
        if items.len() >= limit || bytes >= RESOURCES_PAGE_BYTES {
            break;
        }
        consumed += 1;
        match engine.get_resources(ns, name).await {
            Ok(prr) => {
                bytes += prr.spec.resources.values().map(|c| c.len()).sum::<usize>();
                let item = to_value(&prr);
                if selectors.matches(&item) {
                    items.push(item);
                }
            }
            // Deleted since the listing: not part of the page.
            Err(veranda_engine::Error::NotFound { .. }) => {}
            Err(e) => {
                return Err(ApiError::engine(e, &req.resource.group_resource().to_string(), name));
            }
        }
    }
    let mut list_meta = json!({"resourceVersion": resource_version.to_string()});
    let remaining = candidates.len() - consumed;
    if remaining > 0
        && let Some(last) = candidates.get(consumed.wrapping_sub(1))
    {
        list_meta["continue"] = json!(encode_continue(last));
        list_meta["remainingItemCount"] = json!(remaining);
    }
    Ok((items, list_meta))
}

async fn list(state: &AppState, req: &Request) -> ApiResult {
    let selectors = Selectors::parse(req)?;
    let resource_version = state
        .engine
        .current_resource_version()
        .map_err(|e| ApiError::engine(e, &req.resource.group_resource().to_string(), ""))?;
    if req.resource.resource == "packagerevisions" && selectors.typed() {
        match accept::negotiate(&accept_header(req)) {
            Ok(accept::Representation::Object) => {
                return list_package_revisions_fast(state, req, &selectors, resource_version);
            }
            Ok(accept::Representation::Table) if include_object(req)? != IncludeObject::Object => {
                return table_package_revisions_fast(state, req, &selectors, resource_version);
            }
            _ => {}
        }
    }
    let (items, list_meta) = if req.resource.resource == "packagerevisionresources" {
        resources_page(state, req, &selectors, resource_version).await?
    } else {
        let mut items = collect(state, req, &selectors).await?;
        let list_meta = paginate(req, &mut items, sort_key, resource_version)?;
        (items, list_meta)
    };
    let accept_header = accept_header(req);
    match accept::negotiate(&accept_header) {
        Ok(accept::Representation::Table) => {
            let kind = TableKind::for_resource(req.resource.resource)
                .ok_or_else(ApiError::not_found_path)?;
            Ok(json_response(
                StatusCode::OK,
                &table::to_table(kind, &items, list_meta, include_object(req)?),
            ))
        }
        Ok(
            accept::Representation::PartialObjectMetadataList
            | accept::Representation::PartialObjectMetadata,
        ) => {
            let partial: Vec<Value> = items.iter().map(table::partial_object_metadata).collect();
            Ok(json_response(
                StatusCode::OK,
                &table::partial_object_metadata_list(&partial, list_meta),
            ))
        }
        Ok(accept::Representation::Object) => {
            let list = json!({
                "kind": req.resource.list_kind,
                "apiVersion": req.resource.api_version(),
                "metadata": list_meta,
                "items": items,
            });
            Ok(json_response(StatusCode::OK, &list))
        }
        Err(_) => Err(ApiError::from_body(406, veranda_k8s::status::not_acceptable())),
    }
}

async fn get(state: &AppState, req: &Request) -> ApiResult {
    let value = current(state, req).await?;
    respond_value(req, StatusCode::OK, value)
}

/// Runs an engine call that reads the store on the blocking pool, never on the async reactor.
async fn off_reactor<A: Send + 'static, T: Send + 'static>(
    engine: &Arc<veranda_engine::Engine>,
    args: A,
    call: impl FnOnce(&veranda_engine::Engine, A) -> Result<T, veranda_engine::Error> + Send + 'static,
) -> Result<T, veranda_engine::Error> {
    let engine = engine.clone();
    tokio::task::spawn_blocking(move || call(&engine, args))
        .await
        .map_err(|e| veranda_engine::Error::Internal(format!("store read failed: {e}")))?
}

/// The current object the request names, as JSON.
async fn current(state: &AppState, req: &Request) -> ApiResult<Value> {
    let (ns, name) = object_key(req)?;
    let engine = &state.engine;
    let value = match req.resource.resource {
        "packagerevisions" => engine.get_package_revision(ns, name).map(|pr| to_value(&*pr)),
        "packagerevisionresources" => {
            engine.get_resources(ns, name).await.map(|prr| to_value(&prr))
        }
        "packages" => {
            off_reactor(engine, (ns.to_string(), name.to_string()), |engine, (ns, name)| {
                engine.get_package(&ns, &name)
            })
            .await
            .map(|p| to_value(&p))
        }
        "repositories" => engine.get_repository(ns, name).map(|r| to_value(&r)),
        other => return Err(ApiError::method_not_allowed(other, "get")),
    };
    value.map_err(|e| ApiError::engine(e, &req.resource.group_resource().to_string(), name))
}

async fn update(state: &Arc<AppState>, req: &Request) -> ApiResult {
    let (ns, name) = object_key(req)?;
    let engine = &state.engine;
    let is_patch = req.method == Method::PATCH;
    // A server-side apply of an object that does not exist creates it.
    let existing = match current(state, req).await {
        Ok(value) => Some(value),
        Err(e) if is_patch && patch_type(req)? == PatchType::Apply && e.is_not_found() => None,
        Err(e) => return Err(e),
    };
    let desired: Value = match (&existing, is_patch) {
        (Some(current), true) => {
            let kind = patch_type(req)?;
            let mut patched = patch::apply_patch(kind, current, &req.body)
                .map_err(|e| ApiError::from_body(e.code(), e.to_status()))?;
            // A patch without a resourceVersion applies to the current object (no precondition).
            if patched
                .pointer("/metadata/resourceVersion")
                .and_then(Value::as_str)
                .is_none_or(str::is_empty)
            {
                patched["metadata"]["resourceVersion"] =
                    current["metadata"]["resourceVersion"].clone();
            }
            patched
        }
        (None, true) => {
            let mut intent = patch::apply_patch(PatchType::Apply, &json!({}), &req.body)
                .map_err(|e| ApiError::from_body(e.code(), e.to_status()))?;
            intent["metadata"]["name"] = json!(name);
            let create = Request {
                method: Method::POST,
                namespace: req.namespace.clone(),
                resource: req.resource,
                name: None,
                subresource: None,
                query: req.query.clone(),
                headers: req.headers.clone(),
                body: Bytes::from(serde_json::to_vec(&intent).unwrap_or_default()),
                user: req.user.clone(),
            };
            return Box::pin(handle_create(state, &create)).await;
        }
        (_, false) => decode_value(req)?,
    };
    check_type(req, &desired)?;
    let status = StatusCode::OK;
    match (req.resource.resource, req.subresource.as_deref()) {
        ("packagerevisions", sub @ (None | Some("approval"))) => {
            let pr: PackageRevision = from_value(desired)?;
            let endpoint = if sub.is_some() { Endpoint::Approval } else { Endpoint::Update };
            let updated =
                engine.update_package_revision(ns, name, pr, endpoint).await.map_err(|e| {
                    ApiError::engine(e, &req.resource.group_resource().to_string(), name)
                })?;
            respond_object(req, status, &*updated)
        }
        ("packagerevisionresources", None) => {
            let prr: PackageRevisionResources = from_value(desired)?;
            let updated = engine.update_resources(ns, name, prr).await.map_err(|e| {
                ApiError::engine(e, &req.resource.group_resource().to_string(), name)
            })?;
            respond_object(req, status, &updated)
        }
        ("repositories", None) => {
            let repo: Repository = from_value(desired)?;
            let updated = engine.update_repository(ns, name, repo).await.map_err(|e| {
                ApiError::engine(e, &req.resource.group_resource().to_string(), name)
            })?;
            respond_object(req, status, &updated)
        }
        ("repositories", Some("status")) => {
            // Status is owned by the server; accept the write as a no-op so controllers do not fail.
            let repo = engine.get_repository(ns, name).map_err(|e| {
                ApiError::engine(e, &req.resource.group_resource().to_string(), name)
            })?;
            respond_object(req, status, &repo)
        }
        ("packages", None) => Err(engine
            .update_package()
            .map(|_| ())
            .map_err(|e| ApiError::engine(e, &req.resource.group_resource().to_string(), name))
            .unwrap_err()),
        (resource, _) => Err(ApiError::method_not_allowed(resource, verb(req))),
    }
}

async fn handle_create(state: &Arc<AppState>, req: &Request) -> ApiResult {
    handle(
        state,
        Request {
            method: req.method.clone(),
            namespace: req.namespace.clone(),
            resource: req.resource,
            name: None,
            subresource: None,
            query: req.query.clone(),
            headers: req.headers.clone(),
            body: req.body.clone(),
            user: req.user.clone(),
        },
    )
    .await
}

async fn delete(state: &AppState, req: &Request) -> ApiResult {
    let (ns, name) = object_key(req)?;
    let engine = &state.engine;
    let deleted = match req.resource.resource {
        "packagerevisions" => {
            engine.delete_package_revision(ns, name).await.map(|pr| to_value(&*pr))
        }
        "packages" => engine.delete_package(ns, name).await.map(|p| to_value(&p)),
        "repositories" => engine.delete_repository(ns, name).await.map(|r| to_value(&r)),
        other => return Err(ApiError::method_not_allowed(other, "delete")),
    }
    .map_err(|e| ApiError::engine(e, &req.resource.group_resource().to_string(), name))?;
    respond_value(req, StatusCode::OK, deleted)
}

// Helpers.

fn object_key(req: &Request) -> ApiResult<(&str, &str)> {
    match (req.namespace.as_deref(), req.name.as_deref()) {
        (Some(ns), Some(name)) => Ok((ns, name)),
        _ => Err(ApiError::bad_request("namespace and name must be specified")),
    }
}

fn namespace_for_create(req: &Request, in_body: &str) -> ApiResult<String> {
    let ns = req
        .namespace
        .clone()
        .ok_or_else(|| ApiError::bad_request("namespace must be specified"))?;
    if !in_body.is_empty() && in_body != ns {
        return Err(ApiError::bad_request(format!(
            "the namespace of the provided object does not match the namespace sent on the request ({in_body:?} vs {ns:?})"
        )));
    }
    Ok(ns)
}

fn patch_type(req: &Request) -> ApiResult<PatchType> {
    let content_type =
        req.headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    PatchType::from_content_type(content_type).ok_or_else(|| {
        ApiError::from_body(415, veranda_k8s::status::unsupported_media_type(patch::CONTENT_TYPES))
    })
}

fn decode_value(req: &Request) -> ApiResult<Value> {
    let content_type =
        req.headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    let value: Value = if content_type.contains("yaml") {
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

fn decode_object<T: DeserializeOwned>(req: &Request) -> ApiResult<T> {
    let value = decode_value(req)?;
    check_type(req, &value)?;
    from_value(value)
}

/// The body's `apiVersion`/`kind`, when present, must name the request's resource, and with
/// `fieldValidation=Strict` (kubectl's default) unknown fields are rejected.
fn check_type(req: &Request, value: &Value) -> ApiResult<()> {
    if req.query.get("fieldValidation").is_some_and(|v| v == "Strict")
        && let Some(fields) =
            openapi::unknown_fields(&req.resource.api_version(), req.resource.kind, value)
        && !fields.is_empty()
    {
        return Err(ApiError::from_body(
            400,
            veranda_k8s::status::strict_decoding_error(
                req.resource.kind,
                req.resource.version,
                &fields,
            ),
        ));
    }
    let api_version = value.get("apiVersion").and_then(Value::as_str).unwrap_or("");
    let kind = value.get("kind").and_then(Value::as_str).unwrap_or("");
    let expected_kind = req.resource.kind;
    if (!api_version.is_empty() && api_version != req.resource.api_version())
        || (!kind.is_empty() && kind != expected_kind)
    {
        return Err(ApiError::bad_request(format!(
            "the body of the request was of type {api_version}, Kind={kind}, expected {}, Kind={expected_kind}",
            req.resource.api_version()
        )));
    }
    Ok(())
}

fn from_value<T: DeserializeOwned>(mut value: Value) -> ApiResult<T> {
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
                    Some(serde_json::json!({
                        "name": name, "kind": kind,
                        "causes": [{"reason": "FieldValueInvalid", "message": e.message, "field": e.field}],
                    })),
                ),
            )
        })
}

fn to_value<T: Serialize>(object: &T) -> Value {
    serde_json::to_value(object).unwrap_or(Value::Null)
}

fn sort_key(item: &Value) -> (String, String) {
    let meta = &item["metadata"];
    (
        meta["namespace"].as_str().unwrap_or_default().to_string(),
        meta["name"].as_str().unwrap_or_default().to_string(),
    )
}

/// Applies `continue` and `limit` to `items` (sorted by `key`) and returns the list metadata.
/// The continue token is the key of the last item returned.
fn paginate<T>(
    req: &Request,
    items: &mut Vec<T>,
    key: impl Fn(&T) -> (String, String),
    resource_version: i64,
) -> ApiResult<Value> {
    if let Some(token) = req.query.get("continue").filter(|t| !t.is_empty()) {
        let after = decode_continue(token)?;
        items.retain(|item| key(item) > after);
    }
    let limit: usize = match req.query.get("limit") {
        Some(l) if !l.is_empty() => {
            l.parse().map_err(|_| ApiError::bad_request(format!("invalid limit {l:?}")))?
        }
        _ => 0,
    };
    let mut list_meta = json!({"resourceVersion": resource_version.to_string()});
    if limit > 0 && items.len() > limit {
        let remaining = items.len() - limit;
        items.truncate(limit);
        if let Some(last) = items.last() {
            list_meta["continue"] = json!(encode_continue(&key(last)));
            list_meta["remainingItemCount"] = json!(remaining);
        }
    }
    Ok(list_meta)
}

fn encode_continue(key: &(String, String)) -> String {
    veranda_k8s::continue_token::encode(&key.0, &key.1)
}

fn decode_continue(token: &str) -> ApiResult<(String, String)> {
    veranda_k8s::continue_token::decode(token).ok_or_else(|| {
        ApiError::from_body(
            410,
            veranda_k8s::status::gone(
                "the provided continue parameter is too old or malformed; please restart the list",
            ),
        )
    })
}

pub(crate) fn accept_header(req: &Request) -> String {
    req.headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).unwrap_or("").to_string()
}

pub(crate) fn include_object(req: &Request) -> ApiResult<IncludeObject> {
    match req.query.get("includeObject") {
        None => Ok(IncludeObject::Metadata),
        Some(v) => IncludeObject::parse(v)
            .ok_or_else(|| ApiError::bad_request(format!("invalid includeObject {v:?}"))),
    }
}

fn respond_object<T: Serialize>(req: &Request, status: StatusCode, object: &T) -> ApiResult {
    respond_value(req, status, to_value(object))
}

fn respond_value(req: &Request, status: StatusCode, value: Value) -> ApiResult {
    match accept::negotiate(&accept_header(req)) {
        Ok(accept::Representation::Table) => {
            let kind = TableKind::for_resource(req.resource.resource)
                .ok_or_else(ApiError::not_found_path)?;
            Ok(json_response(status, &table::object_to_table(kind, &value, include_object(req)?)))
        }
        Ok(
            accept::Representation::PartialObjectMetadata
            | accept::Representation::PartialObjectMetadataList,
        ) => Ok(json_response(status, &table::partial_object_metadata(&value))),
        Ok(accept::Representation::Object) => Ok(json_response(status, &value)),
        Err(_) => Err(ApiError::from_body(406, veranda_k8s::status::not_acceptable())),
    }
}

pub(crate) fn json_response(status: StatusCode, value: &Value) -> Response {
    let body = serde_json::to_vec(value).unwrap_or_default();
    (status, [(header::CONTENT_TYPE, accept::JSON)], body).into_response()
}

fn with_content_type(mut response: Response, content_type: &'static str) -> Response {
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, header::HeaderValue::from_static(content_type));
    response
}

fn parse_query(uri: &Uri) -> ApiResult<HashMap<String, String>> {
    serde_urlencoded::from_str(uri.query().unwrap_or(""))
        .map_err(|e| ApiError::bad_request(format!("invalid query string: {e}")))
}

/// Package revisions passing the selectors, sorted and paginated, from the engine's cached
/// objects; plus the list metadata.
#[allow(clippy::type_complexity)]
fn package_revision_page(
    state: &AppState,
    req: &Request,
    selectors: &Selectors,
    resource_version: i64,
) -> ApiResult<(Vec<(std::sync::Arc<PackageRevision>, std::sync::Arc<str>)>, Value)> {
    let mut items: Vec<((String, String), std::sync::Arc<PackageRevision>, std::sync::Arc<str>)> =
        state
            .engine
            .list_package_revisions_json(req.namespace.as_deref(), &selectors.revision_filter)
            .into_iter()
            .filter(|(pr, _)| selectors.matches_labels(&pr.metadata.labels))
            .map(|(pr, json)| ((pr.metadata.namespace.clone(), pr.metadata.name.clone()), pr, json))
            .collect();
    items.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    let list_meta = paginate(req, &mut items, |(key, _, _)| key.clone(), resource_version)?;
    Ok((items.into_iter().map(|(_, pr, json)| (pr, json)).collect(), list_meta))
}

/// `kubectl get packagerevisions`: the Table is built from slim objects (metadata and the
/// columns' fields), not from whole objects, which keeps large lists fast and small.
fn table_package_revisions_fast(
    state: &AppState,
    req: &Request,
    selectors: &Selectors,
    resource_version: i64,
) -> ApiResult {
    let (items, list_meta) = package_revision_page(state, req, selectors, resource_version)?;
    let slim = items.iter().map(|(pr, _)| {
        json!({
            "metadata": to_value(&pr.metadata),
            "spec": {
                "packageName": pr.spec.package_name,
                "workspaceName": pr.spec.workspace_name,
                "revision": pr.spec.revision,
                "lifecycle": pr.spec.lifecycle.map(|l| l.as_str()),
                "repository": pr.spec.repository,
            },
        })
    });
    // About 350 bytes per row as kubectl asks for it (cells and object metadata).
    let mut body = Vec::with_capacity(items.len() * 384 + 2048);
    table::write_table(
        &mut body,
        TableKind::PackageRevisions,
        slim,
        &list_meta,
        include_object(req)?,
    )
    .map_err(|e| ApiError::new(500, "InternalError", format!("write table: {e}")))?;
    Ok((StatusCode::OK, [(header::CONTENT_TYPE, accept::JSON)], body).into_response())
}

/// The common large list — package revisions as JSON — written from each revision's cached JSON
/// text, without building a value tree per item.
fn list_package_revisions_fast(
    state: &AppState,
    req: &Request,
    selectors: &Selectors,
    resource_version: i64,
) -> ApiResult {
    let (items, list_meta) = package_revision_page(state, req, selectors, resource_version)?;
    let mut body =
        Vec::with_capacity(items.iter().map(|(_, json)| json.len() + 1).sum::<usize>() + 256);
    body.extend_from_slice(b"{\"kind\":\"");
    body.extend_from_slice(req.resource.list_kind.as_bytes());
    body.extend_from_slice(b"\",\"apiVersion\":\"");
    body.extend_from_slice(req.resource.api_version().as_bytes());
    body.extend_from_slice(b"\",\"metadata\":");
    body.extend_from_slice(list_meta.to_string().as_bytes());
    body.extend_from_slice(b",\"items\":[");
    for (i, (_, json)) in items.iter().enumerate() {
        if i > 0 {
            body.push(b',');
        }
        body.extend_from_slice(json.as_bytes());
    }
    body.extend_from_slice(b"]}");
    Ok((StatusCode::OK, [(header::CONTENT_TYPE, accept::JSON)], body).into_response())
}
