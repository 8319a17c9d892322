//! PackageRevisionResources updates keep what the map cannot show (binary files, symlinks,
//! submodules) and the modes of the files they change (docs/api-resources.md).

use std::process::Command;

use veranda_api::{
    ObjectMeta,
    types::{PackageRevisionResources, PackageRevisionResourcesSpec},
};

use super::{Fixture, git};

const SUBMODULE: &str = "0123456789abcdef0123456789abcdef01234567";
const LOGO: &[u8] = b"\x89PNG\r\n\x1a\n\x00\xff\xfe\x80 not utf-8";
const KPTFILE: &str = "apiVersion: kpt.dev/v1\nkind: Kptfile\nmetadata:\n  name: app\n";

fn commit_git(dir: &std::path::Path, args: &[&str]) -> String {
    let mut all = vec!["-c", "user.name=t", "-c", "user.email=t@example.com"];
    all.extend_from_slice(args);
    git(dir, &all)
}

/// `mode type id` of every entry of `rev` in `remote`, by path.
fn ls_tree(remote: &std::path::Path, rev: &str) -> std::collections::BTreeMap<String, String> {
    git(remote, &["ls-tree", "-r", rev])
        .lines()
        .filter_map(|line| line.split_once('\t'))
        .map(|(meta, path)| (path.to_owned(), meta.to_owned()))
        .collect()
}

