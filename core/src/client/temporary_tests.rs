//! A temporary store for an app's unit tests (docs/adr/0027).

use super::tests::boiler;
use super::*;
use crate::model::ListFilter;
use crate::workflow::Role;

fn engineer() -> Identity {
    Identity { user_id: "eli".into(), device_id: "eli-phone".into(), role: Role::Engineer }
}

#[test]
fn a_temporary_store_has_its_tickets_dispatched_to_the_user_and_nothing_pending() {
    let parent = tempfile::tempdir().expect("tempdir");
    let client = Client::open_temporary(parent.path(), engineer(), &[boiler(), boiler()]).expect("open");
    let listed = client.list(&ListFilter::default()).expect("list");
    assert_eq!(listed.len(), 2, "{listed:?}");
    assert!(listed.iter().all(|t| t.status == Status::Dispatched && !t.pending), "{listed:?}");
    assert_eq!(client.pending().expect("pending").tickets, 0);
    // The real workflow: the engineer works the ticket, and it is pending (for a server).
    let id = &listed[0].id;
    client.accept(id).expect("accept");
    client.start_travel(id).expect("travel");
    let err = client.accept(id).expect_err("accepting twice");
    assert!(matches!(err, Error::Refused(_)), "{err:?}");
    assert_eq!(client.get(id).expect("get").status, Status::Travelling);
    assert_eq!(client.pending().expect("pending").tickets, 1);
}

#[test]
fn a_temporary_store_is_deleted_with_its_client_and_two_never_meet() {
    let parent = tempfile::tempdir().expect("tempdir");
    let first = Client::open_temporary(parent.path(), engineer(), &[boiler()]).expect("open");
    let second = Client::open_temporary(parent.path(), engineer(), &[]).expect("a second, independent store");
    assert!(second.list(&ListFilter::default()).expect("list").is_empty());
    let folders = || std::fs::read_dir(parent.path()).expect("read_dir").count();
    assert_eq!(folders(), 2);
    let clone = first.clone();
    drop(first);
    assert_eq!(folders(), 2, "a clone keeps the store");
    drop(clone);
    drop(second);
    assert_eq!(folders(), 0, "both folders are gone");
}
