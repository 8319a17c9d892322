//! Repository rules checked by reading the source tree, as rust-analyzer's `tidy.rs` does, so
//! `cargo test --workspace` enforces them:
//!
//! - every public item (`pub fn`, `struct`, `enum`, `trait`, `type`, `const`, `static`, `mod`)
//!   of a library crate (`crates/*/src` of a crate with a `lib.rs`, tests excluded) has a doc
//!   comment (`///`, `#[doc]`, or for `pub mod x;` a `//!` opening `x.rs`);
//! - Git's ref layout (`"refs/`) is named only in `crates/repo` (non-test code);
//! - `git2::` appears only in `crates/repo` and `rusqlite::` only in `crates/store` (tests
//!   included: other crates test through those crates);
//! - no `.unwrap()` outside tests (`#[cfg(test)]` items, `tests.rs`/`tests/` modules, the
//!   `tests/` and `benches/` directories); `expect("why it cannot fail")` or error handling
//!   instead;
//! - every crate's `lib.rs` and `main.rs` opens with a `//!` comment saying what the crate owns.
//!
//! Existing exceptions are listed, with a reason and an exact count per file, in
//! `tidy_allowlist.txt`; an entry whose count no longer matches fails too, so the list only
//! shrinks.

use std::{
    collections::{BTreeMap, BTreeSet},
    fs,
    path::{Path, PathBuf},
};

/// A rule broken on one line.
struct Violation {
    rule: &'static str,
    /// Path relative to the workspace root, `/`-separated.
    path: String,
    line: usize,
    text: String,
}

/// One Rust source file of a crate.
struct Source {
    /// Path relative to the workspace root, `/`-separated.
    path: String,
    /// The crate directory name (`crates/<name>`).
    krate: String,
    /// A test, benchmark or test module (not shipped code).
    test: bool,
    /// Under `src/` of a crate that has a `lib.rs`, and not its `main.rs`.
    library: bool,
    lines: Vec<String>,
}

#[test]
fn tidy() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let sources = sources(&root);
    assert!(
        sources.len() > 50,
        "found only {} source files under {}",
        sources.len(),
        root.display()
    );
    let mut violations = Vec::new();
    for source in &sources {
        check(&root, source, &mut violations);
    }
    let allowlist_path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it/tidy_allowlist.txt");
    let allowlist = read_allowlist(&allowlist_path);
    let mut counts: BTreeMap<(String, String), Vec<&Violation>> = BTreeMap::new();
    for violation in &violations {
        counts
            .entry((violation.rule.to_owned(), violation.path.clone()))
            .or_default()
            .push(violation);
    }
    let mut problems = Vec::new();
    for ((rule, path), found) in &counts {
        let allowed = allowlist.get(&(rule.clone(), path.clone())).copied().unwrap_or(0);
        if found.len() > allowed {
            for violation in found {
                problems.push(format!(
                    "{}:{}: {}: {}",
                    violation.path,
                    violation.line,
                    describe(violation.rule),
                    violation.text.trim()
                ));
            }
            if allowed > 0 {
                problems.push(format!(
                    "  ({} allows {allowed} in {path}, found {})",
                    allowlist_path.display(),
                    found.len()
                ));
            }
        }
    }
    for ((rule, path), allowed) in &allowlist {
        let found = counts.get(&(rule.clone(), path.clone())).map_or(0, Vec::len);
        if found < *allowed {
            problems.push(format!(
                "tidy_allowlist.txt allows {allowed} `{rule}` in {path} but there are {found}: \
                 lower the count (or drop the entry)"
            ));
        }
    }
    assert!(
        problems.is_empty(),
        "tidy found {} problem(s):\n{}",
        problems.len(),
        problems.join("\n")
    );
}

fn describe(rule: &str) -> &'static str {
    match rule {
        "undocumented" => "public item without a doc comment",
        "refs" => "Git ref names belong to crates/repo",
        "git2" => "git2 belongs to crates/repo",
        "rusqlite" => "rusqlite belongs to crates/store",
        "unwrap" => {
            "`.unwrap()` outside tests: use `expect(\"why it cannot fail\")` or handle the error"
        }
        "crate-doc" => "a crate root must open with a `//!` comment saying what the crate owns",
        _ => "unknown rule",
    }
}

