//! Package upgrade with the semantics of `kpt pkg update` (kpt 1.0.0-beta.56,
//! `internal/util/update`), on in-memory file maps.
//!
//! [`upgrade`] takes the old upstream (`original`), the new upstream (`updated`) and the local
//! package, all relative to the package root, and returns the new local package. Like Porch it
//! does not touch `upstream`/`upstreamLock` of the root Kptfile; the caller writes them (see
//! [`crate::set_upstream`] and [`crate::set_upstream_ref`]).
//!
//! Package structure: every directory with a Kptfile is a package. A subpackage whose Kptfile
//! has no `upstream.git` is inline and is upgraded with its parent; one with its own upstream is
//! "remote": it is upgraded with its own strategy only when it comes from the same upstream
//! (it exists in `original` and `updated` and its upstream is unchanged locally), and kept
//! otherwise. kpt would then also fetch and update a local-only remote subpackage from its own
//! upstream; here the caller has no access to that upstream, so it is kept as it is.
//!
//! Strategies (see [`Strategy`]):
//! - resource-merge: per package, the Kptfile is merged (labels, annotations, info, pipeline,
//!   inventory, status), every resource is merged with [`crate::merge3`] (resources matched by
//!   group, kind, `# kpt-merge:` namespace/name and file), added/deleted resources and files
//!   follow kpt's rules, non-KRM files are taken from upstream unless changed locally;
//! - fast-forward: fails with "local package files have been modified" when the local package
//!   differs from the original, else replaces;
//! - force-delete-replace: the package content becomes the new upstream's (root Kptfile kept);
//! - copy-merge: the Kptfile is merged, upstream files are copied over local ones, files
//!   upstream deleted are deleted locally. Unlike kpt (kptdev/porch#1165) a file upstream
//!   deleted is kept when it was changed locally, so local edits are never dropped silently.
//!
//! Every result gets kpt's `# kpt-merge:` comments and upstream-identifier annotations (see
//! [`crate::resource::add_upstream_identifiers`]). YAML files whose resources the upgrade does
//! not change keep their bytes; changed documents are re-emitted by veranda-yaml's emitter
//! ([`veranda_yaml::stream`]).

mod kptfile_merge;

use std::{
    borrow::Cow,
    collections::{BTreeMap, BTreeSet, HashMap},
};

use veranda_yaml::{
    Kind, Node,
    stream::{self, Document},
};

use crate::{
    Files, KPTFILE,
    kptfile::Kptfile,
    merge3,
    resource::{self, ResId, add_upstream_identifiers, parse_yaml, with_upstream_identifiers},
};

/// The update strategies of `kpt pkg update` and Porch.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Strategy {
    #[default]
    ResourceMerge,
    FastForward,
    ForceDeleteReplace,
    CopyMerge,
}

/// Errors of an upgrade.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(
        "unknown update strategy {0:?}; valid values are resource-merge, fast-forward, force-delete-replace, copy-merge"
    )]
    UnknownStrategy(String),
    #[error("local package files have been modified: [{}]; use a different update --strategy", .files.join(" "))]
    LocalChanges { files: Vec<String> },
    #[error("subpackage {path:?} added in both upstream and local")]
    SubpackageAddedTwice { path: String },
    #[error("file {path:?} is not valid utf-8")]
    NotUtf8 { path: String },
    #[error("parse {path:?}: {source}")]
    Parse {
        path: String,
        #[source]
        source: veranda_yaml::Error,
    },
    #[error("found duplicate {side} resources in file {path:?}: {resource}")]
    DuplicateResource { side: &'static str, path: String, resource: String },
    #[error("merge {resource} in {path:?}: {source}")]
    Merge {
        path: String,
        resource: String,
        #[source]
        source: merge3::Error,
    },
}

