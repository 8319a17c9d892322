//! Package revisions and their resources: list, get, create, update, approve, delete.

use std::{collections::BTreeMap, sync::Arc};

use veranda_api::{
    Lifecycle, ObjectMeta,
    lifecycle::Endpoint,
    names,
    types::{PackageRevision, PackageRevisionResources, PackageRevisionResourcesSpec, Task},
};
use veranda_kpt::{Files, MetadataMode};
use veranda_storage::{Content, EntryMode, Modes, NewDraft};

use crate::{
    Engine, Error, Kind, RepoKey, Rev, backends::Repo, blocking, build, reconcile::Updates,
    repositories::check_resource_version, time,
};

/// Field-selector filters of a list or watch; `None` matches everything.
#[derive(Clone, Debug, Default)]
pub struct RevisionFilter {
    pub name: Option<String>,
    pub repository: Option<String>,
    pub package: Option<String>,
    pub workspace: Option<String>,
    /// Porch treats 0 as "no filter".
    pub revision: Option<i64>,
    pub lifecycle: Option<Lifecycle>,
}

impl RevisionFilter {
    /// Whether a served object passes the filter.
    pub fn matches(&self, pr: &PackageRevision) -> bool {
        let spec = &pr.spec;
        self.name.as_ref().is_none_or(|n| *n == pr.metadata.name)
            && self.repository.as_ref().is_none_or(|r| *r == spec.repository)
            && self
                .package
                .as_ref()
                .is_none_or(|p| names::package_name_matches(p, &spec.package_name))
            && self.workspace.as_ref().is_none_or(|w| *w == spec.workspace_name)
            && self.revision.is_none_or(|r| r == 0 || r == spec.revision)
            && self.lifecycle.is_none_or(|l| Some(l) == spec.lifecycle)
    }
}

const HEADLINE_INTERMEDIATE: &str = "Intermediate commit";
const HEADLINE_RENDER: &str = "Rendering package";
const DEFAULT_DESCRIPTION: &str = "sample description";

impl Engine {
    /// Package revisions in `namespace` (all when None) that pass `filter`, ordered by name.
    pub fn list_package_revisions(
        &self,
        namespace: Option<&str>,
        filter: &RevisionFilter,
    ) -> Vec<Arc<PackageRevision>> {
        self.list_package_revisions_json(namespace, filter).into_iter().map(|(pr, _)| pr).collect()
    }

    /// Like [`Engine::list_package_revisions`], with each object's JSON (serialised once per
    /// change), so large lists are written without re-serialising.
    pub fn list_package_revisions_json(
        &self,
        namespace: Option<&str>,
        filter: &RevisionFilter,
    ) -> Vec<(Arc<PackageRevision>, Arc<str>)> {
        let repository = filter.repository.clone().or_else(|| {
            filter
                .name
                .as_deref()
                .and_then(names::parse_package_revision_name)
                .map(|p| p.repository)
        });
        let state = self.read();
        let mut out = Vec::new();
        for ((ns, repo), entry) in &state.repos {
            if namespace.is_some_and(|n| n != ns) || repository.as_ref().is_some_and(|r| r != repo)
            {
                continue;
            }
            out.extend(
                entry
                    .revisions
                    .values()
                    .filter(|r| filter.matches(&r.object))
                    .map(|r| (r.object.clone(), r.json.clone())),
            );
        }
        out
    }

    /// One package revision.
    pub fn get_package_revision(
        &self,
        namespace: &str,
        name: &str,
    ) -> Result<Arc<PackageRevision>, Error> {
        Ok(self.find(namespace, name)?.1.object.clone())
    }

    fn find(&self, namespace: &str, name: &str) -> Result<(RepoKey, Arc<Rev>), Error> {
        let parsed = names::parse_package_revision_name(name)
            .ok_or_else(|| Error::not_found(Kind::PackageRevision, name))?;
        let key = (namespace.to_string(), parsed.repository);
        let state = self.read();
        state
            .repos
            .get(&key)
            .and_then(|e| e.revisions.get(name))
            .map(|rev| (key.clone(), rev.clone()))
            .ok_or_else(|| Error::not_found(Kind::PackageRevision, name))
    }

    pub(crate) fn repo_handles(
        &self,
        key: &RepoKey,
    ) -> Result<(Repo, Arc<tokio::sync::Mutex<()>>), Error> {
        let state = self.read();
        let entry =
            state.repos.get(key).ok_or_else(|| Error::not_found(Kind::Repository, &key.1))?;
        let repo = entry.repo.clone().ok_or_else(|| {
            let why = entry
                .object
                .status
                .conditions
                .first()
                .map(|c| c.message.clone())
                .unwrap_or_default();
            Error::Unavailable(format!("repository {:?} is not ready: {why}", key.1))
        })?;
        Ok((repo, entry.write.clone()))
    }

