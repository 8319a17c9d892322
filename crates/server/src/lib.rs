//! The HTTP face of veranda: a Kubernetes-style API server (discovery, OpenAPI, REST, watch,
//! Table output, bearer-token authentication) in front of the engine.

mod app;
mod audit;
mod auth;
mod authz;
mod codec;
mod datadir;
mod error;
mod handlers;
mod listbody;
mod middleware;
mod pagination;
mod replica_identity;
mod request;
mod routing;
mod select;
mod tls;
mod users;
mod watch;

use std::{net::SocketAddr, path::PathBuf, sync::Arc, time::Duration};

use veranda_engine::{Engine, EngineConfig};

pub use audit::AuditConfig;
pub use tls::TlsConfig;
pub use users::add_user;
pub use veranda_engine::RemotePolicy;
pub use veranda_repo::{UrlRewrite, UrlRewrites};

/// Settings of `veranda serve`.
#[derive(Clone, Debug)]
pub struct ServeConfig {
    pub data_dir: PathBuf,
    pub listen: SocketAddr,
    pub sync_interval: Duration,
    /// Time limit of one network Git operation (see `veranda_repo::NetworkTimeouts`).
    pub git_timeout: Duration,
    /// Repositories syncing at once, at most.
    pub max_concurrent_syncs: usize,
    /// KRM function images served by local executables (image name without tag → path).
    pub exec_functions: std::collections::BTreeMap<String, PathBuf>,
    /// A function runner (`http://HOST:PORT`) tried after built-ins and `exec_functions`.
    pub function_runner: Option<String>,
    /// Time limit of one exec function or function-runner call.
    pub function_timeout: Duration,
    /// The environment functions see (nothing else of the server's).
    pub function_env: Vec<(String, String)>,
    /// Address-space limit of an exec function, in bytes.
    pub function_memory: Option<u64>,
    /// The server's binary, to run starlark in a child process (see `EngineConfig`).
    pub builtin_child: Option<PathBuf>,
    /// Which remotes requests may make the server touch.
    pub remotes: veranda_engine::RemotePolicy,
    /// Where remotes are reached (`--git-url-rewrite`); the remote policy judges the URL given.
    pub git_url_rewrites: UrlRewrites,
    /// The audit log, if any.
    pub audit: Option<AuditConfig>,
    /// The serving certificate: generated (with extra names) or the operator's.
    pub tls: TlsConfig,
    /// Separation of duties in every repository (see `veranda_engine::review`).
    pub require_review: bool,
    /// Where the store is: SQLite in the data directory, or a PostgreSQL database.
    pub store: StoreLocation,
    /// The key Secrets are sealed with, instead of the data directory's `secrets.key` (one
    /// file given to every server on a shared store).
    pub secret_key_file: Option<PathBuf>,
}

/// Where the store of `veranda serve` is (`--store`).
#[derive(Clone, Default, PartialEq, Eq)]
pub enum StoreLocation {
    /// SQLite, `veranda.db` in the data directory.
    #[default]
    Embedded,
    /// A PostgreSQL database, by its connection URL (which may hold a password: never shown),
    /// and the CA its certificate is verified against (else the system's trust store).
    Postgres { url: String, ca_file: Option<PathBuf> },
}

impl StoreLocation {
    /// The same store, verifying the database's certificate against `ca_file` (PostgreSQL
    /// only; an error for the embedded store, which has no server).
    pub fn with_ca_file(self, ca_file: Option<PathBuf>) -> Result<StoreLocation, String> {
        match (self, ca_file) {
            (store, None) => Ok(store),
            (StoreLocation::Postgres { url, .. }, ca_file) => {
                Ok(StoreLocation::Postgres { url, ca_file })
            }
            (StoreLocation::Embedded, Some(_)) => {
                Err("--store-ca-file needs a PostgreSQL --store".to_string())
            }
        }
    }
}

impl std::str::FromStr for StoreLocation {
    type Err = String;

    fn from_str(s: &str) -> Result<StoreLocation, String> {
        match s {
            "" | "sqlite" | "embedded" => Ok(StoreLocation::Embedded),
            url if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
                Ok(StoreLocation::Postgres { url: url.to_string(), ca_file: None })
            }
            _ => Err(
                "the store is `sqlite` (the default) or a `postgres://USER@HOST:PORT/DATABASE` URL"
                    .to_string(),
            ),
        }
    }
}

impl std::fmt::Debug for StoreLocation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StoreLocation::Embedded => f.write_str("sqlite"),
            StoreLocation::Postgres { url, .. } => f.write_str(&veranda_store_pg::describe(url)),
        }
    }
}

