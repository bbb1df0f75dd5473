//! A skill group's pool and routing by priority and customer tier against a real server
//! (docs/adr/0028): a rule pools urgent tickets for one group and sends gold customers' to one
//! engineer, on every creation path through REST; only the group's engineers receive the pooled
//! ticket, and a raw claim pushed by an engineer outside the group is voided while the group's
//! honest claim wins.

use fieldsync_core::Role;
use fieldsync_core::protocol::SyncRequest;
use serde_json::{Value as Json, json};

use crate::attacks::{Hostile, detail, events_of};
use crate::common::{Device, Server};
use crate::manager::put_json;

/// The tickets a fresh device of `who` receives.
async fn received(server: &Server, who: &Device) -> Vec<String> {
    let (answer, _) = server.sync(&who.token, &SyncRequest { cursor: 0, pushes: vec![] }).await;
    answer.updates.into_iter().map(|u| u.ticket_id).collect()
}

async fn create(server: &Server, token: &str, body: Json) -> Json {
    let (status, answer) = server.post_json(token, "/v1/tickets", &body).await;
    assert_eq!(status, 201, "{answer}");
    detail(server, token, answer["id"].as_str().expect("id")).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attack_a_groups_pool_reaches_and_is_claimable_by_its_members_only() {
    let server = Server::start().await;
    let root = server.user("root", Role::Admin);
    let dana = server.user("dana", Role::Dispatcher);
    let eli = server.user("eli", Role::Engineer);
    let fay = server.user("fay", Role::Engineer);
    let hal = server.user("hal", Role::Engineer);
    let routing = json!({
    "groups": [{"id": "boilers", "engineers": ["eli", "fay"]}, {"id": "network", "engineers": ["hal"]}],
    "rules": [
        {"priority": "urgent", "group": "boilers", "strategy": "pool"},
        {"tier": "gold", "engineer": "hal"},
    ]});
    let (status, answer) = put_json(&server, &root.token, "/v1/routing", &routing).await;
    assert_eq!(status, 200, "{answer}");
    let bad = json!({"groups": [], "rules": [{"engineer": "dana"}]});
    let (status, answer) = put_json(&server, &root.token, "/v1/routing", &bad).await;
    assert_eq!(status, 400, "a rule's engineer must be one: {answer}");

    let urgent = create(&server, &dana.token, json!({"title": "Boiler out", "priority": "urgent"})).await;
    let id = urgent["id"].as_str().expect("id").to_owned();
    assert_eq!((urgent["status"].as_str(), urgent["assignee"].as_str()), (Some("pooled"), None), "{urgent}");
    let pooled = events_of(&urgent).into_iter().find(|e| e["kind"] == "pooled").expect("pooled event");
    assert_eq!(pooled["by"], "dana", "pooled on the creator's behalf: {pooled}");
    let gold =
        create(&server, &dana.token, json!({"title": "Gold", "customer": {"name": "Acme", "tier": "gold"}})).await;
    assert_eq!((gold["status"].as_str(), gold["assignee"].as_str()), (Some("dispatched"), Some("hal")), "{gold}");
    let plain = create(&server, &dana.token, json!({"title": "Plain"})).await;
    assert_eq!(plain["status"], "new", "no rule matches: {plain}");

    // The group's phones hold the pooled ticket; hal's does not.
    assert!(received(&server, &eli).await.contains(&id));
    assert!(received(&server, &fay).await.contains(&id));
    assert!(!received(&server, &hal).await.contains(&id), "outside the group");

    // hal got a copy elsewhere and pushes a claim by hand: stored, voided, and he is told.
    let copy = server.state.storage().load_ticket(&id).expect("load").expect("ticket");
    let mut hals = Hostile::holding(&hal, &id, automerge::Automerge::load(&copy.bytes).expect("doc"));
    let refused = hals.push(&server, |tx, me| drop(me.event(tx, "claimed"))).await;
    assert_eq!(refused.rejections.len(), 1, "{refused:?}");
    assert!(refused.rejections[0].reason.contains("skill group boilers"), "{refused:?}");
    assert!(refused.rejections[0].stored, "final: {refused:?}");
    assert!(refused.evictions.contains(&id), "{refused:?}");
    let ticket = detail(&server, &dana.token, &id).await;
    assert_eq!((ticket["status"].as_str(), ticket["assignee"].as_str()), (Some("pooled"), None), "{ticket}");

    // An honest member's claim is unaffected.
    let mut fays = Hostile::join(&server, &fay, &id).await;
    let won = fays.push(&server, |tx, me| drop(me.event(tx, "claimed"))).await;
    assert!(won.rejections.is_empty() && won.evictions.is_empty(), "{won:?}");
    let ticket = detail(&server, &dana.token, &id).await;
    assert_eq!((ticket["status"].as_str(), ticket["assignee"].as_str()), (Some("accepted"), Some("fay")), "{ticket}");
    let claims: Vec<Json> = events_of(&ticket).into_iter().filter(|e| e["kind"] == "claimed").collect();
    let hals_claim = claims.iter().find(|c| c["by"] == "hal").expect("hal's claim kept in the history");
    assert!(hals_claim["void"].as_str().is_some_and(|v| v.contains("skill group boilers")), "{hals_claim}");

    // A dispatcher pools by hand for a group too; with no group, the pool is everyone's.
    let (_, made) = server.post_json(&dana.token, "/v1/tickets", &json!({"title": "Router"})).await;
    let router = made["id"].as_str().expect("id").to_owned();
    crate::attacks::act(&server, &dana.token, &router, json!({"action": "pool", "group": "network"})).await;
    assert!(received(&server, &hal).await.contains(&router));
    assert!(!received(&server, &eli).await.contains(&router));
    let (_, made) = server.post_json(&dana.token, "/v1/tickets", &json!({"title": "Anyone"})).await;
    let open = made["id"].as_str().expect("id").to_owned();
    crate::attacks::act(&server, &dana.token, &open, json!({"action": "pool"})).await;
    assert!(received(&server, &hal).await.contains(&open) && received(&server, &eli).await.contains(&open));
    server.stop().await;
}

/// A routing where urgent tickets go to the pool of one group, "boilers", of `engineers`.
pub(crate) fn boiler_pool(engineers: &[&str]) -> serde_json::Value {
    json!({
        "groups": [{"id": "boilers", "engineers": engineers}],
        "rules": [{"priority": "urgent", "group": "boilers", "strategy": "pool"}],
    })
}

/// A change of a skill group's membership changes no ticket's document, yet it reaches the
/// engineers' phones at their next sync (docs/adr/0028): the member added receives the group's
/// pooled ticket and can claim it, the member removed loses it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_groups_membership_change_reaches_the_phones_at_their_next_sync() {
    use fieldsync_core::model::ListFilter;

    use crate::webhooks::{phone, sync};

    let server = Server::start().await;
    let devices = tempfile::tempdir().expect("dir");
    let root = server.user("root", Role::Admin);
    let dana = server.user("dana", Role::Dispatcher);
    let eli = server.user("eli", Role::Engineer);
    let fay = server.user("fay", Role::Engineer);
    let (status, answer) = put_json(&server, &root.token, "/v1/routing", &boiler_pool(&["eli"])).await;
    assert_eq!(status, 200, "{answer}");
    let urgent = create(&server, &dana.token, json!({"title": "Boiler out", "priority": "urgent"})).await;
    let id = urgent["id"].as_str().expect("id").to_owned();
    assert_eq!(urgent["status"], "pooled", "{urgent}");

    let (elis, eli_engine) = phone(&server, devices.path(), &eli);
    let (fays, fay_engine) = phone(&server, devices.path(), &fay);
    let holds =
        |client: &fieldsync_core::Client| client.list(&ListFilter::default()).expect("list").iter().any(|t| t.id == id);
    sync(&eli_engine).await;
    sync(&fay_engine).await;
    assert!(holds(&elis) && !holds(&fays), "only the group's member holds the pooled ticket");
    let version = || server.state.storage().load_ticket(&id).expect("load").expect("ticket").version;
    let before = version();

    // fay joins the group, eli leaves it; no ticket changes.
    let (status, answer) = put_json(&server, &root.token, "/v1/routing", &boiler_pool(&["fay"])).await;
    assert_eq!(status, 200, "{answer}");
    sync(&fay_engine).await;
    sync(&eli_engine).await;
    assert!(holds(&fays), "the member added receives the group's pool at her next sync");
    assert!(!holds(&elis), "the member removed loses it at his next sync");
    assert_eq!(version(), before, "no ticket was changed to get there");

    // The new member claims it from her phone.
    fays.claim(&id).expect("claim");
    sync(&fay_engine).await;
    let ticket = detail(&server, &dana.token, &id).await;
    assert_eq!((ticket["status"].as_str(), ticket["assignee"].as_str()), (Some("accepted"), Some("fay")), "{ticket}");
    server.stop().await;
}

