//! Staged object writes: the objects one operation creates are collected in memory and reach disk
//! as a single pack.
//!
//! libgit2 writes every new object as its own loose file, and before writing one it looks for it
//! in every backend, rescanning the pack directories when it is not found. A package of a hundred
//! files was a hundred file creations and a hundred directory scans per commit, which dominated
//! the cost of a write (docs/PERFORMANCE.md). A [`Stage`] builds in a throwaway repository whose
//! only object store is an in-memory `mempack`, reads existing objects from the cache, and
//! [`stage`] packs the objects the cache does not have yet once the operation is done.

use std::{cell::RefCell, collections::HashSet, io::Write};

use git2::{
    Buf, Commit, ObjectType, Odb, OdbLookupFlags, Oid, Repository, Signature, Tree, TreeBuilder,
};

use crate::Error;

/// The write side of one operation: builds objects in memory on top of the objects of a cache.
pub(crate) struct Stage<'r> {
    /// The throwaway repository whose object database is the mempack.
    repo: &'r Repository,
    cache: &'r Repository,
    written: RefCell<Vec<(Oid, ObjectType)>>,
}

/// What a [`stage`]d operation wrote.
pub(crate) struct Staged {
    /// A complete pack (header, entries, trailer) of the written objects the cache lacked.
    pub(crate) pack: Buf,
    /// Every object the operation wrote, new or not, once each, with its kind.
    pub(crate) written: Vec<(Oid, ObjectType)>,
}

impl Staged {
    /// Number of objects in [`Staged::pack`].
    pub(crate) fn object_count(&self) -> u32 {
        match self.pack.get(8..12) {
            Some(&[a, b, c, d]) => u32::from_be_bytes([a, b, c, d]),
            _ => 0,
        }
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
    let stage = Stage { repo: &repo, cache, written: RefCell::new(Vec::new()) };
    let out = build(&stage)?;
    let mut written = stage.written.into_inner();
    let mut seen = HashSet::new();
    written.retain(|(id, _)| seen.insert(*id));
    let cache_odb = cache.odb()?;
    let mut builder = repo.packbuilder()?;
    for &(id, _) in &written {
        if !cache_odb.exists_ext(id, OdbLookupFlags::NO_REFRESH) {
            builder.insert_object(id, None)?;
        }
    }
    let mut pack = Buf::new();
    builder.write_buf(&mut pack)?;
    Ok((out, Staged { pack, written }))
}

impl<'r> Stage<'r> {
    /// A commit written in this stage or present in the cache.
    pub(crate) fn find_commit(&self, id: Oid) -> Result<Commit<'r>, Error> {
        Ok(self.repo.find_commit(id).or_else(|_| self.cache.find_commit(id))?)
    }

    /// A tree written in this stage or present in the cache.
    pub(crate) fn find_tree(&self, id: Oid) -> Result<Tree<'r>, Error> {
        Ok(self.repo.find_tree(id).or_else(|_| self.cache.find_tree(id))?)
    }

    /// The content of a blob written in this stage or present in the cache.
    #[cfg(test)]
    pub(crate) fn find_blob(&self, id: Oid) -> Result<Vec<u8>, Error> {
        let blob = self.repo.find_blob(id).or_else(|_| self.cache.find_blob(id))?;
        Ok(blob.content().to_vec())
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

/// Writes `pack` into the object database `odb` (indexing it next to the existing packs).
pub(crate) fn write_pack(odb: &Odb<'_>, pack: &[u8]) -> Result<(), Error> {
    use std::io::Write;
    let mut writer = odb.packwriter()?;
    writer.write_all(pack).map_err(|err| git2::Error::from_str(&format!("writing pack: {err}")))?;
    writer.commit()?;
    // Make the new pack visible to this handle now rather than after a failed lookup.
    odb.refresh()?;
    Ok(())
}

/// The file name (without extension) libgit2 gives `pack` when it indexes it: `pack-` and the
/// pack's trailing checksum.
pub(crate) fn pack_name(pack: &[u8]) -> Option<String> {
    let trailer = pack.len().checked_sub(20).and_then(|start| pack.get(start..))?;
    Some(format!("pack-{}", trailer.iter().map(|b| format!("{b:02x}")).collect::<String>()))
}

/// Objects referenced by the `written` objects that `odb` (refreshed by the caller) does not have. Written objects are
/// read from `source`; an empty result means the written objects are connected in `odb` as far as
/// one level of references shows (anything older is assumed to be complete, as git does).
pub(crate) fn missing_references(
    source: &Repository,
    written: &[(Oid, ObjectType)],
    odb: &Odb<'_>,
) -> Result<Vec<Oid>, Error> {
    let mut missing = Vec::new();
    let mut check = |id: Oid| {
        if !odb.exists_ext(id, OdbLookupFlags::NO_REFRESH) {
            missing.push(id);
        }
    };
    for &(id, kind) in written {
        check(id);
        match kind {
            ObjectType::Tree => {
                for entry in source.find_tree(id)?.iter() {
                    // Submodule entries (commits) are not stored in this repository.
                    if entry.kind() != Some(ObjectType::Commit) {
                        check(entry.id());
                    }
                }
            }
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
        write_pack(&repo.odb().expect("odb"), &staged.pack).expect("write pack");
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
}
