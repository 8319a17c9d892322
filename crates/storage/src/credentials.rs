//! Credentials for a Git remote, in the engine's vocabulary, and the [`CredentialSource`] a
//! repository asks at each network operation (so a changed Secret is used from the next one on).

use std::fmt;

use crate::Error;

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
    /// host key checked against `known_hosts` (see `veranda_repo`'s `auth` module).
    Ssh {
        /// The SSH user when the URL names none (`ssh://user@host/...` wins); `None` means
        /// `git`.
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

/// Where a repository gets its credentials, asked before each network operation. An error's
/// message names what is missing or unusable, never a credential.
pub trait CredentialSource: Send + Sync + fmt::Debug {
    /// The current credentials.
    fn credentials(&self) -> Result<Credentials, Error>;
}
