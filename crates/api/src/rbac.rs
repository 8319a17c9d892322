//! Kubernetes RBAC (`rbac.authorization.k8s.io/v1`), pure: the wire types of Role, ClusterRole,
//! RoleBinding and ClusterRoleBinding, kube-apiserver's validation of them, the rule semantics
//! of its RBAC authorizer, an [`Index`] of bindings by subject, the built-in ClusterRoles and
//! the `Forbidden` message.
//!
//! One struct serves both kinds of a pair ([`Role`] is a Role or a ClusterRole, [`RoleBinding`]
//! a RoleBinding or a ClusterRoleBinding); [`RbacKind`] says which. The [`Index`] resolves every
//! binding's roleRef once, when the objects change, and keys the resulting grants by user and
//! by group, so authorizing a request costs the rules of the bindings that name its user and
//! groups, not all bindings.

use std::{
    collections::{BTreeMap, HashMap},
    fmt,
    sync::Arc,
};

use serde::{Deserialize, Serialize};

use crate::{ObjectMeta, metadata::FieldError};

/// API group of the RBAC kinds.
pub const GROUP: &str = "rbac.authorization.k8s.io";
/// `apiVersion` of the RBAC kinds.
pub const API_VERSION: &str = "rbac.authorization.k8s.io/v1";
/// The group that is allowed everything, whatever the bindings say.
pub const SYSTEM_MASTERS: &str = "system:masters";
/// The group every authenticated user is in.
pub const SYSTEM_AUTHENTICATED: &str = "system:authenticated";
/// Label of the built-in objects (kube's auto-reconciled bootstrap policy).
pub const BOOTSTRAPPING_LABEL: &str = "kubernetes.io/bootstrapping";
/// Value of [`BOOTSTRAPPING_LABEL`].
pub const BOOTSTRAPPING_VALUE: &str = "rbac-defaults";

/// Which of the four RBAC kinds an object is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RbacKind {
    /// A namespaced set of rules.
    Role,
    /// A cluster-wide set of rules.
    ClusterRole,
    /// Grants a Role or ClusterRole in one namespace.
    RoleBinding,
    /// Grants a ClusterRole everywhere.
    ClusterRoleBinding,
}

impl RbacKind {
    /// The `kind` field.
    pub fn kind(self) -> &'static str {
        match self {
            RbacKind::Role => "Role",
            RbacKind::ClusterRole => "ClusterRole",
            RbacKind::RoleBinding => "RoleBinding",
            RbacKind::ClusterRoleBinding => "ClusterRoleBinding",
        }
    }

    /// Whether objects of this kind live in a namespace.
    pub fn namespaced(self) -> bool {
        matches!(self, RbacKind::Role | RbacKind::RoleBinding)
    }
}

/// One rule: verbs on resources (`apiGroups`, `resources`, `resourceNames`), or on
/// non-resource URLs.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PolicyRule {
    /// `get`, `list`, ..., or `*`.
    #[serde(default)]
    pub verbs: Vec<String>,
    /// API groups (`""` is the core group), or `*`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub api_groups: Vec<String>,
    /// Plural resources, `resource/subresource`, `*/subresource` or `*`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resources: Vec<String>,
    /// When not empty, only objects of these names.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resource_names: Vec<String>,
    /// Paths such as `/metrics` or `/apis/*` (ClusterRoles only).
    #[serde(default, rename = "nonResourceURLs", skip_serializing_if = "Vec::is_empty")]
    pub non_resource_urls: Vec<String>,
}

/// A Role or a ClusterRole.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Role {
    /// `rbac.authorization.k8s.io/v1`.
    #[serde(default)]
    pub api_version: String,
    /// `Role` or `ClusterRole`.
    #[serde(default)]
    pub kind: String,
    /// Object metadata.
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// What the role allows.
    #[serde(default)]
    pub rules: Vec<PolicyRule>,
    /// A ClusterRole's aggregation rule, kept as written (aggregation is not performed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aggregation_rule: Option<serde_json::Value>,
}

