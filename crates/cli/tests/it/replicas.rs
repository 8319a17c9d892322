//! Replicas: several `veranda serve` on one PostgreSQL database, each with its own data
//! directory (Git cache) and port, any of them answering any request, driven by the real
//! `kubectl`.

use std::{
    io::{BufRead, BufReader},
    process::{Command, Stdio},
    sync::mpsc,
    time::{Duration, Instant},
};

use serde_json::{Value, json};
use veranda_pgtest::Postgres;

use crate::util::{Server, empty_repo, secret_key_file};

/// `n` servers on the database at `url`, all given the secret key file `key`.
fn replicas(url: &str, n: usize, key: &std::path::Path) -> Vec<Server> {
    let args = ["--store", url, "--secret-key-file", key.to_str().expect("utf-8")];
    (0..n).map(|_| Server::start_with(tempfile::tempdir().expect("temp dir"), &args)).collect()
}

fn register(server: &Server, name: &str, remote: &std::path::Path) {
    let repository = json!({
        "apiVersion": "config.porch.kpt.dev/v1alpha1",
        "kind": "Repository",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {"type": "git", "git": {
            "repo": format!("file://{}", remote.display()), "branch": "main", "createBranch": true,
        }},
    });
    server.kubectl_in(&["apply", "-f", "-"], Some(&repository.to_string()));
}

fn draft(repository: &str, package: &str, workspace: &str) -> String {
    json!({
        "apiVersion": "porch.kpt.dev/v1alpha1",
        "kind": "PackageRevision",
        "metadata": {"namespace": "default", "labels": {"team": "blue"}},
        "spec": {
            "packageName": package, "repository": repository, "workspaceName": workspace,
            "lifecycle": "Draft", "tasks": [{"type": "init", "init": {"description": "replicated"}}],
        },
    })
    .to_string()
}

/// `kubectl get packagerevisions -w` on `server`: its events, one JSON value each.
fn watch(server: &Server) -> (std::process::Child, mpsc::Receiver<Value>) {
    let mut child = Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(&server.kubeconfig)
        .env("KUBECACHEDIR", server.dir.path().join("kube-cache"))
        .args(["get", "packagerevisions", "-w", "--output-watch-events", "-o", "json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("kubectl");
    let out = child.stdout.take().expect("stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut buffer = String::new();
        for line in BufReader::new(out).lines() {
            let Ok(line) = line else { break };
            buffer.push_str(&line);
            buffer.push('\n');
            if let Ok(event) = serde_json::from_str::<Value>(&buffer) {
                buffer.clear();
                if tx.send(event).is_err() {
                    break;
                }
            }
        }
    });
    (child, rx)
}

/// The next event on `rx` for `name` of `kind`, within 30 s.
fn expect_event(rx: &mpsc::Receiver<Value>, kind: &str, name: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let event = rx.recv_timeout(left).unwrap_or_else(|_| panic!("no {kind} of {name}"));
        if event["type"] == kind && event["object"]["metadata"]["name"] == name {
            return event;
        }
    }
}

fn resource_version(object: &Value) -> i64 {
    object["metadata"]["resourceVersion"].as_str().and_then(|v| v.parse().ok()).expect("rv")
}

