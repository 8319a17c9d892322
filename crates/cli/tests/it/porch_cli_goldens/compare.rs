//! How a command's output is compared with its golden: the rules of Porch's runner
//! (`test/e2e/cli/suite.go`, `RunTestCase`), in its order:
//!
//! 1. stdout: with `yaml`, [`normalize_yaml`]; else [`sort_body`];
//! 2. stderr: [`drop_pass_lines`];
//! 3. with `stdErrTabToWhitespace`, tabs of the actual stderr become two spaces;
//! 4. with `ignoreWhitespace`, [`collapse_spaces`] on both sides of stdout and stderr;
//! 5. the exit code, then stdout, must be equal;
//! 6. [`remove_platform_warning`] from the actual stderr, which must then contain (with
//!    `containsErrorString`) or equal the expected stderr.
//!
//! Two differences, both because this runner's YAML encoder is not Porch's (Go's yaml.v3 via
//! kyaml): the expected stdout of a `yaml` step is normalised too (Porch's goldens are already in
//! yaml.v3's form; ours would differ in layout, never in content), and `uid:` lines are dropped
//! with `resourceVersion:` and `creationTimestamp:` (Porch keeps them, as its uids are stable).
//! A `yaml` stdout that is not YAML is compared as it is (Porch would compare it as empty).

use std::cmp::Ordering;

use serde_yaml::Value;

use super::config::Step;

/// Lines of YAML stdout that change with every run.
const VOLATILE: [&str; 3] = ["resourceVersion:", "creationTimestamp:", "uid:"];

/// Docker's warning on ARM hosts, which Porch strips from stderr.
const PLATFORM_WARNING: &str = "    \"WARNING: The requested image's platform (linux/amd64) does not match the detected host platform (linux/arm64/v8) and no specific platform was requested\"\n";

/// What a step must print and exit with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Expected {
    pub stdout: String,
    pub stderr: String,
    pub exit_code: i32,
    pub contains_error_string: bool,
}

impl Expected {
    /// What Porch's golden says.
    pub fn of(step: &Step) -> Expected {
        Expected {
            stdout: step.stdout.clone(),
            stderr: step.stderr.clone(),
            exit_code: step.exit_code,
            contains_error_string: step.contains_error_string,
        }
    }
}

/// What a step printed and exited with.
#[derive(Clone, Debug)]
pub struct Actual {
    pub stdout: String,
    pub stderr: String,
    pub exit_code: i32,
}

/// The outputs as compared, after the rules above, and what differed.
#[derive(Debug)]
pub struct Comparison {
    pub expected: Actual,
    pub actual: Actual,
    /// `exit code`, `stdout`, `stderr`: the parts that differ.
    pub differs: Vec<&'static str>,
}

/// Applies Porch's rules with the options of `step`.
pub fn compare(step: &Step, expected: &Expected, actual: &Actual) -> Comparison {
    let (mut want_out, mut got_out) = match step.yaml {
        true => (normalize_yaml(&expected.stdout), normalize_yaml(&actual.stdout)),
        false => (expected.stdout.clone(), sort_body(&actual.stdout)),
    };
    let mut want_err = expected.stderr.clone();
    let mut got_err = drop_pass_lines(&actual.stderr);
    if step.std_err_tab_to_whitespace {
        got_err = got_err.replace('\t', "  ");
    }
    if step.ignore_whitespace {
        want_out = collapse_spaces(&want_out);
        got_out = collapse_spaces(&got_out);
        want_err = collapse_spaces(&want_err);
        got_err = collapse_spaces(&got_err);
    }
    let got_err = remove_platform_warning(&got_err);
    let mut differs = Vec::new();
    if expected.exit_code != actual.exit_code {
        differs.push("exit code");
    }
    if want_out != got_out {
        differs.push("stdout");
    }
    let stderr_ok = match expected.contains_error_string {
        true => got_err.contains(&want_err),
        false => got_err == want_err,
    };
    if !stderr_ok {
        differs.push("stderr");
    }
    Comparison {
        expected: Actual { stdout: want_out, stderr: want_err, exit_code: expected.exit_code },
        actual: Actual { stdout: got_out, stderr: got_err, exit_code: actual.exit_code },
        differs,
    }
}

