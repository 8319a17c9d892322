//! porchctl's commands (`veranda rpkg|repo`, and the binary as `porchctl`) end to end: the
//! pull → kpt → push loop, registration with basic auth against an authenticated Git server,
//! several names with per-name results, and what a first run says when something is missing.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::Value;

use crate::http_server::{Auth, GitHttpServer, enable_push};
use crate::util::{Server, blueprints_repo, git};

/// Runs the binary (as `veranda`, or through a `porchctl` symlink) against `server`.
fn run(program: &Path, server: &Server, args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(program)
        .args(args)
        .env("KUBECONFIG", &server.kubeconfig)
        .env_remove("VERANDA_KUBECONFIG")
        .stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run the CLI");
    if let Some(input) = stdin {
        use std::io::Write as _;
        let mut pipe = child.stdin.take().expect("stdin");
        pipe.write_all(input.as_bytes()).expect("write stdin");
    }
    child.wait_with_output().expect("wait for the CLI")
}

fn veranda() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_veranda"))
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Runs a command that must succeed; its stdout.
fn ok(server: &Server, args: &[&str]) -> String {
    let out = run(&veranda(), server, args, None);
    assert!(out.status.success(), "{args:?} failed: {}{}", text(&out.stdout), text(&out.stderr));
    text(&out.stdout)
}

fn wait_ready(server: &Server, repo: &str) {
    server.eventually(&format!("repository {repo} Ready"), || {
        let out = run(
            &veranda(),
            server,
            &[
                "repo",
                "get",
                repo,
                "-o",
                "jsonpath={.status.conditions[?(@.type=='Ready')].status}",
            ],
            None,
        );
        text(&out.stdout).trim() == "True"
    });
}

/// Every file below `dir` (relative path → bytes).
fn tree(dir: &Path) -> std::collections::BTreeMap<String, Vec<u8>> {
    let mut out = std::collections::BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).expect("read dir") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let rel = path.strip_prefix(dir).expect("prefix").to_string_lossy().into_owned();
                out.insert(rel, std::fs::read(&path).expect("read"));
            }
        }
    }
    out
}

fn resources(server: &Server, name: &str) -> Value {
    let json = server.kubectl(&["get", "packagerevisionresources", name, "-o", "json"]);
    serde_json::from_str(&json).expect("resources JSON")
}

