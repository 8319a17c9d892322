//! The files of a package revision as `PackageRevisionResources`: get, list, and the update of a
//! Draft's files; which files the resources map shows and which it keeps hidden.

use veranda_api::{
    Lifecycle, names,
    types::{
        PackageRevision, PackageRevisionResources, PackageRevisionResourcesSpec, RenderStatus,
    },
};
use veranda_kpt::Files;
use veranda_storage::{Content, EntryMode, Modes};

use super::{RevisionFilter, render_content};
use crate::{
    Engine, Error, Kind, blocking, build, reconcile::Updates, repositories::check_resource_version,
};

impl Engine {
    /// The files of a package revision.
    pub async fn get_resources(
        &self,
        namespace: &str,
        name: &str,
    ) -> Result<PackageRevisionResources, Error> {
        let (key, rev) = self.find(namespace, name)?;
        let (repo, _) = self.repo_handles(&key)?;
        let (files, modes) = repo.read_files(&rev.discovered).await?;
        Ok(resources_object(&rev.object, files, &modes))
    }

    /// Files of every revision passing `filter`.
    pub async fn list_resources(
        &self,
        namespace: Option<&str>,
        filter: &RevisionFilter,
    ) -> Result<Vec<PackageRevisionResources>, Error> {
        let mut out = Vec::new();
        for pr in self.list_package_revisions(namespace, filter) {
            match self.get_resources(&pr.metadata.namespace, &pr.metadata.name).await {
                Ok(prr) => out.push(prr),
                Err(Error::NotFound { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    }

    /// Replaces the files of a Draft package revision.
    pub async fn update_resources(
        &self,
        namespace: &str,
        name: &str,
        prr: PackageRevisionResources,
    ) -> Result<PackageRevisionResources, Error> {
        let _busy = self.try_lock(crate::LockKey::revision(namespace, name), || {
            format!("another request is already in progress on package revision resources \"{namespace}/{name}\"")
        }).await?;
        let invalid = |field: &str, message: String| {
            Error::invalid(Kind::PackageRevisionResources, name, field, message)
        };
        for path in prr.spec.resources.keys() {
            names::check_resource_path(path).map_err(|e| {
                invalid(&format!("spec.resources[{path}]"), format!("Invalid value: {e}"))
            })?;
        }
        if !prr.spec.resources.contains_key(veranda_kpt::KPTFILE) {
            return Err(invalid(
                "spec.resources",
                "Required value: package must contain Kptfile at root".into(),
            ));
        }
        let (key, _) = self.find(namespace, name)?;
        let (repo, write) = self.repo_handles(&key)?;
        let _write = write.lock().await;
        self.ensure_indexed(&key).await?;
        let (_, rev) = self.find(namespace, name)?;
        self.ensure_current(namespace, &rev).await?;
        if !prr.metadata.name.is_empty() && prr.metadata.name != name {
            return Err(Error::BadRequest(format!(
                "the name of the object ({}) does not match the name on the URL ({name})",
                prr.metadata.name
            )));
        }
        check_resource_version(
            Kind::PackageRevisionResources,
            &prr.metadata.resource_version,
            &rev.object.metadata.resource_version,
        )?;
        let lifecycle = build::lifecycle(&rev.discovered);
        if lifecycle != Lifecycle::Draft {
            return Err(invalid(
                "spec.lifecycle",
                format!(
                    "cannot update a package revision with lifecycle value {:?}; package must be Draft",
                    lifecycle.as_str()
                ),
            ));
        }
        let files: Files =
            prr.spec.resources.into_iter().map(|(k, v)| (k, v.into_bytes())).collect();
        let push_on_failure = rev
            .meta
            .annotations
            .get(veranda_api::PUSH_ON_RENDER_FAILURE)
            .is_some_and(|v| v == "true");
        let (previous, previous_modes) = repo.read_files(&rev.discovered).await?;
        let (content, render_status, failure) =
            self.render_update(name, previous, previous_modes, files, push_on_failure).await?;
        repo.commit_draft(&rev.discovered, content).await?;
        let mut meta = rev.meta.clone();
        super::review::note_change(&mut meta);
        let updates = Updates { meta: [(name.to_string(), meta)].into(), ..Updates::default() };
        self.index_after_write(&key, updates).await;
        if let Some(failure) = failure {
            return Err(failure);
        }
        let mut updated = self.get_resources(namespace, name).await?;
        updated.status.render_status = render_status;
        Ok(updated)
    }

    /// The content a resources update commits: `files` healed of dropped comments, rendered,
    /// with what the map cannot show kept from `previous`; its render status; and, when a
    /// failed render is pushed anyway, the error to answer with.
    async fn render_update(
        &self,
        name: &str,
        previous: Files,
        previous_modes: Modes,
        files: Files,
        push_on_failure: bool,
    ) -> Result<(Content, RenderStatus, Option<Error>), Error> {
        let functions = self.functions();
        let shown = name.to_string();
        blocking(move || {
            // Comments a client dropped (most clients round-trip YAML without them) come back
            // from the previous version of the same resource.
            // What the map cannot show is kept unless the map names its path (docs/api-resources.md).
            let (kept, modes) = resources_rule(&previous, &previous_modes, &files);
            let files = veranda_kpt::heal_comments(&previous, &files);
            let (files, status, failure) = match crate::render::render(&functions, &files) {
                Ok((rendered, status)) => (rendered, status, None),
                Err(failure) if push_on_failure => (
                    failure.files,
                    failure.status,
                    Some(crate::render::pushed_anyway(
                        Kind::PackageRevisionResources,
                        &shown,
                        &failure.error,
                    )),
                ),
                Err(failure) => {
                    return Err(crate::render::not_pushed(
                        Kind::PackageRevisionResources,
                        &shown,
                        &failure.error,
                    ));
                }
            };
            let mut files = files;
            files.extend(kept);
            Ok((render_content(files, modes), status, failure))
        })
        .await
    }
}

/// Whether the resources map can show the file at `path`: regular or executable files with UTF-8
/// content. Binary files and symlinks are hidden (submodules have no content at all).
fn shown_in_map(path: &str, content: &[u8], modes: &Modes) -> bool {
    !matches!(modes.get(path), Some(EntryMode::Symlink | EntryMode::Submodule(_)))
        && std::str::from_utf8(content).is_ok()
}

/// The rule of a resources update (docs/api-resources.md): the files of `previous` the map
/// cannot show and `update` does not name, kept byte for byte; and the modes to write: every
/// previous mode (an executable or symlink whose content the map changes stays one) except
/// submodules whose path `update` names (they become regular files).
fn resources_rule(previous: &Files, modes: &Modes, update: &Files) -> (Files, Modes) {
    let kept = previous
        .iter()
        .filter(|(path, content)| {
            !update.contains_key(*path) && !shown_in_map(path, content, modes)
        })
        .map(|(path, content)| (path.clone(), content.clone()))
        .collect();
    let modes = modes
        .iter()
        .filter(|(path, mode)| {
            !(matches!(mode, EntryMode::Submodule(_)) && update.contains_key(*path))
        })
        .map(|(path, mode)| (path.clone(), mode.clone()))
        .collect();
    (kept, modes)
}

/// `rendered` with the hidden files of `input` (binary, symlinks) back as they were: rendering
/// only rewrites YAML resources and must never drop or change them.
pub(super) fn keep_hidden(mut rendered: Files, input: &Files, modes: &Modes) -> Files {
    for (path, content) in input {
        if !shown_in_map(path, content, modes) {
            rendered.insert(path.clone(), content.clone());
        }
    }
    rendered
}

fn resources_object(pr: &PackageRevision, files: Files, modes: &Modes) -> PackageRevisionResources {
    let resources = files
        .into_iter()
        .filter(|(path, content)| shown_in_map(path, content, modes))
        .filter_map(|(path, content)| String::from_utf8(content).ok().map(|text| (path, text)))
        .collect();
    let mut metadata = pr.metadata.clone();
    metadata.owner_references.clear();
    metadata.finalizers.clear();
    PackageRevisionResources {
        api_version: veranda_api::PORCH_API_VERSION.into(),
        kind: "PackageRevisionResources".into(),
        metadata,
        spec: PackageRevisionResourcesSpec {
            package_name: pr.spec.package_name.clone(),
            workspace_name: pr.spec.workspace_name.clone(),
            revision: pr.spec.revision,
            repository: pr.spec.repository.clone(),
            resources,
        },
        status: Default::default(),
    }
}
