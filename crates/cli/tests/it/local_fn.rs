//! `veranda fn render` and `veranda fn eval` on local directories, through the binary: the kpt
//! 1.0.0-beta.56 render goldens (`testdata/render/*`, files, stderr, results.yaml and exit
//! code), kpt fn eval's search-replace examples from Porch's CLI goldens, selection, and what
//! a render must leave alone on disk (binary files, modes, symbolic links, paths outside).

use std::collections::BTreeMap;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::{python_venv::python_with, util::testdata};

const SEARCH_REPLACE: &str = "ghcr.io/kptdev/krm-functions-catalog/search-replace:v0.2.3";

/// `PATH` for the exec functions: an interpreter with PyYAML first.
fn function_path() -> String {
    let path = std::env::var("PATH").unwrap_or_default();
    match python_with("import yaml").parent() {
        Some(dir) if !dir.as_os_str().is_empty() => format!("{}:{path}", dir.display()),
        _ => path,
    }
}

fn veranda(cwd: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_veranda"))
        .current_dir(cwd)
        .args(args)
        .output()
        .expect("run veranda")
}

/// Every file under `dir` (relative path → bytes).
fn tree(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    fn walk(dir: &Path, prefix: &str, out: &mut BTreeMap<String, Vec<u8>>) {
        for entry in std::fs::read_dir(dir).expect("read dir") {
            let entry = entry.expect("dir entry");
            let name = format!("{prefix}{}", entry.file_name().to_string_lossy());
            let file_type = entry.file_type().expect("file type");
            if file_type.is_dir() {
                walk(&entry.path(), &format!("{name}/"), out);
            } else if file_type.is_symlink() {
                let target = std::fs::read_link(entry.path()).expect("read link");
                out.insert(name, format!("-> {}", target.display()).into_bytes());
            } else {
                out.insert(name, std::fs::read(entry.path()).expect("read file"));
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, "", &mut out);
    out
}

/// Copies a directory tree (files keep their modes; directories are writable).
fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("create dir");
    for entry in std::fs::read_dir(from).expect("read dir") {
        let entry = entry.expect("dir entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("file type").is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy file");
        }
    }
}

fn diff_trees(actual: &BTreeMap<String, Vec<u8>>, expected: &BTreeMap<String, Vec<u8>>) -> String {
    let mut out = String::new();
    for (path, want) in expected {
        match actual.get(path) {
            None => out.push_str(&format!("missing {path}\n")),
            Some(got) if got != want => out.push_str(&format!(
                "{path} differs:\n{}\n--- expected\n{}\n",
                String::from_utf8_lossy(got),
                String::from_utf8_lossy(want)
            )),
            Some(_) => {}
        }
    }
    for path in actual.keys().filter(|p| !expected.contains_key(*p)) {
        out.push_str(&format!("unexpected {path}\n"));
    }
    out
}

/// Replaces the durations of `[PASS] "…" in 1.2s` / `[FAIL] …` lines.
fn normalize(log: &str) -> String {
    log.lines()
        .map(|line| match line.rfind(" in ") {
            Some(i) if line.starts_with("[PASS]") || line.starts_with("[FAIL]") => {
                format!("{} in 0s\n", &line[..i])
            }
            _ => format!("{line}\n"),
        })
        .collect()
}

/// Drops the `[PASS]` lines, as Porch's CLI test harness does.
fn without_pass(log: &str) -> String {
    log.lines().filter(|l| !l.contains("[PASS]")).map(|l| format!("{l}\n")).collect()
}

/// A value of `case.yaml` (`key: value # comment` on one line).
fn case_value(case_yaml: &str, key: &str) -> String {
    case_yaml
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{key}: ")))
        .map(|v| v.split(" #").next().unwrap_or(v).trim().to_string())
        .unwrap_or_else(|| panic!("case.yaml has no {key}"))
}

