//! Porch's CLI goldens (`test/e2e/cli/testdata/<case>/config.yaml` of nephio-project/porch, in
//! the shared test data) run against `veranda serve` and the `veranda` binary as `porchctl`,
//! one test per case so they run in parallel and fail on their own.
//!
//! Per case, as Porch's runner (`test/e2e/cli/suite.go`) does against its cluster: a fresh test
//! Gitea ([`crate::gitea`]) and a fresh server reaching it through `--git-url-rewrite`, so the
//! goldens' `http://gitea.gitea.svc.cluster.local:3000/nephio/...` URLs stay as written; each
//! command runs in `test/e2e/cli` (for `test_pkgs/...`) with `KUBECONFIG` set to the server's:
//! - `porchctl ARGS` runs `veranda ARGS`; `kpt fn eval ARGS` runs `veranda fn eval ARGS` (no
//!   container runtime here); anything else (`sh`, `sleep`, `kubectl`) runs as it is;
//! - `/tmp/porch-e2e` in arguments, stdin and expected output is a directory of the case's own;
//! - the output is compared by Porch's rules ([`compare`]), with veranda's deliberate
//!   differences declared in [`deviations::DEVIATIONS`];
//! - after a command with a `register` argument, the Repository named by its `--name=` must
//!   become Ready in the case's namespace within a minute, else the case stops there (at once
//!   when the register itself failed: Porch's runner would wait the minute, then stop).
//!
//! Like Porch's runner, a mismatch does not stop the case: every step runs and the test fails
//! at the end, reporting each mismatched step (case, index, command, expected and actual stdout,
//! stderr and exit code). Namespaces are not created: veranda's exist implicitly.

mod compare;
mod config;
mod deviations;

use std::{
    io::{Read, Write},
    path::Path,
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use compare::{Actual, Comparison, Expected};
use config::{Case, Step};

use crate::gitea::Gitea;
use crate::util::{Server, testdata};

/// Porch's CLI e2e directory in the shared test data: the commands' working directory.
const CLI_DIR: &str = "packages/nephio-project-porch/test/e2e/cli";
/// The scratch directory the goldens name.
const PORCH_TMP: &str = "/tmp/porch-e2e";
/// How long a registered Repository may take to become Ready (Porch's runner: one minute).
const READY_TIMEOUT: Duration = Duration::from_secs(60);
/// How long one command may run before it is killed and reported.
const STEP_TIMEOUT: Duration = Duration::from_secs(180);

macro_rules! golden_cases {
    ($($test:ident => $case:literal,)*) => {
        $(
            #[test]
            fn $test() {
                run_case($case);
            }
        )*

        /// Every case directory has its test.
        #[test]
        fn every_case_has_a_test() {
            let cases: std::collections::BTreeSet<&str> = [$($case),*].into();
            let dirs = case_dirs();
            let dirs: std::collections::BTreeSet<&str> = dirs.iter().map(String::as_str).collect();
            assert_eq!(dirs, cases, "test/e2e/cli/testdata (left) and the tests here (right)");
        }
    };
}

golden_cases! {
    repo_register => "repo-register",
    rpkg_clone => "rpkg-clone",
    rpkg_copy => "rpkg-copy",
    rpkg_get => "rpkg-get",
    rpkg_init => "rpkg-init",
    rpkg_init_deploy => "rpkg-init-deploy",
    rpkg_lifecycle => "rpkg-lifecycle",
    rpkg_nested_package => "rpkg-nested-package",
    rpkg_push => "rpkg-push",
    rpkg_push_on_render_failure => "rpkg-push-on-render-failure",
    rpkg_unready => "rpkg-unready",
    rpkg_upgrade => "rpkg-upgrade",
}

/// The names of the case directories.
fn case_dirs() -> Vec<String> {
    let root = testdata(CLI_DIR).join("testdata");
    let entries = std::fs::read_dir(&root)
        .unwrap_or_else(|e| panic!("read {}: {e} (is VERANDA_SHARED set?)", root.display()));
    let mut names: Vec<String> = entries
        .filter_map(Result::ok)
        .filter(|entry| entry.path().is_dir())
        .filter_map(|entry| entry.file_name().to_str().map(str::to_owned))
        .collect();
    names.sort();
    names
}

/// Reads and parses `testdata/<case>/config.yaml`.
fn read_case(case: &str) -> Case {
    let path = testdata(CLI_DIR).join("testdata").join(case).join("config.yaml");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("read {}: {e} (is VERANDA_SHARED set?)", path.display()));
    Case::parse(&text).unwrap_or_else(|e| panic!("parse {}: {e}", path.display()))
}