/// Porch's `reorderYamlStdout`: drops the [`VOLATILE`] lines, reads the first YAML document and
/// writes it again with mapping keys sorted (as yaml.v3 writes a decoded map). Empty stays
/// empty; text that is not YAML is returned without the dropped lines.
pub fn normalize_yaml(text: &str) -> String {
    if text.is_empty() {
        return String::new();
    }
    let kept: String = text
        .lines()
        .filter(|line| !VOLATILE.iter().any(|volatile| line.contains(volatile)))
        .map(|line| format!("{line}\n"))
        .collect();
    let Some(document) = serde_yaml::Deserializer::from_str(&kept).next() else {
        return kept;
    };
    match <Value as serde::Deserialize>::deserialize(document) {
        Ok(Value::Null) if kept.trim().is_empty() => String::new(),
        Ok(value) => serde_yaml::to_string(&sorted(value)).unwrap_or(kept),
        Err(_) => kept,
    }
}

/// `value` with the keys of every mapping in order.
fn sorted(value: Value) -> Value {
    match value {
        Value::Mapping(mapping) => {
            let mut entries: Vec<(Value, Value)> =
                mapping.into_iter().map(|(key, value)| (key, sorted(value))).collect();
            entries.sort_by(|(a, _), (b, _)| a.partial_cmp(b).unwrap_or(Ordering::Equal));
            Value::Mapping(entries.into_iter().collect())
        }
        Value::Sequence(items) => Value::Sequence(items.into_iter().map(sorted).collect()),
        Value::Tagged(mut tagged) => {
            tagged.value = sorted(std::mem::take(&mut tagged.value));
            Value::Tagged(tagged)
        }
        other => other,
    }
}

/// Porch's `reorderCommandStdout`: the first line is a header and stays first; the other lines
/// are sorted (bytewise, as Go's `sort.Strings`). Every line ends with a newline; empty stays
/// empty.
pub fn sort_body(text: &str) -> String {
    let mut lines = text.lines();
    let Some(header) = lines.next() else { return String::new() };
    let mut body: Vec<&str> = lines.collect();
    body.sort_unstable();
    std::iter::once(header).chain(body).map(|line| format!("{line}\n")).collect()
}

/// Porch's `cleanupStderr`: drops the `[PASS]` lines of `kpt fn` (they carry a duration);
/// every remaining line ends with a newline.
pub fn drop_pass_lines(text: &str) -> String {
    text.lines().filter(|line| !line.contains("[PASS]")).map(|line| format!("{line}\n")).collect()
}

/// Porch's `normalizeWhitespace`: runs of spaces (only spaces: not tabs or newlines) become
/// one, and leading and trailing spaces go.
pub fn collapse_spaces(text: &str) -> String {
    text.split(' ').filter(|part| !part.is_empty()).collect::<Vec<_>>().join(" ")
}

