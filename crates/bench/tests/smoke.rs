//! Smoke test of the benchmark harness: `veranda-bench --smoke` drives the real server binary
//! through every measured operation at one tiny scale and writes its CSV and SVG, in seconds.
//!
//! The server binary is `veranda` in the same target directory (`target/<profile>/veranda`),
//! which `cargo test --workspace` builds; alone, build it first with
//! `cargo build --release -p veranda-cli`.
//!
//! What is checked is what the harness produced (the CSV's shape and values, the SVG, the
//! table), never how long it took: timings are the benchmark's output, not its test. The one
//! clock is a generous hang guard.

use std::{
    collections::BTreeMap,
    path::PathBuf,
    process::{Command, Stdio},
    thread,
    time::{Duration, Instant},
};

/// Kills a harness that hangs; not a performance bound.
const HANG_GUARD: Duration = Duration::from_secs(600);

const HEADER: &str = "scale,revisions,repositories,metric,unit,n,median,p99,min,max";

/// Measured operations with their unit and, at the smoke settings (3 read rounds, 2 write
/// lifecycles, 1 cold start), their sample count.
const OPERATIONS: &[(&str, &str, usize)] = &[
    ("cold_start", "ms", 1),
    ("list_all_json", "ms", 3),
    ("list_all_table", "ms", 3),
    ("list_repository", "ms", 3),
    ("list_package", "ms", 3),
    ("get", "ms", 3),
    ("get_resources", "ms", 3),
    ("create", "ms", 2),
    ("update_resources", "ms", 2),
    ("propose", "ms", 2),
    ("approve", "ms", 2),
    ("propose_delete", "ms", 2),
    ("delete", "ms", 2),
    ("git_floor_approve", "ms", 2),
    ("throughput_c2", "ops/s", 1),
    ("peak_rss_serve", "MiB", 1),
];

/// One line of results.csv.
#[derive(Debug)]
struct Row {
    scale: u64,
    revisions: u64,
    repositories: u64,
    unit: String,
    n: usize,
    median: f64,
    p99: f64,
    min: f64,
    max: f64,
}

#[test]
fn smoke_run_measures_every_operation() {
    let bench = PathBuf::from(env!("CARGO_BIN_EXE_veranda-bench"));
    // This test runs from target/<profile>/deps; the server sits in target/<profile>.
    let profile_dir = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent()?.parent().map(PathBuf::from))
        .expect("find the target directory from the test executable");
    let server = profile_dir.join("veranda");
    assert!(
        server.is_file(),
        "the server binary {} is missing: build it first with `cargo build --release -p veranda-cli` \
         (or run `cargo test --release --workspace`)",
        server.display()
    );
    let out = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("bench-smoke");
    let _ = std::fs::remove_dir_all(&out);

    let started = Instant::now();
    let mut child = Command::new(&bench)
        .arg("--smoke")
        .arg("--out")
        .arg(&out)
        .arg("--server")
        .arg(&server)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start veranda-bench");
    let status = loop {
        if let Some(status) = child.try_wait().expect("poll veranda-bench") {
            break status;
        }
        if started.elapsed() > HANG_GUARD {
            let _ = child.kill();
            let _ = child.wait();
            panic!("veranda-bench --smoke hung: no exit within {HANG_GUARD:?}");
        }
        thread::sleep(Duration::from_millis(50));
    };
    let output = child.wait_with_output().expect("collect veranda-bench output");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(status.success(), "veranda-bench --smoke failed:\n{stdout}\n{stderr}");

    let csv = std::fs::read_to_string(out.join("results.csv")).expect("results.csv written");
    let rows = parse_csv(&csv);
    for (metric, row) in &rows {
        // One scale of one repository: 3 packages x (2 published + placeholder) + 1 draft.
        assert_eq!(
            (row.scale, row.revisions, row.repositories),
            (10, 10, 1),
            "{metric}: scale columns"
        );
        assert!(["ms", "ops/s", "MiB", "count"].contains(&row.unit.as_str()), "{metric}: {row:?}");
        assert!(row.n >= 1, "{metric}: no samples");
        assert!(
            [row.median, row.p99, row.min, row.max].iter().all(|v| v.is_finite() && *v >= 0.0),
            "{metric}: {row:?}"
        );
        assert!(
            row.min <= row.median && row.median <= row.p99 && row.p99 <= row.max,
            "{metric}: summary out of order: {row:?}"
        );
        if row.n == 1 {
            assert!(row.min == row.max && row.median == row.max, "{metric}: one sample: {row:?}");
        }
    }
    for (metric, unit, n) in OPERATIONS {
        let row = rows
            .get(*metric)
            .unwrap_or_else(|| panic!("{metric} missing from results.csv:\n{csv}"));
        assert_eq!((row.unit.as_str(), row.n), (*unit, *n), "{metric}: unit and samples");
        assert!(row.median > 0.0, "{metric}: median is zero: {row:?}");
    }
    let watch = rows.get("watch_delivery").expect("watch_delivery in results.csv");
    assert_eq!(watch.unit, "ms");
    let failed = rows.get("failed_cycles_c2").expect("failed_cycles_c2 in results.csv");
    assert_eq!(
        (failed.unit.as_str(), failed.median, failed.max),
        ("count", 0.0, 0.0),
        "{failed:?}"
    );

    let svg = std::fs::read_to_string(out.join("latency.svg")).expect("latency.svg written");
    assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"), "{svg}");
    for (metric, unit, _) in OPERATIONS {
        if *unit == "ms" {
            assert!(svg.contains(metric), "{metric} missing from the plot:\n{svg}");
        }
    }
    let table = std::fs::read_to_string(out.join("table.txt")).expect("table.txt written");
    assert!(table.lines().next().is_some_and(|h| h.contains("10 revisions")), "{table}");
    for metric in rows.keys() {
        assert!(table.lines().any(|l| l.starts_with(&format!("{metric} ["))), "{metric}:\n{table}");
    }
    let targets = std::fs::read_to_string(out.join("targets.md")).expect("targets.md written");
    assert!(!targets.trim().is_empty(), "targets.md is empty");
}

/// The rows of results.csv by metric; panics on a malformed line or a repeated metric.
fn parse_csv(csv: &str) -> BTreeMap<String, Row> {
    let mut lines = csv.lines();
    assert_eq!(lines.next(), Some(HEADER), "results.csv header");
    let mut rows = BTreeMap::new();
    for line in lines {
        let fields: Vec<&str> = line.split(',').collect();
        assert_eq!(fields.len(), 10, "results.csv line {line:?}");
        let number = |i: usize| -> f64 {
            fields[i].parse().unwrap_or_else(|e| panic!("column {i} of {line:?}: {e}"))
        };
        let whole = |i: usize| -> u64 {
            fields[i].parse().unwrap_or_else(|e| panic!("column {i} of {line:?}: {e}"))
        };
        let row = Row {
            scale: whole(0),
            revisions: whole(1),
            repositories: whole(2),
            unit: fields[4].to_owned(),
            n: whole(5) as usize,
            median: number(6),
            p99: number(7),
            min: number(8),
            max: number(9),
        };
        let previous = rows.insert(fields[3].to_owned(), row);
        assert!(previous.is_none(), "metric {:?} appears twice in results.csv", fields[3]);
    }
    assert!(!rows.is_empty(), "results.csv has no rows");
    rows
}
