use std::process::Command;

use git2::Repository;

use super::*;

fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git").arg("-C").arg(dir).args(args).output().expect("run git");
    assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Objects of every kind and size class: empty, one size byte, several, and incompressible.
fn objects() -> Vec<(ObjectType, Vec<u8>)> {
    let mut noise = Vec::new();
    let mut x: u32 = 7;
    for _ in 0..300_000 {
        x = x.wrapping_mul(1_103_515_245).wrapping_add(12_345);
        noise.push((x >> 16) as u8);
    }
    vec![
        (ObjectType::Blob, Vec::new()),
        (ObjectType::Blob, b"hello\n".to_vec()),
        (ObjectType::Blob, vec![b'a'; 5000]),
        (ObjectType::Blob, noise),
        // Big enough to be stored, not compressed.
        (ObjectType::Tree, big_tree()),
    ]
}

/// A tree of 1,000 files with the content "hello\n".
fn big_tree() -> Vec<u8> {
    let blob = id_of(ObjectType::Blob, b"hello\n");
    let mut tree = Vec::new();
    for i in 0..1000 {
        tree.extend_from_slice(format!("100644 f{i:04}\0").as_bytes());
        tree.extend_from_slice(blob.as_bytes());
    }
    assert!(tree.len() > STORED_TREE_BYTES);
    tree
}

fn id_of(kind: ObjectType, data: &[u8]) -> Oid {
    Oid::hash_object(kind, data).expect("hash")
}

#[test]
fn packs_written_here_are_read_by_git_and_libgit2() {
    let dir = tempfile::tempdir().expect("temp dir");
    let repo = Repository::init_bare(dir.path()).expect("init");
    let mut builder = Builder::new();
    let mut ids = Vec::new();
    for (kind, data) in objects() {
        let id = id_of(kind, &data);
        builder.add(id, kind, &data).expect("add");
        ids.push((id, data));
    }
    // A tree and a commit over the blobs.
    let tree_bytes: Vec<u8> = [(b"a".as_slice(), ids[1].0), (b"b", ids[3].0)]
        .iter()
        .flat_map(|(name, id)| {
            let mut entry = b"100644 ".to_vec();
            entry.extend_from_slice(name);
            entry.push(0);
            entry.extend_from_slice(id.as_bytes());
            entry
        })
        .collect();
    let tree = id_of(ObjectType::Tree, &tree_bytes);
    builder.add(tree, ObjectType::Tree, &tree_bytes).expect("tree");
    let commit_bytes =
        format!("tree {tree}\nauthor A <a@b> 1 +0000\ncommitter A <a@b> 1 +0000\n\nmessage\n")
            .into_bytes();
    let commit = id_of(ObjectType::Commit, &commit_bytes);
    builder.add(commit, ObjectType::Commit, &commit_bytes).expect("commit");
    let pack = builder.finish().expect("finish");
    assert_eq!(pack.count(), 7);
    let base = install(dir.path(), &pack, true).expect("install");

    let verify = git(dir.path(), &["verify-pack", "-v", &format!("{}.idx", base.display())]);
    assert!(verify.contains("ok"), "{verify}");
    git(dir.path(), &["update-ref", "refs/heads/main", &commit.to_string()]);
    git(dir.path(), &["fsck", "--strict", "--no-dangling"]);
    // git's own index of the same pack is byte for byte ours.
    let other = tempfile::tempdir().expect("temp dir");
    let copy = other.path().join("copy.pack");
    fs::write(&copy, &pack.pack).expect("copy");
    let out = Command::new("git")
        .args(["index-pack", "-o"])
        .arg(other.path().join("copy.idx"))
        .arg(&copy)
        .output()
        .expect("index-pack");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(fs::read(other.path().join("copy.idx")).expect("idx"), pack.index);

    let odb = repo.odb().expect("odb");
    for (id, data) in &ids {
        assert_eq!(odb.read(*id).expect("read").data(), data.as_slice());
    }
    let mode = fs::metadata(base.with_extension("pack")).expect("meta").permissions().mode();
    assert_eq!(mode & 0o777, 0o444);
    let leftovers: Vec<_> = fs::read_dir(dir.path().join("objects/pack"))
        .expect("dir")
        .flatten()
        .filter(|entry| entry.file_name().to_string_lossy().starts_with("tmp_"))
        .collect();
    assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");
    // Installing it again changes nothing.
    assert_eq!(install(dir.path(), &pack, false).expect("again"), base);
}

#[test]
fn an_index_reads_back_and_rejects_damage() {
    let mut builder = Builder::new();
    for (kind, data) in objects() {
        builder.add(id_of(kind, &data), kind, &data).expect("add");
    }
    let pack = builder.finish().expect("finish");
    let len = pack.pack.len() as u64;
    let entries = read_index(&pack.index, len).expect("read");
    assert_eq!(entries.len(), 5);
    assert!(entries.windows(2).all(|pair| pair[0].id < pair[1].id));
    // Any flipped byte breaks the checksum or the shape; a short pack puts offsets outside.
    for at in [0, 5, 300, pack.index.len() / 2, pack.index.len() - 1] {
        let mut bad = pack.index.clone();
        bad[at] ^= 0x40;
        assert!(read_index(&bad, len).is_none(), "flipped byte {at} accepted");
    }
    assert!(read_index(&pack.index, 40).is_none());
    assert!(read_index(&pack.index[..100], len).is_none());
    assert!(read_index(&[], len).is_none());
}

#[test]
fn large_offsets_go_to_the_64_bit_table() {
    let id = |n: u8| Oid::from_bytes(&[n; 20]).expect("id");
    let mut entries = vec![
        Entry { id: id(3), crc: 1, offset: 12 },
        Entry { id: id(1), crc: 2, offset: 5_000_000_000 },
        Entry { id: id(2), crc: 3, offset: 0x8000_0000 },
    ];
    let index = write_index(&mut entries, &[9; 20]).expect("index");
    let read = read_index(&index, 6_000_000_000).expect("read");
    assert_eq!(read, entries, "sorted by id, offsets as given");
    let mut twice = vec![entries[0], entries[0]];
    assert!(write_index(&mut twice, &[0; 20]).is_err());
}
