//! Pack files this crate writes itself: built from whole objects with fast compression, indexed
//! from what was written, and merged by concatenating packs and their indexes.
//!
//! libgit2 indexes every pack it is given by inflating and hashing each object again, and its
//! pack builder compresses at zlib's default level. In a repository whose directories are large
//! (a root tree of 5,000 packages is about 225 KB), that was most of the Git cost of a write,
//! paid once for the cache and once for a local remote, and again for every background merge.
//! Here the writer knows each object's id, offset and CRC as it writes it, so the index comes
//! for free, and a merge shifts the offsets of its inputs' indexes instead of reading objects.
//!
//! Formats: pack version 2 (`PACK`, version, count, entries, SHA-1 trailer) and pack index
//! version 2 (magic, fan-out, sorted names, CRC-32s, 31-bit offsets with a 64-bit table, pack
//! checksum, index checksum), as `git index-pack` writes them.

use std::{
    fs,
    io::Write,
    os::unix::fs::PermissionsExt,
    path::{Path, PathBuf},
};

use git2::{ObjectType, Oid};

use crate::Error;

/// Bytes before the first entry of a pack.
pub(crate) const HEADER: usize = 12;
/// Bytes of a pack's trailing checksum.
pub(crate) const TRAILER: usize = 20;
const IDX_MAGIC: [u8; 4] = [0xff, b't', b'O', b'c'];
const FANOUT_END: usize = 8 + 256 * 4;
/// Trees this big are stored without compression.
const STORED_TREE_BYTES: usize = 16 << 10;
/// An offset with this bit set in the 31-bit table points into the 64-bit table.
const LARGE: u32 = 0x8000_0000;

/// Where one object of a pack starts, with the CRC-32 of its entry's bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Entry {
    pub(crate) id: Oid,
    pub(crate) crc: u32,
    pub(crate) offset: u64,
}

/// A complete pack and its index, in memory.
pub(crate) struct Pack {
    pub(crate) pack: Vec<u8>,
    pub(crate) index: Vec<u8>,
}

impl Pack {
    /// Objects in the pack.
    #[cfg(test)]
    pub(crate) fn count(&self) -> u32 {
        u32::from_be_bytes([self.pack[8], self.pack[9], self.pack[10], self.pack[11]])
    }

    /// The pack's checksum in hex: its file name is `pack-<checksum>`.
    pub(crate) fn checksum(&self) -> String {
        hex(self.pack.get(self.pack.len().saturating_sub(TRAILER)..).unwrap_or_default())
    }
}

/// Builds a pack of whole (undeltified) objects.
pub(crate) struct Builder {
    pack: Vec<u8>,
    entries: Vec<Entry>,
}

impl Builder {
    pub(crate) fn new() -> Builder {
        let mut pack = Vec::with_capacity(4096);
        pack.extend_from_slice(b"PACK\0\0\0\x02\0\0\0\0");
        Builder { pack, entries: Vec::new() }
    }

