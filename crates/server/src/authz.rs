//! Authorization: every request is checked against the RBAC objects after routing has typed it,
//! by user and groups, verb, API group, resource, subresource, namespace and name (resource
//! requests) or by path (documents), with kube-apiserver's 403 when no rule allows it; and the
//! access reviews `kubectl auth can-i` asks (SelfSubjectAccessReview, SelfSubjectRulesReview,
//! SubjectAccessReview, and `kubectl auth whoami`'s SelfSubjectReview), and impersonation
//! (`kubectl --as`).
//!
//! The rule semantics and the index live in `veranda_api::rbac` (pure); the engine keeps the
//! index current, so a check is one `Arc` clone, a hash lookup per user and group, and the rules
//! of the bindings that name them.

use std::sync::Arc;

use axum::http::{HeaderMap, Method, StatusCode};
use serde_json::{Map, Value, json};
use veranda_api::rbac::{self, Attributes, Index, PolicyRule, ResourceAttributes, UserInfo};
use veranda_k8s::status;

use crate::{
    app::AppState,
    auth::User,
    codec,
    error::{ApiError, ApiResult},
    request::{Request, Verb},
};

/// The access reviews, all `create` only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Review {
    /// May the caller do this?
    SelfAccess,
    /// What may the caller do in a namespace?
    SelfRules,
    /// May the user in the review do this?
    Access,
    /// Who is the caller (`authentication.k8s.io` SelfSubjectReview, `kubectl auth whoami`)?
    WhoAmI,
}

/// Authorizes a resource request (403 when no rule allows it). A method the path does not take
/// is left to the handler's 405.
pub(crate) fn authorize(state: &AppState, req: &Request) -> Result<(), ApiError> {
    let verb = req.verb();
    if verb == Verb::Unsupported {
        return Ok(());
    }
    let api = req.resource.api();
    let attributes = Attributes::Resource(ResourceAttributes {
        verb: verb.as_str(),
        group: api.group,
        resource: api.resource,
        subresource: req.subresource.map_or("", |s| s.as_str()),
        namespace: req.namespace.as_deref().unwrap_or(""),
        name: req.name.as_deref().unwrap_or(""),
    });
    check(&state.engine.rbac_index(), &req.user, &attributes)
}

/// Authorizes a request on a path that is not a resource (discovery, OpenAPI, `/metrics`, an
/// unknown path): the verb is the lower-case method, as in kube-apiserver.
pub(crate) fn authorize_path(
    state: &AppState,
    user: &User,
    method: &Method,
    path: &str,
) -> Result<(), ApiError> {
    let verb = match *method {
        Method::GET | Method::HEAD => "get",
        Method::POST => "post",
        Method::PUT => "put",
        Method::PATCH => "patch",
        Method::DELETE => "delete",
        _ => "unsupported",
    };
    check(&state.engine.rbac_index(), user, &Attributes::NonResource { verb, path })
}

/// The user a request acts as: `user`, or the one its `Impersonate-User` (and
/// `Impersonate-Group`) headers name when `user` may `impersonate` that user and those groups
/// (kube-apiserver's impersonation; `kubectl --as alice --as-group team`). The impersonated user
/// is in `system:authenticated` too.
pub(crate) fn impersonate(
    state: &AppState,
    user: User,
    headers: &HeaderMap,
) -> Result<User, ApiError> {
    let values = |name: &str| -> Vec<String> {
        headers.get_all(name).iter().filter_map(|v| v.to_str().ok()).map(String::from).collect()
    };
    let target = values("impersonate-user").into_iter().next();
    let groups = values("impersonate-group");
    let Some(name) = target else {
        return match groups.is_empty() {
            true => Ok(user),
            false => Err(ApiError::bad_request("requested impersonation of groups without a user")),
        };
    };
    let index = state.engine.rbac_index();
    let may = |resource: &str, name: &str| {
        check(
            &index,
            &user,
            &Attributes::Resource(ResourceAttributes {
                verb: "impersonate",
                resource,
                name,
                ..Default::default()
            }),
        )
    };
    may("users", &name)?;
    for group in &groups {
        may("groups", group)?;
    }
    let mut groups = groups;
    if !groups.iter().any(|g| g == rbac::SYSTEM_AUTHENTICATED) {
        groups.push(rbac::SYSTEM_AUTHENTICATED.into());
    }
    Ok(User { name, groups })
}