/// Runs every step of `case`; panics with a report of the steps that did not match.
fn run_case(case: &str) {
    let config = read_case(case);
    if !config.skip.is_empty() {
        eprintln!("{case}: skipped by its config: {}", config.skip);
        return;
    }
    let run = Run::start();
    let reports = run.steps(case, &config.commands);
    if !reports.is_empty() {
        panic!(
            "Porch CLI golden {case}: {} of {} steps did not match\n\n{}\n\nserver log tail:\n{}",
            reports.len(),
            config.commands.len(),
            reports.join("\n\n"),
            tail(&run.server.log(), 40)
        );
    }
}

/// What one case runs against: its own test Gitea, server and `/tmp/porch-e2e`.
struct Run {
    server: Server,
    /// The scratch directory standing for `/tmp/porch-e2e`.
    tmp: String,
    _gitea: Gitea,
    _scratch: tempfile::TempDir,
}

impl Run {
    fn start() -> Run {
        let scratch = tempfile::tempdir().expect("temp dir");
        let gitea = Gitea::start(&scratch.path().join("gitea"));
        let server = Server::start_with(
            tempfile::tempdir().expect("temp dir"),
            &["--git-url-rewrite", &gitea.rewrite()],
        );
        let tmp = scratch.path().join("porch-e2e");
        std::fs::create_dir_all(&tmp).expect("create the case's /tmp/porch-e2e");
        let tmp = tmp.to_str().expect("utf-8 temp path").to_owned();
        Run { server, tmp, _gitea: gitea, _scratch: scratch }
    }

    /// `text` with the goldens' `/tmp/porch-e2e` made this run's.
    fn local(&self, text: &str) -> String {
        text.replace(PORCH_TMP, &self.tmp)
    }

    /// Runs `steps` of `case` (also the namespace of its Repositories) in order; returns a
    /// report of each step that did not match, and of the register that stopped the case.
    fn steps(&self, case: &str, steps: &[Step]) -> Vec<String> {
        let total = steps.len();
        let mut reports = Vec::new();
        for (index, step) in steps.iter().enumerate() {
            let args: Vec<String> = step.args.iter().map(|arg| self.local(arg)).collect();
            let mut porch = Expected::of(step);
            porch.stdout = self.local(&porch.stdout);
            porch.stderr = self.local(&porch.stderr);
            let (expected, deviates) = deviations::expected(case, index, porch);
            let actual = run_step(&args, &self.local(&step.stdin), &self.server);
            let comparison = compare::compare(step, &expected, &actual);
            if !comparison.differs.is_empty() {
                reports.push(report(case, index, total, &args, deviates, &comparison));
            }
            if !args.iter().any(|arg| arg == "register") {
                continue;
            }
            // Porch's runner would wait a minute for a Repository that was never made.
            if actual.exit_code != 0 {
                reports.push(format!("{case} step {index}: the register failed; stopping here"));
                break;
            }
            let Some(name) = args.iter().find_map(|arg| arg.strip_prefix("--name=")) else {
                reports.push(format!("{case} step {index}: a register without --name="));
                break;
            };
            if let Err(state) = wait_ready(&self.server, case, name) {
                reports.push(format!(
                    "{case} step {index}: Repository {case}/{name} not Ready within {}s: {state}",
                    READY_TIMEOUT.as_secs()
                ));
                break;
            }
        }
        reports
    }
}

