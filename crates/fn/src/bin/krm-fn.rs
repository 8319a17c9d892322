//! `krm-fn <function>`: runs a built-in KRM function as an exec function (ResourceList YAML on
//! stdin, result on stdout), so the built-ins can serve kpt's `exec:` and Porch's exec
//! evaluator, and so benchmarks can compare them with kpt.

use std::io::{Read, Write};

use veranda_fn::{BuiltinRuntime, FunctionRef, FunctionRuntime};

fn main() {
    let Some(name) = std::env::args().nth(1) else {
        eprintln!("usage: krm-fn <function> < resource-list.yaml");
        std::process::exit(2);
    };
    let mut input = Vec::new();
    if let Err(e) = std::io::stdin().read_to_end(&mut input) {
        eprintln!("failed to read stdin: {e}");
        std::process::exit(1);
    }
    match BuiltinRuntime.run(&FunctionRef::Image(name), &input) {
        Ok(output) => {
            let _ = std::io::stdout().write_all(&output.stdout);
            let _ = std::io::stderr().write_all(output.stderr.as_bytes());
            std::process::exit(output.exit_code);
        }
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(1);
        }
    }
}