/// Who a binding grants to.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Subject {
    /// `User`, `Group` or `ServiceAccount`.
    pub kind: String,
    /// `rbac.authorization.k8s.io` for users and groups, `""` for service accounts.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub api_group: String,
    /// The user, group or service account name.
    #[serde(default)]
    pub name: String,
    /// A service account's namespace.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub namespace: String,
}

/// The role a binding grants.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RoleRef {
    /// `rbac.authorization.k8s.io`.
    #[serde(default)]
    pub api_group: String,
    /// `Role` or `ClusterRole`.
    #[serde(default)]
    pub kind: String,
    /// The role's name.
    #[serde(default)]
    pub name: String,
}

/// A RoleBinding or a ClusterRoleBinding.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RoleBinding {
    /// `rbac.authorization.k8s.io/v1`.
    #[serde(default)]
    pub api_version: String,
    /// `RoleBinding` or `ClusterRoleBinding`.
    #[serde(default)]
    pub kind: String,
    /// Object metadata.
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// Who is granted the role.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub subjects: Vec<Subject>,
    /// The role granted; immutable.
    #[serde(default)]
    pub role_ref: RoleRef,
}

/// What a request does, in the terms of the RBAC rules.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Attributes<'a> {
    /// A request on a resource (`""` for what the request does not name).
    Resource(ResourceAttributes<'a>),
    /// A request on a path that is not a resource (`/metrics`, `/apis`, ...).
    NonResource {
        /// `get`, `post`, ... (the lower-case HTTP method).
        verb: &'a str,
        /// The request path.
        path: &'a str,
    },
}

/// A resource request: `""` for a part it does not have (the core group, no subresource, a
/// collection, the cluster scope).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ResourceAttributes<'a> {
    /// `get`, `list`, `watch`, `create`, `update`, `patch`, `delete`, `deletecollection`.
    pub verb: &'a str,
    /// The API group.
    pub group: &'a str,
    /// The plural resource.
    pub resource: &'a str,
    /// The subresource (`approval`, `status`).
    pub subresource: &'a str,
    /// The namespace.
    pub namespace: &'a str,
    /// The object name.
    pub name: &'a str,
}

/// The user a request is authorized as.
#[derive(Clone, Copy, Debug)]
pub struct UserInfo<'a> {
    /// The user name (`system:serviceaccount:NS:NAME` for a service account).
    pub name: &'a str,
    /// The user's groups.
    pub groups: &'a [String],
}

/// Bindings resolved to their rules and keyed by subject, built whenever an RBAC object
/// changes.
#[derive(Debug, Default)]
pub struct Index {
    by_user: HashMap<String, Vec<Grant>>,
    by_group: HashMap<String, Vec<Grant>>,
}

/// The rules one binding grants to one subject.
#[derive(Clone, Debug)]
struct Grant {
    // None: a ClusterRoleBinding (everywhere); Some: a RoleBinding's namespace.
    namespace: Option<String>,
    rules: Arc<[PolicyRule]>,
}

impl Role {
    /// Sets `apiVersion` and `kind`.
    pub fn normalize(&mut self, kind: RbacKind) {
        self.api_version = API_VERSION.into();
        self.kind = kind.kind().into();
    }

    /// kube-apiserver's checks of a Role (`namespaced`) or ClusterRole.
    pub fn validate(&self, kind: RbacKind) -> Result<(), FieldError> {
        check_name(&self.metadata.name)?;
        for (i, rule) in self.rules.iter().enumerate() {
            check_rule(rule, kind.namespaced(), &format!("rules[{i}]"))?;
        }
        Ok(())
    }
}

impl RoleBinding {
    /// Sets `apiVersion` and `kind`, and defaults the API group of subjects and of the roleRef.
    pub fn normalize(&mut self, kind: RbacKind) {
        self.api_version = API_VERSION.into();
        self.kind = kind.kind().into();
        for subject in &mut self.subjects {
            if subject.api_group.is_empty() && matches!(subject.kind.as_str(), "User" | "Group") {
                subject.api_group = GROUP.into();
            }
        }
        if self.role_ref.api_group.is_empty() {
            self.role_ref.api_group = GROUP.into();
        }
    }

