//! When each repository syncs: `spec.sync.schedule` (cron), else every `sync_interval` (spread
//! by a per-repository offset so many repositories do not fetch at once); `spec.sync.runOnceAt`
//! once when it has passed and was not yet observed; after a failure, a back-off that grows
//! with the failures, longer for errors that waiting fixes slowly (credentials, a missing
//! branch) than for network errors.

use std::time::Duration;

use serde_json::Value;

use crate::{cron::Schedule, time};

/// The longest back-off after failures.
const MAX_BACKOFF: Duration = Duration::from_secs(300);

/// What the scheduler knows of one repository, in memory.
#[derive(Clone, Debug, Default)]
pub(crate) struct SyncState {
    /// Unix time of the last successful sync (or open).
    pub(crate) last_full: Option<i64>,
    /// Unix time of the next sync.
    pub(crate) next_full: i64,
    /// Failures in a row.
    pub(crate) failures: u32,
    /// The commit the registered branch pointed at after the last sync.
    pub(crate) head: Option<String>,
    /// The `runOnceAt` the last sync honoured.
    pub(crate) observed_run_once_at: Option<String>,
}

/// `spec.sync` of a Repository, parsed.
#[derive(Clone, Debug, Default)]
pub(crate) struct SyncSpec {
    pub(crate) schedule: Option<Schedule>,
    /// `runOnceAt` as written, and as Unix time.
    pub(crate) run_once_at: Option<(String, i64)>,
}

impl SyncSpec {
    /// Parses `spec.sync`; the error names the field.
    pub(crate) fn parse(sync: Option<&Value>) -> Result<SyncSpec, (&'static str, String)> {
        let Some(sync) = sync.filter(|s| !s.is_null()) else { return Ok(SyncSpec::default()) };
        let Some(sync) = sync.as_object() else {
            return Err(("spec.sync", "must be an object".into()));
        };
        let schedule = match sync.get("schedule") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) if s.trim().is_empty() => None,
            Some(Value::String(s)) => Some(Schedule::parse(s).map_err(|e| {
                // A schedule too long to be one is not repeated back.
                let shown = if s.len() <= 64 { format!(" {s:?}") } else { String::new() };
                ("spec.sync.schedule", format!("invalid cron schedule{shown}: {e}"))
            })?),
            Some(_) => return Err(("spec.sync.schedule", "must be a string".into())),
        };
        let run_once_at = match sync.get("runOnceAt") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) if s.is_empty() => None,
            Some(Value::String(s)) => {
                let at = time::parse_rfc3339(s).ok_or_else(|| {
                    let shown = if s.len() <= 64 { format!("{s:?}") } else { "the value".into() };
                    (
                        "spec.sync.runOnceAt",
                        format!("{shown} is not an RFC 3339 time (e.g. 2026-12-02T10:15:00Z)"),
                    )
                })?;
                Some((s.clone(), at))
            }
            Some(_) => return Err(("spec.sync.runOnceAt", "must be a string".into())),
        };
        Ok(SyncSpec { schedule, run_once_at })
    }

    /// A `runOnceAt` that has passed and that no sync honoured yet.
    pub(crate) fn run_once_due(&self, state: &SyncState, now: i64) -> Option<String> {
        let (text, at) = self.run_once_at.as_ref()?;
        (*at <= now && state.observed_run_once_at.as_deref() != Some(text)).then(|| text.clone())
    }
}

/// Why the last sync failed, for the back-off.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Failure {
    /// Unreachable, timed out, refused: may be back in a moment.
    Network,
    /// Credentials missing or rejected, the branch missing: needs someone to act.
    Configuration,
    /// A lock in the remote (another writer's, held for milliseconds, or a dead one's, broken
    /// once stale): tried again within seconds, not after a whole interval.
    Locked,
}

impl Failure {
    /// The class of a sync's error message.
    pub(crate) fn of(message: &str) -> Failure {
        let m = message.to_ascii_lowercase();
        let configuration =
            ["credentials", "authentication", "auth", "401", "403", "doesn't exist", "host key"];
        if configuration.iter().any(|word| m.contains(word)) {
            Failure::Configuration
        } else if m.contains("the remote repository is locked") {
            Failure::Locked
        } else {
            Failure::Network
        }
    }
}

/// The offset of `key`'s regular syncs within an interval, so that repositories registered
/// together do not all sync in the same second.
pub(crate) fn jitter(key: &(String, String), interval: Duration) -> i64 {
    let digest = openssl::sha::sha256(format!("{}/{}", key.0, key.1).as_bytes());
    let spread = (interval.as_secs() / 2).max(1);
    (u64::from_le_bytes([digest[0], digest[1], digest[2], digest[3], 0, 0, 0, 0]) % spread) as i64
}

