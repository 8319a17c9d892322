//! A small Kubernetes API client for the CLI: a kubeconfig, JSON requests, `Status` errors.

pub mod config;
mod http;

use std::fmt;
use std::path::PathBuf;

use anyhow::anyhow;
use serde_json::Value;

/// The porch.kpt.dev API the CLI drives.
pub const PORCH: &str = "/apis/porch.kpt.dev/v1alpha1";
/// Repositories.
pub const CONFIG: &str = "/apis/config.porch.kpt.dev/v1alpha1";
/// Core resources (Secrets).
pub const CORE: &str = "/api/v1";

/// The Accept header of a table request (kubectl's).
pub const ACCEPT_TABLE: &str = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json";

/// How the CLI found its server (the global flags).
#[derive(Clone, Debug, Default)]
pub struct Options {
    pub kubeconfig: Option<PathBuf>,
    pub context: Option<String>,
    pub namespace: Option<String>,
}

/// A failed request: the server's `Status`, or no answer at all.
#[derive(Debug)]
pub enum Error {
    Api(Status),
    Transport(anyhow::Error),
}

/// A Kubernetes `Status` of a failed request.
#[derive(Debug, Clone)]
pub struct Status {
    pub code: u16,
    pub message: String,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Api(status) => f.write_str(&status.message),
            Error::Transport(e) => write!(f, "{e:#}"),
        }
    }
}

impl std::error::Error for Error {}

impl Error {
    pub fn code(&self) -> Option<u16> {
        match self {
            Error::Api(s) => Some(s.code),
            Error::Transport(_) => None,
        }
    }

    pub fn is_conflict(&self) -> bool {
        self.code() == Some(409)
    }
}

pub type Result<T> = std::result::Result<T, Error>;

/// A connection to one API server as one user.
pub struct Client {
    transport: http::Transport,
    /// The namespace commands work in (`-n`, else the context's, else `default`).
    pub namespace: String,
    /// Whether `-n` (or the context) named the namespace.
    pub namespace_given: bool,
    source: PathBuf,
}

impl Client {
    pub fn connect(options: &Options) -> anyhow::Result<Client> {
        let path = config::locate(options.kubeconfig.as_deref())?;
        let target = config::load(&path, options.context.as_deref())?;
        let transport = http::Transport::new(&target)?;
        let given = options.namespace.clone().filter(|n| !n.is_empty());
        let namespace_given = given.is_some() || target.namespace.is_some();
        let namespace =
            given.or_else(|| target.namespace.clone()).unwrap_or_else(|| "default".into());
        Ok(Client { transport, namespace, namespace_given, source: target.source })
    }

    /// `GET` as JSON.
    pub fn get(&self, path: &str) -> Result<Value> {
        self.json("GET", path, None, "application/json")
    }

    /// `GET` asking for a `Table`.
    pub fn get_table(&self, path: &str) -> Result<Value> {
        self.json("GET", path, None, ACCEPT_TABLE)
    }

    pub fn create(&self, path: &str, body: &Value) -> Result<Value> {
        self.json("POST", path, Some(body), "application/json")
    }

    pub fn update(&self, path: &str, body: &Value) -> Result<Value> {
        self.json("PUT", path, Some(body), "application/json")
    }

    pub fn delete(&self, path: &str) -> Result<Value> {
        self.json("DELETE", path, None, "application/json")
    }

    /// A namespaced collection path: `{api}/namespaces/{ns}/{resource}`.
    pub fn collection(&self, api: &str, resource: &str) -> String {
        format!("{api}/namespaces/{}/{resource}", self.namespace)
    }

    /// An object path.
    pub fn object(&self, api: &str, resource: &str, name: &str) -> String {
        format!("{}/{}", self.collection(api, resource), encode(name))
    }

    fn json(&self, method: &str, path: &str, body: Option<&Value>, accept: &str) -> Result<Value> {
        let bytes = match body {
            Some(b) => Some(serde_json::to_vec(b).map_err(|e| Error::Transport(anyhow!(e)))?),
            None => None,
        };
        let response = self
            .transport
            .send(method, path, accept, bytes.as_deref().map(|b| ("application/json", b)))
            .map_err(Error::Transport)?;
        let parsed: Option<Value> = serde_json::from_slice(&response.body).ok();
        if (200..300).contains(&response.status) {
            return parsed.ok_or_else(|| {
                Error::Transport(anyhow!("the server answered {method} {path} with no JSON"))
            });
        }
        Err(Error::Api(self.status(response.status, parsed, &response.body)))
    }

    fn status(&self, code: u16, parsed: Option<Value>, body: &[u8]) -> Status {
        let from_body = parsed
            .as_ref()
            .filter(|v| v["kind"] == "Status")
            .map(|v| v["message"].as_str().unwrap_or("").to_string());
        let mut message = from_body.unwrap_or_else(|| {
            let text = String::from_utf8_lossy(body);
            text.chars().take(500).collect::<String>().trim().to_string()
        });
        match code {
            401 => {
                message = format!(
                    "the server at {} does not accept the credentials of {} (401 Unauthorized); \
                     ask its operator for a kubeconfig (`veranda user add`)",
                    self.transport.server,
                    self.source.display()
                )
            }
            _ if message.is_empty() => message = format!("the server answered HTTP {code}"),
            _ => {}
        }
        Status { code, message }
    }
}

/// Percent-encodes a path segment (names are DNS labels, but a careless argument may not be).
pub fn encode(segment: &str) -> String {
    let mut out = String::with_capacity(segment.len());
    for b in segment.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
