//! Pages of PackageRevisionResources, whose items carry whole packages: selection, order,
//! `continue` and `limit` are applied to the package revisions first, and files are read only
//! for the revisions of the page.

use serde_json::Value;

use crate::{
    app::AppState,
    codec,
    error::ApiResult,
    pagination::{self, Page},
    request::Request,
    select::Selectors,
};

/// Most PackageRevisionResources one list page holds, whatever `limit` asks...
const PAGE_ITEMS: usize = 500;
/// ...and most bytes of package files in one page (a page ends after the item that crosses it).
const PAGE_BYTES: usize = 32 << 20;

/// A page of at most [`PAGE_ITEMS`] items and about [`PAGE_BYTES`] of files; a longer list ends
/// with a `continue` token, as a kube-apiserver page does.
pub(super) async fn page(
    state: &AppState,
    req: &Request,
    selectors: &Selectors,
    resource_version: i64,
) -> ApiResult<(Vec<Value>, Value)> {
    let engine = &state.engine;
    let mut candidates: Vec<_> = engine
        .list_package_revisions(req.namespace.as_deref(), &selectors.revision_filter)
        .into_iter()
        .filter(|pr| selectors.matches(&codec::to_value(&**pr)))
        .map(|pr| (pr.metadata.namespace.clone(), pr.metadata.name.clone()))
        .collect();
    candidates.sort();
    let page = Page::parse(req)?;
    if let Some(after) = &page.after {
        candidates.retain(|key| key > after);
    }
    let limit = if page.limit == 0 { PAGE_ITEMS } else { page.limit.min(PAGE_ITEMS) };
    let mut items = Vec::new();
    let mut bytes = 0usize;
    let mut consumed = 0usize;
    for (ns, name) in &candidates {
        if items.len() >= limit || bytes >= PAGE_BYTES {
            break;
        }
        consumed += 1;
        match engine.get_resources(ns, name).await {
            Ok(prr) => {
                bytes += prr.spec.resources.values().map(|c| c.len()).sum::<usize>();
                let item = codec::to_value(&prr);
                if selectors.matches(&item) {
                    items.push(item);
                }
            }
            // Deleted since the listing: not part of the page.
            Err(veranda_engine::Error::NotFound { .. }) => {}
            Err(e) => return Err(req.engine_error(name)(e)),
        }
    }
    let remaining = candidates.len() - consumed;
    let continued = match consumed.checked_sub(1).and_then(|last| candidates.get(last)) {
        Some(last) if remaining > 0 => Some((last, remaining)),
        _ => None,
    };
    Ok((items, pagination::list_meta(resource_version, continued)))
}