fn check_render_case(case_dir: &Path, function_path: &str) -> Result<(), String> {
    let case_yaml =
        std::fs::read_to_string(case_dir.join("case.yaml")).map_err(|e| e.to_string())?;
    let command = case_value(&case_yaml, "command");
    let args: Vec<&str> = command.split_whitespace().collect();
    if args.first() != Some(&"kpt") {
        return Err(format!("unexpected command {command:?}"));
    }
    let exit_code: i32 = case_value(&case_yaml, "exitCode").parse().map_err(|_| "exitCode")?;
    let work = tempfile::tempdir().map_err(|e| e.to_string())?;
    let pkg = work.path().join("pkg");
    copy_tree(&case_dir.join("input"), &pkg);
    if case_dir.join("fn").is_dir() {
        copy_tree(&case_dir.join("fn"), &work.path().join("fn"));
    }
    let env_arg = format!("PATH={function_path}");
    let mut full: Vec<&str> = args[1..].to_vec();
    full.extend(["--function-env", &env_arg]);
    let output = veranda(&pkg, &full);
    let mut problems = String::new();
    if output.status.code() != Some(exit_code) {
        problems.push_str(&format!("exit code {:?}, kpt's {exit_code}\n", output.status.code()));
    }
    if !output.stdout.is_empty() {
        problems.push_str(&format!("stdout: {}\n", String::from_utf8_lossy(&output.stdout)));
    }
    let want_stderr =
        std::fs::read_to_string(case_dir.join("kpt-render.stderr")).map_err(|e| e.to_string())?;
    let stderr = String::from_utf8_lossy(&output.stderr);
    if normalize(&stderr) != normalize(&want_stderr) {
        problems.push_str(&format!("stderr:\n{stderr}--- kpt's\n{want_stderr}\n"));
    }
    problems.push_str(&diff_trees(&tree(&pkg), &tree(&case_dir.join("expected"))));
    let results = std::fs::read(work.path().join("results/results.yaml")).unwrap_or_default();
    let want_results =
        std::fs::read(case_dir.join("results/results.yaml")).map_err(|e| e.to_string())?;
    if results != want_results {
        problems.push_str(&format!(
            "results.yaml:\n{}--- kpt's\n{}\n",
            String::from_utf8_lossy(&results),
            String::from_utf8_lossy(&want_results)
        ));
    }
    if problems.is_empty() { Ok(()) } else { Err(problems) }
}

#[test]
fn local_fn_render_goldens() {
    let function_path = function_path();
    let mut cases: Vec<PathBuf> = std::fs::read_dir(testdata("render"))
        .expect("read testdata/render")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.join("case.yaml").is_file())
        .collect();
    cases.sort();
    assert!(cases.len() >= 8, "render goldens missing: {cases:?}");
    let failures: Vec<String> = cases
        .iter()
        .filter_map(|case| {
            check_render_case(case, &function_path)
                .err()
                .map(|e| format!("=== {}\n{e}", case.display()))
        })
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

const KPTFILE: &str = "\
apiVersion: kpt.dev/v1
kind: Kptfile
metadata:
  name: test-package
  annotations:
    config.kubernetes.io/local-config: \"true\"
info:
  description: Test Package Description
status:
  conditions:
    - type: Ready
      status: \"False\"
";

fn eval_in_kptfile_dir(data: &[&str]) -> (Output, String) {
    let work = tempfile::tempdir().expect("temp dir");
    let pkg = work.path().join("pkg");
    std::fs::create_dir(&pkg).expect("create pkg");
    std::fs::write(pkg.join("Kptfile"), KPTFILE).expect("write Kptfile");
    let mut args = vec!["fn", "eval", "--image", SEARCH_REPLACE, "--match-kind", "Kptfile", "pkg"];
    args.push("--");
    args.extend(data);
    let output = veranda(work.path(), &args);
    let kptfile = std::fs::read_to_string(pkg.join("Kptfile")).expect("read Kptfile");
    (output, kptfile)
}

// kpt 1.0.0-beta.56 prints results under `  Results:`; Porch's golden, recorded with a newer kpt,
// has `[Results]: [info] …` on one line: the messages are the same.
#[test]
fn local_fn_eval_search_replace_description() {
    let (output, kptfile) = eval_in_kptfile_dir(&[
        "by-path=info.description",
        "put-value=Updated Test Package Description",
    ]);
    assert_eq!(output.status.code(), Some(0), "{}", String::from_utf8_lossy(&output.stderr));
    assert_eq!(
        without_pass(&String::from_utf8_lossy(&output.stderr)),
        format!(
            "[RUNNING] \"{SEARCH_REPLACE}\" on 1 resource(s)\n  Results:\n    [info] \
             info.description: Mutated field value to \"Updated Test Package Description\"\n"
        )
    );
    assert_eq!(
        kptfile,
        KPTFILE.replace("Test Package Description", "Updated Test Package Description")
    );
    assert!(output.stdout.is_empty());
}

