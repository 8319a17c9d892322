//! One scale of the benchmark, start to finish: generate the repositories, register them with a
//! fresh server, restart it to time a cold start, then time reads, the write lifecycle (with a
//! watch open to time event delivery), the Git plumbing floor for approve, and throughput with
//! concurrent clients.
//!
//! Reads run before writes so that list sizes are exactly the generated ones. Every write cycle
//! works on a new package (init needs one), spread round-robin over the repositories.

use std::{
    path::{Path, PathBuf},
    sync::{Arc, Barrier},
    thread,
    time::{Duration, Instant},
};

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};

use crate::{
    fixture::{self, Sample, Shape},
    git_http_server, gitfloor,
    http::{Connection, Endpoint, Watch},
    server::{ServerConfig, ServerProcess},
    stats::{Metric, Unit},
};

pub const PR_PATH: &str = "/apis/porch.kpt.dev/v1alpha1/namespaces/default/packagerevisions";
const PRR_PATH: &str = "/apis/porch.kpt.dev/v1alpha1/namespaces/default/packagerevisionresources";
const REPO_PATH: &str = "/apis/config.porch.kpt.dev/v1alpha1/namespaces/default/repositories";
const TABLE: &str = "application/json;as=Table;v=v1;g=meta.k8s.io";
/// How long a full list may take to show every revision after a restart.
const READY_TIMEOUT: Duration = Duration::from_secs(600);
/// How long a repository may take to become Ready after registration.
const REGISTER_TIMEOUT: Duration = Duration::from_secs(300);
/// How long the watch may take to deliver the event of an acknowledged write.
const EVENT_TIMEOUT: Duration = Duration::from_secs(10);
/// Timed rounds that run whatever the phase budget says.
const MIN_ROUNDS: usize = 3;

pub struct Options {
    pub server_binary: PathBuf,
    /// The PostgreSQL the server's store is in (a database per scale), or none for SQLite.
    pub postgres: Option<std::sync::Arc<veranda_pgtest::Postgres>>,
    pub samples: Vec<Sample>,
    pub shape: Shape,
    pub layout: Layout,
    pub remote: Remote,
    pub read_iterations: usize,
    pub write_iterations: usize,
    pub cold_starts: usize,
    pub clients: Vec<usize>,
    pub cycles_per_client: usize,
    /// Reads and writes stop starting new rounds after this long (once a few rounds are in);
    /// throughput clients stop starting new operations.
    pub phase_budget: Duration,
    pub sync_interval_seconds: u64,
    pub out_dir: PathBuf,
    pub keep: bool,
    /// RoleBindings for the authorization comparison; 0 skips it.
    pub authz_bindings: usize,
    /// Servers on the one PostgreSQL store during the throughput runs, clients spread over
    /// them round-robin (1: the measured server alone).
    pub replicas: usize,
}

pub struct ScaleResult {
    pub nominal: usize,
    pub revisions: usize,
    pub repositories: usize,
    pub metrics: Vec<Metric>,
}

/// How a scale's revisions are spread over repositories.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Layout {
    /// Repositories of `Shape::revisions_per_repo` revisions each; more revisions = more repositories.
    Spread,
    /// Everything in one repository (more packages per scale): Porch's P1 case.
    Single,
}

/// How the server reaches the generated repositories.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Remote {
    /// The path of the bare repository.
    File,
    /// A smart-HTTP URL served by `git http-backend` on 127.0.0.1.
    Http,
}

/// The write operations of one package revision lifecycle, in order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    Create,
    UpdateResources,
    Propose,
    Approve,
    ProposeDelete,
    Delete,
}

pub const OPS: [Op; 6] =
    [Op::Create, Op::UpdateResources, Op::Propose, Op::Approve, Op::ProposeDelete, Op::Delete];

impl Op {
    pub fn name(self) -> &'static str {
        match self {
            Op::Create => "create",
            Op::UpdateResources => "update_resources",
            Op::Propose => "propose",
            Op::Approve => "approve",
            Op::ProposeDelete => "propose_delete",
            Op::Delete => "delete",
        }
    }
}

