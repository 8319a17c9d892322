//! Behaviour Porch's clients rely on (issue: Porch parity), through the HTTP API.

use serde_json::json;

use super::{Fixture, PRS};

#[tokio::test]
async fn clone_writes_porchs_kptfile_upstream() {
    let f = Fixture::new().await;
    f.register("blue").await;
    f.register("red").await;
    f.create_draft("blue", "team/base", "v1").await;
    f.publish("blue.team.base.v1").await;
    let clone = json!({
        "apiVersion": "porch.kpt.dev/v1alpha1",
        "kind": "PackageRevision",
        "metadata": {"namespace": "default"},
        "spec": {
            "repository": "red",
            "packageName": "copy",
            "workspaceName": "ws",
            "lifecycle": "Draft",
            "tasks": [{"type": "clone", "clone": {"upstreamRef": {"upstreamRef": {"name": "blue.team.base.v1"}}}}],
        },
    });
    let answer = f.post(PRS, &clone).await;
    assert_eq!(answer.status.as_u16(), 201, "{}", answer.body);
    let files = f.resources("red.copy.ws").await;
    let kptfile = files["Kptfile"].as_str().unwrap_or_default();
    let repo = format!("{}/blue.git", f.dir.path().display());
    let commit = kptfile
        .lines()
        .find_map(|l| l.trim().strip_prefix("commit: "))
        .unwrap_or_default()
        .to_owned();
    assert_eq!(commit.len(), 40, "{kptfile}");
    let expected = format!(
        "upstream:\n  type: git\n  git:\n    repo: {repo}\n    directory: team/base\n    ref: team/base/v1\nupstreamLock:\n  type: git\n  git:\n    repo: {repo}\n    directory: team/base\n    ref: team/base/v1\n    commit: {commit}\n"
    );
    assert!(kptfile.contains(&expected), "{kptfile}");
    assert!(!kptfile.contains("updateStrategy"), "{kptfile}");
    assert!(kptfile.contains("name: copy"), "{kptfile}");
}

/// `PUT`s `object` to `name` and returns the answer.
async fn update(f: &Fixture, name: &str, object: &serde_json::Value) -> super::Answer {
    f.put(&format!("{PRS}/{name}"), object).await
}

#[tokio::test]
async fn conditions_sent_with_a_draft_satisfy_its_readiness_gates() {
    let f = Fixture::new().await;
    f.register("blue").await;
    let mut pr = f.create_draft("blue", "app", "ws").await.body;
    pr["spec"]["readinessGates"] = json!([{"conditionType": "example.com/approved"}]);
    let gated = update(&f, "blue.app.ws", &pr).await;
    assert_eq!(gated.status.as_u16(), 200, "{}", gated.body);
    let kptfile =
        f.resources("blue.app.ws").await["Kptfile"].as_str().unwrap_or_default().to_owned();
    assert!(
        kptfile.contains("readinessGates:\n  - conditionType: example.com/approved"),
        "{kptfile}"
    );

    // Proposing is refused while the gate's condition is missing, then while it is False.
    let mut propose = gated.body.clone();
    propose["spec"]["lifecycle"] = json!("Proposed");
    let refused = update(&f, "blue.app.ws", &propose).await;
    assert_eq!(refused.status.as_u16(), 422, "{}", refused.body);
    assert!(
        refused.body["message"]
            .as_str()
            .unwrap_or_default()
            .contains("readiness conditions not met"),
        "{}",
        refused.body
    );

    let mut pr = gated.body.clone();
    let mut conditions = pr["status"]["conditions"].as_array().cloned().unwrap_or_default();
    conditions
        .push(json!({"type": "example.com/approved", "status": "False", "reason": "Waiting"}));
    pr["status"]["conditions"] = json!(conditions);
    let waiting = update(&f, "blue.app.ws", &pr).await;
    assert_eq!(waiting.status.as_u16(), 200, "{}", waiting.body);
    let kptfile =
        f.resources("blue.app.ws").await["Kptfile"].as_str().unwrap_or_default().to_owned();
    assert!(
        kptfile
            .contains("- type: example.com/approved\n    status: \"False\"\n    reason: Waiting"),
        "{kptfile}"
    );
    let mut propose = waiting.body.clone();
    propose["spec"]["lifecycle"] = json!("Proposed");
    assert_eq!(update(&f, "blue.app.ws", &propose).await.status.as_u16(), 422);

    // True (reason dropped): proposal and approval go through.
    let mut pr = waiting.body.clone();
    for condition in pr["status"]["conditions"].as_array_mut().into_iter().flatten() {
        if condition["type"] == "example.com/approved" {
            *condition = json!({"type": "example.com/approved", "status": "True"});
        }
    }
    let ready = update(&f, "blue.app.ws", &pr).await;
    assert_eq!(ready.status.as_u16(), 200, "{}", ready.body);
    let shown = ready.body["status"]["conditions"].as_array().cloned().unwrap_or_default();
    assert!(
        shown.iter().any(|c| c["type"] == "example.com/approved"
            && c["status"] == "True"
            && c.get("reason").is_none()),
        "{shown:?}"
    );
    f.publish("blue.app.ws").await;
}

