//! Synthetic Git repositories in Porch's layout, written with `git fast-import` so that ten
//! thousand package revisions take seconds.
//!
//! Each repository holds `packages` package directories on `main`, each published `revisions`
//! times (one approval-style commit per revision with a `kpt:` annotation, tag `<pkg>/v<N>`),
//! plus `drafts` draft branches `drafts/<pkg>/draft-<k>`. Package content is copied from real kpt
//! samples; every revision changes a small ConfigMap so the trees differ.
//! Package names are unique across repositories so a `spec.packageName` selector finds one
//! package, the way it would in a fleet with distinct blueprints.

use std::{
    collections::BTreeMap,
    io::Write,
    path::Path,
    process::{Command, Stdio},
};

use anyhow::{Context, Result, bail};

/// Samples copied into generated packages (relative to the test data directory); flat ones only,
/// so that no generated package nests another.
pub const SAMPLE_DIRS: &[&str] = &[
    "GoogleContainerTools-kpt-samples/basens",
    "kptdev-kpt/package-examples/nginx",
    "GoogleContainerTools-kpt-samples/echo",
];

/// Used when the test data directory is absent, so the harness still runs elsewhere.
const FALLBACK_KPTFILE: &str = "apiVersion: kpt.dev/v1\nkind: Kptfile\nmetadata:\n  name: sample\n  annotations:\n    config.kubernetes.io/local-config: \"true\"\ninfo:\n  description: sample package\n";
const FALLBACK_NAMESPACE: &str = "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: example\n";

/// How many of what each generated repository holds.
#[derive(Clone, Copy, Debug)]
pub struct Shape {
    pub packages: usize,
    pub revisions: usize,
    pub drafts: usize,
}

pub struct Sample {
    pub name: String,
    /// Path relative to the package root → content.
    pub files: BTreeMap<String, Vec<u8>>,
}

impl Shape {
    /// Package revisions the server lists per repository: published ones, one `main`
    /// placeholder per package, and the drafts.
    pub fn revisions_per_repo(&self) -> usize {
        self.packages * (self.revisions + 1) + self.drafts
    }
}

/// Reads the sample packages; falls back to a built-in one when none is found.
pub fn load_samples(testdata: &Path) -> Result<Vec<Sample>> {
    let mut samples = Vec::new();
    for dir in SAMPLE_DIRS {
        let root = testdata.join(dir);
        if !root.join("Kptfile").is_file() {
            continue;
        }
        let mut files = BTreeMap::new();
        read_dir_into(&root, "", &mut files)?;
        let name = root.file_name().and_then(|n| n.to_str()).unwrap_or("sample").to_string();
        samples.push(Sample { name, files });
    }
    if samples.is_empty() {
        let files = BTreeMap::from([
            ("Kptfile".to_string(), FALLBACK_KPTFILE.as_bytes().to_vec()),
            ("namespace.yaml".to_string(), FALLBACK_NAMESPACE.as_bytes().to_vec()),
        ]);
        samples.push(Sample { name: "sample".into(), files });
    }
    Ok(samples)
}

pub fn repo_name(repo: usize) -> String {
    format!("r{repo:03}")
}

pub fn package_name(samples: &[Sample], repo: usize, package: usize) -> String {
    let sample = &samples[package % samples.len()];
    format!("{}-r{repo:03}-{package:02}", sample.name)
}

/// The files of `package` at `revision`: the sample with its Kptfile renamed and a per-revision
/// ConfigMap.
pub fn package_files(sample: &Sample, package: &str, revision: usize) -> BTreeMap<String, Vec<u8>> {
    let mut files = sample.files.clone();
    if let Some(kptfile) = files.get_mut("Kptfile") {
        *kptfile = rename_kptfile(&String::from_utf8_lossy(kptfile), package).into_bytes();
    }
    files.insert(
        "bench-revision.yaml".into(),
        format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {package}-revision\n  annotations:\n    config.kubernetes.io/local-config: \"true\"\ndata:\n  revision: \"{revision}\"\n"
        )
        .into_bytes(),
    );
    files
}

