//! Direct writes to a remote that is a bare repository on this machine.
//!
//! libgit2's push computes what to send by walking, for every ref the remote advertises, the whole
//! tree of its commit (`mark_tree_uninteresting`). With thousands of tags in one repository that
//! walk was most of the cost of every write (docs/PERFORMANCE.md). When the remote is a local bare
//! repository there is nothing to negotiate: the objects of a write are indexed into it as the
//! same single pack the cache gets ([`crate::stage`]), and a push is a ref transaction on it
//! that locks every ref, checks each compare-and-swap or fast-forward condition under the locks,
//! and then moves them. Like libgit2's local transport, this runs no hooks.

use std::{
    collections::HashMap,
    fs,
    io::{ErrorKind, Write},
    path::{Path, PathBuf},
};

use git2::{ErrorCode, Oid, Repository};

use crate::{Error, RefUpdate, maintain, packedrefs, transport};

/// The path of the remote when `url` names a bare repository on this machine; `None` for network
/// URLs, paths that are not repositories, and non-bare repositories (those go through the regular
/// push, which refuses to move a checked-out branch).
pub(crate) fn path(url: &str) -> Option<PathBuf> {
    let path = match url.strip_prefix("file://") {
        Some(path) => path,
        None if url.contains("://") => return None,
        None => url,
    };
    let repo = Repository::open_bare(Path::new(path)).ok()?;
    repo.is_bare().then(|| repo.path().to_path_buf())
}

/// Opens the local remote at `path` (as found by [`path`]).
pub(crate) fn open(path: &Path) -> Result<Repository, Error> {
    Ok(Repository::open_bare(path)?)
}

/// The current target of `name` in `remote`, zero when absent.
///
/// Read from the files as git reads them (the loose ref, else `packed-refs` through
/// [`packedrefs`], which never trusts a copy a rewrite could look like), not through the
/// handle's own ref database: a handle kept open ([`crate::kept`]) caches `packed-refs` by a
/// stamp that a quick rewrite by another process can repeat, and a compare-and-swap must never
/// see an old value. Anything unusual (a symbolic ref, an unsorted file) is left to libgit2.
pub(crate) fn target(remote: &Repository, name: &str) -> Result<Oid, Error> {
    let git_dir = remote.path();
    let loose = git_dir.join(name);
    match fs::read(&loose) {
        Ok(bytes) => {
            let hex = bytes.strip_suffix(b"\n").and_then(|hex| std::str::from_utf8(hex).ok());
            if let Some(id) =
                hex.filter(|hex| hex.len() == 40).and_then(|hex| Oid::from_str(hex).ok())
            {
                return Ok(id);
            }
        }
        Err(err) if matches!(err.kind(), ErrorKind::NotFound | ErrorKind::IsADirectory) => {
            if let Ok(target) = packedrefs::read(git_dir)?.target(name) {
                return Ok(target.unwrap_or(Oid::ZERO_SHA1));
            }
        }
        Err(_) => {}
    }
    libgit2_target(remote, name)
}

fn libgit2_target(remote: &Repository, name: &str) -> Result<Oid, Error> {
    match remote.find_reference(name) {
        Ok(reference) => Ok(reference.target().unwrap_or(Oid::ZERO_SHA1)),
        Err(err) if err.code() == ErrorCode::NotFound => Ok(Oid::ZERO_SHA1),
        Err(err) => Err(err.into()),
    }
}

/// Whether the cache's tracking refs already mirror every branch and tag of the local `remote`,
/// so a fetch would change nothing. One pass over each side's refs; libgit2's fetch instead looks
/// every advertised ref up again in the cache (about 340 ms against 10,000 tags, 30 ms here).
pub(crate) fn in_sync(remote: &Repository, cache: &Repository) -> Result<bool, Error> {
    let mut remote_refs = HashMap::new();
    for reference in remote.references()? {
        let reference = reference?;
        let (Ok(name), Some(target)) = (reference.name(), reference.target()) else { continue };
        if let Some(tracking) = transport::tracking_ref(name) {
            remote_refs.insert(tracking, target);
        }
    }
    let mut tracked = 0;
    for reference in cache.references()? {
        let reference = reference?;
        let (Ok(name), Some(target)) = (reference.name(), reference.target()) else { continue };
        if name.starts_with(transport::TRACKING_PREFIX) || name.starts_with(transport::TAG_PREFIX) {
            if remote_refs.get(name) != Some(&target) {
                return Ok(false);
            }
            tracked += 1;
        }
    }
    Ok(tracked == remote_refs.len())
}

