//! A limit on failed authentication attempts per source address: after [`MAX_FAILURES`] within
//! [`WINDOW`], every request from that address is refused (429 with `Retry-After`) until the
//! window ends, so a token cannot be guessed at network speed.
//!
//! Memory is bounded: at most [`MAX_SOURCES`] sources are tracked; when full, windows that
//! have ended are dropped first, then the oldest that is not locked out (a locked-out source
//! is never evicted). An IPv6 source is its /64.

use std::{
    collections::HashMap,
    net::IpAddr,
    sync::Mutex,
    time::{Duration, Instant},
};

/// Failed attempts allowed per address and window.
pub(crate) const MAX_FAILURES: u32 = 20;
/// The window failures are counted in.
pub(crate) const WINDOW: Duration = Duration::from_secs(60);
/// Addresses tracked at most.
const MAX_SOURCES: usize = 10_000;

/// Failures per source address.
#[derive(Default)]
pub(crate) struct Lockout {
    sources: Mutex<HashMap<IpAddr, Window>>,
}

#[derive(Clone, Copy)]
struct Window {
    started: Instant,
    failures: u32,
}

impl Lockout {
    /// `Some(seconds to wait)` while `source` is locked out.
    pub(crate) fn locked(&self, source: IpAddr, now: Instant) -> Option<u64> {
        let source = key(source);
        let sources = self.sources.lock().unwrap_or_else(|e| e.into_inner());
        let window = sources.get(&source)?;
        let ends = window.started + WINDOW;
        (window.failures >= MAX_FAILURES && ends > now)
            .then(|| (ends - now).as_secs_f64().ceil() as u64)
    }

    /// Counts a failed attempt from `source`; returns whether it locked the address out.
    pub(crate) fn fail(&self, source: IpAddr, now: Instant) -> bool {
        let source = key(source);
        let mut sources = self.sources.lock().unwrap_or_else(|e| e.into_inner());
        if sources.len() >= MAX_SOURCES && !sources.contains_key(&source) {
            sources.retain(|_, w| w.started + WINDOW > now);
            // A locked-out address is never evicted to make room (that would unlock it).
            if sources.len() >= MAX_SOURCES {
                let oldest = sources
                    .iter()
                    .filter(|(_, w)| w.failures < MAX_FAILURES)
                    .min_by_key(|(_, w)| w.started)
                    .map(|(a, _)| *a);
                match oldest {
                    Some(oldest) => {
                        sources.remove(&oldest);
                    }
                    None => return false,
                }
            }
        }
        let window = sources.entry(source).or_insert(Window { started: now, failures: 0 });
        if window.started + WINDOW <= now {
            *window = Window { started: now, failures: 0 };
        }
        window.failures += 1;
        window.failures == MAX_FAILURES
    }
}

/// What failures are counted by: an IPv4 address, or an IPv6 address's /64 (one host usually
/// holds a whole /64).
fn key(source: IpAddr) -> IpAddr {
    match source {
        IpAddr::V4(_) => source,
        IpAddr::V6(v6) => {
            let mut octets = v6.octets();
            octets[8..].fill(0);
            IpAddr::from(octets)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locks_out_after_the_limit_until_the_window_ends() {
        let lockout = Lockout::default();
        let (a, b): (IpAddr, IpAddr) = ("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap());
        let start = Instant::now();
        for n in 1..MAX_FAILURES {
            assert!(!lockout.fail(a, start), "{n}");
            assert_eq!(lockout.locked(a, start), None);
        }
        assert!(lockout.fail(a, start), "the last allowed failure locks");
        assert_eq!(lockout.locked(a, start), Some(60));
        assert_eq!(lockout.locked(a, start + Duration::from_secs(59)), Some(1));
        assert_eq!(lockout.locked(b, start), None, "other addresses are not locked");
        assert_eq!(lockout.locked(a, start + WINDOW), None, "the window ended");
        assert!(!lockout.fail(a, start + WINDOW), "a new window counts from one");
    }

    #[test]
    fn an_ipv6_slash_64_counts_as_one_source() {
        let lockout = Lockout::default();
        let now = Instant::now();
        for n in 0..MAX_FAILURES {
            let address: IpAddr = format!("2001:db8:1:2::{:x}", n + 1).parse().unwrap();
            lockout.fail(address, now);
        }
        assert!(lockout.locked("2001:db8:1:2::ffff".parse().unwrap(), now).is_some());
        assert!(lockout.locked("2001:db8:1:3::1".parse().unwrap(), now).is_none());
    }

    #[test]
    fn locked_sources_are_not_evicted() {
        let lockout = Lockout::default();
        let now = Instant::now();
        let attacker: IpAddr = "10.9.9.9".parse().unwrap();
        for _ in 0..MAX_FAILURES {
            lockout.fail(attacker, now);
        }
        for n in 0..(MAX_SOURCES as u32 + 100) {
            lockout.fail(IpAddr::from(n.to_be_bytes()), now + Duration::from_millis(1));
        }
        assert!(lockout.locked(attacker, now).is_some(), "flooding the table unlocked it");
    }

    #[test]
    fn memory_is_bounded() {
        let lockout = Lockout::default();
        let now = Instant::now();
        for n in 0..(MAX_SOURCES as u32 + 100) {
            lockout.fail(IpAddr::from(n.to_be_bytes()), now);
        }
        assert!(lockout.sources.lock().unwrap().len() <= MAX_SOURCES);
    }
}