    /// Appends the object `id` of kind `kind` whose content is `data`.
    pub(crate) fn add(&mut self, id: Oid, kind: ObjectType, data: &[u8]) -> Result<(), Error> {
        let code: u8 = match kind {
            ObjectType::Commit => 1,
            ObjectType::Tree => 2,
            ObjectType::Blob => 3,
            ObjectType::Tag => 4,
            _ => return Err(git2::Error::from_str("only whole objects can be packed").into()),
        };
        let offset = self.pack.len();
        // Type and size: 4 bits of size in the first byte, then 7 per byte, low bits first.
        let mut size = data.len() as u64;
        let mut byte = (code << 4) | (size & 0x0f) as u8;
        size >>= 4;
        while size > 0 {
            self.pack.push(byte | 0x80);
            byte = (size & 0x7f) as u8;
            size >>= 7;
        }
        self.pack.push(byte);
        // Level 1, as git compresses loose objects. A big tree (a directory of thousands of
        // packages) is mostly object ids: level 1 took 4 ms for 200 KB to save 40%, on every
        // write, so it is stored instead.
        let level = match kind == ObjectType::Tree && data.len() >= STORED_TREE_BYTES {
            true => flate2::Compression::none(),
            false => flate2::Compression::fast(),
        };
        let mut deflate = flate2::write::ZlibEncoder::new(&mut self.pack, level);
        deflate.write_all(data).and_then(|()| deflate.try_finish()).map_err(deflate_error)?;
        drop(deflate);
        let mut crc = flate2::Crc::new();
        crc.update(&self.pack[offset..]);
        self.entries.push(Entry { id, crc: crc.sum(), offset: offset as u64 });
        Ok(())
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The pack with its trailer, and its index.
    pub(crate) fn finish(self) -> Result<Pack, Error> {
        let Builder { mut pack, mut entries } = self;
        let count = u32::try_from(entries.len())
            .map_err(|_| git2::Error::from_str("too many objects for one pack"))?;
        pack[8..HEADER].copy_from_slice(&count.to_be_bytes());
        let checksum = openssl::sha::sha1(&pack);
        pack.extend_from_slice(&checksum);
        let index = write_index(&mut entries, &checksum)?;
        Ok(Pack { pack, index })
    }
}

fn deflate_error(err: std::io::Error) -> Error {
    git2::Error::from_str(&format!("compressing an object: {err}")).into()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The version 2 index of a pack whose checksum is `checksum` (sorts `entries` by id). Two
/// entries with one id are an error: git's index cannot hold them.
pub(crate) fn write_index(entries: &mut [Entry], checksum: &[u8; 20]) -> Result<Vec<u8>, Error> {
    entries.sort_unstable_by_key(|entry| entry.id);
    if entries.windows(2).any(|pair| pair[0].id == pair[1].id) {
        return Err(git2::Error::from_str("one object twice in a pack").into());
    }
    let mut out = Vec::with_capacity(FANOUT_END + entries.len() * 28 + 40);
    out.extend_from_slice(&IDX_MAGIC);
    out.extend_from_slice(&2u32.to_be_bytes());
    let mut fanout = [0u32; 256];
    for entry in entries.iter() {
        fanout[entry.id.as_bytes()[0] as usize] += 1;
    }
    let mut running = 0u32;
    for slot in fanout {
        running += slot;
        out.extend_from_slice(&running.to_be_bytes());
    }
    for entry in entries.iter() {
        out.extend_from_slice(entry.id.as_bytes());
    }
    for entry in entries.iter() {
        out.extend_from_slice(&entry.crc.to_be_bytes());
    }
    let mut large = Vec::new();
    for entry in entries.iter() {
        let small = match u32::try_from(entry.offset) {
            Ok(offset) if offset < LARGE => offset,
            _ => {
                let slot = u32::try_from(large.len())
                    .ok()
                    .filter(|slot| *slot < LARGE)
                    .ok_or_else(|| git2::Error::from_str("pack too large to index"))?;
                large.push(entry.offset);
                LARGE | slot
            }
        };
        out.extend_from_slice(&small.to_be_bytes());
    }
    for offset in large {
        out.extend_from_slice(&offset.to_be_bytes());
    }
    out.extend_from_slice(checksum);
    let own = openssl::sha::sha1(&out);
    out.extend_from_slice(&own);
    Ok(out)
}

/// The entries of a version 2 index, checked for shape: sorted unique names, offsets inside a
/// pack of `pack_len` bytes, and the index's own checksum. `None` for anything else.
pub(crate) fn read_index(data: &[u8], pack_len: u64) -> Option<Vec<Entry>> {
    let word = |at: usize| -> Option<u32> {
        Some(u32::from_be_bytes(data.get(at..at.checked_add(4)?)?.try_into().ok()?))
    };
    if data.get(..4)? != IDX_MAGIC || word(4)? != 2 {
        return None;
    }
    let body = data.len().checked_sub(20)?;
    if openssl::sha::sha1(data.get(..body)?) != *data.get(body..)? {
        return None;
    }
    let count = word(FANOUT_END - 4)? as usize;
    let names = FANOUT_END;
    let crcs = names.checked_add(count.checked_mul(20)?)?;
    let offsets = crcs.checked_add(count * 4)?;
    let large = offsets.checked_add(count * 4)?;
    if large > body {
        return None;
    }
    let limit = pack_len.checked_sub(TRAILER as u64)?;
    let mut entries = Vec::with_capacity(count);
    for i in 0..count {
        let id = Oid::from_bytes(data.get(names + i * 20..names + i * 20 + 20)?).ok()?;
        let crc = word(crcs + i * 4)?;
        let small = word(offsets + i * 4)?;
        let offset = match small & LARGE {
            0 => u64::from(small),
            _ => {
                let at = large.checked_add((small & !LARGE) as usize * 8)?;
                u64::from_be_bytes(data.get(at..at.checked_add(8)?)?.try_into().ok()?)
            }
        };
        if offset < HEADER as u64 || offset >= limit {
            return None;
        }
        if entries.last().is_some_and(|last: &Entry| last.id >= id) {
            return None;
        }
        entries.push(Entry { id, crc, offset });
    }
    Some(entries)
}

/// Writes `pack` into the `objects/pack` directory of the repository at `git_dir`: both files
/// under temporary names, then the pack renamed into place before its index (the index is what
/// makes a pack visible). A pack of that name already there is left as it is. With `durable`,
/// both files and the directory are flushed before this returns. Returns the pack's path
/// without extension.
pub(crate) fn install(git_dir: &Path, pack: &Pack, durable: bool) -> Result<PathBuf, Error> {
    let dir = git_dir.join("objects/pack");
    let base = dir.join(format!("pack-{}", pack.checksum()));
    if installed(&base) {
        return Ok(base);
    }
    fs::create_dir_all(&dir).map_err(|source| Error::Io { path: dir.clone(), source })?;
    let tmp_pack = write_temporary(&dir, "pack", &pack.pack, durable)?;
    place(&dir, tmp_pack, &pack.index, &base, durable)
}

/// Whether the pack `base` (path without extension) is there with its index.
fn installed(base: &Path) -> bool {
    base.with_extension("idx").exists() && base.with_extension("pack").exists()
}

/// Renames the temporary pack `tmp_pack` to `base.pack`, then writes `index` as `base.idx`.
/// Temporary files are removed on failure.
fn place(
    dir: &Path,
    tmp_pack: PathBuf,
    index: &[u8],
    base: &Path,
    durable: bool,
) -> Result<PathBuf, Error> {
    let tmp_index = match write_temporary(dir, "idx", index, durable) {
        Ok(path) => path,
        Err(err) => {
            let _ = fs::remove_file(&tmp_pack);
            return Err(err);
        }
    };
    let rename = |from: &Path, to: &Path| {
        fs::rename(from, to).map_err(|source| {
            let _ = fs::remove_file(from);
            Error::Io { path: to.to_path_buf(), source }
        })
    };
    rename(&tmp_pack, &base.with_extension("pack")).inspect_err(|_| {
        let _ = fs::remove_file(&tmp_index);
    })?;
    rename(&tmp_index, &base.with_extension("idx"))?;
    if durable {
        crate::maintain::sync_dir(dir)?;
    }
    Ok(base.to_path_buf())
}

/// A pack streamed to a temporary file of a repository's `objects/pack` (a merge's output),
/// hashed as it is written; [`FileWriter::finish`] indexes and places it, dropping it unfinished
/// removes it.
pub(crate) struct FileWriter {
    dir: PathBuf,
    path: Option<PathBuf>,
    file: fs::File,
    digest: openssl::sha::Sha1,
}

impl FileWriter {
    pub(crate) fn create(git_dir: &Path) -> Result<FileWriter, Error> {
        let dir = git_dir.join("objects/pack");
        let path = temporary_name(&dir, "pack");
        let file = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(|source| Error::Io { path: path.clone(), source })?;
        Ok(FileWriter { dir, path: Some(path), file, digest: openssl::sha::Sha1::new() })
    }

    pub(crate) fn write(&mut self, bytes: &[u8]) -> Result<(), Error> {
        self.digest.update(bytes);
        let path = self.path.as_ref().unwrap_or(&self.dir);
        self.file.write_all(bytes).map_err(|source| Error::Io { path: path.clone(), source })
    }

    /// Appends the trailer, flushes the pack, writes the index of `entries` and places both
    /// durably; returns the pack's checksum in hex.
    pub(crate) fn finish(mut self, entries: &mut [Entry]) -> Result<String, Error> {
        let checksum = std::mem::replace(&mut self.digest, openssl::sha::Sha1::new()).finish();
        let path = self.path.take().unwrap_or_default();
        let io = |source| Error::Io { path: path.clone(), source };
        let written = self
            .file
            .write_all(&checksum)
            .and_then(|()| self.file.sync_all())
            .and_then(|()| self.file.set_permissions(fs::Permissions::from_mode(0o444)));
        if let Err(source) = written {
            let _ = fs::remove_file(&path);
            return Err(io(source));
        }
        let index = match write_index(entries, &checksum) {
            Ok(index) => index,
            Err(err) => {
                let _ = fs::remove_file(&path);
                return Err(err);
            }
        };
        let name = hex(&checksum);
        let base = self.dir.join(format!("pack-{name}"));
        if installed(&base) {
            let _ = fs::remove_file(&path);
            return Ok(name);
        }
        place(&self.dir, path, &index, &base, true)?;
        Ok(name)
    }
}

impl Drop for FileWriter {
    fn drop(&mut self) {
        if let Some(path) = self.path.take() {
            let _ = fs::remove_file(path);
        }
    }
}

fn temporary_name(dir: &Path, kind: &str) -> PathBuf {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let unique = NEXT.fetch_add(1, Ordering::Relaxed);
    dir.join(format!("tmp_{kind}_{}_{unique}", std::process::id()))
}

/// Writes `bytes` to a new read-only file `tmp_<kind>_<unique>` in `dir`.
fn write_temporary(dir: &Path, kind: &str, bytes: &[u8], durable: bool) -> Result<PathBuf, Error> {
    let path = temporary_name(dir, kind);
    let io = |source| Error::Io { path: path.clone(), source };
    let mut file = fs::OpenOptions::new().write(true).create_new(true).open(&path).map_err(io)?;
    let written = file
        .write_all(bytes)
        .and_then(|()| if durable { file.sync_all() } else { Ok(()) })
        .and_then(|()| file.set_permissions(fs::Permissions::from_mode(0o444)));
    if let Err(source) = written {
        let _ = fs::remove_file(&path);
        return Err(Error::Io { path, source });
    }
    Ok(path)
}

#[cfg(test)]
mod tests;
