//! Authentication: bearer tokens from a kube-apiserver style token file, and the admin
//! kubeconfig written next to the data.
//!
//! Token file format (one per line): `token,user,uid,"group1,group2"`. On first start the server
//! creates the file with one admin token.

use std::{
    collections::HashMap,
    io::Write,
    path::{Path, PathBuf},
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
        let mut tokens = Tokens::default();
        let mut first = None;
        for line in text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')) {
            let mut fields = line.splitn(4, ',');
            let (Some(token), Some(user)) = (fields.next(), fields.next()) else { continue };
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
        let admin = first.ok_or_else(|| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("{} holds no token", path.display()),
            )
        })?;
        Ok((tokens, admin))
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
}

/// Writes `DIR/kubeconfig` for the admin token, the server's URL and its CA.
pub fn write_kubeconfig(
    data_dir: &Path,
    server: &str,
    ca_pem: &[u8],
    token: &str,
) -> std::io::Result<PathBuf> {
    let path = data_dir.join("kubeconfig");
    let ca = base64(ca_pem);
    let text = format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: veranda\n  cluster:\n    server: {server}\n    certificate-authority-data: {ca}\ncontexts:\n- name: veranda\n  context:\n    cluster: veranda\n    namespace: default\n    user: veranda-admin\ncurrent-context: veranda\npreferences: {{}}\nusers:\n- name: veranda-admin\n  user:\n    token: {token}\n"
    );
    let tmp = data_dir.join(".kubeconfig.tmp");
    write_private(&tmp, text.as_bytes())?;
    std::fs::rename(&tmp, &path)?;
    Ok(path)
}

/// Writes a file readable by its owner only.
pub(crate) fn write_private(path: &Path, content: &[u8]) -> std::io::Result<()> {
    create_private(path)?.write_all(content)
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

fn create_private(path: &Path) -> std::io::Result<std::fs::File> {
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
