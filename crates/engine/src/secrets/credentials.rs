//! A Repository's `secretRef` as Git credentials, read at each Git operation, and the refusal
//! of credentials written into URLs.

use std::sync::Arc;

use veranda_api::secret::{BASIC_AUTH, SSH_AUTH, Secret};
use veranda_storage::{CredentialSource, Credentials, ErrorKind};

use super::Vault;

/// The Secret `namespace`/`name`, read whenever the repository asks.
pub(crate) struct SecretCredentials {
    pub(crate) vault: Arc<Vault>,
    pub(crate) namespace: String,
    pub(crate) name: String,
}

impl std::fmt::Debug for SecretCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SecretCredentials({}/{})", self.namespace, self.name)
    }
}

impl SecretCredentials {
    /// The credentials, or why there are none: a message naming the Secret, never its values.
    pub(crate) fn resolve(&self) -> Result<Credentials, String> {
        let (ns, name) = (&self.namespace, &self.name);
        let secret = match self.vault.get(ns, name) {
            Ok(Some(secret)) => secret,
            Ok(None) => return Err(format!("secret \"{ns}/{name}\" not found")),
            Err(e) => return Err(format!("secret \"{ns}/{name}\" cannot be read: {e}")),
        };
        from_secret(&secret).map_err(|e| format!("secret \"{ns}/{name}\": {e}"))
    }
}

impl CredentialSource for SecretCredentials {
    fn credentials(&self) -> Result<Credentials, veranda_storage::Error> {
        self.resolve().map_err(|e| veranda_storage::Error::new(ErrorKind::Other, e))
    }
}

/// Porch's reading of a Secret: `kubernetes.io/basic-auth` (or any Secret with `username` or
/// `password`) is HTTP basic authentication; a `bearerToken` key is a bearer token;
/// `kubernetes.io/ssh-auth` is an SSH key (`ssh-privatekey`) with the server's host keys in
/// `known_hosts` (as Flux's Git Secrets have them), an optional `username` and `passphrase`.
pub(crate) fn from_secret(secret: &Secret) -> Result<Credentials, String> {
    let text = |key: &str| -> Result<Option<String>, String> {
        match secret.value(key) {
            None => Ok(None),
            Some(bytes) => String::from_utf8(bytes)
                .map(Some)
                .map_err(|_| format!("key {key:?} is not valid UTF-8")),
        }
    };
    if secret.secret_type == SSH_AUTH {
        let Some(private_key) = text("ssh-privatekey")? else {
            return Err(format!("type {SSH_AUTH} needs key ssh-privatekey"));
        };
        let Some(known_hosts) = text("known_hosts")? else {
            return Err(format!(
                "type {SSH_AUTH} needs key known_hosts with the server's host keys (ssh-keyscan HOST): host keys are never trusted on first use"
            ));
        };
        return Ok(Credentials::Ssh {
            username: text("username")?,
            private_key,
            passphrase: text("passphrase")?,
            known_hosts: Some(known_hosts),
        });
    }
    if secret.secret_type != BASIC_AUTH
        && let Some(token) = text("bearerToken")?
    {
        return Ok(Credentials::Bearer(token));
    }
    let (username, password) = (text("username")?, text("password")?);
    if secret.secret_type == BASIC_AUTH || username.is_some() || password.is_some() {
        return Ok(Credentials::Basic {
            username: username.unwrap_or_default(),
            password: password.unwrap_or_default(),
        });
    }
    Err(format!(
        "type {:?} with no usable keys: use type {BASIC_AUTH} (username, password) or key bearerToken",
        secret.secret_type
    ))
}

/// Refuses a URL with credentials in it (`https://user:pass@host/...`); the message never
/// repeats the URL.
pub(crate) fn check_url_has_no_credentials(url: &str) -> Result<(), String> {
    let Some((scheme, rest)) = url.split_once("://") else { return Ok(()) };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let Some((userinfo, _)) = authority.rsplit_once('@') else { return Ok(()) };
    let scheme = scheme.to_ascii_lowercase();
    // ssh://git@host names a user, which SSH needs; a password there is still refused.
    if scheme.starts_with("http") || userinfo.contains(':') {
        return Err(
            "credentials in the URL are not allowed: store them in a Secret and reference it with secretRef"
                .into(),
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret(secret_type: &str, keys: &[(&str, &str)]) -> Secret {
        let mut s = Secret {
            secret_type: secret_type.into(),
            string_data: keys.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            ..Default::default()
        };
        s.normalize();
        s
    }

    #[test]
    fn maps_secrets_as_porch_does() {
        let basic =
            |u: &str, p: &str| Credentials::Basic { username: u.into(), password: p.into() };
        assert_eq!(
            from_secret(&secret(BASIC_AUTH, &[("username", "u"), ("password", "p")])),
            Ok(basic("u", "p"))
        );
        assert_eq!(from_secret(&secret(BASIC_AUTH, &[("password", "p")])), Ok(basic("", "p")));
        assert_eq!(
            from_secret(&secret("Opaque", &[("username", "u"), ("password", "p")])),
            Ok(basic("u", "p"))
        );
        assert_eq!(
            from_secret(&secret("Opaque", &[("bearerToken", "t")])),
            Ok(Credentials::Bearer("t".into()))
        );
        let err = from_secret(&secret("Opaque", &[("other", "hunter2")])).unwrap_err();
        assert!(err.contains("no usable keys") && !err.contains("hunter2"), "{err}");
    }

    #[test]
    fn urls_with_credentials_are_refused_without_echoing_them() {
        for url in
            ["https://u:hunter2@host/r.git", "http://token@host/r", "ssh://git:hunter2@host/r"]
        {
            let err = check_url_has_no_credentials(url).unwrap_err();
            assert!(err.contains("secretRef") && !err.contains("hunter2"), "{err}");
        }
        for url in [
            "https://host/r.git",
            "ssh://git@host/r",
            "git@host:r.git",
            "/srv/r.git",
            "https://host/a@b",
        ] {
            assert!(check_url_has_no_credentials(url).is_ok(), "{url}");
        }
    }
}
