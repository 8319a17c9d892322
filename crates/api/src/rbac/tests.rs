//! Rule matching, the index, validation and the Forbidden message.

use super::*;

fn rule(verbs: &[&str], groups: &[&str], resources: &[&str], names: &[&str]) -> PolicyRule {
    let strings = |items: &[&str]| items.iter().map(|s| s.to_string()).collect();
    PolicyRule {
        verbs: strings(verbs),
        api_groups: strings(groups),
        resources: strings(resources),
        resource_names: strings(names),
        non_resource_urls: Vec::new(),
    }
}

fn res<'a>(
    verb: &'a str,
    resource: &'a str,
    subresource: &'a str,
    namespace: &'a str,
    name: &'a str,
) -> Attributes<'a> {
    Attributes::Resource(ResourceAttributes {
        verb,
        group: "porch.kpt.dev",
        resource,
        subresource,
        namespace,
        name,
    })
}

#[track_caller]
fn check(rule: &PolicyRule, attributes: Attributes<'_>, expect: bool) {
    assert_eq!(rule_allows(rule, &attributes), expect, "{rule:?} on {attributes:?}");
}

#[test]
fn rules_match_like_kubernetes() {
    let exact = rule(&["get", "list"], &["porch.kpt.dev"], &["packagerevisions"], &[]);
    check(&exact, res("get", "packagerevisions", "", "a", "x"), true);
    check(&exact, res("list", "packagerevisions", "", "", ""), true);
    check(&exact, res("update", "packagerevisions", "", "a", "x"), false);
    check(&exact, res("get", "packages", "", "a", "x"), false);
    // A resource does not grant its subresources.
    check(&exact, res("get", "packagerevisions", "approval", "a", "x"), false);
    let other_group = Attributes::Resource(ResourceAttributes {
        verb: "get",
        group: "config.porch.kpt.dev",
        resource: "packagerevisions",
        ..Default::default()
    });
    check(&exact, other_group, false);

    let wildcards = rule(&["*"], &["*"], &["*"], &[]);
    check(&wildcards, res("deletecollection", "anything", "status", "", ""), true);
    check(&wildcards, other_group, true);

    let sub = rule(&["update"], &["porch.kpt.dev"], &["packagerevisions/approval"], &[]);
    check(&sub, res("update", "packagerevisions", "approval", "a", "x"), true);
    check(&sub, res("update", "packagerevisions", "", "a", "x"), false);
    check(&sub, res("update", "packagerevisionsx", "approval", "a", "x"), false);
    let any_status = rule(&["update"], &["*"], &["*/status"], &[]);
    check(&any_status, res("update", "repositories", "status", "a", "x"), true);
    check(&any_status, res("update", "repositories", "", "a", "x"), false);
    check(&any_status, res("update", "packagerevisions", "approval", "a", "x"), false);

    let named = rule(&["get", "list", "update", "create"], &["*"], &["packagerevisions"], &["x"]);
    check(&named, res("get", "packagerevisions", "", "a", "x"), true);
    check(&named, res("update", "packagerevisions", "", "a", "x"), true);
    check(&named, res("get", "packagerevisions", "", "a", "y"), false);
    check(&named, res("list", "packagerevisions", "", "a", ""), false);
    check(&named, res("create", "packagerevisions", "", "a", ""), false);

    let urls = PolicyRule {
        verbs: vec!["get".into()],
        non_resource_urls: vec!["/apis/*".into(), "/version".into()],
        ..Default::default()
    };
    let path = |path| Attributes::NonResource { verb: "get", path };
    check(&urls, path("/apis"), false);
    check(&urls, path("/apis/"), true);
    check(&urls, path("/apis/porch.kpt.dev/v1alpha1"), true);
    check(&urls, path("/version"), true);
    check(&urls, path("/version/x"), false);
    check(&urls, path("/metrics"), false);
    check(&urls, Attributes::NonResource { verb: "post", path: "/version" }, false);
    check(&exact, path("/apis/x"), false);
}

