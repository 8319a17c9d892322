//! In-memory tree editing: package file sets to git trees and back.
//!
//! Replacing a package directory rebuilds only the trees on the path from the root to the package;
//! sibling subtrees are reused by id, so the cost does not depend on the number of packages.

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;

use git2::{ObjectType, Oid, Repository, Tree};

use crate::{
    EntryMode, Error, Files, Modes,
    rawtree::{self, git_order},
    stage::Edit,
    stage::Stage,
};

const MODE_TREE: i32 = 0o040000;
const MODE_FILE: i32 = 0o100644;
const MODE_EXECUTABLE: i32 = 0o100755;
const MODE_SYMLINK: i32 = 0o120000;
const MODE_GITLINK: i32 = 0o160000;

/// Directory levels below the directory being read (a package, or the registered directory for
/// discovery) that reads follow; a deeper tree is [`Error::TooDeep`]. Reads use an explicit
/// stack, so a hostile tree can never overflow the thread's stack.
pub const MAX_TREE_DEPTH: usize = 64;
/// Largest blob one package file may have ([`Error::TooLarge`]).
pub const MAX_FILE_BYTES: usize = 16 << 20;
/// Largest total content of one package read ([`Error::TooLarge`]).
pub const MAX_PACKAGE_BYTES: usize = 64 << 20;

/// Splits a relative `/`-separated path into its components, rejecting anything git cannot store
/// or that would escape the package (`..`, empty components, `.git`).
pub(crate) fn split_path(path: &str) -> Result<Vec<&str>, Error> {
    let invalid = |reason| Error::InvalidPath { path: path.to_owned(), reason };
    if path.is_empty() {
        return Err(invalid("path is empty"));
    }
    path.split('/')
        .map(|component| match component {
            "" => Err(invalid("path has an empty component")),
            "." | ".." => Err(invalid("path may not contain \".\" or \"..\"")),
            c if c.eq_ignore_ascii_case(".git") => Err(invalid("path may not contain \".git\"")),
            c if c.contains('\0') => Err(invalid("path may not contain NUL")),
            c => Ok(c),
        })
        .collect()
}

/// Writes `files` as a tree and returns its id, or `None` when there are no files. `modes` gives
/// the entries that are not regular files: executables and symlinks (content in `files`) and
/// submodules (no content; a `files` entry at the same path wins and is a regular file).
pub(crate) fn write_files(
    stage: &Stage<'_>,
    files: &Files,
    modes: &Modes,
) -> Result<Option<Oid>, Error> {
    let gitlinks: Vec<(&String, Oid)> = modes
        .iter()
        .filter(|(path, _)| !files.contains_key(*path))
        .filter_map(|(path, mode)| match mode {
            EntryMode::Submodule(commit) => Some(
                Oid::from_str(commit)
                    .map(|id| (path, id))
                    .map_err(|_| Error::InvalidOid { id: commit.clone() }),
            ),
            _ => None,
        })
        .collect::<Result<_, _>>()?;
    if files.is_empty() && gitlinks.is_empty() {
        return Ok(None);
    }
    let mut root = Dir::default();
    let entries = files
        .iter()
        .map(|(path, content)| {
            let mode = match modes.get(path) {
                Some(EntryMode::Executable) => MODE_EXECUTABLE,
                Some(EntryMode::Symlink) => MODE_SYMLINK,
                _ => MODE_FILE,
            };
            (path, Node::File(content, mode))
        })
        .chain(gitlinks.into_iter().map(|(path, id)| (path, Node::Gitlink(id))));
    for (path, leaf) in entries {
        let components = split_path(path)?;
        let conflict = || Error::InvalidPath {
            path: path.clone(),
            reason: "path conflicts with another file of the package",
        };
        let (file_name, dirs) = components.split_last().expect("split_path never returns nothing");
        let mut dir = &mut root;
        for name in dirs {
            let node = dir.entries.entry(name).or_insert_with(|| Node::Dir(Dir::default()));
            dir = match node {
                Node::Dir(sub) => sub,
                Node::File(..) | Node::Gitlink(_) => return Err(conflict()),
            };
        }
        if dir.entries.insert(file_name, leaf).is_some() {
            return Err(conflict());
        }
    }
    Ok(Some(write_dir(stage, &root)?))
}