#[test]
fn local_fn_eval_search_replace_status() {
    let (output, kptfile) =
        eval_in_kptfile_dir(&["by-path=status.conditions[0].status", "put-value=True"]);
    assert_eq!(output.status.code(), Some(0), "{}", String::from_utf8_lossy(&output.stderr));
    assert_eq!(
        without_pass(&String::from_utf8_lossy(&output.stderr)),
        format!(
            "[RUNNING] \"{SEARCH_REPLACE}\" on 1 resource(s)\n  Results:\n    [info] \
             status.conditions[0].status: Mutated field value to \"\\\"True\\\"\"\n"
        )
    );
    assert_eq!(kptfile, KPTFILE.replace("status: \"False\"", "status: \"True\""));
}

const DEPLOYMENT: &str = "\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: app # the app
spec:
  replicas: 1
";

const CONFIG_MAP: &str = "\
apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
data:
  key: value
";

#[test]
fn local_fn_eval_match_kind_selects_only_that_kind() {
    let work = tempfile::tempdir().expect("temp dir");
    let pkg = work.path();
    std::fs::write(pkg.join("Kptfile"), KPTFILE).expect("write Kptfile");
    std::fs::write(pkg.join("deployment.yaml"), DEPLOYMENT).expect("write deployment");
    std::fs::write(pkg.join("cm.yaml"), CONFIG_MAP).expect("write configmap");
    let output = veranda(
        pkg,
        &[
            "fn",
            "eval",
            "--image",
            SEARCH_REPLACE,
            "--match-kind",
            "ConfigMap",
            "--results-dir",
            "results",
            "--",
            "by-value=value",
            "put-value=changed",
        ],
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(stderr.starts_with(&format!("[RUNNING] \"{SEARCH_REPLACE}\" on 1 resource(s)\n")));
    assert!(stderr.ends_with("\n\nFor complete results, see results/results.yaml\n"), "{stderr}");
    assert_eq!(
        std::fs::read_to_string(pkg.join("cm.yaml")).expect("read cm"),
        CONFIG_MAP.replace("key: value", "key: changed")
    );
    assert_eq!(std::fs::read_to_string(pkg.join("deployment.yaml")).expect("read"), DEPLOYMENT);
    assert_eq!(std::fs::read_to_string(pkg.join("Kptfile")).expect("read Kptfile"), KPTFILE);
    let results = std::fs::read_to_string(pkg.join("results/results.yaml")).expect("results");
    assert!(results.contains(&format!("image: {SEARCH_REPLACE}")), "{results}");
}

#[test]
fn local_fn_eval_rejects_include_meta_resources() {
    let work = tempfile::tempdir().expect("temp dir");
    std::fs::write(work.path().join("Kptfile"), KPTFILE).expect("write Kptfile");
    let output = veranda(
        work.path(),
        &["fn", "eval", "--image", SEARCH_REPLACE, "--include-meta-resources"],
    );
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&output.stderr),
        "error: --include-meta-resources is no longer necessary because meta resources are now \
         included by default\n"
    );
}

/// A render that changes some files leaves binary files, modes, symbolic links and unchanged
/// files alone (not even rewritten), and keeps the mode of a file it rewrites.
#[test]
fn local_fn_render_keeps_binary_files_modes_and_symlinks() {
    let case = testdata("render/selectors-exclude");
    let work = tempfile::tempdir().expect("temp dir");
    let pkg = work.path().join("pkg");
    copy_tree(&case.join("input"), &pkg);
    copy_tree(&case.join("fn"), &work.path().join("fn"));
    let binary: Vec<u8> = (0..=255u8).rev().chain([0xff, 0xfe, 0, b'\n']).collect();
    std::fs::write(pkg.join("logo.png"), &binary).expect("write binary");
    std::fs::write(pkg.join("tool.sh"), "#!/bin/sh\necho hi\n").expect("write script");
    let set_mode = |path: &Path, mode: u32| {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod")
    };
    set_mode(&pkg.join("tool.sh"), 0o750);
    set_mode(&pkg.join("deployment.yaml"), 0o640);
    std::os::unix::fs::symlink("svc.yaml", pkg.join("link.yaml")).expect("symlink");
    std::os::unix::fs::symlink("/nonexistent/target", pkg.join("dangling")).expect("symlink");
    let inode = |name: &str| std::fs::metadata(pkg.join(name)).expect("stat").ino();
    let svc_inode = inode("svc.yaml");
    let env_arg = format!("PATH={}", function_path());
    let output = veranda(&pkg, &["fn", "render", "--allow-exec", "--function-env", &env_arg]);
    assert_eq!(output.status.code(), Some(0), "{}", String::from_utf8_lossy(&output.stderr));

    assert_eq!(std::fs::read(pkg.join("logo.png")).expect("read binary"), binary);
    let mode = |name: &str| std::fs::metadata(pkg.join(name)).expect("stat").mode() & 0o7777;
    assert_eq!(mode("tool.sh"), 0o750);
    let expected = case.join("expected");
    let deployment = std::fs::read(pkg.join("deployment.yaml")).expect("read deployment");
    assert_eq!(deployment, std::fs::read(expected.join("deployment.yaml")).expect("expected"));
    assert_eq!(mode("deployment.yaml"), 0o640, "a rewritten file keeps its mode");
    assert_eq!(inode("svc.yaml"), svc_inode, "an unchanged file is not rewritten");
    assert_eq!(std::fs::read_link(pkg.join("link.yaml")).expect("link"), Path::new("svc.yaml"));
    let dangling = std::fs::read_link(pkg.join("dangling")).expect("dangling link");
    assert_eq!(dangling, Path::new("/nonexistent/target"));
    let mut files: Vec<String> = std::fs::read_dir(&pkg)
        .expect("read pkg")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    let want =
        ["Kptfile", "dangling", "deployment.yaml", "link.yaml", "logo.png", "svc.yaml", "tool.sh"];
    assert_eq!(files, want, "no file added or left behind");
}

