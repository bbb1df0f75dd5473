//! Whose store this is: one user on one device (issue 13, "Identity").
//!
//! The first open records the user, the device and a fresh Automerge actor in the store's
//! `meta` table; every later open must name the same user and device. The actor is bound to the
//! device on the server at its first push, so a store moved to another device (or user) could
//! never push again: it is refused here, before anything is read or written, and the sync
//! engine refuses a token of anyone else before anything is sent (`crate::sync::identity`).

use automerge::ActorId;
use rusqlite::Connection;

use crate::error::Error;
use crate::model::{Identity, ids};
use crate::store::StoreError;
use crate::store::tickets;

const META_USER: &str = "user_id";
const META_DEVICE: &str = "device_id";
const META_ACTOR: &str = "actor";

/// Checks that the store belongs to `identity` (recording it on first use) and returns the
/// store's actor (made on first use). A store older than the device binding has no device
/// yet: the first device to open it after the upgrade is recorded, as the user was once.
pub(super) fn claim(tx: &Connection, identity: &Identity) -> Result<ActorId, Error> {
    match tickets::get_meta(tx, META_USER)? {
        Some(owner) if owner != identity.user_id => return Err(StoreError::WrongUser.into()),
        Some(_) => {}
        None => tickets::set_meta(tx, META_USER, &identity.user_id)?,
    }
    match tickets::get_meta(tx, META_DEVICE)? {
        Some(device) if device != identity.device_id => return Err(StoreError::WrongDevice.into()),
        Some(_) => {}
        None => tickets::set_meta(tx, META_DEVICE, &identity.device_id)?,
    }
    let stored = tickets::get_meta(tx, META_ACTOR)?.and_then(|hex| ActorId::try_from(hex.as_str()).ok());
    Ok(match stored {
        Some(actor) => actor,
        None => {
            let actor = ids::new_actor();
            tickets::set_meta(tx, META_ACTOR, &actor.to_hex_string())?;
            actor
        }
    })
}