/// Returns the tree `base` with the directory at `components` replaced by the tree `new`
/// (removed when `None`). Directories left empty are removed; `None` means the result is the
/// empty tree. Reads only the trees on the path, as raw bytes.
pub(crate) fn replace_dir(
    stage: &Stage<'_>,
    base: Option<Oid>,
    components: &[&str],
    new: Option<Oid>,
) -> Result<Option<Oid>, Error> {
    let (name, rest) = components.split_first().expect("callers pass a non-empty path");
    // A big directory (thousands of packages) is one entry spliced into its bytes; libgit2's
    // tree builder would parse, allocate and format every entry.
    let raw = match base {
        Some(id) => stage.raw_tree(id)?,
        None => std::sync::Arc::from(&[][..]),
    };
    let child = if rest.is_empty() {
        new
    } else {
        let subtree = match rawtree::find(&raw, name.as_bytes()) {
            Ok(None) => None,
            Ok(Some(entry)) if entry.is_dir() => Some(entry.id()),
            Ok(Some(_)) => {
                return Err(Error::InvalidPath {
                    path: components.join("/"),
                    reason: "a parent of the path is a file",
                });
            }
            Err(rawtree::Malformed) => return Err(malformed(components)),
        };
        replace_dir(stage, subtree, rest, new)?
    };
    if let Some(spliced) = splice(&raw, name.as_bytes(), child) {
        if spliced.raw.is_empty() {
            return Ok(None);
        }
        let id = stage.spliced_tree(&spliced.raw)?;
        if let Some(base) = base {
            let edit =
                Edit { name: name.as_bytes().to_vec(), removed: spliced.removed, added: child };
            stage.derived(id, base, edit);
        }
        return Ok(Some(id));
    }
    let base = base.map(|id| stage.find_tree(id)).transpose()?;
    let mut builder = stage.builder(base.as_ref())?;
    match child {
        Some(id) => {
            // The builder's tree can be walked by libgit2 later: a spliced child must be there.
            stage.hand_over(id)?;
            builder.insert(name, id, MODE_TREE)?;
        }
        None => {
            if builder.get(name)?.is_some() {
                builder.remove(name)?;
            }
        }
    }
    if builder.is_empty() { Ok(None) } else { Ok(Some(stage.tree(&builder)?)) }
}

/// The directory at `components` below the tree `root`, if there is one (a file there is none).
/// Reads only the trees on the path, as raw bytes.
pub(crate) fn dir_at(
    stage: &Stage<'_>,
    root: Oid,
    components: &[&str],
) -> Result<Option<Oid>, Error> {
    let mut id = root;
    for component in components {
        let raw = stage.raw_tree(id)?;
        match rawtree::find(&raw, component.as_bytes()) {
            Ok(Some(entry)) if entry.is_dir() => id = entry.id(),
            Ok(_) => return Ok(None),
            Err(rawtree::Malformed) => return Err(malformed(components)),
        }
    }
    Ok(Some(id))
}

fn malformed(components: &[&str]) -> Error {
    Error::Broken { path: components.join("/"), reason: "a tree on the path is malformed".into() }
}

/// The raw tree `raw` with any entry named `name` removed and, with `dir`, a directory entry
/// `name` for that tree inserted in git's order (a directory sorts as if its name ended in `/`).
/// `None` if `raw` is not a well-formed tree in that order.
fn splice(raw: &[u8], name: &[u8], dir: Option<Oid>) -> Option<Spliced> {
    let mut out = Vec::with_capacity(raw.len() + name.len() + 28);
    let mut removed = None;
    let mut pending = dir;
    let mut previous: Option<rawtree::Entry<'_>> = None;
    for entry in rawtree::entries(raw) {
        let entry = entry.ok()?;
        if previous.is_some_and(|p| {
            git_order(p.name, p.is_dir(), entry.name, entry.is_dir()) != std::cmp::Ordering::Less
        }) {
            return None;
        }
        previous = Some(entry);
        if let Some(id) = pending
            && git_order(name, true, entry.name, entry.is_dir()) == std::cmp::Ordering::Less
        {
            push_dir(&mut out, name, id);
            pending = None;
        }
        if entry.name != name {
            out.extend_from_slice(entry.bytes);
        } else if entry.is_dir() {
            removed = Some(entry.id());
        }
    }
    if let Some(id) = pending {
        push_dir(&mut out, name, id);
    }
    Some(Spliced { raw: out, removed })
}

