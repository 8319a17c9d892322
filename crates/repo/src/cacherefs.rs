//! The cache's tracking refs moved after a push, as git moves loose refs.
//!
//! libgit2 checks every ref it writes against each packed ref for a name clash (a ref `a` and a
//! ref `a/b` cannot both exist), and deleting a packed ref rewrites `packed-refs` after reading
//! the object of every ref in it to record what tags peel to. In a cache of 10,000 tags that was
//! a scan of 10,000 names on every write and 10,000 object reads on every deletion. Here the
//! clash is looked up by binary search in the sorted `packed-refs` and in the file system, and a
//! deletion cuts the ref's lines out of `packed-refs` as bytes.
//!
//! Everything unusual is left to libgit2 ([`Done::No`]): a name git would refuse, a clash, a
//! held lock, a `packed-refs` that does not say it is sorted. Like libgit2 by default, nothing is
//! flushed: the cache follows the remote, and a fetch puts back whatever a crash lost.

use std::{
    fs,
    io::{ErrorKind, Write},
    path::{Path, PathBuf},
};

use git2::Oid;

use crate::{Error, packedrefs};

/// Whether a ref update was carried out here.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Done {
    Yes,
    /// Not attempted (nothing changed): the caller does it with libgit2.
    No,
}

/// Points the ref `name` of the repository at `git_dir` at `id`.
pub(crate) fn set(git_dir: &Path, name: &str, id: Oid) -> Result<Done, Error> {
    if !plain_name(name) {
        return Ok(Done::No);
    }
    let packed = packedrefs::read(git_dir)?;
    if !packed.is_sorted() || packed.clashes(name) || loose_clash(git_dir, name) {
        return Ok(Done::No);
    }
    let Some(lock) = Lock::take(git_dir, name)? else { return Ok(Done::No) };
    lock.commit(format!("{id}\n").as_bytes())?;
    Ok(Done::Yes)
}

/// Deletes the ref `name` of the repository at `git_dir`, loose and packed; nothing to do when
/// it does not exist.
pub(crate) fn delete(git_dir: &Path, name: &str) -> Result<Done, Error> {
    if !plain_name(name) {
        return Ok(Done::No);
    }
    let packed = packedrefs::read(git_dir)?;
    if !packed.is_sorted() {
        return Ok(Done::No);
    }
    let loose = git_dir.join(name);
    if !packed.contains(name) && !loose.is_file() {
        return Ok(Done::Yes);
    }
    let Some(lock) = Lock::take(git_dir, name)? else { return Ok(Done::No) };
    // Always taken, and the file looked at again under it, as git does: refs packed by another
    // writer since the read above are seen.
    let Some(packed_lock) = Lock::take(git_dir, "packed-refs")? else { return Ok(Done::No) };
    // Out of packed-refs first: stopped in between, the ref keeps its current (loose) value
    // instead of falling back to an older packed one.
    match packedrefs::read(git_dir)?.without(&[name]) {
        Some(bytes) => packed_lock.commit_as(&git_dir.join("packed-refs"), &bytes)?,
        None => packed_lock.release(),
    }
    match fs::remove_file(&loose) {
        Ok(()) => {}
        Err(err) if err.kind() == ErrorKind::NotFound => {}
        Err(source) => return Err(Error::Io { path: loose, source }),
    }
    lock.release();
    Ok(Done::Yes)
}

/// A name under `refs/` of components git accepts, made of the characters ref names of this
/// crate use: anything else is left to libgit2's own checks.
fn plain_name(name: &str) -> bool {
    name.starts_with("refs/")
        && git2::Reference::is_valid_name(name)
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_./+@".contains(&b))
}

/// A ref file or directory in the way of `name`: a loose ref at one of its parent paths, or a
/// directory (refs below) at its own path.
fn loose_clash(git_dir: &Path, name: &str) -> bool {
    let parents = name.match_indices('/').map(|(at, _)| &name[..at]).skip(1);
    parents.into_iter().any(|parent| git_dir.join(parent).is_file()) || git_dir.join(name).is_dir()
}

/// A held `<name>.lock` of a repository, removed when dropped unless committed.
struct Lock {
    path: PathBuf,
    file: Option<fs::File>,
}

impl Lock {
    /// `None` when another writer holds it.
    fn take(git_dir: &Path, name: &str) -> Result<Option<Lock>, Error> {
        let path = git_dir.join(format!("{name}.lock"));
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent)
                .map_err(|source| Error::Io { path: parent.to_path_buf(), source })?;
        }
        match fs::OpenOptions::new().write(true).create_new(true).open(&path) {
            Ok(file) => Ok(Some(Lock { path, file: Some(file) })),
            Err(err) if err.kind() == ErrorKind::AlreadyExists => Ok(None),
            Err(source) => Err(Error::Io { path, source }),
        }
    }

    /// Writes `content` and renames the lock over the file it locks.
    fn commit(self, content: &[u8]) -> Result<(), Error> {
        let target = self.path.with_extension("");
        self.commit_as(&target, content)
    }

    fn commit_as(mut self, target: &Path, content: &[u8]) -> Result<(), Error> {
        let io = |source| Error::Io { path: self.path.clone(), source };
        let mut file = self.file.take().expect("a lock holds its file until committed");
        file.write_all(content).map_err(io)?;
        drop(file);
        fs::rename(&self.path, target).map_err(io)?;
        // Renamed: nothing left to remove.
        self.path = PathBuf::new();
        Ok(())
    }

    fn release(self) {}
}

impl Drop for Lock {
    fn drop(&mut self) {
        if !self.path.as_os_str().is_empty() {
            let _ = fs::remove_file(&self.path);
        }
    }
}

#[cfg(test)]
mod tests;
