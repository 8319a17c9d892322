//! Creating a package revision: the request is validated into a [`NewRevision`] before any lock
//! is taken or anything is written; then, under the package and repository locks, it is checked
//! against what exists, its task's files are made and rendered, and the draft is written.

use std::{collections::BTreeMap, sync::Arc};

use veranda_api::{
    Lifecycle, ObjectMeta, names,
    types::{PackageRevision, Task},
};
use veranda_kpt::{Files, MetadataMode};
use veranda_storage::{Content, Modes, NewDraft};

use super::{resources::keep_hidden, tasks::TaskKind};
use crate::{
    Engine, Error, Kind, RepoKey, Rev,
    backends::Repo,
    blocking, build,
    reconcile::{Updates, of_package},
    time,
};

/// A create request that passed every check needing no state: what the write is made from.
pub(super) struct NewRevision {
    /// The generated name of the package revision.
    pub(super) name: String,
    /// The name errors are reported under (the package name when the request had no name).
    pub(super) shown: String,
    pub(super) key: RepoKey,
    pub(super) package: String,
    pub(super) workspace: String,
    pub(super) lifecycle: Lifecycle,
    /// The creation task (an `init` one when the request had none).
    pub(super) task: Task,
    pub(super) kind: TaskKind,
}

impl NewRevision {
    pub(super) fn invalid(&self, field: &str, message: String) -> Error {
        Error::invalid(Kind::PackageRevision, &self.shown, field, message)
    }

    pub(super) fn namespace(&self) -> &str {
        &self.key.0
    }

    /// The last segment of the package path.
    pub(super) fn short_name(&self) -> String {
        self.package.rsplit('/').next().unwrap_or(&self.package).to_string()
    }
}

impl Engine {
    /// Creates a package revision with its creation task (`init`, `clone`, `edit`, `upgrade`).
    pub async fn create_package_revision(
        &self,
        namespace: &str,
        pr: PackageRevision,
    ) -> Result<Arc<PackageRevision>, Error> {
        let new = validate(namespace, &pr)?;
        let (repo_handle, write) = self.repo_handles(&new.key)?;
        let _busy = self.try_lock(crate::LockKey::creation(namespace, &new.key.1, &new.package), || {
            format!(
                "another request is already in progress to create package revision with details namespace={namespace:?}, repository={:?}, package={:?},workspace={:?}",
                new.key.1, new.package, new.workspace
            )
        }).await?;
        let _write = write.lock().await;
        self.ensure_indexed(&new.key).await?;
        let same_package = self.check_against_existing(&new)?;
        let (files, modes) = self.creation_files(&new, &pr, &same_package).await?;
        let mut meta = ObjectMeta {
            creation_timestamp: Some(time::now()),
            ..build::stored_meta(&pr.metadata)
        };
        super::review::keep_changed_by(&mut meta, None);
        super::review::note_change(&mut meta);
        self.write_new(&new, &repo_handle, files, modes, meta).await?;
        self.get_package_revision(namespace, &new.name)
    }

