//! What functions see of the world: nothing of the server's environment.
//!
//! Exec functions start with an empty environment plus a fixed `PATH`, and starlark's
//! `ctx.environment` is empty, unless the operator allowlists variables (`--function-env NAME`)
//! once at start-up with [`set_function_environment`]. A server's environment holds credentials
//! (cloud tokens, database passwords); a Kptfile pipeline must not be able to copy them into a
//! package and commit them to Git.

use std::sync::OnceLock;

/// `PATH` of exec functions when the allowlist does not name it: the standard system
/// directories, not the server's own `PATH`.
pub const DEFAULT_PATH: &str = "/usr/local/bin:/usr/bin:/bin";

static ALLOWLISTED: OnceLock<Vec<(String, String)>> = OnceLock::new();

/// Sets the variables every function sees (the first call wins; later calls are ignored and
/// return false).
pub fn set_function_environment(vars: Vec<(String, String)>) -> bool {
    ALLOWLISTED.set(vars).is_ok()
}

/// The allowlisted variables (empty unless [`set_function_environment`] was called).
pub fn function_environment() -> &'static [(String, String)] {
    ALLOWLISTED.get().map(Vec::as_slice).unwrap_or_default()
}
