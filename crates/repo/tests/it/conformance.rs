//! The Git backend passes the storage traits' conformance suite.

use veranda_storage::{Backend, RepositoryConfig};

use crate::util::Scratch;

#[test]
fn git_repository_conforms() {
    let scratch = Scratch::new();
    let remote = scratch.bare("remote.git");
    let config = RepositoryConfig {
        url: remote.display().to_string(),
        branch: "main".into(),
        directory: String::new(),
        create_branch: true,
        cache_dir: scratch.path("cache"),
        author: None,
        credentials: None,
        ca_bundle: None,
    };
    let repo = veranda_repo::GitBackend::default().open(&config).expect("open");
    veranda_storage::conformance::repository(&*repo);
}