pub fn run(opts: &Options, nominal: usize) -> Result<ScaleResult> {
    let (repositories, shape) = match opts.layout {
        Layout::Spread => {
            let per_repo = opts.shape.revisions_per_repo();
            (((nominal as f64 / per_repo as f64).round() as usize).max(1), opts.shape)
        }
        Layout::Single => {
            let drafts = opts.shape.drafts;
            let packages = (nominal.saturating_sub(drafts) / (opts.shape.revisions + 1)).max(1);
            (1, Shape { packages, drafts: drafts.min(packages), ..opts.shape })
        }
    };
    let per_repo = shape.revisions_per_repo();
    let expected = repositories * per_repo;
    progress(&format!(
        "scale {nominal}: {repositories} repositories x {per_repo} = {expected} package revisions"
    ));
    let work = opts.out_dir.join("work").join(format!("s{nominal}"));
    if work.exists() {
        std::fs::remove_dir_all(&work).with_context(|| format!("remove {}", work.display()))?;
    }
    let repos_dir = work.join("repos");
    std::fs::create_dir_all(&repos_dir)
        .with_context(|| format!("create {}", repos_dir.display()))?;
    let mut metrics = Vec::new();
    // Other work on the machine is the main source of noise: record it.
    if let Some(load) = load_average() {
        metrics.push(Metric::one("loadavg_1m_at_start", Unit::Count, load));
    }

    let started = Instant::now();
    for repo in 0..repositories {
        let path = repos_dir.join(format!("{}.git", fixture::repo_name(repo)));
        fixture::generate_repo(&path, repo, shape, &opts.samples)
            .with_context(|| format!("generate {}", path.display()))?;
    }
    metrics.push(Metric::one("generate_repositories", Unit::Millis, ms(started.elapsed())));
    progress(&format!("  generated in {:.1} s", started.elapsed().as_secs_f64()));

    let data_dir = work.join("data");
    let log = work.join("server.log");
    let store = match &opts.postgres {
        Some(pg) => {
            static DATABASES: std::sync::atomic::AtomicUsize =
                std::sync::atomic::AtomicUsize::new(0);
            let n = DATABASES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let name = format!("bench_s{nominal}_{n}");
            Some(pg.create_database(&name).map_err(|e| anyhow::anyhow!("create {name}: {e}"))?)
        }
        None => None,
    };
    // Servers sharing a store share the secret key (and so the identity sealed with it).
    let key = work.join("secrets.key");
    if store.is_some() {
        write_key(&key)?;
    }
    let config = ServerConfig {
        binary: &opts.server_binary,
        data_dir: &data_dir,
        log: &log,
        sync_interval_seconds: opts.sync_interval_seconds,
        store: store.as_deref(),
        secret_key_file: store.is_some().then_some(key.as_path()),
    };
    let result = measure(opts, &config, shape, repositories, &repos_dir, &mut metrics);
    // Keep the server log next to the results when the server complained.
    if std::fs::metadata(&log).is_ok_and(|m| m.len() > 0) {
        let kept = opts.out_dir.join(format!("server-s{nominal}.log"));
        let _ = std::fs::copy(&log, kept);
    }
    result?;

    let floor_repo = work.join("floor.git");
    fixture::generate_repo(&floor_repo, 0, shape, &opts.samples).context("generate floor repo")?;
    let floor_sample = opts.samples.first().context("no sample package")?;
    metrics.extend(gitfloor::measure(
        &floor_repo,
        &work.join("floor-files"),
        floor_sample,
        opts.write_iterations.max(1),
    )?);

    if let Some(load) = load_average() {
        metrics.push(Metric::one("loadavg_1m_at_end", Unit::Count, load));
    }
    if !opts.keep {
        std::fs::remove_dir_all(&work).with_context(|| format!("remove {}", work.display()))?;
        // Only succeeds when no other scale left anything there.
        let _ = std::fs::remove_dir(opts.out_dir.join("work"));
    }
    Ok(ScaleResult { nominal, revisions: expected, repositories, metrics })
}

