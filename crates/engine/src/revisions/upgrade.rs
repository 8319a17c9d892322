//! The `upgrade` task: a local revision moved from its old upstream to a new one.

use std::sync::Arc;

use veranda_api::types::UpgradeTask;
use veranda_kpt::Files;
use veranda_storage::Modes;

use super::create::NewRevision;
use crate::{Engine, Error, Kind, RepoKey, Rev, blocking, build};

impl Engine {
    /// The merged files of an `upgrade` task: `local` moved from `old` to `new` upstream.
    pub(super) async fn upgrade_files(
        &self,
        new: &NewRevision,
        upgrade: &UpgradeTask,
    ) -> Result<(Files, Modes), Error> {
        let strategy = veranda_kpt::Strategy::parse(&upgrade.strategy).map_err(|_| {
            new.invalid(
                "spec.tasks[0].upgrade.strategy",
                format!(
                    "Unsupported value: {:?}: supported values: \"resource-merge\", \"fast-forward\", \"force-delete-replace\", \"copy-merge\"",
                    upgrade.strategy
                ),
            )
        })?;
        let sources = self.upgrade_sources(new, upgrade)?;
        let mut contents = Vec::new();
        for (source_key, source) in &sources {
            let (repo, _) = self.repo_handles(source_key)?;
            let origin = repo.origin_url();
            let (files, modes) = repo.read_files(&source.discovered).await?;
            contents.push((files, origin, modes));
        }
        let new_upstream = &sources[1].1.discovered;
        let lock = veranda_kpt::GitLock {
            repo: contents[1].1.clone(),
            directory: new_upstream.package.clone(),
            reference: new_upstream.ref_name.clone(),
            commit: new_upstream.commit.clone(),
        };
        let (original, updated, local_files) =
            (contents[0].0.clone(), contents[1].0.clone(), contents[2].0.clone());
        let merged = blocking(move || {
            veranda_kpt::upgrade(strategy, &original, &updated, &local_files).map_err(|e| {
                Error::Invalid {
                    kind: Kind::PackageRevision,
                    name: String::new(),
                    field: "spec.tasks[0].upgrade".into(),
                    message: format!("upgrade failed: {e}"),
                }
            })
        })
        .await;
        let mut merged = merged.map_err(|e| match e {
            Error::Invalid { kind, field, message, .. } => {
                Error::Invalid { kind, name: new.shown.clone(), field, message }
            }
            other => other,
        })?;
        let kptfile = merged.get(veranda_kpt::KPTFILE).ok_or_else(|| {
            new.invalid("spec.tasks[0].upgrade", "the merged package has no Kptfile".into())
        })?;
        let updated_kptfile = veranda_kpt::set_upstream(kptfile, None, &lock)
            .map_err(|e| new.invalid("spec.tasks[0].upgrade", format!("merged Kptfile: {e}")))?;
        merged.insert(veranda_kpt::KPTFILE.to_string(), updated_kptfile);
        // Modes of kept paths: the local revision's, else the new upstream's.
        let mut modes = contents[1].2.clone();
        modes.extend(contents[2].2.clone());
        Ok((merged, modes))
    }

    /// The old upstream, new upstream and local revisions of an `upgrade` task, checked: all
    /// published, only the old one may be a placeholder, the local one of `new`'s package.
    fn upgrade_sources(
        &self,
        new: &NewRevision,
        upgrade: &UpgradeTask,
    ) -> Result<Vec<(RepoKey, Arc<Rev>)>, Error> {
        let mut sources = Vec::new();
        for (field, reference, may_be_placeholder) in [
            ("oldUpstreamRef", &upgrade.old_upstream_ref, true),
            ("newUpstreamRef", &upgrade.new_upstream_ref, false),
            ("localPackageRevisionRef", &upgrade.local_package_revision_ref, false),
        ] {
            let field = format!("spec.tasks[0].upgrade.{field}.name");
            if reference.name.is_empty() {
                return Err(new.invalid(&field, "Required value".into()));
            }
            let (source_key, source) =
                self.find(new.namespace(), &reference.name).map_err(|_| {
                    new.invalid(&field, format!("package revision {:?} not found", reference.name))
                })?;
            let lifecycle = build::lifecycle(&source.discovered);
            if !lifecycle.is_published() {
                return Err(new.invalid(
                    &field,
                    format!(
                        "all source PackageRevisions of upgrade task must be published, {:?} is not (it is {lifecycle})",
                        reference.name
                    ),
                ));
            }
            if !may_be_placeholder && source.discovered.revision == -1 {
                return Err(new.invalid(
                    &field,
                    format!("{:?} may not be the placeholder package revision", reference.name),
                ));
            }
            sources.push((source_key, source));
        }
        let (local_key, local) = &sources[2];
        if *local_key != new.key || local.discovered.package != new.package {
            return Err(new.invalid(
                "spec.tasks[0].upgrade.localPackageRevisionRef.name",
                format!(
                    "the local revision must be a revision of package {:?} in repository {:?}",
                    new.package, new.key.1
                ),
            ));
        }
        Ok(sources)
    }
}
