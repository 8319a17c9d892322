//! The function-runner protocol end to end on loopback: a tonic server in process running exec
//! functions, called through `GrpcRuntime` from plain threads and from tokio blocking threads.

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use veranda_fn::{
    ExecRuntime, FunctionRef, FunctionRuntime, GrpcConfig, GrpcRuntime, Limits, MultiRuntime,
    RuntimeError, check_health, serve_function_runner,
};

/// Adds the label `added-by: grpc` to every object (our ConfigMaps have no labels yet).
const ADD_LABEL: &str =
    r#"sed -E 's/^( *)metadata:$/\1metadata:\n\1  labels:\n\1    added-by: grpc/'"#;

const INPUT: &str = "apiVersion: config.kubernetes.io/v1
kind: ResourceList
items:
- apiVersion: v1
  kind: ConfigMap
  metadata:
    name: cm
  data:
    a: b
";

fn script(dir: &Path, name: &str, body: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).expect("write script");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    path
}

/// A function runner on 127.0.0.1:0 serving the given images; stops when dropped.
struct Runner {
    url: String,
    // Invariant: `Some` until dropped.
    runtime: Option<tokio::runtime::Runtime>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    _dir: tempfile::TempDir,
}

impl Runner {
    fn start(scripts: &[(&str, &str)], timeout: Duration) -> Runner {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut images = BTreeMap::new();
        for (i, (image, body)) in scripts.iter().enumerate() {
            images.insert(image.to_string(), script(dir.path(), &format!("fn{i}.sh"), body));
        }
        let exec = ExecRuntime {
            images,
            limits: Limits { timeout, max_output: 1024 * 1024, ..Default::default() },
            ..ExecRuntime::default()
        };
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("runtime");
        let listener =
            runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).expect("bind loopback");
        let url = format!("http://{}", listener.local_addr().expect("local addr"));
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        runtime.spawn(serve_function_runner(listener, Arc::new(exec), async move {
            let _ = stopped.await;
        }));
        Runner { url, runtime: Some(runtime), stop: Some(stop), _dir: dir }
    }

    fn client(&self, timeout: Duration) -> GrpcRuntime {
        GrpcRuntime::new(GrpcConfig { timeout, ..GrpcConfig::new(&self.url) }).expect("client")
    }
}

