//! An SSH git server for tests: Debian's OpenSSH `sshd` (package `openssh-server`, installed by
//! `.ci/run`) started by the test on 127.0.0.1 with an ephemeral port, a host key of its own and
//! an `authorized_keys` that runs every login through `git-shell`.
//!
//! Everything lives in a temporary directory: config, host key, authorized_keys, pid file and
//! log (printed when the server does not come up). sshd runs as the user running the tests and
//! lets only that user in (`AllowUsers`), by public key only (no PAM, no passwords,
//! `StrictModes no` because temporary directories are not owned the way sshd wants). Run as
//! root it needs its privilege separation directory `/run/sshd`, which is created if missing;
//! `PermitRootLogin prohibit-password` lets root log in with a key.

use std::{
    fs,
    io::Read,
    net::{TcpListener, TcpStream},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

const SSHD: &str = "/usr/sbin/sshd";

/// A key pair made with `ssh-keygen`.
pub struct KeyPair {
    /// The private key text (OpenSSH format).
    pub private: String,
    /// The public key line `type base64 comment`.
    pub public: String,
}

impl KeyPair {
    /// `type base64`, without the comment.
    pub fn public_key(&self) -> String {
        self.public.split_whitespace().take(2).collect::<Vec<_>>().join(" ")
    }
}

/// Generates an unencrypted (or, with `passphrase`, encrypted) key of `kind` (`ed25519`,
/// `rsa`, `ecdsa`) in `dir` under `name`.
pub fn keygen(dir: &Path, name: &str, kind: &str, passphrase: &str) -> KeyPair {
    fs::create_dir_all(dir).expect("create key dir");
    let path = dir.join(name);
    let status = Command::new("ssh-keygen")
        .args(["-q", "-t", kind, "-N", passphrase, "-C", name, "-f"])
        .arg(&path)
        .stdout(Stdio::null())
        .status()
        .expect("run ssh-keygen");
    assert!(status.success(), "ssh-keygen failed");
    KeyPair {
        private: fs::read_to_string(&path).expect("read private key"),
        public: fs::read_to_string(path.with_extension("pub")).expect("read public key"),
    }
}

/// A running sshd; killed when dropped.
pub struct SshServer {
    child: Child,
    port: u16,
    user: String,
    host_keys: Vec<KeyPair>,
    dir: PathBuf,
}

impl SshServer {
    /// Starts sshd with its files in `dir` (created) and an Ed25519 host key, letting in the
    /// holder of `client_key`.
    pub fn start(dir: &Path, client_key: &KeyPair) -> SshServer {
        SshServer::start_with(dir, &[client_key], &["ed25519"])
    }

    /// Starts sshd with host keys of `host_key_kinds` (`ed25519`, `ecdsa`, `rsa`), letting in the
    /// holders of `client_keys`.
    pub fn start_with(dir: &Path, client_keys: &[&KeyPair], host_key_kinds: &[&str]) -> SshServer {
        assert!(
            Path::new(SSHD).exists(),
            "{SSHD} is missing: apt-get install -y openssh-server (.ci/run does)"
        );
        fs::create_dir_all(dir).expect("create sshd dir");
        let user = current_user();
        if user == "root" && !Path::new("/run/sshd").exists() {
            fs::create_dir_all("/run/sshd").expect("create /run/sshd");
        }
        let host_keys: Vec<(String, KeyPair)> = host_key_kinds
            .iter()
            .map(|kind| {
                let name = format!("host_{kind}");
                let key = keygen(dir, &name, kind, "");
                (name, key)
            })
            .collect();
        let git_shell = which("git-shell");
        let authorized: String = client_keys
            .iter()
            .map(|key| {
                format!(
                    "command=\"{} -c \\\"$SSH_ORIGINAL_COMMAND\\\"\",restrict {}\n",
                    git_shell.display(),
                    key.public_key()
                )
            })
            .collect();
        fs::write(dir.join("authorized_keys"), authorized).expect("write authorized_keys");

        // The port is picked by binding :0 and released for sshd; another process may take it
        // in between, so a server that does not come up is retried on a new port.
        let mut last_log = String::new();
        for _ in 0..5 {
            let port = free_port();
            let config = dir.join("sshd_config");
            let names: Vec<&str> = host_keys.iter().map(|(name, _)| name.as_str()).collect();
            fs::write(&config, sshd_config(dir, port, &user, &names)).expect("write sshd_config");
            let log = dir.join("sshd.log");
            let mut child = Command::new(SSHD)
                .arg("-D")
                .arg("-f")
                .arg(&config)
                .arg("-E")
                .arg(&log)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("spawn sshd");
            if wait_ready(&mut child, port) {
                let host_keys = host_keys.into_iter().map(|(_, key)| key).collect();
                return SshServer { child, port, user, host_keys, dir: dir.to_owned() };
            }
            let _ = child.kill();
            let _ = child.wait();
            last_log = fs::read_to_string(&log).unwrap_or_default();
        }
        panic!("sshd did not start; its log:\n{last_log}");
    }

    /// `ssh://<user>@127.0.0.1:<port><absolute path of repo>`.
    pub fn url(&self, repo: &Path) -> String {
        format!("ssh://{}@127.0.0.1:{}{}", self.user, self.port, repo.display())
    }

    /// known_hosts lines for every host key of this server, as `ssh-keyscan` prints them:
    /// `[127.0.0.1]:<port> <type> <key>`.
    pub fn known_hosts(&self) -> String {
        self.host_keys
            .iter()
            .map(|key| format!("[127.0.0.1]:{} {}\n", self.port, key.public_key()))
            .collect()
    }

    /// The port sshd listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// sshd's log so far.
    #[allow(dead_code)]
    pub fn log(&self) -> String {
        fs::read_to_string(self.dir.join("sshd.log")).unwrap_or_default()
    }
}

impl Drop for SshServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Waits for sshd's banner on `port`; `false` if it exited or did not answer in time.
fn wait_ready(child: &mut Child, port: u16) -> bool {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return false;
        }
        if let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) {
            let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
            let mut banner = [0; 4];
            if stream.read_exact(&mut banner).is_ok() && &banner == b"SSH-" {
                return true;
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

fn sshd_config(dir: &Path, port: u16, user: &str, host_keys: &[&str]) -> String {
    let dir = dir.display();
    let host_keys: String =
        host_keys.iter().map(|name| format!("HostKey {dir}/{name}\n")).collect();
    format!(
        "Port {port}
ListenAddress 127.0.0.1
{host_keys}AuthorizedKeysFile {dir}/authorized_keys
PidFile {dir}/sshd.pid
AllowUsers {user}
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
AllowTcpForwarding no
X11Forwarding no
PermitTTY no
PrintMotd no
LogLevel VERBOSE
"
    )
}

fn current_user() -> String {
    let output = Command::new("id").arg("-un").output().expect("run id -un");
    String::from_utf8(output.stdout).expect("utf-8 user name").trim().to_owned()
}

fn which(program: &str) -> PathBuf {
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|path| std::env::split_paths(&path).collect::<Vec<_>>())
        .map(|dir| dir.join(program))
        .find(|candidate| candidate.is_file())
        .unwrap_or_else(|| panic!("{program} is not on PATH"))
}

fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    listener.local_addr().expect("listener has an address").port()
}