/// A function output that would be written through a symbolic link to a directory outside the
/// package fails the render, and nothing is written there or in the package.
#[test]
fn local_fn_render_refuses_to_write_through_symlinks() {
    let case = testdata("render/generator-and-prune");
    let work = tempfile::tempdir().expect("temp dir");
    let pkg = work.path().join("pkg");
    copy_tree(&case.join("input"), &pkg);
    copy_tree(&case.join("fn"), &work.path().join("fn"));
    let outside = work.path().join("outside");
    std::fs::create_dir(&outside).expect("create outside");
    std::os::unix::fs::symlink(&outside, pkg.join("generated")).expect("symlink");
    let before = tree(&pkg);
    let env_arg = format!("PATH={}", function_path());
    let output = veranda(&pkg, &["fn", "render", "--allow-exec", "--function-env", &env_arg]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("error: refusing to write \"generated/extra-settings.yaml\""),
        "{stderr}"
    );
    assert!(stderr.contains("is a symbolic link"), "{stderr}");
    assert_eq!(std::fs::read_dir(&outside).expect("read outside").count(), 0);
    assert_eq!(diff_trees(&tree(&pkg), &before), "", "the package is unchanged");
}

/// `-o stdout` and `-o unwrap` print what kpt printed (recorded in `local_fn_kpt/`) and change
/// nothing in the package.
#[test]
fn local_fn_render_output_matches_kpt() {
    let work = tempfile::tempdir().expect("temp dir");
    let pkg = work.path().join("p");
    std::fs::create_dir_all(pkg.join("sub")).expect("create pkg");
    let files = [
        ("Kptfile", "apiVersion: kpt.dev/v1\nkind: Kptfile\nmetadata:\n  name: p\n"),
        (
            "cm.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm   # c\ndata:\n  a: b\n---\n\
             apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm2\n",
        ),
        (
            "wide.yaml",
            "apiVersion: v1\nkind: List\nmetadata:\n  name: w\nitems:\n  - a: 1\n  - b: 2\n",
        ),
        ("sub/Kptfile", "apiVersion: kpt.dev/v1\nkind: Kptfile\nmetadata:\n  name: sub\n"),
        (
            "sub/s.yaml",
            "apiVersion: v1\nkind: Service\nmetadata:\n  name: s\nspec:\n  ports:\n  - port: 80\n",
        ),
    ];
    for (path, content) in files {
        std::fs::write(pkg.join(path), content).expect("write file");
    }
    let before = tree(&pkg);
    let expected = [
        ("stdout", include_str!("local_fn_kpt/render-o-stdout.yaml")),
        ("unwrap", include_str!("local_fn_kpt/render-o-unwrap.yaml")),
    ];
    for (output, want) in expected {
        let result = veranda(&pkg, &["fn", "render", "-o", output]);
        assert_eq!(result.status.code(), Some(0), "{}", String::from_utf8_lossy(&result.stderr));
        assert_eq!(String::from_utf8_lossy(&result.stdout), want, "-o {output}");
        assert_eq!(
            String::from_utf8_lossy(&result.stderr),
            "Package \"p/sub\": \nPackage \"p\": \n",
            "-o {output}"
        );
        assert_eq!(diff_trees(&tree(&pkg), &before), "", "-o {output} changed the package");
    }
}
