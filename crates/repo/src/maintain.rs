//! Pack maintenance: every write adds one small pack ([`crate::stage`]), so packs are merged in
//! the background before their number slows lookups down.
//!
//! Merging follows a geometric progression (as `git repack --geometric=2`): packs are sorted by
//! object count and the smallest ones are merged until every remaining pack holds at least twice
//! the objects of all smaller ones together. Each object is therefore rewritten a logarithmic
//! number of times, and the big pack of a first fetch is left alone. Packs with a `.keep` file,
//! cruft packs (`.mtimes`) and repositories with a multi-pack-index are not touched.
//!
//! A merge concatenates the packs' entries into one new pack (offset deltas are relative, so they
//! stay valid) and indexes it from their indexes, offsets shifted ([`crate::packfile`]): nothing is
//! inflated, recompressed or searched for deltas, so a merge costs about one read of its packs. Packs that share an object (which one pack may not hold
//! twice) go through libgit2's pack builder instead. The new pack is written next to the old ones,
//! so readers see every object throughout; the merged packs are deleted afterwards by
//! [`Merged::remove`], which the owner calls while no operation of its own has a handle on them.

use std::{
    fs,
    path::{Path, PathBuf},
};

use git2::{Odb, Oid, Repository};

use crate::{Error, packfile};

/// More packs than this in one repository start a merge.
pub(crate) const MAX_PACKS: usize = 12;
/// Factor of the geometric progression packs are kept in.
const FACTOR: u64 = 2;

/// One pack of a repository: its path without extension and its object count.
#[derive(Clone, Debug)]
pub(crate) struct Pack {
    base: PathBuf,
    objects: u64,
}

/// Packs that were merged into a new pack and may now be deleted.
#[derive(Debug)]
pub(crate) struct Merged {
    packs: Vec<Pack>,
    /// The new pack (path without extension).
    output: PathBuf,
}

impl Merged {
    /// Deletes the merged packs' files (`.pack`, `.idx` and any `.rev` or `.bitmap`), while the
    /// new pack holding their objects is there. A pack is named by its content, so the new one
    /// can bear the name of one it merged (the same objects packed the same way, as another
    /// writer of a shared remote may have packed them): that one stays. Other processes merge a
    /// shared remote's packs too; if one of them merged the new pack away already, its own
    /// output holds these objects and removed what it merged, so nothing is left to do.
    pub(crate) fn remove(&self) {
        let present = |ext: &str| self.output.with_extension(ext).exists();
        if !(present("idx") && present("pack")) {
            tracing::debug!(pack = %self.output.display(), "the merged pack is gone; keeping its inputs");
            return;
        }
        for pack in self.packs.iter().filter(|pack| pack.base != self.output) {
            // The index goes first so no reader finds a pack without its objects.
            for ext in ["idx", "pack", "rev", "bitmap"] {
                let path = pack.base.with_extension(ext);
                if let Err(err) = fs::remove_file(&path)
                    && err.kind() != std::io::ErrorKind::NotFound
                {
                    tracing::warn!(path = %path.display(), %err, "cannot remove a merged pack");
                }
            }
        }
    }
}

/// The packs of the repository at `git_dir` that should be merged now, if any.
pub(crate) fn plan(git_dir: &Path) -> Option<Vec<Pack>> {
    let pack_dir = git_dir.join("objects/pack");
    if pack_dir.join("multi-pack-index").exists() {
        return None;
    }
    // Listed first, and nothing more read unless there are too many: this runs after every
    // write.
    let indexes: Vec<PathBuf> = fs::read_dir(&pack_dir)
        .ok()?
        .flatten()
        .map(|entry| entry.path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "idx"))
        .collect();
    if indexes.len() <= MAX_PACKS {
        return None;
    }
    let mut packs = Vec::new();
    for path in indexes {
        let base = path.with_extension("");
        let pinned =
            ["keep", "mtimes", "promisor"].iter().any(|ext| base.with_extension(ext).exists());
        if pinned || !base.with_extension("pack").exists() {
            continue;
        }
        if let Some(objects) = index_object_count(&path) {
            packs.push(Pack { base, objects });
        }
    }
    let selected = geometric_split(&mut packs);
    (selected >= 2).then(|| packs[..selected].to_vec())
}

/// Sorts `packs` by object count and returns how many of the smallest to merge so the rest form
/// a geometric progression above the merged pack.
fn geometric_split(packs: &mut [Pack]) -> usize {
    packs.sort_by_key(|pack| pack.objects);
    // The largest index where the progression is broken: everything up to it is merged.
    let mut split = 0;
    for i in (1..packs.len()).rev() {
        if packs[i].objects < FACTOR * packs[i - 1].objects {
            split = i + 1;
            break;
        }
    }
    // Packs above it that the merged pack would outgrow are merged too.
    let mut merged: u64 = packs[..split].iter().map(|pack| pack.objects).sum();
    while split < packs.len() && packs[split].objects < FACTOR * merged {
        merged += packs[split].objects;
        split += 1;
    }
    split
}

/// Writes one pack holding every object of `packs` into the repository at `git_dir`.
pub(crate) fn merge(git_dir: &Path, packs: Vec<Pack>) -> Result<Merged, Error> {
    let mut indexes = Vec::new();
    let mut ids = Vec::new();
    for pack in &packs {
        let index = pack.base.with_extension("idx");
        let data = fs::read(&index).map_err(|source| Error::Io { path: index.clone(), source })?;
        let path = pack.base.with_extension("pack");
        let len = fs::metadata(&path).map_err(|source| Error::Io { path, source })?.len();
        let entries = packfile::read_index(&data, len);
        match &entries {
            Some(entries) => ids.extend(entries.iter().map(|entry| entry.id)),
            None => ids.extend(index_object_ids(&data).ok_or_else(|| {
                git2::Error::from_str("unreadable pack index while merging packs")
            })?),
        }
        indexes.push(entries);
    }
    let unique = ids.iter().collect::<std::collections::HashSet<_>>().len();
    let indexes: Option<Vec<_>> = indexes.into_iter().collect();
    let name = match indexes {
        Some(indexes) if unique == ids.len() => concatenate(git_dir, &packs, indexes)?,
        _ => {
            let name = rebuild(git_dir, &ids)?;
            // The merged packs are deleted after this returns: the new one must be on disk.
            sync_pack(git_dir, Some(&format!("pack-{name}")))?;
            name
        }
    };
    let output = git_dir.join("objects/pack").join(format!("pack-{name}"));
    Ok(Merged { packs, output })
}

