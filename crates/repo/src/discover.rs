//! Package revision discovery (porch.md §2.3, §2.9, §2.10), memoised by object id.
//!
//! Porch re-reads every ref, walks the branch tree and walks commit history per revision on every
//! list. Here every expensive result is keyed by the object ids it depends on:
//! * the shape of each directory tree (package or sub-directories), so a moved branch re-reads only
//!   the trees that changed;
//! * the revision found at each ref, keyed by the ref's target, so an unchanged ref costs a lookup;
//! * a [`TaskIndex`] of creation-task annotations, filled by walking each commit once, ever, which
//!   replaces Porch's per-revision history walk (`loadTasks`);
//! * a [`BranchHistory`] of the newest annotated commit per package on the registered branch,
//!   extended incrementally when the branch moves (Porch's `findLatestPackageCommit`).

#[cfg(test)]
mod tests;

use std::{
    collections::{HashMap, HashSet},
    path::Path,
    sync::Arc,
};

use git2::{Commit, ObjectType, Oid, Repository, Sort};
use serde_json::Value;

use crate::{
    Discovered, Error, Lifecycle, RefKind,
    annotation::parse_annotations,
    transport::{TAG_PREFIX, TRACKING_PREFIX},
};

const DRAFTS: &str = "drafts/";
const PROPOSED: &str = "proposed/";
const DELETION_PROPOSED: &str = "deletionProposed/";

/// The parts of the registration that discovery depends on.
pub(crate) struct Scope<'a> {
    pub(crate) branch: &'a str,
    pub(crate) directory: &'a str,
}

/// Memoised discovery state of one cache repository.
#[derive(Default)]
pub(crate) struct Discovery {
    /// Shape of every tree under the registered directory of the last branch head.
    trees: HashMap<Oid, TreeShape>,
    /// Revision found at each ref (full local name), keyed by the ref's target.
    refs: HashMap<String, (Oid, Option<Arc<Discovered>>)>,
    /// Placeholder revisions of the last branch head seen.
    placeholders: Option<(Oid, Vec<Arc<Discovered>>)>,
    tasks: TaskIndex,
    branch_history: BranchHistory,
}

impl Discovery {
    /// All package revisions under the registered directory, as of the local refs. A revision
    /// whose ref did not move is the same `Arc` as in the previous list.
    pub(crate) fn list(
        &mut self,
        repo: &Repository,
        scope: &Scope<'_>,
    ) -> Result<Vec<Arc<Discovered>>, Error> {
        let refs = RefSet::read(repo, scope.branch)?;
        self.tasks.update(repo, refs.tips())?;

        let mut res = Vec::new();
        for (name, target) in &refs.tags {
            let short = &name[TAG_PREFIX.len()..];
            let found = self.memo(name, *target, |this| this.tag(repo, scope, short, *target))?;
            res.extend(found);
        }
        if let Some(head) = refs.branch {
            res.extend(self.placeholders(repo, scope, head)?);
        }
        for (name, target, kind) in &refs.drafts {
            let short = &name[TRACKING_PREFIX.len()..];
            let found =
                self.memo(name, *target, |this| this.draft(repo, scope, short, *kind, *target))?;
            res.extend(found);
        }
        let live: HashSet<&str> = refs
            .tags
            .iter()
            .map(|(name, _)| name.as_str())
            .chain(refs.drafts.iter().map(|(name, _, _)| name.as_str()))
            .collect();
        self.refs.retain(|name, _| live.contains(name.as_str()));

        for revision in &mut res {
            if refs.deletion_proposed.is_empty() {
                break;
            }
            if revision.lifecycle != Lifecycle::Published {
                continue;
            }
            let full = full_path(scope.directory, &revision.package);
            let name = deletion_proposed_name(&full, revision.revision, &revision.workspace);
            if refs.deletion_proposed.contains(&name) {
                Arc::make_mut(revision).lifecycle = Lifecycle::DeletionProposed;
            }
        }
        Ok(res)
    }

    fn memo(
        &mut self,
        name: &str,
        target: Oid,
        compute: impl FnOnce(&Self) -> Result<Option<Discovered>, Error>,
    ) -> Result<Option<Arc<Discovered>>, Error> {
        if let Some((known, found)) = self.refs.get(name)
            && *known == target
        {
            return Ok(found.clone());
        }
        let found = compute(self)?.map(Arc::new);
        self.refs.insert(name.to_owned(), (target, found.clone()));
        Ok(found)
    }

