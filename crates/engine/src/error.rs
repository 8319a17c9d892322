//! The engine's error type. The server maps each variant to one HTTP status in one place.

/// An engine failure, classified by what the client should learn from it.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// 400: the request is malformed.
    #[error("{0}")]
    BadRequest(String),
    /// 403: the request is understood but not allowed in the object's state.
    #[error("{message}")]
    Forbidden { kind: Kind, name: String, message: String },
    /// 404.
    #[error("{kind} {name:?} not found")]
    NotFound { kind: Kind, name: String },
    /// 405.
    #[error("{0}")]
    MethodNotAllowed(String),
    /// 409: an object with that name exists; `message` replaces kube-apiserver's text where
    /// Porch has one of its own.
    #[error("{kind} {name:?} already exists")]
    AlreadyExists { kind: Kind, name: String, message: Option<String> },
    /// 409: stale resourceVersion or a concurrent request on the same object.
    #[error("{0}")]
    Conflict(String),
    /// 422: a field is invalid.
    #[error("{field}: {message}")]
    Invalid { kind: Kind, name: String, field: String, message: String },
    /// 500: a fault of the server or of a backend (Git, store).
    #[error("{0}")]
    Internal(String),
    /// 503: a backend is not reachable right now.
    #[error("{0}")]
    Unavailable(String),
    /// 504: a Git remote did not answer within the network time limits.
    #[error("{0}")]
    Timeout(String),
}

/// The kind of object an error is about (for Status `details`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    PackageRevision,
    PackageRevisionResources,
    Package,
    Repository,
    Secret,
    Role,
    ClusterRole,
    RoleBinding,
    ClusterRoleBinding,
}

impl Kind {
    /// Kubernetes resource (plural) name.
    pub fn resource(self) -> &'static str {
        match self {
            Kind::PackageRevision => "packagerevisions",
            Kind::PackageRevisionResources => "packagerevisionresources",
            Kind::Package => "packages",
            Kind::Repository => "repositories",
            Kind::Secret => "secrets",
            Kind::Role => "roles",
            Kind::ClusterRole => "clusterroles",
            Kind::RoleBinding => "rolebindings",
            Kind::ClusterRoleBinding => "clusterrolebindings",
        }
    }

    /// Kind name.
    pub fn kind(self) -> &'static str {
        match self {
            Kind::PackageRevision => "PackageRevision",
            Kind::PackageRevisionResources => "PackageRevisionResources",
            Kind::Package => "PorchPackage",
            Kind::Repository => "Repository",
            Kind::Secret => "Secret",
            Kind::Role => "Role",
            Kind::ClusterRole => "ClusterRole",
            Kind::RoleBinding => "RoleBinding",
            Kind::ClusterRoleBinding => "ClusterRoleBinding",
        }
    }

    /// API group.
    pub fn group(self) -> &'static str {
        match self {
            Kind::Repository => veranda_api::CONFIG_GROUP,
            Kind::Secret => "",
            Kind::Role | Kind::ClusterRole | Kind::RoleBinding | Kind::ClusterRoleBinding => {
                veranda_api::rbac::GROUP
            }
            _ => veranda_api::PORCH_GROUP,
        }
    }
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.group() {
            "" => f.write_str(self.resource()),
            group => write!(f, "{}.{group}", self.resource()),
        }
    }
}

impl Error {
    pub(crate) fn invalid(
        kind: Kind,
        name: &str,
        field: &str,
        message: impl Into<String>,
    ) -> Error {
        Error::Invalid {
            kind,
            name: name.to_string(),
            field: field.to_string(),
            message: message.into(),
        }
    }

    pub(crate) fn not_found(kind: Kind, name: &str) -> Error {
        Error::NotFound { kind, name: name.to_string() }
    }

    pub(crate) fn stale() -> Error {
        Error::Conflict(
            "the object has been modified; please apply your changes to the latest version and try again"
                .to_string(),
        )
    }
}

impl From<tokio::task::JoinError> for Error {
    fn from(e: tokio::task::JoinError) -> Error {
        Error::Internal(format!("background task failed: {e}"))
    }
}
