//! The event hub: every change of a package revision or repository becomes one event with a
//! server-wide monotonic resourceVersion. Watches resume from a resourceVersion out of a bounded
//! in-memory log; older ones get 410 Gone and must re-list.

use std::{
    collections::VecDeque,
    sync::{Arc, Mutex},
};

use tokio::sync::broadcast;

/// Events retained for resuming watches: at most this many...
const RETAINED_EVENTS: usize = 20_000;
/// ...and at most this many bytes of object JSON (a few large objects must not pin gigabytes).
const RETAINED_BYTES: usize = 64 << 20;
/// Per-watcher buffer; a watcher that falls further behind is closed (it re-lists).
const CHANNEL_CAPACITY: usize = 8_192;

/// Watch event type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventType {
    Added,
    Modified,
    Deleted,
}

impl EventType {
    /// Wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Added => "ADDED",
            EventType::Modified => "MODIFIED",
            EventType::Deleted => "DELETED",
        }
    }
}

/// Which collection an event belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Topic {
    PackageRevisions,
    Repositories,
    /// Roles, ClusterRoles, RoleBindings or ClusterRoleBindings.
    Rbac(veranda_api::rbac::RbacKind),
}

/// One change.
#[derive(Clone, Debug)]
pub struct Event {
    pub resource_version: i64,
    pub event_type: EventType,
    pub topic: Topic,
    pub namespace: String,
    /// The object as served, as JSON text (for DELETED: its last state, with a fresh
    /// resourceVersion). Text, not a value tree: the retained log holds thousands of these.
    pub json: Arc<str>,
}

impl Event {
    /// The object, parsed.
    pub fn object(&self) -> serde_json::Value {
        serde_json::from_str(&self.json).unwrap_or_default()
    }
}

/// Fan-out of events plus the retained log.
pub(crate) struct Hub {
    sender: broadcast::Sender<Arc<Event>>,
    log: Mutex<Log>,
}

struct Log {
    events: VecDeque<Arc<Event>>,
    // Sum of `json.len()` over `events`.
    bytes: usize,
    // Invariant: every event with a resourceVersion above `complete_since` is in `events`.
    complete_since: i64,
}

/// A started watch: live events plus the retained ones it resumes from.
pub struct Subscription {
    pub receiver: broadcast::Receiver<Arc<Event>>,
    /// Retained events after the requested resourceVersion, oldest first.
    pub backlog: Vec<Arc<Event>>,
}

/// Why a watch could not start.
#[derive(Debug)]
pub enum WatchError {
    /// The requested resourceVersion is older than the retained log.
    Gone { oldest: i64 },
}

impl Hub {
    /// A hub whose log is complete after `current` (the resourceVersion at start-up).
    pub(crate) fn new(current: i64) -> Hub {
        let (sender, _) = broadcast::channel(CHANNEL_CAPACITY);
        Hub {
            sender,
            log: Mutex::new(Log { events: VecDeque::new(), bytes: 0, complete_since: current }),
        }
    }

    pub(crate) fn publish(&self, event: Event) {
        crate::metrics::inc(
            "veranda_watch_events_total",
            vec![("type", event.event_type.as_str().to_string())],
        );
        let event = Arc::new(event);
        let mut log = self.log.lock().unwrap_or_else(|e| e.into_inner());
        log.bytes += event.json.len();
        log.events.push_back(event.clone());
        while log.events.len() > RETAINED_EVENTS
            || (log.bytes > RETAINED_BYTES && log.events.len() > 1)
        {
            let Some(evicted) = log.events.pop_front() else { break };
            log.bytes -= evicted.json.len();
            log.complete_since = evicted.resource_version;
        }
        // Sent under the log lock so that subscribe() sees each event exactly once.
        let _ = self.sender.send(event);
    }

    /// Subscribes and returns the retained events after `since` (for a resumed watch).
    pub(crate) fn subscribe(&self, since: Option<i64>) -> Result<Subscription, WatchError> {
        let log = self.log.lock().unwrap_or_else(|e| e.into_inner());
        let receiver = self.sender.subscribe();
        let Some(since) = since else { return Ok(Subscription { receiver, backlog: Vec::new() }) };
        if since < log.complete_since {
            return Err(WatchError::Gone { oldest: log.complete_since });
        }
        let backlog = log.events.iter().filter(|e| e.resource_version > since).cloned().collect();
        Ok(Subscription { receiver, backlog })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(rv: i64, size: usize) -> Event {
        Event {
            resource_version: rv,
            event_type: EventType::Modified,
            topic: Topic::PackageRevisions,
            namespace: "default".into(),
            json: "x".repeat(size).into(),
        }
    }

    #[test]
    fn log_is_bounded_by_bytes() {
        let hub = Hub::new(0);
        let size = 1 << 20;
        for rv in 1..=100 {
            hub.publish(event(rv, size));
        }
        let log = hub.log.lock().unwrap();
        assert!(log.bytes <= RETAINED_BYTES, "{}", log.bytes);
        assert_eq!(log.events.len(), RETAINED_BYTES / size);
        assert_eq!(log.complete_since, 100 - (RETAINED_BYTES / size) as i64);
        drop(log);
        assert!(matches!(hub.subscribe(Some(1)), Err(WatchError::Gone { .. })));
        assert_eq!(hub.subscribe(Some(99)).unwrap().backlog.len(), 1);
    }

    #[test]
    fn log_is_bounded_by_count() {
        let hub = Hub::new(0);
        for rv in 1..=(RETAINED_EVENTS as i64 + 5) {
            hub.publish(event(rv, 1));
        }
        let log = hub.log.lock().unwrap();
        assert_eq!(log.events.len(), RETAINED_EVENTS);
        assert_eq!(log.complete_since, 5);
    }
}
