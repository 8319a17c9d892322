//! A real PostgreSQL for tests.
//!
//! [`Postgres::start`] runs `initdb` and `pg_ctl start` from the installed PostgreSQL
//! (`$VERANDA_PG_BIN`, else the newest `/usr/lib/postgresql/*/bin`, else `PATH`) on a free port
//! of 127.0.0.1, with its socket and data in a fresh directory. PostgreSQL refuses to run as
//! root, so when the tests run as root the server runs as the `postgres` user (`runuser`).
//! Dropping the handle stops the server (`pg_ctl stop -m immediate`) and removes the directory.
//!
//! Authentication is `trust` for the superuser `veranda` on 127.0.0.1 only.

use std::{
    net::TcpListener,
    path::{Path, PathBuf},
    process::{Command, Output},
    sync::{
        Mutex,
        atomic::{AtomicUsize, Ordering},
    },
};

/// The superuser of a test cluster.
pub const USER: &str = "veranda";

/// A running PostgreSQL cluster.
pub struct Postgres {
    dir: PathBuf,
    bin: PathBuf,
    run_as: Option<String>,
    port: u16,
    // Server settings beyond the defaults (`-c NAME=VALUE`), e.g. TLS.
    settings: Mutex<Vec<String>>,
}

impl Postgres {
    /// Initializes and starts a cluster. Fails with a message naming what is missing when
    /// PostgreSQL is not installed (`.ci/run` installs it).
    pub fn start() -> Result<Postgres, String> {
        static SEQ: AtomicUsize = AtomicUsize::new(0);
        let bin = bin_dir()?;
        let run_as = if is_root() { Some("postgres".to_string()) } else { None };
        let dir = std::env::temp_dir().join(format!(
            "veranda-pg-{}-{}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).map_err(|e| format!("create {}: {e}", dir.display()))?;
        let mut pg = Postgres { dir, bin, run_as, port: 0, settings: Mutex::new(Vec::new()) };
        if let Some(user) = &pg.run_as {
            let out = Command::new("chown")
                .arg(format!("{user}:"))
                .arg(&pg.dir)
                .output()
                .map_err(|e| format!("chown: {e}"))?;
            check("chown", &out)?;
        }
        let data = pg.data_dir();
        let out = pg
            .command("initdb")
            .arg("-D")
            .arg(&data)
            .args(["-U", USER, "-A", "trust", "-E", "UTF8", "--no-sync", "--no-instructions"])
            .output()
            .map_err(|e| format!("run initdb: {e}"))?;
        check("initdb", &out)?;
        // A port that was free a moment ago may be taken by a parallel test: try a few.
        let mut last = String::new();
        for _ in 0..5 {
            pg.port = free_port()?;
            match pg.pg_ctl_start() {
                Ok(()) => return Ok(pg),
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    /// The port the server listens on (127.0.0.1).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// A connection URL for `database`.
    pub fn url(&self, database: &str) -> String {
        format!("postgres://{USER}@127.0.0.1:{}/{database}", self.port)
    }

    /// Creates an empty database and returns its URL.
    pub fn create_database(&self, name: &str) -> Result<String, String> {
        let out = self
            .command("createdb")
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string(), "-U", USER, name])
            .output()
            .map_err(|e| format!("run createdb: {e}"))?;
        check("createdb", &out)?;
        Ok(self.url(name))
    }

    /// Runs one SQL text through `psql` against `database`, returning its unaligned output.
    pub fn psql(&self, database: &str, sql: &str) -> Result<String, String> {
        let out = self
            .command("psql")
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string(), "-U", USER])
            .args(["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d", database, "-c", sql])
            .output()
            .map_err(|e| format!("run psql: {e}"))?;
        check("psql", &out)?;
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// Stops the server at once, as a crash would (`-m immediate`).
    pub fn stop(&self) -> Result<(), String> {
        let out = self
            .command("pg_ctl")
            .arg("-D")
            .arg(self.data_dir())
            .args(["-m", "immediate", "-w", "stop"])
            .output()
            .map_err(|e| format!("run pg_ctl: {e}"))?;
        check("pg_ctl stop", &out)
    }

    /// Starts a stopped server again on the same port.
    pub fn restart(&self) -> Result<(), String> {
        self.pg_ctl_start()
    }

    /// Restarts the server serving TLS with this certificate and key (PEM); plain connections
    /// are still accepted, as a server's default `pg_hba.conf` does.
    pub fn enable_tls(&self, cert_pem: &[u8], key_pem: &[u8]) -> Result<(), String> {
        let (cert, key) = (self.dir.join("server.crt"), self.dir.join("server.key"));
        std::fs::write(&cert, cert_pem).map_err(|e| format!("write certificate: {e}"))?;
        std::fs::write(&key, key_pem).map_err(|e| format!("write key: {e}"))?;
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600))
            .map_err(|e| format!("chmod key: {e}"))?;
        if let Some(user) = &self.run_as {
            let out = Command::new("chown")
                .arg(format!("{user}:"))
                .args([&cert, &key])
                .output()
                .map_err(|e| format!("chown: {e}"))?;
            check("chown", &out)?;
        }
        if let Ok(mut settings) = self.settings.lock() {
            settings.push("ssl=on".to_string());
            settings.push(format!("ssl_cert_file={}", cert.display()));
            settings.push(format!("ssl_key_file={}", key.display()));
        }
        self.stop()?;
        self.pg_ctl_start()
    }