    /// kube-apiserver's checks of a RoleBinding (`namespaced`) or ClusterRoleBinding.
    pub fn validate(&self, kind: RbacKind) -> Result<(), FieldError> {
        check_name(&self.metadata.name)?;
        let role_ref = &self.role_ref;
        if role_ref.api_group != GROUP {
            return Err(field_error(
                "roleRef.apiGroup",
                format!(
                    "Unsupported value: {:?}: supported values: \"{GROUP}\"",
                    role_ref.api_group
                ),
            ));
        }
        let kinds: &[&str] = match kind.namespaced() {
            true => &["Role", "ClusterRole"],
            false => &["ClusterRole"],
        };
        if !kinds.contains(&role_ref.kind.as_str()) {
            let supported: Vec<String> = kinds.iter().map(|k| format!("{k:?}")).collect();
            return Err(field_error(
                "roleRef.kind",
                format!(
                    "Unsupported value: {:?}: supported values: {}",
                    role_ref.kind,
                    supported.join(", ")
                ),
            ));
        }
        if role_ref.name.is_empty() {
            return Err(field_error("roleRef.name", "Required value"));
        }
        check_name(&role_ref.name).map_err(|e| field_error("roleRef.name", e.message))?;
        for (i, subject) in self.subjects.iter().enumerate() {
            let field = |name: &str| format!("subjects[{i}].{name}");
            if subject.name.is_empty() {
                return Err(field_error(field("name"), "Required value"));
            }
            match subject.kind.as_str() {
                "ServiceAccount" => {
                    if !subject.api_group.is_empty() {
                        return Err(field_error(
                            field("apiGroup"),
                            format!(
                                "Unsupported value: {:?}: supported values: \"\"",
                                subject.api_group
                            ),
                        ));
                    }
                    if !kind.namespaced() && subject.namespace.is_empty() {
                        return Err(field_error(field("namespace"), "Required value"));
                    }
                }
                "User" | "Group" => {
                    if subject.api_group != GROUP {
                        return Err(field_error(
                            field("apiGroup"),
                            format!(
                                "Unsupported value: {:?}: supported values: \"{GROUP}\"",
                                subject.api_group
                            ),
                        ));
                    }
                }
                other => {
                    return Err(field_error(
                        field("kind"),
                        format!(
                            "Unsupported value: {other:?}: supported values: \"ServiceAccount\", \"User\", \"Group\""
                        ),
                    ));
                }
            }
        }
        Ok(())
    }

    /// The checks of an update of `current` to `self`: [`RoleBinding::validate`], and the
    /// roleRef may not change.
    pub fn validate_update(&self, current: &RoleBinding, kind: RbacKind) -> Result<(), FieldError> {
        self.validate(kind)?;
        if self.role_ref != current.role_ref {
            let r = &self.role_ref;
            return Err(field_error(
                "roleRef",
                format!(
                    "Invalid value: rbac.RoleRef{{APIGroup:{:?}, Kind:{:?}, Name:{:?}}}: cannot change roleRef",
                    r.api_group, r.kind, r.name
                ),
            ));
        }
        Ok(())
    }
}

/// Whether `rule` allows the request (kube's `RuleAllows`).
pub fn rule_allows(rule: &PolicyRule, attributes: &Attributes<'_>) -> bool {
    match attributes {
        Attributes::Resource(r) => {
            verb_matches(rule, r.verb)
                && api_group_matches(rule, r.group)
                && resource_matches(rule, r.resource, r.subresource)
                && resource_name_matches(rule, r.name)
        }
        Attributes::NonResource { verb, path } => {
            verb_matches(rule, verb) && non_resource_url_matches(rule, path)
        }
    }
}

