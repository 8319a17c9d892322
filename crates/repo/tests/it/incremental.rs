//! `GitRepo::list_changes`: after this process's own writes only the packages whose refs moved
//! are listed again, and what it hands out always adds up to what a full list of a fresh cache
//! sees; a fetch that moved refs (an external push) makes the next call list everything.

use std::{collections::BTreeMap, sync::Arc};

use veranda_repo::{Discovered, GitRepo, Listing, RefKind, RefUpdate};

use crate::util::{Scratch, create_draft, files, kptfile};

/// What a revision is, for comparing listings: a placeholder by package tree and publication
/// (an unchanged one keeps the older head it was found at), the others by commit.
fn detail(d: &Discovered) -> String {
    let version = match d.kind {
        RefKind::Branch => format!("{}@{:?}", d.tree, d.published_commit),
        _ => d.commit.clone(),
    };
    format!(
        "{} {} {} {:?} {:?} {} {version} {:?}",
        d.package, d.workspace, d.revision, d.kind, d.lifecycle, d.ref_name, d.task
    )
}

/// The index a caller keeps: revisions by package.
#[derive(Default)]
struct Model(BTreeMap<String, Vec<String>>);

impl Model {
    /// Applies the next `list_changes`; the packages it named (`None`: a full listing).
    fn follow(&mut self, repo: &GitRepo) -> Option<Vec<String>> {
        match repo.list_changes().expect("list changes") {
            Listing::Full(all) => {
                self.0.clear();
                for d in &all {
                    self.0.entry(d.package.clone()).or_default().push(detail(d));
                }
                None
            }
            Listing::Packages(packages) => {
                for (package, revisions) in &packages {
                    self.0.remove(package);
                    if !revisions.is_empty() {
                        self.0
                            .insert(package.clone(), revisions.iter().map(|d| detail(d)).collect());
                    }
                }
                Some(packages.into_keys().collect())
            }
        }
    }

    fn sorted(&self) -> Vec<String> {
        let mut all: Vec<String> = self.0.values().flatten().cloned().collect();
        all.sort();
        all
    }
}

/// A full list of a cache opened afresh on the same remote.
fn fresh(scratch: &Scratch, remote: &str, n: &mut usize) -> Vec<String> {
    *n += 1;
    let repo = GitRepo::open(scratch.config(remote, &format!("fresh-{n}"))).expect("open fresh");
    let mut all: Vec<String> =
        repo.list().expect("list").iter().map(|d: &Arc<Discovered>| detail(d)).collect();
    all.sort();
    all
}

#[test]
fn own_writes_list_only_their_packages_and_add_up_to_a_full_list() {
    let scratch = Scratch::new();
    let remote = scratch.bare("remote.git");
    let url = remote.to_str().expect("utf-8").to_owned();
    let mut cfg = scratch.config(&url, "cache");
    cfg.create_branch = true;
    let repo = GitRepo::open(cfg).expect("open");
    let mut model = Model::default();
    let mut n = 0;
    assert_eq!(model.follow(&repo), None, "the first call lists everything");
    // Opening the cache afresh (as reconcile does after a full pass) keeps what discovery knows:
    // the calls below still list only what moved.
    repo.release_caches();

    let a = create_draft(&repo, "a", "ws", &files(&[("Kptfile", &kptfile("a"))]));
    create_draft(&repo, "b", "ws", &files(&[("Kptfile", &kptfile("b"))]));
    assert_eq!(model.follow(&repo), Some(vec!["a".into(), "b".into()]));
    assert_eq!(model.sorted(), fresh(&scratch, &url, &mut n));

    // Propose a: only a is listed again.
    repo.push(&[
        RefUpdate::set(repo.proposed_ref("a", "ws"), a.clone()),
        RefUpdate::delete(repo.draft_ref("a", "ws")).expecting(&a),
    ])
    .expect("propose");
    repo.release_caches();
    assert_eq!(model.follow(&repo), Some(vec!["a".into()]));
    assert_eq!(model.sorted(), fresh(&scratch, &url, &mut n));

    // Approve a: the branch moves, but b's revisions are untouched.
    repo.approve("a", "ws", &a, 1, &repo.proposed_ref("a", "ws")).expect("approve");
    assert_eq!(model.follow(&repo), Some(vec!["a".into()]));
    assert_eq!(model.sorted(), fresh(&scratch, &url, &mut n));

    // Propose deleting a's revision 1, then delete the tag and the proposal.
    let tag = repo.resolve(&repo.tag_ref("a", 1)).expect("resolve").expect("tagged");
    repo.push(&[RefUpdate::set(repo.deletion_proposed_ref("a", 1, "ws"), tag)]).expect("propose");
    assert_eq!(model.follow(&repo), Some(vec!["a".into()]));
    assert_eq!(model.sorted(), fresh(&scratch, &url, &mut n));
    repo.push(&[
        RefUpdate::delete(repo.tag_ref("a", 1)),
        RefUpdate::delete(repo.deletion_proposed_ref("a", 1, "ws")),
    ])
    .expect("delete");
    assert_eq!(model.follow(&repo), Some(vec!["a".into()]));
    assert_eq!(model.sorted(), fresh(&scratch, &url, &mut n));

    // Removing the package from the branch leaves a with no revision.
    repo.remove_package_from_branch("a").expect("remove");
    assert_eq!(model.follow(&repo), Some(vec!["a".into()]));
    assert!(!model.0.contains_key("a"));
    assert_eq!(model.sorted(), fresh(&scratch, &url, &mut n));

    // Nothing moved: nothing to list.
    assert_eq!(model.follow(&repo), Some(vec![]));
}

#[test]
fn an_external_push_is_seen_after_a_fetch() {
    let scratch = Scratch::new();
    let remote = scratch.bare("remote.git");
    let url = remote.to_str().expect("utf-8").to_owned();
    let mut cfg = scratch.config(&url, "cache");
    cfg.create_branch = true;
    let repo = GitRepo::open(cfg).expect("open");
    let mut model = Model::default();
    let mut n = 0;
    model.follow(&repo);
    create_draft(&repo, "a", "ws", &files(&[("Kptfile", &kptfile("a"))]));
    assert_eq!(model.follow(&repo), Some(vec!["a".into()]));

    // Someone else pushes a package and a draft branch.
    let work = scratch.worktree("work", &remote);
    work.write(&[("c/Kptfile", &kptfile("c"))]).commit("add c");
    work.run(&["push", "-q", "origin", "HEAD:main", "HEAD:refs/heads/drafts/c/ext"]);
    // Before a fetch the cache does not know.
    assert_eq!(model.follow(&repo), Some(vec![]));
    repo.fetch().expect("fetch");
    assert_eq!(model.follow(&repo), None, "a fetch that moved refs makes the next call list all");
    assert!(model.0.contains_key("c"));
    assert_eq!(model.sorted(), fresh(&scratch, &url, &mut n));
    // A fetch that moves nothing keeps the next call incremental.
    repo.fetch().expect("fetch");
    assert_eq!(model.follow(&repo), Some(vec![]));
}
