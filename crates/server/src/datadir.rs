//! The data directory: private to the server's user and owned by one running server.
//!
//! `prepare` creates the directory 0700 (and tightens an existing one), then takes an exclusive
//! lock on `veranda.lock` inside it for as long as the returned [`DataDir`] lives, so a second
//! server on the same directory exits with a clear error instead of corrupting the caches.
//! [`DataDir::tighten`] makes the files the engine created (database, caches) private whatever
//! the umask was.

use std::{
    fs::{File, OpenOptions},
    io::{Read, Seek, Write},
    os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt},
    path::{Path, PathBuf},
};

/// Name of the lock file inside the data directory.
const LOCK_FILE: &str = "veranda.lock";
/// The key Secrets are sealed with (base64 of 32 bytes), created on first start.
pub(crate) const SECRETS_KEY: &str = "secrets.key";
/// The key before the last rotation, only used to open Secrets (see `docs/secrets.md`).
pub(crate) const SECRETS_KEY_PREVIOUS: &str = "secrets.key.previous";

/// An open, locked data directory. The lock is released when this is dropped (or the process
/// dies: the kernel drops the lock with the last file descriptor).
#[derive(Debug)]
pub struct DataDir {
    path: PathBuf,
    _lock: File,
}

/// Why the data directory cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum DataDirError {
    #[error("{what} {path}: {source}")]
    Io {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("secret key file {path}: {reason}")]
    Key { path: PathBuf, reason: String },
    #[error(
        "data directory {path} is in use by another veranda server{holder}; stop it or choose another --data-dir"
    )]
    InUse { path: PathBuf, holder: String },
}

fn io(what: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> DataDirError {
    let path = path.to_path_buf();
    move |source| DataDirError::Io { what, path, source }
}

/// Creates (0700) or tightens the data directory at `path` and locks it.
pub fn prepare(path: &Path) -> Result<DataDir, DataDirError> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(path)
        .map_err(io("create data directory", path))?;
    let path = std::fs::canonicalize(path).map_err(io("resolve data directory", path))?;
    make_private(&path, 0o700, false)?;
    let lock_path = path.join(LOCK_FILE);
    let mut lock = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(&lock_path)
        .map_err(io("open lock file", &lock_path))?;
    match lock.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => {
            let mut pid = String::new();
            let _ = lock.read_to_string(&mut pid);
            let pid = pid.trim();
            let holder = if pid.is_empty() { String::new() } else { format!(" (pid {pid})") };
            return Err(DataDirError::InUse { path, holder });
        }
        Err(std::fs::TryLockError::Error(e)) => {
            return Err(io("lock data directory", &lock_path)(e));
        }
    }
    // The lock is ours: record who holds it, for the error message of a second server.
    let pid = std::process::id().to_string();
    lock.set_len(0)
        .and_then(|()| lock.rewind())
        .and_then(|()| lock.write_all(pid.as_bytes()))
        .map_err(io("write lock file", &lock_path))?;
    Ok(DataDir { path, _lock: lock })
}

impl DataDir {
    /// The keys Secrets are sealed with: `secrets.key` (created 0600 with a random key when
    /// absent) and `secrets.key.previous` if present.
    pub fn secret_keys(&self) -> Result<veranda_engine::SecretKeys, DataDirError> {
        let current = self.path.join(SECRETS_KEY);
        match OpenOptions::new().write(true).create_new(true).mode(0o600).open(&current) {
            Ok(mut file) => {
                let key = veranda_engine::SecretKeys::generate_key_file()
                    .map_err(|reason| DataDirError::Key { path: current.clone(), reason })?;
                file.write_all(key.as_bytes())
                    .and_then(|()| file.sync_all())
                    .map_err(io("write secret key", &current))?;
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                make_private(&current, 0o600, false)?;
            }
            Err(e) => return Err(io("create secret key", &current)(e)),
        }
        let read = |path: &Path| std::fs::read(path).map_err(io("read secret key", path));
        let previous_path = self.path.join(SECRETS_KEY_PREVIOUS);
        let previous = match previous_path.exists() {
            true => Some(read(&previous_path)?),
            false => None,
        };
        veranda_engine::SecretKeys::from_files(&read(&current)?, previous.as_deref())
            .map_err(|reason| DataDirError::Key { path: current, reason })
    }

    /// The keys Secrets are sealed with, from `file` (`--secret-key-file`, the one key every
    /// replica on a shared store is given) and `FILE.previous` if present; or, without `file`,
    /// [`DataDir::secret_keys`]. The operator's file must exist and be private to its owner.
    pub fn secret_keys_from(
        &self,
        file: Option<&Path>,
    ) -> Result<veranda_engine::SecretKeys, DataDirError> {
        let Some(current) = file else { return self.secret_keys() };
        let read = |path: &Path| -> Result<Vec<u8>, DataDirError> {
            let meta = std::fs::metadata(path).map_err(io("read secret key", path))?;
            if meta.permissions().mode() & 0o077 != 0 {
                return Err(DataDirError::Key {
                    path: path.to_path_buf(),
                    reason: format!(
                        "is readable by others (mode {:o}); `chmod 600` it",
                        meta.permissions().mode() & 0o777
                    ),
                });
            }
            std::fs::read(path).map_err(io("read secret key", path))
        };
        let mut previous_path = current.as_os_str().to_owned();
        previous_path.push(".previous");
        let previous_path = PathBuf::from(previous_path);
        let previous = match previous_path.exists() {
            true => Some(read(&previous_path)?),
            false => None,
        };
        veranda_engine::SecretKeys::from_files(&read(current)?, previous.as_deref())
            .map_err(|reason| DataDirError::Key { path: current.to_path_buf(), reason })
    }

