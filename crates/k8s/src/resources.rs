//! The catalog of resources the veranda server serves, in Kubernetes terms (group, version,
//! plural resource, kind, verbs).
//!
//! Discovery, OpenAPI and Table output are all generated from [`RESOURCES`], so adding a verb or a
//! resource here changes every document consistently.

use std::fmt;

/// API group of package revisions, package revision resources and packages.
pub const PORCH_GROUP: &str = "porch.kpt.dev";
/// API group of repositories.
pub const CONFIG_GROUP: &str = "config.porch.kpt.dev";
/// The only served version of both groups.
pub const VERSION: &str = "v1alpha1";

/// One served resource (a plural name under `/apis/{group}/{version}/namespaces/{ns}/`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ApiResource {
    pub group: &'static str,
    pub version: &'static str,
    /// Plural, lower case: `packagerevisions`.
    pub resource: &'static str,
    /// Singular, lower case: `packagerevision`.
    pub singular: &'static str,
    pub kind: &'static str,
    pub list_kind: &'static str,
    /// Verbs in the order the kube-apiserver lists them (alphabetical).
    pub verbs: &'static [&'static str],
    pub short_names: &'static [&'static str],
    pub subresources: &'static [Subresource],
    /// Every served resource is namespaced; kept as data so discovery does not hard-code it.
    pub namespaced: bool,
}

/// A subresource such as `packagerevisions/approval`. It has the kind of its parent resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Subresource {
    pub name: &'static str,
    pub verbs: &'static [&'static str],
}

/// `group` + `kind`, displayed the way the kube-apiserver does in messages:
/// `PackageRevision.porch.kpt.dev`, or just `Kind` for the core group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GroupKind<'a> {
    pub group: &'a str,
    pub kind: &'a str,
}

/// `group` + plural `resource`, displayed as `packagerevisions.porch.kpt.dev`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GroupResource<'a> {
    pub group: &'a str,
    pub resource: &'a str,
}

/// `packagerevisions.porch.kpt.dev`, with the `approval` subresource.
pub const PACKAGE_REVISIONS: ApiResource = ApiResource {
    group: PORCH_GROUP,
    version: VERSION,
    resource: "packagerevisions",
    singular: "packagerevision",
    kind: "PackageRevision",
    list_kind: "PackageRevisionList",
    verbs: &["create", "delete", "get", "list", "patch", "update", "watch"],
    short_names: &[],
    subresources: &[Subresource { name: "approval", verbs: &["get", "patch", "update"] }],
    namespaced: true,
};

/// `packagerevisionresources.porch.kpt.dev`: the files of a package revision.
pub const PACKAGE_REVISION_RESOURCES: ApiResource = ApiResource {
    group: PORCH_GROUP,
    version: VERSION,
    resource: "packagerevisionresources",
    singular: "packagerevisionresources",
    kind: "PackageRevisionResources",
    list_kind: "PackageRevisionResourcesList",
    verbs: &["get", "list", "patch", "update"],
    short_names: &[],
    subresources: &[],
    namespaced: true,
};

/// `packages.porch.kpt.dev` (kind `PorchPackage`).
pub const PACKAGES: ApiResource = ApiResource {
    group: PORCH_GROUP,
    version: VERSION,
    resource: "packages",
    singular: "package",
    kind: "PorchPackage",
    list_kind: "PorchPackageList",
    verbs: &["create", "delete", "get", "list"],
    short_names: &[],
    subresources: &[],
    namespaced: true,
};

/// `repositories.config.porch.kpt.dev`, with the `status` subresource.
pub const REPOSITORIES: ApiResource = ApiResource {
    group: CONFIG_GROUP,
    version: VERSION,
    resource: "repositories",
    singular: "repository",
    kind: "Repository",
    list_kind: "RepositoryList",
    verbs: &["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"],
    short_names: &["repo"],
    subresources: &[Subresource { name: "status", verbs: &["get", "patch", "update"] }],
    namespaced: true,
};

