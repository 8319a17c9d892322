//! A Python interpreter for the tests that drive Python (the `kubernetes` client here, PyYAML
//! for the exec functions of `crates/fn`'s render goldens, which include this file by path).
//!
//! `$VERANDA_PYTHON` when set (`.ci/run` sets it to its own virtual environment); otherwise
//! `python3` when it can import what the test needs; otherwise a virtual environment made once
//! under the target directory, `target/test-venv` (`python3 -m venv`, then
//! `pip install kubernetes pyyaml`). A file lock next to it keeps parallel test processes from
//! building it twice; later runs reuse it.

use std::{
    fs::File,
    path::{Path, PathBuf},
    process::Command,
};

/// What the virtual environment gets.
const PACKAGES: &[&str] = &["kubernetes", "pyyaml"];

/// An interpreter that runs `import_line` (e.g. `import kubernetes, yaml`) without error.
pub fn python_with(import_line: &str) -> PathBuf {
    if let Some(python) = std::env::var_os("VERANDA_PYTHON").filter(|p| !p.is_empty()) {
        return PathBuf::from(python);
    }
    let system = PathBuf::from("python3");
    if imports(&system, import_line) {
        return system;
    }
    let venv = test_venv();
    let python = venv.join("bin/python3");
    assert!(
        imports(&python, import_line),
        "{} cannot `{import_line}`; delete {} to rebuild it",
        python.display(),
        venv.display()
    );
    python
}

/// `target/test-venv`, created if missing or incomplete.
fn test_venv() -> PathBuf {
    // CARGO_TARGET_TMPDIR is `<target>/tmp`.
    let target = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .expect("CARGO_TARGET_TMPDIR is inside the target directory")
        .to_path_buf();
    let venv = target.join("test-venv");
    let python = venv.join("bin/python3");
    let all = "import kubernetes, yaml";
    if imports(&python, all) {
        return venv;
    }
    std::fs::create_dir_all(&target).expect("create the target directory");
    let lock_path = target.join("test-venv.lock");
    let lock =
        File::create(&lock_path).unwrap_or_else(|e| panic!("create {}: {e}", lock_path.display()));
    lock.lock().unwrap_or_else(|e| panic!("lock {}: {e}", lock_path.display()));
    // Another process may have built it while this one waited for the lock.
    if !imports(&python, all) {
        eprintln!("creating {} with {PACKAGES:?} (once)", venv.display());
        run(Command::new("python3").args(["-m", "venv", "--clear"]).arg(&venv));
        run(Command::new(venv.join("bin/pip"))
            .args(["install", "--quiet", "--disable-pip-version-check"])
            .args(PACKAGES));
    }
    drop(lock);
    venv
}

fn imports(python: &Path, import_line: &str) -> bool {
    Command::new(python).args(["-c", import_line]).output().is_ok_and(|out| out.status.success())
}

#[track_caller]
fn run(command: &mut Command) {
    let out = command.output().unwrap_or_else(|e| panic!("run {command:?}: {e}"));
    assert!(
        out.status.success(),
        "{command:?} failed (the Python tests need python3 with venv and pip, and network access \
         to PyPI once, or VERANDA_PYTHON naming an interpreter with {PACKAGES:?}):\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
