//! RBAC through the API (CRUD of the four kinds, validation, the built-in ClusterRoles) and its
//! enforcement: allow and deny per namespace, subresource, resourceNames, the cluster scope,
//! non-resource paths, kube-apiserver's 403 bodies, and the access reviews.

use super::*;

const RBAC: &str = "/apis/rbac.authorization.k8s.io/v1";
const ALICE: &str = "alice-token,alice,alice,\"team-a\"";
const CAROL: &str = "carol-token,carol,carol,";
const BOB: &str = "bob-token,bob,bob,";

fn binding(namespace: &str, name: &str, role: &str, user: &str) -> Value {
    json!({
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": {"name": name, "namespace": namespace},
        "subjects": [{"kind": "User", "apiGroup": "rbac.authorization.k8s.io", "name": user}],
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
    })
}

fn prs(namespace: &str) -> String {
    format!("/apis/porch.kpt.dev/v1alpha1/namespaces/{namespace}/packagerevisions")
}

#[tokio::test]
async fn rbac_objects_crud_validation_and_built_in_roles() {
    let f = Fixture::new().await;
    // The built-in ClusterRoles exist, labelled as kube's bootstrap policy.
    let roles = f.get(&format!("{RBAC}/clusterroles")).await;
    assert_eq!(roles.status, StatusCode::OK, "{}", roles.body);
    assert_eq!(roles.body["kind"], "ClusterRoleList");
    let built_in = names(&roles.body);
    for name in ["veranda:viewer", "veranda:editor", "veranda:approver", "veranda:repository-admin"]
    {
        assert!(built_in.contains(&name), "{name} in {built_in:?}");
    }
    let editor = f.get(&format!("{RBAC}/clusterroles/veranda:editor")).await;
    assert_eq!(editor.body["metadata"]["labels"]["kubernetes.io/bootstrapping"], "rbac-defaults");
    assert!(editor.body["metadata"].get("namespace").is_none(), "{}", editor.body);

    // A rule without verbs is refused as kube-apiserver refuses it.
    let role = json!({
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
        "metadata": {"name": "reader"},
        "rules": [{"apiGroups": [""], "resources": ["secrets"]}],
    });
    let refused = f.post(&format!("{RBAC}/namespaces/team-a/roles"), &role).await;
    check_status(
        &refused,
        422,
        "Invalid",
        "Role.rbac.authorization.k8s.io \"reader\" is invalid: rules[0].verbs: Required value: verbs must contain at least one value",
    );
    let mut role = role;
    role["rules"][0]["verbs"] = json!(["get"]);
    let created = f.post(&format!("{RBAC}/namespaces/team-a/roles"), &role).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    assert_eq!(created.body["metadata"]["namespace"], "team-a");
    let rv: i64 = created.body["metadata"]["resourceVersion"].as_str().unwrap().parse().unwrap();
    assert!(rv > 0);
    let again = f.post(&format!("{RBAC}/namespaces/team-a/roles"), &role).await;
    check_status(
        &again,
        409,
        "AlreadyExists",
        "roles.rbac.authorization.k8s.io \"reader\" already exists",
    );

    // Bindings: the roleRef is immutable, subjects may change (merge patch).
    let path = format!("{RBAC}/namespaces/team-a/rolebindings");
    let created = f.post(&path, &binding("team-a", "alice-edit", "veranda:editor", "alice")).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let mut changed = created.body.clone();
    changed["roleRef"]["name"] = json!("veranda:approver");
    let refused = f.put(&format!("{path}/alice-edit"), &changed).await;
    check_status(
        &refused,
        422,
        "Invalid",
        "RoleBinding.rbac.authorization.k8s.io \"alice-edit\" is invalid: roleRef: Invalid value: rbac.RoleRef{APIGroup:\"rbac.authorization.k8s.io\", Kind:\"ClusterRole\", Name:\"veranda:approver\"}: cannot change roleRef",
    );
    let patch = json!({"subjects": [{"kind": "User", "name": "alice"}, {"kind": "Group", "name": "team-a"}]});
    let patched = f
        .send(
            Method::PATCH,
            &format!("{path}/alice-edit"),
            &[(header::CONTENT_TYPE, "application/merge-patch+json")],
            patch.to_string(),
        )
        .await;
    assert_eq!(patched.status, StatusCode::OK, "{}", patched.body);
    assert_eq!(patched.body["subjects"][1]["apiGroup"], "rbac.authorization.k8s.io", "defaulted");
    let json_patch = json!([{"op": "replace", "path": "/subjects/0/name", "value": "alice2"}]);
    let patched = f
        .send(
            Method::PATCH,
            &format!("{path}/alice-edit"),
            &[(header::CONTENT_TYPE, "application/json-patch+json")],
            json_patch.to_string(),
        )
        .await;
    assert_eq!(patched.body["subjects"][0]["name"], "alice2", "{}", patched.body);

    // Lists across namespaces, Tables, deletion.
    f.post(
        &format!("{RBAC}/namespaces/team-b/rolebindings"),
        &binding("team-b", "x", "veranda:viewer", "bob"),
    )
    .await;
    let all = f.get(&format!("{RBAC}/rolebindings")).await;
    assert_eq!(names(&all.body), ["alice-edit", "x"]);
    let table = f.send(Method::GET, &path, &[(header::ACCEPT, TABLE)], Body::empty()).await;
    assert_eq!(table.body["rows"][0]["cells"][1], "ClusterRole/veranda:editor", "{}", table.body);
    let deleted = f.send(Method::DELETE, &format!("{path}/alice-edit"), &[], Body::empty()).await;
    assert_eq!(deleted.status, StatusCode::OK, "{}", deleted.body);
    let gone = f.get(&format!("{path}/alice-edit")).await;
    check_status(
        &gone,
        404,
        "NotFound",
        "rolebindings.rbac.authorization.k8s.io \"alice-edit\" not found",
    );
    // A namespaced object has no cluster path, a cluster-scoped one no namespaced path.
    assert_eq!(f.get(&format!("{RBAC}/rolebindings/x")).await.status, StatusCode::NOT_FOUND);
    assert_eq!(
        f.get(&format!("{RBAC}/namespaces/team-a/clusterroles/veranda:editor")).await.status,
        StatusCode::NOT_FOUND
    );
    // A watch from before the bindings of team-b sees them come and (below) go.
    let since = rv.to_string();
    let collection = format!("{RBAC}/namespaces/team-b/rolebindings");
    let all_gone = f.send(Method::DELETE, &collection, &[], Body::empty()).await;
    assert_eq!(all_gone.status, StatusCode::OK, "{}", all_gone.body);
    assert_eq!(names(&all_gone.body), ["x"]);
    assert_eq!(names(&f.get(&format!("{RBAC}/rolebindings")).await.body), Vec::<&str>::new());
    let watch = f
        .get(&format!("{RBAC}/namespaces/team-b/rolebindings?watch=true&resourceVersion={since}&timeoutSeconds=1"))
        .await;
    assert_eq!(watch.status, StatusCode::OK);
    let events: Vec<(String, String)> = watch
        .body
        .as_str()
        .unwrap_or_default()
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .map(|e| {
            (
                e["type"].as_str().unwrap_or("").into(),
                e["object"]["metadata"]["name"].as_str().unwrap_or("").into(),
            )
        })
        .collect();
    assert_eq!(events, [("ADDED".to_string(), "x".to_string()), ("DELETED".into(), "x".into())]);
    let gone = f
        .send(Method::DELETE, &format!("{RBAC}/clusterroles/veranda:viewer"), &[], Body::empty())
        .await;
    assert_eq!(gone.status, StatusCode::OK, "{}", gone.body);
}