/// A phone's network drops the answer that first brought a new member the group's pool: the
/// retry with the old cursor must bring the ticket again (the server recorded it as sent, not as
/// received), or the member would not see it until the ticket itself changed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_answer_does_not_keep_the_pool_from_a_new_member() {
    let server = Server::start().await;
    let root = server.user("root", Role::Admin);
    let dana = server.user("dana", Role::Dispatcher);
    let fay = server.user("fay", Role::Engineer);
    let (status, answer) = put_json(&server, &root.token, "/v1/routing", &boiler_pool(&[])).await;
    assert_eq!(status, 200, "{answer}");
    let urgent = create(&server, &dana.token, json!({"title": "Boiler out", "priority": "urgent"})).await;
    let id = urgent["id"].as_str().expect("id").to_owned();
    let (first, _) = server.sync(&fay.token, &SyncRequest { cursor: 0, pushes: vec![] }).await;
    assert!(first.updates.is_empty(), "not a member yet: {:?}", first.updates);
    assert!(first.cursor > 0, "the answer carries the sequence");

    let (status, answer) = put_json(&server, &root.token, "/v1/routing", &boiler_pool(&["fay"])).await;
    assert_eq!(status, 200, "{answer}");
    let ids = |answer: &fieldsync_core::protocol::SyncResponse| -> Vec<String> {
        answer.updates.iter().filter(|u| !u.data.is_empty()).map(|u| u.ticket_id.clone()).collect()
    };
    let (lost, _) = server.sync(&fay.token, &SyncRequest { cursor: first.cursor, pushes: vec![] }).await;
    assert_eq!(ids(&lost), vec![id.clone()], "the new member's next sync brings the pool");
    // That answer never reached the phone: it asks again from the cursor it has.
    let (retry, _) = server.sync(&fay.token, &SyncRequest { cursor: first.cursor, pushes: vec![] }).await;
    assert_eq!(ids(&retry), vec![id.clone()], "the retry brings it again");
    // The retry's cursor, carried by the next request, says that one arrived.
    assert!(retry.cursor > first.cursor, "the membership change moved the pooled ticket's sequence");
    let (settled, _) = server.sync(&fay.token, &SyncRequest { cursor: retry.cursor, pushes: vec![] }).await;
    assert!(ids(&settled).is_empty(), "received and confirmed, not sent again: {:?}", ids(&settled));
    server.stop().await;
}

