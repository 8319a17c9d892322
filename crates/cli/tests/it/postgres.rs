//! `veranda serve --store postgres://…` end to end: a real PostgreSQL, the real `kubectl`.
//! Package content stays in Git and metadata in the database, so a server started on a fresh
//! data directory against the same database serves the same revisions with their labels.

use std::process::{Command, Stdio};

use veranda_pgtest::Postgres;

use crate::util::{Server, empty_repo, secret_key_file};

fn repository(name: &str, repo: &std::path::Path) -> String {
    format!(
        "apiVersion: config.porch.kpt.dev/v1alpha1\nkind: Repository\nmetadata:\n  name: {name}\n  \
         namespace: default\nspec:\n  type: git\n  git:\n    repo: file://{}\n    branch: main\n    \
         createBranch: true\n",
        repo.display()
    )
}

fn draft(repository: &str, package: &str) -> String {
    format!(
        "apiVersion: porch.kpt.dev/v1alpha1\nkind: PackageRevision\nmetadata:\n  namespace: default\n  \
         labels:\n    team: blue\nspec:\n  packageName: {package}\n  repository: {repository}\n  \
         workspaceName: v1\n  lifecycle: Draft\n  tasks:\n  - type: init\n    init:\n      \
         description: on postgres\n"
    )
}

#[test]
fn a_server_on_postgres_keeps_metadata_in_the_database_and_content_in_git() {
    let pg = Postgres::start().expect("start PostgreSQL");
    let url = pg.create_database("veranda").expect("create database");
    let repos = tempfile::tempdir().expect("temp dir");
    let remote = empty_repo(repos.path(), "deploy.git");
    let key = secret_key_file(repos.path());
    let args = ["--store", url.as_str(), "--secret-key-file", key.to_str().expect("utf-8")];

    let first = Server::start_with(tempfile::tempdir().expect("temp dir"), &args);
    first.kubectl_in(&["apply", "-f", "-"], Some(&repository("deploy", &remote)));
    first.kubectl(&["wait", "--for=condition=Ready", "repository/deploy", "--timeout=60s"]);
    let created =
        first.kubectl_in(&["create", "-f", "-", "-o", "name"], Some(&draft("deploy", "app")));
    let name = created.trim().trim_start_matches("packagerevision.porch.kpt.dev/").to_string();
    first.kubectl(&["label", "packagerevision", &name, "stage=first"]);
    assert!(!first.dir.path().join("data/veranda.db").exists(), "no SQLite file beside postgres");
    let rows = pg
        .psql("veranda", "SELECT name FROM package_revisions WHERE repository = 'deploy'")
        .expect("psql");
    assert!(rows.lines().any(|l| l == name), "the revision's row is in postgres: {rows:?}");
    let repositories = pg.psql("veranda", "SELECT name FROM repositories").expect("psql");
    assert_eq!(repositories.trim(), "deploy");
    let rv_first: i64 = first.get_json(&["packagerevision", &name])["metadata"]["resourceVersion"]
        .as_str()
        .expect("resourceVersion")
        .parse()
        .expect("a number");
    drop(first);

    // Another server, its own empty data directory (its Git cache), the same database.
    let second = Server::start_with(tempfile::tempdir().expect("temp dir"), &args);
    second.kubectl(&["wait", "--for=condition=Ready", "repository/deploy", "--timeout=60s"]);
    let got = second.get_json(&["packagerevision", &name]);
    assert_eq!(got["metadata"]["labels"]["team"], "blue", "{got}");
    assert_eq!(got["metadata"]["labels"]["stage"], "first", "{got}");
    assert_eq!(got["spec"]["lifecycle"], "Draft");
    // resourceVersions go on from the database's counter.
    second.kubectl(&["label", "--overwrite", "packagerevision", &name, "stage=second"]);
    let rv_second: i64 =
        second.get_json(&["packagerevision", &name])["metadata"]["resourceVersion"]
            .as_str()
            .expect("resourceVersion")
            .parse()
            .expect("a number");
    assert!(rv_second > rv_first, "{rv_second} after {rv_first}");
    let resources = second.get_json(&["packagerevisionresources", &name]);
    let kptfile = resources["spec"]["resources"]["Kptfile"].as_str().expect("Kptfile");
    assert!(kptfile.contains("on postgres"), "{kptfile}");

    // The database goes away and comes back: the server answers 503 meanwhile, then serves.
    pg.stop().expect("stop postgres");
    let failed = second
        .kubectl_output(&["label", "--overwrite", "packagerevision", &name, "stage=down"], None);
    assert!(!failed.status.success(), "a write with the database down failed");
    let said = String::from_utf8_lossy(&failed.stderr);
    assert!(
        said.contains("ServiceUnavailable") || said.contains("503") || said.contains("unavailable"),
        "{said}"
    );
    pg.restart().expect("restart postgres");
    second.eventually("writes work again after the database restart", || {
        second
            .kubectl_output(&["label", "--overwrite", "packagerevision", &name, "stage=up"], None)
            .status
            .success()
    });
    let got = second.get_json(&["packagerevision", &name]);
    assert_eq!(got["metadata"]["labels"]["stage"], "up", "{got}");
}

