//! Render behaviours: failures with and without `kpt.dev/save-on-render-failure`, the render
//! status, limits (time, output size), misbehaving functions, a large package, exec policy and
//! breadth-first rendering.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use veranda_fn::{BuiltinRuntime, ExecRuntime, Files, Limits, MultiRuntime, RenderOptions, render};

fn files(entries: &[(&str, &str)]) -> Files {
    entries.iter().map(|(p, c)| (p.to_string(), c.as_bytes().to_vec())).collect()
}

fn text(files: &Files, path: &str) -> String {
    String::from_utf8_lossy(files.get(path).map(Vec::as_slice).unwrap_or_default()).into_owned()
}

fn options() -> RenderOptions {
    RenderOptions { allow_exec: true, write_status: true, ..RenderOptions::default() }
}

/// Writes an executable shell script.
fn script(dir: &Path, name: &str, body: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).expect("write script");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    path.to_string_lossy().into_owned()
}

fn exec_runtime(timeout: Duration) -> MultiRuntime {
    MultiRuntime {
        runtimes: vec![
            Arc::new(BuiltinRuntime),
            Arc::new(ExecRuntime {
                allow_exec: true,
                limits: Limits { timeout, max_output: 1024 * 1024, ..Default::default() },
                ..ExecRuntime::default()
            }),
        ],
    }
}

const DEPLOYMENT: &str = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: app # the app\nspec:\n  replicas: 1\n";

fn package(pipeline: &str, annotations: &str) -> Files {
    let kptfile = format!(
        "apiVersion: kpt.dev/v1\nkind: Kptfile\nmetadata:\n  name: pkg\n{annotations}pipeline:\n{pipeline}"
    );
    files(&[("Kptfile", &kptfile), ("deployment.yaml", DEPLOYMENT), ("README.md", "# not KRM\n")])
}

#[test]
fn success_writes_rendered_status() {
    let input = package(
        "  mutators:\n    - image: set-namespace:v0.4\n      configMap:\n        namespace: prod\n",
        "",
    );
    let outcome = render(&input, &BuiltinRuntime, &options());
    assert_eq!(outcome.error, None);
    assert_eq!(
        text(&outcome.files, "deployment.yaml"),
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: app # the app\n  namespace: prod\nspec:\n  replicas: 1\n"
    );
    let kptfile = text(&outcome.files, "Kptfile");
    assert!(kptfile.contains("status:\n  conditions:\n    - type: Rendered\n      status: \"True\"\n      reason: RenderSuccess\n"), "{kptfile}");
    assert!(kptfile.contains("mutationSteps:\n      - image: ghcr.io/kptdev/krm-functions-catalog/set-namespace:v0.4\n        exitCode: 0\n"), "{kptfile}");
    assert_eq!(text(&outcome.files, "README.md"), "# not KRM\n");
    assert_eq!(outcome.results["exitCode"], 0);
}

#[test]
fn failure_without_save_leaves_package_unchanged() {
    let dir = tempfile::tempdir().expect("tempdir");
    let fail = script(dir.path(), "fail.sh", "cat >/dev/null; echo 'boom: simulated' >&2; exit 3");
    let pipeline = format!(
        "  mutators:\n    - image: set-namespace\n      configMap:\n        namespace: prod\n    - exec: {fail}\n"
    );
    let input = package(&pipeline, "");
    let outcome = render(
        &input,
        &exec_runtime(Duration::from_secs(10)),
        &RenderOptions { write_status: false, ..options() },
    );
    let error = outcome.error.expect("render fails");
    assert!(error.contains("failed with exit code 3"), "{error}");
    assert!(error.contains("boom: simulated"), "{error}");
    assert_eq!(outcome.files, input, "nothing is written on failure");
    assert_eq!(outcome.results["exitCode"], 1);
    assert_eq!(outcome.results["items"][1]["exitCode"], 3);
}

