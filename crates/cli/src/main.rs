//! The `veranda` binary: `veranda serve` runs the package orchestration server, `veranda
//! fn-runner` a function runner speaking Porch's gRPC protocol, `veranda repo|rpkg` porchctl's
//! commands (the binary answers as `porchctl` under that name).

mod kube;
mod memory;
mod porchctl;

use std::{
    collections::BTreeMap, net::SocketAddr, path::PathBuf, process::ExitCode, sync::Arc,
    time::Duration,
};

mod local_fn;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use veranda_fn::FunctionRuntime;

#[derive(Parser)]
#[command(
    name = "veranda",
    version,
    about = "Package orchestration server for kpt packages in Git"
)]
struct Cli {
    #[command(flatten)]
    global: porchctl::Global,
    #[command(subcommand)]
    command: Command,
}

// Parsed once per process: the size of the `serve` variant costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand)]
enum Command {
    /// Run the API server.
    Serve {
        /// Where the store, Git caches, tokens and the admin kubeconfig live.
        #[arg(long, default_value = "./veranda-data", env = "VERANDA_DATA_DIR")]
        data_dir: PathBuf,
        /// Address to listen on (port 0 picks a free port; the kubeconfig has the real one).
        #[arg(long, default_value = "127.0.0.1:7007", env = "VERANDA_LISTEN")]
        listen: SocketAddr,
        /// Seconds between fetches of every registered repository.
        #[arg(long, default_value_t = 30)]
        sync_interval_seconds: u64,
        /// Time limit of one Git operation over the network (fetch, push, clone from an
        /// upstream URL); connecting may take a quarter of it and the remote may stay silent
        /// for half of it.
        #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..=3600))]
        git_timeout_seconds: u64,
        /// How many repositories may sync (fetch and re-index) at once.
        #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=1000))]
        max_concurrent_syncs: u64,
        /// Run a KRM function image with a local executable: `IMAGE=PATH` (image without tag,
        /// e.g. `ghcr.io/kptdev/krm-functions-catalog/set-image=/usr/local/bin/set-image`).
        /// Repeatable. Built-in functions are tried first.
        #[arg(long = "exec-function", value_name = "IMAGE=PATH")]
        exec_functions: Vec<String>,
        /// Run the images that are neither built in nor `--exec-function`s on this function
        /// runner (Porch's gRPC protocol, e.g. `http://127.0.0.1:9445`).
        #[arg(long, value_name = "URL")]
        function_runner: Option<String>,
        /// How long one exec function, or one call to the function runner, may take before the
        /// render fails.
        #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=3600))]
        function_timeout_seconds: u64,
        #[command(flatten)]
        sandbox: SandboxArgs,
        #[command(flatten)]
        remotes: RemoteArgs,
        #[command(flatten)]
        audit: AuditArgs,
        #[command(flatten)]
        tls: TlsArgs,
        /// Separation of duties: a revision is published only through Proposed, and not by a
        /// user who created or changed its content (403 otherwise). Without it, only in
        /// Repositories annotated `veranda.dev/require-review: "true"`.
        #[arg(long)]
        require_review: bool,
        /// The store: `sqlite` (embedded, in the data directory) or a PostgreSQL URL,
        /// `postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE[?sslmode=require]` (migrated at
        /// start). Give a URL with a password through the environment, not the command line.
        #[arg(long, env = "VERANDA_STORE", default_value = "sqlite", hide_env_values = true)]
        store: String,
        /// Verify the PostgreSQL store's certificate against the CA certificates in FILE (PEM)
        /// instead of the system's trust store.
        #[arg(long, value_name = "FILE", env = "VERANDA_STORE_CA_FILE")]
        store_ca_file: Option<PathBuf>,
        /// Seal Secrets with the key in FILE (32 random bytes, base64, mode 0600; `FILE.previous`
        /// also opens them during a rotation) instead of the data directory's `secrets.key`.
        /// Give every server on one PostgreSQL store the same file.
        #[arg(long, value_name = "FILE", env = "VERANDA_SECRET_KEY_FILE")]
        secret_key_file: Option<PathBuf>,
    },
    /// porchctl's commands: `repo` and `rpkg`.
    #[command(flatten)]
    Porchctl(porchctl::Top),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completion { shell: clap_complete::Shell },
    /// Move a server's metadata to another store.
    Store {
        #[command(subcommand)]
        command: StoreCommand,
    },
    /// Manage the users of a server.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// Run a function runner: serve KRM functions over Porch's gRPC protocol
    /// (`evaluator.FunctionEvaluator`).
    FnRunner {
        /// Address to listen on (port 0 picks a free port; the real one is printed on stdout as
        /// `listening on HOST:PORT`).
        #[arg(long, default_value = "127.0.0.1:9445")]
        listen: SocketAddr,
        /// Run a KRM function image with a local executable: `IMAGE=PATH`. Repeatable.
        #[arg(long = "exec-function", value_name = "IMAGE=PATH")]
        exec_functions: Vec<String>,
        /// Serve only the `--exec-function`s, not the built-in functions.
        #[arg(long)]
        no_builtins: bool,
        /// How long one exec function may run before it is killed (its whole process group).
        #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=3600))]
        function_timeout_seconds: u64,
        #[command(flatten)]
        sandbox: SandboxArgs,
    },
    /// Run KRM functions on a local package without containers (`kpt fn render`/`eval`).
    Fn {
        #[command(subcommand)]
        command: local_fn::FnCommand,
    },
    /// Run one built-in function on a `ResourceList` from stdin (what the server runs in a
    /// child process for starlark, so that no program can exhaust the server's memory).
    #[command(name = "builtin-function", hide = true)]
    BuiltinFunction {
        /// Environment variables the function may see.
        #[arg(long)]
        allow: Vec<String>,
        /// The function image (e.g. `ghcr.io/kptdev/krm-functions-catalog/starlark:v0.5`).
        image: String,
    },
}

