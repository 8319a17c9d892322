//! Tree editing checked against `git ls-tree` semantics on a scratch repository.

use git2::{Repository, TreeWalkMode, TreeWalkResult};

use super::*;
use crate::stage::{Stage, stage};

/// Runs `test` against a stage over a fresh bare repository.
fn with_stage(test: impl FnOnce(&Stage<'_>)) {
    let dir = tempfile::tempdir().expect("temp dir");
    let repo = Repository::init_bare(dir.path()).expect("init");
    stage(&repo, |stage| {
        test(stage);
        Ok(())
    })
    .expect("stage");
}

fn files(entries: &[(&str, &str)]) -> Files {
    entries.iter().map(|(path, content)| (path.to_string(), content.as_bytes().to_vec())).collect()
}

/// Lists `path -> content` of every blob in the tree, for comparison.
fn listing(stage: &Stage<'_>, tree: Option<Oid>) -> Vec<String> {
    let Some(tree) = tree else { return Vec::new() };
    let tree = stage.find_tree(tree).expect("tree was just written");
    let mut blobs = Vec::new();
    tree.walk(TreeWalkMode::PreOrder, |dir, entry| {
        if entry.kind() == Some(ObjectType::Blob) {
            blobs.push((format!("{dir}{}", entry.name().expect("utf-8")), entry.id()));
        }
        TreeWalkResult::Ok
    })
    .expect("walk");
    blobs
        .into_iter()
        .map(|(path, id)| (path, stage.find_blob(id).expect("blob was just written")))
        .map(|(path, content)| format!("{path}={}", String::from_utf8_lossy(&content)))
        .collect()
}

#[test]
fn replaces_only_the_package_directory() {
    with_stage(replaces_only_the_package_directory_in);
}

fn replaces_only_the_package_directory_in(stage: &Stage<'_>) {
    let base = write_files(
        stage,
        &files(&[("a/x/Kptfile", "x"), ("a/y/Kptfile", "y"), ("b", "b")]),
        &Modes::new(),
    )
    .expect("write")
    .expect("non-empty");
    let base = stage.find_tree(base).expect("base tree");
    let sibling = base.get_path(std::path::Path::new("a/y")).expect("a/y").id();

    let package =
        write_files(stage, &files(&[("Kptfile", "new"), ("sub/f.yaml", "f")]), &Modes::new())
            .expect("write");
    let replaced = replace_dir(stage, Some(base.id()), &["a", "x"], package).expect("replace");
    assert_eq!(
        listing(stage, replaced),
        ["a/x/Kptfile=new", "a/x/sub/f.yaml=f", "a/y/Kptfile=y", "b=b"]
    );
    let replaced_tree = stage.find_tree(replaced.expect("non-empty")).expect("tree");
    assert_eq!(replaced_tree.get_path(std::path::Path::new("a/y")).expect("a/y").id(), sibling);

    let created = replace_dir(stage, Some(base.id()), &["c", "d"], package).expect("create");
    assert!(listing(stage, created).contains(&"c/d/Kptfile=new".to_owned()));

    let removed = replace_dir(stage, Some(base.id()), &["a", "x"], None).expect("remove");
    assert_eq!(listing(stage, removed), ["a/y/Kptfile=y", "b=b"]);
    let removed_all = replace_dir(stage, removed, &["a", "y"], None).expect("remove");
    assert_eq!(listing(stage, removed_all), ["b=b"], "empty parent directories are pruned");

    let from_nothing = replace_dir(stage, None, &["p"], package).expect("from empty");
    assert_eq!(listing(stage, from_nothing), ["p/Kptfile=new", "p/sub/f.yaml=f"]);
    assert_eq!(replace_dir(stage, None, &["p"], None).expect("noop"), None);

    let under_file = replace_dir(stage, Some(base.id()), &["b", "c"], package);
    assert!(matches!(under_file, Err(Error::InvalidPath { .. })), "{under_file:?}");
}

#[test]
fn rejects_bad_paths() {
    with_stage(rejects_bad_paths_in);
}

fn rejects_bad_paths_in(stage: &Stage<'_>) {
    for bad in ["", "/a", "a/", "a//b", "../a", "a/./b", ".git/config", "a/.GIT"] {
        let res = write_files(stage, &files(&[(bad, "x")]), &Modes::new());
        assert!(matches!(res, Err(Error::InvalidPath { .. })), "{bad:?}: {res:?}");
    }
    let res = write_files(stage, &files(&[("a", "x"), ("a/b", "y")]), &Modes::new());
    assert!(matches!(res, Err(Error::InvalidPath { .. })), "{res:?}");
    assert_eq!(write_files(stage, &Files::new(), &Modes::new()).expect("empty"), None);
}

mod splicing {
    use proptest::prelude::*;

    use super::*;

    /// Names that sort differently as files and as directories (`a`, `a-b`, `a.b`, `a/`…).
    fn name() -> impl Strategy<Value = String> {
        proptest::string::string_regex("[a-c][-.a-c0]{0,2}").expect("regex")
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

        /// Splicing an entry gives byte for byte the tree libgit2's builder writes.
        #[test]
        fn splice_matches_the_tree_builder(
            entries in proptest::collection::btree_map(name(), any::<bool>(), 0..12),
            target in name(),
            insert in any::<bool>(),
        ) {
            with_stage(|stage| {
                let blob = stage.blob(b"x").expect("blob");
                let sub = {
                    let mut builder = stage.builder(None).expect("builder");
                    builder.insert("f", blob, MODE_FILE).expect("insert");
                    stage.tree(&builder).expect("subtree")
                };
                let mut builder = stage.builder(None).expect("builder");
                for (entry, is_dir) in &entries {
                    let (id, mode) = if *is_dir { (sub, MODE_TREE) } else { (blob, MODE_FILE) };
                    builder.insert(entry, id, mode).expect("insert");
                }
                let base = stage.tree(&builder).expect("base");
                let raw = stage.raw_tree(base).expect("raw");
                let new = insert.then_some(sub);
                let spliced = splice(&raw, target.as_bytes(), new).expect("well formed");
                match new {
                    Some(id) => {
                        builder.insert(&target, id, MODE_TREE).expect("insert");
                    }
                    None => {
                        if builder.get(&target).expect("get").is_some() {
                            builder.remove(&target).expect("remove");
                        }
                    }
                }
                let expected = stage.tree(&builder).expect("expected");
                let expected = stage.raw_tree(expected).expect("raw");
                assert_eq!(spliced.raw, &expected[..]);
                let was_dir = entries.iter().any(|(entry, is_dir)| *entry == target && *is_dir);
                assert_eq!(spliced.removed, was_dir.then_some(sub), "the directory replaced");
            });
        }
    }

    proptest! {
        /// Tree bytes come from remotes: whatever they are, splicing answers without panicking.
        #[test]
        fn any_bytes_are_spliced_or_refused(raw in proptest::collection::vec(any::<u8>(), 0..200)) {
            let id = Oid::from_bytes(&[7; 20]).expect("id");
            let _ = splice(&raw, b"p", Some(id));
            let _ = splice(&raw, b"p", None);
        }
    }

    #[test]
    fn a_tree_out_of_order_or_cut_short_is_not_spliced() {
        let id = Oid::from_bytes(&[1; 20]).expect("id");
        let mut raw = Vec::new();
        push_dir(&mut raw, b"b", id);
        push_dir(&mut raw, b"a", id);
        assert!(splice(&raw, b"c", Some(id)).is_none(), "out of order");
        let mut raw = Vec::new();
        push_dir(&mut raw, b"a", id);
        assert!(splice(&raw[..raw.len() - 1], b"c", Some(id)).is_none(), "cut short");
        assert!(splice(b"40000 a", b"c", None).is_none(), "no name end");
    }
}