#[test]
fn pull_kpt_push_loop_keeps_files_and_detects_conflicts() {
    let server = Server::start();
    let blueprints = blueprints_repo(server.dir.path());
    let work = server.dir.path().join("work.git");
    git(server.dir.path(), &["init", "-q", "--bare", "-b", "main", "work.git"]);
    let blueprints_url = blueprints.to_string_lossy().into_owned();
    let work_url = work.to_string_lossy().into_owned();
    ok(&server, &["repo", "reg", &blueprints_url, "--name", "blueprints"]);
    ok(&server, &["repo", "reg", &work_url, "--name", "work", "--create-branch"]);
    wait_ready(&server, "blueprints");
    wait_ready(&server, "work");
    let created =
        ok(&server, &["rpkg", "clone", "blueprints.basens.v1", "app", "--repository", "work"]);
    assert_eq!(created, "work.app.v1 created\n");

    // Pull writes the resources byte for byte, plus the revision metadata.
    let dir = server.dir.path().join("app");
    ok(&server, &["rpkg", "pull", "work.app.v1", dir.to_str().expect("utf-8 path")]);
    let pulled = tree(&dir);
    let served = resources(&server, "work.app.v1");
    let map = served["spec"]["resources"].as_object().expect("resources");
    for (path, content) in map {
        assert_eq!(
            pulled.get(path).map(Vec::as_slice),
            Some(content.as_str().expect("text").as_bytes()),
            "{path}"
        );
    }
    assert_eq!(pulled.len(), map.len() + 1, "only the metadata file is added: {:?}", pulled.keys());
    let metadata = text(&pulled[".KptRevisionMetadata"]);
    assert!(
        metadata.contains("kind: KptRevisionMetadata") && metadata.contains("name: work.app.v1"),
        "{metadata}"
    );
    // Pulling into an existing directory refuses and changes nothing.
    let again = run(
        &veranda(),
        &server,
        &["rpkg", "pull", "work.app.v1", dir.to_str().expect("path")],
        None,
    );
    assert!(
        !again.status.success() && text(&again.stderr).contains("already exists"),
        "{}",
        text(&again.stderr)
    );

    // Edit with the real kpt: an exec function labels every resource, then kpt renders.
    let script = server.dir.path().join("label.sh");
    std::fs::write(
        &script,
        "#!/bin/sh\nsed 's/^    name: example$/    name: example\\n    labels:\\n      edited: by-kpt/'\n",
    )
    .expect("script");
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .expect("chmod");
    let kpt = Command::new("kpt")
        .args([
            "fn",
            "eval",
            dir.to_str().expect("path"),
            "--exec",
            script.to_str().expect("path"),
            "--match-kind",
            "Namespace",
        ])
        .output()
        .expect("kpt must be installed");
    assert!(kpt.status.success(), "kpt fn eval: {}", text(&kpt.stderr));
    let render = Command::new("kpt")
        .args(["fn", "render", dir.to_str().expect("path")])
        .output()
        .expect("kpt");
    assert!(render.status.success(), "kpt fn render: {}", text(&render.stderr));
    let edited = tree(&dir);
    assert!(
        text(&edited["namespace.yaml"]).contains("edited: by-kpt"),
        "{}",
        text(&edited["namespace.yaml"])
    );

    let pushed = run(
        &veranda(),
        &server,
        &["rpkg", "push", "work.app.v1", dir.to_str().expect("path")],
        None,
    );
    assert!(pushed.status.success(), "push: {}", text(&pushed.stderr));
    assert_eq!(text(&pushed.stdout), "work.app.v1 pushed\n");
    let after = resources(&server, "work.app.v1");
    let after_map = after["spec"]["resources"].as_object().expect("resources");
    assert!(after_map["namespace.yaml"].as_str().expect("text").contains("edited: by-kpt"));
    for (path, content) in &edited {
        if path != ".KptRevisionMetadata" && path != "Kptfile" {
            assert_eq!(
                after_map[path].as_str().map(str::as_bytes),
                Some(content.as_slice()),
                "{path} changed on push"
            );
        }
    }

    // The same directory again: its resourceVersion is stale, so the push is refused.
    let stale = run(
        &veranda(),
        &server,
        &["rpkg", "push", "work.app.v1", dir.to_str().expect("path")],
        None,
    );
    assert_eq!(stale.status.code(), Some(1));
    assert!(
        text(&stale.stderr).contains("the object has been modified"),
        "{}",
        text(&stale.stderr)
    );

    // The ResourceList form round-trips through stdin.
    let list = ok(&server, &["rpkg", "pull", "work.app.v1"]);
    assert!(list.contains("kind: ResourceList") && list.contains("KptRevisionMetadata"), "{list}");
    let piped = run(&veranda(), &server, &["rpkg", "push", "work.app.v1", "-"], Some(&list));
    assert!(piped.status.success(), "push -: {}", text(&piped.stderr));
    let round = resources(&server, "work.app.v1");
    assert_eq!(
        round["spec"]["resources"], after["spec"]["resources"],
        "a pulled list pushed back changes nothing"
    );

    // A binary file is refused rather than pushed mangled.
    std::fs::remove_dir_all(&dir).expect("clean");
    ok(&server, &["rpkg", "pull", "work.app.v1", dir.to_str().expect("path")]);
    std::fs::write(dir.join("logo.png"), [0x89u8, b'P', b'N', b'G', 0xff, 0x00]).expect("binary");
    let binary = run(
        &veranda(),
        &server,
        &["rpkg", "push", "work.app.v1", dir.to_str().expect("path")],
        None,
    );
    assert_eq!(binary.status.code(), Some(1));
    assert!(
        text(&binary.stderr).contains("not a valid UTF-8 text file"),
        "{}",
        text(&binary.stderr)
    );
}

