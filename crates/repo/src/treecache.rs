//! The raw bytes of the big trees read or written lately, by id.
//!
//! A write in a directory of thousands of packages reads that directory's tree (about 200 KB)
//! several times: to find the package in the draft, to splice it into the branch, and to follow
//! the branch afterwards; and the tree it reads next is mostly one it has just written or read.
//! An object is named by its content, so a kept tree is that tree in every repository. A hit
//! still asks the object database whether it has the object: a missing object stays missing.
//!
//! Bounded: trees under [`MIN_BYTES`] are not kept (they are cheap to read), nor trees over
//! [`MAX_ENTRY_BYTES`], and at most [`MAX_ENTRIES`] trees and [`MAX_BYTES`] in all, the least
//! recently used going first.

use std::sync::{Arc, Mutex, MutexGuard};

use git2::{ObjectType, Odb, Oid};

/// Trees smaller than this are read from the object database every time.
const MIN_BYTES: usize = 16 * 1024;
/// Trees bigger than this are never kept.
const MAX_ENTRY_BYTES: usize = 4 * 1024 * 1024;
const MAX_ENTRIES: usize = 8;
const MAX_BYTES: usize = 8 * 1024 * 1024;

/// Most recently used last.
static KEPT: Mutex<Vec<(Oid, Arc<[u8]>)>> = Mutex::new(Vec::new());

/// Why a tree could not be read.
#[derive(Debug)]
pub(crate) enum Unreadable {
    Git(git2::Error),
    /// The object is there and is not a tree.
    NotATree,
}

fn kept() -> MutexGuard<'static, Vec<(Oid, Arc<[u8]>)>> {
    // The list is consistent after every statement: a panic elsewhere leaves it usable.
    KEPT.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The raw content of the tree `id` of `odb`.
pub(crate) fn read(odb: &Odb<'_>, id: Oid) -> Result<Arc<[u8]>, Unreadable> {
    if let Some(raw) = lookup(id)
        && odb.exists(id)
    {
        return Ok(raw);
    }
    let object = odb.read(id).map_err(Unreadable::Git)?;
    if object.kind() != ObjectType::Tree {
        return Err(Unreadable::NotATree);
    }
    let raw: Arc<[u8]> = Arc::from(object.data());
    keep(id, &raw);
    Ok(raw)
}

/// The tree `id` if it is kept.
pub(crate) fn lookup(id: Oid) -> Option<Arc<[u8]>> {
    let mut kept = kept();
    let at = kept.iter().rposition(|(kept, _)| *kept == id)?;
    let entry = kept.remove(at);
    let raw = Arc::clone(&entry.1);
    kept.push(entry);
    Some(raw)
}

/// Keeps the tree `id` (its raw content `raw`) if it is big enough to be worth it.
pub(crate) fn keep(id: Oid, raw: &Arc<[u8]>) {
    if !(MIN_BYTES..=MAX_ENTRY_BYTES).contains(&raw.len()) {
        return;
    }
    let mut kept = kept();
    kept.retain(|(kept, _)| *kept != id);
    kept.push((id, Arc::clone(raw)));
    let mut total: usize = kept.iter().map(|(_, raw)| raw.len()).sum();
    while kept.len() > MAX_ENTRIES || total > MAX_BYTES {
        let (_, gone) = kept.remove(0);
        total -= gone.len();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn big_trees_are_kept_and_a_hit_needs_the_object() {
        let dir = tempfile::tempdir().expect("tempdir");
        let repo = git2::Repository::init_bare(dir.path()).expect("init");
        let odb = repo.odb().expect("odb");
        // A tree of 1,000 entries (about 30 KB), and a small one.
        let blob = repo.blob(b"x").expect("blob");
        let mut builder = repo.treebuilder(None).expect("builder");
        for i in 0..1000 {
            builder.insert(format!("f{i:04}"), blob, 0o100644).expect("insert");
        }
        let big = builder.write().expect("tree");
        let small = repo.treebuilder(None).expect("builder").write().expect("tree");
        let read = read(&odb, big).expect("read");
        assert_eq!(&read[..], odb.read(big).expect("read").data());
        assert!(lookup(big).is_some(), "kept");
        let _ = super::read(&odb, small).expect("read");
        assert!(lookup(small).is_none(), "too small to keep");
        assert!(matches!(super::read(&odb, blob), Err(Unreadable::NotATree)));

        // Kept, but another repository does not have it.
        let other = tempfile::tempdir().expect("tempdir");
        let other = git2::Repository::init_bare(other.path()).expect("init");
        assert!(matches!(super::read(&other.odb().expect("odb"), big), Err(Unreadable::Git(_))));

        // The least recently used goes first.
        for i in 0..MAX_ENTRIES as u8 {
            let id = Oid::from_bytes(&[i + 1; 20]).expect("oid");
            keep(id, &Arc::from(vec![0u8; MIN_BYTES]));
        }
        assert!(lookup(big).is_none(), "pushed out");
    }
}
