//! Fetch from and push to `origin`: credentials and certificate checks ([`crate::auth`]),
//! bearer headers, and per-ref push results.
//!
//! libgit2 reports a ref the remote refused only through the `push_update_reference` callback and
//! still returns `Ok` (libgit2 #3963), so every push collects those statuses. Compare-and-swap is
//! checked in `push_negotiation`, which sees the remote's current value of every ref just before the
//! pack is sent.

use std::cell::{Cell, RefCell};

use git2::{
    AutotagOption, ErrorCode, FetchOptions, FetchPrune, Oid, PushOptions, RemoteCallbacks,
    Repository,
};

use crate::{
    Credentials, Error, RefUpdate,
    auth::{Auth, Refusal},
    cacherefs,
    deadline::Deadline,
};

pub(crate) const ORIGIN: &str = "origin";
/// Where the remote's branches are mirrored in the cache.
pub(crate) const TRACKING_PREFIX: &str = "refs/remotes/origin/";
/// Tags, mirrored under the same names.
pub(crate) const TAG_PREFIX: &str = "refs/tags/";
pub(crate) const HEADS_REFSPEC: &str = "+refs/heads/*:refs/remotes/origin/*";
pub(crate) const TAGS_REFSPEC: &str = "+refs/tags/*:refs/tags/*";

/// Fetches branches into `refs/remotes/origin/*` and tags into `refs/tags/*`, pruning deleted refs.
/// Returns the number of local refs written or deleted.
pub(crate) fn fetch(repo: &Repository, auth: Auth<'_>) -> Result<usize, Error> {
    let mut remote = repo.find_remote(ORIGIN)?;
    let headers = headers(auth.credentials);
    let headers: Vec<&str> = headers.iter().map(String::as_str).collect();
    let updated = Cell::new(0);
    let refusal = Refusal::default();
    let deadline = Deadline::start();
    let mut callbacks = callbacks(auth, &remote, &refusal);
    deadline.watch(&mut callbacks);
    callbacks.update_tips(|_, _, _| {
        updated.set(updated.get() + 1);
        true
    });
    let mut options = FetchOptions::new();
    options
        .remote_callbacks(callbacks)
        .prune(FetchPrune::On)
        .download_tags(AutotagOption::None)
        .update_fetchhead(false)
        .custom_headers(&headers);
    remote
        .fetch::<&str>(&[], Some(&mut options), None)
        .map_err(|err| deadline.classify(refusal.explain(err)))?;
    Ok(updated.get())
}
/// The branches and tags of the remote, as a download saw them advertised.
pub(crate) type Advertised = Vec<(String, Oid)>;

/// Downloads what the remote's branches and tags need into the object database without
/// touching a single ref, and returns the refs as the remote advertised them. This is the
/// network half of a fetch; [`apply`] is the local half, run later under the caller's lock.
pub(crate) fn download(repo: &Repository, auth: Auth<'_>) -> Result<Advertised, Error> {
    let mut remote = repo.find_remote(ORIGIN)?;
    let headers = headers(auth.credentials);
    let headers: Vec<&str> = headers.iter().map(String::as_str).collect();
    let refusal = Refusal::default();
    let deadline = Deadline::start();
    let mut callbacks = callbacks(auth, &remote, &refusal);
    deadline.watch(&mut callbacks);
    let mut options = FetchOptions::new();
    options
        .remote_callbacks(callbacks)
        .download_tags(AutotagOption::None)
        .update_fetchhead(false)
        .custom_headers(&headers);
    remote
        .download(&[HEADS_REFSPEC, TAGS_REFSPEC], Some(&mut options))
        .map_err(|err| deadline.classify(refusal.explain(err)))?;
    let advertised = remote
        .list()?
        .iter()
        .filter(|head| !head.name().ends_with("^{}"))
        .filter(|head| {
            head.name().starts_with("refs/heads/") || head.name().starts_with(TAG_PREFIX)
        })
        .map(|head| (head.name().to_owned(), head.oid()))
        .collect();
    let _ = remote.disconnect();
    Ok(advertised)
}

/// The local refs a fetch maintains (tracking branches and tags) and their targets.
pub(crate) fn tracked(repo: &Repository) -> Result<std::collections::BTreeMap<String, Oid>, Error> {
    let mut refs = std::collections::BTreeMap::new();
    for reference in repo.references()? {
        let reference = reference?;
        let (Some(name), Some(target)) = (reference.name().ok(), reference.target()) else {
            continue;
        };
        if name.starts_with(TRACKING_PREFIX) || name.starts_with(TAG_PREFIX) {
            refs.insert(name.to_owned(), target);
        }
    }
    Ok(refs)
}

