//! Discovery: name parsing rules as Porch applies them, and following a branch from head to head.

use super::*;
use crate::random::Random;

#[test]
fn revision_numbers_follow_revision2int() {
    for (version, expected) in [
        ("v1", 1),
        ("v12", 12),
        ("3", 3),
        ("v0", 0),
        ("main", -1),
        ("v2.0.0", -1),
        ("vv1", -1),
        ("", -1),
        ("v", -1),
    ] {
        assert_eq!(revision_number(version), expected, "{version:?}");
    }
}

#[test]
fn packages_must_be_strictly_inside_the_directory() {
    for (directory, full, expected) in [
        ("", "a/b", Some("a/b")),
        ("", "", None),
        ("dir", "dir/a", Some("a")),
        ("dir", "dir/a/b", Some("a/b")),
        ("dir", "dir", None),
        ("dir", "dirx/a", None),
        ("dir", "other/a", None),
        ("a/b", "a/b/c", Some("c")),
    ] {
        assert_eq!(relative_path(directory, full), expected, "{directory:?} {full:?}");
    }
}

#[test]
fn full_paths_and_deletion_branches() {
    assert_eq!(full_path("", "a"), "a");
    assert_eq!(full_path("dir", "a/b"), "dir/a/b");
    assert_eq!(full_path("dir", ""), "dir");
    assert_eq!(deletion_proposed_name("dir/a", 2, "ws"), "dir/a/v2");
    assert_eq!(deletion_proposed_name("dir/a", 0, "ws"), "dir/a/ws");
    assert_eq!(deletion_proposed_name("dir/a", -1, "main"), "dir/a/main");
}

fn placeholder(package: &str) -> Arc<Discovered> {
    Arc::new(Discovered {
        package: package.into(),
        workspace: "main".into(),
        revision: -1,
        kind: RefKind::Branch,
        lifecycle: Lifecycle::Published,
        commit: String::new(),
        ref_name: "main".into(),
        tree: String::new(),
        published_by: None,
        published_at: None,
        published_commit: None,
        task: None,
    })
}

/// Merges `new` into `old` with [`step`]: what matched, and what was skipped as gone.
fn merge(old: &[Arc<Discovered>], new: &[&str]) -> (Vec<Option<String>>, Vec<String>) {
    let mut cursor = 0;
    let mut gone = Vec::new();
    let matched = new
        .iter()
        .map(|package| {
            step(old, &mut cursor, package, |d| gone.push(d.package.clone()))
                .map(|d| d.package.clone())
        })
        .collect();
    gone.extend(old[cursor..].iter().map(|d| d.package.clone()));
    (matched, gone)
}

#[test]
fn package_lists_merge_in_walk_order() {
    // The order discovery walks: git's directory order level by level (`a-b` before `a/x`,
    // since the directory `a` sorts as `a/`, after `a-`).
    let old: Vec<_> = ["a-b", "a/x", "b", "c/d/e", "c/f"].map(placeholder).into();
    let (matched, gone) = merge(&old, &["a/x", "a/y", "b", "ba", "c/d/e"]);
    let names = |v: &[&str]| v.iter().map(|s| Some(s.to_string())).collect::<Vec<_>>();
    let mut expected = names(&["a/x", "", "b", "", "c/d/e"]);
    expected[1] = None;
    expected[3] = None;
    assert_eq!(matched, expected);
    assert_eq!(gone, ["a-b", "c/f"]);
    // Out of order: more looks new or gone, nothing that changed is missed.
    let shuffled: Vec<_> = ["b", "a/x"].map(placeholder).into();
    let (matched, gone) = merge(&shuffled, &["a/x", "b"]);
    assert_eq!(matched, [None, Some("b".to_string())]);
    assert_eq!(gone, ["a/x"]);
}