/// Runs one command as the goldens mean it (see the module documentation).
fn run_step(args: &[String], stdin: &str, server: &Server) -> Actual {
    let Some((program, rest)) = args.split_first() else {
        return Actual { stdout: String::new(), stderr: "empty args".into(), exit_code: -1 };
    };
    let veranda = Path::new(env!("CARGO_BIN_EXE_veranda"));
    let kpt_fn_eval = program == "kpt"
        && rest.first().is_some_and(|a| a == "fn")
        && rest.get(1).is_some_and(|a| a == "eval");
    let mut command = match program.as_str() {
        "porchctl" => Command::new(veranda),
        _ if kpt_fn_eval => Command::new(veranda),
        other => Command::new(other),
    };
    command
        .args(rest)
        .current_dir(testdata(CLI_DIR))
        .env("KUBECONFIG", &server.kubeconfig)
        .env("KUBECACHEDIR", server.dir.path().join("kube-cache"))
        .stdin(if stdin.is_empty() { Stdio::null() } else { Stdio::piped() })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = match command.spawn() {
        Ok(child) => child,
        Err(e) => {
            let stderr = format!("cannot run {program}: {e}");
            return Actual { stdout: String::new(), stderr, exit_code: -1 };
        }
    };
    let input = child.stdin.take().map(|mut pipe| {
        let stdin = stdin.to_owned();
        // The command may exit before reading it all; that is its answer, not ours to report.
        std::thread::spawn(move || {
            let _ = pipe.write_all(stdin.as_bytes());
        })
    });
    let stdout = reader(child.stdout.take());
    let stderr = reader(child.stderr.take());
    let deadline = Instant::now() + STEP_TIMEOUT;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Some(status),
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
        }
    };
    if let Some(input) = input {
        let _ = input.join();
    }
    let stdout = stdout.join().unwrap_or_default();
    let mut stderr = stderr.join().unwrap_or_default();
    let exit_code = match status {
        Some(status) => status.code().unwrap_or(-1),
        None => {
            stderr.push_str(&format!("[killed after {}s]\n", STEP_TIMEOUT.as_secs()));
            -1
        }
    };
    Actual { stdout, stderr, exit_code }
}

/// Reads a pipe to its end on a thread of its own.
fn reader(pipe: Option<impl Read + Send + 'static>) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        if let Some(mut pipe) = pipe {
            let _ = pipe.read_to_end(&mut bytes);
        }
        String::from_utf8_lossy(&bytes).into_owned()
    })
}

