//! Pushes over smart HTTP made by veranda's own client (not libgit2): at thousands of refs, when
//! the branch moves between the advertisement and the update, and the fallback to libgit2 for
//! what that client leaves to it (a redirect).

use std::{
    fs,
    path::PathBuf,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
};

use veranda_repo::{Credentials, GitRepo};

use crate::{
    http_server::{Auth, GitHttpServer, Logged, RequestHook, enable_push},
    util::{Scratch, create_draft, files, git, kptfile},
};

const OUR_AGENT: &str = "git/2.0 (veranda";

/// Serves a bare clone of test-blueprints as `blueprints.git`, with `tags` extra tags.
fn served(scratch: &Scratch, tags: usize) -> PathBuf {
    fs::create_dir_all(scratch.path("served")).expect("create served dir");
    let repo = scratch.blueprints("served/blueprints.git");
    enable_push(&repo);
    let head = git(&repo, &["rev-parse", "main"]);
    let script: String =
        (0..tags).map(|i| format!("create refs/tags/bulk/p{i}/v1 {head}\n")).collect();
    let mut child = std::process::Command::new("git")
        .args(["update-ref", "--stdin"])
        .current_dir(&repo)
        .stdin(std::process::Stdio::piped())
        .spawn()
        .expect("run git update-ref");
    use std::io::Write as _;
    child.stdin.take().expect("stdin").write_all(script.as_bytes()).expect("write refs");
    assert!(child.wait().expect("wait").success());
    git(&repo, &["pack-refs", "--all"]);
    repo
}

/// Whether `request` is part of a fetch or an `ls-refs`.
fn upload_pack(request: &Logged) -> bool {
    request.path.ends_with("/git-upload-pack") || request.query == "service=git-upload-pack"
}

fn since(server: &GitHttpServer, start: usize) -> Vec<Logged> {
    server.log().into_iter().skip(start).collect()
}

#[test]
fn writes_at_thousands_of_refs_are_pushed_by_our_client_with_a_complete_pack() {
    let scratch = Scratch::new();
    let remote = served(&scratch, 3000);
    let server = GitHttpServer::start(
        scratch.path("served"),
        Auth::Basic { username: "porch".into(), password: "s3cret".into() },
    );
    let mut cfg = scratch.config(&server.url("blueprints.git"), "cache");
    cfg.credentials =
        Some(Credentials::Basic { username: "porch".into(), password: "s3cret".into() });
    let repo = GitRepo::open(cfg).expect("open over http");

    let start = server.log().len();
    let package = files(&[
        ("Kptfile", &kptfile("web")),
        ("deploy/app.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app\n"),
        ("logo.bin", "\u{0}\u{1}binary\u{ff}"),
    ]);
    let draft = create_draft(&repo, "web", "ws", &package);
    let approved =
        repo.approve("web", "ws", &draft, 1, &repo.draft_ref("web", "ws")).expect("approve");

    assert_eq!(git(&remote, &["rev-parse", "main"]), approved);
    assert_eq!(git(&remote, &["rev-parse", "web/v1"]), approved);
    assert!(git(&remote, &["branch", "--list", "drafts/*"]).is_empty());
    assert_eq!(
        git(&remote, &["show", "main:web/deploy/app.yaml"]).lines().nth(1),
        Some("kind: ConfigMap")
    );
    // The remote has every object of the new commits (receive-pack checks the connectivity
    // of what it accepts; fsck checks it again).
    git(&remote, &["fsck", "--connectivity-only", "--no-progress"]);
    let requests = since(&server, start);
    assert!(requests.iter().any(|r| r.path.ends_with("/git-receive-pack")), "{requests:?}");
    for request in &requests {
        assert!(request.agent.starts_with(OUR_AGENT), "a request by libgit2: {request:?}");
    }
    // Approval does not ask where the branch is (the push's compare-and-swap tells).
    assert!(!requests.iter().any(upload_pack), "{requests:?}");

    // Removing a package asks for the branch alone (ls-refs), not for the 3,000 tags, and
    // fetches nothing when it has not moved.
    let start = server.log().len();
    repo.remove_package_from_branch("web").expect("remove the package");
    assert!(git(&remote, &["ls-tree", "--name-only", "main"]).lines().all(|name| name != "web"));
    let requests = since(&server, start);
    let upload_pack: Vec<_> = requests.iter().filter(|r| upload_pack(r)).collect();
    assert_eq!(upload_pack.len(), 2, "info/refs and ls-refs: {requests:?}");
    assert!(upload_pack.iter().all(|r| r.agent.starts_with(OUR_AGENT)), "{requests:?}");
    git(&remote, &["fsck", "--connectivity-only", "--no-progress"]);
}

