//! The package revision lifecycle in git (porch.md §2.6): draft, propose, approve, propose
//! deletion, delete; checked with `git` in the remote repository.

use serde_json::json;
use veranda_repo::{
    ABSENT, Annotation, Error, GitRepo, Lifecycle, RefUpdate, Signature, format_message,
};

use crate::util::{Scratch, create_draft, files, find, git, kptfile, summary};

#[test]
fn draft_propose_approve_and_delete() {
    let scratch = Scratch::new();
    let remote = scratch.bare("remote.git");
    let mut cfg = scratch.config(remote.to_str().expect("utf-8"), "cache");
    cfg.create_branch = true;
    cfg.author = Some(Signature { name: "Jane Doe".into(), email: "jane@example.com".into() });
    let repo = GitRepo::open(cfg).expect("open creates the branch");
    let initial = repo.branch_head().expect("head").expect("branch exists");
    assert!(repo.list().expect("list").is_empty());

    // Create a draft, then a second ("render") commit on it.
    let content = files(&[("Kptfile", &kptfile("net")), ("cm.yaml", "a: 1\n")]);
    let draft1 = create_draft(&repo, "net", "ws1", &content);
    let revisions = repo.list().expect("list");
    assert_eq!(summary(&revisions), ["net ws1 0 Draft Draft drafts/net/ws1"]);
    let init_task = json!({"type": "init", "init": {"description": "net description"}});
    assert_eq!(revisions[0].task, Some(init_task.clone()));
    assert_eq!(revisions[0].commit, draft1);
    assert_eq!(git(&remote, &["log", "-1", "--format=%P", "drafts/net/ws1"]), initial);

    let rendered =
        files(&[("Kptfile", &kptfile("net")), ("cm.yaml", "a: 2\n"), ("dir/x.yaml", "x\n")]);
    let annotation = Annotation {
        package: "net".into(),
        workspace_name: "ws1".into(),
        revision: "0".into(),
        task: Some(json!({"type": "render"})),
    };
    let draft2 = repo
        .commit_package("net", Some(&draft1), &rendered, "Rendering package", &annotation)
        .expect("commit render");
    repo.push(&[RefUpdate::set(repo.draft_ref("net", "ws1"), &draft2).expecting(&draft1)])
        .expect("push render");
    assert_eq!(
        git(&remote, &["cat-file", "commit", &draft2]).split_once("\n\n").expect("message").1,
        format_message("Rendering package", &annotation).trim_end()
    );
    assert_eq!(
        git(&remote, &["log", "-1", "--format=%an <%ae>|%cn <%ce>", &draft2]),
        "Jane Doe <jane@example.com>|Package Orchestration Service <porch@kpt.dev>"
    );
    let revisions = repo.list().expect("list");
    assert_eq!(revisions[0].commit, draft2);
    assert_eq!(
        revisions[0].task,
        Some(init_task.clone()),
        "render commits do not replace the creation task"
    );
    assert_eq!(repo.read_files(&draft2, "net").expect("read"), rendered);

    // Propose.
    repo.push(&[
        RefUpdate::set(repo.proposed_ref("net", "ws1"), &draft2),
        RefUpdate::delete(repo.draft_ref("net", "ws1")),
    ])
    .expect("propose");
    assert_eq!(
        summary(&repo.list().expect("list")),
        ["net ws1 0 Proposed Proposed proposed/net/ws1"]
    );

    // Approve.
    let approved =
        repo.approve("net", "ws1", &draft2, 1, &repo.proposed_ref("net", "ws1")).expect("approve");
    assert_eq!(git(&remote, &["rev-parse", "main"]), approved);
    assert_eq!(git(&remote, &["rev-parse", "net/v1"]), approved);
    assert_eq!(git(&remote, &["log", "-1", "--format=%P", "main"]), format!("{initial} {draft2}"));
    assert_eq!(
        git(&remote, &["cat-file", "commit", &approved]).split_once("\n\n").expect("message").1,
        "Approving package revision net/1\n\nkpt:{\"package\":\"net\",\"workspaceName\":\"ws1\",\"revision\":\"1\"}"
    );
    assert_eq!(
        git(&remote, &["for-each-ref", "--format=%(refname)"]),
        "refs/heads/main\nrefs/tags/net/v1"
    );
    assert_eq!(
        git(&remote, &["show", "main:README.md"]),
        "Created by porch",
        "the rest of the tree is kept"
    );
    let revisions = repo.list().expect("list");
    assert_eq!(
        summary(&revisions),
        ["net main -1 Branch Published main", "net ws1 1 Tag Published net/v1"]
    );
    let tag = find(&revisions, "net", "ws1");
    assert_eq!(tag.task, Some(init_task.clone()));
    assert_eq!(tag.published_by.as_deref(), Some("jane@example.com"));
    assert_eq!(tag.tree, git(&remote, &["rev-parse", &format!("{draft2}:net")]));
    let placeholder = find(&revisions, "net", "main");
    assert_eq!(placeholder.commit, approved);
    assert_eq!(placeholder.published_by.as_deref(), Some("jane@example.com"));
    assert!(placeholder.published_at.is_some());
    assert_eq!(placeholder.task, None);

    // A second package and a second revision of the first.
    let other = create_draft(&repo, "other", "ws", &files(&[("Kptfile", &kptfile("other"))]));
    repo.approve("other", "ws", &other, 1, &repo.draft_ref("other", "ws")).expect("approve other");
    let next = create_draft(
        &repo,
        "net",
        "ws2",
        &files(&[("Kptfile", &kptfile("net")), ("new.yaml", "n\n")]),
    );
    assert_eq!(
        git(&remote, &["ls-tree", "--name-only", &next]),
        "README.md\nnet\nother",
        "drafts start from the branch head"
    );
    let approved2 =
        repo.approve("net", "ws2", &next, 2, &repo.draft_ref("net", "ws2")).expect("approve v2");
    let revisions = repo.list().expect("list");
    assert_eq!(
        summary(&revisions),
        [
            "net main -1 Branch Published main",
            "net ws1 1 Tag Published net/v1",
            "net ws2 2 Tag Published net/v2",
            "other main -1 Branch Published main",
            "other ws 1 Tag Published other/v1",
        ]
    );
    assert_eq!(find(&revisions, "net", "main").tree, find(&revisions, "net", "ws2").tree);
    assert_eq!(find(&revisions, "other", "main").commit, approved2);

    // Propose deletion of v1 and of the placeholder.
    repo.push(&[
        RefUpdate::set(repo.deletion_proposed_ref("net", 1, "ws1"), &approved),
        RefUpdate::set(repo.deletion_proposed_ref("net", -1, "main"), &approved2),
    ])
    .expect("propose deletion");
    assert_eq!(git(&remote, &["rev-parse", "deletionProposed/net/v1"]), approved);
    let revisions = repo.list().expect("list");
    assert_eq!(find(&revisions, "net", "ws1").lifecycle, Lifecycle::DeletionProposed);
    assert_eq!(find(&revisions, "net", "main").lifecycle, Lifecycle::DeletionProposed);
    assert_eq!(find(&revisions, "net", "ws2").lifecycle, Lifecycle::Published);

    // Delete v1 (tag-backed) and the placeholder (branch-backed).
    repo.push(&[
        RefUpdate::delete(repo.tag_ref("net", 1)),
        RefUpdate::delete(repo.deletion_proposed_ref("net", 1, "ws1")),
    ])
    .expect("delete v1");
    repo.remove_package_from_branch("net").expect("remove from branch");
    repo.push(&[RefUpdate::delete(repo.deletion_proposed_ref("net", -1, "main"))])
        .expect("delete branch");
    assert_eq!(git(&remote, &["log", "-1", "--format=%B", "main"]), "Delete net");
    assert_eq!(git(&remote, &["ls-tree", "--name-only", "main"]), "README.md\nother");
    assert_eq!(
        summary(&repo.list().expect("list")),
        [
            "net ws2 2 Tag Published net/v2",
            "other main -1 Branch Published main",
            "other ws 1 Tag Published other/v1"
        ]
    );
    let head = repo.branch_head().expect("head");
    repo.remove_package_from_branch("net").expect("removing again is a no-op");
    assert_eq!(repo.branch_head().expect("head"), head);
}