/// The message of kube-apiserver's 403 (`responsewriters.forbiddenMessage` inside
/// `errors.NewForbidden`): `packagerevisions.porch.kpt.dev "x" is forbidden: User "alice" cannot
/// update resource "packagerevisions/approval" in API group "porch.kpt.dev" in the namespace "a"`.
pub fn forbidden_message(user: &str, attributes: &Attributes<'_>) -> String {
    match attributes {
        Attributes::NonResource { verb, path } => {
            format!("forbidden: User {user:?} cannot {verb} path {path:?}")
        }
        Attributes::Resource(r) => {
            let resource = match r.subresource {
                "" => r.resource.to_string(),
                sub => format!("{}/{sub}", r.resource),
            };
            let why = match r.namespace {
                "" => format!(
                    "User {user:?} cannot {} resource {resource:?} in API group {:?} at the cluster scope",
                    r.verb, r.group
                ),
                ns => format!(
                    "User {user:?} cannot {} resource {resource:?} in API group {:?} in the namespace {ns:?}",
                    r.verb, r.group
                ),
            };
            let group_resource = match r.group {
                "" => r.resource.to_string(),
                group => format!("{}.{group}", r.resource),
            };
            match r.name {
                "" => format!("{group_resource} is forbidden: {why}"),
                name => format!("{group_resource} {name:?} is forbidden: {why}"),
            }
        }
    }
}

/// The atomic rules of `servant` that no rule of `owner` covers (kube's `validation.Covers`):
/// each rule is broken down into one verb on one group, resource and name (or one path), and a
/// `*` is covered only by a `*`. Empty when `owner` covers all of `servant`.
pub fn uncovered(owner: &[PolicyRule], servant: &[PolicyRule]) -> Vec<PolicyRule> {
    let one = |s: &str| vec![s.to_string()];
    let mut res = Vec::new();
    for rule in servant {
        for verb in &rule.verbs {
            let verb_ok = |o: &PolicyRule| verb_matches(o, verb);
            for url in &rule.non_resource_urls {
                if !owner.iter().any(|o| verb_ok(o) && non_resource_url_matches(o, url)) {
                    res.push(PolicyRule {
                        verbs: one(verb),
                        non_resource_urls: one(url),
                        ..Default::default()
                    });
                }
            }
            for group in &rule.api_groups {
                for resource in &rule.resources {
                    let names: Vec<Option<&str>> = match rule.resource_names.is_empty() {
                        true => vec![None],
                        false => rule.resource_names.iter().map(|n| Some(n.as_str())).collect(),
                    };
                    for name in names {
                        let covers = |o: &PolicyRule| {
                            verb_ok(o)
                                && api_group_matches(o, group)
                                && resource_covers(o, resource)
                                && (o.resource_names.is_empty()
                                    || name
                                        .is_some_and(|n| o.resource_names.iter().any(|m| m == n)))
                        };
                        if !owner.iter().any(covers) {
                            res.push(PolicyRule {
                                verbs: one(verb),
                                api_groups: one(group),
                                resources: one(resource),
                                resource_names: name.map(one).unwrap_or_default(),
                                ..Default::default()
                            });
                        }
                    }
                }
            }
        }
    }
    res
}

/// A rule as kube's `CompactString` writes it in escalation messages:
/// `{APIGroups:["porch.kpt.dev"], Resources:["packagerevisions"], Verbs:["delete"]}`.
pub fn compact_string(rule: &PolicyRule) -> String {
    let mut parts = Vec::new();
    for (name, values) in [
        ("APIGroups", &rule.api_groups),
        ("Resources", &rule.resources),
        ("ResourceNames", &rule.resource_names),
        ("NonResourceURLs", &rule.non_resource_urls),
        ("Verbs", &rule.verbs),
    ] {
        if !values.is_empty() {
            let quoted: Vec<String> = values.iter().map(|v| format!("{v:?}")).collect();
            parts.push(format!("{name}:[{}]", quoted.join(" ")));
        }
    }
    format!("{{{}}}", parts.join(", "))
}

/// The user name of service account `name` in `namespace`.
pub fn service_account_user(namespace: &str, name: &str) -> String {
    format!("system:serviceaccount:{namespace}:{name}")
}

