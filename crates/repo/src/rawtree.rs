//! git's raw tree format read in place: `<octal mode> <name>\0<20-byte id>` entries, back to back.
//!
//! libgit2 parses a whole tree into an entry array before the first lookup. A directory of
//! thousands of packages is read on every move of its branch, and most of its entries are only
//! compared or copied, so the hot paths read the bytes themselves.

use std::cmp::Ordering;

use git2::Oid;

/// One entry of a raw tree.
#[derive(Clone, Copy)]
pub(crate) struct Entry<'a> {
    mode: u32,
    pub(crate) name: &'a [u8],
    /// The 20 bytes of the id, as stored.
    pub(crate) raw_id: &'a [u8],
    /// The whole entry as stored.
    pub(crate) bytes: &'a [u8],
}

impl Entry<'_> {
    /// The id of the entry's object.
    pub(crate) fn id(&self) -> Oid {
        // Always 20 bytes (see `parse`), so this cannot fail.
        Oid::from_bytes(self.raw_id).unwrap_or(Oid::ZERO_SHA1)
    }

    /// A sub-directory (libgit2's `S_ISDIR`).
    pub(crate) fn is_dir(&self) -> bool {
        self.mode & 0o170000 == 0o040000
    }

    /// A file or symlink: neither a directory nor a submodule (libgit2's blob kind).
    pub(crate) fn is_blob(&self) -> bool {
        !self.is_dir() && self.mode & 0o170000 != 0o160000
    }
}

/// The bytes are not a well-formed tree.
#[derive(Debug)]
pub(crate) struct Malformed;

/// The entries of `raw` in stored order; the first malformed entry ends the iteration with
/// [`Malformed`].
pub(crate) fn entries(raw: &[u8]) -> impl Iterator<Item = Result<Entry<'_>, Malformed>> {
    let mut rest = raw;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let entry = parse(rest);
        match entry {
            Some(entry) => rest = &rest[entry.bytes.len()..],
            None => rest = &[],
        }
        Some(entry.ok_or(Malformed))
    })
}

fn parse(raw: &[u8]) -> Option<Entry<'_>> {
    // The octal mode, read as it is searched for its end: at most 7 digits, then a space.
    let mut mode = 0u32;
    let mut space = None;
    for (at, &byte) in raw.iter().enumerate().take(8) {
        match byte {
            b' ' if at > 0 => {
                space = Some(at);
                break;
            }
            b'0'..=b'7' => mode = mode * 8 + u32::from(byte - b'0'),
            _ => return None,
        }
    }
    let name_start = space? + 1;
    let nul = name_start + memchr::memchr(0, raw.get(name_start..)?)?;
    let bytes = raw.get(..nul.checked_add(21)?)?;
    Some(Entry { mode, name: &raw[name_start..nul], raw_id: &bytes[nul + 1..], bytes })
}

/// Whether `raw` has a `Kptfile` that is a file: the tree is a package.
pub(crate) fn has_kptfile(raw: &[u8]) -> Result<bool, Malformed> {
    for entry in entries(raw) {
        let entry = entry?;
        if entry.name == b"Kptfile" && entry.is_blob() {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Whether `raw` is a directory two versions of which can be compared entry by entry: well
/// formed, in git's order (strictly increasing), with UTF-8 directory names, and not a package
/// (no `Kptfile` file).
pub(crate) fn comparable_directory(raw: &[u8]) -> bool {
    let mut stream = DirStream::new(raw);
    stream.by_ref().for_each(drop);
    stream.stopped.is_none()
}

/// Why a [`DirStream`] stopped before the end of its tree.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Stop {
    /// A malformed entry, one not after the entry before it in git's order, or a directory
    /// whose name is not UTF-8.
    Unordered,
    /// A `Kptfile` that is a file: the tree is a package.
    Package,
}

/// The sub-directories of a raw tree in stored order, read one at a time: comparing two
/// directories of thousands of entries reads each once and allocates nothing. It ends early,
/// telling why in [`stopped`](DirStream::stopped), at a malformed entry, an entry out of git's
/// order, a directory whose name is not UTF-8, or a `Kptfile`.
pub(crate) struct DirStream<'a> {
    rest: &'a [u8],
    previous: Option<Entry<'a>>,
    pub(crate) stopped: Option<Stop>,
}

impl<'a> DirStream<'a> {
    pub(crate) fn new(raw: &'a [u8]) -> DirStream<'a> {
        DirStream { rest: raw, previous: None, stopped: None }
    }
}

impl<'a> Iterator for DirStream<'a> {
    type Item = Entry<'a>;

    fn next(&mut self) -> Option<Entry<'a>> {
        while self.stopped.is_none() && !self.rest.is_empty() {
            let Some(entry) = parse(self.rest) else {
                self.stopped = Some(Stop::Unordered);
                break;
            };
            self.rest = &self.rest[entry.bytes.len()..];
            if self.previous.is_some_and(|p| {
                git_order(p.name, p.is_dir(), entry.name, entry.is_dir()) != Ordering::Less
            }) {
                self.stopped = Some(Stop::Unordered);
                break;
            }
            self.previous = Some(entry);
            if entry.is_dir() {
                // Package paths are the lossy text of their names, which sorts differently
                // from the bytes: such a directory cannot be compared entry by entry.
                if std::str::from_utf8(entry.name).is_err() {
                    self.stopped = Some(Stop::Unordered);
                    break;
                }
                return Some(entry);
            }
            if entry.name == b"Kptfile" && entry.is_blob() {
                self.stopped = Some(Stop::Package);
            }
        }
        None
    }
}

/// The entry `name` of `raw`, if any.
pub(crate) fn find<'a>(raw: &'a [u8], name: &[u8]) -> Result<Option<Entry<'a>>, Malformed> {
    for entry in entries(raw) {
        let entry = entry?;
        if entry.name == name {
            return Ok(Some(entry));
        }
    }
    Ok(None)
}

