//! The audit log with the real kubectl: one line per request, Kubernetes' audit Event shape at
//! level Metadata, the right user, a failed login as anonymous, no credentials, rotation.

use serde_json::Value;

use crate::util::{Server, empty_repo};

fn events(path: &std::path::Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
        .collect()
}

#[test]
fn every_request_is_audited_without_credentials() {
    let dir = tempfile::tempdir().expect("temp dir");
    let log = dir.path().join("audit.log");
    let repo = empty_repo(dir.path(), "blue.git");
    let log_arg = log.display().to_string();
    let server = Server::start_with(dir, &["--audit-log", &log_arg]);
    let manifest = format!(
        "apiVersion: config.porch.kpt.dev/v1alpha1\nkind: Repository\nmetadata: {{name: blue, namespace: default}}\nspec: {{type: git, git: {{repo: '{}', branch: main, createBranch: true}}}}\n",
        repo.display()
    );
    server.kubectl_in(&["create", "-f", "-"], Some(&manifest));
    server.kubectl(&["get", "repositories", "blue", "-o", "name"]);
    // The admin acting as alice (who may do nothing here): both are in the event.
    let denied = server.kubectl_fails(&["get", "repositories", "--as", "alice"], None);
    assert!(denied.contains("Forbidden"), "{denied}");
    let refused = server.kubectl_fails(&["get", "repositories", "--token", "wrong-token"], None);
    assert!(refused.contains("Unauthorized") || refused.contains("unauthorized"), "{refused}");

    // Lines reach the file promptly (the writer flushes when idle).
    let mut all = Vec::new();
    server.eventually("the audit log has the requests", || {
        all = events(&log);
        all.iter().any(|e| e["responseStatus"]["code"] == 401)
            && all.iter().any(|e| e["verb"] == "get" && e["objectRef"]["name"] == "blue")
    });
    for event in &all {
        assert_eq!(event["apiVersion"], "audit.k8s.io/v1", "{event}");
        assert_eq!(event["kind"], "Event", "{event}");
        assert_eq!(event["level"], "Metadata", "{event}");
        assert_eq!(event["sourceIPs"][0], "127.0.0.1", "{event}");
        assert!(event["auditID"].as_str().is_some_and(|id| id.len() == 36), "{event}");
        assert!(event.get("requestObject").is_none() && event.get("responseObject").is_none());
    }
    let create = all
        .iter()
        .find(|e| e["verb"] == "create")
        .unwrap_or_else(|| panic!("no create in {all:#?}"));
    assert_eq!(create["user"]["username"], "admin", "{create}");
    assert_eq!(create["user"]["groups"][0], "system:masters", "{create}");
    assert_eq!(create["responseStatus"]["code"], 201, "{create}");
    assert_eq!(create["objectRef"]["resource"], "repositories", "{create}");
    assert_eq!(create["objectRef"]["apiGroup"], "config.porch.kpt.dev", "{create}");
    assert_eq!(create["objectRef"]["namespace"], "default", "{create}");
    assert!(create["userAgent"].as_str().is_some_and(|a| a.starts_with("kubectl")), "{create}");
    let acting = all
        .iter()
        .find(|e| e["impersonatedUser"]["username"] == "alice")
        .unwrap_or_else(|| panic!("no impersonated request in {all:#?}"));
    assert_eq!(acting["user"]["username"], "admin", "{acting}");
    assert_eq!(acting["responseStatus"]["code"], 403, "{acting}");
    let denied = all.iter().find(|e| e["responseStatus"]["code"] == 401).expect("the 401");
    assert_eq!(denied["user"]["username"], "system:anonymous", "{denied}");
    assert_eq!(denied["verb"], "list", "{denied}");
    // Discovery is audited as a non-resource request.
    let discovery =
        |e: &&Value| e["requestURI"].as_str().is_some_and(|u| u.split('?').next() == Some("/api"));
    let api = all.iter().find(discovery).unwrap_or_else(|| panic!("no /api in {all:#?}"));
    assert_eq!(api["verb"], "get", "{api}");
    assert!(api.get("objectRef").is_none(), "{api}");

    let text = std::fs::read_to_string(&log).expect("read the audit log");
    assert!(!text.contains(&server.token()), "the admin token is in the audit log");
    assert!(!text.contains("wrong-token"), "a presented token is in the audit log");
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&log).expect("stat").permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "the audit log is private");
}