/// Brings the tracking refs to what a [`download`] saw, except refs that moved locally since
/// `before` (taken just before the download) was read: those were written by a push that the
/// download may not have seen, and the push is newer. Returns the number of refs written.
pub(crate) fn apply(
    repo: &Repository,
    before: &std::collections::BTreeMap<String, Oid>,
    advertised: &Advertised,
) -> Result<usize, Error> {
    let now = tracked(repo)?;
    let wanted: std::collections::BTreeMap<String, Oid> = advertised
        .iter()
        .filter_map(|(name, id)| tracking_ref(name).map(|local| (local, *id)))
        .collect();
    let mut written = 0;
    let names: std::collections::BTreeSet<&String> = now.keys().chain(wanted.keys()).collect();
    for name in names {
        let (current, target) = (now.get(name), wanted.get(name));
        if current == target || current != before.get(name) {
            continue;
        }
        match target {
            Some(id) if repo.find_object(*id, None).is_ok() => {
                repo.reference(name, *id, true, "fetch")?;
            }
            // Advertised but not downloaded (a ref outside the refspecs): the next fetch gets it.
            Some(_) => continue,
            None => {
                if let Ok(mut reference) = repo.find_reference(name) {
                    reference.delete()?;
                }
            }
        }
        written += 1;
    }
    Ok(written)
}

/// Pushes all `updates` in one push (not forced) and mirrors them into the local tracking refs.
pub(crate) fn push(repo: &Repository, auth: Auth<'_>, updates: &[RefUpdate]) -> Result<(), Error> {
    validate(repo, updates)?;
    let refspecs: Vec<String> = updates
        .iter()
        .map(|update| match &update.new {
            Some(new) => format!("{new}:{}", update.name),
            None => format!(":{}", update.name),
        })
        .collect();
    if refspecs.is_empty() {
        return Ok(());
    }
    // A local remote gets its refs written by libgit2 under lock files of its own: journalled
    // so a kill mid-push leaves none that the next open does not release.
    let local = repo
        .find_remote(ORIGIN)
        .ok()
        .and_then(|remote| remote.url().ok().and_then(crate::local::path));
    let journal = repo.path().join(crate::maintain::LOCK_JOURNAL);
    if let Some(remote) = &local {
        let locks: Vec<std::path::PathBuf> = updates
            .iter()
            .map(|update| remote.join(format!("{}.lock", update.name)))
            .chain(std::iter::once(remote.join("packed-refs.lock")))
            .collect();
        crate::maintain::journal_intent(&journal, &locks)?;
    }
    let pushed = push_refspecs(repo, auth, updates, &refspecs);
    if local.is_some() {
        crate::maintain::clear_journal(&journal);
    }
    pushed
}

fn push_refspecs(
    repo: &Repository,
    auth: Auth<'_>,
    updates: &[RefUpdate],
    refspecs: &[String],
) -> Result<(), Error> {
    let failure: RefCell<Option<Error>> = RefCell::new(None);
    let rejected: RefCell<Vec<(String, String)>> = RefCell::new(Vec::new());
    let headers = headers(auth.credentials);
    let headers: Vec<&str> = headers.iter().map(String::as_str).collect();
    let mut remote = repo.find_remote(ORIGIN)?;
    let refusal = Refusal::default();
    let deadline = Deadline::start();
    let result = {
        let mut callbacks = callbacks(auth, &remote, &refusal);
        deadline.watch(&mut callbacks);
        callbacks.push_negotiation(|remote_updates| {
            for remote_update in remote_updates {
                let Some(update) = updates
                    .iter()
                    .find(|update| remote_update.dst_refname_bytes() == update.name.as_bytes())
                else {
                    continue;
                };
                if let Err(err) =
                    check_update(repo, update, remote_update.src(), remote_update.dst())
                {
                    *failure.borrow_mut() = Some(err);
                    return Err(git2::Error::from_str("push aborted before sending"));
                }
            }
            Ok(())
        });
        callbacks.push_update_reference(|refname, status| {
            if let Some(message) = status {
                rejected.borrow_mut().push((refname.to_owned(), message.to_owned()));
            }
            Ok(())
        });
        let mut options = PushOptions::new();
        options.remote_callbacks(callbacks).custom_headers(&headers);
        remote.push(refspecs, Some(&mut options)).map_err(|err| refusal.explain(err))
    };
    if let Err(err) = result {
        if let Some(failure) = failure.into_inner() {
            return Err(failure);
        }
        if let Some(file) = locked_file(repo, &err) {
            return Err(Error::RemoteLocked { file });
        }
        if err.code() == ErrorCode::NotFastForward {
            let refname = updates.iter().map(|u| u.name.as_str()).collect::<Vec<_>>().join(", ");
            return Err(Error::Conflict { refname, message: err.message().to_owned() });
        }
        return Err(deadline.classify(err));
    }

    let rejected = rejected.into_inner();
    let accepted: Vec<RefUpdate> = updates
        .iter()
        .filter(|update| !rejected.iter().any(|(refname, _)| *refname == update.name))
        .cloned()
        .collect();
    mirror(repo, &accepted)?;
    match rejected.into_iter().next() {
        Some((refname, message)) => Err(Error::PushRejected { refname, message }),
        None => Ok(()),
    }
}

