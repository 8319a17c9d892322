//! Helpers: reading test data directories into file maps, comparing file maps, locating
//! the shared test data and a Python interpreter with PyYAML.

use std::path::{Path, PathBuf};

use veranda_fn::Files;

/// `/work/shared/testdata` or `$VERANDA_TESTDATA`.
pub fn testdata() -> PathBuf {
    if let Ok(dir) = std::env::var("VERANDA_TESTDATA") {
        return PathBuf::from(dir);
    }
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    // crates/fn → repository root → ../shared/testdata (CI clones main next to shared/).
    for candidate in
        [manifest.join("../../../shared/testdata"), PathBuf::from("/work/shared/testdata")]
    {
        if candidate.is_dir() {
            return candidate;
        }
    }
    panic!("shared test data not found; set VERANDA_TESTDATA");
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
/// `$VERANDA_PYTHON` when set, nothing otherwise.
pub fn python_path_env() -> Vec<(String, String)> {
    match std::env::var("VERANDA_PYTHON") {
        Ok(python) if !python.is_empty() => {
            let dir = Path::new(&python)
                .parent()
                .map(|p| p.to_string_lossy().into_owned())
                .unwrap_or_default();
            let path = std::env::var("PATH").unwrap_or_default();
            vec![("PATH".into(), format!("{dir}:{path}"))]
        }
        _ => Vec::new(),
    }
}
