//! Function runtimes: the [`FunctionRuntime`] trait, the exec runtime (a local executable per
//! image, or a Kptfile `exec:` path) and [`MultiRuntime`], which tries runtimes in order.
//!
//! A function takes a `ResourceList` as YAML bytes and returns its stdout, stderr and exit code,
//! the contract of kpt's exec functions. Built-ins implement the same trait in process
//! (`crate::builtins`). Every run has a time limit and an output size limit: a function that
//! hangs is killed, one that floods its output is stopped, and both become errors.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::yaml::Node;

/// Which function to run: an image reference or an executable path (Kptfile `exec:`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FunctionRef {
    Image(String),
    Exec(String),
}

impl FunctionRef {
    /// The name kpt prints and records in results (the image or the exec path as written).
    pub fn display_name(&self) -> &str {
        match self {
            FunctionRef::Image(image) | FunctionRef::Exec(image) => image,
        }
    }
}

/// What a function printed and how it exited.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FunctionOutput {
    pub stdout: Vec<u8>,
    pub stderr: String,
    pub exit_code: i32,
}

/// Why a function could not run (a non-zero exit code is not an error here).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RuntimeError {
    /// This runtime does not provide the function; the next runtime is tried.
    #[error("function {0:?} not found")]
    NotFound(String),
    #[error("function {name:?} timed out after {timeout:?}")]
    Timeout { name: String, timeout: Duration },
    #[error("function {name:?} wrote more than {limit} bytes of output")]
    OutputTooLarge { name: String, limit: usize },
    #[error("failed to start function {name:?}: {message}")]
    Spawn { name: String, message: String },
    #[error("function {name:?} failed: {message}")]
    Failed { name: String, message: String },
}

/// A function's result on node level (what the engine would parse out of its output).
#[derive(Clone, Debug, Default)]
pub struct NodeOutput {
    pub items: Vec<Node>,
    /// The `results` of the ResourceList.
    pub results: Option<Node>,
    pub stderr: String,
    pub exit_code: i32,
}

/// Runs KRM functions. Implementations are synchronous; callers in async code use
/// `spawn_blocking`.
pub trait FunctionRuntime: Send + Sync {
    /// Runs a function on a `ResourceList` in YAML and returns what it printed.
    fn run(&self, function: &FunctionRef, input: &[u8]) -> Result<FunctionOutput, RuntimeError>;

    /// In-process functions may take the items as nodes, which saves the engine a YAML round
    /// trip per function. [`NodeRun::Unsupported`] hands the items back for
    /// [`FunctionRuntime::run`].
    fn run_nodes(
        &self,
        function: &FunctionRef,
        items: Vec<Node>,
        function_config: Option<&Node>,
    ) -> NodeRun {
        let _ = (function, function_config);
        NodeRun::Unsupported(items)
    }

    /// Whether [`FunctionRuntime::run_nodes`] answers for every function it provides (a runtime
    /// behind one that does not is only reached through bytes).
    fn handles_nodes(&self) -> bool {
        false
    }
}

/// The answer of [`FunctionRuntime::run_nodes`].
#[derive(Debug)]
pub enum NodeRun {
    Done(Result<Box<NodeOutput>, RuntimeError>),
    Unsupported(Vec<Node>),
}

/// Default address-space limit of an exec function: 2 GiB (Go functions reserve address space
/// well beyond what they touch, so much lower limits break ordinary catalog functions).
pub const DEFAULT_MAX_MEMORY: u64 = 2 << 30;

/// Limits applied to every function run.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    pub timeout: Duration,
    /// Maximum bytes of stdout (and, separately, of stderr).
    pub max_output: usize,
    /// Address-space limit (RLIMIT_AS) of an exec function's process, in bytes; `None` for none.
    pub max_memory: Option<u64>,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            timeout: Duration::from_secs(30),
            max_output: 16 * 1024 * 1024,
            max_memory: Some(DEFAULT_MAX_MEMORY),
        }
    }
}

/// Tries runtimes in order; a `NotFound` answer moves on to the next one.
#[derive(Default, Clone)]
pub struct MultiRuntime {
    pub runtimes: Vec<Arc<dyn FunctionRuntime>>,
}

impl MultiRuntime {
    fn run_missing(&self, function: &FunctionRef) -> Result<Box<NodeOutput>, RuntimeError> {
        Err(RuntimeError::NotFound(function.display_name().to_string()))
    }
}

