//! The large lists of package revisions, written from the engine's cached objects: the JSON list
//! from each revision's shared JSON text, chunk by chunk as the client reads it (`listbody`),
//! the Table from slim objects. Both skip building a value tree per item, which keeps
//! `kubectl get packagerevisions` fast on big repositories.

use std::sync::Arc;

use serde_json::{Value, json};
use veranda_api::types::PackageRevision;
use veranda_k8s::table::{self, TableKind};

use crate::{
    app::AppState,
    codec,
    error::{ApiError, ApiResult},
    listbody::JsonList,
    pagination::{self, Key},
    request::Request,
    select::Selectors,
};

/// A package revision and its shared JSON text.
type Shared = (Arc<PackageRevision>, Arc<str>);

/// `kubectl get packagerevisions`: the Table is built from slim objects (metadata and the
/// columns' fields), not from whole objects, which keeps large lists fast and small.
pub(super) fn table(
    state: &AppState,
    req: &Request,
    selectors: &Selectors,
    resource_version: i64,
) -> ApiResult {
    let (items, list_meta) = page(state, req, selectors, resource_version)?;
    let slim = items.iter().map(|(pr, _)| {
        json!({
            "metadata": codec::to_value(&pr.metadata),
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
        codec::include_object(req)?,
    )
    .map_err(|e| ApiError::new(500, "InternalError", format!("write table: {e}")))?;
    Ok(codec::json_bytes_response(body))
}

/// The common large list — package revisions as JSON — written from each revision's cached JSON
/// text.
pub(super) fn list(
    state: &AppState,
    req: &Request,
    selectors: &Selectors,
    resource_version: i64,
) -> ApiResult {
    let (items, list_meta) = page(state, req, selectors, resource_version)?;
    let resource = req.resource.api();
    let mut head = Vec::with_capacity(256);
    head.extend_from_slice(b"{\"kind\":\"");
    head.extend_from_slice(resource.list_kind.as_bytes());
    head.extend_from_slice(b"\",\"apiVersion\":\"");
    head.extend_from_slice(resource.api_version().as_bytes());
    head.extend_from_slice(b"\",\"metadata\":");
    head.extend_from_slice(list_meta.to_string().as_bytes());
    head.extend_from_slice(b",\"items\":[");
    let texts = items.into_iter().map(|(_, json)| json).collect();
    let body = axum::body::Body::new(JsonList::new(head, texts, b"]}"));
    Ok(codec::json_bytes_response(body))
}

/// Package revisions passing the selectors, sorted and paginated, from the engine's cached
/// objects; plus the list metadata.
fn page(
    state: &AppState,
    req: &Request,
    selectors: &Selectors,
    resource_version: i64,
) -> ApiResult<(Vec<Shared>, Value)> {
    let mut items: Vec<(Key, Shared)> = state
        .engine
        .list_package_revisions_json(req.namespace.as_deref(), &selectors.revision_filter)
        .into_iter()
        .filter(|(pr, _)| selectors.matches_labels(&pr.metadata.labels))
        .map(|(pr, json)| ((pr.metadata.namespace.clone(), pr.metadata.name.clone()), (pr, json)))
        .collect();
    items.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    let list_meta =
        pagination::paginate(req, &mut items, |(key, _)| key.clone(), resource_version)?;
    Ok((items.into_iter().map(|(_, shared)| shared).collect(), list_meta))
}
