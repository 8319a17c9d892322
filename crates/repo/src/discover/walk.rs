//! The packages below the registered directory of a branch head (porch.md §2.3): a tree with a
//! `Kptfile` is a package and is not searched further.
//!
//! [`walk`] reads every directory. When the branch moves, [`follow`] compares the directory's new
//! raw tree with the last one, entry by entry, and reads only the sub-directories whose tree
//! changed: an approval in a directory of 5,000 packages reads the two versions of that directory
//! and the one package, and copies what the last walk found for the rest.
//!
//! Both are bounded: a directory more than [`MAX_TREE_DEPTH`] levels below the searched one is
//! [`Error::TooDeep`] and an unreadable or malformed tree [`Error::Broken`]. The walk uses an
//! explicit stack; the comparison recurses at most [`MAX_TREE_DEPTH`] levels.

use std::{cmp::Ordering, sync::Arc};

use git2::{Odb, Oid};

use crate::{Discovered, Error, MAX_TREE_DEPTH, rawtree, stage::Edit, treecache};

/// A package found by a walk: its path below the searched directory, and its tree.
pub(super) struct Package {
    pub(super) path: String,
    pub(super) tree: Oid,
}

/// One package of a followed list.
pub(super) enum Followed {
    /// The package at this index of the previous list, with the same tree.
    Kept(usize),
    /// A package that is new or whose tree changed.
    Found(Package),
}

/// The packages below a directory, followed from those below its previous version.
pub(super) struct Diff {
    /// In walk order.
    pub(super) packages: Vec<Followed>,
    /// Indexes in the previous list of the packages that are gone or changed.
    pub(super) gone: Vec<usize>,
}

/// Reads the tree `id` at `path` (for errors).
pub(super) fn read_tree(odb: &Odb<'_>, id: Oid, path: &str) -> Result<Arc<[u8]>, Error> {
    match treecache::read(odb, id) {
        Ok(raw) => Ok(raw),
        Err(treecache::Unreadable::Git(e)) => Err(crate::tree::broken(path, e)),
        Err(treecache::Unreadable::NotATree) => Err(broken(path, "not a tree")),
    }
}

fn broken(path: &str, reason: &str) -> Error {
    let path = if path.is_empty() { "." } else { path };
    Error::Broken { path: path.to_owned(), reason: reason.to_owned() }
}

/// Every package below the tree `tree`, in walk order (git's order, directory by directory).
pub(super) fn walk(odb: &Odb<'_>, tree: Oid) -> Result<Vec<Package>, Error> {
    let mut out = Vec::new();
    walk_into(odb, tree, String::new(), 0, &mut out)?;
    Ok(out)
}

/// Appends the packages below `tree`, which is at `path`, `depth` levels below the searched
/// directory. A `Kptfile` in the searched directory itself makes no package (its name would be
/// empty) and stops the search.
fn walk_into(
    odb: &Odb<'_>,
    tree: Oid,
    path: String,
    depth: usize,
    out: &mut Vec<Package>,
) -> Result<(), Error> {
    let mut stack = vec![(tree, path, depth)];
    while let Some((tree, path, depth)) = stack.pop() {
        if depth > MAX_TREE_DEPTH {
            return Err(Error::TooDeep { path, limit: MAX_TREE_DEPTH });
        }
        let raw = read_tree(odb, tree, &path)?;
        let mut dirs = Vec::new();
        let mut package = false;
        for entry in rawtree::entries(&raw) {
            let entry = entry.map_err(|_| broken(&path, "malformed tree"))?;
            if entry.is_dir() {
                dirs.push(entry);
            } else if entry.name == b"Kptfile" && entry.is_blob() {
                package = true;
                break;
            }
        }
        if package {
            if !path.is_empty() {
                out.push(Package { path, tree });
            }
            continue;
        }
        let dirs: Vec<_> =
            dirs.into_iter().map(|entry| (child_path(&path, entry.name), entry.id())).collect();
        // Reversed, so entries pop in tree order.
        for (sub, id) in dirs.into_iter().rev() {
            stack.push((id, sub, depth + 1));
        }
    }
    Ok(())
}

fn child_path(path: &str, name: &[u8]) -> String {
    let name = String::from_utf8_lossy(name);
    if path.is_empty() { name.into_owned() } else { format!("{path}/{name}") }
}