/// Waits until Repository `name` in `namespace` is Ready (Porch's `KubectlWaitForRepoReady`);
/// the last state seen when it does not become so.
fn wait_ready(server: &Server, namespace: &str, name: &str) -> Result<(), String> {
    let deadline = Instant::now() + READY_TIMEOUT;
    loop {
        let out = server.kubectl_output(
            &["get", "repository", name, "--namespace", namespace, "--output=json"],
            None,
        );
        let repository: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
        let conditions = &repository["status"]["conditions"];
        let ready = conditions.as_array().and_then(|all| all.iter().find(|c| c["type"] == "Ready"));
        if out.status.success() && ready.is_some_and(|c| c["status"] == "True") {
            return Ok(());
        }
        if Instant::now() >= deadline {
            let stderr = String::from_utf8_lossy(&out.stderr);
            return Err(format!("last conditions: {conditions} {stderr}"));
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// One mismatched step, for a person: what ran, and both sides as compared.
fn report(
    case: &str,
    index: usize,
    total: usize,
    args: &[String],
    deviates: bool,
    comparison: &Comparison,
) -> String {
    let (want, got) = (&comparison.expected, &comparison.actual);
    let source = match deviates {
        true => "veranda's declared deviation (porch_cli_goldens/deviations.rs)",
        false => "Porch's golden",
    };
    format!(
        "── {case} step {index} (of {total}, from 0): {}\n   differs in: {}\n   expected ({source}):\n{}\n   actual:\n{}",
        shell_words(args),
        comparison.differs.join(", "),
        side(want),
        side(got),
    )
}

fn side(output: &Actual) -> String {
    format!(
        "     exit code: {}\n     stdout:\n{}\n     stderr:\n{}",
        output.exit_code,
        quoted(&output.stdout),
        quoted(&output.stderr)
    )
}

/// `text` line by line behind a margin, with line ends and trailing spaces visible.
fn quoted(text: &str) -> String {
    if text.is_empty() {
        return "       (empty)".into();
    }
    let mut lines: Vec<String> = text
        .split_inclusive('\n')
        .map(|line| format!("       |{}", line.replace('\n', "⏎")))
        .collect();
    if !text.ends_with('\n') {
        lines.push("       (no newline at the end)".into());
    }
    lines.join("\n")
}

fn shell_words(args: &[String]) -> String {
    let quote = |arg: &String| {
        if !arg.is_empty()
            && arg.chars().all(|c| c.is_ascii_alphanumeric() || "-_=./:@,".contains(c))
        {
            arg.clone()
        } else {
            format!("'{}'", arg.replace('\'', r"'\''"))
        }
    };
    args.iter().map(quote).collect::<Vec<_>>().join(" ")
}

/// The last `n` lines of the server's log that are not request lines, without colours.
fn tail(text: &str, n: usize) -> String {
    let plain = strip_ansi(text);
    let lines: Vec<&str> =
        plain.lines().filter(|line| !line.contains("veranda_server::middleware")).collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// `text` without ANSI escape sequences (`ESC [ ... letter`).
fn strip_ansi(text: &str) -> String {
    let mut plain = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            plain.push(c);
        }
    }
    plain
}

/// The runner itself on a case of its own made of `sh` and `kubectl` steps: a registration
/// through the test Gitea waited for, `/tmp/porch-e2e` made the run's own, stdin, sorting, YAML,
/// exit codes, and the report of a step that does not match.
#[test]
fn the_runner_runs_a_case_of_its_own() {
    let marker = format!("runner-self-test-{}", std::process::id());
    let config = format!(
        r#"
commands:
  - args:
      - sh
      - -c
      - kubectl apply -f - >/dev/null
      - register
      - --name=test-blueprints
    stdin: |
      apiVersion: v1
      kind: Secret
      metadata: {{name: gitea, namespace: runner-self-test}}
      type: kubernetes.io/basic-auth
      stringData: {{username: nephio, password: secret}}
      ---
      apiVersion: config.porch.kpt.dev/v1alpha1
      kind: Repository
      metadata: {{name: test-blueprints, namespace: runner-self-test}}
      spec:
        type: git
        content: Package
        git:
          repo: http://gitea.gitea.svc.cluster.local:3000/nephio/test-blueprints.git
          branch: main
          directory: /
          secretRef: {{name: gitea}}
  - args:
      - sh
      - -c
      - kubectl get packagerevisions -n runner-self-test -o custom-columns=NAME:.metadata.name,REV:.spec.revision | grep -E '^(NAME|test-blueprints.basens)'
    stdout: |
      NAME                          REV
      test-blueprints.basens.main   -1
      test-blueprints.basens.v1     1
      test-blueprints.basens.v2     2
      test-blueprints.basens.v3     3
      test-blueprints.basens.v4     4
    ignoreWhitespace: true
  - args: [sh, -c, "mkdir -p /tmp/porch-e2e/{marker} && cp test_pkgs/nested-packages/parent-pkg/Kptfile /tmp/porch-e2e/{marker}/ && ls /tmp/porch-e2e/{marker} && echo /tmp/porch-e2e"]
    stdout: "Kptfile\n/tmp/porch-e2e\n"
  - args: [sh, -c, cat]
    stdin: "header\nz\na\n"
    stdout: "header\na\nz\n"
  - args: [sh, -c, "printf 'b: 1\\na:\\n    - x\\nuid: 1\\n'"]
    yaml: true
    stdout: "a:\n  - x\nb: 1\n"
  - args: [sh, -c, "echo 'Error:\tnot  pushed' >&2; exit 3"]
    stderr: "not pushed"
    exitCode: 3
    containsErrorString: true
    stdErrTabToWhitespace: true
    ignoreWhitespace: true
  - args: [sh, -c, "echo actual"]
    stdout: "expected\n"
"#
    );
    let case = Case::parse(&config).expect("the self-test case parses");
    let run = Run::start();
    let reports = run.steps("runner-self-test", &case.commands);
    assert!(
        !std::path::Path::new(PORCH_TMP).join(&marker).exists(),
        "the real /tmp/porch-e2e was written"
    );
    assert_eq!(reports.len(), 1, "only the last step differs:\n{}", reports.join("\n\n"));
    let last = &reports[0];
    assert!(last.contains("runner-self-test step 6 (of 7, from 0): sh -c 'echo actual'"), "{last}");
    assert!(last.contains("differs in: stdout"), "{last}");
    assert!(last.contains("|expected⏎") && last.contains("|actual⏎"), "{last}");
}
