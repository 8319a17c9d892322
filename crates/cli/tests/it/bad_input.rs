//! Bad input gets the right status and a Kubernetes `Status` body, and changes nothing.

use std::process::Command;

use serde_json::json;

use crate::util::{Server, empty_repo, git};

#[test]
fn bad_input_is_refused_without_side_effects() {
    let server = Server::start();
    let remote = empty_repo(server.dir.path(), "r.git");
    let manifest = format!(
        "apiVersion: config.porch.kpt.dev/v1alpha1\nkind: Repository\nmetadata:\n  name: r\nspec:\n  git:\n    repo: {}\n    createBranch: true\n",
        remote.display()
    );
    server.kubectl_in(&["apply", "-f", "-"], Some(&manifest));
    let create = json!({"apiVersion": "porch.kpt.dev/v1alpha1", "kind": "PackageRevision",
        "spec": {"repository": "r", "packageName": "p", "workspaceName": "ws"}});
    server.kubectl_in(&["create", "-f", "-"], Some(&create.to_string()));
    let refs_before = git(&remote, &["show-ref"]);
    let prs = "/apis/porch.kpt.dev/v1alpha1/namespaces/default/packagerevisions";

    let check = |method: &str,
                 path: &str,
                 content_type: &str,
                 body: &[u8],
                 code: u16,
                 reason: &str,
                 needle: &str| {
        let (status, body) = server.request(method, path, content_type, body, None);
        assert_eq!(status, code, "{method} {path}: {body}");
        assert_eq!(body["kind"], "Status", "{body}");
        assert_eq!(body["code"], code, "{body}");
        assert_eq!(body["reason"], reason, "{body}");
        assert!(body["message"].as_str().unwrap_or_default().contains(needle), "{body}");
    };
    check("POST", prs, "application/json", b"{not json", 400, "BadRequest", "invalid JSON");
    check("POST", prs, "application/yaml", b"spec: [unclosed", 400, "BadRequest", "invalid YAML");
    check(
        "GET",
        &format!("{prs}?fieldSelector=spec.nope%3Dx"),
        "application/json",
        b"",
        400,
        "BadRequest",
        "spec.nope",
    );
    let bad_name =
        json!({"spec": {"repository": "r", "packageName": "Bad_Name", "workspaceName": "ws"}});
    check(
        "POST",
        prs,
        "application/json",
        bad_name.to_string().as_bytes(),
        422,
        "Invalid",
        "spec.packageName",
    );
    let bad_ws = json!({"spec": {"repository": "r", "packageName": "q", "workspaceName": "a.b"}});
    check(
        "POST",
        prs,
        "application/json",
        bad_ws.to_string().as_bytes(),
        422,
        "Invalid",
        "spec.workspaceName",
    );
    let bad_lifecycle = json!({"spec": {"repository": "r", "packageName": "q", "workspaceName": "ws", "lifecycle": "Final"}});
    check(
        "POST",
        prs,
        "application/json",
        bad_lifecycle.to_string().as_bytes(),
        422,
        "Invalid",
        "spec.lifecycle",
    );
    let bad_task = json!({"spec": {"repository": "r", "packageName": "q", "workspaceName": "ws", "tasks": [{"type": "explode"}]}});
    check(
        "POST",
        prs,
        "application/json",
        bad_task.to_string().as_bytes(),
        422,
        "Invalid",
        "spec.tasks[0].type",
    );
    let huge = vec![b' '; 7 * 1024 * 1024];
    check("POST", prs, "application/json", &huge, 413, "RequestEntityTooLarge", "");
    check(
        "GET",
        &format!("{prs}/r.nope.ws"),
        "application/json",
        b"",
        404,
        "NotFound",
        "not found",
    );
    check(
        "PUT",
        "/apis/porch.kpt.dev/v1alpha1/namespaces/default/packages/r.p",
        "application/json",
        b"{}",
        405,
        "MethodNotAllowed",
        "",
    );

    // Resource paths are validated at the boundary.
    let mut prr = server.get_json(&["packagerevisionresources", "r.p.ws"]);
    for bad in ["/etc/passwd", "../escape.yaml", ".git/config", "sub/../../x"] {
        prr["spec"]["resources"][bad] = json!("x: y\n");
        let path =
            "/apis/porch.kpt.dev/v1alpha1/namespaces/default/packagerevisionresources/r.p.ws";
        check(
            "PUT",
            path,
            "application/json",
            prr.to_string().as_bytes(),
            422,
            "Invalid",
            "spec.resources",
        );
        prr["spec"]["resources"].as_object_mut().unwrap().remove(bad);
    }
    // Unauthenticated.
    let out = Command::new("curl")
        .args(["-sS", "-k", "-w", "\n%{http_code}"])
        .arg(format!("{}{prs}", server.url()))
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).ends_with("401"));

    assert_eq!(git(&remote, &["show-ref"]), refs_before, "bad requests must not touch git");
    let list = server.get_json(&["packagerevisions"]);
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
}