impl Strategy {
    /// Parses a strategy name as in `upstream.updateStrategy` / `--strategy`; the empty string is
    /// resource-merge.
    pub fn parse(name: &str) -> Result<Strategy, Error> {
        Ok(match name {
            "" | "resource-merge" => Strategy::ResourceMerge,
            "fast-forward" => Strategy::FastForward,
            "force-delete-replace" => Strategy::ForceDeleteReplace,
            "copy-merge" => Strategy::CopyMerge,
            other => return Err(Error::UnknownStrategy(other.to_string())),
        })
    }

    /// The name as written in a Kptfile.
    pub fn as_str(self) -> &'static str {
        match self {
            Strategy::ResourceMerge => "resource-merge",
            Strategy::FastForward => "fast-forward",
            Strategy::ForceDeleteReplace => "force-delete-replace",
            Strategy::CopyMerge => "copy-merge",
        }
    }
}

/// Upgrades `local` from `original` to `updated` (all relative to the package root).
pub fn upgrade(
    strategy: Strategy,
    original: &Files,
    updated: &Files,
    local: &Files,
) -> Result<Files, Error> {
    let prepare = |files: &Files| {
        let (files, docs) = with_upstream_identifiers(files);
        let mut tree = Tree::new(files);
        tree.docs = docs;
        tree
    };
    let trees =
        Trees { original: prepare(original), updated: prepare(updated), local: prepare(local) };
    let mut out = trees.local.files.clone();
    let remote = trees.remote_packages();
    // The root and its inline subpackages, then each remote subpackage with its own.
    trees.update_group("", true, strategy, &remote, &mut out)?;
    for dir in &remote {
        let local_kf = trees.local.kptfile(dir);
        let (o, l, u) = (
            trees.original.has_package(dir),
            out.contains_key(&kptfile_path(dir)),
            trees.updated.has_package(dir),
        );
        if !(o && l && u) {
            trees.existence_switch(dir, o, l, u, &mut out)?;
            continue;
        }
        let origin_kf = trees.original.kptfile(dir);
        let local_git = local_kf.as_ref().and_then(|k| k.upstream_git().cloned());
        let origin_git = origin_kf.as_ref().and_then(|k| k.upstream_git().cloned());
        if local_git != origin_git {
            continue;
        }
        let strategy = local_kf
            .as_ref()
            .and_then(|k| k.upstream.as_ref())
            .map_or(Ok(Strategy::ResourceMerge), |u| Strategy::parse(&u.update_strategy))?;
        trees.update_group(dir, false, strategy, &remote, &mut out)?;
    }
    // kpt adds the identifiers to the whole result once more; only files the upgrade wrote can
    // lack them.
    let written: Files = out
        .iter()
        .filter(|(path, content)| {
            resource::is_yaml_path(path)
                && trees.local.files.get(*path) != Some(*content)
                && trees.updated.files.get(*path) != Some(*content)
        })
        .map(|(p, c)| (p.clone(), c.clone()))
        .collect();
    out.extend(add_upstream_identifiers(&written));
    Ok(out)
}

fn kptfile_path(dir: &str) -> String {
    join(dir, KPTFILE)
}

fn join(dir: &str, name: &str) -> String {
    if dir.is_empty() { name.to_string() } else { format!("{dir}/{name}") }
}

fn parent_dir(path: &str) -> &str {
    path.rsplit_once('/').map_or("", |(d, _)| d)
}

fn is_under(path: &str, dir: &str) -> bool {
    dir.is_empty() || path.strip_prefix(dir).is_some_and(|rest| rest.starts_with('/'))
}

fn is_krm_path(path: &str) -> bool {
    path.rsplit('/').next() == Some(KPTFILE) || resource::is_yaml_path(path)
}

struct Tree {
    files: Files,
    /// Directories with a Kptfile ("" is the root).
    packages: BTreeSet<String>,
    /// Parsed YAML files (as in `files`).
    docs: BTreeMap<String, Vec<Document>>,
}

impl Tree {
    fn new(files: Files) -> Tree {
        let packages = files
            .keys()
            .filter(|p| p.rsplit('/').next() == Some(KPTFILE))
            .map(|p| parent_dir(p).to_string())
            .collect();
        Tree { files, packages, docs: BTreeMap::new() }
    }

