//! `limit` and `continue` of list requests.
//!
//! Lists are ordered by (namespace, name); the continue token is the key of the last item
//! returned, so a page after it is the same whatever changed meanwhile (an item created before
//! the token's key is not seen, as with the kube-apiserver's consistent pages). A token that
//! cannot be decoded is 410 Gone: the client restarts the list.

use serde_json::{Value, json};

use crate::{
    error::{ApiError, ApiResult},
    request::Request,
};

/// The (namespace, name) key lists are ordered by.
pub(crate) type Key = (String, String);

/// The page a list request asks for.
pub(crate) struct Page {
    /// Items up to this key were returned by the previous page.
    pub(crate) after: Option<Key>,
    /// Most items to return; 0 for all.
    pub(crate) limit: usize,
}

impl Page {
    /// Parses `continue` (410 when malformed), then `limit` (400 when not a number).
    pub(crate) fn parse(req: &Request) -> ApiResult<Page> {
        let after = match req.query.get("continue").filter(|t| !t.is_empty()) {
            Some(token) => Some(decode_continue(token)?),
            None => None,
        };
        let limit = match req.query.get("limit").filter(|l| !l.is_empty()) {
            Some(l) => {
                l.parse().map_err(|_| ApiError::bad_request(format!("invalid limit {l:?}")))?
            }
            None => 0,
        };
        Ok(Page { after, limit })
    }
}

/// Applies the request's page to `items` (sorted by `key`) and returns the list metadata.
pub(crate) fn paginate<T>(
    req: &Request,
    items: &mut Vec<T>,
    key: impl Fn(&T) -> Key,
    resource_version: i64,
) -> ApiResult<Value> {
    let page = Page::parse(req)?;
    if let Some(after) = &page.after {
        items.retain(|item| key(item) > *after);
    }
    let mut continued = None;
    if page.limit > 0 && items.len() > page.limit {
        let remaining = items.len() - page.limit;
        items.truncate(page.limit);
        continued = items.last().map(|last| (key(last), remaining));
    }
    Ok(list_meta(resource_version, continued.as_ref().map(|(key, n)| (key, *n))))
}

/// List metadata: the list's resourceVersion and, when more items follow, the continue token
/// after `last` and how many items remain.
pub(crate) fn list_meta(resource_version: i64, continued: Option<(&Key, usize)>) -> Value {
    let mut list_meta = json!({"resourceVersion": resource_version.to_string()});
    if let Some((last, remaining)) = continued {
        list_meta["continue"] = json!(veranda_k8s::continue_token::encode(&last.0, &last.1));
        list_meta["remainingItemCount"] = json!(remaining);
    }
    list_meta
}

/// The key of a served object.
pub(crate) fn sort_key(item: &Value) -> Key {
    let meta = &item["metadata"];
    (
        meta["namespace"].as_str().unwrap_or_default().to_string(),
        meta["name"].as_str().unwrap_or_default().to_string(),
    )
}

fn decode_continue(token: &str) -> ApiResult<Key> {
    veranda_k8s::continue_token::decode(token).ok_or_else(|| {
        ApiError::from_body(
            410,
            veranda_k8s::status::gone(
                "the provided continue parameter is too old or malformed; please restart the list",
            ),
        )
    })
}