/// A tree spliced by [`splice`].
struct Spliced {
    raw: Vec<u8>,
    /// The directory the spliced name held before, if it was one.
    removed: Option<Oid>,
}

fn push_dir(out: &mut Vec<u8>, name: &[u8], id: Oid) {
    out.extend_from_slice(b"40000 ");
    out.extend_from_slice(name);
    out.push(0);
    out.extend_from_slice(id.as_bytes());
}

/// The id of the empty tree (written to the object database).
pub(crate) fn empty_tree(stage: &Stage<'_>) -> Result<Oid, Error> {
    stage.tree(&stage.builder(None)?)
}

/// All files below `tree` and the modes of the entries that are not regular files (see
/// [`Modes`]). Iterative, bounded by [`MAX_TREE_DEPTH`], [`MAX_FILE_BYTES`] and
/// [`MAX_PACKAGE_BYTES`]; a missing object is an error naming its path.
pub(crate) fn read_files_with_modes(
    repo: &Repository,
    tree: &Tree<'_>,
) -> Result<(Files, Modes), Error> {
    let mut files = Files::new();
    let mut modes = Modes::new();
    let mut total = 0usize;
    // (path prefix with trailing '/', tree id, depth)
    let mut stack: Vec<(String, Oid, usize)> = vec![(String::new(), tree.id(), 0)];
    while let Some((dir, id, depth)) = stack.pop() {
        let tree = repo.find_tree(id).map_err(|e| broken(&dir, e))?;
        for entry in tree.iter() {
            let name = String::from_utf8_lossy(entry.name_bytes());
            let path = format!("{dir}{name}");
            match entry.filemode() {
                MODE_TREE => {
                    if depth + 1 > MAX_TREE_DEPTH {
                        return Err(Error::TooDeep { path, limit: MAX_TREE_DEPTH });
                    }
                    stack.push((format!("{path}/"), entry.id(), depth + 1));
                }
                MODE_GITLINK => {
                    modes.insert(path, EntryMode::Submodule(entry.id().to_string()));
                }
                mode => {
                    let size = blob_size(repo, entry.id(), &path)?;
                    if size > MAX_FILE_BYTES {
                        return Err(Error::TooLarge { path, size, limit: MAX_FILE_BYTES });
                    }
                    total += size;
                    if total > MAX_PACKAGE_BYTES {
                        return Err(Error::TooLarge {
                            path,
                            size: total,
                            limit: MAX_PACKAGE_BYTES,
                        });
                    }
                    let blob = repo.find_blob(entry.id()).map_err(|e| broken(&path, e))?;
                    match mode {
                        MODE_EXECUTABLE => {
                            modes.insert(path.clone(), EntryMode::Executable);
                        }
                        MODE_SYMLINK => {
                            modes.insert(path.clone(), EntryMode::Symlink);
                        }
                        _ => {}
                    }
                    files.insert(path, blob.content().to_vec());
                }
            }
        }
    }
    Ok((files, modes))
}

/// The size of a blob from its header, without inflating it.
fn blob_size(repo: &Repository, id: Oid, path: &str) -> Result<usize, Error> {
    let odb = repo.odb()?;
    let (size, kind) = odb.read_header(id).map_err(|e| broken(path, e))?;
    if kind != ObjectType::Blob {
        return Err(Error::Broken { path: path.to_owned(), reason: format!("{id} is not a blob") });
    }
    Ok(size)
}

pub(crate) fn broken(path: &str, err: git2::Error) -> Error {
    let path = if path.is_empty() { "." } else { path.trim_end_matches('/') };
    Error::Broken { path: path.to_owned(), reason: err.message().to_owned() }
}

#[derive(Default)]
struct Dir<'a> {
    entries: BTreeMap<&'a str, Node<'a>>,
}

enum Node<'a> {
    File(&'a [u8], i32),
    Gitlink(Oid),
    Dir(Dir<'a>),
}

fn write_dir(stage: &Stage<'_>, dir: &Dir<'_>) -> Result<Oid, Error> {
    let mut builder = stage.builder(None)?;
    for (name, node) in &dir.entries {
        match node {
            Node::File(content, mode) => builder.insert(name, stage.blob(content)?, *mode)?,
            Node::Gitlink(id) => builder.insert(name, *id, MODE_GITLINK)?,
            Node::Dir(sub) => builder.insert(name, write_dir(stage, sub)?, MODE_TREE)?,
        };
    }
    stage.tree(&builder)
}
