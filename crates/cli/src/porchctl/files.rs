//! `rpkg pull` and `rpkg push`: a package revision's resources to and from a directory or a
//! `ResourceList`, with the `.KptRevisionMetadata` file that carries the resourceVersion.

use std::collections::BTreeMap;
use std::io::Read as _;
use std::path::{Component, Path, PathBuf};

use serde_json::{Value, json};
use veranda_fn::resource_list;

use super::{Failure, Outcome};
use crate::kube::{Client, PORCH};

/// The file `pull` adds and `push` reads the resourceVersion from.
const METADATA_FILE: &str = ".KptRevisionMetadata";
/// The largest package `push` reads (the server's request limit is of the same order).
const MAX_PUSH_BYTES: u64 = 64 << 20;

#[derive(clap::Args, Debug)]
pub struct PullArgs {
    /// The package revision.
    pub package: Option<String>,
    /// A directory to create (default: a ResourceList on stdout).
    pub dir: Option<PathBuf>,
}

#[derive(clap::Args, Debug)]
pub struct PushArgs {
    /// The package revision.
    pub package: Option<String>,
    /// The directory to push, or `-` for a ResourceList on stdin.
    pub dir: Option<String>,
}

fn resources_path(client: &Client, name: &str) -> String {
    client.object(PORCH, "packagerevisionresources", name)
}

/// The `.KptRevisionMetadata` document: the identity and resourceVersion of the resources
/// (what porchctl writes for a Porch server, whose resources carry no labels or annotations).
fn metadata_document(prr: &Value) -> Result<String, Failure> {
    let meta = &prr["metadata"];
    let mut kept = serde_json::Map::new();
    for key in ["name", "namespace", "uid", "resourceVersion", "creationTimestamp"] {
        if !meta[key].is_null() {
            kept.insert(key.to_string(), meta[key].clone());
        }
    }
    super::output::yaml(&json!({"apiVersion": "", "kind": "KptRevisionMetadata", "metadata": kept}))
}

pub fn pull(client: &Client, args: PullArgs) -> Outcome {
    let Some(name) = args.package else {
        return Err(Failure::Run("PACKAGE is a required positional argument".into()));
    };
    let prr = client.get(&resources_path(client, &name))?;
    let mut files: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    if let Some(map) = prr["spec"]["resources"].as_object() {
        for (path, content) in map {
            files.insert(path.clone(), content.as_str().unwrap_or("").as_bytes().to_vec());
        }
    }
    files.insert(METADATA_FILE.into(), metadata_document(&prr)?.into_bytes());
    match args.dir {
        Some(dir) => write_dir(&dir, &files),
        None => {
            let text = resource_list::encode(&files).map_err(Failure::Run)?;
            print!("{text}");
            Ok(())
        }
    }
}

fn write_dir(dir: &Path, files: &BTreeMap<String, Vec<u8>>) -> Outcome {
    if dir.exists() {
        return Err(Failure::Run(format!(
            "directory {:?} already exists",
            dir.display().to_string()
        )));
    }
    // Every path must stay inside the directory: the server is trusted to send package paths,
    // but a file is never written outside what the user named.
    for path in files.keys() {
        let rel = Path::new(path);
        if path.is_empty() || !rel.components().all(|c| matches!(c, Component::Normal(_))) {
            return Err(Failure::Run(format!(
                "refusing to write {path:?}: not a path inside the package"
            )));
        }
    }
    let io = |what: &str, p: &Path, e: std::io::Error| {
        Failure::Run(format!("{what} {}: {e}", p.display()))
    };
    std::fs::create_dir_all(dir).map_err(|e| io("create", dir, e))?;
    for (path, content) in files {
        let target = dir.join(path);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent).map_err(|e| io("create", parent, e))?;
        }
        std::fs::write(&target, content).map_err(|e| io("write", &target, e))?;
    }
    Ok(())
}