    fn has_package(&self, dir: &str) -> bool {
        self.packages.contains(dir)
    }

    fn kptfile(&self, dir: &str) -> Option<Kptfile> {
        self.files.get(&kptfile_path(dir)).and_then(|c| Kptfile::parse(c).ok())
    }
}

/// The package (directory) a file belongs to: the deepest package directory above it, among
/// `packages` and `extra` (the local package boundaries, which kpt applies to all sides).
fn owner<'a>(path: &str, packages: &'a BTreeSet<String>, extra: &'a BTreeSet<String>) -> &'a str {
    let mut dir = parent_dir(path);
    loop {
        if let Some(p) = packages.get(dir).or_else(|| extra.get(dir)) {
            return p;
        }
        if dir.is_empty() {
            return packages.get("").or_else(|| extra.get("")).map_or("", String::as_str);
        }
        dir = parent_dir(dir);
    }
}

/// Files of package `dir` (not of its subpackages) in `files`.
fn unit_files<'a>(
    files: &'a Files,
    dir: &str,
    packages: &BTreeSet<String>,
    extra: &BTreeSet<String>,
) -> Vec<&'a String> {
    files.keys().filter(|p| is_under(p, dir) && owner(p, packages, extra) == dir).collect()
}

struct Trees {
    original: Tree,
    updated: Tree,
    local: Tree,
}

impl Trees {
    /// Subpackage directories whose Kptfile has an upstream, on any side.
    fn remote_packages(&self) -> Vec<String> {
        let mut dirs = BTreeSet::new();
        for tree in [&self.local, &self.original, &self.updated] {
            for dir in &tree.packages {
                if dir.is_empty() || dirs.contains(dir) {
                    continue;
                }
                let kf = self.local.kptfile(dir).or_else(|| tree.kptfile(dir));
                if kf.is_some_and(|k| k.upstream_git().is_some()) {
                    dirs.insert(dir.clone());
                }
            }
        }
        let mut dirs: Vec<String> = dirs.into_iter().collect();
        dirs.sort_by_key(|d| (d.matches('/').count(), d.clone()));
        dirs
    }

    /// The package `root` and its inline subpackages (sorted parents first).
    fn group(&self, root: &str, remote: &[String]) -> Vec<String> {
        let mut dirs = BTreeSet::from([root.to_string()]);
        for tree in [&self.local, &self.original, &self.updated] {
            for dir in &tree.packages {
                if dir != root
                    && is_under(dir, root)
                    && !remote.iter().any(|r| is_under(dir, r) && is_under(r, root) && r != root)
                {
                    dirs.insert(dir.clone());
                }
            }
        }
        let mut dirs: Vec<String> = dirs.into_iter().collect();
        dirs.sort_by_key(|d| (d.matches('/').count(), d.clone()));
        dirs
    }

    fn update_group(
        &self,
        root: &str,
        is_root: bool,
        strategy: Strategy,
        remote: &[String],
        out: &mut Files,
    ) -> Result<(), Error> {
        let group = self.group(root, remote);
        match strategy {
            Strategy::ResourceMerge => {
                for dir in &group {
                    let top = dir == root;
                    if top {
                        self.merge_package(dir, is_root, out)?;
                        continue;
                    }
                    let (o, l, u) = (
                        self.original.has_package(dir),
                        out.contains_key(&kptfile_path(dir)),
                        self.updated.has_package(dir),
                    );
                    if o && l && u {
                        self.merge_package(dir, false, out)?;
                    } else {
                        self.existence_switch(dir, o, l, u, out)?;
                    }
                }
            }
            Strategy::FastForward => {
                let mut changed = Vec::new();
                for dir in &group {
                    let (o, l) = (
                        self.original.has_package(dir) || dir == root,
                        self.local.has_package(dir) || dir == root,
                    );
                    if !o || !l {
                        changed.push(format!("{dir} (Package)"));
                        continue;
                    }
                    changed.extend(self.package_diff(dir, dir == root));
                }
                if !changed.is_empty() {
                    changed.sort();
                    return Err(Error::LocalChanges { files: changed });
                }
                self.replace(&group, root, is_root, out);
            }
            Strategy::ForceDeleteReplace => self.replace(&group, root, is_root, out),
            Strategy::CopyMerge => {
                self.merge_kptfile(root, is_root, out)?;
                for (path, content) in &self.updated.files {
                    if !is_under(path, root)
                        || (path == &kptfile_path(root) && out.contains_key(path))
                    {
                        continue;
                    }
                    if remote.iter().any(|r| r != root && is_under(r, root) && is_under(path, r)) {
                        continue;
                    }
                    out.insert(path.clone(), content.clone());
                }
                for (path, content) in &self.original.files {
                    if !is_under(path, root)
                        || path == &kptfile_path(root)
                        || self.updated.files.contains_key(path)
                    {
                        continue;
                    }
                    if out.get(path) == Some(content) {
                        out.remove(path);
                    }
                }
            }
        }
        Ok(())
    }

