//! Private Git over smart HTTP with Secrets, driven by the real kubectl: `kubectl create secret`,
//! a Repository with `spec.git.secretRef` on a `git http-backend` server requiring basic auth,
//! init → propose → approve seen in the served repository, a clone with
//! `clone.upstreamRef.git.secretRef`, wrong and missing credentials in Repository readiness, a
//! fixed Secret picked up by the next sync, and the password in no log, response or file.

use std::path::Path;

use serde_json::{Value, json};

use crate::http_server::{Auth, GitHttpServer, enable_push};
use crate::util::{Server, git};

const PASSWORD: &str = "Hunter2-e2e-s3cret";

/// kubectl against the server, recording every output to check for the password at the end.
struct Recorder<'a> {
    server: &'a Server,
    seen: Vec<String>,
}

impl Recorder<'_> {
    #[track_caller]
    fn ok(&mut self, args: &[&str], stdin: Option<&str>) -> String {
        let out = self.server.kubectl_output(args, stdin);
        let (stdout, stderr) = (
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        );
        self.seen.push(format!("{stdout}{stderr}"));
        assert!(out.status.success(), "kubectl {args:?} failed:\n{stdout}\n{stderr}");
        stdout
    }

    #[track_caller]
    fn fails(&mut self, args: &[&str], stdin: Option<&str>) -> String {
        let out = self.server.kubectl_output(args, stdin);
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        self.seen.push(format!("{}{stderr}", String::from_utf8_lossy(&out.stdout)));
        assert!(!out.status.success(), "kubectl {args:?} unexpectedly succeeded");
        stderr
    }

    fn json(&mut self, args: &[&str]) -> Value {
        let mut all = vec!["get"];
        all.extend_from_slice(args);
        all.extend_from_slice(&["-o", "json"]);
        serde_json::from_str(&self.ok(&all, None)).expect("kubectl printed JSON")
    }

    /// The Ready condition of Repository `name` once it is no longer reconciling.
    fn ready(&mut self, name: &str, want: &str) -> Value {
        let mut last = Value::Null;
        self.server.eventually(&format!("repository {name} Ready={want}"), || {
            let out = self.server.kubectl_output(&["get", "repository", name, "-o", "json"], None);
            let text = String::from_utf8_lossy(&out.stdout).into_owned();
            let repo: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
            self.seen.push(text);
            last = repo["status"]["conditions"][0].clone();
            last["status"] == want
        });
        last
    }
}

fn repository(name: &str, url: &str, secret: &str) -> String {
    json!({
        "apiVersion": "config.porch.kpt.dev/v1alpha1",
        "kind": "Repository",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {
            "type": "git",
            "content": "Package",
            "git": {
                "repo": url,
                "branch": "main",
                "createBranch": true,
                "secretRef": {"name": secret},
                "author": "Veranda Bot",
                "email": "bot@example.com",
            },
        },
    })
    .to_string()
}

fn bare(root: &Path, name: &str) -> std::path::PathBuf {
    let path = root.join(name);
    git(root, &["init", "-q", "--bare", "-b", "main", name]);
    enable_push(&path);
    path
}

/// Every file below `dir`, read whole.
fn all_bytes(dir: &Path) -> Vec<u8> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(all_bytes(&path));
        } else if let Ok(bytes) = std::fs::read(&path) {
            out.extend(bytes);
        }
    }
    out
}

