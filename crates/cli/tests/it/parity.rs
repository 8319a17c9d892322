//! Porch parity with the real kubectl: field selectors as Porch's (Kptfile labels, alternatives,
//! package names by last segment), readiness gates satisfied by conditions sent with the object,
//! and a Repository kept by its finalizer.

use crate::util::{Server, git};

fn repository(name: &str, path: &std::path::Path) -> String {
    format!(
        "apiVersion: config.porch.kpt.dev/v1alpha1\nkind: Repository\nmetadata: {{name: {name}, namespace: default}}\nspec: {{type: git, git: {{repo: {}, branch: main, createBranch: true}}}}\n",
        path.display()
    )
}

fn draft(package: &str, labels: &str) -> String {
    format!(
        "apiVersion: porch.kpt.dev/v1alpha1\nkind: PackageRevision\nmetadata: {{namespace: default}}\nspec:\n  repository: r\n  packageName: {package}\n  workspaceName: ws\n  lifecycle: Draft\n  packageMetadata: {{labels: {{{labels}}}}}\n  tasks: [{{type: init, init: {{description: d}}}}]\n"
    )
}

#[test]
fn selectors_readiness_and_finalizers_through_kubectl() {
    let server = Server::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let remote = dir.path().join("r.git");
    git(dir.path(), &["init", "-q", "--bare", "-b", "main", "r.git"]);
    server.kubectl_in(&["apply", "-f", "-"], Some(&repository("r", &remote)));
    server.kubectl_in(&["create", "-f", "-"], Some(&draft("team/shop", "app: shop")));
    server.kubectl_in(&["create", "-f", "-"], Some(&draft("shop", "app: other")));
    server.kubectl_in(&["create", "-f", "-"], Some(&draft("team/db", "")));

    let names = |selector: &str| {
        server.kubectl(&["get", "packagerevisions", "--field-selector", selector, "-o", "name"])
    };
    assert_eq!(
        names("spec.packageMetadata.labels[app]=shop"),
        "packagerevision.porch.kpt.dev/r.team.shop.ws\n"
    );
    assert_eq!(names("spec.packageName=shop").lines().count(), 2);
    assert_eq!(names("spec.packageName=team/shop").lines().count(), 1);
    assert_eq!(names("spec.packageName=shop,spec.packageName=db").lines().count(), 3);
    let refused = server.kubectl_fails(
        &["get", "packagerevisions", "--field-selector", "spec.packageMetadata.labels[]=x"],
        None,
    );
    assert!(refused.contains("label key cannot be empty"), "{refused}");

    // A readiness gate holds a proposal back until its condition is True.
    let pr = "r.team.db.ws";
    server.kubectl(&[
        "patch",
        "packagerevision",
        pr,
        "--type",
        "merge",
        "-p",
        r#"{"spec":{"readinessGates":[{"conditionType":"ok"}]}}"#,
    ]);
    let propose = r#"{"spec":{"lifecycle":"Proposed"}}"#;
    let held = server
        .kubectl_fails(&["patch", "packagerevision", pr, "--type", "merge", "-p", propose], None);
    assert!(held.contains("readiness conditions not met"), "{held}");
    server.kubectl(&[
        "patch",
        "packagerevision",
        pr,
        "--type",
        "merge",
        "-p",
        r#"{"status":{"conditions":[{"type":"ok","status":"True"}]}}"#,
    ]);
    server.kubectl(&["patch", "packagerevision", pr, "--type", "merge", "-p", propose]);
    let lifecycle =
        server.kubectl(&["get", "packagerevision", pr, "-o", "jsonpath={.spec.lifecycle}"]);
    assert_eq!(lifecycle, "Proposed");

    // A finalizer keeps the Repository until it is removed.
    server.kubectl(&[
        "patch",
        "repository",
        "r",
        "--type",
        "merge",
        "-p",
        r#"{"metadata":{"finalizers":["example.com/keep"]}}"#,
    ]);
    server.kubectl(&["delete", "repository", "r", "--wait=false"]);
    let marked =
        server.kubectl(&["get", "repository", "r", "-o", "jsonpath={.metadata.deletionTimestamp}"]);
    assert!(!marked.is_empty(), "deletionTimestamp is set");
    server.kubectl(&[
        "patch",
        "repository",
        "r",
        "--type",
        "merge",
        "-p",
        r#"{"metadata":{"finalizers":null}}"#,
    ]);
    let gone = server.kubectl_fails(&["get", "repository", "r"], None);
    assert!(gone.contains("NotFound") || gone.contains("not found"), "{gone}");
}