#[tokio::test]
async fn resources_round_trip_keeps_binary_symlink_executable_and_submodule() {
    let f = Fixture::new().await;
    let remote = f.bare("r.git");
    let work = f.dir.path().join("work");
    let out = Command::new("git").arg("clone").arg("-q").arg(&remote).arg(&work).output().unwrap();
    assert!(out.status.success());
    let pkg = work.join("app");
    std::fs::create_dir_all(&pkg).unwrap();
    std::fs::write(pkg.join("Kptfile"), KPTFILE).unwrap();
    std::fs::write(pkg.join("cm.yaml"), "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n")
        .unwrap();
    std::fs::write(pkg.join("logo.png"), LOGO).unwrap();
    std::fs::write(pkg.join("run.sh"), "#!/bin/sh\necho one\n").unwrap();
    std::os::unix::fs::symlink("run.sh", pkg.join("link")).unwrap();
    git(&work, &["add", "-A"]);
    git(&work, &["update-index", "--chmod=+x", "app/run.sh"]);
    git(&work, &["update-index", "--add", "--cacheinfo", &format!("160000,{SUBMODULE},app/sub")]);
    commit_git(&work, &["commit", "-q", "-m", "special entries"]);
    git(
        &work,
        &[
            "push",
            "-q",
            "origin",
            "HEAD:refs/heads/main",
            "HEAD:refs/heads/drafts/app/ws",
            "HEAD:refs/tags/app/v1",
        ],
    );
    let before = ls_tree(&remote, "drafts/app/ws");
    f.register("r", &remote).await;

    let got = f.engine.get_resources("default", "r.app.ws").await.unwrap();
    let shown: Vec<&str> = got.spec.resources.keys().map(String::as_str).collect();
    assert_eq!(shown, ["Kptfile", "cm.yaml", "run.sh"], "binary, symlink and submodule are hidden");

    // GET → PUT with one new file.
    let mut resources = got.spec.resources.clone();
    resources.insert(
        "new.yaml".into(),
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: new\n".into(),
    );
    let update = |resources, rv: String| PackageRevisionResources {
        metadata: ObjectMeta {
            name: "r.app.ws".into(),
            resource_version: rv,
            ..Default::default()
        },
        spec: PackageRevisionResourcesSpec { resources, ..Default::default() },
        ..Default::default()
    };
    let rv = f
        .engine
        .get_package_revision("default", "r.app.ws")
        .unwrap()
        .metadata
        .resource_version
        .clone();
    f.engine.update_resources("default", "r.app.ws", update(resources, rv)).await.unwrap();
    let after = ls_tree(&remote, "drafts/app/ws");
    for path in ["app/logo.png", "app/link", "app/sub", "app/run.sh", "app/cm.yaml"] {
        assert_eq!(after.get(path), before.get(path), "{path}: {after:?}");
    }
    assert!(after["app/run.sh"].starts_with("100755 blob"));
    assert!(after["app/link"].starts_with("120000 blob"));
    assert_eq!(after["app/sub"], format!("160000 commit {SUBMODULE}"));
    assert!(after["app/new.yaml"].starts_with("100644 blob"));
    assert_eq!(git(&remote, &["cat-file", "blob", "drafts/app/ws:app/link"]), "run.sh");
    let logo = Command::new("git")
        .arg("-C")
        .arg(&remote)
        .args(["cat-file", "blob", "drafts/app/ws:app/logo.png"])
        .output()
        .unwrap();
    assert_eq!(logo.stdout, LOGO);

    // Changing run.sh through the map keeps it executable; the hidden entries stay.
    let got = f.engine.get_resources("default", "r.app.ws").await.unwrap();
    let mut resources = got.spec.resources.clone();
    resources.insert("run.sh".into(), "#!/bin/sh\necho two\n".into());
    let rv = f
        .engine
        .get_package_revision("default", "r.app.ws")
        .unwrap()
        .metadata
        .resource_version
        .clone();
    f.engine.update_resources("default", "r.app.ws", update(resources, rv)).await.unwrap();
    let second = ls_tree(&remote, "drafts/app/ws");
    assert!(second["app/run.sh"].starts_with("100755 blob"), "{second:?}");
    assert_ne!(second["app/run.sh"], after["app/run.sh"]);
    assert_eq!(
        git(&remote, &["cat-file", "blob", "drafts/app/ws:app/run.sh"]),
        "#!/bin/sh\necho two\n"
    );
    for path in ["app/logo.png", "app/link", "app/sub"] {
        assert_eq!(second.get(path), before.get(path), "{path}");
    }

    // A map entry at the symlink's path changes its target; at the submodule's path it makes a
    // regular file; leaving run.sh out deletes it.
    let got = f.engine.get_resources("default", "r.app.ws").await.unwrap();
    let mut resources = got.spec.resources.clone();
    resources.remove("run.sh");
    resources.insert("link".into(), "cm.yaml".into());
    resources.insert("sub".into(), "now a file\n".into());
    let rv = f
        .engine
        .get_package_revision("default", "r.app.ws")
        .unwrap()
        .metadata
        .resource_version
        .clone();
    f.engine.update_resources("default", "r.app.ws", update(resources, rv)).await.unwrap();
    let third = ls_tree(&remote, "drafts/app/ws");
    assert!(!third.contains_key("app/run.sh"), "{third:?}");
    assert!(third["app/link"].starts_with("120000 blob"), "{third:?}");
    assert_eq!(git(&remote, &["cat-file", "blob", "drafts/app/ws:app/link"]), "cm.yaml");
    assert!(third["app/sub"].starts_with("100644 blob"), "{third:?}");
    assert_eq!(third.get("app/logo.png"), before.get("app/logo.png"));

    // Copy (edit) and clone from the published revision keep the entries and their modes.
    f.create("r", "app", "ws2", Some(super::edit_task("r.app.v1"))).await.unwrap();
    let clone = veranda_api::types::Task {
        task_type: "clone".into(),
        clone: Some(veranda_api::types::CloneTask {
            upstream_ref: veranda_api::types::UpstreamPackage {
                upstream_ref: Some(veranda_api::types::NameRef { name: "r.app.v1".into() }),
                ..Default::default()
            },
        }),
        ..Default::default()
    };
    f.create("r", "copy", "ws", Some(clone)).await.unwrap();
    for (rev, dir) in [("drafts/app/ws2", "app"), ("drafts/copy/ws", "copy")] {
        let tree = ls_tree(&remote, rev);
        for path in ["logo.png", "link", "sub", "run.sh"] {
            assert_eq!(
                tree.get(&format!("{dir}/{path}")),
                before.get(&format!("app/{path}")),
                "{rev} {path}: {tree:?}"
            );
        }
    }
}