#[test]
fn private_http_repository_with_secret_ref() {
    let server = Server::start();
    let root = server.dir.path().join("served");
    std::fs::create_dir_all(&root).expect("create the served root");
    let private = bare(&root, "private.git");
    bare(&root, "second.git");
    let http = GitHttpServer::start(
        &root,
        Auth::Basic { username: "porch".into(), password: PASSWORD.into() },
    );
    let mut k = Recorder { server: &server, seen: Vec::new() };

    let password_literal = format!("--from-literal=password={PASSWORD}");
    k.ok(
        &[
            "create",
            "secret",
            "generic",
            "git-creds",
            "--type=kubernetes.io/basic-auth",
            "--from-literal=username=porch",
            &password_literal,
        ],
        None,
    );
    let yaml = k.ok(&["get", "secret", "git-creds", "-o", "yaml"], None);
    assert!(yaml.contains("type: kubernetes.io/basic-auth"), "{yaml}");
    assert!(yaml.contains("username: cG9yY2g="), "{yaml}");
    let table = k.ok(&["get", "secrets"], None);
    assert!(table.starts_with("NAME"), "{table}");
    assert!(table.contains("git-creds") && table.contains("kubernetes.io/basic-auth"), "{table}");
    let invalid =
        k.fails(&["create", "secret", "generic", "bad", "--type=kubernetes.io/basic-auth"], None);
    assert!(invalid.contains("data[username]: Required value"), "{invalid}");

    // A Repository with the Secret: init → propose → approve lands in the served repository.
    k.ok(
        &["apply", "-f", "-"],
        Some(&repository("private", &http.url("private.git"), "git-creds")),
    );
    let ready = k.ready("private", "True");
    assert_eq!(ready["reason"], "Ready", "{ready}");
    let init = json!({
        "apiVersion": "porch.kpt.dev/v1alpha1",
        "kind": "PackageRevision",
        "metadata": {"namespace": "default"},
        "spec": {
            "packageName": "app",
            "repository": "private",
            "workspaceName": "ws1",
            "lifecycle": "Draft",
            "tasks": [{"type": "init", "init": {"description": "private app"}}],
        },
    });
    k.ok(&["create", "-f", "-"], Some(&init.to_string()));
    k.ok(
        &[
            "patch",
            "packagerevision",
            "private.app.ws1",
            "--type=merge",
            "-p",
            r#"{"spec":{"lifecycle":"Proposed"}}"#,
        ],
        None,
    );
    let mut pr = k.json(&["packagerevision", "private.app.ws1"]);
    pr["spec"]["lifecycle"] = json!("Published");
    let approval =
        "/apis/porch.kpt.dev/v1alpha1/namespaces/default/packagerevisions/private.app.ws1/approval";
    k.ok(&["replace", "--raw", approval, "-f", "-"], Some(&pr.to_string()));
    assert!(git(&private, &["tag", "--list"]).contains("app/v1"));
    let head = git(&private, &["log", "-1", "--format=%an <%ae>%n%B", "main"]);
    assert!(
        head.starts_with("Veranda Bot <bot@example.com>\nApproving package revision app/1"),
        "{head}"
    );
    assert!(git(&private, &["ls-tree", "-r", "--name-only", "main"]).contains("app/Kptfile"));
    assert!(http.unauthorized() > 0, "the server asked for credentials");

    // A clone from the private URL with its own secretRef; an empty name means none.
    let clone = |workspace: &str, secret: &str| {
        json!({
            "apiVersion": "porch.kpt.dev/v1alpha1",
            "kind": "PackageRevision",
            "metadata": {"namespace": "default"},
            "spec": {
                "packageName": format!("copy-{workspace}"),
                "repository": "private",
                "workspaceName": workspace,
                "lifecycle": "Draft",
                "tasks": [{"type": "clone", "clone": {"upstreamRef": {"type": "git", "git": {
                    "repo": http.url("private.git"), "ref": "app/v1", "directory": "app",
                    "secretRef": {"name": secret},
                }}}}],
            },
        })
        .to_string()
    };
    k.ok(&["create", "-f", "-"], Some(&clone("c1", "git-creds")));
    let cloned = k.json(&["packagerevisionresources", "private.copy-c1.c1"]);
    let kptfile = cloned["spec"]["resources"]["Kptfile"].as_str().unwrap_or("");
    assert!(kptfile.contains("private app"), "{kptfile}");
    assert!(!kptfile.contains(PASSWORD));
    let anonymous = k.fails(&["create", "-f", "-"], Some(&clone("c2", "")));
    assert!(anonymous.contains("cannot read the upstream package"), "{anonymous}");
    let missing = k.fails(&["create", "-f", "-"], Some(&clone("c3", "nope")));
    assert!(
        missing.contains("failed to obtain git credentials: secret \"default/nope\" not found"),
        "{missing}"
    );

    // Wrong password: Ready=False with the server's refusal; fixing the Secret heals it.
    k.ok(
        &[
            "create",
            "secret",
            "generic",
            "wrong-creds",
            "--type=kubernetes.io/basic-auth",
            "--from-literal=username=porch",
            "--from-literal=password=wrong",
        ],
        None,
    );
    k.ok(
        &["apply", "-f", "-"],
        Some(&repository("second", &http.url("second.git"), "wrong-creds")),
    );
    let ready = k.ready("second", "False");
    let message = ready["message"].as_str().unwrap_or("").to_lowercase();
    assert!(message.contains("auth") || message.contains("401"), "{ready}");
    k.ok(&["delete", "secret", "wrong-creds"], None);
    k.ok(
        &[
            "create",
            "secret",
            "generic",
            "wrong-creds",
            "--type=kubernetes.io/basic-auth",
            "--from-literal=username=porch",
            &password_literal,
        ],
        None,
    );
    k.ready("second", "True");

    // A missing Secret.
    k.ok(&["apply", "-f", "-"], Some(&repository("third", &http.url("second.git"), "absent")));
    let ready = k.ready("third", "False");
    assert_eq!(
        ready["message"], "failed to obtain git credentials: secret \"default/absent\" not found",
        "{ready}"
    );

    // Credentials in a URL are refused, pointing to secretRef and not echoing them.
    let url = format!(
        "http://porch:{PASSWORD}@{}",
        http.url("private.git").trim_start_matches("http://")
    );
    let refused = k.fails(&["apply", "-f", "-"], Some(&repository("inurl", &url, "")));
    assert!(refused.contains("secretRef"), "{refused}");

    k.ok(&["delete", "secret", "git-creds"], None);
    let gone = k.fails(&["get", "secret", "git-creds"], None);
    assert!(gone.contains("NotFound"), "{gone}");

    let log = server.log();
    assert!(!log.contains(PASSWORD), "the server log holds the password");
    for (i, output) in k.seen.iter().enumerate() {
        assert!(!output.contains(PASSWORD), "kubectl output {i} holds the password: {output}");
    }
    let on_disk = all_bytes(&server.dir.path().join("data"));
    assert!(
        !on_disk.windows(PASSWORD.len()).any(|w| w == PASSWORD.as_bytes()),
        "plaintext on disk"
    );
}

