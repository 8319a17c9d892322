//! The identity servers sharing one store all serve with: the CA that signs their serving
//! certificates and the admin token, so one kubeconfig works against any replica. The first
//! server to start puts its own; the others take it. Sealed like Secrets, with the key every
//! replica is given.

use std::time::{Duration, Instant};

use veranda_storage::ObjectTable;

use super::Vault;
use crate::{Engine, Error, backends::store_error, blocking};

/// The row's namespace and name (the table holds this one row).
const NAMESPACE: &str = "";
const NAME: &str = "server-identity";
/// How long a starting server waits for another that is putting the identity.
const LOCK_WAIT: Duration = Duration::from_secs(30);

impl Vault {
    /// The shared identity: the stored one, or `ours` when none is stored yet. `None` on a
    /// store no other server shares (each server keeps its own).
    fn shared_identity(&self, ours: &[u8]) -> Result<Option<Vec<u8>>, Error> {
        if !self.store.shared() {
            return Ok(None);
        }
        let deadline = Instant::now() + LOCK_WAIT;
        let _lock = loop {
            if let Some(lock) = self.store.try_lock(NAME).map_err(store_error)? {
                break lock;
            }
            if Instant::now() > deadline {
                return Err(Error::Unavailable(
                    "another server holds the server identity's lock".into(),
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        let stored = self
            .store
            .get_object(ObjectTable::ServerIdentity, NAMESPACE, NAME)
            .map_err(store_error)?;
        if let Some(row) = stored {
            let (plain, _) = self.keys.open(NAMESPACE, NAME, &row.object).map_err(|_| {
                Error::Internal(
                    "the store's server identity does not open with this server's secret key: \
                     give every server sharing the store the same --secret-key-file"
                        .into(),
                )
            })?;
            return Ok(Some(plain));
        }
        let sealed = self.keys.seal(NAMESPACE, NAME, ours).map_err(Error::Internal)?;
        self.store
            .put_object(ObjectTable::ServerIdentity, NAMESPACE, NAME, &mut |_| sealed.clone())
            .map_err(store_error)?;
        tracing::info!("put this server's identity in the shared store");
        Ok(Some(ours.to_vec()))
    }
}

impl Engine {
    /// What this server serves with when others share its store: the identity stored there,
    /// or `ours` if it is the first (see the module). `None` when no other server shares it.
    pub async fn shared_identity(&self, ours: Vec<u8>) -> Result<Option<Vec<u8>>, Error> {
        let vault = self.vault.clone();
        blocking(move || vault.shared_identity(&ours)).await
    }
}
