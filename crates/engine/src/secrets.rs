//! Core v1 Secrets: CRUD with kube-apiserver's validation, sealed at rest ([`cipher`]), and the
//! Git credentials a Repository's `secretRef` names.
//!
//! [`Vault`] is the synchronous core over the store (it runs on blocking threads, including
//! inside a Git operation when the Git backend asks for credentials); the `Engine` methods are its
//! async face. Secrets publish no watch events, and no message here carries a value.

pub(crate) mod cipher;
mod credentials;
mod identity;

use std::sync::Arc;

use veranda_api::secret::Secret;
use veranda_storage::{ObjectRow, ObjectTable, Store};

use crate::{Engine, Error, Kind, backends::store_error, blocking, time};

pub use cipher::SecretKeys;
pub(crate) use credentials::{SecretCredentials, check_url_has_no_credentials};

/// Secrets in the store, sealed with the engine's keys.
pub(crate) struct Vault {
    store: Arc<dyn Store>,
    keys: SecretKeys,
}

impl Vault {
    pub(crate) fn new(store: Arc<dyn Store>, keys: SecretKeys) -> Vault {
        Vault { store, keys }
    }

    /// Secrets in `namespace` (all when None), ordered by namespace and name. A row that does not
    /// open fails the whole list: a Secret is never silently dropped.
    fn list(&self, namespace: Option<&str>) -> Result<Vec<Secret>, Error> {
        let rows = self.store.list_objects(ObjectTable::Secrets).map_err(store_error)?;
        rows.iter()
            .filter(|row| namespace.is_none_or(|ns| ns == row.namespace))
            .map(|row| self.open(row))
            .collect()
    }

    /// One Secret, or None.
    pub(crate) fn get(&self, namespace: &str, name: &str) -> Result<Option<Secret>, Error> {
        let row =
            self.store.get_object(ObjectTable::Secrets, namespace, name).map_err(store_error)?;
        row.as_ref().map(|row| self.open(row)).transpose()
    }

    fn put(&self, namespace: &str, name: &str, mut secret: Secret) -> Result<Secret, Error> {
        secret.metadata.resource_version.clear();
        let plain = serde_json::to_vec(&secret)
            .map_err(|e| Error::Internal(format!("encode secret: {e}")))?;
        let sealed = self.keys.seal(namespace, name, &plain).map_err(Error::Internal)?;
        let row = self
            .store
            .put_object(ObjectTable::Secrets, namespace, name, &mut |_| sealed.clone())
            .map_err(store_error)?;
        secret.metadata.resource_version = row.resource_version.to_string();
        Ok(secret)
    }

    fn delete(&self, namespace: &str, name: &str) -> Result<bool, Error> {
        self.store.delete_object(ObjectTable::Secrets, namespace, name).map_err(store_error)
    }

    /// Re-seals with the current key every Secret only the previous key opens (after a key
    /// rotation); returns how many. A row no key opens is left alone and reported in the log.
    pub(crate) fn reseal_previous(&self) -> Result<usize, Error> {
        let rows = self.store.list_objects(ObjectTable::Secrets).map_err(store_error)?;
        let mut count = 0;
        for row in rows {
            match self.keys.open(&row.namespace, &row.name, &row.object) {
                Ok((plain, cipher::OpenedWith::Previous)) => {
                    let sealed = self
                        .keys
                        .seal(&row.namespace, &row.name, &plain)
                        .map_err(Error::Internal)?;
                    self.store
                        .put_object(ObjectTable::Secrets, &row.namespace, &row.name, &mut |_| {
                            sealed.clone()
                        })
                        .map_err(store_error)?;
                    count += 1;
                }
                Ok((_, cipher::OpenedWith::Current)) => {}
                Err(e) => {
                    tracing::error!(namespace = %row.namespace, name = %row.name, "secret: {e}")
                }
            }
        }
        Ok(count)
    }

