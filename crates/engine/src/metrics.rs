//! Process-wide Prometheus metrics: counters, gauges and histograms with labels, rendered in the
//! text exposition format for `/metrics`. Small on purpose: a mutex-protected map per kind is
//! plenty for the request rates of an API server, and it keeps the dependency tree lean.

use std::{
    collections::BTreeMap,
    fmt::Write,
    sync::{Mutex, OnceLock},
    time::Instant,
};

/// Label pairs in a fixed order.
pub type Labels = Vec<(&'static str, String)>;

/// Bucket upper bounds (seconds) shared by every latency histogram: 100 µs … 30 s.
const BUCKETS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0, 30.0,
];

/// Metric names and their help texts.
const HELP: &[(&str, &str, &str)] = &[
    ("veranda_http_requests_total", "counter", "HTTP requests by verb, resource and status code."),
    (
        "veranda_http_request_duration_seconds",
        "histogram",
        "HTTP request latency by verb and resource.",
    ),
    (
        "veranda_git_operation_duration_seconds",
        "histogram",
        "Duration of Git operations by operation.",
    ),
    (
        "veranda_store_query_duration_seconds",
        "histogram",
        "Duration of store transactions and queries by operation.",
    ),
    ("veranda_render_duration_seconds", "histogram", "Duration of package renders."),
    ("veranda_watches", "gauge", "Open watch streams."),
    ("veranda_repository_syncs_running", "gauge", "Repository syncs (fetch and re-index) running."),
    (
        "veranda_repository_syncs_running_max",
        "gauge",
        "The most repository syncs that ran at once since the server started.",
    ),
    ("veranda_watch_events_total", "counter", "Events published to watchers, by type."),
    (
        "veranda_authentication_failures_total",
        "counter",
        "Requests refused with 401, by reason (missing or invalid credentials).",
    ),
    (
        "veranda_authentication_lockouts_total",
        "counter",
        "Source addresses refused for a while after too many failed authentications.",
    ),
];

