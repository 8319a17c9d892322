//! Reading a kubeconfig: which file, which context, and what it says about the server and the
//! user (the subset of client-go's loading rules a veranda or Kubernetes kubeconfig uses).

use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, anyhow, bail};
use base64::Engine as _;
use serde::Deserialize;

/// The largest kubeconfig read (a kubeconfig is a few kilobytes).
const MAX_KUBECONFIG_BYTES: u64 = 4 << 20;

/// Where the server is and who we are to it.
#[derive(Clone, Debug)]
pub struct Target {
    /// `https://host:port` or `http://host:port`, with an optional path prefix.
    pub server: String,
    /// PEM certificates to trust instead of the system's.
    pub ca_pem: Option<Vec<u8>>,
    pub insecure_skip_tls_verify: bool,
    pub tls_server_name: Option<String>,
    pub credentials: Credentials,
    /// The context's namespace, if it names one.
    pub namespace: Option<String>,
    /// The kubeconfig file read (for error messages).
    pub source: PathBuf,
}

#[derive(Clone, Default)]
pub struct Credentials {
    pub token: Option<String>,
    pub basic: Option<(String, String)>,
    /// PEM client certificate (chain) and key.
    pub client_cert: Option<(Vec<u8>, Vec<u8>)>,
}

impl std::fmt::Debug for Credentials {
    // Never prints a secret.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("basic", &self.basic.as_ref().map(|(u, _)| u))
            .field("client_cert", &self.client_cert.is_some())
            .finish()
    }
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
struct KubeConfig {
    #[serde(default)]
    clusters: Vec<Named<Cluster>>,
    #[serde(default)]
    contexts: Vec<Named<Context>>,
    #[serde(default)]
    users: Vec<Named<User>>,
    #[serde(default)]
    current_context: Option<String>,
}

#[derive(Deserialize)]
struct Named<T> {
    name: String,
    #[serde(alias = "cluster", alias = "context", alias = "user")]
    value: Option<T>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
struct Cluster {
    server: Option<String>,
    certificate_authority: Option<String>,
    certificate_authority_data: Option<String>,
    #[serde(default)]
    insecure_skip_tls_verify: bool,
    tls_server_name: Option<String>,
}

#[derive(Deserialize, Default)]
struct Context {
    cluster: Option<String>,
    user: Option<String>,
    namespace: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
struct User {
    token: Option<String>,
    token_file: Option<String>,
    username: Option<String>,
    password: Option<String>,
    client_certificate: Option<String>,
    client_certificate_data: Option<String>,
    client_key: Option<String>,
    client_key_data: Option<String>,
    exec: Option<serde_yaml::Value>,
    auth_provider: Option<serde_yaml::Value>,
}

/// The kubeconfig file to read: `--kubeconfig`, else the first existing file of `$KUBECONFIG`,
/// else `~/.kube/config`, else the data directory a local `veranda serve` writes.
pub fn locate(explicit: Option<&Path>) -> Result<PathBuf> {
    if let Some(path) = explicit {
        return Ok(path.to_path_buf());
    }
    let mut tried = Vec::new();
    if let Some(list) = std::env::var_os("KUBECONFIG").filter(|v| !v.is_empty()) {
        for path in std::env::split_paths(&list) {
            if path.is_file() {
                return Ok(path);
            }
            tried.push(path);
        }
    }
    if let Some(home) = std::env::var_os("HOME") {
        let path = Path::new(&home).join(".kube/config");
        if path.is_file() {
            return Ok(path);
        }
        tried.push(path);
    }
    let local = PathBuf::from("veranda-data/kubeconfig");
    if local.is_file() {
        return Ok(local);
    }
    tried.push(local);
    let tried: Vec<String> = tried.iter().map(|p| p.display().to_string()).collect();
    bail!(
        "no kubeconfig found (looked at {}); start a server with `veranda serve` in this \
         directory, or pass --kubeconfig FILE or set KUBECONFIG",
        tried.join(", ")
    )
}

/// Reads `path` and resolves `context` (or the current context).
pub fn load(path: &Path, context: Option<&str>) -> Result<Target> {
    let text = read_limited(path).with_context(|| format!("read kubeconfig {}", path.display()))?;
    let config: KubeConfig = serde_yaml::from_slice(&text)
        .with_context(|| format!("parse kubeconfig {}", path.display()))?;
    let base = path.parent().unwrap_or(Path::new("."));
    resolve(&config, context, base).map(|mut t| {
        t.source = path.to_path_buf();
        t
    })
}

fn resolve(config: &KubeConfig, context: Option<&str>, base: &Path) -> Result<Target> {
    let name = context
        .map(str::to_string)
        .or_else(|| config.current_context.clone().filter(|c| !c.is_empty()))
        .or_else(|| (config.contexts.len() == 1).then(|| config.contexts[0].name.clone()))
        .ok_or_else(|| anyhow!("the kubeconfig has no current-context; pass --context"))?;
    let ctx = find(&config.contexts, &name)
        .ok_or_else(|| anyhow!("context {name:?} not found in the kubeconfig"))?;
    let cluster_name = ctx.cluster.clone().unwrap_or_default();
    let cluster = find(&config.clusters, &cluster_name)
        .ok_or_else(|| anyhow!("cluster {cluster_name:?} of context {name:?} not found"))?;
    let server = cluster
        .server
        .clone()
        .filter(|s| !s.is_empty())
        .ok_or_else(|| anyhow!("cluster {cluster_name:?} has no server"))?;
    let ca_pem = match (&cluster.certificate_authority_data, &cluster.certificate_authority) {
        (Some(data), _) if !data.is_empty() => Some(decode(data, "certificate-authority-data")?),
        (_, Some(file)) if !file.is_empty() => Some(read_file(base, file)?),
        _ => None,
    };
    let user = match ctx.user.as_deref() {
        Some(u) if !u.is_empty() => {
            find(&config.users, u).ok_or_else(|| anyhow!("user {u:?} not found"))?
        }
        _ => &User::default(),
    };
    if user.exec.is_some() || user.auth_provider.is_some() {
        bail!(
            "user {:?} authenticates with an exec or auth-provider plugin, which veranda's \
             client does not run; use a token or a client certificate",
            ctx.user.as_deref().unwrap_or_default()
        );
    }
    let mut credentials = Credentials::default();
    if let Some(token) = user.token.clone().filter(|t| !t.is_empty()) {
        credentials.token = Some(token);
    } else if let Some(file) = user.token_file.as_deref().filter(|f| !f.is_empty()) {
        let bytes = read_file(base, file)?;
        credentials.token = Some(String::from_utf8_lossy(&bytes).trim().to_string());
    }
    if let (Some(u), Some(p)) = (&user.username, &user.password) {
        credentials.basic = Some((u.clone(), p.clone()));
    }
    let cert = pem_field(base, &user.client_certificate_data, &user.client_certificate, "cert")?;
    let key = pem_field(base, &user.client_key_data, &user.client_key, "key")?;
    match (cert, key) {
        (Some(cert), Some(key)) => credentials.client_cert = Some((cert, key)),
        (None, None) => {}
        _ => bail!(
            "the kubeconfig user has a client certificate without a key, or a key without one"
        ),
    }
    Ok(Target {
        server: server.trim_end_matches('/').to_string(),
        ca_pem,
        insecure_skip_tls_verify: cluster.insecure_skip_tls_verify,
        tls_server_name: cluster.tls_server_name.clone().filter(|s| !s.is_empty()),
        credentials,
        namespace: ctx.namespace.clone().filter(|n| !n.is_empty()),
        source: PathBuf::new(),
    })
}

fn find<'a, T>(items: &'a [Named<T>], name: &str) -> Option<&'a T> {
    items.iter().find(|i| i.name == name).and_then(|i| i.value.as_ref())
}

