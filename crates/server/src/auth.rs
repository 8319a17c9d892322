//! Authentication: bearer tokens from a kube-apiserver style token file, and the admin
//! kubeconfig written next to the data.
//!
//! Token file format (one per line): `token,user,uid,"group1,group2"`. On first start the server
//! creates the file with one admin token; the server re-reads it when it changes
//! ([`TokenFile`]), and [`lockout`] limits failed attempts per source address.

pub(crate) mod lockout;

use std::{
    collections::HashMap,
    io::Write,
    path::{Path, PathBuf},
    sync::{Arc, Mutex, RwLock},
    time::Duration,
};

/// An authenticated user.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct User {
    /// The user name, as RBAC subjects of kind `User` name it.
    pub name: String,
    /// The user's groups, `system:authenticated` included.
    pub groups: Vec<String>,
}

/// Known tokens.
#[derive(Clone, Debug, Default)]
pub struct Tokens {
    by_token: HashMap<String, User>,
}

impl Tokens {
    /// Loads `tokens.csv` from the data directory, creating it with an admin token if absent.
    /// Returns the tokens and the admin token (the first entry).
    pub fn load_or_create(data_dir: &Path) -> std::io::Result<(Tokens, String)> {
        let path = token_file(data_dir);
        if !path.exists() {
            let token = uuid::Uuid::new_v4().simple().to_string()
                + &uuid::Uuid::new_v4().simple().to_string();
            let mut file = create_private(&path)?;
            writeln!(file, "{token},admin,admin,\"system:masters\"")?;
        }
        let text = std::fs::read_to_string(&path)?;
        let (tokens, first) = Tokens::parse(&text);
        let admin = first.ok_or_else(|| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("{} holds no token", path.display()),
            )
        })?;
        Ok((tokens, admin))
    }

    /// Parses a token file; also returns its first token (the admin's).
    fn parse(text: &str) -> (Tokens, Option<String>) {
        let mut tokens = Tokens::default();
        let mut first = None;
        for line in text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')) {
            let mut fields = line.splitn(4, ',');
            let (Some(token), Some(user)) = (fields.next(), fields.next()) else { continue };
            let (token, user) = (token.trim(), user.trim());
            if token.is_empty() || user.is_empty() {
                continue;
            }
            let _uid = fields.next();
            let mut groups: Vec<String> = fields
                .next()
                .map(|g| {
                    g.trim_matches('"')
                        .split(',')
                        .map(|s| s.trim().to_string())
                        .filter(|s| !s.is_empty())
                        .collect()
                })
                .unwrap_or_default();
            // Every authenticated user is in `system:authenticated`, as in the kube-apiserver.
            if !groups.iter().any(|g| g == veranda_api::rbac::SYSTEM_AUTHENTICATED) {
                groups.push(veranda_api::rbac::SYSTEM_AUTHENTICATED.into());
            }
            first.get_or_insert_with(|| token.to_string());
            tokens.by_token.insert(token.to_string(), User { name: user.to_string(), groups });
        }
        (tokens, first)
    }

    /// The user of an `Authorization` header value, if the token is known.
    pub fn authenticate(&self, authorization: Option<&str>) -> Option<&User> {
        let token = authorization?.strip_prefix("Bearer ")?.trim();
        // Compare against every token without early exit on the first byte mismatch.
        self.by_token
            .iter()
            .find(|(known, _)| constant_time_eq(known.as_bytes(), token.as_bytes()))
            .map(|(_, u)| u)
    }

    /// How many tokens there are.
    pub fn len(&self) -> usize {
        self.by_token.len()
    }

    /// Whether there is none.
    pub fn is_empty(&self) -> bool {
        self.by_token.is_empty()
    }
}

/// The token file as the server uses it: re-read when it changes, so a token added works and a
/// token removed stops working within [`RELOAD_INTERVAL`], without a restart.
pub(crate) struct TokenFile {
    path: Option<PathBuf>,
    current: RwLock<Arc<Tokens>>,
    /// What the file looked like when last read (modification time, length, inode).
    seen: Mutex<Option<Stamp>>,
}

/// How often the server looks at the token file.
pub(crate) const RELOAD_INTERVAL: Duration = Duration::from_secs(1);

type Stamp = (Option<std::time::SystemTime>, u64, u64);

impl TokenFile {
    /// Tokens that never change (tests).
    #[cfg(test)]
    pub(crate) fn fixed(tokens: Tokens) -> TokenFile {
        TokenFile { path: None, current: RwLock::new(Arc::new(tokens)), seen: Mutex::new(None) }
    }

    /// The tokens of `DIR/tokens.csv`, as just loaded.
    pub(crate) fn watching(data_dir: &Path, tokens: Tokens) -> TokenFile {
        let path = token_file(data_dir);
        let seen = stamp(&path);
        TokenFile {
            path: Some(path),
            current: RwLock::new(Arc::new(tokens)),
            seen: Mutex::new(seen),
        }
    }