/// Variables passed to functions.
type FunctionEnv = Vec<(String, String)>;

/// What functions may see and use: by default nothing of the server's environment.
/// What a store command does.
#[derive(Subcommand)]
enum StoreCommand {
    /// Copy the embedded SQLite store of a data directory (its server stopped) into an empty
    /// PostgreSQL database: labels, annotations and finalizers of revisions, Repositories,
    /// Secrets (still sealed: start the new server with the same data directory or
    /// `--secret-key-file`), roles and bindings. Then start `veranda serve --store URL`.
    Copy {
        /// The data directory whose `veranda.db` is copied.
        #[arg(long, default_value = "./veranda-data", env = "VERANDA_DATA_DIR")]
        data_dir: PathBuf,
        /// The PostgreSQL URL to copy into (as `serve --store`; give a password through the
        /// environment).
        #[arg(long, env = "VERANDA_STORE", hide_env_values = true)]
        to: String,
        /// Verify the database's certificate against the CA certificates in FILE.
        #[arg(long, value_name = "FILE", env = "VERANDA_STORE_CA_FILE")]
        store_ca_file: Option<PathBuf>,
    },
}

/// What a user command does.
#[derive(Subcommand)]
enum UserCommand {
    /// Print on stdout a kubeconfig for a new user: a client certificate signed by the
    /// server's CA (the common name NAME, the organizations its groups), or with `--token` a
    /// token added to `tokens.csv`. The server may be running: both take effect at once.
    Add {
        /// The user name.
        name: String,
        /// A group of the user (repeatable).
        #[arg(long = "group", value_name = "GROUP")]
        groups: Vec<String>,
        /// The server's data directory.
        #[arg(long, default_value = "./veranda-data", env = "VERANDA_DATA_DIR")]
        data_dir: PathBuf,
        /// A bearer token instead of a client certificate (revoked by removing its line).
        #[arg(long)]
        token: bool,
    },
}

/// The serving certificate.
#[derive(clap::Args)]
struct TlsArgs {
    /// Serve this certificate (PEM, leaf first, then its chain) instead of a generated one;
    /// re-read when it changes. Needs `--tls-private-key-file`.
    #[arg(long, value_name = "FILE", requires = "tls_private_key_file")]
    tls_cert_file: Option<PathBuf>,
    /// The key of `--tls-cert-file` (PEM).
    #[arg(long, value_name = "FILE", requires = "tls_cert_file")]
    tls_private_key_file: Option<PathBuf>,
    /// An extra name (DNS name or IP address) of the generated certificate (repeatable).
    #[arg(long = "tls-san", value_name = "NAME", conflicts_with = "tls_cert_file")]
    tls_sans: Vec<String>,
}

