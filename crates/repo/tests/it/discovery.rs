//! Discovery (porch.md §2.3) of hand-made repositories, starting with Porch's test-blueprints.

use veranda_repo::{GitRepo, Lifecycle, RefKind};

use crate::util::{Scratch, find, git, kptfile, summary};

#[test]
fn test_blueprints_repository() {
    let scratch = Scratch::new();
    let remote = scratch.blueprints("blueprints.git");
    let repo =
        GitRepo::open(scratch.config(remote.to_str().expect("utf-8"), "cache")).expect("open");
    let revisions = repo.list().expect("list");

    assert_eq!(
        summary(&revisions),
        [
            "basens main -1 Branch Published main",
            "basens v1 1 Tag Published basens/v1",
            "basens v2 2 Tag Published basens/v2",
            "basens v3 3 Tag Published basens/v3",
            "basens v4 4 Tag Published basens/v4",
            "bucket main -1 Branch Published main",
            "bucket v1 1 Tag Published bucket/v1",
            "empty main -1 Branch Published main",
            "empty v1 1 Tag Published empty/v1",
            "redis-bucket main -1 Branch Published main",
            "redis-bucket v1 1 Tag Published redis-bucket/v1",
            "unready main -1 Branch Published main",
            "unready v1 1 Tag Published unready/v1",
            "update main -1 Branch Published main",
            "update v1 1 Tag Published update/v1",
            "update v2 2 Tag Published update/v2",
        ]
    );

    let v1 = find(&revisions, "basens", "v1");
    assert_eq!(v1.commit, git(&remote, &["rev-parse", "basens/v1^{commit}"]));
    assert_eq!(v1.tree, git(&remote, &["rev-parse", "basens/v1:basens"]));
    assert_eq!(v1.published_by.as_deref(), Some("mmaly@google.com"));
    assert_eq!(
        v1.published_at,
        Some(git(&remote, &["log", "-1", "--format=%at", "basens/v1"]).parse().expect("int"))
    );
    assert_eq!(v1.task, None);

    let main = find(&revisions, "basens", "main");
    assert_eq!(main.commit, git(&remote, &["rev-parse", "main"]));
    assert_eq!(main.tree, git(&remote, &["rev-parse", "main:basens"]));
    // No commit in this repository carries a kpt annotation.
    assert_eq!(main.published_by, None);

    let files = repo.read_files(&v1.commit, "basens").expect("read files");
    assert_eq!(files.keys().collect::<Vec<_>>(), ["Kptfile", "README.md", "namespace.yaml"]);
    assert_eq!(
        String::from_utf8_lossy(&files["Kptfile"]).trim(),
        git(&remote, &["show", "basens/v1:basens/Kptfile"])
    );

    // A second list is served from the memo and is identical.
    let version = repo.version().expect("version");
    assert_eq!(repo.list().expect("list again"), revisions);
    assert_eq!(repo.version().expect("version"), version);
}

#[test]
fn hand_made_layouts() {
    let scratch = Scratch::new();
    let remote = scratch.bare("remote.git");
    let work = scratch.worktree("work", &remote);
    work.write(&[
        ("top/Kptfile", &kptfile("top")),
        // Nested packages below a package are not discovered.
        ("top/nested/Kptfile", &kptfile("nested")),
        ("a/b/deep/Kptfile", &kptfile("deep")),
        ("a/b/deep/sub/file.yaml", "x: 1\n"),
        // A directory named Kptfile does not make a package.
        ("notapkg/Kptfile/inner", "x"),
        ("plain/README.md", "not a package"),
    ]);
    work.commit("initial");
    work.run(&["tag", "release-1"]);
    work.run(&["tag", "top/v2.0.0"]);
    work.run(&["tag", "-a", "-m", "annotated", "a/b/deep/v3"]);
    work.run(&["tag", "plain/v1"]);
    work.run(&["tag", "missing/v1"]);
    work.run(&["push", "-q", "origin", "main", "--tags"]);

    let repo =
        GitRepo::open(scratch.config(remote.to_str().expect("utf-8"), "cache")).expect("open");
    let revisions = repo.list().expect("list");
    assert_eq!(
        summary(&revisions),
        [
            "a/b/deep main -1 Branch Published main",
            "a/b/deep v3 3 Tag Published a/b/deep/v3",
            "top main -1 Branch Published main",
            "top v2.0.0 -1 Tag Published top/v2.0.0",
        ]
    );
    let deep = find(&revisions, "a/b/deep", "v3");
    assert_eq!(deep.commit, git(&remote, &["rev-parse", "main"]), "annotated tags are peeled");
    assert_eq!(
        repo.read_files(&deep.commit, "a/b/deep").expect("read").keys().collect::<Vec<_>>(),
        ["Kptfile", "sub/file.yaml"]
    );
    assert!(matches!(
        repo.read_files(&deep.commit, "plain"),
        Ok(files) if files.contains_key("README.md")
    ));
    assert!(matches!(
        repo.read_files(&deep.commit, "nope"),
        Err(veranda_repo::Error::NotFound { .. })
    ));
}

