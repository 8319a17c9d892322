//! Fetching packages from plain Git repositories built with the `git` CLI.

use std::process::Command;

use super::*;

fn git(dir: &Path, args: &[&str]) {
    let out = Command::new("git").arg("-C").arg(dir).args(args).output().expect("git");
    assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn resolves_refs_like_porch() {
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path().join("work");
    fs::create_dir_all(work.join("pkgs/app")).unwrap();
    git(&work, &["init", "-q", "-b", "main"]);
    git(&work, &["config", "user.email", "t@example.com"]);
    git(&work, &["config", "user.name", "t"]);
    fs::write(
        work.join("pkgs/app/Kptfile"),
        "apiVersion: kpt.dev/v1\nkind: Kptfile\nmetadata:\n  name: app\n",
    )
    .unwrap();
    fs::write(work.join("pkgs/app/cm.yaml"), "kind: ConfigMap\n").unwrap();
    git(&work, &["add", "."]);
    git(&work, &["commit", "-q", "-m", "v1"]);
    git(&work, &["tag", "pkgs/app/v1"]);
    fs::write(work.join("pkgs/app/cm.yaml"), "kind: ConfigMap # v2\n").unwrap();
    git(&work, &["commit", "-q", "-am", "v2"]);
    git(&work, &["tag", "release-2"]);
    let cache = dir.path().join("cache");
    let none = UrlRewrites::default();

    // `<directory>/<ref>` tag, with a leading "/" in the directory.
    let v1 = fetch_package(work.to_str().unwrap(), "v1", "/pkgs/app", None, None, &none, &cache)
        .unwrap();
    assert_eq!(v1.files["cm.yaml"], b"kind: ConfigMap\n");
    // A plain tag and a branch.
    let v2 =
        fetch_package(work.to_str().unwrap(), "release-2", "pkgs/app", None, None, &none, &cache)
            .unwrap();
    assert_eq!(v2.files["cm.yaml"], b"kind: ConfigMap # v2\n");
    let main = fetch_package(
        &format!("file://{}", work.display()),
        "main",
        "pkgs/app",
        None,
        None,
        &none,
        &cache,
    )
    .unwrap();
    assert_eq!(main.commit, v2.commit);
    // A commit id.
    let by_id = fetch_package(
        work.to_str().unwrap(),
        &v1.commit[..12],
        "pkgs/app",
        None,
        None,
        &none,
        &cache,
    )
    .unwrap();
    assert_eq!(by_id.commit, v1.commit);
    // Failures: unknown ref, missing directory, no Kptfile, path escape.
    assert!(matches!(
        fetch_package(work.to_str().unwrap(), "nope", "pkgs/app", None, None, &none, &cache),
        Err(Error::NotFound { .. })
    ));
    assert!(matches!(
        fetch_package(work.to_str().unwrap(), "main", "pkgs/none", None, None, &none, &cache),
        Err(Error::NotFound { .. })
    ));
    assert!(matches!(
        fetch_package(work.to_str().unwrap(), "main", "pkgs", None, None, &none, &cache),
        Err(Error::MissingKptfile { .. })
    ));
    assert!(matches!(
        fetch_package(work.to_str().unwrap(), "main", "../x", None, None, &none, &cache),
        Err(Error::InvalidPath { .. })
    ));
}

#[test]
fn reads_through_a_url_rewrite_and_reports_the_url_given() {
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path().join("work");
    fs::create_dir_all(work.join("app")).unwrap();
    git(&work, &["init", "-q", "-b", "main"]);
    git(&work, &["config", "user.email", "t@example.com"]);
    git(&work, &["config", "user.name", "t"]);
    fs::write(work.join("app/Kptfile"), "apiVersion: kpt.dev/v1\nkind: Kptfile\n").unwrap();
    git(&work, &["add", "."]);
    git(&work, &["commit", "-q", "-m", "v1"]);
    let rewrites =
        UrlRewrites::parse(&[format!("http://git.invalid/org/={}/", dir.path().display())])
            .unwrap();
    let url = "http://git.invalid/org/work";
    let fetched =
        fetch_package(url, "main", "app", None, None, &rewrites, &dir.path().join("cache"))
            .unwrap();
    assert_eq!(fetched.url, url);
    assert!(fetched.files.contains_key("Kptfile"));
    // Without the rewrite the name does not resolve.
    let none = UrlRewrites::default();
    assert!(fetch_package(url, "main", "app", None, None, &none, &dir.path().join("c2")).is_err());
}