impl TlsArgs {
    fn config(&self) -> veranda_server::TlsConfig {
        veranda_server::TlsConfig {
            cert_files: self.tls_cert_file.clone().zip(self.tls_private_key_file.clone()),
            sans: self.tls_sans.clone(),
        }
    }
}

/// The audit log.
#[derive(clap::Args)]
struct AuditArgs {
    /// Write one JSON line per request (Kubernetes' audit Event at level Metadata: user, verb,
    /// object, code, latency; never bodies or credentials) to PATH.
    #[arg(long = "audit-log", alias = "audit-log-path", value_name = "PATH")]
    audit_log: Option<PathBuf>,
    /// Rotate the audit log when it reaches this many MiB.
    #[arg(long = "audit-log-maxsize", default_value_t = 100, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    audit_log_maxsize: u64,
    /// Rotated audit logs kept (`PATH.1` is the newest).
    #[arg(long = "audit-log-maxbackup", default_value_t = 10)]
    audit_log_maxbackup: usize,
}

impl AuditArgs {
    fn config(&self) -> Option<veranda_server::AuditConfig> {
        self.audit_log.as_ref().map(|path| veranda_server::AuditConfig {
            path: path.clone(),
            max_bytes: self.audit_log_maxsize.saturating_mul(1024 * 1024),
            max_backups: self.audit_log_maxbackup,
        })
    }
}

/// Which Git remotes requests may make the server touch.
#[derive(clap::Args)]
struct RemoteArgs {
    /// Let every user register (and clone from) local repositories under DIR; without it only
    /// cluster administrators (group `system:masters`) may use local paths and `file://` URLs.
    /// Repeatable. DIR must exist.
    #[arg(long = "allow-local-repositories", value_name = "DIR")]
    allow_local_repositories: Vec<PathBuf>,
    /// Restrict network remotes (http, https, ssh) to hosts matching PATTERN (`git.example.com`,
    /// `*.example.com`, `host:PORT` for one port). Repeatable; without it any host is allowed.
    #[arg(long = "allow-remote-hosts", value_name = "PATTERN")]
    allow_remote_hosts: Vec<String>,
    /// Reach a remote whose URL starts with FROM at TO followed by the rest of the URL, like
    /// git's `url.<TO>.insteadOf <FROM>` (FROM ends at a `/` or `:`, or the URL continues with
    /// `/`; the longest FROM wins). Repeatable. Only fetches and pushes use the rewritten URL:
    /// everything shown keeps the URL as given, and the remote rules above judge that URL.
    #[arg(long = "git-url-rewrite", value_name = "FROM=TO")]
    git_url_rewrites: Vec<veranda_server::UrlRewrite>,
}

impl RemoteArgs {
    fn policy(&self) -> anyhow::Result<veranda_server::RemotePolicy> {
        let mut policy = veranda_server::RemotePolicy::default();
        for dir in &self.allow_local_repositories {
            policy = policy.allow_local(dir).map_err(|e| {
                anyhow::anyhow!("--allow-local-repositories {}: {e}", dir.display())
            })?;
        }
        for pattern in &self.allow_remote_hosts {
            policy = policy.allow_remote_host(pattern);
        }
        Ok(policy)
    }

    fn url_rewrites(&self) -> anyhow::Result<veranda_server::UrlRewrites> {
        veranda_server::UrlRewrites::new(self.git_url_rewrites.clone())
            .map_err(|e| anyhow::anyhow!("--git-url-rewrite: {e}"))
    }
}

#[derive(clap::Args)]
struct SandboxArgs {
    /// Pass an environment variable to functions (exec functions and starlark's
    /// `ctx.environment`): `NAME` passes the server's value, `NAME=VALUE` a given one.
    /// Repeatable. Without it functions see an empty environment (exec functions get a
    /// standard `PATH`).
    #[arg(long = "function-env", value_name = "NAME[=VALUE]")]
    function_env: Vec<String>,
    /// Address-space limit of an exec function's process in MiB (0: no limit).
    #[arg(long, default_value_t = 2048)]
    function_memory_mib: u64,
}

