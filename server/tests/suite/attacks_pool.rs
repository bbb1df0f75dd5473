//! The shared pool (抢单, docs/adr/0023) against a real server, with devices speaking the
//! protocol by hand: the first claim the server receives wins, the other claimer is told and
//! loses the ticket, and a hostile device's claims are refused with honest data intact.

use automerge::transaction::Transactable;
use automerge::{ReadDoc, ScalarValue};
use fieldsync_core::Role;
use serde_json::{Value as Json, json};

use crate::attacks::{Hostile, act, detail, events_of};
use crate::common::{Device, Server};

/// A new ticket dana put into the pool.
async fn pooled(server: &Server, dana: &Device) -> String {
    let (status, body) = server.post_json(&dana.token, "/v1/tickets", &json!({"title": "Chiller alarm"})).await;
    assert_eq!(status, 201, "{body}");
    let id = body["id"].as_str().expect("id").to_owned();
    act(server, &dana.token, &id, json!({"action": "pool"})).await;
    assert_eq!(detail(server, &dana.token, &id).await["status"], "pooled");
    id
}

fn claims(ticket: &Json) -> Vec<Json> {
    events_of(ticket).into_iter().filter(|e| e["kind"] == "claimed").collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pool_the_first_claim_received_wins_and_the_other_device_is_told_and_loses_the_ticket() {
    let server = Server::start().await;
    let dana = server.user("dana", Role::Dispatcher);
    let eli = server.user("eli", Role::Engineer);
    let fay = server.user("fay", Role::Engineer);
    let id = pooled(&server, &dana).await;
    // Both engineers' devices hold the pooled ticket though it is nobody's.
    let mut elis = Hostile::join(&server, &eli, &id).await;
    let mut fays = Hostile::join(&server, &fay, &id).await;
    let pool_heads = fays.doc.get_heads();

    let won = elis.push(&server, |tx, me| drop(me.event(tx, "claimed"))).await;
    assert!(won.rejections.is_empty() && won.evictions.is_empty(), "{won:?}");
    // fay claimed offline too, then logged time on the job before she was back online: both
    // arrive after eli's claim.
    let lost = fays.push_at(&server, &pool_heads, |tx, me| drop(me.event(tx, "claimed"))).await;
    assert_eq!(lost.rejections.len(), 1, "{lost:?}");
    assert!(lost.rejections[0].reason.contains("claimed by someone else"), "{lost:?}");
    assert!(lost.rejections[0].stored, "final, not retried: {lost:?}");
    assert_eq!(lost.evictions, vec![id.clone()], "the ticket leaves fay's device: {lost:?}");

    let ticket = detail(&server, &dana.token, &id).await;
    assert_eq!((ticket["status"].as_str(), ticket["assignee"].as_str()), (Some("accepted"), Some("eli")), "{ticket}");
    let claims = claims(&ticket);
    assert_eq!(claims.len(), 2, "both kept in the history: {claims:?}");
    let eli_claim = claims.iter().find(|c| c["by"] == "eli").expect("eli's claim");
    let fay_claim = claims.iter().find(|c| c["by"] == "fay").expect("fay's claim");
    assert!(eli_claim["void"].is_null(), "{eli_claim}");
    assert!(fay_claim["void"].as_str().is_some_and(|v| v.contains("claimed by someone else")), "{fay_claim}");
    assert_eq!(ticket["conflicts"].as_array().map(Vec::len), Some(0), "voided, not a conflict: {ticket}");
    // fay no longer receives it; and a device that kept writing after it was told gets
    // nothing of what it writes stored as work.
    let later = fays.pull(&server).await;
    assert!(later.updates.iter().all(|u| u.ticket_id != id), "{later:?}");
    let stubborn = fays
        .push(&server, |tx, me| {
            let n = tx.length(me.list(tx, "time_entries"));
            me.insert(tx, "time_entries", n, &[("kind", "travel".into()), ("minutes", ScalarValue::Uint(20))]);
        })
        .await;
    assert!(stubborn.rejections[0].reason.contains("claimed by someone else"), "{stubborn:?}");
    let ticket = detail(&server, &dana.token, &id).await;
    let entries = ticket["time_entries"].as_array().cloned().unwrap_or_default();
    assert!(entries.iter().all(|e| !e["void"].is_null()), "{entries:?}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attack_claims_outside_the_pool_for_someone_else_or_after_assignment_are_refused() {
    let server = Server::start().await;
    let dana = server.user("dana", Role::Dispatcher);
    server.user("eli", Role::Engineer);
    let fay = server.user("fay", Role::Engineer);
    let gus = server.user("gus", Role::Engineer);

    // A ticket never pooled: fay holds a copy from elsewhere and claims it.
    let (status, body) = server.post_json(&dana.token, "/v1/tickets", &json!({"title": "Not pooled"})).await;
    assert_eq!(status, 201, "{body}");
    let unpooled = body["id"].as_str().expect("id").to_owned();
    let copy = server.state.storage().load_ticket(&unpooled).expect("load").expect("ticket");
    let mut fays = Hostile::holding(&fay, &unpooled, automerge::Automerge::load(&copy.bytes).expect("doc"));
    let answer = fays.push(&server, |tx, me| drop(me.event(tx, "claimed"))).await;
    assert_eq!(answer.rejections.len(), 1, "{answer:?}");
    assert!(!answer.rejections[0].stored, "nothing stored: {answer:?}");
    let ticket = detail(&server, &dana.token, &unpooled).await;
    assert_eq!((ticket["status"].as_str(), ticket["assignee"].as_str()), (Some("new"), None), "{ticket}");

    // A pooled ticket: a claim naming eli, and one forged as eli's, from fay's device.
    let id = pooled(&server, &dana).await;
    let mut fays = Hostile::join(&server, &fay, &id).await;
    let for_eli = fays
        .push(&server, |tx, me| {
            let event = me.event(tx, "claimed");
            tx.put(&event, "assignee", "eli").expect("assignee");
        })
        .await;
    assert!(for_eli.rejections[0].reason.contains("for oneself"), "{for_eli:?}");
    let as_eli = fays
        .push(&server, |tx, me| {
            let event = me.event(tx, "claimed");
            tx.put(&event, "by", "eli").expect("by");
        })
        .await;
    assert!(as_eli.rejections[0].reason.contains("names another user"), "{as_eli:?}");
    let ticket = detail(&server, &dana.token, &id).await;
    assert_eq!((ticket["status"].as_str(), ticket["assignee"].as_str()), (Some("pooled"), None), "{ticket}");

    // dana assigns a pooled ticket to eli; gus claims it from the pool as he last saw it: too
    // late.
    let id = pooled(&server, &dana).await;
    let mut guss = Hostile::join(&server, &gus, &id).await;
    act(&server, &dana.token, &id, json!({"action": "assign", "engineer": "eli"})).await;
    let late = guss.push(&server, |tx, me| drop(me.event(tx, "claimed"))).await;
    assert!(late.rejections[0].reason.contains("claimed by someone else"), "{late:?}");
    assert!(late.evictions.contains(&id), "{late:?}");
    // Knowing it was assigned (the server's copy), fay claims anyway: refused whole.
    let known = server.state.storage().load_ticket(&id).expect("load").expect("ticket");
    let mut fays = Hostile::holding(&fay, &id, automerge::Automerge::load(&known.bytes).expect("doc"));
    let log_before = server.state.storage().change_log(&id).expect("log").len();
    let knowing = fays.push(&server, |tx, me| drop(me.event(tx, "claimed"))).await;
    assert!(knowing.rejections[0].reason.contains("no longer assigned"), "{knowing:?}");
    assert_eq!(server.state.storage().change_log(&id).expect("log").len(), log_before, "nothing stored");

    let ticket = detail(&server, &dana.token, &id).await;
    assert_eq!((ticket["status"].as_str(), ticket["assignee"].as_str()), (Some("dispatched"), Some("eli")), "{ticket}");
    assert!(claims(&ticket).iter().all(|c| c["void"].as_str().is_some()), "every claim voided: {ticket}");
    server.stop().await;
}