#[test]
fn bearer_token_secret() {
    let server = Server::start();
    let root = server.dir.path().join("served");
    std::fs::create_dir_all(&root).expect("create the served root");
    let served = bare(&root, "tokens.git");
    let http = GitHttpServer::start(&root, Auth::Bearer(PASSWORD.into()));
    let mut k = Recorder { server: &server, seen: Vec::new() };
    let token = format!("--from-literal=bearerToken={PASSWORD}");
    k.ok(&["create", "secret", "generic", "token", &token], None);
    k.ok(&["apply", "-f", "-"], Some(&repository("tokens", &http.url("tokens.git"), "token")));
    k.ready("tokens", "True");
    let init = json!({
        "apiVersion": "porch.kpt.dev/v1alpha1",
        "kind": "PackageRevision",
        "metadata": {"namespace": "default"},
        "spec": {
            "packageName": "app", "repository": "tokens", "workspaceName": "ws1",
            "tasks": [{"type": "init", "init": {"description": "bearer app"}}],
        },
    });
    k.ok(&["create", "-f", "-"], Some(&init.to_string()));
    assert!(git(&served, &["branch", "--list"]).contains("drafts/app/ws1"));
    assert!(!server.log().contains(PASSWORD));
    for output in &k.seen {
        assert!(!output.contains(PASSWORD), "{output}");
    }
}