    fn placeholders(
        &mut self,
        repo: &Repository,
        scope: &Scope<'_>,
        head: Oid,
    ) -> Result<Vec<Arc<Discovered>>, Error> {
        if let Some((known, found)) = &self.placeholders
            && *known == head
        {
            return Ok(found.clone());
        }
        self.branch_history.update(repo, head)?;
        let commit = repo.find_commit(head)?;
        let root = commit.tree()?;
        let directory = if scope.directory.is_empty() {
            Some(root.id())
        } else {
            match root.get_path(Path::new(scope.directory)) {
                Ok(entry) if entry.kind() == Some(ObjectType::Tree) => Some(entry.id()),
                _ => None,
            }
        };
        let mut packages = Vec::new();
        let mut trees = HashMap::new();
        if let Some(directory) = directory {
            find_packages(repo, directory, String::new(), &self.trees, &mut trees, &mut packages)?;
        }
        self.trees = trees;

        let mut found = Vec::with_capacity(packages.len());
        for (package, tree) in packages {
            let full = full_path(scope.directory, &package);
            let stamp = self.branch_history.latest.get(&full);
            found.push(Arc::new(Discovered {
                workspace: scope.branch.to_owned(),
                revision: -1,
                kind: RefKind::Branch,
                lifecycle: Lifecycle::Published,
                commit: head.to_string(),
                ref_name: scope.branch.to_owned(),
                tree: tree.to_string(),
                published_by: stamp.map(|stamp| stamp.email.clone()),
                published_at: stamp.map(|stamp| stamp.author_time),
                published_commit: stamp.map(|stamp| stamp.commit.to_string()),
                task: self.tasks.creation_task(repo, &full, scope.branch, &commit)?,
                package,
            }));
        }
        self.placeholders = Some((head, found.clone()));
        Ok(found)
    }

    fn draft(
        &self,
        repo: &Repository,
        scope: &Scope<'_>,
        short: &str,
        kind: RefKind,
        target: Oid,
    ) -> Result<Option<Discovered>, Error> {
        let (prefix, lifecycle) = match kind {
            RefKind::Proposed => (PROPOSED, Lifecycle::Proposed),
            _ => (DRAFTS, Lifecycle::Draft),
        };
        let Some((full, workspace)) = short[prefix.len()..].rsplit_once('/') else {
            tracing::debug!(short, "ignoring draft branch without a workspace name");
            return Ok(None);
        };
        let Some(package) = relative_path(scope.directory, full) else { return Ok(None) };
        let Ok(commit) = repo.find_object(target, None)?.peel_to_commit() else { return Ok(None) };
        let Some(tree) = package_tree(repo, &commit, full)? else {
            tracing::debug!(short, "ignoring draft branch without a package");
            return Ok(None);
        };
        Ok(Some(Discovered {
            package: package.to_owned(),
            workspace: workspace.to_owned(),
            revision: 0,
            kind,
            lifecycle,
            commit: commit.id().to_string(),
            ref_name: short.to_owned(),
            tree: tree.to_string(),
            published_by: None,
            published_at: None,
            published_commit: None,
            task: self.tasks.creation_task(repo, full, workspace, &commit)?,
        }))
    }

    fn tag(
        &self,
        repo: &Repository,
        scope: &Scope<'_>,
        short: &str,
        target: Oid,
    ) -> Result<Option<Discovered>, Error> {
        // Tags without a "/" are release tags and the like, not package revisions.
        let Some((full, version)) = short.rsplit_once('/') else { return Ok(None) };
        let Some(package) = relative_path(scope.directory, full) else { return Ok(None) };
        let Ok(commit) = repo.find_object(target, None)?.peel_to_commit() else { return Ok(None) };
        let Some(tree) = package_tree(repo, &commit, full)? else {
            tracing::debug!(short, "ignoring tag without a package");
            return Ok(None);
        };
        let revision = revision_number(version);
        let workspace = if revision == -1 {
            version.to_owned()
        } else {
            let message = String::from_utf8_lossy(commit.message_raw_bytes());
            parse_annotations(&message)
                .into_iter()
                .find(|annotation| {
                    annotation.package == full && !annotation.workspace_name.is_empty()
                })
                .map_or_else(|| format!("v{revision}"), |annotation| annotation.workspace_name)
        };
        let author = commit.author();
        Ok(Some(Discovered {
            package: package.to_owned(),
            task: self.tasks.creation_task(repo, full, &workspace, &commit)?,
            workspace,
            revision,
            kind: RefKind::Tag,
            lifecycle: Lifecycle::Published,
            commit: commit.id().to_string(),
            ref_name: short.to_owned(),
            tree: tree.to_string(),
            published_by: Some(String::from_utf8_lossy(author.email_bytes()).into_owned()),
            published_at: Some(author.when().seconds()),
            published_commit: None,
        }))
    }
}