#[test]
fn three_replicas_on_one_database_serve_one_api() {
    let pg = Postgres::start().expect("start PostgreSQL");
    let url = pg.create_database("replicas").expect("create database");
    let repos = tempfile::tempdir().expect("temp dir");
    let remote = empty_repo(repos.path(), "deploy.git");
    let servers = replicas(&url, 3, &secret_key_file(repos.path()));
    let (a, b, c) = (&servers[0], &servers[1], &servers[2]);

    // One identity: A's kubeconfig (its CA, the admin token) works against every replica.
    for server in &servers {
        let out = Command::new("kubectl")
            .arg("--kubeconfig")
            .arg(&a.kubeconfig)
            .args(["--server", &server.url(), "get", "repositories", "-o", "name"])
            .env("KUBECACHEDIR", a.dir.path().join("kube-cache"))
            .output()
            .expect("kubectl");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
    assert_eq!(a.token(), c.token(), "one admin token");

    // A Repository registered through A is served, and opened, by every replica.
    register(a, "deploy", &remote);
    for server in &servers {
        server.kubectl(&["wait", "--for=condition=Ready", "repository/deploy", "--timeout=60s"]);
    }

    // Created on A: B's watch sees ADDED, and a list on C shows it at once (consistent read).
    let (mut watching, events) = watch(b);
    std::thread::sleep(Duration::from_millis(500));
    let created: Value = serde_json::from_str(
        &a.kubectl_in(&["create", "-f", "-", "-o", "json"], Some(&draft("deploy", "app", "v1"))),
    )
    .expect("json");
    let name = created["metadata"]["name"].as_str().expect("name").to_string();
    let added = expect_event(&events, "ADDED", &name);
    assert_eq!(resource_version(&added["object"]), resource_version(&created));
    assert_eq!(added["object"]["metadata"]["labels"]["team"], "blue");
    let listed = c.kubectl(&["get", "packagerevisions", "-o", "name"]);
    assert!(listed.contains(&name), "C lists what A created: {listed}");

    // A label set on C is on A's next get; B's watch sees the MODIFIED with its version.
    c.kubectl(&["label", "packagerevision", &name, "stage=c"]);
    let got = a.get_json(&["packagerevision", &name]);
    assert_eq!(got["metadata"]["labels"]["stage"], "c", "{got}");
    let modified = expect_event(&events, "MODIFIED", &name);
    assert_eq!(resource_version(&modified["object"]), resource_version(&got));

    // A proposal and an approval through different replicas.
    let mut proposed = b.get_json(&["packagerevision", &name]);
    proposed["spec"]["lifecycle"] = "Proposed".into();
    b.kubectl_in(&["replace", "-f", "-"], Some(&proposed.to_string()));
    let mut approved = c.get_json(&["packagerevision", &name]);
    assert_eq!(approved["spec"]["lifecycle"], "Proposed", "C sees B's proposal");
    approved["spec"]["lifecycle"] = "Published".into();
    c.kubectl_in(
        &[
            "replace",
            "--raw",
            &format!(
                "/apis/porch.kpt.dev/v1alpha1/namespaces/default/packagerevisions/{name}/approval"
            ),
            "-f",
            "-",
        ],
        Some(&approved.to_string()),
    );
    let published = a.get_json(&["packagerevision", &name]);
    assert_eq!(published["spec"]["lifecycle"], "Published", "{published}");
    assert_eq!(published["spec"]["revision"], 1);
    assert_eq!(published["metadata"]["labels"]["stage"], "c", "labels kept across replicas");

    // Deleted through A: gone on B and C.
    let (_, second) = {
        let made =
            a.kubectl_in(&["create", "-f", "-", "-o", "name"], Some(&draft("deploy", "tmp", "v1")));
        ((), made.trim().trim_start_matches("packagerevision.porch.kpt.dev/").to_string())
    };
    expect_event(&events, "ADDED", &second);
    a.kubectl(&["delete", "packagerevision", &second]);
    expect_event(&events, "DELETED", &second);
    let listed = c.kubectl(&["get", "packagerevisions", "-o", "name"]);
    assert!(!listed.contains(&second), "C no longer lists it: {listed}");
    let _ = watching.kill();

    // Git holds the package once: every replica pushed to the one remote.
    let tags = crate::util::git(&remote, &["tag", "--list"]);
    assert_eq!(tags.trim(), "app/v1", "{tags}");
}

#[test]
fn sixteen_clients_on_three_replicas_updating_one_revision_one_winner_per_version() {
    let pg = Postgres::start().expect("start PostgreSQL");
    let url = pg.create_database("storm").expect("create database");
    let repos = tempfile::tempdir().expect("temp dir");
    let remote = empty_repo(repos.path(), "deploy.git");
    let servers = replicas(&url, 3, &secret_key_file(repos.path()));
    register(&servers[0], "deploy", &remote);
    for server in &servers {
        server.kubectl(&["wait", "--for=condition=Ready", "repository/deploy", "--timeout=60s"]);
    }
    let created = servers[0]
        .kubectl_in(&["create", "-f", "-", "-o", "name"], Some(&draft("deploy", "app", "v1")));
    let name = created.trim().trim_start_matches("packagerevision.porch.kpt.dev/").to_string();

    for round in 0..3 {
        // Every client reads the same version first, then all write at once.
        let base = servers[round % 3].get_json(&["packagerevision", &name]);
        let read = resource_version(&base);
        let barrier = std::sync::Arc::new(std::sync::Barrier::new(16));
        let outcomes: Vec<(bool, String)> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..16)
                .map(|i| {
                    let (server, barrier, mut object) =
                        (&servers[i % 3], barrier.clone(), base.clone());
                    scope.spawn(move || {
                        object["metadata"]["labels"]["writer"] = format!("r{round}-c{i}").into();
                        barrier.wait();
                        let out = server
                            .kubectl_output(&["replace", "-f", "-"], Some(&object.to_string()));
                        (out.status.success(), String::from_utf8_lossy(&out.stderr).into_owned())
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().expect("client")).collect()
        });
        let winners = outcomes.iter().filter(|(ok, _)| *ok).count();
        assert_eq!(winners, 1, "exactly one update from version {read} wins: {outcomes:?}");
        for (_, said) in outcomes.iter().filter(|(ok, _)| !ok) {
            assert!(
                said.contains("Conflict")
                    || said.contains("modified")
                    || said.contains("in progress"),
                "every loser is a 409: {said}"
            );
        }
        // Every replica shows the winner's label at a version past the one read.
        let mut seen = Vec::new();
        for server in &servers {
            let got = server.get_json(&["packagerevision", &name]);
            assert!(resource_version(&got) > read);
            seen.push(got["metadata"]["labels"]["writer"].clone());
        }
        assert!(seen.windows(2).all(|w| w[0] == w[1]), "one state on every replica: {seen:?}");
    }
}

/// Events of `name` arriving on `rx` within `quiet` of each other, the first within 30 s.
fn events_of(rx: &mpsc::Receiver<Value>, name: &str, quiet: Duration) -> Vec<String> {
    let mut seen = Vec::new();
    let mut wait = Duration::from_secs(30);
    while let Ok(event) = rx.recv_timeout(wait) {
        if event["object"]["metadata"]["name"] == name {
            seen.push(event["type"].as_str().unwrap_or_default().to_string());
            wait = quiet;
        }
    }
    seen
}

/// Pushes a new package `package` on `main` of `remote`, as someone outside veranda would.
fn push_package(remote: &std::path::Path, work: &std::path::Path, package: &str) {
    use crate::util::git;
    if !work.exists() {
        git(
            remote.parent().expect("parent"),
            &["clone", "-q", remote.to_str().expect("utf-8"), work.to_str().expect("utf-8")],
        );
    }
    git(work, &["pull", "-q", "origin", "main"]);
    std::fs::create_dir_all(work.join(package)).expect("mkdir");
    let kptfile = format!("apiVersion: kpt.dev/v1\nkind: Kptfile\nmetadata:\n  name: {package}\n");
    std::fs::write(work.join(package).join("Kptfile"), kptfile).expect("write");
    git(work, &["add", "-A"]);
    let identity = ["-c", "user.name=x", "-c", "user.email=x@example.com"];
    git(work, &[&identity[..], &["commit", "-q", "-m", package]].concat());
    git(work, &["push", "-q", "origin", "HEAD:main"]);
}

#[test]
fn an_external_push_is_one_event_on_every_replica_and_one_replica_syncs() {
    let pg = Postgres::start().expect("start PostgreSQL");
    let url = pg.create_database("external").expect("create database");
    let repos = tempfile::tempdir().expect("temp dir");
    let remote = empty_repo(repos.path(), "deploy.git");
    let mut servers = replicas(&url, 3, &secret_key_file(repos.path()));
    register(&servers[0], "deploy", &remote);
    for server in &servers {
        server.kubectl(&["wait", "--for=condition=Ready", "repository/deploy", "--timeout=60s"]);
    }
    let work = repos.path().join("work");
    let syncs = |server: &Server| server.log().contains("this server syncs the repository");

    for round in 0..2 {
        let watches: Vec<_> = servers.iter().map(watch).collect();
        std::thread::sleep(Duration::from_millis(500));
        let package = format!("ext{round}");
        push_package(&remote, &work, &package);
        let name = format!("deploy.{package}.main");
        // Seen once on every replica's watch, though every replica fetches on its own.
        for (i, (_, events)) in watches.iter().enumerate() {
            let seen = events_of(events, &name, Duration::from_secs(6));
            assert_eq!(seen, ["ADDED"], "replica {i} sees the push once");
        }
        for (mut child, _) in watches {
            let _ = child.kill();
        }
        // One replica at a time syncs from the remote: kill it, and another takes over.
        let holders: Vec<usize> = (0..servers.len()).filter(|&i| syncs(&servers[i])).collect();
        assert_eq!(holders.len(), 1, "one replica holds the sync lease: {holders:?}");
        if round == 0 {
            let holder = servers.remove(holders[0]);
            Command::new("kill").args(["-9", &holder.pid().to_string()]).status().expect("kill");
            drop(holder);
        }
    }
}

/// The events of `kubectl get --raw` on a watch of `server` resumed after `since`, until the
/// server ends it after `seconds`: (type, name, resourceVersion), in the order received.
fn resumed(server: &Server, since: i64, seconds: u32) -> Vec<(String, String, i64)> {
    let path = format!(
        "/apis/porch.kpt.dev/v1alpha1/namespaces/default/packagerevisions\
         ?watch=true&resourceVersion={since}&timeoutSeconds={seconds}"
    );
    let out = server.kubectl(&["get", "--raw", &path]);
    serde_json::Deserializer::from_str(&out)
        .into_iter::<Value>()
        .map(|event| {
            let event = event.expect("a watch event");
            let object = &event["object"];
            let name = object["metadata"]["name"].as_str().unwrap_or_default().to_string();
            (event["type"].as_str().unwrap_or_default().to_string(), name, resource_version(object))
        })
        .collect()
}

#[test]
fn writes_through_three_replicas_at_once_are_watched_in_one_order_everywhere() {
    let pg = Postgres::start().expect("start PostgreSQL");
    let url = pg.create_database("order").expect("create database");
    let repos = tempfile::tempdir().expect("temp dir");
    let remote = empty_repo(repos.path(), "deploy.git");
    let servers = replicas(&url, 3, &secret_key_file(repos.path()));
    register(&servers[0], "deploy", &remote);
    for server in &servers {
        server.kubectl(&["wait", "--for=condition=Ready", "repository/deploy", "--timeout=60s"]);
    }
    let list = "/apis/porch.kpt.dev/v1alpha1/namespaces/default/packagerevisions";
    let listed: Value =
        serde_json::from_str(&servers[0].kubectl(&["get", "--raw", list])).expect("a list");
    let start = resource_version(&listed);

    // Two clients per replica, each creating three drafts, labelling one and deleting one.
    let mut deleted: Vec<String> = std::thread::scope(|scope| {
        let clients: Vec<_> = (0..6)
            .map(|i| {
                let server = &servers[i % 3];
                scope.spawn(move || {
                    let mut names = Vec::new();
                    for j in 0..3 {
                        let made = server.kubectl_in(
                            &["create", "-f", "-", "-o", "name"],
                            Some(&draft("deploy", &format!("c{i}-p{j}"), "v1")),
                        );
                        let name = made.trim().trim_start_matches("packagerevision.porch.kpt.dev/");
                        names.push(name.to_string());
                    }
                    server.kubectl(&["label", "packagerevision", &names[1], "stage=two"]);
                    server.kubectl(&["delete", "packagerevision", &names[0]]);
                    names.swap_remove(0)
                })
            })
            .collect();
        clients.into_iter().map(|c| c.join().expect("client")).collect()
    });
    deleted.sort();

    // Every replica, resumed from the version before the storm, hands out its events in
    // resourceVersion order; a version names the same event on every replica, deletes
    // included; and every replica ends with the same version of every revision.
    let seen: Vec<_> = servers.iter().map(|s| resumed(s, start, 3)).collect();
    let mut finals = Vec::new();
    for (i, events) in seen.iter().enumerate() {
        let versions: Vec<i64> = events.iter().map(|e| e.2).collect();
        assert!(
            versions.windows(2).all(|w| w[0] < w[1]),
            "replica {i}: events in resourceVersion order: {events:?}"
        );
        let mut gone: Vec<_> =
            events.iter().filter(|e| e.0 == "DELETED").map(|e| e.1.clone()).collect();
        gone.sort();
        assert_eq!(gone, deleted, "replica {i} saw every delete once");
        let mut last = std::collections::BTreeMap::new();
        for (kind, name, rv) in events {
            last.insert(name.clone(), (kind == "DELETED", *rv));
        }
        finals.push(last);
    }
    // A follower may show two quick changes of one revision as one event (ADDED for
    // MODIFIED): compared are the name and whether it was a delete.
    type ByVersion = std::collections::BTreeMap<i64, (String, bool)>;
    let by_version = |events: &[(String, String, i64)]| -> ByVersion {
        events.iter().map(|(kind, name, rv)| (*rv, (name.clone(), kind == "DELETED"))).collect()
    };
    let first = by_version(&seen[0]);
    for (i, events) in seen.iter().enumerate().skip(1) {
        for (rv, event) in by_version(events) {
            if let Some(there) = first.get(&rv) {
                assert_eq!(&event, there, "version {rv} is one event on replicas 0 and {i}");
            }
        }
        assert_eq!(finals[i], finals[0], "replica {i} ends where replica 0 does");
    }
    for (gone, rv) in deleted.iter().map(|name| &finals[0][name]) {
        assert!(gone, "deleted at {rv}");
    }

    // A watch resumed on one replica from a version another handed out misses nothing.
    let middle = seen[0][seen[0].len() / 2].2;
    let after: Vec<_> = seen[0].iter().filter(|e| e.2 > middle).cloned().collect();
    let on_b = resumed(&servers[1], middle, 2);
    let expected: Vec<_> = seen[1].iter().filter(|e| e.2 > middle).cloned().collect();
    assert_eq!(on_b, expected, "B resumed from A's version {middle}");
    let last_on_a = after.last().map(|e| e.2);
    assert_eq!(on_b.last().map(|e| e.2), last_on_a, "and reaches A's last event");
}