    /// The user of an `Authorization` header value, if the token is known now.
    pub(crate) fn authenticate(&self, authorization: Option<&str>) -> Option<User> {
        let tokens = self.current.read().unwrap_or_else(|e| e.into_inner()).clone();
        tokens.authenticate(authorization).cloned()
    }

    /// Re-reads the file if it changed. A file emptied or removed revokes every token; one
    /// that cannot be read for another reason keeps the tokens in force (logged). Blocks
    /// (file I/O).
    pub(crate) fn reload_if_changed(&self) {
        let Some(path) = &self.path else { return };
        let now = stamp(path);
        {
            let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
            if *seen == now {
                return;
            }
            *seen = now;
        }
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(e) => {
                tracing::warn!(path = %path.display(), "cannot read the token file; keeping the tokens in force: {e}");
                return;
            }
        };
        let (tokens, _) = Tokens::parse(&text);
        if tokens.is_empty() {
            tracing::warn!(path = %path.display(), "the token file holds no token: every token is revoked");
        } else {
            tracing::info!(path = %path.display(), tokens = tokens.len(), "token file reloaded");
        }
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(tokens);
    }
}

fn stamp(path: &Path) -> Option<Stamp> {
    let meta = std::fs::metadata(path).ok()?;
    #[cfg(unix)]
    let inode = std::os::unix::fs::MetadataExt::ino(&meta);
    #[cfg(not(unix))]
    let inode = 0;
    Some((meta.modified().ok(), meta.len(), inode))
}

/// How a kubeconfig's user authenticates.
pub enum Credential<'a> {
    /// A bearer token.
    Token(&'a str),
    /// A client certificate and its key (PEM).
    Certificate { cert_pem: &'a [u8], key_pem: &'a [u8] },
}

/// A kubeconfig for `user` at `server`, trusting `ca_pem` (`None`: the system's roots).
pub fn kubeconfig(
    server: &str,
    ca_pem: Option<&[u8]>,
    user: &str,
    credential: &Credential<'_>,
) -> String {
    let trust = match ca_pem {
        Some(ca) => format!("    certificate-authority-data: {}\n", base64(ca)),
        None => String::new(),
    };
    let secret = match credential {
        Credential::Token(token) => format!("    token: {token}\n"),
        Credential::Certificate { cert_pem, key_pem } => format!(
            "    client-certificate-data: {}\n    client-key-data: {}\n",
            base64(cert_pem),
            base64(key_pem)
        ),
    };
    format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: veranda\n  cluster:\n    server: {server}\n{trust}contexts:\n- name: veranda\n  context:\n    cluster: veranda\n    namespace: default\n    user: {user}\ncurrent-context: veranda\npreferences: {{}}\nusers:\n- name: {user}\n  user:\n{secret}"
    )
}

/// Writes `DIR/kubeconfig` for the admin, the server's URL and its CA.
pub fn write_kubeconfig(
    data_dir: &Path,
    server: &str,
    ca_pem: Option<&[u8]>,
    credential: &Credential<'_>,
) -> std::io::Result<PathBuf> {
    let path = data_dir.join("kubeconfig");
    let text = kubeconfig(server, ca_pem, "veranda-admin", credential);
    let tmp = data_dir.join(".kubeconfig.tmp");
    write_private(&tmp, text.as_bytes())?;
    std::fs::rename(&tmp, &path)?;
    Ok(path)
}

/// Writes a file readable by its owner only.
pub(crate) fn write_private(path: &Path, content: &[u8]) -> std::io::Result<()> {
    create_private(path)?.write_all(content)
}

/// Writes `content` to `path` (mode 0600) as one step: a reader sees the old file or the new.
pub(crate) fn replace_private(path: &Path, content: &[u8]) -> std::io::Result<()> {
    let mut temporary = path.as_os_str().to_owned();
    temporary.push(".tmp");
    let temporary = PathBuf::from(temporary);
    let mut file = create_private(&temporary)?;
    file.write_all(content)?;
    file.sync_all()?;
    std::fs::rename(&temporary, path)
}

/// Makes `token` the admin token of the data directory's token file (its first entry), keeping
/// every other entry.
pub(crate) fn replace_admin_token(data_dir: &Path, token: &str) -> std::io::Result<()> {
    if token.len() < 32 || !token.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "the shared admin token is not a token",
        ));
    }
    let path = token_file(data_dir);
    let text = std::fs::read_to_string(&path).unwrap_or_default();
    let mut out = format!("{token},admin,admin,\"system:masters\"\n");
    let mut replaced = false;
    for line in text.lines() {
        let entry = !line.trim().is_empty() && !line.trim_start().starts_with('#');
        if entry && !replaced {
            replaced = true;
            continue;
        }
        out.push_str(line);
        out.push('\n');
    }
    replace_private(&path, out.as_bytes())
}

fn base64(bytes: &[u8]) -> String {
    const TABLE: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(TABLE[(n >> (18 - 6 * i)) as usize & 63] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn token_file(data_dir: &Path) -> PathBuf {
    data_dir.join("tokens.csv")
}

pub(crate) fn create_private(path: &Path) -> std::io::Result<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path)
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
