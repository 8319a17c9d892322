//! A Git remote that accepts connections and never answers: registering it, syncing it and
//! cloning from it end within `--git-timeout-seconds`, while requests to another repository and
//! reads of the hung Repository itself go on; deleting it returns at once; the server's thread
//! count stays bounded.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::http_server::Tarpit;
use crate::util::{Server, blueprints_repo};

/// `--git-timeout-seconds` of this test.
const TIMEOUT: u64 = 4;

fn repository(name: &str, url: &str) -> String {
    json!({
        "apiVersion": "config.porch.kpt.dev/v1alpha1",
        "kind": "Repository",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {"type": "git", "content": "Package",
                 "git": {"repo": url, "branch": "main", "directory": "/"}},
    })
    .to_string()
}

fn threads(pid: u32) -> usize {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix("Threads:"))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(0)
}

/// Runs `f` and returns how long it took.
fn timed<T>(f: impl FnOnce() -> T) -> (T, Duration) {
    let started = Instant::now();
    let out = f();
    (out, started.elapsed())
}

#[test]
fn a_hung_remote_times_out_and_holds_up_nothing_else() {
    let dir = tempfile::tempdir().expect("temp dir");
    let good = blueprints_repo(dir.path());
    let server = Server::start_with(dir, &["--git-timeout-seconds", &TIMEOUT.to_string()]);
    let tarpit = Tarpit::start();
    server
        .kubectl_in(&["apply", "-f", "-"], Some(&repository("good", &good.display().to_string())));
    server.eventually("repository good is Ready", || {
        server.get_json(&["repository", "good"])["status"]["conditions"][0]["status"] == "True"
    });
    let baseline_threads = threads(server.pid());
    let create = |package: &str| {
        let init = json!({
            "apiVersion": "porch.kpt.dev/v1alpha1",
            "kind": "PackageRevision",
            "metadata": {"namespace": "default"},
            "spec": {"packageName": package, "repository": "good",
                     "workspaceName": "ws", "tasks": [{"type": "init", "init": {}}]},
        });
        timed(|| server.kubectl_in(&["create", "-f", "-"], Some(&init.to_string()))).1
    };
    // Creates in the good repository before the hung one exists, as the baseline.
    let mut before: Vec<Duration> = (0..5).map(|i| create(&format!("before{i}"))).collect();

    // Registering the hung remote answers, and its readiness says why it is not ready.
    let (_, took) = timed(|| {
        server.kubectl_in(
            &["apply", "-f", "-"],
            Some(&repository("hung", &tarpit.url("http", "hung.git"))),
        )
    });
    assert!(took < Duration::from_secs(TIMEOUT + 10), "registering took {took:?}");
    let mut condition = Value::Null;
    let (_, took) = timed(|| {
        server.eventually("repository hung is Ready=False", || {
            condition = server.get_json(&["repository", "hung"])["status"]["conditions"][0].clone();
            condition["status"] == "False"
        })
    });
    let message = condition["message"].as_str().unwrap_or_default();
    assert!(message.contains(&format!("did not answer within {TIMEOUT}s")), "{condition}");
    assert!(took < Duration::from_secs(2 * TIMEOUT + 10), "Ready=False after {took:?}");
    assert!(tarpit.connections() >= 1);

    // While the hung remote is retried by every sync, the other repository and reads of the
    // hung one answer as usual.
    let mut during = Vec::new();
    for i in 0..5 {
        let (_, read) = timed(|| server.get_json(&["repository", "hung"]));
        assert!(read < Duration::from_secs(2), "reading the hung repository took {read:?}");
        let took = create(&format!("app{i}"));
        assert!(took < Duration::from_secs(3), "a create in another repository took {took:?}");
        during.push(took);
        std::thread::sleep(Duration::from_millis(500));
    }
    before.sort();
    during.sort();
    eprintln!(
        "kubectl create in another repository: median {:?} before the hung remote, {:?} while it hangs",
        before[2], during[2]
    );

    // A clone from the hung remote is a 504 within the limit.
    let clone = json!({
        "apiVersion": "porch.kpt.dev/v1alpha1",
        "kind": "PackageRevision",
        "metadata": {"namespace": "default"},
        "spec": {"packageName": "copy", "repository": "good", "workspaceName": "ws",
                 "tasks": [{"type": "clone", "clone": {"upstreamRef": {"type": "git", "git": {
                     "repo": tarpit.url("http", "hung.git"), "ref": "main", "directory": "/",
                     "secretRef": {"name": ""}}}}}]},
    });
    let ((code, status), took) = timed(|| {
        server.request(
            "POST",
            "/apis/porch.kpt.dev/v1alpha1/namespaces/default/packagerevisions",
            "application/json",
            clone.to_string().as_bytes(),
            Some(60.0),
        )
    });
    assert_eq!(code, 504, "{status}");
    assert_eq!(status["reason"], "Timeout", "{status}");
    assert!(took < Duration::from_secs(TIMEOUT + 10), "the clone took {took:?}");

    // Several syncs and clones later, the thread count has not grown with them.
    let now = threads(server.pid());
    assert!(now <= baseline_threads + 16, "threads grew from {baseline_threads} to {now}");

    // Deleting the hung repository returns at once, even with an open of it in flight.
    let (_, took) = timed(|| server.kubectl(&["delete", "repository", "hung"]));
    assert!(took < Duration::from_secs(3), "delete took {took:?}");
    let gone = server.kubectl_output(&["get", "repository", "hung"], None);
    assert!(!gone.status.success());
    // Registering it again under the same name works once the old one is cleaned up.
    server.kubectl_in(
        &["apply", "-f", "-"],
        Some(&repository("hung", &tarpit.url("http", "hung.git"))),
    );
    server.eventually("re-registered hung is Ready=False", || {
        server.get_json(&["repository", "hung"])["status"]["conditions"][0]["status"] == "False"
    });
}
