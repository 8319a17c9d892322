//! `rpkg init|clone|copy`: create a package revision with one task.

use serde_json::{Value, json};

use super::{Failure, Outcome};
use crate::kube::{Client, PORCH};

#[derive(clap::Args, Debug)]
pub struct InitArgs {
    /// The package name.
    pub package: Option<String>,
    /// Short description of the package.
    #[arg(long, default_value = "sample description")]
    pub description: String,
    /// Keywords of the package (comma-separated, repeatable).
    #[arg(long, value_delimiter = ',')]
    pub keywords: Vec<String>,
    /// Link to a page about the package.
    #[arg(long, default_value = "")]
    pub site: String,
    /// The repository to create the package in.
    #[arg(long, default_value = "")]
    pub repository: String,
    /// The workspace name of the new revision.
    #[arg(long, default_value = "")]
    pub workspace: String,
}

#[derive(clap::Args, Debug)]
pub struct CloneArgs {
    /// The source: a package revision name, or a Git URL (`REPO.git[/DIR][@REF]`).
    pub source: Option<String>,
    /// The new package's name.
    pub name: Option<String>,
    /// Directory of the upstream package in its Git repository.
    #[arg(long, default_value = "")]
    pub directory: String,
    /// Git ref (branch or tag) of the upstream package.
    #[arg(long, default_value = "")]
    pub r#ref: String,
    /// The repository to clone into (downstream).
    #[arg(long, default_value = "")]
    pub repository: String,
    /// The workspace name of the new revision.
    #[arg(long, default_value = "v1")]
    pub workspace: String,
    /// A Secret with the credentials of the upstream Git repository.
    #[arg(long, default_value = "")]
    pub secret_ref: String,
    /// Merge strategy recorded for later upgrades (resource-merge, fast-forward,
    /// force-delete-replace, copy-merge).
    #[arg(long, default_value = "")]
    pub strategy: String,
}

#[derive(clap::Args, Debug)]
pub struct CopyArgs {
    /// The source package revision.
    pub source: Vec<String>,
    /// The workspace name of the new revision.
    #[arg(long, default_value = "")]
    pub workspace: String,
}

fn revision(
    client: &Client,
    package: &str,
    workspace: &str,
    repository: &str,
    task: Value,
) -> Value {
    json!({
        "apiVersion": "porch.kpt.dev/v1alpha1",
        "kind": "PackageRevision",
        "metadata": {"namespace": client.namespace},
        "spec": {
            "packageName": package,
            "workspaceName": workspace,
            "repository": repository,
            "tasks": [task],
        },
    })
}

/// Creates the revision and prints `<name> created`.
fn create(client: &Client, body: &Value) -> Outcome {
    let created = client.create(&client.collection(PORCH, "packagerevisions"), body)?;
    println!("{} created", created["metadata"]["name"].as_str().unwrap_or(""));
    Ok(())
}

pub fn init(client: &Client, args: InitArgs) -> Outcome {
    let Some(package) = args.package else {
        return Err(Failure::Run("PACKAGE_NAME is a required positional argument".into()));
    };
    if args.repository.is_empty() {
        return Err(Failure::Run("--repository is required to specify target repository".into()));
    }
    if args.workspace.is_empty() {
        return Err(Failure::Run("--workspace is required to specify workspace name".into()));
    }
    let mut init = json!({"description": args.description});
    if !args.keywords.is_empty() {
        init["keywords"] = json!(args.keywords);
    }
    if !args.site.is_empty() {
        init["site"] = json!(args.site);
    }
    let task = json!({"type": "init", "init": init});
    create(client, &revision(client, &package, &args.workspace, &args.repository, task))
}

/// Where `.git` ends the repository part of a source (followed by `/`, `@` or nothing, so
/// that a host like `gitea.example` does not count).
fn git_suffix(source: &str) -> Option<usize> {
    source
        .match_indices(".git")
        .map(|(i, _)| i)
        .find(|&i| matches!(source.as_bytes().get(i + 4), None | Some(b'/') | Some(b'@')))
}

