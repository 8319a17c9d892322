//! The application in process: requests go through [`app`] with `tower::ServiceExt::oneshot`,
//! in front of a real engine (SQLite in a temporary data directory, bare Git repositories made
//! with the `git` CLI).

mod apply;
mod errors;
mod middleware;
mod negotiation;
mod pagination;
mod parity;
mod rbac;
mod secrets;
mod selectors;

use std::{path::PathBuf, process::Command, sync::Arc, time::Duration};

use axum::{
    Router,
    body::Body,
    http::{HeaderMap, Method, StatusCode, header},
};
use serde_json::{Value, json};
use tower::ServiceExt;
use veranda_engine::{Engine, EngineConfig};

use super::{AppState, app};
use crate::auth::Tokens;

const PRS: &str = "/apis/porch.kpt.dev/v1alpha1/namespaces/default/packagerevisions";
const PRRS: &str = "/apis/porch.kpt.dev/v1alpha1/namespaces/default/packagerevisionresources";
const REPOS: &str = "/apis/config.porch.kpt.dev/v1alpha1/namespaces/default/repositories";
const TABLE: &str = "application/json;as=Table;g=meta.k8s.io;v=v1";

struct Fixture {
    dir: tempfile::TempDir,
    app: Router,
    token: String,
}

/// An answer: status, headers and the body (JSON when it parses, else a string).
struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: Value,
    /// The number of body bytes read.
    length: usize,
}

impl Fixture {
    async fn new() -> Fixture {
        Fixture::with_tokens(&[]).await
    }

    /// A fixture whose token file has, after the admin's, the lines `extra`
    /// (`token,user,uid,"group1,group2"`).
    async fn with_tokens(extra: &[&str]) -> Fixture {
        let dir = tempfile::tempdir().expect("create a temporary directory");
        if !extra.is_empty() {
            let mut text = String::from("admin-token,admin,admin,\"system:masters\"\n");
            for line in extra {
                text.push_str(line);
                text.push('\n');
            }
            std::fs::write(dir.path().join("tokens.csv"), text).expect("write the token file");
        }
        let data_dir = dir.path().join("data");
        let backends = crate::backends(&data_dir, Default::default(), &Default::default())
            .expect("open the backends");
        let engine = Engine::open(
            EngineConfig {
                sync_interval: Duration::from_secs(3600),
                ..EngineConfig::new(data_dir)
            },
            backends,
        )
        .await
        .expect("open the engine");
        let (tokens, token) = Tokens::load_or_create(dir.path()).expect("create the token file");
        let tokens = crate::auth::TokenFile::fixed(tokens);
        let state = AppState { engine, tokens, lockout: Default::default(), audit: None };
        let app = app(Arc::new(state));
        Fixture { dir, app, token }
    }

    /// A request with the admin token.
    async fn send(
        &self,
        method: Method,
        path: &str,
        headers: &[(header::HeaderName, &str)],
        body: impl Into<Body>,
    ) -> Answer {
        let authorization = format!("Bearer {}", self.token);
        let mut all = vec![(header::AUTHORIZATION, authorization.as_str())];
        all.extend(headers.iter().cloned());
        self.send_raw(method, path, &all, body).await
    }