    /// kpt's handling of a subpackage that is missing on some side.
    fn existence_switch(
        &self,
        dir: &str,
        o: bool,
        l: bool,
        u: bool,
        out: &mut Files,
    ) -> Result<(), Error> {
        let none = BTreeSet::new();
        match (o, l, u) {
            (false, true, true) => {
                return Err(Error::SubpackageAddedTwice { path: dir.to_string() });
            }
            (false, false, true) => {
                for path in unit_files(&self.updated.files, dir, &self.updated.packages, &none) {
                    out.insert(path.clone(), self.updated.files[path].clone());
                }
            }
            (true, true, false) if self.package_diff_in(dir, out, false).is_empty() => {
                out.retain(|path, _| !is_under(path, dir));
            }
            _ => {}
        }
        Ok(())
    }

    /// Files of package `dir` that differ between the local package and the original.
    fn package_diff(&self, dir: &str, is_root: bool) -> Vec<String> {
        self.package_diff_in(dir, &self.local.files, is_root)
    }

    fn package_diff_in(&self, dir: &str, local: &Files, is_root: bool) -> Vec<String> {
        let local_packages: BTreeSet<String> = Tree::new(local.clone()).packages;
        let local_files: BTreeSet<&String> =
            unit_files(local, dir, &local_packages, &BTreeSet::new()).into_iter().collect();
        let origin_files: BTreeSet<&String> =
            unit_files(&self.original.files, dir, &self.original.packages, &BTreeSet::new())
                .into_iter()
                .collect();
        let mut diff = Vec::new();
        for path in local_files.symmetric_difference(&origin_files) {
            if is_root && **path == kptfile_path(dir) {
                // A Kptfile that `pkg get` created where upstream had none is no change.
                if let Some(kf) = local.get(*path).and_then(|c| Kptfile::parse(c).ok())
                    && kf.pipeline.is_none()
                    && kf.info.is_none()
                    && kf.inventory.is_none()
                    && kf.metadata.labels.is_empty()
                    && kf.metadata.annotations.is_empty()
                {
                    continue;
                }
            }
            diff.push(path.to_string());
        }
        for path in local_files.intersection(&origin_files) {
            let (a, b) = (&local[*path], &self.original.files[*path]);
            let same = if path.rsplit('/').next() == Some(KPTFILE) {
                kptfiles_equal(a, b, is_root)
            } else {
                contents_equal(a, b)
            };
            if !same {
                diff.push(path.to_string());
            }
        }
        diff.iter().map(|p| p.strip_prefix(&format!("{dir}/")).unwrap_or(p).to_string()).collect()
    }

