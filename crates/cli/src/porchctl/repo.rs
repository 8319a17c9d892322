//! `repo reg|get|sync|unreg`.

use std::path::PathBuf;

use base64::Engine as _;
use serde_json::{Value, json};

use super::output::{Format, Printer};
use super::{Failure, Outcome};
use crate::kube::{self, CONFIG, CORE, Client};

#[derive(clap::Args, Debug)]
pub struct RegArgs {
    /// The repository URL (Git over https, http, ssh or a local path an admin may register).
    pub repository: String,
    /// Name of the repository (default: the last segment of the URL, without `.git`).
    #[arg(long, default_value = "")]
    pub name: String,
    /// Brief description of the repository.
    #[arg(long, default_value = "")]
    pub description: String,
    /// Branch where finalized packages are committed.
    #[arg(long, default_value = "main")]
    pub branch: String,
    /// Create the branch if it does not exist.
    #[arg(long, num_args = 0..=1, default_missing_value = "true", value_name = "BOOL")]
    pub create_branch: Option<bool>,
    /// Directory within the repository where packages live.
    #[arg(long, default_value = "/")]
    pub directory: String,
    /// The repository holds deployment packages.
    #[arg(long, num_args = 0..=1, default_missing_value = "true", value_name = "BOOL")]
    pub deployment: Option<bool>,
    /// User name for basic authentication (creates the Secret NAME-auth).
    #[arg(long, default_value = "")]
    pub repo_basic_username: String,
    /// Password for basic authentication.
    #[arg(long, default_value = "")]
    pub repo_basic_password: String,
    /// A bearer token for the Git server (creates the Secret NAME-auth).
    #[arg(long, default_value = "")]
    pub repo_bearer_token: String,
    /// An SSH private key file (creates a kubernetes.io/ssh-auth Secret NAME-auth); needs
    /// --repo-ssh-known-hosts.
    #[arg(long, value_name = "FILE")]
    pub repo_ssh_key: Option<PathBuf>,
    /// The SSH server's host keys (`ssh-keyscan HOST` output).
    #[arg(long, value_name = "FILE")]
    pub repo_ssh_known_hosts: Option<PathBuf>,
    /// Workload identity (not supported by veranda; refused).
    #[arg(long, hide = true)]
    pub repo_workload_identity: bool,
    /// Cron schedule (5 fields) for syncing the repository.
    #[arg(long, default_value = "")]
    pub sync_schedule: String,
    /// Porch's v1alpha2 migration (not served by veranda; refused).
    #[arg(long, hide = true)]
    pub v1alpha2: bool,
}

#[derive(clap::Args, Debug)]
pub struct GetArgs {
    /// Repository names (default: all).
    pub names: Vec<String>,
    /// List repositories in every namespace.
    #[arg(short = 'A', long)]
    pub all_namespaces: bool,
    /// Output format: yaml, json, name, wide, custom-columns=…, jsonpath=….
    #[arg(short = 'o', long)]
    pub output: Option<String>,
    /// Print no header row.
    #[arg(long)]
    pub no_headers: bool,
}

#[derive(clap::Args, Debug)]
pub struct SyncArgs {
    /// Repository names.
    pub names: Vec<String>,
    /// Sync every repository of the namespace (with -A, of every namespace).
    #[arg(long)]
    pub all: bool,
    #[arg(short = 'A', long)]
    pub all_namespaces: bool,
    /// When: a duration (`5m`, `1h30m`) or an RFC 3339 time; at least one minute ahead.
    #[arg(long, default_value = "")]
    pub run_once: String,
}

#[derive(clap::Args, Debug)]
pub struct UnregArgs {
    /// The repository.
    pub repository: Option<String>,
    /// Keep the repository's auth Secret.
    #[arg(long)]
    pub keep_auth_secret: bool,
}

/// porchctl's `LastSegment`.
fn last_segment(url: &str) -> String {
    let trimmed = url.trim_end_matches('/');
    let last = trimmed.rsplit('/').next().unwrap_or(trimmed);
    last.strip_suffix(".git").unwrap_or(last).to_string()
}

