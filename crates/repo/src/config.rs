//! Registration settings of a git repository: where it lives, what to read and how to authenticate.

use std::{fmt, path::PathBuf, sync::Arc};

/// Credentials for the remote. `Debug` never prints the secret.
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
    /// A local path to a bare repository, a `file://` URL or an `http(s)://` URL.
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
}

impl From<veranda_storage::Credentials> for Credentials {
    fn from(c: veranda_storage::Credentials) -> Credentials {
        match c {
            veranda_storage::Credentials::Basic { username, password } => {
                Credentials::Basic { username, password }
            }
            veranda_storage::Credentials::Bearer(token) => Credentials::Bearer(token),
        }
    }
}

impl GitConfig {
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
