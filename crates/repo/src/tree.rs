//! In-memory tree editing: package file sets to git trees and back.
//!
//! Replacing a package directory rebuilds only the trees on the path from the root to the package;
//! sibling subtrees are reused by id, so the cost does not depend on the number of packages.

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;

use git2::{ObjectType, Oid, Repository, Tree, TreeWalkMode, TreeWalkResult};

use crate::{Error, Files, stage::Stage};

const MODE_TREE: i32 = 0o040000;
const MODE_FILE: i32 = 0o100644;

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

/// Writes `files` as a tree and returns its id, or `None` when there are no files.
pub(crate) fn write_files(stage: &Stage<'_>, files: &Files) -> Result<Option<Oid>, Error> {
    if files.is_empty() {
        return Ok(None);
    }
    let mut root = Dir::default();
    for (path, content) in files {
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
                Node::File(_) => return Err(conflict()),
            };
        }
        if dir.entries.insert(file_name, Node::File(content)).is_some() {
            return Err(conflict());
        }
    }
    Ok(Some(write_dir(stage, &root)?))
}

/// Returns `base` with the directory at `components` replaced by the tree `new` (removed when
/// `None`). Directories left empty are removed; `None` means the result is the empty tree.
pub(crate) fn replace_dir(
    stage: &Stage<'_>,
    base: Option<&Tree<'_>>,
    components: &[&str],
    new: Option<Oid>,
) -> Result<Option<Oid>, Error> {
    let (name, rest) = components.split_first().expect("callers pass a non-empty path");
    let child = if rest.is_empty() {
        new
    } else {
        let subtree = match base.and_then(|tree| tree.get_name(name)) {
            None => None,
            Some(entry) if entry.kind() == Some(ObjectType::Tree) => {
                Some(stage.find_tree(entry.id())?)
            }
            Some(_) => {
                return Err(Error::InvalidPath {
                    path: components.join("/"),
                    reason: "a parent of the path is a file",
                });
            }
        };
        replace_dir(stage, subtree.as_ref(), rest, new)?
    };
    let mut builder = stage.builder(base)?;
    match child {
        Some(id) => {
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

/// The id of the empty tree (written to the object database).
pub(crate) fn empty_tree(stage: &Stage<'_>) -> Result<Oid, Error> {
    stage.tree(&stage.builder(None)?)
}

/// All files below `tree`, recursively, keyed by their `/`-separated path relative to it.
pub(crate) fn read_files(repo: &Repository, tree: &Tree<'_>) -> Result<Files, Error> {
    let mut blobs = Vec::new();
    tree.walk(TreeWalkMode::PreOrder, |dir, entry| {
        if entry.kind() == Some(ObjectType::Blob) {
            let name = String::from_utf8_lossy(entry.name_bytes());
            blobs.push((format!("{dir}{name}"), entry.id()));
        }
        TreeWalkResult::Ok
    })?;
    let mut files = Files::new();
    for (path, id) in blobs {
        files.insert(path, repo.find_blob(id)?.content().to_vec());
    }
    Ok(files)
}

#[derive(Default)]
struct Dir<'a> {
    entries: BTreeMap<&'a str, Node<'a>>,
}

enum Node<'a> {
    File(&'a [u8]),
    Dir(Dir<'a>),
}

fn write_dir(stage: &Stage<'_>, dir: &Dir<'_>) -> Result<Oid, Error> {
    let mut builder = stage.builder(None)?;
    for (name, node) in &dir.entries {
        match node {
            Node::File(content) => builder.insert(name, stage.blob(content)?, MODE_FILE)?,
            Node::Dir(sub) => builder.insert(name, write_dir(stage, sub)?, MODE_TREE)?,
        };
    }
    stage.tree(&builder)
}
