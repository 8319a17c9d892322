//! Helpers: reading packages from disk and comparing packages semantically (values and
//! comments).

use std::{collections::BTreeSet, path::Path};

use serde::Deserialize;
use veranda_kpt::{Files, resource::ResId};
use veranda_yaml::stream::{self, Document};

/// Reads every file under `dir` (recursively) into a file map.
pub(crate) fn read_dir(dir: &Path) -> Files {
    let mut files = Files::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else { continue };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                if path.file_name().is_some_and(|n| n == ".git") {
                    continue;
                }
                stack.push(path);
            } else if let Ok(content) = std::fs::read(&path) {
                let rel = path.strip_prefix(dir).unwrap().to_string_lossy().replace('\\', "/");
                files.insert(rel, content);
            }
        }
    }
    files
}

/// Writes a file map under `dir`.
pub(crate) fn write_dir(dir: &Path, files: &Files) {
    for (path, content) in files {
        let target = dir.join(path);
        std::fs::create_dir_all(target.parent().unwrap()).unwrap();
        std::fs::write(target, content).unwrap();
    }
}

fn is_yaml(path: &str) -> bool {
    path.ends_with(".yaml") || path.ends_with(".yml") || path.rsplit('/').next() == Some("Kptfile")
}

/// JSON values of the documents of a YAML file, as serde_yaml reads them.
fn values(content: &[u8]) -> Result<Vec<serde_json::Value>, String> {
    let text = std::str::from_utf8(content).map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    for doc in serde_yaml::Deserializer::from_str(text) {
        let v: serde_json::Value =
            serde_json::Value::deserialize(doc).map_err(|e| e.to_string())?;
        if !v.is_null() {
            out.push(v);
        }
    }
    Ok(out)
}

/// Removes the Kptfile fields that depend on where a golden was produced.
fn normalise(path: &str, value: &mut serde_json::Value) {
    if path.rsplit('/').next() != Some("Kptfile") {
        return;
    }
    for section in ["upstream", "upstreamLock"] {
        if let Some(git) =
            value.get_mut(section).and_then(|u| u.get_mut("git")).and_then(|g| g.as_object_mut())
        {
            git.remove("repo");
            git.remove("commit");
        }
    }
}

/// Comments of a YAML file as (resource, field path, comment).
fn comments(content: &[u8]) -> BTreeSet<(String, String, String)> {
    let mut out = BTreeSet::new();
    let Some(docs) = parse(content) else {
        return out;
    };
    for (idx, doc) in docs.iter().enumerate() {
        let id = doc.root().map(|r| ResId::of(r).to_string()).unwrap_or_else(|| format!("#{idx}"));
        if let Some(node) = &doc.node {
            for c in node.head_comment.split('\n').chain(node.foot_comment.split('\n')) {
                if !c.is_empty() {
                    out.insert((id.clone(), "<document>".into(), c.to_string()));
                }
            }
        }
        if let Some(root) = doc.root() {
            root.for_each_comment(&mut Vec::new(), &mut |path, c| {
                out.insert((id.clone(), path.join("."), c.to_string()));
            });
        }
    }
    out
}

/// Compares a result with an expected package: same files; YAML files with equal values
/// (after [`normalise`]) and every expected comment at the same resource and field; other
/// files byte for byte. Returns the differences.
pub(crate) fn compare(expected: &Files, actual: &Files) -> Vec<String> {
    let mut problems = Vec::new();
    let paths: BTreeSet<&String> = expected.keys().chain(actual.keys()).collect();
    for path in paths {
        let (Some(want), Some(got)) = (expected.get(path), actual.get(path)) else {
            problems.push(format!(
                "{path}: {}",
                if expected.contains_key(path) { "missing" } else { "unexpected" }
            ));
            continue;
        };
        if !is_yaml(path) {
            if want != got {
                problems.push(format!("{path}: content differs"));
            }
            continue;
        }
        match (values(want), values(got)) {
            (Ok(mut w), Ok(mut g)) => {
                w.iter_mut().for_each(|v| normalise(path, v));
                g.iter_mut().for_each(|v| normalise(path, v));
                if w != g {
                    problems.push(format!(
                        "{path}: values differ\n--- expected\n{}\n--- actual\n{}",
                        serde_json::to_string_pretty(&w).unwrap(),
                        String::from_utf8_lossy(got)
                    ));
                }
            }
            (w, g) => problems.push(format!("{path}: parse error {:?} / {:?}", w.err(), g.err())),
        }
        let missing: Vec<_> = comments(want).difference(&comments(got)).cloned().collect();
        if !missing.is_empty() {
            problems.push(format!(
                "{path}: comments missing: {missing:?}\n{}",
                String::from_utf8_lossy(got)
            ));
        }
    }
    problems
}

/// The documents of a YAML file with their aliases expanded, as veranda-kpt reads them.
pub(crate) fn parse(content: &[u8]) -> Option<Vec<Document>> {
    let mut docs = stream::parse_stream(std::str::from_utf8(content).ok()?).ok()?;
    for doc in &mut docs {
        doc.expand_aliases().ok()?;
    }
    Some(docs)
}