/// `Revision2Int`: strip one leading `v` and parse; anything else is -1.
pub(crate) fn revision_number(version: &str) -> i64 {
    version.strip_prefix('v').unwrap_or(version).parse().unwrap_or(-1)
}

/// `directory/package`, or either alone when the other is empty.
pub(crate) fn full_path(directory: &str, package: &str) -> String {
    match (directory.is_empty(), package.is_empty()) {
        (true, _) => package.to_owned(),
        (_, true) => directory.to_owned(),
        _ => format!("{directory}/{package}"),
    }
}

/// Name of the deletion-proposed branch below `deletionProposed/` (porch.md §2.2).
pub(crate) fn deletion_proposed_name(full: &str, revision: i64, workspace: &str) -> String {
    if revision > 0 { format!("{full}/v{revision}") } else { format!("{full}/{workspace}") }
}

/// The package path relative to `directory`, if `full` is a package strictly inside it.
fn relative_path<'a>(directory: &str, full: &'a str) -> Option<&'a str> {
    let relative = if directory.is_empty() {
        full
    } else {
        full.strip_prefix(directory)?.strip_prefix('/')?
    };
    (!relative.is_empty()).then_some(relative)
}

/// The tree of the package at `full` in `commit`, if that directory has a `Kptfile`.
fn package_tree(repo: &Repository, commit: &Commit<'_>, full: &str) -> Result<Option<Oid>, Error> {
    let Ok(entry) = commit.tree()?.get_path(Path::new(full)) else { return Ok(None) };
    if entry.kind() != Some(ObjectType::Tree) {
        return Ok(None);
    }
    let tree = repo.find_tree(entry.id())?;
    Ok(has_kptfile(&tree).then_some(tree.id()))
}

fn has_kptfile(tree: &git2::Tree<'_>) -> bool {
    tree.get_name("Kptfile").is_some_and(|entry| entry.kind() == Some(ObjectType::Blob))
}

/// What discovery needs to know about one tree.
#[derive(Clone)]
enum TreeShape {
    /// The tree has a `Kptfile`: it is a package and is not searched further.
    Package,
    /// Sub-directories to search.
    Dir(Vec<(String, Oid)>),
}

/// Appends `(path relative to the searched directory, tree)` for every package below `tree`.
/// Shapes come from `known` when possible and everything visited is recorded in `visited`, so
/// shapes of trees no longer reachable are dropped. Iterative (an explicit stack, so a hostile
/// tree cannot overflow the thread's stack) and bounded: a directory more than
/// [`MAX_TREE_DEPTH`](crate::MAX_TREE_DEPTH) levels below `tree` is [`Error::TooDeep`], an
/// unreadable tree [`Error::Broken`].
fn find_packages(
    repo: &Repository,
    tree: Oid,
    path: String,
    known: &HashMap<Oid, TreeShape>,
    visited: &mut HashMap<Oid, TreeShape>,
    out: &mut Vec<(String, Oid)>,
) -> Result<(), Error> {
    let mut stack = vec![(tree, path, 0usize)];
    let mut found = Vec::new();
    while let Some((tree, path, depth)) = stack.pop() {
        if depth > crate::MAX_TREE_DEPTH {
            return Err(Error::TooDeep { path, limit: crate::MAX_TREE_DEPTH });
        }
        let shape = match visited.get(&tree).or_else(|| known.get(&tree)) {
            Some(shape) => shape.clone(),
            None => {
                let object = repo.find_tree(tree).map_err(|e| crate::tree::broken(&path, e))?;
                if has_kptfile(&object) {
                    TreeShape::Package
                } else {
                    let dirs = object
                        .iter()
                        .filter(|entry| entry.kind() == Some(ObjectType::Tree))
                        .map(|entry| {
                            (String::from_utf8_lossy(entry.name_bytes()).into_owned(), entry.id())
                        })
                        .collect();
                    TreeShape::Dir(dirs)
                }
            }
        };
        visited.insert(tree, shape.clone());
        match shape {
            // A Kptfile directly in the registered directory would make a package with an empty
            // name.
            TreeShape::Package if path.is_empty() => {}
            TreeShape::Package => found.push((path, tree)),
            TreeShape::Dir(dirs) => {
                // Reversed, so entries pop in tree order (the order of the recursive walk).
                for (name, id) in dirs.into_iter().rev() {
                    let sub = if path.is_empty() { name } else { format!("{path}/{name}") };
                    stack.push((id, sub, depth + 1));
                }
            }
        }
    }
    out.extend(found);
    Ok(())
}