#[tokio::test]
async fn requests_are_authorized_per_namespace_subresource_and_name() {
    let f = Fixture::with_tokens(&[ALICE, CAROL, BOB]).await;
    let rb = |ns: &str| format!("{RBAC}/namespaces/{ns}/rolebindings");
    for (ns, name, role, user) in [
        ("team-a", "alice-edit", "veranda:editor", "alice"),
        ("team-a", "carol-approve", "veranda:approver", "carol"),
    ] {
        let created = f.post(&rb(ns), &binding(ns, name, role, user)).await;
        assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    }
    let fixture = &f;
    let alice = move |method, path: String| async move {
        fixture.send_as("alice-token", method, &path, None).await
    };

    // Allowed in team-a (an empty list), denied in team-b and at the cluster scope.
    let allowed = alice(Method::GET, prs("team-a")).await;
    assert_eq!(allowed.status, StatusCode::OK, "{}", allowed.body);
    let denied = alice(Method::GET, prs("team-b")).await;
    check_status(
        &denied,
        403,
        "Forbidden",
        r#"packagerevisions.porch.kpt.dev is forbidden: User "alice" cannot list resource "packagerevisions" in API group "porch.kpt.dev" in the namespace "team-b""#,
    );
    assert_eq!(
        denied.body["details"],
        json!({"group": "porch.kpt.dev", "kind": "packagerevisions"})
    );
    let cluster = alice(Method::GET, "/apis/porch.kpt.dev/v1alpha1/packagerevisions".into()).await;
    check_status(
        &cluster,
        403,
        "Forbidden",
        r#"packagerevisions.porch.kpt.dev is forbidden: User "alice" cannot list resource "packagerevisions" in API group "porch.kpt.dev" at the cluster scope"#,
    );
    let watch = alice(Method::GET, format!("{}?watch=true", prs("team-b"))).await;
    assert_eq!(watch.status, StatusCode::FORBIDDEN, "{}", watch.body);

    // The approval subresource: alice (editor) may not, carol (approver) may; the handler then
    // answers 404 for the absent revision.
    let body = json!({"apiVersion": "porch.kpt.dev/v1alpha1", "kind": "PackageRevision", "metadata": {"name": "r.p.ws"}});
    let approval = format!("{}/r.p.ws/approval", prs("team-a"));
    let denied = f.send_as("alice-token", Method::PUT, &approval, Some(&body)).await;
    check_status(
        &denied,
        403,
        "Forbidden",
        r#"packagerevisions.porch.kpt.dev "r.p.ws" is forbidden: User "alice" cannot update resource "packagerevisions/approval" in API group "porch.kpt.dev" in the namespace "team-a""#,
    );
    assert_eq!(
        denied.body["details"],
        json!({"name": "r.p.ws", "group": "porch.kpt.dev", "kind": "packagerevisions"})
    );
    let carol = f.send_as("carol-token", Method::PUT, &approval, Some(&body)).await;
    assert_eq!(carol.status, StatusCode::NOT_FOUND, "{}", carol.body);
    let carol_update = f
        .send_as("carol-token", Method::PUT, &format!("{}/r.p.ws", prs("team-a")), Some(&body))
        .await;
    assert_eq!(carol_update.status, StatusCode::FORBIDDEN, "{}", carol_update.body);

    // A server-side apply that would create needs `create` too: bob may only patch.
    let patcher = json!({
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
        "metadata": {"name": "patcher"},
        "rules": [{"apiGroups": ["porch.kpt.dev"], "resources": ["packagerevisions"], "verbs": ["patch"]}],
    });
    assert_eq!(
        f.post(&format!("{RBAC}/namespaces/team-a/roles"), &patcher).await.status,
        StatusCode::CREATED
    );
    let mut bob_patch = binding("team-a", "bob-patch", "patcher", "bob");
    bob_patch["roleRef"]["kind"] = json!("Role");
    assert_eq!(f.post(&rb("team-a"), &bob_patch).await.status, StatusCode::CREATED);
    let apply = json!({"apiVersion": "porch.kpt.dev/v1alpha1", "kind": "PackageRevision", "metadata": {"name": "r.q.ws"}});
    let applied = f
        .send_raw(
            Method::PATCH,
            &format!("{}/r.q.ws?fieldManager=t", prs("team-a")),
            &[
                (header::AUTHORIZATION, "Bearer bob-token"),
                (header::CONTENT_TYPE, "application/apply-patch+yaml"),
            ],
            apply.to_string(),
        )
        .await;
    check_status(
        &applied,
        403,
        "Forbidden",
        r#"packagerevisions.porch.kpt.dev is forbidden: User "bob" cannot create resource "packagerevisions" in API group "porch.kpt.dev" in the namespace "team-a""#,
    );

    // Repositories and Secrets are not an editor's.
    let repo = json!({"apiVersion": "config.porch.kpt.dev/v1alpha1", "kind": "Repository", "metadata": {"name": "r"}});
    let denied = f
        .send_as(
            "alice-token",
            Method::POST,
            "/apis/config.porch.kpt.dev/v1alpha1/namespaces/team-a/repositories",
            Some(&repo),
        )
        .await;
    check_status(
        &denied,
        403,
        "Forbidden",
        r#"repositories.config.porch.kpt.dev is forbidden: User "alice" cannot create resource "repositories" in API group "config.porch.kpt.dev" in the namespace "team-a""#,
    );
    let secrets = alice(Method::GET, "/api/v1/namespaces/team-a/secrets/s".into()).await;
    check_status(
        &secrets,
        403,
        "Forbidden",
        r#"secrets "s" is forbidden: User "alice" cannot get resource "secrets" in API group "" in the namespace "team-a""#,
    );

    // resourceNames restrict get, not list; a group subject grants to its members.
    let role = json!({
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
        "metadata": {"name": "one-secret"},
        "rules": [{"apiGroups": [""], "resources": ["secrets"], "resourceNames": ["s"], "verbs": ["get", "list"]}],
    });
    assert_eq!(
        f.post(&format!("{RBAC}/namespaces/team-b/roles"), &role).await.status,
        StatusCode::CREATED
    );
    let group_binding = json!({
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
        "metadata": {"name": "team-a-secret"},
        "subjects": [{"kind": "Group", "name": "team-a"}],
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "one-secret"},
    });
    assert_eq!(f.post(&rb("team-b"), &group_binding).await.status, StatusCode::CREATED);
    let named = alice(Method::GET, "/api/v1/namespaces/team-b/secrets/s".into()).await;
    assert_eq!(named.status, StatusCode::NOT_FOUND, "{}", named.body);
    let other = alice(Method::GET, "/api/v1/namespaces/team-b/secrets/t".into()).await;
    assert_eq!(other.status, StatusCode::FORBIDDEN, "{}", other.body);
    let list = alice(Method::GET, "/api/v1/namespaces/team-b/secrets".into()).await;
    assert_eq!(list.status, StatusCode::FORBIDDEN, "{}", list.body);
    let bob =
        f.send_as("bob-token", Method::GET, "/api/v1/namespaces/team-b/secrets/s", None).await;
    assert_eq!(bob.status, StatusCode::FORBIDDEN, "{}", bob.body);

    // Discovery and OpenAPI for every authenticated user; /metrics and RBAC objects not.
    for path in ["/apis", "/api", "/api/v1", "/apis/porch.kpt.dev/v1alpha1", "/openapi/v3"] {
        let answer = f.send_as("bob-token", Method::GET, path, None).await;
        assert_eq!(answer.status, StatusCode::OK, "{path}: {}", answer.body);
    }
    let metrics = f.send_as("bob-token", Method::GET, "/metrics", None).await;
    check_status(&metrics, 403, "Forbidden", r#"forbidden: User "bob" cannot get path "/metrics""#);
    let roles = f.send_as("alice-token", Method::GET, &format!("{RBAC}/clusterroles"), None).await;
    assert_eq!(roles.status, StatusCode::FORBIDDEN, "{}", roles.body);
    let unknown = f.send_as("bob-token", Method::GET, "/nothing/here", None).await;
    assert_eq!(unknown.status, StatusCode::FORBIDDEN, "{}", unknown.body);
    assert_eq!(f.get("/nothing/here").await.status, StatusCode::NOT_FOUND, "admin: 404");
    // The version stays public.
    assert_eq!(
        f.send_raw(Method::GET, "/version", &[], Body::empty()).await.status,
        StatusCode::OK
    );

    // A binding's deletion takes effect at once.
    let deleted =
        f.send(Method::DELETE, &format!("{}/alice-edit", rb("team-a")), &[], Body::empty()).await;
    assert_eq!(deleted.status, StatusCode::OK);
    assert_eq!(alice(Method::GET, prs("team-a")).await.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn access_reviews_answer_for_the_caller_and_for_others() {
    let f = Fixture::with_tokens(&[ALICE, CAROL]).await;
    let rb = format!("{RBAC}/namespaces/team-a/rolebindings");
    f.post(&rb, &binding("team-a", "alice-edit", "veranda:editor", "alice")).await;
    f.post(&rb, &binding("team-a", "carol-approve", "veranda:approver", "carol")).await;
    let ssar = |verb: &str, resource: &str, subresource: &str, ns: &str| {
        json!({
            "apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
            "spec": {"resourceAttributes": {"verb": verb, "group": "porch.kpt.dev", "resource": resource, "subresource": subresource, "namespace": ns}},
        })
    };
    let path = "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews";
    for (token, verb, sub, ns, allowed) in [
        ("alice-token", "create", "", "team-a", true),
        ("alice-token", "create", "", "team-b", false),
        ("alice-token", "update", "approval", "team-a", false),
        ("carol-token", "update", "approval", "team-a", true),
        ("carol-token", "update", "", "team-a", false),
    ] {
        let answer = f
            .send_as(token, Method::POST, path, Some(&ssar(verb, "packagerevisions", sub, ns)))
            .await;
        assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.body);
        assert_eq!(answer.body["status"]["allowed"], allowed, "{token} {verb} {sub} {ns}");
    }

    let rules = json!({"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectRulesReview", "spec": {"namespace": "team-a"}});
    let answer = f
        .send_as(
            "carol-token",
            Method::POST,
            "/apis/authorization.k8s.io/v1/selfsubjectrulesreviews",
            Some(&rules),
        )
        .await;
    assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.body);
    let resource_rules = answer.body["status"]["resourceRules"].as_array().expect("rules").clone();
    assert!(
        resource_rules.iter().any(|r| r["resources"] == json!(["packagerevisions/approval"])),
        "{resource_rules:?}"
    );
    assert!(answer.body["status"]["nonResourceRules"].as_array().is_some_and(|r| !r.is_empty()));

    // SubjectAccessReview: the admin asks about alice; alice may not ask.
    let sar = json!({
        "apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview",
        "spec": {"user": "alice", "resourceAttributes": {"verb": "list", "group": "porch.kpt.dev", "resource": "packagerevisions", "namespace": "team-a"}},
    });
    let sar_path = "/apis/authorization.k8s.io/v1/subjectaccessreviews";
    let answer = f.post(sar_path, &sar).await;
    assert_eq!(answer.body["status"]["allowed"], true, "{}", answer.body);
    let denied = f.send_as("alice-token", Method::POST, sar_path, Some(&sar)).await;
    assert_eq!(denied.status, StatusCode::FORBIDDEN, "{}", denied.body);

    // Impersonation: the admin acts as alice (`kubectl --as alice`); alice may not act as carol.
    let as_alice = f
        .send(
            Method::GET,
            &prs("team-b"),
            &[(header::HeaderName::from_static("impersonate-user"), "alice")],
            Body::empty(),
        )
        .await;
    check_status(
        &as_alice,
        403,
        "Forbidden",
        r#"packagerevisions.porch.kpt.dev is forbidden: User "alice" cannot list resource "packagerevisions" in API group "porch.kpt.dev" in the namespace "team-b""#,
    );
    let as_alice = f
        .send(
            Method::GET,
            &prs("team-a"),
            &[(header::HeaderName::from_static("impersonate-user"), "alice")],
            Body::empty(),
        )
        .await;
    assert_eq!(as_alice.status, StatusCode::OK, "{}", as_alice.body);
    let impersonate = [
        (header::AUTHORIZATION, "Bearer alice-token"),
        (header::HeaderName::from_static("impersonate-user"), "carol"),
    ];
    let refused = f.send_raw(Method::GET, &prs("team-a"), &impersonate, Body::empty()).await;
    check_status(
        &refused,
        403,
        "Forbidden",
        r#"users "carol" is forbidden: User "alice" cannot impersonate resource "users" in API group "" at the cluster scope"#,
    );
}