    fn open(&self, row: &ObjectRow) -> Result<Secret, Error> {
        let unreadable = |reason: String| {
            Error::Internal(format!(
                "secret {}/{} is unreadable: {reason}",
                row.namespace, row.name
            ))
        };
        let (plain, _) =
            self.keys.open(&row.namespace, &row.name, &row.object).map_err(unreadable)?;
        let mut secret: Secret = serde_json::from_slice(&plain)
            .map_err(|_| unreadable("not a Secret after decryption".into()))?;
        secret.metadata.resource_version = row.resource_version.to_string();
        Ok(secret)
    }
}

fn invalid(name: &str, e: veranda_api::secret::FieldError) -> Error {
    Error::invalid(Kind::Secret, name, &e.field, e.message)
}

impl Engine {
    async fn vault<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Vault) -> Result<T, Error> + Send + 'static,
    ) -> Result<T, Error> {
        let vault = self.vault.clone();
        blocking(move || f(&vault)).await
    }

    /// The credentials of Secret `namespace`/`name`, read whenever asked.
    pub(crate) fn secret_credentials(&self, namespace: &str, name: &str) -> SecretCredentials {
        SecretCredentials {
            vault: self.vault.clone(),
            namespace: namespace.to_string(),
            name: name.to_string(),
        }
    }

    /// The CA bundle of `namespace`: key `ca.crt` of its Secret `<namespace>-ca-bundle`, as
    /// Porch reads it, trusted for HTTPS remotes instead of the system's certificates.
    pub(crate) fn ca_bundle(&self, namespace: &str) -> Option<String> {
        let name = format!("{namespace}-ca-bundle");
        match self.vault.get(namespace, &name) {
            Ok(Some(secret)) => secret.value("ca.crt").and_then(|pem| String::from_utf8(pem).ok()),
            Ok(None) => None,
            Err(e) => {
                tracing::warn!(namespace, secret = %name, "cannot read the CA bundle: {e}");
                None
            }
        }
    }

    /// Secrets in `namespace` (all namespaces when None).
    pub async fn list_secrets(&self, namespace: Option<&str>) -> Result<Vec<Secret>, Error> {
        let namespace = namespace.map(str::to_string);
        self.vault(move |v| v.list(namespace.as_deref())).await
    }

    /// One Secret.
    pub async fn get_secret(&self, namespace: &str, name: &str) -> Result<Secret, Error> {
        let (ns, n) = (namespace.to_string(), name.to_string());
        self.vault(move |v| v.get(&ns, &n))
            .await?
            .ok_or_else(|| Error::not_found(Kind::Secret, name))
    }

    /// Creates a Secret (`stringData` merged into `data`).
    pub async fn create_secret(
        &self,
        namespace: &str,
        mut secret: Secret,
    ) -> Result<Secret, Error> {
        let name = secret.metadata.name.clone();
        secret.normalize();
        secret.validate().map_err(|e| invalid(&name, e))?;
        let _busy = self
            .try_lock(crate::LockKey::secret(namespace, &name), || {
                format!("another request is already in progress on secret \"{namespace}/{name}\"")
            })
            .await?;
        let metadata = &mut secret.metadata;
        metadata.namespace = namespace.to_string();
        metadata.uid = random_uid()?;
        metadata.creation_timestamp = Some(time::now());
        metadata.generation = 0;
        metadata.deletion_timestamp = None;
        let (ns, n) = (namespace.to_string(), name.clone());
        self.vault(move |v| {
            if v.get(&ns, &n)?.is_some() {
                return Err(Error::AlreadyExists { kind: Kind::Secret, name: n, message: None });
            }
            v.put(&ns, &n, secret)
        })
        .await
    }

    /// Replaces a Secret (the resourceVersion, when given, must be current).
    pub async fn update_secret(
        &self,
        namespace: &str,
        name: &str,
        mut secret: Secret,
    ) -> Result<Secret, Error> {
        if secret.metadata.name.is_empty() {
            secret.metadata.name = name.to_string();
        }
        if secret.metadata.name != name {
            return Err(Error::invalid(Kind::Secret, name, "metadata.name", "field is immutable"));
        }
        secret.normalize();
        let _busy = self
            .try_lock(crate::LockKey::secret(namespace, name), || {
                format!("another request is already in progress on secret \"{namespace}/{name}\"")
            })
            .await?;
        let (ns, n) = (namespace.to_string(), name.to_string());
        self.vault(move |v| {
            let current = v.get(&ns, &n)?.ok_or_else(|| Error::not_found(Kind::Secret, &n))?;
            let requested = &secret.metadata.resource_version;
            if !requested.is_empty() && *requested != current.metadata.resource_version {
                return Err(Error::stale());
            }
            secret.validate_update(&current).map_err(|e| invalid(&n, e))?;
            let metadata = &mut secret.metadata;
            metadata.namespace = ns.clone();
            metadata.uid = current.metadata.uid.clone();
            metadata.creation_timestamp = current.metadata.creation_timestamp.clone();
            if secret == current {
                return Ok(current);
            }
            v.put(&ns, &n, secret)
        })
        .await
    }

    /// Deletes a Secret; returns it as it was.
    pub async fn delete_secret(&self, namespace: &str, name: &str) -> Result<Secret, Error> {
        let _busy = self
            .try_lock(crate::LockKey::secret(namespace, name), || {
                format!("another request is already in progress on secret \"{namespace}/{name}\"")
            })
            .await?;
        let (ns, n) = (namespace.to_string(), name.to_string());
        self.vault(move |v| {
            let current = v.get(&ns, &n)?.ok_or_else(|| Error::not_found(Kind::Secret, &n))?;
            v.delete(&ns, &n)?;
            Ok(current)
        })
        .await
    }
}

