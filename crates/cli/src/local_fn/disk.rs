//! A package directory on disk ↔ the engine's [`Files`] map.
//!
//! Reading takes every regular file byte for byte (binary files included; the engine decides
//! which are KRM resources, as kpt does). Symbolic links are neither followed nor read, and `.git`
//! directories are skipped: the render cannot see or change them. Writing back touches only the
//! files whose bytes changed, keeps their permissions, deletes the files the render pruned, and
//! refuses any path that is not a plain relative path inside the package or that would go
//! through a symbolic link.

use std::collections::BTreeSet;
use std::path::{Component, Path, PathBuf};

use anyhow::{Context as _, bail};
use veranda_fn::Files;

/// Reads the package at `root` (a real directory).
pub fn read_package(root: &Path) -> anyhow::Result<Files> {
    let mut files = Files::new();
    read_dir(root, "", &mut files)?;
    Ok(files)
}

fn read_dir(dir: &Path, prefix: &str, files: &mut Files) -> anyhow::Result<()> {
    let entries = std::fs::read_dir(dir).with_context(|| format!("read {}", dir.display()))?;
    let mut names = Vec::new();
    for entry in entries {
        names.push(entry.with_context(|| format!("read {}", dir.display()))?.file_name());
    }
    names.sort();
    for name in names {
        // A name that is not UTF-8 cannot be a path annotation: such files are left alone.
        let Some(name) = name.to_str() else { continue };
        let path = dir.join(name);
        let meta =
            std::fs::symlink_metadata(&path).with_context(|| format!("stat {}", path.display()))?;
        let rel = format!("{prefix}{name}");
        if meta.is_dir() {
            if name != ".git" {
                read_dir(&path, &format!("{rel}/"), files)?;
            }
        } else if meta.is_file() {
            let content =
                std::fs::read(&path).with_context(|| format!("read {}", path.display()))?;
            files.insert(rel, content);
        }
    }
    Ok(())
}

/// Writes `output` over the package `root` that `input` was read from: new and changed files
/// are written, files of `input` missing from `output` are deleted, the rest is not touched.
/// Every path is checked before anything is written, so a bad path changes nothing.
pub fn write_back(root: &Path, input: &Files, output: &Files) -> anyhow::Result<()> {
    let changed: Vec<(&String, &Vec<u8>)> =
        output.iter().filter(|(path, content)| input.get(*path) != Some(*content)).collect();
    let output_paths: BTreeSet<&String> = output.keys().collect();
    let deleted: Vec<&String> = input.keys().filter(|p| !output_paths.contains(p)).collect();
    let mut targets = Vec::new();
    for (path, _) in &changed {
        targets.push(checked_path(root, path)?);
    }
    for path in &deleted {
        checked_path(root, path)?;
    }
    for ((path, content), target) in changed.iter().zip(&targets) {
        write_file(target, content).with_context(|| format!("write {path}"))?;
    }
    for path in &deleted {
        let target = root.join(path.as_str());
        match std::fs::remove_file(&target) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e).with_context(|| format!("delete {path}")),
        }
    }
    Ok(())
}

/// `root/path` when `path` is a plain relative path (no `..`, `.`, empty or absolute parts)
/// whose existing components are real directories and, at the end, a regular file.
fn checked_path(root: &Path, path: &str) -> anyhow::Result<PathBuf> {
    let parts: Vec<&str> = path.split('/').collect();
    let plain = parts.iter().all(|part| {
        !part.is_empty()
            && *part != "."
            && *part != ".."
            && !part.contains('\0')
            && !part.contains('\\')
            && matches!(Path::new(part).components().next(), Some(Component::Normal(_)))
    });
    if !plain || path.starts_with('/') {
        bail!("refusing to write {path:?}: not a relative path inside the package");
    }
    let mut current = root.to_path_buf();
    for (i, part) in parts.iter().enumerate() {
        current.push(part);
        let last = i + 1 == parts.len();
        match std::fs::symlink_metadata(&current) {
            Ok(meta) if meta.file_type().is_symlink() => {
                bail!("refusing to write {path:?}: {} is a symbolic link", current.display())
            }
            Ok(meta) if !last && !meta.is_dir() => {
                bail!("refusing to write {path:?}: {} is not a directory", current.display())
            }
            Ok(meta) if last && !meta.is_file() => {
                bail!("refusing to write {path:?}: {} is not a regular file", current.display())
            }
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => break,
            Err(e) => return Err(e).with_context(|| format!("stat {}", current.display())),
        }
    }
    Ok(root.join(path))
}

/// Replaces `target` atomically (a temporary file renamed over it), with the permissions the
/// file had; a new file gets the usual ones.
fn write_file(target: &Path, content: &[u8]) -> anyhow::Result<()> {
    let dir = target.parent().context("no parent directory")?;
    std::fs::create_dir_all(dir).with_context(|| format!("create {}", dir.display()))?;
    let permissions = std::fs::metadata(target).ok().map(|m| m.permissions());
    let name = target.file_name().and_then(|n| n.to_str()).unwrap_or("file");
    let temp = dir.join(format!(".{name}.veranda-{}.tmp", std::process::id()));
    let written = std::fs::write(&temp, content)
        .and_then(|()| match permissions {
            Some(permissions) => std::fs::set_permissions(&temp, permissions),
            None => Ok(()),
        })
        .and_then(|()| std::fs::rename(&temp, target));
    if written.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    written.with_context(|| format!("write {}", target.display()))
}
