//! Crash campaign: clients write create / resources update / propose / approve / propose-delete /
//! delete against one repository while the server is SIGKILLed (its whole process group) at a
//! random moment, then restarted on the same data directory. After each restart: every
//! acknowledged write is there, no lifecycle move is half-applied, every lifecycle ref in the
//! remote belongs to a listed revision (and the reverse), and the repository is Ready by itself.
//!
//! The same campaign runs on the PostgreSQL store, killing the server, and killing the database
//! (`pg_ctl stop -m immediate`, then a restart) under the server while it keeps serving: there a
//! 503 is allowed, and must mean that nothing was applied.
//!
//! `RUN_SLOW_TESTS=1` runs 300 rounds instead of 10; `CRASH_SEED=<n>` replays a campaign.

use std::{
    collections::{BTreeMap, BTreeSet},
    io::Write,
    os::unix::process::CommandExt,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    thread,
    time::{Duration, Instant},
};

use serde_json::{Value, json};

use crate::util::{empty_repo, git};

const PR: &str = "/apis/porch.kpt.dev/v1alpha1/namespaces/default/packagerevisions";
const PRR: &str = "/apis/porch.kpt.dev/v1alpha1/namespaces/default/packagerevisionresources";
const REPOS: &str = "/apis/config.porch.kpt.dev/v1alpha1/namespaces/default/repositories";
const REPO: &str = "deploy";

/// xorshift64*: deterministic from the printed seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// A `veranda serve` in its own process group, on a fixed port, over one data directory.
struct Serve {
    child: Child,
}

impl Serve {
    fn start(data: &Path, port: u16, log: &Path, store: Option<&str>, key: &Path) -> Serve {
        let log = std::fs::OpenOptions::new().create(true).append(true).open(log).expect("log");
        let mut command = Command::new(env!("CARGO_BIN_EXE_veranda"));
        match store {
            Some(url) => command.env("VERANDA_STORE", url),
            None => command.env_remove("VERANDA_STORE"),
        };
        let child = command
            .args(["serve", "--listen", &format!("127.0.0.1:{port}"), "--sync-interval-seconds"])
            .arg("1")
            .arg("--data-dir")
            .arg(data)
            .arg("--secret-key-file")
            .arg(key)
            .env("VERANDA_LOG", "info")
            .stdout(Stdio::null())
            .stderr(log)
            .process_group(0)
            .spawn()
            .expect("start veranda");
        Serve { child }
    }

    /// SIGKILL to the whole process group, then reaps the server.
    fn kill(&mut self) {
        if matches!(self.child.try_wait(), Ok(Some(_))) {
            return;
        }
        let group = format!("-{}", self.child.id());
        let _ = Command::new("kill").args(["-KILL", "--", &group]).stderr(Stdio::null()).status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        self.kill();
    }
}

#[derive(Clone)]
struct Api {
    url: String,
    token: String,
}