impl Drop for Runner {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        // Do not wait for functions still running (the hanging one).
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

fn image(name: &str) -> FunctionRef {
    FunctionRef::Image(name.to_string())
}

#[test]
fn exec_function_runs_through_grpc() {
    let runner = Runner::start(&[("example.com/add-label", ADD_LABEL)], Duration::from_secs(10));
    let client = runner.client(Duration::from_secs(10));
    let output = client.run(&image("example.com/add-label:v1"), INPUT.as_bytes()).expect("run");
    assert_eq!(output.exit_code, 0);
    let text = String::from_utf8(output.stdout).expect("utf-8");
    assert!(
        text.contains("  metadata:\n    labels:\n      added-by: grpc\n    name: cm\n"),
        "{text}"
    );
    // The same connection serves later calls.
    let again = client.run(&image("example.com/add-label:v2"), INPUT.as_bytes()).expect("run");
    assert!(String::from_utf8_lossy(&again.stdout).contains("added-by: grpc"));
}

#[test]
fn unknown_image_falls_through_multi_runtime() {
    let runner = Runner::start(&[("example.com/add-label", ADD_LABEL)], Duration::from_secs(10));
    let client = runner.client(Duration::from_secs(10));
    let err = client.run(&image("example.com/unknown:v1"), INPUT.as_bytes()).expect_err("unknown");
    assert_eq!(err, RuntimeError::NotFound("example.com/unknown:v1".into()));

    let dir = tempfile::tempdir().expect("tempdir");
    let local = ExecRuntime {
        images: [("example.com/local".to_string(), script(dir.path(), "local.sh", "cat"))].into(),
        ..ExecRuntime::default()
    };
    let multi = MultiRuntime { runtimes: vec![Arc::new(client), Arc::new(local)] };
    let output = multi.run(&image("example.com/local:v1"), INPUT.as_bytes()).expect("local runs");
    assert_eq!(output.stdout, INPUT.as_bytes());
    let err = multi.run(&image("example.com/nowhere"), INPUT.as_bytes()).expect_err("missing");
    assert!(matches!(err, RuntimeError::NotFound(_)), "{err:?}");
}

#[test]
fn hanging_function_times_out() {
    let runner = Runner::start(&[("example.com/hang", "sleep 30")], Duration::from_secs(3));
    let client = runner.client(Duration::from_millis(500));
    let start = Instant::now();
    let err = client.run(&image("example.com/hang:v1"), INPUT.as_bytes()).expect_err("timeout");
    assert!(matches!(err, RuntimeError::Timeout { .. }), "{err:?}");
    assert!(err.to_string().contains("timed out"), "{err}");
    assert!(start.elapsed() < Duration::from_secs(5), "took {:?}", start.elapsed());
}

#[test]
fn failing_function_keeps_output_and_exit_code() {
    let body = "cat; echo 'replicas must be 3' >&2; exit 2";
    let runner = Runner::start(&[("example.com/fail", body)], Duration::from_secs(10));
    let client = runner.client(Duration::from_secs(10));
    let output = client.run(&image("example.com/fail:v1"), INPUT.as_bytes()).expect("output");
    assert_eq!(output.exit_code, 2);
    assert_eq!(output.stdout, INPUT.as_bytes());
    assert_eq!(output.stderr, "replicas must be 3\n");
}

#[test]
fn runtime_errors_carry_the_runners_message() {
    let dir = tempfile::tempdir().expect("tempdir");
    let missing = dir.path().join("no-such-binary");
    let exec = ExecRuntime {
        images: [("example.com/broken".to_string(), missing)].into(),
        ..ExecRuntime::default()
    };
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let listener =
        runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).expect("bind loopback");
    let url = format!("http://{}", listener.local_addr().expect("local addr"));
    runtime.spawn(serve_function_runner(listener, Arc::new(exec), std::future::pending()));
    let client = GrpcRuntime::new(GrpcConfig::new(url)).expect("client");
    let err = client.run(&image("example.com/broken:v1"), b"").expect_err("broken");
    let text = err.to_string();
    assert!(matches!(err, RuntimeError::Failed { .. }), "{err:?}");
    assert!(text.contains("Failed to execute function \"example.com/broken:v1\""), "{text}");
    assert!(text.contains("failed to start function"), "{text}");
}

#[test]
fn unreachable_runner_is_a_quick_error() {
    // A port that was free a moment ago: nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let client =
        GrpcRuntime::new(GrpcConfig::new(format!("http://127.0.0.1:{port}"))).expect("client");
    let start = Instant::now();
    let err = client.run(&image("example.com/any:v1"), b"").expect_err("unreachable");
    assert!(err.to_string().contains("unavailable"), "{err}");
    assert!(start.elapsed() < Duration::from_secs(10), "took {:?}", start.elapsed());
}

#[test]
fn runs_from_blocking_threads_of_an_async_caller() {
    let runner = Runner::start(&[("example.com/add-label", ADD_LABEL)], Duration::from_secs(10));
    let client = Arc::new(runner.client(Duration::from_secs(10)));
    let caller = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("rt");
    caller.block_on(async {
        let c = client.clone();
        let output = tokio::task::spawn_blocking(move || {
            c.run(&image("example.com/add-label:v1"), INPUT.as_bytes())
        })
        .await
        .expect("join")
        .expect("run");
        assert!(String::from_utf8_lossy(&output.stdout).contains("added-by: grpc"));
        // Dropping the client inside async code must not panic.
        drop(client);
    });
    drop(runner);
}

#[test]
fn serves_the_grpc_health_protocol() {
    let runner = Runner::start(&[], Duration::from_secs(10));
    let caller = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("rt");
    caller.block_on(async {
        assert!(check_health(&runner.url, "").await.expect("whole server"));
        let evaluator = check_health(&runner.url, "evaluator.FunctionEvaluator").await;
        assert!(evaluator.expect("evaluator"));
        let unknown = check_health(&runner.url, "no.such.Service").await.expect_err("unknown");
        assert_eq!(unknown.code(), tonic::Code::NotFound);
        let down = check_health("http://127.0.0.1:1", "").await.expect_err("nothing listens");
        assert_eq!(down.code(), tonic::Code::Unavailable);
    });
}
