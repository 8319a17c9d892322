//! A repository's `packed-refs`, read once and kept while the file is unchanged.
//!
//! Every ref write of the cache looks for a name clash in it and every deletion, in the cache and
//! in a local remote, looks for the deleted ref in it. With 10,000 tags the file is about 400 KB:
//! read and scanned on every deletion it was a tenth of a write (docs/PERFORMANCE.md), though
//! the ref deleted (a draft's branch) is almost never in it. A copy is kept per repository, with
//! the file's identity (device, inode, size, modification time) when it was read, and used while
//! the file still has that identity. As git does for its index ("racy git"), a copy is not kept
//! when the file was modified less than [`RACY`] before it was read: a later rewrite within the
//! file system's timestamp granularity could carry the same identity.

use std::{
    collections::HashMap,
    fs,
    io::{ErrorKind, Read},
    os::unix::fs::MetadataExt,
    path::{Path, PathBuf},
    sync::{Arc, LazyLock, Mutex},
    time::{Duration, SystemTime},
};

use crate::Error;

/// How old a file must be for its copy to be kept: well above the coarsest timestamp
/// granularity of Linux file systems (one tick, 10 ms at 100 Hz).
const RACY: Duration = Duration::from_millis(50);

/// Bytes of copies kept at most, over all repositories; past it the copies are dropped. A file
/// of more than a quarter of it is never kept.
const KEPT_BYTES: usize = 32 << 20;

/// A `packed-refs`, searched in place as git searches it: sorted files by bisecting their bytes
/// on record boundaries (a ref line and the `^` lines that follow it), others line by line.
pub(crate) struct Packed {
    text: Arc<[u8]>,
    /// Where the records begin (after the header).
    body: usize,
    /// Whether the header says the records are sorted (git and libgit2 always write it so).
    sorted: bool,
}

/// A `packed-refs` this module does not read itself (see [`Packed::target`]).
#[derive(Debug)]
pub(crate) struct Unusual;

/// The identity of a file as `stat` gives it.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
struct Stamp {
    dev: u64,
    ino: u64,
    size: u64,
    mtime: i64,
    mtime_nsec: i64,
    /// The change time, which no writer can set back (a copy made with `cp -p` keeps the
    /// modification time of its source).
    ctime: i64,
    ctime_nsec: i64,
}

impl Stamp {
    fn of(meta: &fs::Metadata) -> Stamp {
        Stamp {
            dev: meta.dev(),
            ino: meta.ino(),
            size: meta.size(),
            mtime: meta.mtime(),
            mtime_nsec: meta.mtime_nsec(),
            ctime: meta.ctime(),
            ctime_nsec: meta.ctime_nsec(),
        }
    }
}

struct Copy {
    stamp: Stamp,
    packed: Arc<Packed>,
}

static COPIES: LazyLock<Mutex<HashMap<PathBuf, Copy>>> = LazyLock::new(Mutex::default);