#[tokio::test]
async fn writes_of_roles_and_bindings_cannot_escalate() {
    let f = Fixture::with_tokens(&[ALICE]).await;
    let rb = format!("{RBAC}/namespaces/team-a/rolebindings");
    f.post(&rb, &binding("team-a", "alice-edit", "veranda:editor", "alice")).await;
    // alice may manage roles and bindings in team-a, but holds only an editor's rules.
    let manager = json!({
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
        "metadata": {"name": "rbac-manager"},
        "rules": [{"apiGroups": ["rbac.authorization.k8s.io"], "resources": ["roles", "rolebindings"], "verbs": ["create", "update", "patch"]}],
    });
    assert_eq!(f.post(&format!("{RBAC}/clusterroles"), &manager).await.status, StatusCode::CREATED);
    f.post(&rb, &binding("team-a", "alice-manage", "rbac-manager", "alice")).await;

    let fixture = &f;
    let as_alice = move |body: Value, path: String| async move {
        fixture.send_as("alice-token", Method::POST, &path, Some(&body)).await
    };
    // Binding a role whose rules she holds: allowed; one she does not: refused.
    let ok = as_alice(binding("team-a", "bob-view", "veranda:viewer", "bob"), rb.clone()).await;
    assert_eq!(ok.status, StatusCode::CREATED, "{}", ok.body);
    let refused =
        as_alice(binding("team-a", "self-admin", "veranda:repository-admin", "alice"), rb.clone())
            .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.body);
    let message = refused.body["message"].as_str().unwrap_or_default();
    assert!(
        message.starts_with(r#"rolebindings.rbac.authorization.k8s.io "self-admin" is forbidden: user "alice" (groups=["team-a" "system:authenticated"]) is attempting to grant RBAC permissions not currently held:"#),
        "{message}"
    );
    assert!(
        message.contains(r#"{APIGroups:[""], Resources:["secrets"], Verbs:["*"]}"#),
        "{message}"
    );
    // The same for the rules of a Role.
    let role = |verb: &str| {
        json!({
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
            "metadata": {"name": format!("r-{verb}")},
            "rules": [{"apiGroups": ["porch.kpt.dev"], "resources": ["packagerevisions"], "verbs": [verb]}],
        })
    };
    let roles = format!("{RBAC}/namespaces/team-a/roles");
    assert_eq!(as_alice(role("delete"), roles.clone()).await.status, StatusCode::CREATED);
    let refused = as_alice(role("deletecollection"), roles.clone()).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.body);
    // Her rights end at team-a.
    let other = as_alice(
        binding("team-b", "bob-view", "veranda:viewer", "bob"),
        format!("{RBAC}/namespaces/team-b/rolebindings"),
    )
    .await;
    assert_eq!(other.status, StatusCode::FORBIDDEN, "{}", other.body);
}
