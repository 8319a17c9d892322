//! The user a request is made for, carried through the engine's writes the way Porch carries it
//! in the request's context: the server runs each request inside [`as_user`], and every write
//! the engine makes for it (commits, approvals, deletions) is made for [`current`].
//!
//! The repository decides what that means for Git (its configured author takes precedence);
//! writes outside a request (syncs, garbage collection) run for nobody, as the service.

use std::future::Future;

pub use veranda_storage::Author;

tokio::task_local! {
    static REQUESTER: Option<Author>;
}

/// Runs `f` as a request made for `user`.
///
/// As Porch, an authenticated Kubernetes user has one name, used as both the name and the email
/// of the commits (see [`Author::for_user`]).
pub async fn as_user<F: Future>(user: Option<Author>, f: F) -> F::Output {
    REQUESTER.scope(user, f).await
}

/// The user of the request being served, if any.
pub(crate) fn current() -> Option<Author> {
    REQUESTER.try_with(Clone::clone).ok().flatten()
}
