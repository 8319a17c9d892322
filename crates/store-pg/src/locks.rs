//! Try-locks shared by every server on one database: PostgreSQL session advisory locks, held
//! by one connection of this store on a thread of its own.
//!
//! A server takes the lock of what a request works on (one package revision, one
//! Repository…) after its own in-process try-lock, so two servers never both run a verb on
//! the same object: the second gets the same 409 as on one server. A guard's drop sends the
//! unlock without waiting for it. PostgreSQL releases a session's locks when it ends, so a
//! killed server's locks go with its connection. If the connection breaks, every lock it held
//! is gone: the writes in flight still end in compare-and-swaps (on the remote's refs and on
//! the rows, `Change::Expect`), so a second writer that slips in loses with a conflict.

use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
        mpsc,
    },
    time::Duration,
};

use postgres::{Client, Config};
use postgres_openssl::MakeTlsConnector;

use crate::Error;

enum Op {
    /// Answers whether it was taken, and in which session ([`Locks::ended`] then).
    Try(i64, mpsc::SyncSender<Result<(bool, u64), Error>>),
    /// Releases a lock taken in the given session (nothing if that session ended: its lock is
    /// gone, and the key may be held again in the current one).
    Unlock(i64, u64),
}

/// The lock connection's thread, started by the first lock.
pub(crate) struct Locks {
    config: Config,
    tls: MakeTlsConnector,
    wait: Duration,
    ops: Mutex<Option<mpsc::Sender<Op>>>,
    /// Counts the lock sessions that ended: a guard taken before the last end holds nothing.
    ended: Arc<AtomicU64>,
}

/// A held lock; dropping it releases it.
pub(crate) struct Guard {
    key: i64,
    ops: mpsc::Sender<Op>,
    /// [`Locks::ended`] when it was taken, and now.
    taken_in: u64,
    ended: Arc<AtomicU64>,
}

impl veranda_storage::Held for Guard {
    fn held(&self) -> bool {
        self.ended.load(Ordering::Acquire) == self.taken_in
    }
}

/// How often an idle lock session is checked, so a broken one is noticed (and its guards
/// report it) without waiting for the next lock.
const CHECK_EVERY: Duration = Duration::from_secs(2);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.ops.send(Op::Unlock(self.key, self.taken_in));
    }
}

impl Locks {
    pub(crate) fn new(config: Config, tls: MakeTlsConnector, wait: Duration) -> Locks {
        Locks { config, tls, wait, ops: Mutex::new(None), ended: Arc::default() }
    }

    /// Takes the lock of `name` if no session holds it; `None` when one does.
    pub(crate) fn try_lock(&self, name: &str) -> Result<Option<Guard>, Error> {
        let key = key_of(name);
        let ops = self.sender()?;
        let (reply, answer) = mpsc::sync_channel(1);
        ops.send(Op::Try(key, reply)).map_err(|_| Error::Gone("the lock thread ended"))?;
        match answer.recv_timeout(self.wait) {
            Ok(Ok((true, taken_in))) => {
                Ok(Some(Guard { key, ops, taken_in, ended: self.ended.clone() }))
            }
            Ok(Ok((false, _))) => Ok(None),
            Ok(Err(e)) => Err(e),
            Err(mpsc::RecvTimeoutError::Timeout) => Err(Error::Timeout(self.wait)),
            Err(mpsc::RecvTimeoutError::Disconnected) => Err(Error::Gone("the lock thread ended")),
        }
    }

    fn sender(&self) -> Result<mpsc::Sender<Op>, Error> {
        let mut slot = self.ops.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(ops) = slot.as_ref() {
            return Ok(ops.clone());
        }
        let (ops, queue) = mpsc::channel();
        let (config, tls, ended) = (self.config.clone(), self.tls.clone(), self.ended.clone());
        std::thread::Builder::new()
            .name("veranda-pg-locks".into())
            .spawn(move || serve(&config, &tls, &queue, &ended))
            .map_err(|_| Error::Gone("could not start the lock thread"))?;
        *slot = Some(ops.clone());
        Ok(ops)
    }
}

/// Runs lock operations in order on one session, reconnecting after a break; every session
/// that ends (its locks with it) is counted in `ended`.
fn serve(config: &Config, tls: &MakeTlsConnector, queue: &mpsc::Receiver<Op>, ended: &AtomicU64) {
    let mut client: Option<Client> = None;
    let end = |client: &mut Option<Client>| {
        if client.take().is_some() {
            ended.fetch_add(1, Ordering::AcqRel);
        }
    };
    loop {
        let op = match queue.recv_timeout(CHECK_EVERY) {
            Ok(op) => op,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                if let Some(c) = client.as_mut()
                    && (c.is_closed() || c.simple_query("SELECT 1").is_err())
                {
                    end(&mut client);
                }
                continue;
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => return,
        };
        match op {
            Op::Try(key, reply) => {
                if client.as_ref().is_some_and(Client::is_closed) {
                    end(&mut client);
                }
                let result = session(&mut client, config, tls).and_then(|c| {
                    Ok(c.query_one("SELECT pg_try_advisory_lock($1)", &[&key])?.get::<_, bool>(0))
                });
                if result.as_ref().is_err_and(|e| e.is_connection()) {
                    end(&mut client);
                }
                let session = ended.load(Ordering::Acquire);
                let _ = reply.send(result.map(|taken| (taken, session)));
            }
            Op::Unlock(key, taken_in) => {
                // A broken session released its locks already.
                if taken_in == ended.load(Ordering::Acquire)
                    && let Some(c) = client.as_mut()
                    && c.query_one("SELECT pg_advisory_unlock($1)", &[&key]).is_err()
                {
                    end(&mut client);
                }
            }
        }
    }
}

fn session<'c>(
    client: &'c mut Option<Client>,
    config: &Config,
    tls: &MakeTlsConnector,
) -> Result<&'c mut Client, Error> {
    if client.is_none() {
        *client = Some(crate::connect(config, tls.clone())?);
    }
    client.as_mut().ok_or(Error::Gone("no lock session"))
}

/// The advisory lock key of a name: 64 bits of FNV-1a, the same in every server.
fn key_of(name: &str) -> i64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in b"veranda-lock/".iter().chain(name.as_bytes()) {
        hash ^= u64::from(*byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash as i64
}