/// Splits `REPO.git/DIR@REF` (kpt's `parse.URL`) into the repository, directory and ref.
fn split_git_source(source: &str) -> (String, String, String) {
    let Some(index) = git_suffix(source) else {
        return (source.to_string(), String::new(), String::new());
    };
    let repo = format!("{}.git", &source[..index]);
    let rest = &source[index + 4..];
    let (path, r#ref) = match rest.split_once('@') {
        Some((p, r)) => (p, r),
        None => (rest, ""),
    };
    (repo, path.trim_matches('/').to_string(), r#ref.to_string())
}

pub fn clone(client: &Client, args: CloneArgs) -> Outcome {
    let (Some(source), Some(name)) = (args.source, args.name) else {
        return Err(Failure::Run(
            "SOURCE_PACKAGE and NAME are required positional arguments".into(),
        ));
    };
    if args.repository.is_empty() {
        return Err(Failure::Run(
            "--repository is required to specify downstream repository".into(),
        ));
    }
    if args.workspace.is_empty() {
        return Err(Failure::Run(
            "--workspace is required to specify downstream workspace name".into(),
        ));
    }
    let upstream = if source.starts_with("oci://") {
        return Err(Failure::Run("OCI upstreams are not supported by veranda".into()));
    } else if source.contains('/') {
        let (mut repo, mut directory, mut r#ref) =
            (source.clone(), args.directory.clone(), args.r#ref.clone());
        if git_suffix(&source).is_some() {
            let (r, dir, rf) = split_git_source(&source);
            if !directory.is_empty() && !dir.is_empty() && directory != dir {
                return Err(Failure::Run(format!(
                    "directory {directory} specified by --directory contradicts directory {dir} specified by SOURCE_PACKAGE"
                )));
            }
            if !r#ref.is_empty() && !rf.is_empty() && r#ref != rf {
                return Err(Failure::Run(format!(
                    "ref {} specified by --ref contradicts ref {rf} specified by SOURCE_PACKAGE",
                    r#ref
                )));
            }
            if directory.is_empty() {
                directory = dir;
            }
            if r#ref.is_empty() {
                r#ref = rf;
            }
            repo = r;
        }
        if r#ref.is_empty() {
            r#ref = "main".into();
        }
        if directory.is_empty() {
            directory = "/".into();
        }
        json!({"type": "git", "git": {
            "repo": repo, "ref": r#ref, "directory": directory,
            "secretRef": {"name": args.secret_ref},
        }})
    } else {
        json!({"upstreamRef": {"name": source}})
    };
    let mut clone = json!({"upstreamRef": upstream});
    if !args.strategy.is_empty() {
        clone["strategy"] = json!(args.strategy);
    }
    let task = json!({"type": "clone", "clone": clone});
    create(client, &revision(client, &name, &args.workspace, &args.repository, task))
}

pub fn copy(client: &Client, args: CopyArgs) -> Outcome {
    let source = match args.source.as_slice() {
        [] => return Err(Failure::Run("SOURCE_PACKAGE is a required positional argument".into())),
        [one] => one,
        _ => {
            return Err(Failure::Run(
                "too many arguments; SOURCE_PACKAGE is the only accepted positional arguments"
                    .into(),
            ));
        }
    };
    let from = client.get(&client.object(PORCH, "packagerevisions", source))?;
    if args.workspace.is_empty() {
        return Err(Failure::Run("--workspace is required to specify workspace name".into()));
    }
    let task = json!({"type": "edit", "edit": {"sourceRef": {"name": from["metadata"]["name"]}}});
    let spec = &from["spec"];
    let package = spec["packageName"].as_str().unwrap_or("");
    let repository = spec["repository"].as_str().unwrap_or("");
    create(client, &revision(client, package, &args.workspace, repository, task))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_git_sources() {
        assert_eq!(
            split_git_source("http://h:3000/nephio/test-blueprints.git/basens@basens/v1"),
            (
                "http://h:3000/nephio/test-blueprints.git".into(),
                "basens".into(),
                "basens/v1".into()
            )
        );
        assert_eq!(
            split_git_source("https://h/r.git"),
            ("https://h/r.git".into(), String::new(), String::new())
        );
        assert_eq!(split_git_source("https://h/r.git@v1").2, "v1");
        assert_eq!(
            split_git_source("http://gitea.gitea.svc:3000/n/b.git/basens@basens/v1").0,
            "http://gitea.gitea.svc:3000/n/b.git"
        );
        assert_eq!(git_suffix("http://gitea.example/x"), None);
    }
}
