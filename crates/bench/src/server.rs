//! The `veranda serve` process under test: started on loopback with an ephemeral port, found
//! through the kubeconfig it writes, stopped by a guard so that no server outlives the harness
//! (also when a phase fails or panics).

use std::{
    fs::File,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    thread,
    time::{Duration, Instant},
};

use anyhow::{Context, Result, bail};

use crate::http::Endpoint;

/// How long a server may take to write its kubeconfig (it does so once its index is ready).
const START_TIMEOUT: Duration = Duration::from_secs(600);
const STOP_TIMEOUT: Duration = Duration::from_secs(10);

pub struct ServerProcess {
    child: Child,
    log: PathBuf,
    pub endpoint: Endpoint,
    /// When the process was spawned.
    pub spawned: Instant,
    /// From spawn until the kubeconfig appeared.
    pub kubeconfig_after: Duration,
}

pub struct ServerConfig<'a> {
    pub binary: &'a Path,
    pub data_dir: &'a Path,
    pub log: &'a Path,
    pub sync_interval_seconds: u64,
    /// The store URL (`--store`, given through the environment), or none for SQLite.
    pub store: Option<&'a str>,
    /// `--secret-key-file`: the key every server on one shared store is given.
    pub secret_key_file: Option<&'a Path>,
}

impl ServerProcess {
    /// Starts the server and returns once it has written its kubeconfig.
    pub fn start(config: &ServerConfig<'_>) -> Result<ServerProcess> {
        let kubeconfig = config.data_dir.join("kubeconfig");
        // A kubeconfig left by an earlier run must not be mistaken for this one's.
        if kubeconfig.exists() {
            std::fs::remove_file(&kubeconfig)
                .with_context(|| format!("remove stale {}", kubeconfig.display()))?;
        }
        let log = File::options()
            .create(true)
            .append(true)
            .open(config.log)
            .with_context(|| format!("open {}", config.log.display()))?;
        let spawned = Instant::now();
        let mut command = Command::new(config.binary);
        match config.store {
            Some(url) => command.env("VERANDA_STORE", url),
            None => command.env_remove("VERANDA_STORE"),
        };
        let child = command
            .arg("serve")
            .arg("--data-dir")
            .arg(config.data_dir)
            .args(["--listen", "127.0.0.1:0", "--sync-interval-seconds"])
            .arg(config.sync_interval_seconds.to_string())
            .args(
                config
                    .secret_key_file
                    .map(|key| ["--secret-key-file".as_ref(), key.as_os_str()])
                    .into_iter()
                    .flatten(),
            )
            .env("VERANDA_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .with_context(|| format!("start {}", config.binary.display()))?;
        // From here on the guard owns the process, so an error below still stops it.
        let mut guard = Starting { child: Some(child) };
        let deadline = spawned + START_TIMEOUT;
        let endpoint = loop {
            if kubeconfig.exists()
                && let Ok(endpoint) = Endpoint::from_kubeconfig(config.data_dir)
            {
                break endpoint;
            }
            if let Some(child) = guard.child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                bail!(
                    "veranda exited with {status} before writing its kubeconfig; log tail:\n{}",
                    tail(config.log)
                );
            }
            if Instant::now() > deadline {
                bail!(
                    "veranda did not write {} within {START_TIMEOUT:?}; log tail:\n{}",
                    kubeconfig.display(),
                    tail(config.log)
                );
            }
            thread::sleep(Duration::from_millis(2));
        };
        let kubeconfig_after = spawned.elapsed();
        let child = guard.child.take().context("keep the server process")?;
        Ok(ServerProcess {
            child,
            log: config.log.to_path_buf(),
            endpoint,
            spawned,
            kubeconfig_after,
        })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Peak resident set size (VmHWM) in MiB.
    pub fn peak_rss_mib(&self) -> Result<f64> {
        let path = format!("/proc/{}/status", self.pid());
        let status = std::fs::read_to_string(&path).with_context(|| format!("read {path}"))?;
        let kib: f64 = status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .with_context(|| format!("find VmHWM in {path}"))?;
        Ok(kib / 1024.0)
    }

    pub fn log_tail(&self) -> String {
        tail(&self.log)
    }

    /// SIGTERM, then SIGKILL if it has not exited within a few seconds.
    pub fn stop(mut self) {
        stop(&mut self.child);
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        stop(&mut self.child);
    }
}

/// Owns the child while it starts.
struct Starting {
    child: Option<Child>,
}

impl Drop for Starting {
    fn drop(&mut self) {
        if let Some(child) = self.child.as_mut() {
            stop(child);
        }
    }
}

fn stop(child: &mut Child) {
    if let Ok(Some(_)) = child.try_wait() {
        return;
    }
    // `unsafe_code` is forbidden, so the signal goes through kill(1).
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    let deadline = Instant::now() + STOP_TIMEOUT;
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        thread::sleep(Duration::from_millis(10));
    }
    let _ = child.kill();
    let _ = child.wait();
}

fn tail(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}