/// Everything that needs a server; the guard in `ServerProcess` stops it on every exit path.
fn measure(
    opts: &Options,
    config: &ServerConfig<'_>,
    shape: Shape,
    repositories: usize,
    repos_dir: &Path,
    metrics: &mut Vec<Metric>,
) -> Result<()> {
    let expected = repositories * shape.revisions_per_repo();
    // Serves the repositories for as long as the server may reach them.
    let git_server = match opts.remote {
        Remote::File => None,
        Remote::Http => {
            for repo in 0..repositories {
                let path = repos_dir.join(format!("{}.git", fixture::repo_name(repo)));
                git_http_server::enable_push(&path);
                // As a Git server's maintenance leaves them: fast-import wrote loose refs.
                fixture::pack_refs(&path)?;
            }
            Some(git_http_server::GitHttpServer::start(repos_dir, git_http_server::Auth::None))
        }
    };
    // Registration on an empty server: each call returns once the repository is indexed.
    let server = ServerProcess::start(config)?;
    let mut conn = server.endpoint.connect();
    let mut register = Metric::new("register_repository", Unit::Millis);
    for repo in 0..repositories {
        let name = fixture::repo_name(repo);
        let url = match &git_server {
            Some(git) => git.url(&format!("{name}.git")),
            None => repos_dir.join(format!("{name}.git")).display().to_string(),
        };
        let started = Instant::now();
        register_repository(&mut conn, &name, &url)
            .with_context(|| format!("register {name}; server log:\n{}", server.log_tail()))?;
        register.push(started.elapsed());
    }
    metrics.push(register);
    let (_, listed) = list(&mut conn, PR_PATH, "application/json")?;
    if listed != expected {
        bail!(
            "the server lists {listed} package revisions after registration, expected {expected}"
        );
    }
    metrics.push(Metric::one("peak_rss_register", Unit::MiB, server.peak_rss_mib()?));
    server.stop();
    progress("  registered");

    // Cold start: process start → kubeconfig → first list with every revision.
    let mut to_kubeconfig = Metric::new("start_to_kubeconfig", Unit::Millis);
    let mut cold_start = Metric::new("cold_start", Unit::Millis);
    let mut serving = None;
    for _ in 0..opts.cold_starts.max(1) {
        if let Some(previous) = serving.take() {
            ServerProcess::stop(previous);
        }
        let server = ServerProcess::start(config)?;
        to_kubeconfig.push(server.kubeconfig_after);
        cold_start.push(wait_for_full_list(&server, expected)?);
        serving = Some(server);
    }
    let server = serving.context("start the server")?;
    metrics.push(to_kubeconfig);
    metrics.push(cold_start);
    metrics.push(Metric::one("peak_rss_after_cold_start", Unit::MiB, server.peak_rss_mib()?));
    progress("  cold start measured");

    let mut conn = server.endpoint.connect();
    // Server-side histograms around each phase tell where the time goes (when /metrics exists).
    let before_reads = scrape(&mut conn);
    let (reads, read_rounds) = measure_reads(&mut conn, opts, shape, repositories)
        .with_context(|| format!("measure reads; server log:\n{}", server.log_tail()))?;
    metrics.extend(reads);
    progress("  reads measured");
    metrics.push(Metric::one("peak_rss_after_reads", Unit::MiB, server.peak_rss_mib()?));
    let before_writes = scrape(&mut conn);
    let (writes, write_rounds) = measure_writes(&mut conn, &server.endpoint, opts, repositories)
        .with_context(|| format!("measure writes; server log:\n{}", server.log_tail()))?;
    metrics.extend(writes);
    progress("  writes measured");
    metrics.push(Metric::one("peak_rss_after_writes", Unit::MiB, server.peak_rss_mib()?));
    let after_writes = scrape(&mut conn);
    if let (Some(a), Some(b), Some(c)) = (&before_reads, &before_writes, &after_writes) {
        metrics.extend(phase_means("read", a, b, read_rounds));
        metrics.extend(phase_means("write", b, c, write_rounds));
    }
    if opts.authz_bindings > 0 {
        metrics.extend(
            measure_authz(&mut conn, &server.endpoint, config.data_dir, opts, repositories)
                .with_context(|| {
                    format!("measure authorization; server log:\n{}", server.log_tail())
                })?,
        );
        progress("  authorization measured");
    }
    // More servers on the same store for the throughput runs, each with its own data
    // directory, serving once it lists every revision.
    let mut replicas = Vec::new();
    // What the measured server lists now (the write phase leaves placeholders behind).
    let (_, listed_now) = list(&mut conn, PR_PATH, "application/json")?;
    for i in 1..opts.replicas.max(1) {
        let data_dir = config.data_dir.with_file_name(format!("data-r{i}"));
        let log = config.log.with_file_name(format!("server-r{i}.log"));
        let replica =
            ServerProcess::start(&ServerConfig { data_dir: &data_dir, log: &log, ..*config })?;
        wait_for_full_list(&replica, listed_now)?;
        replicas.push(replica);
    }
    if !replicas.is_empty() {
        progress(&format!("  {} replicas serving", replicas.len() + 1));
    }
    let endpoints: Vec<Endpoint> =
        std::iter::once(&server).chain(&replicas).map(|s| s.endpoint.clone()).collect();
    for &clients in &opts.clients {
        metrics.extend(measure_throughput(&endpoints, opts, clients, repositories)?);
        progress(&format!("  throughput with {clients} clients measured"));
    }
    for (i, replica) in replicas.into_iter().enumerate() {
        metrics.push(Metric::one(
            &format!("peak_rss_replica{}", i + 1),
            Unit::MiB,
            replica.peak_rss_mib()?,
        ));
        replica.stop();
    }
    metrics.push(Metric::one("peak_rss_serve", Unit::MiB, server.peak_rss_mib()?));

    // The whole scrape, for the record.
    if let Some(text) = scrape(&mut conn) {
        let path = opts.out_dir.join(format!("metrics-s{expected}.txt"));
        std::fs::write(&path, text).with_context(|| format!("write {}", path.display()))?;
    }
    server.stop();
    Ok(())
}

