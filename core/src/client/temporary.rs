//! A temporary store for an app's own unit tests (docs/adr/0027): the real store, workflow and
//! queries on a fresh SQLite file in a folder of its own that is deleted with the client, with
//! the tickets the test needs already on it. No server: [`crate::sync::SyncEngine::without_server`].

use std::path::{Path, PathBuf};

use serde_bytes::ByteBuf;

use super::{Client, OpenOptions};
use crate::actions;
use crate::error::Error;
use crate::model::{Identity, NewTicket};
use crate::protocol::{self, SyncResponse, Update};
use crate::store::Durability;

use crate::workflow::Role;

/// The stand-in dispatcher who created a temporary store's tickets.
const DISPATCHER: &str = "fieldsync-temporary-dispatcher";

/// A folder removed (with everything in it) when dropped.
pub(super) struct TemporaryFolder(PathBuf);

impl Drop for TemporaryFolder {
    fn drop(&mut self) {
        // Best effort: a folder in the platform's temporary space that outlives a crash is
        // cleaned by the platform.
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

impl Client {
    /// Opens a fresh store for `identity` in a new folder under `parent` (the platform's
    /// temporary folder), deleted when the last clone of the client is dropped. `tickets` are
    /// on it when this returns as if a dispatcher had dispatched each to `identity` and the
    /// device had synced since: the ticket is `dispatched`, nothing is pending. Every action,
    /// query and subscription is the real one; pair it with
    /// [`SyncEngine::without_server`](crate::sync::SyncEngine::without_server).
    /// For an app's unit tests, which then need no server.
    pub fn open_temporary(
        parent: impl AsRef<Path>,
        identity: Identity,
        tickets: &[NewTicket],
    ) -> Result<Client, Error> {
        let folder = parent.as_ref().join(format!("fieldsync-temporary-{}", crate::model::ids::new_id()));
        std::fs::create_dir_all(&folder).map_err(|e| Error::Store(e.into()))?;
        let guard = TemporaryFolder(folder.clone());
        // Nothing on it outlives the test: no fsync per action.
        let options = OpenOptions { durability: Durability::AppCrash, ..OpenOptions::default() };
        let client = Client::open_with(folder.join("store.sqlite"), identity, options)?;
        let _ = client.inner.temporary.set(guard);
        client.seed(tickets)?;
        Ok(client)
    }

    /// Stores `tickets`, each made by the stand-in dispatcher and dispatched to this client's
    /// user, the way a sync stores what the server sends.
    fn seed(&self, tickets: &[NewTicket]) -> Result<(), Error> {
        if tickets.is_empty() {
            return Ok(());
        }
        let dispatcher = Identity { user_id: DISPATCHER.into(), device_id: DISPATCHER.into(), role: Role::Dispatcher };
        let mut updates = Vec::with_capacity(tickets.len());
        for ticket in tickets {
            let new = NewTicket { assignee: Some(self.identity().user_id.clone()), ..ticket.clone() };
            let (ticket_id, document, _) =
                actions::create(crate::model::ids::new_actor(), &dispatcher, &new, self.now())?;
            updates.push(Update {
                ticket_id,
                data: vec![ByteBuf::from(document.save())],
                heads: protocol::to_wire(&document.get_heads()),
            });
        }
        self.apply_response(&SyncResponse { cursor: 0, updates, ..SyncResponse::default() }, false)?;
        Ok(())
    }
}