#[test]
fn approve_merges_onto_a_branch_moved_by_another_writer() {
    let scratch = Scratch::new();
    let remote = scratch.blueprints("remote.git");
    let url = remote.to_str().expect("utf-8");
    let repo = GitRepo::open(scratch.config(url, "cache-a")).expect("open a");
    let other = GitRepo::open(scratch.config(url, "cache-b")).expect("open b");

    let draft = create_draft(&repo, "fresh", "ws", &files(&[("Kptfile", &kptfile("fresh"))]));
    // The other writer publishes a package after the draft was created.
    let theirs = create_draft(&other, "theirs", "ws", &files(&[("Kptfile", &kptfile("theirs"))]));
    other
        .approve("theirs", "ws", &theirs, 1, &other.draft_ref("theirs", "ws"))
        .expect("approve theirs");

    // The first writer's cache is stale; approval fetches and merges onto the new head.
    let approved =
        repo.approve("fresh", "ws", &draft, 1, &repo.draft_ref("fresh", "ws")).expect("approve");
    let names = git(&remote, &["ls-tree", "--name-only", &approved]);
    assert!(
        names.contains("theirs") && names.contains("fresh") && names.contains("basens"),
        "{names}"
    );
    let revisions = repo.list().expect("list");
    assert_eq!(find(&revisions, "theirs", "ws").revision, 1);
    assert_eq!(find(&revisions, "fresh", "main").commit, approved);
    assert_eq!(find(&revisions, "basens", "main").published_by, None);
    assert_eq!(find(&revisions, "fresh", "main").published_by.as_deref(), Some("porch@kpt.dev"));
}