/// In a quiet organisation (no ticket changes) a new member receives the group's pool once: the
/// syncs after the one that brought it send nothing and leave the cursor where it is (the old
/// reconsideration of every pooled ticket sent it again at every sync until some ticket changed).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_quiet_organisations_new_member_receives_the_pool_once() {
    let server = Server::start().await;
    let root = server.user("root", Role::Admin);
    let dana = server.user("dana", Role::Dispatcher);
    let fay = server.user("fay", Role::Engineer);
    let hal = server.user("hal", Role::Engineer);
    let (status, answer) = put_json(&server, &root.token, "/v1/routing", &boiler_pool(&[])).await;
    assert_eq!(status, 200, "{answer}");
    let urgent = create(&server, &dana.token, json!({"title": "Boiler out", "priority": "urgent"})).await;
    let id = urgent["id"].as_str().expect("id").to_owned();
    let sync = |who: &Device, cursor: u64| {
        let (server, token) = (&server, who.token.clone());
        async move { server.sync(&token, &SyncRequest { cursor, pushes: vec![] }).await.0 }
    };
    let fay_cursor = sync(&fay, 0).await.cursor;
    let hal_cursor = sync(&hal, 0).await.cursor;

    let (status, answer) = put_json(&server, &root.token, "/v1/routing", &boiler_pool(&["fay"])).await;
    assert_eq!(status, 200, "{answer}");
    let joined = sync(&fay, fay_cursor).await;
    let sent: Vec<&str> = joined.updates.iter().map(|u| u.ticket_id.as_str()).collect();
    assert_eq!(sent, [id.as_str()], "the new member receives the pool");
    let outside = sync(&hal, hal_cursor).await;
    assert!(outside.updates.is_empty() && outside.evictions.is_empty(), "not hal's: {outside:?}");

    for n in 1..=3 {
        let again = sync(&fay, joined.cursor).await;
        let resent: Vec<&str> = again.updates.iter().map(|u| u.ticket_id.as_str()).collect();
        assert!(resent.is_empty(), "sync {n} after receiving it sends it again: {resent:?}");
        assert!(again.evictions.is_empty(), "sync {n}: {:?}", again.evictions);
        assert_eq!(again.cursor, joined.cursor, "sync {n}: nothing changed");
    }
    server.stop().await;
}