/// Porch's `removeArmPlatformWarning`: the first platform warning goes, and a `Stderr:` tag it
/// leaves empty at the end goes with it.
pub fn remove_platform_warning(text: &str) -> String {
    let text = text.replacen(PLATFORM_WARNING, "", 1);
    match text.strip_suffix("  Stderr:\n") {
        Some(_) => text.replacen("  Stderr:\n", "", 1),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yaml_is_compared_by_content_without_volatile_fields() {
        // yaml.v3's layout (indented sequences, quoted strings) against another encoder's, in
        // another key order, with the volatile lines of a real server.
        let golden = "apiVersion: config.kubernetes.io/v1\nitems:\n  - kind: Kptfile\n    metadata:\n      name: app\n      uid: 710e4f9b-b21f-5786-bf04-1d1d9b32d57c\n      annotations:\n        config.kubernetes.io/index: \"0\"\nkind: ResourceList\n";
        let ours = "kind: ResourceList\napiVersion: config.kubernetes.io/v1\nitems:\n- metadata:\n    annotations:\n      config.kubernetes.io/index: '0'\n    name: app\n    resourceVersion: \"17\"\n    creationTimestamp: \"2026-01-01T00:00:00Z\"\n    uid: 0e7dd104-514e-5455-b077-6f196b04165c\n  kind: Kptfile\n";
        assert_eq!(normalize_yaml(golden), normalize_yaml(ours));
        assert!(!normalize_yaml(ours).contains("uid"));
        // Values still count: "0" is not 0.
        assert_ne!(normalize_yaml("a: \"0\"\n"), normalize_yaml("a: 0\n"));
        // Keys come out sorted, with 2-space indentation.
        assert_eq!(normalize_yaml("b:\n    y: 1\n    x: 2\na: 1\n"), "a: 1\nb:\n  x: 2\n  y: 1\n");
        // Empty stays empty; only the first document counts, as yaml.v3's Unmarshal reads it.
        assert_eq!(normalize_yaml(""), "");
        assert_eq!(normalize_yaml("resourceVersion: \"1\"\n"), "");
        assert_eq!(normalize_yaml("a: 1\n---\nb: 2\n"), "a: 1\n");
        // Not YAML: compared as printed, less the volatile lines.
        assert_eq!(normalize_yaml("a: [\nuid: x\n"), "a: [\n");
    }

    #[test]
    fn the_body_is_sorted_under_its_header() {
        let printed = "NAME   REV\nb.v2   2\na.v1   1\nb.v1   1\n";
        assert_eq!(sort_body(printed), "NAME   REV\na.v1   1\nb.v1   1\nb.v2   2\n");
        // A last line without a newline gets one; a single line is only a header.
        assert_eq!(sort_body("found"), "found\n");
        assert_eq!(sort_body("z\ny\nx"), "z\nx\ny\n");
        assert_eq!(sort_body(""), "");
        // Bytewise, as Go's sort.Strings: upper case before lower case.
        assert_eq!(sort_body("H\nb\nB\n"), "H\nB\nb\n");
    }

    #[test]
    fn whitespace_rules() {
        assert_eq!(
            collapse_spaces("NAME   ADDRESS \n git    http://x  main\n"),
            "NAME ADDRESS \n git http://x main\n"
        );
        // Tabs and newlines are not spaces to Porch.
        assert_eq!(collapse_spaces("a\t\tb  c"), "a\t\tb c");
        assert_eq!(
            drop_pass_lines("[RUNNING] fn\n[PASS] \"fn\" in 1.2s\nlast"),
            "[RUNNING] fn\nlast\n"
        );
        let warned = format!("Results:\n  Stderr:\n{PLATFORM_WARNING}");
        assert_eq!(remove_platform_warning(&warned), "Results:\n");
        let other = format!("  Stderr:\n{PLATFORM_WARNING}    \"other\"\n");
        assert_eq!(remove_platform_warning(&other), "  Stderr:\n    \"other\"\n");
    }

    fn step(yaml: &str) -> Step {
        serde_yaml::from_str(yaml).expect("a step")
    }

    fn actual(stdout: &str, stderr: &str, exit_code: i32) -> Actual {
        Actual { stdout: stdout.into(), stderr: stderr.into(), exit_code }
    }

    #[test]
    fn a_step_is_compared_with_its_options() {
        let s = step(
            "args: [porchctl]\nstdout: |\n  NAME   DESC\n  b   B\n  a   A\nignoreWhitespace: true\n",
        );
        // Porch sorts only what the command printed: a golden is sorted already.
        let got = actual("NAME DESC\nb B\na A\n", "", 0);
        assert_eq!(compare(&s, &Expected::of(&s), &got).differs, ["stdout"]);
        let s = step(
            "args: [porchctl]\nstdout: |\n  NAME   DESC\n  a   A\n  b   B\nignoreWhitespace: true\n",
        );
        assert!(compare(&s, &Expected::of(&s), &got).differs.is_empty());

        let s = step(
            "args: [porchctl]\nstderr: \"NOT pushed\"\ncontainsErrorString: true\nexitCode: 1\n",
        );
        let got = actual("", "Error: rendering failed. Package NOT pushed to remote.", 1);
        assert!(compare(&s, &Expected::of(&s), &got).differs.is_empty());
        let got = actual("", "Error: pushed", 0);
        assert_eq!(compare(&s, &Expected::of(&s), &got).differs, ["exit code", "stderr"]);

        let s = step("args: [porchctl]\nstderr: \"a  b\\n\"\nstdErrTabToWhitespace: true\n");
        assert!(compare(&s, &Expected::of(&s), &actual("", "a\tb", 0)).differs.is_empty());
        let s = step("args: [porchctl]\nstderr: \"a  b\\n\"\n");
        assert_eq!(compare(&s, &Expected::of(&s), &actual("", "a\tb", 0)).differs, ["stderr"]);
    }
}