/// Errors that stop the server.
#[derive(Debug)]
pub enum ServeError {
    Engine(veranda_engine::Error),
    Io(&'static str, std::io::Error),
    Tls(String),
    DataDir(datadir::DataDirError),
}

impl std::fmt::Display for ServeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ServeError::Engine(e) => write!(f, "start engine: {e}"),
            ServeError::Io(what, e) => write!(f, "{what}: {e}"),
            ServeError::Tls(e) => f.write_str(e),
            ServeError::DataDir(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for ServeError {}

/// The production backends of an engine with its data in `data_dir`: Git repositories (reached
/// through `url_rewrites`) and the store: SQLite `veranda.db` or PostgreSQL. Blocks (connects
/// and migrates): call it off the async threads.
pub fn backends(
    data_dir: &std::path::Path,
    url_rewrites: UrlRewrites,
    store: &StoreLocation,
) -> Result<veranda_engine::Backends, veranda_engine::Error> {
    std::fs::create_dir_all(data_dir)
        .map_err(|e| veranda_engine::Error::Internal(format!("create data directory: {e}")))?;
    let store: Arc<dyn veranda_storage::Store> = match store {
        StoreLocation::Embedded => Arc::new(
            veranda_store::Store::open(&data_dir.join("veranda.db"))
                .map_err(|e| veranda_engine::Error::Internal(e.to_string()))?,
        ),
        StoreLocation::Postgres { url, ca_file } => {
            let fail = |e: veranda_store_pg::Error| {
                veranda_engine::Error::Unavailable(format!(
                    "open the store at {}: {e}",
                    veranda_store_pg::describe(url)
                ))
            };
            let store =
                veranda_store_pg::Store::open_with_ca(url, ca_file.as_deref()).map_err(fail)?;
            // Any number of servers share one database (docs/SCALE-OUT.md).
            Arc::new(store)
        }
    };
    Ok(veranda_engine::Backends {
        repositories: Arc::new(veranda_repo::GitBackend::with_url_rewrites(url_rewrites)),
        store,
    })
}

/// Runs the server until SIGTERM or Ctrl-C.
pub async fn serve(config: ServeConfig) -> Result<(), ServeError> {
    let data = datadir::prepare(&config.data_dir).map_err(ServeError::DataDir)?;
    let data_dir = data.path().to_path_buf();
    // What a user left open before this start is worth a warning; what the store and the
    // engine create below is tightened after them.
    data.tighten(false).map_err(ServeError::DataDir)?;
    for rule in config.git_url_rewrites.rules() {
        tracing::info!(from = %rule.from, to = %rule.to, "rewriting git remote URLs");
    }
    tracing::info!(store = ?config.store, "opening the store");
    let (dir, rewrites, store) =
        (data_dir.clone(), config.git_url_rewrites.clone(), config.store.clone());
    let backends = tokio::task::spawn_blocking(move || backends(&dir, rewrites, &store))
        .await
        .map_err(|e| ServeError::Engine(veranda_engine::Error::Internal(e.to_string())))?
        .map_err(ServeError::Engine)?;
    veranda_repo::set_network_timeouts(veranda_repo::NetworkTimeouts::from_total(
        config.git_timeout,
    ));
    let secret_keys =
        data.secret_keys_from(config.secret_key_file.as_deref()).map_err(ServeError::DataDir)?;
    let engine = Engine::open(
        EngineConfig {
            data_dir: data_dir.clone(),
            sync_interval: config.sync_interval,
            exec_functions: config.exec_functions.clone(),
            function_runner: config.function_runner.clone(),
            function_timeout: config.function_timeout,
            function_env: config.function_env.clone(),
            function_memory: config.function_memory,
            builtin_child: config.builtin_child.clone(),
            max_concurrent_syncs: config.max_concurrent_syncs,
            secret_keys: Some(secret_keys),
            remotes: config.remotes.clone(),
            require_review: config.require_review,
        },
        backends,
    )
    .await
    .map_err(ServeError::Engine)?;
    data.tighten(true).map_err(ServeError::DataDir)?;
    replica_identity::adopt(&engine, &data_dir).await.map_err(ServeError::Tls)?;
    let (tokens, admin_token) =
        auth::Tokens::load_or_create(&data_dir).map_err(|e| ServeError::Io("load tokens", e))?;
    let audit = match config.audit.clone() {
        Some(audit) => {
            tracing::info!(path = %audit.path.display(), "writing the audit log");
            let log = audit::AuditLog::open(audit);
            Some(log.map_err(|e| ServeError::Io("open the audit log", e))?)
        }
        None => None,
    };
    let tokens = auth::TokenFile::watching(&data_dir, tokens);
    let state = Arc::new(app::AppState {
        engine: engine.clone(),
        tokens,
        lockout: Default::default(),
        audit,
    });
    // Tokens added to or removed from the file take effect without a restart.
    let watched = state.clone();
    tokio::spawn(async move {
        let mut every = tokio::time::interval(auth::RELOAD_INTERVAL);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            every.tick().await;
            let state = watched.clone();
            let _ = tokio::task::spawn_blocking(move || state.tokens.reload_if_changed()).await;
        }
    });
    let app = app::app(state);
    let identity = tls::ensure_identity(&data_dir, config.listen.ip(), &config.tls)
        .map_err(ServeError::Tls)?;
    let acceptor = tls::acceptor(&identity.cert_pem, &identity.key_pem, &identity.ca_pem)
        .map_err(ServeError::Tls)?;
    let tls_config = axum_server::tls_openssl::OpenSSLConfig::from_acceptor(Arc::new(acceptor));
    // An operator's files are looked at every minute, a generated certificate every hour.
    let every = match config.tls.cert_files {
        Some(_) => Duration::from_secs(60),
        None => Duration::from_secs(3600),
    };
    tokio::spawn(tls::keep_fresh(
        data_dir.clone(),
        config.listen.ip(),
        config.tls.clone(),
        tls_config.clone(),
        every,
    ));
    let listener = std::net::TcpListener::bind(config.listen)
        .map_err(|e| ServeError::Io("bind listen address", e))?;
    let addr = listener.local_addr().map_err(|e| ServeError::Io("read listen address", e))?;
    if !engine.wait_ready(Duration::from_secs(60)).await {
        tracing::warn!("some repositories are still being indexed; serving anyway");
    }
    let handle = axum_server::Handle::new();
    let server = axum_server::from_tcp(listener)
        .map_err(|e| ServeError::Io("listen", e))?
        .acceptor(tls::ClientCerts(
            axum_server::tls_openssl::OpenSSLAcceptor::new(tls_config)
                // Without TCP_NODELAY small responses wait ~40 ms for delayed ACKs.
                .acceptor(axum_server::accept::NoDelayAcceptor::new()),
        ))
        .handle(handle.clone());
    let host = match addr.ip() {
        ip if ip.is_unspecified() => "127.0.0.1".to_string(),
        std::net::IpAddr::V6(ip) => format!("[{ip}]"),
        ip => ip.to_string(),
    };
    // An operator's certificate is trusted the way its clients already trust it.
    let ca = (!identity.operator_cert).then_some(identity.ca_pem.as_slice());
    let kubeconfig = auth::write_kubeconfig(
        &data_dir,
        &format!("https://{host}:{}", addr.port()),
        ca,
        &auth::Credential::Token(&admin_token),
    )
    .map_err(|e| ServeError::Io("write kubeconfig", e))?;
    tracing::info!(%addr, kubeconfig = %kubeconfig.display(), "veranda is serving");
    tokio::spawn(async move {
        shutdown_signal().await;
        tracing::info!("shutting down");
        handle.graceful_shutdown(Some(Duration::from_secs(5)));
    });
    server
        .serve(app.into_make_service_with_connect_info::<SocketAddr>())
        .await
        .map_err(|e| ServeError::Io("serve", e))?;
    tracing::info!("shut down");
    drop(data);
    Ok(())
}

/// Completes on SIGTERM or Ctrl-C.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}

/// `veranda store copy`: copies the embedded store of the data directory `data_dir` (whose
/// server must be stopped) into the empty PostgreSQL store `to`; a summary of what was copied.
pub fn copy_store(data_dir: &std::path::Path, to: &StoreLocation) -> Result<String, String> {
    let StoreLocation::Postgres { url, ca_file } = to else {
        return Err("--to must be a PostgreSQL URL".to_string());
    };
    let file = data_dir.join("veranda.db");
    if !file.is_file() {
        return Err(format!("no embedded store at {} (wrong --data-dir?)", file.display()));
    }
    // The data directory's lock: the server using it must be stopped.
    let _data = datadir::prepare(data_dir).map_err(|e| e.to_string())?;
    let from = veranda_store::Store::open(&file).map_err(|e| e.to_string())?;
    let where_to = veranda_store_pg::describe(url);
    let fail = |e: veranda_store_pg::Error| format!("{where_to}: {e}");
    let target = veranda_store_pg::Store::open_with_ca(url, ca_file.as_deref()).map_err(fail)?;
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    let who = format!("veranda store copy, pid {} on {}", std::process::id(), host.trim());
    target.claim(&who, Duration::from_secs(2)).map_err(fail)?;
    let copied = veranda_storage::copy::copy(&from, &target)
        .map_err(|e| format!("copy into {where_to}: {e}"))?;
    let objects: Vec<String> =
        copied.objects.iter().map(|(table, n)| format!("{n} {table:?}")).collect();
    Ok(format!(
        "copied {} revision rows and {} into {where_to}\n",
        copied.revisions,
        objects.join(", ")
    ))
}
