//! Garbage collection of dependents, as the Kubernetes garbage collector does it for objects
//! whose `metadata.ownerReferences` name a deleted owner (background propagation): once an
//! owner (a PackageRevision, a PorchPackage or a Repository) is gone, every package revision
//! that names its uid is deleted, and so on down the chain. A dependent that cannot be deleted
//! (a Published revision must be proposed for deletion first) stays and is logged, as the
//! collector would keep retrying it. `propagationPolicy: Orphan` on the owner's deletion skips
//! all of this (the caller does not start it).

use std::{collections::BTreeSet, sync::Arc};

use crate::Engine;

/// Dependents deleted for one owner at most (a bound on a runaway chain).
const MAX_DEPENDENTS: usize = 10_000;

impl Engine {
    /// Deletes, in the background, the package revisions whose ownerReferences name `owner_uid`,
    /// and theirs in turn.
    pub fn collect_dependents(self: &Arc<Self>, owner_uid: String) {
        if owner_uid.is_empty() {
            return;
        }
        let engine = self.clone();
        tokio::spawn(async move { engine.collect(owner_uid).await });
    }

    async fn collect(&self, owner_uid: String) {
        let mut owners = vec![owner_uid];
        let mut seen = BTreeSet::new();
        while let Some(owner) = owners.pop() {
            if !seen.insert(owner.clone()) || seen.len() > MAX_DEPENDENTS {
                continue;
            }
            for (namespace, name) in self.dependents_of(&owner) {
                match self.delete_package_revision(&namespace, &name).await {
                    Ok(deleted) => owners.push(deleted.metadata.uid.clone()),
                    Err(e) => tracing::warn!(
                        %namespace, %name, owner = %owner,
                        "cannot delete a dependent of a deleted owner: {e}"
                    ),
                }
            }
        }
    }

    /// (namespace, name) of every package revision with an ownerReference to `uid`.
    fn dependents_of(&self, uid: &str) -> Vec<(String, String)> {
        let state = self.read();
        let mut found = Vec::new();
        for ((namespace, _), entry) in &state.repos {
            for name in entry.links.owned_by(uid) {
                if let Some(rev) = entry.revisions.get(name)
                    && rev.meta.owner_references.iter().any(|r| r.uid == uid)
                {
                    found.push((namespace.clone(), rev.object.metadata.name.clone()));
                }
            }
        }
        found
    }
}