/// Streams the entries of `packs` into one new pack and indexes it from their `indexes`, the
/// offsets shifted to where each pack's entries land (offset deltas are relative, so they stay
/// valid); returns the new pack's checksum (its name). The pack is flushed before it is placed.
fn concatenate(
    git_dir: &Path,
    packs: &[Pack],
    indexes: Vec<Vec<packfile::Entry>>,
) -> Result<String, Error> {
    use std::io::{Read, Seek, SeekFrom};

    let (header, trailer) = (packfile::HEADER as u64, packfile::TRAILER as u64);
    let total: usize = indexes.iter().map(Vec::len).sum();
    let count = u32::try_from(total)
        .map_err(|_| git2::Error::from_str("too many objects to merge into one pack"))?;
    let mut writer = packfile::FileWriter::create(git_dir)?;
    let mut head = *b"PACK\0\0\0\x02\0\0\0\0";
    head[8..].copy_from_slice(&count.to_be_bytes());
    writer.write(&head)?;
    let mut entries = Vec::with_capacity(total);
    let mut position = header;
    let mut buf = vec![0u8; 256 * 1024];
    for (pack, index) in packs.iter().zip(indexes) {
        let path = pack.base.with_extension("pack");
        let io = |source| Error::Io { path: path.clone(), source };
        let mut file = fs::File::open(&path).map_err(io)?;
        let len = file.metadata().map_err(io)?.len();
        let mut own = [0u8; packfile::HEADER];
        file.read_exact(&mut own).map_err(io)?;
        let version_ok = own[4..8] == [0, 0, 0, 2] || own[4..8] == [0, 0, 0, 3];
        let listed = u32::from_be_bytes([own[8], own[9], own[10], own[11]]) as usize;
        if &own[..4] != b"PACK" || !version_ok || len < header + trailer || listed != index.len() {
            return Err(git2::Error::from_str("not a pack file while merging packs").into());
        }
        entries.extend(
            index
                .into_iter()
                .map(|entry| packfile::Entry { offset: entry.offset - header + position, ..entry }),
        );
        file.seek(SeekFrom::Start(header)).map_err(io)?;
        let mut left = len - header - trailer;
        position += left;
        while left > 0 {
            let chunk = usize::try_from(left.min(buf.len() as u64)).unwrap_or(buf.len());
            file.read_exact(&mut buf[..chunk]).map_err(io)?;
            writer.write(&buf[..chunk])?;
            left -= chunk as u64;
        }
    }
    writer.finish(&mut entries)
}

/// Packs the objects `ids` (with duplicates) anew with libgit2's pack builder; returns the new
/// pack's checksum (its name).
fn rebuild(git_dir: &Path, ids: &[Oid]) -> Result<String, Error> {
    // A repository of the object database alone: libgit2's pack writer orders objects by walking
    // every tag of a full repository, thousands of ref lookups that a merge does not need.
    let objects = git_dir.join("objects");
    let objects = objects
        .to_str()
        .ok_or_else(|| git2::Error::from_str("the repository path is not valid UTF-8"))?;
    let odb = Odb::new()?;
    odb.add_disk_alternate(objects)?;
    let repo = Repository::from_odb(odb)?;
    let mut builder = repo.packbuilder()?;
    for id in ids {
        builder.insert_object(*id, None)?;
    }
    builder.write(&git_dir.join("objects/pack"), 0)?;
    let name = builder.name()?.map(str::to_owned);
    name.ok_or_else(|| git2::Error::from_str("the pack builder named no pack").into())
}

/// Removes the empty directories libgit2 leaves under `refs/` when loose refs are deleted or
/// packed. Iterating refs reads every directory, and a repository with thousands of packages had
/// thousands of empty ones. `refs/heads`, `refs/tags` and `refs/remotes` themselves stay.
pub(crate) fn prune_empty_ref_dirs(git_dir: &Path) {
    fn prune(dir: &Path, keep: bool) -> bool {
        let Ok(entries) = fs::read_dir(dir) else { return false };
        let mut empty = true;
        for entry in entries.flatten() {
            let is_dir = entry.file_type().is_ok_and(|kind| kind.is_dir());
            if !(is_dir && prune(&entry.path(), false)) {
                empty = false;
            }
        }
        empty && !keep && fs::remove_dir(dir).is_ok()
    }
    for top in ["heads", "tags", "remotes"] {
        prune(&git_dir.join("refs").join(top), true);
    }
}

/// Lock files a git writer creates next to the files it replaces, outside `refs/`.
const TOP_LEVEL_LOCKS: [&str; 6] = [
    "packed-refs.lock",
    "index.lock",
    "config.lock",
    "shallow.lock",
    "HEAD.lock",
    "FETCH_HEAD.lock",
];

