//! Kptfile generation and edits, with `kpt pkg init` as the oracle.

use std::{collections::BTreeMap, process::Command};

use super::*;

#[test]
fn init_matches_kpt_pkg_init() {
    let dir = tempfile::tempdir().unwrap();
    let pkg = dir.path().join("my-pkg");
    std::fs::create_dir(&pkg).unwrap();
    let status = Command::new("kpt")
        .args(["pkg", "init"])
        .arg(&pkg)
        .args([
            "--description",
            "sample description",
            "--keywords",
            "a,b",
            "--site",
            "https://example.com/x",
        ])
        .output()
        .expect("kpt must be installed");
    assert!(status.status.success(), "{}", String::from_utf8_lossy(&status.stderr));
    let ours = init_package(&InitOptions {
        name: "my-pkg".into(),
        description: "sample description".into(),
        keywords: vec!["a".into(), "b".into()],
        site: "https://example.com/x".into(),
    });
    for (path, content) in &ours {
        let theirs = std::fs::read(pkg.join(path)).unwrap();
        assert_eq!(String::from_utf8_lossy(content), String::from_utf8_lossy(&theirs), "{path}");
    }
    assert_eq!(std::fs::read_dir(&pkg).unwrap().count(), ours.len());
}

#[test]
fn read_and_set_upstream() {
    let files = init_package(&InitOptions { name: "down".into(), ..Default::default() });
    let kptfile = &files["Kptfile"];
    let lock = GitLock {
        repo: "https://example.com/blueprints".into(),
        directory: "/basens".into(),
        reference: "basens/v1".into(),
        commit: "abc".into(),
    };
    let out = set_upstream(kptfile, Some("clone"), &lock).unwrap();
    let text = String::from_utf8(out.clone()).unwrap();
    assert!(text.find("upstream:").unwrap() > text.find("metadata:").unwrap(), "{text}");
    // Exactly Porch's shape: no updateStrategy.
    assert!(text.contains(
        "upstream:\n  type: git\n  git:\n    repo: https://example.com/blueprints.git\n    directory: basens\n    ref: basens/v1\nupstreamLock:\n  type: git\n  git:\n    repo: https://example.com/blueprints.git\n    directory: basens\n    ref: basens/v1\n    commit: abc\n"
    ), "{text}");
    let info = read_kptfile(&out).unwrap();
    assert_eq!(info.name, "clone");
    assert_eq!(
        info.upstream_lock,
        Some(GitLock {
            repo: "https://example.com/blueprints.git".into(),
            directory: "basens".into(),
            reference: "basens/v1".into(),
            commit: "abc".into()
        })
    );
}

#[test]
fn package_metadata_merge_and_replace() {
    let files = init_package(&InitOptions { name: "p".into(), ..Default::default() });
    let kptfile = &files["Kptfile"];
    let labels = BTreeMap::from([("team".to_string(), "a".to_string())]);
    let none = BTreeMap::new();
    assert_eq!(
        set_package_metadata(kptfile, &none, &none, None, MetadataMode::Merge).unwrap(),
        None
    );
    let out = set_package_metadata(
        kptfile,
        &labels,
        &none,
        Some(&["Ready".to_string()]),
        MetadataMode::Merge,
    )
    .unwrap()
    .unwrap();
    let info = read_kptfile(&out).unwrap();
    assert_eq!(info.labels, labels);
    assert_eq!(info.readiness_gates, vec!["Ready".to_string()]);
    assert_eq!(info.annotations["config.kubernetes.io/local-config"], "true");
    let out =
        set_package_metadata(&out, &none, &none, None, MetadataMode::Replace).unwrap().unwrap();
    let info = read_kptfile(&out).unwrap();
    assert!(info.labels.is_empty());
    assert_eq!(info.annotations["config.kubernetes.io/local-config"], "true");
}

#[test]
fn scalars_are_quoted_when_needed() {
    assert_eq!(yaml_scalar("plain"), "plain");
    assert_eq!(yaml_scalar("true"), "\"true\"");
    assert_eq!(yaml_scalar("a: b"), "\"a: b\"");
    assert_eq!(yaml_scalar("123"), "\"123\"");
}

#[test]
fn package_metadata_edits_keep_the_kptfile_layout() {
    let kptfile = b"apiVersion: kpt.dev/v1\nkind: Kptfile\nmetadata:\n  name: p # the package\n  labels:\n    old: x\ninfo:\n  # who to ask\n  description: d\n";
    let labels = BTreeMap::from([("team".to_string(), "true".to_string())]);
    let out = set_package_metadata(
        kptfile,
        &labels,
        &BTreeMap::new(),
        Some(&["ready".to_string()]),
        MetadataMode::Replace,
    )
    .unwrap()
    .expect("changed");
    let text = String::from_utf8(out.clone()).unwrap();
    assert!(text.contains("name: p # the package"), "{text}");
    assert!(text.contains("  # who to ask\n  description: d"), "{text}");
    assert!(
        text.contains("  labels:\n    team: \"true\"\n"),
        "a string that reads as a bool is quoted: {text}"
    );
    let info = read_kptfile(&out).unwrap();
    assert_eq!(info.labels, labels);
    assert_eq!(info.readiness_gates, ["ready"]);
    // Nothing to change: None.
    assert_eq!(
        set_package_metadata(
            &out,
            &labels,
            &BTreeMap::new(),
            Some(&["ready".to_string()]),
            MetadataMode::Replace
        )
        .unwrap(),
        None
    );
}
