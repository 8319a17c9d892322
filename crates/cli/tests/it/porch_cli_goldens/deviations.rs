//! Where veranda answers a golden step differently from Porch on purpose: one table,
//! [`DEVIATIONS`], giving what veranda prints instead, and its documentation, the table of
//! `docs/PORCHCTL.md` ("Porch CLI goldens: where veranda differs"), which says why. A test
//! keeps the two listing the same (case, step) pairs.

use std::collections::BTreeSet;

use super::compare::Expected;

/// Our expected output of one step of one case; `None` keeps Porch's.
#[derive(Clone, Copy, Debug)]
pub struct Deviation {
    pub case: &'static str,
    /// Index of the step in the case's `commands`, from 0.
    pub step: usize,
    pub stdout: Option<&'static str>,
    pub stderr: Option<&'static str>,
    pub exit_code: Option<i32>,
    pub contains_error_string: Option<bool>,
    /// Lines of Porch's stdout that ours does not have (each containing this text).
    pub stdout_without: &'static [&'static str],
}

const NONE: Deviation = Deviation {
    case: "",
    step: 0,
    stdout: None,
    stderr: None,
    exit_code: None,
    contains_error_string: None,
    stdout_without: &[],
};

/// The refusal of `reject` for a revision proposed for deletion (deletion is final).
const REJECT_DELETION: &str = "git.lifecycle-package.lifecycle failed (PackageRevision.porch.kpt.dev \"git.lifecycle-package.lifecycle\" is invalid: spec.lifecycle: Invalid value: \"Published\": cannot change lifecycle from DeletionProposed to Published; a revision proposed for deletion can only be deleted)\nError: errors:\n  PackageRevision.porch.kpt.dev \"git.lifecycle-package.lifecycle\" is invalid: spec.lifecycle: Invalid value: \"Published\": cannot change lifecycle from DeletionProposed to Published; a revision proposed for deletion can only be deleted \n";

/// kpt 1.0.0-beta.56's `fn eval` results block (Porch's goldens come from a later kpt).
const EVAL_DESCRIPTION: &str = "[RUNNING] \"ghcr.io/kptdev/krm-functions-catalog/search-replace:v0.2.3\" on 1 resource(s)\n  Results:\n    [info] info.description: Mutated field value to \"Updated Test Package Description\"\n";
const EVAL_STATUS: &str = "[RUNNING] \"ghcr.io/kptdev/krm-functions-catalog/search-replace:v0.2.3\" on 1 resource(s)\n  Results:\n    [info] status.conditions[0].status: Mutated field value to \"\\\"True\\\"\"\n";

/// Every deliberate difference from Porch's goldens. Each must have its row in
/// `docs/PORCHCTL.md`.
pub const DEVIATIONS: &[Deviation] = &[
    Deviation {
        case: "rpkg-clone",
        step: 2,
        stderr: Some(
            "Error: `clone` cannot create a new revision for package \"basens-clone\" that already exists in repo \"git\"; make subsequent revisions using `copy` \n",
        ),
        ..NONE
    },
    Deviation { case: "rpkg-clone", step: 6, stdout_without: &["kpt.dev|Kptfile|"], ..NONE },
    Deviation { case: "rpkg-clone", step: 7, stdout_without: &["kpt.dev|Kptfile|"], ..NONE },
    Deviation { case: "rpkg-copy", step: 5, stdout_without: &["kpt.dev|Kptfile|"], ..NONE },
    Deviation {
        case: "rpkg-init",
        step: 4,
        stderr: Some("Error: package \"init-package\" already exists in repository \"git\" \n"),
        ..NONE
    },
    Deviation {
        case: "rpkg-lifecycle",
        step: 16,
        stdout: Some(""),
        stderr: Some(REJECT_DELETION),
        exit_code: Some(1),
        ..NONE
    },
    Deviation {
        case: "rpkg-lifecycle",
        step: 17,
        stdout: Some(""),
        stderr: Some(REJECT_DELETION),
        exit_code: Some(1),
        ..NONE
    },
    Deviation {
        case: "rpkg-lifecycle",
        step: 18,
        stdout: Some(
            "NAME                              PACKAGE             WORKSPACENAME   REVISION   LATEST   LIFECYCLE          REPOSITORY\ngit.lifecycle-package.lifecycle   lifecycle-package   lifecycle       1          true     DeletionProposed   git\n",
        ),
        ..NONE
    },
    Deviation {
        case: "rpkg-lifecycle",
        step: 19,
        stdout: Some(""),
        stderr: Some("git.lifecycle-package.lifecycle is already proposed for deletion\n"),
        ..NONE
    },
    Deviation {
        case: "rpkg-push",
        step: 3,
        stderr: Some(
            "Error: PackageRevisionResources.porch.kpt.dev \"git.test-package.push\" is invalid: metadata.resourceVersion: Invalid value: 0x0: must be specified for an update \n",
        ),
        ..NONE
    },
    Deviation { case: "rpkg-push", step: 5, stderr: Some(EVAL_DESCRIPTION), ..NONE },
    Deviation {
        case: "rpkg-push",
        step: 8,
        stderr: Some(
            "Error: Operation cannot be fulfilled on packagerevisionresources.porch.kpt.dev \"git.test-package.push\": the object has been modified; please apply your changes to the latest version and try again \n",
        ),
        ..NONE
    },
    Deviation { case: "rpkg-unready", step: 3, stderr: Some(EVAL_STATUS), ..NONE },
];

