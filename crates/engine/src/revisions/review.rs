//! Separation of duties: under `--require-review` (or on a Repository annotated
//! `veranda.dev/require-review: "true"`), a revision is published only through Proposed and by
//! a user who did not create or change its content.
//!
//! Who changed the content is kept in the server-managed annotation [`CHANGED_BY`] of the
//! revision (user names in the order they first changed it): set on create, on each resources
//! update and Kptfile edit; what a client sends for it is ignored.

use veranda_api::ObjectMeta;

use crate::{Error, Kind, requester};

/// The users who created or changed a revision's content, comma-separated.
pub const CHANGED_BY: &str = "veranda.dev/changed-by";

/// The Repository annotation that turns review on for its revisions.
pub const REQUIRE_REVIEW: &str = "veranda.dev/require-review";

/// `meta` with the managed annotation as it was in `previous` (none for a new revision),
/// whatever the request carried.
pub(crate) fn keep_changed_by(meta: &mut ObjectMeta, previous: Option<&ObjectMeta>) {
    match previous.and_then(|p| p.annotations.get(CHANGED_BY)) {
        Some(users) => meta.annotations.insert(CHANGED_BY.to_string(), users.clone()),
        None => meta.annotations.remove(CHANGED_BY),
    };
}

/// Records that the user of the request changed the content.
pub(crate) fn note_change(meta: &mut ObjectMeta) {
    let Some(user) = requester::current().map(|user| user.name).filter(|n| !n.is_empty()) else {
        return;
    };
    let mut users: Vec<String> = changed_by(meta);
    if !users.contains(&user) {
        users.push(user);
    }
    meta.annotations.insert(CHANGED_BY.to_string(), users.join(","));
}

fn changed_by(meta: &ObjectMeta) -> Vec<String> {
    meta.annotations
        .get(CHANGED_BY)
        .map(|users| users.split(',').filter(|u| !u.is_empty()).map(str::to_string).collect())
        .unwrap_or_default()
}

/// Refuses a publication review forbids: straight from Draft, or by a user who changed the
/// content. Requests outside a request context (the service itself) are not held to it.
pub(crate) fn check_publish(name: &str, from_draft: bool, meta: &ObjectMeta) -> Result<(), Error> {
    let forbidden = |message: String| Error::Forbidden {
        kind: Kind::PackageRevision,
        name: name.to_string(),
        message,
    };
    let Some(user) = requester::current() else { return Ok(()) };
    if from_draft {
        return Err(forbidden(
            "review is required: a Draft cannot be published directly; propose it first".into(),
        ));
    }
    let authors = changed_by(meta);
    if authors.is_empty() && !user.is_admin() {
        return Err(forbidden(
            "review is required: no user is recorded as having created or changed this revision (its content came from Git directly), so only an administrator may approve it".into(),
        ));
    }
    if authors.contains(&user.name) {
        return Err(forbidden(format!(
            "review is required: user {:?} created or changed the content of this revision and cannot approve it; another user must",
            user.name
        )));
    }
    Ok(())
}