/// Answers an access review (`201 Created` with its `status`, as kube-apiserver does).
pub(crate) fn review(state: &Arc<AppState>, req: &Request, review: Review) -> ApiResult {
    let mut object = codec::decode_value(req)?;
    codec::check_type(req, &object)?;
    let index = state.engine.rbac_index();
    let spec = object.get("spec").cloned().unwrap_or_else(|| json!({}));
    let text = |value: &Value, key: &str| -> String {
        value.get(key).and_then(Value::as_str).unwrap_or("").to_string()
    };
    let status = match review {
        Review::WhoAmI => {
            json!({"userInfo": {"username": req.user.name, "groups": req.user.groups}})
        }
        Review::SelfRules => {
            let namespace = text(&spec, "namespace");
            rules_status(&index.rules_for(&user_info(&req.user), &namespace))
        }
        Review::SelfAccess | Review::Access => {
            let subject = match review {
                Review::Access => {
                    let name = text(&spec, "user");
                    let groups: Vec<String> = spec
                        .get("groups")
                        .and_then(Value::as_array)
                        .map(|g| g.iter().filter_map(Value::as_str).map(String::from).collect())
                        .unwrap_or_default();
                    if name.is_empty() && groups.is_empty() {
                        return Err(invalid_review(
                            req,
                            "spec.user",
                            "at least one of user or group must be specified",
                        ));
                    }
                    User { name, groups }
                }
                Review::SelfAccess | Review::SelfRules | Review::WhoAmI => req.user.clone(),
            };
            let resource = spec.get("resourceAttributes");
            let non_resource = spec.get("nonResourceAttributes");
            let field = |value: Option<&Value>, key: &str| value.map(|v| text(v, key));
            let verb = match (resource, non_resource) {
                (Some(r), None) => text(r, "verb"),
                (None, Some(n)) => text(n, "verb"),
                _ => {
                    return Err(invalid_review(
                        req,
                        "spec.resourceAttributes",
                        "exactly one of nonResourceAttributes or resourceAttributes must be specified",
                    ));
                }
            };
            let [group, plural, subresource, namespace, name, path] =
                [(resource, "group"), (resource, "resource"), (resource, "subresource")]
                    .into_iter()
                    .chain([(resource, "namespace"), (resource, "name"), (non_resource, "path")])
                    .map(|(value, key)| field(value, key).unwrap_or_default())
                    .collect::<Vec<_>>()
                    .try_into()
                    .unwrap_or_default();
            let attributes = match resource {
                Some(_) => Attributes::Resource(ResourceAttributes {
                    verb: &verb,
                    group: &group,
                    resource: &plural,
                    subresource: &subresource,
                    namespace: &namespace,
                    name: &name,
                }),
                None => Attributes::NonResource { verb: &verb, path: &path },
            };
            let allowed = index.allows(&user_info(&subject), &attributes);
            json!({"allowed": allowed})
        }
    };
    object["status"] = status;
    if let Some(metadata) = object.get_mut("metadata").and_then(Value::as_object_mut) {
        metadata.remove("resourceVersion");
    }
    Ok(codec::json_response(StatusCode::CREATED, &object))
}

/// The 403 of kube-apiserver for `attributes`, unless `user` is allowed.
fn check(index: &Index, user: &User, attributes: &Attributes<'_>) -> Result<(), ApiError> {
    if index.allows(&user_info(user), attributes) {
        return Ok(());
    }
    Err(forbidden(&user.name, attributes))
}

/// kube-apiserver's `Forbidden` Status: the message of [`rbac::forbidden_message`], details
/// naming the object, its group and the resource (as `kind`).
pub(crate) fn forbidden(user: &str, attributes: &Attributes<'_>) -> ApiError {
    let mut details = Map::new();
    if let Attributes::Resource(r) = attributes {
        for (key, value) in [("name", r.name), ("group", r.group), ("kind", r.resource)] {
            if !value.is_empty() {
                details.insert(key.into(), json!(value));
            }
        }
    }
    let message = rbac::forbidden_message(user, attributes);
    ApiError::from_body(
        403,
        status::status(403, "Forbidden", &message, Some(Value::Object(details))),
    )
}

fn user_info(user: &User) -> UserInfo<'_> {
    UserInfo { name: &user.name, groups: &user.groups }
}

/// A SelfSubjectRulesReview's `status`: the rules split into resource and non-resource rules.
fn rules_status(rules: &[PolicyRule]) -> Value {
    let mut resource_rules = Vec::new();
    let mut non_resource_rules = Vec::new();
    for rule in rules {
        if rule.non_resource_urls.is_empty() {
            let mut entry = json!({"verbs": rule.verbs, "apiGroups": rule.api_groups, "resources": rule.resources});
            if !rule.resource_names.is_empty() {
                entry["resourceNames"] = json!(rule.resource_names);
            }
            resource_rules.push(entry);
        } else {
            non_resource_rules
                .push(json!({"verbs": rule.verbs, "nonResourceURLs": rule.non_resource_urls}));
        }
    }
    json!({
        "resourceRules": resource_rules,
        "nonResourceRules": non_resource_rules,
        "incomplete": false,
    })
}

fn invalid_review(req: &Request, field: &str, message: &str) -> ApiError {
    let kind = req.resource.api().kind;
    ApiError::from_body(
        422,
        status::status(
            422,
            "Invalid",
            &format!(
                "{kind}.authorization.k8s.io \"\" is invalid: {field}: Invalid value: {message}"
            ),
            Some(
                json!({"group": "authorization.k8s.io", "kind": kind, "causes": [{"reason": "FieldValueInvalid", "message": message, "field": field}]}),
            ),
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forbidden_bodies_are_kube_apiservers() {
        let attributes = Attributes::Resource(ResourceAttributes {
            verb: "update",
            group: "porch.kpt.dev",
            resource: "packagerevisions",
            subresource: "approval",
            namespace: "team-a",
            name: "r.p.ws",
        });
        let e = forbidden("alice", &attributes);
        let body = e.body();
        assert_eq!(body["reason"], "Forbidden");
        assert_eq!(body["code"], 403);
        assert_eq!(
            body["details"],
            json!({"name": "r.p.ws", "group": "porch.kpt.dev", "kind": "packagerevisions"})
        );
        let e = forbidden("alice", &Attributes::NonResource { verb: "get", path: "/metrics" });
        assert_eq!(e.body()["message"], r#"forbidden: User "alice" cannot get path "/metrics""#);
        assert_eq!(e.body()["details"], json!({}));
    }
}