pub fn push(client: &Client, args: PushArgs) -> Outcome {
    let Some(name) = args.package else {
        return Err(Failure::Run("PACKAGE name is a required positional argument".into()));
    };
    let mut files = match args.dir.as_deref() {
        Some(dir) if dir != "-" => read_dir(Path::new(dir))?,
        other => {
            if other.is_none() {
                eprintln!(
                    "Warning: This way of using stdin will be deprecated in Porch release 5.x.x. Please use '-' to provide stdin."
                );
            }
            let mut files = read_stdin()?;
            // A ResourceList cannot carry the files that are not resources (README.md, scripts):
            // they are kept as the server has them instead of being deleted. The resourceVersion
            // covers them with the rest, so a concurrent change still makes the push fail.
            let current = client.get(&resources_path(client, &name))?;
            if let Some(map) = current["spec"]["resources"].as_object() {
                for (path, content) in map.iter().filter(|(p, _)| !resource_list::is_listed(p)) {
                    files
                        .entry(path.clone())
                        .or_insert_with(|| content.as_str().unwrap_or("").as_bytes().to_vec());
                }
            }
            files
        }
    };
    let metadata = files.remove(METADATA_FILE).ok_or_else(|| {
        Failure::Run(format!(
            "{METADATA_FILE:?} not found in PackageRevisionResources '{}/{name}'\nuse \"porchctl rpkg pull\" to download the remote package metadata before pushing",
            client.namespace
        ))
    })?;
    let metadata: Value = veranda_fn::yaml::parse_document(&String::from_utf8_lossy(&metadata))
        .ok()
        .flatten()
        .map(|n| n.to_json())
        .unwrap_or(Value::Null);
    if metadata["kind"] != "KptRevisionMetadata" {
        return Err(Failure::Run(format!(
            "{METADATA_FILE:?} does not contain kind \"KptRevisionMetadata\" in PackageRevisionResources '{}/{name}'",
            client.namespace
        )));
    }
    let mut resources = serde_json::Map::new();
    for (path, content) in files {
        let text = String::from_utf8(content).map_err(|_| {
            Failure::Run(format!(
                "file {path} is not a valid UTF-8 text file: current porch API doesn't support binary files"
            ))
        })?;
        resources.insert(path, Value::String(text));
    }
    let mut meta = json!({"name": name, "namespace": client.namespace});
    if let Some(rv) = metadata["metadata"]["resourceVersion"].as_str() {
        meta["resourceVersion"] = json!(rv);
    }
    let body = json!({
        "apiVersion": "porch.kpt.dev/v1alpha1",
        "kind": "PackageRevisionResources",
        "metadata": meta,
        "spec": {"resources": resources},
    });
    let updated = client.update(&resources_path(client, &name), &body)?;
    print_render_status(&updated["status"]["renderStatus"]);
    println!("{name} pushed");
    Ok(())
}

/// porchctl's report of the server's render, on stderr.
fn print_render_status(status: &Value) {
    if let Some(err) = status["error"].as_str().filter(|e| !e.is_empty()) {
        eprintln!("Package is updated, but failed to render the package.");
        eprintln!("Error: {err}");
    }
    for result in status["result"]["items"].as_array().map(Vec::as_slice).unwrap_or_default() {
        let image = result["image"].as_str().unwrap_or("");
        eprintln!("[RUNNING] {image:?} ");
        let verdict = if result["exitCode"].as_i64().unwrap_or(0) != 0 { "FAIL" } else { "PASS" };
        eprintln!("[{verdict}] {image:?}");
        let lines: Vec<String> = result["results"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default()
            .iter()
            .map(result_line)
            .collect();
        if !lines.is_empty() {
            eprintln!("[Results]: {}", lines.join(", "));
        }
    }
}

fn result_line(item: &Value) -> String {
    let r = &item["resourceRef"];
    let id: Vec<&str> = ["apiVersion", "kind", "namespace", "name"]
        .iter()
        .filter_map(|k| r[*k].as_str().filter(|s| !s.is_empty()))
        .collect();
    let severity = item["severity"].as_str().filter(|s| !s.is_empty()).unwrap_or("info");
    let mut line = format!("[{severity}]");
    if !id.is_empty() {
        line.push(' ');
        line.push_str(&id.join("/"));
    }
    if let Some(path) = item["field"]["path"].as_str() {
        line.push(' ');
        line.push_str(path);
    }
    line.push_str(": ");
    line.push_str(item["message"].as_str().unwrap_or(""));
    line
}

fn read_stdin() -> Result<BTreeMap<String, Vec<u8>>, Failure> {
    let mut text = String::new();
    std::io::stdin()
        .take(MAX_PUSH_BYTES + 1)
        .read_to_string(&mut text)
        .map_err(|e| Failure::Run(format!("read stdin: {e}")))?;
    if text.len() as u64 > MAX_PUSH_BYTES {
        return Err(Failure::Run(format!("stdin is larger than {MAX_PUSH_BYTES} bytes")));
    }
    resource_list::decode(&text).map_err(Failure::Run)
}

/// The regular files under `dir` (symbolic links and other special files are skipped, as
/// porchctl does; the server keeps what the map cannot show).
fn read_dir(dir: &Path) -> Result<BTreeMap<String, Vec<u8>>, Failure> {
    let io = |p: &Path, e: std::io::Error| Failure::Run(format!("read {}: {e}", p.display()));
    let mut files = BTreeMap::new();
    let mut total = 0u64;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(current) = stack.pop() {
        for entry in std::fs::read_dir(&current).map_err(|e| io(&current, e))? {
            let entry = entry.map_err(|e| io(&current, e))?;
            let path = entry.path();
            let kind = entry.file_type().map_err(|e| io(&path, e))?;
            if kind.is_dir() {
                stack.push(path);
                continue;
            }
            if !kind.is_file() {
                continue;
            }
            let rel = path.strip_prefix(dir).map_err(|_| {
                Failure::Run(format!("{} escapes {}", path.display(), dir.display()))
            })?;
            let rel = rel
                .components()
                .map(|c| c.as_os_str().to_str().map(str::to_string))
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| Failure::Run(format!("file name {} is not UTF-8", path.display())))?
                .join("/");
            let content = std::fs::read(&path).map_err(|e| io(&path, e))?;
            total += content.len() as u64;
            if total > MAX_PUSH_BYTES {
                return Err(Failure::Run(format!(
                    "{} holds more than {MAX_PUSH_BYTES} bytes",
                    dir.display()
                )));
            }
            files.insert(rel, content);
        }
    }
    Ok(files)
}
