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
