//! The default blob store: files under one directory.
//!
//! ```text
//! <root>/ab/abcd…       complete blobs, sharded by the first two hex characters
//! <root>/partial/abcd…  the bytes received of an upload in progress
//! <root>/partial/abcd….length  its declared total length (decimal), written before any byte
//! ```
//!
//! The offset of an upload is the length of its partial file: each chunk is written and
//! fsynced before it is acknowledged, and a failed write is truncated back, so the file holds
//! exactly the acknowledged bytes (a crash can at worst keep a chunk that was written but not
//! acknowledged; the device learns the offset from `HEAD`). A complete upload is hashed, then
//! renamed into place and the directory fsynced: a file in a shard is always complete and
//! verified. One lock per blob serializes the operations on it within this process (one
//! server per data directory, as with the SQLite file).

use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io::{ErrorKind, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use sha2::{Digest, Sha256};

use super::{BlobError, BlobId, BlobReader, BlobState, BlobStore};

/// Blobs as files under one directory.
#[derive(Debug)]
pub struct FsBlobStore {
    root: PathBuf,
    partial: PathBuf,
    locks: Mutex<HashMap<BlobId, Arc<Mutex<()>>>>,
}

impl FsBlobStore {
    /// Opens (creating) the store at `root`.
    pub fn open(root: &Path) -> Result<FsBlobStore, BlobError> {
        let partial = root.join("partial");
        fs::create_dir_all(&partial)?;
        Ok(FsBlobStore { root: root.to_owned(), partial, locks: Mutex::new(HashMap::new()) })
    }

    fn complete_path(&self, id: &BlobId) -> PathBuf {
        self.root.join(&id.as_str()[..2]).join(id.as_str())
    }

    fn partial_path(&self, id: &BlobId) -> PathBuf {
        self.partial.join(id.as_str())
    }

    fn length_path(&self, id: &BlobId) -> PathBuf {
        self.partial.join(format!("{id}.length"))
    }

    /// Runs `f` holding the blob's lock.
    fn locked<T>(&self, id: &BlobId, f: impl FnOnce() -> T) -> T {
        let lock = {
            let mut locks = self.locks.lock().unwrap_or_else(PoisonError::into_inner);
            Arc::clone(locks.entry(id.clone()).or_default())
        };
        let value = {
            // The lock guards no data: a panic elsewhere leaves nothing half-done in it.
            let _held: MutexGuard<'_, ()> = lock.lock().unwrap_or_else(PoisonError::into_inner);
            f()
        };
        drop(lock);
        let mut locks = self.locks.lock().unwrap_or_else(PoisonError::into_inner);
        if locks.get(id).is_some_and(|l| Arc::strong_count(l) == 1) {
            locks.remove(id);
        }
        value
    }

    fn complete_length(&self, id: &BlobId) -> Result<Option<u64>, BlobError> {
        match fs::metadata(self.complete_path(id)) {
            Ok(meta) => Ok(Some(meta.len())),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    fn declared_length(&self, id: &BlobId) -> Result<Option<u64>, BlobError> {
        match fs::read_to_string(self.length_path(id)) {
            Ok(text) => text
                .trim()
                .parse()
                .map(Some)
                .map_err(|_| BlobError::Backend(format!("the length file of upload {id} is damaged"))),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    fn received(&self, id: &BlobId) -> Result<u64, BlobError> {
        match fs::metadata(self.partial_path(id)) {
            Ok(meta) => Ok(meta.len()),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(0),
            Err(e) => Err(e.into()),
        }
    }

    fn state_unlocked(&self, id: &BlobId) -> Result<BlobState, BlobError> {
        if let Some(length) = self.complete_length(id)? {
            return Ok(BlobState::Complete { length });
        }
        match self.declared_length(id)? {
            Some(length) => Ok(BlobState::Partial { offset: self.received(id)?, length }),
            None => Ok(BlobState::Absent),
        }
    }

    /// Starts an upload: its length file, durably, before any byte.
    fn start(&self, id: &BlobId, length: u64) -> Result<(), BlobError> {
        let tmp = self.partial.join(format!("{id}.length.tmp"));
        let mut file = File::create(&tmp)?;
        file.write_all(length.to_string().as_bytes())?;
        file.sync_all()?;
        fs::rename(&tmp, self.length_path(id))?;
        sync_dir(&self.partial)
    }

    /// Writes `chunk` at `offset` of the partial file and fsyncs it; on failure the file is
    /// cut back to `offset`.
    fn write_chunk(&self, id: &BlobId, offset: u64, chunk: &[u8]) -> Result<(), BlobError> {
        let path = self.partial_path(id);
        let created = offset == 0;
        let mut file = OpenOptions::new().create(true).truncate(false).write(true).open(&path)?;
        let written = (|| {
            file.seek(SeekFrom::Start(offset))?;
            file.write_all(chunk)?;
            file.sync_data()
        })();
        if let Err(e) = written {
            // Best effort: the offset must stay what was acknowledged.
            let _ = file.set_len(offset).and_then(|()| file.sync_data());
            return Err(e.into());
        }
        if created { sync_dir(&self.partial) } else { Ok(()) }
    }

    /// Hashes a finished upload; moves it into place when it matches, discards it when not.
    fn finish(&self, id: &BlobId, length: u64) -> Result<BlobState, BlobError> {
        let partial = self.partial_path(id);
        let actual = hash_file(&partial)?;
        if actual != id.as_str() {
            self.discard(id)?;
            return Err(BlobError::HashMismatch { expected: id.to_string(), actual });
        }
        let target = self.complete_path(id);
        let shard = self.root.join(&id.as_str()[..2]);
        fs::create_dir_all(&shard)?;
        fs::rename(&partial, &target)?;
        sync_dir(&shard)?;
        remove_if_present(&self.length_path(id))?;
        sync_dir(&self.partial)?;
        Ok(BlobState::Complete { length })
    }

    /// The blob's state, finishing an upload whose completion was cut short: a partial file
    /// holding every declared byte means the server stopped (a crash, a failed hash read)
    /// between the last chunk's fsync and the rename. Left as it was, it would answer
    /// `Upload-Offset = length` without `Upload-Complete` for ever and the device could never
    /// finish it; so it is hashed and moved into place now, or discarded on a mismatch (the
    /// upload then starts over).
    fn settled_state(&self, id: &BlobId) -> Result<BlobState, BlobError> {
        match self.state_unlocked(id)? {
            BlobState::Partial { offset, length } if offset == length => match self.finish(id, length) {
                Err(BlobError::HashMismatch { .. }) => Ok(BlobState::Absent),
                settled => settled,
            },
            state => Ok(state),
        }
    }

    fn discard(&self, id: &BlobId) -> Result<(), BlobError> {
        remove_if_present(&self.partial_path(id))?;
        remove_if_present(&self.length_path(id))?;
        sync_dir(&self.partial)
    }
}

impl BlobStore for FsBlobStore {
    fn state(&self, id: &BlobId) -> Result<BlobState, BlobError> {
        self.locked(id, || self.settled_state(id))
    }

    fn append(&self, id: &BlobId, offset: u64, length: u64, chunk: &[u8]) -> Result<BlobState, BlobError> {
        self.locked(id, || {
            let current = match self.settled_state(id)? {
                complete @ BlobState::Complete { .. } => return Ok(complete),
                BlobState::Partial { offset: received, length: declared } => {
                    if declared != length {
                        return Err(BlobError::LengthMismatch { declared, sent: length, offset: received });
                    }
                    received
                }
                BlobState::Absent => 0,
            };
            if offset != current {
                return Err(BlobError::OffsetMismatch { current, sent: offset });
            }
            let end = u64::try_from(chunk.len()).ok().and_then(|n| offset.checked_add(n)).unwrap_or(u64::MAX);
            if end > length {
                return Err(BlobError::PastEnd { end, length });
            }
            if self.declared_length(id)?.is_none() {
                self.start(id, length)?;
            }
            self.write_chunk(id, offset, chunk)?;
            if end == length { self.finish(id, length) } else { Ok(BlobState::Partial { offset: end, length }) }
        })
    }

    fn read_range(&self, id: &BlobId, offset: u64, len: usize) -> Result<Option<Vec<u8>>, BlobError> {
        // Under the blob's lock: a partial file is not completed or discarded meanwhile.
        self.locked(id, || {
            let mut file = None;
            for path in [self.complete_path(id), self.partial_path(id)] {
                match File::open(&path) {
                    Ok(found) => {
                        file = Some(found);
                        break;
                    }
                    Err(e) if e.kind() == ErrorKind::NotFound => {}
                    Err(e) => return Err(e.into()),
                }
            }
            let Some(mut file) = file else { return Ok(None) };
            let end = u64::try_from(len).ok().and_then(|n| offset.checked_add(n));
            if end.is_none_or(|end| end > file.metadata().map(|m| m.len()).unwrap_or(0)) {
                return Ok(None);
            }
            file.seek(SeekFrom::Start(offset))?;
            let mut bytes = vec![0; len];
            file.read_exact(&mut bytes)?;
            Ok(Some(bytes))
        })
    }

    fn discard_partial(&self, id: &BlobId) -> Result<BlobState, BlobError> {
        self.locked(id, || match self.settled_state(id)? {
            complete @ BlobState::Complete { .. } => Ok(complete),
            _ => {
                self.discard(id)?;
                Ok(BlobState::Absent)
            }
        })
    }

    fn open(&self, id: &BlobId) -> Result<Option<BlobReader>, BlobError> {
        match File::open(self.complete_path(id)) {
            Ok(file) => {
                let length = file.metadata()?.len();
                Ok(Some(BlobReader { length, reader: Box::new(file) }))
            }
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e.into()),
        }
    }
}

fn hash_file(path: &Path) -> Result<String, BlobError> {
    let mut file = File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 256 * 1024];
    loop {
        let n = file.read(&mut buffer)?;
        if n == 0 {
            break;
        }
        hasher.update(&buffer[..n]);
    }
    Ok(hex::encode(hasher.finalize()))
}

fn remove_if_present(path: &Path) -> Result<(), BlobError> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != ErrorKind::NotFound => Err(e.into()),
        _ => Ok(()),
    }
}

/// Makes a directory's entries (a created or renamed file) durable.
fn sync_dir(dir: &Path) -> Result<(), BlobError> {
    #[cfg(unix)]
    File::open(dir)?.sync_all()?;
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}
