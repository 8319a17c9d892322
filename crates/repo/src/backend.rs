//! The Git implementation of the storage traits: [`GitRepo`] is a
//! [`veranda_storage::PackageRepository`], [`GitBackend`] opens them.
//!
//! This is where lifecycle moves become ref updates (porch.md §2): the engine only names the
//! move.

use std::sync::Arc;

use veranda_storage::{
    Content, Discovered, ErrorKind, FetchedPackage, NewDraft, PackageRepository, RefKind,
    RepositoryConfig, Upstream,
};

use crate::{ABSENT, Annotation, Error, GitConfig, GitRepo, RefUpdate, Signature, UrlRewrites};

/// Opens [`GitRepo`]s and reads packages from Git URLs, reaching every remote through the
/// operator's [`UrlRewrites`].
#[derive(Clone, Debug, Default)]
pub struct GitBackend {
    url_rewrites: UrlRewrites,
}

impl GitBackend {
    /// A backend that reaches remotes through `url_rewrites`.
    pub fn with_url_rewrites(url_rewrites: UrlRewrites) -> GitBackend {
        GitBackend { url_rewrites }
    }
}

impl veranda_storage::Backend for GitBackend {
    fn open(&self, config: &RepositoryConfig) -> Result<Arc<dyn PackageRepository>> {
        let config = GitConfig {
            url: config.url.clone(),
            branch: config.branch.clone(),
            directory: config.directory.clone(),
            create_branch: config.create_branch,
            cache_dir: config.cache_dir.clone(),
            credentials: None,
            credential_source: config.credentials.clone(),
            ca_bundle: config.ca_bundle.clone(),
            author: config.author.clone(),
            url_rewrites: self.url_rewrites.clone(),
        };
        Ok(Arc::new(GitRepo::open(config)?))
    }

    fn fetch_package(&self, upstream: &Upstream) -> Result<FetchedPackage> {
        let fetched = crate::fetch_package(
            &upstream.url,
            &upstream.reference,
            &upstream.directory,
            upstream.credentials.as_ref(),
            upstream.ca_bundle.as_deref(),
            &self.url_rewrites,
            &upstream.cache_dir,
        )?;
        Ok(FetchedPackage { files: fetched.files, modes: fetched.modes, commit: fetched.commit })
    }
}

impl From<Error> for veranda_storage::Error {
    fn from(e: Error) -> veranda_storage::Error {
        let kind = match e {
            Error::Conflict { .. } => ErrorKind::Conflict,
            Error::RemoteLocked { .. } => ErrorKind::Locked,
            Error::NotFound { .. } => ErrorKind::NotFound,
            Error::Timeout { .. } => ErrorKind::Timeout,
            _ => ErrorKind::Other,
        };
        veranda_storage::Error::new(kind, e)
    }
}

type Result<T> = std::result::Result<T, veranda_storage::Error>;

impl GitRepo {
    /// The `kpt:` annotation of a write to a Draft of `package` in `workspace`.
    fn draft_annotation(&self, package: &str, workspace: &str, content: &Content) -> Annotation {
        Annotation {
            package: self.full_path(package),
            workspace_name: workspace.to_owned(),
            revision: "0".into(),
            task: content.task.clone(),
        }
    }

    /// Moves a draft or proposed branch to `target` (at the same commit), in one push.
    fn move_branch(&self, revision: &Discovered, target: String) -> Result<()> {
        let current = format!("refs/heads/{}", revision.ref_name);
        Ok(self.push(&[
            RefUpdate::set(target, &revision.commit),
            RefUpdate::delete(current).expecting(&revision.commit),
        ])?)
    }

    fn new_draft_ref(&self, draft: &NewDraft) -> String {
        match draft.proposed {
            true => self.proposed_ref(&draft.package, &draft.workspace),
            false => self.draft_ref(&draft.package, &draft.workspace),
        }
    }

    fn deletion_proposal(&self, revision: &Discovered) -> String {
        self.deletion_proposed_ref(&revision.package, revision.revision, &revision.workspace)
    }
}

impl PackageRepository for GitRepo {
    fn list(&self) -> Result<Vec<Arc<Discovered>>> {
        Ok(GitRepo::list(self)?)
    }

    fn list_changes(&self) -> Result<veranda_storage::Listing> {
        Ok(GitRepo::list_changes(self)?)
    }

    fn release_caches(&self) {
        GitRepo::release_caches(self);
    }

    fn read_files(&self, revision: &Discovered) -> Result<(crate::Files, crate::Modes)> {
        Ok(self.read_files_in(&revision.commit, Some(&revision.tree), &revision.package)?)
    }

