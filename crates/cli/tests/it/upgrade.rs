//! Upgrading a downstream package through the API keeps local edits (issue 3's end-to-end).

use serde_json::{Value, json};

use crate::util::{Server, blueprints_repo, empty_repo};

#[test]
fn clone_edit_approve_upgrade_through_the_api() {
    let server = Server::start();
    let blueprints = blueprints_repo(server.dir.path());
    let deploy = empty_repo(server.dir.path(), "deploy.git");
    let manifest = format!(
        "apiVersion: config.porch.kpt.dev/v1alpha1\nkind: Repository\nmetadata:\n  name: blueprints\nspec:\n  git:\n    repo: {}\n---\napiVersion: config.porch.kpt.dev/v1alpha1\nkind: Repository\nmetadata:\n  name: deploy\nspec:\n  git:\n    repo: {}\n    createBranch: true\n",
        blueprints.display(),
        deploy.display()
    );
    server.kubectl_in(&["apply", "-f", "-"], Some(&manifest));
    let clone = json!({
        "apiVersion": "porch.kpt.dev/v1alpha1", "kind": "PackageRevision",
        "spec": {"repository": "deploy", "packageName": "team-a", "workspaceName": "v1",
                 "tasks": [{"type": "clone", "clone": {"upstreamRef": {"upstreamRef": {"name": "blueprints.basens.v1"}}}}]},
    });
    server.kubectl_in(&["create", "-f", "-"], Some(&clone.to_string()));

    // Local edit through PackageRevisionResources, as a client that drops comments would send it.
    let mut prr = server.get_json(&["packagerevisionresources", "deploy.team-a.v1"]);
    let ns = prr["spec"]["resources"]["namespace.yaml"].as_str().unwrap().to_string();
    let edited = ns.replace(
        "  name: example\n",
        "  name: example # owned by team a\n  labels:\n    team: a\n",
    );
    prr["spec"]["resources"]["namespace.yaml"] = json!(edited);
    server.kubectl_in(&["replace", "-f", "-"], Some(&prr.to_string()));
    // Drop the comment in a second edit: the server heals it from the previous version.
    let mut prr = server.get_json(&["packagerevisionresources", "deploy.team-a.v1"]);
    let without_comment = prr["spec"]["resources"]["namespace.yaml"]
        .as_str()
        .unwrap()
        .replace(" # owned by team a", "");
    prr["spec"]["resources"]["namespace.yaml"] = json!(without_comment);
    server.kubectl_in(&["replace", "-f", "-"], Some(&prr.to_string()));
    let healed = server.get_json(&["packagerevisionresources", "deploy.team-a.v1"]);
    assert!(
        healed["spec"]["resources"]["namespace.yaml"]
            .as_str()
            .unwrap()
            .contains("# owned by team a"),
        "{healed}"
    );

    server.kubectl(&[
        "patch",
        "packagerevision",
        "deploy.team-a.v1",
        "--type=merge",
        "-p",
        r#"{"spec":{"lifecycle":"Proposed"}}"#,
    ]);
    let mut pr = server.get_json(&["packagerevision", "deploy.team-a.v1"]);
    pr["spec"]["lifecycle"] = json!("Published");
    let path = "/apis/porch.kpt.dev/v1alpha1/namespaces/default/packagerevisions/deploy.team-a.v1/approval";
    server.kubectl_in(&["replace", "--raw", path, "-f", "-"], Some(&pr.to_string()));

    let upgrade = json!({
        "apiVersion": "porch.kpt.dev/v1alpha1", "kind": "PackageRevision",
        "spec": {"repository": "deploy", "packageName": "team-a", "workspaceName": "v2",
                 "tasks": [{"type": "upgrade", "upgrade": {
                     "oldUpstreamRef": {"name": "blueprints.basens.v1"},
                     "newUpstreamRef": {"name": "blueprints.basens.v2"},
                     "localPackageRevisionRef": {"name": "deploy.team-a.v1"},
                     "strategy": "resource-merge"}}]},
    });
    let created: Value = serde_json::from_str(
        &server.kubectl_in(&["create", "-f", "-", "-o", "json"], Some(&upgrade.to_string())),
    )
    .unwrap();
    assert_eq!(created["status"]["upstreamLock"]["git"]["ref"], "basens/v2");
    let merged = server.get_json(&["packagerevisionresources", "deploy.team-a.v2"]);
    let resources = &merged["spec"]["resources"];
    assert!(
        resources.get("resourcequota.yaml").is_some(),
        "upstream addition applied: {resources}"
    );
    let ns = resources["namespace.yaml"].as_str().unwrap();
    assert!(ns.contains("team: a") && ns.contains("# owned by team a"), "local edit kept: {ns}");
    let kptfile = resources["Kptfile"].as_str().unwrap();
    assert!(kptfile.contains("name: team-a") && kptfile.contains("ref: basens/v2"), "{kptfile}");

    // A bad strategy is a field error.
    let mut bad = upgrade.clone();
    bad["spec"]["workspaceName"] = json!("v3");
    bad["spec"]["tasks"][0]["upgrade"]["strategy"] = json!("best-effort");
    let err = server.kubectl_fails(&["create", "-f", "-"], Some(&bad.to_string()));
    assert!(err.contains("spec.tasks[0].upgrade.strategy"), "{err}");
}
