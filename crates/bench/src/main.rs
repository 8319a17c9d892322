//! `veranda-bench`: drives the real `veranda serve` binary over HTTPS on loopback and measures
//! what Porch's users complain about (P1–P5 in the reference notes): list, get, the write
//! lifecycle, approve against a Git plumbing floor, watch delivery, cold start, memory and
//! throughput, at several repository sizes. See docs/PERFORMANCE.md.
//!
//! Everything runs in one process with blocking I/O and plain threads: the measured path is one
//! socket per client, with nothing of our own between the timer and the server.

mod fixture;
#[allow(dead_code)]
#[path = "../../repo/tests/it/http_server.rs"]
mod git_http_server;
mod gitfloor;
mod http;
mod report;
mod scenario;
mod server;
mod stats;

use std::{path::PathBuf, process::ExitCode};

use anyhow::{Context, Result, bail};
use clap::Parser;

use crate::{
    fixture::Shape,
    scenario::{Layout, Options, Remote},
};

#[derive(Parser)]
#[command(name = "veranda-bench", about = "Benchmark harness for the veranda server")]
struct Cli {
    /// Numbers of package revisions to run at (rounded to whole repositories).
    #[arg(long, value_delimiter = ',', default_values_t = [100, 1000, 10000])]
    scales: Vec<usize>,
    /// One tiny scale and a few iterations: checks that the harness works, in seconds.
    #[arg(long)]
    smoke: bool,
    /// Where the CSV, SVG and target comparison go (scratch data goes to OUT/work).
    #[arg(long, default_value = "target/bench")]
    out: PathBuf,
    /// The `veranda` server binary [default: `veranda` next to this binary].
    #[arg(long)]
    server: Option<PathBuf>,
    /// Directory with the kpt sample packages copied into generated packages [default:
    /// `$VERANDA_SHARED/testdata/packages`, else `shared/testdata/packages` next to the
    /// repository root this binary was built from].
    #[arg(long)]
    testdata: Option<PathBuf>,
    /// `spread`: repositories of PACKAGES x (REVISIONS + 1) + DRAFTS revisions each, as many as
    /// the scale needs; `single`: the whole scale in one repository.
    #[arg(long, value_enum, default_value_t = Layout::Spread)]
    layout: Layout,
    /// How the server reaches the generated repositories: `file` (a path on this machine) or
    /// `http` (smart HTTP: `git http-backend` behind a small server of the benchmark on
    /// 127.0.0.1).
    #[arg(long, value_enum, default_value_t = Remote::File)]
    remote: Remote,
    /// Packages per repository.
    #[arg(long, default_value_t = 18)]
    packages: usize,
    /// Published revisions per package.
    #[arg(long, default_value_t = 4)]
    revisions: usize,
    /// Draft branches per repository.
    #[arg(long, default_value_t = 10)]
    drafts: usize,
    /// Timed rounds of the read operations.
    #[arg(long, default_value_t = 30)]
    read_iterations: usize,
    /// Timed rounds of the write lifecycle (create … delete), each on a new package.
    #[arg(long, default_value_t = 20)]
    write_iterations: usize,
    /// Server restarts to time.
    #[arg(long, default_value_t = 3)]
    cold_starts: usize,
    /// Concurrent client counts for the throughput runs.
    #[arg(long, value_delimiter = ',', default_values_t = [8, 32])]
    clients: Vec<usize>,
    /// Lifecycles per client in the throughput runs.
    #[arg(long, default_value_t = 2)]
    cycles_per_client: usize,
    /// Seconds after which reads and writes stop starting new rounds (at least 3 run) and
    /// throughput clients stop starting new operations: keeps slow scales bounded.
    #[arg(long, default_value_t = 120)]
    phase_seconds: u64,
    /// Passed to `veranda serve`; long by default so background fetches do not add noise.
    #[arg(long, default_value_t = 600)]
    sync_interval_seconds: u64,
    /// Keep the generated repositories and the server data under OUT/work.
    #[arg(long)]
    keep: bool,
    /// Also compare list and write latency with authorization against without: this many
    /// RoleBindings of other users, then rounds alternating the admin (`system:masters`, no
    /// rule evaluated) and a user granted editor and approver by binding (0: skip).
    #[arg(long, default_value_t = 0)]
    authz_bindings: usize,
    /// The server's store: `sqlite` (embedded) or `postgres` (a PostgreSQL the benchmark
    /// starts on 127.0.0.1 with `initdb`/`pg_ctl`, one fresh database per scale).
    #[arg(long, value_enum, default_value_t = StoreKind::Sqlite)]
    store: StoreKind,
    /// Servers on the one store during the throughput runs, clients spread over them
    /// round-robin (more than 1 needs `--store postgres`). On this machine they share its cores.
    #[arg(long, default_value_t = 1)]
    replicas: usize,
}