/// Returns the metrics and the number of rounds run (warm-up included).
fn measure_reads(
    conn: &mut Connection,
    opts: &Options,
    shape: Shape,
    repositories: usize,
) -> Result<(Vec<Metric>, usize)> {
    let per_repo = shape.revisions_per_repo();
    let expected = repositories * per_repo;
    let names = [
        "list_all_json",
        "list_all_table",
        "list_repository",
        "list_package",
        "get",
        "get_resources",
    ];
    let mut metrics: Vec<Metric> = names.iter().map(|n| Metric::new(n, Unit::Millis)).collect();
    let started = Instant::now();
    let mut rounds = 0;
    // Iteration 0 warms caches and the connection and is not recorded.
    for iteration in 0..=opts.read_iterations {
        if iteration > MIN_ROUNDS && started.elapsed() > opts.phase_budget {
            break;
        }
        rounds += 1;
        let repo = iteration % repositories;
        let package = (iteration / repositories) % shape.packages.max(1);
        let revision = 1 + iteration % shape.revisions.max(1);
        let repo_name = fixture::repo_name(repo);
        let package_name = fixture::package_name(&opts.samples, repo, package);
        let object = format!("{repo_name}.{package_name}.v{revision}");
        let drafts_of_package =
            (0..shape.drafts).filter(|d| d % shape.packages.max(1) == package).count();

        let mut timed = Vec::with_capacity(names.len());
        // Lists are timed until the whole response is read, not parsed.
        let (took, count) = list(conn, PR_PATH, "application/json")?;
        timed.push(took);
        check_count("list all", count, expected)?;

        let (took, count) = list(conn, PR_PATH, TABLE)?;
        timed.push(took);
        check_count("list all as Table", count, expected)?;

        let path = format!("{PR_PATH}?fieldSelector=spec.repository%3D{repo_name}");
        let (took, count) = list(conn, &path, "application/json")?;
        timed.push(took);
        check_count("list one repository", count, per_repo)?;

        let path = format!("{PR_PATH}?fieldSelector=spec.packageName%3D{package_name}");
        let (took, count) = list(conn, &path, "application/json")?;
        timed.push(took);
        check_count("list one package", count, shape.revisions + 1 + drafts_of_package)?;

        let started = Instant::now();
        let response = conn.get(&format!("{PR_PATH}/{object}"))?;
        timed.push(started.elapsed());
        check_name(&response.ok("get package revision")?.json()?, &object)?;

        let started = Instant::now();
        let response = conn.get(&format!("{PRR_PATH}/{object}"))?;
        timed.push(started.elapsed());
        let resources = response.ok("get package revision resources")?.json()?;
        check_name(&resources, &object)?;
        if resources.pointer("/spec/resources/Kptfile").is_none() {
            bail!("the resources of {object} have no Kptfile");
        }

        if iteration > 0 {
            for (metric, duration) in metrics.iter_mut().zip(timed) {
                metric.push(duration);
            }
        }
    }
    Ok((metrics, rounds))
}

/// Returns the metrics and the number of rounds run (warm-up included).
fn measure_writes(
    conn: &mut Connection,
    endpoint: &Endpoint,
    opts: &Options,
    repositories: usize,
) -> Result<(Vec<Metric>, usize)> {
    let mut op_metrics: Vec<Metric> =
        OPS.iter().map(|op| Metric::new(op.name(), Unit::Millis)).collect();
    let mut delivery = Metric::new("watch_delivery", Unit::Millis);
    let mut before_ack = 0usize;
    // Resume from the current resourceVersion so the watch starts without an initial list.
    let list = conn.get(&format!("{PR_PATH}?limit=1"))?.ok("list for watch")?.json()?;
    let since = str_at(&list, "/metadata/resourceVersion")?.to_string();
    let watch = endpoint.watch(&format!("{PR_PATH}?watch=true&resourceVersion={since}"))?;
    let started = Instant::now();
    let mut rounds = 0;
    for iteration in 0..=opts.write_iterations {
        if iteration > MIN_ROUNDS && started.elapsed() > opts.phase_budget {
            break;
        }
        rounds += 1;
        let repo = fixture::repo_name(iteration % repositories);
        let package = format!("bench-{iteration:03}");
        let mut record = |op: Op, took: Duration, event: Option<Duration>, early: bool| {
            // Iteration 0 is a warm-up.
            if iteration == 0 {
                return;
            }
            if let Some(metric) = op_metrics.iter_mut().find(|m| m.name == op.name()) {
                metric.push(took);
            }
            if let Some(event) = event {
                delivery.push(event);
            }
            before_ack += usize::from(early);
        };
        let mut done = 0;
        let run =
            Run { repo: &repo, package: &package, iteration, watch: Some(&watch), deadline: None };
        lifecycle(conn, &run, &mut record, &mut done)
            .with_context(|| format!("run the lifecycle of {repo}/{package}"))?;
    }
    drop(watch);
    op_metrics.push(delivery);
    op_metrics.push(Metric::one("watch_event_before_ack", Unit::Count, before_ack as f64));
    Ok((op_metrics, rounds))
}

