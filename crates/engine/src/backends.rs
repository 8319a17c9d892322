//! The engine's async face of its backends: every call of a (blocking) storage trait method
//! runs on the blocking pool and is timed, here and nowhere else.
//!
//! Writes are made for the user of the request being served ([`requester::current`]).
//!
//! The one exception is reconcile's planning pass, which lists Git, reads Kptfiles and writes
//! the store in one blocking task (`Repo::blocking`, `Db::blocking`), since hopping to the
//! blocking pool per revision would cost more than the work.

use std::sync::Arc;

use veranda_storage::{
    Backend, Content, Discovered, ErrorKind, FetchedPackage, Files, Modes, NewDraft, ObjectRow,
    ObjectTable, PackageRepository, RepositoryConfig, Store, Upstream,
};

use crate::{Error, metrics, requester};

/// The backends an engine runs on: where package revisions live and where what Git cannot hold
/// is stored.
#[derive(Clone)]
pub struct Backends {
    /// Opens registered repositories (the Git backend in production).
    pub repositories: Arc<dyn Backend>,
    /// Revision metadata, registered objects and the resourceVersion counter.
    pub store: Arc<dyn Store>,
}

/// An open repository.
#[derive(Clone)]
pub(crate) struct Repo(Arc<dyn PackageRepository>);

impl Repo {
    /// Opens the repository `config` describes.
    pub(crate) async fn open(
        backend: &Arc<dyn Backend>,
        config: RepositoryConfig,
    ) -> Result<Repo, Error> {
        let backend = backend.clone();
        let inner = run_git("open", move || backend.open(&config)).await?;
        Ok(Repo(inner))
    }

    /// The repository itself, for work that is already on a blocking thread.
    pub(crate) fn blocking(&self) -> &dyn PackageRepository {
        &*self.0
    }

    pub(crate) fn origin_url(&self) -> String {
        self.0.origin_url()
    }

    async fn run<T: Send + 'static>(
        &self,
        operation: &'static str,
        f: impl FnOnce(&dyn PackageRepository) -> Result<T, veranda_storage::Error> + Send + 'static,
    ) -> Result<T, Error> {
        let repo = self.0.clone();
        run_git(operation, move || f(&*repo)).await
    }

    pub(crate) async fn read_files(
        &self,
        revision: &Arc<Discovered>,
    ) -> Result<(Files, Modes), Error> {
        let revision = revision.clone();
        self.run("read_files", move |r| r.read_files(&revision)).await
    }

    pub(crate) async fn create_draft(
        &self,
        draft: NewDraft,
        content: Content,
    ) -> Result<(), Error> {
        let by = requester::author();
        self.run("create_draft", move |r| r.create_draft(&draft, &content, by.as_ref())).await
    }

    pub(crate) async fn discard_draft(&self, draft: NewDraft) -> Result<(), Error> {
        self.run("discard_draft", move |r| r.discard_draft(&draft)).await
    }

    pub(crate) async fn commit_draft(
        &self,
        revision: &Arc<Discovered>,
        content: Content,
    ) -> Result<Arc<Discovered>, Error> {
        let revision = revision.clone();
        let by = requester::author();
        self.run("commit_draft", move |r| {
            r.commit_draft(&revision, &content, by.as_ref()).map(Arc::new)
        })
        .await
    }

    pub(crate) async fn propose(&self, revision: &Arc<Discovered>) -> Result<(), Error> {
        let revision = revision.clone();
        self.run("propose", move |r| r.propose(&revision)).await
    }

    pub(crate) async fn reject(&self, revision: &Arc<Discovered>) -> Result<(), Error> {
        let revision = revision.clone();
        self.run("reject", move |r| r.reject(&revision)).await
    }

    pub(crate) async fn approve(
        &self,
        revision: &Arc<Discovered>,
        number: i64,
    ) -> Result<(), Error> {
        let revision = revision.clone();
        let by = requester::author();
        self.run("approve", move |r| r.approve(&revision, number, by.as_ref())).await
    }

    pub(crate) async fn propose_delete(&self, revision: &Arc<Discovered>) -> Result<(), Error> {
        let revision = revision.clone();
        self.run("propose_delete", move |r| r.propose_delete(&revision)).await
    }

    pub(crate) async fn delete(&self, revision: &Arc<Discovered>) -> Result<(), Error> {
        let revision = revision.clone();
        let by = requester::author();
        self.run("delete", move |r| r.delete(&revision, by.as_ref())).await
    }

    pub(crate) async fn delete_package(
        &self,
        package: String,
        revisions: Vec<Arc<Discovered>>,
    ) -> Result<(), Error> {
        let by = requester::author();
        self.run("delete_package", move |r| r.delete_package(&package, &revisions, by.as_ref()))
            .await
    }

    pub(crate) async fn fetch(&self) -> Result<(), Error> {
        self.run("fetch", |r| r.fetch()).await
    }

    pub(crate) async fn branch_head(&self) -> Result<Option<String>, Error> {
        self.run("branch_head", |r| r.branch_head()).await
    }

    pub(crate) async fn download(&self) -> Result<(), Error> {
        self.run("download", |r| r.download()).await
    }

    pub(crate) async fn check_remote_locks(&self) -> Result<(), Error> {
        self.run("check_remote_locks", |r| r.check_remote_locks()).await
    }
}