#[test]
fn a_branch_moved_between_advertisement_and_update_is_a_conflict_and_approve_retries() {
    let scratch = Scratch::new();
    let remote = served(&scratch, 10);
    let armed = Arc::new(AtomicBool::new(false));
    let interloper = Arc::new(Mutex::new(None::<String>));
    let hook: RequestHook = {
        let (remote, armed, interloper) = (remote.clone(), armed.clone(), interloper.clone());
        Arc::new(move |method: &str, path: &str, _query: &str| {
            // After the advertisement was read, just before the commands arrive.
            if method == "POST"
                && path.ends_with("/git-receive-pack")
                && armed.swap(false, Ordering::SeqCst)
            {
                let commit =
                    git(&remote, &["commit-tree", "-p", "main", "-m", "interloper", "main^{tree}"]);
                git(&remote, &["update-ref", "refs/heads/main", &commit]);
                *interloper.lock().expect("not poisoned") = Some(commit);
            }
        })
    };
    let server = GitHttpServer::start_with_hook(scratch.path("served"), Auth::None, hook);
    let repo = GitRepo::open(scratch.config(&server.url("blueprints.git"), "cache")).expect("open");
    let draft = create_draft(&repo, "web", "ws", &files(&[("Kptfile", &kptfile("web"))]));

    armed.store(true, Ordering::SeqCst);
    let approved =
        repo.approve("web", "ws", &draft, 1, &repo.draft_ref("web", "ws")).expect("approve");
    let interloper =
        interloper.lock().expect("not poisoned").clone().expect("the branch was moved");
    assert_eq!(git(&remote, &["rev-parse", "main"]), approved);
    assert_eq!(
        git(&remote, &["log", "-1", "--format=%P", "main"]),
        format!("{interloper} {draft}")
    );
    // The refused attempt moved nothing (atomic): the tag names the final approval.
    assert_eq!(git(&remote, &["rev-parse", "web/v1"]), approved);
}

#[test]
fn a_redirected_remote_is_left_to_libgit2() {
    let scratch = Scratch::new();
    let remote = served(&scratch, 10);
    let server = GitHttpServer::start(scratch.path("served"), Auth::None);
    server.redirect("/moved/", "/");
    let repo = GitRepo::open(scratch.config(&server.url("moved/blueprints.git"), "cache"))
        .expect("open through the redirect");
    let start = server.log().len();
    let draft = create_draft(&repo, "web", "ws", &files(&[("Kptfile", &kptfile("web"))]));
    assert_eq!(git(&remote, &["rev-parse", "drafts/web/ws"]), draft);
    let requests = since(&server, start);
    assert!(
        requests
            .iter()
            .any(|r| r.path == "/moved/blueprints.git/info/refs" && r.agent.starts_with(OUR_AGENT)),
        "our client tried first: {requests:?}"
    );
    assert!(
        requests
            .iter()
            .any(|r| r.path.ends_with("/git-receive-pack") && !r.agent.starts_with(OUR_AGENT)),
        "libgit2 pushed: {requests:?}"
    );
}
