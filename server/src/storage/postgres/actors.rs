//! Server actors bound at device creation on PostgreSQL (see `crate::actors`).

use super::{PostgresStorage, Tx};
use crate::storage::StorageError;

/// Binds `device_id`'s server actor to it, taking it back from a device that claimed it first
/// (a squat from before actors were bound at creation). Returns whether it was taken back.
pub(super) fn bind_server_actor(tx: &mut Tx<'_>, device_id: &str) -> Result<bool, StorageError> {
    let actor = crate::actors::server_actor_hex(device_id);
    let squatter: Option<String> = tx
        .query_opt("SELECT device_id FROM actors WHERE actor_hex = $1 AND device_id <> $2", &[&actor, &device_id])?
        .map(|row| row.get(0));
    tx.execute(
        "INSERT INTO actors (actor_hex, device_id) VALUES ($1, $2)
         ON CONFLICT (actor_hex) DO UPDATE SET device_id = excluded.device_id",
        &[&actor, &device_id],
    )?;
    if let Some(squatter) = &squatter {
        eprintln!(
            "fieldsync-server: the server actor of device {device_id} was claimed by device {squatter}; bound back"
        );
    }
    Ok(squatter.is_some())
}

/// Binds the server actor of every device that lacks it (devices created before actors were
/// bound at creation), in one transaction at open. Idempotent, so instances starting together
/// agree.
pub(super) fn bind_every_server_actor(storage: &PostgresStorage) -> Result<(), StorageError> {
    storage.write(|tx| {
        let devices: Vec<String> =
            tx.query("SELECT id FROM devices ORDER BY id", &[])?.iter().map(|row| row.get(0)).collect();
        for device in &devices {
            bind_server_actor(tx, device)?;
        }
        Ok(())
    })
}