pub fn register(client: &Client, args: RegArgs) -> Outcome {
    if args.repo_workload_identity {
        return Err(Failure::Run("workload identity is not supported by veranda".into()));
    }
    if args.v1alpha2 {
        return Err(Failure::Run(
            "veranda serves porch.kpt.dev/v1alpha1 only (no --v1alpha2)".into(),
        ));
    }
    if args.repository.starts_with("oci://") {
        return Err(Failure::Run("OCI repositories are not supported by veranda".into()));
    }
    let name =
        if args.name.is_empty() { last_segment(&args.repository) } else { args.name.clone() };
    if !args.sync_schedule.is_empty() && args.sync_schedule.split_whitespace().count() != 5 {
        return Err(Failure::Run(format!(
            "invalid sync-schedule cron expression: expected exactly 5 fields, found {}: [{}]",
            args.sync_schedule.split_whitespace().count(),
            args.sync_schedule
        )));
    }
    let secret = auth_secret(client, &name, &args)?;
    let mut git = json!({
        "repo": args.repository,
        "branch": args.branch,
        "directory": args.directory,
    });
    if args.create_branch == Some(true) {
        git["createBranch"] = json!(true);
    }
    if let Some(secret) = &secret {
        client.create(&client.collection(CORE, "secrets"), secret)?;
        git["secretRef"] = json!({"name": secret["metadata"]["name"]});
    }
    let mut spec = json!({"type": "git", "git": git});
    if !args.description.is_empty() {
        spec["description"] = json!(args.description);
    }
    if args.deployment == Some(true) {
        spec["deployment"] = json!(true);
    }
    if !args.sync_schedule.is_empty() {
        spec["sync"] = json!({"schedule": args.sync_schedule});
    }
    let repository = json!({
        "apiVersion": "config.porch.kpt.dev/v1alpha1",
        "kind": "Repository",
        "metadata": {"name": name, "namespace": client.namespace},
        "spec": spec,
    });
    client.create(&client.collection(CONFIG, "repositories"), &repository)?;
    Ok(())
}

fn auth_secret(client: &Client, name: &str, args: &RegArgs) -> Result<Option<Value>, Failure> {
    let basic = !args.repo_basic_username.is_empty() || !args.repo_basic_password.is_empty();
    let bearer = !args.repo_bearer_token.is_empty();
    let ssh = args.repo_ssh_key.is_some();
    if [basic, bearer, ssh].iter().filter(|x| **x).count() > 1 {
        return Err(Failure::Run(
            "give one kind of credentials: basic (username/password), a bearer token or an SSH key"
                .into(),
        ));
    }
    let b64 = |s: &[u8]| base64::engine::general_purpose::STANDARD.encode(s);
    let (kind, data) = if basic {
        (
            "kubernetes.io/basic-auth",
            json!({"username": b64(args.repo_basic_username.as_bytes()),
                   "password": b64(args.repo_basic_password.as_bytes())}),
        )
    } else if bearer {
        ("Opaque", json!({"bearerToken": b64(args.repo_bearer_token.as_bytes())}))
    } else if let Some(key) = &args.repo_ssh_key {
        let Some(hosts) = &args.repo_ssh_known_hosts else {
            return Err(Failure::Run(
                "--repo-ssh-key needs --repo-ssh-known-hosts FILE (the server's host keys, from \
                 `ssh-keyscan HOST`): host keys are never trusted on first use"
                    .into(),
            ));
        };
        let read = |p: &PathBuf| {
            std::fs::read(p).map_err(|e| Failure::Run(format!("read {}: {e}", p.display())))
        };
        (
            "kubernetes.io/ssh-auth",
            json!({"ssh-privatekey": b64(&read(key)?), "known_hosts": b64(&read(hosts)?)}),
        )
    } else {
        return Ok(None);
    };
    Ok(Some(json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": format!("{name}-auth"), "namespace": client.namespace},
        "type": kind,
        "data": data,
    })))
}

pub fn get(client: &Client, args: GetArgs) -> Outcome {
    let format = Format::parse(args.output.as_deref())?;
    let printer = Printer {
        format: &format,
        no_headers: args.no_headers,
        with_namespace: args.all_namespaces,
        kind_name: "repository.config.porch.kpt.dev",
    };
    let collection = if args.all_namespaces {
        format!("{CONFIG}/repositories")
    } else {
        client.collection(CONFIG, "repositories")
    };
    let fetch =
        |path: &str| if format.wants_table() { client.get_table(path) } else { client.get(path) };
    let mut results = Vec::new();
    if args.names.is_empty() {
        results.push(fetch(&collection)?);
    } else {
        for name in &args.names {
            results.push(fetch(&client.object(CONFIG, "repositories", name))?);
        }
    }
    let text = if format.wants_table() {
        printer.tables(&results)
    } else {
        let mut objects = Vec::new();
        for r in results {
            match r["items"].as_array() {
                Some(items)
                    if r.get("kind")
                        .and_then(Value::as_str)
                        .is_some_and(|k| k.ends_with("List")) =>
                {
                    objects.extend(items.iter().cloned())
                }
                _ => objects.push(r),
            }
        }
        printer.objects(&objects, args.names.len() == 1)?
    };
    print!("{text}");
    Ok(())
}

