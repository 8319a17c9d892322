//! `rpkg upgrade`: a new revision of a downstream package from a newer upstream revision, or
//! `--discover` of the upgrades available (upstream) or pending (downstream).

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::output::tabulate;
use super::{Failure, Outcome};
use crate::kube::{CONFIG, Client, PORCH};

#[derive(clap::Args, Debug)]
pub struct UpgradeArgs {
    /// The downstream package revision (with --discover: revisions to report on).
    pub names: Vec<String>,
    /// The upstream revision to upgrade to (default: the latest).
    #[arg(long, default_value_t = 0, allow_hyphen_values = true)]
    pub revision: i64,
    /// The workspace name of the new revision.
    #[arg(long, default_value = "")]
    pub workspace: String,
    /// resource-merge, fast-forward, force-delete-replace or copy-merge.
    #[arg(long, default_value = "resource-merge")]
    pub strategy: String,
    /// Report available upgrades: `upstream` or `downstream`.
    #[arg(long, default_value = "")]
    pub discover: String,
    /// The subpackage directory to upgrade (accepted for porchctl compatibility; not used).
    #[arg(long, default_value = "", hide = true)]
    pub subpackage_dir: String,
}

const STRATEGIES: [&str; 4] =
    ["resource-merge", "fast-forward", "force-delete-replace", "copy-merge"];

fn published(pr: &Value) -> bool {
    matches!(pr["spec"]["lifecycle"].as_str(), Some("Published" | "DeletionProposed"))
}

fn spec_str<'a>(pr: &'a Value, key: &str) -> &'a str {
    pr["spec"][key].as_str().unwrap_or("")
}

fn revision_number(pr: &Value) -> i64 {
    pr["spec"]["revision"].as_i64().unwrap_or(0)
}

fn list(client: &Client) -> Result<Vec<Value>, Failure> {
    let list = client.get(&client.collection(PORCH, "packagerevisions"))?;
    Ok(list["items"].as_array().cloned().unwrap_or_default())
}

pub fn upgrade(client: &Client, args: UpgradeArgs) -> Outcome {
    match args.discover.as_str() {
        "" => {}
        "upstream" | "downstream" => return discover(client, &args),
        _ => {
            return Err(Failure::Run(
                "argument for 'discover' must be one of 'upstream' or 'downstream'".into(),
            ));
        }
    }
    let name = match args.names.as_slice() {
        [] => {
            return Err(Failure::Run(
                "SOURCE_PACKAGE_REVISION is a required positional argument".into(),
            ));
        }
        [one] => one.clone(),
        _ => {
            return Err(Failure::Run(
                "too many arguments; SOURCE_PACKAGE_REVISION is the only accepted positional arguments".into(),
            ));
        }
    };
    if args.revision < 0 {
        return Err(Failure::Run("revision must be positive (and not main)".into()));
    }
    if args.workspace.is_empty() {
        return Err(Failure::Run("workspace is required".into()));
    }
    if !STRATEGIES.contains(&args.strategy.as_str()) {
        return Err(Failure::Run(format!(
            "invalid strategy {:?}; must be one of: [{}]",
            args.strategy,
            STRATEGIES.join(" ")
        )));
    }
    let get = |n: &str| client.get(&client.object(PORCH, "packagerevisions", n)).ok();
    let pr = get(&name)
        .ok_or_else(|| Failure::Run(format!("could not find package revision {name}")))?;
    if !published(&pr) {
        return Err(Failure::Run(format!(
            "to upgrade a package, it must be in a published state, not {:?}",
            spec_str(&pr, "lifecycle")
        )));
    }
    let mut all: Option<Vec<Value>> = None;
    let old_name = upstream_name(&pr, &get, &mut || {
        if all.is_none() {
            all = list(client).ok();
        }
        all.clone().unwrap_or_default()
    });
    if old_name.is_empty() {
        return Err(Failure::Run(format!(
            "upstream source not found for package revision {:?}: no clone or upgrade type package revision was found in the history of the package",
            spec_str(&pr, "packageName")
        )));
    }
    let old = get(&old_name).ok_or_else(|| {
        Failure::Run(format!("upstream package revision {old_name} no longer exists"))
    })?;
    if !published(&old) {
        return Err(Failure::Run(format!(
            "old upstream package revision {old_name} is not published"
        )));
    }
    let (package, repository) = (spec_str(&old, "packageName"), spec_str(&old, "repository"));
    let candidates: Vec<Value> = list(client)?
        .into_iter()
        .filter(|p| {
            spec_str(p, "packageName") == package
                && spec_str(p, "repository") == repository
                && published(p)
        })
        .collect();
    let new = if args.revision == 0 {
        candidates.iter().filter(|p| revision_number(p) > 0).max_by_key(|p| revision_number(p)).ok_or_else(|| {
            Failure::Run(format!(
                "failed to find latest published revision for package {package} in repo {repository} (--revision was 0)"
            ))
        })?
    } else {
        candidates.iter().find(|p| revision_number(p) == args.revision).ok_or_else(|| {
            Failure::Run(format!(
                "revision {} does not exist for package {package} in repo {repository}",
                args.revision
            ))
        })?
    };
    let task = json!({"type": "upgrade", "upgrade": {
        "oldUpstreamRef": {"name": old_name},
        "newUpstreamRef": {"name": new["metadata"]["name"]},
        "localPackageRevisionRef": {"name": name},
        "strategy": args.strategy,
    }});
    let body = json!({
        "apiVersion": "porch.kpt.dev/v1alpha1",
        "kind": "PackageRevision",
        "metadata": {"namespace": client.namespace},
        "spec": {
            "packageName": spec_str(&pr, "packageName"),
            "repository": spec_str(&pr, "repository"),
            "workspaceName": args.workspace,
            "tasks": [task],
        },
    });
    let created = client
        .create(&client.collection(PORCH, "packagerevisions"), &body)
        .map_err(|e| Failure::Run(format!("failed to do create package revision: {e}")))?;
    println!("{name} upgraded to {}", created["metadata"]["name"].as_str().unwrap_or(""));
    Ok(())
}