#[tokio::test]
async fn an_omitted_field_leaves_the_draft_unchanged_and_an_empty_one_clears_it() {
    let f = Fixture::new().await;
    f.register("blue").await;
    let mut pr = f.create_draft("blue", "app", "ws").await.body;
    pr["spec"]["readinessGates"] = json!([{"conditionType": "g"}]);
    pr["spec"]["packageMetadata"] = json!({"labels": {"team": "a"}, "annotations": {"owner": "b"}});
    let set = update(&f, "blue.app.ws", &pr).await;
    assert_eq!(set.status.as_u16(), 200, "{}", set.body);

    // A typed client's object: no readinessGates, no packageMetadata.
    let mut typed = set.body.clone();
    let spec = typed["spec"].as_object_mut().expect("a spec");
    spec.remove("readinessGates");
    spec.remove("packageMetadata");
    let kept = update(&f, "blue.app.ws", &typed).await;
    assert_eq!(kept.status.as_u16(), 200, "{}", kept.body);
    assert_eq!(
        kept.body["spec"]["readinessGates"],
        json!([{"conditionType": "g"}]),
        "{}",
        kept.body
    );
    assert_eq!(
        kept.body["spec"]["packageMetadata"]["labels"],
        json!({"team": "a"}),
        "{}",
        kept.body
    );

    // Empty labels clear the labels only; empty gates clear the gates.
    let mut cleared = kept.body.clone();
    cleared["spec"]["packageMetadata"] = json!({"labels": {}});
    cleared["spec"]["readinessGates"] = json!([]);
    let cleared = update(&f, "blue.app.ws", &cleared).await;
    assert_eq!(cleared.status.as_u16(), 200, "{}", cleared.body);
    assert!(cleared.body["spec"].get("readinessGates").is_none(), "{}", cleared.body);
    assert!(cleared.body["spec"]["packageMetadata"].get("labels").is_none(), "{}", cleared.body);
    assert_eq!(
        cleared.body["spec"]["packageMetadata"]["annotations"]["owner"], "b",
        "{}",
        cleared.body
    );
}

#[tokio::test]
async fn the_spec_of_a_published_revision_cannot_change() {
    let f = Fixture::new().await;
    f.register("blue").await;
    f.create_draft("blue", "app", "ws").await;
    let published = f.publish("blue.app.ws").await;
    let name = published["metadata"]["name"].as_str().unwrap_or_default().to_owned();
    let mut tasks = published.clone();
    tasks["spec"]["tasks"] = json!([{"type": "init", "init": {"description": "another"}}]);
    let answer = update(&f, &name, &tasks).await;
    assert_eq!(answer.status.as_u16(), 422, "{}", answer.body);
    assert!(
        answer.body["message"].as_str().unwrap_or_default().contains("spec.tasks: Forbidden"),
        "{}",
        answer.body
    );
    let mut revision = published.clone();
    revision["spec"]["revision"] = json!(7);
    let answer = update(&f, &name, &revision).await;
    assert_eq!(answer.status.as_u16(), 422, "{}", answer.body);
    assert!(
        answer.body["message"].as_str().unwrap_or_default().contains("spec.revision: Forbidden"),
        "{}",
        answer.body
    );
    // The same object back, or one without tasks, is no change.
    let mut typed = published.clone();
    typed["spec"].as_object_mut().expect("a spec").remove("tasks");
    assert_eq!(update(&f, &name, &typed).await.status.as_u16(), 200);
}

#[tokio::test]
async fn package_revision_resources_not_found_names_its_resource() {
    let f = Fixture::new().await;
    let answer = f.get(&format!("{}/nope", super::PRRS)).await;
    super::check_status(
        &answer,
        404,
        "NotFound",
        "packagerevisionresources.porch.kpt.dev \"nope\" not found",
    );
    assert_eq!(answer.body["details"]["kind"], "packagerevisionresources", "{}", answer.body);
}

