//! The platform team's first hour: register repositories, list, init → propose → approve,
//! copy, clone, watch, optimistic concurrency, deletion rules.

use std::{
    io::{BufRead, BufReader},
    process::{Command, Stdio},
    time::Duration,
};

use serde_json::{Value, json};

use crate::util::{Server, blueprints_repo, empty_repo, git};

fn names(list: &Value) -> Vec<String> {
    let mut names: Vec<String> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["metadata"]["name"].as_str().unwrap().to_string())
        .collect();
    names.sort();
    names
}

fn repositories_yaml(blueprints: &std::path::Path, deploy: &std::path::Path) -> String {
    format!(
        r#"apiVersion: config.porch.kpt.dev/v1alpha1
kind: Repository
metadata:
  name: test-blueprints
  namespace: default
spec:
  description: Porch test blueprints
  type: git
  content: Package
  git:
    repo: {}
    branch: main
---
apiVersion: config.porch.kpt.dev/v1alpha1
kind: Repository
metadata:
  name: deploy
spec:
  type: git
  deployment: true
  git:
    repo: file://{}
    branch: main
    createBranch: true
"#,
        blueprints.display(),
        deploy.display()
    )
}

#[test]
fn platform_team_workflow() {
    let server = Server::start();
    let repos = server.dir.path().join("repos");
    std::fs::create_dir_all(&repos).unwrap();
    let blueprints = blueprints_repo(&repos);
    let deploy = empty_repo(&repos, "deploy.git");

    // Unauthenticated calls are refused.
    let out = Command::new("kubectl")
        .args([
            "--server",
            &server.url(),
            "--insecure-skip-tls-verify",
            "--token",
            "wrong",
            "get",
            "packagerevisions",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("provide credentials"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // Register both repositories with kubectl apply (validated against our OpenAPI).
    server.kubectl_in(&["apply", "-f", "-"], Some(&repositories_yaml(&blueprints, &deploy)));
    server.eventually("both repositories ready", || {
        let list = server.get_json(&["repositories"]);
        list["items"].as_array().unwrap().len() == 2
            && list["items"]
                .as_array()
                .unwrap()
                .iter()
                .all(|r| r["status"]["conditions"][0]["status"] == "True")
    });
    // createBranch pushed an initial commit.
    assert!(git(&deploy, &["log", "--oneline", "main"]).contains("Initial commit"));

    // Every tagged version plus the main placeholders.
    let list = server.get_json(&[
        "packagerevisions",
        "--field-selector",
        "spec.repository=test-blueprints",
    ]);
    let expected: Vec<&str> = vec![
        "test-blueprints.basens.main",
        "test-blueprints.basens.v1",
        "test-blueprints.basens.v2",
        "test-blueprints.basens.v3",
        "test-blueprints.basens.v4",
        "test-blueprints.bucket.main",
        "test-blueprints.bucket.v1",
        "test-blueprints.empty.main",
        "test-blueprints.empty.v1",
        "test-blueprints.redis-bucket.main",
        "test-blueprints.redis-bucket.v1",
        "test-blueprints.unready.main",
        "test-blueprints.unready.v1",
        "test-blueprints.update.main",
        "test-blueprints.update.v1",
        "test-blueprints.update.v2",
    ];
    assert_eq!(names(&list), expected);
    // The cached-JSON list and the general list (a namespace field selector takes that path)
    // serve identical objects.
    let general = server.get_json(&[
        "packagerevisions",
        "--field-selector",
        "metadata.namespace=default,spec.repository=test-blueprints",
    ]);
    assert_eq!(list["items"], general["items"]);
    let v4 = server.get_json(&["packagerevision", "test-blueprints.basens.v4"]);
    assert_eq!(v4["spec"]["revision"], 4);
    assert_eq!(v4["spec"]["lifecycle"], "Published");
    assert_eq!(v4["metadata"]["labels"]["kpt.dev/latest-revision"], "true");
    assert_eq!(v4["metadata"]["uid"].as_str().unwrap().len(), 36);
    let main = server.get_json(&["packagerevision", "test-blueprints.basens.main"]);
    assert_eq!(main["spec"]["revision"], -1);
    assert!(main["metadata"]["labels"].get("kpt.dev/latest-revision").is_none());

    // Table output has Porch's columns.
    let table =
        server.kubectl(&["get", "packagerevisions", "--field-selector", "spec.packageName=basens"]);
    let header = table.lines().next().unwrap();
    for column in
        ["NAME", "PACKAGE", "WORKSPACENAME", "REVISION", "LATEST", "LIFECYCLE", "REPOSITORY"]
    {
        assert!(header.contains(column), "{header}");
    }
    assert_eq!(table.lines().count(), 6, "{table}");
    let general = server.kubectl(&[
        "get",
        "packagerevisions",
        "--field-selector",
        "spec.packageName=basens,metadata.namespace=default",
    ]);
    assert_eq!(table, general, "the slim Table path prints what the general path prints");
    assert!(server.kubectl(&["get", "repo"]).contains("test-blueprints"));

    // Watch everything in the deploy repository from here on.
    let mut watch = Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(&server.kubeconfig)
        .env("KUBECACHEDIR", server.dir.path().join("kube-cache"))
        .args([
            "get",
            "packagerevisions",
            "-w",
            "--output-watch-events",
            "-o",
            "json",
            "--field-selector",
            "spec.repository=deploy",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let watch_out = watch.stdout.take().unwrap();
    let (events_tx, events_rx) = std::sync::mpsc::channel::<Value>();
    std::thread::spawn(move || {
        let mut buffer = String::new();
        for line in BufReader::new(watch_out).lines() {
            let Ok(line) = line else { break };
            buffer.push_str(&line);
            buffer.push('\n');
            if let Ok(event) = serde_json::from_str::<Value>(&buffer) {
                buffer.clear();
                if events_tx.send(event).is_err() {
                    break;
                }
            }
        }
    });

    // init → propose → approve.
    let init = json!({
        "apiVersion": "porch.kpt.dev/v1alpha1",
        "kind": "PackageRevision",
        "metadata": {"namespace": "default", "labels": {"team": "platform"}},
        "spec": {
            "packageName": "app",
            "repository": "deploy",
            "workspaceName": "ws1",
            "lifecycle": "Draft",
            "tasks": [{"type": "init", "init": {"description": "my app"}}],
        },
    });
    let created: Value = serde_json::from_str(
        &server.kubectl_in(&["create", "-f", "-", "-o", "json"], Some(&init.to_string())),
    )
    .unwrap();
    assert_eq!(created["metadata"]["name"], "deploy.app.ws1");
    assert_eq!(created["spec"]["lifecycle"], "Draft");
    assert_eq!(created["metadata"]["labels"]["team"], "platform");
    assert_eq!(created["spec"]["tasks"][0]["type"], "init");
    assert!(git(&deploy, &["branch", "--list"]).contains("drafts/app/ws1"));
    let resources = server.get_json(&["packagerevisionresources", "deploy.app.ws1"]);
    let kptfile = resources["spec"]["resources"]["Kptfile"].as_str().unwrap();
    assert!(kptfile.contains("description: my app"), "{kptfile}");

    server.kubectl(&[
        "patch",
        "packagerevision",
        "deploy.app.ws1",
        "--type=merge",
        "-p",
        r#"{"spec":{"lifecycle":"Proposed"}}"#,
    ]);
    let branches = git(&deploy, &["branch", "--list"]);
    assert!(
        branches.contains("proposed/app/ws1") && !branches.contains("drafts/app/ws1"),
        "{branches}"
    );
    // Publishing through a normal update is refused.
    let err = server.kubectl_fails(
        &[
            "patch",
            "packagerevision",
            "deploy.app.ws1",
            "--type=merge",
            "-p",
            r#"{"spec":{"lifecycle":"Published"}}"#,
        ],
        None,
    );
    assert!(err.contains("approval"), "{err}");
    approve(&server, "deploy.app.ws1");
    let published = server.get_json(&["packagerevision", "deploy.app.ws1"]);
    assert_eq!(published["spec"]["lifecycle"], "Published");
    assert_eq!(published["spec"]["revision"], 1);
    assert_eq!(published["metadata"]["labels"]["kpt.dev/latest-revision"], "true");
    assert!(git(&deploy, &["tag", "--list"]).contains("app/v1"));
    let log = git(&deploy, &["log", "-1", "--format=%B", "main"]);
    assert!(log.starts_with("Approving package revision app/1"), "{log}");
    assert!(
        log.contains("kpt:{\"package\":\"app\",\"workspaceName\":\"ws1\",\"revision\":\"1\"}"),
        "{log}"
    );
    assert!(git(&deploy, &["ls-tree", "-r", "--name-only", "main"]).contains("app/Kptfile"));

    // Copy to a second workspace → approve: revision 2, the latest label moves.
    let copy = json!({
        "apiVersion": "porch.kpt.dev/v1alpha1",
        "kind": "PackageRevision",
        "metadata": {"namespace": "default"},
        "spec": {
            "packageName": "app", "repository": "deploy", "workspaceName": "ws2", "lifecycle": "Proposed",
            "tasks": [{"type": "edit", "edit": {"sourceRef": {"name": "deploy.app.ws1"}}}],
        },
    });
    server.kubectl_in(&["create", "-f", "-"], Some(&copy.to_string()));
    approve(&server, "deploy.app.ws2");
    let latest = server.get_json(&[
        "packagerevisions",
        "-l",
        "kpt.dev/latest-revision=true",
        "--field-selector",
        "spec.repository=deploy",
    ]);
    assert_eq!(names(&latest), vec!["deploy.app.ws2"]);
    assert_eq!(server.get_json(&["packagerevision", "deploy.app.ws2"])["spec"]["revision"], 2);

    // Clone basens v1 into the deployment repository.
    let clone = json!({
        "apiVersion": "porch.kpt.dev/v1alpha1",
        "kind": "PackageRevision",
        "metadata": {"namespace": "default"},
        "spec": {
            "packageName": "my-ns", "repository": "deploy", "workspaceName": "first",
            "tasks": [{"type": "clone", "clone": {"upstreamRef": {"upstreamRef": {"name": "test-blueprints.basens.v1"}}}}],
        },
    });
    server.kubectl_in(&["create", "-f", "-"], Some(&clone.to_string()));
    let cloned = server.get_json(&["packagerevision", "deploy.my-ns.first"]);
    assert_eq!(cloned["status"]["upstreamLock"]["git"]["ref"], "basens/v1");
    let files = server.get_json(&["packagerevisionresources", "deploy.my-ns.first"]);
    let kptfile = files["spec"]["resources"]["Kptfile"].as_str().unwrap();
    assert!(kptfile.contains("name: my-ns") && kptfile.contains("ref: basens/v1"), "{kptfile}");
    assert!(files["spec"]["resources"].get("namespace.yaml").is_some());

    // A stale update gets 409.
    let mut stale = cloned.clone();
    server.kubectl(&["label", "packagerevision", "deploy.my-ns.first", "stage=dev"]);
    stale["metadata"]["labels"] = json!({"stage": "prod"});
    let err = server.kubectl_fails(&["replace", "-f", "-"], Some(&stale.to_string()));
    assert!(err.contains("the object has been modified"), "{err}");
    assert_eq!(
        server.get_json(&["packagerevision", "deploy.my-ns.first"])["metadata"]["labels"]["stage"],
        "dev"
    );

    // Deleting a published revision is forbidden until it is proposed for deletion.
    let err = server.kubectl_fails(&["delete", "packagerevision", "deploy.app.ws1"], None);
    assert!(err.contains("Forbidden") || err.contains("forbidden"), "{err}");
    server.kubectl(&[
        "patch",
        "packagerevision",
        "deploy.app.ws1",
        "--type=merge",
        "-p",
        r#"{"spec":{"lifecycle":"DeletionProposed"}}"#,
    ]);
    assert!(git(&deploy, &["branch", "--list"]).contains("deletionProposed/app/v1"));
    server.kubectl(&["delete", "packagerevision", "deploy.app.ws1"]);
    assert!(!git(&deploy, &["tag", "--list"]).contains("app/v1"));
    server.kubectl(&["delete", "packagerevision", "deploy.my-ns.first"]);
    assert!(!git(&deploy, &["branch", "--list"]).contains("drafts/my-ns/first"));

    // The watch saw every kind of event.
    let mut seen = Vec::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while std::time::Instant::now() < deadline {
        match events_rx.recv_timeout(Duration::from_millis(200)) {
            Ok(event) => {
                let kind = event["type"].as_str().unwrap_or_default().to_string();
                let name =
                    event["object"]["metadata"]["name"].as_str().unwrap_or_default().to_string();
                seen.push((kind, name));
            }
            Err(_) if seen.iter().any(|(k, n)| k == "DELETED" && n == "deploy.my-ns.first") => {
                break;
            }
            Err(_) => {}
        }
    }
    let _ = watch.kill();
    let _ = watch.wait();
    for (kind, name) in [
        ("ADDED", "deploy.app.ws1"),
        ("MODIFIED", "deploy.app.ws1"),
        ("ADDED", "deploy.my-ns.first"),
        ("DELETED", "deploy.app.ws1"),
        ("DELETED", "deploy.my-ns.first"),
    ] {
        assert!(
            seen.iter().any(|(k, n)| k == kind && n == name),
            "missing {kind} {name} in {seen:?}"
        );
    }
}

/// Approves through the `/approval` subresource, as `porchctl rpkg approve` does.
fn approve(server: &Server, name: &str) {
    let mut pr = server.get_json(&["packagerevision", name]);
    pr["spec"]["lifecycle"] = json!("Published");
    let path =
        format!("/apis/porch.kpt.dev/v1alpha1/namespaces/default/packagerevisions/{name}/approval");
    server.kubectl_in(&["replace", "--raw", &path, "-f", "-"], Some(&pr.to_string()));
}