/// The `packed-refs` of the repository at `git_dir` as it is now (empty when there is none).
///
/// The identity comes from the open file, which is then read through the same handle: a stat by
/// path can answer from cached attributes (NFS), an open revalidates them.
pub(crate) fn read(git_dir: &Path) -> Result<Arc<Packed>, Error> {
    let path = git_dir.join("packed-refs");
    let io = |source| Error::Io { path: git_dir.join("packed-refs"), source };
    let mut file = match fs::File::open(&path) {
        Ok(file) => file,
        Err(err) if err.kind() == ErrorKind::NotFound => return Ok(Arc::new(Packed::empty())),
        Err(source) => return Err(io(source)),
    };
    let stamp = Stamp::of(&file.metadata().map_err(io)?);
    if let Some(copy) = copies().get(&path)
        && copy.stamp == stamp
    {
        return Ok(Arc::clone(&copy.packed));
    }
    // Taken before the read: a slow read must not make a young file look settled.
    let now = SystemTime::now();
    let mut text = Vec::new();
    file.read_to_end(&mut text).map_err(io)?;
    let packed = Arc::new(Packed::parse(text));
    let age = |seconds: i64, nanos: i64| {
        let nanos = u32::try_from(nanos).unwrap_or(0);
        let at =
            u64::try_from(seconds).ok().map(|s| SystemTime::UNIX_EPOCH + Duration::new(s, nanos));
        at.and_then(|at| now.duration_since(at).ok()).is_some_and(|age| age >= RACY)
    };
    let settled = age(stamp.mtime, stamp.mtime_nsec) && age(stamp.ctime, stamp.ctime_nsec);
    // Unchanged while it was read, and old enough that a rewrite cannot look the same.
    let unchanged = file.metadata().is_ok_and(|after| Stamp::of(&after) == stamp);
    let mut copies = copies();
    if settled && unchanged && packed.text.len() <= KEPT_BYTES / 4 {
        let held: usize = copies.values().map(|copy| copy.packed.text.len()).sum();
        if held + packed.text.len() > KEPT_BYTES {
            copies.clear();
        }
        copies.insert(path, Copy { stamp, packed: Arc::clone(&packed) });
    } else {
        copies.remove(&path);
    }
    Ok(packed)
}

fn copies() -> std::sync::MutexGuard<'static, HashMap<PathBuf, Copy>> {
    // A panic elsewhere while holding it leaves nothing half-done: entries are whole.
    COPIES.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Packed {
    fn empty() -> Packed {
        Packed { text: Arc::from(&[][..]), body: 0, sorted: true }
    }

    fn parse(text: Vec<u8>) -> Packed {
        let header_end = memchr::memchr(b'\n', &text).map_or(text.len(), |at| at + 1);
        let (body, sorted) = match text[..header_end].strip_prefix(b"# pack-refs with:") {
            Some(traits) => {
                (header_end, traits.split(|b| b.is_ascii_whitespace()).any(|w| w == b"sorted"))
            }
            None => (0, text.is_empty()),
        };
        Packed { text: Arc::from(text), body, sorted }
    }

    /// Whether the records are sorted, so that [`Packed::contains`] and [`Packed::clashes`]
    /// bisect.
    pub(crate) fn is_sorted(&self) -> bool {
        self.sorted
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
        name_of(&self.text[at..self.line_end(at)])
    }

    /// The name of the first record whose name is not below `name` in byte order (sorted files).
    fn lower_bound(&self, name: &[u8]) -> Option<&[u8]> {
        self.lower_bound_at(name).map(|at| self.name_at(at))
    }

    /// What the packed ref `name` points at: `Ok(None)` when it is not packed, `Err` when this
    /// file cannot tell (not sorted, or the record is not `<40 hex digits> <name>`).
    pub(crate) fn target(&self, name: &str) -> Result<Option<git2::Oid>, Unusual> {
        if !self.sorted {
            return Err(Unusual);
        }
        let Some(at) = self.lower_bound_at(name.as_bytes()) else { return Ok(None) };
        if self.name_at(at) != name.as_bytes() {
            return Ok(None);
        }
        let record = &self.text[at..self.line_end(at)];
        let hex = record.get(..40).filter(|_| record.get(40) == Some(&b' ')).ok_or(Unusual)?;
        let hex = std::str::from_utf8(hex).map_err(|_| Unusual)?;
        git2::Oid::from_str(hex).map(Some).map_err(|_| Unusual)
    }

    /// Where the first record whose name is not below `name` starts (sorted files).
    fn lower_bound_at(&self, name: &[u8]) -> Option<usize> {
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
        (low < self.text.len()).then_some(low)
    }

    /// Whether the ref `name` is packed.
    pub(crate) fn contains(&self, name: &str) -> bool {
        if self.sorted {
            return self.lower_bound(name.as_bytes()) == Some(name.as_bytes());
        }
        self.records().any(|line| name_of(line) == name.as_bytes())
    }

    /// A packed ref at a parent path of `name`, or below `name` (sorted files only: `true` for
    /// others, which callers leave to libgit2).
    pub(crate) fn clashes(&self, name: &str) -> bool {
        if !self.sorted {
            return true;
        }
        let parents = name.match_indices('/').map(|(at, _)| &name[..at]).skip(1);
        if parents.into_iter().any(|parent| self.contains(parent)) {
            return true;
        }
        let below = format!("{name}/");
        self.lower_bound(below.as_bytes()).is_some_and(|next| next.starts_with(below.as_bytes()))
    }

    /// The lines of ref records (not the header, comments or peeled lines), with their newline.
    fn records(&self) -> impl Iterator<Item = &[u8]> {
        let mut at = self.body;
        std::iter::from_fn(move || {
            while at < self.text.len() {
                let end = self.line_end(at);
                let line = &self.text[at..end];
                at = end;
                if !matches!(line.first(), Some(b'^' | b'#')) {
                    return Some(line);
                }
            }
            None
        })
    }

    /// The file without the refs `names` (and their peeled lines), or `None` when it holds none
    /// of them. Looked up first (by bisection in a sorted file), then cut as bytes: a deletion
    /// parses no other ref.
    pub(crate) fn without(&self, names: &[&str]) -> Option<Vec<u8>> {
        if self.sorted && !names.iter().any(|name| self.contains(name)) {
            return None;
        }
        let bytes = &self.text[..];
        let mut kept: Option<Vec<u8>> = None;
        // The start of the bytes not copied yet.
        let mut run = 0;
        // Whether the lines starting with `^` that follow belong to a ref being cut.
        let mut peeled_of_cut = false;
        let mut at = 0;
        while at < bytes.len() {
            let end = self.line_end(at);
            let line = &bytes[at..end];
            let drop = match line.first() {
                Some(b'^') => peeled_of_cut,
                Some(b'#' | b'\n') | None => false,
                Some(_) => {
                    let name = name_of(line);
                    peeled_of_cut = names.iter().any(|cut| name == cut.as_bytes());
                    peeled_of_cut
                }
            };
            if drop {
                kept.get_or_insert_with(|| Vec::with_capacity(bytes.len()))
                    .extend_from_slice(&bytes[run..at]);
                run = end;
            }
            at = end;
        }
        kept.map(|mut kept| {
            kept.extend_from_slice(&bytes[run..]);
            kept
        })
    }
}

