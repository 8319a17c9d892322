//! A handle on the local remote kept from one operation to the next.
//!
//! Opening a repository reads its configuration files and opens the index of every pack; a
//! write opened the local remote twice (to install its pack, then to move refs), a tenth of its
//! time in a repository of 10,000 revisions (docs/PERFORMANCE.md). A handle kept open sees ref
//! moves (libgit2 reads loose refs from disk every time and `packed-refs` again when its stamp
//! changes) and new packs (found when an object is missing), but it goes on answering from packs
//! another process (`git gc`, a replica merging packs) has deleted: it could report an object
//! the remote no longer has. So the handle is given out only while the remote's pack directory
//! is as it was when the handle was opened, or as this process left it after installing a pack
//! of its own (when no pack went meanwhile), and for at most [`KEPT_FOR`]. A deletion within
//! the same timestamp tick as a change this process saw can go unseen that long: the race a
//! fresh handle has too with a `git gc --prune=now` that runs while a write checks for objects
//! and moves refs. A push's compare-and-swap reads the remote's refs from their files
//! ([`local::target`]); the handle's own ref database still answers whether the cache is in
//! sync with the remote (a stale answer there can skip one fetch; the compare-and-swap still
//! refuses a write built on it).

use std::{
    cell::{Cell, Ref, RefCell},
    collections::BTreeSet,
    ffi::OsString,
    fs,
    ops::Deref,
    path::{Path, PathBuf},
    time::{Duration, Instant, SystemTime},
};

use git2::Repository;

use crate::{Error, local};

/// How long one handle is given out at most, whatever the pack directory says.
const KEPT_FOR: Duration = Duration::from_secs(1);

/// The local remote at a path, with the handle last opened on it.
pub(crate) struct Kept {
    path: PathBuf,
    handle: RefCell<Option<Repository>>,
    /// When the handle was opened.
    opened: Cell<Option<Instant>>,
    /// The modification time of the pack directory the handle is good for.
    stamp: Cell<Option<SystemTime>>,
}

/// A handle on the local remote: the kept one, or a fresh one when the kept one is in use further
/// up the stack and is out of date.
pub(crate) enum Handle<'a> {
    Kept(Ref<'a, Repository>),
    Fresh(Repository),
}

impl Deref for Handle<'_> {
    type Target = Repository;

    fn deref(&self) -> &Repository {
        match self {
            Handle::Kept(repo) => repo,
            Handle::Fresh(repo) => repo,
        }
    }
}

impl Kept {
    pub(crate) fn new(path: PathBuf) -> Kept {
        Kept { path, handle: RefCell::new(None), opened: Cell::new(None), stamp: Cell::new(None) }
    }

    /// The remote's git directory.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// A handle that answers as a fresh one would.
    pub(crate) fn get(&self) -> Result<Handle<'_>, Error> {
        // Read before opening: a change after this makes the next call open again.
        let stamp = pack_dir_stamp(&self.path);
        let young = self.opened.get().is_some_and(|opened| opened.elapsed() < KEPT_FOR);
        if young
            && stamp.is_some()
            && stamp == self.stamp.get()
            && let Ok(repo) = Ref::filter_map(self.handle.borrow(), Option::as_ref)
        {
            return Ok(Handle::Kept(repo));
        }
        let fresh = local::open(&self.path)?;
        let Ok(mut slot) = self.handle.try_borrow_mut() else {
            return Ok(Handle::Fresh(fresh));
        };
        *slot = Some(fresh);
        drop(slot);
        self.opened.set(Some(Instant::now()));
        self.stamp.set(stamp);
        match Ref::filter_map(self.handle.borrow(), Option::as_ref) {
            Ok(repo) => Ok(Handle::Kept(repo)),
            Err(_) => Ok(Handle::Fresh(local::open(&self.path)?)),
        }
    }

    /// Installs a pack into the remote with `install` through `handle` (from [`Kept::get`]),
    /// and keeps the handle good for the pack directory it leaves when nobody else changed the
    /// directory before and no pack went while installing (packs added meanwhile are harmless:
    /// a missing object makes libgit2 look for new packs).
    pub(crate) fn install<T>(
        &self,
        handle: &Repository,
        install: impl FnOnce(&Path) -> Result<T, Error>,
    ) -> Result<T, Error> {
        let before = pack_dir_stamp(&self.path);
        let packs = pack_names(&self.path);
        let out = install(&self.path)?;
        // The stamp before the listing: a removal after it changes the directory again.
        let after = pack_dir_stamp(&self.path);
        let none_went = match (packs, pack_names(&self.path)) {
            (Some(packs), Some(now)) => packs.is_subset(&now),
            _ => false,
        };
        handle.odb()?.refresh()?;
        if before.is_some() && before == self.stamp.get() && none_went {
            self.stamp.set(after);
        }
        Ok(out)
    }

    /// Closes the kept handle, with the caches libgit2 keeps in it.
    pub(crate) fn forget(&self) {
        if let Ok(mut slot) = self.handle.try_borrow_mut() {
            *slot = None;
            self.opened.set(None);
        }
    }
}

