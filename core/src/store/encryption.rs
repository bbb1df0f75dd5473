//! Encryption at rest (docs/adr/0011): SQLCipher encrypts every page of the store file and of
//! its WAL, so ticket documents, the index table and the photo and signature blobs (which live
//! in the same file) are unreadable without the key.
//!
//! - The key is 32 random bytes the app keeps in the platform keystore (Android Keystore, iOS
//!   Keychain) and hands over at every open. It is given to SQLCipher as a raw key
//!   (`PRAGMA key = "x'…'"`), so no password derivation runs at open.
//! - A wrong key, no key for an encrypted store, or a key for a plaintext store is a typed
//!   error; the opener never moves such a file aside (see [`super::Store::open`]).
//! - [`encrypt_existing`] turns a plaintext store into an encrypted one, once, crash-safely.

use std::fmt::Write as _;
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use rusqlite::{Connection, OpenFlags};
use zeroize::Zeroizing;

use super::StoreError;

/// The first 16 bytes of every plaintext SQLite database file.
const SQLITE_HEADER: &[u8; 16] = b"SQLite format 3\0";

/// A store key: 32 bytes, best made by the platform's keystore. Never printed: its `Debug`
/// shows nothing of it, and its bytes are wiped when it is dropped.
#[derive(Clone)]
pub struct StoreKey(Zeroizing<[u8; 32]>);

impl StoreKey {
    /// The key's length in bytes.
    pub const LEN: usize = 32;

    /// A key from 32 raw bytes; any other length is refused.
    pub fn from_bytes(bytes: &[u8]) -> Result<StoreKey, StoreError> {
        let mut key = Zeroizing::new([0u8; Self::LEN]);
        if bytes.len() != Self::LEN {
            return Err(StoreError::InvalidKey(format!("a store key is {} bytes, not {}", Self::LEN, bytes.len())));
        }
        key.copy_from_slice(bytes);
        Ok(StoreKey(key))
    }

    /// A key from 64 hexadecimal digits (surrounding whitespace ignored), as a key file or an
    /// environment variable holds it.
    pub fn from_hex(text: &str) -> Result<StoreKey, StoreError> {
        let mut bytes = Zeroizing::new([0u8; Self::LEN]);
        hex::decode_to_slice(text.trim(), &mut bytes[..])
            .map_err(|_| StoreError::InvalidKey(format!("a store key is {} hexadecimal digits", 2 * Self::LEN)))?;
        Self::from_bytes(&bytes[..])
    }

    /// SQLCipher's raw-key literal, `x'…'` (64 hexadecimal digits), in a buffer wiped on drop.
    fn raw_literal(&self) -> Zeroizing<String> {
        // Sized up front so the string never reallocates and leaves a copy behind.
        let mut literal = Zeroizing::new(String::with_capacity(3 + 2 * Self::LEN));
        literal.push_str("x'");
        for byte in self.0.iter() {
            // Writing to a String cannot fail.
            let _ = write!(literal, "{byte:02x}");
        }
        literal.push('\'');
        literal
    }

    /// `PRAGMA key = "x'…'";` for this key, in a buffer wiped on drop.
    fn pragma(&self) -> Zeroizing<String> {
        let literal = self.raw_literal();
        let mut sql = Zeroizing::new(String::with_capacity(20 + literal.len()));
        sql.push_str("PRAGMA key = \"");
        sql.push_str(&literal);
        sql.push_str("\";");
        sql
    }
}

impl std::fmt::Debug for StoreKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StoreKey(<redacted>)")
    }
}

/// Gives `conn` its key. Must be the first statement on the connection: SQLCipher reads the
/// key when it first touches the file.
pub(crate) fn apply_key(conn: &Connection, key: &StoreKey) -> Result<(), StoreError> {
    conn.execute_batch(&key.pragma())?;
    // Without SQLCipher linked in, `PRAGMA key` is silently ignored and the store would be
    // written in plaintext: refuse instead.
    let version: Option<String> = conn.query_row("PRAGMA cipher_version", [], |row| row.get(0)).ok();
    if version.is_none_or(|v| v.is_empty()) {
        return Err(StoreError::EncryptionUnavailable);
    }
    Ok(())
}