/// Removes the lock files a killed writer left in the repository at `git_dir` (`*.lock` under
/// `refs/`, and `packed-refs.lock`, `index.lock`, `config.lock`, `shallow.lock` beside them),
/// logging each at warn. Only for caches: they are written by this process alone (the data
/// directory is locked against a second server), so at open no lock can be live.
pub(crate) fn remove_stale_locks(git_dir: &Path) -> usize {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        let Ok(entries) = fs::read_dir(dir) else { return };
        for entry in entries.flatten() {
            let path = entry.path();
            if entry.file_type().is_ok_and(|kind| kind.is_dir()) {
                walk(&path, out);
            } else if path.extension().is_some_and(|ext| ext == "lock") {
                out.push(path);
            }
        }
    }
    let mut stale: Vec<PathBuf> = TOP_LEVEL_LOCKS.iter().map(|name| git_dir.join(name)).collect();
    stale.retain(|path| path.exists());
    walk(&git_dir.join("refs"), &mut stale);
    // Half-written packs of a killed fetch, write or merge (never referenced by anything), and
    // a pack renamed into place by a writer killed before its index was (invisible without it).
    if let Ok(entries) = fs::read_dir(git_dir.join("objects/pack")) {
        let temporary = |name: &str| name.starts_with("pack_git2_") || name.starts_with("tmp_");
        let unindexed = |path: &Path| {
            path.extension().is_some_and(|ext| ext == "pack")
                && !path.with_extension("idx").exists()
        };
        stale.extend(
            entries
                .flatten()
                .filter(|entry| {
                    entry.file_name().to_str().is_some_and(temporary) || unindexed(&entry.path())
                })
                .map(|entry| entry.path()),
        );
    }
    let mut removed = 0;
    for path in stale {
        match fs::remove_file(&path) {
            Ok(()) => {
                removed += 1;
                tracing::warn!(path = %path.display(), "removed a stale lock or temporary file from the cache");
            }
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
            Err(err) => tracing::warn!(path = %path.display(), %err, "cannot remove a stale lock"),
        }
    }
    removed
}

/// The commit a tag's target (a commit, or an annotated tag of one) names.
fn peel(repo: &Repository, id: Oid) -> Result<git2::Commit<'_>, Error> {
    Ok(repo.find_object(id, None)?.peel_to_commit()?)
}

/// Flushes the file at `path` to disk.
pub(crate) fn sync_file(path: &Path) -> Result<(), Error> {
    let io = |source| Error::Io { path: path.to_path_buf(), source };
    fs::File::open(path).map_err(io)?.sync_all().map_err(io)
}

/// Flushes the directory `dir` (its entries: created, renamed and removed names) to disk.
pub(crate) fn sync_dir(dir: &Path) -> Result<(), Error> {
    sync_file(dir)
}

/// Flushes the pack `name` (`pack-<hex>` without extension; every pack when `None` or absent)
/// of the repository at `git_dir` and its directory, so a ref may then point into it.
pub(crate) fn sync_pack(git_dir: &Path, name: Option<&str>) -> Result<(), Error> {
    let pack_dir = git_dir.join("objects/pack");
    let named: Vec<PathBuf> = name
        .map(|name| ["pack", "idx", "rev"].map(|ext| pack_dir.join(format!("{name}.{ext}"))).into())
        .unwrap_or_default();
    let mut files: Vec<PathBuf> = named.into_iter().filter(|path| path.exists()).collect();
    if files.is_empty() {
        let entries = fs::read_dir(&pack_dir)
            .map_err(|source| Error::Io { path: pack_dir.clone(), source })?;
        files = entries
            .flatten()
            .map(|entry| entry.path())
            .filter(|path| path.extension().is_some_and(|ext| ext == "pack" || ext == "idx"))
            .collect();
    }
    for file in &files {
        sync_file(file)?;
    }
    sync_dir(&pack_dir)?;
    sync_dir(&git_dir.join("objects"))
}

/// The refs of a `packed-refs` file: name → the line of its value (`<hex>`), peeled lines dropped.
#[cfg(test)]
pub(crate) fn read_packed_refs(
    git_dir: &Path,
) -> Result<std::collections::BTreeMap<String, String>, Error> {
    let path = git_dir.join("packed-refs");
    let text = match fs::read_to_string(&path) {
        Ok(text) => text,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(source) => return Err(Error::Io { path, source }),
    };
    let mut refs = std::collections::BTreeMap::new();
    for line in text.lines() {
        if line.starts_with('#') || line.starts_with('^') {
            continue;
        }
        if let Some((id, name)) = line.split_once(' ') {
            refs.insert(name.to_owned(), id.to_owned());
        }
    }
    Ok(refs)
}

/// Writes `refs` as the `packed-refs` of `git_dir` through the lock file `lock` (already created
/// by the caller): written, flushed, renamed over `packed-refs`, directory flushed.
pub(crate) fn write_packed_refs<N: AsRef<str>, I: AsRef<str>>(
    git_dir: &Path,
    lock: &Path,
    refs: &std::collections::BTreeMap<N, I>,
) -> Result<(), Error> {
    let mut text = String::with_capacity(refs.len() * 100 + 32);
    text.push_str("# pack-refs with: sorted \n");
    for (name, id) in refs {
        text.push_str(id.as_ref());
        text.push(' ');
        text.push_str(name.as_ref());
        text.push('\n');
    }
    write_packed_bytes(git_dir, lock, text.as_bytes())
}

/// Writes `bytes` as the `packed-refs` of `git_dir`, as [`write_packed_refs`] does.
pub(crate) fn write_packed_bytes(git_dir: &Path, lock: &Path, bytes: &[u8]) -> Result<(), Error> {
    use std::io::Write;
    let io = |source| Error::Io { path: lock.to_path_buf(), source };
    let mut file = fs::OpenOptions::new().write(true).truncate(true).open(lock).map_err(io)?;
    file.write_all(bytes).map_err(io)?;
    file.sync_all().map_err(io)?;
    drop(file);
    fs::rename(lock, git_dir.join("packed-refs")).map_err(io)?;
    sync_dir(git_dir)
}