impl FunctionRuntime for MultiRuntime {
    fn run_nodes(
        &self,
        function: &FunctionRef,
        items: Vec<Node>,
        function_config: Option<&Node>,
    ) -> NodeRun {
        // Only the runtimes before the first byte-only one may answer on node level, so that
        // the order of runtimes is kept.
        let mut items = items;
        for runtime in &self.runtimes {
            match runtime.run_nodes(function, items, function_config) {
                NodeRun::Done(Err(RuntimeError::NotFound(_))) => {
                    return NodeRun::Done(self.run_missing(function));
                }
                NodeRun::Done(result) => return NodeRun::Done(result),
                NodeRun::Unsupported(back) => items = back,
            }
            if !runtime.handles_nodes() {
                break;
            }
        }
        NodeRun::Unsupported(items)
    }

    fn handles_nodes(&self) -> bool {
        self.runtimes.iter().all(|r| r.handles_nodes())
    }

    fn run(&self, function: &FunctionRef, input: &[u8]) -> Result<FunctionOutput, RuntimeError> {
        for runtime in &self.runtimes {
            match runtime.run(function, input) {
                Err(RuntimeError::NotFound(_)) => continue,
                other => return other,
            }
        }
        Err(RuntimeError::NotFound(function.display_name().to_string()))
    }
}

/// Runs local executables: images mapped to binaries, and Kptfile `exec:` paths when allowed.
#[derive(Clone, Debug, Default)]
pub struct ExecRuntime {
    /// Image name (without tag or digest, any registry prefix as configured) → executable.
    pub images: BTreeMap<String, PathBuf>,
    /// Run Kptfile `exec:` functions (kpt's `--allow-exec`).
    pub allow_exec: bool,
    /// Directory `exec:` paths are resolved against (kpt uses its working directory).
    pub exec_dir: Option<PathBuf>,
    pub limits: Limits,
    /// The whole environment of the functions: nothing of the server's is inherited. `PATH`
    /// is [`crate::environment::DEFAULT_PATH`] unless set here.
    pub env: Vec<(String, String)>,
}

impl ExecRuntime {
    fn command_for(&self, function: &FunctionRef) -> Result<(PathBuf, Vec<String>), RuntimeError> {
        match function {
            FunctionRef::Image(image) => {
                let full = image_without_version(image);
                let short = crate::builtins::short_name(image);
                self.images
                    .get(full)
                    .or_else(|| self.images.get(short))
                    .map(|path| (path.clone(), Vec::new()))
                    .ok_or_else(|| RuntimeError::NotFound(image.clone()))
            }
            FunctionRef::Exec(exec) => {
                if !self.allow_exec {
                    return Err(RuntimeError::NotFound(exec.clone()));
                }
                let mut parts = exec.split_whitespace().map(str::to_string);
                let program = parts.next().ok_or_else(|| RuntimeError::Spawn {
                    name: exec.clone(),
                    message: "empty exec command".into(),
                })?;
                let mut path = PathBuf::from(&program);
                if path.is_relative()
                    && let Some(dir) = &self.exec_dir
                {
                    path = dir.join(path);
                }
                Ok((path, parts.collect()))
            }
        }
    }
}

/// `name:tag` or `name@sha256:…` → `name`.
pub(crate) fn image_without_version(image: &str) -> &str {
    let image = image.split('@').next().unwrap_or(image);
    match image.rfind(':') {
        Some(i) if !image[i..].contains('/') => &image[..i],
        _ => image,
    }
}

impl FunctionRuntime for ExecRuntime {
    fn run(&self, function: &FunctionRef, input: &[u8]) -> Result<FunctionOutput, RuntimeError> {
        let (program, args) = self.command_for(function)?;
        let name = function.display_name().to_string();
        run_process(&name, &program, &args, &self.env, self.exec_dir.as_deref(), input, self.limits)
    }
}

