//! Time limits of Git operations over the network.
//!
//! Three limits bound every fetch and push, so a remote that accepts connections and never
//! answers (or answers a byte a minute) cannot hold a thread, and the lock of whoever waits for
//! it, forever:
//! * **connect**: libgit2's connect timeout for its own transports (HTTP(S), SSH, git://);
//! * **stall**: libgit2's timeout of a single socket read or write, i.e. how long the remote may
//!   stay silent;
//! * **total**: a deadline for the whole operation, checked in every progress callback libgit2
//!   makes while data flows, so a slow drip that never stalls is cut off too.
//!
//! libgit2 keeps the first two process-wide, so [`set_network_timeouts`] sets all three for the
//! process (the server does it once at start, from `--git-timeout-seconds`). A remote that is a
//! path on this machine is not bound by them: it is not network I/O.

use std::{
    sync::atomic::{AtomicU64, Ordering},
    time::{Duration, Instant},
};

use git2::RemoteCallbacks;

/// Limits of network Git operations; see the module documentation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NetworkTimeouts {
    /// Establishing the connection.
    pub connect: Duration,
    /// Silence of the remote within an operation.
    pub stall: Duration,
    /// The whole operation.
    pub total: Duration,
}

impl NetworkTimeouts {
    /// The limits derived from one overall timeout: connecting may take at most a quarter of it
    /// (at least one second) and the remote may stay silent at most half of it, so a hung remote
    /// is given up on well before the deadline.
    pub fn from_total(total: Duration) -> NetworkTimeouts {
        let total = total.max(Duration::from_secs(1));
        NetworkTimeouts {
            connect: (total / 4).max(Duration::from_secs(1)),
            stall: (total / 2).max(Duration::from_secs(1)),
            total,
        }
    }
}

impl Default for NetworkTimeouts {
    /// Sixty seconds in all.
    fn default() -> NetworkTimeouts {
        NetworkTimeouts::from_total(Duration::from_secs(60))
    }
}

/// The overall limit in milliseconds; 0 until [`set_network_timeouts`] runs (then the default).
static TOTAL_MS: AtomicU64 = AtomicU64::new(0);

/// Sets the limits of every later network Git operation of this process.
#[allow(unsafe_code)]
pub fn set_network_timeouts(timeouts: NetworkTimeouts) {
    let millis = |d: Duration| i32::try_from(d.as_millis()).unwrap_or(i32::MAX);
    // SAFETY: these options only store an integer in libgit2's global settings, which
    // transports read when they open a connection; no other thread is handed a pointer.
    let applied = unsafe {
        git2::opts::set_server_connect_timeout_in_milliseconds(millis(timeouts.connect))
            .and_then(|()| git2::opts::set_server_timeout_in_milliseconds(millis(timeouts.stall)))
    };
    if let Err(err) = applied {
        tracing::warn!(%err, "libgit2 refused the network timeouts");
    }
    TOTAL_MS
        .store(u64::try_from(timeouts.total.as_millis()).unwrap_or(u64::MAX), Ordering::Relaxed);
}

/// The limits in force: those set last, else the defaults (applied on first use).
pub fn network_timeouts() -> NetworkTimeouts {
    match TOTAL_MS.load(Ordering::Relaxed) {
        0 => {
            let defaults = NetworkTimeouts::default();
            set_network_timeouts(defaults);
            defaults
        }
        ms => NetworkTimeouts::from_total(Duration::from_millis(ms)),
    }
}

/// The deadline of one operation, started when the operation starts.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Deadline {
    at: Instant,
    total: Duration,
}

impl Deadline {
    /// Starts the clock of one operation.
    pub(crate) fn start() -> Deadline {
        let total = network_timeouts().total;
        Deadline { at: Instant::now() + total, total }
    }

    /// Whether the operation has run past its deadline.
    pub(crate) fn expired(&self) -> bool {
        Instant::now() >= self.at
    }

    /// The time left until the deadline, zero once it has passed.
    pub(crate) fn remaining(&self) -> Duration {
        self.at.saturating_duration_since(Instant::now())
    }

    /// The error of an operation that ran past the deadline.
    pub(crate) fn timeout(&self) -> crate::Error {
        crate::Error::Timeout { seconds: self.total.as_secs().max(1) }
    }

    /// Makes every progress callback of `callbacks` abort the transfer once the deadline passed.
    pub(crate) fn watch(self, callbacks: &mut RemoteCallbacks<'_>) {
        callbacks.transfer_progress(move |_| !self.expired());
        callbacks.sideband_progress(move |_| !self.expired());
    }

    /// The error of an operation that failed with `err`: a timeout when libgit2 timed out or the
    /// deadline aborted it, else `err` itself.
    pub(crate) fn classify(&self, err: git2::Error) -> crate::Error {
        let timed_out = err.code() == git2::ErrorCode::Timeout
            || (err.code() == git2::ErrorCode::User && self.expired())
            || err.message().contains("timed out");
        if timed_out { self.timeout() } else { err.into() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_follow_the_total() {
        let t = NetworkTimeouts::from_total(Duration::from_secs(60));
        assert_eq!(t.connect, Duration::from_secs(15));
        assert_eq!(t.stall, Duration::from_secs(30));
        let tiny = NetworkTimeouts::from_total(Duration::ZERO);
        assert_eq!(tiny.total, Duration::from_secs(1));
        assert_eq!(tiny.connect, Duration::from_secs(1));
    }
}