/// What a file that SQLite refused to read looks like from outside.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Unreadable {
    /// It starts with SQLite's plaintext header.
    Plaintext,
    /// Whole pages of bytes with no structure: what SQLCipher writes.
    LooksEncrypted,
    /// Anything else: text, zeros, a torn file.
    Garbage,
}

/// Looks at the start of the file at `path` (and, when it is too short to tell, at its WAL,
/// where a store that never checkpointed keeps its pages).
pub(crate) fn inspect(path: &Path) -> Result<Unreadable, StoreError> {
    let head = read_head(path, 4096)?;
    if head.len() >= SQLITE_HEADER.len() && head[..SQLITE_HEADER.len()] == SQLITE_HEADER[..] {
        return Ok(Unreadable::Plaintext);
    }
    let length = std::fs::metadata(path)?.len();
    if length >= 512 && length % 512 == 0 && looks_random(&head) {
        return Ok(Unreadable::LooksEncrypted);
    }
    // An (almost) empty main file: SQLite read page 1 from the WAL. The WAL's 32-byte header is
    // plaintext in both cases; its first frame's page is what tells.
    let wal = sibling(path, "-wal");
    if length < 512 && wal.exists() {
        let wal_head = read_head(&wal, 32 + 24 + 4096)?;
        if wal_head.len() > 32 + 24 + 512 && looks_random(&wal_head[32 + 24..]) {
            return Ok(Unreadable::LooksEncrypted);
        }
    }
    Ok(Unreadable::Garbage)
}

/// Encrypted pages are indistinguishable from random bytes: nearly every byte value occurs in
/// a few hundred bytes. Text, zeros and SQLite's own structures use far fewer.
fn looks_random(bytes: &[u8]) -> bool {
    let sample = &bytes[..bytes.len().min(1024)];
    if sample.len() < 512 {
        return false;
    }
    let mut seen = [false; 256];
    for &b in sample {
        seen[usize::from(b)] = true;
    }
    // Random data: about 220 distinct values in 512 bytes, 250 in 1,024.
    seen.iter().filter(|&&s| s).count() >= 180
}

fn read_head(path: &Path, limit: u64) -> Result<Vec<u8>, StoreError> {
    let mut head = Vec::new();
    File::open(path)?.take(limit).read_to_end(&mut head)?;
    Ok(head)
}

pub(crate) fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// Encrypts the plaintext store at `path` with `key`, in place, once: what an app does when it
/// starts encrypting the stores it already has. The store must not be open.
///
/// The encrypted copy is written next to the store (`<path>.encrypting`), synced, and checked
/// (SQLite's and SQLCipher's integrity checks, the schema version, every table's row count);
/// only then does one atomic rename put it in the plaintext's place. A crash at any moment
/// leaves either the plaintext store, whole, or the encrypted one. Calling it again on a store
/// the key already opens does nothing.
pub fn encrypt_existing(path: &Path, key: &StoreKey) -> Result<(), StoreError> {
    // Held to the end: no client of this process opens the store half-way (claims.rs).
    let _claim = super::claims::claim(path)?;
    match inspect(path)? {
        Unreadable::Plaintext => {}
        _ => return check_key(path, key),
    }
    let staging = sibling(path, ".encrypting");
    // A leftover of an interrupted run: incomplete by definition, the plaintext is still whole.
    remove_with_sidecars(&staging)?;
    let result = export(path, &staging, key).and_then(|plaintext| verify(&staging, key, &plaintext));
    if let Err(e) = result {
        // Best effort: the plaintext store was not touched, the half-made copy is only clutter.
        let _ = remove_with_sidecars(&staging);
        return Err(e);
    }
    File::open(&staging)?.sync_all()?;
    std::fs::rename(&staging, path)?;
    if let Some(dir) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        // Makes the rename itself durable (a directory fsync; not possible on every platform).
        if let Ok(dir) = File::open(dir) {
            let _ = dir.sync_all();
        }
    }
    // The plaintext store's shared-memory index must not be read against the new file.
    let shm = sibling(path, "-shm");
    if shm.exists() {
        std::fs::remove_file(shm)?;
    }
    Ok(())
}