/// The first retry after a sync that found the remote locked; it doubles up to the interval.
const LOCKED_RETRY: Duration = Duration::from_secs(2);

/// When the next sync is due after one that ended at `now` (`failure`: how it failed).
pub(crate) fn next_sync(
    spec: &SyncSpec,
    state: &SyncState,
    interval: Duration,
    failure: Option<Failure>,
    now: i64,
) -> i64 {
    let interval_secs = interval.as_secs().max(1) as i64;
    if let Some(failure) = failure {
        let base = match failure {
            Failure::Network => interval_secs,
            Failure::Configuration => interval_secs * 2,
            Failure::Locked => (LOCKED_RETRY.as_secs() as i64).min(interval_secs),
        };
        let cap = match failure {
            Failure::Locked => interval_secs,
            _ => interval_secs * 10,
        };
        let cap = cap.min(MAX_BACKOFF.as_secs() as i64).max(base);
        let exponent = state.failures.saturating_sub(1).min(16);
        return now + base.saturating_mul(1 << exponent).min(cap);
    }
    match &spec.schedule {
        Some(schedule) => schedule.next_after(now).unwrap_or(i64::MAX),
        None => now + interval_secs,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_refuses_spec_sync() {
        let ok = SyncSpec::parse(Some(
            &serde_json::json!({"schedule": "*/5 * * * *", "runOnceAt": "2026-12-02T10:00:00Z"}),
        ))
        .unwrap();
        assert!(ok.schedule.is_some());
        assert_eq!(
            ok.run_once_at.as_ref().map(|r| r.1),
            time::parse_rfc3339("2026-12-02T10:00:00Z")
        );
        let (field, _) =
            SyncSpec::parse(Some(&serde_json::json!({"schedule": "every day"}))).unwrap_err();
        assert_eq!(field, "spec.sync.schedule");
        let (field, _) =
            SyncSpec::parse(Some(&serde_json::json!({"runOnceAt": "tomorrow"}))).unwrap_err();
        assert_eq!(field, "spec.sync.runOnceAt");
        let long = "1,".repeat(5000) + "1 * * * *";
        let (_, message) =
            SyncSpec::parse(Some(&serde_json::json!({"schedule": long}))).unwrap_err();
        assert!(message.len() < 200, "{message}");
        assert!(SyncSpec::parse(None).unwrap().schedule.is_none());
    }

    #[test]
    fn run_once_is_due_once() {
        let spec = SyncSpec::parse(Some(&serde_json::json!({"runOnceAt": "2026-12-02T10:00:00Z"})))
            .unwrap();
        let at = spec.run_once_at.as_ref().unwrap().1;
        let mut state = SyncState::default();
        assert_eq!(spec.run_once_due(&state, at - 1), None);
        assert!(spec.run_once_due(&state, at).is_some());
        state.observed_run_once_at = spec.run_once_due(&state, at);
        assert_eq!(spec.run_once_due(&state, at + 100), None);
    }

    #[test]
    fn failures_back_off_by_class_up_to_a_cap() {
        let spec = SyncSpec::default();
        let interval = Duration::from_secs(30);
        let mut state = SyncState { failures: 1, ..Default::default() };
        assert_eq!(next_sync(&spec, &state, interval, Some(Failure::Network), 0), 30);
        assert_eq!(next_sync(&spec, &state, interval, Some(Failure::Configuration), 0), 60);
        state.failures = 3;
        assert_eq!(next_sync(&spec, &state, interval, Some(Failure::Network), 0), 120);
        state.failures = 30;
        assert_eq!(next_sync(&spec, &state, interval, Some(Failure::Network), 0), 300);
        assert_eq!(next_sync(&spec, &state, interval, None, 0), 30);
        assert_eq!(
            Failure::of("failed to obtain git credentials: secret not found"),
            Failure::Configuration
        );
        assert_eq!(Failure::of("git: the git remote did not answer within 60s"), Failure::Network);
        // A lock in the remote: seconds, doubling up to the interval.
        let locked = "git: the remote repository is locked: refs/heads/main.lock exists; remove it if no git process is running";
        assert_eq!(Failure::of(locked), Failure::Locked);
        state.failures = 1;
        assert_eq!(next_sync(&spec, &state, interval, Some(Failure::Locked), 0), 2);
        state.failures = 3;
        assert_eq!(next_sync(&spec, &state, interval, Some(Failure::Locked), 0), 8);
        state.failures = 30;
        assert_eq!(next_sync(&spec, &state, interval, Some(Failure::Locked), 0), 30);
    }

    #[test]
    fn jitter_stays_within_half_an_interval() {
        for i in 0..100 {
            let j = jitter(&("ns".into(), format!("r{i}")), Duration::from_secs(30));
            assert!((0..15).contains(&j));
        }
    }
}
