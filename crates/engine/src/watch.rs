//! The event hub: every change of a package revision or repository becomes one event with a
//! server-wide monotonic resourceVersion. Watches resume from a resourceVersion out of a bounded
//! in-memory log; older ones get 410 Gone and must re-list.
//!
//! On a store other servers write too, events are handed out in resourceVersion order (as
//! kube-apiserver's watch cache hands out etcd's revisions): an event waits until the change
//! feed's follower has applied the store's position past it ([`Hub::advance`]) and no write
//! of this server that may hold an earlier version is still on its way ([`Writing`]). So a
//! watch on any server sees one order, and a watch resumed on one server from a version seen
//! on another misses nothing.

use std::{
    collections::{BTreeMap, VecDeque},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
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
    // On a shared store: what orders the events.
    order: Option<Order>,
}

/// The ordering of a hub on a shared store.
struct Order {
    /// Every event up to this version is handed out (or will never be made here).
    released: i64,
    /// The store's position the follower has applied: every write up to it is known here.
    applied: i64,
    /// Writers numbered below this one started before `applied` was read, so they may hold a
    /// version at or below it.
    barrier: u64,
    next_writer: u64,
    /// Writes of this server between their store transaction and their events: `None` while
    /// the versions they take are not known yet, else the lowest.
    writers: BTreeMap<u64, Option<i64>>,
    /// Events waiting for their turn, by version, with when the first of each arrived.
    held: BTreeMap<i64, (Instant, Vec<Arc<Event>>)>,
    /// Versions whose events went out without waiting any longer ([`Hub::expire`]).
    forced: i64,
}

impl Order {
    /// The highest version every earlier event of which is known to be here.
    fn limit(&self) -> i64 {
        let mut limit = self.applied;
        for lowest in self.writers.range(..self.barrier).map(|(_, w)| *w) {
            limit = limit.min(lowest.map_or(self.released, |rv| rv - 1));
        }
        limit.max(self.released)
    }
}

/// A write of this server on its way from the store to its events (see the module's text).
/// Take it before the store transaction that assigns the versions; drop it after publishing.
pub(crate) struct Writing {
    hub: Arc<Hub>,
    id: Option<u64>,
}

impl Writing {
    /// The write committed; `lowest` is the lowest version it took (`None`: none).
    pub(crate) fn committed(&self, lowest: Option<i64>) {
        let Some(id) = self.id else { return };
        let mut log = self.hub.lock();
        if let Some(order) = &mut log.order
            && let Some(slot) = order.writers.get_mut(&id)
        {
            *slot = Some(lowest.unwrap_or(i64::MAX));
        }
        self.hub.release(&mut log);
    }
}