/// The file in a cache that lists the lock files this process holds in its local remote
/// (`<inode> <path>` lines), so the ones a kill left behind are known to be ours.
pub(crate) const LOCK_JOURNAL: &str = "veranda-remote-locks";

/// Removes the lock files in a local remote that the journal at `journal` records and that are
/// still the very files this process created (same inode): a killed write of ours left them.
/// Locks of any other process are never touched. Runs at open, before any write.
pub(crate) fn release_own_locks(journal: &Path) {
    use std::os::unix::fs::MetadataExt;
    use std::time::UNIX_EPOCH;
    let Ok(text) = fs::read_to_string(journal) else { return };
    let lines: Vec<&str> = text.lines().collect();
    for (at, line) in lines.iter().enumerate() {
        // `intent <nanos> <path>`: written just before the lock was (or libgit2 was asked to
        // be) created, so a kill in between is covered; the lock is ours if it was modified
        // in the minute after. Once the lock was created its inode line follows, and only that
        // says whether the file there now is ours: other servers writing the same remote take
        // the same locks, and a lock of theirs is as recent.
        if let Some(rest) = line.strip_prefix("intent ") {
            let Some((nanos, path)) = rest.split_once(' ') else { continue };
            let created = lines[at + 1..].iter().any(|later| {
                later.split_once(' ').is_some_and(|(inode, later_path)| {
                    later_path == path && inode.parse::<u64>().is_ok()
                })
            });
            if created {
                continue;
            }
            let (Ok(nanos), path) = (nanos.parse::<u128>(), Path::new(path)) else { continue };
            let modified = fs::symlink_metadata(path)
                .and_then(|meta| meta.modified())
                .ok()
                .and_then(|time| time.duration_since(UNIX_EPOCH).ok())
                .map(|time| time.as_nanos());
            let ours = modified.is_some_and(|modified| {
                modified + 1_000_000_000 >= nanos && modified <= nanos + 60_000_000_000
            });
            if ours && fs::remove_file(path).is_ok() {
                tracing::warn!(
                    path = %path.display(),
                    "removed a lock file a killed write of this server left in the remote"
                );
            }
            continue;
        }
        let Some((inode, path)) = line.split_once(' ') else { continue };
        let (Ok(inode), path) = (inode.parse::<u64>(), Path::new(path)) else { continue };
        if fs::symlink_metadata(path).is_ok_and(|meta| meta.ino() == inode) {
            match fs::remove_file(path) {
                Ok(()) => tracing::warn!(
                    path = %path.display(),
                    "removed a lock file a killed write of this server left in the remote"
                ),
                Err(err) => tracing::warn!(path = %path.display(), %err, "cannot remove own lock"),
            }
        }
    }
    clear_journal(journal);
}

/// Records in `journal` that lock files `paths` are about to be created by this process.
pub(crate) fn journal_intent(journal: &Path, paths: &[PathBuf]) -> Result<(), Error> {
    use std::io::Write;
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |time| time.as_nanos());
    let io = |source| Error::Io { path: journal.to_path_buf(), source };
    let mut log = fs::OpenOptions::new().create(true).append(true).open(journal).map_err(io)?;
    let lines: String =
        paths.iter().map(|path| format!("intent {nanos} {}\n", path.display())).collect();
    log.write_all(lines.as_bytes()).map_err(io)
}

/// Forgets the journalled locks once they are released.
pub(crate) fn clear_journal(journal: &Path) {
    if let Err(err) = fs::remove_file(journal)
        && err.kind() != std::io::ErrorKind::NotFound
    {
        tracing::warn!(path = %journal.display(), %err, "cannot remove the lock journal");
    }
}