/// List and write latency with and without authorization, in alternating rounds: the admin
/// (in `system:masters`, which skips rule evaluation) against a user whose rights come from
/// RoleBindings among `opts.authz_bindings` others.
fn measure_authz(
    admin: &mut Connection,
    endpoint: &Endpoint,
    data_dir: &Path,
    opts: &Options,
    repositories: usize,
) -> Result<Vec<Metric>> {
    const TOKEN: &str = "bench-authz-token-0123456789abcdef";
    let tokens = data_dir.join("tokens.csv");
    let mut text = std::fs::read_to_string(&tokens).context("read tokens.csv")?;
    text.push_str(&format!("{TOKEN},bench-user,bench-user,\"bench-team\"\n"));
    std::fs::write(&tokens, text).context("write tokens.csv")?;
    let rbac = "/apis/rbac.authorization.k8s.io/v1/namespaces/default/rolebindings";
    let binding = |name: &str, role: &str, kind: &str, subject: &str| {
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
            "metadata": {"name": name, "namespace": "default"},
            "subjects": [{"kind": kind, "name": subject, "apiGroup": "rbac.authorization.k8s.io"}],
            "roleRef": {"kind": "ClusterRole", "name": role, "apiGroup": "rbac.authorization.k8s.io"}})
    };
    for i in 0..opts.authz_bindings {
        let body = binding(&format!("other-{i}"), "veranda:viewer", "User", &format!("user-{i}"));
        admin.send_json("POST", rbac, &body)?.ok("create a RoleBinding")?;
    }
    for role in ["editor", "approver"] {
        let body =
            binding(&format!("bench-{role}"), &format!("veranda:{role}"), "Group", "bench-team");
        admin.send_json("POST", rbac, &body)?.ok("create a RoleBinding")?;
    }
    let mut user = endpoint.with_token(TOKEN).connect();
    // The token file is re-read within about a second.
    let deadline = Instant::now() + Duration::from_secs(30);
    while user.get(&format!("{PR_PATH}?limit=1"))?.ok("list as the user").is_err() {
        if Instant::now() > deadline {
            bail!("the bench user's token was not accepted within 30 s");
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let mut metrics: Vec<Metric> = ["list", "create", "propose", "approve"]
        .iter()
        .flat_map(|op| {
            [
                Metric::new(&format!("authz_{op}_admin"), Unit::Millis),
                Metric::new(&format!("authz_{op}_user"), Unit::Millis),
            ]
        })
        .collect();
    let started = Instant::now();
    for iteration in 0..=opts.write_iterations {
        if iteration > MIN_ROUNDS && started.elapsed() > opts.phase_budget {
            break;
        }
        // Alternate who goes first, so that neither always meets a warmer server.
        let order: [(&str, &mut Connection); 2] = if iteration % 2 == 0 {
            [("admin", &mut *admin), ("user", &mut user)]
        } else {
            [("user", &mut user), ("admin", &mut *admin)]
        };
        for (who, conn) in order {
            let (took, _) = list(conn, PR_PATH, "application/json")?;
            let repo = fixture::repo_name(iteration % repositories);
            let package = format!("authz-{who}-{iteration:03}");
            let mut times: Vec<(Op, Duration)> = Vec::new();
            let mut record =
                |op: Op, took: Duration, _: Option<Duration>, _: bool| times.push((op, took));
            let mut done = 0;
            let run =
                Run { repo: &repo, package: &package, iteration, watch: None, deadline: None };
            lifecycle(conn, &run, &mut record, &mut done)?;
            if iteration == 0 {
                continue;
            }
            let mut push = |op: &str, took: Duration| {
                if let Some(m) = metrics.iter_mut().find(|m| m.name == format!("authz_{op}_{who}"))
                {
                    m.push(took);
                }
            };
            push("list", took);
            for (op, took) in times {
                match op {
                    Op::Create => push("create", took),
                    Op::Propose => push("propose", took),
                    Op::Approve => push("approve", took),
                    _ => {}
                }
            }
        }
    }
    Ok(metrics)
}

/// `clients` threads, each on its own connection and repository (round-robin), run lifecycles
/// of distinct packages until they have done `cycles_per_client` or the phase budget is spent.
/// Lifecycles by `clients` concurrent clients, client `i` on `endpoints[i % n]`.
fn measure_throughput(
    endpoints: &[Endpoint],
    opts: &Options,
    clients: usize,
    repositories: usize,
) -> Result<Vec<Metric>> {
    let cycles = opts.cycles_per_client;
    let budget = opts.phase_budget;
    let barrier = Arc::new(Barrier::new(clients + 1));
    let mut handles = Vec::with_capacity(clients);
    for client in 0..clients {
        let endpoint = endpoints[client % endpoints.len()].clone();
        let barrier = barrier.clone();
        let handle = thread::Builder::new()
            .name(format!("client-{client}"))
            .spawn(move || {
                let mut conn = endpoint.connect();
                // Warm the connection (TLS handshake) before the clock starts.
                let _ = conn.get("/healthz");
                barrier.wait();
                let deadline = Instant::now() + budget;
                let repo = fixture::repo_name(client % repositories);
                let mut latencies = Vec::new();
                let mut done = 0usize;
                let mut errors = Vec::new();
                for cycle in 0..cycles {
                    let package = format!("load{clients}-{client:02}-{cycle}");
                    let mut record = |_: Op, took: Duration, _: Option<Duration>, _: bool| {
                        latencies.push(took);
                    };
                    let run = Run {
                        repo: &repo,
                        package: &package,
                        iteration: cycle,
                        watch: None,
                        deadline: Some(deadline),
                    };
                    match lifecycle(&mut conn, &run, &mut record, &mut done) {
                        Ok(()) => {}
                        Err(e) if e.is::<OutOfTime>() => break,
                        Err(e) => errors.push(format!("{repo}/{package}: {e:#}")),
                    }
                }
                (done, latencies, errors, Instant::now())
            })
            .context("spawn client thread")?;
        handles.push(handle);
    }
    barrier.wait();
    let started = Instant::now();
    let mut done = 0;
    let mut latency = Metric::new(&format!("under_load_c{clients}"), Unit::Millis);
    let mut errors = Vec::new();
    let mut finished = started;
    for handle in handles {
        let (ops, latencies, client_errors, end) =
            handle.join().map_err(|_| anyhow::anyhow!("a client thread panicked"))?;
        done += ops;
        latencies.into_iter().for_each(|d| latency.push(d));
        errors.extend(client_errors);
        finished = finished.max(end);
    }
    let wall = finished.duration_since(started).as_secs_f64().max(1e-9);
    if let Some(first) = errors.first() {
        progress(&format!(
            "  {} failed cycles with {clients} clients, first: {first}",
            errors.len()
        ));
    }
    Ok(vec![
        Metric::one(&format!("throughput_c{clients}"), Unit::OpsPerSecond, done as f64 / wall),
        Metric::one(&format!("failed_cycles_c{clients}"), Unit::Count, errors.len() as f64),
        latency,
    ])
}

/// What one lifecycle works on.
struct Run<'a> {
    repo: &'a str,
    package: &'a str,
    iteration: usize,
    /// When set, every write's event is awaited on it and its delivery time recorded.
    watch: Option<&'a Watch>,
    /// No operation starts after it; the lifecycle then fails with `OutOfTime`.
    deadline: Option<Instant>,
}

