//! The server protects its data and its invariants from careless clients and operators: a private,
//! locked data directory; package deletion with the rules of revision deletion; kube-apiserver's
//! metadata limits; writes that finish when their client goes away.

use std::{
    os::unix::fs::PermissionsExt,
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use serde_json::{Value, json};

use crate::util::{Server, empty_repo, git};

fn mode(path: &std::path::Path) -> u32 {
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

/// A JSON request (see `Server::request`).
fn request(
    server: &Server,
    method: &str,
    path: &str,
    body: &Value,
    max_time: Option<f64>,
) -> (u16, Value) {
    server.request(method, path, "application/json", body.to_string().as_bytes(), max_time)
}

fn register(server: &Server, name: &str) -> std::path::PathBuf {
    let remote = empty_repo(server.dir.path(), &format!("{name}.git"));
    let manifest = format!(
        "apiVersion: config.porch.kpt.dev/v1alpha1\nkind: Repository\nmetadata:\n  name: {name}\nspec:\n  git:\n    repo: {}\n    createBranch: true\n",
        remote.display()
    );
    server.kubectl_in(&["apply", "-f", "-"], Some(&manifest));
    remote
}

fn create(server: &Server, repo: &str, package: &str, ws: &str) {
    let create = json!({"apiVersion": "porch.kpt.dev/v1alpha1", "kind": "PackageRevision",
        "spec": {"repository": repo, "packageName": package, "workspaceName": ws}});
    server.kubectl_in(&["create", "-f", "-"], Some(&create.to_string()));
}

fn publish(server: &Server, name: &str) {
    server.kubectl(&[
        "patch",
        "packagerevision",
        name,
        "--type=merge",
        "-p",
        r#"{"spec":{"lifecycle":"Proposed"}}"#,
    ]);
    let mut pr = server.get_json(&["packagerevision", name]);
    pr["spec"]["lifecycle"] = json!("Published");
    let path =
        format!("/apis/porch.kpt.dev/v1alpha1/namespaces/default/packagerevisions/{name}/approval");
    server.kubectl_in(&["replace", "--raw", &path, "-f", "-"], Some(&pr.to_string()));
}

#[test]
fn data_directory_is_private_and_locked() {
    let server = Server::start();
    let data = server.dir.path().join("data");
    assert_eq!(mode(&data), 0o700, "data directory");
    assert_eq!(mode(&data.join("veranda.db")), 0o600, "database");
    assert_eq!(mode(&data.join("git")), 0o700, "Git caches");
    for secret in ["tokens.csv", "kubeconfig", "veranda.lock"] {
        assert_eq!(mode(&data.join(secret)) & 0o077, 0, "{secret}");
    }

    // A second server on the same directory refuses to start, and says why.
    let second = Command::new(env!("CARGO_BIN_EXE_veranda"))
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(&data)
        .stdin(Stdio::null())
        .output()
        .expect("run veranda");
    assert!(!second.status.success());
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert!(stderr.contains("in use by another veranda server"), "{stderr}");
    // The first one still serves.
    server.kubectl(&["get", "repositories"]);

    // A directory left world-readable is made private at start-up.
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("data")).unwrap();
    std::fs::set_permissions(dir.path().join("data"), std::fs::Permissions::from_mode(0o755))
        .unwrap();
    let other = Server::start_in(dir);
    assert_eq!(mode(&other.dir.path().join("data")), 0o700);
}

#[test]
fn deleting_a_package_honours_the_rules_of_its_revisions() {
    let server = Server::start();
    let remote = register(&server, "r");
    create(&server, "r", "base", "ws");
    publish(&server, "r.base.ws");
    let err = server.kubectl_fails(&["delete", "packages", "r.base"], None);
    assert!(err.contains("forbidden") && err.contains("r.base.ws"), "{err}");
    assert_eq!(git(&remote, &["tag"]).trim(), "base/v1", "nothing was deleted");
    assert!(git(&remote, &["ls-tree", "--name-only", "main"]).contains("base"));

    // Once every published revision is proposed for deletion, the package goes.
    server.kubectl(&[
        "patch",
        "packagerevision",
        "r.base.ws",
        "--type=merge",
        "-p",
        r#"{"spec":{"lifecycle":"DeletionProposed"}}"#,
    ]);
    server.kubectl(&["delete", "packages", "r.base"]);
    assert_eq!(git(&remote, &["tag"]).trim(), "");
    assert!(!git(&remote, &["ls-tree", "--name-only", "main"]).contains("base"));
}

#[test]
fn metadata_limits_are_kube_apiservers() {
    let server = Server::start();
    register(&server, "r");
    create(&server, "r", "p", "ws");
    let prs = "/apis/porch.kpt.dev/v1alpha1/namespaces/default/packagerevisions";
    // kubectl checks labels itself; a client that does not is answered by the server.
    for (key, value) in [("app", "x".repeat(64)), ("bad key", "x".into()), ("app", "-x".into())] {
        let mut pr = server.get_json(&["packagerevision", "r.p.ws"]);
        pr["metadata"]["labels"] = json!({key: value});
        let (code, body) = request(&server, "PUT", &format!("{prs}/r.p.ws"), &pr, None);
        assert_eq!(code, 422, "{key}={value}: {body}");
        assert!(body["message"].as_str().unwrap_or_default().contains("metadata.labels"), "{body}");
    }
    let huge = "a".repeat(300 * 1024);
    let mut pr = server.get_json(&["packagerevision", "r.p.ws"]);
    pr["metadata"]["annotations"] = json!({"note": huge});
    let (code, body) = request(&server, "PUT", &format!("{prs}/r.p.ws"), &pr, None);
    assert_eq!(code, 422, "{body}");
    assert!(body["message"].as_str().unwrap_or_default().contains("262144"), "{body}");
    // Within the limit it is stored.
    pr["metadata"]["annotations"] = json!({"note": "a".repeat(200 * 1024)});
    let (code, body) = request(&server, "PUT", &format!("{prs}/r.p.ws"), &pr, None);
    assert_eq!(code, 200, "{body}");
}

#[test]
fn a_write_finishes_when_its_client_goes_away() {
    let dir = tempfile::tempdir().unwrap();
    let slow = dir.path().join("slow.sh");
    std::fs::write(&slow, "#!/bin/sh\nsleep 2\nexec cat\n").unwrap();
    std::fs::set_permissions(&slow, std::fs::Permissions::from_mode(0o755)).unwrap();
    let mapping = format!("example.com/slow={}", slow.display());
    let server = Server::start_with(dir, &["--exec-function", &mapping]);
    let remote = register(&server, "r");
    create(&server, "r", "p", "ws");
    let mut resources = server.get_json(&["packagerevisionresources", "r.p.ws"]);
    let kptfile = resources["spec"]["resources"]["Kptfile"].as_str().unwrap().to_string();
    resources["spec"]["resources"]["Kptfile"] =
        json!(format!("{kptfile}pipeline:\n  mutators:\n    - image: example.com/slow:v1\n"));
    resources["spec"]["resources"]["added.yaml"] =
        json!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: added\n");
    let before = git(&remote, &["rev-parse", "drafts/p/ws"]);
    let path = "/apis/porch.kpt.dev/v1alpha1/namespaces/default/packagerevisionresources/r.p.ws";
    let started = Instant::now();
    let (code, _) = request(&server, "PUT", path, &resources, Some(0.5));
    assert_eq!(code, 0, "the client gave up before the answer");
    assert!(started.elapsed() < Duration::from_secs(2));
    // The update still lands, in Git and in the API.
    server
        .eventually("the update to land", || git(&remote, &["rev-parse", "drafts/p/ws"]) != before);
    let files = git(&remote, &["ls-tree", "--name-only", "drafts/p/ws", "p/"]);
    assert!(files.contains("p/added.yaml"), "{files}");
    server.eventually("the index to show it", || {
        server.get_json(&["packagerevisionresources", "r.p.ws"])["spec"]["resources"]
            .get("added.yaml")
            .is_some()
    });
}

#[test]
fn resources_lists_are_paged_before_files_are_read() {
    let server = Server::start();
    register(&server, "r");
    for package in ["a", "b", "c"] {
        create(&server, "r", package, "ws");
    }
    let list = "/apis/porch.kpt.dev/v1alpha1/namespaces/default/packagerevisionresources";
    let (code, page) = request(&server, "GET", &format!("{list}?limit=2"), &Value::Null, None);
    assert_eq!(code, 200, "{page}");
    let names: Vec<_> =
        page["items"].as_array().unwrap().iter().map(|i| i["metadata"]["name"].clone()).collect();
    assert_eq!(names, vec![json!("r.a.ws"), json!("r.b.ws")]);
    assert_eq!(page["metadata"]["remainingItemCount"], 1);
    let token = page["metadata"]["continue"].as_str().unwrap().to_string();
    let (code, rest) =
        request(&server, "GET", &format!("{list}?limit=2&continue={token}"), &Value::Null, None);
    assert_eq!(code, 200, "{rest}");
    assert_eq!(rest["items"][0]["metadata"]["name"], "r.c.ws");
    assert!(rest["metadata"].get("continue").is_none(), "{rest}");
    assert!(rest["items"][0]["spec"]["resources"]["Kptfile"].is_string());
    // kubectl pages through them too.
    let all = server.kubectl(&["get", "packagerevisionresources", "--chunk-size=1", "-o", "name"]);
    assert_eq!(all.lines().count(), 3, "{all}");
    // A malformed token (not even ASCII) is 410, never a crash.
    for token in ["a%C3%A9b", "zz", "abc"] {
        let (code, body) =
            request(&server, "GET", &format!("{list}?continue={token}"), &Value::Null, None);
        assert_eq!(code, 410, "{token}: {body}");
    }
    // A watch without a resourceVersion starts with every object, from the shared JSON.
    let watch = server.kubectl(&[
        "get",
        "--raw",
        "/apis/porch.kpt.dev/v1alpha1/namespaces/default/packagerevisions?watch=true&timeoutSeconds=1",
    ]);
    let events: Vec<Value> = watch.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let added: Vec<_> = events
        .iter()
        .map(|e| (e["type"].clone(), e["object"]["metadata"]["name"].clone()))
        .collect();
    assert_eq!(
        added,
        ["r.a.ws", "r.b.ws", "r.c.ws"].map(|n| (json!("ADDED"), json!(n))).to_vec(),
        "{watch}"
    );
    assert_eq!(events[0]["object"]["kind"], "PackageRevision");
}

/// starlark runs in a child process under the exec limits: one expression that asks for
/// terabytes fails its render with a clear error instead of aborting the server, and a normal
/// starlark program still works through the child.
#[test]
fn a_starlark_program_cannot_take_the_server_down() {
    let server =
        Server::start_with(tempfile::tempdir().unwrap(), &["--function-memory-mib", "1024"]);
    let remote = register(&server, "r");
    create(&server, "r", "p", "ws");
    let path = "/apis/porch.kpt.dev/v1alpha1/namespaces/default/packagerevisionresources/r.p.ws";
    let program = |source: &str| {
        format!(
            "apiVersion: fn.kpt.dev/v1alpha1\nkind: StarlarkRun\nmetadata:\n  name: f\n  annotations:\n    config.kubernetes.io/local-config: \"true\"\nsource: |\n{}",
            source.lines().map(|l| format!("  {l}\n")).collect::<String>()
        )
    };
    let update = |source: &str| {
        let (code, mut prr) = request(&server, "GET", path, &Value::Null, None);
        assert_eq!(code, 200, "{prr}");
        let resources = prr["spec"]["resources"].as_object_mut().unwrap();
        let kptfile = resources["Kptfile"].as_str().unwrap().to_string();
        let kptfile = if kptfile.contains("pipeline:") {
            kptfile
        } else {
            format!(
                "{kptfile}pipeline:\n  mutators:\n  - image: ghcr.io/kptdev/krm-functions-catalog/starlark:v0.5\n    configPath: fn.yaml\n"
            )
        };
        resources.insert("Kptfile".into(), json!(kptfile));
        resources.insert("fn.yaml".into(), json!(program(source)));
        resources.insert(
            "cm.yaml".into(),
            json!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm\ndata: {}\n"),
        );
        request(&server, "PUT", path, &prr, None)
    };
    let refs_before = git(&remote, &["show-ref"]);
    let (code, body) = update("a = \"x\" * 1000\nb = a * 2000000000\n");
    assert_eq!(code, 422, "{body}");
    let message = body["message"].as_str().unwrap_or_default();
    assert!(message.contains("starlark") && message.contains("memory"), "{message}");
    assert_eq!(git(&remote, &["show-ref"]), refs_before, "nothing pushed");
    // The server is still there, and starlark still works.
    let (code, body) = update(
        "for r in ctx.resource_list[\"items\"]:\n  if r[\"kind\"] == \"ConfigMap\":\n    r[\"data\"][\"from\"] = \"starlark\"\n",
    );
    assert_eq!(code, 200, "{body}");
    let cm = body["spec"]["resources"]["cm.yaml"].as_str().unwrap_or_default();
    assert!(cm.contains("from: starlark"), "{cm}");
}