fn check(root: &Path, source: &Source, out: &mut Vec<Violation>) {
    let mut push = |rule, line: usize, text: &str| {
        out.push(Violation {
            rule,
            path: source.path.clone(),
            line: line + 1,
            text: text.to_owned(),
        })
    };
    let file_name = source.path.rsplit('/').next().unwrap_or_default();
    let crate_root = source.path == format!("crates/{}/src/lib.rs", source.krate)
        || source.path == format!("crates/{}/src/main.rs", source.krate);
    if crate_root && !source.lines.first().is_some_and(|l| l.starts_with("//!")) {
        push("crate-doc", 0, source.lines.first().map_or("", String::as_str));
    }
    let test_lines = cfg_test_lines(&source.lines);
    for (idx, line) in source.lines.iter().enumerate() {
        let code = line.trim_start();
        if code.starts_with("//") {
            continue;
        }
        let test = source.test || test_lines.contains(&idx);
        if code.contains(GIT2) && source.krate != "repo" {
            push("git2", idx, line);
        }
        if code.contains(RUSQLITE) && source.krate != "store" {
            push("rusqlite", idx, line);
        }
        if test {
            continue;
        }
        if code.contains(REFS) && source.krate != "repo" {
            push("refs", idx, line);
        }
        if code.contains(UNWRAP) {
            push("unwrap", idx, line);
        }
        if source.library && is_public_item(code) && !documented(root, source, idx, file_name) {
            push("undocumented", idx, line);
        }
    }
}

// Spelled in pieces so this file does not match its own rules.
const GIT2: &str = concat!("git2", "::");
const RUSQLITE: &str = concat!("rusqlite", "::");
const REFS: &str = concat!("\"", "refs/");
const UNWRAP: &str = concat!(".unwrap", "()");

const PUBLIC_ITEMS: &[&str] = &[
    "pub fn ",
    "pub async fn ",
    "pub const fn ",
    "pub unsafe fn ",
    "pub struct ",
    "pub enum ",
    "pub trait ",
    "pub type ",
    "pub const ",
    "pub static ",
    "pub mod ",
];

fn is_public_item(code: &str) -> bool {
    PUBLIC_ITEMS.iter().any(|prefix| code.starts_with(prefix))
}

/// Whether the item on line `idx` has a doc comment above it (attributes may sit in between),
/// or is a `pub mod x;` whose file opens with `//!`.
fn documented(root: &Path, source: &Source, idx: usize, file_name: &str) -> bool {
    let mut line = idx;
    while line > 0 {
        line -= 1;
        let above = source.lines[line].trim();
        if above.starts_with("///") || above.starts_with("#[doc") {
            return true;
        }
        if above.starts_with("#[") || above.starts_with("//") {
            continue;
        }
        // The last line of an attribute spread over several lines.
        if above.ends_with(")]") || above == "]" {
            while line > 0 && !source.lines[line].trim_start().starts_with("#[") {
                line -= 1;
            }
            continue;
        }
        break;
    }
    let code = source.lines[idx].trim();
    let Some(name) = code.strip_prefix("pub mod ").and_then(|rest| rest.strip_suffix(';')) else {
        return false;
    };
    let path = root.join(&source.path);
    let Some(dir) = path.parent() else { return false };
    let base = if file_name == "lib.rs" || file_name == "mod.rs" {
        dir.to_path_buf()
    } else {
        dir.join(file_name.trim_end_matches(".rs"))
    };
    [base.join(format!("{name}.rs")), base.join(name).join("mod.rs")]
        .iter()
        .any(|file| fs::read_to_string(file).is_ok_and(|text| text.trim_start().starts_with("//!")))
}

/// Lines of `#[cfg(test)]` items (inline test modules, test-only functions), by index.
fn cfg_test_lines(lines: &[String]) -> BTreeSet<usize> {
    let mut out = BTreeSet::new();
    let mut idx = 0;
    while idx < lines.len() {
        if lines[idx].trim() != "#[cfg(test)]" {
            idx += 1;
            continue;
        }
        let start = idx;
        idx += 1;
        while idx < lines.len() && lines[idx].trim_start().starts_with("#[") {
            idx += 1;
        }
        let Some(item) = lines.get(idx) else { break };
        if item.trim_end().ends_with('{') {
            // rustfmt closes the item with a brace at the indentation it opened at.
            let indent = &item[..item.len() - item.trim_start().len()];
            let close = format!("{indent}}}");
            while idx < lines.len() && lines[idx].trim_end() != close {
                idx += 1;
            }
        }
        out.extend(start..=idx.min(lines.len().saturating_sub(1)));
        idx += 1;
    }
    out
}

