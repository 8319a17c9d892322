//! Built-in functions that run in a child process.
//!
//! starlark checks its heap between statements, but one expression can ask for terabytes
//! (`s * 2000000000` on a kilobyte string) in a single allocation, and a failed allocation aborts
//! the whole process. [`IsolatedBuiltins`] runs those functions in a child (the server's own
//! binary, `veranda builtin-function IMAGE`) under the exec limits — time, output and address
//! space — so the worst a program can do is fail its render. Every other built-in runs in
//! process, as [`BuiltinRuntime`] does.

use std::path::PathBuf;

use crate::{
    BuiltinRuntime,
    runtime::{FunctionOutput, FunctionRef, FunctionRuntime, Limits, NodeRun, RuntimeError},
    yaml::Node,
};

/// The subcommand of the server's binary that runs one built-in (`veranda builtin-function`).
pub const CHILD_SUBCOMMAND: &str = "builtin-function";

/// Short names of the built-ins run in a child process.
pub const ISOLATED: &[&str] = &["starlark"];

/// The built-ins, with [`ISOLATED`] ones in a child process.
#[derive(Clone, Debug)]
pub struct IsolatedBuiltins {
    /// The program the child runs; it is given `IMAGE` (after `args`) and any `--allow NAME`
    /// of the environment, reads a `ResourceList` on stdin and writes one on stdout.
    pub program: PathBuf,
    /// Arguments before the image (e.g. `builtin-function`).
    pub args: Vec<String>,
    pub limits: Limits,
    /// The allowlisted environment (what starlark's `ctx.environment` shows).
    pub env: Vec<(String, String)>,
}

impl IsolatedBuiltins {
    /// Children run `program builtin-function [--allow NAME]... IMAGE`.
    pub fn new(program: PathBuf, limits: Limits, env: Vec<(String, String)>) -> IsolatedBuiltins {
        IsolatedBuiltins { program, args: vec![CHILD_SUBCOMMAND.to_string()], limits, env }
    }
}

fn isolated(function: &FunctionRef) -> Option<&str> {
    match function {
        FunctionRef::Image(image) if ISOLATED.contains(&crate::builtins::short_name(image)) => {
            Some(image)
        }
        _ => None,
    }
}

impl FunctionRuntime for IsolatedBuiltins {
    fn run_nodes(
        &self,
        function: &FunctionRef,
        items: Vec<Node>,
        function_config: Option<&Node>,
    ) -> NodeRun {
        if isolated(function).is_some() {
            // Through bytes: `run` below.
            return NodeRun::Unsupported(items);
        }
        BuiltinRuntime.run_nodes(function, items, function_config)
    }

    fn handles_nodes(&self) -> bool {
        true
    }

    fn run(&self, function: &FunctionRef, input: &[u8]) -> Result<FunctionOutput, RuntimeError> {
        let Some(image) = isolated(function) else { return BuiltinRuntime.run(function, input) };
        let mut args = self.args.clone();
        for (name, _) in &self.env {
            args.extend(["--allow".to_string(), name.clone()]);
        }
        args.push(image.to_string());
        crate::runtime::run_process(
            image,
            &self.program,
            &args,
            &self.env,
            None,
            input,
            self.limits,
        )
    }
}

/// The child's side: runs built-in `image` on the `ResourceList` in `input`, with starlark's
/// environment made of the `allow`ed variables of this process.
pub fn run_builtin_child(image: &str, allow: &[String], input: &[u8]) -> FunctionOutput {
    let env = allow
        .iter()
        .filter_map(|name| std::env::var(name).ok().map(|value| (name.clone(), value)))
        .collect();
    crate::set_function_environment(env);
    match BuiltinRuntime.run(&FunctionRef::Image(image.to_string()), input) {
        Ok(output) => output,
        Err(e) => FunctionOutput { stdout: Vec::new(), stderr: e.to_string(), exit_code: 1 },
    }
}
