//! Smoke test of the benchmark harness: `veranda-bench --smoke` drives the real server binary
//! through every measured operation at one tiny scale and writes its CSV and SVG, in seconds.
//!
//! The server binary is `veranda` in the same target directory (`target/<profile>/veranda`),
//! which `cargo test --workspace` builds; alone, build it first with
//! `cargo build --release -p veranda-cli`.

use std::{
    path::PathBuf,
    process::{Command, Stdio},
    thread,
    time::{Duration, Instant},
};

const LIMIT: Duration = Duration::from_secs(20);

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
    // Bounded wait: a hung harness fails the test instead of hanging CI.
    let status = loop {
        if let Some(status) = child.try_wait().expect("poll veranda-bench") {
            break status;
        }
        if started.elapsed() > LIMIT * 3 {
            let _ = child.kill();
            let _ = child.wait();
            panic!("veranda-bench --smoke did not finish within {:?}", LIMIT * 3);
        }
        thread::sleep(Duration::from_millis(50));
    };
    let elapsed = started.elapsed();
    let output = child.wait_with_output().expect("collect veranda-bench output");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(status.success(), "veranda-bench --smoke failed:\n{stdout}\n{stderr}");
    assert!(elapsed < LIMIT, "veranda-bench --smoke took {elapsed:?}, over {LIMIT:?}");

    let csv = std::fs::read_to_string(out.join("results.csv")).expect("results.csv written");
    let metrics: Vec<&str> = csv.lines().skip(1).filter_map(|l| l.split(',').nth(3)).collect();
    for expected in [
        "cold_start",
        "list_all_json",
        "list_all_table",
        "list_repository",
        "list_package",
        "get",
        "get_resources",
        "create",
        "update_resources",
        "propose",
        "approve",
        "propose_delete",
        "delete",
        "watch_delivery",
        "peak_rss_serve",
        "throughput_c2",
        "git_floor_approve",
    ] {
        assert!(metrics.contains(&expected), "{expected} missing from results.csv:\n{csv}");
    }
    let failed = csv.lines().find(|l| l.split(',').nth(3) == Some("failed_cycles_c2"));
    assert!(failed.is_some_and(|l| l.split(',').nth(6) == Some("0.0000")), "{failed:?}");
    let svg = std::fs::read_to_string(out.join("latency.svg")).expect("latency.svg written");
    assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"), "{svg}");
    assert!(svg.contains("approve"), "{svg}");
}