    /// force-delete-replace: the content of each package of the group becomes the updated one.
    fn replace(&self, group: &[String], root: &str, is_root: bool, out: &mut Files) {
        let local_packages = Tree::new(out.clone()).packages;
        for dir in group {
            let keep_kptfile = is_root && dir == root;
            let remove: Vec<String> = unit_files(out, dir, &local_packages, &BTreeSet::new())
                .into_iter()
                .filter(|p| !(keep_kptfile && **p == kptfile_path(dir)))
                .cloned()
                .collect();
            for path in remove {
                out.remove(&path);
            }
            if !self.updated.has_package(dir) && dir != root {
                out.retain(|p, _| !is_under(p, dir));
                continue;
            }
            for path in
                unit_files(&self.updated.files, dir, &self.updated.packages, &BTreeSet::new())
            {
                if keep_kptfile && *path == kptfile_path(dir) && out.contains_key(path) {
                    continue;
                }
                out.insert(path.clone(), self.updated.files[path].clone());
            }
        }
    }

    fn merge_package(&self, dir: &str, is_root: bool, out: &mut Files) -> Result<(), Error> {
        self.merge_kptfile(dir, is_root, out)?;
        self.merge_resources(dir, out)?;
        self.merge_non_krm(dir, out);
        Ok(())
    }

    fn merge_kptfile(&self, dir: &str, is_root: bool, out: &mut Files) -> Result<(), Error> {
        let path = kptfile_path(dir);
        let merged = kptfile_merge::merge(
            out.get(&path).map(Vec::as_slice),
            self.original.files.get(&path).map(Vec::as_slice),
            self.updated.files.get(&path).map(Vec::as_slice),
            !is_root,
        )
        .map_err(|source| Error::Parse { path: path.clone(), source })?;
        if let Some(merged) = merged {
            out.insert(path, merged);
        }
        Ok(())
    }

    /// kpt's `ReplaceNonKRMFiles` for one package.
    fn merge_non_krm(&self, dir: &str, out: &mut Files) {
        let none = BTreeSet::new();
        let local_packages = Tree::new(out.clone()).packages;
        let non_krm = |files: &Files, packages: &BTreeSet<String>| -> BTreeSet<String> {
            unit_files(files, dir, packages, &local_packages)
                .into_iter()
                .filter(|p| !is_krm_path(p))
                .cloned()
                .collect()
        };
        let local_files = non_krm(out, &none);
        let updated_files = non_krm(&self.updated.files, &self.updated.packages);
        let mut modified = BTreeSet::new();
        for path in &local_files {
            match self.original.files.get(path) {
                Some(original) if Some(original) == out.get(path) => {
                    if !updated_files.contains(path) {
                        out.remove(path);
                    }
                }
                _ => {
                    modified.insert(path.clone());
                }
            }
        }
        for path in &updated_files {
            if !modified.contains(path) {
                out.insert(path.clone(), self.updated.files[path].clone());
            }
        }
    }

