//! Which Automerge actors the server reserves, and the one derivation of a device's server
//! actor (issue 13, attack 6).
//!
//! A dispatcher's REST actions are written with a server-side actor derived from their device
//! id. That actor is bound to the device when the device is created (and, for devices created
//! before that rule, when the storage opens), so no device can claim it first by pushing a
//! change under it. A push is refused when it carries a reserved actor: the server actor of
//! any device (another device's is bound to that device; the pusher's own is refused here) or
//! the compensation actor.

use automerge::ActorId;
use sha2::{Digest, Sha256};

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
    if actor_hex == crate::rules::compensation_actor().to_hex_string()
        || actor_hex == customer_actor().to_hex_string()
        || actor_hex == crate::escalator::escalation_actor().to_hex_string()
    {
        Some("change from the server's actor")
    } else if actor_hex == server_actor_hex(pusher_device_id) {
        Some("change from a server actor (reserved for the server's own writes)")
    } else {
        None
    }
}
