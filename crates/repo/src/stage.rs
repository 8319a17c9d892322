//! Staged object writes: the objects one operation creates are collected in memory and reach disk
//! as a single pack.
//!
//! libgit2 writes every new object as its own loose file, and before writing one it looks for it
//! in every backend, rescanning the pack directories when it is not found. A package of a hundred
//! files was a hundred file creations and a hundred directory scans per commit, which dominated
//! the cost of a write (docs/PERFORMANCE.md). A [`Stage`] builds in a throwaway repository whose
//! only object store is an in-memory `mempack`, reads existing objects from the cache, and
//! [`stage`] packs the objects the cache does not have yet once the operation is done.

use std::{
    cell::RefCell,
    collections::{HashMap, HashSet},
    io::Write,
    sync::Arc,
};

use git2::{
    Commit, ObjectType, Odb, OdbLookupFlags, Oid, Repository, Signature, Tree, TreeBuilder,
};

use crate::{Error, packfile, packfile::Pack, rawtree, treecache};

/// The write side of one operation: builds objects in memory on top of the objects of a cache.
pub(crate) struct Stage<'r> {
    /// The throwaway repository whose object database is the mempack.
    repo: &'r Repository,
    cache: &'r Repository,
    written: RefCell<Vec<(Oid, ObjectType)>>,
    derived: RefCell<HashMap<Oid, Derived>>,
    /// Trees written by [`Stage::spliced_tree`], by id. They are not in the mempack: libgit2
    /// would hash them again (see there).
    spliced: RefCell<HashMap<Oid, Arc<[u8]>>>,
    /// Spliced trees written into the mempack after all (see [`Stage::hand_over`]).
    handed_over: RefCell<HashSet<Oid>>,
}

/// A tree written as another tree with one directory entry replaced or removed.
#[derive(Clone)]
pub(crate) struct Derived {
    pub(crate) base: Oid,
    pub(crate) edit: Edit,
}

/// The entry of a tree that an edit replaced.
#[derive(Clone, Debug)]
pub(crate) struct Edit {
    pub(crate) name: Vec<u8>,
    /// The directory the name held in the base, if it was one.
    pub(crate) removed: Option<Oid>,
    /// The directory put in, if any.
    pub(crate) added: Option<Oid>,
}

/// What a [`stage`]d operation wrote.
pub(crate) struct Staged {
    /// A pack and its index of the written objects the cache lacked; `None` when it had them all.
    pub(crate) pack: Option<Pack>,
    /// Every object the operation wrote, new or not, once each, with its kind.
    pub(crate) written: Vec<(Oid, ObjectType)>,
    /// Trees written as an edit of another tree (see [`missing_references`]).
    pub(crate) derived: HashMap<Oid, Derived>,
}

impl Staged {
    /// Number of objects in [`Staged::pack`].
    #[cfg(test)]
    pub(crate) fn object_count(&self) -> u32 {
        self.pack.as_ref().map_or(0, Pack::count)
    }
}