/// Writes the tree of `files` (path -> content) and returns its id.
fn write_tree(repo: &Repository, files: &BTreeMap<String, String>) -> Oid {
    fn write(repo: &Repository, files: &BTreeMap<&str, &str>) -> Oid {
        let mut dirs: BTreeMap<&str, BTreeMap<&str, &str>> = BTreeMap::new();
        let mut builder = repo.treebuilder(None).expect("builder");
        for (path, content) in files {
            match path.split_once('/') {
                Some((dir, rest)) => {
                    dirs.entry(dir).or_default().insert(rest, content);
                }
                None => {
                    let blob = repo.blob(content.as_bytes()).expect("blob");
                    builder.insert(path, blob, 0o100644).expect("insert");
                }
            }
        }
        for (dir, files) in dirs {
            builder.insert(dir, write(repo, &files), 0o040000).expect("insert");
        }
        builder.write().expect("tree")
    }
    write(repo, &files.iter().map(|(p, c)| (p.as_str(), c.as_str())).collect())
}

/// The tree `new` as an edit of the tree `old` the way a write splices one directory entry
/// ([`Derived`]), when the two differ in exactly one name and the new entry, if any, is a
/// directory.
fn single_edit(repo: &Repository, old: Option<Oid>, new: Option<Oid>) -> Option<(Oid, Derived)> {
    let (old, new) = (old?, new?);
    let entries = |id: Oid| -> BTreeMap<Vec<u8>, (Oid, bool)> {
        let tree = repo.find_tree(id).expect("tree");
        tree.iter()
            .map(|e| (e.name_bytes().to_vec(), (e.id(), e.kind() == Some(ObjectType::Tree))))
            .collect()
    };
    let (before, after) = (entries(old), entries(new));
    let names: BTreeSet<&Vec<u8>> = before.keys().chain(after.keys()).collect();
    let differ: Vec<&Vec<u8>> =
        names.into_iter().filter(|name| before.get(*name) != after.get(*name)).collect();
    let [name] = differ[..] else { return None };
    let added = match after.get(name) {
        Some((id, true)) => Some(*id),
        Some((_, false)) => return None,
        None => None,
    };
    let removed = before.get(name).filter(|(_, dir)| *dir).map(|(id, _)| *id);
    let edit = Edit { name: name.clone(), removed, added };
    Some((new, Derived { base: old, edit }))
}

/// What a placeholder says: package, tree, publication and task (less the head it was read at:
/// kept placeholders keep theirs).
type Shown = (String, String, Option<String>, Option<Value>);

fn shown(found: &[Arc<Discovered>]) -> Vec<Shown> {
    found
        .iter()
        .filter(|d| d.kind == RefKind::Branch)
        .map(|d| (d.package.clone(), d.tree.clone(), d.published_commit.clone(), d.task.clone()))
        .collect()
}

