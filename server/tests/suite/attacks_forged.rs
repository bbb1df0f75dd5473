//! Changes whose op numbers lie. The server tells an object a push created by its id falling in
//! one of the push's changes' op ranges (docs/adr/0026, tenth pass); a hostile device that
//! forges a change's first op number can make a record it wrote long ago look created by this
//! push, hoping its rewrite is judged as a new record's first values.

use std::num::NonZeroU64;

use automerge::legacy::{self, ObjectId, OpId};
use automerge::transaction::Transactable;
use automerge::{Automerge, ObjId, ObjType, ROOT, ReadDoc, ScalarValue, Value};
use fieldsync_core::Role;
use sha2::{Digest, Sha256};

use crate::attacks::{Hostile, act, detail, events_of, on_site};
use crate::common::{Device, Server};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attack_a_forged_op_range_makes_an_old_record_look_new() {
    let server = Server::start().await;
    let dana = server.user("dana", Role::Dispatcher);
    let eli = server.user("eli", Role::Engineer);
    let (id, mut phone) = on_site(&server, &dana, &eli).await;
    let before = detail(&server, &dana.token, &id).await;
    let checked_in = events_of(&before).into_iter().find(|e| e["kind"] == "checked_in").expect("the check-in");

    // The check-in record the phone wrote two pushes ago, and a rewrite of its time.
    let events = match phone.doc.get(ROOT, "events") {
        Ok(Some((Value::Object(_), list))) => list,
        other => panic!("no events: {other:?}"),
    };
    let record = (0..phone.doc.length(&events))
        .filter_map(|n| phone.doc.get(&events, n).ok().flatten().map(|(_, record)| record))
        .find(|record| {
            matches!(phone.doc.get(record, "kind"), Ok(Some((Value::Scalar(s), _))) if s.as_str() == Some("checked_in"))
        })
        .expect("the check-in record");
    let ObjId::Id(counter, _, _) = record else { panic!("a record is not the root") };
    let mut fork = phone.doc.fork();
    fork.set_actor(automerge::ActorId::from(&Sha256::digest(eli.device_id.as_bytes())[..16]));
    let mut tx = fork.transaction();
    automerge::transaction::Transactable::put(&mut tx, &record, "at", ScalarValue::Int(1)).expect("rewrite");
    let hash = tx.commit().0.expect("a change");
    let honest = fork.get_change_by_hash(&hash).expect("change").clone();

    // The same change, its op numbers forged to start at the record's own.
    let mut expanded = honest.decode();
    expanded.start_op = NonZeroU64::new(counter).expect("op counters start at 1");
    let forged = automerge::Change::from(expanded);
    assert!((forged.start_op().get()..=forged.max_op()).contains(&counter), "the forged range covers the record");

    let answer = phone.push_raw(&server, vec![forged.raw_bytes().to_vec()]).await;
    assert_eq!(answer.rejections.len(), 1, "the rewrite is refused: {answer:?}");
    assert!(answer.rejections[0].reason.contains("numbers its operations"), "{answer:?}");

    // The check-in stands as eli's phone first wrote it, and the server goes on serving.
    let after = detail(&server, &dana.token, &id).await;
    let stands = events_of(&after).into_iter().find(|e| e["kind"] == "checked_in").expect("the check-in");
    assert_eq!(stands["at"], checked_in["at"], "the check-in's time: {after}");
    assert_eq!(stands["location"], checked_in["location"], "{after}");
    assert!(stands["void"].is_null(), "the honest record is not voided: {stands}");
    assert_eq!(after["status"], "on_site");
    act(&server, &dana.token, &id, serde_json::json!({"action": "add_note", "text": "customer called"})).await;
    // The ticket's history can still be sent whole: a device joining now gets all of it.
    let joined = Hostile::join(&server, &dana, &id).await;
    assert!(joined.doc.get_change_by_hash(&forged.hash()).is_none(), "the forged change was not stored");
    assert_eq!(joined.doc.get_heads().len(), 1, "one history");
    server.stop().await;
}

/// A dispatcher (first) and her device on a ticket an engineer (second) is on site for, after it pushed one note of
/// `text` as any device would.
async fn desk_with_a_note(server: &Server, text: &str) -> (Device, Device, String, Hostile) {
    let dana = server.user("dana", Role::Dispatcher);
    let eli = server.user("eli", Role::Engineer);
    let (id, _) = on_site(server, &dana, &eli).await;
    let mut desk = Hostile::join(server, &dana, &id).await;
    let answer = desk
        .push(server, |tx, me| {
            let notes = me.list(tx, "notes");
            let n = tx.length(&notes);
            me.insert(tx, "notes", n, &[("text", text.into()), ("at", ScalarValue::Int(1))]);
        })
        .await;
    assert!(answer.rejections.is_empty(), "{answer:?}");
    (dana, eli, id, desk)
}