/// The packages below the directory tree `new` given `previous`, the list a walk of the tree
/// `old` found (in walk order); `None` when the two cannot be compared entry by entry (either
/// is a package itself or not in git's order): walk instead.
pub(super) fn follow(
    odb: &Odb<'_>,
    old: &[u8],
    new: &[u8],
    previous: &[Arc<Discovered>],
) -> Result<Option<Diff>, Error> {
    let mut follow = Follow {
        odb,
        previous,
        cursor: 0,
        target: Vec::new(),
        out: Diff { packages: Vec::with_capacity(previous.len() + 1), gone: Vec::new() },
    };
    // Read as they are compared: a package or an entry out of order in either tree (found
    // only on the way) makes the whole comparison void.
    let (mut old_dirs, mut new_dirs) = (rawtree::DirStream::new(old), rawtree::DirStream::new(new));
    let compared = follow.dirs(&mut old_dirs, &mut new_dirs, "", 0);
    if old_dirs.stopped.is_some() || new_dirs.stopped.is_some() {
        return Ok(None);
    }
    if let Err(err) = compared {
        // Stopped by an error before either stream reached what makes it incomparable (a
        // `Kptfile` after the directories compared so far): a walk decides.
        if !(rawtree::comparable_directory(old) && rawtree::comparable_directory(new)) {
            return Ok(None);
        }
        return Err(err);
    }
    // Anything left was below a directory the comparison did not see: gone.
    follow.out.gone.extend(follow.cursor..previous.len());
    Ok(Some(follow.out))
}

/// The packages below a directory tree written as `edit` of the tree that the list `previous`
/// was found in (in walk order). That tree must be well formed, in git's order and no package
/// ([`rawtree::comparable_directory`]): the packages at or below the edited name are then one
/// run of `previous`, found by bisection, and only that entry is read.
pub(super) fn follow_edit(
    odb: &Odb<'_>,
    previous: &[Arc<Discovered>],
    edit: &Edit,
) -> Result<Diff, Error> {
    let name = String::from_utf8_lossy(&edit.name).into_owned();
    let start =
        previous.partition_point(|d| relation(d.package.as_bytes(), name.as_bytes()).is_lt());
    let mut packages = Vec::with_capacity(previous.len() + 1);
    packages.extend((0..start).map(Followed::Kept));
    let out = Diff { packages, gone: Vec::new() };
    let mut follow = Follow { odb, previous, cursor: start, target: Vec::new(), out };
    match (edit.removed, edit.added) {
        (Some(old), Some(new)) if old == new => follow.take("", &edit.name, true),
        (Some(old), Some(new)) => follow.changed(old, new, name, 1)?,
        (None, Some(new)) => follow.found(new, name, 1)?,
        (_, None) => {}
    }
    // What is left at or below the name is gone; everything after it stays.
    follow.take("", &edit.name, false);
    let end = follow.cursor;
    follow.out.packages.extend((end..previous.len()).map(Followed::Kept));
    Ok(follow.out)
}

struct Follow<'a, 'o> {
    odb: &'a Odb<'o>,
    previous: &'a [Arc<Discovered>],
    /// The next package of `previous` not yet kept or dropped.
    cursor: usize,
    /// Scratch for the directory path `take` compares with.
    target: Vec<u8>,
    out: Diff,
}

impl Follow<'_, '_> {
    /// Compares the sub-directories `old` and `new` (each in git's order) of two versions of
    /// the directory at `prefix` (`depth` levels down), until either ends or stops.
    fn dirs(
        &mut self,
        old: &mut rawtree::DirStream<'_>,
        new: &mut rawtree::DirStream<'_>,
        prefix: &str,
        depth: usize,
    ) -> Result<(), Error> {
        let (mut old, mut new) = (old.peekable(), new.peekable());
        loop {
            let order = match (old.peek(), new.peek()) {
                (None, None) => break,
                (Some(_), None) => Ordering::Less,
                (None, Some(_)) => Ordering::Greater,
                // The same entry (name, mode and id): the common case, one comparison.
                (Some(a), Some(b)) if a.bytes == b.bytes => {
                    let name = b.name;
                    let (_, _) = (old.next(), new.next());
                    self.take(prefix, name, true);
                    continue;
                }
                (Some(a), Some(b)) => rawtree::git_order(a.name, true, b.name, true),
            };
            match order {
                Ordering::Less => {
                    let Some(gone) = old.next() else { break };
                    self.take(prefix, gone.name, false);
                }
                Ordering::Greater => {
                    let Some(added) = new.next() else { break };
                    self.found(added.id(), child_path(prefix, added.name), depth + 1)?;
                }
                Ordering::Equal => {
                    let (Some(a), Some(b)) = (old.next(), new.next()) else { break };
                    if a.raw_id == b.raw_id {
                        self.take(prefix, b.name, true);
                    } else {
                        self.changed(a.id(), b.id(), child_path(prefix, b.name), depth + 1)?;
                    }
                }
            }
        }
        Ok(())
    }

    /// The directory at `path` went from tree `old` to tree `new`.
    fn changed(&mut self, old: Oid, new: Oid, path: String, depth: usize) -> Result<(), Error> {
        if depth > MAX_TREE_DEPTH {
            return Err(Error::TooDeep { path, limit: MAX_TREE_DEPTH });
        }
        let (old_raw, new_raw) =
            (read_tree(self.odb, old, &path)?, read_tree(self.odb, new, &path)?);
        let (old_raw, new_raw) = (&old_raw[..], &new_raw[..]);
        // Checked first: the comparison cannot be undone halfway.
        if rawtree::comparable_directory(old_raw) && rawtree::comparable_directory(new_raw) {
            let (mut old, mut new) =
                (rawtree::DirStream::new(old_raw), rawtree::DirStream::new(new_raw));
            return self.dirs(&mut old, &mut new, &path, depth);
        }
        self.take_path(&path, false);
        self.found(new, path, depth)
    }

