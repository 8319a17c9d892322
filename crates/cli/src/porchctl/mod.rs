//! porchctl's commands against a veranda (or Porch) server: `repo` and `rpkg`, with porchctl's
//! flags, output and exit codes. The same binary answers as `porchctl` when invoked under that
//! name.

mod create;
mod files;
mod get;
pub mod jsonpath;
mod lifecycle;
mod output;
mod repo;
mod upgrade;

use std::path::PathBuf;

use clap::{Args, Subcommand};

use crate::kube::{self, Client};

/// The flags every command takes (kubectl's connection flags).
#[derive(Args, Clone, Debug, Default)]
pub struct Global {
    /// Path to the kubeconfig file (default: $KUBECONFIG, ~/.kube/config, then
    /// ./veranda-data/kubeconfig).
    #[arg(long, global = true, value_name = "FILE", env = "VERANDA_KUBECONFIG")]
    pub kubeconfig: Option<PathBuf>,
    /// The kubeconfig context to use.
    #[arg(long, global = true)]
    pub context: Option<String>,
    /// The namespace (default: the context's, else `default`).
    #[arg(short = 'n', long, global = true)]
    pub namespace: Option<String>,
    /// Truncate long output (accepted for porchctl compatibility).
    #[arg(long, global = true, num_args = 0..=1, default_missing_value = "true", value_name = "BOOL")]
    pub truncate_output: Option<bool>,
    /// Print a stack trace on failure (accepted for porchctl compatibility).
    #[arg(long, global = true, hide = true)]
    pub stack_trace: bool,
    /// The PackageRevision API version (veranda serves v1alpha1).
    #[arg(long, global = true, env = "PORCHCTL_API_VERSION", hide = true)]
    pub api_version: Option<String>,
}

/// `repo` commands (parsed once per process: their sizes cost nothing).
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand, Debug)]
pub enum RepoCommand {
    /// Register a package repository.
    #[command(name = "reg", visible_alias = "register")]
    Reg(repo::RegArgs),
    /// List registered repositories.
    #[command(name = "get", visible_aliases = ["ls", "list"])]
    Get(repo::GetArgs),
    /// Schedule a one-time sync of repositories.
    #[command(name = "sync", visible_alias = "reconcile")]
    Sync(repo::SyncArgs),
    /// Unregister a repository.
    #[command(name = "unreg", visible_alias = "unregister")]
    Unreg(repo::UnregArgs),
}

/// `rpkg` commands.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand, Debug)]
pub enum RpkgCommand {
    /// Initialize a new package revision in a repository.
    Init(create::InitArgs),
    /// Create a clone of an existing package revision (or of a package at a Git URL).
    Clone(create::CloneArgs),
    /// Create a new revision of a package from an existing one.
    #[command(visible_alias = "edit")]
    Copy(create::CopyArgs),
    /// List package revisions.
    #[command(visible_alias = "list")]
    Get(get::GetArgs),
    /// Pull a package revision's contents to a directory, or as a ResourceList to stdout.
    #[command(visible_aliases = ["source", "read"])]
    Pull(files::PullArgs),
    /// Push a directory (or a ResourceList on stdin) into a package revision.
    #[command(visible_aliases = ["sink", "write"])]
    Push(files::PushArgs),
    /// Propose draft package revisions for approval.
    Propose(lifecycle::Names),
    /// Approve proposed package revisions (publish them).
    Approve(lifecycle::Names),
    /// Reject proposals (a proposed revision goes back to draft).
    Reject(lifecycle::Names),
    /// Delete package revisions.
    #[command(visible_alias = "del")]
    Delete(lifecycle::Names),
    /// Propose published package revisions for deletion.
    #[command(name = "propose-delete", visible_alias = "propose-del")]
    ProposeDelete(lifecycle::Names),
    /// Upgrade a downstream package revision to a newer upstream, or discover available upgrades.
    Upgrade(upgrade::UpgradeArgs),
}

/// How a command failed, printed as porchctl prints it.
#[derive(Debug)]
pub enum Failure {
    /// A usage or validation error (`error: …`).
    Usage(String),
    /// A failure of the operation (`Error: … `).
    Run(String),
}

impl Failure {
    /// Prints the failure on stderr as porchctl does.
    pub fn report(&self) {
        match self {
            Failure::Usage(message) => eprintln!("error: {message}"),
            Failure::Run(message) => eprintln!("Error: {message} "),
        }
    }
}

impl From<kube::Error> for Failure {
    fn from(e: kube::Error) -> Failure {
        Failure::Run(e.to_string())
    }
}

impl From<anyhow::Error> for Failure {
    fn from(e: anyhow::Error) -> Failure {
        Failure::Run(format!("{e:#}"))
    }
}

pub type Outcome = Result<(), Failure>;