/// Runs a process with a time limit and output limits. The process gets its own process group,
/// and the whole group is killed when a limit is hit, so a shell script's children cannot keep
/// the pipes open.
pub(crate) fn run_process(
    name: &str,
    program: &std::path::Path,
    args: &[String],
    env: &[(String, String)],
    dir: Option<&std::path::Path>,
    input: &[u8],
    limits: Limits,
) -> Result<FunctionOutput, RuntimeError> {
    use std::os::unix::process::CommandExt;
    use std::sync::mpsc;

    if program.components().count() > 1 && !program.is_file() {
        return Err(RuntimeError::Spawn {
            name: name.to_string(),
            message: format!("{}: no such file", program.display()),
        });
    }
    // The memory limit is set by a shell between fork and exec of the function (`ulimit -v`,
    // and no core dumps), so it holds from the function's first instruction; this crate forbids the `unsafe` a
    // `pre_exec` hook would need.
    let mut command = match limits.max_memory {
        Some(bytes) => {
            let mut sh = Command::new("/bin/sh");
            sh.arg("-c")
                .arg(format!(
                    "ulimit -c 0 && ulimit -v {} && exec \"$0\" \"$@\"",
                    bytes.div_ceil(1024).max(1)
                ))
                .arg(program);
            sh
        }
        None => Command::new(program),
    };
    command
        .env_clear()
        .env("PATH", crate::environment::DEFAULT_PATH)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    if let Some(dir) = dir {
        command.current_dir(dir);
    }
    for (k, v) in env {
        command.env(k, v);
    }
    let mut child = command
        .spawn()
        .map_err(|e| RuntimeError::Spawn { name: name.to_string(), message: e.to_string() })?;
    let pid = child.id();

    let stdin = child.stdin.take();
    let input = input.to_vec();
    std::thread::spawn(move || {
        if let Some(mut stdin) = stdin {
            // A function may exit without reading all of its input; that is not our error.
            let _ = stdin.write_all(&input);
        }
    });

    let (tx, rx) = mpsc::channel::<(bool, Vec<u8>, bool)>();
    spawn_reader(child.stdout.take(), limits.max_output, true, tx.clone());
    spawn_reader(child.stderr.take(), limits.max_output, false, tx);

    let deadline = Instant::now() + limits.timeout;
    let mut stdout = None;
    let mut stderr = None;
    let mut status = None;
    let mut overflow = false;
    let mut timed_out = false;
    while stdout.is_none() || stderr.is_none() || status.is_none() {
        let now = Instant::now();
        if now >= deadline {
            timed_out = true;
            break;
        }
        if status.is_none()
            && let Ok(Some(s)) = child.try_wait()
        {
            status = Some(s);
        }
        match rx.recv_timeout(Duration::from_millis(2).min(deadline - now)) {
            Ok((is_stdout, data, over)) => {
                overflow |= over;
                if is_stdout {
                    stdout = Some(data);
                } else {
                    stderr = Some(data);
                }
                if overflow {
                    break;
                }
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                if status.is_none() {
                    std::thread::sleep(Duration::from_millis(1));
                }
            }
        }
    }
    if timed_out || overflow {
        kill_group(pid);
        let _ = child.kill();
        let _ = child.wait();
        if overflow {
            return Err(RuntimeError::OutputTooLarge {
                name: name.to_string(),
                limit: limits.max_output,
            });
        }
        return Err(RuntimeError::Timeout { name: name.to_string(), timeout: limits.timeout });
    }
    let status = match status {
        Some(status) => status,
        None => child
            .wait()
            .map_err(|e| RuntimeError::Failed { name: name.to_string(), message: e.to_string() })?,
    };
    Ok(FunctionOutput {
        stdout: stdout.unwrap_or_default(),
        stderr: String::from_utf8_lossy(&stderr.unwrap_or_default()).into_owned(),
        exit_code: status.code().unwrap_or(-1),
    })
}

/// Kills a process group with the `kill` utility (this crate forbids `unsafe`, so no libc).
fn kill_group(pid: u32) {
    let _ = Command::new("kill")
        .args(["-KILL", "--", &format!("-{pid}")])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

fn spawn_reader<R: Read + Send + 'static>(
    source: Option<R>,
    limit: usize,
    is_stdout: bool,
    tx: std::sync::mpsc::Sender<(bool, Vec<u8>, bool)>,
) {
    std::thread::spawn(move || {
        let mut data = Vec::new();
        let mut overflow = false;
        if let Some(mut source) = source {
            let mut buf = vec![0u8; 64 * 1024];
            loop {
                match source.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        if data.len() + n > limit {
                            overflow = true;
                            break;
                        }
                        data.extend_from_slice(&buf[..n]);
                    }
                }
            }
        }
        let _ = tx.send((is_stdout, data, overflow));
    });
}
