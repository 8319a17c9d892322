//! Registration settings of a git repository: where it lives, what to read and how to authenticate.

use std::{path::PathBuf, sync::Arc};

pub use veranda_storage::Credentials;

/// A commit author: the storage layer's [`Author`](veranda_storage::Author), under git's name.
pub use veranda_storage::Author as Signature;

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
    /// Where remotes are reached ([`UrlRewrites`](crate::UrlRewrites)): `url` is fetched and
    /// pushed at its rewritten form, while [`GitRepo::origin_url`](crate::GitRepo::origin_url)
    /// stays `url`.
    pub url_rewrites: crate::UrlRewrites,
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
            Some(source) => {
                source.credentials().map(Some).map_err(|e| crate::Error::Credentials(e.to_string()))
            }
            None => Ok(self.credentials.clone()),
        }
    }
}