#[test]
fn servers_given_one_key_file_read_each_others_secrets() {
    let pg = Postgres::start().expect("start PostgreSQL");
    let url = pg.create_database("secrets").expect("create database");
    let keys = tempfile::tempdir().expect("temp dir");
    let key = secret_key_file(keys.path());
    let key = key.to_str().expect("utf-8 path");
    let args = ["--store", url.as_str(), "--secret-key-file", key];
    let first = Server::start_with(tempfile::tempdir().expect("temp dir"), &args);
    first.kubectl(&["create", "secret", "generic", "git-creds", "--from-literal=password=s3cret"]);
    let rows = pg.psql("secrets", "SELECT object FROM secrets").expect("psql");
    assert!(!rows.contains("s3cret") && !rows.contains("czNjcmV0"), "sealed in the database");
    drop(first);
    let second = Server::start_with(tempfile::tempdir().expect("temp dir"), &args);
    let got = second.get_json(&["secret", "git-creds"]);
    assert_eq!(got["data"]["password"], "czNjcmV0", "{got}");
    // Without the shared key a server cannot open the shared identity either: it refuses to
    // start, naming the flag, and changes nothing.
    drop(second);
    let third = tempfile::tempdir().expect("temp dir");
    let refused = Command::new(env!("CARGO_BIN_EXE_veranda"))
        .args(["serve", "--listen", "127.0.0.1:0", "--store", &url, "--data-dir"])
        .arg(third.path().join("data"))
        .stdin(Stdio::null())
        .output()
        .expect("run veranda serve");
    assert!(!refused.status.success(), "a server without the shared key started");
    let said = String::from_utf8_lossy(&refused.stderr);
    assert!(said.contains("--secret-key-file"), "{said}");
    assert!(!said.contains("BEGIN"), "no key material in the message: {said}");
    let fourth = Server::start_with(tempfile::tempdir().expect("temp dir"), &args);
    assert_eq!(fourth.get_json(&["secret", "git-creds"])["data"]["password"], "czNjcmV0");
}

#[test]
fn an_unreachable_or_malformed_store_stops_the_server_without_showing_the_password() {
    for store in [
        "postgres://admin:hunter2-secret@127.0.0.1:1/veranda?connect_timeout=2",
        "mysql://admin:hunter2-secret@127.0.0.1/veranda",
    ] {
        let dir = tempfile::tempdir().expect("temp dir");
        let out = Command::new(env!("CARGO_BIN_EXE_veranda"))
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(dir.path().join("data"))
            .env("VERANDA_STORE", store)
            .stdin(Stdio::null())
            .output()
            .expect("run veranda");
        let said = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(!out.status.success(), "{store}: {said}");
        assert!(!said.contains("hunter2"), "the password was shown: {said}");
        assert!(said.contains("store"), "the error names the store: {said}");
    }
}

#[test]
fn store_copy_moves_a_server_from_sqlite_to_postgres_losing_nothing() {
    let pg = Postgres::start().expect("start PostgreSQL");
    let url = pg.create_database("moved").expect("create database");
    let repos = tempfile::tempdir().expect("temp dir");
    let remote = empty_repo(repos.path(), "deploy.git");

    let mut sqlite = Server::start_with(tempfile::tempdir().expect("temp dir"), &[]);
    sqlite.kubectl_in(&["apply", "-f", "-"], Some(&repository("deploy", &remote)));
    sqlite.kubectl(&["wait", "--for=condition=Ready", "repository/deploy", "--timeout=60s"]);
    let created =
        sqlite.kubectl_in(&["create", "-f", "-", "-o", "name"], Some(&draft("deploy", "app")));
    let name = created.trim().trim_start_matches("packagerevision.porch.kpt.dev/").to_string();
    sqlite.kubectl(&["annotate", "packagerevision", &name, "owner=team-blue"]);
    sqlite.kubectl(&["create", "secret", "generic", "creds", "--from-literal=token=abc"]);
    sqlite.kubectl(&["create", "role", "readers", "--verb=get", "--resource=packagerevisions"]);
    let data = sqlite.dir.path().join("data");
    let copy = |data: &std::path::Path| {
        Command::new(env!("CARGO_BIN_EXE_veranda"))
            .args(["store", "copy", "--data-dir"])
            .arg(data)
            .env("VERANDA_STORE", &url)
            .stdin(Stdio::null())
            .output()
            .expect("run veranda store copy")
    };
    let busy = copy(&data);
    assert!(!busy.status.success(), "copied from a data directory in use");
    assert!(String::from_utf8_lossy(&busy.stderr).contains("in use"), "{busy:?}");

    let dir = std::mem::replace(&mut sqlite.dir, tempfile::tempdir().expect("temp dir"));
    drop(sqlite);
    let copied = copy(&dir.path().join("data"));
    let said = String::from_utf8_lossy(&copied.stdout);
    assert!(copied.status.success(), "{said}{}", String::from_utf8_lossy(&copied.stderr));
    assert!(said.contains("revision rows") && said.contains("1 Secrets"), "{said}");
    let again = copy(&dir.path().join("data"));
    assert!(!again.status.success(), "copied twice into one database");
    assert!(String::from_utf8_lossy(&again.stderr).contains("not empty"), "{again:?}");

    std::fs::remove_file(dir.path().join("data/kubeconfig")).expect("remove the old kubeconfig");
    let moved = Server::start_with(dir, &["--store", &url]);
    moved.kubectl(&["wait", "--for=condition=Ready", "repository/deploy", "--timeout=60s"]);
    let got = moved.get_json(&["packagerevision", &name]);
    assert_eq!(got["metadata"]["labels"]["team"], "blue", "{got}");
    assert_eq!(got["metadata"]["annotations"]["owner"], "team-blue", "{got}");
    let secret = moved.get_json(&["secret", "creds"]);
    assert_eq!(secret["data"]["token"], "YWJj", "{secret}");
    let role = moved.get_json(&["role", "readers"]);
    assert_eq!(role["rules"][0]["verbs"][0], "get", "{role}");
}
