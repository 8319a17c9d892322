//! The upgrade goldens made with the real `kpt pkg update` (kpt 1.0.0-beta.56):
//! `shared/testdata/upgrade/<case>/`, see its README. For each case the result of
//! [`veranda_kpt::upgrade`] plus the Kptfile edit kpt makes (`set_upstream_ref`) must equal
//! `expected/` in values (with `case.yaml`'s `compare.ignore` fields normalised away) and
//! contain every comment of `expected/` at the same resource and field; failing cases must fail
//! with kpt's error text. Every case but the one where kpt panics is also byte for byte kpt's.

use std::path::{Path, PathBuf};

use veranda_kpt::{Files, Strategy, kptfile::Kptfile, set_upstream_ref, upgrade};

use crate::util::{compare, read_dir};

/// Cases in the directory, and how many of them pass (all of them).
const CASES: usize = 24;
const PASSING: usize = 24;
/// Cases whose result is byte for byte kpt's (a failing case: the same error): all but
/// [`PANIC_CASE`], where kpt panics and leaves the package as it was.
const BYTE_IDENTICAL: usize = 23;

/// The case whose data makes kpt panic (`# kpt-merge: example` without `/`). We read the old
/// comment form as `/example` and succeed; the result must equal the expected package of the
/// case with the fixed comment, apart from the comment itself.
const PANIC_CASE: &str = "porch-repository-update-testdata";
const PANIC_CASE_FIXED: &str = "porch-repository-update-testdata-fixed-comment";

/// `testdata/upgrade` of the shared test data: `$VERANDA_SHARED`, by default `shared/` next to
/// the checkout.
fn root() -> PathBuf {
    let shared = match std::env::var_os("VERANDA_SHARED") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared"),
    };
    shared.join("testdata/upgrade")
}

struct Case {
    name: String,
    strategy: Option<String>,
    outcome: String,
    error: String,
    update_ref: String,
    update_commit: String,
}

fn read_case(dir: &Path) -> Case {
    let text = std::fs::read_to_string(dir.join("case.yaml")).unwrap();
    let v: serde_json::Value = serde_yaml::from_str(&text).unwrap();
    let s = |k: &str| v.get(k).and_then(|x| x.as_str()).unwrap_or_default().to_string();
    let strategy = s("strategy");
    Case {
        name: s("name"),
        strategy: (!strategy.starts_with('(')).then_some(strategy),
        outcome: s("expectedOutcome"),
        error: s("error"),
        update_ref: s("updateRef"),
        update_commit: s("updateCommit"),
    }
}

/// Ok(whether the result is byte-identical with kpt's) or what differs in values or comments.
fn run(dir: &Path, case: &Case) -> Result<bool, String> {
    let original = read_dir(&dir.join("original"));
    let updated = read_dir(&dir.join("upstream"));
    let local = read_dir(&dir.join("local"));
    let kptfile = Kptfile::parse(&local["Kptfile"]).map_err(|e| e.to_string())?;
    let strategy_name = case
        .strategy
        .clone()
        .unwrap_or_else(|| kptfile.upstream.map(|u| u.update_strategy).unwrap_or_default());
    let strategy = Strategy::parse(&strategy_name).map_err(|e| e.to_string())?;
    let result = upgrade(strategy, &original, &updated, &local);
    let panic_case = case.name == PANIC_CASE;
    if case.outcome == "failure" && !panic_case {
        let want = case
            .error
            .lines()
            .next()
            .unwrap_or_default()
            .trim_start_matches("Error: ")
            .trim_end_matches('.');
        return match result {
            Ok(_) => Err("succeeded, kpt failed".into()),
            Err(e) if e.to_string().contains(want) => Ok(true),
            Err(e) => Err(format!("error {e:?} does not contain {want:?}")),
        };
    }
    let mut result = result.map_err(|e| format!("failed: {e}"))?;
    let kf = result.get("Kptfile").ok_or("no Kptfile")?;
    let persisted = case.strategy.as_ref().map(|_| strategy);
    let kf = set_upstream_ref(kf, &case.update_ref, &case.update_commit, persisted)
        .map_err(|e| e.to_string())?;
    result.insert("Kptfile".into(), kf);
    if let Ok(out) = std::env::var("VERANDA_GOLDEN_OUT") {
        crate::util::write_dir(&Path::new(&out).join(&case.name), &result);
    }
    let expected: Files = if panic_case {
        let mut fixed = read_dir(&root().join(PANIC_CASE_FIXED).join("expected"));
        let ns = String::from_utf8_lossy(&fixed["namespace.yaml"])
            .replace("# kpt-merge: /example", "# kpt-merge: example");
        fixed.insert("namespace.yaml".into(), ns.into_bytes());
        fixed
    } else {
        read_dir(&dir.join("expected"))
    };
    let problems = compare(&expected, &result);
    if !problems.is_empty() {
        return Err(problems.join("\n"));
    }
    Ok(!panic_case && result == read_dir(&dir.join("expected")))
}

