//! `veranda serve --function-runner` renders with functions that only a separate `veranda
//! fn-runner` process provides (issue 4's end-to-end).

use std::{os::unix::fs::PermissionsExt, path::Path};

use serde_json::{Value, json};

use crate::util::{FnRunner, Server, empty_repo};

/// Adds the label `added-by: fn-runner` to every object that has none yet.
const ADD_LABEL: &str = r#"#!/bin/sh
exec sed -E 's/^( *)metadata:$/\1metadata:\n\1  labels:\n\1    added-by: fn-runner/'
"#;

/// A function that never finishes on its own.
const SLEEP: &str = "#!/bin/sh\nsleep 30\n";

const CONFIG_MAP: &str =
    "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  mode: fast\n";

/// Writes an executable script `name` into `dir` and returns the `IMAGE=PATH` mapping that runs it
/// as `image`.
fn exec_function(dir: &Path, name: &str, image: &str, body: &str) -> String {
    let script = dir.join(name);
    std::fs::write(&script, body).expect("write script");
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    format!("{image}={}", script.display())
}

/// Registers a `deploy` repository, creates the draft `deploy.app.ws1`, and returns its
/// PackageRevisionResources with `image` appended to the Kptfile's mutators (not yet sent).
fn draft_with_mutator(server: &Server, image: &str) -> Value {
    let remote = empty_repo(server.dir.path(), "deploy.git");
    let manifest = format!(
        "apiVersion: config.porch.kpt.dev/v1alpha1\nkind: Repository\nmetadata:\n  name: deploy\nspec:\n  git:\n    repo: {}\n    createBranch: true\n",
        remote.display()
    );
    server.kubectl_in(&["apply", "-f", "-"], Some(&manifest));
    let init = json!({
        "apiVersion": "porch.kpt.dev/v1alpha1", "kind": "PackageRevision",
        "spec": {"repository": "deploy", "packageName": "app", "workspaceName": "ws1",
                 "tasks": [{"type": "init", "init": {"description": "app"}}]},
    });
    server.kubectl_in(&["create", "-f", "-"], Some(&init.to_string()));
    let mut prr = server.get_json(&["packagerevisionresources", "deploy.app.ws1"]);
    let kptfile = prr["spec"]["resources"]["Kptfile"].as_str().expect("Kptfile").to_string();
    let kptfile = format!("{}\npipeline:\n  mutators:\n    - image: {image}\n", kptfile.trim_end());
    prr["spec"]["resources"]["Kptfile"] = json!(kptfile);
    prr
}

#[test]
fn render_runs_functions_on_the_function_runner() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mapping = exec_function(dir.path(), "add-label.sh", "example.com/add-label", ADD_LABEL);
    let mut runner = FnRunner::start(
        &dir.path().join("fn-runner.log"),
        &["--no-builtins", "--exec-function", &mapping],
    );

    // The server knows the image neither as a built-in nor as an exec function.
    let server = Server::start_with(dir, &["--function-runner", &runner.url]);
    let mut prr = draft_with_mutator(&server, "example.com/add-label:v1");
    prr["spec"]["resources"]["configmap.yaml"] = json!(CONFIG_MAP);
    server.kubectl_in(&["replace", "-f", "-"], Some(&prr.to_string()));

    let stored = server.get_json(&["packagerevisionresources", "deploy.app.ws1"]);
    let resources = &stored["spec"]["resources"];
    let config_map = resources["configmap.yaml"].as_str().expect("configmap.yaml");
    assert!(config_map.contains("labels:\n    added-by: fn-runner\n"), "{config_map}");
    let kptfile = resources["Kptfile"].as_str().expect("Kptfile");
    assert!(kptfile.contains("reason: RenderSuccess"), "{kptfile}");

    // SIGTERM stops the function runner cleanly.
    let status = runner.stop().expect("fn-runner exits after SIGTERM");
    assert!(status.success(), "{status}");
}

#[test]
fn fn_runner_answers_health_probes_and_enforces_its_time_limit() {
    use std::time::{Duration, Instant};

    use veranda_fn::{FunctionRef, FunctionRuntime, GrpcConfig, GrpcRuntime, check_health};

    let dir = tempfile::tempdir().expect("temp dir");
    let mapping = exec_function(dir.path(), "sleep.sh", "example.com/sleep", SLEEP);
    let mut runner = FnRunner::start(
        &dir.path().join("fn-runner.log"),
        &["--exec-function", &mapping, "--function-timeout-seconds", "1"],
    );

    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("rt");
    assert!(rt.block_on(check_health(&runner.url, "")).expect("health"));
    assert!(rt.block_on(check_health(&runner.url, "evaluator.FunctionEvaluator")).expect("health"));

    let client = GrpcRuntime::new(GrpcConfig::new(&runner.url)).expect("client");
    let started = Instant::now();
    let res = client.run(&FunctionRef::Image("example.com/sleep:v1".into()), b"");
    assert!(res.is_err(), "a function over the limit fails: {res:?}");
    assert!(started.elapsed() < Duration::from_secs(10), "{:?}", started.elapsed());

    let status = runner.stop().expect("fn-runner exits after SIGTERM");
    assert!(status.success(), "{status}");
}

#[test]
fn serve_stops_an_exec_function_at_its_time_limit() {
    use std::time::{Duration, Instant};

    let dir = tempfile::tempdir().expect("temp dir");
    let mapping = exec_function(dir.path(), "sleep.sh", "example.com/sleep", SLEEP);
    let server =
        Server::start_with(dir, &["--exec-function", &mapping, "--function-timeout-seconds", "1"]);
    let prr = draft_with_mutator(&server, "example.com/sleep:v1");
    let started = Instant::now();
    let out = server.kubectl_output(&["replace", "-f", "-"], Some(&prr.to_string()));
    assert!(!out.status.success(), "a pipeline over the time limit fails");
    assert!(started.elapsed() < Duration::from_secs(15), "{:?}", started.elapsed());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("Package NOT pushed to remote"), "{stderr}");
}