/// The upstream revision a downstream revision came from (porchctl's `findUpstreamName`).
fn upstream_name(
    pr: &Value,
    get: &dyn Fn(&str) -> Option<Value>,
    all: &mut dyn FnMut() -> Vec<Value>,
) -> String {
    let mut current = pr.clone();
    // An edit chain is followed back to its origin (bounded: a chain cannot loop forever).
    for _ in 0..1000 {
        let task = &current["spec"]["tasks"][0];
        match task["type"].as_str() {
            Some("clone") => {
                let upstream = &task["clone"]["upstreamRef"]["upstreamRef"]["name"];
                return upstream.as_str().unwrap_or("").to_string();
            }
            Some("upgrade") => {
                return task["upgrade"]["newUpstreamRef"]["name"]
                    .as_str()
                    .unwrap_or("")
                    .to_string();
            }
            Some("edit") => {
                let source = task["edit"]["sourceRef"]["name"].as_str().unwrap_or("");
                match get(source) {
                    Some(next) => current = next,
                    None => break,
                }
            }
            _ => break,
        }
    }
    let lock = &pr["status"]["upstreamLock"]["git"];
    if lock.is_object() {
        let best = all()
            .into_iter()
            .filter(|c| {
                let git = &c["status"]["upstreamLock"]["git"];
                published(c)
                    && git["repo"] == lock["repo"]
                    && git["directory"] == lock["directory"]
                    && !lock["ref"].as_str().unwrap_or("").is_empty()
                    && git["ref"] == lock["ref"]
            })
            .max_by_key(revision_number);
        if let Some(best) = best {
            return best["metadata"]["name"].as_str().unwrap_or("").to_string();
        }
    }
    String::new()
}

fn with_git_suffix(url: &str) -> String {
    if url.ends_with(".git") { url.to_string() } else { format!("{url}.git") }
}

/// The published upstream revisions newer than a revision's upstream lock, the upstream
/// repository's name, and the draft name when the lock points at a draft.
fn available<'a>(
    pr: &Value,
    repos: &[Value],
    prs: &'a [Value],
) -> Result<(Vec<&'a Value>, String, String), String> {
    let lock = &pr["status"]["upstreamLock"]["git"];
    if !lock.is_object() {
        return Ok((Vec::new(), String::new(), String::new()));
    }
    let r#ref = lock["ref"].as_str().unwrap_or("");
    let Some(last) = r#ref.rfind('/') else {
        return Err(format!("malformed upstreamLock.Git.Ref {ref:?}"));
    };
    let (current, draft) = if r#ref.starts_with("drafts") {
        (0, r#ref[last + 1..].to_string())
    } else {
        (r#ref[last + 1..].trim_start_matches('v').parse::<i64>().unwrap_or(0), String::new())
    };
    let package = r#ref[..last].trim_start_matches("drafts").trim_start_matches('/');
    let lock_repo = with_git_suffix(lock["repo"].as_str().unwrap_or(""));
    let mut upstream = String::new();
    let mut revisions = Vec::new();
    for repo in repos {
        let git = &repo["spec"]["git"];
        if repo["spec"]["type"] != "git"
            || with_git_suffix(git["repo"].as_str().unwrap_or("")) != lock_repo
        {
            continue;
        }
        let repo_name = repo["metadata"]["name"].as_str().unwrap_or("");
        upstream = repo_name.to_string();
        let dir = git["directory"].as_str().unwrap_or("");
        let wanted = if dir.is_empty() {
            package.to_string()
        } else {
            let prefix = format!("{}/", dir.trim_start_matches('/'));
            package.strip_prefix(&prefix).unwrap_or(package).to_string()
        };
        revisions = prs
            .iter()
            .filter(|p| {
                if !published(p) || spec_str(p, "repository") != repo_name {
                    return false;
                }
                let name = spec_str(p, "packageName");
                let name = if dir.is_empty() {
                    name
                } else {
                    name.strip_prefix(&format!("{dir}/")).unwrap_or(name)
                };
                name == wanted
            })
            .collect();
    }
    let newer = revisions.into_iter().filter(|p| revision_number(p) > current).collect();
    Ok((newer, upstream, draft))
}

