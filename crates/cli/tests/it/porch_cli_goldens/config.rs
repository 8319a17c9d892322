//! A golden case as Porch writes it: `testdata/<case>/config.yaml` (Porch's
//! `test/e2e/cli/config.go`). Unknown keys are refused, so a field Porch adds is noticed here
//! rather than silently ignored.

use serde::Deserialize;

/// One case: its commands run in order against one server.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Case {
    /// The case writes to `porch-test` (Porch recreates it afterwards). Read, not used: every
    /// case here gets a fresh test Gitea.
    #[serde(default)]
    #[allow(dead_code)]
    pub uses_porch_test_repo: bool,
    /// Why the case is skipped, if it is.
    #[serde(default)]
    pub skip: String,
    #[serde(default)]
    pub commands: Vec<Step>,
}

/// One command and what it must print.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Step {
    /// The program and its arguments; `porchctl` is the binary under test.
    pub args: Vec<String>,
    /// Standard input, when not empty.
    #[serde(default)]
    pub stdin: String,
    #[serde(default)]
    pub stdout: String,
    #[serde(default)]
    pub stderr: String,
    #[serde(default)]
    pub exit_code: i32,
    /// Stdout is YAML, compared after normalisation ([`super::compare::normalize_yaml`]).
    #[serde(default)]
    pub yaml: bool,
    /// Runs of spaces count as one, in stdout and stderr.
    #[serde(default)]
    pub ignore_whitespace: bool,
    /// Tabs of the actual stderr become two spaces.
    #[serde(default)]
    pub std_err_tab_to_whitespace: bool,
    /// The actual stderr must contain the expected one rather than equal it.
    #[serde(default)]
    pub contains_error_string: bool,
}

impl Case {
    /// Parses a `config.yaml`.
    pub fn parse(text: &str) -> Result<Case, String> {
        serde_yaml::from_str(text).map_err(|e| e.to_string())
    }
}
