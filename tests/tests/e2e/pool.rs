//! The shared pool (抢单, docs/adr/0023) end to end: a real server, the dispatcher on the REST
//! API, two engineers' device stores claiming the same pooled ticket offline. The first claim
//! the server receives wins; the other device is told at once and loses the ticket, and its
//! other pending work still syncs.

use fieldsync_core::actions::Command;
use fieldsync_core::model::{ListFilter, NewTicket};
use fieldsync_core::{Role, Status};
use fieldsync_e2e::{Device, Dispatcher, TestServer};

use super::job;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_devices_claim_offline_the_first_received_wins_the_other_is_told_and_keeps_its_other_work() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("server");
    std::fs::create_dir_all(&data).expect("data dir");
    let server = TestServer::start(&data).await;
    let (_, _, token) = server.add_user("dana", Role::Dispatcher);
    let dispatcher = Dispatcher::new(&server, &token);
    let eli = Device::new(dir.path(), &server, &server.add_user("eli", Role::Engineer), Role::Engineer);
    let fay = Device::new(dir.path(), &server, &server.add_user("fay", Role::Engineer), Role::Engineer);

    // fay has a job of her own, and one ticket goes into the pool instead of to anyone.
    let own = dispatcher.create(&job("Fay's own job", "fay")).await;
    let pooled = dispatcher.create(&NewTicket { assignee: None, ..job("Chiller alarm", "nobody") }).await;
    dispatcher.act(&pooled, &Command::Pool { group: None }).await.expect("pool");
    for device in [&eli, &fay] {
        device.sync().await;
        let held = device.client().get(&pooled).expect("the pooled ticket is on every engineer's device");
        assert_eq!(held.status, Status::Pooled);
        assert!(held.assignee.is_none());
    }
    // Read-only before a claim: nothing but the claim is possible.
    assert!(eli.client().add_note(&pooled, "mine?").is_err(), "a pooled ticket takes no work before a claim");

    // Both offline: both claim, and fay also works her own job.
    eli.client().claim(&pooled).expect("eli claims offline");
    fay.client().claim(&pooled).expect("fay claims offline");
    fay.client().accept(&own).expect("accept own");
    fay.client().add_note(&own, "bring the long ladder").expect("note on own job");
    assert_eq!(fay.client().get(&pooled).expect("ticket").status, Status::Accepted, "her phone shows it as hers");

    // eli's claim reaches the server first.
    let first = eli.sync().await;
    assert!(first.rejected.is_empty(), "{first:?}");
    let second = fay.sync().await;
    assert_eq!(second.rejected.len(), 1, "{second:?}");
    assert_eq!(second.rejected[0].0, pooled);
    assert!(second.rejected[0].1.contains("claimed by someone else"), "{second:?}");
    assert!(second.evicted.contains(&pooled), "the ticket leaves fay's device at once: {second:?}");
    assert!(fay.client().get(&pooled).is_err(), "gone from her store");
    let held: Vec<String> =
        fay.client().list(&ListFilter::default()).expect("list").into_iter().map(|t| t.id).collect();
    assert_eq!(held, vec![own.clone()], "her own job stays");

    // Nothing else lost: fay's own work reached the server; eli holds the claimed ticket.
    let own_detail = dispatcher.detail(&own).await;
    assert_eq!(own_detail["status"], "accepted", "{own_detail}");
    assert_eq!(own_detail["notes"][0]["text"], "bring the long ladder", "{own_detail}");
    let claimed = dispatcher.detail(&pooled).await;
    assert_eq!((claimed["status"].as_str(), claimed["assignee"].as_str()), (Some("accepted"), Some("eli")));
    eli.sync().await;
    assert_eq!(eli.client().get(&pooled).expect("eli's").assignee.as_deref(), Some("eli"));
    eli.client().start_travel(&pooled).expect("eli works it");
    let after = fay.sync().await;
    assert!(after.received.iter().all(|id| id != &pooled), "fay never gets it back: {after:?}");
}