fn discover(client: &Client, args: &UpgradeArgs) -> Outcome {
    let prs = list(client)?;
    let repos = client.get(&format!("{CONFIG}/repositories"))?;
    let repos = repos["items"].as_array().cloned().unwrap_or_default();
    let selected: Vec<&Value> = if args.names.is_empty() || args.discover == "downstream" {
        prs.iter().collect()
    } else {
        let mut found = Vec::new();
        let mut errors = Vec::new();
        for name in &args.names {
            match prs.iter().find(|p| p["metadata"]["name"] == name.as_str()) {
                Some(p) => found.push(p),
                None => errors.push(format!("could not find package revision {name}")),
            }
        }
        if !errors.is_empty() {
            return Err(Failure::Usage(format!("errors:\n  {}", errors.join("\n  "))));
        }
        found
    };
    let name_of = |p: &Value| p["metadata"]["name"].as_str().unwrap_or("").to_string();
    if args.discover == "upstream" {
        let mut rows = vec![vec![
            "PACKAGE REVISION".into(),
            "UPSTREAM REPOSITORY".into(),
            "UPSTREAM UPDATES".into(),
        ]];
        for pr in selected {
            let (updates, upstream, _) = available(pr, &repos, &prs).map_err(|e| {
                Failure::Usage(format!(
                    "could not parse upstreamLock in Kptfile of package {:?}: {e}",
                    name_of(pr)
                ))
            })?;
            let text = if updates.is_empty() {
                "No update available".to_string()
            } else {
                updates
                    .iter()
                    .map(|u| format!("v{}", revision_number(u)))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            rows.push(vec![name_of(pr), upstream, text]);
        }
        print!("{}", tabulate(&rows));
        return Ok(());
    }
    let mut pending: BTreeMap<(String, i64, String), Vec<&Value>> = BTreeMap::new();
    for pr in selected {
        let (updates, _, draft) = available(pr, &repos, &prs).map_err(|e| {
            Failure::Usage(format!(
                "could not parse upstreamLock in Kptfile of package {:?}: {e}",
                name_of(pr)
            ))
        })?;
        for update in updates {
            pending
                .entry((name_of(update), revision_number(update), draft.clone()))
                .or_default()
                .push(pr);
        }
    }
    let mut lines = Vec::new();
    for ((upstream, number, draft), downstreams) in &pending {
        for downstream in downstreams {
            if !draft.is_empty() {
                lines.push(vec![
                    upstream.clone(),
                    name_of(downstream),
                    format!("(draft {draft:?})->v{number}"),
                ]);
                continue;
            }
            let r#ref = downstream["status"]["upstreamLock"]["git"]["ref"].as_str().unwrap_or("");
            let Some(v) = r#ref.rfind('v') else { continue };
            lines.push(vec![
                upstream.clone(),
                name_of(downstream),
                format!("{}->v{number}", &r#ref[v..]),
            ]);
        }
    }
    if !args.names.is_empty() {
        lines = args
            .names
            .iter()
            .flat_map(|n| lines.iter().filter(move |l| &l[0] == n).cloned())
            .collect();
    }
    if lines.is_empty() {
        println!("All downstream packages are up to date.");
        return Ok(());
    }
    let mut rows = vec![vec![
        "PACKAGE REVISION".into(),
        "DOWNSTREAM PACKAGE".into(),
        "DOWNSTREAM UPDATE".into(),
    ]];
    rows.extend(lines);
    print!("{}", tabulate(&rows));
    Ok(())
}