/// Updates one file of a revision through the resources map (modes are kept by the rule).
async fn set_file(f: &Fixture, name: &str, path: &str, content: &str) {
    let mut got = f.engine.get_resources("default", name).await.unwrap();
    got.spec.resources.insert(path.into(), content.into());
    got.metadata.resource_version =
        f.engine.get_package_revision("default", name).unwrap().metadata.resource_version.clone();
    f.engine.update_resources("default", name, got).await.unwrap();
}

#[tokio::test]
async fn upgrade_keeps_modes_and_hidden_entries() {
    use veranda_api::types::{CloneTask, NameRef, Task, UpgradeTask, UpstreamPackage};
    let f = Fixture::new().await;
    let remote = f.bare("r.git");
    let work = f.dir.path().join("work");
    let out = Command::new("git").arg("clone").arg("-q").arg(&remote).arg(&work).output().unwrap();
    assert!(out.status.success());
    let pkg = work.join("up");
    std::fs::create_dir_all(&pkg).unwrap();
    std::fs::write(pkg.join("Kptfile"), KPTFILE.replace("name: app", "name: up")).unwrap();
    std::fs::write(pkg.join("logo.png"), LOGO).unwrap();
    std::fs::write(pkg.join("run.sh"), "#!/bin/sh\necho one\n").unwrap();
    std::os::unix::fs::symlink("run.sh", pkg.join("link")).unwrap();
    git(&work, &["add", "-A"]);
    git(&work, &["update-index", "--chmod=+x", "up/run.sh"]);
    commit_git(&work, &["commit", "-q", "-m", "upstream v1"]);
    git(&work, &["push", "-q", "origin", "HEAD:refs/heads/main", "HEAD:refs/tags/up/v1"]);
    f.register("r", &remote).await;

    // app is a clone of up v1; up v2 changes the script.
    let clone = Task {
        task_type: "clone".into(),
        clone: Some(CloneTask {
            upstream_ref: UpstreamPackage {
                upstream_ref: Some(NameRef { name: "r.up.v1".into() }),
                ..Default::default()
            },
        }),
        ..Default::default()
    };
    f.create("r", "app", "ws1", Some(clone)).await.unwrap();
    f.publish("r.app.ws1").await;
    f.create("r", "up", "ws2", Some(super::edit_task("r.up.v1"))).await.unwrap();
    set_file(&f, "r.up.ws2", "run.sh", "#!/bin/sh\necho two\n").await;
    f.publish("r.up.ws2").await;
    let upstream = ls_tree(&remote, "up/v2");
    assert!(upstream["up/run.sh"].starts_with("100755 blob"), "{upstream:?}");

    let upgrade = |strategy: &str| Task {
        task_type: "upgrade".into(),
        upgrade: Some(UpgradeTask {
            old_upstream_ref: NameRef { name: "r.up.v1".into() },
            new_upstream_ref: NameRef { name: "r.up.ws2".into() },
            local_package_revision_ref: NameRef { name: "r.app.ws1".into() },
            strategy: strategy.into(),
        }),
        ..Default::default()
    };
    for (ws, strategy) in
        [("rm", "resource-merge"), ("cm", "copy-merge"), ("fdr", "force-delete-replace")]
    {
        f.create("r", "app", ws, Some(upgrade(strategy))).await.unwrap();
        let tree = ls_tree(&remote, &format!("drafts/app/{ws}"));
        assert!(tree["app/run.sh"].starts_with("100755 blob"), "{strategy}: {tree:?}");
        assert_eq!(
            git(&remote, &["cat-file", "blob", &format!("drafts/app/{ws}:app/run.sh")]),
            "#!/bin/sh\necho two\n",
            "{strategy}"
        );
        assert!(tree["app/link"].starts_with("120000 blob"), "{strategy}: {tree:?}");
        assert_eq!(tree.get("app/logo.png"), upstream.get("up/logo.png"), "{strategy}");
    }
}