    /// Creates a package revision with its creation task (`init`, `clone`, `edit`).
    pub async fn create_package_revision(
        &self,
        namespace: &str,
        pr: PackageRevision,
    ) -> Result<Arc<PackageRevision>, Error> {
        let spec = &pr.spec;
        let shown = if pr.metadata.name.is_empty() {
            spec.package_name.clone()
        } else {
            pr.metadata.name.clone()
        };
        let invalid = |field: &str, message: String| {
            Error::invalid(Kind::PackageRevision, &shown, field, message)
        };
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
        let name = names::package_revision_name(
            &spec.repository,
            &spec.package_name,
            &spec.workspace_name,
        );
        names::check_dns1123_subdomain(&name).map_err(|e| {
            invalid(
                "metadata.name",
                format!("package revision kubernetes resource name invalid: {e}"),
            )
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
        let key = (namespace.to_string(), spec.repository.clone());
        let (repo_handle, write) = self.repo_handles(&key)?;
        let (ns, repo, package, workspace) = (
            namespace.to_string(),
            spec.repository.clone(),
            spec.package_name.clone(),
            spec.workspace_name.clone(),
        );
        let _busy = self.try_lock(format!("create/{ns}/{repo}/{package}"), || {
            format!(
                "another request is already in progress to create package revision with details namespace={ns:?}, repository={repo:?}, package={package:?},workspace={workspace:?}"
            )
        })?;
        let _write = write.lock().await;

        // Checks against what exists, under the package lock.
        let (same_package, overlapping) = {
            let state = self.read();
            let entry =
                state.repos.get(&key).ok_or_else(|| Error::not_found(Kind::Repository, &key.1))?;
            let same: Vec<Arc<Rev>> = entry
                .revisions
                .values()
                .filter(|r| r.discovered.package == package)
                .cloned()
                .collect();
            let overlapping = entry
                .revisions
                .values()
                .map(|r| r.discovered.package.clone())
                .find(|p| p != &package && (is_within(p, &package) || is_within(&package, p)));
            (same, overlapping)
        };
        if same_package.iter().any(|r| r.discovered.workspace == workspace) {
            return Err(Error::AlreadyExists { kind: Kind::PackageRevision, name: name.clone() });
        }
        let creates_package = matches!(task.task_type.as_str(), "init" | "clone");
        if creates_package && !same_package.is_empty() {
            return Err(Error::Conflict(if task.task_type == "clone" {
                format!(
                    "`clone` cannot create a new revision for package {package:?} that already exists in repo {repo:?}; make subsequent revisions using `copy`"
                )
            } else {
                format!("package {package:?} already exists in repository {repo:?}")
            }));
        }
        if let Some(other) = overlapping.filter(|_| creates_package) {
            return Err(invalid(
                "spec.packageName",
                format!(
                    "package path {package:?} conflicts with existing package {other:?}: packages cannot be nested"
                ),
            ));
        }

        let (mut files, modes) =
            self.task_files(namespace, &key, &task, spec, &same_package, &shown).await?;
        let kptfile = files
            .get(veranda_kpt::KPTFILE)
            .cloned()
            .ok_or_else(|| invalid("spec.tasks", "package must contain Kptfile at root".into()))?;
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
        .map_err(|e| invalid("spec.tasks", e.to_string()))?
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
            crate::render::not_pushed(Kind::PackageRevision, &shown, &failure.error)
        })?
        .0;
        let draft = NewDraft {
            package: package.clone(),
            workspace: workspace.clone(),
            proposed: lifecycle == Lifecycle::Proposed,
        };
        let content = Content {
            files,
            modes,
            headline: creation_headline(&task.task_type).into(),
            task: serde_json::to_value(&task).ok(),
        };
        repo_handle.create_draft(draft.clone(), content).await?;

        let meta = ObjectMeta {
            creation_timestamp: Some(time::now()),
            ..build::stored_meta(&pr.metadata)
        };
        let updates = Updates { meta: BTreeMap::from([(name.clone(), meta)]), force: false };
        if let Err(e) = self.reconcile(&key, updates).await {
            // Rollback: the draft must not outlive a failed create.
            if let Err(r) = repo_handle.discard_draft(draft).await {
                tracing::error!(%name, "rollback of failed create: {r}");
            }
            let _ = self.reconcile(&key, Updates::default()).await;
            return Err(e);
        }
        self.get_package_revision(namespace, &name)
    }