/// The lock file a push failed on, relative to the remote when the remote is a local path:
/// libgit2 reports a held lock of the receiving repository as `failed to lock file '<path>'`.
fn locked_file(repo: &Repository, err: &git2::Error) -> Option<String> {
    let message = err.message();
    if err.code() != ErrorCode::Locked && !message.contains("failed to lock") {
        return None;
    }
    let path = message.split('\'').find(|part| part.ends_with(".lock"))?;
    let url = repo.find_remote(ORIGIN).ok()?.url().ok()?.to_owned();
    let root = url.strip_prefix("file://").unwrap_or(&url).trim_end_matches('/').to_owned();
    let relative = path.strip_prefix(&root).map(|rest| rest.trim_start_matches('/'));
    Some(relative.unwrap_or(path).to_owned())
}

/// Checks that every update names a ref this cache tracks and, when it sets one, an object the
/// cache has.
pub(crate) fn validate(repo: &Repository, updates: &[RefUpdate]) -> Result<(), Error> {
    for update in updates {
        if tracking_ref(&update.name).is_none() || !git2::Reference::is_valid_name(&update.name) {
            return Err(Error::InvalidRef { name: update.name.clone() });
        }
        if let Some(new) = &update.new {
            let id = parse_oid(new)?;
            if repo.find_object(id, None).is_err() {
                return Err(Error::NotFound { kind: "object", name: new.clone() });
            }
        }
    }
    Ok(())
}

/// Mirrors remote ref updates that succeeded into the local tracking refs, so listing reflects a
/// push without a fetch.
/// Moved as loose refs by [`cacherefs`] when it can, else by libgit2.
pub(crate) fn mirror(repo: &Repository, updates: &[RefUpdate]) -> Result<(), Error> {
    for update in updates {
        let local = tracking_ref(&update.name).expect("validated before pushing");
        match &update.new {
            Some(new) => {
                let id = parse_oid(new)?;
                if cacherefs::set(repo.path(), &local, id)? == cacherefs::Done::No {
                    repo.reference(&local, id, true, "push")?;
                }
            }
            None => {
                if cacherefs::delete(repo.path(), &local)? == cacherefs::Done::No
                    && let Ok(mut reference) = repo.find_reference(&local)
                {
                    reference.delete()?;
                }
            }
        }
    }
    Ok(())
}

/// The local ref that mirrors remote ref `name`: `refs/remotes/origin/<b>` for `refs/heads/<b>`,
/// the same name for tags; `None` for refs this cache does not track.
pub(crate) fn tracking_ref(name: &str) -> Option<String> {
    if let Some(branch) = name.strip_prefix("refs/heads/") {
        Some(format!("{TRACKING_PREFIX}{branch}"))
    } else if name.starts_with(TAG_PREFIX) {
        Some(name.to_owned())
    } else {
        None
    }
}

pub(crate) fn parse_oid(hex: &str) -> Result<Oid, Error> {
    if hex.len() != 40 {
        return Err(Error::InvalidOid { id: hex.to_owned() });
    }
    Oid::from_str(hex).map_err(|_| Error::InvalidOid { id: hex.to_owned() })
}

/// Checks one update against the remote's current value `old` before anything is sent: the
/// compare-and-swap condition if there is one, else that the update is a fast-forward (with the
/// ref named in the error, which libgit2's own check does not give).
pub(crate) fn check_update(
    repo: &Repository,
    update: &RefUpdate,
    old: Oid,
    new: Oid,
) -> Result<(), Error> {
    let describe = |id: Oid| if id.is_zero() { "nothing".to_owned() } else { id.to_string() };
    if let Some(expected) = &update.expected_old {
        let expected = parse_oid(expected)?;
        if expected != old {
            return Err(Error::Conflict {
                refname: update.name.clone(),
                message: format!("expected {}, found {}", describe(expected), describe(old)),
            });
        }
        return Ok(());
    }
    if old.is_zero() || new.is_zero() || old == new {
        return Ok(());
    }
    let fast_forward = repo.odb()?.exists(old) && repo.graph_descendant_of(new, old)?;
    if !fast_forward {
        return Err(Error::Conflict {
            refname: update.name.clone(),
            message: format!("{} is not a fast-forward of {}", describe(new), describe(old)),
        });
    }
    Ok(())
}

/// The credential and certificate callbacks of a transfer with `remote`.
fn callbacks<'a>(
    auth: Auth<'a>,
    remote: &git2::Remote<'_>,
    refusal: &'a Refusal,
) -> RemoteCallbacks<'a> {
    crate::auth::callbacks(auth, remote.url().unwrap_or(""), refusal)
}

fn headers(credentials: Option<&Credentials>) -> Vec<String> {
    match credentials {
        Some(Credentials::Bearer(token)) => vec![format!("Authorization: Bearer {token}")],
        _ => Vec::new(),
    }
}
