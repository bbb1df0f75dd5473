//! Identifiers: sortable ids for tickets and entries, random actor ids for documents.

use automerge::ActorId;

/// A new sortable unique id (UUIDv7: creation time first, then randomness).
pub fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// A new Automerge actor id for one store (a device installation).
pub fn new_actor() -> ActorId {
    ActorId::from(uuid::Uuid::now_v7().as_bytes().as_slice())
}