#[test]
fn kpt_upgrade_goldens() {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(root())
        .expect("shared/testdata/upgrade must exist")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.join("case.yaml").exists())
        .collect();
    dirs.sort();
    let (mut passed, mut identical) = (0, 0);
    let mut report = String::from(
        "\ncase                                            strategy              kpt       veranda\n",
    );
    let mut failures = Vec::new();
    for dir in &dirs {
        let case = read_case(dir);
        let outcome = run(dir, &case);
        let status = match &outcome {
            Ok(_) if case.name == PANIC_CASE => "pass (kpt panics; = fixed-comment golden)",
            Ok(true) => "pass, byte-identical",
            Ok(false) => "pass",
            Err(_) => "FAIL",
        };
        report.push_str(&format!(
            "{:<47} {:<21} {:<9} {status}\n",
            case.name,
            case.strategy.as_deref().unwrap_or("(Kptfile)"),
            case.outcome,
        ));
        match outcome {
            Ok(same) => {
                passed += 1;
                identical += usize::from(same);
            }
            Err(e) => failures.push(format!("== {}\n{e}", case.name)),
        }
    }
    report.push_str(&format!(
        "{passed} of {} cases pass, {identical} byte-identical with kpt\n",
        dirs.len()
    ));
    eprintln!("{report}");
    for f in &failures {
        eprintln!("{f}");
    }
    assert_eq!(dirs.len(), CASES, "number of golden cases");
    assert_eq!(passed, PASSING, "passing golden cases");
    assert_eq!(identical, BYTE_IDENTICAL, "byte-identical golden cases");
}

/// The comparison is not vacuous: the local package (before the upgrade) differs from
/// `expected/` in every case where kpt changed more than the Kptfile, and a dropped comment is
/// noticed.
#[test]
fn golden_comparison_detects_differences() {
    let mut checked = 0;
    for entry in std::fs::read_dir(root()).unwrap().flatten() {
        let dir = entry.path();
        let Ok(diff) = std::fs::read_to_string(dir.join("local-to-expected.diff")) else {
            continue;
        };
        let touches_resources =
            diff.lines().any(|l| l.starts_with("diff -ruN") && !l.ends_with("/Kptfile"));
        if !touches_resources || read_case(&dir).outcome == "failure" {
            continue;
        }
        let problems = compare(&read_dir(&dir.join("expected")), &read_dir(&dir.join("local")));
        assert!(!problems.is_empty(), "{}", dir.display());
        checked += 1;
    }
    assert!(checked >= 15, "only {checked} cases checked");
    let dir = root().join("gke-comments-and-setters");
    let expected = read_dir(&dir.join("expected"));
    let mut stripped = expected.clone();
    for content in stripped.values_mut() {
        let text = String::from_utf8_lossy(content).replace(" # kpt-set:", " #kpt-set:");
        *content = text.into_bytes();
    }
    assert!(!compare(&expected, &stripped).is_empty(), "a changed comment must be noticed");
}