impl Api {
    /// One request with `curl`; `None` when no answer came (connection refused or cut).
    fn call(&self, method: &str, path: &str, body: Option<&Value>) -> Option<(u16, Value)> {
        let mut cmd = Command::new("curl");
        cmd.args(["-sk", "--max-time", "20", "-X", method, "-w", "\n%{http_code}"])
            .arg("-H")
            .arg(format!("Authorization: Bearer {}", self.token))
            .arg(format!("{}{path}", self.url))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        if body.is_some() {
            let kind =
                if method == "PATCH" { "application/merge-patch+json" } else { "application/json" };
            cmd.args(["-H", &format!("Content-Type: {kind}"), "--data-binary", "@-"]);
        }
        let mut child = cmd.spawn().expect("curl must be installed");
        let mut stdin = child.stdin.take().expect("stdin");
        if let Some(body) = body {
            let _ = stdin.write_all(body.to_string().as_bytes());
        }
        drop(stdin);
        let out = child.wait_with_output().expect("curl ran");
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let (body, code) = text.rsplit_once('\n')?;
        let code: u16 = code.trim().parse().ok()?;
        if code == 0 {
            return None;
        }
        Some((code, serde_json::from_str(body).unwrap_or(Value::Null)))
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum State {
    Draft,
    Proposed,
    Published,
    DeletionProposed,
    Deleted,
}

impl State {
    fn parse(lifecycle: &str) -> State {
        match lifecycle {
            "Draft" => State::Draft,
            "Proposed" => State::Proposed,
            "Published" => State::Published,
            "DeletionProposed" => State::DeletionProposed,
            other => panic!("unknown lifecycle {other}"),
        }
    }
}

/// What the clients were told, per revision: the states (and resource contents) it may be in.
/// One element when every write on it was answered; more when a write got no answer.
#[derive(Clone, Debug)]
struct Known {
    package: String,
    states: BTreeSet<State>,
    contents: BTreeSet<u64>,
}

type Model = Arc<Mutex<BTreeMap<String, Known>>>;

#[derive(Default, Debug)]
struct Figures {
    rounds: usize,
    writes_acknowledged: usize,
    writes_unanswered: usize,
    lost: usize,
    half_applied: usize,
    orphan_refs: usize,
    missing_refs: usize,
    not_ready: usize,
    server_errors: usize,
    problems: Vec<String>,
}

fn cm(n: u64) -> String {
    format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm\ndata:\n  n: \"{n}\"\n")
}

/// One client: writes on its own packages until `stop`.
/// One client's writes until `stop`, through the first of `apis`; after a write that got no
/// answer (its server was killed) it goes on through the next.
fn client(
    apis: Vec<Api>,
    model: Model,
    id: usize,
    seed: u64,
    stop: Arc<AtomicBool>,
    counter: u64,
    allow_unavailable: bool,
) -> (usize, usize, Vec<String>) {
    let mut rng = Rng(seed | 1);
    let mut acknowledged = 0;
    let mut unanswered = 0;
    let mut server_errors = Vec::new();
    let mut serial = counter;
    let mut at = 0;
    while !stop.load(Ordering::SeqCst) {
        let api = &apis[at % apis.len()];
        serial += 1;
        let mine: Vec<(String, Known)> = model
            .lock()
            .unwrap()
            .iter()
            .filter(|(_, k)| {
                k.package.starts_with(&format!("c{id}-")) && !k.states.contains(&State::Deleted)
            })
            .map(|(n, k)| (n.clone(), k.clone()))
            .collect();
        let began = Instant::now();
        let create = mine.is_empty() || (mine.len() < 6 && rng.below(4) == 0);
        let (name, next, content, result) = if create {
            // Porch refuses an init draft of a package that exists: every create is a new one.
            let package = format!("c{id}-{serial}");
            let workspace = format!("w{serial}");
            let name = format!("{REPO}.{package}.{workspace}");
            model.lock().unwrap().entry(name.clone()).or_insert(Known {
                package: package.clone(),
                states: BTreeSet::from([State::Deleted]),
                contents: BTreeSet::from([0]),
            });
            let body = json!({
                "apiVersion": "porch.kpt.dev/v1alpha1", "kind": "PackageRevision",
                "metadata": {"namespace": "default"},
                "spec": {"packageName": package, "repository": REPO, "workspaceName": workspace,
                         "lifecycle": "Draft", "tasks": [{"type": "init", "init": {"description": "crash"}}]},
            });
            (name, State::Draft, None, api.call("POST", PR, Some(&body)))
        } else {
            let (name, known) = &mine[rng.below(mine.len() as u64) as usize];
            let state = *known.states.iter().next().expect("a state");
            let path = format!("{PR}/{name}");
            let patch = |lifecycle: &str| json!({"spec": {"lifecycle": lifecycle}});
            match state {
                State::Draft if rng.below(2) == 0 => {
                    let Some((200, mut prr)) = api.call("GET", &format!("{PRR}/{name}"), None)
                    else {
                        continue;
                    };
                    prr["spec"]["resources"]["cm.yaml"] = json!(cm(serial));
                    let res = api.call("PUT", &format!("{PRR}/{name}"), Some(&prr));
                    (name.clone(), State::Draft, Some(serial), res)
                }
                State::Draft if rng.below(5) > 0 => (
                    name.clone(),
                    State::Proposed,
                    None,
                    api.call("PATCH", &path, Some(&patch("Proposed"))),
                ),
                State::Proposed if rng.below(4) > 0 => {
                    let Some((200, mut pr)) = api.call("GET", &path, None) else { continue };
                    pr["spec"]["lifecycle"] = json!("Published");
                    let res = api.call("PUT", &format!("{path}/approval"), Some(&pr));
                    (name.clone(), State::Published, None, res)
                }
                State::Published if rng.below(4) == 0 => {
                    // The package's placeholder (its main-branch revision): proposed for deletion
                    // and deleted, unmodelled; the ref checks see what it leaves.
                    let placeholder = format!("{PR}/{REPO}.{}.main", known.package);
                    let res = api.call("PATCH", &placeholder, Some(&patch("DeletionProposed")));
                    if res.as_ref().is_some_and(|(code, _)| *code == 200) && rng.below(2) == 0 {
                        let res = api.call("DELETE", &placeholder, None);
                        if let Some((code, body)) = &res
                            && *code >= 500
                            && !(allow_unavailable && *code == 503)
                        {
                            server_errors
                                .push(format!("delete placeholder: {code} {}", body["message"]));
                        }
                    }
                    continue;
                }
                State::Published => (
                    name.clone(),
                    State::DeletionProposed,
                    None,
                    api.call("PATCH", &path, Some(&patch("DeletionProposed"))),
                ),
                _ => (name.clone(), State::Deleted, None, api.call("DELETE", &path, None)),
            }
        };
        if std::env::var("CRASH_VERBOSE").is_ok() {
            let code = result.as_ref().map(|(code, _)| *code);
            let message = result.as_ref().map(|(_, body)| body["message"].clone());
            eprintln!(
                "  client {id}: {name} -> {next:?}: {code:?} {message:?} after {:?}",
                began.elapsed()
            );
        }
        let mut model = model.lock().unwrap();
        let known = model.get_mut(&name).expect("modelled");
        match result {
            Some((code, _)) if (200..300).contains(&code) => {
                acknowledged += 1;
                known.states = BTreeSet::from([next]);
                if let Some(n) = content {
                    known.contents = BTreeSet::from([n]);
                }
            }
            Some((code, body)) if code >= 500 && !(allow_unavailable && code == 503) => {
                server_errors.push(format!("{name} -> {next:?}: {code} {}", body["message"]));
            }
            // A 503 (the database was down) claims that nothing was applied: the model keeps
            // the state as it was, and the checks hold the server to that.
            Some(_) => {}
            None => {
                unanswered += 1;
                at += 1;
                known.states.insert(next);
                if let Some(n) = content {
                    known.contents.insert(n);
                }
            }
        }
    }
    (acknowledged, unanswered, server_errors)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port()
}

/// Waits for the restarted server's kubeconfig and `/version`; returns the API handle.
fn wait_up(data: &Path, port: u16, serve: &mut Serve, log: &Path) -> Api {
    let deadline = Instant::now() + Duration::from_secs(30);
    let kubeconfig = data.join("kubeconfig");
    loop {
        if let Ok(Some(status)) = serve.child.try_wait() {
            panic!("veranda exited with {status}:\n{}", tail(log));
        }
        if let Ok(text) = std::fs::read_to_string(&kubeconfig)
            && let Some(token) = text.lines().find_map(|l| l.trim().strip_prefix("token: "))
        {
            let api = Api { url: format!("https://127.0.0.1:{port}"), token: token.to_owned() };
            if api.call("GET", "/version", None).is_some_and(|(code, _)| code == 200) {
                return api;
            }
        }
        assert!(Instant::now() < deadline, "veranda did not come up:\n{}", tail(log));
        thread::sleep(Duration::from_millis(20));
    }
}

fn tail(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
}

fn ready(api: &Api) -> Option<String> {
    let (code, repo) = api.call("GET", &format!("{REPOS}/{REPO}"), None)?;
    if code != 200 {
        return Some(format!("GET repository: {code}"));
    }
    let condition = &repo["status"]["conditions"][0];
    if condition["status"] == "True" {
        None
    } else {
        Some(condition["message"].as_str().unwrap_or("no condition yet").to_owned())
    }
}

/// Checks the restarted server against the model and the remote; resolves uncertain entries to
/// what was found.
fn check(api: &Api, remote: &Path, model: &Model, figures: &mut Figures, round: usize) {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut last = ready(api);
    while last.is_some() && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(50));
        last = ready(api);
    }
    if let Some(message) = last {
        figures.not_ready += 1;
        figures.problems.push(format!("round {round}: not Ready: {message}"));
        return;
    }
    let Some((200, list)) = api.call("GET", PR, None) else {
        figures.problems.push(format!("round {round}: list failed"));
        return;
    };
    let items = list["items"].as_array().cloned().unwrap_or_default();
    let mut listed = BTreeMap::new();
    for item in &items {
        let spec = &item["spec"];
        listed.insert(
            item["metadata"]["name"].as_str().unwrap_or_default().to_owned(),
            (
                spec["packageName"].as_str().unwrap_or_default().to_owned(),
                spec["workspaceName"].as_str().unwrap_or_default().to_owned(),
                spec["revision"].as_i64().unwrap_or(0),
                State::parse(spec["lifecycle"].as_str().unwrap_or_default()),
            ),
        );
    }
    let problem = |figures: &mut Figures, what: String| {
        figures.problems.push(format!("round {round}: {what}"));
    };

    // Acknowledged writes.
    let mut model = model.lock().unwrap();
    for (name, known) in model.iter_mut() {
        let found = listed.get(name).map_or(State::Deleted, |l| l.3);
        if !known.states.contains(&found) {
            figures.lost += 1;
            problem(figures, format!("{name} is {found:?}, acknowledged {:?}", known.states));
        }
        known.states = BTreeSet::from([found]);
        if matches!(found, State::Draft | State::Proposed) {
            let content = match api.call("GET", &format!("{PRR}/{name}"), None) {
                Some((200, prr)) => prr["spec"]["resources"]["cm.yaml"]
                    .as_str()
                    .and_then(|text| text.split('"').nth(1))
                    .and_then(|n| n.parse().ok())
                    .unwrap_or(0),
                other => {
                    problem(figures, format!("resources of {name}: {other:?}"));
                    continue;
                }
            };
            if !known.contents.contains(&content) {
                figures.lost += 1;
                problem(
                    figures,
                    format!("{name} has content {content}, acknowledged {:?}", known.contents),
                );
            }
            known.contents = BTreeSet::from([content]);
        }
    }
    drop(model);

    // Refs of the remote against the listed revisions.
    let refs: BTreeSet<String> =
        git(remote, &["for-each-ref", "--format=%(refname)"]).lines().map(str::to_owned).collect();
    let messages = git(remote, &["log", "--format=%B", "main"]);
    let on_main: BTreeSet<(String, String)> = messages
        .lines()
        .filter_map(|line| line.strip_prefix("kpt:"))
        .filter_map(|json| serde_json::from_str::<Value>(json).ok())
        .map(|a| {
            (
                a["package"].as_str().unwrap_or_default().to_owned(),
                a["workspaceName"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    let mut owned = BTreeSet::new();
    for (name, (package, workspace, revision, state)) in &listed {
        let expected: Vec<String> = match state {
            _ if workspace == "main" && *revision < 0 => {
                if *state == State::DeletionProposed {
                    owned.insert(format!("refs/heads/deletionProposed/{package}/main"));
                }
                continue;
            }
            State::Draft => vec![format!("refs/heads/drafts/{package}/{workspace}")],
            State::Proposed => vec![format!("refs/heads/proposed/{package}/{workspace}")],
            State::Published => vec![format!("refs/tags/{package}/v{revision}")],
            State::DeletionProposed => vec![
                format!("refs/tags/{package}/v{revision}"),
                format!("refs/heads/deletionProposed/{package}/v{revision}"),
            ],
            State::Deleted => unreachable!(),
        };
        for reference in expected {
            if !refs.contains(&reference) {
                figures.missing_refs += 1;
                problem(figures, format!("{name} ({state:?}) has no {reference}"));
            }
            owned.insert(reference);
        }
        let leftover = [
            format!("refs/heads/drafts/{package}/{workspace}"),
            format!("refs/heads/proposed/{package}/{workspace}"),
        ];
        if matches!(state, State::Published | State::DeletionProposed)
            && leftover.iter().any(|r| refs.contains(r))
        {
            figures.half_applied += 1;
            problem(figures, format!("{name} is {state:?} but its draft branch exists"));
        }
        if matches!(state, State::Draft | State::Proposed)
            && on_main.contains(&(package.clone(), workspace.clone()))
        {
            figures.half_applied += 1;
            problem(figures, format!("{name} is {state:?} but was merged into main"));
        }
    }
    for reference in &refs {
        let lifecycle = [
            "refs/heads/drafts/",
            "refs/heads/proposed/",
            "refs/heads/deletionProposed/",
            "refs/tags/",
        ];
        if lifecycle.iter().any(|p| reference.starts_with(p)) && !owned.contains(reference) {
            figures.orphan_refs += 1;
            problem(figures, format!("orphan ref {reference}"));
        }
    }
}

/// What a campaign kills.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Victim {
    /// A server's whole process group (each round the next replica's), then its restart on
    /// the same data directory.
    Server,
    /// The database under a running server (PostgreSQL store only), then its restart.
    Database,
}

/// One server of a campaign: its data directory, log, port and API.
struct Replica {
    data: PathBuf,
    log: PathBuf,
    port: u16,
    serve: Serve,
    api: Api,
}

impl Replica {
    fn start(dir: &Path, i: usize, store: Option<&str>, key: &Path) -> Replica {
        let (data, log) = (dir.join(format!("data{i}")), dir.join(format!("server{i}.log")));
        let port = free_port();
        let mut serve = Serve::start(&data, port, &log, store, key);
        let api = wait_up(&data, port, &mut serve, &log);
        Replica { data, log, port, serve, api }
    }

    fn restart(&mut self, store: Option<&str>, key: &Path) {
        let _ = std::fs::remove_file(self.data.join("kubeconfig"));
        self.serve = Serve::start(&self.data, self.port, &self.log, store, key);
        self.api = wait_up(&self.data, self.port, &mut self.serve, &self.log);
    }
}

/// `rounds` rounds of writes by 2–3 clients spread over `replicas` servers on one store, each
/// round ending with `victim` killed (and restarted), then the checks on every server.
fn campaign(rounds: usize, pg: Option<&veranda_pgtest::Postgres>, victim: Victim, replicas: usize) {
    let seed = std::env::var("CRASH_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or_else(|| {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos()
            as u64
    });
    eprintln!(
        "crash campaign: {rounds} rounds, {replicas} servers, seed {seed} (CRASH_SEED={seed} replays it)"
    );
    let mut rng = Rng(seed | 1);
    let dir = tempfile::tempdir().expect("temp dir");
    eprintln!("crash campaign: working in {}", dir.path().display());
    let remote = empty_repo(dir.path(), "deploy.git");
    let key = crate::util::secret_key_file(dir.path());
    let store = pg.map(|pg| {
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let name = format!("crash{}", N.fetch_add(1, Ordering::Relaxed));
        pg.create_database(&name).expect("create database")
    });
    let store = store.as_deref();
    assert!(victim == Victim::Server || pg.is_some(), "killing the database needs one");
    assert!(replicas == 1 || pg.is_some(), "replicas share a PostgreSQL store");
    let mut servers: Vec<Replica> =
        (0..replicas).map(|i| Replica::start(dir.path(), i, store, &key)).collect();
    let repository = json!({
        "apiVersion": "config.porch.kpt.dev/v1alpha1", "kind": "Repository",
        "metadata": {"name": REPO, "namespace": "default"},
        "spec": {"type": "git", "deployment": true,
                 "git": {"repo": format!("file://{}", remote.display()), "branch": "main", "createBranch": true}},
    });
    let created = servers[0].api.call("POST", REPOS, Some(&repository));
    assert!(created.as_ref().is_some_and(|(code, _)| *code == 201 || *code == 200), "{created:?}");
    let model: Model = Arc::new(Mutex::new(BTreeMap::new()));
    let mut figures = Figures::default();
    let started = Instant::now();
    for round in 0..rounds {
        let deadline = Instant::now() + Duration::from_secs(10);
        for server in &servers {
            while ready(&server.api).is_some() {
                assert!(
                    Instant::now() < deadline,
                    "round {round}: not Ready before writing:\n{}",
                    tail(&server.log)
                );
                thread::sleep(Duration::from_millis(50));
            }
        }
        if let Some(pause) = std::env::var("CRASH_PAUSE").ok().and_then(|s| s.parse().ok()) {
            eprintln!("round {round}: pausing {pause}s, server at {}", servers[0].api.url);
            thread::sleep(Duration::from_secs(pause));
        }
        let stop = Arc::new(AtomicBool::new(false));
        let clients = 2 + rng.below(2) as usize + replicas / 2;
        let handles: Vec<_> = (0..clients)
            .map(|id| {
                let apis: Vec<Api> = (0..replicas)
                    .map(|k| servers[(id + round + k) % replicas].api.clone())
                    .collect();
                let (model, stop) = (model.clone(), stop.clone());
                let seed = rng.next();
                let counter = (round as u64 + 1) * 1_000_000 + id as u64 * 10_000;
                // A killed replica may leave a lock in the remote until it restarts (or the
                // lock goes stale): a 503 naming it, with nothing applied, as for the database.
                let allow_unavailable = victim == Victim::Database || replicas > 1;
                thread::spawn(move || {
                    client(apis, model, id, seed, stop, counter, allow_unavailable)
                })
            })
            .collect();
        thread::sleep(Duration::from_millis(300 + rng.below(1700)));
        if let (Victim::Database, Some(pg)) = (victim, pg) {
            pg.stop().expect("stop the database");
            thread::sleep(Duration::from_millis(200 + rng.below(1000)));
            pg.restart().expect("restart the database");
            thread::sleep(Duration::from_millis(300 + rng.below(700)));
        }
        let victim_index = round % replicas;
        if victim == Victim::Server {
            servers[victim_index].serve.kill();
            // With replicas, the clients of the others go on writing through the kill.
            if replicas > 1 {
                thread::sleep(Duration::from_millis(300 + rng.below(700)));
            }
        }
        stop.store(true, Ordering::SeqCst);
        let mut answered = (0, 0);
        for handle in handles {
            let (acknowledged, unanswered, errors) = handle.join().expect("client");
            answered.0 += acknowledged;
            answered.1 += unanswered;
            figures.server_errors += errors.len();
            figures.problems.extend(errors.into_iter().map(|e| format!("round {round}: {e}")));
        }
        figures.writes_acknowledged += answered.0;
        figures.writes_unanswered += answered.1;
        if std::env::var("CRASH_VERBOSE").is_ok() {
            eprintln!("round {round}: {} acknowledged, {} unanswered", answered.0, answered.1);
        }
        if victim == Victim::Server {
            servers[victim_index].restart(store, &key);
        }
        // Every server shows the same: the restarted one first.
        let order = (0..replicas).map(|i| (victim_index + i) % replicas);
        for i in order {
            let api = &servers[i].api;
            let before = figures.problems.len();
            check(api, &remote, &model, &mut figures, round);
            if figures.problems.len() > before {
                // Whether the server was only slow to show what Git holds, or wrong.
                let listed = |api: &Api| {
                    api.call("GET", PR, None)
                        .map(|(_, list)| list["items"].as_array().map_or(0, Vec::len))
                };
                let now = listed(api);
                thread::sleep(Duration::from_secs(3));
                eprintln!(
                    "round {round}, server {i}: {} problems; {now:?} revisions listed, {:?} three seconds later",
                    figures.problems.len() - before,
                    listed(api)
                );
            }
        }
        figures.rounds += 1;
    }
    eprintln!(
        "crash campaign: seed {seed}, {} kills in {:.1}s, {} writes acknowledged, {} unanswered; \
         lost {}, half-applied {}, orphan refs {}, missing refs {}, not Ready {}, 5xx answers {}",
        figures.rounds,
        started.elapsed().as_secs_f64(),
        figures.writes_acknowledged,
        figures.writes_unanswered,
        figures.lost,
        figures.half_applied,
        figures.orphan_refs,
        figures.missing_refs,
        figures.not_ready,
        figures.server_errors
    );
    for problem in figures.problems.iter().take(40) {
        eprintln!("  {problem}");
    }
    if !figures.problems.is_empty() {
        drop(servers);
        let kept = dir.keep();
        panic!(
            "seed {seed}: {} problems (see above); data directories, remote and server logs kept in {}",
            figures.problems.len(),
            kept.display()
        );
    }
}

#[test]
fn kills_lose_no_acknowledged_write_and_leave_no_half_applied_move() {
    let slow = std::env::var("RUN_SLOW_TESTS").is_ok_and(|v| v == "1");
    let rounds = std::env::var("CRASH_ROUNDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(if slow { 300 } else { 10 });
    campaign(rounds, None, Victim::Server, 1);
}

#[test]
fn kills_on_the_postgres_store_lose_no_acknowledged_write() {
    let slow = std::env::var("RUN_SLOW_TESTS").is_ok_and(|v| v == "1");
    let rounds = std::env::var("CRASH_ROUNDS").ok().and_then(|s| s.parse().ok());
    let pg = veranda_pgtest::Postgres::start().expect("start PostgreSQL");
    campaign(rounds.unwrap_or(if slow { 100 } else { 6 }), Some(&pg), Victim::Server, 1);
}

#[test]
fn database_restarts_under_writes_lose_no_acknowledged_write() {
    let slow = std::env::var("RUN_SLOW_TESTS").is_ok_and(|v| v == "1");
    let rounds = std::env::var("CRASH_ROUNDS").ok().and_then(|s| s.parse().ok());
    let pg = veranda_pgtest::Postgres::start().expect("start PostgreSQL");
    campaign(rounds.unwrap_or(if slow { 100 } else { 6 }), Some(&pg), Victim::Database, 1);
}

/// A lock file left in the remote: writes answer 503 naming it, the repository's Ready condition
/// names it, and everything works again once it is removed.
#[test]
fn a_stale_lock_in_the_remote_is_503_naming_the_file() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("data");
    let log = dir.path().join("server.log");
    let remote = empty_repo(dir.path(), "deploy.git");
    let port = free_port();
    let key = crate::util::secret_key_file(dir.path());
    let mut serve = Serve::start(&data, port, &log, None, &key);
    let api = wait_up(&data, port, &mut serve, &log);
    let repository = json!({
        "apiVersion": "config.porch.kpt.dev/v1alpha1", "kind": "Repository",
        "metadata": {"name": REPO, "namespace": "default"},
        "spec": {"type": "git", "deployment": true,
                 "git": {"repo": format!("file://{}", remote.display()), "branch": "main", "createBranch": true}},
    });
    api.call("POST", REPOS, Some(&repository)).expect("registered");
    let deadline = Instant::now() + Duration::from_secs(30);
    while ready(&api).is_some() {
        assert!(Instant::now() < deadline, "not Ready:\n{}", tail(&log));
        thread::sleep(Duration::from_millis(50));
    }
    let body = json!({
        "apiVersion": "porch.kpt.dev/v1alpha1", "kind": "PackageRevision",
        "metadata": {"namespace": "default"},
        "spec": {"packageName": "app", "repository": REPO, "workspaceName": "ws",
                 "lifecycle": "Draft", "tasks": [{"type": "init", "init": {"description": "app"}}]},
    });
    let (code, _) = api.call("POST", PR, Some(&body)).expect("answer");
    assert_eq!(code, 201);
    let name = format!("{PR}/{REPO}.app.ws");
    let (code, _) = api
        .call("PATCH", &name, Some(&json!({"spec": {"lifecycle": "Proposed"}})))
        .expect("answer");
    assert_eq!(code, 200);

    std::fs::write(remote.join("refs/heads/main.lock"), "").expect("plant lock");
    let (_, mut pr) = api.call("GET", &name, None).expect("answer");
    pr["spec"]["lifecycle"] = json!("Published");
    let (code, status) = api.call("PUT", &format!("{name}/approval"), Some(&pr)).expect("answer");
    assert_eq!(code, 503, "{status}");
    assert!(status.to_string().contains("refs/heads/main.lock"), "{status}");
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if ready(&api).is_some_and(|message| message.contains("refs/heads/main.lock")) {
            break;
        }
        assert!(Instant::now() < deadline, "the Ready condition never named the lock");
        thread::sleep(Duration::from_millis(100));
    }
    assert!(remote.join("refs/heads/main.lock").exists(), "a remote's lock is never removed");

    std::fs::remove_file(remote.join("refs/heads/main.lock")).expect("unlock");
    let (_, mut pr) = api.call("GET", &name, None).expect("answer");
    pr["spec"]["lifecycle"] = json!("Published");
    let (code, status) = api.call("PUT", &format!("{name}/approval"), Some(&pr)).expect("answer");
    assert_eq!(code, 200, "{status}");
    let deadline = Instant::now() + Duration::from_secs(15);
    while ready(&api).is_some() {
        assert!(Instant::now() < deadline, "Ready again once unlocked");
        thread::sleep(Duration::from_millis(100));
    }
    assert!(git(&remote, &["tag", "--list"]).contains("app/v1"));
}

#[test]
fn killing_one_of_three_replicas_mid_storm_loses_nothing_acknowledged() {
    let slow = std::env::var("RUN_SLOW_TESTS").is_ok_and(|v| v == "1");
    let rounds = std::env::var("CRASH_ROUNDS").ok().and_then(|s| s.parse().ok());
    let pg = veranda_pgtest::Postgres::start().expect("start PostgreSQL");
    campaign(rounds.unwrap_or(if slow { 60 } else { 6 }), Some(&pg), Victim::Server, 3);
}

#[test]
fn database_restarts_under_three_replicas_lose_no_acknowledged_write() {
    let slow = std::env::var("RUN_SLOW_TESTS").is_ok_and(|v| v == "1");
    let rounds = std::env::var("CRASH_ROUNDS").ok().and_then(|s| s.parse().ok());
    let pg = veranda_pgtest::Postgres::start().expect("start PostgreSQL");
    campaign(rounds.unwrap_or(if slow { 60 } else { 4 }), Some(&pg), Victim::Database, 3);
}
