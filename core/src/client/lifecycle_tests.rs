//! One client per store per process, and closing (issue 14, Deliver 5; docs/adr/0021).

use std::sync::mpsc;
use std::time::Duration;

use super::tests::boiler;
use super::*;
use crate::workflow::Role;

fn dispatcher() -> Identity {
    Identity { user_id: "disp".into(), device_id: "disp-device".into(), role: Role::Dispatcher }
}

#[test]
fn a_second_open_of_an_open_store_is_refused_and_leaves_it_alone() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("disp.sqlite");
    let first = Client::open(&path, dispatcher()).expect("open");
    let id = first.create_ticket(&boiler()).expect("create");
    let err = Client::open(&path, dispatcher()).expect_err("a second client of the same store");
    assert!(matches!(err, Error::Store(StoreError::InUse)), "{err:?}");
    // Spelled another way, still the same file.
    let again = dir.path().join(".").join("disp.sqlite");
    assert!(matches!(Client::open(&again, dispatcher()), Err(Error::Store(StoreError::InUse))));
    // The first client is untouched by the refused opens.
    first.add_note(&id, "still mine").expect("the first client works on");
    // A clone is the same client, not a second one.
    let clone = first.clone();
    assert_eq!(clone.get(&id).expect("get").notes.len(), 1);
}

#[test]
fn closing_ends_calls_and_subscriptions_and_releases_the_store() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("disp.sqlite");
    let client = Client::open(&path, dispatcher()).expect("open");
    let id = client.create_ticket(&boiler()).expect("create");
    let (told, hear) = mpsc::channel();
    let _subscription = client.subscribe(move |ids| {
        let _ = told.send(ids.to_vec());
    });
    let clone = client.clone();
    client.close();
    client.close(); // idempotent
    assert!(clone.is_closed(), "every clone is the same, closed client");
    assert!(matches!(clone.add_note(&id, "after close"), Err(Error::Closed)));
    assert!(matches!(clone.get(&id), Err(Error::Closed)));
    assert!(matches!(clone.list(&ListFilter::default()), Err(Error::Closed)));
    assert!(matches!(clone.exchange().next_request(), Err(Error::Closed)));

    // Released while clones still exist: the store opens again at once, with all its data.
    let reopened = Client::open(&path, dispatcher()).expect("reopened after close");
    reopened.add_note(&id, "after reopening").expect("note");
    assert_eq!(reopened.get(&id).expect("get").notes.len(), 1, "the closed client wrote nothing more");
    assert!(
        hear.recv_timeout(Duration::from_millis(300)).is_err(),
        "the closed client's subscribers hear nothing of the new client's changes"
    );
    drop(reopened);
    // Dropping the last handle releases it too.
    let dropped = Client::open(&path, dispatcher()).expect("open after drop");
    drop(dropped);
    Client::open(&path, dispatcher()).expect("open after the drop");
}

#[test]
fn close_waits_for_an_action_under_way() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("disp.sqlite");
    let client = Client::open(&path, dispatcher()).expect("open");
    let id = client.create_ticket(&boiler()).expect("create");
    // Many notes on another thread while the client closes: each either lands whole before the
    // close returns or is refused as closed; none is half-written, none after.
    let writer = {
        let (client, id) = (client.clone(), id.clone());
        std::thread::spawn(move || {
            let mut written = 0;
            for n in 0..10_000 {
                match client.add_note(&id, &format!("note {n}")) {
                    Ok(()) => written += 1,
                    Err(Error::Closed) => return written,
                    Err(e) => panic!("unexpected: {e}"),
                }
            }
            written
        })
    };
    std::thread::sleep(Duration::from_millis(50));
    client.close();
    let reopened = Client::open(&path, dispatcher()).expect("reopen");
    let notes_at_reopen = reopened.get(&id).expect("get").notes.len();
    let written = writer.join().expect("writer");
    assert_eq!(notes_at_reopen, written, "every note the writer was told is on disk, and no more");
    assert!(written < 10_000, "the writer was stopped by the close");
}