/// The phase budget ran out in the middle of a lifecycle.
#[derive(Debug)]
struct OutOfTime;

impl std::fmt::Display for OutOfTime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the phase budget ran out")
    }
}

impl std::error::Error for OutOfTime {}

/// create → update resources → propose → approve → propose-delete → delete of a new package.
/// `record(op, latency, event delivery, event came before the acknowledgement)` gets every
/// operation; `done` counts the operations that succeeded.
fn lifecycle(
    conn: &mut Connection,
    run: &Run<'_>,
    record: &mut dyn FnMut(Op, Duration, Option<Duration>, bool),
    done: &mut usize,
) -> Result<()> {
    let (repo, package, iteration, watch) = (run.repo, run.package, run.iteration, run.watch);
    let mut step = |conn: &mut Connection,
                    op: Op,
                    method: &str,
                    path: &str,
                    body: Option<&Value>|
     -> Result<Value> {
        if run.deadline.is_some_and(|d| Instant::now() > d) {
            return Err(OutOfTime.into());
        }
        let started = Instant::now();
        let response = match body {
            Some(body) => conn.send_json(method, path, body)?,
            None => conn.request(method, path, "application/json", None)?,
        };
        let acked = Instant::now();
        let object = response.ok(op.name())?.json()?;
        let (mut event, mut early) = (None, false);
        if let Some(watch) = watch {
            let name = str_at(&object, "/metadata/name")?.to_string();
            let rv = rv_of(&object);
            let at = watch
                .wait_for(EVENT_TIMEOUT, |e| event_matches(e, op, &name, rv))
                .with_context(|| format!("wait for the watch event of {} {name}", op.name()))?;
            early = at < acked;
            event = Some(at.saturating_duration_since(acked));
        }
        record(op, acked - started, event, early);
        *done += 1;
        Ok(object)
    };

    let create = json!({
        "apiVersion": "porch.kpt.dev/v1alpha1",
        "kind": "PackageRevision",
        "metadata": {"namespace": "default"},
        "spec": {"repository": repo, "packageName": package, "workspaceName": "ws1"},
    });
    let created = step(conn, Op::Create, "POST", PR_PATH, Some(&create))?;
    let name = str_at(&created, "/metadata/name")?.to_string();

    let mut resources =
        conn.get(&format!("{PRR_PATH}/{name}"))?.ok("get resources before update")?.json()?;
    let files = resources
        .pointer_mut("/spec/resources")
        .and_then(Value::as_object_mut)
        .with_context(|| format!("find spec.resources of {name}"))?;
    files.insert(
        "bench-config.yaml".into(),
        json!(format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: bench-config\ndata:\n  iteration: \"{iteration}\"\n"
        )),
    );
    step(conn, Op::UpdateResources, "PUT", &format!("{PRR_PATH}/{name}"), Some(&resources))?;

    let path = format!("{PR_PATH}/{name}");
    let mut proposed =
        step(conn, Op::Propose, "PATCH", &path, Some(&json!({"spec": {"lifecycle": "Proposed"}})))?;
    proposed["spec"]["lifecycle"] = json!("Published");
    let approved = step(conn, Op::Approve, "PUT", &format!("{path}/approval"), Some(&proposed))?;
    let lifecycle = str_at(&approved, "/spec/lifecycle")?;
    if lifecycle != "Published" {
        bail!("approve left {name} in lifecycle {lifecycle:?}");
    }
    step(
        conn,
        Op::ProposeDelete,
        "PATCH",
        &path,
        Some(&json!({"spec": {"lifecycle": "DeletionProposed"}})),
    )?;
    step(conn, Op::Delete, "DELETE", &path, None)?;
    Ok(())
}

