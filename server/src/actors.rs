//! Which Automerge actors the server reserves, and the one derivation of a device's server
//! actor (issue 13, attack 6).
//!
//! A dispatcher's REST actions are written with a server-side actor derived from their device
//! id. That actor is bound to the device when the device is created (and, for devices created
//! before that rule, when the storage opens), so no device can claim it first by pushing a
//! change under it. A push is refused when it carries a reserved actor: the server actor of
//! any device (another device's is bound to that device; the pusher's own is refused here) or
//! the compensation actor.

use std::collections::HashMap;
use std::sync::{LazyLock, Mutex, PoisonError};

use automerge::ActorId;
use sha2::{Digest, Sha256};

use crate::AppState;
use crate::storage::StorageError;

/// Most bindings [`Bindings`] keeps before it starts again (~100 bytes each).
const BINDINGS_KEPT: usize = 100_000;

/// The server's Automerge actor for the REST actions of device `device_id`: the first 16
/// bytes of SHA-256 of `fieldsync-server-actor/<device id>`.
pub fn server_actor(device_id: &str) -> ActorId {
    let digest = Sha256::digest(format!("fieldsync-server-actor/{device_id}").as_bytes());
    ActorId::from(&digest[..16])
}

/// [`server_actor`] as the lowercase hex the actors table keys on.
pub fn server_actor_hex(device_id: &str) -> String {
    server_actor(device_id).to_hex_string()
}

/// The server's Automerge actor for what the customer writes on the tracking page (messages,
/// the rating). Bound to no device; a push carrying it is refused ([`reserved`]).
pub fn customer_actor() -> ActorId {
    let digest = Sha256::digest(b"fieldsync-server/customer");
    ActorId::from(&digest[..16])
}

/// Why a pushed actor is reserved for the server, if it is: the compensation actor, or the
/// pushing device's own server actor (the server actors of other devices are bound to those
/// devices and refused as foreign).
pub(crate) fn reserved(actor_hex: &str, pusher_device_id: &str) -> Option<&'static str> {
    // Hashed once: every push asks for each of its actors.
    static SERVER_ACTORS: LazyLock<[String; 3]> = LazyLock::new(|| {
        [crate::rules::compensation_actor(), customer_actor(), crate::escalator::escalation_actor()]
            .map(|actor| actor.to_hex_string())
    });
    if SERVER_ACTORS.iter().any(|server| server == actor_hex) {
        Some("change from the server's actor")
    } else if actor_hex == server_actor_hex(pusher_device_id) {
        Some("change from a server actor (reserved for the server's own writes)")
    } else {
        None
    }
}

/// The device each actor is bound to, as far as this server has read or made the binding. A
/// binding changes only when a device is created whose server actor a push claimed first (it
/// is bound back to the new device, storage/*/actors.rs; [`bound_at_creation`] tells this
/// server); `register_actor` keeps the first binding and nothing deletes one, so a push by an
/// actor seen before needs no read of storage (docs/adr/0026). On several instances each keeps
/// its own: another instance could only hold a claim made before the device existed, which
/// needs the device's random id (74 bits of a UUIDv7) guessed before it is made.
#[derive(Default)]
pub(crate) struct Bindings {
    devices: Mutex<HashMap<String, String>>,
}

impl Bindings {
    fn known(&self, actor: &str) -> Option<String> {
        self.devices.lock().unwrap_or_else(PoisonError::into_inner).get(actor).cloned()
    }

    fn remember(&self, actor: &str, device_id: &str) {
        let mut devices = self.devices.lock().unwrap_or_else(PoisonError::into_inner);
        if devices.len() >= BINDINGS_KEPT {
            devices.clear();
        }
        devices.insert(actor.to_owned(), device_id.to_owned());
    }
}

/// The devices `actors` are bound to, as `(actor, device id)`; an actor bound to none is left
/// out. Storage is read only for actors this server has not seen bound.
pub(crate) fn bound_devices(state: &AppState, actors: &[String]) -> Result<Vec<(String, String)>, StorageError> {
    let bindings = state.actor_bindings();
    let mut found = Vec::with_capacity(actors.len());
    let mut unknown = Vec::new();
    for actor in actors {
        match bindings.known(actor) {
            Some(device_id) => found.push((actor.clone(), device_id)),
            None => unknown.push(actor.clone()),
        }
    }
    if !unknown.is_empty() {
        for record in state.storage().actors(&unknown)? {
            bindings.remember(&record.actor, &record.device_id);
            found.push((record.actor, record.device_id));
        }
    }
    Ok(found)
}

/// Binds `actor` to `device_id` unless it is bound already; returns the device it is bound to
/// (a binding this server has seen is not written again).
pub(crate) fn register(state: &AppState, actor: &str, device_id: &str) -> Result<String, StorageError> {
    if let Some(owner) = state.actor_bindings().known(actor) {
        return Ok(owner);
    }
    let owner = state.storage().register_actor(actor, device_id)?;
    state.actor_bindings().remember(actor, &owner);
    Ok(owner)
}

/// Device `device_id` was just created and its server actor bound to it (taken back from a
/// device that claimed it first by pushing, if one did): this server's bindings say so too.
pub(crate) fn bound_at_creation(state: &AppState, device_id: &str) {
    state.actor_bindings().remember(&server_actor_hex(device_id), device_id);
}

#[cfg(test)]
mod tests {
    use fieldsync_core::Role;

    use super::*;
    use crate::ServerConfig;

    /// A device that pushed under another device's server actor before that device existed
    /// (its id guessed) loses the actor when the device is created, on this server too: its
    /// next push under it is another device's actor, not its own remembered claim.
    #[test]
    fn a_claimed_server_actor_is_bound_back_in_the_bindings_when_its_device_is_created() {
        let dir = tempfile::tempdir().expect("tempdir");
        let state = AppState::open(dir.path(), ServerConfig::default()).expect("open");
        let (_, hostile, _) = state.add_user("mallory", Role::Engineer).expect("mallory");
        state
            .storage()
            .create_user(&crate::storage::UserRecord { id: "dana".into(), name: "dana".into(), role: Role::Dispatcher })
            .expect("dana");
        let guessed = "0192f000-0000-7000-8000-000000000001";
        let actor = server_actor_hex(guessed);
        assert_eq!(register(&state, &actor, &hostile).expect("claim"), hostile, "the claim is made and remembered");

        state.create_device("dana", guessed, "dana-token").expect("create the device");

        let bound = bound_devices(&state, std::slice::from_ref(&actor)).expect("bound");
        assert_eq!(bound, vec![(actor.clone(), guessed.to_owned())], "this server's bindings say what storage says");
        let stored = state.storage().actors(std::slice::from_ref(&actor)).expect("stored");
        assert_eq!(stored.into_iter().map(|r| r.device_id).collect::<Vec<_>>(), vec![guessed.to_owned()]);
    }
}
