//! Helpers to run the real kubectl against a [`TestServer`]: kubectl lookup, a scratch
//! directory with a kubeconfig, and command output capture.

use std::{
    env,
    path::PathBuf,
    process::Command,
    sync::atomic::{AtomicUsize, Ordering},
};

use serde_json::Value;

use crate::server::{Discovery, TOKEN, TestServer};

/// kubectl plus a server and a scratch directory for one test.
pub struct Kubectl {
    pub server: TestServer,
    binary: PathBuf,
    dir: PathBuf,
}

/// The result of one kubectl run.
pub struct Output {
    pub success: bool,
    pub stdout: String,
    pub stderr: String,
}

impl Kubectl {
    /// Starts a server with `objects` and writes a kubeconfig pointing at it (bearer token auth,
    /// namespace `default`).
    pub fn start(objects: Vec<Value>) -> Kubectl {
        Kubectl::start_with(objects, Discovery::Negotiated)
    }

    pub fn start_with(objects: Vec<Value>, discovery: Discovery) -> Kubectl {
        let binary = find_kubectl();
        let server = TestServer::start(objects, discovery);
        let dir = scratch_dir();
        let kubeconfig = format!(
            "apiVersion: v1
kind: Config
clusters:
- name: veranda
  cluster:
    server: {}
contexts:
- name: veranda
  context:
    cluster: veranda
    user: veranda
    namespace: default
current-context: veranda
users:
- name: veranda
  user:
    token: {TOKEN}
",
            server.url()
        );
        std::fs::write(dir.join("kubeconfig"), kubeconfig).expect("write kubeconfig");
        Kubectl { server, binary, dir }
    }

    /// Writes `content` to `name` in the scratch directory and returns its path.
    pub fn write_file(&self, name: &str, content: &str) -> PathBuf {
        let path = self.dir.join(name);
        std::fs::write(&path, content).expect("write manifest");
        path
    }

    /// Runs `kubectl <args>` with the test kubeconfig and a private discovery cache.
    pub fn run(&self, args: &[&str]) -> Output {
        let output = Command::new(&self.binary)
            .arg("--kubeconfig")
            .arg(self.dir.join("kubeconfig"))
            .arg("--cache-dir")
            .arg(self.dir.join("cache"))
            .args(args)
            .env_remove("KUBECONFIG")
            .env("HOME", &self.dir)
            .output()
            .unwrap_or_else(|err| panic!("run {}: {err}", self.binary.display()));
        Output {
            success: output.status.success(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    /// Runs kubectl and fails the test, with both outputs and the request log, unless it succeeds.
    #[track_caller]
    pub fn ok(&self, args: &[&str]) -> Output {
        let output = self.run(args);
        assert!(
            output.success,
            "kubectl {args:?} failed\nstdout:\n{}\nstderr:\n{}\nrequests:\n{}",
            output.stdout,
            output.stderr,
            self.server.summary()
        );
        output
    }

    /// Runs kubectl and fails the test unless it fails.
    #[track_caller]
    pub fn fails(&self, args: &[&str]) -> Output {
        let output = self.run(args);
        assert!(
            !output.success,
            "kubectl {args:?} succeeded but should have failed\nstdout:\n{}\nstderr:\n{}\nrequests:\n{}",
            output.stdout,
            output.stderr,
            self.server.summary()
        );
        output
    }

    /// The requests made since `before` (an index into the request log).
    pub fn requests_since(&self, before: usize) -> Vec<crate::server::Request> {
        self.server.requests().into_iter().skip(before).collect()
    }
}

impl Drop for Kubectl {
    /// Removes the scratch directory, unless the test failed (then it is kept for debugging).
    fn drop(&mut self) {
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// `$VERANDA_KUBECTL`, or `kubectl` on `PATH`. Missing kubectl is a test failure, not a skip.
fn find_kubectl() -> PathBuf {
    if let Some(path) = env::var_os("VERANDA_KUBECTL") {
        return PathBuf::from(path);
    }
    let path = env::var_os("PATH").unwrap_or_default();
    for dir in env::split_paths(&path) {
        let candidate = dir.join("kubectl");
        if candidate.is_file() {
            return candidate;
        }
    }
    panic!(
        "kubectl not found on PATH: these tests drive the real kubectl (v1.32); install it or set VERANDA_KUBECTL to its path"
    );
}

fn scratch_dir() -> PathBuf {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!(
        "veranda-k8s-it-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::SeqCst)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create scratch directory");
    dir
}
