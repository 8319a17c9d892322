//! Registration settings of a git repository: where it lives, what to read and how to authenticate.

use std::{fmt, path::PathBuf, sync::Arc};

/// Credentials for the remote. `Debug` never prints the secret, and no error of this crate
/// contains one.
///
/// Built from Kubernetes Secrets as Porch reads them: `kubernetes.io/basic-auth` (`username`,
/// `password`) → [`Credentials::Basic`]; an `Opaque` Secret with `bearerToken` →
/// [`Credentials::Bearer`]; `kubernetes.io/ssh-auth` (`ssh-privatekey`, plus `known_hosts` in the
/// same Secret as Flux has it) → [`Credentials::Ssh`]. Values are the decoded Secret data, as
/// text.
#[derive(Clone, PartialEq, Eq)]
pub enum Credentials {
    /// HTTP basic authentication, answered through libgit2's credential callback.
    Basic {
        /// User name.
        username: String,
        /// Password or personal access token.
        password: String,
    },
    /// A bearer token, sent as an `Authorization: Bearer` header on every request.
    Bearer(String),
    /// An SSH key for `ssh://` and scp-like (`user@host:path`) URLs, answered through libgit2's
    /// credential callback from memory (the key is never written to disk), with the server's
    /// host key checked against `known_hosts` (see [`crate::auth`]).
    Ssh {
        /// The SSH user when the URL names none (`ssh://user@host/...` wins); `None` means
        /// [`DEFAULT_SSH_USER`](crate::auth::DEFAULT_SSH_USER) (`git`).
        username: Option<String>,
        /// The private key as text: an OpenSSH (`-----BEGIN OPENSSH PRIVATE KEY-----`) or PEM
        /// (`-----BEGIN RSA/EC PRIVATE KEY-----`, PKCS#8) key, i.e. the `ssh-privatekey` value of a
        /// `kubernetes.io/ssh-auth` Secret.
        private_key: String,
        /// The passphrase of an encrypted key.
        passphrase: Option<String>,
        /// known_hosts text in OpenSSH's format (`host[,host2] keytype base64`, `[host]:port` for
        /// a port other than 22, hashed `|1|salt|hash` entries, `#` comments, `@revoked`), e.g.
        /// the output of `ssh-keyscan`; list every key of the server, since the one it presents
        /// may be of any of its types. `None` fails every SSH operation: host keys are never
        /// trusted on first use.
        known_hosts: Option<String>,
    },
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Credentials::Basic { username, .. } => f
                .debug_struct("Basic")
                .field("username", username)
                .field("password", &"<redacted>")
                .finish(),
            Credentials::Bearer(_) => f.debug_tuple("Bearer").field(&"<redacted>").finish(),
            Credentials::Ssh { username, passphrase, known_hosts, .. } => f
                .debug_struct("Ssh")
                .field("username", username)
                .field("private_key", &"<redacted>")
                .field("passphrase", &passphrase.as_ref().map(|_| "<redacted>"))
                .field("known_hosts", &known_hosts.as_ref().map(|k| k.lines().count()))
                .finish(),
        }
    }
}

/// A commit author.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Signature {
    /// Display name.
    pub name: String,
    /// Email address.
    pub email: String,
}

/// Everything needed to open one registered repository.
#[derive(Clone, Debug)]
pub struct GitConfig {
    /// A local path to a bare repository, a `file://` URL, an `http(s)://` URL, or an SSH URL
    /// (`ssh://[user@]host[:port]/path` or scp-like `[user@]host:path`).
    pub url: String,
    /// The registered branch, e.g. `main`.
    pub branch: String,
    /// Sub-directory holding the packages, trimmed of `/`; empty for the repository root.
    pub directory: String,
    /// Create the branch with an initial commit when the remote lacks it.
    pub create_branch: bool,
    /// Directory of this registration's bare cache repository, created if absent.
    pub cache_dir: PathBuf,
    /// Credentials for the remote, if it needs any.
    pub credentials: Option<Credentials>,
    /// Asked for credentials before each network operation instead of `credentials`.
    pub credential_source: Option<Arc<dyn veranda_storage::CredentialSource>>,
    /// Author of the commits this repository writes; Porch's service identity if `None`.
    pub author: Option<Signature>,
    /// PEM certificates (one or more `-----BEGIN CERTIFICATE-----` blocks, the `ca.crt` of
    /// Porch's `<namespace>-ca-bundle` Secret) trusted for this repository's HTTPS remote
    /// instead of the system's trust store, for fetch, push and reads of upstream packages
    /// (see [`crate::auth`]). Not a secret; `None` uses the system's trust store.
    pub ca_bundle: Option<String>,
}

/// What one network operation authenticates with, resolved when it starts.
pub(crate) struct Resolved<'a> {
    credentials: Option<Credentials>,
    ca_bundle: Option<&'a str>,
}

impl Resolved<'_> {
    pub(crate) fn auth(&self) -> crate::auth::Auth<'_> {
        crate::auth::Auth { credentials: self.credentials.as_ref(), ca_bundle: self.ca_bundle }
    }
}

impl From<veranda_storage::Credentials> for Credentials {
    fn from(c: veranda_storage::Credentials) -> Credentials {
        match c {
            veranda_storage::Credentials::Basic { username, password } => {
                Credentials::Basic { username, password }
            }
            veranda_storage::Credentials::Bearer(token) => Credentials::Bearer(token),
            veranda_storage::Credentials::Ssh {
                username,
                private_key,
                passphrase,
                known_hosts,
            } => Credentials::Ssh { username, private_key, passphrase, known_hosts },
        }
    }
}

impl GitConfig {
    /// The credentials and CA bundle for the next network operation.
    pub(crate) fn resolved(&self) -> Result<Resolved<'_>, crate::Error> {
        Ok(Resolved {
            credentials: self.current_credentials()?,
            ca_bundle: self.ca_bundle.as_deref(),
        })
    }

    /// The credentials for the next network operation: the source's current answer, else the
    /// fixed ones.
    pub(crate) fn current_credentials(&self) -> Result<Option<Credentials>, crate::Error> {
        match &self.credential_source {
            Some(source) => source
                .credentials()
                .map(|c| Some(c.into()))
                .map_err(|e| crate::Error::Credentials(e.to_string())),
            None => Ok(self.credentials.clone()),
        }
    }
}