/// Copies the plaintext store into a new encrypted file with SQLCipher's own exporter; returns
/// what the plaintext store held (see [`contents`]).
fn export(path: &Path, staging: &Path, key: &StoreKey) -> Result<Vec<(String, i64)>, StoreError> {
    // CREATE: ATTACH creates the new file with the main connection's flags.
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    let version: i64 = conn.query_row("PRAGMA user_version", [], |row| row.get(0))?;
    let staging_name = staging.to_str().ok_or_else(|| {
        StoreError::Io(std::io::Error::new(std::io::ErrorKind::InvalidInput, "the store path is not UTF-8"))
    })?;
    // The raw-key literal as a bound text value: SQLCipher reads `x'…'` as a raw key, and the
    // key never enters the SQL text.
    conn.execute("ATTACH DATABASE ?1 AS encrypted KEY ?2", [staging_name, key.raw_literal().as_str()])?;
    // One write transaction: no other writer can slip a change in between the tables.
    conn.execute_batch("BEGIN IMMEDIATE")?;
    let exported = conn
        .query_row("SELECT sqlcipher_export('encrypted')", [], |_| Ok(()))
        .and_then(|()| conn.pragma_update(Some("encrypted"), "user_version", version))
        .and_then(|()| conn.execute_batch("COMMIT"));
    if let Err(e) = exported {
        let _ = conn.execute_batch("ROLLBACK");
        return Err(e.into());
    }
    conn.execute_batch("DETACH DATABASE encrypted")?;
    let plaintext = contents(&conn)?;
    conn.close().map_err(|(_, e)| e)?;
    // The last connection to close removes the WAL; one still there means the store is open
    // elsewhere, and a rename now would lose what that connection writes next.
    if sibling(path, "-wal").exists() {
        return Err(StoreError::InUse);
    }
    Ok(plaintext)
}

/// The encrypted copy opens with the key, passes both integrity checks, and holds what the
/// plaintext store held.
fn verify(staging: &Path, key: &StoreKey, plaintext: &[(String, i64)]) -> Result<(), StoreError> {
    let encrypted = Connection::open_with_flags(staging, OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    apply_key(&encrypted, key)?;
    let verdict: String = encrypted.query_row("PRAGMA integrity_check", [], |row| row.get(0))?;
    let mut pages = encrypted.prepare("PRAGMA cipher_integrity_check")?;
    let page_errors = pages.query_map([], |_| Ok(()))?.count();
    drop(pages);
    if verdict != "ok" || page_errors != 0 || contents(&encrypted)? != plaintext {
        return Err(StoreError::EncryptionFailed);
    }
    Ok(())
}

/// The schema version and every table's row count: what must match after the export.
fn contents(conn: &Connection) -> Result<Vec<(String, i64)>, StoreError> {
    let version: i64 = conn.query_row("PRAGMA user_version", [], |row| row.get(0))?;
    let names = conn
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")?
        .query_map([], |row| row.get::<_, String>(0))?
        .collect::<Result<Vec<_>, _>>()?;
    let mut tables = vec![("user_version".to_owned(), version)];
    for name in names {
        let sql = format!("SELECT COUNT(*) FROM \"{}\"", name.replace('"', "\"\""));
        let count: i64 = conn.query_row(&sql, [], |row| row.get(0))?;
        tables.push((name, count));
    }
    Ok(tables)
}

/// Whether `key` opens the (already encrypted) store at `path`; reads only.
pub(crate) fn check_key(path: &Path, key: &StoreKey) -> Result<(), StoreError> {
    let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    apply_key(&conn, key)?;
    match conn.query_row("SELECT COUNT(*) FROM sqlite_master", [], |row| row.get::<_, i64>(0)) {
        Ok(_) => Ok(()),
        Err(e) if e.sqlite_error_code() == Some(rusqlite::ErrorCode::NotADatabase) => Err(StoreError::WrongKey),
        Err(e) => Err(e.into()),
    }
}

fn remove_with_sidecars(path: &Path) -> Result<(), StoreError> {
    for suffix in ["", "-wal", "-shm", "-journal"] {
        match std::fs::remove_file(sibling(path, suffix)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e.into()),
            _ => {}
        }
    }
    Ok(())
}