/// Core `v1` `secrets` (served under `/api/v1`, not `/apis`). Watch is not served: Secrets
/// publish no events.
pub const SECRETS: ApiResource = ApiResource {
    group: "",
    version: "v1",
    resource: "secrets",
    singular: "secret",
    kind: "Secret",
    list_kind: "SecretList",
    verbs: &["create", "delete", "deletecollection", "get", "list", "patch", "update"],
    short_names: &[],
    subresources: &[],
    namespaced: true,
};

/// API group of Roles, ClusterRoles and their bindings.
pub const RBAC_GROUP: &str = "rbac.authorization.k8s.io";
/// API group of the access reviews.
pub const AUTHORIZATION_GROUP: &str = "authorization.k8s.io";
/// API group of `selfsubjectreviews` (`kubectl auth whoami`).
pub const AUTHENTICATION_GROUP: &str = "authentication.k8s.io";

const RBAC_VERBS: &[&str] =
    &["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"];

/// `roles.rbac.authorization.k8s.io`.
pub const ROLES: ApiResource = rbac("roles", "role", "Role", "RoleList", true);
/// `clusterroles.rbac.authorization.k8s.io` (cluster-scoped).
pub const CLUSTER_ROLES: ApiResource =
    rbac("clusterroles", "clusterrole", "ClusterRole", "ClusterRoleList", false);
/// `rolebindings.rbac.authorization.k8s.io`.
pub const ROLE_BINDINGS: ApiResource =
    rbac("rolebindings", "rolebinding", "RoleBinding", "RoleBindingList", true);
/// `clusterrolebindings.rbac.authorization.k8s.io` (cluster-scoped).
pub const CLUSTER_ROLE_BINDINGS: ApiResource = rbac(
    "clusterrolebindings",
    "clusterrolebinding",
    "ClusterRoleBinding",
    "ClusterRoleBindingList",
    false,
);
/// `selfsubjectaccessreviews.authorization.k8s.io`: may the caller do X (`kubectl auth can-i`).
pub const SELF_SUBJECT_ACCESS_REVIEWS: ApiResource =
    review("selfsubjectaccessreviews", "selfsubjectaccessreview", "SelfSubjectAccessReview");
/// `selfsubjectrulesreviews.authorization.k8s.io`: what may the caller do in a namespace.
pub const SELF_SUBJECT_RULES_REVIEWS: ApiResource =
    review("selfsubjectrulesreviews", "selfsubjectrulesreview", "SelfSubjectRulesReview");
/// `subjectaccessreviews.authorization.k8s.io`: may a given user do X.
pub const SUBJECT_ACCESS_REVIEWS: ApiResource =
    review("subjectaccessreviews", "subjectaccessreview", "SubjectAccessReview");
/// `selfsubjectreviews.authentication.k8s.io`: who is the caller (`kubectl auth whoami`).
pub const SELF_SUBJECT_REVIEWS: ApiResource = ApiResource {
    group: AUTHENTICATION_GROUP,
    ..review("selfsubjectreviews", "selfsubjectreview", "SelfSubjectReview")
};

/// The access-control resources: served and in discovery, but not in the OpenAPI documents
/// (kubectl knows these kinds itself).
pub const ACCESS_RESOURCES: &[ApiResource] = &[
    ROLES,
    CLUSTER_ROLES,
    ROLE_BINDINGS,
    CLUSTER_ROLE_BINDINGS,
    SELF_SUBJECT_ACCESS_REVIEWS,
    SELF_SUBJECT_RULES_REVIEWS,
    SUBJECT_ACCESS_REVIEWS,
    SELF_SUBJECT_REVIEWS,
];

/// Every API group in `/apis` discovery, in discovery order.
pub const DISCOVERY_GROUPS: &[&str] =
    &[PORCH_GROUP, CONFIG_GROUP, RBAC_GROUP, AUTHORIZATION_GROUP, AUTHENTICATION_GROUP];

const fn rbac(
    resource: &'static str,
    singular: &'static str,
    kind: &'static str,
    list_kind: &'static str,
    namespaced: bool,
) -> ApiResource {
    ApiResource {
        group: RBAC_GROUP,
        version: "v1",
        resource,
        singular,
        kind,
        list_kind,
        verbs: RBAC_VERBS,
        short_names: &[],
        subresources: &[],
        namespaced,
    }
}

