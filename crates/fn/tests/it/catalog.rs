//! The kpt function catalog's examples and tests (`testdata/fn-catalog/`), run against the
//! built-in functions the way the catalog's e2e harness runs them with kpt: render or eval the
//! case directory, apply `.expected/diff.patch` to a copy for the expected tree, compare the
//! trees (without `.expected/`), the exit code and `results.yaml`, then run again to check the
//! result is stable. `cases.yaml` says how each case is invoked.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use serde_yaml::Value;
use veranda_fn::{BuiltinRuntime, Files, FunctionRef, RenderOptions, eval, render};

use crate::util::{diff_files, read_dir, testdata, write_dir};

/// Cases that cannot apply here, with the reason.
const SKIPPED: &[(&str, &str)] = &[
    ("ensure-name-substring-advanced", ENS_MASTER),
    ("ensure-name-substring-depends-on", ENS_MASTER),
    ("ensure-name-substring-imperative", ENS_MASTER),
    ("ensure-name-substring-prefix", ENS_MASTER),
    ("ensure-name-substring-suffix", ENS_MASTER),
    ("_tests/ensure-name-substring/legacy-config", ENS_MASTER),
    ("_tests/ensure-name-substring/local-config", ENS_MASTER),
    ("_tests/set-namespace/no-fnconfig-resource", NS_MASTER),
    ("_tests/set-namespace/replace-match", NS_MASTER),
    ("_release/set-annotations@v0.1/examples/set-annotations-advanced", OLD_KPT),
    ("_release/set-annotations@v0.1/examples/set-annotations-simple", OLD_KPT),
    ("_release/set-annotations@v0.1/tests/set-annotations/legacy-config", OLD_KPT),
    ("_release/set-annotations@v0.1/tests/set-annotations/local-config", OLD_KPT),
    (
        "_release/search-replace@v0.2/tests/search-replace/no-results",
        "made with an older kpt that did not pass the Kptfile to functions; the Kptfile's own configMap contains the searched value",
    ),
    ("_tests/starlark/load-library", STARLIB),
    (
        "_tests/starlark/openapi",
        "prints `ctx.open_api`, which needs kyaml's embedded Kubernetes OpenAPI document; not provided",
    ),
    (
        "_tests/starlark/preserve-id-annotations",
        "raw `kpt fn source | docker run starlark | docker run format | kpt fn sink` pipeline; needs the `format` function",
    ),
];

const ENS_MASTER: &str = "the master expectation records kpt losing file paths (every resource rewritten to \
     <namespace>/<kind>_<name>.yaml); the release copies cover ensure-name-substring v0.2.0";
const NS_MASTER: &str =
    "expects the unreleased master set-namespace rewrite; the built-in is v0.4.1 (release copies)";
const OLD_KPT: &str = "made with an older kpt that passed neither the Kptfile, the functionConfig nor local-config \
     resources to functions, and an older kustomize that sorted annotation maps; the master copies of these cases pass";

const STARLIB: &str = "loads every qri-io/starlib module (`bsoup.star`, `re.star`, …) with `load()`; the \
     built-in provides only `encoding/json.star`";

/// Functions of the catalog that are not built-ins (out of scope).
const NOT_BUILTIN: &[&str] = &["set-image", "create-setters"];

struct Outcome {
    function: String,
    passed: bool,
    message: String,
}

#[test]
fn catalog_cases() {
    let root = testdata().join("fn-catalog");
    let index: Value = serde_yaml::from_str(
        &std::fs::read_to_string(root.join("cases.yaml")).expect("cases.yaml"),
    )
    .expect("parse cases.yaml");
    let cases = index["cases"].as_sequence().expect("cases list");
    let only = std::env::var("CATALOG_CASE").ok();
    let mut outcomes = Vec::new();
    let mut skipped = Vec::new();
    for case in cases {
        let path = case["path"].as_str().expect("path").to_string();
        let function = case["function"].as_str().expect("function").to_string();
        if only.as_ref().is_some_and(|o| !path.contains(o.as_str())) {
            continue;
        }
        if NOT_BUILTIN.contains(&function.as_str()) {
            skipped.push((path, format!("{function} is not a built-in function")));
            continue;
        }
        if let Some((_, reason)) = SKIPPED.iter().find(|(p, _)| *p == path) {
            skipped.push((path, reason.to_string()));
            continue;
        }
        let result = run_case(&root, &path, case);
        outcomes.push(Outcome {
            function,
            passed: result.is_ok(),
            message: match result {
                Ok(()) => String::new(),
                Err(e) => format!("=== {path}\n{e}"),
            },
        });
    }
    let mut per_function: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    for outcome in &outcomes {
        let entry = per_function.entry(outcome.function.clone()).or_default();
        entry.1 += 1;
        if outcome.passed {
            entry.0 += 1;
        }
    }
    for (function, (passed, total)) in &per_function {
        println!("catalog {function}: {passed}/{total} passed");
    }
    for (path, reason) in &skipped {
        println!("catalog skipped {path}: {reason}");
    }
    let failures: Vec<&str> =
        outcomes.iter().filter(|o| !o.passed).map(|o| o.message.as_str()).collect();
    for failure in &failures {
        println!("{failure}");
    }
    let passed = outcomes.iter().filter(|o| o.passed).count();
    println!("catalog: {passed} passed, {} failed, {} skipped", failures.len(), skipped.len());
    // With or without `CATALOG_CASE`, every case that ran must pass.
    assert!(failures.is_empty(), "{} catalog case(s) failed (printed above)", failures.len());
    match &only {
        Some(filter) => assert!(
            !outcomes.is_empty() || !skipped.is_empty(),
            "CATALOG_CASE={filter:?} matches no case of cases.yaml"
        ),
        None => {
            let counts: Vec<(&str, usize, usize)> =
                per_function.iter().map(|(f, (p, t))| (f.as_str(), *p, *t)).collect();
            assert_eq!(counts, EXPECTED, "per-function pass counts (passed, run) changed");
            assert_eq!(
                skipped.len(),
                SKIPPED.len() + 13,
                "skip count changed (13 cases of set-image and create-setters)"
            );
        }
    }
}

