//! Opening a repository: cache creation, remote URL forms, and the registered branch (§2.1).

use veranda_repo::{Error, GitRepo};

use crate::util::{Scratch, git, summary};

#[test]
fn creates_the_branch_on_an_empty_remote() {
    let scratch = Scratch::new();
    let remote = scratch.bare("empty.git");
    let mut cfg = scratch.config(remote.to_str().expect("utf-8"), "cache");

    let err = GitRepo::open(cfg.clone()).err().expect("branch is missing");
    assert!(matches!(err, Error::BranchNotFound { .. }));
    assert_eq!(err.to_string(), "branch \"main\" doesn't exist");

    cfg.create_branch = true;
    let repo = GitRepo::open(cfg).expect("open creates the branch");
    assert_eq!(
        git(&remote, &["log", "--format=%an <%ae>|%cn <%ce>|%B", "main"]),
        "Package Orchestration Service <porch@kpt.dev>|Package Orchestration Service <porch@kpt.dev>|Initial commit: Creating main branch"
    );
    assert_eq!(git(&remote, &["ls-tree", "-r", "--name-only", "main"]), "README.md");
    assert_eq!(git(&remote, &["cat-file", "blob", "main:README.md"]), "Created by porch");
    assert_eq!(repo.branch_head().expect("head"), Some(git(&remote, &["rev-parse", "main"])));
    assert!(repo.list().expect("list").is_empty());
}

#[test]
fn a_missing_branch_on_a_non_empty_remote_is_an_error() {
    let scratch = Scratch::new();
    let remote = scratch.blueprints("remote.git");
    let mut cfg = scratch.config(remote.to_str().expect("utf-8"), "cache");
    cfg.branch = "release".to_owned();
    let err = GitRepo::open(cfg).err().expect("branch is missing");
    assert_eq!(err.to_string(), "branch \"release\" doesn't exist");
}

#[test]
fn accepts_paths_and_file_urls_and_follows_url_changes() {
    let scratch = Scratch::new();
    let first = scratch.blueprints("first.git");
    let second = scratch.bare("second.git");
    let work = scratch.worktree("work", &second);
    work.write(&[("solo/Kptfile", "kind: Kptfile\n")]);
    work.commit("solo");
    work.run(&["push", "-q", "origin", "main"]);

    let url = format!("file://{}", first.display());
    let repo = GitRepo::open(scratch.config(&url, "cache")).expect("open file url");
    assert_eq!(repo.origin_url(), url);
    assert_eq!(repo.list().expect("list").len(), 16);
    drop(repo);

    // Re-registering the same cache with another URL repoints origin and prunes old refs.
    let relative = pathdiff(&second);
    let repo = GitRepo::open(scratch.config(&relative, "cache")).expect("open relative path");
    assert_eq!(repo.origin_url(), second.to_str().expect("utf-8"));
    assert_eq!(summary(&repo.list().expect("list")), ["solo main -1 Branch Published main"]);
    assert_eq!(repo.config().url, relative);
}

/// `path` relative to the current directory (the crate directory under `cargo test`).
fn pathdiff(path: &std::path::Path) -> String {
    let cwd = std::env::current_dir().expect("cwd");
    let depth = cwd.components().count() - 1;
    let mut relative = "../".repeat(depth);
    relative.push_str(path.strip_prefix("/").expect("absolute temp path").to_str().expect("utf-8"));
    relative
}

#[test]
fn fetch_sees_remote_changes_and_prunes() {
    let scratch = Scratch::new();
    let remote = scratch.blueprints("remote.git");
    let repo =
        GitRepo::open(scratch.config(remote.to_str().expect("utf-8"), "cache")).expect("open");
    let version = repo.version().expect("version");

    git(&remote, &["tag", "-d", "basens/v1"]);
    git(&remote, &["branch", "drafts/basens/ws", "main"]);
    assert_eq!(repo.version().expect("version"), version, "version does not fetch");
    repo.fetch().expect("fetch");
    assert_ne!(repo.version().expect("version"), version);
    let lines = summary(&repo.list().expect("list"));
    assert!(!lines.contains(&"basens v1 1 Tag Published basens/v1".to_owned()), "{lines:#?}");
    assert!(lines.contains(&"basens ws 0 Draft Draft drafts/basens/ws".to_owned()), "{lines:#?}");
}

#[test]
fn a_rewritten_url_is_reached_at_its_rewrite_and_reported_as_registered() {
    let scratch = Scratch::new();
    let remote = scratch.bare("empty.git");
    let root = remote.parent().expect("scratch root").to_str().expect("utf-8");
    let url = "http://gitea.invalid:3000/nephio/empty.git";
    let mut cfg = scratch.config(url, "cache");
    cfg.create_branch = true;
    cfg.url_rewrites =
        veranda_repo::UrlRewrites::parse(&[format!("http://gitea.invalid:3000/nephio/={root}/")])
            .expect("valid rewrite");
    let repo = GitRepo::open(cfg).expect("open through the rewrite");
    assert_eq!(repo.origin_url(), url);
    assert_eq!(repo.config().url, url);
    // The branch was created in the repository the rewrite names.
    assert_eq!(repo.branch_head().expect("head"), Some(git(&remote, &["rev-parse", "main"])));
}