/// The section of `docs/PORCHCTL.md` that documents [`DEVIATIONS`].
pub const DOCS_SECTION: &str = "## Porch CLI goldens: where veranda differs";

/// What step `step` of `case` must print: Porch's golden, unless [`DEVIATIONS`] says otherwise.
pub fn expected(case: &str, step: usize, porch: Expected) -> (Expected, bool) {
    let Some(deviation) = DEVIATIONS.iter().find(|d| d.case == case && d.step == step) else {
        return (porch, false);
    };
    let porch_stdout = if deviation.stdout_without.is_empty() {
        porch.stdout
    } else {
        porch
            .stdout
            .split_inclusive('\n')
            .filter(|line| !deviation.stdout_without.iter().any(|text| line.contains(text)))
            .collect()
    };
    let ours = Expected {
        stdout: deviation.stdout.map_or(porch_stdout, str::to_owned),
        stderr: deviation.stderr.map_or(porch.stderr, str::to_owned),
        exit_code: deviation.exit_code.unwrap_or(porch.exit_code),
        contains_error_string: deviation
            .contains_error_string
            .unwrap_or(porch.contains_error_string),
    };
    (ours, true)
}

/// The (case, step) pairs of the table in `markdown`'s [`DOCS_SECTION`]: its first two columns
/// (backticks allowed), header and separator rows skipped.
pub fn documented(markdown: &str) -> Result<BTreeSet<(String, usize)>, String> {
    let mut lines = markdown.lines().skip_while(|line| line.trim() != DOCS_SECTION);
    if lines.next().is_none() {
        return Err(format!("no section {DOCS_SECTION:?}"));
    }
    let rows = lines
        .take_while(|line| !line.starts_with("## "))
        .filter(|line| line.trim_start().starts_with('|'))
        .skip(2);
    let mut pairs = BTreeSet::new();
    for row in rows {
        let cells: Vec<&str> = row.split('|').map(|cell| cell.trim().trim_matches('`')).collect();
        let (Some(case), Some(step)) = (cells.get(1), cells.get(2)) else {
            return Err(format!("a row without case and step: {row}"));
        };
        let step = step.parse().map_err(|_| format!("step {step:?} is not a number: {row}"))?;
        if !pairs.insert(((*case).to_owned(), step)) {
            return Err(format!("{case} step {step} is documented twice"));
        }
    }
    Ok(pairs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_docs_table_and_the_deviations_list_the_same_steps() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/PORCHCTL.md");
        let markdown = std::fs::read_to_string(&path).expect("read docs/PORCHCTL.md");
        let documented = documented(&markdown).expect("a well-formed deviations table");
        let declared: BTreeSet<(String, usize)> =
            DEVIATIONS.iter().map(|d| (d.case.to_owned(), d.step)).collect();
        assert_eq!(declared.len(), DEVIATIONS.len(), "a step is declared twice in DEVIATIONS");
        assert_eq!(
            documented, declared,
            "docs/PORCHCTL.md (left) and DEVIATIONS (right) must list the same (case, step) pairs"
        );
    }

    #[test]
    fn every_deviation_changes_a_step_that_exists() {
        for deviation in DEVIATIONS {
            let case = super::super::read_case(deviation.case);
            let step = case
                .commands
                .get(deviation.step)
                .unwrap_or_else(|| panic!("{} has no step {}", deviation.case, deviation.step));
            let porch = Expected::of(step);
            let (ours, _) = expected(deviation.case, deviation.step, porch.clone());
            assert_ne!(ours, porch, "{deviation:?} expects what Porch does");
        }
    }

    #[test]
    fn the_docs_table_is_read_by_its_first_two_columns() {
        let markdown = format!(
            "# x\n{DOCS_SECTION}\n\nSome text.\n\n| case | step | Porch's output | ours | why |\n|---|---|---|---|---|\n| `rpkg-lifecycle` | 17 | a | b | c |\n| rpkg-init | 4 | a \\| b | c | d |\n\n## Next\n| other | 1 |\n"
        );
        let pairs = documented(&markdown).expect("parsed");
        let want: BTreeSet<(String, usize)> =
            [("rpkg-init".to_owned(), 4), ("rpkg-lifecycle".to_owned(), 17)].into();
        assert_eq!(pairs, want);
        assert!(documented("# nothing\n").is_err());
        let twice = format!("{DOCS_SECTION}\n| c | s |\n|-|-|\n| a | 1 |\n| a | 1 |\n");
        assert!(documented(&twice).is_err());
        let empty =
            format!("{DOCS_SECTION}\n| case | step | Porch's output | ours | why |\n|-|-|-|-|-|\n");
        assert_eq!(documented(&empty).expect("parsed"), BTreeSet::new());
    }

    #[test]
    fn a_step_without_a_deviation_keeps_porchs_golden() {
        let porch = Expected {
            stdout: "out".into(),
            stderr: "Error: Internal error occurred: x".into(),
            exit_code: 1,
            contains_error_string: false,
        };
        // A step no deviation names keeps Porch's golden.
        assert_eq!(expected("no-such-case", 0, porch.clone()), (porch, false));
    }
}
