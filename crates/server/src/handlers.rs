//! The verbs on resources: list, watch, get, create, update/patch (server-side apply included),
//! delete. Each verb is one function; what differs between resources is the engine call, an
//! exhaustive match on [`Resource`]. Engine errors are mapped once per verb, by
//! [`Request::engine_error`].

pub(crate) mod documents;
mod rbac;
mod resources;
mod revisions;

use std::sync::Arc;

use axum::{body::Bytes, http::Method, http::StatusCode};
use serde_json::{Value, json};
use veranda_api::{
    lifecycle::Endpoint,
    secret::Secret,
    types::{PackageRevision, PackageRevisionResources, PorchPackage, Repository},
};
use veranda_engine::Engine;
use veranda_k8s::{
    accept::Representation,
    patch::{self, PatchType},
    table::IncludeObject,
};

use crate::{
    app::AppState,
    authz,
    codec::{self, to_value},
    error::{ApiError, ApiResult},
    pagination,
    request::{Request, Resource, Subresource, Verb},
    select::Selectors,
    watch,
};

/// Serves a resource request.
pub(crate) async fn handle(state: &Arc<AppState>, req: Request) -> ApiResult {
    let verb = req.verb();
    let supported = match req.subresource {
        None => req.resource.api().supports(verb.as_str()),
        // A subresource takes only its own verbs: a DELETE of `.../approval` is not a
        // deletion of the object.
        Some(sub) => req
            .resource
            .api()
            .subresource(sub.as_str())
            .is_some_and(|s| s.verbs.contains(&verb.as_str())),
    };
    if !supported {
        return Err(ApiError::method_not_allowed(req.resource.plural(), verb.as_str()));
    }
    if req.resource.namespaced()
        && req.namespace.is_none()
        && !matches!(verb, Verb::List | Verb::Watch)
    {
        return Err(ApiError::bad_request("namespace must be specified"));
    }
    if let Resource::Review(review) = req.resource {
        return authz::review(state, &req, review);
    }
    match verb {
        Verb::List => list(state, &req).await,
        Verb::Watch => watch::watch(state, &req).await,
        Verb::Get => get(state, &req).await,
        Verb::Create => create(state, &req).await,
        Verb::Update | Verb::Patch => update(state, &req).await,
        Verb::Delete => delete(state, &req).await,
        Verb::DeleteCollection if req.subresource.is_none() => delete_collection(state, &req).await,
        Verb::DeleteCollection | Verb::Unsupported => {
            Err(ApiError::method_not_allowed(req.resource.plural(), verb.as_str()))
        }
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
    let filter = &selectors.revision_filter;
    let mut items: Vec<Value> = match req.resource {
        Resource::PackageRevisions => {
            engine.list_package_revisions(ns, filter).iter().map(|pr| to_value(&**pr)).collect()
        }
        Resource::PackageRevisionResources => engine
            .list_resources(ns, filter)
            .await
            .map_err(req.engine_error(""))?
            .iter()
            .map(to_value)
            .collect(),
        Resource::Packages => off_reactor(engine, ns.map(str::to_string), |engine, ns| {
            engine.list_packages(ns.as_deref())
        })
        .await
        .map_err(req.engine_error(""))?
        .iter()
        .map(to_value)
        .collect(),
        Resource::Repositories => engine.list_repositories(ns).iter().map(to_value).collect(),
        Resource::Secrets => engine
            .list_secrets(ns)
            .await
            .map_err(req.engine_error(""))?
            .iter()
            .map(to_value)
            .collect(),
        Resource::Rbac(kind) => rbac::list(engine, kind, ns),
        Resource::Review(_) => {
            return Err(ApiError::method_not_allowed(req.resource.plural(), "list"));
        }
    };
    items.retain(|item| selectors.matches(item));
    items.sort_by_key(pagination::sort_key);
    Ok(items)
}

async fn list(state: &AppState, req: &Request) -> ApiResult {
    let selectors = Selectors::parse(req)?;
    let resource_version = state.engine.watch_position().map_err(req.engine_error(""))?;
    if req.resource == Resource::PackageRevisions && selectors.typed() {
        match codec::negotiate(req) {
            Ok(Representation::Object) => {
                return revisions::list(state, req, &selectors, resource_version);
            }
            Ok(Representation::Table) if codec::include_object(req)? != IncludeObject::Object => {
                return revisions::table(state, req, &selectors, resource_version);
            }
            _ => {}
        }
    }
    let (items, list_meta) = if req.resource == Resource::PackageRevisionResources {
        resources::page(state, req, &selectors, resource_version).await?
    } else {
        let mut items = collect(state, req, &selectors).await?;
        let list_meta =
            pagination::paginate(req, &mut items, pagination::sort_key, resource_version)?;
        (items, list_meta)
    };
    codec::respond_list(req, items, list_meta)
}

async fn get(state: &AppState, req: &Request) -> ApiResult {
    let value = current(state, req).await?;
    codec::respond(req, StatusCode::OK, value)
}

/// The current object the request names, as JSON.
async fn current(state: &AppState, req: &Request) -> ApiResult<Value> {
    let (ns, name) = req.object_key()?;
    let engine = &state.engine;
    let value = match req.resource {
        Resource::PackageRevisions => {
            engine.get_package_revision(ns, name).map(|pr| to_value(&*pr))
        }
        Resource::PackageRevisionResources => {
            engine.get_resources(ns, name).await.map(|prr| to_value(&prr))
        }
        Resource::Packages => {
            off_reactor(engine, (ns.to_string(), name.to_string()), |engine, (ns, name)| {
                engine.get_package(&ns, &name)
            })
            .await
            .map(|p| to_value(&p))
        }
        Resource::Repositories => engine.get_repository(ns, name).map(|r| to_value(&r)),
        Resource::Secrets => engine.get_secret(ns, name).await.map(|s| to_value(&s)),
        Resource::Rbac(kind) => rbac::get(engine, kind, ns, name),
        Resource::Review(_) => {
            return Err(ApiError::method_not_allowed(req.resource.plural(), "get"));
        }
    };
    value.map_err(req.engine_error(name))
}

async fn create(state: &AppState, req: &Request) -> ApiResult {
    let engine = &state.engine;
    let (name, created) = match req.resource {
        Resource::PackageRevisions => {
            let pr: PackageRevision = codec::decode_object(req)?;
            let ns = req.namespace_for_create(&pr.metadata.namespace)?;
            let name = pr.metadata.name.clone();
            (name, engine.create_package_revision(&ns, pr).await.map(|pr| to_value(&*pr)))
        }
        Resource::Repositories => {
            let repo: Repository = codec::decode_object(req)?;
            let ns = req.namespace_for_create(&repo.metadata.namespace)?;
            let name = repo.metadata.name.clone();
            (name, engine.create_repository(&ns, repo).await.map(|r| to_value(&r)))
        }
        Resource::Packages => {
            let package: PorchPackage = codec::decode_object(req)?;
            let ns = req.namespace_for_create(&package.metadata.namespace)?;
            let name = package.metadata.name.clone();
            (name, engine.create_package(&ns, package).await.map(|p| to_value(&p)))
        }
        Resource::Secrets => {
            let secret: Secret = codec::decode_object(req)?;
            let ns = req.namespace_for_create(&secret.metadata.namespace)?;
            let name = secret.metadata.name.clone();
            (name, engine.create_secret(&ns, secret).await.map(|s| to_value(&s)))
        }
        Resource::Rbac(kind) => rbac::create(engine, kind, req).await?,
        Resource::PackageRevisionResources | Resource::Review(_) => {
            return Err(ApiError::method_not_allowed(req.resource.plural(), Verb::Create.as_str()));
        }
    };
    let created = created.map_err(req.engine_error(&name))?;
    codec::respond(req, StatusCode::CREATED, created)
}

/// PUT (the body is the new object) and PATCH (the body patches the current object; a
/// server-side apply of an object that does not exist creates it).
async fn update(state: &Arc<AppState>, req: &Request) -> ApiResult {
    let (ns, name) = req.object_key()?;
    let patch_type = match req.method == Method::PATCH {
        true => Some(codec::patch_type(req)?),
        false => None,
    };
    let existing = match current(state, req).await {
        Ok(value) => Some(value),
        Err(e) if patch_type == Some(PatchType::Apply) && e.is_not_found() => None,
        Err(e) => return Err(e),
    };
    let desired = match (existing, patch_type) {
        (Some(current), Some(patch_type)) => patched(patch_type, &current, &req.body)?,
        (Some(_), None) => codec::decode_value(req)?,
        (None, _) => return create_on_apply(state, req, name).await,
    };
    codec::check_type(req, &desired)?;
    let engine = &state.engine;
    let updated = match (req.resource, req.subresource) {
        (Resource::PackageRevisions, None) => {
            let pr: PackageRevision = codec::from_value(desired)?;
            engine
                .update_package_revision(ns, name, pr, Endpoint::Update)
                .await
                .map(|pr| to_value(&*pr))
        }
        (Resource::PackageRevisions, Some(Subresource::Approval)) => {
            let pr: PackageRevision = codec::from_value(desired)?;
            engine
                .update_package_revision(ns, name, pr, Endpoint::Approval)
                .await
                .map(|pr| to_value(&*pr))
        }
        (Resource::PackageRevisionResources, None) => {
            let prr: PackageRevisionResources = codec::from_value(desired)?;
            engine.update_resources(ns, name, prr).await.map(|prr| to_value(&prr))
        }
        (Resource::Repositories, None) => {
            let repo: Repository = codec::from_value(desired)?;
            engine.update_repository(ns, name, repo).await.map(|r| to_value(&r))
        }
        // Status is owned by the server; accept the write as a no-op so controllers do not fail.
        (Resource::Repositories, Some(Subresource::Status)) => {
            engine.get_repository(ns, name).map(|r| to_value(&r))
        }
        (Resource::Packages, None) => engine.update_package().map(|p| to_value(&p)),
        (Resource::Secrets, None) => {
            let secret: Secret = codec::from_value(desired)?;
            engine.update_secret(ns, name, secret).await.map(|s| to_value(&s))
        }
        (Resource::Rbac(kind), None) => {
            rbac::update(engine, req, kind, (ns, name), desired).await?
        }
        (Resource::Review(_), None) => {
            return Err(ApiError::method_not_allowed(req.resource.plural(), "update"));
        }
        (resource, Some(_)) => {
            return Err(ApiError::method_not_allowed(resource.plural(), req.verb().as_str()));
        }
    };
    let updated = updated.map_err(req.engine_error(name))?;
    codec::respond(req, StatusCode::OK, updated)
}

/// `current` patched by `body`. A patch without a resourceVersion applies to the current
/// object (no precondition).
fn patched(patch_type: PatchType, current: &Value, body: &[u8]) -> ApiResult<Value> {
    let mut patched = patch::apply_patch(patch_type, current, body)
        .map_err(|e| ApiError::from_body(e.code(), e.to_status()))?;
    if !patched.is_object() || !patched.get("metadata").is_none_or(Value::is_object) {
        return Err(ApiError::new(
            422,
            "Invalid",
            "the patched object must be a JSON object whose metadata is an object",
        ));
    }
    if patched
        .pointer("/metadata/resourceVersion")
        .and_then(Value::as_str)
        .is_none_or(str::is_empty)
    {
        patched["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"].clone();
    }
    Ok(patched)
}

/// A server-side apply of an object that does not exist: the apply configuration, named by the
/// path, is created as a POST of it would be.
async fn create_on_apply(state: &Arc<AppState>, req: &Request, name: &str) -> ApiResult {
    let mut intent = patch::apply_patch(PatchType::Apply, &json!({}), &req.body)
        .map_err(|e| ApiError::from_body(e.code(), e.to_status()))?;
    if !intent.is_object() || !intent.get("metadata").is_none_or(Value::is_object) {
        return Err(ApiError::new(
            422,
            "Invalid",
            "the apply configuration must be a JSON object whose metadata is an object",
        ));
    }
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
    // An apply that creates needs the `create` verb too, as in kube-apiserver.
    authz::authorize(state, &create)?;
    Box::pin(handle(state, create)).await
}

async fn delete(state: &AppState, req: &Request) -> ApiResult {
    let (ns, name) = req.object_key()?;
    let engine = &state.engine;
    let deleted = match req.resource {
        Resource::PackageRevisions => {
            engine.delete_package_revision(ns, name).await.map(|pr| to_value(&*pr))
        }
        Resource::Packages => engine.delete_package(ns, name).await.map(|p| to_value(&p)),
        Resource::Repositories => engine.delete_repository(ns, name).await.map(|r| to_value(&r)),
        Resource::Secrets => engine.delete_secret(ns, name).await.map(|s| to_value(&s)),
        Resource::Rbac(kind) => rbac::delete(engine, kind, ns, name).await,
        Resource::PackageRevisionResources | Resource::Review(_) => {
            return Err(ApiError::method_not_allowed(req.resource.plural(), Verb::Delete.as_str()));
        }
    };
    let deleted = deleted.map_err(req.engine_error(name))?;
    let gone = deleted.pointer("/metadata/deletionTimestamp").is_none();
    let owns_dependents = !matches!(req.resource, Resource::Secrets | Resource::Rbac(_));
    if gone && owns_dependents && !orphans(req) {
        let uid = deleted.pointer("/metadata/uid").and_then(Value::as_str).unwrap_or_default();
        state.engine.collect_dependents(uid.to_owned());
    }
    codec::respond(req, StatusCode::OK, deleted)
}

/// Whether a deletion asks to orphan dependents: `propagationPolicy=Orphan` in the query or in a
/// DeleteOptions body (or the older `orphanDependents: true`).
fn orphans(req: &Request) -> bool {
    if req.query.get("propagationPolicy").is_some_and(|p| p == "Orphan")
        || req.query.get("orphanDependents").is_some_and(|o| o == "true")
    {
        return true;
    }
    let Ok(options) = serde_json::from_slice::<Value>(&req.body) else { return false };
    options.get("propagationPolicy").and_then(Value::as_str) == Some("Orphan")
        || options.get("orphanDependents").and_then(Value::as_bool) == Some(true)
}

/// Deletes every object of the namespace that passes the request's selectors (Repositories and
/// Secrets; discovery lists the verb for those only) and answers the list of what was deleted,
/// as kube-apiserver does. Each deletion is the single-object delete; the first failure stops
/// the collection and is the answer.
async fn delete_collection(state: &AppState, req: &Request) -> ApiResult {
    let ns = match (req.namespace.as_deref(), req.resource.namespaced()) {
        (_, false) => "",
        (Some(ns), true) => ns,
        (None, true) => return Err(ApiError::bad_request("namespace must be specified")),
    };
    let selectors = Selectors::parse(req)?;
    let items = collect(state, req, &selectors).await?;
    let engine = &state.engine;
    let mut deleted = Vec::new();
    for item in items {
        let name = item.pointer("/metadata/name").and_then(Value::as_str).unwrap_or_default();
        let gone = match req.resource {
            Resource::Repositories => {
                engine.delete_repository(ns, name).await.map(|r| to_value(&r))
            }
            Resource::Secrets => engine.delete_secret(ns, name).await.map(|s| to_value(&s)),
            Resource::Rbac(kind) => rbac::delete(engine, kind, ns, name).await,
            _ => {
                return Err(ApiError::method_not_allowed(
                    req.resource.plural(),
                    "deletecollection",
                ));
            }
        };
        deleted.push(gone.map_err(req.engine_error(name))?);
    }
    let resource_version = engine.watch_position().map_err(req.engine_error(""))?;
    codec::respond_list(req, deleted, json!({"resourceVersion": resource_version.to_string()}))
}

/// Runs an engine call that reads the store on the blocking pool, never on the async reactor.
async fn off_reactor<A: Send + 'static, T: Send + 'static>(
    engine: &Arc<Engine>,
    args: A,
    call: impl FnOnce(&Engine, A) -> Result<T, veranda_engine::Error> + Send + 'static,
) -> Result<T, veranda_engine::Error> {
    let engine = engine.clone();
    tokio::task::spawn_blocking(move || call(&engine, args))
        .await
        .map_err(|e| veranda_engine::Error::Internal(format!("store read failed: {e}")))?
}
