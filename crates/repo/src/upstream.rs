//! Reading a package straight from any Git URL at a ref, for clones whose upstream is not a
//! registered repository (`clone.upstreamRef.git`, porch.md §2.12).

use std::{
    fs,
    path::{Path, PathBuf},
};

use git2::{ErrorCode, ObjectType, Oid, Repository};

use crate::{Credentials, Error, Files, Modes, UrlRewrites, auth::Auth, repo, tree};

/// A package read from a Git URL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FetchedPackage {
    /// The files of the package directory, relative to it.
    pub files: Files,
    /// Modes of the entries that are not regular files (executables, symlinks, submodules).
    pub modes: Modes,
    /// The commit the ref resolved to (hex).
    pub commit: String,
    /// The remote URL as given (local paths made absolute), not as rewritten.
    pub url: String,
}

/// Fetches `url` into the bare cache at `cache_dir` (created if needed; reusable between calls
/// for the same URL) and reads `directory` at `reference`, authenticating with `credentials` and
/// trusting `ca_bundle` (PEM) instead of the system's trust store for HTTPS and reaching it
/// through `url_rewrites`, as [`GitConfig`](crate::GitConfig) does.
///
/// `reference` is resolved as Porch does: the tag or branch `<directory>/<reference>` first,
/// then `<reference>` itself, then a full or abbreviated commit id. A leading `/` in `directory`
/// is accepted.
pub fn fetch_package(
    url: &str,
    reference: &str,
    directory: &str,
    credentials: Option<&Credentials>,
    ca_bundle: Option<&str>,
    url_rewrites: &UrlRewrites,
    cache_dir: &Path,
) -> Result<FetchedPackage, Error> {
    let directory = directory.trim_matches('/');
    if directory.split('/').any(|s| s == ".." || s == "." || s == ".git") {
        return Err(Error::InvalidPath {
            path: directory.to_owned(),
            reason: "must be a plain relative path",
        });
    }
    fs::create_dir_all(cache_dir)
        .map_err(|source| Error::Io { path: PathBuf::from(cache_dir), source })?;
    let git = match Repository::open_bare(cache_dir) {
        Ok(git) => git,
        Err(err) if err.code() == ErrorCode::NotFound => Repository::init_bare(cache_dir)?,
        Err(err) => return Err(err.into()),
    };
    let url = repo::normalize_url(url)?;
    repo::configure_origin(&git, &repo::normalize_url(&url_rewrites.apply(&url))?)?;
    repo::fetch_on_big_stack(&git, Auth { credentials, ca_bundle })?;
    let commit = resolve(&git, reference, directory)?;
    let commit = git.find_commit(commit)?;
    let root = commit.tree()?;
    let subtree = if directory.is_empty() {
        root
    } else {
        let entry = root.get_path(Path::new(directory)).map_err(|_| Error::NotFound {
            kind: "directory",
            name: format!("{directory} at {reference}"),
        })?;
        if entry.kind() != Some(ObjectType::Tree) {
            return Err(Error::NotFound {
                kind: "directory",
                name: format!("{directory} at {reference}"),
            });
        }
        git.find_tree(entry.id())?
    };
    let (files, modes) = tree::read_files_with_modes(&git, &subtree)?;
    if !files.contains_key("Kptfile") {
        return Err(Error::MissingKptfile { package: directory.to_owned() });
    }
    Ok(FetchedPackage { files, modes, commit: commit.id().to_string(), url })
}

fn resolve(git: &Repository, reference: &str, directory: &str) -> Result<Oid, Error> {
    let reference = reference.trim();
    let mut candidates = Vec::new();
    for name in [format!("{directory}/{reference}"), reference.to_owned()] {
        if name.starts_with('/') || name.is_empty() {
            continue;
        }
        candidates.push(format!("refs/tags/{name}"));
        candidates.push(format!("refs/remotes/origin/{name}"));
    }
    for candidate in &candidates {
        if let Ok(found) = git.find_reference(candidate) {
            return Ok(found.peel_to_commit()?.id());
        }
    }
    if !reference.is_empty()
        && reference.len() >= 7
        && reference.bytes().all(|b| b.is_ascii_hexdigit())
        && let Ok(object) = git.revparse_single(reference)
        && let Ok(commit) = object.peel_to_commit()
    {
        return Ok(commit.id());
    }
    Err(Error::NotFound { kind: "ref", name: reference.to_owned() })
}

#[cfg(test)]
mod tests;
