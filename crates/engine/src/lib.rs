//! The configuration-as-data engine: package revision lifecycle, tasks, validation, concurrency,
//! and the in-memory index that serves reads.
//!
//! Data flow: Git (through `veranda-repo`) holds every package revision's content and lifecycle;
//! the store (`veranda-store`) holds metadata Git cannot hold and the resourceVersion counter.
//! The index here is derived from both. Every write follows one path: take the locks, do the Git
//! work, then `reconcile` the repository, which re-lists Git, diffs against the index, writes the
//! store in one transaction and publishes the ADDED/MODIFIED/DELETED events. External changes
//! to Git (seen by the periodic sync) travel the same path, so events are never special-cased.

mod backends;
mod build;
mod context;
mod cron;
mod error;
mod follow;
mod gc;
mod links;
pub mod metrics;
mod packages;
mod rbac;
mod reconcile;
mod remotes;
mod render;
mod repositories;
pub mod requester;
mod revisions;
mod schedule;
mod secrets;
pub mod time;
mod upstream_cache;
mod watch;

use std::{
    collections::{BTreeMap, HashSet},
    path::PathBuf,
    sync::{Arc, Mutex, RwLock},
    time::Duration,
};

use veranda_api::types::{PackageRevision, Repository};
use veranda_storage::Discovered;

use crate::backends::{Db, Repo};

pub use backends::Backends;
pub use error::{Error, Kind};
pub use rbac::{Key as RbacKey, RbacObject, RbacState};
pub use remotes::RemotePolicy;
pub use revisions::{RevisionFilter, review};
pub use secrets::SecretKeys;
pub use watch::{Event, EventType, Subscription, Topic, WatchError};

/// Settings of an engine.
#[derive(Clone, Debug)]
pub struct EngineConfig {
    /// Root of the server's data: the store file and the Git caches live below it.
    pub data_dir: PathBuf,
    /// How often every repository is fetched and re-indexed.
    pub sync_interval: Duration,
    /// KRM functions mapped to local executables (image name without tag → path), tried after
    /// the built-in functions.
    pub exec_functions: BTreeMap<String, PathBuf>,
    /// A function runner (`http://HOST:PORT`, Porch's gRPC protocol) for the images neither
    /// built in nor in `exec_functions`.
    pub function_runner: Option<String>,
    /// How long one exec function, or one call to the function runner, may take.
    pub function_timeout: Duration,
    /// The whole environment of exec functions (nothing of the server's is inherited).
    pub function_env: Vec<(String, String)>,
    /// Address-space limit of an exec function, in bytes (`None`: no limit).
    pub function_memory: Option<u64>,
    /// The server's own binary, to run the built-ins that can exhaust memory in one step
    /// (starlark) in a child process under the exec limits; `None` runs them in process.
    pub builtin_child: Option<PathBuf>,
    /// How many repositories may sync (fetch and re-index) at once.
    pub max_concurrent_syncs: usize,
    /// The keys Secrets are sealed with at rest; `None`: an ephemeral key (tests only: Secrets
    /// do not survive a restart).
    pub secret_keys: Option<SecretKeys>,
    /// Which remotes requests may make the server touch (local paths for admins only, any
    /// network host, by default).
    pub remotes: RemotePolicy,
    /// Separation of duties everywhere (see [`review`]); without it, only in Repositories
    /// annotated [`review::REQUIRE_REVIEW`].
    pub require_review: bool,
}

impl EngineConfig {
    /// Data under `data_dir`, a sync every 30 s, built-in functions only (in process), exec
    /// limits at their defaults.
    pub fn new(data_dir: impl Into<PathBuf>) -> EngineConfig {
        let limits = veranda_fn::Limits::default();
        EngineConfig {
            data_dir: data_dir.into(),
            sync_interval: Duration::from_secs(30),
            exec_functions: BTreeMap::new(),
            function_runner: None,
            function_timeout: limits.timeout,
            function_env: Vec::new(),
            function_memory: limits.max_memory,
            builtin_child: None,
            max_concurrent_syncs: 10,
            secret_keys: None,
            remotes: RemotePolicy::default(),
            require_review: false,
        }
    }
}