/// Reads a package from any Git URL; the error is the backend's, for the caller to word.
pub(crate) async fn fetch_package(
    backend: &Arc<dyn Backend>,
    upstream: Upstream,
    lock: impl FnOnce() -> Result<std::fs::File, Error> + Send + 'static,
) -> Result<Result<FetchedPackage, veranda_storage::Error>, Error> {
    let backend = backend.clone();
    tokio::task::spawn_blocking(move || {
        let _entry = lock()?;
        Ok(metrics::git("fetch_upstream", || backend.fetch_package(&upstream)))
    })
    .await?
}

/// The store.
#[derive(Clone)]
pub(crate) struct Db(Arc<dyn Store>);

impl Db {
    pub(crate) fn new(store: Arc<dyn Store>) -> Db {
        Db(store)
    }

    /// The store itself, for work that is already on a blocking thread.
    pub(crate) fn blocking(&self) -> &dyn Store {
        &*self.0
    }

    pub(crate) fn current_resource_version(&self) -> Result<i64, Error> {
        self.0.current_resource_version().map_err(store_error)
    }

    async fn run<T: Send + 'static>(
        &self,
        operation: &'static str,
        f: impl FnOnce(&dyn Store) -> Result<T, veranda_storage::Error> + Send + 'static,
    ) -> Result<T, Error> {
        let store = self.0.clone();
        tokio::task::spawn_blocking(move || metrics::store(operation, || f(&*store)))
            .await?
            .map_err(store_error)
    }

    pub(crate) async fn list_objects(&self, table: ObjectTable) -> Result<Vec<ObjectRow>, Error> {
        self.run("list_objects", move |s| s.list_objects(table)).await
    }

    pub(crate) async fn put_object(
        &self,
        table: ObjectTable,
        namespace: String,
        name: String,
        mut make: impl FnMut(i64) -> String + Send + 'static,
    ) -> Result<ObjectRow, Error> {
        self.run("put_object", move |s| s.put_object(table, &namespace, &name, &mut make)).await
    }

    pub(crate) async fn get_object(
        &self,
        table: ObjectTable,
        namespace: String,
        name: String,
    ) -> Result<Option<ObjectRow>, Error> {
        self.run("get_object", move |s| s.get_object(table, &namespace, &name)).await
    }

    pub(crate) async fn try_lock(
        &self,
        name: String,
    ) -> Result<Option<veranda_storage::SharedLock>, Error> {
        self.run("try_lock", move |s| s.try_lock(&name)).await
    }

    pub(crate) async fn feed_position(&self) -> Result<i64, Error> {
        self.run("feed_position", |s| s.feed_position()).await
    }

    pub(crate) async fn get_revisions(
        &self,
        namespace: String,
        names: Vec<String>,
    ) -> Result<Vec<veranda_storage::RevisionRow>, Error> {
        self.run("get_revisions", move |s| s.get_revisions(&namespace, &names)).await
    }

    pub(crate) async fn delete_object(
        &self,
        table: ObjectTable,
        namespace: String,
        name: String,
    ) -> Result<bool, Error> {
        self.run("delete_object", move |s| s.delete_object(table, &namespace, &name)).await
    }

    pub(crate) async fn reserve_resource_versions(&self, n: i64) -> Result<i64, Error> {
        self.run("reserve_resource_versions", move |s| s.reserve_resource_versions(n)).await
    }

    pub(crate) async fn delete_repository_revisions(
        &self,
        namespace: String,
        repository: String,
    ) -> Result<(), Error> {
        self.run("delete_repository_revisions", move |s| {
            s.delete_repository_revisions(&namespace, &repository)
        })
        .await
    }
}

async fn run_git<T: Send + 'static>(
    operation: &'static str,
    f: impl FnOnce() -> Result<T, veranda_storage::Error> + Send + 'static,
) -> Result<T, Error> {
    tokio::task::spawn_blocking(move || metrics::git(operation, f)).await?.map_err(git_error)
}

/// A repository failure as the client sees it: 409 for a concurrent change, 503 for a locked
/// remote, 504 for a remote that did not answer in time, 500 otherwise.
pub(crate) fn git_error(e: veranda_storage::Error) -> Error {
    match e.kind() {
        ErrorKind::Conflict => Error::Conflict(format!(
            "the package was changed concurrently in git; please retry: {e}"
        )),
        ErrorKind::Locked | ErrorKind::Unavailable => Error::Unavailable(format!("git: {e}")),
        ErrorKind::Timeout => Error::Timeout(format!("git: {e}")),
        ErrorKind::NotFound | ErrorKind::Other => Error::Internal(format!("git: {e}")),
    }
}

/// A store failure: a fault of the server, but for a database that cannot be reached now
/// (503, retryable) or a statement over its time limit (504).
pub(crate) fn store_error(e: veranda_storage::Error) -> Error {
    match e.kind() {
        ErrorKind::Unavailable | ErrorKind::Locked => Error::Unavailable(format!("store: {e}")),
        ErrorKind::Timeout => Error::Timeout(format!("store: {e}")),
        ErrorKind::Conflict => Error::Conflict(format!("store: {e}")),
        ErrorKind::NotFound | ErrorKind::Other => Error::Internal(e.to_string()),
    }
}
