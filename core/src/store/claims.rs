//! One open client per store file per process (issue 14, Deliver 5; docs/adr/0021).
//!
//! Two clients on one file would each keep their own document cache and subscribers: one's
//! writes would never reach the other's observers, and an action could start from a document
//! the other had moved on. So a store is claimed before it is opened (before a migration or a
//! corrupt file moved aside could touch it) and released when its client closes or is dropped.
//! A second open while the claim is held is [`StoreError::InUse`] and leaves the file alone.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use super::StoreError;

static CLAIMED: Mutex<BTreeSet<PathBuf>> = Mutex::new(BTreeSet::new());

/// A held claim on one store file; dropping it releases the file.
#[derive(Debug)]
pub struct StoreClaim {
    path: PathBuf,
}

/// Claims the store at `path` for this process, or says it is in use.
pub fn claim(path: &Path) -> Result<StoreClaim, StoreError> {
    let path = identity_of(path)?;
    if !claimed()?.insert(path.clone()) {
        return Err(StoreError::InUse);
    }
    Ok(StoreClaim { path })
}

/// Whether a client of this process has the store at `path` open.
pub fn is_claimed(path: &Path) -> Result<bool, StoreError> {
    let path = identity_of(path)?;
    Ok(claimed()?.contains(&path))
}

impl Drop for StoreClaim {
    fn drop(&mut self) {
        // A poisoned set still holds the right paths: a panic cannot happen between the
        // check and the insert above.
        let mut set = CLAIMED.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        set.remove(&self.path);
    }
}

fn claimed() -> Result<MutexGuard<'static, BTreeSet<PathBuf>>, StoreError> {
    Ok(CLAIMED.lock().unwrap_or_else(|poisoned| poisoned.into_inner()))
}

/// One name per file, however it was spelled: the canonical folder (symbolic links, `..`
/// resolved) and the file's name; the whole path resolved when the file itself is a link.
fn identity_of(path: &Path) -> Result<PathBuf, StoreError> {
    if let Ok(real) = std::fs::canonicalize(path) {
        return Ok(real);
    }
    let absolute = std::path::absolute(path)?;
    match (absolute.parent(), absolute.file_name()) {
        (Some(parent), Some(name)) => match std::fs::canonicalize(parent) {
            Ok(parent) => Ok(parent.join(name)),
            // The folder does not exist yet: nobody else can have this file open.
            Err(_) => Ok(absolute),
        },
        _ => Ok(absolute),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_store_is_claimed_once_under_any_spelling_and_released_on_drop() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir(dir.path().join("sub")).expect("sub");
        let path = dir.path().join("eli.sqlite");
        let first = claim(&path).expect("first claim");
        assert!(matches!(claim(&path), Err(StoreError::InUse)));
        let other_spelling = dir.path().join("sub").join("..").join("eli.sqlite");
        assert!(matches!(claim(&other_spelling), Err(StoreError::InUse)));
        assert!(is_claimed(&other_spelling).expect("asked"));
        let _other_store = claim(&dir.path().join("sam.sqlite")).expect("another store is free");
        drop(first);
        assert!(!is_claimed(&path).expect("asked"));
        let _again = claim(&other_spelling).expect("claimed again once released");
    }
}