/// Runs `build` against a [`Stage`] over the repository `cache` and returns its result with the
/// objects it wrote; nothing reaches `cache` until the caller writes [`Staged::pack`].
pub(crate) fn stage<T>(
    cache: &Repository,
    build: impl FnOnce(&Stage<'_>) -> Result<T, Error>,
) -> Result<(T, Staged), Error> {
    let odb = Odb::new()?;
    // The mempack's own dump is not used: it packs each commit with its whole tree, new or not.
    let _mempack = odb.add_new_mempack_backend(1)?;
    let repo = Repository::from_odb(odb)?;
    let stage = Stage {
        repo: &repo,
        cache,
        written: RefCell::default(),
        derived: RefCell::default(),
        spliced: RefCell::default(),
        handed_over: RefCell::default(),
    };
    let out = build(&stage)?;
    let (mut written, derived) = (stage.written.into_inner(), stage.derived.into_inner());
    let spliced = stage.spliced.into_inner();
    let mut seen = HashSet::new();
    written.retain(|(id, _)| seen.insert(*id));
    let (cache_odb, stage_odb) = (cache.odb()?, repo.odb()?);
    let mut builder = packfile::Builder::new();
    for &(id, kind) in &written {
        let stored = cache_odb.exists_ext(id, OdbLookupFlags::NO_REFRESH);
        match spliced.get(&id) {
            // Hashed without collision detection: an id the cache has already must hold these
            // very bytes, or the tree would silently be another one.
            Some(raw) if stored && cache_odb.read(id)?.data() != &raw[..] => {
                let message = format!("the spliced tree {id} collides with a stored object");
                return Err(git2::Error::from_str(&message).into());
            }
            Some(raw) => {
                if !stored {
                    builder.add(id, kind, raw)?;
                }
                // Usually the next tree read: the base of the next write, or the branch
                // followed.
                treecache::keep(id, raw);
            }
            None if !stored => builder.add(id, kind, stage_odb.read(id)?.data())?,
            None => {}
        }
    }
    let pack = match builder.is_empty() {
        true => None,
        false => Some(builder.finish()?),
    };
    Ok((out, Staged { pack, written, derived }))
}

impl<'r> Stage<'r> {
    /// A commit written in this stage or present in the cache.
    pub(crate) fn find_commit(&self, id: Oid) -> Result<Commit<'r>, Error> {
        let commit = self.repo.find_commit(id).or_else(|_| self.cache.find_commit(id))?;
        self.hand_over(commit.tree_id())?;
        Ok(commit)
    }

    /// A tree written in this stage or present in the cache.
    pub(crate) fn find_tree(&self, id: Oid) -> Result<Tree<'r>, Error> {
        self.hand_over(id)?;
        Ok(self.repo.find_tree(id).or_else(|_| self.cache.find_tree(id))?)
    }

    /// Writes the spliced tree `id`, and the spliced trees below it, into the mempack, so
    /// libgit2 finds them when it walks from a handle this stage gives out (a fallback: the
    /// writes themselves read trees as bytes).
    pub(crate) fn hand_over(&self, id: Oid) -> Result<(), Error> {
        let Some(raw) = self.spliced.borrow().get(&id).map(Arc::clone) else { return Ok(()) };
        if self.handed_over.borrow().contains(&id) {
            return Ok(());
        }
        if self.repo.odb()?.write(ObjectType::Tree, &raw)? != id {
            let message = format!("the spliced tree {id} hashes differently");
            return Err(git2::Error::from_str(&message).into());
        }
        self.handed_over.borrow_mut().insert(id);
        for entry in rawtree::entries(&raw) {
            let entry = entry.map_err(|_| git2::Error::from_str("a spliced tree is malformed"))?;
            if entry.is_dir() {
                self.hand_over(entry.id())?;
            }
        }
        Ok(())
    }

    /// The content of a blob written in this stage or present in the cache.
    #[cfg(test)]
    pub(crate) fn find_blob(&self, id: Oid) -> Result<Vec<u8>, Error> {
        let blob = self.repo.find_blob(id).or_else(|_| self.cache.find_blob(id))?;
        Ok(blob.content().to_vec())
    }

    /// The raw content of a tree written in this stage or present in the cache.
    pub(crate) fn raw_tree(&self, id: Oid) -> Result<Arc<[u8]>, Error> {
        let not_a_tree = || git2::Error::from_str(&format!("object {id} is not a tree"));
        if let Some(raw) = self.spliced.borrow().get(&id) {
            return Ok(Arc::clone(raw));
        }
        if let Ok(object) = self.repo.odb()?.read(id) {
            return match object.kind() {
                ObjectType::Tree => Ok(Arc::from(object.data())),
                _ => Err(not_a_tree().into()),
            };
        }
        match treecache::read(&self.cache.odb()?, id) {
            Ok(raw) => Ok(raw),
            Err(treecache::Unreadable::Git(e)) => Err(e.into()),
            Err(treecache::Unreadable::NotATree) => Err(not_a_tree().into()),
        }
    }

    /// Writes a tree veranda spliced from a tree of the repository (one entry of `base`'s bytes
    /// replaced, see `tree::replace_dir`), hashed with the CPU's SHA-1 instructions.
    ///
    /// libgit2 hashes with collision detection, at about 200 MB/s: a directory of 5,000
    /// packages (200 KB) took a fifth of a write (docs/PERFORMANCE.md). Detection guards
    /// against one object being passed off as another of the same id. Here every byte but one
    /// entry (a validated path segment and a tree id) comes from a tree already stored, so
    /// crafted bytes in it come from someone who can push to this repository; the other half of
    /// a collision would have to reach some object database, and every other way in (git's and
    /// libgit2's receiving of packs, libgit2's hashing of blobs and of a package's own trees
    /// here) detects it; and [`stage`] refuses a spliced id the cache already holds with other
    /// bytes.
    pub(crate) fn spliced_tree(&self, data: &[u8]) -> Result<Oid, Error> {
        let mut hasher = openssl::sha::Sha1::new();
        hasher.update(format!("tree {}\0", data.len()).as_bytes());
        hasher.update(data);
        let id = Oid::from_bytes(&hasher.finish())?;
        // Kept for other reads (`treecache`) once `stage` has checked it against the cache.
        self.spliced.borrow_mut().insert(id, Arc::from(data));
        self.written.borrow_mut().push((id, ObjectType::Tree));
        Ok(id)
    }

    /// Records that the tree `id` is `base` with `edit` applied.
    pub(crate) fn derived(&self, id: Oid, base: Oid, edit: Edit) {
        self.derived.borrow_mut().insert(id, Derived { base, edit });
    }

    /// A tree builder starting from the entries of `base` (from either repository).
    pub(crate) fn builder(&self, base: Option<&Tree<'_>>) -> Result<TreeBuilder<'r>, Error> {
        Ok(self.repo.treebuilder(base)?)
    }

    /// Writes a blob.
    pub(crate) fn blob(&self, content: &[u8]) -> Result<Oid, Error> {
        let id = self.repo.blob(content)?;
        self.written.borrow_mut().push((id, ObjectType::Blob));
        Ok(id)
    }

    /// Writes the tree a builder holds.
    pub(crate) fn tree(&self, builder: &TreeBuilder<'_>) -> Result<Oid, Error> {
        let id = builder.write()?;
        self.written.borrow_mut().push((id, ObjectType::Tree));
        Ok(id)
    }

    /// Writes a commit of `tree` with `parents`, byte for byte as `git commit-tree` would.
    pub(crate) fn commit(
        &self,
        author: &Signature<'_>,
        committer: &Signature<'_>,
        message: &str,
        tree: Oid,
        parents: &[Oid],
    ) -> Result<Oid, Error> {
        let mut raw = Vec::with_capacity(256 + message.len());
        let io = |err: std::io::Error| git2::Error::from_str(&format!("formatting commit: {err}"));
        writeln!(raw, "tree {tree}").map_err(io)?;
        for parent in parents {
            writeln!(raw, "parent {parent}").map_err(io)?;
        }
        write_signature(&mut raw, "author", author).map_err(io)?;
        write_signature(&mut raw, "committer", committer).map_err(io)?;
        raw.push(b'\n');
        raw.extend_from_slice(message.as_bytes());
        let id = self.repo.odb()?.write(ObjectType::Commit, &raw)?;
        self.written.borrow_mut().push((id, ObjectType::Commit));
        Ok(id)
    }
}

