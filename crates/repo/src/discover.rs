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
    collections::{BTreeMap, BTreeSet, HashMap, HashSet},
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
    /// The refs of the last full [`list`](Discovery::list), kept up to date by
    /// [`changes`](Discovery::changes).
    known: Option<RefSet>,
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
        } else {
            self.placeholders = None;
        }
        for (name, (target, kind)) in &refs.drafts {
            let short = &name[TRACKING_PREFIX.len()..];
            let found =
                self.memo(name, *target, |this| this.draft(repo, scope, short, *kind, *target))?;
            res.extend(found);
        }
        self.refs.retain(|name, _| refs.tags.contains_key(name) || refs.drafts.contains_key(name));
        for revision in &mut res {
            mark_deletion_proposed(revision, scope, &refs.deletion_proposed);
        }
        self.known = Some(refs);
        Ok(res)
    }

    /// Whether [`changes`](Discovery::changes) can follow refs from here (a full list ran).
    pub(crate) fn has_listed(&self) -> bool {
        self.known.is_some()
    }

    /// Every current revision of each package that one of the `moved` refs (full local names,
    /// moved or deleted since the last list) may have changed, by package. Reads only those
    /// refs: the cost follows what moved, not the number of refs. Call after a full
    /// [`list`](Discovery::list) only.
    pub(crate) fn changes(
        &mut self,
        repo: &Repository,
        scope: &Scope<'_>,
        moved: &BTreeSet<String>,
    ) -> Result<BTreeMap<String, Vec<Arc<Discovered>>>, Error> {
        let Some(mut refs) = self.known.take() else {
            return Err(Error::Broken {
                path: repo.path().display().to_string(),
                reason: "incremental discovery before a full list".into(),
            });
        };
        let mut touched: BTreeSet<String> = BTreeSet::new();
        let mut branch_moved = false;
        let mut tips = Vec::new();
        for name in moved {
            let target = match repo.find_reference(name) {
                Ok(reference) => reference.target(),
                Err(err) if err.code() == git2::ErrorCode::NotFound => None,
                Err(err) => {
                    self.known = None;
                    return Err(err.into());
                }
            };
            tips.extend(target);
            match refs.set(name, target, scope.branch) {
                Some(Touched::Branch) => branch_moved = true,
                Some(Touched::Package(full)) => {
                    touched.insert(full.to_owned());
                }
                None => {}
            }
            if target.is_none() {
                self.refs.remove(name);
            }
        }
        let res = self.changes_of(repo, scope, &refs, tips, branch_moved, touched);
        // On error the memo may be half updated: the next call must list everything.
        if res.is_ok() {
            self.known = Some(refs);
        }
        res
    }

    fn changes_of(
        &mut self,
        repo: &Repository,
        scope: &Scope<'_>,
        refs: &RefSet,
        tips: Vec<Oid>,
        branch_moved: bool,
        mut touched: BTreeSet<String>,
    ) -> Result<BTreeMap<String, Vec<Arc<Discovered>>>, Error> {
        self.tasks.update(repo, tips.into_iter())?;
        if branch_moved {
            let old =
                self.placeholders.as_ref().map(|(_, found)| found.clone()).unwrap_or_default();
            let new = match refs.branch {
                Some(head) => self.placeholders(repo, scope, head)?,
                None => {
                    self.placeholders = None;
                    Vec::new()
                }
            };
            // Placeholders handed out anew changed, and so did packages that went.
            let mut cursor = 0;
            let mut gone = Vec::new();
            for found in &new {
                let previous = step(&old, &mut cursor, &found.package, |d| gone.push(d));
                if !previous.is_some_and(|previous| Arc::ptr_eq(previous, found)) {
                    touched.insert(full_path(scope.directory, &found.package));
                }
            }
            gone.extend(old.get(cursor..).unwrap_or_default());
            for d in gone {
                touched.insert(full_path(scope.directory, &d.package));
            }
        }
        let mut res = BTreeMap::new();
        for full in &touched {
            let Some(package) = relative_path(scope.directory, full) else { continue };
            let found = self.package_revisions(repo, scope, refs, full, package)?;
            res.insert(package.to_owned(), found);
        }
        Ok(res)
    }

    /// The revisions of the package at `full`, in the order of [`list`](Discovery::list).
    fn package_revisions(
        &mut self,
        repo: &Repository,
        scope: &Scope<'_>,
        refs: &RefSet,
        full: &str,
        package: &str,
    ) -> Result<Vec<Arc<Discovered>>, Error> {
        let mut res = Vec::new();
        let tags = format!("{TAG_PREFIX}{full}/");
        for (name, target) in refs.tags.range(tags.clone()..) {
            if !name.starts_with(&tags) {
                break;
            }
            let short = &name[TAG_PREFIX.len()..];
            if short.rsplit_once('/').map(|(path, _)| path) != Some(full) {
                continue;
            }
            let found = self.memo(name, *target, |this| this.tag(repo, scope, short, *target))?;
            res.extend(found);
        }
        if let Some((_, placeholders)) = &self.placeholders {
            res.extend(placeholders.iter().filter(|d| d.package == package).cloned());
        }
        let mut drafts = Vec::new();
        for prefix in [DRAFTS, PROPOSED] {
            let start = format!("{TRACKING_PREFIX}{prefix}{full}/");
            for (name, (target, kind)) in refs.drafts.range(start.clone()..) {
                if !name.starts_with(&start) {
                    break;
                }
                let short = &name[TRACKING_PREFIX.len()..];
                if short[prefix.len()..].rsplit_once('/').map(|(path, _)| path) == Some(full) {
                    drafts.push((name.clone(), *target, *kind));
                }
            }
        }
        // `list` walks drafts and proposals in ref name order.
        drafts.sort_by(|a, b| a.0.cmp(&b.0));
        for (name, target, kind) in drafts {
            let short = &name[TRACKING_PREFIX.len()..];
            let found =
                self.memo(&name, target, |this| this.draft(repo, scope, short, kind, target))?;
            res.extend(found);
        }
        for revision in &mut res {
            mark_deletion_proposed(revision, scope, &refs.deletion_proposed);
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

        // A placeholder whose package tree and publication did not change is handed out again
        // as it was (its commit an older head with the same package content), so callers see
        // that it did not change; an approval then costs only its own package.
        let old: &[Arc<Discovered>] = self.placeholders.as_ref().map_or(&[], |(_, found)| found);
        let mut cursor = 0;
        let mut found = Vec::with_capacity(packages.len());
        for (package, tree) in packages {
            let full = match scope.directory.is_empty() {
                true => std::borrow::Cow::Borrowed(package.as_str()),
                false => std::borrow::Cow::Owned(full_path(scope.directory, &package)),
            };
            let stamp = self.branch_history.latest.get(full.as_ref());
            let previous = step(old, &mut cursor, &package, |_| {});
            if let Some(previous) = previous
                && hex_is(&previous.tree, tree)
                && match (&previous.published_commit, stamp) {
                    (None, None) => true,
                    (Some(commit), Some(stamp)) => hex_is(commit, stamp.commit),
                    _ => false,
                }
            {
                found.push(Arc::clone(previous));
                continue;
            }
            let full = full.into_owned();
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
/// One step of a merge of two package lists in the order discovery walks them (a package path
/// followed by `/`, byte by byte: git's order of directories, level by level): moves `cursor`
/// in `old` past the packages ordered before `package`, handing each to `skipped`, and returns
/// the one that is `package`, if any. Lists out of that order only make more packages look
/// new or gone, never fewer.
fn step<'a>(
    old: &'a [Arc<Discovered>],
    cursor: &mut usize,
    package: &str,
    mut skipped: impl FnMut(&'a Arc<Discovered>),
) -> Option<&'a Arc<Discovered>> {
    fn key(path: &str) -> impl Iterator<Item = u8> + '_ {
        path.bytes().chain(std::iter::once(b'/'))
    }
    while let Some(d) = old.get(*cursor) {
        match key(&d.package).cmp(key(package)) {
            std::cmp::Ordering::Less => {
                skipped(d);
                *cursor += 1;
            }
            std::cmp::Ordering::Equal => {
                *cursor += 1;
                return Some(d);
            }
            std::cmp::Ordering::Greater => return None,
        }
    }
    None
}

/// Whether `hex` is the lower-case hex form of `id` (without formatting one).
fn hex_is(hex: &str, id: Oid) -> bool {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let hex = hex.as_bytes();
    hex.len() == 40
        && id.as_bytes().iter().enumerate().all(|(i, b)| {
            hex[2 * i] == DIGITS[(b >> 4) as usize] && hex[2 * i + 1] == DIGITS[(b & 15) as usize]
        })
}

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
    /// Sub-directories to search (shared: a directory of thousands of packages is cloned on
    /// every walk).
    Dir(Arc<Vec<(String, Oid)>>),
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
                    let dirs: Vec<(String, Oid)> = object
                        .iter()
                        .filter(|entry| entry.kind() == Some(ObjectType::Tree))
                        .map(|entry| {
                            (String::from_utf8_lossy(entry.name_bytes()).into_owned(), entry.id())
                        })
                        .collect();
                    TreeShape::Dir(Arc::new(dirs))
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
                for (name, id) in dirs.iter().rev() {
                    let sub = if path.is_empty() { name.clone() } else { format!("{path}/{name}") };
                    stack.push((*id, sub, depth + 1));
                }
            }
        }
    }
    out.extend(found);
    Ok(())
}