fn event_matches(event: &Value, op: Op, name: &str, rv: Option<i64>) -> bool {
    let object = &event["object"];
    if object.pointer("/metadata/name").and_then(Value::as_str) != Some(name) {
        return false;
    }
    let kind = event["type"].as_str().unwrap_or("");
    match op {
        Op::Delete => kind == "DELETED",
        _ => kind != "DELETED" && rv_of(object).zip(rv).is_none_or(|(seen, want)| seen >= want),
    }
}

fn register_repository(conn: &mut Connection, name: &str, url: &str) -> Result<()> {
    let body = json!({
        "apiVersion": "config.porch.kpt.dev/v1alpha1",
        "kind": "Repository",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {
            "type": "git",
            "git": {"repo": url, "branch": "main", "createBranch": true},
        },
    });
    let created = conn.send_json("POST", REPO_PATH, &body)?.ok("register repository")?.json()?;
    let deadline = Instant::now() + REGISTER_TIMEOUT;
    let mut repository = created;
    loop {
        let ready = repository
            .pointer("/status/conditions")
            .and_then(Value::as_array)
            .is_some_and(|c| c.iter().any(|c| c["type"] == "Ready" && c["status"] == "True"));
        if ready {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("repository {name} not Ready after {REGISTER_TIMEOUT:?}: {repository}");
        }
        thread::sleep(Duration::from_millis(20));
        repository = conn.get(&format!("{REPO_PATH}/{name}"))?.ok("get repository")?.json()?;
    }
}

/// Lists until every revision is there (a restarted server may still be catching up); returns
/// the time from process start until that list had been received.
fn wait_for_full_list(server: &ServerProcess, expected: usize) -> Result<Duration> {
    let mut conn = server.endpoint.connect();
    let deadline = server.spawned + READY_TIMEOUT;
    loop {
        let started = Instant::now();
        let last = match list(&mut conn, PR_PATH, "application/json") {
            Ok((took, count)) if count == expected => {
                return Ok((started + took).duration_since(server.spawned));
            }
            Ok((_, count)) => format!("{count} of {expected} listed"),
            Err(e) => format!("{e:#}"),
        };
        if Instant::now() > deadline {
            bail!(
                "the restarted server did not list all revisions within {READY_TIMEOUT:?}: {last}"
            );
        }
        thread::sleep(Duration::from_millis(5));
    }
}

fn scrape(conn: &mut Connection) -> Option<String> {
    let response = conn.get("/metrics").ok()?;
    (response.status == 200).then(|| String::from_utf8_lossy(&response.body).into_owned())
}