impl Engine {
    /// The in-process gate of one upstream cache directory; gates nobody waits for are dropped.
    fn upstream_gate(&self, cache: &std::path::Path) -> Arc<tokio::sync::Mutex<()>> {
        let mut gates = self.upstream_locks.lock().unwrap_or_else(|e| e.into_inner());
        gates.retain(|_, gate| Arc::strong_count(gate) > 1);
        gates.entry(cache.to_path_buf()).or_default().clone()
    }
}

/// The engine. Cheap to share (`Arc<Engine>`).
pub struct Engine {
    // The engine itself, for background work a request starts (`index_after_write`).
    me: std::sync::Weak<Engine>,
    store: Db,
    // Secrets, sealed in the store.
    vault: Arc<secrets::Vault>,
    // Opens registered repositories.
    backend: Arc<dyn veranda_storage::Backend>,
    config: EngineConfig,
    state: RwLock<State>,
    hub: Arc<watch::Hub>,
    // Names of objects with a mutating request in flight (try-locks, Porch's 409 semantics).
    busy: Mutex<HashSet<LockKey>>,
    // Built-in functions, then the configured executables, then the function runner.
    functions: veranda_fn::MultiRuntime,
    // Bounds the repositories syncing at once (`max_concurrent_syncs`).
    syncs: Arc<tokio::sync::Semaphore>,
    // One clone from an upstream URL at a time, waited for without holding a thread.
    upstream_locks: Mutex<std::collections::HashMap<PathBuf, Arc<tokio::sync::Mutex<()>>>>,
    // Roles and bindings, and the index authorization reads (`rbac`).
    rbac: RwLock<rbac::RbacState>,
    // One RBAC write at a time, so the store and `rbac` change together.
    rbac_write: tokio::sync::Mutex<()>,
    // How far into a shared store's change feed this server has applied (`follow`).
    followed: tokio::sync::watch::Sender<i64>,
}

#[derive(Default)]
struct State {
    repos: BTreeMap<RepoKey, RepoEntry>,
    // Deleted repositories whose cleanup (revision rows, cache) waits for work in flight; a
    // registration under the same name waits for the gate.
    retiring: BTreeMap<RepoKey, Arc<tokio::sync::Mutex<()>>>,
    // Repositories this server is registering: stored already, not in `repos` yet. The feed
    // follower leaves their rows to the registration.
    registering: std::collections::BTreeSet<RepoKey>,
}

/// (namespace, repository name).
type RepoKey = (String, String);

struct RepoEntry {
    object: Repository,
    repo: Option<Repo>,
    // Invariant: keyed by the package revision's object name.
    revisions: Arc<BTreeMap<String, Arc<Rev>>>,
    // What the revisions point at, kept with `revisions` (see `links`).
    links: links::Links,
    // Serialises Git writes and reconciles of this repository.
    write: Arc<tokio::sync::Mutex<()>>,
    // Held by the one sync of this repository in flight, network part included.
    syncing: Arc<tokio::sync::Mutex<()>>,
    // When it synced and syncs next (`schedule`).
    sync: schedule::SyncState,
    // Whether `revisions` reflect Git at least once since start-up.
    loaded: bool,
    // Metadata of acknowledged writes whose indexing failed; the next reconcile stores it.
    pending: BTreeMap<String, veranda_api::ObjectMeta>,
    // The last reconcile failed, so `revisions` may be behind Git: no write may act on them
    // until a reconcile succeeds (`Engine::ensure_indexed`).
    behind: bool,
    // Two git refs of the last pass mapped to one object name (packages `a.b` and `a/b`): only
    // full passes see every claimant, so incremental ones are off until the clash is gone.
    contested: bool,
    // On a shared store: this server's lease on syncing the repository from its remote (one
    // server at a time does; the others follow its rows). `None`: another server holds it.
    lease: Option<veranda_storage::SharedLock>,
}

impl RepoEntry {
    /// A registered repository not opened or indexed yet.
    fn new(object: Repository, sync: schedule::SyncState) -> RepoEntry {
        RepoEntry {
            object,
            repo: None,
            revisions: Arc::default(),
            links: links::Links::default(),
            write: Arc::new(tokio::sync::Mutex::new(())),
            syncing: Arc::default(),
            sync,
            loaded: false,
            pending: Default::default(),
            behind: false,
            contested: false,
            lease: None,
        }
    }
}

