//! Access control with the real kubectl: the platform admin binds alice (editor) and carol
//! (approver) in team-a with `kubectl create rolebinding`; alice creates and proposes a
//! package revision in team-a but is refused in team-b, at the cluster scope, on the approval
//! and on Repositories, with kube-apiserver's messages; carol approves; `kubectl auth can-i`
//! (and `--list`) answers for each. RBAC objects through `kubectl create role`, `create
//! clusterrole`, `apply -f`, `get roles -A`, `delete rolebinding`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::{Value, json};

use crate::util::{Server, empty_repo};

/// Writes the token file (admin first) before the server's first start, data directory 0700.
fn start_with_users() -> Server {
    start_with_users_and(&[])
}

/// [`start_with_users`] with more arguments for `veranda serve`.
fn start_with_users_and(extra: &[&str]) -> Server {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).expect("data directory");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o700)).expect("chmod");
    let tokens = data.join("tokens.csv");
    std::fs::write(
        &tokens,
        "admin-e2e-token,admin,admin,\"system:masters\"\nalice-e2e-token,alice,alice,\"team-a-devs\"\ncarol-e2e-token,carol,carol,\n",
    )
    .expect("token file");
    std::fs::set_permissions(&tokens, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    Server::start_with(dir, extra)
}

/// A kubeconfig like the admin's with `token` instead.
fn kubeconfig_for(server: &Server, user: &str, token: &str) -> PathBuf {
    let admin = std::fs::read_to_string(&server.kubeconfig).expect("kubeconfig");
    let text = admin.replace("admin-e2e-token", token);
    let path = server.dir.path().join(format!("{user}.kubeconfig"));
    std::fs::write(&path, text).expect("write kubeconfig");
    path
}

fn kubectl_with(server: &Server, kubeconfig: &Path, args: &[&str], stdin: Option<&str>) -> Output {
    let mut cmd = Command::new("kubectl");
    cmd.arg("--kubeconfig").arg(kubeconfig).args(args);
    cmd.env("KUBECACHEDIR", server.dir.path().join("kube-cache"));
    match stdin {
        None => cmd.output().expect("kubectl"),
        Some(input) => {
            use std::io::Write;
            cmd.stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped());
            let mut child = cmd.spawn().expect("kubectl");
            child.stdin.take().expect("stdin").write_all(input.as_bytes()).expect("write stdin");
            child.wait_with_output().expect("kubectl")
        }
    }
}

/// Proposes package revision `name` of team-a as `who`.
#[track_caller]
fn propose(who: &As<'_>, name: &str) {
    who.ok(
        &[
            "patch",
            "packagerevision",
            name,
            "-n",
            "team-a",
            "--type=merge",
            "-p",
            r#"{"spec":{"lifecycle":"Proposed"}}"#,
        ],
        None,
    );
}

struct As<'a> {
    server: &'a Server,
    kubeconfig: PathBuf,
}