#[test]
fn push_checks_compare_and_swap_and_fast_forward() {
    let scratch = Scratch::new();
    let remote = scratch.blueprints("remote.git");
    let repo =
        GitRepo::open(scratch.config(remote.to_str().expect("utf-8"), "cache")).expect("open");
    let head = repo.branch_head().expect("head").expect("main exists");
    let v1 = git(&remote, &["rev-parse", "basens/v1"]);
    let content = files(&[("Kptfile", &kptfile("x"))]);
    let on_head =
        repo.commit_package("x", None, &content, "h", &Annotation::default()).expect("commit");
    let on_v1 =
        repo.commit_package("x", Some(&v1), &content, "h", &Annotation::default()).expect("commit");
    let version = repo.version().expect("version");

    let res = repo.push(&[RefUpdate::set(repo.branch_ref(), &on_head).expecting(&v1)]);
    assert!(
        matches!(&res, Err(Error::Conflict { refname, .. }) if refname == "refs/heads/main"),
        "{res:?}"
    );
    let res = repo.push(&[RefUpdate::set(repo.branch_ref(), &on_v1)]);
    assert!(
        matches!(&res, Err(Error::Conflict { refname, .. }) if refname == "refs/heads/main"),
        "{res:?}"
    );
    let res = repo.push(&[RefUpdate::set(repo.tag_ref("basens", 1), &on_head).expecting(ABSENT)]);
    assert!(matches!(&res, Err(Error::Conflict { .. })), "{res:?}");
    assert_eq!(git(&remote, &["rev-parse", "main"]), head);
    assert_eq!(repo.version().expect("version"), version);

    repo.push(&[RefUpdate::set(repo.draft_ref("x", "ws"), &on_head).expecting(ABSENT)])
        .expect("create");
    let res = repo.push(&[RefUpdate::set(repo.draft_ref("x", "ws"), &on_head).expecting(ABSENT)]);
    assert!(matches!(res, Err(Error::Conflict { .. })), "{res:?}");
    assert_ne!(repo.version().expect("version"), version);

    repo.push(&[RefUpdate::delete("refs/heads/drafts/never/existed")])
        .expect("deleting a missing ref is fine");
    let res = repo.push(&[RefUpdate::set("HEAD", &on_head)]);
    assert!(matches!(res, Err(Error::InvalidRef { .. })), "{res:?}");
    let res = repo.push(&[RefUpdate::set(repo.draft_ref("x", "ws2"), "not-a-sha")]);
    assert!(matches!(res, Err(Error::InvalidOid { .. })), "{res:?}");

    repo.push(&[RefUpdate::set(repo.branch_ref(), &on_head).expecting(&head)])
        .expect("fast-forward");
    assert_eq!(git(&remote, &["rev-parse", "main"]), on_head);
}

