//! The floor for approve: the same Git work done with `git` plumbing in a bare repository of the
//! same size, with no server, index, store or HTTP around it.
//!
//! One approval = write the package's blobs (`hash-object`), its tree (`mktree`), the root tree
//! of `main` with the package directory replaced (`ls-tree` + `mktree`), the approval merge
//! commit with parents `[main, proposed]` (`commit-tree`), then move `main` (`update-ref`), tag
//! `<pkg>/v1` (`tag`) and delete the proposed branch (`update-ref -d`), plus a `rev-parse` of
//! `main`. Nine `git` processes: on this kind of machine process start-up is most of the cost,
//! which makes it a generous floor.

use std::{
    io::Write,
    path::Path,
    process::{Command, Stdio},
    time::Instant,
};

use anyhow::{Context, Result, bail};

use crate::{
    fixture::Sample,
    stats::{Metric, Unit},
};

/// Runs `iterations` plumbing approvals in `repo` (a generated bare repository, modified here).
/// Returns the approval floor and the cost of one bare `git` process for comparison.
pub fn measure(
    repo: &Path,
    scratch: &Path,
    sample: &Sample,
    iterations: usize,
) -> Result<Vec<Metric>> {
    let mut approve = Metric::new("git_floor_approve", Unit::Millis);
    let mut spawn = Metric::new("git_floor_one_process", Unit::Millis);
    // Flat files only: the floor builds a single-level package tree.
    let sample_files: Vec<(&String, &Vec<u8>)> =
        sample.files.iter().filter(|(path, _)| !path.contains('/')).collect();
    for iteration in 0..iterations {
        let package = format!("floor-{iteration:03}");
        let workspace = "ws";
        let proposed = format!("refs/heads/proposed/{package}/{workspace}");
        // Untimed: a proposed branch holding the package, as propose leaves it.
        let dir = scratch.join(&package);
        std::fs::create_dir_all(&dir).with_context(|| format!("create {}", dir.display()))?;
        let mut paths = Vec::new();
        for (name, content) in &sample_files {
            let path = dir.join(name);
            std::fs::write(&path, content).with_context(|| format!("write {}", path.display()))?;
            paths.push((name.to_string(), path));
        }
        let draft_tree = package_tree(repo, &paths)?;
        let main_tree = root_tree_with(repo, &package, &draft_tree)?;
        let draft = git(
            repo,
            &[
                "commit-tree",
                &main_tree,
                "-p",
                "refs/heads/main",
                "-m",
                "Creating new empty revision",
            ],
            None,
        )?;
        git(repo, &["update-ref", &proposed, &draft], None)?;

        let started = Instant::now();
        let tree = package_tree(repo, &paths)?;
        let root = root_tree_with(repo, &package, &tree)?;
        let old_main = git(repo, &["rev-parse", "refs/heads/main"], None)?;
        let message = format!(
            "Approving package revision {package}/1\n\nkpt:{{\"package\":\"{package}\",\"workspaceName\":\"{workspace}\",\"revision\":\"1\"}}\n"
        );
        let commit = git(
            repo,
            &["commit-tree", &root, "-p", &old_main, "-p", &draft, "-m", &message],
            None,
        )?;
        git(repo, &["update-ref", "refs/heads/main", &commit, &old_main], None)?;
        git(repo, &["tag", &format!("{package}/v1"), &commit], None)?;
        git(repo, &["update-ref", "-d", &proposed, &draft], None)?;
        approve.push(started.elapsed());

        let started = Instant::now();
        git(repo, &["rev-parse", "--git-dir"], None)?;
        spawn.push(started.elapsed());
    }
    Ok(vec![approve, spawn])
}

/// `hash-object -w` the files, then `mktree` them into the package directory's tree.
fn package_tree(repo: &Path, files: &[(String, std::path::PathBuf)]) -> Result<String> {
    let mut args = vec!["hash-object".to_string(), "-w".to_string(), "--".to_string()];
    args.extend(files.iter().map(|(_, path)| path.display().to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let ids = git(repo, &args, None)?;
    let ids: Vec<&str> = ids.lines().collect();
    if ids.len() != files.len() {
        bail!("git hash-object printed {} ids for {} files", ids.len(), files.len());
    }
    let listing: String = files
        .iter()
        .zip(&ids)
        .map(|((name, _), id)| format!("100644 blob {id}\t{name}\n"))
        .collect();
    git(repo, &["mktree"], Some(&listing))
}

/// The root tree of `main` with `package` pointing at `tree`.
fn root_tree_with(repo: &Path, package: &str, tree: &str) -> Result<String> {
    let current = git(repo, &["ls-tree", "refs/heads/main"], None)?;
    let mut listing: String = current
        .lines()
        .filter(|line| line.split_once('\t').is_none_or(|(_, name)| name != package))
        .map(|line| format!("{line}\n"))
        .collect();
    listing.push_str(&format!("040000 tree {tree}\t{package}\n"));
    git(repo, &["mktree"], Some(&listing))
}

/// Runs git in `repo`; returns trimmed stdout.
fn git(repo: &Path, args: &[&str], stdin: Option<&str>) -> Result<String> {
    let mut child = Command::new("git")
        .arg("-C")
        .arg(repo)
        .args(args)
        .env("GIT_AUTHOR_NAME", "Bench")
        .env("GIT_AUTHOR_EMAIL", "bench@example.invalid")
        .env("GIT_COMMITTER_NAME", "Package Orchestration Service")
        .env("GIT_COMMITTER_EMAIL", "porch@kpt.dev")
        .stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("run git {}", args.join(" ")))?;
    if let Some(input) = stdin {
        child
            .stdin
            .take()
            .context("open git stdin")?
            .write_all(input.as_bytes())
            .context("write git stdin")?;
    }
    let out = child.wait_with_output().with_context(|| format!("wait for git {}", args[0]))?;
    if !out.status.success() {
        bail!("git {} failed: {}", args.join(" "), String::from_utf8_lossy(&out.stderr).trim());
    }
    Ok(String::from_utf8(out.stdout).context("decode git output")?.trim().to_string())
}
