//! Change detection for mounted files (shared by the docker config of
//! `--registry-auth-secret-path` and the CA of `--tls-secret-path`).
//!
//! Kubernetes updates a mounted Secret in place: it writes the new version
//! into a fresh `..2026_xx` directory, then renames a `..data` symlink onto
//! it; each key is a symlink `ca.crt -> ..data/ca.crt`. So a file's
//! identity is its [`FileStamp`] (device, inode, size, mtime) taken with
//! `stat` *through* the symlinks: one `stat` per path and request sequence,
//! and the value derived from the files is rebuilt only when a stamp
//! changed ([`Watched`]).

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

/// What identifies one version of a file, cheaply (one `stat`, following
/// symlinks).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct FileStamp {
    dev: u64,
    ino: u64,
    /// The size in bytes.
    pub(super) len: u64,
    modified: Option<SystemTime>,
}

impl FileStamp {
    /// The stamp of `path` (symlinks followed).
    pub(super) fn of(path: &Path) -> std::io::Result<Self> {
        use std::os::unix::fs::MetadataExt as _;
        let meta = std::fs::metadata(path)?;
        Ok(Self {
            dev: meta.dev(),
            ino: meta.ino(),
            len: meta.len(),
            modified: meta.modified().ok(),
        })
    }

    /// The stamp of `path`, or `None` when it cannot be stat'ed (missing,
    /// dangling symlink): a file appearing or vanishing is a change too.
    pub(super) fn of_maybe(path: &Path) -> Option<Self> {
        Self::of(path).ok()
    }
}

/// The stamps of every file a value was derived from, in a fixed order.
pub(super) type Stamps = Vec<Option<FileStamp>>;

/// A value derived from files, kept until their stamps change.
#[derive(Debug)]
pub(super) struct Watched<T> {
    cached: Mutex<Option<(Stamps, Arc<T>)>>,
}

impl<T> Default for Watched<T> {
    fn default() -> Self {
        Self {
            cached: Mutex::new(None),
        }
    }
}

impl<T> Watched<T> {
    /// A cache already holding `value`, derived from files with `stamps`.
    pub(super) fn holding(stamps: Stamps, value: T) -> Self {
        Self {
            cached: Mutex::new(Some((stamps, Arc::new(value)))),
        }
    }

    /// The cached value when `stamps` equal the ones it was derived from;
    /// else `derive()`, cached under `stamps` when it succeeds (a failure
    /// is not cached: the next call tries again).
    pub(super) fn get<E>(
        &self,
        stamps: Stamps,
        derive: impl FnOnce() -> Result<T, E>,
    ) -> Result<Arc<T>, E> {
        // A poisoned lock only means another thread panicked mid-derive;
        // the cache is still a consistent Option, so keep using it.
        let mut cached = self.cached.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((old, value)) = cached.as_ref() {
            if *old == stamps {
                return Ok(value.clone());
            }
        }
        let value = Arc::new(derive()?);
        *cached = Some((stamps, value.clone()));
        Ok(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derives_again_only_when_a_stamp_changes() {
        let dir = std::env::temp_dir().join(format!("fn-runner-watch-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("f");
        std::fs::write(&file, "one").unwrap();
        let watched: Watched<String> = Watched::default();
        let mut derived = 0;
        let mut read = |stamps: Stamps| {
            watched
                .get(stamps, || {
                    derived += 1;
                    std::fs::read_to_string(&file).map_err(|_| ())
                })
                .unwrap()
        };
        assert_eq!(*read(vec![FileStamp::of_maybe(&file)]), "one");
        assert_eq!(*read(vec![FileStamp::of_maybe(&file)]), "one");
        // A symlink swap: the path now names another inode.
        std::fs::write(dir.join("g"), "two!").unwrap();
        std::fs::rename(dir.join("g"), &file).unwrap();
        assert_eq!(*read(vec![FileStamp::of_maybe(&file)]), "two!");
        assert_eq!(derived, 2);
        assert_eq!(FileStamp::of_maybe(&dir.join("missing")), None);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_failure_is_not_cached() {
        let watched: Watched<u8> = Watched::default();
        assert!(watched.get(vec![None], || Err::<u8, ()>(())).is_err());
        assert_eq!(*watched.get(vec![None], || Ok::<u8, ()>(7)).unwrap(), 7);
    }
}