fn binding(
    kind: RbacKind,
    ns: &str,
    name: &str,
    role: (&str, &str),
    subjects: &[(&str, &str, &str)],
) -> RoleBinding {
    let mut binding = RoleBinding {
        metadata: ObjectMeta { name: name.into(), namespace: ns.into(), ..Default::default() },
        subjects: subjects
            .iter()
            .map(|(kind, name, namespace)| Subject {
                kind: kind.to_string(),
                api_group: String::new(),
                name: name.to_string(),
                namespace: namespace.to_string(),
            })
            .collect(),
        role_ref: RoleRef { api_group: GROUP.into(), kind: role.0.into(), name: role.1.into() },
        ..Default::default()
    };
    binding.normalize(kind);
    binding
}

fn role(kind: RbacKind, ns: &str, name: &str, rules: Vec<PolicyRule>) -> Role {
    let mut role = Role {
        metadata: ObjectMeta { name: name.into(), namespace: ns.into(), ..Default::default() },
        rules,
        ..Default::default()
    };
    role.normalize(kind);
    role
}

#[test]
fn bindings_grant_in_their_namespace_and_cluster_bindings_everywhere() {
    let roles = [
        role(RbacKind::ClusterRole, "", "read", vec![rule(&["get", "list"], &["*"], &["*"], &[])]),
        role(RbacKind::Role, "a", "write", vec![rule(&["update"], &["*"], &["*"], &[])]),
        role(RbacKind::Role, "b", "read", vec![rule(&["delete"], &["*"], &["*"], &[])]),
    ];
    let bindings = [
        binding(
            RbacKind::RoleBinding,
            "a",
            "alice-read",
            ("ClusterRole", "read"),
            &[("User", "alice", "")],
        ),
        binding(
            RbacKind::RoleBinding,
            "a",
            "alice-write",
            ("Role", "write"),
            &[("User", "alice", "")],
        ),
        // A RoleBinding's Role is looked up in the binding's namespace: "read" of b is not used.
        binding(RbacKind::RoleBinding, "a", "team", ("Role", "read"), &[("Group", "team", "")]),
        binding(
            RbacKind::ClusterRoleBinding,
            "",
            "ops",
            ("ClusterRole", "read"),
            &[("Group", "ops", "")],
        ),
        binding(
            RbacKind::RoleBinding,
            "a",
            "bot",
            ("ClusterRole", "read"),
            &[("ServiceAccount", "bot", "")],
        ),
        binding(
            RbacKind::ClusterRoleBinding,
            "",
            "missing",
            ("ClusterRole", "absent"),
            &[("User", "carol", "")],
        ),
    ];
    let index = Index::build(&roles, &bindings);
    let alice = UserInfo { name: "alice", groups: &[] };
    assert!(index.allows(&alice, &res("get", "packagerevisions", "", "a", "x")));
    assert!(index.allows(&alice, &res("list", "packagerevisions", "", "a", "")));
    assert!(index.allows(&alice, &res("update", "packagerevisions", "", "a", "x")));
    assert!(!index.allows(&alice, &res("get", "packagerevisions", "", "b", "x")));
    assert!(!index.allows(&alice, &res("list", "packagerevisions", "", "", "")), "cluster scope");
    let team = ["team".to_string()];
    let member = UserInfo { name: "dave", groups: &team };
    assert!(!index.allows(&member, &res("delete", "packagerevisions", "", "a", "x")));
    assert!(!index.allows(&member, &res("delete", "packagerevisions", "", "b", "x")));
    let ops = ["ops".to_string()];
    let operator = UserInfo { name: "erin", groups: &ops };
    assert!(index.allows(&operator, &res("list", "packagerevisions", "", "", "")));
    assert!(index.allows(&operator, &res("get", "packagerevisions", "", "z", "x")));
    assert!(!index.allows(&operator, &res("update", "packagerevisions", "", "z", "x")));
    let bot = UserInfo { name: "system:serviceaccount:a:bot", groups: &[] };
    assert!(index.allows(&bot, &res("get", "packagerevisions", "", "a", "x")));
    assert!(!index.allows(
        &UserInfo { name: "bot", groups: &[] },
        &res("get", "packagerevisions", "", "a", "x")
    ));
    let carol = UserInfo { name: "carol", groups: &[] };
    assert!(!index.allows(&carol, &res("get", "packagerevisions", "", "a", "x")));
    let masters = [SYSTEM_MASTERS.to_string()];
    let admin = UserInfo { name: "admin", groups: &masters };
    assert!(index.allows(&admin, &Attributes::NonResource { verb: "get", path: "/metrics" }));

    let rules = index.rules_for(&alice, "a");
    assert_eq!(rules.len(), 2, "{rules:?}");
    assert!(index.rules_for(&alice, "b").is_empty());
}