#[test]
fn commit_package_validates_input() {
    let scratch = Scratch::new();
    let remote = scratch.blueprints("remote.git");
    let repo =
        GitRepo::open(scratch.config(remote.to_str().expect("utf-8"), "cache")).expect("open");
    let res =
        repo.commit_package("x", None, &files(&[("a.yaml", "")]), "h", &Annotation::default());
    assert!(matches!(res, Err(Error::MissingKptfile { .. })), "{res:?}");
    let res =
        repo.commit_package("../x", None, &files(&[("Kptfile", "")]), "h", &Annotation::default());
    assert!(matches!(res, Err(Error::InvalidPath { .. })), "{res:?}");
    let res = repo.commit_package(
        "x",
        Some(&"0".repeat(40)),
        &files(&[("Kptfile", "")]),
        "h",
        &Annotation::default(),
    );
    assert!(matches!(res, Err(Error::NotFound { .. })), "{res:?}");
    // An empty file set removes the package directory.
    let removed = repo
        .commit_package("basens", None, &files(&[]), "h", &Annotation::default())
        .expect("commit");
    assert!(!git(&remote, &["ls-tree", "--name-only", "main"]).is_empty());
    let err = repo.read_files(&removed, "basens").expect_err("package was removed");
    assert_eq!(err.to_string(), "package \"basens\" not found");
}

#[test]
fn creation_task_reconstruction() {
    let scratch = Scratch::new();
    let remote = scratch.blueprints("remote.git");
    let repo =
        GitRepo::open(scratch.config(remote.to_str().expect("utf-8"), "cache")).expect("open");
    let content = files(&[("Kptfile", &kptfile("pkg"))]);
    let annotate = |workspace: &str, revision: &str, task: serde_json::Value| Annotation {
        package: "pkg".into(),
        workspace_name: workspace.into(),
        revision: revision.into(),
        task: Some(task),
    };
    let task_of =
        |workspace: &str| find(&repo.list().expect("list"), "pkg", workspace).task.clone();

    // A draft created by init, then deleted; the index has seen its commits.
    let init = create_draft(&repo, "pkg", "ws", &content);
    assert_eq!(task_of("ws").expect("init task")["type"], "init");
    repo.push(&[RefUpdate::delete(repo.draft_ref("pkg", "ws"))]).expect("delete draft");

    // A new draft reusing the workspace, created by edit: the old init commit is not in its
    // history and must not be picked up.
    let edit = json!({"type": "edit", "edit": {"sourceRef": {"name": "blueprints.pkg.v1"}}});
    let edited = repo
        .commit_package(
            "pkg",
            None,
            &content,
            "Creating new revision by copying previous revision",
            &annotate("ws", "0", edit.clone()),
        )
        .expect("commit edit");
    let rendered = repo
        .commit_package(
            "pkg",
            Some(&edited),
            &content,
            "Rendering package",
            &annotate("ws", "0", json!({"type": "render"})),
        )
        .expect("commit render");
    repo.push(&[RefUpdate::set(repo.draft_ref("pkg", "ws"), &rendered)]).expect("push");
    assert_eq!(task_of("ws"), Some(edit.clone()));

    // Walking back from the head, the newest init or clone ends the walk; an older edit in the
    // same revision's history does not replace it.
    let on_init = repo
        .commit_package(
            "pkg",
            Some(&init),
            &content,
            "Creating new revision by copying previous revision",
            &annotate("ws2", "0", edit),
        )
        .expect("commit");
    let on_init2 = repo
        .commit_package(
            "pkg",
            Some(&on_init),
            &content,
            "x",
            &annotate("ws2", "0", json!({"type": "clone", "clone": {}})),
        )
        .expect("commit");
    repo.push(&[RefUpdate::set(repo.draft_ref("pkg", "ws2"), &on_init2)]).expect("push");
    assert_eq!(task_of("ws2"), Some(json!({"type": "clone", "clone": {}})));

    // Legacy annotations: no workspace name, revision "v1", matched against the tag's workspace.
    let legacy = Annotation {
        package: "pkg".into(),
        workspace_name: String::new(),
        revision: "v1".into(),
        task: Some(json!({"type": "clone", "clone": {"upstreamRef": {"type": "git"}}})),
    };
    let legacy = repo
        .commit_package("pkg", None, &content, "Intermediate commit: clone", &legacy)
        .expect("commit");
    repo.push(&[RefUpdate::set(repo.tag_ref("pkg", 1), &legacy)]).expect("push tag");
    let tag = find(&repo.list().expect("list"), "pkg", "v1").clone();
    assert_eq!(tag.revision, 1);
    assert_eq!(tag.task, Some(json!({"type": "clone", "clone": {"upstreamRef": {"type": "git"}}})));
}