    async fn task_files(
        &self,
        namespace: &str,
        key: &RepoKey,
        task: &Task,
        spec: &veranda_api::types::PackageRevisionSpec,
        same_package: &[Arc<Rev>],
        shown: &str,
    ) -> Result<(Files, Modes), Error> {
        let invalid = |field: &str, message: String| {
            Error::invalid(Kind::PackageRevision, shown, field, message)
        };
        let short_name =
            spec.package_name.rsplit('/').next().unwrap_or(&spec.package_name).to_string();
        match task.task_type.as_str() {
            "init" => {
                let init = task.init.clone().unwrap_or_default();
                if !init.subpackage.is_empty() {
                    return Err(invalid(
                        "spec.tasks[0].init.subpackage",
                        "a new package revision has no root package to add a subpackage to".into(),
                    ));
                }
                let files = veranda_kpt::init_package(&veranda_kpt::InitOptions {
                    name: short_name,
                    description: if init.description.is_empty() {
                        DEFAULT_DESCRIPTION.into()
                    } else {
                        init.description
                    },
                    keywords: init.keywords,
                    site: init.site,
                });
                Ok((files, Modes::new()))
            }
            "clone" => {
                let upstream = task.clone.clone().unwrap_or_default().upstream_ref;
                let field = "spec.tasks[0].clone.upstreamRef";
                let (mut files, modes, lock) = match upstream
                    .upstream_ref
                    .map(|r| r.name)
                    .filter(|n| !n.is_empty())
                {
                    Some(source_name) => {
                        self.clone_from_revision(namespace, &source_name, shown).await?
                    }
                    None => match (upstream.git, upstream.oci) {
                        (Some(git), _) => self.clone_from_git(namespace, &git, shown).await?,
                        (None, Some(_)) => {
                            return Err(invalid(field, "clone from OCI is not implemented".into()));
                        }
                        (None, None) => {
                            return Err(invalid(
                                field,
                                "Required value: upstreamRef.upstreamRef.name or upstreamRef.git"
                                    .into(),
                            ));
                        }
                    },
                };
                let kptfile = files.get(veranda_kpt::KPTFILE).ok_or_else(|| {
                    invalid("spec.tasks[0].clone", "the upstream package has no Kptfile".into())
                })?;
                let updated = veranda_kpt::set_upstream(kptfile, Some(&short_name), &lock)
                    .map_err(|e| {
                        invalid("spec.tasks[0].clone", format!("upstream Kptfile: {e}"))
                    })?;
                files.insert(veranda_kpt::KPTFILE.to_string(), updated);
                let mut files = veranda_kpt::add_upstream_identifiers(&files);
                if self.read().repos.get(key).is_some_and(|e| e.object.spec.deployment) {
                    crate::context::generate(&mut files, &short_name, &spec.package_name);
                }
                Ok((files, modes))
            }
            "edit" => {
                let source_name = task
                    .edit
                    .as_ref()
                    .and_then(|e| e.source_ref.as_ref())
                    .map(|r| r.name.clone())
                    .filter(|n| !n.is_empty())
                    .ok_or_else(|| {
                        invalid("spec.tasks[0].edit.sourceRef.name", "Required value".into())
                    })?;
                let source = same_package
                    .iter()
                    .find(|r| r.object.metadata.name == source_name)
                    .cloned()
                    .ok_or_else(|| {
                        invalid(
                            "spec.tasks[0].edit.sourceRef.name",
                            format!(
                                "source revision must be from same package {}/{}",
                                key.1, spec.package_name
                            ),
                        )
                    })?;
                check_usable_source(key, &source, "source revision", &source_name, self)?;
                let (repo, _) = self.repo_handles(key)?;
                repo.read_files(&source.discovered).await
            }
            "upgrade" => {
                let upgrade = task.upgrade.clone().unwrap_or_default();
                self.upgrade_files(namespace, key, &spec.package_name, &upgrade, shown).await
            }
            other => Err(invalid(
                "spec.tasks[0].type",
                format!(
                    "Unsupported value: {other:?}: supported values: \"init\", \"clone\", \"edit\", \"upgrade\""
                ),
            )),
        }
    }