    fn merge_resources(&self, dir: &str, out: &mut Files) -> Result<(), Error> {
        let local_packages = Tree::new(out.clone()).packages;
        let yaml_files = |files: &Files, packages: &BTreeSet<String>| -> Vec<String> {
            unit_files(files, dir, packages, &local_packages)
                .into_iter()
                .filter(|p| resource::is_yaml_path(p))
                .cloned()
                .collect()
        };
        let local_cache = |path: &String| {
            let unchanged = self.local.files.get(path) == out.get(path);
            if unchanged { self.local.docs.get(path) } else { None }
        };
        let local = read_side(out, &yaml_files(out, &BTreeSet::new()), "local", local_cache)?;
        let origin = read_side(
            &self.original.files,
            &yaml_files(&self.original.files, &self.original.packages),
            "original upstream",
            |p| self.original.docs.get(p),
        )?;
        let updated = read_side(
            &self.updated.files,
            &yaml_files(&self.updated.files, &self.updated.packages),
            "updated upstream",
            |p| self.updated.docs.get(p),
        )?;

        // Tuples in kyaml's order: local resources, then original-only, then updated-only.
        let mut tuples: Vec<[Option<&Res>; 3]> = Vec::new();
        let mut index: HashMap<&Key, usize> = HashMap::new();
        for (side, resources) in [&local, &origin, &updated].into_iter().enumerate() {
            for res in &resources.list {
                let idx = *index.entry(&res.key).or_insert_with(|| {
                    tuples.push([None, None, None]);
                    tuples.len() - 1
                });
                tuples[idx][side] = Some(res);
            }
        }

        // Output documents per file: (sort index, tuple order, document).
        let mut files: BTreeMap<String, Vec<(usize, usize, Cow<'_, Document>)>> = BTreeMap::new();
        for (order, [d, o, u]) in tuples.iter().enumerate() {
            fn keep<'a>(res: &Res<'a>) -> (String, usize, Cow<'a, Document>) {
                (res.path.clone(), res.index, res.doc.clone())
            }
            let output = match (d, o, u) {
                (Some(d), None, None) => Some(keep(d)),
                (None, None, Some(u)) => Some(keep(u)),
                (None, _, None) => None,
                (Some(d), Some(o), None) => {
                    let same = match (d.doc.root(), o.doc.root()) {
                        (Some(a), Some(b)) => a.same(b, true),
                        (a, b) => a == b,
                    };
                    if same { None } else { Some(keep(d)) }
                }
                (None, Some(_), Some(_)) => None,
                (Some(d), Some(o), Some(u)) if unchanged_everywhere(&d.doc, &o.doc, &u.doc) => {
                    Some(keep(d))
                }
                (Some(d), o, Some(u)) => {
                    let merged = merge3::merge(
                        d.doc.root().cloned(),
                        o.and_then(|o| o.doc.root()),
                        u.doc.root(),
                        merge3::Options { infer: false, comments: true },
                    )
                    .map_err(|source| Error::Merge {
                        path: d.path.clone(),
                        resource: d.id.to_string(),
                        source,
                    })?;
                    merged.map(|root| {
                        let mut doc = d.doc.clone().into_owned();
                        let unchanged = match d.doc.root() {
                            Some(old) => old.same(&root, true),
                            None => false,
                        };
                        if !unchanged {
                            doc.touch();
                        }
                        set_root(&mut doc, root);
                        (d.path.clone(), d.index, Cow::Owned(doc))
                    })
                }
            };
            if let Some((path, idx, doc)) = output {
                files.entry(path).or_default().push((idx, order, doc));
            }
        }

        // Write: files read locally and now empty are deleted; unchanged files keep their bytes.
        for path in local.files.keys() {
            if !files.contains_key(path) {
                out.remove(path);
            }
        }
        for (path, mut docs) in files {
            docs.sort_by_key(|(idx, order, _)| (*idx, *order));
            let unchanged = local.files.get(&path).is_some_and(|orig| {
                orig.len() == docs.len() && orig.iter().zip(&docs).all(|(a, (_, _, b))| a == b)
            });
            if unchanged {
                continue;
            }
            let mut docs: Vec<Document> =
                docs.into_iter().map(|(_, _, d)| d.into_owned()).collect();
            if let Some(style) = local.files.get(&path).and_then(|d| d.first()) {
                for doc in docs.iter_mut().filter(|d| d.raw.is_none()) {
                    doc.seq_indent = style.seq_indent;
                }
            }
            let local_starts_with_separator = local
                .files
                .get(&path)
                .and_then(|d| d.first())
                .is_some_and(|d| d.separator.is_some());
            if let Some(first) = docs.first_mut()
                && first.separator.is_some()
                && !local_starts_with_separator
            {
                first.separator = None;
            }
            out.insert(path, stream::write_stream(&docs).into_bytes());
        }
        Ok(())
    }
}

/// Identity of a resource within a package: kpt matches group, kind, merge namespace/name and
/// file; documents that are not resources are matched by file and position.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum Key {
    Resource(ResId, String),
    Other(String, usize),
}

struct Res<'a> {
    key: Key,
    id: ResId,
    path: String,
    index: usize,
    doc: Cow<'a, Document>,
}

struct Side<'a> {
    list: Vec<Res<'a>>,
    /// The documents of each file read, in order.
    files: BTreeMap<String, Vec<Cow<'a, Document>>>,
}

