//! A parsed resource request and the typed names it is made of: which [`Resource`], which
//! [`Verb`], which [`Subresource`].
//!
//! Strings from the URL are turned into these enums once, by routing; every handler after it
//! matches on them, so a resource the server does not handle is a compile error, not a
//! fall-through arm.

use std::collections::HashMap;

use axum::{
    body::Bytes,
    http::{HeaderMap, Method, header},
};
use veranda_k8s::resources::{self, ApiResource};

use veranda_api::rbac::RbacKind;

use crate::{auth::User, authz::Review, error::ApiError};

/// A served resource (a plural name under `/apis/{group}/{version}/namespaces/{ns}/`, or
/// `/api/v1/namespaces/{ns}/` for the core group).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Resource {
    PackageRevisions,
    PackageRevisionResources,
    Packages,
    Repositories,
    /// Core v1 `secrets`.
    Secrets,
    /// `rbac.authorization.k8s.io/v1` `roles`, `clusterroles`, `rolebindings`,
    /// `clusterrolebindings`.
    Rbac(RbacKind),
    /// `authorization.k8s.io/v1` access reviews (create only).
    Review(Review),
}

/// A subresource of a [`Resource`] (`packagerevisions/approval`, `repositories/status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Subresource {
    Approval,
    Status,
}

/// What a request does, in the kube-apiserver's terms (the names of `verbs` in discovery).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verb {
    Get,
    List,
    Watch,
    Create,
    Update,
    Patch,
    Delete,
    DeleteCollection,
    /// A method the path does not take (`PUT` on a collection, `POST` on an object, ...).
    Unsupported,
}

/// A parsed resource request.
pub(crate) struct Request {
    pub(crate) method: Method,
    pub(crate) namespace: Option<String>,
    pub(crate) resource: Resource,
    pub(crate) name: Option<String>,
    pub(crate) subresource: Option<Subresource>,
    pub(crate) query: HashMap<String, String>,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Bytes,
    /// Who asks: authorization ([`crate::authz`]) checks every request against the user's and
    /// groups' RBAC rules.
    pub(crate) user: User,
}

impl Resource {
    /// Looks a resource up by its URL segments.
    pub(crate) fn find(group: &str, version: &str, resource: &str) -> Option<Resource> {
        let api = resources::find(group, version, resource)?;
        match api.resource {
            "packagerevisions" => Some(Resource::PackageRevisions),
            "packagerevisionresources" => Some(Resource::PackageRevisionResources),
            "packages" => Some(Resource::Packages),
            "repositories" => Some(Resource::Repositories),
            "secrets" => Some(Resource::Secrets),
            "roles" => Some(Resource::Rbac(RbacKind::Role)),
            "clusterroles" => Some(Resource::Rbac(RbacKind::ClusterRole)),
            "rolebindings" => Some(Resource::Rbac(RbacKind::RoleBinding)),
            "clusterrolebindings" => Some(Resource::Rbac(RbacKind::ClusterRoleBinding)),
            "selfsubjectaccessreviews" => Some(Resource::Review(Review::SelfAccess)),
            "selfsubjectrulesreviews" => Some(Resource::Review(Review::SelfRules)),
            "subjectaccessreviews" => Some(Resource::Review(Review::Access)),
            "selfsubjectreviews" => Some(Resource::Review(Review::WhoAmI)),
            _ => None,
        }
    }

