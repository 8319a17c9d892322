//! Differential test: generated package triples upgraded by us and by the real
//! `kpt pkg update --strategy resource-merge` (upstream git repo with tags v1/v2, `kpt pkg get`
//! at v1, local edits, update to v2; as `shared/testdata/tools/upgrade-lib.sh` does). The
//! results must be equal in values, and every comment kpt writes must be in ours.
//! 10 triples by default, 60 with `RUN_SLOW_TESTS=1`. The one known deviation is normalised:
//! kpt writes `field: []` for a list that was deleted locally and not changed upstream.

use std::{path::Path, process::Command};

use veranda_kpt::{Strategy, set_upstream_ref, upgrade};

use crate::{
    packages,
    util::{compare, read_dir, write_dir},
};

fn run(dir: &Path, home: &Path, program: &str, args: &[&str]) -> String {
    let out = Command::new(program)
        .args(args)
        .current_dir(dir)
        .env("HOME", home)
        .env("GIT_AUTHOR_NAME", "kpt diff")
        .env("GIT_AUTHOR_EMAIL", "diff@example.com")
        .env("GIT_COMMITTER_NAME", "kpt diff")
        .env("GIT_COMMITTER_EMAIL", "diff@example.com")
        .env("GIT_AUTHOR_DATE", "2024-01-01T00:00:00+0000")
        .env("GIT_COMMITTER_DATE", "2024-01-01T00:00:00+0000")
        .output()
        .unwrap_or_else(|e| panic!("{program} must be installed: {e}"));
    assert!(
        out.status.success(),
        "{program} {args:?} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn replace_dir(dir: &Path, files: &veranda_kpt::Files) {
    if dir.exists() {
        std::fs::remove_dir_all(dir).unwrap();
    }
    std::fs::create_dir_all(dir).unwrap();
    write_dir(dir, files);
}

/// Runs kpt on one triple; returns kpt's result, our result and the local input.
fn compare_with_kpt(seed: u64) -> Vec<String> {
    let tmp = tempfile::tempdir().unwrap();
    let (home, up, down) =
        (tmp.path().join("home"), tmp.path().join("upstream"), tmp.path().join("downstream"));
    for d in [&home, &up, &down] {
        std::fs::create_dir_all(d).unwrap();
    }
    let (original, updated, local_edit) = packages::triple(seed);
    run(&up, &home, "git", &["-c", "init.defaultBranch=main", "init", "-q"]);
    replace_dir(&up.join("pkg"), &original);
    run(&up, &home, "git", &["add", "-A"]);
    run(&up, &home, "git", &["commit", "-q", "-m", "v1"]);
    run(&up, &home, "git", &["tag", "v1"]);
    replace_dir(&up.join("pkg"), &updated);
    run(&up, &home, "git", &["add", "-A"]);
    run(&up, &home, "git", &["commit", "-q", "--allow-empty", "-m", "v2"]);
    run(&up, &home, "git", &["tag", "v2"]);
    let commit = run(&up, &home, "git", &["rev-parse", "v2"]).trim().to_string();

    run(&down, &home, "git", &["-c", "init.defaultBranch=main", "init", "-q"]);
    run(&down, &home, "git", &["commit", "-q", "--allow-empty", "-m", "init"]);
    let source = format!("{}.git/pkg@v1", up.display());
    run(&down, &home, "kpt", &["pkg", "get", &source, "pkg"]);
    let fetched_kptfile = std::fs::read(down.join("pkg/Kptfile")).unwrap();
    let mut local = local_edit;
    local.insert("Kptfile".into(), fetched_kptfile);
    replace_dir(&down.join("pkg"), &local);
    run(&down, &home, "git", &["add", "-A"]);
    run(&down, &home, "git", &["commit", "-q", "--allow-empty", "-m", "local"]);
    let local = read_dir(&down.join("pkg"));
    run(&down, &home, "kpt", &["pkg", "update", "pkg@v2", "--strategy", "resource-merge"]);
    let mut theirs = read_dir(&down.join("pkg"));
    // Known deviation: a list the local side deleted and upstream left alone stays deleted
    // here; kyaml writes it back as `[]`.
    for content in theirs.values_mut() {
        let text = String::from_utf8_lossy(content);
        if text.contains(": []") {
            let kept: Vec<&str> =
                text.split_inclusive('\n').filter(|l| !l.trim_end().ends_with(": []")).collect();
            *content = kept.concat().into_bytes();
        }
    }

    let mut ours = upgrade(Strategy::ResourceMerge, &original, &updated, &local).unwrap();
    let kptfile =
        set_upstream_ref(&ours["Kptfile"], "v2", &commit, Some(Strategy::ResourceMerge)).unwrap();
    ours.insert("Kptfile".into(), kptfile);
    if std::env::var("DIFF_SEED").is_ok_and(|s| s == seed.to_string()) {
        for (name, files) in [
            ("original", &original),
            ("updated", &updated),
            ("local", &local),
            ("kpt", &theirs),
            ("ours", &ours),
        ] {
            eprintln!("===== {name}\n{}", String::from_utf8_lossy(&files["deployment.yaml"]));
        }
    }
    if let Some(path) =
        theirs.iter().find(|(p, c)| p.ends_with(".yaml") && has_duplicate_keys(c)).map(|(p, _)| p)
    {
        assert!(!ours.iter().any(|(p, c)| p.ends_with(".yaml") && has_duplicate_keys(c)));
        return vec![format!("{KPT_INVALID}: {path}")];
    }
    compare(&theirs, &ours)
}

const KPT_INVALID: &str = "kpt wrote a mapping with a duplicate key";

/// kyaml can write an element twice into one mapping (a list element deleted locally whose
/// nested keyed list it recreates empty); such output is invalid YAML.
fn has_duplicate_keys(content: &[u8]) -> bool {
    fn walk(node: &veranda_yaml::Node) -> bool {
        match node.kind {
            veranda_yaml::Kind::Mapping => {
                let keys: std::collections::BTreeSet<&str> =
                    node.entries().map(|(k, _)| k.value.as_str()).collect();
                keys.len() != node.content.len() / 2 || node.entries().any(|(_, v)| walk(v))
            }
            veranda_yaml::Kind::Sequence => node.content.iter().any(walk),
            _ => false,
        }
    }
    crate::util::parse(content).is_some_and(|docs| docs.iter().filter_map(|d| d.root()).any(walk))
}

#[test]
fn resource_merge_matches_kpt() {
    let n = if std::env::var_os("RUN_SLOW_TESTS").is_some() { 60 } else { 10 };
    let mut failures = Vec::new();
    let mut kpt_invalid = 0;
    for seed in 0..n {
        let problems = compare_with_kpt(seed);
        if problems.iter().any(|p| p.starts_with(KPT_INVALID)) {
            kpt_invalid += 1;
            eprintln!("seed {seed}: {}", problems.join(", "));
            continue;
        }
        if !problems.is_empty() {
            failures.push(format!("seed {seed}:\n{}", problems.join("\n")));
        }
    }
    eprintln!(
        "differential: {} of {n} generated triples equal to kpt pkg update, {kpt_invalid} where kpt's output is invalid",
        n as usize - failures.len() - kpt_invalid
    );
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
