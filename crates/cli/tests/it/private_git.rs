//! Private Git over SSH and over HTTPS with a private CA, driven by the real kubectl: the
//! Secrets made with `kubectl create secret`, a Repository against a real `sshd` (host key
//! checked against the Secret's `known_hosts`) and against a TLS `git http-backend` trusted
//! through the namespace's `<namespace>-ca-bundle` Secret; init → propose → approve seen in the
//! served repositories with `git`; a wrong host key and a missing CA bundle in readiness; the
//! private key in no log or response.

use std::path::Path;

use serde_json::{Value, json};

use crate::http_server::{Auth, GitHttpServer, PrivateCa, enable_push};
use crate::ssh_server::{SshServer, keygen};
use crate::util::{Server, blueprints_repo, git};

fn repository(name: &str, url: &str, secret: Option<&str>) -> String {
    let mut git = json!({"repo": url, "branch": "main", "directory": "/"});
    if let Some(secret) = secret {
        git["secretRef"] = json!({"name": secret});
    }
    json!({
        "apiVersion": "config.porch.kpt.dev/v1alpha1",
        "kind": "Repository",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {"type": "git", "content": "Package", "git": git},
    })
    .to_string()
}

fn condition(server: &Server, name: &str, want: &str) -> Value {
    let mut last = Value::Null;
    server.eventually(&format!("repository {name} Ready={want}"), || {
        last = server.get_json(&["repository", name])["status"]["conditions"][0].clone();
        last["status"] == want
    });
    last
}

/// init → propose → approve of `package` in `repo`; returns the published revision's name.
fn publish(server: &Server, repo: &str, package: &str) -> String {
    let init = json!({
        "apiVersion": "porch.kpt.dev/v1alpha1",
        "kind": "PackageRevision",
        "metadata": {"namespace": "default"},
        "spec": {"packageName": package, "repository": repo, "workspaceName": "ws1",
                 "tasks": [{"type": "init", "init": {"description": "private"}}]},
    });
    server.kubectl_in(&["create", "-f", "-"], Some(&init.to_string()));
    let name = format!("{repo}.{package}.ws1");
    let proposed = r#"{"spec":{"lifecycle":"Proposed"}}"#;
    server.kubectl(&["patch", "packagerevision", &name, "--type=merge", "-p", proposed]);
    let mut revision = server.get_json(&["packagerevision", &name]);
    revision["spec"]["lifecycle"] = json!("Published");
    server.kubectl_in(
        &[
            "replace",
            "--raw",
            &format!(
                "/apis/porch.kpt.dev/v1alpha1/namespaces/default/packagerevisions/{name}/approval"
            ),
            "-f",
            "-",
        ],
        Some(&revision.to_string()),
    );
    name
}

fn served(parent: &Path) -> std::path::PathBuf {
    let root = parent.join("served");
    std::fs::create_dir_all(&root).expect("create served dir");
    let bare = blueprints_repo(&root);
    enable_push(&bare);
    bare
}

#[test]
fn ssh_with_known_hosts_from_a_secret() {
    let dir = tempfile::tempdir().expect("temp dir");
    let remote = served(dir.path());
    let client = keygen(&dir.path().join("keys"), "client", "ed25519", "");
    let sshd = SshServer::start(&dir.path().join("sshd"), &client);
    let key_file = dir.path().join("keys/id_for_secret");
    std::fs::write(&key_file, &client.private).expect("write key");
    let hosts_file = dir.path().join("keys/known_hosts");
    std::fs::write(&hosts_file, sshd.known_hosts()).expect("write known_hosts");
    let wrong_hosts = dir.path().join("keys/wrong_hosts");
    let other = keygen(&dir.path().join("keys"), "other", "ed25519", "");
    std::fs::write(&wrong_hosts, format!("[127.0.0.1]:{} {}\n", sshd.port(), other.public_key()))
        .expect("write wrong known_hosts");
    let server = Server::start();
    for (name, hosts) in [("git-ssh", &hosts_file), ("git-ssh-wrong", &wrong_hosts)] {
        server.kubectl(&[
            "create",
            "secret",
            "generic",
            name,
            "--type=kubernetes.io/ssh-auth",
            &format!("--from-file=ssh-privatekey={}", key_file.display()),
            &format!("--from-file=known_hosts={}", hosts.display()),
        ]);
    }
    let url = sshd.url(&remote);
    server.kubectl_in(&["apply", "-f", "-"], Some(&repository("over-ssh", &url, Some("git-ssh"))));
    let ready = condition(&server, "over-ssh", "True");
    assert_eq!(ready["reason"], "Ready", "{ready}");
    publish(&server, "over-ssh", "app");
    let tag = git(&remote, &["rev-parse", "app/v1"]);
    assert_eq!(git(&remote, &["rev-parse", "main"]), tag);

    server.kubectl_in(
        &["apply", "-f", "-"],
        Some(&repository("wrong-host", &url, Some("git-ssh-wrong"))),
    );
    let refused = condition(&server, "wrong-host", "False");
    let message = refused["message"].as_str().unwrap_or_default();
    assert!(message.contains("host key verification failed"), "{refused}");

    let key_line = client.private.lines().nth(1).expect("a key body line");
    assert!(!server.log().contains(key_line), "the private key is in the server log");
    let listed = server.kubectl(&["get", "repositories", "-o", "yaml"]);
    assert!(!listed.contains(key_line));
}

#[test]
fn https_with_the_namespace_ca_bundle() {
    let dir = tempfile::tempdir().expect("temp dir");
    let remote = served(dir.path());
    let ca = PrivateCa::new(&dir.path().join("pki"), "veranda-e2e-ca");
    let https = GitHttpServer::start_tls(
        dir.path().join("served"),
        Auth::None,
        &ca.issue("server", "IP:127.0.0.1"),
    );
    let server = Server::start();
    let url = https.url(remote.file_name().and_then(|n| n.to_str()).expect("repo name"));
    server.kubectl_in(&["apply", "-f", "-"], Some(&repository("over-tls", &url, None)));
    // Not trusted by the system's certificates.
    let untrusted = condition(&server, "over-tls", "False");
    assert!(
        untrusted["message"].as_str().unwrap_or_default().contains("certificate"),
        "{untrusted}"
    );

    let bundle = dir.path().join("pki/bundle.crt");
    std::fs::write(&bundle, &ca.cert_pem).expect("write bundle");
    server.kubectl(&[
        "create",
        "secret",
        "generic",
        "default-ca-bundle",
        &format!("--from-file=ca.crt={}", bundle.display()),
    ]);
    // The next attempt to open the repository uses the bundle.
    condition(&server, "over-tls", "True");
    publish(&server, "over-tls", "web");
    assert_eq!(git(&remote, &["rev-parse", "main"]), git(&remote, &["rev-parse", "web/v1"]));
}