impl SandboxArgs {
    /// The allowlisted variables, made visible to starlark, and the memory limit in bytes.
    fn apply(&self) -> anyhow::Result<(FunctionEnv, Option<u64>)> {
        let mut vars = Vec::new();
        for entry in &self.function_env {
            let (name, value) = match entry.split_once('=') {
                Some((name, value)) => (name.to_string(), value.to_string()),
                None => match std::env::var(entry) {
                    Ok(value) => (entry.clone(), value),
                    Err(_) => anyhow::bail!(
                        "parse --function-env {entry:?}: the server has no such environment variable"
                    ),
                },
            };
            if name.is_empty() || name.contains('\0') {
                anyhow::bail!("parse --function-env {entry:?}: expected NAME or NAME=VALUE");
            }
            vars.push((name, value));
        }
        veranda_fn::set_function_environment(vars.clone());
        let memory = (self.function_memory_mib > 0).then_some(self.function_memory_mib << 20);
        Ok((vars, memory))
    }
}

fn main() -> ExitCode {
    if porchctl::invoked_as_porchctl() {
        return porchctl::porchctl_main();
    }
    let cli = Cli::parse();
    let command = match cli.command {
        Command::BuiltinFunction { allow, image } => return builtin_function(&image, &allow),
        Command::Porchctl(top) => return porchctl::run(&cli.global, top),
        Command::Completion { shell } => {
            use clap::CommandFactory as _;
            clap_complete::generate(shell, &mut Cli::command(), "veranda", &mut std::io::stdout());
            return ExitCode::SUCCESS;
        }
        other => other,
    };
    // Before any other thread exists: glibc fixes its arena limit once a ninth arena is made,
    // and `mallopt` is not safe while other threads allocate.
    if matches!(command, Command::Serve { .. }) {
        memory::tune_allocator();
    }
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("VERANDA_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            tracing::error!("failed to start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = match command {
        Command::Serve {
            data_dir,
            listen,
            sync_interval_seconds,
            git_timeout_seconds,
            max_concurrent_syncs,
            exec_functions,
            function_runner,
            function_timeout_seconds,
            sandbox,
            remotes,
            audit,
            tls,
            require_review,
            store,
            store_ca_file,
            secret_key_file,
        } => parse_exec_functions(&exec_functions).and_then(|functions| {
            let (function_env, function_memory) = sandbox.apply()?;
            let git_url_rewrites = remotes.url_rewrites()?;
            let remotes = remotes.policy()?;
            // Parsed here, not by clap: clap's error would print the URL and its password.
            let store = store
                .parse::<veranda_server::StoreLocation>()
                .and_then(|store| store.with_ca_file(store_ca_file))
                .map_err(|e| anyhow::anyhow!("--store: {e}"))?;
            runtime
                .block_on(veranda_server::serve(veranda_server::ServeConfig {
                    data_dir,
                    listen,
                    sync_interval: Duration::from_secs(sync_interval_seconds.max(1)),
                    git_timeout: Duration::from_secs(git_timeout_seconds),
                    max_concurrent_syncs: usize::try_from(max_concurrent_syncs).unwrap_or(10),
                    exec_functions: functions,
                    function_runner,
                    function_timeout: Duration::from_secs(function_timeout_seconds),
                    function_env,
                    function_memory,
                    builtin_child: std::env::current_exe().ok(),
                    remotes,
                    git_url_rewrites,
                    audit: audit.config(),
                    tls: tls.config(),
                    require_review,
                    store,
                    secret_key_file,
                }))
                .map_err(anyhow::Error::from)
        }),
        Command::BuiltinFunction { .. } | Command::Porchctl(_) | Command::Completion { .. } => {
            Ok(())
        }
        Command::Fn { command } => return local_fn::run(command),
        Command::Store { command: StoreCommand::Copy { data_dir, to, store_ca_file } } => to
            .parse::<veranda_server::StoreLocation>()
            .and_then(|to| to.with_ca_file(store_ca_file))
            .and_then(|to| veranda_server::copy_store(&data_dir, &to))
            .map(|summary| print!("{summary}"))
            .map_err(|e| anyhow::anyhow!("store copy: {e}")),
        Command::User { command: UserCommand::Add { name, groups, data_dir, token } } => {
            veranda_server::add_user(&data_dir, &name, &groups, token)
                .map(|kubeconfig| print!("{kubeconfig}"))
                .map_err(anyhow::Error::msg)
        }
        Command::FnRunner {
            listen,
            exec_functions,
            no_builtins,
            function_timeout_seconds,
            sandbox,
        } => {
            let timeout = Duration::from_secs(function_timeout_seconds);
            parse_exec_functions(&exec_functions).and_then(|functions| {
                let (env, max_memory) = sandbox.apply()?;
                let limits = veranda_fn::Limits { timeout, max_memory, ..Default::default() };
                runtime.block_on(fn_runner(listen, functions, no_builtins, limits, env))
            })
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("failed to {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// `veranda builtin-function`: the child side of `veranda_fn::IsolatedBuiltins`.
fn builtin_function(image: &str, allow: &[String]) -> ExitCode {
    use std::io::{Read, Write};
    let mut input = Vec::new();
    if let Err(e) = std::io::stdin().read_to_end(&mut input) {
        eprintln!("read ResourceList: {e}");
        return ExitCode::FAILURE;
    }
    let output = veranda_fn::run_builtin_child(image, allow, &input);
    let written =
        std::io::stdout().write_all(&output.stdout).and_then(|()| std::io::stdout().flush());
    if let Err(e) = written {
        eprintln!("write ResourceList: {e}");
        return ExitCode::FAILURE;
    }
    eprint!("{}", output.stderr);
    ExitCode::from(u8::try_from(output.exit_code).unwrap_or(1))
}

/// `IMAGE=PATH` flags → image → executable.
fn parse_exec_functions(mappings: &[String]) -> anyhow::Result<BTreeMap<String, PathBuf>> {
    let mut functions = BTreeMap::new();
    for mapping in mappings {
        let Some((image, path)) = mapping.split_once('=') else {
            anyhow::bail!("parse --exec-function {mapping:?}: expected IMAGE=PATH");
        };
        functions.insert(image.to_string(), PathBuf::from(path));
    }
    Ok(functions)
}

/// The built-in functions (each in a child process when the program is known), then `exec`.
fn function_runtime(builtins: bool, exec: veranda_fn::ExecRuntime) -> veranda_fn::MultiRuntime {
    let mut runtimes: Vec<Arc<dyn FunctionRuntime>> = Vec::new();
    if builtins {
        match std::env::current_exe() {
            Ok(program) => runtimes.push(Arc::new(veranda_fn::IsolatedBuiltins::new(
                program,
                exec.limits,
                exec.env.clone(),
            ))),
            Err(_) => runtimes.push(Arc::new(veranda_fn::BuiltinRuntime)),
        }
    }
    runtimes.push(Arc::new(exec));
    veranda_fn::MultiRuntime { runtimes }
}

/// Serves the exec functions (and the built-ins) until SIGTERM or Ctrl-C; requests still running
/// then get a few seconds to finish.
async fn fn_runner(
    listen: SocketAddr,
    images: BTreeMap<String, PathBuf>,
    no_builtins: bool,
    limits: veranda_fn::Limits,
    env: Vec<(String, String)>,
) -> anyhow::Result<()> {
    use std::io::Write;

    let exec = veranda_fn::ExecRuntime { images, limits, env, ..Default::default() };
    let runtime = Arc::new(function_runtime(!no_builtins, exec));
    let listener = tokio::net::TcpListener::bind(listen).await.context("bind listen address")?;
    let addr = listener.local_addr().context("read listen address")?;
    tracing::info!(%addr, "function runner listening");
    // Tests and scripts read the real port (with `--listen HOST:0`) from this line.
    let mut stdout = std::io::stdout();
    writeln!(stdout, "listening on {addr}")
        .and_then(|()| stdout.flush())
        .context("print address")?;

    let (stop, mut stopped) = tokio::sync::watch::channel(false);
    let server = veranda_fn::serve_function_runner(listener, runtime, async move {
        let _ = stopped.changed().await;
    });
    tokio::pin!(server);
    tokio::select! {
        result = &mut server => return result.context("serve"),
        () = veranda_server::shutdown_signal() => {}
    }
    tracing::info!("shutting down");
    let _ = stop.send(true);
    match tokio::time::timeout(Duration::from_secs(5), server).await {
        Ok(result) => result.context("serve"),
        Err(_) => {
            tracing::warn!("functions still running after 5s; exiting anyway");
            Ok(())
        }
    }
}