#[test]
fn directory_prefix_limits_discovery() {
    let scratch = Scratch::new();
    let remote = scratch.bare("remote.git");
    let work = scratch.worktree("work", &remote);
    work.write(&[
        ("blueprints/net/Kptfile", &kptfile("net")),
        ("blueprints/team/app/Kptfile", &kptfile("app")),
        ("blueprints-other/x/Kptfile", &kptfile("x")),
        ("outside/Kptfile", &kptfile("outside")),
    ]);
    work.commit("initial");
    work.run(&["tag", "blueprints/net/v1"]);
    work.run(&["tag", "outside/v1"]);
    work.run(&["tag", "blueprints-other/x/v1"]);
    work.run(&["push", "-q", "origin", "main", "--tags"]);
    work.run(&["push", "-q", "origin", "main:refs/heads/drafts/outside/ws"]);
    work.run(&["push", "-q", "origin", "main:refs/heads/drafts/blueprints/team/app/ws"]);
    work.run(&["push", "-q", "origin", "main:refs/heads/proposed/blueprints/net/ws2"]);
    work.run(&["push", "-q", "origin", "main:refs/heads/drafts/blueprints/gone/ws"]);
    work.run(&["push", "-q", "origin", "main:refs/heads/deletionProposed/blueprints/net/v1"]);

    let mut cfg = scratch.config(remote.to_str().expect("utf-8"), "cache");
    cfg.directory = "blueprints".to_owned();
    let repo = GitRepo::open(cfg).expect("open");
    let revisions = repo.list().expect("list");
    assert_eq!(
        summary(&revisions),
        [
            "net main -1 Branch Published main",
            "net v1 1 Tag DeletionProposed blueprints/net/v1",
            "net ws2 0 Proposed Proposed proposed/blueprints/net/ws2",
            "team/app main -1 Branch Published main",
            "team/app ws 0 Draft Draft drafts/blueprints/team/app/ws",
        ]
    );
    assert_eq!(repo.full_path("team/app"), "blueprints/team/app");
    assert_eq!(repo.draft_ref("team/app", "ws"), "refs/heads/drafts/blueprints/team/app/ws");
    assert_eq!(repo.proposed_ref("net", "ws2"), "refs/heads/proposed/blueprints/net/ws2");
    assert_eq!(repo.tag_ref("net", 3), "refs/tags/blueprints/net/v3");
    assert_eq!(
        repo.deletion_proposed_ref("net", 3, "ws"),
        "refs/heads/deletionProposed/blueprints/net/v3"
    );
    assert_eq!(
        repo.deletion_proposed_ref("net", -1, "main"),
        "refs/heads/deletionProposed/blueprints/net/main"
    );
    assert_eq!(repo.branch_ref(), "refs/heads/main");
    let draft = find(&revisions, "team/app", "ws");
    assert_eq!(draft.kind, RefKind::Draft);
    assert_eq!(draft.published_by, None);
    assert_eq!(find(&revisions, "net", "v1").lifecycle, Lifecycle::DeletionProposed);
}
