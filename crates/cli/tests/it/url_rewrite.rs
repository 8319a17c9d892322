//! `veranda serve --git-url-rewrite`, end to end with the real kubectl: Repositories registered
//! with Porch's in-cluster Gitea URLs (which resolve nowhere here) are fetched from and pushed
//! to the test Gitea the rewrite names, with a basic-auth Secret; a clone from a Gitea URL reads
//! through the rewrite too; and everything the API shows keeps the URL as registered.

use serde_json::{Value, json};

use crate::gitea::{GITEA_URL, Gitea, PASSWORD, USER};
use crate::util::{Server, git};

fn repository(name: &str, url: &str) -> String {
    json!({
        "apiVersion": "config.porch.kpt.dev/v1alpha1",
        "kind": "Repository",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {"type": "git", "content": "Package",
                 "git": {"repo": url, "branch": "main", "directory": "/",
                         "secretRef": {"name": "gitea"}}},
    })
    .to_string()
}

fn ready(server: &Server, name: &str) {
    server.eventually(&format!("repository {name} Ready"), || {
        let repo = server.get_json(&["repository", name]);
        repo["status"]["conditions"][0]["status"] == "True"
    });
}

#[test]
fn repositories_at_gitea_urls_are_reached_through_the_rewrite() {
    let dir = tempfile::tempdir().expect("temp dir");
    let gitea = Gitea::start(&dir.path().join("gitea"));
    let rewrite = gitea.rewrite();
    let target = rewrite.split_once('=').map(|(_, to)| to.to_owned()).expect("FROM=TO");
    let server = Server::start_with(
        tempfile::tempdir().expect("temp dir"),
        &["--git-url-rewrite", &rewrite],
    );
    server.kubectl(&[
        "create",
        "secret",
        "generic",
        "gitea",
        "--type=kubernetes.io/basic-auth",
        &format!("--from-literal=username={USER}"),
        &format!("--from-literal=password={PASSWORD}"),
    ]);
    let blueprints_url = format!("{GITEA_URL}nephio/test-blueprints.git");
    server.kubectl_in(&["apply", "-f", "-"], Some(&repository("test-blueprints", &blueprints_url)));
    ready(&server, "test-blueprints");
    let revisions = server.get_json(&["packagerevisions"]);
    let names: Vec<&str> = revisions["items"]
        .as_array()
        .map(|items| items.iter().filter_map(|i| i["metadata"]["name"].as_str()).collect())
        .unwrap_or_default();
    for name in
        ["test-blueprints.basens.v1", "test-blueprints.basens.v4", "test-blueprints.empty.main"]
    {
        assert!(names.contains(&name), "{name} not in {names:?}");
    }

    // An empty repository named without `.git`, as Porch's goldens register it: a draft is
    // pushed through the rewrite.
    let porch_test_url = format!("{GITEA_URL}nephio/porch-test");
    server.kubectl_in(&["apply", "-f", "-"], Some(&repository("porch-test", &porch_test_url)));
    ready(&server, "porch-test");
    let init = json!({
        "apiVersion": "porch.kpt.dev/v1alpha1",
        "kind": "PackageRevision",
        "metadata": {"namespace": "default"},
        "spec": {"packageName": "app", "repository": "porch-test", "workspaceName": "ws1",
                 "tasks": [{"type": "init", "init": {"description": "through the rewrite"}}]},
    });
    server.kubectl_in(&["create", "-f", "-"], Some(&init.to_string()));
    let remote = gitea.repo("porch-test");
    let drafts = git(&remote, &["for-each-ref", "--format=%(refname)", "refs/heads/drafts/"]);
    assert_eq!(drafts.trim(), "refs/heads/drafts/app/ws1");

    // A clone from a Gitea URL reads the upstream through the rewrite; the Kptfile names the
    // URL as given.
    let clone = json!({
        "apiVersion": "porch.kpt.dev/v1alpha1",
        "kind": "PackageRevision",
        "metadata": {"namespace": "default"},
        "spec": {"packageName": "basens-clone", "repository": "porch-test",
                 "workspaceName": "c1",
                 "tasks": [{"type": "clone", "clone": {"upstreamRef": {"type": "git", "git": {
                     "repo": blueprints_url, "ref": "basens/v1", "directory": "basens",
                     "secretRef": {"name": "gitea"}}}}}]},
    });
    server.kubectl_in(&["create", "-f", "-"], Some(&clone.to_string()));
    let cloned = server.get_json(&["packagerevisionresources", "porch-test.basens-clone.c1"]);
    let kptfile = cloned["spec"]["resources"]["Kptfile"].as_str().unwrap_or_default();
    assert!(kptfile.contains(&format!("repo: {blueprints_url}")), "{kptfile}");
    assert!(kptfile.contains("commit: 67f29546028f0a48c6bbb08614934d0e070cdd3a"), "{kptfile}");

    // Nothing shown names where the remotes are really reached.
    let shown: Vec<Value> =
        vec![server.get_json(&["repositories"]), server.get_json(&["packagerevisions"]), cloned];
    for object in &shown {
        let text = object.to_string();
        assert!(!text.contains(&target), "the rewritten URL is shown: {text}");
    }
    let listed = server.get_json(&["repository", "porch-test"]);
    assert_eq!(listed["spec"]["git"]["repo"], porch_test_url.as_str());
}