    /// The merged files of an `upgrade` task: `local` moved from `old` to `new` upstream.
    async fn upgrade_files(
        &self,
        namespace: &str,
        key: &RepoKey,
        package: &str,
        upgrade: &veranda_api::types::UpgradeTask,
        shown: &str,
    ) -> Result<(Files, Modes), Error> {
        let invalid = |field: &str, message: String| {
            Error::invalid(Kind::PackageRevision, shown, field, message)
        };
        let strategy = veranda_kpt::Strategy::parse(&upgrade.strategy).map_err(|_| {
            invalid(
                "spec.tasks[0].upgrade.strategy",
                format!(
                    "Unsupported value: {:?}: supported values: \"resource-merge\", \"fast-forward\", \"force-delete-replace\", \"copy-merge\"",
                    upgrade.strategy
                ),
            )
        })?;
        let mut sources = Vec::new();
        for (field, reference, may_be_placeholder) in [
            ("oldUpstreamRef", &upgrade.old_upstream_ref, true),
            ("newUpstreamRef", &upgrade.new_upstream_ref, false),
            ("localPackageRevisionRef", &upgrade.local_package_revision_ref, false),
        ] {
            let field = format!("spec.tasks[0].upgrade.{field}.name");
            if reference.name.is_empty() {
                return Err(invalid(&field, "Required value".into()));
            }
            let (source_key, source) = self.find(namespace, &reference.name).map_err(|_| {
                invalid(&field, format!("package revision {:?} not found", reference.name))
            })?;
            let lifecycle = build::lifecycle(&source.discovered);
            if !lifecycle.is_published() {
                return Err(invalid(
                    &field,
                    format!(
                        "all source PackageRevisions of upgrade task must be published, {:?} is not (it is {lifecycle})",
                        reference.name
                    ),
                ));
            }
            if !may_be_placeholder && source.discovered.revision == -1 {
                return Err(invalid(
                    &field,
                    format!("{:?} may not be the placeholder package revision", reference.name),
                ));
            }
            sources.push((source_key, source));
        }
        let (local_key, local) = &sources[2];
        if local_key != key || local.discovered.package != package {
            return Err(invalid(
                "spec.tasks[0].upgrade.localPackageRevisionRef.name",
                format!(
                    "the local revision must be a revision of package {package:?} in repository {:?}",
                    key.1
                ),
            ));
        }
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
                Error::Invalid { kind, name: shown.to_string(), field, message }
            }
            other => other,
        })?;
        let kptfile = merged.get(veranda_kpt::KPTFILE).ok_or_else(|| {
            invalid("spec.tasks[0].upgrade", "the merged package has no Kptfile".into())
        })?;
        let updated_kptfile = veranda_kpt::set_upstream(kptfile, None, &lock)
            .map_err(|e| invalid("spec.tasks[0].upgrade", format!("merged Kptfile: {e}")))?;
        merged.insert(veranda_kpt::KPTFILE.to_string(), updated_kptfile);
        // Modes of kept paths: the local revision's, else the new upstream's.
        let mut modes = contents[1].2.clone();
        modes.extend(contents[2].2.clone());
        Ok((merged, modes))
    }

    /// Files and upstream lock of a published revision of a registered repository.
    async fn clone_from_revision(
        &self,
        namespace: &str,
        source_name: &str,
        shown: &str,
    ) -> Result<(Files, Modes, veranda_kpt::GitLock), Error> {
        let (source_key, source) = self.find(namespace, source_name).map_err(|_| {
            Error::invalid(
                Kind::PackageRevision,
                shown,
                "spec.tasks[0].clone.upstreamRef.upstreamRef.name",
                format!("upstream package revision {source_name:?} not found"),
            )
        })?;
        check_usable_source(&source_key, &source, "upstream revision", source_name, self)?;
        let (source_repo, _) = self.repo_handles(&source_key)?;
        let d = &source.discovered;
        let lock = veranda_kpt::GitLock {
            repo: source_repo.origin_url(),
            directory: d.package.clone(),
            reference: d.ref_name.clone(),
            commit: d.commit.clone(),
        };
        let (files, modes) = source_repo.read_files(d).await?;
        Ok((files, modes, lock))
    }

    /// Files and upstream lock of a package read from any Git URL (porch.md §2.12).
    async fn clone_from_git(
        &self,
        namespace: &str,
        git: &veranda_api::types::GitPackage,
        shown: &str,
    ) -> Result<(Files, Modes, veranda_kpt::GitLock), Error> {
        let field = "spec.tasks[0].clone.upstreamRef.git";
        let invalid =
            |message: String| Error::invalid(Kind::PackageRevision, shown, field, message);
        if git.repo.trim().is_empty() {
            return Err(invalid("Required value: repo".into()));
        }
        if git.r#ref.trim().is_empty() {
            return Err(invalid("Required value: ref".into()));
        }
        crate::secrets::check_url_has_no_credentials(&git.repo).map_err(|e| {
            Error::invalid(Kind::PackageRevision, shown, &format!("{field}.repo"), e)
        })?;
        // porchctl always sends `secretRef: {name: ""}`: an empty name means none.
        let credentials = match git.secret_ref.as_ref().map(|r| r.name.as_str()) {
            None | Some("") => None,
            Some(secret) => Some(
                self.secret_credentials(namespace, secret)
                    .resolve()
                    .map_err(|e| invalid(format!("failed to obtain git credentials: {e}")))?,
            ),
        };
        // One cache per upstream URL, reused by later clones from it.
        let cache = crate::upstream_cache::dir(&self.config.data_dir, &git.repo);
        let upstream = veranda_storage::Upstream {
            url: git.repo.clone(),
            reference: git.r#ref.clone(),
            directory: git.directory.clone(),
            cache_dir: cache.clone(),
            credentials,
            ca_bundle: self.ca_bundle(namespace),
        };
        // Clones from one URL wait for each other here, holding no thread while they wait.
        let gate = self.upstream_gate(&cache);
        let _gate = gate.lock().await;
        let fetched = crate::backends::fetch_package(&self.backend, upstream, move || {
            crate::upstream_cache::lock(&cache)
        })
        .await?
        .map_err(|e| match e.kind() {
            veranda_storage::ErrorKind::Timeout => {
                Error::Timeout(format!("cannot read the upstream package: {e}"))
            }
            _ => invalid(format!("cannot read the upstream package: {e}")),
        })?;
        let lock = veranda_kpt::GitLock {
            repo: git.repo.clone(),
            // Porch's git repository trims both ends (`strings.Trim(path, "/")`).
            directory: git.directory.trim_matches('/').to_string(),
            reference: git.r#ref.clone(),
            commit: fetched.commit,
        };
        Ok((fetched.files, fetched.modes, lock))
    }

    /// Updates a package revision (`endpoint` tells whether it came through `/approval`).
    pub async fn update_package_revision(
        &self,
        namespace: &str,
        name: &str,
        new: PackageRevision,
        endpoint: Endpoint,
    ) -> Result<Arc<PackageRevision>, Error> {
        let _busy = self.try_lock(format!("pr/{namespace}/{name}"), || {
            format!(
                "another request is already in progress on package revision \"{namespace}/{name}\""
            )
        })?;
        let (key, _) = self.find(namespace, name)?;
        let (repo, write) = self.repo_handles(&key)?;
        let _write = write.lock().await;
        let (_, rev) = self.find(namespace, name)?;
        let current = rev.object.clone();
        let invalid = |field: &str, message: String| {
            Error::invalid(Kind::PackageRevision, name, field, message)
        };
        if !new.metadata.name.is_empty() && new.metadata.name != name {
            return Err(Error::BadRequest(format!(
                "the name of the object ({}) does not match the name on the URL ({name})",
                new.metadata.name
            )));
        }
        check_resource_version(&new.metadata.resource_version, &current.metadata.resource_version)?;
        for (field, old, requested) in [
            ("spec.packageName", &current.spec.package_name, &new.spec.package_name),
            ("spec.repository", &current.spec.repository, &new.spec.repository),
            ("spec.workspaceName", &current.spec.workspace_name, &new.spec.workspace_name),
        ] {
            if !requested.is_empty() && requested != old {
                return Err(invalid(
                    field,
                    format!("Invalid value: {requested:?}: field is immutable"),
                ));
            }
        }
        let from = build::lifecycle(&rev.discovered);
        let to = new.spec.lifecycle.unwrap_or(from);
        from.check_transition(to, endpoint).map_err(|e| {
            invalid("spec.lifecycle", format!("Invalid value: {:?}: {e}", to.as_str()))
        })?;
        let latest_requested = new
            .metadata
            .labels
            .get(veranda_api::LATEST_REVISION_LABEL)
            .is_some_and(|v| v == "true");
        if latest_requested != rev.latest {
            return Err(invalid(
                &format!("metadata.labels[{}]", veranda_api::LATEST_REVISION_LABEL),
                "Forbidden: label is managed by the server and cannot be modified by users".into(),
            ));
        }
        let edit = KptfileEdit::requested(&new, &rev.kptfile);
        let kptfile_change = edit.changes(&rev.kptfile);
        if from.is_published() {
            check_published_spec(&new, &current)
                .map_err(|(field, message)| invalid(field, message))?;
        }
        if kptfile_change && from != Lifecycle::Draft {
            return Err(invalid(
                "spec",
                format!(
                    "Forbidden: package metadata, readiness gates and conditions can only change while the revision is Draft (it is {from})"
                ),
            ));
        }
        if to != from && matches!(to, Lifecycle::Proposed | Lifecycle::Published) {
            edit.check_ready().map_err(|message| invalid("spec.lifecycle", message))?;
        }

        let mut meta = build::stored_meta(&new.metadata);
        meta.creation_timestamp = rev.meta.creation_timestamp.clone();
        meta.deletion_timestamp = rev.meta.deletion_timestamp.clone();
        let mut head = rev.discovered.clone();
        if kptfile_change {
            let (files, modes) = repo.read_files(&head).await?;
            let functions = self.functions();
            let shown = name.to_string();
            let content = blocking(move || {
                let mut files = files;
                let kptfile = files
                    .get(veranda_kpt::KPTFILE)
                    .ok_or_else(|| Error::Internal("package has no Kptfile".into()))?;
                if let Some(updated) = edit.apply(kptfile).map_err(|e| Error::Invalid {
                    kind: Kind::PackageRevision,
                    name: String::new(),
                    field: "spec.packageMetadata".into(),
                    message: e.to_string(),
                })? {
                    files.insert(veranda_kpt::KPTFILE.to_string(), updated);
                }
                // A changed Kptfile re-renders the package, as every Draft edit does.
                let rendered = crate::render::render(&functions, &files)
                    .map_err(|failure| {
                        crate::render::not_pushed(Kind::PackageRevision, &shown, &failure.error)
                    })?
                    .0;
                Ok(render_content(keep_hidden(rendered, &files, &modes), modes))
            })
            .await?;
            head = repo.commit_draft(&head, content).await?;
        }
        // Whether Git already holds a change of this request.
        let committed = !Arc::ptr_eq(&head, &rev.discovered);
        if to == from && !kptfile_change && meta == rev.meta {
            // Nothing changes (e.g. a repeated `kubectl apply`): no write, no event.
            return Ok(current);
        }
        if to != from
            && let Err(e) = self.move_lifecycle(&key, &repo, &head, from, to).await
        {
            if committed {
                // The Kptfile change is in Git; only the move failed.
                self.index_after_write(&key, Updates::default()).await;
            }
            return Err(e);
        }
        let updates =
            Updates { meta: BTreeMap::from([(name.to_string(), meta.clone())]), force: false };
        if committed || to != from {
            self.index_after_write(&key, updates).await;
        } else {
            self.reconcile(&key, updates).await?;
        }
        if meta.deletion_timestamp.is_some() && meta.finalizers.is_empty() {
            let (_, rev) = self.find(namespace, name)?;
            repo.delete(&rev.discovered).await?;
            self.index_after_write(&key, Updates::default()).await;
            return Ok(rev.object.clone());
        }
        self.get_package_revision(namespace, name)
    }

    async fn move_lifecycle(
        &self,
        key: &RepoKey,
        repo: &Repo,
        revision: &Arc<veranda_storage::Discovered>,
        from: Lifecycle,
        to: Lifecycle,
    ) -> Result<(), Error> {
        match (from, to) {
            (Lifecycle::Draft, Lifecycle::Proposed) => repo.propose(revision).await,
            (Lifecycle::Proposed, Lifecycle::Draft) => repo.reject(revision).await,
            (_, Lifecycle::Published) => {
                let number = self.next_revision_number(key, &revision.package);
                repo.approve(revision, number).await
            }
            (Lifecycle::Published, Lifecycle::DeletionProposed) => {
                repo.propose_delete(revision).await
            }
            _ => Err(Error::Internal(format!("unhandled lifecycle move {from} -> {to}"))),
        }
    }

    /// The revision number an approval of `package` publishes: one above the highest published.
    fn next_revision_number(&self, key: &RepoKey, package: &str) -> i64 {
        let state = self.read();
        state
            .repos
            .get(key)
            .map(|e| {
                e.revisions
                    .values()
                    .filter(|r| {
                        r.discovered.package == package
                            && build::lifecycle(&r.discovered).is_published()
                    })
                    .map(|r| r.discovered.revision)
                    .max()
                    .unwrap_or(0)
            })
            .unwrap_or(0)
            .max(0)
            + 1
    }

    /// Deletes a package revision (Published ones must be proposed for deletion first).
    pub async fn delete_package_revision(
        &self,
        namespace: &str,
        name: &str,
    ) -> Result<Arc<PackageRevision>, Error> {
        let _busy = self.try_lock(format!("pr/{namespace}/{name}"), || {
            format!(
                "another request is already in progress on package revision \"{namespace}/{name}\""
            )
        })?;
        let (key, _) = self.find(namespace, name)?;
        let (repo, write) = self.repo_handles(&key)?;
        let _write = write.lock().await;
        let (_, rev) = self.find(namespace, name)?;
        if build::lifecycle(&rev.discovered) == Lifecycle::Published {
            return Err(Error::Forbidden {
                kind: Kind::PackageRevision,
                name: name.to_string(),
                message: "published PackageRevisions must be proposed for deletion by setting spec.lifecycle to 'DeletionProposed' prior to deletion"
                    .into(),
            });
        }
        let referencing: Vec<String> = self
            .list_package_revisions(Some(namespace), &RevisionFilter::default())
            .iter()
            .filter(|pr| pr.spec.revision != -1 && references_upstream(pr, name))
            .map(|pr| pr.metadata.name.clone())
            .collect();
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
                    Updates { meta: BTreeMap::from([(name.to_string(), meta)]), force: false },
                )
                .await?;
            }
            return self.get_package_revision(namespace, name);
        }
        repo.delete(&rev.discovered).await?;
        self.index_after_write(&key, Updates::default()).await;
        Ok(rev.object.clone())
    }

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
        let _busy = self.try_lock(format!("pr/{namespace}/{name}"), || {
            format!("another request is already in progress on package revision resources \"{namespace}/{name}\"")
        })?;
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
        let (_, rev) = self.find(namespace, name)?;
        if !prr.metadata.name.is_empty() && prr.metadata.name != name {
            return Err(Error::BadRequest(format!(
                "the name of the object ({}) does not match the name on the URL ({name})",
                prr.metadata.name
            )));
        }
        check_resource_version(
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
        let functions = self.functions();
        let push_on_failure = rev
            .meta
            .annotations
            .get(veranda_api::PUSH_ON_RENDER_FAILURE)
            .is_some_and(|v| v == "true");
        let shown = name.to_string();
        let (previous, previous_modes) = repo.read_files(&rev.discovered).await?;
        let (content, render_status, failure) = blocking(move || {
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
        .await?;
        repo.commit_draft(&rev.discovered, content).await?;
        self.index_after_write(&key, Updates::default()).await;
        if let Some(failure) = failure {
            return Err(failure);
        }
        let mut updated = self.get_resources(namespace, name).await?;
        updated.status.render_status = render_status;
        Ok(updated)
    }
}

/// The content of a Draft edit (a resources update or a Kptfile change), re-rendered.
/// What an update asks of the Kptfile: every part the request omitted keeps its current value
/// (typed clients omit empty fields), an explicit empty value clears it (Porch's
/// `applyMetadataToKptfile` and `PatchKptfile`).
struct KptfileEdit {
    labels: BTreeMap<String, String>,
    annotations: BTreeMap<String, String>,
    gates: Vec<String>,
    /// The Kptfile's status conditions after the update, when the request carried some.
    conditions: Option<Vec<veranda_kpt::Condition>>,
    /// The conditions the readiness gates are checked against.
    effective_conditions: Vec<veranda_kpt::Condition>,
}

impl KptfileEdit {
    fn requested(new: &PackageRevision, current: &veranda_kpt::KptfileInfo) -> KptfileEdit {
        let metadata = new.spec.package_metadata.as_ref();
        let current_conditions: Vec<veranda_kpt::Condition> =
            build::kptfile_conditions(current).iter().map(kpt_condition).collect();
        let conditions =
            new.status.conditions.as_ref().map(|c| c.iter().map(kpt_condition).collect::<Vec<_>>());
        KptfileEdit {
            labels: metadata
                .and_then(|m| m.labels.clone())
                .unwrap_or_else(|| current.labels.clone()),
            annotations: metadata
                .and_then(|m| m.annotations.clone())
                .unwrap_or_else(|| current.annotations.clone()),
            gates: match &new.spec.readiness_gates {
                Some(gates) => gates.iter().map(|g| g.condition_type.clone()).collect(),
                None => current.readiness_gates.clone(),
            },
            effective_conditions: conditions.clone().unwrap_or(current_conditions),
            conditions,
        }
    }

    /// Whether the Kptfile changes.
    fn changes(&self, current: &veranda_kpt::KptfileInfo) -> bool {
        let conditions_change = self.conditions.as_ref().is_some_and(|wanted| {
            let now: Vec<veranda_kpt::Condition> =
                build::kptfile_conditions(current).iter().map(kpt_condition).collect();
            *wanted != now
        });
        self.labels != current.labels
            || self.annotations != current.annotations
            || self.gates != current.readiness_gates
            || conditions_change
    }

    /// Porch's check before a proposal or approval (porchctl's `PackageRevisionIsReady`): every
    /// readiness gate's condition is there and `True`.
    fn check_ready(&self) -> Result<(), String> {
        for gate in &self.gates {
            let met = self
                .effective_conditions
                .iter()
                .any(|c| c.condition_type == *gate && c.status == "True");
            if !met {
                return Err(format!(
                    "readiness conditions not met: condition {gate:?} of a readiness gate is not True"
                ));
            }
        }
        Ok(())
    }

    /// The Kptfile with the edit applied; `None` when it is unchanged.
    fn apply(&self, kptfile: &[u8]) -> Result<Option<Vec<u8>>, veranda_kpt::Error> {
        let metadata = veranda_kpt::set_package_metadata(
            kptfile,
            &self.labels,
            &self.annotations,
            Some(&self.gates),
            MetadataMode::Replace,
        )?;
        let Some(conditions) = &self.conditions else { return Ok(metadata) };
        let base = metadata.as_deref().unwrap_or(kptfile);
        Ok(veranda_kpt::set_status_conditions(base, conditions)?.or(metadata))
    }
}

fn kpt_condition(c: &veranda_api::types::Condition) -> veranda_kpt::Condition {
    veranda_kpt::Condition {
        condition_type: c.condition_type.clone(),
        status: c.status.clone(),
        reason: c.reason.clone(),
        message: c.message.clone(),
    }
}

/// The spec of a Published (or DeletionProposed) revision cannot change, except its lifecycle
/// between those two (Porch's `ValidateUpdate`). Fields a request omits are not changes.
fn check_published_spec(
    new: &PackageRevision,
    current: &PackageRevision,
) -> Result<(), (&'static str, String)> {
    let refused = |field: &'static str| {
        Err((
            field,
            "Forbidden: spec can only update package with lifecycle value one of Draft,Proposed"
                .to_owned(),
        ))
    };
    if !new.spec.tasks.is_empty() && new.spec.tasks != current.spec.tasks {
        return refused("spec.tasks");
    }
    if new.spec.revision != 0 && new.spec.revision != current.spec.revision {
        return refused("spec.revision");
    }
    if new.spec.parent.is_some() && new.spec.parent != current.spec.parent {
        return refused("spec.parent");
    }
    Ok(())
}

