//! Which remotes a request may make the server touch, with the real kubectl: local paths for
//! administrators or under `--allow-local-repositories`, the same refusal whether a path
//! exists or not, clones held to the same rule, and `--allow-remote-hosts`.

use std::{os::unix::fs::PermissionsExt, path::Path};

use crate::util::{Server, blueprints_repo, empty_repo};

const BOB: &str = "bob-token-0123456789abcdef";

/// `args` as bob.
fn as_bob<'a>(args: &[&'a str]) -> Vec<&'a str> {
    [&["--token", BOB][..], args].concat()
}

fn repository(name: &str, url: &str) -> String {
    format!(
        "apiVersion: config.porch.kpt.dev/v1alpha1\nkind: Repository\nmetadata: {{name: {name}, namespace: default}}\nspec: {{type: git, git: {{repo: '{url}', branch: main, createBranch: true}}}}\n"
    )
}

/// A data directory whose token file has the admin's token and `bob`'s (not an admin).
fn data_with_bob(dir: &Path) {
    let data = dir.join("data");
    std::fs::create_dir(&data).expect("mkdir data");
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o700)).expect("chmod");
    let tokens = data.join("tokens.csv");
    let admin = "admin-token-0123456789abcdef";
    std::fs::write(
        &tokens,
        format!("{admin},admin,admin,\"system:masters\"\n{BOB},bob,bob,\"team-a\"\n"),
    )
    .expect("write tokens");
    std::fs::set_permissions(&tokens, std::fs::Permissions::from_mode(0o600)).expect("chmod");
}

#[test]
fn local_repositories_need_an_admin_or_an_allowed_directory() {
    let dir = tempfile::tempdir().expect("temp dir");
    let allowed = dir.path().join("allowed");
    let outside = dir.path().join("outside");
    std::fs::create_dir_all(&allowed).expect("mkdir");
    std::fs::create_dir_all(&outside).expect("mkdir");
    let inside_repo = empty_repo(&allowed, "mine.git");
    let outside_repo = empty_repo(&outside, "theirs.git");
    let blueprints = blueprints_repo(&outside);
    data_with_bob(dir.path());
    let allowed_arg = allowed.display().to_string();
    let root = dir.path().to_path_buf();
    let server = Server::start_with(dir, &["--allow-local-repositories", &allowed_arg]);
    // bob may manage repositories and edit packages in `default` (RBAC); the remote rules
    // hold whatever RBAC grants.
    for role in ["repository-admin", "editor"] {
        server.kubectl(&[
            "create",
            "rolebinding",
            &format!("bob-{role}"),
            &format!("--clusterrole=veranda:{role}"),
            "--user=bob",
            "-n",
            "default",
        ]);
    }

    // Outside the allowed directory: one refusal, whether the path exists or not.
    let mut refusals = Vec::new();
    for url in [
        outside_repo.display().to_string(),
        format!("file://{}", outside_repo.display()),
        "/etc".to_string(),
        "/no/such/directory".to_string(),
        format!("{}/../outside/theirs.git", allowed.display()),
    ] {
        let err =
            server.kubectl_fails(&as_bob(&["apply", "-f", "-"]), Some(&repository("theirs", &url)));
        let reason =
            err.lines().find(|l| l.contains("Forbidden")).unwrap_or(&err).replace(&url, "URL");
        refusals.push(reason);
    }
    assert!(refusals[0].contains("spec.git.repo: Forbidden: local repositories are allowed only for cluster administrators"), "{refusals:?}");
    assert!(refusals.iter().all(|r| *r == refusals[0]), "{refusals:#?}");
    let err = server.kubectl_fails(
        &as_bob(&["apply", "-f", "-"]),
        Some(&repository("theirs", "ext::sh -c id")),
    );
    assert!(err.contains("unsupported transport"), "{err}");
    // Nothing of the refused repositories reached the data directory.
    assert!(!root.join("data/git/default.theirs").exists());

    // Inside it, bob may register.
    server.kubectl_in(
        &as_bob(&["apply", "-f", "-"]),
        Some(&repository("mine", &inside_repo.display().to_string())),
    );
    server.eventually("mine is ready", || {
        server.kubectl(&[
            "get",
            "repositories",
            "mine",
            "-o",
            "jsonpath={.status.conditions[0].status}",
        ]) == "True"
    });

    // A clone from a local upstream outside it is refused the same way.
    let clone = format!(
        "apiVersion: porch.kpt.dev/v1alpha1\nkind: PackageRevision\nmetadata: {{namespace: default}}\nspec:\n  repository: mine\n  packageName: copy\n  workspaceName: ws\n  lifecycle: Draft\n  tasks:\n  - type: clone\n    clone:\n      upstreamRef:\n        type: git\n        git: {{repo: '{}', ref: main, directory: basens}}\n",
        blueprints.display()
    );
    let err = server.kubectl_fails(&as_bob(&["create", "-f", "-"]), Some(&clone));
    assert!(err.contains("upstreamRef.git.repo: Forbidden: local repositories"), "{err}");
    // The admin may do both.
    server.kubectl_in(&["create", "-f", "-"], Some(&clone));
    server.kubectl_in(
        &["apply", "-f", "-"],
        Some(&repository("theirs", &outside_repo.display().to_string())),
    );
}

#[test]
fn remote_hosts_can_be_restricted() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = Server::start_with(
        dir,
        &["--allow-remote-hosts", "*.example.com", "--allow-remote-hosts", "127.0.0.1:1"],
    );
    for url in [
        "http://127.0.0.1:9/a.git",
        "https://169.254.169.254/latest",
        "git@github.com:o/a.git",
        "https://git.corp/a.git",
    ] {
        let err = server.kubectl_fails(&["apply", "-f", "-"], Some(&repository("r", url)));
        assert!(
            err.contains("is not one the server may reach (--allow-remote-hosts)"),
            "{url}: {err}"
        );
    }
    // An allowed host and port is registered (nothing listens there: it is not ready).
    server.kubectl_in(&["apply", "-f", "-"], Some(&repository("r", "http://127.0.0.1:1/a.git")));
}
