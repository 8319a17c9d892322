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

use crate::{Error, maintain};

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
    let Some(packed) = Packed::read(git_dir)? else { return Ok(Done::No) };
    if packed.clashes(name) || loose_clash(git_dir, name) {
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
    let Some(packed) = Packed::read(git_dir)? else { return Ok(Done::No) };
    let loose = git_dir.join(name);
    if !packed.contains(name) && !loose.is_file() {
        return Ok(Done::Yes);
    }
    let Some(lock) = Lock::take(git_dir, name)? else { return Ok(Done::No) };
    // Always taken, and the file read again under it, as git does: refs packed by another
    // writer since the read above are seen.
    let Some(packed_lock) = Lock::take(git_dir, "packed-refs")? else { return Ok(Done::No) };
    // Out of packed-refs first: stopped in between, the ref keeps its current (loose) value
    // instead of falling back to an older packed one.
    match maintain::packed_refs_without(git_dir, &[name])? {
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

/// A sorted `packed-refs`, searched in place as git searches it: by bisecting its bytes on
/// record boundaries (a ref line and the `^` lines that follow it).
struct Packed {
    text: Vec<u8>,
    /// Where the records begin (after the header).
    body: usize,
}

impl Packed {
    /// `None` when the file does not say it is sorted (git and libgit2 always do).
    fn read(git_dir: &Path) -> Result<Option<Packed>, Error> {
        let path = git_dir.join("packed-refs");
        let text = match fs::read(&path) {
            Ok(text) => text,
            Err(err) if err.kind() == ErrorKind::NotFound => {
                return Ok(Some(Packed { text: Vec::new(), body: 0 }));
            }
            Err(source) => return Err(Error::Io { path, source }),
        };
        if text.is_empty() {
            return Ok(Some(Packed { text, body: 0 }));
        }
        let header_end = memchr::memchr(b'\n', &text).map_or(text.len(), |at| at + 1);
        let Some(traits) = text[..header_end].strip_prefix(b"# pack-refs with:") else {
            return Ok(None);
        };
        let sorted = traits.split(|b| b.is_ascii_whitespace()).any(|word| word == b"sorted");
        Ok(sorted.then_some(Packed { text, body: header_end }))
    }

    /// The start of the line holding the byte `at` (`low` at most).
    fn line_start(&self, low: usize, at: usize) -> usize {
        memchr::memrchr(b'\n', &self.text[low..at]).map_or(low, |nl| low + nl + 1)
    }

    /// The end (past its newline) of the line holding the byte `at`.
    fn line_end(&self, at: usize) -> usize {
        memchr::memchr(b'\n', &self.text[at..]).map_or(self.text.len(), |nl| at + nl + 1)
    }

    /// The ref name of the record starting at `at`.
    fn name_at(&self, at: usize) -> &[u8] {
        let line = &self.text[at..self.line_end(at)];
        let line = line.strip_suffix(b"\n").unwrap_or(line);
        memchr::memchr(b' ', line).map_or(&[][..], |space| &line[space + 1..])
    }

    /// The name of the first record whose name is not below `name` in byte order.
    fn lower_bound(&self, name: &[u8]) -> Option<&[u8]> {
        let (mut low, mut high) = (self.body, self.text.len());
        while low < high {
            let middle = low + (high - low) / 2;
            let mut record = self.line_start(low, middle);
            while record > low && self.text[record] == b'^' {
                record = self.line_start(low, record - 1);
            }
            if self.name_at(record) < name {
                let mut end = self.line_end(record);
                while end < high && self.text[end] == b'^' {
                    end = self.line_end(end);
                }
                low = end;
            } else {
                high = record;
            }
        }
        (low < self.text.len()).then(|| self.name_at(low))
    }

    fn contains(&self, name: &str) -> bool {
        self.lower_bound(name.as_bytes()) == Some(name.as_bytes())
    }

    /// A packed ref at a parent path of `name`, or below `name`.
    fn clashes(&self, name: &str) -> bool {
        let parents = name.match_indices('/').map(|(at, _)| &name[..at]).skip(1);
        if parents.into_iter().any(|parent| self.contains(parent)) {
            return true;
        }
        let below = format!("{name}/");
        self.lower_bound(below.as_bytes()).is_some_and(|next| next.starts_with(below.as_bytes()))
    }
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
