//! The `clone` task: a package read from a registered repository's published revision or from
//! any Git URL, with its Kptfile's upstream set.

use veranda_kpt::Files;
use veranda_storage::Modes;

use super::{create::NewRevision, tasks::check_usable_source};
use crate::{Engine, Error, Kind};

impl Engine {
    /// A `clone` task: the upstream's files, its Kptfile naming the upstream, and the package
    /// context of a deployment repository.
    pub(super) async fn clone_files(&self, new: &NewRevision) -> Result<(Files, Modes), Error> {
        let namespace = new.namespace();
        let shown = new.shown.as_str();
        let short_name = new.short_name();
        let upstream = new.task.clone.clone().unwrap_or_default().upstream_ref;
        let field = "spec.tasks[0].clone.upstreamRef";
        let (mut files, modes, lock) = match upstream
            .upstream_ref
            .map(|r| r.name)
            .filter(|n| !n.is_empty())
        {
            Some(source_name) => self.clone_from_revision(namespace, &source_name, shown).await?,
            None => match (upstream.git, upstream.oci) {
                (Some(git), _) => self.clone_from_git(namespace, &git, shown).await?,
                (None, Some(_)) => {
                    return Err(new.invalid(field, "clone from OCI is not implemented".into()));
                }
                (None, None) => {
                    return Err(new.invalid(
                        field,
                        "Required value: upstreamRef.upstreamRef.name or upstreamRef.git".into(),
                    ));
                }
            },
        };
        let kptfile = files.get(veranda_kpt::KPTFILE).ok_or_else(|| {
            new.invalid("spec.tasks[0].clone", "the upstream package has no Kptfile".into())
        })?;
        let updated = veranda_kpt::set_upstream(kptfile, Some(&short_name), &lock)
            .map_err(|e| new.invalid("spec.tasks[0].clone", format!("upstream Kptfile: {e}")))?;
        files.insert(veranda_kpt::KPTFILE.to_string(), updated);
        let mut files = veranda_kpt::add_upstream_identifiers(&files);
        if self.read().repos.get(&new.key).is_some_and(|e| e.object.spec.deployment) {
            crate::context::generate(&mut files, &short_name, &new.package);
        }
        Ok((files, modes))
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
        check_usable_source(&source_key, &source, "upstream revision", source_name, false, self)?;
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
        crate::secrets::check_url_has_no_credentials(&git.repo)
            .and_then(|()| self.config.remotes.check(&git.repo))
            .map_err(|e| {
                Error::invalid(Kind::PackageRevision, shown, &format!("{field}.repo"), e)
            })?;
        // porchctl always sends `secretRef: {name: ""}`: an empty name means none.
        let credentials = match git.secret_ref.name.as_str() {
            "" => None,
            secret => {
                self.check_secret_use(Kind::PackageRevision, shown, namespace, secret)?;
                Some(
                    self.secret_credentials(namespace, secret)
                        .resolve()
                        .map_err(|e| invalid(format!("failed to obtain git credentials: {e}")))?,
                )
            }
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
}
