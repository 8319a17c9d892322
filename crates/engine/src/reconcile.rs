//! Reconciling a repository: Git → index → store → events.
//!
//! This is the only place that changes the package revision index, so every write and every
//! external change produces exactly the events that describe it.

use std::{
    collections::{BTreeMap, HashMap},
    sync::Arc,
};

use veranda_api::{ObjectMeta, names};
use veranda_kpt::KptfileInfo;
use veranda_repo::{Discovered, GitRepo};
use veranda_store::{Change, RevisionRow};

use crate::{
    Engine, Error, RepoKey, Rev, blocking,
    build::{self, Parts},
    time,
    watch::{Event, EventType, Topic},
};

/// What a reconcile should do besides following Git.
#[derive(Default)]
pub(crate) struct Updates {
    /// New stored metadata for these revisions (each gets a new resourceVersion).
    pub(crate) meta: BTreeMap<String, ObjectMeta>,
    /// Rebuild every object (e.g. the repository's `deployment` flag changed).
    pub(crate) force: bool,
}

/// The new index of a repository and the events that describe the change.
type Plan = (BTreeMap<String, Arc<Rev>>, Vec<Event>);

struct Previous {
    meta: ObjectMeta,
    resource_version: i64,
    fingerprint: String,
    rev: Option<Arc<Rev>>,
}

impl Engine {
    /// Re-lists Git for one repository and brings index, store and watchers up to date.
    ///
    /// The caller holds the repository's write lock.
    pub(crate) async fn reconcile(&self, key: &RepoKey, updates: Updates) -> Result<(), Error> {
        let (git, prev, loaded, deployment) = {
            let state = self.read();
            let Some(entry) = state.repos.get(key) else { return Ok(()) };
            let Some(git) = entry.git.clone() else { return Ok(()) };
            (git, entry.revisions.clone(), entry.loaded, entry.object.spec.deployment)
        };
        let store = self.store.clone();
        let (namespace, repository) = key.clone();
        let (revisions, events) = blocking(move || {
            let discovered = crate::metrics::git("list", || git.list())?;
            let mut previous: HashMap<String, Previous> = prev
                .iter()
                .map(|(name, rev)| {
                    let p = Previous {
                        meta: rev.meta.clone(),
                        resource_version: rev.object.metadata.resource_version.parse().unwrap_or(0),
                        fingerprint: fingerprint(&rev.discovered, rev.latest, deployment),
                        rev: Some(rev.clone()),
                    };
                    (name.clone(), p)
                })
                .collect();
            if !loaded {
                for row in crate::metrics::store("list_revisions", || {
                    store.list_revisions(&namespace, &repository)
                })? {
                    let meta = serde_json::from_str(&row.meta).unwrap_or_default();
                    previous.entry(row.name.clone()).or_insert(Previous {
                        meta,
                        resource_version: row.resource_version,
                        fingerprint: row.fingerprint,
                        rev: None,
                    });
                }
            }
            plan(&git, &store, &namespace, &repository, deployment, discovered, previous, updates)
        })
        .await?;
        {
            let mut state = self.write();
            if let Some(entry) = state.repos.get_mut(key) {
                entry.revisions = revisions;
                entry.loaded = true;
            }
        }
        for event in events {
            self.hub.publish(event);
        }
        Ok(())
    }

    /// Drops a repository's revisions from the index and the store (repository deleted).
    pub(crate) async fn forget_revisions(
        &self,
        key: &RepoKey,
        revisions: BTreeMap<String, Arc<Rev>>,
    ) -> Result<(), Error> {
        let store = self.store.clone();
        let (namespace, repository) = key.clone();
        let n = revisions.len() as i64;
        let first = blocking(move || {
            store.delete_repository_revisions(&namespace, &repository)?;
            Ok(if n > 0 { store.reserve_resource_versions(n)? } else { 0 })
        })
        .await?;
        for (i, rev) in revisions.values().enumerate() {
            self.hub.publish(deleted_event(rev, first + i as i64));
        }
        Ok(())
    }
}

