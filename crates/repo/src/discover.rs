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
mod walk;

use std::{
    collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque},
    sync::Arc,
};

use git2::{Commit, ObjectType, Oid, Repository, Sort};
use serde_json::Value;

use crate::{
    Discovered, Error, Lifecycle, RefKind,
    annotation::parse_annotations,
    rawtree,
    stage::{Derived, Edit},
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
    /// Revision found at each ref (full local name), keyed by the ref's target.
    refs: HashMap<String, (Oid, Option<Arc<Discovered>>)>,
    /// Placeholder revisions of the last branch head seen.
    placeholders: Option<Placeholders>,
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

        // New tags are read oldest commit first: a tag's root tree is mostly stored as a delta
        // of a tree written before or after it, and libgit2 keeps the bases it just used, so
        // reading them in the order they were written resolves each delta from a kept base
        // (registering 5,000 tags, reading their trees in name order took 1.7 times as long).
        for (name, target) in self.unknown_tags_by_time(repo, &refs.tags) {
            let short = &name[TAG_PREFIX.len()..];
            self.memo(name, target, |this| this.tag(repo, scope, short, target))?;
        }
        let mut res = Vec::new();
        for (name, target) in &refs.tags {
            let short = &name[TAG_PREFIX.len()..];
            let found = self.memo(name, *target, |this| this.tag(repo, scope, short, *target))?;
            res.extend(found);
        }
        if let Some(head) = refs.branch {
            self.placeholders(repo, scope, head, &Edits::default())?;
            res.extend(self.placeholders.iter().flat_map(|p| p.found.iter().cloned()));
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
        edits: &Edits,
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
        // On error `known` stays taken: the next call must list everything.
        self.tasks.update(repo, tips.into_iter())?;
        let res = self.changes_of(repo, scope, &refs, branch_moved, touched, edits);
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
        branch_moved: bool,
        mut touched: BTreeSet<String>,
        edits: &Edits,
    ) -> Result<BTreeMap<String, Vec<Arc<Discovered>>>, Error> {
        if branch_moved {
            // Placeholders handed out anew changed, and so did packages that went.
            let moved = match refs.branch {
                Some(head) => self.placeholders(repo, scope, head, edits)?,
                None => self
                    .placeholders
                    .take()
                    .map(|p| p.found.iter().map(|d| d.package.clone()).collect())
                    .unwrap_or_default(),
            };
            touched.extend(moved.iter().map(|package| full_path(scope.directory, package)));
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
        if let Some(placeholders) = &self.placeholders
            && let Some(at) = position(&placeholders.found, package)
        {
            res.push(Arc::clone(&placeholders.found[at]));
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

    /// The tags of `tags` not memoised at their target, by the time of their commit (then by
    /// name). A tag whose target is not a commit sorts first; [`Discovery::tag`] skips it.
    fn unknown_tags_by_time<'t>(
        &self,
        repo: &Repository,
        tags: &'t BTreeMap<String, Oid>,
    ) -> Vec<(&'t str, Oid)> {
        let mut unknown: Vec<(i64, &str, Oid)> = tags
            .iter()
            .filter(|(name, target)| self.refs.get(*name).is_none_or(|(known, _)| known != *target))
            .map(|(name, &target)| {
                let time = repo
                    .find_object(target, None)
                    .and_then(|object| object.peel_to_commit())
                    .map_or(i64::MIN, |commit| commit.time().seconds());
                (time, name.as_str(), target)
            })
            .collect();
        unknown.sort_unstable();
        unknown.into_iter().map(|(_, name, target)| (name, target)).collect()
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

    /// Brings the placeholders to the branch head `head`: the packages whose directory tree
    /// changed are read (see [`walk::follow`]), the others handed out as they were (their
    /// commit an older head with the same package content), so callers see that they did not
    /// change. Returns the packages whose placeholder is new, changed or gone.
    fn placeholders(
        &mut self,
        repo: &Repository,
        scope: &Scope<'_>,
        head: Oid,
        edits: &Edits,
    ) -> Result<Vec<String>, Error> {
        if self.placeholders.as_ref().is_some_and(|p| p.head == head) {
            return Ok(Vec::new());
        }
        let restamped = self.branch_history.update(repo, head)?;
        let odb = repo.odb()?;
        let commit = repo.find_commit(head)?;
        let directory = directory_tree(&odb, commit.tree_id(), scope.directory)?;
        let (previous, last) = match self.placeholders.take() {
            Some(p) => (p.found, p.directory),
            None => (Vec::new(), None),
        };
        let (now, followed) = match (last, directory) {
            // A move outside the directory leaves its tree as it was: nothing to read.
            (Some(last), Some(id)) if last.id == id => {
                (Some(last), Some(walk::Diff { packages: kept(previous.len()), gone: Vec::new() }))
            }
            (last, Some(id)) => {
                let raw = walk::read_tree(&odb, id, scope.directory)?;
                let edit = last
                    .as_ref()
                    .filter(|last| last.comparable)
                    .and_then(|last| edits.get(id, last.id));
                let followed = match (&last, edit) {
                    // This process wrote it as an edit of the last one: only the edited entry
                    // is looked at.
                    (_, Some(edit)) => Some(walk::follow_edit(&odb, &previous, edit)?),
                    (Some(last), None) => walk::follow(&odb, &last.raw, &raw, &previous)?,
                    (None, None) => None,
                };
                // A followed tree was read whole, in order: it can be followed again.
                let comparable = followed.is_some() || rawtree::comparable_directory(&raw);
                (Some(Directory { id, raw, comparable }), followed)
            }
            (_, None) => (None, None),
        };
        let diff = match followed {
            Some(diff) => diff,
            None => {
                let packages = match directory {
                    Some(id) => walk::walk(&odb, id)?,
                    None => Vec::new(),
                };
                merge_by_path(&previous, packages)
            }
        };

        let mut touched: Vec<String> =
            diff.gone.iter().map(|&at| previous[at].package.clone()).collect();
        let mut found = Vec::with_capacity(diff.packages.len());
        for package in diff.packages {
            match package {
                walk::Followed::Kept(at) => found.push(Arc::clone(&previous[at])),
                walk::Followed::Found(package) => {
                    touched.push(package.path.clone());
                    found.push(Arc::new(self.placeholder(repo, scope, &commit, package)?));
                }
            }
        }
        // A package whose newest annotated commit changed has a new publication.
        let restamp: Vec<usize> = match restamped {
            Restamped::All => (0..found.len()).collect(),
            Restamped::Packages(fulls) => fulls
                .iter()
                .filter_map(|full| relative_path(scope.directory, full))
                .filter_map(|package| position(&found, package))
                .collect(),
        };
        for at in restamp {
            let full = full_path(scope.directory, &found[at].package);
            let stamp = self.branch_history.latest.get(&full);
            if same_stamp(&found[at], stamp) {
                continue;
            }
            let Ok(tree) = Oid::from_str(&found[at].tree) else { continue };
            let package = walk::Package { path: found[at].package.clone(), tree };
            touched.push(package.path.clone());
            found[at] = Arc::new(self.placeholder(repo, scope, &commit, package)?);
        }
        self.placeholders = Some(Placeholders { head, directory: now, found });
        Ok(touched)
    }

    /// The placeholder revision of `package` at the branch head `commit`.
    fn placeholder(
        &self,
        repo: &Repository,
        scope: &Scope<'_>,
        commit: &Commit<'_>,
        package: walk::Package,
    ) -> Result<Discovered, Error> {
        let full = full_path(scope.directory, &package.path);
        let stamp = self.branch_history.latest.get(&full);
        Ok(Discovered {
            workspace: scope.branch.to_owned(),
            revision: -1,
            kind: RefKind::Branch,
            lifecycle: Lifecycle::Published,
            commit: commit.id().to_string(),
            ref_name: scope.branch.to_owned(),
            tree: package.tree.to_string(),
            published_by: stamp.map(|stamp| stamp.email.clone()),
            published_at: stamp.map(|stamp| stamp.author_time),
            published_commit: stamp.map(|stamp| stamp.commit.to_string()),
            task: self.tasks.creation_task(repo, &full, scope.branch, commit)?,
            package: package.path,
        })
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

/// The placeholder revisions of one branch head.
struct Placeholders {
    head: Oid,
    /// The registered directory's tree at `head`, which the directory at the next head is
    /// compared with.
    directory: Option<Directory>,
    /// In walk order.
    found: Vec<Arc<Discovered>>,
}

/// The registered directory's tree at one head of its branch.
struct Directory {
    id: Oid,
    raw: Arc<[u8]>,
    /// Well formed, in git's order and not a package ([`rawtree::comparable_directory`]).
    comparable: bool,
}

/// Trees this process wrote as an edit of another ([`Derived`]), the newest last.
#[derive(Default)]
pub(crate) struct Edits(VecDeque<(Oid, Derived)>);

impl Edits {
    /// Enough for the trees of the last writes; older ones are read as any other tree.
    const KEPT: usize = 64;

    pub(crate) fn record(&mut self, derived: &HashMap<Oid, Derived>) {
        for (id, derived) in derived {
            self.0.push_back((*id, derived.clone()));
        }
        while self.0.len() > Self::KEPT {
            self.0.pop_front();
        }
    }

    /// How the tree `id` was written from the tree `base`, if this process did.
    fn get(&self, id: Oid, base: Oid) -> Option<&Edit> {
        let (_, derived) = self.0.iter().rev().find(|(at, d)| *at == id && d.base == base)?;
        Some(&derived.edit)
    }
}

/// The tree of `directory` (`/`-separated, empty for the root) below the tree `root`, if it is
/// a directory there.
fn directory_tree(odb: &git2::Odb<'_>, root: Oid, directory: &str) -> Result<Option<Oid>, Error> {
    let mut id = root;
    for (depth, component) in directory.split('/').filter(|c| !c.is_empty()).enumerate() {
        if depth > crate::MAX_TREE_DEPTH {
            return Ok(None);
        }
        let raw = walk::read_tree(odb, id, directory)?;
        match crate::rawtree::find(&raw, component.as_bytes()) {
            Ok(Some(entry)) if entry.is_dir() => id = entry.id(),
            _ => return Ok(None),
        }
    }
    Ok(Some(id))
}

/// Every package of a previous list of `len`, kept.
fn kept(len: usize) -> Vec<walk::Followed> {
    (0..len).map(walk::Followed::Kept).collect()
}

/// `packages` (a full walk) followed from `previous` by path: a package at the same path with
/// the same tree is kept.
fn merge_by_path(previous: &[Arc<Discovered>], packages: Vec<walk::Package>) -> walk::Diff {
    let (mut cursor, mut gone, mut out) = (0, Vec::new(), Vec::with_capacity(packages.len()));
    for package in packages {
        let start = cursor;
        match step(previous, &mut cursor, &package.path, |_| {}) {
            Some(d) if hex_is(&d.tree, package.tree) => {
                gone.extend(start..cursor - 1);
                out.push(walk::Followed::Kept(cursor - 1));
            }
            _ => {
                gone.extend(start..cursor);
                out.push(walk::Followed::Found(package));
            }
        }
    }
    gone.extend(cursor..previous.len());
    walk::Diff { packages: out, gone }
}

/// Where the placeholder of `package` is in `found` (walk order, so a binary search; a list
/// out of that order, from a tree out of git's order, is searched through).
fn position(found: &[Arc<Discovered>], package: &str) -> Option<usize> {
    let key = |path: &str| path.bytes().chain(std::iter::once(b'/')).collect::<Vec<_>>();
    let wanted = key(package);
    found
        .binary_search_by(|d| {
            d.package.bytes().chain(std::iter::once(b'/')).cmp(wanted.iter().copied())
        })
        .ok()
        .filter(|&at| found[at].package == package)
        .or_else(|| found.iter().position(|d| d.package == package))
}

/// Whether the placeholder `d` has the publication `stamp`.
fn same_stamp(d: &Discovered, stamp: Option<&Stamp>) -> bool {
    match (&d.published_commit, stamp) {
        (None, None) => true,
        (Some(commit), Some(stamp)) => hex_is(commit, stamp.commit),
        _ => false,
    }
}

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
/// The tree of the package at `full` in `commit`, if that directory has a `Kptfile`. Reads the
/// trees on the path as raw bytes: every tag of a big directory has its own root tree, and
/// libgit2 would parse each whole.
fn package_tree(repo: &Repository, commit: &Commit<'_>, full: &str) -> Result<Option<Oid>, Error> {
    let odb = repo.odb()?;
    let Some(id) = directory_tree(&odb, commit.tree_id(), full)? else { return Ok(None) };
    let raw = walk::read_tree(&odb, id, full)?;
    Ok(crate::rawtree::has_kptfile(&raw).unwrap_or(false).then_some(id))
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
        let mut batch: HashMap<(String, String), Vec<Candidate>> = HashMap::new();
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
                batch.entry(key).or_default().push(candidate);
            }
        }
        // A commit read now is no ancestor of one read before (that one's ancestors were all
        // read with it), so among commits of the same second it goes first: newest first.
        for (key, mut candidates) in batch {
            let known = self.candidates.entry(key).or_default();
            candidates.append(known);
            candidates.sort_by_key(|candidate| std::cmp::Reverse(candidate.time));
            *known = candidates;
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

/// Which packages' newest annotated commit a move of the branch may have changed.
enum Restamped {
    /// Any (the history was read anew).
    All,
    /// These (full paths).
    Packages(Vec<String>),
}

impl BranchHistory {
    fn update(&mut self, repo: &Repository, head: Oid) -> Result<Restamped, Error> {
        let previous = match self.head {
            Some(old) if old == head => return Ok(Restamped::Packages(Vec::new())),
            Some(old) if repo.graph_descendant_of(head, old)? => Some(old),
            _ => None,
        };
        let mut walk = repo.revwalk()?;
        // Children before parents even within one second (commit times tie often).
        walk.set_sorting(Sort::TOPOLOGICAL | Sort::TIME)?;
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
        let mut restamped = Vec::new();
        for (package, stamp) in found {
            match self.latest.get(&package) {
                Some(old) if old.commit_time > stamp.commit_time => {}
                _ => {
                    restamped.push(package.clone());
                    self.latest.insert(package, stamp);
                }
            }
        }
        self.head = Some(head);
        Ok(match previous {
            Some(_) => Restamped::Packages(restamped),
            None => Restamped::All,
        })
    }
}