#[tokio::test]
async fn repositories_support_deletecollection() {
    let f = Fixture::new().await;
    for name in ["a", "b", "c"] {
        f.register(name).await;
    }
    let mut c = f.get(&format!("{}/c", super::REPOS)).await.body;
    c["metadata"]["labels"] = json!({"keep": "yes"});
    assert_eq!(f.put(&format!("{}/c", super::REPOS), &c).await.status.as_u16(), 200);
    let answer = f
        .send(
            axum::http::Method::DELETE,
            &format!("{}?labelSelector=keep!%3Dyes", super::REPOS),
            &[],
            "",
        )
        .await;
    assert_eq!(answer.status.as_u16(), 200, "{}", answer.body);
    assert_eq!(answer.body["kind"], "RepositoryList", "{}", answer.body);
    assert_eq!(super::names(&answer.body), ["a", "b"], "{}", answer.body);
    let left = f.get(super::REPOS).await.body;
    assert_eq!(super::names(&left), ["c"], "{left}");
}

#[tokio::test]
async fn repository_content_defaults_to_package() {
    let f = Fixture::new().await;
    let path = f.bare("plain");
    let body = json!({
        "apiVersion": "config.porch.kpt.dev/v1alpha1",
        "kind": "Repository",
        "metadata": {"name": "plain", "namespace": "default"},
        "spec": {"type": "git", "git": {"repo": path.display().to_string(), "branch": "main", "createBranch": true}},
    });
    let created = f.post(super::REPOS, &body).await;
    assert_eq!(created.status.as_u16(), 201, "{}", created.body);
    assert_eq!(created.body["spec"]["content"], "Package", "{}", created.body);
    assert_eq!(f.get(&format!("{}/plain", super::REPOS)).await.body["spec"]["content"], "Package");
}

#[tokio::test]
async fn a_resources_update_always_reports_its_render() {
    let f = Fixture::new().await;
    f.register("blue").await;
    f.create_draft("blue", "app", "ws").await;
    let mut prr = f.get(&format!("{}/blue.app.ws", super::PRRS)).await.body;
    prr["spec"]["resources"]["cm.yaml"] =
        json!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm\n");
    let answer = f.put(&format!("{}/blue.app.ws", super::PRRS), &prr).await;
    assert_eq!(answer.status.as_u16(), 200, "{}", answer.body);
    let render = &answer.body["status"]["renderStatus"];
    assert_eq!(render["result"]["kind"], "FunctionResultList", "{}", answer.body);
    assert_eq!(render["error"], "", "{}", answer.body);
}

#[tokio::test]
async fn package_metadata_is_always_shown() {
    let f = Fixture::new().await;
    f.register("blue").await;
    let pr = f.create_draft("blue", "app", "ws").await.body;
    assert!(pr["spec"]["packageMetadata"].is_object(), "{pr}");
    let mut cleared = pr.clone();
    cleared["spec"]["packageMetadata"] = json!({"labels": {}, "annotations": {}});
    let cleared = update(&f, "blue.app.ws", &cleared).await;
    assert_eq!(cleared.status.as_u16(), 200, "{}", cleared.body);
    let metadata = &cleared.body["spec"]["packageMetadata"];
    // The Kptfile keeps its own local-config annotation; nothing else is left.
    let left: Vec<&String> =
        metadata["annotations"].as_object().map(|m| m.keys().collect()).unwrap_or_default();
    assert!(
        metadata.get("labels").is_none()
            && left.iter().all(|k| *k == "config.kubernetes.io/local-config"),
        "{metadata}"
    );
}

#[tokio::test]
async fn a_repository_with_finalizers_waits_for_them_to_be_removed() {
    let f = Fixture::new().await;
    f.register("blue").await;
    let path = format!("{}/blue", super::REPOS);
    let mut repo = f.get(&path).await.body;
    repo["metadata"]["finalizers"] = json!(["example.com/cleanup"]);
    let held = f.put(&path, &repo).await;
    assert_eq!(held.status.as_u16(), 200, "{}", held.body);

    let deleting = f.send(axum::http::Method::DELETE, &path, &[], "").await;
    assert_eq!(deleting.status.as_u16(), 200, "{}", deleting.body);
    assert!(deleting.body["metadata"]["deletionTimestamp"].is_string(), "{}", deleting.body);
    let still = f.get(&path).await;
    assert_eq!(still.status.as_u16(), 200, "{}", still.body);
    assert!(still.body["metadata"]["deletionTimestamp"].is_string(), "{}", still.body);

    let mut more = still.body.clone();
    more["metadata"]["finalizers"] = json!(["example.com/cleanup", "example.com/other"]);
    let refused = f.put(&path, &more).await;
    assert_eq!(refused.status.as_u16(), 422, "{}", refused.body);

    let mut done = still.body.clone();
    done["metadata"]["finalizers"] = json!([]);
    let removed = f.put(&path, &done).await;
    assert_eq!(removed.status.as_u16(), 200, "{}", removed.body);
    assert_eq!(f.get(&path).await.status.as_u16(), 404);
}