/// The file names in the pack directory.
fn pack_names(git_dir: &Path) -> Option<BTreeSet<OsString>> {
    let entries = fs::read_dir(git_dir.join("objects").join("pack")).ok()?;
    Some(entries.flatten().map(|entry| entry.file_name()).collect())
}

fn pack_dir_stamp(git_dir: &Path) -> Option<SystemTime> {
    fs::metadata(git_dir.join("objects").join("pack")).and_then(|meta| meta.modified()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn git(dir: &Path, args: &[&str]) {
        let status = std::process::Command::new("git")
            .arg("--git-dir")
            .arg(dir)
            .args(args)
            .status()
            .expect("git runs");
        assert!(status.success(), "git {args:?}");
    }

    /// A blob packed in a fresh bare repository, and the repository.
    fn packed_blob(content: &[u8]) -> (tempfile::TempDir, git2::Oid) {
        let dir = tempfile::tempdir().expect("dir");
        let repo = Repository::init_bare(dir.path()).expect("init");
        let blob = repo.blob(content).expect("blob");
        let tree = {
            let mut builder = repo.treebuilder(None).expect("builder");
            builder.insert("file", blob, 0o100644).expect("insert");
            builder.write().expect("tree")
        };
        let tree = repo.find_tree(tree).expect("tree");
        let me = git2::Signature::now("t", "t@example.com").expect("signature");
        repo.commit(Some("refs/heads/main"), &me, &me, "m", &tree, &[]).expect("commit");
        git(dir.path(), &["repack", "-adq"]);
        (dir, blob)
    }

    #[test]
    fn a_pack_deleted_by_someone_else_is_not_answered_from() {
        let (dir, blob) = packed_blob(b"content");
        let kept = Kept::new(dir.path().to_path_buf());
        assert!(kept.get().expect("handle").odb().expect("odb").exists(blob));
        // As `git gc --prune=now` after the branch went: the objects are gone.
        std::thread::sleep(Duration::from_millis(20));
        git(dir.path(), &["update-ref", "-d", "refs/heads/main"]);
        git(dir.path(), &["gc", "-q", "--prune=now"]);
        let handle = kept.get().expect("handle");
        assert!(!handle.odb().expect("odb").exists(blob), "answered from a deleted pack");
        // Out of date while in use further up the stack: a fresh handle, which is right too.
        std::thread::sleep(Duration::from_millis(20));
        fs::write(dir.path().join("objects/pack/pack-1.keep"), "").expect("write");
        let nested = kept.get().expect("handle");
        assert!(matches!(nested, Handle::Fresh(_)));
        assert!(!nested.odb().expect("odb").exists(blob));
    }

    #[test]
    fn a_pack_of_our_own_keeps_the_handle_and_is_seen_through_it() {
        let (dir, _) = packed_blob(b"content");
        let (other, new) = packed_blob(b"new content");
        let pack_dir = other.path().join("objects/pack");
        let kept = Kept::new(dir.path().to_path_buf());
        let handle = kept.get().expect("handle");
        assert!(!handle.odb().expect("odb").exists(new));
        kept.install(&handle, |path| {
            for entry in fs::read_dir(&pack_dir).expect("packs").flatten() {
                let to = path.join("objects/pack").join(entry.file_name());
                fs::copy(entry.path(), to).expect("copy");
            }
            Ok(())
        })
        .expect("install");
        assert!(handle.odb().expect("odb").exists_ext(new, git2::OdbLookupFlags::NO_REFRESH));
        drop(handle);
        assert!(matches!(kept.get().expect("handle"), Handle::Kept(_)));
    }
}