fn read_side<'c>(
    files: &Files,
    paths: &[String],
    side: &'static str,
    cache: impl Fn(&String) -> Option<&'c Vec<Document>>,
) -> Result<Side<'c>, Error> {
    let mut list = Vec::new();
    let mut parsed = BTreeMap::new();
    let mut seen = BTreeSet::new();
    for path in paths {
        let docs: Vec<Cow<'c, Document>> = match cache(path) {
            Some(docs) => docs.iter().map(Cow::Borrowed).collect(),
            None => {
                let text = std::str::from_utf8(&files[path])
                    .map_err(|_| Error::NotUtf8 { path: path.clone() })?;
                parse_yaml(text)
                    .map_err(|source| Error::Parse { path: path.clone(), source })?
                    .into_iter()
                    .map(Cow::Owned)
                    .collect()
            }
        };
        for (index, doc) in docs.iter().enumerate() {
            let (key, id) = match doc.root().filter(|r| r.is_mapping()) {
                Some(root) => {
                    let id = ResId::for_merge(root);
                    if id.kind.is_empty() && id.name.is_empty() {
                        (Key::Other(path.clone(), index), id)
                    } else {
                        (Key::Resource(id.clone(), path.clone()), id)
                    }
                }
                None => (Key::Other(path.clone(), index), ResId::default()),
            };
            if !seen.insert(key.clone()) {
                return Err(Error::DuplicateResource {
                    side,
                    path: path.clone(),
                    resource: id.to_string(),
                });
            }
            list.push(Res { key, id, path: path.clone(), index, doc: doc.clone() });
        }
        parsed.insert(path.clone(), docs);
    }
    Ok(Side { list, files: parsed })
}

/// The resource is the same on all three sides and has no null value that the merge would
/// drop, so the merge would return the local document unchanged.
fn unchanged_everywhere(d: &Document, o: &Document, u: &Document) -> bool {
    fn has_null(node: &Node) -> bool {
        match node.kind {
            Kind::Mapping => node.entries().any(|(_, value)| has_null(value)),
            Kind::Sequence => node.content.iter().any(has_null),
            _ => node.reads_as_null(),
        }
    }
    match (d.root(), o.root(), u.root()) {
        (Some(d), Some(o), Some(u)) => d.same(o, true) && o.same(u, true) && !has_null(d),
        _ => false,
    }
}

/// Puts `root` into the document, whose node it replaces (a document without one gets one).
fn set_root(doc: &mut Document, root: Node) {
    match doc.node.as_mut() {
        Some(node) if !node.content.is_empty() => node.content[0] = root,
        Some(node) => node.content.push(root),
        None => doc.node = Some(Node::document(root)),
    }
}

/// Kptfiles are equal apart from `upstream`/`upstreamLock` (and, for the root, the name that
/// `pkg get` sets).
fn kptfiles_equal(a: &[u8], b: &[u8], is_root: bool) -> bool {
    match (Kptfile::parse(a), Kptfile::parse(b)) {
        (Ok(mut a), Ok(mut b)) => {
            for kf in [&mut a, &mut b] {
                kf.upstream = None;
                kf.upstream_lock = None;
            }
            if is_root {
                b.metadata.name = a.metadata.name.clone();
            }
            a == b
        }
        _ => a == b,
    }
}

/// kpt compares YAML files after re-serialisation: values and comments count, layout does not.
fn contents_equal(a: &[u8], b: &[u8]) -> bool {
    if a == b {
        return true;
    }
    let parse = |c: &[u8]| std::str::from_utf8(c).ok().and_then(|t| parse_yaml(t).ok());
    match (parse(a), parse(b)) {
        (Some(x), Some(y)) => {
            x.len() == y.len()
                && x.iter().zip(&y).all(|(p, q)| match (p.root(), q.root()) {
                    (Some(r), Some(s)) => r.same(s, true),
                    (None, None) => true,
                    _ => false,
                })
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests;