#[test]
fn failure_with_save_on_render_failure_keeps_partial_output() {
    let dir = tempfile::tempdir().expect("tempdir");
    let fail = script(dir.path(), "fail.sh", "cat >/dev/null; exit 1");
    let pipeline = format!(
        "  mutators:\n    - image: set-namespace\n      configMap:\n        namespace: prod\n    - exec: {fail}\n"
    );
    let input =
        package(&pipeline, "  annotations:\n    kpt.dev/save-on-render-failure: \"true\"\n");
    let outcome = render(&input, &exec_runtime(Duration::from_secs(10)), &options());
    assert!(outcome.error.is_some());
    assert!(
        text(&outcome.files, "deployment.yaml").contains("namespace: prod"),
        "first mutator's output is saved"
    );
    let kptfile = text(&outcome.files, "Kptfile");
    assert!(kptfile.contains("status: \"False\"\n      reason: RenderFailed\n"), "{kptfile}");
    assert!(kptfile.contains("errorSummary:"), "{kptfile}");
}

#[test]
fn failure_writes_failed_status_like_kpt() {
    let dir = tempfile::tempdir().expect("tempdir");
    let fail = script(dir.path(), "fail.sh", "cat >/dev/null; exit 1");
    let input = package(&format!("  mutators:\n    - exec: {fail}\n"), "");
    let outcome = render(&input, &exec_runtime(Duration::from_secs(10)), &options());
    assert!(outcome.error.is_some());
    assert_eq!(outcome.files["deployment.yaml"], input["deployment.yaml"]);
    assert!(text(&outcome.files, "Kptfile").contains("reason: RenderFailed"));
}

#[test]
fn hanging_function_times_out() {
    let dir = tempfile::tempdir().expect("tempdir");
    let hang = script(dir.path(), "hang.sh", "sleep 30");
    let input = package(&format!("  mutators:\n    - exec: {hang}\n"), "");
    let start = Instant::now();
    let outcome = render(&input, &exec_runtime(Duration::from_millis(500)), &options());
    let error = outcome.error.expect("render fails");
    assert!(error.contains("timed out"), "{error}");
    assert!(start.elapsed() < Duration::from_secs(10), "took {:?}", start.elapsed());
}

#[test]
fn garbage_output_is_a_clear_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let garbage = script(dir.path(), "garbage.sh", "cat >/dev/null; echo 'this: is: not: yaml: ['");
    let input = package(&format!("  mutators:\n    - exec: {garbage}\n"), "");
    let outcome = render(&input, &exec_runtime(Duration::from_secs(10)), &options());
    let error = outcome.error.expect("render fails");
    assert!(error.contains("wrote invalid output"), "{error}");

    let text_out = script(dir.path(), "text.sh", "cat >/dev/null; echo hello world");
    let input = package(&format!("  mutators:\n    - exec: {text_out}\n"), "");
    let outcome = render(&input, &exec_runtime(Duration::from_secs(10)), &options());
    let error = outcome.error.expect("render fails");
    assert!(error.contains("wrote invalid output"), "{error}");
}

#[test]
fn flooding_function_is_stopped() {
    let dir = tempfile::tempdir().expect("tempdir");
    let flood = script(dir.path(), "flood.sh", "cat >/dev/null; yes y");
    let input = package(&format!("  mutators:\n    - exec: {flood}\n"), "");
    let outcome = render(&input, &exec_runtime(Duration::from_secs(20)), &options());
    let error = outcome.error.expect("render fails");
    assert!(error.contains("more than"), "{error}");
}

#[test]
fn exec_needs_allow_exec() {
    let input = package("  mutators:\n    - exec: ./fn.sh\n", "");
    let outcome =
        render(&input, &BuiltinRuntime, &RenderOptions { allow_exec: false, ..options() });
    let error = outcome.error.expect("render fails");
    assert!(
        error.ends_with("must run with `--allow-exec` option to allow running function binaries"),
        "{error}"
    );
}

#[test]
fn unknown_image_is_an_error() {
    let input = package("  mutators:\n    - image: example.com/does-not-exist:v1\n", "");
    let outcome = render(&input, &BuiltinRuntime, &options());
    assert!(outcome.error.expect("fails").contains("not available"));
}

