//! One server per database, until replicas are built (docs/SCALE-OUT.md): a session advisory
//! lock held by a connection of its own for the life of the store.
//!
//! A second server on the same database would share resourceVersions but not see the first's
//! writes in its index, and could overwrite metadata from a stale view; it is refused instead,
//! as a second server on one data directory is. PostgreSQL releases the lock when the holder's
//! session ends, so a killed server's successor gets it once the database notices the dead
//! connection; the claim waits a little for that. If the database restarts, the claim is
//! taken again; if another server took it meanwhile, this store refuses every write from then
//! on (503) rather than write beside it.

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use postgres::{Client, Config};
use postgres_openssl::MakeTlsConnector;

use crate::Error;

/// The advisory lock's key (any constant unique to veranda).
const CLAIM_LOCK: i64 = 0x7665_7261_6e64_6102;
/// How often the holding connection is checked.
const CHECK_EVERY: Duration = Duration::from_secs(2);

/// A held claim; dropping it releases the lock within [`CHECK_EVERY`].
pub(crate) struct Claim {
    lost: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
}

impl Claim {
    /// Whether another server holds the database now.
    pub(crate) fn is_lost(&self) -> bool {
        self.lost.load(Ordering::Acquire)
    }
}

impl Drop for Claim {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
    }
}

/// Takes the claim as `who` (shown to a server that is refused), waiting up to `wait` for a
/// previous holder's session to end.
pub(crate) fn take(
    config: &Config,
    tls: &MakeTlsConnector,
    who: &str,
    wait: Duration,
) -> Result<Claim, Error> {
    let mut config = config.clone();
    config.application_name(who);
    let mut client = crate::connect(&config, tls.clone())?;
    let deadline = Instant::now() + wait;
    while !try_lock(&mut client)? {
        if Instant::now() >= deadline {
            return Err(Error::InUse(holder(&mut client)));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let lost = Arc::new(AtomicBool::new(false));
    let stop = Arc::new(AtomicBool::new(false));
    let (lost_flag, stop_flag, tls) = (lost.clone(), stop.clone(), tls.clone());
    std::thread::Builder::new()
        .name("veranda-pg-claim".into())
        .spawn(move || hold(client, &config, &tls, &lost_flag, &stop_flag))
        .map_err(|_| Error::Gone("could not start the claim's thread"))?;
    Ok(Claim { lost, stop })
}

/// Keeps the claim: checks its connection, and after a break reconnects and takes it again.
fn hold(
    mut client: Client,
    config: &Config,
    tls: &MakeTlsConnector,
    lost: &AtomicBool,
    stop: &AtomicBool,
) {
    let mut held = true;
    while !stop.load(Ordering::Acquire) {
        std::thread::sleep(CHECK_EVERY);
        if held && !client.is_closed() && client.simple_query("SELECT 1").is_ok() {
            continue;
        }
        // The session ended (the database restarted): the lock went with it.
        held = false;
        if let Ok(mut fresh) = crate::connect(config, tls.clone()) {
            match try_lock(&mut fresh) {
                Ok(true) => {
                    held = true;
                    lost.store(false, Ordering::Release);
                }
                Ok(false) => lost.store(true, Ordering::Release),
                Err(_) => {}
            }
            client = fresh;
        }
    }
}

fn try_lock(client: &mut Client) -> Result<bool, Error> {
    Ok(client.query_one("SELECT pg_try_advisory_lock($1)", &[&CLAIM_LOCK])?.get(0))
}

/// Who holds the claim, as PostgreSQL sees the session.
fn holder(client: &mut Client) -> String {
    let row = client.query_opt(
        "SELECT a.application_name, COALESCE(host(a.client_addr), 'local'), a.pid
         FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
         WHERE l.locktype = 'advisory' AND l.granted
           AND l.classid::bigint = $1 AND l.objid::bigint = $2 AND l.objsubid = 1",
        &[&(CLAIM_LOCK >> 32), &(CLAIM_LOCK & 0xffff_ffff)],
    );
    match row {
        Ok(Some(r)) => format!(
            "{} from {} (database session {})",
            r.get::<_, String>(0),
            r.get::<_, String>(1),
            r.get::<_, i32>(2)
        ),
        _ => "another veranda server".to_string(),
    }
}