    /// The resource's entry in the catalog (kind, verbs, group, ...).
    pub(crate) fn api(self) -> &'static ApiResource {
        match self {
            Resource::PackageRevisions => &resources::PACKAGE_REVISIONS,
            Resource::PackageRevisionResources => &resources::PACKAGE_REVISION_RESOURCES,
            Resource::Packages => &resources::PACKAGES,
            Resource::Repositories => &resources::REPOSITORIES,
            Resource::Secrets => &resources::SECRETS,
            Resource::Rbac(RbacKind::Role) => &resources::ROLES,
            Resource::Rbac(RbacKind::ClusterRole) => &resources::CLUSTER_ROLES,
            Resource::Rbac(RbacKind::RoleBinding) => &resources::ROLE_BINDINGS,
            Resource::Rbac(RbacKind::ClusterRoleBinding) => &resources::CLUSTER_ROLE_BINDINGS,
            Resource::Review(Review::SelfAccess) => &resources::SELF_SUBJECT_ACCESS_REVIEWS,
            Resource::Review(Review::SelfRules) => &resources::SELF_SUBJECT_RULES_REVIEWS,
            Resource::Review(Review::Access) => &resources::SUBJECT_ACCESS_REVIEWS,
            Resource::Review(Review::WhoAmI) => &resources::SELF_SUBJECT_REVIEWS,
        }
    }

    /// Whether objects of the resource live in a namespace.
    pub(crate) fn namespaced(self) -> bool {
        self.api().namespaced
    }

    /// The plural name, as in URLs and messages: `packagerevisions`.
    pub(crate) fn plural(self) -> &'static str {
        self.api().resource
    }

    /// `packagerevisions.porch.kpt.dev`, as engine errors name it.
    pub(crate) fn group_resource(self) -> String {
        self.api().group_resource().to_string()
    }

    /// The subresource named `name`, if this resource has it.
    pub(crate) fn subresource(self, name: &str) -> Option<Subresource> {
        self.api().subresource(name)?;
        match name {
            "approval" => Some(Subresource::Approval),
            "status" => Some(Subresource::Status),
            _ => None,
        }
    }
}

impl Subresource {
    /// The subresource's name in URLs and RBAC rules.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Subresource::Approval => "approval",
            Subresource::Status => "status",
        }
    }
}

impl Verb {
    /// The verb's name in discovery and in `MethodNotAllowed` messages.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Verb::Get => "get",
            Verb::List => "list",
            Verb::Watch => "watch",
            Verb::Create => "create",
            Verb::Update => "update",
            Verb::Patch => "patch",
            Verb::Delete => "delete",
            Verb::DeleteCollection => "deletecollection",
            Verb::Unsupported => "unsupported",
        }
    }
}

impl Request {
    /// The verb of the request's method on its path.
    pub(crate) fn verb(&self) -> Verb {
        let watch = self.query.get("watch").is_some_and(|v| v == "true" || v == "1");
        match (&self.method, self.name.is_some()) {
            (&Method::GET, false) if watch => Verb::Watch,
            (&Method::GET, false) => Verb::List,
            (&Method::GET, true) => Verb::Get,
            (&Method::POST, false) => Verb::Create,
            (&Method::PUT, true) => Verb::Update,
            (&Method::PATCH, true) => Verb::Patch,
            (&Method::DELETE, true) => Verb::Delete,
            (&Method::DELETE, false) => Verb::DeleteCollection,
            _ => Verb::Unsupported,
        }
    }

    /// The value of header `name`, or `""`.
    pub(crate) fn header(&self, name: header::HeaderName) -> &str {
        self.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or("")
    }

    /// Namespace (`""` for a cluster-scoped resource) and name of the object the request names.
    pub(crate) fn object_key(&self) -> Result<(&str, &str), ApiError> {
        match (self.namespace.as_deref(), self.name.as_deref()) {
            (_, Some(name)) if !self.resource.namespaced() => Ok(("", name)),
            (Some(ns), Some(name)) => Ok((ns, name)),
            _ => Err(ApiError::bad_request("namespace and name must be specified")),
        }
    }

    /// The namespace a create goes to: the request's, which the body may repeat but not contradict.
    pub(crate) fn namespace_for_create(&self, in_body: &str) -> Result<String, ApiError> {
        if !self.resource.namespaced() {
            return Ok(String::new());
        }
        let ns = self
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

    /// Maps an engine error about object `name` of this request's resource (`""`: the
    /// collection): the one mapping every handler uses.
    pub(crate) fn engine_error<'a>(
        &'a self,
        name: &'a str,
    ) -> impl FnOnce(veranda_engine::Error) -> ApiError + 'a {
        move |e| ApiError::engine(e, &self.resource.group_resource(), name)
    }
}