#[test]
fn builtin_roles_give_each_persona_its_rights() {
    let roles = bootstrap_cluster_roles();
    let mut bindings = bootstrap_cluster_role_bindings();
    for (user, role) in
        [("alice", "veranda:editor"), ("carol", "veranda:approver"), ("vic", "veranda:viewer")]
    {
        bindings.push(binding(
            RbacKind::RoleBinding,
            "a",
            user,
            ("ClusterRole", role),
            &[("User", user, "")],
        ));
    }
    for role in &roles {
        role.validate(RbacKind::ClusterRole).expect("built-in roles are valid");
    }
    let index = Index::build(&roles, &bindings);
    let authenticated = [SYSTEM_AUTHENTICATED.to_string()];
    let user = |name| UserInfo { name, groups: &authenticated };
    let approve = res("update", "packagerevisions", "approval", "a", "x");
    let propose = res("update", "packagerevisions", "", "a", "x");
    assert!(index.allows(&user("alice"), &propose));
    assert!(!index.allows(&user("alice"), &approve));
    assert!(index.allows(&user("carol"), &approve));
    assert!(!index.allows(&user("carol"), &propose));
    assert!(!index.allows(&user("vic"), &propose));
    assert!(index.allows(&user("vic"), &res("watch", "packagerevisions", "", "a", "")));
    let create_repo = Attributes::Resource(ResourceAttributes {
        verb: "create",
        group: "config.porch.kpt.dev",
        resource: "repositories",
        namespace: "a",
        ..Default::default()
    });
    assert!(!index.allows(&user("alice"), &create_repo));
    bindings.push(binding(
        RbacKind::ClusterRoleBinding,
        "",
        "root",
        ("ClusterRole", "cluster-admin"),
        &[("User", "root", "")],
    ));
    let index = Index::build(&roles, &bindings);
    assert!(index.allows(&user("root"), &approve));
    assert!(
        index.allows(&user("root"), &Attributes::NonResource { verb: "get", path: "/metrics" })
    );
    let path = |path| Attributes::NonResource { verb: "get", path };
    assert!(index.allows(&user("nobody"), &path("/apis/porch.kpt.dev/v1alpha1")));
    assert!(index.allows(&user("nobody"), &path("/openapi/v3")));
    assert!(!index.allows(&user("nobody"), &path("/metrics")));
    let review = Attributes::Resource(ResourceAttributes {
        verb: "create",
        group: "authorization.k8s.io",
        resource: "selfsubjectaccessreviews",
        ..Default::default()
    });
    assert!(index.allows(&user("nobody"), &review));
}

#[test]
fn forbidden_messages_are_kube_apiservers() {
    let cases = [
        (
            res("update", "packagerevisions", "approval", "team-a", "r.p.ws"),
            r#"packagerevisions.porch.kpt.dev "r.p.ws" is forbidden: User "alice" cannot update resource "packagerevisions/approval" in API group "porch.kpt.dev" in the namespace "team-a""#,
        ),
        (
            res("list", "packagerevisions", "", "team-b", ""),
            r#"packagerevisions.porch.kpt.dev is forbidden: User "alice" cannot list resource "packagerevisions" in API group "porch.kpt.dev" in the namespace "team-b""#,
        ),
        (
            res("list", "packagerevisions", "", "", ""),
            r#"packagerevisions.porch.kpt.dev is forbidden: User "alice" cannot list resource "packagerevisions" in API group "porch.kpt.dev" at the cluster scope"#,
        ),
        (
            Attributes::Resource(ResourceAttributes {
                verb: "get",
                resource: "secrets",
                namespace: "a",
                name: "s",
                ..Default::default()
            }),
            r#"secrets "s" is forbidden: User "alice" cannot get resource "secrets" in API group "" in the namespace "a""#,
        ),
        (
            Attributes::NonResource { verb: "get", path: "/metrics" },
            r#"forbidden: User "alice" cannot get path "/metrics""#,
        ),
    ];
    for (attributes, expect) in cases {
        assert_eq!(forbidden_message("alice", &attributes), expect);
    }
}

