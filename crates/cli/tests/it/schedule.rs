//! Scheduled syncs as Porch has them: `spec.sync.runOnceAt` picks up what was pushed to the
//! remote once its time has passed and is reported in `status.observedRunOnceAt`; a cron
//! schedule of every minute syncs on the minute; 200 repositories on one schedule never sync
//! more than `--max-concurrent-syncs` at once (read from `/metrics`); a bad schedule is a 422.

use std::{
    process::Command,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use serde_json::json;

use crate::util::{Server, blueprints_repo, git};

fn repository(name: &str, url: &str, sync: serde_json::Value) -> String {
    json!({
        "apiVersion": "config.porch.kpt.dev/v1alpha1",
        "kind": "Repository",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {"type": "git", "content": "Package", "sync": sync,
                 "git": {"repo": url, "branch": "main", "directory": "/"}},
    })
    .to_string()
}

fn now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}

/// `date -u` in RFC 3339, `seconds` from now.
fn rfc3339_in(seconds: i64) -> String {
    let out = Command::new("date")
        .args(["-u", "-d", &format!("@{}", now() + seconds), "+%Y-%m-%dT%H:%M:%SZ"])
        .output()
        .expect("run date");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn unix_of(rfc3339: &str) -> i64 {
    let out = Command::new("date").args(["-u", "-d", rfc3339, "+%s"]).output().expect("run date");
    String::from_utf8_lossy(&out.stdout).trim().parse().unwrap_or(0)
}

/// Pushes a new published package `name` (a commit on main and its `v1` tag) to `remote`.
fn push_package(remote: &std::path::Path, work: &std::path::Path, name: &str) {
    if !work.exists() {
        git(
            remote.parent().expect("parent"),
            &["clone", "-q", remote.to_str().expect("utf-8"), work.to_str().expect("utf-8")],
        );
    }
    std::fs::create_dir_all(work.join(name)).expect("package dir");
    std::fs::write(
        work.join(name).join("Kptfile"),
        format!("apiVersion: kpt.dev/v1\nkind: Kptfile\nmetadata:\n  name: {name}\n"),
    )
    .expect("Kptfile");
    git(work, &["add", "."]);
    git(work, &["-c", "user.name=t", "-c", "user.email=t@e", "commit", "-qm", name]);
    git(work, &["tag", &format!("{name}/v1")]);
    git(work, &["push", "-q", "origin", "HEAD:main", &format!("{name}/v1")]);
}

fn has_revision(server: &Server, name: &str) -> bool {
    server.kubectl_output(&["get", "packagerevision", name], None).status.success()
}

#[test]
fn run_once_at_picks_up_a_pushed_tag_and_is_observed() {
    let dir = tempfile::tempdir().expect("temp dir");
    let remote = blueprints_repo(dir.path());
    let work = dir.path().join("work");
    let server = Server::start_in(tempfile::tempdir().expect("temp dir"));
    // A schedule that does not fire during the test: only runOnceAt syncs it.
    let url = remote.display().to_string();
    server.kubectl_in(
        &["apply", "-f", "-"],
        Some(&repository("once", &url, json!({"schedule": "0 0 1 1 *"}))),
    );
    server.eventually("repository once is Ready", || {
        server.get_json(&["repository", "once"])["status"]["conditions"][0]["status"] == "True"
    });
    let at = rfc3339_in(6);
    let patch = json!({"spec": {"sync": {"schedule": "0 0 1 1 *", "runOnceAt": at}}}).to_string();
    server.kubectl(&["patch", "repository", "once", "--type=merge", "-p", &patch]);
    server.eventually("repository once re-opened", || {
        server.get_json(&["repository", "once"])["status"]["conditions"][0]["observedGeneration"]
            == 2
    });
    // Pushed after the re-open, before runOnceAt: not seen until runOnceAt passes.
    push_package(&remote, &work, "late");
    std::thread::sleep(Duration::from_secs(1));
    assert!(!has_revision(&server, "once.late.v1") || now() >= unix_of(&at));
    server.eventually("the pushed tag is listed after runOnceAt", || {
        has_revision(&server, "once.late.v1")
    });
    assert!(now() >= unix_of(&at), "listed before runOnceAt");
    let status = server.get_json(&["repository", "once"])["status"].clone();
    assert_eq!(status["observedRunOnceAt"], at.as_str(), "{status}");
    assert!(status["lastFullSyncTime"].is_string(), "{status}");
    assert!(status["gitCommitHash"].as_str().is_some_and(|h| h.len() == 40), "{status}");
    assert_eq!(status["gitCommitHash"].as_str(), Some(git(&remote, &["rev-parse", "main"]).trim()));

    // A bad schedule or time is refused, naming the field.
    let bad = json!({"spec": {"sync": {"schedule": "every minute"}}}).to_string();
    let err =
        server.kubectl_fails(&["patch", "repository", "once", "--type=merge", "-p", &bad], None);
    assert!(err.contains("spec.sync.schedule"), "{err}");
    let bad = json!({"spec": {"sync": {"runOnceAt": "soon"}}}).to_string();
    let err =
        server.kubectl_fails(&["patch", "repository", "once", "--type=merge", "-p", &bad], None);
    assert!(err.contains("spec.sync.runOnceAt"), "{err}");
}

#[test]
fn a_minute_schedule_syncs_on_the_minute_within_the_concurrency_bound() {
    const REPOS: usize = 200;
    const MAX: usize = 3;
    let dir = tempfile::tempdir().expect("temp dir");
    let remote = blueprints_repo(dir.path());
    let url = remote.display().to_string();
    let server = Server::start_with(
        tempfile::tempdir().expect("temp dir"),
        &["--max-concurrent-syncs", &MAX.to_string()],
    );
    let items: Vec<serde_json::Value> = (0..REPOS)
        .map(|i| repository(&format!("r{i}"), &url, json!({"schedule": "* * * * *"})))
        .map(|text| serde_json::from_str(&text).expect("JSON"))
        .collect();
    let list = json!({"apiVersion": "v1", "kind": "List", "items": items}).to_string();
    server.kubectl_in(&["apply", "-f", "-"], Some(&list));
    let ready = |server: &Server| {
        let list = server.get_json(&["repositories"]);
        list["items"]
            .as_array()
            .map(|items| {
                items.iter().filter(|r| r["status"]["conditions"][0]["status"] == "True").count()
            })
            .unwrap_or(0)
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    while ready(&server) < REPOS {
        assert!(std::time::Instant::now() < deadline, "only {} ready", ready(&server));
        std::thread::sleep(Duration::from_millis(500));
    }
    // The next whole minute after all are open; every repository syncs then.
    let minute = (now() / 60 + 1) * 60;
    let deadline = std::time::Instant::now() + Duration::from_secs(150);
    loop {
        let list = server.get_json(&["repositories"]);
        let items = list["items"].as_array().cloned().unwrap_or_default();
        let synced = items
            .iter()
            .filter(|r| {
                r["status"]["lastFullSyncTime"].as_str().is_some_and(|t| unix_of(t) >= minute)
            })
            .count();
        if synced == REPOS {
            let next = items[0]["status"]["nextFullSyncTime"].as_str().map(unix_of).unwrap_or(0);
            assert_eq!(next % 60, 0, "the next sync is on a minute: {}", items[0]["status"]);
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{synced} of {REPOS} synced after {minute}");
        std::thread::sleep(Duration::from_secs(1));
    }
    let metrics = Command::new("curl")
        .args(["-sS", "--cacert"])
        .arg(server.dir.path().join("data/ca.crt"))
        .args(["-H", &format!("Authorization: Bearer {}", server.token())])
        .arg(format!("{}/metrics", server.url()))
        .output()
        .expect("curl");
    let text = String::from_utf8_lossy(&metrics.stdout);
    let max: usize = text
        .lines()
        .find_map(|l| l.strip_prefix("veranda_repository_syncs_running_max "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no veranda_repository_syncs_running_max in:\n{text}"));
    assert!((1..=MAX).contains(&max), "{max} syncs ran at once; the bound is {MAX}");
}
