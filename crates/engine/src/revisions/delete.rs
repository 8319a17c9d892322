//! Deleting a package revision: refused while Published or referenced as an upstream; with
//! finalizers it only gets its deletion timestamp.

use std::{collections::BTreeMap, sync::Arc};

use veranda_api::{Lifecycle, types::PackageRevision};

use crate::{Engine, Error, Kind, build, reconcile::Updates, time};

impl Engine {
    /// Deletes a package revision (Published ones must be proposed for deletion first).
    pub async fn delete_package_revision(
        &self,
        namespace: &str,
        name: &str,
    ) -> Result<Arc<PackageRevision>, Error> {
        let _busy = self.lock_revision(namespace, name).await?;
        let (key, _) = self.find(namespace, name)?;
        let (repo, write) = self.repo_handles(&key)?;
        let _write = write.lock().await;
        self.ensure_indexed(&key).await?;
        let (_, rev) = self.find(namespace, name)?;
        if build::lifecycle(&rev.discovered) == Lifecycle::Published {
            return Err(Error::Forbidden {
                kind: Kind::PackageRevision,
                name: name.to_string(),
                message: "published PackageRevisions must be proposed for deletion by setting spec.lifecycle to 'DeletionProposed' prior to deletion"
                    .into(),
            });
        }
        let mut referencing: Vec<String> = self
            .referencing(namespace, [name])
            .iter()
            .filter(|pr| pr.spec.revision != -1 && references_upstream(pr, name))
            .map(|pr| pr.metadata.name.clone())
            .collect();
        referencing.sort_unstable();
        if !referencing.is_empty() {
            return Err(Error::Forbidden {
                kind: Kind::PackageRevision,
                name: name.to_string(),
                message: format!(
                    "cannot delete package revision, it is referenced as upstream by: {}",
                    referencing.join(", ")
                ),
            });
        }
        if !rev.meta.finalizers.is_empty() {
            let mut meta = rev.meta.clone();
            if meta.deletion_timestamp.is_none() {
                meta.deletion_timestamp = Some(time::now());
                self.reconcile(
                    &key,
                    Updates {
                        meta: BTreeMap::from([(name.to_string(), meta)]),
                        ..Updates::default()
                    },
                )
                .await?;
            }
            return self.get_package_revision(namespace, name);
        }
        repo.delete(&rev.discovered).await?;
        self.index_after_write(&key, Updates::default()).await;
        Ok(rev.object.clone())
    }
}

/// Whether a `clone` or `upgrade` task of `pr` names `name` as its (new) upstream.
pub(crate) fn references_upstream(pr: &PackageRevision, name: &str) -> bool {
    pr.spec.tasks.iter().any(|t| {
        t.clone
            .as_ref()
            .and_then(|c| c.upstream_ref.upstream_ref.as_ref())
            .is_some_and(|r| r.name == name)
            || t.upgrade.as_ref().is_some_and(|u| u.new_upstream_ref.name == name)
    })
}