/// The first lock file in the remote at `git_dir` that stops `updates`: a ref's own
/// `<name>.lock`. A lock older than [`STALE_LOCK`] is removed instead ([`break_stale`]), and so
/// is a stale `packed-refs.lock`; a fresh one stops nothing here: it is held for the
/// milliseconds of one rewrite of `packed-refs`, which only a deletion waits for ([`push`]).
pub(crate) fn held_lock(git_dir: &Path, updates: &[RefUpdate]) -> Option<String> {
    let packed = git_dir.join("packed-refs.lock");
    if packed.exists() {
        break_stale(&packed);
    }
    updates.iter().map(|update| format!("{}.lock", update.name)).find(|file| {
        let path = git_dir.join(file);
        path.exists() && !break_stale(&path)
    })
}

const PACKED_REFS_LOCK: &str = "packed-refs.lock";

/// How long a ref deletion waits for another writer's `packed-refs.lock` (git's
/// `core.packedRefsTimeout` is one second too): those are held for the milliseconds of one
/// rewrite of the file.
const PACKED_REFS_WAIT: std::time::Duration = std::time::Duration::from_secs(1);

/// How old a lock file in a local remote must be to count as left by a writer that died. A
/// ref transaction holds its locks for milliseconds (no network I/O runs under them, here or
/// in git), but a writer killed in between leaves them; another server sharing the remote
/// cannot tell a dead writer from a live one but by age.
pub(crate) const STALE_LOCK: std::time::Duration = std::time::Duration::from_secs(30);

/// How long ago the lock file at `path` was last written (zero when unknown or gone).
pub(crate) fn lock_age(path: &Path) -> std::time::Duration {
    fs::symlink_metadata(path)
        .ok()
        .and_then(|meta| meta.modified().ok())
        .and_then(|at| at.elapsed().ok())
        .unwrap_or_default()
}

/// Removes the lock file at `path` if it is older than [`STALE_LOCK`]; returns whether it is
/// gone. The file is first renamed away (one atomic step, so two servers breaking it at once
/// cannot remove a lock a third took meanwhile), then deleted if it is the one judged stale.
pub(crate) fn break_stale(path: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    let Ok(meta) = fs::symlink_metadata(path) else { return true };
    let age = meta.modified().ok().and_then(|at| at.elapsed().ok());
    if age.is_none_or(|age| age < STALE_LOCK) {
        return false;
    }
    let mut aside = path.as_os_str().to_owned();
    aside.push(format!(".stale-{}-{}", std::process::id(), meta.ino()));
    let aside = PathBuf::from(aside);
    if fs::rename(path, &aside).is_err() {
        return !path.exists();
    }
    match fs::symlink_metadata(&aside) {
        Ok(moved) if moved.ino() == meta.ino() => {
            let _ = fs::remove_file(&aside);
            tracing::warn!(
                path = %path.display(),
                age_seconds = age.map_or(0, |age| age.as_secs()),
                "removed a lock file a writer that died left in the remote"
            );
            true
        }
        _ => {
            // Another writer's fresh lock was taken by mistake: put it back.
            let _ = fs::hard_link(&aside, path);
            let _ = fs::remove_file(&aside);
            false
        }
    }
}

