//! Helpers: reading test data directories into file maps, comparing file maps, locating
//! the shared test data and a Python interpreter with PyYAML.

use std::path::{Path, PathBuf};

use veranda_fn::Files;

/// Shared with the end-to-end tests of `crates/cli`, so both use one virtual environment.
#[path = "../../../cli/tests/it/python_venv.rs"]
mod python_venv;

/// The shared test data: `$VERANDA_SHARED/testdata`, by default `shared/testdata` next to the
/// repository root (`crates/fn/../../../shared`, where CI clones the repository next to
/// `shared/`).
pub fn testdata() -> PathBuf {
    let shared = match std::env::var_os("VERANDA_SHARED") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared"),
    };
    let testdata = shared.join("testdata");
    assert!(
        testdata.is_dir(),
        "shared test data not found at {}; set VERANDA_SHARED to the directory holding testdata/",
        testdata.display()
    );
    testdata
}

/// Reads a directory tree into a file map (paths relative to `dir`, `/`-separated).
pub fn read_dir(dir: &Path) -> Files {
    let mut files = Files::new();
    read_into(dir, dir, &mut files);
    files
}

fn read_into(root: &Path, dir: &Path, files: &mut Files) {
    let mut entries: Vec<_> =
        std::fs::read_dir(dir).expect("read dir").map(|e| e.expect("entry").path()).collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            read_into(root, &path, files);
        } else {
            let rel =
                path.strip_prefix(root).expect("under root").to_string_lossy().replace('\\', "/");
            files.insert(rel, std::fs::read(&path).expect("read file"));
        }
    }
}

/// Writes a file map into a directory.
pub fn write_dir(dir: &Path, files: &Files) {
    for (path, content) in files {
        let target = dir.join(path);
        std::fs::create_dir_all(target.parent().expect("parent")).expect("mkdir");
        std::fs::write(target, content).expect("write");
    }
}

/// A unified-ish description of how two file maps differ (empty when equal).
pub fn diff_files(actual: &Files, expected: &Files) -> String {
    let mut out = String::new();
    for (path, content) in expected {
        match actual.get(path) {
            None => out.push_str(&format!("missing file {path}\n")),
            Some(a) if a != content => {
                out.push_str(&format!(
                    "--- {path} (actual)\n{}\n--- {path} (expected)\n{}\n",
                    String::from_utf8_lossy(a),
                    String::from_utf8_lossy(content)
                ));
            }
            _ => {}
        }
    }
    for path in actual.keys() {
        if !expected.contains_key(path) {
            out.push_str(&format!("unexpected file {path}\n"));
        }
    }
    out
}

/// The directory to put first on `PATH` so that `python3` has PyYAML: the directory of
/// `$VERANDA_PYTHON` when set, nothing when `python3` has it, else that of the test virtual
/// environment `target/test-venv` (made on first use, see `python_venv.rs`).
pub fn python_path_env() -> Vec<(String, String)> {
    let python = python_venv::python_with("import yaml");
    match python.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => {
            let path = std::env::var("PATH").unwrap_or_default();
            vec![("PATH".into(), format!("{}:{path}", dir.display()))]
        }
        _ => Vec::new(),
    }
}
