//! The client an app's own unit tests open (docs/adr/0027): the core's temporary store and an
//! engine without a server, one line each; [`SeedTicket`] mirrors the part of a new ticket a
//! test names.

use std::sync::{Arc, Mutex};

use fieldsync_core::Client;
use fieldsync_core::model as core_model;
use fieldsync_core::sync::SyncEngine;

use crate::{FieldsyncClient, FieldsyncError, Identity, Site, runtime};

/// A ticket a temporary store starts with, dispatched to its user.
#[derive(Clone, Debug, PartialEq, uniffi::Record)]
pub struct SeedTicket {
    /// Short title.
    pub title: String,
    /// The customer's name.
    pub customer: String,
    /// The street address.
    pub address: String,
    /// What is wrong.
    #[uniffi(default)]
    pub description: String,
    /// Where it is (check-in is checked against it); none: anywhere.
    #[uniffi(default)]
    pub site: Option<Site>,
    /// Checklist items, all unticked.
    #[uniffi(default)]
    pub checklist: Vec<String>,
    /// The customer must sign before the job can be completed.
    #[uniffi(default)]
    pub signature_required: bool,
}

impl From<SeedTicket> for core_model::NewTicket {
    fn from(t: SeedTicket) -> Self {
        core_model::NewTicket {
            title: t.title,
            description: t.description,
            customer: core_model::Customer { name: t.customer, address: t.address, ..Default::default() },
            site: t.site,
            checklist: t.checklist,
            signature_required: t.signature_required,
            ..Default::default()
        }
    }
}

#[uniffi::export]
impl FieldsyncClient {
    /// A client on a fresh store in a new folder under `temp_dir` (the platform's temporary
    /// folder), deleted when the client is freed, with `tickets` on it, dispatched to
    /// `identity`; no server (a sync fails as offline does, "no server"). For an app's unit
    /// tests: every action, query and observation is the real one.
    #[uniffi::constructor(default(tickets = []))]
    pub fn open_temporary(
        temp_dir: String,
        identity: Identity,
        tickets: Vec<SeedTicket>,
    ) -> Result<Arc<Self>, FieldsyncError> {
        let _context = runtime()?.enter();
        let tickets: Vec<core_model::NewTicket> = tickets.into_iter().map(Into::into).collect();
        let engine = SyncEngine::without_server(Client::open_temporary(temp_dir, identity, &tickets)?)?;
        let sync_loop = engine.start();
        Ok(Arc::new(FieldsyncClient { engine, sync_loop: Mutex::new(Some(sync_loop)) }))
    }
}