impl Drop for Writing {
    fn drop(&mut self) {
        let Some(id) = self.id else { return };
        let mut log = self.hub.lock();
        if let Some(order) = &mut log.order {
            order.writers.remove(&id);
        }
        self.hub.release(&mut log);
    }
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
    /// A hub whose log is complete after `current` (the resourceVersion at start-up);
    /// `ordered` on a shared store (see the module's text).
    pub(crate) fn new(current: i64, ordered: bool) -> Hub {
        let (sender, _) = broadcast::channel(CHANNEL_CAPACITY);
        let order = ordered.then(|| Order {
            released: current,
            applied: current,
            barrier: 0,
            next_writer: 0,
            writers: BTreeMap::new(),
            held: BTreeMap::new(),
            forced: current,
        });
        let log = Log { events: VecDeque::new(), bytes: 0, complete_since: current, order };
        Hub { sender, log: Mutex::new(log) }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Log> {
        self.log.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Registers a write about to take versions in the store.
    pub(crate) fn writing(self: &Arc<Self>) -> Writing {
        let mut log = self.lock();
        let id = log.order.as_mut().map(|order| {
            let id = order.next_writer;
            order.next_writer += 1;
            order.writers.insert(id, None);
            id
        });
        Writing { hub: self.clone(), id }
    }

    /// The writers registered so far: what [`Hub::advance`] is given after the follower
    /// read the store's position (a writer registered later takes versions above it).
    pub(crate) fn writers_so_far(&self) -> u64 {
        self.lock().order.as_ref().map_or(0, |order| order.next_writer)
    }

    /// The follower has applied the store up to `position`, read before `writers` (from
    /// [`Hub::writers_so_far`]) was taken: hands out what waited for it.
    pub(crate) fn advance(&self, position: i64, writers: u64) {
        let mut log = self.lock();
        if let Some(order) = &mut log.order
            && position >= order.applied
        {
            order.applied = position;
            order.barrier = order.barrier.max(writers);
        }
        self.release(&mut log);
    }

    /// The version every event up to which has been handed out: where a watch that has seen
    /// everything stands.
    pub(crate) fn position(&self) -> Option<i64> {
        self.lock().order.as_ref().map(|order| order.released)
    }

    pub(crate) fn publish(&self, event: Event) {
        crate::metrics::inc(
            "veranda_watch_events_total",
            vec![("type", event.event_type.as_str().to_string())],
        );
        let event = Arc::new(event);
        let mut log = self.lock();
        if let Some(order) = &mut log.order {
            if event.resource_version > order.released {
                let slot = order.held.entry(event.resource_version);
                slot.or_insert_with(|| (Instant::now(), Vec::new())).1.push(event);
                self.release(&mut log);
                return;
            }
            // Its turn has passed (a version this server was not told of in time): out now.
            tracing::debug!(rv = event.resource_version, released = order.released, "late event");
        }
        self.emit(&mut log, event);
    }

    /// Hands out, in order, every held event up to the newest one that has waited longer than
    /// `wait`: a follower or a write that stalls must not keep events from watches for good
    /// (they then go out in order still, and what arrives for a lower version goes out late).
    pub(crate) fn expire(&self, wait: Duration) {
        let mut log = self.lock();
        let Some(order) = &mut log.order else { return };
        let overdue = order.held.iter().filter(|(_, (at, _))| at.elapsed() >= wait);
        let Some(newest) = overdue.map(|(rv, _)| *rv).max() else { return };
        tracing::warn!(
            up_to = newest,
            applied = order.applied,
            writers = order.writers.len(),
            "watch events waited more than {wait:?} for their turn; handing them out"
        );
        order.forced = order.forced.max(newest);
        self.release(&mut log);
    }

    /// Hands out the held events whose turn has come, in order.
    fn release(&self, log: &mut Log) {
        let Some(order) = &mut log.order else { return };
        let limit = order.limit().max(order.forced);
        order.released = limit;
        let mut due = Vec::new();
        while let Some(entry) = order.held.first_entry() {
            if *entry.key() > limit {
                break;
            }
            due.extend(entry.remove().1);
        }
        for event in due {
            self.emit(log, event);
        }
    }

    fn emit(&self, log: &mut Log, event: Arc<Event>) {
        log.bytes += event.json.len();
        log.events.push_back(event.clone());
        while log.events.len() > RETAINED_EVENTS
            || (log.bytes > RETAINED_BYTES && log.events.len() > 1)
        {
            let Some(evicted) = log.events.pop_front() else { break };
            log.bytes -= evicted.json.len();
            log.complete_since = log.complete_since.max(evicted.resource_version);
        }
        // Sent under the log lock so that subscribe() sees each event exactly once.
        let _ = self.sender.send(event);
    }

    /// Subscribes and returns the retained events after `since` (for a resumed watch).
    pub(crate) fn subscribe(&self, since: Option<i64>) -> Result<Subscription, WatchError> {
        let log = self.lock();
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
        let hub = Hub::new(0, false);
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

    fn received(rx: &mut broadcast::Receiver<Arc<Event>>) -> Vec<i64> {
        std::iter::from_fn(|| rx.try_recv().ok()).map(|e| e.resource_version).collect()
    }

    #[test]
    fn an_ordered_hub_hands_out_events_in_version_order_once_the_feed_has_them() {
        let hub = Arc::new(Hub::new(10, true));
        let mut rx = hub.subscribe(None).unwrap().receiver;
        // This server's write took 12; another server's 11 is still on its way here.
        let mine = hub.writing();
        mine.committed(Some(12));
        hub.publish(event(12, 1));
        drop(mine);
        assert_eq!(received(&mut rx), Vec::<i64>::new(), "12 waits for the feed");
        // The follower read the store at 12 and applies 11 (another server's) first.
        let writers = hub.writers_so_far();
        hub.publish(event(11, 1));
        assert_eq!(received(&mut rx), Vec::<i64>::new());
        hub.advance(12, writers);
        assert_eq!(received(&mut rx), [11, 12]);
        assert_eq!(hub.position(), Some(12));
        // A resumed watch sees them in the log; a late event (its turn passed) goes out.
        assert_eq!(hub.subscribe(Some(10)).unwrap().backlog.len(), 2);
        hub.publish(event(9, 1));
        assert_eq!(received(&mut rx), [9]);
    }

    #[test]
    fn a_write_on_its_way_holds_back_what_comes_after_it() {
        let hub = Arc::new(Hub::new(0, true));
        let mut rx = hub.subscribe(None).unwrap().receiver;
        // Registered before the follower read the store: its version may be below the read.
        let slow = hub.writing();
        let writers = hub.writers_so_far();
        // Registered after the read: it takes versions above it and holds nothing back.
        let later = hub.writing();
        hub.publish(event(1, 1));
        hub.publish(event(3, 1));
        hub.advance(3, writers);
        assert_eq!(received(&mut rx), Vec::<i64>::new(), "the slow write's version is unknown");
        slow.committed(Some(2));
        assert_eq!(received(&mut rx), [1], "everything below the slow write");
        hub.publish(event(2, 1));
        assert_eq!(received(&mut rx), Vec::<i64>::new(), "until it has published");
        drop(slow);
        assert_eq!(received(&mut rx), [2, 3]);
        later.committed(Some(4));
        hub.publish(event(4, 1));
        drop(later);
        assert_eq!(received(&mut rx), Vec::<i64>::new(), "4 waits for the feed");
        hub.advance(4, hub.writers_so_far());
        assert_eq!(received(&mut rx), [4]);
        // A write that failed (dropped before it knew its versions) holds nothing back.
        let failed = hub.writing();
        let writers = hub.writers_so_far();
        hub.publish(event(5, 1));
        hub.advance(5, writers);
        assert_eq!(received(&mut rx), Vec::<i64>::new());
        drop(failed);
        assert_eq!(received(&mut rx), [5]);
    }

    #[test]
    fn events_that_waited_too_long_go_out_in_order() {
        let hub = Arc::new(Hub::new(0, true));
        let mut rx = hub.subscribe(None).unwrap().receiver;
        // A write that never says which versions it took, registered before the read.
        let stuck = hub.writing();
        let writers = hub.writers_so_far();
        hub.publish(event(2, 1));
        hub.publish(event(1, 1));
        hub.advance(2, writers);
        hub.expire(Duration::from_secs(60));
        assert_eq!(received(&mut rx), Vec::<i64>::new(), "not overdue yet");
        hub.expire(Duration::ZERO);
        assert_eq!(received(&mut rx), [1, 2]);
        assert_eq!(hub.position(), Some(2));
        drop(stuck);
    }

    #[test]
    fn an_unordered_hub_hands_out_at_once() {
        let hub = Arc::new(Hub::new(0, false));
        let mut rx = hub.subscribe(None).unwrap().receiver;
        let writing = hub.writing();
        hub.publish(event(2, 1));
        hub.publish(event(1, 1));
        drop(writing);
        assert_eq!(received(&mut rx), [2, 1]);
        assert_eq!(hub.position(), None);
    }

    #[test]
    fn log_is_bounded_by_count() {
        let hub = Hub::new(0, false);
        for rv in 1..=(RETAINED_EVENTS as i64 + 5) {
            hub.publish(event(rv, 1));
        }
        let log = hub.log.lock().unwrap();
        assert_eq!(log.events.len(), RETAINED_EVENTS);
        assert_eq!(log.complete_since, 5);
    }
}
