//! A stand-in for the Gitea of Porch's e2e tests: `git http-backend` over HTTP with Basic auth
//! `nephio`/`secret`, serving `nephio/test-blueprints` and `nephio/porch-test` as Porch's
//! `scripts/install-dev-gitea-setup.sh` leaves them:
//!
//! - `test-blueprints`: the bundle's `main` branch and all its tags (the script clones the
//!   bundle with `-b main` and pushes `--all` and `--tags`, so no other branch);
//! - `porch-test`: one commit on `main` adding an empty `README.md` ("first commit", by
//!   `nephio`), as the script creates it.
//!
//! Porch's repositories are addressed with and without `.git`; `git http-backend` finds
//! `nephio/porch-test.git` for both, as Gitea does. The server under test keeps Porch's in-cluster
//! URL ([`GITEA_URL`]) and reaches this server through `--git-url-rewrite` ([`Gitea::rewrite`]).
//! Start one per test: a fresh `porch-test` is what Porch's `usesPorchTestRepo` recreates.

use std::{
    io::Write,
    path::{Path, PathBuf},
    process::{Command, Stdio},
};

use crate::http_server::{Auth, GitHttpServer, enable_push};
use crate::util::testdata;

/// The Gitea base URL of Porch's in-cluster e2e tests.
pub const GITEA_URL: &str = "http://gitea.gitea.svc.cluster.local:3000/";
/// The Gitea user of Porch's e2e tests.
pub const USER: &str = "nephio";
/// Its password.
pub const PASSWORD: &str = "secret";

/// A running test Gitea; stopped when dropped.
pub struct Gitea {
    root: PathBuf,
    server: GitHttpServer,
}

impl Gitea {
    /// Creates the repositories under `root` (created) and serves them.
    pub fn start(root: &Path) -> Gitea {
        let org = root.join(USER);
        std::fs::create_dir_all(&org).expect("create the Gitea root");
        let blueprints = bare(&org.join("test-blueprints.git"));
        let bundle =
            testdata("packages/nephio-project-porch/test/pkgs/test-pkgs/test-blueprints.bundle");
        let bundle = bundle.to_str().expect("utf-8 path");
        git(&blueprints, &["fetch", "-q", bundle, "refs/heads/main:refs/heads/main"], None);
        git(&blueprints, &["fetch", "-q", bundle, "refs/tags/*:refs/tags/*"], None);
        let porch_test = bare(&org.join("porch-test.git"));
        let readme = git(&porch_test, &["hash-object", "-w", "--stdin"], Some(""));
        let tree =
            git(&porch_test, &["mktree"], Some(&format!("100644 blob {readme}\tREADME.md\n")));
        let commit = git(&porch_test, &["commit-tree", &tree, "-m", "first commit"], None);
        git(&porch_test, &["update-ref", "refs/heads/main", &commit], None);
        let auth = Auth::PublicRead { username: USER.into(), password: PASSWORD.into() };
        Gitea { root: root.to_owned(), server: GitHttpServer::start(root, auth) }
    }

    /// The `--git-url-rewrite` value that sends [`GITEA_URL`] here.
    pub fn rewrite(&self) -> String {
        format!("{GITEA_URL}={}", self.server.url(""))
    }

    /// The bare repository `nephio/<name>.git` on disk.
    pub fn repo(&self, name: &str) -> PathBuf {
        self.root.join(USER).join(format!("{name}.git"))
    }
}

/// `git init --bare -b main` at `path`, open for pushes.
fn bare(path: &Path) -> PathBuf {
    let status = Command::new("git")
        .args(["init", "--bare", "-q", "-b", "main"])
        .arg(path)
        .status()
        .expect("git must be installed");
    assert!(status.success(), "git init --bare {}", path.display());
    enable_push(path);
    path.to_owned()
}

/// Runs git in the bare repository `dir` as the Gitea user, with `stdin`; returns the trimmed
/// stdout.
fn git(dir: &Path, args: &[&str], stdin: Option<&str>) -> String {
    let mut child = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .env("GIT_AUTHOR_NAME", USER)
        .env("GIT_AUTHOR_EMAIL", "nephio@example.com")
        .env("GIT_COMMITTER_NAME", USER)
        .env("GIT_COMMITTER_EMAIL", "nephio@example.com")
        .stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("git must be installed");
    if let Some(input) = stdin {
        let mut pipe = child.stdin.take().expect("piped stdin");
        pipe.write_all(input.as_bytes()).expect("write git's stdin");
    }
    let out = child.wait_with_output().expect("wait for git");
    assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}
