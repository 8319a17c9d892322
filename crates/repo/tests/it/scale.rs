//! Discovery and writes over a Porch-shaped history with many packages: every package was
//! created by an annotated draft commit and published by an approval merge plus a tag.
//!
//! What is checked is behaviour at scale, not time (timings belong in `crates/bench`): the
//! listing holds exactly the revisions written, and each write stores exactly the objects it
//! creates, as one pack, and moves exactly its refs, however many packages the repository
//! holds. The default size keeps `cargo test` quick; `RUN_SLOW_TESTS=1` uses 5,000 packages
//! (10,000 revisions).

use std::{
    collections::BTreeSet,
    fs,
    io::Write,
    path::Path,
    process::{Command, Stdio},
};

use serde_json::json;
use veranda_repo::GitRepo;

use crate::util::{Scratch, create_draft, files, find, git, kptfile, summary};

#[test]
fn many_published_packages() {
    let packages = if std::env::var_os("RUN_SLOW_TESTS").is_some() { 5_000 } else { 300 };
    let scratch = Scratch::new();
    let remote = scratch.bare("remote.git");
    fast_import(&remote, packages);
    let cfg = scratch.config(remote.to_str().expect("utf-8"), "cache");
    let cache = cfg.cache_dir.clone();
    let repo = GitRepo::open(cfg).expect("open");

    // The listing is exactly what the history holds: per package its tag and its placeholder.
    let revisions = repo.list().expect("cold list");
    let mut expected: Vec<String> = (0..packages)
        .flat_map(|idx| {
            let path = package_path(idx);
            [
                format!("{path} main -1 Branch Published main"),
                format!("{path} ws 1 Tag Published {path}/v1"),
            ]
        })
        .collect();
    expected.sort();
    assert_listing(&revisions, &expected);
    let last = package_path(packages - 1);
    let tag = find(&revisions, &last, "ws");
    assert_eq!(tag.task, Some(json!({"type": "init", "init": {"description": "d"}})));
    let placeholder = find(&revisions, "g0/p0", "main");
    assert_eq!(placeholder.published_by.as_deref(), Some("approver0@example.com"));
    assert_eq!(repo.list().expect("warm list"), revisions);
    assert_eq!(refs(&remote).len(), packages + 1, "main and one tag per package");

    // A commit stores its five new objects (Kptfile blob, the trees of g0/probe, g0 and the
    // root, the commit) as one pack, whatever the size of the repository: in the cache and, as
    // the remote is local, in the remote too, whose refs it leaves alone.
    let (cache_before, remote_before) = (Objects::of(&cache), Objects::of(&remote));
    let refs_before = refs(&remote);
    let probe = repo
        .commit_package(
            "g0/probe",
            None,
            &files(&[("Kptfile", &kptfile("probe"))]),
            "h",
            &Default::default(),
        )
        .expect("commit");
    assert_eq!(new_objects(&remote, &probe, "main"), 5);
    let cache_after = Objects::of(&cache);
    cache_after.assert_one_pack_more(&cache_before, 5, "commit_package in the cache");
    let remote_after = Objects::of(&remote);
    remote_after.assert_one_pack_more(&remote_before, 5, "commit_package in the remote");
    assert_eq!(refs(&remote), refs_before, "a commit moved refs of the remote");

    // The remote's refs did not change, so a fetch writes nothing.
    repo.fetch().expect("fetch");
    assert_eq!(Objects::of(&cache), cache_after, "a fetch with nothing new wrote objects");

    // The push of the probe draft only adds its ref: the objects are there already.
    let probe_ref = repo.draft_ref("g0/probe", "ws");
    repo.push(&[veranda_repo::RefUpdate::set(probe_ref.clone(), &probe)]).expect("push");
    assert_eq!(Objects::of(&remote), remote_after, "the push wrote objects again");
    let mut refs_expected = refs_before.clone();
    refs_expected.insert(probe_ref.clone());
    assert_eq!(refs(&remote), refs_expected);

    // A draft of a new package: again five objects and one ref.
    let (cache_before, remote_before) = (Objects::of(&cache), Objects::of(&remote));
    let draft = create_draft(&repo, "g0/new", "ws", &files(&[("Kptfile", &kptfile("new"))]));
    Objects::of(&cache).assert_one_pack_more(&cache_before, 5, "create draft in the cache");
    Objects::of(&remote).assert_one_pack_more(&remote_before, 5, "create draft in the remote");
    assert_eq!(git(&remote, &["diff-tree", "--name-only", "-r", &draft, "main"]), "g0/new/Kptfile");
    let draft_ref = repo.draft_ref("g0/new", "ws");
    refs_expected.insert(draft_ref.clone());
    assert_eq!(refs(&remote), refs_expected);

    // main did not move since the draft, so the approval merge has the draft's own tree: the
    // merge commit is the one new object. main moves, the tag appears, the draft branch goes.
    let (cache_before, remote_before) = (Objects::of(&cache), Objects::of(&remote));
    repo.approve("g0/new", "ws", &draft, 1, &draft_ref).expect("approve");
    Objects::of(&cache).assert_one_pack_more(&cache_before, 1, "approve in the cache");
    Objects::of(&remote).assert_one_pack_more(&remote_before, 1, "approve in the remote");
    refs_expected.remove(&draft_ref);
    refs_expected.insert("refs/tags/g0/new/v1".to_owned());
    assert_eq!(refs(&remote), refs_expected);

    // The listing after the writes is the listing before plus exactly what they wrote: the
    // probe draft, and the new package's tag and placeholder.
    let revisions = repo.list().expect("list after approval");
    expected.extend([
        "g0/new main -1 Branch Published main".to_owned(),
        "g0/new ws 1 Tag Published g0/new/v1".to_owned(),
        "g0/probe ws 0 Draft Draft drafts/g0/probe/ws".to_owned(),
    ]);
    expected.sort();
    assert_listing(&revisions, &expected);
    assert_eq!(find(&revisions, "g0/new", "main").published_by.as_deref(), Some("porch@kpt.dev"));
    assert_eq!(
        find(&revisions, "g0/p0", "main").published_by.as_deref(),
        Some("approver0@example.com")
    );
    git(&remote, &["fsck", "--strict", "--no-dangling"]);
}