/// git's order of tree entries: by name, a directory's name compared as if followed by `/`.
pub(crate) fn git_order(a: &[u8], a_dir: bool, b: &[u8], b_dir: bool) -> Ordering {
    let common = a.len().min(b.len());
    match a[..common].cmp(&b[..common]) {
        Ordering::Equal => {}
        other => return other,
    }
    let next = |name: &[u8], dir: bool| match name.get(common) {
        Some(&b) => b,
        None if dir => b'/',
        None => 0,
    };
    next(a, a_dir).cmp(&next(b, b_dir))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(out: &mut Vec<u8>, mode: &str, name: &str, id: u8) {
        out.extend_from_slice(mode.as_bytes());
        out.push(b' ');
        out.extend_from_slice(name.as_bytes());
        out.push(0);
        out.extend_from_slice(&[id; 20]);
    }

    #[test]
    fn entries_are_read_with_their_kind() {
        let mut raw = Vec::new();
        entry(&mut raw, "100644", "Kptfile", 1);
        entry(&mut raw, "40000", "a", 2);
        entry(&mut raw, "160000", "b", 3);
        entry(&mut raw, "120000", "c", 4);
        let read: Vec<_> = entries(&raw).map(|e| e.expect("well formed")).collect();
        let kinds: Vec<_> = read.iter().map(|e| (e.name, e.is_dir(), e.is_blob())).collect();
        assert_eq!(
            kinds,
            [
                (&b"Kptfile"[..], false, true),
                (b"a", true, false),
                (b"b", false, false),
                (b"c", false, true)
            ]
        );
        assert_eq!(read[1].id(), Oid::from_bytes(&[2; 20]).expect("oid"));
        assert!(has_kptfile(&raw).expect("well formed"));
        let found =
            |name: &[u8]| find(&raw, name).expect("well formed").map(|e| (e.id(), e.is_dir()));
        assert_eq!(found(b"a"), Some((read[1].id(), true)));
        assert_eq!(found(b"Kptfile").map(|(_, dir)| dir), Some(false));
        assert_eq!(found(b"z"), None);
        assert!(!comparable_directory(&raw), "a package");
        let mut stream = DirStream::new(&raw);
        assert_eq!(stream.by_ref().count(), 0, "read up to the Kptfile");
        assert_eq!(stream.stopped, Some(Stop::Package));
        let first = entries(&raw).next().expect("one").expect("well formed").bytes.len();
        raw.drain(..first);
        assert!(comparable_directory(&raw));
        assert_eq!(DirStream::new(&raw).map(|e| e.name).collect::<Vec<_>>(), [&b"a"[..]]);
    }

    #[test]
    fn malformed_and_unordered_trees_are_told() {
        let mut raw = Vec::new();
        entry(&mut raw, "40000", "b", 1);
        entry(&mut raw, "40000", "a", 2);
        assert!(!comparable_directory(&raw), "out of order");
        let mut stream = DirStream::new(&raw);
        assert_eq!(stream.by_ref().count(), 1, "up to the entry out of order");
        assert_eq!(stream.stopped, Some(Stop::Unordered));
        let mut twice = Vec::new();
        entry(&mut twice, "40000", "a", 1);
        entry(&mut twice, "40000", "a", 2);
        assert!(!comparable_directory(&twice), "a name twice");
        for bad in [&b"40000 a"[..], b"4x000 a\0aaaaaaaaaaaaaaaaaaaa", b" a\0aaaaaaaaaaaaaaaaaaaa"]
        {
            assert!(entries(bad).any(|e| e.is_err()), "{bad:?}");
            assert!(!comparable_directory(bad));
        }
        let mut lossy = Vec::new();
        entry(&mut lossy, "40000", "a", 1);
        lossy.extend_from_slice(b"40000 \xd0\0");
        lossy.extend_from_slice(&[3; 20]);
        assert!(!comparable_directory(&lossy), "a directory name that is not UTF-8");
        let mut stream = DirStream::new(&lossy);
        assert_eq!(stream.by_ref().count(), 1);
        assert_eq!(stream.stopped, Some(Stop::Unordered));
        let mut truncated = raw.clone();
        truncated.truncate(raw.len() - 3);
        assert_eq!(entries(&truncated).filter(|e| e.is_err()).count(), 1);
    }
}