#[test]
fn validation_follows_kube_apiserver() {
    let mut no_verbs = role(RbacKind::Role, "a", "r", vec![rule(&[], &[""], &["secrets"], &[])]);
    let e = no_verbs.validate(RbacKind::Role).expect_err("no verbs");
    assert_eq!(e.field, "rules[0].verbs");
    assert_eq!(e.message, "Required value: verbs must contain at least one value");
    no_verbs.rules[0].verbs = vec!["get".into()];
    no_verbs.validate(RbacKind::Role).expect("valid");
    let urls = PolicyRule {
        verbs: vec!["get".into()],
        non_resource_urls: vec!["/metrics".into()],
        ..Default::default()
    };
    let namespaced = role(RbacKind::Role, "a", "r", vec![urls.clone()]);
    assert_eq!(
        namespaced.validate(RbacKind::Role).expect_err("urls").field,
        "rules[0].nonResourceURLs"
    );
    role(RbacKind::ClusterRole, "", "r", vec![urls])
        .validate(RbacKind::ClusterRole)
        .expect("valid");
    let no_group = role(RbacKind::Role, "a", "r", vec![rule(&["get"], &[], &["secrets"], &[])]);
    assert_eq!(no_group.validate(RbacKind::Role).expect_err("group").field, "rules[0].apiGroups");

    let good = binding(
        RbacKind::RoleBinding,
        "a",
        "b",
        ("ClusterRole", "veranda:editor"),
        &[("User", "alice", "")],
    );
    good.validate(RbacKind::RoleBinding).expect("valid");
    assert_eq!(good.subjects[0].api_group, GROUP, "defaulted");
    let cluster_to_role = binding(RbacKind::ClusterRoleBinding, "", "b", ("Role", "x"), &[]);
    assert_eq!(
        cluster_to_role.validate(RbacKind::ClusterRoleBinding).expect_err("kind").field,
        "roleRef.kind"
    );
    let sa = binding(
        RbacKind::ClusterRoleBinding,
        "",
        "b",
        ("ClusterRole", "x"),
        &[("ServiceAccount", "bot", "")],
    );
    assert_eq!(
        sa.validate(RbacKind::ClusterRoleBinding).expect_err("ns").field,
        "subjects[0].namespace"
    );
    let odd = binding(RbacKind::RoleBinding, "a", "b", ("ClusterRole", "x"), &[("Robot", "r", "")]);
    assert_eq!(odd.validate(RbacKind::RoleBinding).expect_err("kind").field, "subjects[0].kind");
    let mut changed = good.clone();
    changed.role_ref.name = "veranda:approver".into();
    let e = changed.validate_update(&good, RbacKind::RoleBinding).expect_err("roleRef");
    assert_eq!(e.field, "roleRef");
    assert!(e.message.ends_with(": cannot change roleRef"), "{}", e.message);
    let mut subjects_changed = good.clone();
    subjects_changed.subjects.clear();
    subjects_changed.validate_update(&good, RbacKind::RoleBinding).expect("subjects may change");
}

#[test]
fn coverage_breaks_rules_down_like_kubernetes() {
    let owner = [
        rule(&["get", "list"], &["porch.kpt.dev"], &["packagerevisions", "*/status"], &[]),
        rule(&["update"], &["porch.kpt.dev"], &["packages"], &["a"]),
    ];
    let covered = [
        rule(&["get"], &["porch.kpt.dev"], &["packagerevisions", "repositories/status"], &[]),
        rule(&["update"], &["porch.kpt.dev"], &["packages"], &["a"]),
    ];
    assert!(uncovered(&owner, &covered).is_empty());
    let wider = [
        rule(&["get", "delete"], &["porch.kpt.dev"], &["packagerevisions"], &[]),
        rule(&["update"], &["porch.kpt.dev"], &["packages"], &[]),
        rule(&["get"], &["*"], &["packagerevisions"], &[]),
    ];
    let missing: Vec<String> = uncovered(&owner, &wider).iter().map(compact_string).collect();
    assert_eq!(
        missing,
        [
            r#"{APIGroups:["porch.kpt.dev"], Resources:["packagerevisions"], Verbs:["delete"]}"#,
            r#"{APIGroups:["porch.kpt.dev"], Resources:["packages"], Verbs:["update"]}"#,
            r#"{APIGroups:["*"], Resources:["packagerevisions"], Verbs:["get"]}"#,
        ]
    );
    let all = [rule(&["*"], &["*"], &["*"], &[])];
    assert!(uncovered(&all, &wider).is_empty());
}
