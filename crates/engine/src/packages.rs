//! Packages (kind PorchPackage): the set of revisions sharing a package path in a repository,
//! plus registered packages that have no revision yet.

use std::collections::BTreeMap;

use veranda_api::{
    ObjectMeta, names,
    types::{PackageSpec, PackageStatus, PorchPackage},
};
use veranda_storage::{ObjectTable, RefKind};

use crate::{Engine, Error, Kind, backends::store_error, build, reconcile::Updates, time};

impl Engine {
    /// Packages in `namespace` (all namespaces when None), ordered by namespace and name.
    pub fn list_packages(&self, namespace: Option<&str>) -> Result<Vec<PorchPackage>, Error> {
        let mut packages: BTreeMap<(String, String), PorchPackage> = BTreeMap::new();
        // FIXME: a synchronous store read on the caller's (async) thread.
        let rows =
            self.store.blocking().list_objects(ObjectTable::Packages).map_err(store_error)?;
        for row in rows {
            if namespace.is_some_and(|n| n != row.namespace) {
                continue;
            }
            if let Ok(mut package) = serde_json::from_str::<PorchPackage>(&row.object) {
                package.metadata.resource_version = row.resource_version.to_string();
                packages.insert((row.namespace, row.name), package);
            }
        }
        let state = self.read();
        for ((ns, repo), entry) in &state.repos {
            if namespace.is_some_and(|n| n != ns) {
                continue;
            }
            for rev in entry.revisions.values() {
                let d = &rev.discovered;
                let name = names::package_object_name(repo, &d.package);
                let rv: i64 = rev.object.metadata.resource_version.parse().unwrap_or(0);
                let package =
                    packages.entry((ns.clone(), name.clone())).or_insert_with(|| PorchPackage {
                        api_version: veranda_api::PORCH_API_VERSION.into(),
                        kind: "PorchPackage".into(),
                        metadata: ObjectMeta {
                            uid: names::package_uid(ns, &name),
                            name,
                            namespace: ns.clone(),
                            creation_timestamp: rev.meta.creation_timestamp.clone(),
                            resource_version: "0".into(),
                            ..ObjectMeta::default()
                        },
                        spec: PackageSpec {
                            package_name: d.package.clone(),
                            repository: repo.clone(),
                        },
                        status: PackageStatus::default(),
                    });
                let current_rv: i64 = package.metadata.resource_version.parse().unwrap_or(0);
                package.metadata.resource_version = current_rv.max(rv).to_string();
                if build::lifecycle(d).is_published() && d.revision > package.status.latest_revision
                {
                    package.status.latest_revision = d.revision;
                }
            }
        }
        Ok(packages.into_values().collect())
    }

    /// One package.
    pub fn get_package(&self, namespace: &str, name: &str) -> Result<PorchPackage, Error> {
        self.list_packages(Some(namespace))?
            .into_iter()
            .find(|p| p.metadata.name == name)
            .ok_or_else(|| Error::not_found(Kind::Package, name))
    }

    /// Registers an empty package; a first `init` or `clone` revision may then fill it.
    pub async fn create_package(
        &self,
        namespace: &str,
        mut package: PorchPackage,
    ) -> Result<PorchPackage, Error> {
        let spec = &package.spec;
        let shown = package.metadata.name.clone();
        let invalid =
            |field: &str, message: String| Error::invalid(Kind::Package, &shown, field, message);
        if spec.repository.is_empty() {
            return Err(invalid("spec.repository", "Required value".into()));
        }
        names::check_package_path(&spec.package_name).map_err(|e| {
            invalid("spec.packageName", format!("Invalid value: {:?}: {e}", spec.package_name))
        })?;
        let name = names::package_object_name(&spec.repository, &spec.package_name);
        if !package.metadata.name.is_empty() && package.metadata.name != name {
            return Err(invalid(
                "metadata.name",
                format!(
                    "Invalid value: {:?}: the name of a package is generated; expected {name:?}",
                    package.metadata.name
                ),
            ));
        }
        self.get_repository(namespace, &spec.repository)?;
        let _busy = self
            .try_lock(
                crate::LockKey::creation(namespace, &spec.repository, &spec.package_name),
                || format!("another request is already in progress to create package {name:?}"),
            )
            .await?;
        if self.get_package(namespace, &name).is_ok() {
            return Err(Error::AlreadyExists { kind: Kind::Package, name, message: None });
        }
        package.api_version = veranda_api::PORCH_API_VERSION.into();
        package.kind = "PorchPackage".into();
        package.metadata = ObjectMeta {
            uid: names::package_uid(namespace, &name),
            name: name.clone(),
            namespace: namespace.to_string(),
            creation_timestamp: Some(time::now()),
            labels: package.metadata.labels,
            annotations: package.metadata.annotations,
            ..ObjectMeta::default()
        };
        package.status = PackageStatus::default();
        let row = self
            .store
            .put_object(ObjectTable::Packages, namespace.to_string(), name, move |rv| {
                package.metadata.resource_version = rv.to_string();
                serde_json::to_string(&package).unwrap_or_default()
            })
            .await?;
        serde_json::from_str(&row.object).map_err(|e| Error::Internal(e.to_string()))
    }

