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
//! stay valid) and has libgit2 index it: nothing is recompressed or searched for deltas, so a merge
//! costs about one read of its packs. Packs that share an object (which one pack may not hold
//! twice) go through libgit2's pack builder instead. The new pack is written next to the old ones,
//! so readers see every object throughout; the merged packs are deleted afterwards by
//! [`Merged::remove`], which the owner calls while no operation of its own has a handle on them.

use std::{
    fs,
    path::{Path, PathBuf},
};

use git2::{Odb, Oid, Repository};

use crate::Error;

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
}

impl Merged {
    /// Deletes the merged packs' files (`.pack`, `.idx` and any `.rev` or `.bitmap`).
    pub(crate) fn remove(&self) {
        for pack in &self.packs {
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
    let mut total = 0;
    let mut packs = Vec::new();
    for entry in fs::read_dir(&pack_dir).ok()?.flatten() {
        let path = entry.path();
        if path.extension().is_none_or(|ext| ext != "idx") {
            continue;
        }
        total += 1;
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
    if total <= MAX_PACKS {
        return None;
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
    let mut ids = Vec::new();
    for pack in &packs {
        let index = pack.base.with_extension("idx");
        let data = fs::read(&index).map_err(|source| Error::Io { path: index.clone(), source })?;
        let listed = index_object_ids(&data)
            .ok_or_else(|| git2::Error::from_str("unreadable pack index while merging packs"))?;
        ids.extend(listed);
    }
    let unique = ids.iter().collect::<std::collections::HashSet<_>>().len();
    if unique == ids.len() {
        concatenate(git_dir, &packs, ids.len())?;
    } else {
        rebuild(git_dir, &ids)?;
    }
    Ok(Merged { packs })
}

/// Streams the entries of `packs` into one new pack with `count` objects, indexed by libgit2.
fn concatenate(git_dir: &Path, packs: &[Pack], count: usize) -> Result<(), Error> {
    use std::io::{Read, Seek, SeekFrom, Write};

    const HEADER: u64 = 12;
    const TRAILER: u64 = 20;
    let count = u32::try_from(count)
        .map_err(|_| git2::Error::from_str("too many objects to merge into one pack"))?;
    let repo = Repository::open_bare(git_dir)?;
    let odb = repo.odb()?;
    let mut writer = odb.packwriter()?;
    let mut digest = sha1_smol::Sha1::new();
    let write_err = |err: std::io::Error| git2::Error::from_str(&format!("writing pack: {err}"));
    let mut emit = |bytes: &[u8]| -> Result<(), Error> {
        digest.update(bytes);
        writer.write_all(bytes).map_err(write_err)?;
        Ok(())
    };
    let mut header = *b"PACK\0\0\0\x02\0\0\0\0";
    header[8..].copy_from_slice(&count.to_be_bytes());
    emit(&header)?;
    let mut buf = vec![0u8; 256 * 1024];
    for pack in packs {
        let path = pack.base.with_extension("pack");
        let io = |source| Error::Io { path: path.clone(), source };
        let mut file = fs::File::open(&path).map_err(io)?;
        let len = file.metadata().map_err(io)?.len();
        let mut own = [0u8; HEADER as usize];
        file.read_exact(&mut own).map_err(io)?;
        let version_ok = own[4..8] == [0, 0, 0, 2] || own[4..8] == [0, 0, 0, 3];
        if &own[..4] != b"PACK" || !version_ok || len < HEADER + TRAILER {
            return Err(git2::Error::from_str("not a pack file while merging packs").into());
        }
        file.seek(SeekFrom::Start(HEADER)).map_err(io)?;
        let mut left = len - HEADER - TRAILER;
        while left > 0 {
            let chunk = usize::try_from(left.min(buf.len() as u64)).unwrap_or(buf.len());
            file.read_exact(&mut buf[..chunk]).map_err(io)?;
            emit(&buf[..chunk])?;
            left -= chunk as u64;
        }
    }
    let trailer = digest.digest().bytes();
    writer.write_all(&trailer).map_err(write_err)?;
    writer.commit()?;
    Ok(())
}

/// Packs the objects `ids` (with duplicates) anew with libgit2's pack builder.
fn rebuild(git_dir: &Path, ids: &[Oid]) -> Result<(), Error> {
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
    Ok(())
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
