//! Caches of upstream Git repositories read by clones from a URL (`clone.upstreamRef.git`): one
//! bare repository per URL under `<data>/upstream/`, named by the SHA-256 of the URL (no two URLs
//! share one, whatever they are), and used by one fetch at a time (an exclusive file lock per
//! entry, held for the fetch and the read).

use std::{
    fs::{File, OpenOptions},
    path::{Path, PathBuf},
};

use crate::Error;

/// The cache directory of `url`.
pub(crate) fn dir(data_dir: &Path, url: &str) -> PathBuf {
    let digest = openssl::sha::sha256(url.as_bytes());
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    data_dir.join("upstream").join(hex)
}

/// Takes the entry's lock (blocking until another fetch of the same URL is done); released on
/// drop.
pub(crate) fn lock(cache: &Path) -> Result<File, Error> {
    let parent = cache.parent().unwrap_or(cache);
    std::fs::create_dir_all(parent)
        .map_err(|e| Error::Internal(format!("create upstream cache directory: {e}")))?;
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(cache.with_extension("lock"))
        .map_err(|e| Error::Internal(format!("open upstream cache lock: {e}")))?;
    file.lock().map_err(|e| Error::Internal(format!("lock upstream cache: {e}")))?;
    Ok(file)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_are_named_by_sha256_of_the_url() {
        let d = dir(Path::new("/data"), "https://example.com/a.git");
        let name = d.file_name().unwrap().to_str().unwrap();
        assert_eq!(name.len(), 64);
        assert_ne!(d, dir(Path::new("/data"), "https://example.com/b.git"));
        assert_eq!(d, dir(Path::new("/data"), "https://example.com/a.git"));
    }

    #[test]
    fn one_holder_at_a_time() {
        let tmp = tempfile::tempdir().unwrap();
        let cache = dir(tmp.path(), "u");
        let held = lock(&cache).unwrap();
        let second = OpenOptions::new().write(true).open(cache.with_extension("lock")).unwrap();
        assert!(matches!(second.try_lock(), Err(std::fs::TryLockError::WouldBlock)));
        drop(held);
        second.try_lock().unwrap();
    }
}