    /// Deletes a package with all of its revisions: draft and proposed branches, tags,
    /// deletion proposals and the package directory on the registered branch.
    pub async fn delete_package(&self, namespace: &str, name: &str) -> Result<PorchPackage, Error> {
        let package = self.get_package(namespace, name)?;
        let key = (namespace.to_string(), package.spec.repository.clone());
        let _busy = self
            .try_lock(
                crate::LockKey::creation(namespace, &key.1, &package.spec.package_name),
                || format!("another request is already in progress on package {name:?}"),
            )
            .await?;
        let revisions: Vec<_> = {
            let state = self.read();
            state
                .repos
                .get(&key)
                .map(|e| {
                    e.revisions
                        .values()
                        .filter(|r| r.discovered.package == package.spec.package_name)
                        .cloned()
                        .collect()
                })
                .unwrap_or_default()
        };
        self.check_package_deletable(namespace, name, &revisions)?;
        let mut busy = Vec::with_capacity(revisions.len());
        for r in &revisions {
            busy.push(self.lock_revision(namespace, &r.object.metadata.name).await?);
        }
        if !revisions.is_empty() {
            let (repo, write) = self.repo_handles(&key)?;
            let _write = write.lock().await;
            self.ensure_indexed(&key).await?;
            let discovered = revisions.iter().map(|r| r.discovered.clone()).collect();
            repo.delete_package(package.spec.package_name.clone(), discovered).await?;
            self.index_after_write(&key, Updates::default()).await;
        }
        drop(busy);
        self.store
            .delete_object(ObjectTable::Packages, namespace.to_string(), name.to_string())
            .await?;
        Ok(package)
    }

    /// The rules of deleting each revision (`delete_package_revision`) applied to a whole package:
    /// refused while a revision is Published and not DeletionProposed, or while a revision of
    /// another package names one of them as its upstream. The placeholder (revision -1) mirrors
    /// the registered branch and needs no proposal of its own when the package has published
    /// revisions; a package that exists only on the branch needs its placeholder proposed.
    fn check_package_deletable(
        &self,
        namespace: &str,
        name: &str,
        revisions: &[std::sync::Arc<crate::Rev>],
    ) -> Result<(), Error> {
        let has_tags = revisions.iter().any(|r| r.discovered.kind == RefKind::Tag);
        let mut published: Vec<&str> = revisions
            .iter()
            .filter(|r| build::lifecycle(&r.discovered) == veranda_api::Lifecycle::Published)
            .filter(|r| !(has_tags && r.discovered.kind == RefKind::Branch))
            .map(|r| r.object.metadata.name.as_str())
            .collect();
        published.sort_unstable();
        if !published.is_empty() {
            return Err(Error::Forbidden {
                kind: Kind::Package,
                name: name.to_string(),
                message: format!(
                    "cannot delete package: published PackageRevisions must be proposed for deletion by setting spec.lifecycle to 'DeletionProposed' first: {}",
                    published.join(", ")
                ),
            });
        }
        let own: std::collections::BTreeSet<&str> =
            revisions.iter().map(|r| r.object.metadata.name.as_str()).collect();
        let mut referencing = Vec::new();
        for pr in self.referencing(namespace, own.iter().copied()) {
            if pr.spec.revision != -1
                && !own.contains(pr.metadata.name.as_str())
                && let Some(o) = own.iter().find(|o| crate::revisions::references_upstream(&pr, o))
            {
                referencing.push(format!("{o} (upstream of {})", pr.metadata.name));
            }
        }
        referencing.sort_unstable();
        if !referencing.is_empty() {
            return Err(Error::Forbidden {
                kind: Kind::Package,
                name: name.to_string(),
                message: format!(
                    "cannot delete package, its revisions are referenced as upstream: {}",
                    referencing.join(", ")
                ),
            });
        }
        Ok(())
    }

    /// Refuses package updates: a package is defined by its revisions.
    pub fn update_package(&self) -> Result<PorchPackage, Error> {
        Err(Error::MethodNotAllowed(
            "packages cannot be updated; change their package revisions instead".into(),
        ))
    }
}