fn pem_field(
    base: &Path,
    data: &Option<String>,
    file: &Option<String>,
    what: &str,
) -> Result<Option<Vec<u8>>> {
    match (data, file) {
        (Some(d), _) if !d.is_empty() => Ok(Some(decode(d, &format!("client-{what}-data"))?)),
        (_, Some(f)) if !f.is_empty() => Ok(Some(read_file(base, f)?)),
        _ => Ok(None),
    }
}

fn decode(data: &str, field: &str) -> Result<Vec<u8>> {
    let compact: String = data.chars().filter(|c| !c.is_whitespace()).collect();
    base64::engine::general_purpose::STANDARD
        .decode(compact)
        .map_err(|e| anyhow!("the kubeconfig's {field} is not base64: {e}"))
}

fn read_file(base: &Path, file: &str) -> Result<Vec<u8>> {
    let path = base.join(file);
    read_limited(&path).with_context(|| format!("read {}", path.display()))
}

fn read_limited(path: &Path) -> Result<Vec<u8>> {
    use std::io::Read as _;
    let file = std::fs::File::open(path)?;
    let mut bytes = Vec::new();
    file.take(MAX_KUBECONFIG_BYTES + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > MAX_KUBECONFIG_BYTES {
        bail!("larger than {MAX_KUBECONFIG_BYTES} bytes");
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_the_current_context_and_a_token() {
        let text = "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: https://127.0.0.1:7007/\n    certificate-authority-data: aGVsbG8=\ncontexts:\n- name: x\n  context:\n    cluster: c\n    user: u\n    namespace: team\ncurrent-context: x\nusers:\n- name: u\n  user:\n    token: abc\n";
        let config: KubeConfig = serde_yaml::from_str(text).expect("parse");
        let target = resolve(&config, None, Path::new(".")).expect("resolve");
        assert_eq!(target.server, "https://127.0.0.1:7007");
        assert_eq!(target.ca_pem.as_deref(), Some(&b"hello"[..]));
        assert_eq!(target.credentials.token.as_deref(), Some("abc"));
        assert_eq!(target.namespace.as_deref(), Some("team"));
        assert!(format!("{:?}", target.credentials).contains("redacted"));
        assert!(!format!("{:?}", target.credentials).contains("abc"));
        let missing = resolve(&config, Some("nope"), Path::new(".")).expect_err("no context");
        assert!(missing.to_string().contains("\"nope\" not found"));
    }
}