    /// The checks against what exists, under the package lock; the revisions of the same package.
    fn check_against_existing(&self, new: &NewRevision) -> Result<Vec<Arc<Rev>>, Error> {
        let package = &new.package;
        let (same_package, overlapping) = {
            let state = self.read();
            let entry = state
                .repos
                .get(&new.key)
                .ok_or_else(|| Error::not_found(Kind::Repository, &new.key.1))?;
            // Ranges of the index by name, not scans: at 10,000 revisions a scan was
            // milliseconds of pointer chasing on every create.
            let (index, repository) = (&entry.revisions, new.key.1.as_str());
            let same: Vec<Arc<Rev>> =
                of_package(index, repository, package).map(|(_, r)| r.clone()).collect();
            let ancestor = ancestors(package).find_map(|outer| {
                of_package(index, repository, outer).next().map(|(_, r)| &r.discovered.package)
            });
            let prefix = format!("{}.", names::package_object_name(repository, package));
            let overlapping = ancestor
                .or_else(|| {
                    index
                        .range(prefix.clone()..)
                        .take_while(|(name, _)| name.starts_with(&prefix))
                        .map(|(_, r)| &r.discovered.package)
                        .find(|p| is_within(p, package))
                })
                .cloned();
            (same, overlapping)
        };
        if same_package.iter().any(|r| r.discovered.workspace == new.workspace) {
            return Err(Error::AlreadyExists {
                kind: Kind::PackageRevision,
                name: new.name.clone(),
                message: Some(format!(
                    "package revision workspaceNames must be unique; package revision with name {} in repo {} with workspaceName {} already exists",
                    new.package, new.key.1, new.workspace
                )),
            });
        }
        let repo = &new.key.1;
        let creates_package = new.kind.creates_package();
        if creates_package && !same_package.is_empty() {
            return Err(Error::Conflict(if new.kind == TaskKind::Clone {
                format!(
                    "`clone` cannot create a new revision for package {package:?} that already exists in repo {repo:?}; make subsequent revisions using `copy`"
                )
            } else {
                format!("package {package:?} already exists in repository {repo:?}")
            }));
        }
        if let Some(other) = overlapping.filter(|_| creates_package) {
            return Err(new.invalid(
                "spec.packageName",
                format!(
                    "package path {package:?} conflicts with existing package {other:?}: packages cannot be nested"
                ),
            ));
        }
        Ok(same_package)
    }

    /// The files of the new revision: its task's, with the requested package metadata, rendered.
    async fn creation_files(
        &self,
        new: &NewRevision,
        pr: &PackageRevision,
        same_package: &[Arc<Rev>],
    ) -> Result<(Files, Modes), Error> {
        let spec = &pr.spec;
        let (mut files, modes) = self.task_files(new, same_package).await?;
        let kptfile = files.get(veranda_kpt::KPTFILE).cloned().ok_or_else(|| {
            new.invalid("spec.tasks", "package must contain Kptfile at root".into())
        })?;
        let metadata = spec.package_metadata.clone().unwrap_or_default();
        let gates: Vec<String> =
            spec.readiness_gates.iter().flatten().map(|g| g.condition_type.clone()).collect();
        if let Some(updated) = veranda_kpt::set_package_metadata(
            &kptfile,
            &metadata.labels.unwrap_or_default(),
            &metadata.annotations.unwrap_or_default(),
            (!gates.is_empty()).then_some(gates.as_slice()),
            MetadataMode::Merge,
        )
        .map_err(|e| new.invalid("spec.tasks", e.to_string()))?
        {
            files.insert(veranda_kpt::KPTFILE.to_string(), updated);
        }

        let functions = self.functions();
        let render_modes = modes.clone();
        let files = blocking(move || {
            Ok(crate::render::render(&functions, &files)
                .map(|(rendered, status)| (keep_hidden(rendered, &files, &render_modes), status)))
        })
        .await?
        .map_err(|failure| {
            crate::render::not_pushed(Kind::PackageRevision, &new.shown, &failure.error)
        })?
        .0;
        Ok((files, modes))
    }

    /// Writes the draft and indexes it with `meta`; a failed index discards the draft again.
    async fn write_new(
        &self,
        new: &NewRevision,
        repo_handle: &Repo,
        files: Files,
        modes: Modes,
        meta: ObjectMeta,
    ) -> Result<(), Error> {
        let draft = NewDraft {
            package: new.package.clone(),
            workspace: new.workspace.clone(),
            proposed: new.lifecycle == Lifecycle::Proposed,
        };
        let content = Content {
            files,
            modes,
            headline: new.kind.headline().into(),
            task: serde_json::to_value(&new.task).ok(),
        };
        repo_handle.create_draft(draft.clone(), content).await?;

        let name = &new.name;
        let updates =
            Updates { meta: BTreeMap::from([(name.clone(), meta)]), ..Updates::default() };
        if let Err(e) = self.reconcile(&new.key, updates).await {
            // Rollback: the draft must not outlive a failed create.
            if let Err(r) = repo_handle.discard_draft(draft).await {
                tracing::error!(%name, "rollback of failed create: {r}");
            }
            let _ = self.reconcile(&new.key, Updates::default()).await;
            return Err(e);
        }
        Ok(())
    }
}