/// The refs discovery looks at, read once per full list and then followed ref by ref.
struct RefSet {
    branch: Option<Oid>,
    /// Full local name -> (target, kind) of `drafts/` and `proposed/` branches.
    drafts: BTreeMap<String, (Oid, RefKind)>,
    /// Full name -> target of tags.
    tags: BTreeMap<String, Oid>,
    /// Names below `deletionProposed/`.
    deletion_proposed: HashSet<String>,
}

/// What a moved ref changes.
enum Touched<'a> {
    /// The registered branch: the placeholders.
    Branch,
    /// The revisions of the package at this full path.
    Package(&'a str),
}

impl RefSet {
    fn read(repo: &Repository, branch: &str) -> Result<RefSet, Error> {
        let mut refs = RefSet {
            branch: None,
            drafts: BTreeMap::new(),
            tags: BTreeMap::new(),
            deletion_proposed: HashSet::new(),
        };
        for reference in repo.references()? {
            let reference = reference?;
            let (Ok(name), Some(target)) = (reference.name(), reference.target()) else { continue };
            refs.set(name, Some(target), branch);
        }
        Ok(refs)
    }

    /// Records that `name` points at `target` (`None`: deleted); what that touches.
    fn set<'n>(&mut self, name: &'n str, target: Option<Oid>, branch: &str) -> Option<Touched<'n>> {
        if let Some(short) = name.strip_prefix(TRACKING_PREFIX) {
            if short == branch {
                self.branch = target;
                return Some(Touched::Branch);
            }
            let (kind, rest) = if let Some(rest) = short.strip_prefix(DRAFTS) {
                (RefKind::Draft, rest)
            } else if let Some(rest) = short.strip_prefix(PROPOSED) {
                (RefKind::Proposed, rest)
            } else if let Some(rest) = short.strip_prefix(DELETION_PROPOSED) {
                match target {
                    Some(_) => self.deletion_proposed.insert(rest.to_owned()),
                    None => self.deletion_proposed.remove(rest),
                };
                return rest.rsplit_once('/').map(|(full, _)| Touched::Package(full));
            } else {
                return None;
            };
            match target {
                Some(target) => self.drafts.insert(name.to_owned(), (target, kind)),
                None => self.drafts.remove(name),
            };
            rest.rsplit_once('/').map(|(full, _)| Touched::Package(full))
        } else if let Some(short) = name.strip_prefix(TAG_PREFIX) {
            match target {
                Some(target) => self.tags.insert(name.to_owned(), target),
                None => self.tags.remove(name),
            };
            short.rsplit_once('/').map(|(full, _)| Touched::Package(full))
        } else {
            None
        }
    }

    fn tips(&self) -> impl Iterator<Item = Oid> + '_ {
        let drafts = self.drafts.values().map(|(target, _)| *target);
        self.branch.into_iter().chain(drafts).chain(self.tags.values().copied())
    }
}

/// A published revision with a `deletionProposed/` branch is DeletionProposed.
fn mark_deletion_proposed(
    revision: &mut Arc<Discovered>,
    scope: &Scope<'_>,
    deletion_proposed: &HashSet<String>,
) {
    if deletion_proposed.is_empty() || revision.lifecycle != Lifecycle::Published {
        return;
    }
    let full = full_path(scope.directory, &revision.package);
    let name = deletion_proposed_name(&full, revision.revision, &revision.workspace);
    if deletion_proposed.contains(&name) {
        Arc::make_mut(revision).lifecycle = Lifecycle::DeletionProposed;
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
