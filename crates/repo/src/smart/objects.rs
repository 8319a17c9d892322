//! The pack of a push: the objects the new tips add over what the remote advertised.
//!
//! The commits to send are those reachable from the new tips without passing an advertised
//! one; every write of ours has advertised parents (the branch head, the draft it continues),
//! so this is usually one commit. Of each commit's tree only what differs from its parents'
//! trees at the same path is sent: the parents are on the remote or in the pack, and so is
//! everything below an entry they share. An object the remote has elsewhere may be sent again,
//! which costs bytes, never correctness. A walk longer than [`MAX_COMMITS`] (a parent the
//! remote has only deep in its history) is left to libgit2.

use std::collections::HashSet;

use git2::{ObjectType, Oid, Repository, Tree};

use super::Failure;

/// The most commits one push sends this way.
const MAX_COMMITS: usize = 256;

/// A pack (header, entries, trailer) of the objects `tips` need that `remote_has` does not
/// reach, and the number of objects in it.
pub(crate) fn pack(
    repo: &Repository,
    tips: &[Oid],
    remote_has: &HashSet<Oid>,
) -> Result<(Vec<u8>, usize), Failure> {
    let mut selection = Selection { repo, remote_has, seen: HashSet::new(), send: Vec::new() };
    let mut commits = Vec::new();
    for &tip in tips {
        selection.tip(tip, &mut commits)?;
    }
    for commit in commits {
        selection.commit_tree(commit)?;
    }
    let mut builder = repo.packbuilder()?;
    for &id in &selection.send {
        builder.insert_object(id, None)?;
    }
    let mut buf = git2::Buf::new();
    builder.write_buf(&mut buf)?;
    Ok((buf.to_vec(), selection.send.len()))
}

struct Selection<'r> {
    repo: &'r Repository,
    remote_has: &'r HashSet<Oid>,
    seen: HashSet<Oid>,
    send: Vec<Oid>,
}

impl Selection<'_> {
    fn include(&mut self, id: Oid) -> bool {
        if self.seen.insert(id) {
            self.send.push(id);
            true
        } else {
            false
        }
    }

    /// Selects what `tip` needs, collecting the commits whose trees are still to be compared.
    fn tip(&mut self, tip: Oid, commits: &mut Vec<Oid>) -> Result<(), Failure> {
        let mut id = tip;
        // Annotated tags (possibly of tags) down to what they point at.
        loop {
            if self.remote_has.contains(&id) || self.seen.contains(&id) {
                return Ok(());
            }
            let object = self.repo.find_object(id, None)?;
            match object.kind() {
                Some(ObjectType::Tag) => {
                    self.include(id);
                    match object.as_tag() {
                        Some(tag) => id = tag.target_id(),
                        None => return Ok(()),
                    }
                }
                Some(ObjectType::Commit) => break,
                Some(ObjectType::Tree) => {
                    self.tree(id, &[], 0)?;
                    return Ok(());
                }
                _ => {
                    self.include(id);
                    return Ok(());
                }
            }
        }
        let mut stack = vec![id];
        while let Some(id) = stack.pop() {
            if self.remote_has.contains(&id) || !self.include(id) {
                continue;
            }
            commits.push(id);
            if commits.len() > MAX_COMMITS {
                return Err(Failure::Unsupported(format!(
                    "more than {MAX_COMMITS} commits are not on the remote"
                )));
            }
            stack.extend(self.repo.find_commit(id)?.parent_ids());
        }
        Ok(())
    }

    /// Selects the parts of `commit`'s tree that its parents' trees lack.
    fn commit_tree(&mut self, commit: Oid) -> Result<(), Failure> {
        let commit = self.repo.find_commit(commit)?;
        let mut bases = Vec::new();
        for parent in commit.parents() {
            bases.push(parent.tree_id());
        }
        self.tree(commit.tree_id(), &bases, 0)
    }

    /// Selects `tree` and the entries that no tree of `bases` (the trees at the same path in
    /// the parents) has with the same id.
    fn tree(&mut self, tree: Oid, bases: &[Oid], depth: usize) -> Result<(), Failure> {
        if bases.contains(&tree) || self.seen.contains(&tree) {
            return Ok(());
        }
        if depth > crate::MAX_TREE_DEPTH {
            return Err(Failure::Unsupported("a tree nested too deep to walk".to_owned()));
        }
        self.include(tree);
        let current = self.repo.find_tree(tree)?;
        let bases: Vec<Tree<'_>> =
            bases.iter().map(|id| self.repo.find_tree(*id)).collect::<Result<_, _>>()?;
        for entry in current.iter() {
            let name = entry.name_bytes();
            let at_bases: Vec<(Oid, Option<ObjectType>)> = bases
                .iter()
                .filter_map(|base| base.get_name_bytes(name))
                .map(|e| (e.id(), e.kind()))
                .collect();
            let shared = at_bases.iter().any(|(id, _)| *id == entry.id());
            match entry.kind() {
                Some(ObjectType::Tree) => {
                    let sub: Vec<Oid> = at_bases
                        .iter()
                        .filter(|(_, kind)| *kind == Some(ObjectType::Tree))
                        .map(|(id, _)| *id)
                        .collect();
                    self.tree(entry.id(), &sub, depth + 1)?;
                }
                Some(ObjectType::Blob) if !shared => {
                    self.include(entry.id());
                }
                // A shared blob is there; submodule commits are not part of this repository.
                _ => {}
            }
        }
        Ok(())
    }
}