/// A random (version 4) UID.
pub(crate) fn random_uid() -> Result<String, Error> {
    let mut b = [0u8; 16];
    openssl::rand::rand_bytes(&mut b).map_err(|e| Error::Internal(format!("random uid: {e}")))?;
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    Ok(format!("{}-{}-{}-{}-{}", &hex[0..8], &hex[8..12], &hex[12..16], &hex[16..20], &hex[20..32]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(current: &str, previous: Option<&str>) -> SecretKeys {
        SecretKeys::from_files(current.as_bytes(), previous.map(str::as_bytes)).expect("keys")
    }

    #[test]
    fn rotation_reseals_and_a_wrong_key_fails_closed() {
        let store: Arc<dyn Store> = Arc::new(veranda_storage::memory::MemoryStore::default());
        let (old, new) = (
            SecretKeys::generate_key_file().expect("key"),
            SecretKeys::generate_key_file().expect("key"),
        );
        let mut secret = Secret::default();
        secret.metadata.name = "s".into();
        secret.string_data.insert("password".into(), "hunter2".into());
        secret.normalize();
        let before = Vault::new(store.clone(), keys(&old, None));
        before.put("ns", "s", secret.clone()).expect("put");
        let raw = store.list_objects(ObjectTable::Secrets).expect("list");
        assert!(!raw[0].object.contains("hunter2") && !raw[0].object.contains("aHVudGVyMg"));

        let wrong = Vault::new(store.clone(), keys(&new, None));
        let err = wrong.get("ns", "s").expect_err("a wrong key must not open").to_string();
        assert!(!err.contains("hunter2"), "{err}");
        assert!(wrong.list(None).is_err(), "a list fails rather than dropping a secret");

        let rotated = Vault::new(store.clone(), keys(&new, Some(&old)));
        assert_eq!(rotated.reseal_previous().expect("reseal"), 1);
        assert_eq!(rotated.reseal_previous().expect("reseal"), 0);
        let after = Vault::new(store, keys(&new, None));
        let opened = after.get("ns", "s").expect("get").expect("present");
        assert_eq!(opened.value("password").as_deref(), Some(&b"hunter2"[..]));
    }
}
