//! The engine calls of the four RBAC resources, each typed as a [`Role`] (Roles and
//! ClusterRoles) or a [`RoleBinding`] (RoleBindings and ClusterRoleBindings) and answered as JSON.

use serde_json::Value;
use veranda_api::rbac::{RbacKind, Role, RoleBinding};
use veranda_engine::{Engine, Error};

use crate::{
    codec::{self, to_value},
    error::ApiResult,
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
            (name, engine.create_rbac(kind, &ns, role).await.map(|r| to_value(&r)))
        }
        false => {
            let binding: RoleBinding = codec::decode_object(req)?;
            let ns = req.namespace_for_create(&binding.metadata.namespace)?;
            let name = binding.metadata.name.clone();
            (name, engine.create_rbac(kind, &ns, binding).await.map(|b| to_value(&b)))
        }
    })
}

/// Replaces an object with `desired`.
pub(super) async fn update(
    engine: &Engine,
    kind: RbacKind,
    (ns, name): (&str, &str),
    desired: Value,
) -> ApiResult<Result<Value, Error>> {
    Ok(match is_role(kind) {
        true => {
            let role: Role = codec::from_value(desired)?;
            engine.update_rbac(kind, ns, name, role).await.map(|r| to_value(&r))
        }
        false => {
            let binding: RoleBinding = codec::from_value(desired)?;
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

fn is_role(kind: RbacKind) -> bool {
    matches!(kind, RbacKind::Role | RbacKind::ClusterRole)
}