    /// A request with `token` as the bearer token.
    async fn send_as(
        &self,
        token: &str,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Answer {
        let authorization = format!("Bearer {token}");
        let headers = [
            (header::AUTHORIZATION, authorization.as_str()),
            (header::CONTENT_TYPE, "application/json"),
        ];
        let body = body.map(Value::to_string).unwrap_or_default();
        self.send_raw(method, path, &headers, body).await
    }

    /// A request with exactly `headers`.
    async fn send_raw(
        &self,
        method: Method,
        path: &str,
        headers: &[(header::HeaderName, &str)],
        body: impl Into<Body>,
    ) -> Answer {
        let mut request = axum::http::Request::builder().method(method).uri(path);
        for (name, value) in headers {
            request = request.header(name, *value);
        }
        let request = request.body(body.into()).expect("build the request");
        let response = self.app.clone().oneshot(request).await.expect("the router is infallible");
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .expect("read the response body");
        let body = serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
        Answer { status, headers, body, length: bytes.len() }
    }

    async fn get(&self, path: &str) -> Answer {
        self.send(Method::GET, path, &[], Body::empty()).await
    }

    async fn post(&self, path: &str, body: &Value) -> Answer {
        let json = [(header::CONTENT_TYPE, "application/json")];
        self.send(Method::POST, path, &json, body.to_string()).await
    }

    async fn put(&self, path: &str, body: &Value) -> Answer {
        let json = [(header::CONTENT_TYPE, "application/json")];
        self.send(Method::PUT, path, &json, body.to_string()).await
    }

    /// A new bare repository, `main` as its default branch.
    fn bare(&self, name: &str) -> PathBuf {
        let path = self.dir.path().join(format!("{name}.git"));
        let out = Command::new("git")
            .args(["init", "-q", "--bare", "-b", "main"])
            .arg(&path)
            .output()
            .expect("run git");
        assert!(out.status.success(), "git init: {}", String::from_utf8_lossy(&out.stderr));
        path
    }

    /// Registers Repository `name` on a new bare repository.
    async fn register(&self, name: &str) -> Answer {
        let answer = self.post(REPOS, &repository(name, &self.bare(name))).await;
        assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.body);
        answer
    }

    /// Proposes and approves the draft `name`; returns the published object.
    async fn publish(&self, name: &str) -> Value {
        let mut pr = self.get(&format!("{PRS}/{name}")).await.body;
        pr["spec"]["lifecycle"] = json!("Proposed");
        let proposed = self.put(&format!("{PRS}/{name}"), &pr).await;
        assert_eq!(proposed.status, StatusCode::OK, "{}", proposed.body);
        let mut pr = proposed.body;
        pr["spec"]["lifecycle"] = json!("Published");
        let published = self.put(&format!("{PRS}/{name}/approval"), &pr).await;
        assert_eq!(published.status, StatusCode::OK, "{}", published.body);
        published.body
    }

    /// The files of package revision `name`.
    async fn resources(&self, name: &str) -> Value {
        let answer = self.get(&format!("{PRRS}/{name}")).await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
        answer.body["spec"]["resources"].clone()
    }

    /// Creates Draft `<repo>.<package>.<workspace>` with an init task.
    async fn create_draft(&self, repo: &str, package: &str, workspace: &str) -> Answer {
        let answer = self.post(PRS, &draft(repo, package, workspace)).await;
        assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.body);
        answer
    }
}

fn repository(name: &str, path: &std::path::Path) -> Value {
    json!({
        "apiVersion": "config.porch.kpt.dev/v1alpha1",
        "kind": "Repository",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {
            "type": "git",
            "content": "Package",
            "git": {"repo": path.display().to_string(), "branch": "main", "createBranch": true},
        },
    })
}

fn draft(repo: &str, package: &str, workspace: &str) -> Value {
    json!({
        "apiVersion": "porch.kpt.dev/v1alpha1",
        "kind": "PackageRevision",
        "metadata": {"namespace": "default"},
        "spec": {
            "repository": repo,
            "packageName": package,
            "workspaceName": workspace,
            "lifecycle": "Draft",
            "tasks": [{"type": "init", "init": {"description": "a test package"}}],
        },
    })
}

/// Asserts a `Status` answer: HTTP code, `reason` and `message`.
#[track_caller]
fn check_status(answer: &Answer, code: u16, reason: &str, message: &str) {
    assert_eq!(answer.status.as_u16(), code, "{}", answer.body);
    assert_eq!(answer.body["kind"], "Status", "{}", answer.body);
    assert_eq!(answer.body["status"], "Failure", "{}", answer.body);
    assert_eq!(answer.body["code"], code, "{}", answer.body);
    assert_eq!(answer.body["reason"], reason, "{}", answer.body);
    assert_eq!(answer.body["message"], message, "{}", answer.body);
    assert_eq!(answer.headers[header::CONTENT_TYPE], "application/json");
}

/// The names of a list's items.
#[track_caller]
fn names(list: &Value) -> Vec<&str> {
    list["items"]
        .as_array()
        .unwrap_or_else(|| panic!("not a list: {list}"))
        .iter()
        .map(|item| item["metadata"]["name"].as_str().unwrap_or_default())
        .collect()
}
