//! `veranda fn render` and `veranda fn eval`: kpt's local commands, without containers. The
//! functions are the built-ins, `--exec-function IMAGE=PATH` executables and (with
//! `--allow-exec`) Kptfile `exec:` programs; the progress output, `results.yaml` and exit code
//! follow kpt 1.0.0-beta.56.

mod disk;
mod eval;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use clap::Subcommand;
use veranda_fn::{RenderOptions, RenderOutcome};

pub use eval::EvalArgs;

/// What a `veranda fn` command does.
// Parsed once per process: the size of the `eval` variant costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand)]
pub enum FnCommand {
    /// Render a package in place: run the Kptfile pipelines of the package and its
    /// subpackages (like `kpt fn render`).
    Render(RenderArgs),
    /// Run one function on the resources of a package, in place (like `kpt fn eval`).
    Eval(EvalArgs),
}

/// `veranda fn render`.
#[derive(clap::Args)]
pub struct RenderArgs {
    /// The package directory.
    #[arg(default_value = ".")]
    dir: PathBuf,
    /// Print the rendered resources instead of writing them: `stdout` (a `ResourceList`) or
    /// `unwrap` (a YAML stream). The package is not changed.
    #[arg(long, short = 'o', value_name = "stdout|unwrap", value_parser = ["stdout", "unwrap"])]
    output: Option<String>,
    #[command(flatten)]
    common: CommonArgs,
}

/// Flags of both commands.
#[derive(clap::Args)]
pub struct CommonArgs {
    /// Write the function results (`results.yaml`, a kpt `FunctionResultList`) into DIR.
    #[arg(long, value_name = "DIR")]
    results_dir: Option<PathBuf>,
    /// Run Kptfile `exec:` functions (paths relative to the working directory, as kpt's).
    #[arg(long)]
    allow_exec: bool,
    /// Run a KRM function image with a local executable: `IMAGE=PATH` (image without tag).
    /// Repeatable. Built-in functions are tried first.
    #[arg(long = "exec-function", value_name = "IMAGE=PATH")]
    exec_functions: Vec<String>,
    /// How long one function may run before the command fails.
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=3600))]
    function_timeout_seconds: u64,
    #[command(flatten)]
    sandbox: crate::SandboxArgs,
}

impl CommonArgs {
    /// The function runtime (built-ins, `--exec-function`s, `exec:` programs when allowed).
    fn runtime(&self, allow_exec: bool) -> anyhow::Result<veranda_fn::MultiRuntime> {
        let images = crate::parse_exec_functions(&self.exec_functions)?;
        let (env, max_memory) = self.sandbox.apply()?;
        let timeout = Duration::from_secs(self.function_timeout_seconds);
        let limits = veranda_fn::Limits { timeout, max_memory, ..Default::default() };
        let exec_dir = std::env::current_dir().context("read the working directory")?;
        let exec =
            veranda_fn::ExecRuntime { images, allow_exec, exec_dir: Some(exec_dir), limits, env };
        Ok(crate::function_runtime(true, exec))
    }

    /// Creates the results directory up front, as kpt does.
    fn prepare_results_dir(&self) -> anyhow::Result<()> {
        if let Some(dir) = &self.results_dir {
            std::fs::create_dir_all(dir).with_context(|| {
                format!("cannot read or create results dir {:?}", dir.display())
            })?;
        }
        Ok(())
    }
}

