//! Fixtures built with the real `git` binary, and shorthands for driving a `GitRepo`.

use std::{
    fs,
    path::{Path, PathBuf},
    process::Command,
    sync::Arc,
};

use tempfile::TempDir;
use veranda_repo::{Annotation, Discovered, Files, GitConfig, GitRepo, RefUpdate};

/// Runs `git` in `dir` with a config isolated from the machine's and fixed identities; panics
/// on failure and returns trimmed stdout.
#[track_caller]
pub fn git(dir: &Path, args: &[&str]) -> String {
    let output = Command::new("git")
        .args(["-c", "init.defaultBranch=main", "-c", "advice.detachedHead=false"])
        .args(args)
        .current_dir(dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_AUTHOR_NAME", "Fixture Author")
        .env("GIT_AUTHOR_EMAIL", "fixture@example.com")
        .env("GIT_COMMITTER_NAME", "Fixture Committer")
        .env("GIT_COMMITTER_EMAIL", "committer@example.com")
        .env_remove("GIT_DIR")
        .output()
        .expect("run git");
    assert!(
        output.status.success(),
        "git {args:?} failed in {dir:?}:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

/// A scratch area holding remotes, work trees and caches.
pub struct Scratch {
    pub tmp: TempDir,
}

impl Scratch {
    pub fn new() -> Scratch {
        Scratch { tmp: tempfile::tempdir().expect("create temp dir") }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.tmp.path().join(name)
    }

    /// An empty bare repository.
    pub fn bare(&self, name: &str) -> PathBuf {
        let path = self.path(name);
        git(self.tmp.path(), &["init", "-q", "--bare", path.to_str().expect("utf-8 temp path")]);
        path
    }

    /// A bare clone of Porch's test-blueprints bundle.
    pub fn blueprints(&self, name: &str) -> PathBuf {
        let bundle =
            testdata("packages/nephio-project-porch/test/pkgs/test-pkgs/test-blueprints.bundle");
        let path = self.path(name);
        git(
            self.tmp.path(),
            &[
                "clone",
                "-q",
                "--bare",
                bundle.to_str().expect("utf-8 path"),
                path.to_str().expect("utf-8 path"),
            ],
        );
        path
    }

    /// A work tree cloned from `remote` (which may be empty).
    pub fn worktree(&self, name: &str, remote: &Path) -> Worktree {
        let path = self.path(name);
        git(
            self.tmp.path(),
            &["clone", "-q", remote.to_str().expect("utf-8"), path.to_str().expect("utf-8")],
        );
        Worktree { path }
    }

    /// A registration of `url` with its own cache directory.
    pub fn config(&self, url: &str, cache: &str) -> GitConfig {
        GitConfig {
            url: url.to_owned(),
            branch: "main".to_owned(),
            directory: String::new(),
            create_branch: false,
            cache_dir: self.path(cache),
            credentials: None,
            credential_source: None,
            ca_bundle: None,
            author: None,
            url_rewrites: Default::default(),
        }
    }
}

pub struct Worktree {
    pub path: PathBuf,
}

impl Worktree {
    pub fn write(&self, files: &[(&str, &str)]) -> &Worktree {
        for (path, content) in files {
            let path = self.path.join(path);
            fs::create_dir_all(path.parent().expect("file has a parent")).expect("create dirs");
            fs::write(path, content).expect("write file");
        }
        self
    }

    /// Commits everything and returns the commit id.
    pub fn commit(&self, message: &str) -> String {
        git(&self.path, &["add", "-A"]);
        git(&self.path, &["commit", "-q", "--allow-empty", "-m", message]);
        git(&self.path, &["rev-parse", "HEAD"])
    }

    pub fn run(&self, args: &[&str]) -> String {
        git(&self.path, args)
    }
}

pub fn files(entries: &[(&str, &str)]) -> Files {
    entries.iter().map(|(path, content)| (path.to_string(), content.as_bytes().to_vec())).collect()
}

pub fn kptfile(name: &str) -> String {
    format!("apiVersion: kpt.dev/v1\nkind: Kptfile\nmetadata:\n  name: {name}\n")
}

/// One line per revision, sorted: `<package> <workspace> <revision> <kind> <lifecycle> <ref>`.
pub fn summary(revisions: &[Arc<Discovered>]) -> Vec<String> {
    let mut lines: Vec<String> = revisions
        .iter()
        .map(|r| {
            format!(
                "{} {} {} {:?} {:?} {}",
                r.package, r.workspace, r.revision, r.kind, r.lifecycle, r.ref_name
            )
        })
        .collect();
    lines.sort();
    lines
}

pub fn find<'a>(
    revisions: &'a [Arc<Discovered>],
    package: &str,
    workspace: &str,
) -> &'a Discovered {
    revisions
        .iter()
        .find(|r| r.package == package && r.workspace == workspace)
        .unwrap_or_else(|| panic!("no revision {package}/{workspace} in {:#?}", summary(revisions)))
}

/// Creates a draft the way the engine does: an init commit on the branch head pushed to the
/// draft branch. Returns the commit.
pub fn create_draft(repo: &GitRepo, package: &str, workspace: &str, content: &Files) -> String {
    let annotation = Annotation {
        package: repo.full_path(package),
        workspace_name: workspace.to_owned(),
        revision: "0".to_owned(),
        task: Some(
            serde_json::json!({"type": "init", "init": {"description": format!("{package} description")}}),
        ),
    };
    let commit = repo
        .commit_package(package, None, content, "Creating new empty revision", &annotation)
        .expect("commit draft");
    repo.push(&[RefUpdate::set(repo.draft_ref(package, workspace), commit.clone())])
        .expect("push draft");
    commit
}

/// Path of a file in the shared test data: `$VERANDA_SHARED/testdata/<rel>`, by default
/// `shared/` next to the repository root.
pub fn testdata(rel: &str) -> PathBuf {
    let shared = match std::env::var_os("VERANDA_SHARED") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared"),
    };
    shared.join("testdata").join(rel)
}