/// One indexed package revision.
#[derive(Debug)]
pub(crate) struct Rev {
    pub(crate) discovered: Arc<Discovered>,
    pub(crate) meta: veranda_api::ObjectMeta,
    pub(crate) kptfile: veranda_kpt::KptfileInfo,
    pub(crate) latest: bool,
    /// What reconcile compares to decide whether the revision changed (see `reconcile`).
    pub(crate) fingerprint: String,
    // The object as served, built once per change, and its JSON (lists and events share it).
    pub(crate) object: Arc<PackageRevision>,
    pub(crate) json: Arc<str>,
}

impl Engine {
    /// Starts an engine on `backends`, with the Git caches below `config.data_dir`, and starts
    /// indexing every registered repository.
    pub async fn open(config: EngineConfig, backends: Backends) -> Result<Arc<Engine>, Error> {
        std::fs::create_dir_all(config.data_dir.join("git"))
            .map_err(|e| Error::Internal(format!("create data directory: {e}")))?;
        let keys = config.secret_keys.clone().unwrap_or_else(SecretKeys::ephemeral);
        let vault = Arc::new(secrets::Vault::new(backends.store.clone(), keys));
        let store = Db::new(backends.store);
        let current = store.current_resource_version()?;
        // Other servers write this store too: events are handed out in feed order.
        let ordered = store.blocking().shared();
        let limits = veranda_fn::Limits {
            timeout: config.function_timeout,
            max_memory: config.function_memory,
            ..Default::default()
        };
        let builtins: Arc<dyn veranda_fn::FunctionRuntime> = match &config.builtin_child {
            Some(program) => Arc::new(veranda_fn::IsolatedBuiltins::new(
                program.clone(),
                limits,
                config.function_env.clone(),
            )),
            None => Arc::new(veranda_fn::BuiltinRuntime),
        };
        let mut runtimes: Vec<Arc<dyn veranda_fn::FunctionRuntime>> = vec![
            builtins,
            Arc::new(veranda_fn::ExecRuntime {
                images: config.exec_functions.clone(),
                limits,
                env: config.function_env.clone(),
                ..Default::default()
            }),
        ];
        if let Some(url) = &config.function_runner {
            let grpc = veranda_fn::GrpcConfig {
                timeout: config.function_timeout,
                ..veranda_fn::GrpcConfig::new(url.clone())
            };
            let grpc = veranda_fn::GrpcRuntime::new(grpc)
                .map_err(|e| Error::BadRequest(format!("configure function runner: {e}")))?;
            runtimes.push(Arc::new(grpc));
        }
        let functions = veranda_fn::MultiRuntime { runtimes };
        let max_syncs = config.max_concurrent_syncs.max(1);
        let engine = Arc::new_cyclic(|me| Engine {
            me: me.clone(),
            functions,
            store,
            vault,
            backend: backends.repositories,
            config,
            state: RwLock::new(State::default()),
            hub: Arc::new(watch::Hub::new(current, ordered)),
            busy: Mutex::new(HashSet::new()),
            syncs: Arc::new(tokio::sync::Semaphore::new(max_syncs)),
            upstream_locks: Mutex::default(),
            rbac: RwLock::default(),
            rbac_write: tokio::sync::Mutex::new(()),
            followed: tokio::sync::watch::Sender::new(0),
        });
        let vault = engine.vault.clone();
        let resealed = blocking(move || vault.reseal_previous()).await?;
        if resealed > 0 {
            tracing::info!(count = resealed, "secrets re-sealed with the current key");
        }
        // The feed's position before anything is loaded: what is written meanwhile is followed.
        let store = engine.store.clone();
        let position = blocking(move || {
            store.blocking().feed_position().map_err(crate::backends::store_error)
        })
        .await?;
        engine.load_rbac().await?;
        engine.load_repositories().await?;
        engine.follow(position);
        Ok(engine)
    }