/// The listing's summary lines are `expected`; a failure names only the lines that differ.
#[track_caller]
fn assert_listing(revisions: &[std::sync::Arc<veranda_repo::Discovered>], expected: &[String]) {
    let actual = summary(revisions);
    let (listed, wanted): (BTreeSet<&String>, BTreeSet<&String>) =
        (actual.iter().collect(), expected.iter().collect());
    let missing: Vec<_> = wanted.difference(&listed).collect();
    let unexpected: Vec<_> = listed.difference(&wanted).collect();
    assert!(
        missing.is_empty() && unexpected.is_empty() && actual.len() == expected.len(),
        "listing differs: missing {missing:#?}, unexpected {unexpected:#?}, {} listed, {} expected",
        actual.len(),
        expected.len()
    );
}

fn package_path(idx: usize) -> String {
    format!("g{}/p{idx}", idx / 100)
}

/// Every ref of the bare repository at `dir`.
fn refs(dir: &Path) -> BTreeSet<String> {
    git(dir, &["for-each-ref", "--format=%(refname)"]).lines().map(str::to_owned).collect()
}

/// Objects reachable from `commit` and not from `base`.
fn new_objects(dir: &Path, commit: &str, base: &str) -> usize {
    git(dir, &["rev-list", "--objects", commit, "--not", base]).lines().count()
}

/// The object store of a bare repository: its packs with their object counts, and its loose
/// objects.
#[derive(Debug, PartialEq, Eq)]
struct Objects {
    packs: BTreeSet<(String, usize)>,
    loose: usize,
}

impl Objects {
    fn of(dir: &Path) -> Objects {
        let mut packs = BTreeSet::new();
        for entry in fs::read_dir(dir.join("objects/pack")).expect("pack dir").flatten() {
            let path = entry.path();
            if path.extension().is_some_and(|ext| ext == "idx") {
                let count = git(dir, &["verify-pack", "-v", path.to_str().expect("utf-8")])
                    .lines()
                    .filter(|line| {
                        line.split(' ').next().is_some_and(|id| id.len() == 40)
                            && [" commit ", " tree ", " blob ", " tag "]
                                .iter()
                                .any(|kind| line.contains(kind))
                    })
                    .count();
                let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
                packs.insert((name.expect("file name"), count));
            }
        }
        let mut loose = 0;
        for entry in fs::read_dir(dir.join("objects")).expect("objects dir").flatten() {
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if name.len() == 2 && name.chars().all(|c| c.is_ascii_hexdigit()) {
                loose += fs::read_dir(entry.path()).expect("fan-out dir").count();
            }
        }
        Objects { packs, loose }
    }

    /// `self` is `before` plus one pack of `objects` objects, and no loose objects.
    #[track_caller]
    fn assert_one_pack_more(&self, before: &Objects, objects: usize, what: &str) {
        assert_eq!(self.loose, 0, "{what} wrote loose objects");
        assert!(
            before.packs.is_subset(&self.packs),
            "{what} removed packs: {before:?} -> {self:?}"
        );
        let added: Vec<usize> = self.packs.difference(&before.packs).map(|(_, n)| *n).collect();
        assert_eq!(added, [objects], "{what}: objects of the packs it added");
    }
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
        let path = package_path(idx);
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
    // The draft branches were deleted by their approvals.
    git(remote, &["update-ref", "-d", "refs/heads/scratch"]);
}