/// Per function: cases passed and cases run. Every case that runs must pass.
const EXPECTED: &[(&str, usize, usize)] = &[
    ("apply-replacements", 1, 1),
    ("apply-setters", 2, 2),
    ("ensure-name-substring", 7, 7),
    ("search-replace", 7, 7),
    ("set-annotations", 11, 11),
    ("set-labels", 11, 11),
    ("set-namespace", 13, 13),
    ("starlark", 10, 10),
];

fn run_case(root: &Path, path: &str, case: &Value) -> Result<(), String> {
    let dir = root.join(path);
    let input = read_dir(&dir);
    let expected = expected_tree(&dir, &input)?;
    let exit_code = case["exitCode"].as_i64().unwrap_or(0);
    let (mut files, outcome) = invoke(path, &dir, case, &input)?;
    let mut problems = String::new();
    if (exit_code != 0) != outcome.error.is_some() {
        problems.push_str(&format!("exit code {exit_code} expected, error: {:?}\n", outcome.error));
    }
    files.retain(|p, _| !p.starts_with(".expected/"));
    let diff = diff_files(&files, &expected);
    if !diff.is_empty() {
        problems.push_str(&diff);
    }
    let results_path = dir.join(".expected/results.yaml");
    if results_path.exists() {
        let expected_results: Value = serde_yaml::from_str(
            &std::fs::read_to_string(&results_path).map_err(|e| e.to_string())?,
        )
        .map_err(|e| e.to_string())?;
        let actual: Value =
            serde_yaml::from_str(&outcome.results_yaml).map_err(|e| e.to_string())?;
        let want = comparable_results(&expected_results);
        let got = comparable_results(&actual);
        if want != got {
            problems.push_str(&format!("results differ:\n{got:?}\n--- expected\n{want:?}\n"));
        }
    }
    if problems.is_empty() && exit_code == 0 {
        // The catalog harness runs every successful case twice; the second run must not change
        // anything.
        let mut again_input = files.clone();
        for (p, c) in &input {
            if p.starts_with(".expected/") {
                again_input.insert(p.clone(), c.clone());
            }
        }
        let (mut again, outcome) = invoke(path, &dir, case, &again_input)?;
        again.retain(|p, _| !p.starts_with(".expected/"));
        if outcome.error.is_some() {
            problems.push_str(&format!("second run failed: {:?}\n", outcome.error));
        }
        let diff = diff_files(&again, &expected);
        if !diff.is_empty() {
            problems.push_str(&format!("second run differs:\n{diff}"));
        }
    }
    if problems.is_empty() { Ok(()) } else { Err(problems) }
}

/// exitCode plus, per function run, the results' message, severity, resourceRef, field, file.
fn comparable_results(list: &Value) -> Value {
    let mut out = serde_yaml::Mapping::new();
    out.insert("exitCode".into(), list["exitCode"].clone());
    let items: Vec<Value> = list["items"]
        .as_sequence()
        .map(|items| {
            items
                .iter()
                .map(|item| {
                    let mut m = serde_yaml::Mapping::new();
                    m.insert("exitCode".into(), item["exitCode"].clone());
                    m.insert("results".into(), item["results"].clone());
                    Value::Mapping(m)
                })
                .collect()
        })
        .unwrap_or_default();
    out.insert("items".into(), Value::Sequence(items));
    Value::Mapping(out)
}