/// Writes bare repository `path` (created fresh) for repository index `repo`.
pub fn generate_repo(path: &Path, repo: usize, shape: Shape, samples: &[Sample]) -> Result<()> {
    if path.exists() {
        std::fs::remove_dir_all(path).with_context(|| format!("remove {}", path.display()))?;
    }
    run_git(Command::new("git").args(["init", "--quiet", "--bare", "-b", "main"]).arg(path))
        .context("git init")?;
    let stream = fast_import_stream(repo, shape, samples);
    let mut child = Command::new("git")
        .arg("-C")
        .arg(path)
        .args(["fast-import", "--quiet", "--done"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .context("start git fast-import")?;
    child
        .stdin
        .take()
        .context("open git fast-import stdin")?
        .write_all(&stream)
        .context("write to git fast-import")?;
    let out = child.wait_with_output().context("wait for git fast-import")?;
    if !out.status.success() {
        bail!("git fast-import failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(())
}

pub fn run_git(cmd: &mut Command) -> Result<String> {
    let out = cmd.stdin(Stdio::null()).output().context("run git")?;
    if !out.status.success() {
        bail!("{cmd:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    String::from_utf8(out.stdout).context("decode git output")
}

fn fast_import_stream(repo: usize, shape: Shape, samples: &[Sample]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut mark = 0usize;
    let mut time = 1_700_000_000u64 + repo as u64 * 100_000;
    let mut commit = |out: &mut Vec<u8>,
                      branch: &str,
                      from: Option<usize>,
                      message: &str,
                      changes: &[u8]|
     -> usize {
        mark += 1;
        time += 60;
        out.extend_from_slice(format!("commit refs/heads/{branch}\nmark :{mark}\n").as_bytes());
        out.extend_from_slice(
            format!("author Bench <bench@example.invalid> {time} +0000\ncommitter Package Orchestration Service <porch@kpt.dev> {time} +0000\n").as_bytes(),
        );
        data(out, message.as_bytes());
        if let Some(from) = from {
            out.extend_from_slice(format!("from :{from}\n").as_bytes());
        }
        out.extend_from_slice(changes);
        out.push(b'\n');
        mark
    };

    let mut readme = Vec::new();
    file(&mut readme, "README.md", b"Synthetic repository written by veranda-bench\n");
    let mut head = commit(&mut out, "main", None, "Initial commit\n", &readme);

    for revision in 1..=shape.revisions {
        for package in 0..shape.packages {
            let name = package_name(samples, repo, package);
            let sample = &samples[package % samples.len()];
            let mut changes = format!("D {name}\n").into_bytes();
            for (path, content) in package_files(sample, &name, revision) {
                file(&mut changes, &format!("{name}/{path}"), &content);
            }
            let message = format!(
                "Approving package revision {name}/{revision}\n\nkpt:{{\"package\":\"{name}\",\"workspaceName\":\"v{revision}\",\"revision\":\"{revision}\"}}\n"
            );
            head = commit(&mut out, "main", Some(head), &message, &changes);
            out.extend_from_slice(
                format!("reset refs/tags/{name}/v{revision}\nfrom :{head}\n\n").as_bytes(),
            );
        }
    }

    for draft in 0..shape.drafts {
        let package = draft % shape.packages.max(1);
        let name = package_name(samples, repo, package);
        let sample = &samples[package % samples.len()];
        let workspace = format!("draft-{}", draft / shape.packages.max(1) + 1);
        let mut changes = format!("D {name}\n").into_bytes();
        for (path, content) in package_files(sample, &name, shape.revisions + 1) {
            file(&mut changes, &format!("{name}/{path}"), &content);
        }
        let source = format!("{}.{name}.v{}", repo_name(repo), shape.revisions);
        let message = format!(
            "Creating new revision by copying previous revision\n\n\nkpt:{{\"package\":\"{name}\",\"workspaceName\":\"{workspace}\",\"revision\":\"0\",\"task\":{{\"type\":\"edit\",\"edit\":{{\"sourceRef\":{{\"name\":\"{source}\"}}}}}}}}\n"
        );
        commit(&mut out, &format!("drafts/{name}/{workspace}"), Some(head), &message, &changes);
    }
    out.extend_from_slice(b"done\n");
    out
}

fn data(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend_from_slice(format!("data {}\n", bytes.len()).as_bytes());
    out.extend_from_slice(bytes);
    out.push(b'\n');
}

fn file(out: &mut Vec<u8>, path: &str, content: &[u8]) {
    out.extend_from_slice(format!("M 100644 inline {path}\n").as_bytes());
    data(out, content);
}

/// Sets `metadata.name` of a Kptfile, as `kpt pkg get` does for the local package name.
fn rename_kptfile(text: &str, name: &str) -> String {
    let mut in_metadata = false;
    let mut renamed = false;
    let mut out = String::with_capacity(text.len() + name.len());
    for line in text.lines() {
        if !line.starts_with(' ') {
            in_metadata = line.trim_end() == "metadata:";
        }
        if in_metadata && !renamed && line.starts_with("  name:") {
            out.push_str("  name: ");
            out.push_str(name);
            renamed = true;
        } else {
            out.push_str(line);
        }
        out.push('\n');
    }
    out
}

fn read_dir_into(root: &Path, prefix: &str, files: &mut BTreeMap<String, Vec<u8>>) -> Result<()> {
    let dir = root.join(prefix);
    let mut entries: Vec<_> = std::fs::read_dir(&dir)
        .with_context(|| format!("read {}", dir.display()))?
        .collect::<Result<_, _>>()
        .with_context(|| format!("list {}", dir.display()))?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let name = entry.file_name().to_string_lossy().into_owned();
        let rel = if prefix.is_empty() { name } else { format!("{prefix}/{name}") };
        let kind = entry.file_type().with_context(|| format!("stat {rel}"))?;
        if kind.is_dir() {
            read_dir_into(root, &rel, files)?;
        } else if kind.is_file() {
            let content = std::fs::read(entry.path()).with_context(|| format!("read {}", rel))?;
            files.insert(rel, content);
        }
    }
    Ok(())
}

/// Packs the refs of the bare repository at `path` (`git pack-refs --all`).
pub fn pack_refs(path: &Path) -> Result<()> {
    run_git(Command::new("git").args(["pack-refs", "--all"]).current_dir(path))?;
    Ok(())
}
