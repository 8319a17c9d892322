//! Functions get nothing of the server: no environment variables (starlark's `ctx.environment`
//! and exec functions), bounded memory (exec address space, starlark heap).

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use veranda_fn::{BuiltinRuntime, ExecRuntime, Files, Limits, MultiRuntime, RenderOptions, render};

fn package(pipeline: &str, extra: &[(&str, String)]) -> Files {
    let kptfile = format!(
        "apiVersion: kpt.dev/v1\nkind: Kptfile\nmetadata:\n  name: pkg\npipeline:\n{pipeline}"
    );
    let mut files: Files = [
        ("Kptfile".to_string(), kptfile.into_bytes()),
        (
            "cm.yaml".to_string(),
            b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm\ndata: {}\n".to_vec(),
        ),
    ]
    .into_iter()
    .collect();
    for (path, content) in extra {
        files.insert(path.to_string(), content.clone().into_bytes());
    }
    files
}

fn starlark_program(source: &str) -> String {
    format!(
        "apiVersion: fn.kpt.dev/v1alpha1\nkind: StarlarkRun\nmetadata:\n  name: f\n  annotations:\n    config.kubernetes.io/local-config: \"true\"\nsource: |\n{}",
        source.lines().map(|l| format!("  {l}\n")).collect::<String>()
    )
}

fn options() -> RenderOptions {
    RenderOptions { allow_exec: true, ..RenderOptions::default() }
}

fn text(files: &Files, path: &str) -> String {
    String::from_utf8_lossy(files.get(path).map(Vec::as_slice).unwrap_or_default()).into_owned()
}

#[test]
fn starlark_sees_no_server_environment() {
    // The test process certainly has PATH and HOME; the program must see neither.
    assert!(std::env::var_os("PATH").is_some());
    let pipeline = "  mutators:\n    - image: starlark:v0.5\n      configPath: fn.yaml\n";
    let program = starlark_program(
        "keys = sorted(ctx.environment.keys())\nfor r in ctx.resource_list[\"items\"]:\n  if r[\"kind\"] == \"ConfigMap\":\n    r[\"metadata\"][\"annotations\"][\"env\"] = \",\".join(keys) or \"none\"",
    );
    let outcome = render(&package(pipeline, &[("fn.yaml", program)]), &BuiltinRuntime, &options());
    assert_eq!(outcome.error, None);
    let cm = text(&outcome.files, "cm.yaml");
    assert!(cm.contains("env: none"), "{cm}\n{:?}", outcome.files.keys().collect::<Vec<_>>());
}

#[test]
fn starlark_heap_is_bounded() {
    let pipeline = "  mutators:\n    - image: starlark:v0.5\n      configPath: fn.yaml\n";
    // Doubles a list every statement: 2^40 elements unless stopped.
    let program = starlark_program("x = [1] * 1024\nfor i in range(40):\n  x = x + x\n");
    let outcome = render(&package(pipeline, &[("fn.yaml", program)]), &BuiltinRuntime, &options());
    let error = outcome.error.expect("the program is stopped");
    assert!(error.contains("memory budget"), "{error}");
}

fn script(dir: &Path, name: &str, body: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).expect("write script");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    path.to_string_lossy().into_owned()
}

fn exec(env: Vec<(String, String)>, max_memory: Option<u64>) -> MultiRuntime {
    MultiRuntime {
        runtimes: vec![
            Arc::new(BuiltinRuntime),
            Arc::new(ExecRuntime {
                allow_exec: true,
                limits: Limits {
                    timeout: Duration::from_secs(20),
                    max_memory,
                    ..Limits::default()
                },
                env,
                ..ExecRuntime::default()
            }),
        ],
    }
}

/// An exec function that writes its environment (one `NAME` per line, sorted) into the
/// ConfigMap's `data.env`.
const ENV_TO_CONFIGMAP: &str = r#"input=$(cat)
names=$(env | sed 's/=.*//' | grep -v '^PWD$' | grep -v '^SHLVL$' | grep -v '^_$' | sort | tr '\n' ' ')
printf '%s\n' "$input" | sed "s|data: {}|data: {env: \"$names\"}|""#;

#[test]
fn exec_functions_see_only_path_and_allowlisted_variables() {
    let dir = tempfile::tempdir().expect("tempdir");
    let function = script(dir.path(), "env.sh", ENV_TO_CONFIGMAP);
    let pipeline = format!("  mutators:\n    - exec: {function}\n");
    let outcome = render(&package(&pipeline, &[]), &exec(Vec::new(), None), &options());
    assert_eq!(outcome.error, None);
    let cm = text(&outcome.files, "cm.yaml");
    assert!(cm.contains("env: 'PATH '") || cm.contains("env: \"PATH \""), "{cm}");

    let allowed = vec![("REGION".to_string(), "eu-1".to_string())];
    let outcome = render(&package(&pipeline, &[]), &exec(allowed, None), &options());
    assert_eq!(outcome.error, None);
    let cm = text(&outcome.files, "cm.yaml");
    assert!(cm.contains("PATH REGION "), "{cm}");
}

#[test]
fn exec_functions_have_a_memory_limit() {
    let dir = tempfile::tempdir().expect("tempdir");
    // Reports the address-space limit it runs under.
    let function = script(
        dir.path(),
        "limit.sh",
        r#"input=$(cat); limit=$(ulimit -v); printf '%s\n' "$input" | sed "s|data: {}|data: {limit: \"$limit\"}|""#,
    );
    let pipeline = format!("  mutators:\n    - exec: {function}\n");
    let outcome = render(&package(&pipeline, &[]), &exec(Vec::new(), Some(256 << 20)), &options());
    assert_eq!(outcome.error, None);
    let cm = text(&outcome.files, "cm.yaml");
    assert!(cm.contains("limit: \"262144\""), "{cm}");

    // A function that needs 100 MB of memory: runs under 1 GiB, fails under 64 MiB.
    let hog = script(
        dir.path(),
        "hog.sh",
        r#"input=$(cat); v=$(head -c 100000000 /dev/zero | tr '\0' a) && [ ${#v} -eq 100000000 ] && printf '%s\n' "$input""#,
    );
    let pipeline = format!("  mutators:\n    - exec: {hog}\n");
    let outcome = render(&package(&pipeline, &[]), &exec(Vec::new(), Some(1 << 30)), &options());
    assert_eq!(outcome.error, None, "the function works with enough memory");
    let outcome = render(&package(&pipeline, &[]), &exec(Vec::new(), Some(64 << 20)), &options());
    assert!(outcome.error.is_some(), "the same function fails under a 64 MiB limit");
}

#[test]
fn missing_exec_function_is_a_spawn_error() {
    let pipeline = "  mutators:\n    - exec: /nonexistent/function\n";
    let outcome = render(&package(pipeline, &[]), &exec(Vec::new(), Some(1 << 30)), &options());
    let error = outcome.error.expect("fails");
    assert!(error.contains("/nonexistent/function"), "{error}");
}