/// Applies `updates` to `remote`, all or nothing as far as any condition goes: every ref is
/// locked (`<name>.lock`, created exclusively as git does), every condition is checked against
/// the locked values, and only then are the refs moved, one after the other in the order given,
/// each durably (written, flushed, renamed, directory flushed) before the next. Callers order
/// multi-ref moves so that every prefix of them is recognisable after a crash
/// ([`crate::GitRepo::repair`]). A lock that is already held is [`Error::RemoteLocked`]. The
/// objects of the new targets must already be in `remote`, flushed.
/// Every lock taken is recorded in `journal` (in the cache) until the push ends, so a kill
/// mid-push leaves locks the next open knows to be its own ([`maintain::release_own_locks`]).
pub(crate) fn push(
    remote: &Repository,
    updates: &[RefUpdate],
    journal: &Path,
) -> Result<(), Error> {
    let git_dir = remote.path();
    if let Some(file) = held_lock(git_dir, updates) {
        return Err(Error::RemoteLocked { file });
    }
    let mut held = Locks { git_dir, journal, files: Vec::new() };
    for update in updates {
        let file = format!("{}.lock", update.name);
        if !maintain::take_lock(&git_dir.join(&file), Some(journal))? {
            return Err(Error::RemoteLocked { file });
        }
        held.files.push(file);
    }
    // Deletions rewrite `packed-refs`, which is read under its lock as git does: read before, a
    // packing of the refs by another writer in between would be undone (and the refs it packed
    // lost), and a packing that began before would put a deleted ref back. Taken with the
    // others, so a held one moves nothing.
    let deleted: Vec<&str> =
        updates.iter().filter(|u| u.new.is_none()).map(|u| u.name.as_str()).collect();
    if !deleted.is_empty() {
        let packed_lock = git_dir.join(PACKED_REFS_LOCK);
        if !maintain::wait_for_lock(&packed_lock, Some(journal), PACKED_REFS_WAIT)? {
            return Err(Error::RemoteLocked { file: PACKED_REFS_LOCK.to_owned() });
        }
        held.files.push(PACKED_REFS_LOCK.to_owned());
    }
    let mut moves = Vec::new();
    for update in updates {
        let old = target(remote, &update.name)?;
        match &update.new {
            Some(new) => {
                let new = transport::parse_oid(new)?;
                transport::check_update(remote, update, old, new)?;
                if old != new {
                    moves.push((update.name.as_str(), Some(new)));
                }
            }
            None => {
                transport::check_update(remote, update, old, Oid::ZERO_SHA1)?;
                if !old.is_zero() {
                    moves.push((update.name.as_str(), None));
                }
            }
        }
    }
    for (name, new) in moves {
        let path = git_dir.join(name);
        let lock = git_dir.join(format!("{name}.lock"));
        let io = |source| Error::Io { path: lock.clone(), source };
        match new {
            Some(new) => {
                let mut file =
                    fs::OpenOptions::new().write(true).truncate(true).open(&lock).map_err(io)?;
                file.write_all(format!("{new}\n").as_bytes()).map_err(io)?;
                file.sync_all().map_err(io)?;
                drop(file);
                fs::rename(&lock, &path).map_err(io)?;
                let renamed = format!("{name}.lock");
                held.files.retain(|file| *file != renamed);
            }
            None => {
                // Out of packed-refs first (every deleted ref at once, at the first deletion): a
                // crash in between leaves the loose file, which still holds the value the ref
                // had, never an older packed one.
                if held.files.iter().any(|file| file == PACKED_REFS_LOCK) {
                    let packed_lock = git_dir.join(PACKED_REFS_LOCK);
                    if let Some(bytes) = packedrefs::read(git_dir)?.without(&deleted) {
                        maintain::write_packed_bytes(git_dir, &packed_lock, &bytes)?;
                    } else {
                        let _ = fs::remove_file(&packed_lock);
                    }
                    // Renamed into place or removed: the name may be another writer's now.
                    held.files.retain(|file| file != PACKED_REFS_LOCK);
                }
                match fs::remove_file(&path) {
                    Ok(()) => {}
                    Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
                    Err(source) => return Err(Error::Io { path, source }),
                }
            }
        }
        if let Some(parent) = path.parent() {
            maintain::sync_dir(parent)?;
        }
    }
    Ok(())
}

/// Lock files of one [`push`], removed when it ends (a moved ref's lock was renamed already).
struct Locks<'a> {
    git_dir: &'a Path,
    journal: &'a Path,
    files: Vec<String>,
}

impl Drop for Locks<'_> {
    fn drop(&mut self) {
        for file in &self.files {
            let _ = fs::remove_file(self.git_dir.join(file));
        }
        maintain::clear_journal(self.journal);
    }
}

/// Lets the cache at `cache` read the objects of the local remote at `remote` (git's
/// `objects/info/alternates`), so neither the first fetch nor any later one copies objects the
/// remote already has: registering a large repository costs its refs, not its history.
/// Only a new cache (no ref, no alternates yet) is set up so; one that fetched before, or
/// shares another remote's objects (the Repository's URL changed), fetches as before. Returns
/// whether the file was written (the cache must then be reopened to see it).
///
/// The cache then depends on the remote's objects, as a `git clone --shared` does: objects the
/// remote prunes (after a force push and a `git gc`) are gone from the cache too, which only
/// matters for refs the next fetch moves away from them.
pub(crate) fn share_objects(cache: &Repository, remote: &Path) -> Result<bool, Error> {
    let info = cache.path().join("objects").join("info");
    let file = info.join("alternates");
    let line = format!("{}\n", remote.join("objects").display());
    if file.exists() || cache.references()?.next().is_some() {
        return Ok(false);
    }
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| Error::Io { path, source }
    };
    fs::create_dir_all(&info).map_err(io(&info))?;
    let temporary = info.join("alternates.tmp");
    let mut out = fs::File::create(&temporary).map_err(io(&temporary))?;
    out.write_all(line.as_bytes()).map_err(io(&temporary))?;
    out.sync_all().map_err(io(&temporary))?;
    drop(out);
    fs::rename(&temporary, &file).map_err(io(&file))?;
    maintain::sync_dir(&info)?;
    Ok(true)
}