#[test]
fn register_with_basic_auth_against_an_authenticated_server() {
    let server = Server::start();
    let root = server.dir.path().join("served");
    std::fs::create_dir_all(&root).expect("root");
    git(&root, &["init", "-q", "--bare", "-b", "main", "private.git"]);
    enable_push(&root.join("private.git"));
    let http = GitHttpServer::start(
        &root,
        Auth::Basic { username: "nephio".into(), password: "s3cret-pw".into() },
    );
    let url = http.url("private.git");
    ok(
        &server,
        &[
            "repo",
            "register",
            &url,
            "--name",
            "private",
            "--create-branch",
            "--repo-basic-username",
            "nephio",
            "--repo-basic-password",
            "s3cret-pw",
        ],
    );
    wait_ready(&server, "private");
    let secret: Value =
        serde_json::from_str(&server.kubectl(&["get", "secret", "private-auth", "-o", "json"]))
            .expect("secret JSON");
    assert_eq!(secret["type"], "kubernetes.io/basic-auth");
    assert_eq!(
        ok(&server, &["repo", "get", "private", "-o", "jsonpath={.spec.git.secretRef.name}"]),
        "private-auth"
    );
    assert_eq!(
        ok(&server, &["rpkg", "init", "web", "--repository", "private", "--workspace", "w"]),
        "private.web.w created\n"
    );
    ok(&server, &["rpkg", "propose", "private.web.w"]);
    assert_eq!(ok(&server, &["rpkg", "approve", "private.web.w"]), "private.web.w approved\n");
    let branches = git(&root.join("private.git"), &["for-each-ref", "--format=%(refname)"]);
    assert!(branches.contains("refs/heads/main"), "{branches}");
    // A wrong password: the repository is registered but never Ready, and says why.
    ok(
        &server,
        &[
            "repo",
            "reg",
            &url,
            "--name",
            "wrong",
            "--repo-basic-username",
            "nephio",
            "--repo-basic-password",
            "nope",
        ],
    );
    server.eventually("the wrong password is reported", || {
        let msg = ok(
            &server,
            &[
                "repo",
                "get",
                "wrong",
                "-o",
                "jsonpath={.status.conditions[?(@.type=='Ready')].message}",
            ],
        );
        !msg.trim().is_empty()
    });
    // Unregistering removes the Secret too (unless --keep-auth-secret).
    ok(&server, &["repo", "unreg", "wrong"]);
    let gone = server.kubectl_fails(&["get", "secret", "wrong-auth"], None);
    assert!(gone.contains("NotFound") || gone.contains("not found"), "{gone}");
    ok(&server, &["repo", "unreg", "private", "--keep-auth-secret"]);
    server.kubectl(&["get", "secret", "private-auth"]);
}