const fn review(resource: &'static str, singular: &'static str, kind: &'static str) -> ApiResource {
    ApiResource {
        group: AUTHORIZATION_GROUP,
        version: "v1",
        resource,
        singular,
        kind,
        list_kind: kind,
        verbs: &["create"],
        short_names: &[],
        subresources: &[],
        namespaced: false,
    }
}

/// The served resources of the core group (`/api/v1`). Not in [`RESOURCES`]: the `/apis`
/// documents and the OpenAPI group documents are generated from that one.
pub const CORE_RESOURCES: &[ApiResource] = &[SECRETS];

/// Every served resource, grouped by API group in discovery order.
pub const RESOURCES: &[ApiResource] =
    &[PACKAGE_REVISIONS, PACKAGE_REVISION_RESOURCES, PACKAGES, REPOSITORIES];

/// The served API groups, in discovery order.
pub const GROUPS: &[&str] = &[PORCH_GROUP, CONFIG_GROUP];

/// Looks a resource up by its URL segments: `find("porch.kpt.dev", "v1alpha1", "packagerevisions")`.
pub fn find(group: &str, version: &str, resource: &str) -> Option<&'static ApiResource> {
    RESOURCES
        .iter()
        .chain(CORE_RESOURCES)
        .chain(ACCESS_RESOURCES)
        .find(|it| it.group == group && it.version == version && it.resource == resource)
}

/// The resources of one group version in discovery (access-control resources included).
pub fn discovered_in_group_version<'a>(
    group: &'a str,
    version: &'a str,
) -> impl Iterator<Item = &'static ApiResource> + 'a {
    RESOURCES
        .iter()
        .chain(ACCESS_RESOURCES)
        .filter(move |it| it.group == group && it.version == version)
}

/// Looks a resource up by `apiVersion` and `kind` (of an object or of a list).
pub fn find_by_kind(api_version: &str, kind: &str) -> Option<&'static ApiResource> {
    RESOURCES
        .iter()
        .find(|it| it.api_version() == api_version && (it.kind == kind || it.list_kind == kind))
}

/// The resources of one group version, in discovery order.
pub fn in_group_version<'a>(
    group: &'a str,
    version: &'a str,
) -> impl Iterator<Item = &'static ApiResource> + 'a {
    RESOURCES.iter().filter(move |it| it.group == group && it.version == version)
}

impl ApiResource {
    /// `porch.kpt.dev/v1alpha1`.
    pub fn api_version(&self) -> String {
        group_version(self.group, self.version)
    }

    /// The group and kind, e.g. `PackageRevision.porch.kpt.dev`.
    pub fn group_kind(&self) -> GroupKind<'static> {
        GroupKind { group: self.group, kind: self.kind }
    }

    /// The group and plural resource, e.g. `packagerevisions.porch.kpt.dev`.
    pub fn group_resource(&self) -> GroupResource<'static> {
        GroupResource { group: self.group, resource: self.resource }
    }

    /// Whether the resource itself (not a subresource) serves `verb` (`get`, `list`, ...).
    pub fn supports(&self, verb: &str) -> bool {
        self.verbs.contains(&verb)
    }

    /// The subresource called `name` (`approval`, `status`), if the resource has it.
    pub fn subresource(&self, name: &str) -> Option<&'static Subresource> {
        self.subresources.iter().find(|it| it.name == name)
    }
}

impl fmt::Display for GroupKind<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.group.is_empty() {
            f.write_str(self.kind)
        } else {
            write!(f, "{}.{}", self.kind, self.group)
        }
    }
}

impl fmt::Display for GroupResource<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.group.is_empty() {
            f.write_str(self.resource)
        } else {
            write!(f, "{}.{}", self.resource, self.group)
        }
    }
}

/// `group/version`, or just `version` for the core group.
pub fn group_version(group: &str, version: &str) -> String {
    if group.is_empty() { version.to_owned() } else { format!("{group}/{version}") }
}

#[cfg(test)]
mod tests;
