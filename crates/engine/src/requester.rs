//! The user a request is made for, carried through the engine the way Porch carries it in the
//! request's context: the server runs each request inside [`as_user`]; every write the engine
//! makes for it (commits, approvals, deletions) is made for [`author`], and the checks that
//! depend on who asks (which remotes a request may touch) ask [`is_admin`].
//!
//! The repository decides what the author means for Git (its configured author takes
//! precedence). Work outside a request (syncs, garbage collection, engine tests) runs as the
//! service itself: no author, and every check passes.

use std::future::Future;

pub use veranda_storage::Author;

/// The group whose members may do anything (as kube-apiserver's `system:masters`).
pub const ADMIN_GROUP: &str = "system:masters";

/// An authenticated user, as the server's authentication established it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct User {
    /// The user name (`alice`, `system:serviceaccount:ns:name`).
    pub name: String,
    /// The groups the user is in.
    pub groups: Vec<String>,
}

impl User {
    /// Whether the user is in [`ADMIN_GROUP`].
    pub fn is_admin(&self) -> bool {
        self.groups.iter().any(|g| g == ADMIN_GROUP)
    }
}

tokio::task_local! {
    static REQUESTER: Option<User>;
}

/// Runs `f` as a request made for `user`.
pub async fn as_user<F: Future>(user: Option<User>, f: F) -> F::Output {
    REQUESTER.scope(user, f).await
}

/// The user of the request being served, if any.
pub(crate) fn current() -> Option<User> {
    REQUESTER.try_with(Clone::clone).ok().flatten()
}

/// The author of the commits of the request being served. As Porch, a Kubernetes user has one
/// name, used as both the name and the email (see [`Author::for_user`]).
pub(crate) fn author() -> Option<Author> {
    current().filter(|user| !user.name.is_empty()).map(|user| Author::for_user(&user.name))
}

/// Whether the request being served may do anything: an admin's, or none (the service's own).
pub(crate) fn is_admin() -> bool {
    current().is_none_or(|user| user.is_admin())
}