/// The refs discovery looks at, read once per list.
struct RefSet {
    branch: Option<Oid>,
    /// (full local name, target, kind) of `drafts/` and `proposed/` branches.
    drafts: Vec<(String, Oid, RefKind)>,
    /// (full name, target) of tags.
    tags: Vec<(String, Oid)>,
    /// Names below `deletionProposed/`.
    deletion_proposed: HashSet<String>,
}

impl RefSet {
    fn read(repo: &Repository, branch: &str) -> Result<RefSet, Error> {
        let mut refs = RefSet {
            branch: None,
            drafts: Vec::new(),
            tags: Vec::new(),
            deletion_proposed: HashSet::new(),
        };
        for reference in repo.references()? {
            let reference = reference?;
            let (Ok(name), Some(target)) = (reference.name(), reference.target()) else { continue };
            if let Some(short) = name.strip_prefix(TRACKING_PREFIX) {
                if short == branch {
                    refs.branch = Some(target);
                } else if short.starts_with(DRAFTS) {
                    refs.drafts.push((name.to_owned(), target, RefKind::Draft));
                } else if short.starts_with(PROPOSED) {
                    refs.drafts.push((name.to_owned(), target, RefKind::Proposed));
                } else if let Some(rest) = short.strip_prefix(DELETION_PROPOSED) {
                    refs.deletion_proposed.insert(rest.to_owned());
                }
            } else if name.starts_with(TAG_PREFIX) {
                refs.tags.push((name.to_owned(), target));
            }
        }
        refs.tags.sort();
        refs.drafts.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(refs)
    }

    fn tips(&self) -> impl Iterator<Item = Oid> + '_ {
        let drafts = self.drafts.iter().map(|(_, target, _)| *target);
        self.branch.into_iter().chain(drafts).chain(self.tags.iter().map(|(_, target)| *target))
    }
}

/// Creation-task annotations of every commit reachable from the discovered refs.
///
/// Porch's `loadTasks` walks history from a revision's commit, newest first, remembering the last
/// matching annotation with an init/clone/edit/upgrade task and stopping at the first init or
/// clone. Only those annotations can affect the result, so they are collected once per commit and
/// the walk is replayed over the few that match a revision.
#[derive(Default)]
struct TaskIndex {
    /// Commits (and annotated tag objects) already read.
    walked: HashSet<Oid>,
    /// Candidates by (full package path, workspace), newest first. Legacy annotations without a
    /// workspace name are filed under their revision, which is how Porch matches them.
    candidates: HashMap<(String, String), Vec<Candidate>>,
}

struct Candidate {
    commit: Oid,
    time: i64,
    task: Value,
    /// An init or clone task: the walk stops here.
    starts_revision: bool,
}

