//! Wire types of the Porch-compatible API (`porch.kpt.dev/v1alpha1`, `config.porch.kpt.dev/v1alpha1`)
//! and the pure rules around them: names, UIDs, lifecycle transitions, validation.
//!
//! Everything here is I/O free so that the rules can be tested exhaustively in unit tests.

pub mod lifecycle;
pub mod meta;
pub mod metadata;
pub mod names;
pub mod rbac;
pub mod secret;
pub mod types;

pub use lifecycle::Lifecycle;
pub use meta::{ObjectMeta, OwnerReference};

/// API group of package revisions, resources and packages.
pub const PORCH_GROUP: &str = "porch.kpt.dev";
/// API group of repositories.
pub const CONFIG_GROUP: &str = "config.porch.kpt.dev";
/// The only served version of both groups.
pub const VERSION: &str = "v1alpha1";
/// `apiVersion` of package revisions, resources and packages.
pub const PORCH_API_VERSION: &str = "porch.kpt.dev/v1alpha1";
/// `apiVersion` of repositories.
pub const CONFIG_API_VERSION: &str = "config.porch.kpt.dev/v1alpha1";
/// Computed label carried by the highest published revision of each package.
pub const LATEST_REVISION_LABEL: &str = "kpt.dev/latest-revision";
/// PackageRevision annotation asking to push resources even when render fails.
pub const PUSH_ON_RENDER_FAILURE: &str = "porch.kpt.dev/push-on-render-failure";
