//! The files of a creation task, one function per task kind; `clone` and `upgrade` have their
//! own modules.

use std::sync::Arc;

use veranda_kpt::Files;
use veranda_storage::Modes;

use super::create::NewRevision;
use crate::{Engine, Error, Kind, RepoKey, Rev, build};

/// The description of an `init` task that has none.
const DEFAULT_DESCRIPTION: &str = "sample description";

/// The kinds of creation task.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum TaskKind {
    Init,
    Clone,
    Edit,
    Upgrade,
}

impl TaskKind {
    /// The kind named by a task's `type`; the error message when it names none.
    pub(super) fn parse(task_type: &str) -> Result<TaskKind, String> {
        match task_type {
            "init" => Ok(TaskKind::Init),
            "clone" => Ok(TaskKind::Clone),
            "edit" => Ok(TaskKind::Edit),
            "upgrade" => Ok(TaskKind::Upgrade),
            other => Err(format!(
                "Unsupported value: {other:?}: supported values: \"init\", \"clone\", \"edit\", \"upgrade\""
            )),
        }
    }

    /// Whether the task makes a new package (rather than a new revision of one).
    pub(super) fn creates_package(self) -> bool {
        matches!(self, TaskKind::Init | TaskKind::Clone)
    }

    /// The headline of the commit that creates the revision.
    pub(super) fn headline(self) -> &'static str {
        match self {
            TaskKind::Init => "Creating new empty revision",
            TaskKind::Clone => "Creating new revision by cloning",
            TaskKind::Edit => "Creating new revision by copying previous revision",
            TaskKind::Upgrade => "Upgrading revision",
        }
    }
}

impl Engine {
    /// The files of `new`'s task; `same_package` are the existing revisions of its package.
    pub(super) async fn task_files(
        &self,
        new: &NewRevision,
        same_package: &[Arc<Rev>],
    ) -> Result<(Files, Modes), Error> {
        match new.kind {
            TaskKind::Init => init_files(new),
            TaskKind::Clone => self.clone_files(new).await,
            TaskKind::Edit => self.edit_files(new, same_package).await,
            TaskKind::Upgrade => {
                let upgrade = new.task.upgrade.clone().unwrap_or_default();
                self.upgrade_files(new, &upgrade).await
            }
        }
    }

    /// An `edit` task: the files of a published revision of the same package.
    async fn edit_files(
        &self,
        new: &NewRevision,
        same_package: &[Arc<Rev>],
    ) -> Result<(Files, Modes), Error> {
        let field = "spec.tasks[0].edit.sourceRef.name";
        let source_name = new
            .task
            .edit
            .as_ref()
            .and_then(|e| e.source_ref.as_ref())
            .map(|r| r.name.clone())
            .filter(|n| !n.is_empty())
            .ok_or_else(|| new.invalid(field, "Required value".into()))?;
        let source = same_package
            .iter()
            .find(|r| r.object.metadata.name == source_name)
            .cloned()
            .ok_or_else(|| {
            new.invalid(
                field,
                format!("source revision must be from same package {}/{}", new.key.1, new.package),
            )
        })?;
        check_usable_source(&new.key, &source, "source revision", &source_name, true, self)?;
        let (repo, _) = self.repo_handles(&new.key)?;
        repo.read_files(&source.discovered).await
    }
}

/// An `init` task: a new, empty package.
fn init_files(new: &NewRevision) -> Result<(Files, Modes), Error> {
    let init = new.task.init.clone().unwrap_or_default();
    if !init.subpackage.is_empty() {
        return Err(new.invalid(
            "spec.tasks[0].init.subpackage",
            "a new package revision has no root package to add a subpackage to".into(),
        ));
    }
    let files = veranda_kpt::init_package(&veranda_kpt::InitOptions {
        name: new.short_name(),
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

/// A source of a task must be a published revision, and not the placeholder of the branch.
/// Refuses a placeholder as the source of a new revision, and (when `published` says so, as
/// Porch's edit task does; its clone does not) a source that is not published.
pub(super) fn check_usable_source(
    key: &RepoKey,
    source: &Rev,
    what: &str,
    source_name: &str,
    published: bool,
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
    if published && !build::lifecycle(d).is_published() {
        return Err(Error::invalid(
            Kind::PackageRevision,
            source_name,
            "spec.tasks[0]",
            format!("{what} must be published ({source_name} is {})", build::lifecycle(d)),
        ));
    }
    Ok(())
}
