//! Discovery over a Porch-shaped history with many packages: every package was created by an
//! annotated draft commit and published by an approval merge plus a tag.
//!
//! The default size keeps `cargo test` quick; `RUN_SLOW_TESTS=1` lists 10,000 revisions and
//! prints timings.

use std::{
    io::Write,
    process::{Command, Stdio},
    time::Instant,
};

use serde_json::json;
use veranda_repo::{GitRepo, Lifecycle};

use crate::util::{Scratch, create_draft, files, find, git, kptfile};

#[test]
fn many_published_packages() {
    let packages = if std::env::var_os("RUN_SLOW_TESTS").is_some() { 5_000 } else { 300 };
    let scratch = Scratch::new();
    let remote = scratch.bare("remote.git");
    fast_import(&remote, packages);

    let started = Instant::now();
    let repo =
        GitRepo::open(scratch.config(remote.to_str().expect("utf-8"), "cache")).expect("open");
    let opened = started.elapsed();

    let started = Instant::now();
    let revisions = repo.list().expect("cold list");
    let cold = started.elapsed();
    assert_eq!(revisions.len(), 2 * packages);
    let last = format!("g{}/p{}", (packages - 1) / 100, packages - 1);
    let tag = find(&revisions, &last, "ws");
    assert_eq!((tag.revision, tag.lifecycle), (1, Lifecycle::Published));
    assert_eq!(tag.task, Some(json!({"type": "init", "init": {"description": "d"}})));
    let placeholder = find(&revisions, "g0/p0", "main");
    assert_eq!(placeholder.published_by.as_deref(), Some("approver0@example.com"));

    let started = Instant::now();
    let again = repo.list().expect("warm list");
    let warm = started.elapsed();
    assert_eq!(again, revisions);

    let started = Instant::now();
    let probe = repo
        .commit_package(
            "g0/probe",
            None,
            &files(&[("Kptfile", &kptfile("probe"))]),
            "h",
            &Default::default(),
        )
        .expect("commit");
    let committed = started.elapsed();
    let started = Instant::now();
    repo.fetch().expect("fetch");
    let fetched = started.elapsed();
    let started = Instant::now();
    repo.push(&[veranda_repo::RefUpdate::set(repo.draft_ref("g0/probe", "ws"), &probe)])
        .expect("push");
    let pushed = started.elapsed();

    let started = Instant::now();
    let draft = create_draft(&repo, "g0/new", "ws", &files(&[("Kptfile", &kptfile("new"))]));
    let drafted = started.elapsed();
    assert_eq!(git(&remote, &["diff-tree", "--name-only", "-r", &draft, "main"]), "g0/new/Kptfile");

    let started = Instant::now();
    repo.approve("g0/new", "ws", &draft, 1, &repo.draft_ref("g0/new", "ws")).expect("approve");
    let approved = started.elapsed();

    let started = Instant::now();
    let revisions = repo.list().expect("list after approval");
    let incremental = started.elapsed();
    // The probe draft, and the new package's tag and placeholder.
    assert_eq!(revisions.len(), 2 * packages + 3);
    assert_eq!(find(&revisions, "g0/new", "main").published_by.as_deref(), Some("porch@kpt.dev"));
    assert_eq!(
        find(&revisions, "g0/p0", "main").published_by.as_deref(),
        Some("approver0@example.com")
    );

    eprintln!(
        "{} revisions: open {opened:?}, cold list {cold:?}, warm list {warm:?}, commit {committed:?}, \
         fetch {fetched:?}, push {pushed:?}, draft {drafted:?}, approve {approved:?}, \
         list after approval {incremental:?}",
        revisions.len()
    );
}

/// Writes the history with `git fast-import`: for each package a draft commit with an init
/// annotation on top of main, an approval merge, and a tag on the merge.
fn fast_import(remote: &std::path::Path, packages: usize) {
    let mut stream = String::new();
    let mut mark = 0;
    let mut main_mark = None::<usize>;
    let mut time = 1_700_000_000;
    let kptfile_text = kptfile("p");
    for idx in 0..packages {
        let path = format!("g{}/p{idx}", idx / 100);
        let draft_message = format!(
            "Creating new empty revision\n\n\nkpt:{{\"package\":\"{path}\",\"workspaceName\":\"ws\",\"revision\":\"0\",\"task\":{{\"type\":\"init\",\"init\":{{\"description\":\"d\"}}}}}}\n"
        );
        let approve_message = format!(
            "Approving package revision {path}/1\n\nkpt:{{\"package\":\"{path}\",\"workspaceName\":\"ws\",\"revision\":\"1\"}}\n"
        );
        mark += 1;
        let draft = mark;
        time += 1;
        stream.push_str(&format!(
            "commit refs/heads/scratch\nmark :{draft}\nauthor Author <author{idx}@example.com> {time} +0000\n\
             committer Porch <porch@kpt.dev> {time} +0000\ndata {}\n{draft_message}\n",
            draft_message.len()
        ));
        if let Some(main) = main_mark {
            stream.push_str(&format!("from :{main}\n"));
        }
        stream.push_str(&format!(
            "M 100644 inline {path}/Kptfile\ndata {}\n{kptfile_text}\n",
            kptfile_text.len()
        ));

        mark += 1;
        let approval = mark;
        time += 1;
        stream.push_str(&format!(
            "commit refs/heads/main\nmark :{approval}\nauthor Approver <approver{idx}@example.com> {time} +0000\n\
             committer Porch <porch@kpt.dev> {time} +0000\ndata {}\n{approve_message}\n",
            approve_message.len()
        ));
        if let Some(main) = main_mark {
            stream.push_str(&format!("from :{main}\n"));
        }
        stream.push_str(&format!(
            "merge :{draft}\nM 100644 inline {path}/Kptfile\ndata {}\n{kptfile_text}\n",
            kptfile_text.len()
        ));
        stream.push_str(&format!("reset refs/tags/{path}/v1\nfrom :{approval}\n\n"));
        main_mark = Some(approval);
    }
    let mut child = Command::new("git")
        .args(["fast-import", "--quiet"])
        .current_dir(remote)
        .stdin(Stdio::piped())
        .spawn()
        .expect("spawn git fast-import");
    child
        .stdin
        .take()
        .expect("piped")
        .write_all(stream.as_bytes())
        .expect("write fast-import stream");
    assert!(child.wait().expect("wait").success(), "git fast-import failed");
}