    /// Walks the new tree `tree` at `path`.
    fn found(&mut self, tree: Oid, path: String, depth: usize) -> Result<(), Error> {
        let mut packages = Vec::new();
        walk_into(self.odb, tree, path, depth, &mut packages)?;
        self.out.packages.extend(packages.into_iter().map(Followed::Found));
        Ok(())
    }

    /// Keeps (or drops) the previous packages at or below `prefix/name`.
    fn take(&mut self, prefix: &str, name: &[u8], keep: bool) {
        self.target.clear();
        if !prefix.is_empty() {
            self.target.extend_from_slice(prefix.as_bytes());
            self.target.push(b'/');
        }
        // UTF-8 (`DirStream` stops at any other directory name): the bytes are the path's.
        self.target.extend_from_slice(name);
        while let Some(d) = self.previous.get(self.cursor) {
            match relation(d.package.as_bytes(), &self.target) {
                // Not below any directory the comparison visits in order: gone.
                Ordering::Less => self.out.gone.push(self.cursor),
                Ordering::Equal if keep => self.out.packages.push(Followed::Kept(self.cursor)),
                Ordering::Equal => self.out.gone.push(self.cursor),
                Ordering::Greater => break,
            }
            self.cursor += 1;
        }
    }

    fn take_path(&mut self, path: &str, keep: bool) {
        match path.rsplit_once('/') {
            Some((prefix, name)) => self.take(prefix, name.as_bytes(), keep),
            None => self.take("", path.as_bytes(), keep),
        }
    }
}

/// Where `package` is relative to the directory `dir` in walk order: `Equal` at or below it,
/// `Less` before it, `Greater` after it (both compared as if followed by `/`).
fn relation(package: &[u8], dir: &[u8]) -> Ordering {
    let common = package.len().min(dir.len());
    match package[..common].cmp(&dir[..common]) {
        Ordering::Equal => {}
        other => return other,
    }
    // The byte after the common part, a path's end read as `/`.
    let next = |path: &[u8]| path.get(common).copied().unwrap_or(b'/');
    match next(package).cmp(&next(dir)) {
        // `package` is `dir` or continues with `/`: at or below it.
        Ordering::Equal if package.len() >= dir.len() => Ordering::Equal,
        // `dir` continues with `/` past the package's end: the package is above it.
        Ordering::Equal => Ordering::Less,
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_directory_name_that_is_not_utf8_is_walked_not_followed() {
        // The bytes sort `z` < `\xd0` < `\u{800}`, their lossy paths `z` < `\u{800}` < U+FFFD.
        let mut raw = Vec::new();
        for name in [&b"z"[..], b"\xd0", "\u{800}".as_bytes()] {
            raw.extend_from_slice(b"40000 ");
            raw.extend_from_slice(name);
            raw.push(0);
            raw.extend_from_slice(&[7; 20]);
        }
        let previous: Vec<Arc<Discovered>> = ["z", "\u{fffd}", "\u{800}"]
            .iter()
            .map(|package| {
                Arc::new(Discovered {
                    package: (*package).to_owned(),
                    workspace: "main".into(),
                    revision: -1,
                    kind: veranda_storage::RefKind::Branch,
                    lifecycle: veranda_storage::Lifecycle::Published,
                    commit: "0".repeat(40),
                    ref_name: "main".into(),
                    tree: "7".repeat(40),
                    published_by: None,
                    published_at: None,
                    published_commit: None,
                    task: None,
                })
            })
            .collect();
        let dir = tempfile::tempdir().expect("tempdir");
        let repo = git2::Repository::init_bare(dir.path()).expect("init");
        let odb = repo.odb().expect("odb");
        assert!(follow(&odb, &raw, &raw, &previous).expect("compared").is_none());
    }

    #[test]
    fn packages_relate_to_directories_in_walk_order() {
        let relation = |package: &str, dir: &str| relation(package.as_bytes(), dir.as_bytes());
        assert_eq!(relation("a", "a"), Ordering::Equal);
        assert_eq!(relation("a/b", "a"), Ordering::Equal);
        assert_eq!(relation("a/b/c", "a/b"), Ordering::Equal);
        assert_eq!(relation("a-b", "a"), Ordering::Less, "`a-` sorts before `a/`");
        assert_eq!(relation("ab", "a"), Ordering::Greater);
        assert_eq!(relation("a", "a/b"), Ordering::Less, "a package above the directory");
        assert_eq!(relation("b", "a/b"), Ordering::Greater);
        assert_eq!(relation("a/bc", "a/b"), Ordering::Greater);
        assert_eq!(relation("a/b-c", "a/b"), Ordering::Less);
        assert_eq!(relation("a", "b"), Ordering::Less);
    }
}