    /// Waits until every repository has been indexed once (or failed), at most `timeout`.
    pub async fn wait_ready(&self, timeout: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let pending = {
                let state = self.read();
                state.repos.values().any(|r| {
                    r.object.status.conditions.first().is_none_or(|c| c.reason == "Reconciling")
                })
            };
            if !pending {
                return true;
            }
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The last resourceVersion handed out.
    pub fn current_resource_version(&self) -> Result<i64, Error> {
        self.store.current_resource_version()
    }

    /// Where a watch that has received every event stands: the store's last resourceVersion,
    /// or on a shared store the last one whose events this server has handed out (a later
    /// one may still have an event on its way, and a watch resumed from it would miss it).
    pub fn watch_position(&self) -> Result<i64, Error> {
        match self.hub.position() {
            Some(position) => Ok(position),
            None => self.current_resource_version(),
        }
    }

    /// Starts a watch on all events after `since` (None: only new events).
    pub fn subscribe(&self, since: Option<i64>) -> Result<Subscription, WatchError> {
        self.hub.subscribe(since)
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, State> {
        self.state.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, State> {
        self.state.write().unwrap_or_else(|e| e.into_inner())
    }

    /// Takes a try-lock on `key`; a second request gets 409 with `message`.
    async fn try_lock(
        &self,
        key: LockKey,
        message: impl FnOnce() -> String,
    ) -> Result<BusyGuard<'_>, Error> {
        {
            let mut busy = self.busy.lock().unwrap_or_else(|e| e.into_inner());
            if !busy.insert(key.clone()) {
                return Err(Error::Conflict(message()));
            }
        }
        let mut guard = BusyGuard { engine: self, key, _shared: None };
        // Then across every server on a shared store (dropping `guard` frees the local one).
        if self.store.blocking().shared() {
            match self.store.try_lock(guard.key.shared_name()).await? {
                Some(lock) => guard._shared = Some(lock),
                None => return Err(Error::Conflict(message())),
            }
        }
        Ok(guard)
    }

    /// [`Engine::try_lock`] on one package revision, with the message every verb on it gives.
    async fn lock_revision(&self, namespace: &str, name: &str) -> Result<BusyGuard<'_>, Error> {
        self.try_lock(LockKey::revision(namespace, name), || {
            format!(
                "another request is already in progress on package revision \"{namespace}/{name}\""
            )
        })
        .await
    }
}

/// What one request at a time may work on; a second request on the same key gets a 409.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum LockKey {
    /// One package revision (namespace, name): updates, approvals, resources, deletion.
    Revision(String, String),
    /// The creation of a package in a repository (namespace, repository, package), whether
    /// through a first revision or a PorchPackage.
    Creation(String, String, String),
    /// One Repository (namespace, name).
    Repository(String, String),
    /// One Secret (namespace, name).
    Secret(String, String),
}

impl LockKey {
    /// The key's name for [`veranda_storage::Store::try_lock`], the same in every server.
    fn shared_name(&self) -> String {
        match self {
            LockKey::Revision(ns, name) => format!("revision/{ns}/{name}"),
            LockKey::Creation(ns, repo, package) => format!("creation/{ns}/{repo}/{package}"),
            LockKey::Repository(ns, name) => format!("repository/{ns}/{name}"),
            LockKey::Secret(ns, name) => format!("secret/{ns}/{name}"),
        }
    }

    fn revision(namespace: &str, name: &str) -> LockKey {
        LockKey::Revision(namespace.to_owned(), name.to_owned())
    }

    fn creation(namespace: &str, repository: &str, package: &str) -> LockKey {
        LockKey::Creation(namespace.to_owned(), repository.to_owned(), package.to_owned())
    }

    fn repository(namespace: &str, name: &str) -> LockKey {
        LockKey::Repository(namespace.to_owned(), name.to_owned())
    }

    fn secret(namespace: &str, name: &str) -> LockKey {
        LockKey::Secret(namespace.to_owned(), name.to_owned())
    }
}

/// Releases a try-lock on drop.
struct BusyGuard<'a> {
    engine: &'a Engine,
    key: LockKey,
    // The same lock on a shared store, released when the guard drops.
    _shared: Option<veranda_storage::SharedLock>,
}

impl Drop for BusyGuard<'_> {
    fn drop(&mut self) {
        let mut busy = self.engine.busy.lock().unwrap_or_else(|e| e.into_inner());
        busy.remove(&self.key);
    }
}

/// Runs blocking work (renders, merges) off the async reactor.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, Error> + Send + 'static,
) -> Result<T, Error> {
    tokio::task::spawn_blocking(f).await?
}