/// Every `.rs` file under `crates/*`, classified.
fn sources(root: &Path) -> Vec<Source> {
    let mut out = Vec::new();
    let crates = root.join("crates");
    let mut krates: Vec<PathBuf> =
        fs::read_dir(&crates).expect("read crates/").flatten().map(|e| e.path()).collect();
    krates.sort();
    for krate_dir in krates {
        let Some(krate) = krate_dir.file_name().map(|n| n.to_string_lossy().into_owned()) else {
            continue;
        };
        let has_lib = krate_dir.join("src/lib.rs").is_file();
        let mut files = Vec::new();
        walk(&krate_dir, &mut files);
        let test_modules = test_module_files(&files);
        for file in files {
            let Ok(relative) = file.strip_prefix(root) else { continue };
            let path = relative.to_string_lossy().replace('\\', "/");
            let in_crate = path.trim_start_matches(&format!("crates/{krate}/")).to_owned();
            let test = in_crate.starts_with("tests/")
                || in_crate.starts_with("benches/")
                || in_crate.split('/').any(|part| part == "tests" || part == "tests.rs")
                || test_modules.contains(&file);
            let library = has_lib && in_crate.starts_with("src/") && in_crate != "src/main.rs";
            let text = fs::read_to_string(&file).unwrap_or_else(|e| panic!("read {path}: {e}"));
            let lines = text.lines().map(str::to_owned).collect();
            out.push(Source { path, krate: krate.clone(), test, library, lines });
        }
    }
    out
}

/// Files of modules declared `#[cfg(test)] mod x;`.
fn test_module_files(files: &[PathBuf]) -> BTreeSet<PathBuf> {
    let mut out = BTreeSet::new();
    for file in files {
        let Ok(text) = fs::read_to_string(file) else { continue };
        let lines: Vec<&str> = text.lines().collect();
        for pair in lines.windows(2) {
            let Some(name) = (pair[0].trim() == "#[cfg(test)]")
                .then(|| pair[1].trim().strip_prefix("mod ")?.strip_suffix(';'))
                .flatten()
            else {
                continue;
            };
            let Some(dir) = file.parent() else { continue };
            let stem = file.file_stem().map(|s| s.to_string_lossy().into_owned());
            let base = match stem.as_deref() {
                Some("lib" | "main" | "mod") => dir.to_path_buf(),
                Some(stem) => dir.join(stem),
                None => continue,
            };
            out.insert(base.join(format!("{name}.rs")));
            out.insert(base.join(name).join("mod.rs"));
        }
    }
    out
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = fs::read_dir(dir) else { return };
    let mut entries: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
    entries.sort();
    for path in entries {
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        if path.is_dir() {
            if name != "target" && !name.starts_with('.') {
                walk(&path, out);
            }
        } else if name.ends_with(".rs") {
            out.push(path);
        }
    }
}

/// `rule path count  # reason` lines; every entry needs a reason.
fn read_allowlist(path: &Path) -> BTreeMap<(String, String), usize> {
    let text = fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    let mut out = BTreeMap::new();
    for (idx, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (entry, reason) = line.split_once('#').unwrap_or((line, ""));
        let fields: Vec<&str> = entry.split_whitespace().collect();
        let where_ = format!("{}:{}", path.display(), idx + 1);
        assert!(!reason.trim().is_empty(), "{where_}: an allowlist entry needs a `# reason`");
        let [rule, file, count] = fields[..] else {
            panic!("{where_}: expected `rule path count  # reason`, got {line:?}");
        };
        assert!(describe(rule) != "unknown rule", "{where_}: unknown rule {rule:?}");
        let count: usize =
            count.parse().unwrap_or_else(|e| panic!("{where_}: count {count:?}: {e}"));
        let previous = out.insert((rule.to_owned(), file.to_owned()), count);
        assert!(previous.is_none(), "{where_}: {rule} {file} listed twice");
    }
    out
}
