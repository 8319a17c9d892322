//! Package revisions and their resources: list, get, create, update, approve, delete.
//!
//! This module owns the field-selector filter and the reads (list, get); each write lives in a
//! module named for it: [`create`] (validation, then the write), [`tasks`] with [`clone`] and
//! [`upgrade`] (the files of each creation task), [`lifecycle`] (updates and lifecycle moves),
//! [`delete`] and [`resources`] (the files of a revision).

mod clone;
mod create;
mod delete;
mod kptfile_edit;
mod lifecycle;
mod resources;
pub mod review;
mod tasks;
mod upgrade;

pub(crate) use delete::references_upstream;

use std::sync::Arc;

use veranda_api::{Lifecycle, names, types::PackageRevision};
use veranda_kpt::Files;
use veranda_storage::{Content, Modes};

use crate::{Engine, Error, Kind, RepoKey, Rev, backends::Repo};

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

const HEADLINE_RENDER: &str = "Rendering package";

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

    /// The indexed package revisions of `namespace` whose clone or upgrade tasks may name one
    /// of `upstreams` (from the indexes' links: no scan of every revision), once each, by name.
    pub(crate) fn referencing<'a>(
        &self,
        namespace: &str,
        upstreams: impl IntoIterator<Item = &'a str> + Clone,
    ) -> Vec<Arc<PackageRevision>> {
        let state = self.read();
        let mut found = std::collections::BTreeMap::new();
        for ((ns, _), entry) in &state.repos {
            if ns != namespace {
                continue;
            }
            for upstream in upstreams.clone() {
                for name in entry.links.referencing(upstream) {
                    if let Some(rev) = entry.revisions.get(name) {
                        found.entry(name.to_owned()).or_insert_with(|| rev.object.clone());
                    }
                }
            }
        }
        found.into_values().collect()
    }

    /// One package revision.
    pub fn get_package_revision(
        &self,
        namespace: &str,
        name: &str,
    ) -> Result<Arc<PackageRevision>, Error> {
        Ok(self.find(namespace, name)?.1.object.clone())
    }

    pub(super) fn find(&self, namespace: &str, name: &str) -> Result<(RepoKey, Arc<Rev>), Error> {
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
}

/// The content of a Draft edit (a resources update or a Kptfile change), re-rendered.
pub(super) fn render_content(files: Files, modes: Modes) -> Content {
    Content {
        files,
        modes,
        headline: HEADLINE_RENDER.into(),
        task: Some(serde_json::json!({"type": "render"})),
    }
}