/// A copy of `hostile`'s ticket writing as `device`'s own actor (the server binds it to it).
fn own_fork(hostile: &Hostile, device: &Device) -> Automerge {
    let mut fork = hostile.doc.fork();
    fork.set_actor(automerge::ActorId::from(&Sha256::digest(device.device_id.as_bytes())[..16]));
    fork
}

/// The ticket's list `name`.
fn list(doc: &Automerge, name: &str) -> ObjId {
    match doc.get(ROOT, name) {
        Ok(Some((Value::Object(_), list))) => list,
        other => panic!("no {name}: {other:?}"),
    }
}

/// The op id of the ticket's list `name`, as a change's ops name it.
fn list_op(doc: &Automerge, name: &str) -> OpId {
    match list(doc, name) {
        ObjId::Id(counter, actor, _) => OpId(counter, actor),
        ObjId::Root => panic!("{name} is not the root"),
    }
}

/// `write` committed on `fork`, its change expanded.
fn expanded(fork: &mut Automerge, write: impl FnOnce(&mut automerge::transaction::Transaction<'_>)) -> legacy::Change {
    let mut tx = fork.transaction();
    write(&mut tx);
    let hash = tx.commit().0.expect("a change");
    fork.get_change_by_hash(&hash).expect("change").decode()
}

/// A new note of `text` at the end of the notes list.
fn add_note(tx: &mut automerge::transaction::Transaction<'_>, notes: &ObjId, text: &str) {
    let n = tx.length(notes);
    let note = tx.insert_object(notes, n, ObjType::Map).expect("a note");
    tx.put(&note, "text", text).expect("text");
}

/// The notes' texts as the server shows the ticket.
async fn note_texts(server: &Server, dana: &Device, id: &str) -> Vec<String> {
    let ticket = detail(server, &dana.token, id).await;
    ticket["notes"].as_array().into_iter().flatten().filter_map(|n| n["text"].as_str().map(str::to_owned)).collect()
}

/// The ticket as a device joining it now gets it: whole, one history, without `forged`.
async fn joined_whole(server: &Server, dana: &Device, id: &str, forged: &automerge::Change) -> Hostile {
    let joined = Hostile::join(server, dana, id).await;
    assert!(joined.doc.get_change_by_hash(&forged.hash()).is_none(), "the forged change was not stored");
    assert_eq!(joined.doc.get_heads().len(), 1, "one history");
    let stored: Vec<u8> = joined.doc.get_changes(&[]).iter().flat_map(|c| c.raw_bytes().to_vec()).collect();
    let loaded = Automerge::load(&stored).expect("the ticket's changes load");
    assert_eq!(loaded.get_heads(), joined.doc.get_heads());
    joined
}

/// The check holds whoever pushes: a dispatcher's device rewriting its own note by reusing its
/// op numbers is refused as an engineer's is, and the note stands.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attack_a_dispatchers_device_reusing_op_numbers_is_refused_too() {
    let server = Server::start().await;
    let (dana, _, id, mut desk) = desk_with_a_note(&server, "customer asked for a call").await;
    let notes = list(&desk.doc, "notes");
    let note = desk.doc.get(&notes, desk.doc.length(&notes) - 1).expect("read").expect("the note").1;
    let ObjId::Id(counter, _, _) = note else { panic!("a record is not the root") };
    let mut change = expanded(&mut own_fork(&desk, &dana), |tx| tx.put(&note, "text", "never asked").expect("rewrite"));
    change.start_op = NonZeroU64::new(counter).expect("op counters start at 1");
    let forged = automerge::Change::from(change);

    let answer = desk.push_raw(&server, vec![forged.raw_bytes().to_vec()]).await;
    assert_eq!(answer.rejections.len(), 1, "{answer:?}");
    assert!(answer.rejections[0].reason.contains("numbers its operations"), "{answer:?}");
    let texts = note_texts(&server, &dana, &id).await;
    assert!(texts.iter().any(|t| t == "customer asked for a call") && !texts.iter().any(|t| t == "never asked"));
    server.stop().await;
}