/// Runs a `veranda fn` command; errors are printed as kpt prints them (`error: …`).
pub fn run(command: FnCommand) -> ExitCode {
    let result = match command {
        FnCommand::Render(args) => render(&args),
        FnCommand::Eval(args) => eval::run(&args),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// The package directory with symbolic links resolved, and its name as kpt prints it.
fn package_dir(dir: &Path) -> anyhow::Result<(PathBuf, String)> {
    let root = match std::fs::canonicalize(dir) {
        Ok(root) => root,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            anyhow::bail!("lstat {}: no such file or directory", dir.display())
        }
        Err(e) => return Err(e).with_context(|| format!("cannot read package {}", dir.display())),
    };
    if !root.is_dir() {
        anyhow::bail!("{} is not a directory", dir.display());
    }
    let name = root.file_name().and_then(|n| n.to_str()).unwrap_or(".").to_string();
    Ok((root, name))
}

fn options(display_name: String, allow_exec: bool) -> RenderOptions {
    RenderOptions {
        allow_exec,
        // kpt 1.0.0-beta.56 writes no render status into the Kptfile.
        write_status: false,
        root_display_name: display_name,
        ..RenderOptions::default()
    }
}

fn render(args: &RenderArgs) -> anyhow::Result<ExitCode> {
    let common = &args.common;
    let (root, name) = package_dir(&args.dir)?;
    common.prepare_results_dir()?;
    let runtime = common.runtime(common.allow_exec)?;
    let files = disk::read_package(&root)?;
    let options = RenderOptions {
        output_resource_list: args.output.is_some(),
        ..options(name, common.allow_exec)
    };
    let outcome = veranda_fn::render(&files, &runtime, &options);
    let code = finish(&root, &files, &outcome, common, false)?;
    if let (Some(list), Some(output)) = (&outcome.resource_list, &args.output) {
        print_resources(list, output)?;
    }
    Ok(code)
}

/// kpt's `-o stdout` (the `ResourceList` as it is) and `-o unwrap` (its items).
fn print_resources(list: &str, output: &str) -> anyhow::Result<()> {
    use std::io::Write as _;
    let text = if output == "unwrap" {
        veranda_fn::unwrap_resource_list(list).map_err(anyhow::Error::msg)?
    } else {
        list.to_string()
    };
    let mut stdout = std::io::stdout();
    stdout.write_all(text.as_bytes()).and_then(|()| stdout.flush()).context("write stdout")
}

/// Writes the outcome back (only on success), prints kpt's progress output, the results line
/// and the error, and returns the exit code.
fn finish(
    root: &Path,
    input: &veranda_fn::Files,
    outcome: &RenderOutcome,
    common: &CommonArgs,
    eval: bool,
) -> anyhow::Result<ExitCode> {
    eprint!("{}", outcome.log);
    // On failure the outcome holds what kpt leaves on disk (the input, or the partial render
    // with `kpt.dev/save-on-render-failure`).
    let written = disk::write_back(root, input, &outcome.files);
    if let Some(dir) = &common.results_dir {
        let path = dir.join("results.yaml");
        std::fs::write(&path, &outcome.results_yaml)
            .with_context(|| format!("failed to save function results: {}", path.display()))?;
        let newline = if eval { "\n" } else { "" };
        eprintln!("{newline}For complete results, see {}", go_clean(&path));
    }
    written?;
    match &outcome.error {
        None => Ok(ExitCode::SUCCESS),
        Some(error) => {
            // kpt reports a function that exited non-zero by its output alone.
            if !already_reported(&outcome.log) {
                eprintln!("error: {error}");
            }
            Ok(ExitCode::FAILURE)
        }
    }
}

/// Whether the log ends with a failed function's exit code (kpt's `ErrAlreadyHandled`).
fn already_reported(log: &str) -> bool {
    log.lines().rev().find(|l| !l.trim().is_empty()).is_some_and(|l| l.starts_with("  Exit code: "))
}

/// A path as Go's `filepath.Join` prints it (cleaned: no `./` parts, no doubled slashes).
fn go_clean(path: &Path) -> String {
    let text = path.to_string_lossy();
    let absolute = text.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for part in text.split('/') {
        match part {
            "" | "." => {}
            ".." if parts.last().is_some_and(|p| *p != "..") => {
                parts.pop();
            }
            ".." if absolute => {}
            _ => parts.push(part),
        }
    }
    let joined = parts.join("/");
    match (absolute, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".into(),
        (false, false) => joined,
    }
}