/// Every check of a create request that needs no state, in Porch's order.
fn validate(namespace: &str, pr: &PackageRevision) -> Result<NewRevision, Error> {
    let spec = &pr.spec;
    let shown = if pr.metadata.name.is_empty() {
        spec.package_name.clone()
    } else {
        pr.metadata.name.clone()
    };
    let invalid = |field: &str, message: String| {
        Error::invalid(Kind::PackageRevision, &shown, field, message)
    };
    let name = check_names(pr, &invalid)?;
    let lifecycle = spec.lifecycle.unwrap_or(Lifecycle::Draft);
    if lifecycle.is_published() {
        return Err(invalid(
            "spec.lifecycle",
            format!(
                "Unsupported value: {:?}: a package revision can only be created as Draft or Proposed",
                lifecycle.as_str()
            ),
        ));
    }
    if pr.metadata.labels.contains_key(veranda_api::LATEST_REVISION_LABEL) {
        return Err(invalid(
            &format!("metadata.labels[{}]", veranda_api::LATEST_REVISION_LABEL),
            "Forbidden: label is managed by the server and cannot be set by users".into(),
        ));
    }
    if spec.tasks.len() > 1 {
        return Err(invalid(
            "spec.tasks",
            "Too many: task list must not contain more than one task".into(),
        ));
    }
    let task = spec.tasks.first().cloned().unwrap_or_else(|| Task {
        task_type: "init".into(),
        init: Some(veranda_api::types::InitTask {
            description: format!("{} description", spec.package_name),
            ..Default::default()
        }),
        ..Default::default()
    });
    let kind = TaskKind::parse(&task.task_type).map_err(|e| invalid("spec.tasks[0].type", e))?;
    Ok(NewRevision {
        name,
        key: (namespace.to_string(), spec.repository.clone()),
        package: spec.package_name.clone(),
        workspace: spec.workspace_name.clone(),
        lifecycle,
        task,
        kind,
        shown,
    })
}

/// The checks of the repository, package and workspace names; the generated name.
fn check_names(
    pr: &PackageRevision,
    invalid: &impl Fn(&str, String) -> Error,
) -> Result<String, Error> {
    let spec = &pr.spec;
    if spec.repository.is_empty() {
        return Err(invalid(
            "spec.repository",
            "Required value: spec.repository is required".into(),
        ));
    }
    names::check_package_path(&spec.package_name).map_err(|e| {
        invalid("spec.packageName", format!("Invalid value: {:?}: {e}", spec.package_name))
    })?;
    names::check_dns1123_label(&spec.workspace_name).map_err(|e| {
        invalid("spec.workspaceName", format!("Invalid value: {:?}: {e}", spec.workspace_name))
    })?;
    let name =
        names::package_revision_name(&spec.repository, &spec.package_name, &spec.workspace_name);
    names::check_dns1123_subdomain(&name).map_err(|e| {
        invalid("metadata.name", format!("package revision kubernetes resource name invalid: {e}"))
    })?;
    if !pr.metadata.name.is_empty() && pr.metadata.name != name {
        return Err(invalid(
            "metadata.name",
            format!(
                "Invalid value: {:?}: the name of a package revision is generated from repository, package and workspace; expected {name:?}",
                pr.metadata.name
            ),
        ));
    }
    Ok(name)
}

/// Whether `inner` is strictly below `outer` in the package path tree.
/// The packages `package` would be nested in: `a` and `a/b` for `a/b/c`.
fn ancestors(package: &str) -> impl Iterator<Item = &str> {
    package.match_indices('/').map(|(at, _)| &package[..at])
}

fn is_within(inner: &str, outer: &str) -> bool {
    inner.len() > outer.len() && inner.starts_with(outer) && inner.as_bytes()[outer.len()] == b'/'
}