fn expected_tree(dir: &Path, input: &Files) -> Result<Files, String> {
    let mut expected: Files = input
        .iter()
        .filter(|(p, _)| !p.starts_with(".expected/"))
        .map(|(p, c)| (p.clone(), c.clone()))
        .collect();
    let patch = dir.join(".expected/diff.patch");
    if !patch.exists() {
        return Ok(expected);
    }
    let temp = tempfile::tempdir().map_err(|e| e.to_string())?;
    write_dir(temp.path(), &expected);
    let mut text = std::fs::read(&patch).map_err(|e| e.to_string())?;
    if !text.ends_with(b"\n") {
        text.push(b'\n');
    }
    let patch_file = temp
        .path()
        .join("..")
        .join(format!("{}.patch", temp.path().file_name().and_then(|n| n.to_str()).unwrap_or("x")));
    std::fs::write(&patch_file, &text).map_err(|e| e.to_string())?;
    let status = Command::new("git")
        .args(["apply", "--whitespace=nowarn"])
        .arg(&patch_file)
        .current_dir(temp.path())
        .env("GIT_DIR", temp.path().join(".nogit"))
        .output()
        .map_err(|e| e.to_string())?;
    let _ = std::fs::remove_file(&patch_file);
    if !status.status.success() {
        return Err(format!("git apply failed: {}", String::from_utf8_lossy(&status.stderr)));
    }
    expected = read_dir(temp.path());
    Ok(expected)
}

fn render_options() -> RenderOptions {
    RenderOptions {
        allow_exec: false,
        write_status: false,
        default_image_prefix: "gcr.io/kpt-fn/".into(),
        root_display_name: ".".into(),
        output_resource_list: false,
    }
}

/// Runs the case the way its runner (or its `exec.sh`) would.
fn invoke(
    path: &str,
    dir: &Path,
    case: &Value,
    input: &Files,
) -> Result<(Files, veranda_fn::RenderOutcome), String> {
    let runtime = BuiltinRuntime;
    let options = render_options();
    let invocation = &case["invocation"];
    let command = invocation["command"].as_str().unwrap_or("render");
    let mut files = input.clone();
    match command {
        "render" => {
            let outcome = render(&files, &runtime, &options);
            Ok((outcome.files.clone(), outcome))
        }
        "sequence" => {
            // `kpt pkg init` adds package-context.yaml (kpt 1.0.0-beta.56 writes exactly this),
            // then `kpt fn render`.
            files.entry("package-context.yaml".into()).or_insert_with(|| {
                b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: kptfile.kpt.dev\n  annotations:\n    config.kubernetes.io/local-config: \"true\"\ndata:\n  name: example\n".to_vec()
            });
            let outcome = render(&files, &runtime, &options);
            Ok((outcome.files.clone(), outcome))
        }
        "eval" => {
            let image = invocation["image"].as_str().ok_or("eval without image")?;
            let config = if let Some(args) = invocation["args"].as_mapping() {
                let mut data: Vec<(String, String)> = args
                    .iter()
                    .map(|(k, v)| {
                        let value = match v {
                            Value::String(s) => s.clone(),
                            other => {
                                serde_yaml::to_string(other).unwrap_or_default().trim().to_string()
                            }
                        };
                        (k.as_str().unwrap_or("").to_string(), value)
                    })
                    .collect();
                if path.ends_with("starlark-configmap-as-functionconfig") {
                    let source = std::fs::read_to_string(dir.join("set-replicas.star"))
                        .map_err(|e| e.to_string())?;
                    data = vec![("replicas".into(), "5".into()), ("source".into(), source)];
                }
                data.sort();
                Some(config_map_yaml(&data))
            } else if let Some(fn_config) = invocation["fnConfig"].as_str() {
                Some(
                    String::from_utf8_lossy(input.get(fn_config).ok_or("fn-config file missing")?)
                        .into_owned(),
                )
            } else if path.ends_with("eval-fn-config") || path.ends_with("openapi") {
                Some(
                    String::from_utf8_lossy(
                        input.get("fn-config.yaml").ok_or("fn-config.yaml missing")?,
                    )
                    .into_owned(),
                )
            } else {
                None
            };
            let outcome = eval(
                &files,
                &runtime,
                &FunctionRef::Image(image.to_string()),
                config.as_deref(),
                &options,
            );
            Ok((outcome.files.clone(), outcome))
        }
        other => Err(format!("unknown invocation {other:?}")),
    }
}

/// kpt's `function-input` ConfigMap for `-- k=v` arguments.
fn config_map_yaml(data: &[(String, String)]) -> String {
    let mut text =
        String::from("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: function-input\ndata:\n");
    for (k, v) in data {
        text.push_str(&format!(
            "  {}: {}\n",
            serde_json::to_string(k).unwrap_or_default(),
            serde_json::to_string(v).unwrap_or_default()
        ));
    }
    text
}