fn render_content(files: Files, modes: Modes) -> Content {
    Content {
        files,
        modes,
        headline: HEADLINE_RENDER.into(),
        task: Some(serde_json::json!({"type": "render"})),
    }
}

fn creation_headline(task_type: &str) -> &'static str {
    match task_type {
        "init" => "Creating new empty revision",
        "clone" => "Creating new revision by cloning",
        "edit" => "Creating new revision by copying previous revision",
        "upgrade" => "Upgrading revision",
        _ => HEADLINE_INTERMEDIATE,
    }
}

/// Whether `inner` is strictly below `outer` in the package path tree.
fn is_within(inner: &str, outer: &str) -> bool {
    inner.len() > outer.len() && inner.starts_with(outer) && inner.as_bytes()[outer.len()] == b'/'
}

fn check_usable_source(
    key: &RepoKey,
    source: &Rev,
    what: &str,
    source_name: &str,
    engine: &Engine,
) -> Result<(), Error> {
    let branch = {
        let state = engine.read();
        state
            .repos
            .get(key)
            .and_then(|e| e.object.spec.git.as_ref().map(|g| g.branch.clone()))
            .unwrap_or_default()
    };
    let d = &source.discovered;
    if d.revision == -1 && d.workspace == branch {
        return Err(Error::invalid(
            Kind::PackageRevision,
            source_name,
            "spec.tasks[0]",
            format!("{what} may not be the placeholder package revision {}/{source_name}", key.1),
        ));
    }
    if !build::lifecycle(d).is_published() {
        return Err(Error::invalid(
            Kind::PackageRevision,
            source_name,
            "spec.tasks[0]",
            format!("{what} must be published ({source_name} is {})", build::lifecycle(d)),
        ));
    }
    Ok(())
}

pub(crate) fn references_upstream(pr: &PackageRevision, name: &str) -> bool {
    pr.spec.tasks.iter().any(|t| {
        t.clone
            .as_ref()
            .and_then(|c| c.upstream_ref.upstream_ref.as_ref())
            .is_some_and(|r| r.name == name)
            || t.upgrade.as_ref().is_some_and(|u| u.new_upstream_ref.name == name)
    })
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
fn keep_hidden(mut rendered: Files, input: &Files, modes: &Modes) -> Files {
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