/// Which store the server under test uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum StoreKind {
    Sqlite,
    Postgres,
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("veranda-bench: failed to {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(mut cli: Cli) -> Result<()> {
    if cli.smoke {
        cli.scales = vec![10];
        cli.packages = 3;
        cli.revisions = 2;
        cli.drafts = 1;
        cli.read_iterations = 3;
        cli.write_iterations = 2;
        cli.cold_starts = 1;
        cli.clients = vec![2];
        cli.cycles_per_client = 1;
    }
    if cli.packages == 0 || cli.revisions == 0 {
        bail!("--packages and --revisions must be at least 1");
    }
    if cli.replicas > 1 && cli.store != StoreKind::Postgres {
        bail!("run replicas: --replicas above 1 needs --store postgres (replicas share a store)");
    }
    let server_binary = match cli.server {
        Some(path) => path,
        None => std::env::current_exe()
            .context("find the current executable")?
            .parent()
            .context("find the directory of the current executable")?
            .join("veranda"),
    };
    if !server_binary.is_file() {
        bail!(
            "find the server binary: {} does not exist; build it with `cargo build --release -p veranda-cli` or pass --server",
            server_binary.display()
        );
    }
    std::fs::create_dir_all(&cli.out).with_context(|| format!("create {}", cli.out.display()))?;
    let out_dir = std::fs::canonicalize(&cli.out)
        .with_context(|| format!("resolve {}", cli.out.display()))?;
    let postgres = match cli.store {
        StoreKind::Sqlite => None,
        StoreKind::Postgres => Some(std::sync::Arc::new(
            veranda_pgtest::Postgres::start()
                .map_err(|e| anyhow::anyhow!("start PostgreSQL for the store: {e}"))?,
        )),
    };
    let opts = Options {
        server_binary,
        postgres,
        samples: fixture::load_samples(&cli.testdata.unwrap_or_else(default_testdata))?,
        shape: Shape { packages: cli.packages, revisions: cli.revisions, drafts: cli.drafts },
        layout: cli.layout,
        remote: cli.remote,
        read_iterations: cli.read_iterations,
        write_iterations: cli.write_iterations,
        cold_starts: cli.cold_starts,
        clients: cli.clients,
        cycles_per_client: cli.cycles_per_client,
        phase_budget: std::time::Duration::from_secs(cli.phase_seconds),
        sync_interval_seconds: cli.sync_interval_seconds,
        out_dir: out_dir.clone(),
        keep: cli.keep,
        authz_bindings: cli.authz_bindings,
        replicas: cli.replicas.max(1),
    };

    let remote = match opts.remote {
        Remote::File => "",
        Remote::Http => "; remotes over smart HTTP",
    };
    let note = match opts.layout {
        Layout::Spread => format!(
            "{} revisions per repository ({} packages x {} published + placeholder, {} drafts); {} cores",
            opts.shape.revisions_per_repo(),
            opts.shape.packages,
            opts.shape.revisions,
            opts.shape.drafts,
            cores()
        ),
        Layout::Single => format!("all revisions in one repository; {} cores", cores()),
    } + remote
        + if opts.postgres.is_some() { "; store: PostgreSQL" } else { "" }
        + &if opts.replicas > 1 {
            format!("; throughput over {} replicas", opts.replicas)
        } else {
            String::new()
        };
    let mut results = Vec::new();
    for &scale in &cli.scales {
        let result = scenario::run(&opts, scale).with_context(|| format!("run scale {scale}"))?;
        results.push(result);
        // Written after every scale, so a long run that fails late still leaves its figures.
        report::write_csv(&results, &out_dir.join("results.csv"))?;
        report::write_svg(&results, &note, &out_dir.join("latency.svg"))?;
    }
    let table = report::table(&results);
    let targets = report::targets(&results);
    std::fs::write(out_dir.join("targets.md"), &targets).context("write targets.md")?;
    std::fs::write(out_dir.join("table.txt"), &table).context("write table.txt")?;
    println!("{table}\n{targets}");
    println!(
        "wrote {0}/results.csv, {0}/latency.svg, {0}/targets.md, {0}/table.txt",
        out_dir.display()
    );
    Ok(())
}

/// The kpt sample packages of the shared test data, found relative to the repository root
/// (`crates/bench/../../../shared`) unless `VERANDA_SHARED` names the shared directory.
fn default_testdata() -> PathBuf {
    let shared = match std::env::var_os("VERANDA_SHARED") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared"),
    };
    shared.join("testdata/packages")
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from)
}