/// Whether the cache at `cache` reads objects of a repository other than the local `remote`
/// (its `objects/info/alternates` names another one, or the remote is not on this machine): a
/// cache left by an earlier registration under the same name. Its objects may vanish with that
/// repository and a fetch would skip them as present, so it is rebuilt instead.
pub(crate) fn borrows_elsewhere(cache: &Path, remote: Option<&Path>) -> bool {
    let Ok(text) = fs::read_to_string(cache.join("objects").join("info").join("alternates")) else {
        return false;
    };
    let wanted = remote.map(|remote| remote.join("objects"));
    text.lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .any(|line| wanted.as_deref() != Some(Path::new(line)))
}

/// Gives a cache that has no ref yet the remote's branches and tags as tracking refs, written
/// as one `packed-refs` file: the first fetch of a remote on this machine, whose objects the
/// cache shares ([`share_objects`]). Returns whether it did; `false` when the cache has refs
/// (a regular fetch follows) or lacks an object a ref points at.
pub(crate) fn copy_refs_into_empty(remote: &Repository, cache: &Repository) -> Result<bool, Error> {
    if cache.references()?.next().is_some() {
        return Ok(false);
    }
    let odb = cache.odb()?;
    let mut refs = std::collections::BTreeMap::new();
    for reference in remote.references()? {
        let reference = reference?;
        let (Ok(name), Some(target)) = (reference.name(), reference.target()) else { continue };
        let Some(tracking) = transport::tracking_ref(name) else { continue };
        if !odb.exists(target) {
            return Ok(false);
        }
        refs.insert(tracking, target.to_string());
    }
    let git_dir = cache.path();
    let lock = git_dir.join("packed-refs.lock");
    if !maintain::take_lock(&lock, None)? {
        return Err(Error::RemoteLocked { file: lock.display().to_string() });
    }
    if let Err(err) = maintain::write_packed_refs(git_dir, &lock, &refs) {
        let _ = fs::remove_file(&lock);
        return Err(err);
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every kind of ref reads as through libgit2's ref database.
    #[test]
    fn targets_are_read_as_libgit2_reads_them() {
        let dir = tempfile::tempdir().expect("dir");
        let repo = Repository::init_bare(dir.path()).expect("init");
        let tree = repo.treebuilder(None).expect("builder").write().expect("tree");
        let tree = repo.find_tree(tree).expect("tree");
        let me = git2::Signature::now("t", "t@example.com").expect("signature");
        let a = repo.commit(None, &me, &me, "a", &tree, &[]).expect("commit");
        let parent = repo.find_commit(a).expect("commit");
        let b = repo.commit(None, &me, &me, "b", &tree, &[&parent]).expect("commit");
        repo.reference("refs/tags/p/v1", a, false, "").expect("ref");
        repo.reference("refs/heads/drafts/p/ws", a, false, "").expect("ref");
        repo.refdb_compress().expect("pack");
        // Loose over packed, as git reads them.
        repo.reference("refs/heads/drafts/p/ws", b, true, "").expect("ref");
        repo.reference("refs/heads/main", b, false, "").expect("ref");
        repo.reference_symbolic("refs/heads/alias", "refs/heads/main", false, "").expect("ref");
        let names = [
            "refs/tags/p/v1",
            "refs/heads/drafts/p/ws",
            "refs/heads/main",
            "refs/heads/alias",
            "refs/heads/drafts",
            "refs/heads/none",
            "refs/tags/p",
        ];
        for name in names {
            let expected = libgit2_target(&repo, name).expect("libgit2");
            assert_eq!(target(&repo, name).expect("target"), expected, "{name}");
        }
        assert_eq!(target(&repo, "refs/tags/p/v1").expect("target"), a, "packed");
        assert_eq!(
            target(&repo, "refs/heads/drafts/p/ws").expect("target"),
            b,
            "loose over packed"
        );
    }
}