#[test]
fn porchctl_name_several_names_and_help() {
    let server = Server::start();
    let link = server.dir.path().join("porchctl");
    std::os::unix::fs::symlink(veranda(), &link).expect("symlink");
    let work = server.dir.path().join("w.git");
    git(server.dir.path(), &["init", "-q", "--bare", "-b", "main", "w.git"]);
    let out = run(
        &link,
        &server,
        &["repo", "reg", work.to_str().expect("path"), "--create-branch"],
        None,
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    wait_ready(&server, "w");
    let out = run(&link, &server, &["rpkg", "init", "a", "--repository=w", "--workspace=1"], None);
    assert_eq!(text(&out.stdout), "w.a.1 created\n");
    // One good name, one missing: a line each, then porchctl's summary and exit code 1.
    let out = run(&link, &server, &["rpkg", "propose", "w.a.1", "w.missing.1"], None);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(text(&out.stdout), "w.a.1 proposed\n");
    let stderr = text(&out.stderr);
    assert!(stderr.starts_with("w.missing.1 failed ("), "{stderr}");
    assert!(stderr.contains("\nError: errors:\n  "), "{stderr}");
    let table = text(&run(&link, &server, &["rpkg", "get"], None).stdout);
    assert!(
        table.starts_with(
            "NAME    PACKAGE   WORKSPACENAME   REVISION   LATEST   LIFECYCLE   REPOSITORY\n"
        ),
        "{table}"
    );
    assert!(
        table.contains("w.a.1   a         1               0          false    Proposed    w\n"),
        "{table}"
    );
    let help = text(&run(&link, &server, &["rpkg", "--help"], None).stdout);
    for command in [
        "init",
        "clone",
        "copy",
        "get",
        "pull",
        "push",
        "propose ",
        "approve",
        "reject",
        "delete",
        "propose-delete",
        "upgrade",
    ] {
        assert!(help.contains(&format!("  {command}")), "{command} missing from:\n{help}");
    }
    let version = text(&run(&link, &server, &["version"], None).stdout);
    assert!(version.starts_with("Version: "), "{version}");
    let completion = run(&veranda(), &server, &["completion", "bash"], None);
    assert!(text(&completion.stdout).contains("rpkg"), "bash completion names rpkg");
    let completion = run(&link, &server, &["completion", "zsh"], None);
    assert!(text(&completion.stdout).contains("#compdef porchctl"), "zsh completion for porchctl");
}

#[test]
fn first_run_errors_say_what_to_do() {
    let server = Server::start();
    let empty = tempfile::tempdir().expect("dir");
    let lone = |args: &[&str], env: &[(&str, &Path)]| {
        let mut command = Command::new(veranda());
        command
            .args(args)
            .current_dir(empty.path())
            .env_remove("KUBECONFIG")
            .env("HOME", empty.path());
        for (k, v) in env {
            command.env(k, v);
        }
        command.output().expect("run")
    };
    let out = lone(&["rpkg", "get"], &[]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("no kubeconfig found") && stderr.contains("veranda serve"), "{stderr}");

    // A kubeconfig whose server is gone.
    let dead = empty.path().join("dead");
    let config = std::fs::read_to_string(&server.kubeconfig).expect("kubeconfig");
    let port = server.url().rsplit(':').next().expect("port").trim_end_matches('/').to_string();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let free = listener.local_addr().expect("addr").port();
    drop(listener);
    std::fs::write(&dead, config.replace(&format!(":{port}"), &format!(":{free}"))).expect("write");
    let stderr = text(&lone(&["rpkg", "get"], &[("KUBECONFIG", &dead)]).stderr);
    assert!(
        stderr.contains("cannot reach the server") && stderr.contains("veranda serve"),
        "{stderr}"
    );

    // A token the server does not know.
    let token = server.token();
    let bad = empty.path().join("bad");
    std::fs::write(&bad, config.replace(&token, "not-a-token")).expect("write");
    let stderr = text(&lone(&["rpkg", "get"], &[("KUBECONFIG", &bad)]).stderr);
    assert!(stderr.contains("401 Unauthorized") && stderr.contains("veranda user add"), "{stderr}");
    assert!(!stderr.contains("not-a-token"), "the token is never printed: {stderr}");

    // A user without permissions: the server's 403 message.
    let data = server.kubeconfig.parent().expect("data dir");
    let add = Command::new(veranda())
        .args(["user", "add", "guest", "--token", "--data-dir"])
        .arg(data)
        .output()
        .expect("user add");
    assert!(add.status.success(), "{}", text(&add.stderr));
    let guest = empty.path().join("guest");
    std::fs::write(&guest, &add.stdout).expect("write");
    // The server reads new tokens within a second (waiting first keeps the failed logins far
    // below the lockout threshold).
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let mut stderr = String::new();
    server.eventually("the guest's token is known", || {
        stderr = text(&lone(&["rpkg", "get"], &[("KUBECONFIG", &guest)]).stderr);
        !stderr.contains("401")
    });
    assert!(stderr.contains("forbidden") && stderr.contains("guest"), "{stderr}");

    // Usage errors are porchctl's, before any connection.
    let stderr = text(&lone(&["rpkg", "get", "--show-kptfile"], &[("KUBECONFIG", &guest)]).stderr);
    assert_eq!(
        stderr,
        "error: --show-kptfile requires exactly one package revision name as an argument\n"
    );
}
