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
}

/// Every deliberate difference from Porch's goldens. Each must have its row in
/// `docs/PORCHCTL.md`.
pub const DEVIATIONS: &[Deviation] = &[];

/// The section of `docs/PORCHCTL.md` that documents [`DEVIATIONS`].
pub const DOCS_SECTION: &str = "## Porch CLI goldens: where veranda differs";

/// What step `step` of `case` must print: Porch's golden, unless [`DEVIATIONS`] says otherwise.
pub fn expected(case: &str, step: usize, porch: Expected) -> (Expected, bool) {
    let Some(deviation) = DEVIATIONS.iter().find(|d| d.case == case && d.step == step) else {
        return (porch, false);
    };
    let ours = Expected {
        stdout: deviation.stdout.map_or(porch.stdout, str::to_owned),
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