#[test]
fn following_a_branch_finds_what_a_full_walk_finds() {
    // Names that sort differently as files and as directories (`-` < `.` < `/`).
    let dirs = ["a", "a-b", "a.c", "ab", "b/c", "b/c/d", "b/e", "deep/x/y/z", "b", ""];
    let leaves = ["p", "p-q", "p.q", "pq", "q"];
    for directory in ["", "deploy", "deploy/inner"] {
        let dir = tempfile::tempdir().expect("tempdir");
        let repo = Repository::init_bare(dir.path()).expect("init");
        // Objects stay in memory: thousands of loose files would make this test slow.
        let odb = repo.odb().expect("odb");
        let _mempack = odb.add_new_mempack_backend(1000).expect("mempack");
        let branch = "main";
        let scope = Scope { branch, directory };
        let tracking = format!("{TRACKING_PREFIX}{branch}");
        let mut random = Random(0x9e37_79b9_7f4a_7c15 ^ directory.len() as u64);
        let mut files: BTreeMap<String, String> = BTreeMap::new();
        let mut head: Option<Oid> = None;
        let mut followed = Discovery::default();
        let mut last: Option<Vec<Shown>> = None;
        let mut last_dir_tree: Option<Oid> = None;
        let signature =
            git2::Signature::new("t", "t@example.com", &git2::Time::new(1, 0)).expect("signature");
        for step in 0..300 {
            let base = dirs[random.below(dirs.len())];
            let leaf = leaves[random.below(leaves.len())];
            let parts = [directory, base, leaf];
            let path =
                parts.iter().filter(|p| !p.is_empty()).copied().collect::<Vec<_>>().join("/");
            let kptfile = format!("{path}/Kptfile");
            let mut annotated = None;
            match random.below(8) {
                0..=2 => {
                    files.insert(kptfile, format!("step {step}"));
                    files.insert(format!("{path}/sub/f.yaml"), format!("f {step}"));
                    annotated = Some(path.clone());
                }
                3 => {
                    files.retain(|p, _| !p.starts_with(&format!("{path}/")));
                }
                4 => {
                    // A package's parent directory becomes a package itself, or stops being one.
                    let parent = path.rsplit_once('/').map_or(String::new(), |(p, _)| p.to_owned());
                    let key =
                        format!("{parent}{}Kptfile", if parent.is_empty() { "" } else { "/" });
                    if files.remove(&key).is_none() {
                        files.insert(key, format!("parent {step}"));
                    }
                }
                5 => {
                    // A file where a package was, or a stray file.
                    files.retain(|p, _| !p.starts_with(&format!("{path}/")));
                    files.insert(path.clone(), format!("file {step}"));
                }
                6 => {
                    // Only a publication: an annotated commit that changes nothing.
                    annotated = Some(path.clone());
                }
                _ => {
                    files.insert(format!("{path}/Kptfile"), format!("edit {step}"));
                }
            }
            // A file that is also a directory's prefix cannot be both: keep git's tree valid.
            let snapshot: Vec<String> = files.keys().cloned().collect();
            for p in &snapshot {
                if snapshot.iter().any(|q| q.starts_with(&format!("{p}/"))) {
                    files.remove(p);
                }
            }
            let tree = repo.find_tree(write_tree(&repo, &files)).expect("tree");
            let message = match &annotated {
                Some(package) => crate::annotate_message(
                    &format!("step {step}"),
                    &crate::Annotation {
                        package: package.clone(),
                        workspace_name: branch.into(),
                        revision: "-1".into(),
                        task: Some(serde_json::json!({"type": "edit", "step": step})),
                    },
                ),
                None => format!("step {step}"),
            };
            let parents: Vec<_> =
                head.map(|h| repo.find_commit(h).expect("head")).into_iter().collect();
            let parents: Vec<_> = parents.iter().collect();
            let id = repo
                .commit(None, &signature, &signature, &message, &tree, &parents)
                .expect("commit");
            head = Some(id);
            repo.reference(&tracking, id, true, "step").expect("ref");

            let full = shown(&Discovery::default().list(&repo, &scope).expect("full list"));
            let dir_tree = directory_tree(&odb, tree.id(), directory).expect("directory");
            // Every other step as a write of this process records it: an edit of one entry.
            let mut edits = Edits::default();
            if step % 2 == 0
                && let Some(edit) = single_edit(&repo, last_dir_tree, dir_tree)
            {
                edits.record(&HashMap::from([edit]));
            }
            last_dir_tree = dir_tree;
            if followed.has_listed() {
                let moved = BTreeSet::from([tracking.clone()]);
                let changes = followed.changes(&repo, &scope, &moved, &edits).expect("changes");
                let now = shown(&followed.placeholders.as_ref().expect("placeholders").found);
                assert_eq!(now, full, "{directory:?} step {step}: followed != walked");
                // Every package whose placeholder changed, came or went is reported.
                let before = last.take().unwrap_or_default();
                let mut differ: BTreeSet<&str> = BTreeSet::new();
                for entry in before.iter().filter(|e| !full.contains(e)) {
                    differ.insert(&entry.0);
                }
                for entry in full.iter().filter(|e| !before.contains(e)) {
                    differ.insert(&entry.0);
                }
                for package in differ {
                    assert!(
                        changes.contains_key(package),
                        "{directory:?} step {step}: {package} changed unreported"
                    );
                }
            } else {
                followed.list(&repo, &scope).expect("first list");
            }
            last = Some(full);
        }
    }
}
