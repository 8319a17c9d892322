//! Rendering the Kptfile pipeline of a package before it is written (porch.md §3.3, §4.1).

use veranda_api::types::RenderStatus;
use veranda_kpt::Files;

use crate::{Engine, Error, Kind};

/// A render that failed.
pub(crate) struct RenderFailure {
    /// What kpt leaves behind: the input, or the partial output with
    /// `kpt.dev/save-on-render-failure`.
    pub(crate) files: Files,
    pub(crate) status: RenderStatus,
    pub(crate) error: String,
}

impl Engine {
    /// The function runtimes, for a render on the blocking pool.
    pub(crate) fn functions(&self) -> veranda_fn::MultiRuntime {
        self.functions.clone()
    }
}

/// Renders `files`; Ok carries the rendered files and the status to report.
pub(crate) fn render(
    functions: &veranda_fn::MultiRuntime,
    files: &Files,
) -> Result<(Files, RenderStatus), RenderFailure> {
    let started = std::time::Instant::now();
    let outcome = veranda_fn::render(files, functions, &veranda_fn::RenderOptions::default());
    crate::metrics::observe(
        "veranda_render_duration_seconds",
        Vec::new(),
        started.elapsed().as_secs_f64(),
    );
    match outcome.error {
        None => {
            // Always a FunctionResultList, empty when nothing ran (clients read `result`).
            let status =
                RenderStatus { result: Some(outcome.results.clone()), error: String::new() };
            Ok((outcome.files, status))
        }
        Some(error) => Err(RenderFailure {
            files: outcome.files,
            status: RenderStatus { result: Some(outcome.results), error: error.clone() },
            error,
        }),
    }
}

/// The error of a render that stopped a write (nothing pushed).
pub(crate) fn not_pushed(kind: Kind, name: &str, details: &str) -> Error {
    Error::Invalid {
        kind,
        name: name.to_string(),
        field: "render".into(),
        message: format!(
            "error rendering package in kpt function pipeline. Package NOT pushed to remote. Fix locally (until 'kpt fn render' succeeds) and retry. Details: {details}"
        ),
    }
}

/// The error of a render that failed but whose result was pushed as asked by
/// `porch.kpt.dev/push-on-render-failure`.
pub(crate) fn pushed_anyway(kind: Kind, name: &str, details: &str) -> Error {
    Error::Invalid {
        kind,
        name: name.to_string(),
        field: "render".into(),
        message: format!(
            "error rendering package in kpt function pipeline. Package pushed to remote despite render failure. Details: {details}"
        ),
    }
}
