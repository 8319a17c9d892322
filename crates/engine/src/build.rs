//! Building served objects out of Git discovery, Kptfile content and stored metadata.

use veranda_api::{
    Lifecycle, ObjectMeta, names,
    types::{
        Condition, GitLock, Locator, PackageMetadata, PackageRevision, PackageRevisionSpec,
        PackageRevisionStatus, ReadinessGate, Task,
    },
};
use veranda_kpt::KptfileInfo;
use veranda_storage::Discovered;

use crate::time;

/// Everything a PackageRevision object is made of.
pub(crate) struct Parts<'a> {
    pub(crate) namespace: &'a str,
    pub(crate) repository: &'a str,
    pub(crate) origin_url: &'a str,
    pub(crate) deployment: bool,
    pub(crate) discovered: &'a Discovered,
    pub(crate) kptfile: &'a KptfileInfo,
    pub(crate) meta: &'a ObjectMeta,
    pub(crate) resource_version: i64,
    pub(crate) latest: bool,
}

pub(crate) fn lifecycle(d: &Discovered) -> Lifecycle {
    match d.lifecycle {
        veranda_storage::Lifecycle::Draft => Lifecycle::Draft,
        veranda_storage::Lifecycle::Proposed => Lifecycle::Proposed,
        veranda_storage::Lifecycle::Published => Lifecycle::Published,
        veranda_storage::Lifecycle::DeletionProposed => Lifecycle::DeletionProposed,
    }
}

pub(crate) fn package_revision(p: Parts<'_>) -> PackageRevision {
    PackageRevision {
        api_version: veranda_api::PORCH_API_VERSION.to_string(),
        kind: "PackageRevision".to_string(),
        metadata: metadata(&p),
        spec: spec(&p),
        status: status(&p),
    }
}

/// The served metadata: the stored one with name, uid, resourceVersion and the latest label.
fn metadata(p: &Parts<'_>) -> ObjectMeta {
    let d = p.discovered;
    let name = names::package_revision_name(p.repository, &d.package, &d.workspace);
    let mut labels = p.meta.labels.clone();
    if p.latest {
        labels.insert(veranda_api::LATEST_REVISION_LABEL.to_string(), "true".to_string());
    }
    ObjectMeta {
        uid: names::package_revision_uid(p.namespace, &name),
        name,
        namespace: p.namespace.to_string(),
        resource_version: p.resource_version.to_string(),
        labels,
        ..p.meta.clone()
    }
}

/// The spec: what Git holds of the revision and its Kptfile.
fn spec(p: &Parts<'_>) -> PackageRevisionSpec {
    let d = p.discovered;
    let tasks = d
        .task
        .as_ref()
        .and_then(|t| serde_json::from_value::<Task>(t.clone()).ok())
        .into_iter()
        .collect();
    // Always shown, `{}` when the Kptfile has neither, as Porch's.
    let package_metadata = Some(PackageMetadata {
        labels: Some(p.kptfile.labels.clone()),
        annotations: Some(p.kptfile.annotations.clone()),
    });
    PackageRevisionSpec {
        package_name: d.package.clone(),
        repository: p.repository.to_string(),
        workspace_name: d.workspace.clone(),
        revision: d.revision,
        parent: None,
        lifecycle: Some(lifecycle(d)),
        tasks,
        readiness_gates: Some(
            p.kptfile
                .readiness_gates
                .iter()
                .map(|g| ReadinessGate { condition_type: g.clone() })
                .collect(),
        ),
        package_metadata,
    }
}

/// The status: upstream and self locks, publication, deployment and the Kptfile's conditions.
fn status(p: &Parts<'_>) -> PackageRevisionStatus {
    let d = p.discovered;
    let upstream_lock = Some(match &p.kptfile.upstream_lock {
        Some(lock) => Locator {
            origin_type: "git".into(),
            git: Some(GitLock {
                repo: lock.repo.clone(),
                directory: lock.directory.clone(),
                r#ref: lock.reference.clone(),
                commit: lock.commit.clone(),
            }),
        },
        None => Locator::default(),
    });
    let published = lifecycle(d).is_published();
    PackageRevisionStatus {
        upstream_lock,
        self_lock: Some(Locator {
            origin_type: "git".into(),
            git: Some(GitLock {
                repo: p.origin_url.to_string(),
                directory: d.package.clone(),
                r#ref: d.ref_name.clone(),
                commit: d.commit.clone(),
            }),
        }),
        published_by: if published {
            d.published_by.clone().unwrap_or_default()
        } else {
            String::new()
        },
        publish_timestamp: if published { d.published_at.map(time::rfc3339) } else { None },
        deployment: p.deployment,
        conditions: Some(kptfile_conditions(p.kptfile)),
    }
}

/// The metadata that is stored for a revision (everything Git cannot hold).
pub(crate) fn stored_meta(meta: &ObjectMeta) -> ObjectMeta {
    let mut labels = meta.labels.clone();
    labels.remove(veranda_api::LATEST_REVISION_LABEL);
    ObjectMeta {
        labels,
        annotations: meta.annotations.clone(),
        finalizers: meta.finalizers.clone(),
        owner_references: meta.owner_references.clone(),
        creation_timestamp: meta.creation_timestamp.clone(),
        deletion_timestamp: meta.deletion_timestamp.clone(),
        ..ObjectMeta::default()
    }
}

/// The status conditions of a Kptfile, as the API shows them.
pub(crate) fn kptfile_conditions(kptfile: &veranda_kpt::KptfileInfo) -> Vec<Condition> {
    kptfile
        .conditions
        .iter()
        .filter_map(|c| serde_json::from_value::<Condition>(c.clone()).ok())
        .collect()
}