fn connect(global: &Global) -> Result<Client, Failure> {
    if let Some(version) = global.api_version.as_deref()
        && version != "v1alpha1"
    {
        return Err(Failure::Usage(format!(
            "API version {version:?} is not served; veranda serves porch.kpt.dev/v1alpha1"
        )));
    }
    Client::connect(&kube::Options {
        kubeconfig: global.kubeconfig.clone(),
        context: global.context.clone(),
        namespace: global.namespace.clone(),
    })
    .map_err(Failure::from)
}

pub fn run_repo(global: &Global, command: RepoCommand) -> Outcome {
    let client = connect(global)?;
    match command {
        RepoCommand::Reg(args) => repo::register(&client, args),
        RepoCommand::Get(args) => repo::get(&client, args),
        RepoCommand::Sync(args) => repo::sync(&client, args),
        RepoCommand::Unreg(args) => repo::unregister(&client, args),
    }
}

pub fn run_rpkg(global: &Global, command: RpkgCommand) -> Outcome {
    if let RpkgCommand::Get(args) = &command {
        get::validate(global, args)?;
    }
    let client = connect(global)?;
    match command {
        RpkgCommand::Init(args) => create::init(&client, args),
        RpkgCommand::Clone(args) => create::clone(&client, args),
        RpkgCommand::Copy(args) => create::copy(&client, args),
        RpkgCommand::Get(args) => get::get(&client, args),
        RpkgCommand::Pull(args) => files::pull(&client, args),
        RpkgCommand::Push(args) => files::push(&client, args),
        RpkgCommand::Propose(names) => lifecycle::propose(&client, names),
        RpkgCommand::Approve(names) => lifecycle::approve(&client, names),
        RpkgCommand::Reject(names) => lifecycle::reject(&client, names),
        RpkgCommand::Delete(names) => lifecycle::delete(&client, names),
        RpkgCommand::ProposeDelete(names) => lifecycle::propose_delete(&client, names),
        RpkgCommand::Upgrade(args) => upgrade::upgrade(&client, args),
    }
}

/// Ends a command over several names: porchctl's `errors:` summary when any failed.
fn summarize(messages: Vec<String>) -> Outcome {
    if messages.is_empty() {
        Ok(())
    } else {
        Err(Failure::Run(format!("errors:\n  {}", messages.join("\n  "))))
    }
}

/// The commands of the binary invoked as `porchctl`.
#[derive(clap::Parser, Debug)]
#[command(name = "porchctl", version, about = "Manage porch repositories and packages (veranda)")]
struct Porchctl {
    #[command(flatten)]
    global: Global,
    #[command(subcommand)]
    command: Top,
}

/// What `porchctl` and `veranda` share: `repo`, `rpkg`, `version`, `completion`.
#[derive(Subcommand, Debug)]
pub enum Top {
    /// Manage package repositories.
    Repo {
        #[command(subcommand)]
        command: RepoCommand,
    },
    /// Manage packages.
    Rpkg {
        #[command(subcommand)]
        command: RpkgCommand,
    },
    /// Print the version.
    Version,
}

/// Runs a `Top` command; the exit code porchctl would give.
pub fn run(global: &Global, command: Top) -> std::process::ExitCode {
    let result = match command {
        Top::Repo { command } => run_repo(global, command),
        Top::Rpkg { command } => run_rpkg(global, command),
        Top::Version => {
            println!("Version: {}", env!("CARGO_PKG_VERSION"));
            println!("Server: veranda");
            Ok(())
        }
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(failure) => {
            failure.report();
            std::process::ExitCode::FAILURE
        }
    }
}

/// Whether the binary was invoked under porchctl's name (a symlink or a copy).
pub fn invoked_as_porchctl() -> bool {
    std::env::args_os()
        .next()
        .map(PathBuf::from)
        .and_then(|p| p.file_stem().map(|s| s.to_string_lossy().into_owned()))
        .is_some_and(|name| name == "porchctl")
}

/// `main` of the binary invoked as `porchctl`.
pub fn porchctl_main() -> std::process::ExitCode {
    use clap::{CommandFactory, Parser};
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    // `porchctl completion SHELL` prints porchctl's own completion script.
    if args.get(1).is_some_and(|a| a == "completion") {
        return completion(&mut Porchctl::command(), "porchctl", args.get(2));
    }
    let cli = Porchctl::parse();
    run(&cli.global, cli.command)
}

/// Prints a completion script for `shell` (bash, zsh, fish, elvish, powershell).
pub fn completion(
    command: &mut clap::Command,
    name: &str,
    shell: Option<&std::ffi::OsString>,
) -> std::process::ExitCode {
    let shell = shell.and_then(|s| s.to_str()).and_then(|s| s.parse::<clap_complete::Shell>().ok());
    let Some(shell) = shell else {
        eprintln!("error: completion needs a shell: bash, zsh, fish, elvish or powershell");
        return std::process::ExitCode::FAILURE;
    };
    clap_complete::generate(shell, command, name, &mut std::io::stdout());
    std::process::ExitCode::SUCCESS
}
