//! Credentials for a Git remote, in the engine's vocabulary, and the [`CredentialSource`] a
//! repository asks at each network operation (so a changed Secret is used from the next one on).

use std::fmt;

use crate::Error;

/// Credentials for a remote. `Debug` never prints the secret.
#[derive(Clone, PartialEq, Eq)]
pub enum Credentials {
    /// HTTP basic authentication.
    Basic {
        /// User name.
        username: String,
        /// Password or personal access token.
        password: String,
    },
    /// A bearer token (`Authorization: Bearer`).
    Bearer(String),
    /// An SSH private key, with the known_hosts text the server's host key is checked against.
    Ssh {
        /// The SSH user when the URL names none.
        username: Option<String>,
        /// The private key (OpenSSH or PEM text).
        private_key: String,
        /// The passphrase of an encrypted key.
        passphrase: Option<String>,
        /// known_hosts lines; `None` fails every SSH operation (no trust on first use).
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
            Credentials::Ssh { username, .. } => f
                .debug_struct("Ssh")
                .field("username", username)
                .field("private_key", &"<redacted>")
                .finish_non_exhaustive(),
        }
    }
}

/// Where a repository gets its credentials, asked before each network operation. An error's
/// message names what is missing or unusable, never a credential.
pub trait CredentialSource: Send + Sync + fmt::Debug {
    /// The current credentials.
    fn credentials(&self) -> Result<Credentials, Error>;
}