    /// The canonical path of the directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Makes what the engine keeps in the directory private: the database files 0600, the Git
    /// cache directories 0700 (their contents are then out of reach whatever their own modes).
    /// `created_now` tells that the server itself just created what it finds open (logged at
    /// debug); otherwise an open file was left that way before this start (a warning).
    pub fn tighten(&self, created_now: bool) -> Result<(), DataDirError> {
        let entries =
            std::fs::read_dir(&self.path).map_err(io("read data directory", &self.path))?;
        for entry in entries {
            let entry = entry.map_err(io("read data directory", &self.path))?;
            let file_type = entry.file_type().map_err(io("stat", &entry.path()))?;
            if file_type.is_dir() {
                make_private(&entry.path(), 0o700, created_now)?;
            } else if file_type.is_file() {
                make_private(&entry.path(), 0o600, created_now)?;
            }
        }
        Ok(())
    }
}

/// Clears group and other permission bits of `path`, setting `mode` when any was set.
fn make_private(path: &Path, mode: u32, created_now: bool) -> Result<(), DataDirError> {
    let meta = std::fs::symlink_metadata(path).map_err(io("stat", path))?;
    if meta.permissions().mode() & 0o077 != 0 {
        let old = format!("{:o}", meta.permissions().mode() & 0o777);
        if created_now {
            tracing::debug!(path = %path.display(), mode = old, "making private");
        } else {
            tracing::warn!(path = %path.display(), mode = old, "making private");
        }
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
            .map_err(io("change mode of", path))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn an_operators_key_file_is_used_and_must_be_private() {
        let tmp = tempfile::tempdir().unwrap();
        let data = prepare(&tmp.path().join("data")).unwrap();
        let file = tmp.path().join("shared.key");
        std::fs::write(&file, veranda_engine::SecretKeys::generate_key_file().unwrap()).unwrap();
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
        let Err(e) = data.secret_keys_from(Some(&file)) else { panic!("a readable key was used") };
        assert!(e.to_string().contains("chmod 600"), "{e}");
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
        data.secret_keys_from(Some(&file)).expect("the operator's key");
        assert!(!data.path().join(SECRETS_KEY).exists(), "no key of its own is made");
        let missing = tmp.path().join("missing.key");
        assert!(data.secret_keys_from(Some(&missing)).is_err(), "a missing file is an error");
    }

    #[test]
    fn creates_private_and_locks() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("data");
        let held = prepare(&dir).unwrap();
        assert_eq!(mode(&dir), 0o700);
        let second = prepare(&dir).unwrap_err();
        let message = second.to_string();
        assert!(message.contains("in use by another veranda server"), "{message}");
        assert!(message.contains(&format!("pid {}", std::process::id())), "{message}");
        drop(held);
        prepare(&dir).expect("the lock is released with its holder");
    }

    #[test]
    fn tightens_existing_directory_and_files() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("data");
        std::fs::create_dir(&dir).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::write(dir.join("veranda.db"), b"x").unwrap();
        std::fs::set_permissions(dir.join("veranda.db"), std::fs::Permissions::from_mode(0o644))
            .unwrap();
        std::fs::create_dir(dir.join("git")).unwrap();
        std::fs::set_permissions(dir.join("git"), std::fs::Permissions::from_mode(0o755)).unwrap();
        let data = prepare(&dir).unwrap();
        data.tighten(false).unwrap();
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&dir.join("veranda.db")), 0o600);
        assert_eq!(mode(&dir.join("git")), 0o700);
        assert_eq!(mode(&dir.join(LOCK_FILE)), 0o600);
    }

    #[test]
    fn secret_key_is_created_private_once() {
        let tmp = tempfile::tempdir().unwrap();
        let data = prepare(&tmp.path().join("data")).unwrap();
        data.secret_keys().unwrap();
        let key_file = data.path().join(SECRETS_KEY);
        assert_eq!(mode(&key_file), 0o600);
        let first = std::fs::read(&key_file).unwrap();
        data.secret_keys().unwrap();
        assert_eq!(std::fs::read(&key_file).unwrap(), first, "an existing key is kept");
        std::fs::write(data.path().join(SECRETS_KEY_PREVIOUS), b"not a key").unwrap();
        let err = data.secret_keys().unwrap_err().to_string();
        assert!(err.contains("previous key"), "{err}");
    }
}