/// Every metric's current value. The process has one ([`registry`]); tests make their own so
/// that what other tests record cannot change what they see.
#[derive(Default)]
struct Registry {
    counters: BTreeMap<(&'static str, Labels), u64>,
    gauges: BTreeMap<(&'static str, Labels), i64>,
    histograms: BTreeMap<(&'static str, Labels), Histogram>,
}

#[derive(Clone)]
struct Histogram {
    counts: Vec<u64>,
    sum: f64,
    count: u64,
}

fn registry() -> &'static Mutex<Registry> {
    static REGISTRY: OnceLock<Mutex<Registry>> = OnceLock::new();
    REGISTRY.get_or_init(|| Mutex::new(Registry::default()))
}

fn with<T>(f: impl FnOnce(&mut Registry) -> T) -> T {
    let mut registry = registry().lock().unwrap_or_else(|e| e.into_inner());
    f(&mut registry)
}

/// Adds one to a counter.
pub fn inc(name: &'static str, labels: Labels) {
    with(|r| r.inc(name, labels));
}

/// Adds `delta` to a gauge.
pub fn gauge_add(name: &'static str, labels: Labels, delta: i64) {
    with(|r| r.gauge_add(name, labels, delta));
}

/// Records one observation (seconds) in a histogram.
pub fn observe(name: &'static str, labels: Labels, seconds: f64) {
    with(|r| r.observe(name, labels, seconds));
}

/// Runs `f` and records its duration under `name{operation=...}`.
pub fn timed<T>(name: &'static str, operation: &'static str, f: impl FnOnce() -> T) -> T {
    let started = Instant::now();
    let out = f();
    observe(name, vec![("operation", operation.to_string())], started.elapsed().as_secs_f64());
    out
}

/// Times a Git operation.
pub fn git<T>(operation: &'static str, f: impl FnOnce() -> T) -> T {
    timed("veranda_git_operation_duration_seconds", operation, f)
}

/// Times a store operation.
pub fn store<T>(operation: &'static str, f: impl FnOnce() -> T) -> T {
    timed("veranda_store_query_duration_seconds", operation, f)
}

/// One repository sync in flight, counted in `veranda_repository_syncs_running` (and its
/// high-water mark) until dropped.
pub(crate) struct SyncRunning;

impl SyncRunning {
    const NAME: &'static str = "veranda_repository_syncs_running";

    pub(crate) fn start() -> SyncRunning {
        with(|r| {
            r.gauge_add(Self::NAME, Vec::new(), 1);
            let running = r.gauges.get(&(Self::NAME, Vec::new())).copied().unwrap_or(0);
            let max =
                r.gauges.entry(("veranda_repository_syncs_running_max", Vec::new())).or_default();
            *max = (*max).max(running);
        });
        SyncRunning
    }
}

impl Drop for SyncRunning {
    fn drop(&mut self) {
        gauge_add(Self::NAME, Vec::new(), -1);
    }
}

/// The text exposition format of every metric.
pub fn render() -> String {
    // Rendered from a copy, so the lock is not held while formatting.
    let snapshot = with(|r| Registry {
        counters: r.counters.clone(),
        gauges: r.gauges.clone(),
        histograms: r.histograms.clone(),
    });
    snapshot.render()
}

impl Registry {
    fn inc(&mut self, name: &'static str, labels: Labels) {
        *self.counters.entry((name, labels)).or_default() += 1;
    }

    fn gauge_add(&mut self, name: &'static str, labels: Labels, delta: i64) {
        *self.gauges.entry((name, labels)).or_default() += delta;
    }

    fn observe(&mut self, name: &'static str, labels: Labels, seconds: f64) {
        let histogram = self.histograms.entry((name, labels)).or_insert_with(|| Histogram {
            counts: vec![0; BUCKETS.len()],
            sum: 0.0,
            count: 0,
        });
        for (i, bound) in BUCKETS.iter().enumerate() {
            if seconds <= *bound {
                histogram.counts[i] += 1;
            }
        }
        histogram.sum += seconds;
        histogram.count += 1;
    }

    fn render(&self) -> String {
        let Registry { counters, gauges, histograms } = self;
        let mut out = String::new();
        for (name, kind, help) in HELP {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
            for ((n, labels), value) in counters.iter().filter(|((n, _), _)| n == name) {
                let _ = writeln!(out, "{n}{} {value}", format_labels(labels, None));
            }
            for ((n, labels), value) in gauges.iter().filter(|((n, _), _)| n == name) {
                let _ = writeln!(out, "{n}{} {value}", format_labels(labels, None));
            }
            if *kind == "gauge" && !gauges.keys().any(|(n, _)| n == name) {
                let _ = writeln!(out, "{name} 0");
            }
            for ((n, labels), h) in histograms.iter().filter(|((n, _), _)| n == name) {
                for (i, bound) in BUCKETS.iter().enumerate() {
                    let _ = writeln!(
                        out,
                        "{n}_bucket{} {}",
                        format_labels(labels, Some(&bound.to_string())),
                        h.counts[i]
                    );
                }
                let _ =
                    writeln!(out, "{n}_bucket{} {}", format_labels(labels, Some("+Inf")), h.count);
                let _ = writeln!(out, "{n}_sum{} {}", format_labels(labels, None), h.sum);
                let _ = writeln!(out, "{n}_count{} {}", format_labels(labels, None), h.count);
            }
        }
        out
    }
}

fn format_labels(labels: &Labels, le: Option<&str>) -> String {
    let mut parts: Vec<String> = labels
        .iter()
        .map(|(k, v)| {
            format!("{k}=\"{}\"", v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n"))
        })
        .collect();
    if let Some(le) = le {
        parts.push(format!("le=\"{le}\""));
    }
    if parts.is_empty() { String::new() } else { format!("{{{}}}", parts.join(",")) }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Exact values, from a registry of the test's own.
    #[test]
    fn renders_prometheus_text() {
        let mut registry = Registry::default();
        registry.inc(
            "veranda_http_requests_total",
            vec![("verb", "get".into()), ("code", "200".into())],
        );
        registry.observe("veranda_render_duration_seconds", vec![], 0.003);
        let text = registry.render();
        assert!(
            text.contains("veranda_http_requests_total{verb=\"get\",code=\"200\"} 1\n"),
            "{text}"
        );
        assert!(
            text.contains("veranda_render_duration_seconds_bucket{le=\"0.005\"} 1\n"),
            "{text}"
        );
        assert!(
            text.contains("veranda_render_duration_seconds_bucket{le=\"0.0025\"} 0\n"),
            "{text}"
        );
        assert!(text.contains("veranda_render_duration_seconds_count 1\n"), "{text}");
        assert!(text.contains("# TYPE veranda_watches gauge\nveranda_watches 0\n"), "{text}");
        registry.gauge_add("veranda_watches", vec![], 2);
        registry.gauge_add("veranda_watches", vec![], -1);
        let text = registry.render();
        assert!(text.contains("\nveranda_watches 1\n"), "{text}");
    }

    /// The process-wide registry other tests write too: only the change of series whose labels
    /// no other test uses is checked.
    #[test]
    fn process_registry_records_and_renders() {
        let counter = "veranda_http_requests_total{verb=\"metrics-test\",code=\"299\"}";
        let histogram = "veranda_git_operation_duration_seconds_count{operation=\"metrics-test\"}";
        let before = (value(&render(), counter), value(&render(), histogram));
        for _ in 0..3 {
            inc(
                "veranda_http_requests_total",
                vec![("verb", "metrics-test".into()), ("code", "299".into())],
            );
        }
        git("metrics-test", || ());
        let text = render();
        assert_eq!(value(&text, counter), before.0 + 3, "{text}");
        assert_eq!(value(&text, histogram), before.1 + 1, "{text}");
    }

    /// The value of the series `series` (name and labels as rendered), 0 when absent.
    fn value(text: &str, series: &str) -> u64 {
        text.lines()
            .find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
            .unwrap_or(0)
    }
}