/// The ref name of a record line (`<hex> <name>`, with or without its newline).
fn name_of(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    memchr::memchr(b' ', line).map_or(&[][..], |space| &line[space + 1..])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, text: &str) {
        fs::write(dir.join("packed-refs"), text).expect("write");
    }

    const SORTED: &str = "# pack-refs with: peeled fully-peeled sorted \n\
        1111111111111111111111111111111111111111 refs/heads/main\n\
        2222222222222222222222222222222222222222 refs/tags/p/v1\n\
        ^3333333333333333333333333333333333333333\n\
        4444444444444444444444444444444444444444 refs/tags/p/v1x\n\
        5555555555555555555555555555555555555555 refs/tags/q/v1\n";

    /// A file without the header is searched line by line and cut the same way (the sorted
    /// case is tested with the packing of refs, in `maintain`).
    #[test]
    fn an_unsorted_file_is_searched_line_by_line() {
        let dir = tempfile::tempdir().expect("dir");
        write(dir.path(), &SORTED.replace("# pack-refs with: peeled fully-peeled sorted \n", ""));
        let unsorted = read(dir.path()).expect("read");
        assert!(!unsorted.is_sorted());
        assert!(unsorted.contains("refs/tags/q/v1") && !unsorted.contains("refs/tags/q"));
        let cut = String::from_utf8(unsorted.without(&["refs/tags/p/v1"]).expect("cut"));
        let cut = cut.expect("utf-8");
        assert!(!cut.contains("refs/tags/p/v1\n") && !cut.contains("^3333"));
        assert!(cut.contains("refs/tags/p/v1x") && cut.contains("refs/tags/q/v1"));
        assert!(unsorted.without(&["refs/tags/none"]).is_none());
        assert!(unsorted.target("refs/tags/q/v1").is_err(), "left to libgit2");
        // A record that is not `<hex> <name>` is left to libgit2 too; others still read.
        write(dir.path(), &SORTED.replace("5555555555555555555555555555555555555555 ", "55 "));
        let odd = read(dir.path()).expect("read");
        assert!(odd.target("refs/tags/q/v1").is_err());
        assert_eq!(odd.target("refs/tags/none").expect("absent"), None);
        let main = odd.target("refs/heads/main").expect("read").expect("packed");
        assert_eq!(main.to_string(), "1".repeat(40));
        fs::remove_file(dir.path().join("packed-refs")).expect("remove");
        assert!(read(dir.path()).expect("read").without(&["refs/tags/q/v1"]).is_none());
    }

    #[test]
    fn packed_refs_are_bisected_on_records() {
        let dir = tempfile::tempdir().expect("dir");
        let id = "a".repeat(40);
        let mut names: Vec<String> = Vec::new();
        for i in 0..300 {
            names.push(format!("refs/tags/p{}/v{}", i % 37, i));
        }
        names.sort();
        names.dedup();
        let mut text = String::from("# pack-refs with: peeled fully-peeled sorted \n");
        for (i, name) in names.iter().enumerate() {
            text.push_str(&format!("{id} {name}\n"));
            // Some annotated tags, whose peeled lines belong to their record.
            if i % 3 == 0 {
                text.push_str(&format!("^{}\n", "b".repeat(40)));
            }
        }
        fs::write(dir.path().join("packed-refs"), text).expect("write");
        let packed = read(dir.path()).expect("read");
        assert!(packed.is_sorted());
        let mut probes: Vec<String> = names.clone();
        probes.extend(
            ["refs/tags/p1", "refs/tags/p1/", "refs/tags/p36/v9999", "refs/a", "refs/z"]
                .map(String::from),
        );
        probes.extend(names.iter().map(|name| format!("{name}0")));
        for probe in &probes {
            let expected = names.iter().find(|name| name.as_bytes() >= probe.as_bytes());
            let found = packed.lower_bound(probe.as_bytes());
            assert_eq!(found, expected.map(|name| name.as_bytes()), "{probe}");
            assert_eq!(packed.contains(probe), names.contains(probe), "{probe}");
        }
        assert!(packed.clashes("refs/tags/p1"), "refs below it");
        assert!(packed.clashes(&format!("{}/x", names[5])), "a ref above it");
        assert!(!packed.clashes("refs/tags/q"));
    }

    /// A copy is used while the file is unchanged, never after a rewrite, and not kept for a
    /// file modified just before it was read.
    #[test]
    fn a_copy_is_used_only_while_the_file_is_unchanged() {
        let dir = tempfile::tempdir().expect("dir");
        write(dir.path(), SORTED);
        // Just written: read again each time until it has settled.
        let first = read(dir.path()).expect("read");
        assert!(!Arc::ptr_eq(&first, &read(dir.path()).expect("read")), "racy: not kept");
        std::thread::sleep(RACY * 2);
        let settled = read(dir.path()).expect("read");
        assert!(Arc::ptr_eq(&settled, &read(dir.path()).expect("read")), "kept once settled");
        // Rewritten in place with the same size, as a careless writer would: seen at once.
        let same_size = SORTED.replace("refs/tags/q/v1", "refs/tags/r/v1");
        write(dir.path(), &same_size);
        let now = read(dir.path()).expect("read");
        assert!(now.contains("refs/tags/r/v1") && !now.contains("refs/tags/q/v1"));
        // Replaced by a rename, as git does.
        std::thread::sleep(RACY * 2);
        let _ = read(dir.path()).expect("read");
        fs::write(dir.path().join("packed-refs.new"), SORTED).expect("write");
        fs::rename(dir.path().join("packed-refs.new"), dir.path().join("packed-refs"))
            .expect("rename");
        assert!(read(dir.path()).expect("read").contains("refs/tags/q/v1"));
    }
}