/// Sequence numbers an actor never wrote: one past a gap, and a new actor's first change
/// numbered 3. Automerge asserts an actor's changes are numbered 1, 2, 3, … when it applies one
/// and panicked on both (the sync answered 500); both are refused, and the ticket goes on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attack_changes_numbered_out_of_their_actors_sequence_are_refused() {
    let server = Server::start().await;
    let (dana, _, id, mut desk) = desk_with_a_note(&server, "first call").await;
    let notes = list(&desk.doc, "notes");
    let note = |fork: &mut Automerge, seq: Option<u64>| {
        let mut change = expanded(fork, |tx| add_note(tx, &notes, "renumbered"));
        if let Some(seq) = seq {
            change.seq = seq;
        }
        automerge::Change::from(change)
    };
    let honest = note(&mut own_fork(&desk, &dana), None);
    let gap = note(&mut own_fork(&desk, &dana), Some(honest.seq() + 2));
    let late_first = note(&mut desk.doc.fork().with_actor(automerge::ActorId::random()), Some(3));
    for (what, forged) in [("a gap in its actor's numbers", gap), ("a new actor's first change numbered 3", late_first)]
    {
        let answer = desk.push_raw(&server, vec![forged.raw_bytes().to_vec()]).await;
        assert_eq!(answer.rejections.len(), 1, "{what}: {answer:?}");
        assert!(answer.rejections[0].reason.contains("sequence"), "{what}: {answer:?}");
    }
    // The honest change goes through, and the whole history still reaches a device joining now.
    let answer = desk.push_raw(&server, vec![honest.raw_bytes().to_vec()]).await;
    assert!(answer.rejections.is_empty(), "{answer:?}");
    let texts = note_texts(&server, &dana, &id).await;
    assert_eq!(texts.iter().filter(|t| *t == "renumbered").count(), 1, "{texts:?}");
    assert!(texts.iter().any(|t| t == "first call"), "{texts:?}");
    let joined = Hostile::join(&server, &dana, &id).await;
    assert!(joined.doc.get_change_by_hash(&honest.hash()).is_some(), "the honest change was stored and is sent");
    assert_eq!(joined.doc.get_heads().len(), 1, "one history");
    server.stop().await;
}

/// An op no Automerge transaction writes: a new note's text said to replace the events list.
/// Automerge applied it, then rebuilt the change differently whenever asked for it (a debug
/// build panicked answering the sync; a release build sent devices the change under another
/// hash than the one stored): the ticket could no longer be sent whole. It is refused once it
/// does not read back as pushed, and the ticket is served as before.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attack_an_op_automerge_never_writes_is_refused_and_the_ticket_stays_sendable() {
    let server = Server::start().await;
    let (dana, eli, id, mut desk) = desk_with_a_note(&server, "wrong number").await;
    let (notes, events) = (list(&desk.doc, "notes"), list_op(&desk.doc, "events"));
    let mut change = expanded(&mut own_fork(&desk, &dana), |tx| add_note(tx, &notes, "misfiled"));
    change.operations[1].pred = vec![events].into();
    let forged = automerge::Change::from(change);

    let answer = desk.push_raw(&server, vec![forged.raw_bytes().to_vec()]).await;
    assert_eq!(answer.rejections.len(), 1, "{answer:?}");
    assert!(answer.rejections[0].reason.contains("Automerge does not write"), "{answer:?}");
    // Served as before: the note stands, the office acts, every device syncs on.
    assert!(note_texts(&server, &dana, &id).await.iter().any(|t| t == "wrong number"));
    act(&server, &dana.token, &id, serde_json::json!({"action": "add_note", "text": "customer called"})).await;
    joined_whole(&server, &dana, &id, &forged).await;
    let mut engineer = Hostile::join(&server, &eli, &id).await;
    let answer = engineer
        .push(&server, |tx, me| {
            let notes = me.list(tx, "notes");
            let n = tx.length(&notes);
            me.insert(tx, "notes", n, &[("text", "on my way out".into()), ("at", ScalarValue::Int(2))]);
        })
        .await;
    assert!(answer.rejections.is_empty(), "the engineer's device syncs on: {answer:?}");
    server.stop().await;
}

/// A note inserted into the events list after an element of the notes list: no transaction
/// writes that. Forgeries of this kind (`op_numbers::forged`, seed 13 of a release run) were
/// applied to the server's copy and read back, and then a document made from the ticket's
/// stored changes panicked applying them: a device joining the ticket, or the server loading it
/// again once its cache let it go. This one, pushed behind an honest change so that the two are
/// applied as a batch, is refused by name before Automerge sees it (without the check,
/// Automerge panics applying it and the fallback refuses it), and the ticket loads whole.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attack_an_element_inserted_into_another_list_is_refused_and_the_ticket_still_loads() {
    let server = Server::start().await;
    let (dana, _, id, mut desk) = desk_with_a_note(&server, "first call").await;
    let (notes, events) = (list(&desk.doc, "notes"), list_op(&desk.doc, "events"));
    let mut fork = own_fork(&desk, &dana);
    let honest =
        automerge::Change::from(expanded(&mut fork, |tx| tx.put(ROOT, "site_notes", "gate 4411").expect("put")));
    let mut change = expanded(&mut fork, |tx| add_note(tx, &notes, "misfiled"));
    // The insertion goes to the events list, still after the notes list's last element.
    change.operations[0].obj = ObjectId::Id(events);
    let forged = automerge::Change::from(change);

    let answer = desk.push_raw(&server, vec![honest.raw_bytes().to_vec(), forged.raw_bytes().to_vec()]).await;
    assert_eq!(answer.rejections.len(), 1, "{answer:?}");
    assert!(answer.rejections[0].reason.contains("another list"), "{answer:?}");
    joined_whole(&server, &dana, &id, &forged).await;
    assert_eq!(detail(&server, &dana.token, &id).await["status"], "on_site");
    server.stop().await;
}
