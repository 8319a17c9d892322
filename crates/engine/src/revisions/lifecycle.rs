//! Updating a package revision: metadata, the Kptfile edits of a Draft, and lifecycle moves
//! (propose, reject, approve, propose deletion).

use std::{collections::BTreeMap, sync::Arc};

use veranda_api::{Lifecycle, lifecycle::Endpoint, types::PackageRevision};

use veranda_storage::Discovered;

use super::{kptfile_edit::KptfileEdit, render_content, resources::keep_hidden, review};

use crate::{
    Engine, Error, Kind, RepoKey, Rev, backends::Repo, blocking, build, reconcile::Updates,
    repositories::check_resource_version,
};

impl Engine {
    /// Updates a package revision (`endpoint` tells whether it came through `/approval`).
    pub async fn update_package_revision(
        &self,
        namespace: &str,
        name: &str,
        new: PackageRevision,
        endpoint: Endpoint,
    ) -> Result<Arc<PackageRevision>, Error> {
        let _busy = self.lock_revision(namespace, name).await?;
        let (key, _) = self.find(namespace, name)?;
        let (repo, write) = self.repo_handles(&key)?;
        let _write = write.lock().await;
        self.ensure_indexed(&key).await?;
        let (_, rev) = self.find(namespace, name)?;
        self.ensure_current(namespace, &rev).await?;
        // The approval subresource moves the lifecycle and nothing else (its permission must
        // not let a user edit metadata, conditions or finalizers).
        let new = match endpoint {
            Endpoint::Approval => approval_only(&rev.object, new),
            Endpoint::Update => new,
        };
        let Update { from, to, edit } = check_update(name, &new, &rev, endpoint)?;
        let kptfile_change = edit.is_some();

        let mut meta = build::stored_meta(&new.metadata);
        meta.creation_timestamp = rev.meta.creation_timestamp.clone();
        meta.deletion_timestamp = rev.meta.deletion_timestamp.clone();
        review::keep_changed_by(&mut meta, Some(&rev.meta));
        if kptfile_change {
            review::note_change(&mut meta);
        }
        if to == Lifecycle::Published && from != Lifecycle::Published && self.review_required(&key)
        {
            review::check_publish(name, from == Lifecycle::Draft, &meta)?;
        }
        let head = match edit {
            Some(edit) => self.commit_kptfile_edit(&repo, &rev.discovered, edit, name).await?,
            None => rev.discovered.clone(),
        };
        // Whether Git already holds a change of this request.
        let committed = !Arc::ptr_eq(&head, &rev.discovered);
        if to == from && !kptfile_change && meta == rev.meta {
            // Nothing changes (e.g. a repeated `kubectl apply`): no write, no event.
            return Ok(rev.object.clone());
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
        let updates = Updates {
            meta: BTreeMap::from([(name.to_string(), meta.clone())]),
            ..Updates::default()
        };
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

    /// Commits `edit` of the Kptfile of the Draft `head`, re-rendered; the new head.
    async fn commit_kptfile_edit(
        &self,
        repo: &Repo,
        head: &Arc<Discovered>,
        edit: KptfileEdit,
        name: &str,
    ) -> Result<Arc<Discovered>, Error> {
        let (files, modes) = repo.read_files(head).await?;
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
        repo.commit_draft(head, content).await
    }

    /// Whether publishing in this repository needs review (see [`review`]).
    fn review_required(&self, key: &RepoKey) -> bool {
        self.config.require_review
            || self.read().repos.get(key).is_some_and(|entry| {
                entry
                    .object
                    .metadata
                    .annotations
                    .get(review::REQUIRE_REVIEW)
                    .is_some_and(|v| v == "true")
            })
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
                crate::reconcile::of_package(&e.revisions, &key.1, package)
                    .filter(|(_, r)| build::lifecycle(&r.discovered).is_published())
                    .map(|(_, r)| r.discovered.revision)
                    .max()
                    .unwrap_or(0)
            })
            .unwrap_or(0)
            .max(0)
            + 1
    }
}

/// A checked update: the lifecycle move it asks for and its Kptfile edit, when that changes
/// the Kptfile.
struct Update {
    from: Lifecycle,
    to: Lifecycle,
    edit: Option<KptfileEdit>,
}

/// Every check of an update of `rev` to `new`, in Porch's order.
fn check_update(
    name: &str,
    new: &PackageRevision,
    rev: &Rev,
    endpoint: Endpoint,
) -> Result<Update, Error> {
    let current = &rev.object;
    let invalid =
        |field: &str, message: String| Error::invalid(Kind::PackageRevision, name, field, message);
    if !new.metadata.name.is_empty() && new.metadata.name != name {
        return Err(Error::BadRequest(format!(
            "the name of the object ({}) does not match the name on the URL ({name})",
            new.metadata.name
        )));
    }
    check_resource_version(
        Kind::PackageRevision,
        &new.metadata.resource_version,
        &current.metadata.resource_version,
    )?;
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
    from.check_transition(to, endpoint)
        .map_err(|e| invalid("spec.lifecycle", format!("Invalid value: {:?}: {e}", to.as_str())))?;
    let latest_requested =
        new.metadata.labels.get(veranda_api::LATEST_REVISION_LABEL).is_some_and(|v| v == "true");
    if latest_requested != rev.latest {
        return Err(invalid(
            &format!("metadata.labels[{}]", veranda_api::LATEST_REVISION_LABEL),
            "Forbidden: label is managed by the server and cannot be modified by users".into(),
        ));
    }
    let edit = KptfileEdit::requested(new, &rev.kptfile);
    let kptfile_change = edit.changes(&rev.kptfile);
    if from.is_published() {
        check_published_spec(new, current).map_err(|(field, message)| invalid(field, message))?;
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
    Ok(Update { from, to, edit: kptfile_change.then_some(edit) })
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

/// What an approval request may change of `current`: the lifecycle, checked against the
/// resourceVersion it read.
fn approval_only(current: &PackageRevision, requested: PackageRevision) -> PackageRevision {
    let mut next = current.clone();
    next.spec.lifecycle = requested.spec.lifecycle;
    next.metadata.resource_version = requested.metadata.resource_version;
    next
}
