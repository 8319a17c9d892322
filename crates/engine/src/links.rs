//! Reverse indexes of what indexed package revisions point at: the upstream revisions their
//! clone and upgrade tasks name, and the owners their ownerReferences name. A delete asks
//! "who references this revision" and the garbage collector "who does this owner own"; with
//! 10,000 revisions in a repository a scan per question was most of a delete's cost.
//!
//! Kept next to the index of each repository and changed with it (`reconcile`), so it is a
//! candidate list: callers still check each candidate against the revision itself.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use veranda_api::types::PackageRevision;

use crate::Rev;

/// Names of the revisions of one repository that point at each upstream or owner.
#[derive(Default)]
pub(crate) struct Links {
    /// Upstream package revision name -> revisions whose tasks name it.
    upstream: HashMap<String, BTreeSet<String>>,
    /// Owner uid -> revisions with an ownerReference to it.
    owned: HashMap<String, BTreeSet<String>>,
}

impl Links {
    /// The links of every revision of `index`.
    pub(crate) fn of(index: &BTreeMap<String, std::sync::Arc<Rev>>) -> Links {
        let mut links = Links::default();
        for (name, rev) in index {
            links.add(name, rev);
        }
        links
    }

    pub(crate) fn add(&mut self, name: &str, rev: &Rev) {
        for upstream in upstreams(&rev.object) {
            self.upstream.entry(upstream.to_owned()).or_default().insert(name.to_owned());
        }
        for owner in &rev.meta.owner_references {
            self.owned.entry(owner.uid.clone()).or_default().insert(name.to_owned());
        }
    }

    pub(crate) fn remove(&mut self, name: &str, rev: &Rev) {
        for upstream in upstreams(&rev.object) {
            unlink(&mut self.upstream, upstream, name);
        }
        for owner in &rev.meta.owner_references {
            unlink(&mut self.owned, &owner.uid, name);
        }
    }

    /// Revisions whose clone or upgrade task may name `upstream`.
    pub(crate) fn referencing(&self, upstream: &str) -> impl Iterator<Item = &str> {
        self.upstream.get(upstream).into_iter().flatten().map(String::as_str)
    }

    /// Revisions that may have an ownerReference to `uid`.
    pub(crate) fn owned_by(&self, uid: &str) -> impl Iterator<Item = &str> {
        self.owned.get(uid).into_iter().flatten().map(String::as_str)
    }
}

fn unlink(map: &mut HashMap<String, BTreeSet<String>>, key: &str, name: &str) {
    if let Some(names) = map.get_mut(key) {
        names.remove(name);
        if names.is_empty() {
            map.remove(key);
        }
    }
}

/// The upstream revision names the tasks of `pr` name (see `references_upstream`).
fn upstreams(pr: &PackageRevision) -> impl Iterator<Item = &str> {
    pr.spec.tasks.iter().flat_map(|t| {
        let clone = t.clone.as_ref().and_then(|c| c.upstream_ref.upstream_ref.as_ref());
        let upgrade = t.upgrade.as_ref().map(|u| &u.new_upstream_ref);
        clone.into_iter().chain(upgrade).map(|r| r.name.as_str())
    })
}
