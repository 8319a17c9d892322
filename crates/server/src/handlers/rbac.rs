//! The engine calls of the four RBAC resources, each typed as a [`Role`] (Roles and
//! ClusterRoles) or a [`RoleBinding`] (RoleBindings and ClusterRoleBindings) and answered as JSON.
//!
//! Creates and updates are checked against privilege escalation as kube-apiserver does: a user
//! may write a role only with rules they hold themselves (or with the `escalate` verb on the
//! roles), and bind a role only when they hold all its rules (or with the `bind` verb on it).

use serde_json::{Value, json};
use veranda_api::rbac::{
    self, Attributes, PolicyRule, RbacKind, ResourceAttributes, Role, RoleBinding, UserInfo,
};
use veranda_engine::{Engine, Error};

use crate::{
    codec::{self, to_value},
    error::{ApiError, ApiResult},
    request::Request,
};

/// Objects of `kind` in `namespace` (all when None).
pub(super) fn list(engine: &Engine, kind: RbacKind, namespace: Option<&str>) -> Vec<Value> {
    match is_role(kind) {
        true => engine.list_rbac::<Role>(kind, namespace).iter().map(to_value).collect(),
        false => engine.list_rbac::<RoleBinding>(kind, namespace).iter().map(to_value).collect(),
    }
}

/// One object.
pub(super) fn get(engine: &Engine, kind: RbacKind, ns: &str, name: &str) -> Result<Value, Error> {
    match is_role(kind) {
        true => engine.get_rbac::<Role>(kind, ns, name).map(|r| to_value(&r)),
        false => engine.get_rbac::<RoleBinding>(kind, ns, name).map(|b| to_value(&b)),
    }
}

/// Creates the object of the request's body; returns its name and the engine's answer.
pub(super) async fn create(
    engine: &Engine,
    kind: RbacKind,
    req: &Request,
) -> ApiResult<(String, Result<Value, Error>)> {
    Ok(match is_role(kind) {
        true => {
            let role: Role = codec::decode_object(req)?;
            let ns = req.namespace_for_create(&role.metadata.namespace)?;
            let name = role.metadata.name.clone();
            no_escalation(engine, req, kind, &ns, &name, Grants::Rules(&role.rules))?;
            (name, engine.create_rbac(kind, &ns, role).await.map(|r| to_value(&r)))
        }
        false => {
            let binding: RoleBinding = codec::decode_object(req)?;
            let ns = req.namespace_for_create(&binding.metadata.namespace)?;
            let name = binding.metadata.name.clone();
            no_escalation(engine, req, kind, &ns, &name, Grants::Role(&binding.role_ref))?;
            (name, engine.create_rbac(kind, &ns, binding).await.map(|b| to_value(&b)))
        }
    })
}

/// Replaces an object with `desired`.
pub(super) async fn update(
    engine: &Engine,
    req: &Request,
    kind: RbacKind,
    (ns, name): (&str, &str),
    desired: Value,
) -> ApiResult<Result<Value, Error>> {
    Ok(match is_role(kind) {
        true => {
            let role: Role = codec::from_value(desired)?;
            no_escalation(engine, req, kind, ns, name, Grants::Rules(&role.rules))?;
            engine.update_rbac(kind, ns, name, role).await.map(|r| to_value(&r))
        }
        false => {
            let binding: RoleBinding = codec::from_value(desired)?;
            no_escalation(engine, req, kind, ns, name, Grants::Role(&binding.role_ref))?;
            engine.update_rbac(kind, ns, name, binding).await.map(|b| to_value(&b))
        }
    })
}

/// Deletes an object; returns it as it was.
pub(super) async fn delete(
    engine: &Engine,
    kind: RbacKind,
    ns: &str,
    name: &str,
) -> Result<Value, Error> {
    match is_role(kind) {
        true => engine.delete_rbac::<Role>(kind, ns, name).await.map(|r| to_value(&r)),
        false => engine.delete_rbac::<RoleBinding>(kind, ns, name).await.map(|b| to_value(&b)),
    }
}

/// What a written object grants: a role's rules, or the role a binding references.
enum Grants<'a> {
    Rules(&'a [PolicyRule]),
    Role(&'a rbac::RoleRef),
}

/// kube-apiserver's escalation check of a write of object `name` of `kind` in `ns` (403
/// naming the rules the user lacks). `system:masters` passes: it holds every rule.
fn no_escalation(
    engine: &Engine,
    req: &Request,
    kind: RbacKind,
    ns: &str,
    name: &str,
    grants: Grants<'_>,
) -> ApiResult<()> {
    let index = engine.rbac_index();
    let user = UserInfo { name: &req.user.name, groups: &req.user.groups };
    let namespace = if kind.namespaced() { ns } else { "" };
    let resources = if kind.namespaced() { "roles" } else { "clusterroles" };
    let (verb, role_name, target_resource) = match &grants {
        Grants::Rules(_) => ("escalate", name, resources),
        Grants::Role(role_ref) => (
            "bind",
            role_ref.name.as_str(),
            if role_ref.kind == "ClusterRole" { "clusterroles" } else { "roles" },
        ),
    };
    let bypass = Attributes::Resource(ResourceAttributes {
        verb,
        group: rbac::GROUP,
        resource: target_resource,
        namespace: if target_resource == "roles" { ns } else { namespace },
        name: role_name,
        ..Default::default()
    });
    if index.allows(&user, &bypass) {
        return Ok(());
    }
    let referenced;
    let servant: &[PolicyRule] = match grants {
        Grants::Rules(rules) => rules,
        Grants::Role(role_ref) => {
            let (role_kind, role_ns) = match role_ref.kind.as_str() {
                "ClusterRole" => (RbacKind::ClusterRole, ""),
                _ => (RbacKind::Role, ns),
            };
            referenced =
                engine.get_rbac::<Role>(role_kind, role_ns, &role_ref.name).map_err(|_| {
                    forbidden(
                        kind,
                        name,
                        format!(
                            "user {:?} cannot bind {} {:?}: it does not exist",
                            req.user.name, role_ref.kind, role_ref.name
                        ),
                    )
                })?;
            &referenced.rules
        }
    };
    let missing = rbac::uncovered(&index.rules_for(&user, namespace), servant);
    if missing.is_empty() {
        return Ok(());
    }
    let groups: Vec<String> = req.user.groups.iter().map(|g| format!("{g:?}")).collect();
    let rules: Vec<String> = missing.iter().map(rbac::compact_string).collect();
    Err(forbidden(
        kind,
        name,
        format!(
            "user {:?} (groups=[{}]) is attempting to grant RBAC permissions not currently held:\n{}",
            req.user.name,
            groups.join(" "),
            rules.join("\n")
        ),
    ))
}

fn forbidden(kind: RbacKind, name: &str, why: String) -> ApiError {
    let resource = match kind {
        RbacKind::Role => "roles",
        RbacKind::ClusterRole => "clusterroles",
        RbacKind::RoleBinding => "rolebindings",
        RbacKind::ClusterRoleBinding => "clusterrolebindings",
    };
    ApiError::from_body(
        403,
        veranda_k8s::status::status(
            403,
            "Forbidden",
            &format!("{resource}.{} {name:?} is forbidden: {why}", rbac::GROUP),
            Some(json!({"name": name, "group": rbac::GROUP, "kind": resource})),
        ),
    )
}

fn is_role(kind: RbacKind) -> bool {
    matches!(kind, RbacKind::Role | RbacKind::ClusterRole)
}
