//! The kpt 1.0.0-beta.56 render goldens in `testdata/render/`, run with the same exec functions.
//!
//! beta.56 writes no render status into the Kptfile, so these run with
//! `RenderOptions::write_status = false`; the status is covered in `behaviours`.

use veranda_fn::{ExecRuntime, RenderOptions, render};

use crate::util::{diff_files, python_path_env, read_dir, testdata};

const CASES: &[&str] = &[
    "function-failure",
    "generator-and-prune",
    "mutators-preserve-comments",
    "noop-mutator-formatting",
    "selectors-exclude",
    "subpackages",
    "validator-error",
    "validator-results-pass",
];

#[test]
fn render_goldens() {
    let mut check_python = std::process::Command::new("python3");
    check_python.args(["-c", "import yaml"]).envs(python_path_env());
    assert!(
        check_python.output().is_ok_and(|o| o.status.success()),
        "the render goldens' exec functions need python3 with PyYAML: `pip install pyyaml`, or set \
         VERANDA_PYTHON to an interpreter that has it"
    );
    let mut failures = Vec::new();
    for case in CASES {
        if let Err(message) = check(case) {
            failures.push(format!("=== {case}\n{message}"));
        }
    }
    println!("render goldens: {} passed, {} failed", CASES.len() - failures.len(), failures.len());
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

fn check(case: &str) -> Result<(), String> {
    let dir = testdata().join("render").join(case);
    let input = read_dir(&dir.join("input"));
    let expected = read_dir(&dir.join("expected"));
    let runtime = ExecRuntime {
        allow_exec: true,
        exec_dir: Some(dir.join("input")),
        env: python_path_env(),
        ..ExecRuntime::default()
    };
    let options = RenderOptions {
        allow_exec: true,
        write_status: false,
        default_image_prefix: "gcr.io/kpt-fn/".into(),
        root_display_name: "pkg".into(),
        output_resource_list: false,
    };
    let outcome = render(&input, &runtime, &options);
    let case_yaml = std::fs::read_to_string(dir.join("case.yaml")).map_err(|e| e.to_string())?;
    let want_failure = case_yaml.contains("expectedOutcome: failure");
    let mut problems = String::new();
    if want_failure != outcome.error.is_some() {
        problems
            .push_str(&format!("error: {:?} (failure expected: {want_failure})\n", outcome.error));
    }
    let diff = diff_files(&outcome.files, &expected);
    if !diff.is_empty() {
        problems.push_str(&diff);
    }
    let results =
        std::fs::read_to_string(dir.join("results/results.yaml")).map_err(|e| e.to_string())?;
    if outcome.results_yaml != results {
        problems.push_str(&format!(
            "results.yaml differs:\n{}\n--- expected\n{results}",
            outcome.results_yaml
        ));
    }
    let stderr =
        std::fs::read_to_string(dir.join("kpt-render.stderr")).map_err(|e| e.to_string())?;
    let expected_log =
        normalize_log(stderr.split("\nFor complete results").next().unwrap_or(&stderr));
    let actual_log = normalize_log(&outcome.log);
    if actual_log.trim_end() != expected_log.trim_end() {
        problems.push_str(&format!("log differs:\n{actual_log}\n--- expected\n{expected_log}\n"));
    }
    if problems.is_empty() { Ok(()) } else { Err(problems) }
}

/// Replaces the durations in `[PASS] "…" in 1.2s` lines.
fn normalize_log(log: &str) -> String {
    log.lines()
        .map(|line| {
            if (line.starts_with("[PASS]") || line.starts_with("[FAIL]"))
                && let Some(i) = line.rfind(" in ")
            {
                return format!("{} in 0s", &line[..i]);
            }
            line.to_string()
        })
        .collect::<Vec<_>>()
        .join("\n")
}