impl Index {
    /// Resolves every binding to the rules of its role (a binding whose role does not exist
    /// grants nothing) and keys the grants by subject. `roles` and `bindings` hold objects of
    /// all four kinds, told apart by their `kind`.
    pub fn build<'a>(
        roles: impl IntoIterator<Item = &'a Role>,
        bindings: impl IntoIterator<Item = &'a RoleBinding>,
    ) -> Index {
        // (namespace, name); the empty namespace holds the ClusterRoles.
        let mut rules: BTreeMap<(&str, &str), Arc<[PolicyRule]>> = BTreeMap::new();
        for role in roles {
            let namespace = match role.kind.as_str() {
                "ClusterRole" => "",
                _ => role.metadata.namespace.as_str(),
            };
            rules.insert((namespace, role.metadata.name.as_str()), role.rules.clone().into());
        }
        let mut index = Index::default();
        for binding in bindings {
            let cluster = binding.kind == RbacKind::ClusterRoleBinding.kind();
            let namespace = binding.metadata.namespace.as_str();
            let role_namespace = match binding.role_ref.kind.as_str() {
                "Role" if !cluster => namespace,
                "ClusterRole" => "",
                _ => continue,
            };
            let Some(granted) = rules.get(&(role_namespace, binding.role_ref.name.as_str())) else {
                continue;
            };
            let grant = Grant {
                namespace: (!cluster).then(|| namespace.to_string()),
                rules: granted.clone(),
            };
            for subject in &binding.subjects {
                let grants = match subject.kind.as_str() {
                    "User" => index.by_user.entry(subject.name.clone()).or_default(),
                    "Group" => index.by_group.entry(subject.name.clone()).or_default(),
                    "ServiceAccount" => {
                        let sa_namespace = match subject.namespace.as_str() {
                            "" if !cluster => namespace,
                            "" => continue,
                            ns => ns,
                        };
                        index
                            .by_user
                            .entry(service_account_user(sa_namespace, &subject.name))
                            .or_default()
                    }
                    _ => continue,
                };
                grants.push(grant.clone());
            }
        }
        index
    }

    /// Whether `user` may do what `attributes` describe: members of `system:masters` always,
    /// others when a rule of a binding naming them (or one of their groups) allows it, a
    /// RoleBinding only in its own namespace.
    pub fn allows(&self, user: &UserInfo<'_>, attributes: &Attributes<'_>) -> bool {
        if user.groups.iter().any(|g| g == SYSTEM_MASTERS) {
            return true;
        }
        let namespace = match attributes {
            Attributes::Resource(r) => r.namespace,
            Attributes::NonResource { .. } => "",
        };
        self.grants(user).any(|grant| {
            grant.namespace.as_deref().is_none_or(|ns| !namespace.is_empty() && ns == namespace)
                && grant.rules.iter().any(|rule| rule_allows(rule, attributes))
        })
    }

    /// The rules `user` has in `namespace` (those of ClusterRoleBindings and of the namespace's
    /// RoleBindings), for a SelfSubjectRulesReview; `system:masters` gets `*` on everything.
    pub fn rules_for(&self, user: &UserInfo<'_>, namespace: &str) -> Vec<PolicyRule> {
        if user.groups.iter().any(|g| g == SYSTEM_MASTERS) {
            let all = vec!["*".to_string()];
            return vec![
                PolicyRule {
                    verbs: all.clone(),
                    api_groups: all.clone(),
                    resources: all.clone(),
                    ..Default::default()
                },
                PolicyRule { verbs: all.clone(), non_resource_urls: all, ..Default::default() },
            ];
        }
        let mut res: Vec<PolicyRule> = Vec::new();
        for grant in self.grants(user) {
            if grant.namespace.as_deref().is_some_and(|ns| ns != namespace) {
                continue;
            }
            for rule in grant.rules.iter() {
                if !res.contains(rule) {
                    res.push(rule.clone());
                }
            }
        }
        res
    }

    fn grants<'a>(&'a self, user: &UserInfo<'a>) -> impl Iterator<Item = &'a Grant> + 'a {
        let (name, groups): (&'a str, &'a [String]) = (user.name, user.groups);
        let own = self.by_user.get(name).into_iter().flatten();
        let groups = groups.iter().filter_map(|g| self.by_group.get(g)).flatten();
        own.chain(groups)
    }
}

