//! Crate-level properties of the public API.

use crate::GitRepo;

#[test]
fn git_repo_is_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<GitRepo>();
}