#[allow(clippy::too_many_arguments)]
fn plan(
    git: &GitRepo,
    store: &veranda_store::Store,
    namespace: &str,
    repository: &str,
    deployment: bool,
    discovered: Vec<Discovered>,
    mut previous: HashMap<String, Previous>,
    mut updates: Updates,
) -> Result<Plan, Error> {
    // Highest published revision per package: that one carries the latest label.
    let mut latest: HashMap<&str, i64> = HashMap::new();
    for d in &discovered {
        if build::lifecycle(d).is_published() && d.revision > 0 {
            let slot = latest.entry(d.package.as_str()).or_insert(0);
            *slot = (*slot).max(d.revision);
        }
    }
    let origin_url = git.origin_url();
    struct Next {
        name: String,
        discovered: Discovered,
        kptfile: KptfileInfo,
        latest: bool,
        meta: ObjectMeta,
        existed: bool,
        resource_version: i64,
    }
    let mut next: Vec<Next> = Vec::with_capacity(discovered.len());
    let mut seen = std::collections::HashSet::new();
    let mut changes = Vec::new();
    for d in &discovered {
        let name = names::package_revision_name(repository, &d.package, &d.workspace);
        if !seen.insert(name.clone()) {
            tracing::warn!(%name, git_ref = %d.ref_name, "two git refs map to one package revision name; ignoring the second");
            continue;
        }
        let is_latest = d.revision > 0
            && latest.get(d.package.as_str()) == Some(&d.revision)
            && build::lifecycle(d).is_published();
        let prev = previous.get(&name);
        let kptfile = match prev.and_then(|p| p.rev.as_ref()) {
            Some(rev)
                if rev.discovered.commit == d.commit && rev.discovered.package == d.package =>
            {
                rev.kptfile.clone()
            }
            _ => read_kptfile(git, d),
        };
        let new_meta = updates.meta.remove(&name);
        let fp = fingerprint(d, is_latest, deployment);
        let meta = match (&new_meta, prev) {
            (Some(meta), _) => meta.clone(),
            (None, Some(p)) => p.meta.clone(),
            (None, None) => {
                ObjectMeta { creation_timestamp: Some(time::now()), ..ObjectMeta::default() }
            }
        };
        let changed =
            new_meta.is_some() || updates.force || prev.is_none_or(|p| p.fingerprint != fp);
        if changed {
            changes.push(Change::PutRevision(RevisionRow {
                namespace: namespace.to_string(),
                name: name.clone(),
                repository: repository.to_string(),
                meta: serde_json::to_string(&meta).unwrap_or_else(|_| "{}".into()),
                resource_version: 0,
                fingerprint: fp,
            }));
        }
        next.push(Next {
            name,
            discovered: d.clone(),
            kptfile,
            latest: is_latest,
            meta,
            existed: prev.is_some(),
            resource_version: if changed {
                -1
            } else {
                prev.map(|p| p.resource_version).unwrap_or(0)
            },
        });
    }
    let gone: Vec<String> = previous.keys().filter(|n| !seen.contains(*n)).cloned().collect();
    for name in &gone {
        changes
            .push(Change::DeleteRevision { namespace: namespace.to_string(), name: name.clone() });
    }
    let written = crate::metrics::store("apply", || store.apply(changes))?;
    let mut assigned: HashMap<String, i64> =
        written.into_iter().map(|row| (row.name, row.resource_version)).collect();
    let first_deleted =
        if gone.is_empty() { 0 } else { store.reserve_resource_versions(gone.len() as i64)? };

    let mut events = Vec::new();
    let mut revisions = BTreeMap::new();
    for n in next {
        let new_rv = assigned.remove(&n.name);
        let rv = new_rv.unwrap_or(n.resource_version);
        let object = Arc::new(build::package_revision(Parts {
            namespace,
            repository,
            origin_url: &origin_url,
            deployment,
            discovered: &n.discovered,
            kptfile: &n.kptfile,
            meta: &n.meta,
            resource_version: rv,
            latest: n.latest,
        }));
        let json: Arc<str> = serde_json::to_string(&*object).unwrap_or_default().into();
        if let Some(rv) = new_rv {
            events.push(Event {
                resource_version: rv,
                event_type: if n.existed { EventType::Modified } else { EventType::Added },
                topic: Topic::PackageRevisions,
                namespace: namespace.to_string(),
                json: json.clone(),
            });
        }
        let rev = Rev {
            discovered: n.discovered,
            meta: n.meta,
            kptfile: n.kptfile,
            latest: n.latest,
            object,
            json,
        };
        revisions.insert(n.name, Arc::new(rev));
    }
    for (i, name) in gone.iter().enumerate() {
        if let Some(rev) = previous.remove(name).and_then(|p| p.rev) {
            events.push(deleted_event(&rev, first_deleted + i as i64));
        }
    }
    events.sort_by_key(|e| e.resource_version);
    Ok((revisions, events))
}

fn deleted_event(rev: &Rev, resource_version: i64) -> Event {
    let mut object = (*rev.object).clone();
    object.metadata.resource_version = resource_version.to_string();
    Event {
        resource_version,
        event_type: EventType::Deleted,
        topic: Topic::PackageRevisions,
        namespace: object.metadata.namespace.clone(),
        json: serde_json::to_string(&object).unwrap_or_default().into(),
    }
}

fn fingerprint(d: &Discovered, latest: bool, deployment: bool) -> String {
    format!(
        "{}|{:?}|{}|{}|{}|{}",
        d.commit, d.lifecycle, d.revision, d.ref_name, latest, deployment
    )
}

fn read_kptfile(git: &GitRepo, d: &Discovered) -> KptfileInfo {
    let content = match git.read_file(&d.commit, &d.package, veranda_kpt::KPTFILE) {
        Ok(Some(content)) => content,
        Ok(None) => return KptfileInfo::default(),
        Err(e) => {
            tracing::warn!(package = %d.package, commit = %d.commit, "read Kptfile: {e}");
            return KptfileInfo::default();
        }
    };
    veranda_kpt::read_kptfile(&content).unwrap_or_else(|e| {
        tracing::debug!(package = %d.package, commit = %d.commit, "unreadable Kptfile: {e}");
        KptfileInfo::default()
    })
}