/// The ClusterRoles veranda creates on start when they are missing: `cluster-admin` (everything,
/// as in Kubernetes), `veranda:viewer`, `veranda:editor`, `veranda:approver`,
/// `veranda:repository-admin`, `system:discovery` and `system:basic-user`.
pub fn bootstrap_cluster_roles() -> Vec<Role> {
    let porch = [crate::PORCH_GROUP, crate::CONFIG_GROUP];
    let read = ["get", "list", "watch"];
    let viewer = rule(
        &read,
        &porch,
        &[
            "packagerevisions",
            "packagerevisionresources",
            "packages",
            "repositories",
            "repositories/status",
        ],
    );
    let edit = rule(
        &["create", "update", "patch", "delete"],
        &[crate::PORCH_GROUP],
        &["packagerevisions", "packagerevisionresources", "packages"],
    );
    let approve =
        rule(&["get", "update", "patch"], &[crate::PORCH_GROUP], &["packagerevisions/approval"]);
    let repositories =
        rule(&["*"], &[crate::CONFIG_GROUP], &["repositories", "repositories/status"]);
    let secrets = rule(&["*"], &[""], &["secrets"]);
    let discovery = PolicyRule {
        verbs: vec!["get".into()],
        non_resource_urls: [
            "/api",
            "/api/*",
            "/apis",
            "/apis/*",
            "/healthz",
            "/livez",
            "/openapi",
            "/openapi/*",
            "/readyz",
            "/version",
            "/version/",
        ]
        .map(String::from)
        .to_vec(),
        ..Default::default()
    };
    let basic_user = rule(
        &["create"],
        &["authorization.k8s.io"],
        &["selfsubjectaccessreviews", "selfsubjectrulesreviews"],
    );
    let whoami = rule(&["create"], &["authentication.k8s.io"], &["selfsubjectreviews"]);
    let everything = rule(&["*"], &["*"], &["*"]);
    let every_path = PolicyRule {
        verbs: vec!["*".into()],
        non_resource_urls: vec!["*".into()],
        ..Default::default()
    };
    [
        ("cluster-admin", vec![everything, every_path]),
        ("veranda:viewer", vec![viewer.clone()]),
        ("veranda:editor", vec![viewer.clone(), edit]),
        ("veranda:approver", vec![viewer.clone(), approve]),
        ("veranda:repository-admin", vec![viewer, repositories, secrets]),
        ("system:discovery", vec![discovery]),
        ("system:basic-user", vec![basic_user, whoami]),
    ]
    .into_iter()
    .map(|(name, rules)| Role {
        api_version: API_VERSION.into(),
        kind: RbacKind::ClusterRole.kind().into(),
        metadata: bootstrap_metadata(name),
        rules,
        aggregation_rule: None,
    })
    .collect()
}

/// The ClusterRoleBindings veranda creates on start when they are missing: `system:discovery`
/// and `system:basic-user` to group `system:authenticated`.
pub fn bootstrap_cluster_role_bindings() -> Vec<RoleBinding> {
    ["system:discovery", "system:basic-user"]
        .into_iter()
        .map(|name| RoleBinding {
            api_version: API_VERSION.into(),
            kind: RbacKind::ClusterRoleBinding.kind().into(),
            metadata: bootstrap_metadata(name),
            subjects: vec![Subject {
                kind: "Group".into(),
                api_group: GROUP.into(),
                name: SYSTEM_AUTHENTICATED.into(),
                namespace: String::new(),
            }],
            role_ref: RoleRef {
                api_group: GROUP.into(),
                kind: "ClusterRole".into(),
                name: name.into(),
            },
        })
        .collect()
}

impl fmt::Display for RbacKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.kind())
    }
}

fn bootstrap_metadata(name: &str) -> ObjectMeta {
    ObjectMeta {
        name: name.into(),
        labels: BTreeMap::from([(BOOTSTRAPPING_LABEL.into(), BOOTSTRAPPING_VALUE.into())]),
        annotations: BTreeMap::from([(
            "rbac.authorization.kubernetes.io/autoupdate".into(),
            "true".into(),
        )]),
        ..Default::default()
    }
}

fn rule(verbs: &[&str], groups: &[&str], resources: &[&str]) -> PolicyRule {
    let strings = |items: &[&str]| items.iter().map(|s| s.to_string()).collect();
    PolicyRule {
        verbs: strings(verbs),
        api_groups: strings(groups),
        resources: strings(resources),
        ..Default::default()
    }
}