/// Server-side mean durations and calls per iteration over one phase, from the difference of
/// two `/metrics` scrapes (`iterations` includes the warm-up round): every `veranda_<family>_..._duration_seconds` histogram becomes
/// `srv_<phase>_<family>_<label values>` (mean ms) and `..._calls` (calls per iteration).
fn phase_means(phase: &str, before: &str, after: &str, iterations: usize) -> Vec<Metric> {
    let before = histogram_totals(before);
    let mut metrics = Vec::new();
    for (key, (sum, count)) in histogram_totals(after) {
        let (sum0, count0) = before.get(&key).copied().unwrap_or((0.0, 0.0));
        let calls = count - count0;
        // The scrapes themselves are requests too; leave them out.
        if calls <= 0.0 || key.contains("_metrics") {
            continue;
        }
        let name = format!("srv_{phase}_{key}");
        metrics.push(Metric::one(&name, Unit::Millis, (sum - sum0) / calls * 1000.0));
        metrics.push(Metric::one(
            &format!("{name}_calls"),
            Unit::Count,
            calls / iterations.max(1) as f64,
        ));
    }
    metrics
}

/// `(family_labelvalues) → (sum, count)` of every duration histogram in a scrape.
fn histogram_totals(text: &str) -> std::collections::BTreeMap<String, (f64, f64)> {
    let mut totals = std::collections::BTreeMap::<String, (f64, f64)>::new();
    for line in text.lines() {
        let Some(rest) = line.strip_prefix("veranda_") else { continue };
        let Some((series, value)) = rest.rsplit_once(' ') else { continue };
        let Ok(value) = value.parse::<f64>() else { continue };
        let (name, labels) = series.split_once('{').unwrap_or((series, ""));
        let (family, is_sum) = match (
            name.strip_suffix("_duration_seconds_sum"),
            name.strip_suffix("_duration_seconds_count"),
        ) {
            (Some(family), _) => (family, true),
            (_, Some(family)) => (family, false),
            _ => continue,
        };
        let family = family.split('_').next().unwrap_or(family);
        let values: Vec<String> = labels
            .trim_end_matches('}')
            .split(',')
            .filter_map(|pair| pair.split_once('='))
            .map(|(_, v)| v.trim_matches('"').replace('/', "_"))
            .collect();
        let key = if values.is_empty() {
            family.to_string()
        } else {
            format!("{family}_{}", values.join("_"))
        };
        let entry = totals.entry(key).or_default();
        if is_sum {
            entry.0 = value;
        } else {
            entry.1 = value;
        }
    }
    totals
}

/// Time until the response was read, and its number of items (JSON list) or rows (Table).
fn list(conn: &mut Connection, path: &str, accept: &str) -> Result<(Duration, usize)> {
    let started = Instant::now();
    let response = conn.request("GET", path, accept, None)?;
    let took = started.elapsed();
    let list = response.ok("list")?.json()?;
    let field = if accept == TABLE { "rows" } else { "items" };
    let count = list
        .get(field)
        .and_then(Value::as_array)
        .map(Vec::len)
        .with_context(|| format!("find {field:?} in the list response of {path}"))?;
    Ok((took, count))
}

fn check_count(what: &str, got: usize, want: usize) -> Result<()> {
    if got != want {
        bail!("{what} returned {got} package revisions, expected {want}");
    }
    Ok(())
}

fn check_name(object: &Value, name: &str) -> Result<()> {
    let got = str_at(object, "/metadata/name")?;
    if got != name {
        bail!("asked for {name:?}, got {got:?}");
    }
    Ok(())
}

fn str_at<'a>(value: &'a Value, pointer: &str) -> Result<&'a str> {
    value.pointer(pointer).and_then(Value::as_str).with_context(|| format!("read {pointer}"))
}

fn rv_of(object: &Value) -> Option<i64> {
    object.pointer("/metadata/resourceVersion")?.as_str()?.parse().ok()
}

/// The 1-minute load average of the machine (Linux), to judge how noisy a run was.
/// A fresh secret key file (base64 of 32 random bytes, mode 0600).
fn write_key(path: &Path) -> Result<()> {
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut bytes = [0u8; 32];
    openssl::rand::rand_bytes(&mut bytes).context("random key")?;
    let text = format!("{}\n", openssl::base64::encode_block(&bytes));
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("create {}", path.display()))?;
    std::io::Write::write_all(&mut file, text.as_bytes())
        .with_context(|| format!("write {}", path.display()))
}

fn load_average() -> Option<f64> {
    std::fs::read_to_string("/proc/loadavg").ok()?.split_whitespace().next()?.parse().ok()
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

pub fn progress(message: &str) {
    eprintln!("{message}");
}