impl As<'_> {
    #[track_caller]
    fn ok(&self, args: &[&str], stdin: Option<&str>) -> String {
        let out = kubectl_with(self.server, &self.kubeconfig, args, stdin);
        assert!(
            out.status.success(),
            "kubectl {args:?} failed:\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Requires failure; returns stdout and stderr.
    #[track_caller]
    fn fails(&self, args: &[&str], stdin: Option<&str>) -> (String, String) {
        let out = kubectl_with(self.server, &self.kubeconfig, args, stdin);
        assert!(
            !out.status.success(),
            "kubectl {args:?} unexpectedly succeeded: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        (
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }
}

const RBAC_YAML: &str = r#"apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: package-reader
rules:
- apiGroups: ["porch.kpt.dev"]
  resources: ["packagerevisions"]
  verbs: ["get", "list"]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata:
  name: readers
  namespace: team-b
subjects:
- kind: Group
  name: team-a-devs
  apiGroup: rbac.authorization.k8s.io
roleRef:
  kind: ClusterRole
  name: package-reader
  apiGroup: rbac.authorization.k8s.io
"#;

#[test]
fn two_teams_with_editor_and_approver() {
    let server = start_with_users();
    let admin = As { server: &server, kubeconfig: server.kubeconfig.clone() };
    let alice =
        As { server: &server, kubeconfig: kubeconfig_for(&server, "alice", "alice-e2e-token") };
    let carol =
        As { server: &server, kubeconfig: kubeconfig_for(&server, "carol", "carol-e2e-token") };

    // The platform admin registers one repository per team and binds the team's people.
    for ns in ["team-a", "team-b"] {
        let remote = empty_repo(server.dir.path(), &format!("{ns}.git"));
        let manifest = format!(
            "apiVersion: config.porch.kpt.dev/v1alpha1\nkind: Repository\nmetadata:\n  name: {ns}-repo\n  namespace: {ns}\nspec:\n  git:\n    repo: {}\n    createBranch: true\n",
            remote.display()
        );
        admin.ok(&["apply", "-f", "-"], Some(&manifest));
    }
    admin.ok(
        &[
            "create",
            "rolebinding",
            "alice-edit",
            "--clusterrole=veranda:editor",
            "--user=alice",
            "-n",
            "team-a",
        ],
        None,
    );
    admin.ok(
        &[
            "create",
            "rolebinding",
            "carol-approve",
            "--clusterrole=veranda:approver",
            "--user=carol",
            "-n",
            "team-a",
        ],
        None,
    );
    let bindings = admin.ok(&["get", "rolebindings", "-n", "team-a"], None);
    assert!(
        bindings.contains("alice-edit") && bindings.contains("ClusterRole/veranda:editor"),
        "{bindings}"
    );

    // RBAC objects through kubectl, as on a cluster.
    admin.ok(
        &["create", "role", "secret-reader", "--verb=get", "--resource=secrets", "-n", "team-a"],
        None,
    );
    admin.ok(
        &[
            "create",
            "clusterrole",
            "repo-viewer",
            "--verb=get,list",
            "--resource=repositories.config.porch.kpt.dev",
        ],
        None,
    );
    admin.ok(&["apply", "-f", "-"], Some(RBAC_YAML));
    // A second apply of the same manifest (an update through kubectl's patch) is unchanged.
    let again = admin.ok(&["apply", "-f", "-"], Some(RBAC_YAML));
    assert!(again.contains("unchanged"), "{again}");
    // A changed manifest is patched (kubectl sends a strategic merge patch for RBAC kinds).
    let changed =
        RBAC_YAML.replace(r#"verbs: ["get", "list"]"#, r#"verbs: ["get", "list", "watch"]"#);
    let configured = admin.ok(&["apply", "-f", "-"], Some(&changed));
    assert!(
        configured.contains("clusterrole.rbac.authorization.k8s.io/package-reader configured"),
        "{configured}"
    );
    let reader: Value = serde_json::from_str(
        &admin.ok(&["get", "clusterrole", "package-reader", "-o", "json"], None),
    )
    .expect("JSON");
    assert_eq!(reader["rules"][0]["verbs"], json!(["get", "list", "watch"]));
    let roles = admin.ok(&["get", "roles", "-A"], None);
    assert!(roles.contains("team-a") && roles.contains("secret-reader"), "{roles}");
    let cluster_roles = admin.ok(&["get", "clusterroles"], None);
    for name in [
        "veranda:viewer",
        "veranda:editor",
        "veranda:approver",
        "veranda:repository-admin",
        "repo-viewer",
        "package-reader",
    ] {
        assert!(cluster_roles.contains(name), "{name} in {cluster_roles}");
    }
    let (_, refused) = admin.fails(
        &[
            "patch",
            "rolebinding",
            "readers",
            "-n",
            "team-b",
            "--type=merge",
            "-p",
            r#"{"roleRef":{"name":"veranda:editor"}}"#,
        ],
        None,
    );
    assert!(refused.contains("cannot change roleRef"), "{refused}");
    admin.ok(&["delete", "rolebinding", "readers", "-n", "team-b"], None);
    admin.ok(&["delete", "clusterrole", "repo-viewer"], None);

    server.eventually("both repositories ready", || {
        let list = server.get_json(&["repositories", "-A"]);
        list["items"].as_array().is_some_and(|items| {
            items.len() == 2
                && items.iter().all(|r| r["status"]["conditions"][0]["status"] == "True")
        })
    });

    // alice creates and proposes a package revision in team-a.
    let draft = json!({"apiVersion": "porch.kpt.dev/v1alpha1", "kind": "PackageRevision",
        "metadata": {"namespace": "team-a"},
        "spec": {"repository": "team-a-repo", "packageName": "app", "workspaceName": "ws",
            "tasks": [{"type": "init", "init": {"description": "app"}}]}});
    alice.ok(&["create", "-f", "-"], Some(&draft.to_string()));
    let name = "team-a-repo.app.ws";
    propose(&alice, name);
    let listed = alice.ok(&["get", "packagerevisions", "-n", "team-a"], None);
    assert!(listed.contains(name) && listed.contains("Proposed"), "{listed}");

    // ...but not in team-b, not cluster-wide, not the approval, not a Repository.
    let (_, denied) = alice.fails(&["get", "packagerevisions", "-n", "team-b"], None);
    assert!(
        denied.contains(r#"Error from server (Forbidden): packagerevisions.porch.kpt.dev is forbidden: User "alice" cannot list resource "packagerevisions" in API group "porch.kpt.dev" in the namespace "team-b""#),
        "{denied}"
    );
    let (_, denied) = alice.fails(&["get", "packagerevisions", "-A"], None);
    assert!(
        denied.contains(r#"packagerevisions.porch.kpt.dev is forbidden: User "alice" cannot list resource "packagerevisions" in API group "porch.kpt.dev" at the cluster scope"#),
        "{denied}"
    );
    let mut pr: Value = serde_json::from_str(
        &alice.ok(&["get", "packagerevision", name, "-n", "team-a", "-o", "json"], None),
    )
    .expect("JSON");
    pr["spec"]["lifecycle"] = json!("Published");
    let approval =
        format!("/apis/porch.kpt.dev/v1alpha1/namespaces/team-a/packagerevisions/{name}/approval");
    let (_, denied) =
        alice.fails(&["replace", "--raw", &approval, "-f", "-"], Some(&pr.to_string()));
    assert!(
        denied.contains(r#"User \"alice\" cannot update resource \"packagerevisions/approval\" in API group \"porch.kpt.dev\" in the namespace \"team-a\""#)
            || denied.contains(r#"User "alice" cannot update resource "packagerevisions/approval" in API group "porch.kpt.dev" in the namespace "team-a""#),
        "{denied}"
    );
    let repo = "apiVersion: config.porch.kpt.dev/v1alpha1\nkind: Repository\nmetadata:\n  name: mine\n  namespace: team-a\nspec:\n  git:\n    repo: /nowhere\n";
    let (_, denied) = alice.fails(&["create", "-f", "-"], Some(repo));
    assert!(denied.contains(r#"cannot create resource "repositories" in API group "config.porch.kpt.dev" in the namespace "team-a""#), "{denied}");

    // carol approves.
    carol.ok(&["replace", "--raw", &approval, "-f", "-"], Some(&pr.to_string()));
    let published: Value = serde_json::from_str(
        &carol.ok(&["get", "packagerevision", name, "-n", "team-a", "-o", "json"], None),
    )
    .expect("JSON");
    assert_eq!(published["spec"]["lifecycle"], "Published");
    // As Porch: the approver is who published it, the author of its content is alice.
    assert_eq!(published["status"]["publishedBy"], "carol", "{published}");
    assert_eq!(published["metadata"]["annotations"]["veranda.dev/changed-by"], "alice");

    // kubectl auth can-i: yes/no and exit codes, and the lists of rights.
    // kubectl reads `TYPE/NAME` as an object name: the subresource is `--subresource`.
    let can_i =
        ["auth", "can-i", "update", "packagerevisions", "--subresource=approval", "-n", "team-a"];
    let (out, _) = alice.fails(&can_i, None);
    assert_eq!(out.trim(), "no");
    assert_eq!(carol.ok(&can_i, None).trim(), "yes");
    assert_eq!(
        alice.ok(&["auth", "can-i", "create", "packagerevisions", "-n", "team-a"], None).trim(),
        "yes"
    );
    let (out, _) =
        alice.fails(&["auth", "can-i", "create", "packagerevisions", "-n", "team-b"], None);
    assert_eq!(out.trim(), "no");
    let alice_rights = alice.ok(&["auth", "can-i", "--list", "-n", "team-a"], None);
    assert!(alice_rights.contains("packagerevisions.porch.kpt.dev"), "{alice_rights}");
    assert!(!alice_rights.contains("packagerevisions.porch.kpt.dev/approval"), "{alice_rights}");
    let line = alice_rights
        .lines()
        .find(|l| l.trim_start().starts_with("packagerevisions.porch.kpt.dev "))
        .unwrap_or_else(|| panic!("no packagerevisions line in {alice_rights}"));
    assert!(line.contains("create") && line.contains("delete") && line.contains("list"), "{line}");
    let carol_rights = carol.ok(&["auth", "can-i", "--list", "-n", "team-a"], None);
    assert!(carol_rights.contains("packagerevisions.porch.kpt.dev/approval"), "{carol_rights}");
    let whoami = alice.ok(&["auth", "whoami"], None);
    assert!(
        whoami.contains("alice")
            && whoami.contains("team-a-devs")
            && whoami.contains("system:authenticated"),
        "{whoami}"
    );
    // The admin asks on alice's behalf (impersonation).
    let (out, _) = admin.fails(
        &["auth", "can-i", "list", "packagerevisions", "-n", "team-b", "--as", "alice"],
        None,
    );
    assert_eq!(out.trim(), "no");
    assert_eq!(
        admin
            .ok(
                &["auth", "can-i", "list", "packagerevisions", "-n", "team-a", "--as", "alice"],
                None
            )
            .trim(),
        "yes"
    );
    let carol_b = carol.ok(&["auth", "can-i", "--list", "-n", "team-b"], None);
    assert!(!carol_b.contains("packagerevisions.porch.kpt.dev/approval"), "{carol_b}");
}

#[test]
fn with_review_required_nobody_approves_their_own_change() {
    let server = start_with_users_and(&["--require-review"]);
    let admin = As { server: &server, kubeconfig: server.kubeconfig.clone() };
    let repo = empty_repo(server.dir.path(), "team-a.git");
    let manifest = format!(
        "apiVersion: config.porch.kpt.dev/v1alpha1\nkind: Repository\nmetadata: {{name: team-a-repo, namespace: team-a}}\nspec: {{type: git, git: {{repo: '{}', branch: main, createBranch: true}}}}\n",
        repo.display()
    );
    admin.ok(&["create", "-f", "-"], Some(&manifest));
    // alice may edit and approve; carol may approve.
    for (name, role, user) in [
        ("alice-edit", "editor", "alice"),
        ("alice-approve", "approver", "alice"),
        ("carol-approve", "approver", "carol"),
    ] {
        admin.ok(
            &[
                "create",
                "rolebinding",
                name,
                &format!("--clusterrole=veranda:{role}"),
                &format!("--user={user}"),
                "-n",
                "team-a",
            ],
            None,
        );
    }
    let alice =
        As { server: &server, kubeconfig: kubeconfig_for(&server, "alice", "alice-e2e-token") };
    let carol =
        As { server: &server, kubeconfig: kubeconfig_for(&server, "carol", "carol-e2e-token") };
    server.eventually("the repository is ready", || {
        server.kubectl(&[
            "get",
            "repositories",
            "-n",
            "team-a",
            "team-a-repo",
            "-o",
            "jsonpath={.status.conditions[0].status}",
        ]) == "True"
    });
    let name = "team-a-repo.app.ws";
    let draft = json!({"apiVersion": "porch.kpt.dev/v1alpha1", "kind": "PackageRevision",
        "metadata": {"namespace": "team-a", "annotations": {"veranda.dev/changed-by": "nobody"}},
        "spec": {"repository": "team-a-repo", "packageName": "app", "workspaceName": "ws",
            "tasks": [{"type": "init", "init": {"description": "app"}}]}});
    alice.ok(&["create", "-f", "-"], Some(&draft.to_string()));
    // A Secret alice may not read cannot be handed to a remote she chose.
    let steal = json!({"apiVersion": "porch.kpt.dev/v1alpha1", "kind": "PackageRevision",
        "metadata": {"namespace": "team-a"},
        "spec": {"repository": "team-a-repo", "packageName": "stolen", "workspaceName": "ws",
            "tasks": [{"type": "clone", "clone": {"upstreamRef": {"type": "git", "git": {
                "repo": "http://127.0.0.1:1/x.git", "ref": "main", "directory": "/",
                "secretRef": {"name": "team-a-git-credentials"}}}}}]}});
    let (_, refused) = alice.fails(&["create", "-f", "-"], Some(&steal.to_string()));
    assert!(
        refused.contains(r#"cannot get resource \"secrets\" in API group \"\" in the namespace \"team-a\", and so cannot use Secret \"team-a-git-credentials\""#)
            || refused.contains(r#"cannot get resource "secrets" in API group "" in the namespace "team-a", and so cannot use Secret "team-a-git-credentials""#),
        "{refused}"
    );
    let approval =
        format!("/apis/porch.kpt.dev/v1alpha1/namespaces/team-a/packagerevisions/{name}/approval");
    let get = |who: &As<'_>| -> Value {
        serde_json::from_str(
            &who.ok(&["get", "packagerevision", name, "-n", "team-a", "-o", "json"], None),
        )
        .expect("JSON")
    };
    let mut pr = get(&alice);
    // What a client sends for the managed annotation is ignored.
    assert_eq!(pr["metadata"]["annotations"]["veranda.dev/changed-by"], "alice", "{pr}");

    // Draft → Published directly is refused, even to another approver.
    pr["spec"]["lifecycle"] = json!("Published");
    let (_, refused) =
        carol.fails(&["replace", "--raw", &approval, "-f", "-"], Some(&pr.to_string()));
    assert!(
        refused
            .contains("review is required: a Draft cannot be published directly; propose it first"),
        "{refused}"
    );

    propose(&alice, name);
    let mut pr = get(&alice);
    pr["spec"]["lifecycle"] = json!("Published");
    // alice holds the approver role, but the change is hers.
    let (_, refused) =
        alice.fails(&["replace", "--raw", &approval, "-f", "-"], Some(&pr.to_string()));
    assert!(
        refused.contains(r#"user \"alice\" created or changed the content of this revision and cannot approve it; another user must"#)
            || refused.contains(r#"user "alice" created or changed the content of this revision and cannot approve it; another user must"#),
        "{refused}"
    );
    carol.ok(&["replace", "--raw", &approval, "-f", "-"], Some(&pr.to_string()));
    let published = get(&carol);
    assert_eq!(published["spec"]["lifecycle"], "Published", "{published}");
    assert_eq!(published["status"]["publishedBy"], "carol", "{published}");
}