pub fn sync(client: &Client, args: SyncArgs) -> Outcome {
    if !client.namespace_given && !args.all_namespaces {
        return Err(Failure::Usage(
            "namespace must be specified unless --all-namespaces is set".into(),
        ));
    }
    let now = std::time::SystemTime::now();
    let min = std::time::Duration::from_secs(60);
    let at = if args.run_once.is_empty() {
        now + min
    } else if let Some(d) = parse_duration(&args.run_once) {
        if d < min {
            println!(
                "Warning: Duration must be at least 1 minute. Sync time adjusted to comply with minimum delay."
            );
            now + min
        } else {
            now + d
        }
    } else if let Some(t) = parse_rfc3339(&args.run_once) {
        if t < now + min {
            println!(
                "Warning: Scheduled time is within 1 minute or in the past. Sync time adjusted to comply with minimum delay."
            );
            now + min
        } else {
            t
        }
    } else {
        return Err(Failure::Usage("invalid --run-once value".into()));
    };
    let stamp = format_rfc3339(at);
    let mut repos = Vec::new();
    if args.all {
        let path = if args.all_namespaces {
            format!("{CONFIG}/repositories")
        } else {
            client.collection(CONFIG, "repositories")
        };
        let list = client.get(&path)?;
        repos.extend(list["items"].as_array().cloned().unwrap_or_default());
    } else {
        if args.names.is_empty() {
            return Err(Failure::Usage("repository name(s) required unless --all is set".into()));
        }
        for name in &args.names {
            match client.get(&client.object(CONFIG, "repositories", name)) {
                Ok(r) => repos.push(r),
                Err(e) => eprintln!("Error fetching repository {name:?}: {e}"),
            }
        }
    }
    if repos.is_empty() {
        return Err(Failure::Usage(if args.all_namespaces {
            "no repositories found across all namespaces".into()
        } else {
            format!("no repositories found in namespace {:?}", client.namespace)
        }));
    }
    for mut repo in repos {
        let name = repo["metadata"]["name"].as_str().unwrap_or("").to_string();
        let ns = repo["metadata"]["namespace"].as_str().unwrap_or(&client.namespace).to_string();
        if !repo["spec"]["sync"].is_object() {
            repo["spec"]["sync"] = json!({});
        }
        repo["spec"]["sync"]["runOnceAt"] = json!(stamp);
        let path = format!(
            "{CONFIG}/namespaces/{}/repositories/{}",
            kube::encode(&ns),
            kube::encode(&name)
        );
        match client.update(&path, &repo) {
            Ok(_) => println!("Scheduled one-time sync for {name:?} at {stamp}"),
            Err(e) => eprintln!("Failed to update repository {name:?}: {e}"),
        }
    }
    Ok(())
}

pub fn unregister(client: &Client, args: UnregArgs) -> Outcome {
    let Some(name) = args.repository else {
        return Err(Failure::Run("REPOSITORY is a required positional argument".into()));
    };
    let path = client.object(CONFIG, "repositories", &name);
    let repo = client.get(&path)?;
    client.delete(&path)?;
    if args.keep_auth_secret {
        return Ok(());
    }
    let Some(secret) = repo["spec"]["git"]["secretRef"]["name"].as_str().filter(|s| !s.is_empty())
    else {
        return Ok(());
    };
    client
        .delete(&client.object(CORE, "secrets", secret))
        .map_err(|e| Failure::Run(format!("failed to delete Secret {secret}: {e}")))?;
    Ok(())
}

/// Go's `time.ParseDuration` for the units a schedule uses (`h`, `m`, `s`, `ms`).
pub fn parse_duration(text: &str) -> Option<std::time::Duration> {
    let mut total = 0f64;
    let mut rest = text.trim();
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(rest.len());
        let number: f64 = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        let unit_len = rest.find(|c: char| c.is_ascii_digit() || c == '.').unwrap_or(rest.len());
        let factor = match &rest[..unit_len] {
            "h" => 3600.0,
            "m" => 60.0,
            "s" => 1.0,
            "ms" => 0.001,
            _ => return None,
        };
        total += number * factor;
        rest = &rest[unit_len..];
    }
    Some(std::time::Duration::from_secs_f64(total))
}

fn parse_rfc3339(text: &str) -> Option<std::time::SystemTime> {
    let secs = veranda_engine::time::parse_rfc3339(text)?;
    Some(std::time::UNIX_EPOCH + std::time::Duration::from_secs(u64::try_from(secs).ok()?))
}

fn format_rfc3339(t: std::time::SystemTime) -> String {
    let secs = t.duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    veranda_engine::time::rfc3339(i64::try_from(secs).unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_durations_and_times() {
        assert_eq!(last_segment("http://h:3000/nephio/test-blueprints.git/"), "test-blueprints");
        assert_eq!(last_segment("https://h/x/porch-test"), "porch-test");
        assert_eq!(parse_duration("1h30m").map(|d| d.as_secs()), Some(5400));
        assert_eq!(parse_duration("90s").map(|d| d.as_secs()), Some(90));
        assert!(parse_duration("5 minutes").is_none());
        let t = parse_rfc3339("2026-12-03T08:30:00Z").expect("parse");
        assert_eq!(format_rfc3339(t), "2026-12-03T08:30:00Z");
        assert!(parse_rfc3339("yesterday").is_none());
    }
}