    fn read_file(&self, revision: &Discovered, file: &str) -> Result<Option<Vec<u8>>> {
        Ok(self.read_file_in(&revision.commit, Some(&revision.tree), &revision.package, file)?)
    }

    fn create_draft(
        &self,
        draft: &NewDraft,
        content: &Content,
        by: Option<&Signature>,
    ) -> Result<()> {
        let annotation = self.draft_annotation(&draft.package, &draft.workspace, content);
        let commit = self.commit_package_by(
            &draft.package,
            None,
            &content.files,
            &content.modes,
            &content.headline,
            &annotation,
            by,
        )?;
        Ok(self.push(&[RefUpdate::set(self.new_draft_ref(draft), commit).expecting(ABSENT)])?)
    }

    fn discard_draft(&self, draft: &NewDraft) -> Result<()> {
        Ok(self.push(&[RefUpdate::delete(self.new_draft_ref(draft))])?)
    }

    fn commit_draft(
        &self,
        revision: &Discovered,
        content: &Content,
        by: Option<&Signature>,
    ) -> Result<Discovered> {
        let annotation = self.draft_annotation(&revision.package, &revision.workspace, content);
        let (commit, tree) = self.commit_package_tree(
            &revision.package,
            Some(&revision.commit),
            &content.files,
            &content.modes,
            &content.headline,
            &annotation,
            by,
        )?;
        self.push(&[RefUpdate::set(format!("refs/heads/{}", revision.ref_name), &commit)
            .expecting(&revision.commit)])?;
        let tree = tree.map(|tree| tree.to_string()).unwrap_or_default();
        Ok(Discovered { commit, tree, ..revision.clone() })
    }

    fn propose(&self, revision: &Discovered) -> Result<()> {
        self.move_branch(revision, self.proposed_ref(&revision.package, &revision.workspace))
    }

    fn reject(&self, revision: &Discovered) -> Result<()> {
        self.move_branch(revision, self.draft_ref(&revision.package, &revision.workspace))
    }

    fn approve(&self, revision: &Discovered, number: i64, by: Option<&Signature>) -> Result<()> {
        let current = format!("refs/heads/{}", revision.ref_name);
        self.approve_by(
            &revision.package,
            &revision.workspace,
            &revision.commit,
            number,
            &current,
            by,
        )?;
        Ok(())
    }

    fn propose_delete(&self, revision: &Discovered) -> Result<()> {
        Ok(self.push(&[RefUpdate::set(self.deletion_proposal(revision), &revision.commit)])?)
    }

    fn delete(&self, revision: &Discovered, by: Option<&Signature>) -> Result<()> {
        match revision.kind {
            RefKind::Draft | RefKind::Proposed => {
                self.push(&[RefUpdate::delete(format!("refs/heads/{}", revision.ref_name))])?;
            }
            RefKind::Tag => {
                self.push(&[
                    RefUpdate::delete(self.tag_ref(&revision.package, revision.revision)),
                    RefUpdate::delete(self.deletion_proposal(revision)),
                ])?;
            }
            RefKind::Branch => {
                self.remove_package_from_branch_by(&revision.package, by)?;
                self.push(&[RefUpdate::delete(self.deletion_proposal(revision))])?;
            }
        }
        Ok(())
    }

    fn delete_package(
        &self,
        package: &str,
        revisions: &[Arc<Discovered>],
        by: Option<&Signature>,
    ) -> Result<()> {
        let mut updates = Vec::new();
        let mut on_branch = false;
        for revision in revisions {
            match revision.kind {
                RefKind::Draft | RefKind::Proposed => {
                    updates.push(RefUpdate::delete(format!("refs/heads/{}", revision.ref_name)))
                }
                RefKind::Tag => updates
                    .push(RefUpdate::delete(self.tag_ref(&revision.package, revision.revision))),
                RefKind::Branch => on_branch = true,
            }
            if revision.lifecycle == crate::Lifecycle::DeletionProposed {
                updates.push(RefUpdate::delete(self.deletion_proposal(revision)));
            }
        }
        if !updates.is_empty() {
            self.push(&updates)?;
        }
        if on_branch {
            self.remove_package_from_branch_by(package, by)?;
        }
        Ok(())
    }

    fn fetch(&self) -> Result<()> {
        Ok(GitRepo::fetch(self)?)
    }

    fn download(&self) -> Result<()> {
        Ok(GitRepo::download(self)?)
    }

    fn check_remote_locks(&self) -> Result<()> {
        Ok(GitRepo::check_remote_locks(self)?)
    }

    fn branch_head(&self) -> Result<Option<String>> {
        Ok(GitRepo::branch_head(self)?)
    }

    fn origin_url(&self) -> String {
        GitRepo::origin_url(self)
    }
}
