//! Helpers for end-to-end tests: a running `veranda serve`, `kubectl` against it, Git fixtures.

use std::{
    path::{Path, PathBuf},
    process::{Child, Command, Output, Stdio},
    time::{Duration, Instant},
};

use serde_json::Value;

/// A `veranda serve` process on an ephemeral port with its own data directory.
pub struct Server {
    pub dir: tempfile::TempDir,
    pub kubeconfig: PathBuf,
    child: Child,
}

impl Server {
    pub fn start() -> Server {
        let dir = tempfile::tempdir().expect("temp dir");
        Server::start_in(dir)
    }

    pub fn start_in(dir: tempfile::TempDir) -> Server {
        Server::start_with(dir, &[])
    }

    /// Starts `veranda serve` with extra arguments (e.g. `--function-runner URL`).
    pub fn start_with(dir: tempfile::TempDir, extra: &[&str]) -> Server {
        let data = dir.path().join("data");
        let log = std::fs::File::create(dir.path().join("server.log")).expect("log file");
        let child = Command::new(env!("CARGO_BIN_EXE_veranda"))
            .args([
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--sync-interval-seconds",
                "2",
                "--data-dir",
            ])
            .arg(&data)
            .args(extra)
            .env("VERANDA_LOG", "info,veranda_server=debug")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start veranda");
        let kubeconfig = data.join("kubeconfig");
        let mut server = Server { dir, kubeconfig, child };
        let deadline = Instant::now() + Duration::from_secs(60);
        while !server.kubeconfig.exists() {
            if let Ok(Some(status)) = server.child.try_wait() {
                panic!("veranda exited early with {status}:\n{}", server.log());
            }
            assert!(
                Instant::now() < deadline,
                "veranda did not write its kubeconfig:\n{}",
                server.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        server
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }

    /// Server URL from the kubeconfig.
    pub fn url(&self) -> String {
        let text = std::fs::read_to_string(&self.kubeconfig).unwrap();
        text.lines().find_map(|l| l.trim().strip_prefix("server: ")).unwrap().to_string()
    }

    pub fn token(&self) -> String {
        let text = std::fs::read_to_string(&self.kubeconfig).unwrap();
        text.lines().find_map(|l| l.trim().strip_prefix("token: ")).unwrap().to_string()
    }

    /// Runs kubectl with this server's kubeconfig; returns the output whatever the exit code.
    pub fn kubectl_output(&self, args: &[&str], stdin: Option<&str>) -> Output {
        let mut cmd = Command::new("kubectl");
        cmd.arg("--kubeconfig").arg(&self.kubeconfig).args(args);
        cmd.env("KUBECACHEDIR", self.dir.path().join("kube-cache"));
        if let Some(input) = stdin {
            cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
            let mut child = cmd.spawn().expect("kubectl must be installed");
            use std::io::Write;
            child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
            child.wait_with_output().unwrap()
        } else {
            cmd.output().expect("kubectl must be installed")
        }
    }

    /// Runs kubectl and requires success; returns stdout.
    #[track_caller]
    pub fn kubectl(&self, args: &[&str]) -> String {
        self.kubectl_in(args, None)
    }

    #[track_caller]
    pub fn kubectl_in(&self, args: &[&str], stdin: Option<&str>) -> String {
        let out = self.kubectl_output(args, stdin);
        assert!(
            out.status.success(),
            "kubectl {args:?} failed:\nstdout: {}\nstderr: {}\nserver log tail:\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            tail(&self.log(), 30)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Runs kubectl, requires failure, returns stderr.
    #[track_caller]
    pub fn kubectl_fails(&self, args: &[&str], stdin: Option<&str>) -> String {
        let out = self.kubectl_output(args, stdin);
        assert!(
            !out.status.success(),
            "kubectl {args:?} unexpectedly succeeded: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        String::from_utf8_lossy(&out.stderr).into_owned()
    }

    /// Sends a request with curl (trusting the server's CA), the body on stdin; `max_time` cuts
    /// the client off. Returns (status code, body as JSON or null); status 0 when curl gave up.
    pub fn request(
        &self,
        method: &str,
        path: &str,
        content_type: &str,
        body: &[u8],
        max_time: Option<f64>,
    ) -> (u16, Value) {
        let mut cmd = Command::new("curl");
        cmd.args(["-sS", "--cacert"])
            .arg(self.dir.path().join("data/ca.crt"))
            .args(["-X", method, "-H"])
            .arg(format!("Authorization: Bearer {}", self.token()))
            .args(["-H", &format!("Content-Type: {content_type}"), "--data-binary", "@-"])
            .args(["-w", "\n%{http_code}", "--max-time"])
            .arg(max_time.unwrap_or(120.0).to_string())
            .arg(format!("{}{path}", self.url()))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("curl must be installed");
        let mut stdin = child.stdin.take().expect("stdin");
        let body = body.to_vec();
        let writer = std::thread::spawn(move || {
            use std::io::Write;
            // curl may stop reading when it gives up; that is not an error of the test.
            let _ = stdin.write_all(&body);
        });
        let out = child.wait_with_output().expect("curl");
        let _ = writer.join();
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        match text.rsplit_once('\n') {
            Some((body, code)) => {
                (code.parse().unwrap_or(0), serde_json::from_str(body).unwrap_or(Value::Null))
            }
            None => (0, Value::Null),
        }
    }

    #[track_caller]
    pub fn get_json(&self, args: &[&str]) -> Value {
        let mut all = vec!["get"];
        all.extend_from_slice(args);
        all.extend_from_slice(&["-o", "json"]);
        serde_json::from_str(&self.kubectl(&all)).expect("kubectl printed JSON")
    }

    /// Polls `check` for up to 30 seconds.
    #[track_caller]
    pub fn eventually(&self, what: &str, mut check: impl FnMut() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while !check() {
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}\nserver log tail:\n{}",
                tail(&self.log(), 40)
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // SIGTERM first: the server must shut down cleanly.
        let _ = Command::new("kill").arg("-TERM").arg(self.child.id().to_string()).status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A `veranda fn-runner` process on an ephemeral loopback port.
pub struct FnRunner {
    pub url: String,
    child: Child,
}

impl FnRunner {
    /// Starts `veranda fn-runner --listen 127.0.0.1:0 ARGS`, logging to `log`, and reads its
    /// port from stdout.
    pub fn start(log: &Path, args: &[&str]) -> FnRunner {
        use std::io::BufRead;

        let log = std::fs::File::create(log).expect("log file");
        let mut child = Command::new(env!("CARGO_BIN_EXE_veranda"))
            .args(["fn-runner", "--listen", "127.0.0.1:0"])
            .args(args)
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .expect("start veranda fn-runner");
        let stdout = child.stdout.take().expect("piped stdout");
        // The first line names the bound address; a reader thread keeps a hang from blocking us.
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = std::io::BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let line = rx.recv_timeout(Duration::from_secs(30)).expect("fn-runner printed its address");
        let addr = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"));
        FnRunner { url: format!("http://{addr}"), child }
    }

    /// Sends SIGTERM and waits up to 10 seconds for the exit status.
    pub fn stop(&mut self) -> Option<std::process::ExitStatus> {
        let _ = Command::new("kill").arg("-TERM").arg(self.child.id().to_string()).status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }
}

impl Drop for FnRunner {
    fn drop(&mut self) {
        if let Ok(Some(_)) = self.child.try_wait() {
            return;
        }
        if self.stop().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// Runs git in `dir`, requires success, returns stdout.
#[track_caller]
pub fn git(dir: &Path, args: &[&str]) -> String {
    let out =
        Command::new("git").arg("-C").arg(dir).args(args).output().expect("git must be installed");
    assert!(out.status.success(), "git {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Path of a file in the shared test data: `$VERANDA_SHARED/testdata/<rel>`, by default
/// `shared/` next to the repository root.
pub fn testdata(rel: &str) -> PathBuf {
    let shared = match std::env::var_os("VERANDA_SHARED") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared"),
    };
    shared.join("testdata").join(rel)
}

/// A bare clone of Porch's test-blueprints repository.
pub fn blueprints_repo(parent: &Path) -> PathBuf {
    let bundle =
        testdata("packages/nephio-project-porch/test/pkgs/test-pkgs/test-blueprints.bundle");
    let dest = parent.join("test-blueprints.git");
    let out = Command::new("git")
        .arg("clone")
        .arg("--bare")
        .arg("-q")
        .arg(&bundle)
        .arg(&dest)
        .output()
        .unwrap();
    assert!(out.status.success(), "clone bundle: {}", String::from_utf8_lossy(&out.stderr));
    dest
}

/// An empty bare repository.
pub fn empty_repo(parent: &Path, name: &str) -> PathBuf {
    let dest = parent.join(name);
    let out = Command::new("git")
        .args(["init", "--bare", "-q", "-b", "main"])
        .arg(&dest)
        .output()
        .unwrap();
    assert!(out.status.success());
    dest
}

/// A secret key file (mode 0600) in `dir`, for servers that share one store: every replica is
/// given the same key.
pub fn secret_key_file(dir: &Path) -> PathBuf {
    use std::os::unix::fs::PermissionsExt as _;
    let key = dir.join("secrets.key");
    let out = Command::new("openssl").args(["rand", "-base64", "32"]).output().expect("openssl");
    assert!(out.status.success());
    std::fs::write(&key, &out.stdout).expect("write key");
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    key
}