/// [`take_lock`], trying again for up to `wait` while another writer holds it.
pub(crate) fn wait_for_lock(
    path: &Path,
    journal: Option<&Path>,
    wait: std::time::Duration,
) -> Result<bool, Error> {
    let deadline = std::time::Instant::now() + wait;
    let mut pause = std::time::Duration::from_millis(1);
    loop {
        if take_lock(path, journal)? {
            return Ok(true);
        }
        if std::time::Instant::now() + pause > deadline {
            return Ok(false);
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(std::time::Duration::from_millis(50));
    }
}

/// Creates the directories of the ref file `path` that are missing, durably.
fn ensure_ref_dir(path: &Path) -> Result<(), Error> {
    if let Some(parent) = path.parent()
        && !parent.is_dir()
    {
        fs::create_dir_all(parent)
            .map_err(|source| Error::Io { path: parent.to_path_buf(), source })?;
        // New directories are durable once their names are: flush each one's parent.
        let mut dir = parent;
        while let Some(up) = dir.parent() {
            sync_dir(up)?;
            if up.join("HEAD").exists() || up.join("packed-refs").exists() {
                break;
            }
            dir = up;
        }
    }
    Ok(())
}

/// Creates the lock file `path` exclusively; `Ok(false)` when it exists already. With a
/// `journal`, the lock is recorded there first-thing after it exists ([`release_own_locks`]).
pub(crate) fn take_lock(path: &Path, journal: Option<&Path>) -> Result<bool, Error> {
    let Some(journal) = journal else { return create_lock(path, None) };
    journal_intent(journal, &[path.to_path_buf()])?;
    let io = |source| Error::Io { path: journal.to_path_buf(), source };
    let mut log = fs::OpenOptions::new().create(true).append(true).open(journal).map_err(io)?;
    create_lock(path, Some((&mut log, journal)))
}

/// [`take_lock`] once the intent to take it is journalled: the lock's inode is appended to the
/// open journal `log` (at `path`), if any.
fn create_lock(path: &Path, log: Option<(&mut fs::File, &Path)>) -> Result<bool, Error> {
    // Another writer packing refs removes the directories it emptied (as git does): one may go
    // between its creation here and the lock's, which is then tried again.
    let mut attempt = 1;
    let created = loop {
        ensure_ref_dir(path)?;
        match fs::OpenOptions::new().write(true).create_new(true).open(path) {
            Err(err) if err.kind() == std::io::ErrorKind::NotFound && attempt < 5 => attempt += 1,
            created => break created,
        }
    };
    match created {
        Ok(file) => {
            if let Some((log, journal)) = log {
                use std::{io::Write, os::unix::fs::MetadataExt};
                let io = |source| Error::Io { path: journal.to_path_buf(), source };
                let inode = file.metadata().map_err(io)?.ino();
                log.write_all(format!("{inode} {}\n", path.display()).as_bytes()).map_err(io)?;
            }
            Ok(true)
        }
        Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
        Err(source) => Err(Error::Io { path: path.to_path_buf(), source }),
    }
}

/// Packs the loose refs of the repository at `git_dir` into `packed-refs`, safe against a kill
/// at any moment: the new `packed-refs` (holding every ref) is written to `packed-refs.lock`,
/// flushed and renamed into place before any loose ref is deleted, and a loose ref is deleted
/// only under its own lock and while it still holds the packed value. Symbolic refs stay loose.
/// A held lock (another writer) makes it skip that part; it is redone the next time.
pub(crate) fn pack_refs(git_dir: &Path, journal: Option<&Path>) -> Result<(), Error> {
    let packed = pack_refs_locked(git_dir, journal);
    if let Some(journal) = journal {
        clear_journal(journal);
    }
    packed
}

fn pack_refs_locked(git_dir: &Path, journal: Option<&Path>) -> Result<(), Error> {
    fn walk(dir: &Path, name: &str, out: &mut Vec<(String, String)>) {
        let Ok(entries) = fs::read_dir(dir) else { return };
        for entry in entries.flatten() {
            let path = entry.path();
            let Some(file) = entry.file_name().to_str().map(str::to_owned) else { continue };
            let full = format!("{name}/{file}");
            if entry.file_type().is_ok_and(|kind| kind.is_dir()) {
                walk(&path, &full, out);
            } else if !file.ends_with(".lock")
                && let Ok(text) = fs::read_to_string(&path)
            {
                let id = text.trim_end();
                if id.len() == 40 && id.bytes().all(|b| b.is_ascii_hexdigit()) {
                    out.push((full, id.to_owned()));
                }
            }
        }
    }
    let lock = git_dir.join("packed-refs.lock");
    if !take_lock(&lock, journal)? {
        return Err(Error::RemoteLocked { file: "packed-refs.lock".to_owned() });
    }
    let written = (|| {
        // Borrowed from the file's text: a packing in a repository of 10,000 refs allocates
        // for the loose ones only.
        let path = git_dir.join("packed-refs");
        let text = match fs::read_to_string(&path) {
            Ok(text) => text,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(source) => return Err(Error::Io { path, source }),
        };
        let mut refs: std::collections::BTreeMap<&str, &str> = text
            .lines()
            .filter(|line| !line.starts_with('#') && !line.starts_with('^'))
            .filter_map(|line| line.split_once(' ').map(|(id, name)| (name, id)))
            .collect();
        let mut loose = Vec::new();
        walk(&git_dir.join("refs"), "refs", &mut loose);
        for (name, id) in &loose {
            refs.insert(name, id);
        }
        write_packed_refs(git_dir, &lock, &refs)?;
        Ok(loose)
    })();
    let loose = match written {
        Ok(loose) => loose,
        Err(err) => {
            let _ = fs::remove_file(&lock);
            return Err(err);
        }
    };
    let mut dirs = std::collections::BTreeSet::new();
    // Every lock of the loop journalled at once, and each one's inode through one open handle:
    // the loop runs over hundreds of refs.
    let locks: Vec<PathBuf> =
        loose.iter().map(|(name, _)| git_dir.join(format!("{name}.lock"))).collect();
    let mut log = match journal {
        Some(journal) => {
            journal_intent(journal, &locks)?;
            let io = |source| Error::Io { path: journal.to_path_buf(), source };
            Some(fs::OpenOptions::new().create(true).append(true).open(journal).map_err(io)?)
        }
        None => None,
    };
    for ((name, id), ref_lock) in loose.into_iter().zip(locks) {
        let path = git_dir.join(&name);
        if !create_lock(&ref_lock, log.as_mut().zip(journal))? {
            continue;
        }
        if fs::read_to_string(&path).is_ok_and(|text| text.trim_end() == id)
            && fs::remove_file(&path).is_ok()
            && let Some(parent) = path.parent()
        {
            dirs.insert(parent.to_path_buf());
        }
        let _ = fs::remove_file(&ref_lock);
    }
    for dir in dirs {
        let _ = sync_dir(&dir);
    }
    prune_empty_ref_dirs(git_dir);
    Ok(())
}

/// The ref updates that complete or undo lifecycle moves a crash interrupted, read from the
/// tracking refs of `cache` (registered branch `branch`). An approval moves the tag, then the
/// branch, then deletes the draft's branch; so:
///
/// - a `drafts/` or `proposed/` branch `<pkg>/<ws>` with a tag `<pkg>/vN` whose commit's
///   annotation names workspace `ws` is what is left of a finished approval: it is deleted, and
///   when that commit is a merge whose first parent is the branch head, the branch is moved to it;
/// - with the older order (branch first): the branch head is a merge annotated with `<pkg>`, `ws`
///   and revision N, `<pkg>/vN` is missing and the draft still exists: the tag is created and the
///   draft deleted;
/// - `drafts/<pkg>/<ws>` and `proposed/<pkg>/<ws>` at the same commit are a cut propose or
///   rejection: the draft branch is deleted;
/// - a `deletionProposed/<pkg>/vN` without the tag `<pkg>/vN`, or `deletionProposed/<pkg>/<ws>`
///   (a placeholder's) while `<pkg>` is no longer on the branch, is what a deletion left: deleted.
///
/// Names are of the remote (`refs/heads/...`, `refs/tags/...`).
pub(crate) fn leftovers(cache: &Repository, branch: &str) -> Result<Vec<crate::RefUpdate>, Error> {
    use crate::{RefUpdate, annotation::parse_annotations, transport::TRACKING_PREFIX};
    let mut branches = std::collections::BTreeMap::new();
    let mut tags = std::collections::BTreeMap::new();
    for reference in cache.references()? {
        let reference = reference?;
        let Ok(name) = reference.name() else { continue };
        if let Some(branch) = name.strip_prefix(TRACKING_PREFIX) {
            branches.insert(branch.to_owned(), reference.target());
        } else if name.starts_with("refs/tags/")
            && let Some(id) = reference.target()
        {
            // Peeled only for packages with a draft: opening stays one pass over the refs.
            tags.insert(name.to_owned(), id);
        }
    }
    let head = match cache.find_reference(&format!("{TRACKING_PREFIX}{branch}")) {
        Ok(reference) => Some(reference.peel_to_commit()?),
        Err(_) => None,
    };
    let head_id = head.as_ref().map(git2::Commit::id);
    let head_annotations = head
        .as_ref()
        .map(|head| parse_annotations(head.message().unwrap_or("")))
        .unwrap_or_default();
    let mut updates = Vec::new();
    let mut branch_moved = false;
    for (name, target) in &branches {
        let (kind, rest) = match name.split_once('/') {
            Some((kind @ ("drafts" | "proposed" | "deletionProposed"), rest)) => (kind, rest),
            _ => continue,
        };
        let Some((full, last)) = rest.rsplit_once('/') else { continue };
        let remote_ref = format!("refs/heads/{name}");
        if kind == "deletionProposed" {
            let orphan = match last
                .strip_prefix('v')
                .filter(|n| n.bytes().all(|b| b.is_ascii_digit()) && !n.is_empty())
            {
                Some(_) => !tags.contains_key(&format!("refs/tags/{full}/{last}")),
                None => head.as_ref().is_some_and(|head| {
                    head.tree().is_ok_and(|tree| {
                        !tree
                            .get_path(Path::new(full))
                            .is_ok_and(|entry| entry.kind() == Some(git2::ObjectType::Tree))
                    })
                }),
            };
            if orphan {
                tracing::warn!(branch = %remote_ref, "deleting the leftover of a deletion");
                updates.push(RefUpdate::delete(remote_ref));
            }
            continue;
        }
        // A propose (proposed set, then the draft deleted) or a rejection (the reverse) was
        // cut in between: both branches name the same commit. The client had no answer, so
        // either state is right; the proposal is kept.
        if kind == "drafts" && branches.get(&format!("proposed/{rest}")) == Some(target) {
            tracing::warn!(branch = %remote_ref, "deleting the leftover of a proposal");
            updates.push(RefUpdate::delete(remote_ref));
            continue;
        }
        let prefix = format!("refs/tags/{full}/v");
        let approved = tags
            .range(prefix.clone()..)
            .take_while(|(tag, _)| tag.starts_with(&prefix))
            .find(|(tag, id)| {
                tag[prefix.len()..].bytes().all(|b| b.is_ascii_digit())
                    && peel(cache, **id).is_ok_and(|commit| {
                        parse_annotations(commit.message().unwrap_or(""))
                            .iter()
                            .any(|a| a.package == full && a.workspace_name == last)
                    })
            });
        if let Some((tag, id)) = approved {
            let commit = peel(cache, *id)?;
            let id = &commit.id();
            if !branch_moved
                && Some(*id) != head_id
                && commit.parent_count() >= 2
                && commit.parent_id(0).ok() == head_id
                && let Some(head_id) = head_id
            {
                tracing::warn!(%tag, "completing an interrupted approval: moving the branch");
                updates.push(
                    RefUpdate::set(format!("refs/heads/{branch}"), id.to_string())
                        .expecting(head_id.to_string()),
                );
                branch_moved = true;
            }
            tracing::warn!(branch = %remote_ref, %tag, "deleting the leftover of an approval");
            updates.push(RefUpdate::delete(remote_ref));
            continue;
        }
        let interrupted = head.as_ref().filter(|head| head.parent_count() >= 2).and_then(|_| {
            head_annotations.iter().find(|a| a.package == full && a.workspace_name == last)
        });
        if let (Some(annotation), Some(head_id)) = (interrupted, head_id) {
            let tag = format!("refs/tags/{full}/v{}", annotation.revision);
            if annotation.revision.bytes().all(|b| b.is_ascii_digit()) && !tags.contains_key(&tag) {
                tracing::warn!(%tag, "completing an interrupted approval: creating the tag");
                updates.push(RefUpdate::set(tag, head_id.to_string()).expecting(crate::ABSENT));
                updates.push(RefUpdate::delete(remote_ref));
            }
        }
    }
    Ok(updates)
}

const IDX_MAGIC: [u8; 4] = [0xff, b't', b'O', b'c'];
const IDX_NAMES: usize = 8 + 256 * 4;

/// Object count of a version 2 pack index (older versions are left alone).
fn index_object_count(path: &Path) -> Option<u64> {
    use std::io::Read;
    let mut header = [0u8; IDX_NAMES];
    fs::File::open(path).ok()?.read_exact(&mut header).ok()?;
    if header[..4] != IDX_MAGIC || header[4..8] != [0, 0, 0, 2] {
        return None;
    }
    let count = header.get(IDX_NAMES - 4..IDX_NAMES)?;
    Some(u64::from(u32::from_be_bytes(count.try_into().ok()?)))
}

/// The object ids listed in a version 2 pack index.
fn index_object_ids(data: &[u8]) -> Option<Vec<Oid>> {
    if data.get(..4)? != IDX_MAGIC || data.get(4..8)? != [0, 0, 0, 2] {
        return None;
    }
    let count = u32::from_be_bytes(data.get(IDX_NAMES - 4..IDX_NAMES)?.try_into().ok()?) as usize;
    let names = data.get(IDX_NAMES..IDX_NAMES + count * 20)?;
    names.chunks_exact(20).map(|raw| Oid::from_bytes(raw).ok()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn packs(counts: &[u64]) -> Vec<Pack> {
        counts
            .iter()
            .enumerate()
            .map(|(i, &objects)| Pack { base: PathBuf::from(format!("p{i}")), objects })
            .collect()
    }

    fn split(counts: &[u64]) -> usize {
        geometric_split(&mut packs(counts))
    }

    #[test]
    fn geometric_split_merges_the_small_packs_only() {
        // A big first pack and many small write packs: only the small ones merge.
        assert_eq!(split(&[100_000, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5]), 12);
        // Already a progression: nothing to do.
        assert_eq!(split(&[1, 2, 4, 8, 16, 32]), 0);
        // A break at the top pulls in everything below it.
        assert_eq!(split(&[1, 2, 4, 8, 16, 20]), 6);
        // The merged pack would outgrow the next one, so that one is merged too.
        assert_eq!(split(&[3, 3, 3, 3, 7, 100]), 5);
    }

    #[test]
    fn packs_sharing_objects_are_merged_too() {
        let dir = tempfile::tempdir().expect("temp dir");
        let repo = Repository::init_bare(dir.path()).expect("init");
        let odb = repo.odb().expect("odb");
        let shared = odb.write(git2::ObjectType::Blob, b"in every pack").expect("write");
        for i in 0..=MAX_PACKS {
            let own = odb.write(git2::ObjectType::Blob, format!("own {i}").as_bytes()).expect("w");
            let mut builder = repo.packbuilder().expect("packbuilder");
            builder.insert_object(shared, None).expect("insert");
            builder.insert_object(own, None).expect("insert");
            builder.write(&dir.path().join("objects/pack"), 0).expect("write pack");
        }
        let planned = plan(dir.path()).expect("too many packs");
        merge(dir.path(), planned).expect("merge").remove();
        assert!(plan(dir.path()).is_none());
        let repo = Repository::open_bare(dir.path()).expect("reopen");
        assert_eq!(repo.find_blob(shared).expect("shared blob").content(), b"in every pack");
    }

    #[test]
    fn packing_refs_keeps_every_ref_and_respects_locks() {
        let dir = tempfile::tempdir().expect("temp dir");
        let repo = Repository::init_bare(dir.path()).expect("init");
        let blob = repo.blob(b"x").expect("blob");
        let tree = {
            let mut builder = repo.treebuilder(None).expect("builder");
            builder.insert("f", blob, 0o100644).expect("insert");
            builder.write().expect("tree")
        };
        let sig = git2::Signature::now("a", "a@b").expect("sig");
        let tree = repo.find_tree(tree).expect("tree");
        let commit = repo.commit(None, &sig, &sig, "m", &tree, &[]).expect("commit");
        for name in ["refs/heads/main", "refs/heads/drafts/p/ws", "refs/tags/p/v1"] {
            repo.reference(name, commit, true, "test").expect("ref");
        }
        pack_refs(dir.path(), None).expect("pack");
        assert!(!dir.path().join("refs/heads/main").exists(), "loose refs are gone");
        let packed = read_packed_refs(dir.path()).expect("read");
        assert_eq!(packed.len(), 3, "{packed:?}");
        for name in ["refs/heads/main", "refs/heads/drafts/p/ws", "refs/tags/p/v1"] {
            let repo = Repository::open_bare(dir.path()).expect("reopen");
            assert_eq!(repo.refname_to_id(name).expect("resolves"), commit);
        }

        // A held lock on packed-refs: nothing is changed, and the lock stays.
        repo.reference("refs/heads/new", commit, true, "test").expect("ref");
        fs::write(dir.path().join("packed-refs.lock"), "").expect("lock");
        assert!(matches!(pack_refs(dir.path(), None), Err(Error::RemoteLocked { .. })));
        assert!(dir.path().join("refs/heads/new").exists());
        assert!(dir.path().join("packed-refs.lock").exists());
        fs::remove_file(dir.path().join("packed-refs.lock")).expect("unlock");

        // A ref whose own lock is held stays loose, and resolves.
        fs::write(dir.path().join("refs/heads/new.lock"), "").expect("lock");
        pack_refs(dir.path(), None).expect("pack");
        assert!(dir.path().join("refs/heads/new").exists());
        assert_eq!(
            Repository::open_bare(dir.path())
                .expect("reopen")
                .refname_to_id("refs/heads/new")
                .expect("ref"),
            commit
        );
    }

    #[test]
    fn a_packed_ref_is_cut_with_its_peeled_line_and_no_other() {
        fn packed_refs_without(dir: &Path, names: &[&str]) -> Result<Option<Vec<u8>>, Error> {
            Ok(crate::packedrefs::read(dir)?.without(names))
        }
        let dir = tempfile::tempdir().expect("temp dir");
        let (a, b, c) = ("a".repeat(40), "b".repeat(40), "c".repeat(40));
        let text = format!(
            "# pack-refs with: peeled fully-peeled sorted \n{a} refs/tags/p/v1\n^{c}\n{b} refs/tags/p/v10\n{c} refs/tags/p/v1x"
        );
        fs::write(dir.path().join("packed-refs"), &text).expect("write");
        let cut = |name: &str| {
            packed_refs_without(dir.path(), &[name])
                .expect("read")
                .map(|b| String::from_utf8(b).expect("utf-8"))
        };
        assert_eq!(
            cut("refs/tags/p/v1").as_deref(),
            Some(format!("# pack-refs with: peeled fully-peeled sorted \n{b} refs/tags/p/v10\n{c} refs/tags/p/v1x").as_str())
        );
        // The last line has no newline.
        assert_eq!(
            cut("refs/tags/p/v1x").as_deref(),
            Some(format!("# pack-refs with: peeled fully-peeled sorted \n{a} refs/tags/p/v1\n^{c}\n{b} refs/tags/p/v10\n").as_str())
        );
        assert_eq!(cut("refs/tags/p/v"), None);
        assert_eq!(cut("refs/tags/p"), None);
        // Several at once: the first and the last, each with what follows it kept.
        let both = packed_refs_without(dir.path(), &["refs/tags/p/v1x", "refs/tags/p/v1"])
            .expect("read")
            .map(|b| String::from_utf8(b).expect("utf-8"));
        assert_eq!(
            both.as_deref(),
            Some(
                format!("# pack-refs with: peeled fully-peeled sorted \n{b} refs/tags/p/v10\n")
                    .as_str()
            )
        );
        assert_eq!(cut("pack-refs with: peeled fully-peeled sorted "), None);
        fs::remove_file(dir.path().join("packed-refs")).expect("remove");
        assert_eq!(cut("refs/tags/p/v1"), None);
    }

    #[test]
    fn empty_ref_directories_are_pruned() {
        let dir = tempfile::tempdir().expect("temp dir");
        let refs = dir.path().join("refs");
        for empty in ["tags/a/b", "tags/c", "heads/drafts/x/y", "remotes/origin/drafts/z"] {
            fs::create_dir_all(refs.join(empty)).expect("mkdir");
        }
        fs::create_dir_all(refs.join("remotes/origin/drafts/kept")).expect("mkdir");
        fs::write(refs.join("remotes/origin/drafts/kept/ws"), "0".repeat(40)).expect("ref");
        prune_empty_ref_dirs(dir.path());
        let mut left: Vec<String> = walk(&refs);
        left.sort();
        assert_eq!(
            left,
            [
                "heads",
                "remotes",
                "remotes/origin",
                "remotes/origin/drafts",
                "remotes/origin/drafts/kept",
                "remotes/origin/drafts/kept/ws",
                "tags"
            ]
        );
    }

    fn walk(dir: &Path) -> Vec<String> {
        let mut out = Vec::new();
        let mut stack = vec![dir.to_path_buf()];
        while let Some(next) = stack.pop() {
            for entry in fs::read_dir(&next).expect("read dir").flatten() {
                let path = entry.path();
                let relative =
                    path.strip_prefix(dir).expect("below").to_string_lossy().into_owned();
                out.push(relative);
                if path.is_dir() {
                    stack.push(path);
                }
            }
        }
        out
    }

    #[test]
    fn a_merge_never_removes_its_own_output_nor_inputs_whose_output_is_gone() {
        let dir = tempfile::tempdir().expect("temp dir");
        let repo = Repository::init_bare(dir.path()).expect("init");
        let odb = repo.odb().expect("odb");
        let pack_dir = dir.path().join("objects/pack");
        let mut bases = Vec::new();
        for i in 0..2 {
            let id = odb.write(git2::ObjectType::Blob, format!("blob {i}").as_bytes()).expect("w");
            let mut builder = repo.packbuilder().expect("packbuilder");
            builder.insert_object(id, None).expect("insert");
            builder.write(&pack_dir, 0).expect("write pack");
            let name = builder.name().expect("name").expect("named").to_owned();
            bases.push(pack_dir.join(format!("pack-{name}")));
        }
        let pack = |base: &PathBuf| Pack { base: base.clone(), objects: 1 };
        // The output bears the name of an input (the same objects packed the same way).
        let merged =
            Merged { packs: vec![pack(&bases[0]), pack(&bases[1])], output: bases[0].clone() };
        merged.remove();
        assert!(bases[0].with_extension("pack").exists(), "the output stays");
        assert!(!bases[1].with_extension("idx").exists(), "the other input goes");
        // Another process merged the output away: the inputs are not this merge's to remove.
        let gone = Merged { packs: vec![pack(&bases[0])], output: pack_dir.join("pack-gone") };
        gone.remove();
        assert!(bases[0].with_extension("idx").exists());
    }

    #[test]
    fn merging_keeps_every_object_and_removes_the_old_packs() {
        let dir = tempfile::tempdir().expect("temp dir");
        let repo = Repository::init_bare(dir.path()).expect("init");
        let odb = repo.odb().expect("odb");
        let mut ids = Vec::new();
        for i in 0..=MAX_PACKS {
            let mut builder = repo.packbuilder().expect("packbuilder");
            let id = odb.write(git2::ObjectType::Blob, format!("blob {i}").as_bytes()).expect("w");
            builder.insert_object(id, None).expect("insert");
            builder.write(&dir.path().join("objects/pack"), 0).expect("write pack");
            ids.push(id);
        }
        for id in &ids {
            let loose = format!("objects/{}/{}", &id.to_string()[..2], &id.to_string()[2..]);
            fs::remove_file(dir.path().join(loose)).expect("only the packed copy remains");
        }
        let planned = plan(dir.path()).expect("too many packs");
        assert_eq!(planned.len(), MAX_PACKS + 1);
        merge(dir.path(), planned).expect("merge").remove();
        assert!(plan(dir.path()).is_none());
        let idx = fs::read_dir(dir.path().join("objects/pack"))
            .expect("pack dir")
            .flatten()
            .filter(|entry| entry.path().extension().is_some_and(|ext| ext == "idx"))
            .count();
        assert_eq!(idx, 1);
        let repo = Repository::open_bare(dir.path()).expect("reopen");
        for id in ids {
            assert!(repo.odb().expect("odb").exists(id), "{id} survived the merge");
        }
    }
}
