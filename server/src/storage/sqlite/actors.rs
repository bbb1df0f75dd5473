//! Server actors bound at device creation on SQLite (see `crate::actors`).

use rusqlite::{Connection, OptionalExtension, params};

use crate::storage::StorageError;

/// Binds `device_id`'s server actor to it, taking it back from a device that claimed it first
/// (a squat from before actors were bound at creation). Returns whether it was taken back.
pub(super) fn bind_server_actor(tx: &Connection, device_id: &str) -> Result<bool, StorageError> {
    let actor = crate::actors::server_actor_hex(device_id);
    let squatter: Option<String> = tx
        .query_row(
            "SELECT device_id FROM actors WHERE actor_hex = ?1 AND device_id <> ?2",
            params![actor, device_id],
            |r| r.get(0),
        )
        .optional()?;
    tx.prepare_cached(
        "INSERT INTO actors (actor_hex, device_id) VALUES (?1, ?2)
         ON CONFLICT (actor_hex) DO UPDATE SET device_id = excluded.device_id",
    )?
    .execute(params![actor, device_id])?;
    if let Some(squatter) = &squatter {
        eprintln!(
            "fieldsync-server: the server actor of device {device_id} was claimed by device {squatter}; bound back"
        );
    }
    Ok(squatter.is_some())
}

/// Binds the server actor of every device that lacks it (devices created before actors were
/// bound at creation), in one transaction at open.
pub(super) fn bind_every_server_actor(conn: &mut Connection) -> Result<(), StorageError> {
    // Immediate: a deferred transaction that reads and then writes fails at once with
    // SQLITE_BUSY when another process (a running server, while `fieldsync user add` opens the
    // same file) wrote in between; taking the write lock first waits out the busy timeout.
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let devices: Vec<String> = {
        let mut stmt = tx.prepare("SELECT id FROM devices ORDER BY id")?;
        let rows = stmt.query_map([], |r| r.get(0))?;
        rows.collect::<Result<_, _>>()?
    };
    for device in &devices {
        bind_server_actor(&tx, device)?;
    }
    tx.commit()?;
    Ok(())
}