    fn pg_ctl_start(&self) -> Result<(), String> {
        let mut options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200",
            self.port,
            self.dir.display()
        );
        for setting in self.settings.lock().map(|s| s.clone()).unwrap_or_default() {
            options.push_str(" -c ");
            options.push_str(&setting);
        }
        let out = self
            .command("pg_ctl")
            .arg("-D")
            .arg(self.data_dir())
            .arg("-l")
            .arg(self.dir.join("server.log"))
            .args(["-w", "-t", "60", "-o", &options, "start"])
            .output()
            .map_err(|e| format!("run pg_ctl: {e}"))?;
        check("pg_ctl start", &out).map_err(|e| {
            let log = std::fs::read_to_string(self.dir.join("server.log")).unwrap_or_default();
            format!("{e}\nserver log:\n{log}")
        })
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.join("data")
    }

    fn command(&self, tool: &str) -> Command {
        let path = self.bin.join(tool);
        match &self.run_as {
            Some(user) => {
                let mut c = Command::new("runuser");
                c.args(["-u", user, "--"]).arg(path);
                c.current_dir(&self.dir);
                c
            }
            None => Command::new(path),
        }
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let _ = self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn check(what: &str, out: &Output) -> Result<(), String> {
    if out.status.success() {
        return Ok(());
    }
    Err(format!(
        "{what} failed ({}): {}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    ))
}

fn free_port() -> Result<u16, String> {
    let listener = TcpListener::bind("127.0.0.1:0").map_err(|e| format!("find a port: {e}"))?;
    listener.local_addr().map(|a| a.port()).map_err(|e| format!("find a port: {e}"))
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// Where `initdb` and `pg_ctl` are.
fn bin_dir() -> Result<PathBuf, String> {
    if let Some(dir) = std::env::var_os("VERANDA_PG_BIN") {
        return Ok(PathBuf::from(dir));
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let version = e.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").is_file().then_some((version, bin))
        })
        .collect();
    versions.sort();
    if let Some((_, bin)) = versions.pop() {
        return Ok(bin);
    }
    let on_path = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .find(|d| Path::new(d).join("initdb").is_file() && Path::new(d).join("pg_ctl").is_file());
    on_path.ok_or_else(|| {
        "PostgreSQL is not installed (no initdb in /usr/lib/postgresql/*/bin or PATH; \
         `apt-get install postgresql` or set VERANDA_PG_BIN)"
            .to_string()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn starts_answers_and_restarts() {
        let pg = Postgres::start().expect("start PostgreSQL");
        pg.create_database("t").expect("createdb");
        assert_eq!(pg.psql("t", "SELECT 1 + 1").expect("psql").trim(), "2");
        pg.stop().expect("stop");
        assert!(pg.psql("t", "SELECT 1").is_err(), "stopped");
        pg.restart().expect("restart");
        assert_eq!(pg.psql("t", "SELECT 40 + 2").expect("psql").trim(), "42");
    }
}