impl TaskIndex {
    fn update(&mut self, repo: &Repository, tips: impl Iterator<Item = Oid>) -> Result<(), Error> {
        let mut pending: Vec<Oid> = tips.filter(|tip| !self.walked.contains(tip)).collect();
        let mut touched = HashSet::new();
        while let Some(id) = pending.pop() {
            if !self.walked.insert(id) {
                continue;
            }
            let object = repo.find_object(id, None)?;
            let commit = match object.kind() {
                Some(ObjectType::Commit) => object.peel_to_commit()?,
                Some(ObjectType::Tag) => {
                    if let Some(tag) = object.as_tag() {
                        pending.push(tag.target_id());
                    }
                    continue;
                }
                _ => continue,
            };
            pending.extend(commit.parent_ids().filter(|parent| !self.walked.contains(parent)));
            let message = commit.message_raw_bytes();
            if !message.windows(4).any(|window| window == b"kpt:") {
                continue;
            }
            for annotation in parse_annotations(&String::from_utf8_lossy(message)) {
                let Some(task_type) = annotation.task_type() else { continue };
                if !matches!(task_type, "init" | "clone" | "edit" | "upgrade") {
                    continue;
                }
                let starts_revision = matches!(task_type, "init" | "clone");
                let workspace = if annotation.workspace_name.is_empty() {
                    annotation.revision
                } else {
                    annotation.workspace_name
                };
                let key = (annotation.package, workspace);
                let Some(task) = annotation.task else { continue };
                let candidate =
                    Candidate { commit: id, time: commit.time().seconds(), task, starts_revision };
                self.candidates.entry(key.clone()).or_default().push(candidate);
                touched.insert(key);
            }
        }
        for key in touched {
            if let Some(candidates) = self.candidates.get_mut(&key) {
                candidates.sort_by_key(|candidate| std::cmp::Reverse(candidate.time));
            }
        }
        Ok(())
    }

    /// The creation task of revision (`full`, `workspace`) at `commit`.
    fn creation_task(
        &self,
        repo: &Repository,
        full: &str,
        workspace: &str,
        commit: &Commit<'_>,
    ) -> Result<Option<Value>, Error> {
        let Some(candidates) = self.candidates.get(&(full.to_owned(), workspace.to_owned())) else {
            return Ok(None);
        };
        let id = commit.id();
        let time = commit.time().seconds();
        // A commit's ancestors are not newer than it; with one candidate left (the usual case:
        // the commit that created the revision) that is enough, otherwise check ancestry.
        let mut reachable: Vec<&Candidate> = candidates
            .iter()
            .filter(|candidate| candidate.commit == id || candidate.time <= time)
            .collect();
        if reachable.len() > 1 {
            let mut checked = Vec::with_capacity(reachable.len());
            for candidate in reachable {
                if candidate.commit == id || repo.graph_descendant_of(id, candidate.commit)? {
                    checked.push(candidate);
                }
            }
            reachable = checked;
        }
        let mut task = None;
        for candidate in reachable {
            task = Some(&candidate.task);
            if candidate.starts_revision {
                break;
            }
        }
        Ok(task.cloned())
    }
}

/// The newest annotated commit per package in the registered branch's history (porch.md §2.9).
#[derive(Default)]
struct BranchHistory {
    head: Option<Oid>,
    /// By full package path.
    latest: HashMap<String, Stamp>,
}

struct Stamp {
    commit: Oid,
    /// Committer time, which orders the history walk.
    commit_time: i64,
    email: String,
    author_time: i64,
}

impl BranchHistory {
    fn update(&mut self, repo: &Repository, head: Oid) -> Result<(), Error> {
        let previous = match self.head {
            Some(old) if old == head => return Ok(()),
            Some(old) if repo.graph_descendant_of(head, old)? => Some(old),
            _ => None,
        };
        let mut walk = repo.revwalk()?;
        walk.set_sorting(Sort::TIME)?;
        walk.push(head)?;
        match previous {
            Some(old) => walk.hide(old)?,
            None => self.latest.clear(),
        }
        let mut found: HashMap<String, Stamp> = HashMap::new();
        for id in walk {
            let commit = repo.find_commit(id?)?;
            let message = commit.message_raw_bytes();
            if !message.windows(4).any(|window| window == b"kpt:") {
                continue;
            }
            for annotation in parse_annotations(&String::from_utf8_lossy(message)) {
                found.entry(annotation.package).or_insert_with(|| {
                    let author = commit.author();
                    Stamp {
                        commit: commit.id(),
                        commit_time: commit.time().seconds(),
                        email: String::from_utf8_lossy(author.email_bytes()).into_owned(),
                        author_time: author.when().seconds(),
                    }
                });
            }
        }
        for (package, stamp) in found {
            match self.latest.get(&package) {
                Some(old) if old.commit_time > stamp.commit_time => {}
                _ => {
                    self.latest.insert(package, stamp);
                }
            }
        }
        self.head = Some(head);
        Ok(())
    }
}