#[test]
fn five_mib_package_renders() {
    let mut input = package(
        "  mutators:\n    - image: gcr.io/kpt-fn/set-namespace:v0.4.1\n      configMap:\n        namespace: big\n    - image: ghcr.io/kptdev/krm-functions-catalog/set-labels:v0.2\n      configMap:\n        tier: backend\n",
        "",
    );
    let payload = "x".repeat(1000);
    let mut total = 0;
    let mut i = 0;
    while total < 5 * 1024 * 1024 {
        let content = format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm-{i}\ndata:\n  a: {payload}\n  b: {payload}\n  c: {payload}\n  d: {payload}\n  e: {payload}\n"
        );
        total += content.len();
        input.insert(format!("data/cm-{i:04}.yaml"), content.into_bytes());
        i += 1;
    }
    let start = Instant::now();
    let outcome = render(&input, &BuiltinRuntime, &options());
    assert_eq!(outcome.error, None);
    let first = text(&outcome.files, "data/cm-0000.yaml");
    assert!(first.contains("namespace: big") && first.contains("tier: backend"), "{first}");
    println!("5 MiB package ({i} resources) rendered in {:?}", start.elapsed());
}

#[test]
fn bfs_rendering_runs_parent_first() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("order.log");
    let record = |name: &str| {
        script(dir.path(), &format!("{name}.sh"), &format!("echo {name} >> {}; cat", log.display()))
    };
    let (parent, child) = (record("parent"), record("child"));
    let kptfile = |name: &str, exec: &str, extra: &str| {
        format!(
            "apiVersion: kpt.dev/v1\nkind: Kptfile\nmetadata:\n  name: {name}\n{extra}pipeline:\n  mutators:\n    - exec: {exec}\n"
        )
    };
    let mut input =
        files(&[("sub/cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: sub\n")]);
    input.insert(
        "Kptfile".into(),
        kptfile("root", &parent, "  annotations:\n    kpt.dev/bfs-rendering: \"true\"\n")
            .into_bytes(),
    );
    input.insert("sub/Kptfile".into(), kptfile("sub", &child, "").into_bytes());
    let outcome = render(&input, &exec_runtime(Duration::from_secs(10)), &options());
    assert_eq!(outcome.error, None);
    assert_eq!(std::fs::read_to_string(&log).expect("log"), "parent\nchild\n");

    std::fs::remove_file(&log).expect("reset log");
    input.insert("Kptfile".into(), kptfile("root", &parent, "").into_bytes());
    let outcome = render(&input, &exec_runtime(Duration::from_secs(10)), &options());
    assert_eq!(outcome.error, None);
    assert_eq!(
        std::fs::read_to_string(&log).expect("log"),
        "child\nparent\n",
        "depth-first by default"
    );
}

#[test]
fn starlark_errors_are_results_not_panics() {
    let pipeline = "  mutators:\n    - image: starlark:v0.5\n      configPath: fn.yaml\n";
    let mut input = package(pipeline, "");
    let program = |source: &str| {
        format!(
            "apiVersion: fn.kpt.dev/v1alpha1\nkind: StarlarkRun\nmetadata:\n  name: f\n  annotations:\n    config.kubernetes.io/local-config: \"true\"\nsource: |\n{}",
            source.lines().map(|l| format!("  {l}\n")).collect::<String>()
        )
    };
    input.insert("fn.yaml".into(), program("def f(n):\n  return f(n + 1)\nf(0)").into_bytes());
    let outcome = render(&input, &BuiltinRuntime, &options());
    assert!(outcome.error.is_some(), "unbounded recursion fails");
    input.insert("fn.yaml".into(), program("fail(\"no way\")").into_bytes());
    let outcome = render(&input, &BuiltinRuntime, &options());
    assert!(outcome.error.expect("fails").contains("fail: no way"));
    input.insert("fn.yaml".into(), program("for r in ctx.resource_list[\"items\"]:\n  r[\"metadata\"][\"labels\"] = {\"a\": \"yes\"}").into_bytes());
    let outcome = render(&input, &BuiltinRuntime, &options());
    assert_eq!(outcome.error, None);
    assert!(
        text(&outcome.files, "deployment.yaml").contains("  labels:\n    a: \"yes\"\n"),
        "{}",
        text(&outcome.files, "deployment.yaml")
    );
}