/// `<header> Name <email> <seconds> <+hhmm>` as git writes it.
fn write_signature(
    out: &mut Vec<u8>,
    header: &str,
    signature: &Signature<'_>,
) -> std::io::Result<()> {
    let when = signature.when();
    let offset = when.offset_minutes();
    let sign = if offset < 0 { '-' } else { '+' };
    let offset = offset.unsigned_abs();
    write!(out, "{header} ")?;
    out.extend_from_slice(signature.name_bytes());
    out.extend_from_slice(b" <");
    out.extend_from_slice(signature.email_bytes());
    writeln!(out, "> {} {sign}{:02}{:02}", when.seconds(), offset / 60, offset % 60)
}

/// Objects referenced by the `written` objects that `odb` (refreshed by the caller) does not
/// have. Written objects are read from `source`; an empty result means the written objects are
/// connected in `odb` as far as one level of references shows (anything older is assumed to be
/// complete, as git does). A tree `derived` from a base tree `odb` has is checked for its added
/// entry alone: the base's entries are there with it.
pub(crate) fn missing_references(
    source: &Repository,
    written: &[(Oid, ObjectType)],
    derived: &HashMap<Oid, Derived>,
    odb: &Odb<'_>,
) -> Result<Vec<Oid>, Error> {
    let mut missing = Vec::new();
    let has = |id: Oid| odb.exists_ext(id, OdbLookupFlags::NO_REFRESH);
    let mut check = |id: Oid| {
        if !has(id) {
            missing.push(id);
        }
    };
    for &(id, kind) in written {
        check(id);
        match kind {
            ObjectType::Tree => match derived.get(&id) {
                Some(derived) if has(derived.base) => {
                    derived.edit.added.into_iter().for_each(&mut check);
                }
                _ => {
                    for entry in source.find_tree(id)?.iter() {
                        // Submodule entries (commits) are not stored in this repository.
                        if entry.kind() != Some(ObjectType::Commit) {
                            check(entry.id());
                        }
                    }
                }
            },
            ObjectType::Commit => {
                let commit = source.find_commit(id)?;
                check(commit.tree_id());
                commit.parent_ids().for_each(&mut check);
            }
            _ => {}
        }
    }
    Ok(missing)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn objects_the_cache_has_are_not_packed_again() {
        let dir = tempfile::tempdir().expect("temp dir");
        let repo = Repository::init_bare(dir.path()).expect("init");
        let (first, staged) = stage(&repo, |stage| stage.blob(b"content")).expect("stage");
        assert_eq!(staged.object_count(), 1);
        let pack = staged.pack.as_ref().expect("a pack");
        packfile::install(repo.path(), pack, false).expect("install");
        repo.odb().expect("odb").refresh().expect("refresh");
        assert!(repo.odb().expect("odb").exists(first));

        let (second, staged) = stage(&repo, |stage| {
            let mut builder = stage.builder(None)?;
            builder.insert("file", stage.blob(b"content")?, 0o100644)?;
            stage.tree(&builder)
        })
        .expect("stage");
        assert_eq!(staged.object_count(), 1, "only the tree is new");
        assert_eq!(staged.written.len(), 2, "the blob is still reported as written");
        assert!(!repo.odb().expect("odb").exists(second), "nothing is written before the pack");
    }

    /// A tree edited from a base the remote has is checked for its new entry only; one whose
    /// base the remote lacks is checked entry by entry.
    #[test]
    fn an_edited_tree_is_checked_for_what_it_adds() {
        let (cache_dir, remote_dir) =
            (tempfile::tempdir().expect("dir"), tempfile::tempdir().expect("dir"));
        let cache = Repository::init_bare(cache_dir.path()).expect("init");
        let remote = Repository::init_bare(remote_dir.path()).expect("init");
        let install = |staged: &Staged, repo: &Repository| {
            packfile::install(repo.path(), staged.pack.as_ref().expect("pack"), false)
                .expect("install");
            repo.odb().expect("odb").refresh().expect("refresh");
        };
        // A base tree with two packages, in both repositories.
        let (base, staged) = stage(&cache, |stage| {
            let mut package = stage.builder(None)?;
            package.insert("Kptfile", stage.blob(b"kind: Kptfile")?, 0o100644)?;
            let package = stage.tree(&package)?;
            let mut root = stage.builder(None)?;
            root.insert("a", package, 0o040000)?;
            root.insert("b", package, 0o040000)?;
            stage.tree(&root)
        })
        .expect("stage");
        install(&staged, &cache);
        install(&staged, &remote);
        // The cache alone gets a third package; an edit of the base puts it in.
        let (edited, staged) = stage(&cache, |stage| {
            let mut package = stage.builder(None)?;
            package.insert("Kptfile", stage.blob(b"kind: Kptfile\nnew")?, 0o100644)?;
            let package = stage.tree(&package)?;
            let base = stage.find_tree(base)?;
            crate::tree::replace_dir(stage, Some(base.id()), &["c"], Some(package))
        })
        .expect("stage");
        let edited = edited.expect("a tree");
        assert!(staged.derived.contains_key(&edited), "the edit is recorded");
        install(&staged, &cache);
        let odb = remote.odb().expect("odb");
        let missing =
            missing_references(&cache, &staged.written, &staged.derived, &odb).expect("check");
        let missing: HashSet<Oid> = missing.into_iter().collect();
        let written: HashSet<Oid> = staged.written.iter().map(|(id, _)| *id).collect();
        assert!(missing.contains(&edited), "the new tree itself");
        assert_eq!(missing, written, "every written object, nothing of the base");
        // Without the base in the remote, the tree's entries are looked at one by one.
        let empty = tempfile::tempdir().expect("dir");
        let bare = Repository::init_bare(empty.path()).expect("init");
        let odb = bare.odb().expect("odb");
        let missing =
            missing_references(&cache, &staged.written, &staged.derived, &odb).expect("check");
        let a = cache.find_tree(base).expect("base").get_name("a").expect("a").id();
        assert!(missing.contains(&a), "an entry of the base the remote lacks");
    }
}
