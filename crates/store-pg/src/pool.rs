//! A fixed pool of connections, each on a thread of its own.
//!
//! The store trait is synchronous and is called from the server's blocking pool and, for a
//! few calls, from its async tasks. The `postgres` client runs a small runtime of its own per
//! call, which must not run inside another runtime's task; so no caller ever touches a client.
//! A call is a job sent to the workers; the caller waits for the answer on a channel, as it
//! would wait for SQLite's connection mutex. A worker opens its connection at its first job and
//! again after the connection broke (the database restarted): the job that found it broken
//! fails, the next one reconnects.

use std::{
    sync::{Arc, Mutex, mpsc},
    time::Duration,
};

use std::collections::HashMap;

use postgres::{Client, Config, Statement};
use postgres_openssl::MakeTlsConnector;

use crate::Error;

type Job = Box<dyn FnOnce(&mut Worker) + Send>;

/// The pool; dropping it ends the workers once their jobs are done.
pub(crate) struct Pool {
    jobs: mpsc::Sender<Job>,
    wait: Duration,
}

/// A worker's connection settings and its connection, if open.
pub(crate) struct Worker {
    config: Arc<Config>,
    tls: MakeTlsConnector,
    conn: Option<Conn>,
}

/// An open connection and the statements prepared on it.
pub(crate) struct Conn {
    pub(crate) client: Client,
    statements: HashMap<String, Statement>,
}

impl Conn {
    /// `sql` prepared once per connection (a write is then one round trip per statement).
    pub(crate) fn prepared(&mut self, sql: &str) -> Result<Statement, Error> {
        if let Some(statement) = self.statements.get(sql) {
            return Ok(statement.clone());
        }
        let statement = self.client.prepare(sql)?;
        self.statements.insert(sql.to_string(), statement.clone());
        Ok(statement)
    }
}

impl Worker {
    /// The open connection, connecting first if there is none.
    pub(crate) fn conn(&mut self) -> Result<&mut Conn, Error> {
        if self.conn.as_ref().is_some_and(|c| c.client.is_closed()) {
            self.conn = None;
        }
        if self.conn.is_none() {
            let client = crate::connect(&self.config, self.tls.clone())?;
            self.conn = Some(Conn { client, statements: HashMap::new() });
        }
        self.conn.as_mut().ok_or(Error::Gone("no connection"))
    }

    /// Forgets a connection that failed in a way that leaves its state unknown.
    fn check(&mut self, failed: &Error) {
        if failed.is_connection() || self.conn.as_ref().is_some_and(|c| c.client.is_closed()) {
            self.conn = None;
        }
    }
}

impl Pool {
    /// `size` workers over `config`. `wait` bounds how long a caller waits for an answer (the
    /// statement timeout plus slack: a worker stuck on a dead peer is given up on).
    pub(crate) fn new(config: Config, tls: MakeTlsConnector, size: usize, wait: Duration) -> Pool {
        let (jobs, queue) = mpsc::channel::<Job>();
        let queue = Arc::new(Mutex::new(queue));
        let config = Arc::new(config);
        for i in 0..size.max(1) {
            let queue = queue.clone();
            let mut worker = Worker { config: config.clone(), tls: tls.clone(), conn: None };
            let spawned =
                std::thread::Builder::new().name(format!("veranda-pg-{i}")).spawn(move || {
                    // Connected before the first call needs it; a failure here is retried by
                    // that call.
                    let _ = worker.conn();
                    loop {
                        let job = {
                            let Ok(queue) = queue.lock() else { return };
                            queue.recv()
                        };
                        match job {
                            Ok(job) => job(&mut worker),
                            Err(_) => return,
                        }
                    }
                });
            if let Err(e) = spawned {
                // Fewer workers is slower, not wrong; none at all fails every call below.
                eprintln!("veranda-store-pg: start worker {i}: {e}");
            }
        }
        Pool { jobs, wait }
    }

    /// Runs `f` on a worker's connection and waits for its answer.
    pub(crate) fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Conn) -> Result<T, Error> + Send + 'static,
    ) -> Result<T, Error> {
        self.run_worker(move |worker| worker.with(f))
    }

    /// [`Pool::run`] for a job that only reads: when the worker's connection turns out broken
    /// (the database restarted since it was opened), the job runs once more on a new one, so a
    /// read after a restart does not fail for a connection nobody used since.
    pub(crate) fn read<T: Send + 'static>(
        &self,
        f: impl FnMut(&mut Conn) -> Result<T, Error> + Send + 'static,
    ) -> Result<T, Error> {
        self.run_worker(move |worker| worker.read(f))
    }

    /// Runs `f` with the worker itself (for jobs that talk with their caller mid-way).
    pub(crate) fn run_worker<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Worker) -> Result<T, Error> + Send + 'static,
    ) -> Result<T, Error> {
        let answer = self.start(f)?;
        answer.recv_timeout(self.wait).map_err(|e| match e {
            mpsc::RecvTimeoutError::Timeout => Error::Timeout(self.wait),
            mpsc::RecvTimeoutError::Disconnected => Error::Gone("the database worker stopped"),
        })?
    }

    /// Queues `f`; its answer arrives on the returned channel.
    pub(crate) fn start<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Worker) -> Result<T, Error> + Send + 'static,
    ) -> Result<mpsc::Receiver<Result<T, Error>>, Error> {
        let (tx, rx) = mpsc::sync_channel(1);
        let job: Job = Box::new(move |worker| {
            let _ = tx.send(f(worker));
        });
        self.jobs.send(job).map_err(|_| Error::Gone("the database workers stopped"))?;
        Ok(rx)
    }

    /// How long a caller waits for a worker.
    pub(crate) fn wait(&self) -> Duration {
        self.wait
    }
}

impl Worker {
    /// [`Worker::conn`], forgetting the connection if `f` breaks it.
    pub(crate) fn with<T>(
        &mut self,
        f: impl FnOnce(&mut Conn) -> Result<T, Error>,
    ) -> Result<T, Error> {
        let result = self.conn().and_then(f);
        if let Err(e) = &result {
            self.check(e);
        }
        result
    }

    /// [`Worker::with`] once more on a new connection if a connection opened before this job
    /// broke under it (only for jobs that write nothing).
    fn read<T>(&mut self, mut f: impl FnMut(&mut Conn) -> Result<T, Error>) -> Result<T, Error> {
        let reused = self.conn.is_some();
        match self.with(&mut f) {
            Err(e) if reused && e.is_connection() => self.with(f),
            other => other,
        }
    }
}
