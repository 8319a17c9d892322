//! One identity for every server on a shared store: the CA that signs serving (and client)
//! certificates and the admin token are the same on every replica, so a kubeconfig written by
//! one works against any other, and behind a load balancer. The first server puts its own in
//! the store ([`veranda_engine::Engine::shared_identity`], sealed with the secret key); the
//! others write it into their data directory before they serve, where the rest of start-up
//! reads it as a single server's.

use std::path::Path;

use serde::{Deserialize, Serialize};
use veranda_engine::Engine;

use crate::{auth, tls};

#[derive(Serialize, Deserialize, PartialEq, Eq)]
struct Identity {
    ca_cert: String,
    ca_key: String,
    admin_token: String,
}

/// Makes this data directory hold the shared identity (a no-op on a store of its own).
pub(crate) async fn adopt(engine: &Engine, data_dir: &Path) -> Result<(), String> {
    let (ca_cert, ca_key) = tls::ca_pems(data_dir)?;
    let (_, admin_token) =
        auth::Tokens::load_or_create(data_dir).map_err(|e| format!("load tokens: {e}"))?;
    let ours = Identity { ca_cert, ca_key, admin_token };
    let bytes = serde_json::to_vec(&ours).map_err(|e| e.to_string())?;
    let shared = match engine.shared_identity(bytes).await {
        Ok(None) => return Ok(()),
        Ok(Some(shared)) => shared,
        Err(e) => return Err(format!("the shared server identity: {e}")),
    };
    let shared: Identity = serde_json::from_slice(&shared)
        .map_err(|_| "the store's server identity is not readable".to_string())?;
    if shared == ours {
        return Ok(());
    }
    if (&shared.ca_cert, &shared.ca_key) != (&ours.ca_cert, &ours.ca_key) {
        tls::replace_ca(data_dir, &shared.ca_cert, &shared.ca_key)?;
    }
    if shared.admin_token != ours.admin_token {
        auth::replace_admin_token(data_dir, &shared.admin_token)
            .map_err(|e| format!("write the shared admin token: {e}"))?;
    }
    tracing::info!("serving with the identity the other servers of this store share");
    Ok(())
}