fn field_error(field: impl Into<String>, message: impl Into<String>) -> FieldError {
    FieldError { field: field.into(), message: message.into() }
}

/// kube's `ValidateRBACName`: a path segment name.
fn check_name(name: &str) -> Result<(), FieldError> {
    if name.is_empty() {
        return Err(field_error(
            "metadata.name",
            "Required value: name or generateName is required",
        ));
    }
    if name == "." || name == ".." {
        return Err(field_error(
            "metadata.name",
            format!("Invalid value: {name:?}: may not be '{name}'"),
        ));
    }
    for bad in ["/", "%"] {
        if name.contains(bad) {
            return Err(field_error(
                "metadata.name",
                format!("Invalid value: {name:?}: may not contain '{bad}'"),
            ));
        }
    }
    Ok(())
}

/// kube's `ValidatePolicyRule`.
fn check_rule(rule: &PolicyRule, namespaced: bool, path: &str) -> Result<(), FieldError> {
    if rule.verbs.is_empty() {
        return Err(field_error(
            format!("{path}.verbs"),
            "Required value: verbs must contain at least one value",
        ));
    }
    if !rule.non_resource_urls.is_empty() {
        let field = format!("{path}.nonResourceURLs");
        let urls = format!("{:?}", rule.non_resource_urls);
        if namespaced {
            return Err(field_error(
                field,
                format!(
                    "Invalid value: {urls}: namespaced rules cannot apply to non-resource URLs"
                ),
            ));
        }
        if !rule.api_groups.is_empty()
            || !rule.resources.is_empty()
            || !rule.resource_names.is_empty()
        {
            return Err(field_error(
                field,
                format!(
                    "Invalid value: {urls}: rules cannot apply to both regular resources and non-resource URLs"
                ),
            ));
        }
        return Ok(());
    }
    if rule.api_groups.is_empty() {
        return Err(field_error(
            format!("{path}.apiGroups"),
            "Required value: resource rules must supply at least one api group",
        ));
    }
    if rule.resources.is_empty() {
        return Err(field_error(
            format!("{path}.resources"),
            "Required value: resource rules must supply at least one resource",
        ));
    }
    Ok(())
}

fn verb_matches(rule: &PolicyRule, verb: &str) -> bool {
    rule.verbs.iter().any(|v| v == "*" || v == verb)
}

fn api_group_matches(rule: &PolicyRule, group: &str) -> bool {
    rule.api_groups.iter().any(|g| g == "*" || g == group)
}

/// kube's `ResourceMatches`: `*`, the resource (with `/subresource`), or `*/subresource`.
fn resource_matches(rule: &PolicyRule, resource: &str, subresource: &str) -> bool {
    rule.resources.iter().any(|r| {
        if r == "*" {
            return true;
        }
        match subresource {
            "" => r == resource,
            sub => {
                r.strip_prefix(resource).and_then(|rest| rest.strip_prefix('/')) == Some(sub)
                    || r.strip_prefix("*/") == Some(sub)
            }
        }
    })
}

/// Rules with `resourceNames` only match requests that name one of them: never a list, watch,
/// create or deletecollection.
/// kube's `resourceCoversAll` for one resource: `*`, the resource itself, or `*/sub` for a
/// subresource.
fn resource_covers(owner: &PolicyRule, resource: &str) -> bool {
    owner.resources.iter().any(|r| {
        r == "*"
            || r == resource
            || resource.split_once('/').is_some_and(|(_, sub)| r.strip_prefix("*/") == Some(sub))
    })
}

fn resource_name_matches(rule: &PolicyRule, name: &str) -> bool {
    rule.resource_names.is_empty() || rule.resource_names.iter().any(|n| n == name)
}

fn non_resource_url_matches(rule: &PolicyRule, path: &str) -> bool {
    rule.non_resource_urls.iter().any(|url| {
        url == "*"
            || url == path
            || url.strip_suffix('*').is_some_and(|prefix| path.starts_with(prefix))
    })
}

#[cfg(test)]
mod tests;