/// Gives draft `name` an ownerReference to `owner` (a served object).
async fn own(f: &Fixture, name: &str, owner: &serde_json::Value) {
    let mut pr = f.get(&format!("{PRS}/{name}")).await.body;
    pr["metadata"]["ownerReferences"] = json!([{
        "apiVersion": "porch.kpt.dev/v1alpha1",
        "kind": "PackageRevision",
        "name": owner["metadata"]["name"],
        "uid": owner["metadata"]["uid"],
    }]);
    let answer = update(f, name, &pr).await;
    assert_eq!(answer.status.as_u16(), 200, "{}", answer.body);
}

#[tokio::test]
async fn dependents_of_a_deleted_owner_are_collected_unless_orphaned() {
    let f = Fixture::new().await;
    f.register("blue").await;
    let owner = f.create_draft("blue", "owner", "ws").await.body;
    f.create_draft("blue", "child", "ws").await;
    f.create_draft("blue", "grandchild", "ws").await;
    own(&f, "blue.child.ws", &owner).await;
    let child = f.get(&format!("{PRS}/blue.child.ws")).await.body;
    own(&f, "blue.grandchild.ws", &child).await;
    let kept_owner = f.create_draft("blue", "keeper", "ws").await.body;
    f.create_draft("blue", "orphan", "ws").await;
    own(&f, "blue.orphan.ws", &kept_owner).await;

    let deleted =
        f.send(axum::http::Method::DELETE, &format!("{PRS}/blue.owner.ws"), &[], "").await;
    assert_eq!(deleted.status.as_u16(), 200, "{}", deleted.body);
    let orphaning = f
        .send(
            axum::http::Method::DELETE,
            &format!("{PRS}/blue.keeper.ws"),
            &[(axum::http::header::CONTENT_TYPE, "application/json")],
            r#"{"kind":"DeleteOptions","apiVersion":"v1","propagationPolicy":"Orphan"}"#,
        )
        .await;
    assert_eq!(orphaning.status.as_u16(), 200, "{}", orphaning.body);
    // Background propagation: wait for the chain to go.
    let mut left = Vec::new();
    for _ in 0..100 {
        let list = f.get(PRS).await.body;
        left = super::names(&list).into_iter().map(str::to_owned).collect();
        if !left.iter().any(|n| n.contains("child")) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(left, ["blue.orphan.ws"], "the chain is collected, the orphan stays");
}

#[tokio::test]
async fn clone_takes_an_unpublished_upstream_and_shows_secret_ref_as_porch() {
    let f = Fixture::new().await;
    f.register("blue").await;
    f.register("red").await;
    f.create_draft("blue", "base", "ws").await;
    let clone = |source: serde_json::Value, package: &str| {
        json!({
            "apiVersion": "porch.kpt.dev/v1alpha1",
            "kind": "PackageRevision",
            "metadata": {"namespace": "default"},
            "spec": {
                "repository": "red", "packageName": package, "workspaceName": "ws", "lifecycle": "Draft",
                "tasks": [{"type": "clone", "clone": {"upstreamRef": source}}],
            },
        })
    };
    // A Draft upstream: Porch refuses placeholders only.
    let from_draft =
        f.post(PRS, &clone(json!({"upstreamRef": {"name": "blue.base.ws"}}), "a")).await;
    assert_eq!(from_draft.status.as_u16(), 201, "{}", from_draft.body);

    f.publish("blue.base.ws").await;
    let repo = format!("{}/blue.git", f.dir.path().display());
    let git = json!({"git": {"repo": repo, "ref": "base/v1", "directory": "base"}});
    let from_git = f.post(PRS, &clone(git, "b")).await;
    assert_eq!(from_git.status.as_u16(), 201, "{}", from_git.body);
    let task = &from_git.body["spec"]["tasks"][0]["clone"]["upstreamRef"]["git"];
    assert_eq!(task["secretRef"], json!({"name": ""}), "{}", from_git.body);
    let read_back = f.get(&format!("{PRS}/red.b.ws")).await.body;
    assert_eq!(
        read_back["spec"]["tasks"][0]["clone"]["upstreamRef"]["git"]["secretRef"],
        json!({"name": ""}),
        "{read_back}"
    );
}

/// `git log -1 --format=FORMAT REF` in the bare repository of Repository `repo`.
fn git_log(f: &Fixture, repo: &str, format: &str, reference: &str) -> String {
    let out = std::process::Command::new("git")
        .arg("-C")
        .arg(f.dir.path().join(format!("{repo}.git")))
        .args(["log", "-1", &format!("--format={format}"), reference])
        .output()
        .expect("run git");
    assert!(out.status.success(), "git log: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

#[tokio::test]
async fn the_requesting_user_authors_commits_and_is_published_by() {
    let f = Fixture::new().await;
    f.register("blue").await;
    f.create_draft("blue", "app", "ws").await;
    // The fixture's token is the admin's (user `admin`); as Porch, a Kubernetes user's one
    // name is both the name and the email; the service stays the committer.
    assert_eq!(
        git_log(&f, "blue", "%an <%ae> / %cn <%ce>", "drafts/app/ws"),
        "admin <admin> / Package Orchestration Service <porch@kpt.dev>"
    );
    let published = f.publish("blue.app.ws").await;
    assert_eq!(published["status"]["publishedBy"], "admin", "{published}");
    assert_eq!(git_log(&f, "blue", "%an <%ae>", "app/v1"), "admin <admin>");
    assert_eq!(git_log(&f, "blue", "%an <%ae>", "main"), "admin <admin>");
}

#[tokio::test]
async fn a_repository_author_takes_precedence_over_the_user() {
    let f = Fixture::new().await;
    let mut repository = super::repository("blue", &f.bare("blue"));
    repository["spec"]["git"]["author"] = json!("Platform Bot");
    repository["spec"]["git"]["email"] = json!("bot@example.com");
    let answer = f.post(super::REPOS, &repository).await;
    assert_eq!(answer.status.as_u16(), 201, "{}", answer.body);
    f.create_draft("blue", "app", "ws").await;
    assert_eq!(git_log(&f, "blue", "%an <%ae>", "drafts/app/ws"), "Platform Bot <bot@example.com>");
    let published = f.publish("blue.app.ws").await;
    assert_eq!(published["status"]["publishedBy"], "bot@example.com", "{published}");
}

#[tokio::test]
async fn a_second_revision_of_one_workspace_answers_porchs_text() {
    let f = Fixture::new().await;
    f.register("blue").await;
    f.create_draft("blue", "app", "ws").await;
    let again = f.post(PRS, &super::draft("blue", "app", "ws")).await;
    super::check_status(
        &again,
        409,
        "AlreadyExists",
        "package revision workspaceNames must be unique; package revision with name app in repo blue with workspaceName ws already exists",
    );
    assert_eq!(again.body["details"]["name"], "blue.app.ws", "{}", again.body);
}

#[tokio::test]
async fn the_approval_subresource_moves_the_lifecycle_only() {
    let f = Fixture::new().await;
    f.register("blue").await;
    let draft = f.create_draft("blue", "app", "ws").await.body;
    // A DELETE of the subresource is not a deletion of the object.
    let deleted =
        f.send(axum::http::Method::DELETE, &format!("{PRS}/blue.app.ws/approval"), &[], "").await;
    assert_eq!(deleted.status.as_u16(), 405, "{}", deleted.body);
    assert_eq!(f.get(&format!("{PRS}/blue.app.ws")).await.status.as_u16(), 200);
    // Labels, annotations and finalizers sent to /approval are not applied.
    let mut pr = draft.clone();
    pr["spec"]["lifecycle"] = json!("Proposed");
    let proposed = update(&f, "blue.app.ws", &pr).await.body;
    let mut approve = proposed.clone();
    approve["spec"]["lifecycle"] = json!("Published");
    approve["metadata"]["labels"] = json!({"sneaky": "yes"});
    approve["metadata"]["finalizers"] = json!(["example.com/hold"]);
    let published = f.put(&format!("{PRS}/blue.app.ws/approval"), &approve).await;
    assert_eq!(published.status.as_u16(), 200, "{}", published.body);
    assert_eq!(published.body["spec"]["lifecycle"], "Published", "{}", published.body);
    assert!(published.body["metadata"]["labels"].get("sneaky").is_none(), "{}", published.body);
    assert!(
        published.body["metadata"]
            .get("finalizers")
            .is_none_or(|f| f.as_array().is_some_and(Vec::is_empty)),
        "{}",
        published.body
    );
}
