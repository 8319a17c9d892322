//! The `veranda` binary: `veranda serve` runs the package orchestration server.

use std::{net::SocketAddr, path::PathBuf, process::ExitCode, time::Duration};

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "veranda",
    version,
    about = "Package orchestration server for kpt packages in Git"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the API server.
    Serve {
        /// Where the store, Git caches, tokens and the admin kubeconfig live.
        #[arg(long, default_value = "./veranda-data", env = "VERANDA_DATA_DIR")]
        data_dir: PathBuf,
        /// Address to listen on (port 0 picks a free port; the kubeconfig has the real one).
        #[arg(long, default_value = "127.0.0.1:7007", env = "VERANDA_LISTEN")]
        listen: SocketAddr,
        /// Seconds between fetches of every registered repository.
        #[arg(long, default_value_t = 30)]
        sync_interval_seconds: u64,
        /// Run a KRM function image with a local executable: `IMAGE=PATH` (image without tag,
        /// e.g. `ghcr.io/kptdev/krm-functions-catalog/set-image=/usr/local/bin/set-image`).
        /// Repeatable. Built-in functions are tried first.
        #[arg(long = "exec-function", value_name = "IMAGE=PATH")]
        exec_functions: Vec<String>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("VERANDA_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            tracing::error!("failed to start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = match cli.command {
        Command::Serve { data_dir, listen, sync_interval_seconds, exec_functions } => {
            let mut functions = std::collections::BTreeMap::new();
            for mapping in exec_functions {
                let Some((image, path)) = mapping.split_once('=') else {
                    tracing::error!("--exec-function {mapping:?} must be IMAGE=PATH");
                    return ExitCode::FAILURE;
                };
                functions.insert(image.to_string(), PathBuf::from(path));
            }
            runtime.block_on(veranda_server::serve(veranda_server::ServeConfig {
                data_dir,
                listen,
                sync_interval: Duration::from_secs(sync_interval_seconds.max(1)),
                exec_functions: functions,
            }))
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("failed to {e}");
            ExitCode::FAILURE
        }
    }
}
