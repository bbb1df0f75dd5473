//! The customer card on the engineer's device (docs/adr/0018): a ticket made for a customer
//! record reaches the assigned engineer's real store through a real sync with the card — the
//! record's contacts and contract, the site, and the last tickets at that site — read-only,
//! while the customer records themselves stay on the server.

use fieldsync_core::model::{Customer, NewTicket};
use fieldsync_e2e::Dispatcher;
use serde_json::json;

use super::world;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_engineer_device_receives_the_customer_card_and_the_sites_last_tickets_with_the_ticket() {
    let w = world(&["eli", "fay"]).await;
    let record = json!({"id": "zj-tech", "name": "上海张江科技有限公司", "tier": "gold",
        "contacts": [{"name": "李四", "phone": "138 0000 1234", "role": "厂长"}],
        "sites": [{"id": "plant-1", "label": "一号厂房", "address": "上海市浦东新区张江路1号"}],
        "contract": {"level": "7x24", "valid_until": "2027-12-31"}, "notes": "gate code 4711"});
    w.dispatcher.post_json("/v1/customers", &record).await.expect("customer");
    let for_record = |title: &str, engineer: &str| NewTicket {
        title: title.into(),
        customer: Customer { id: "zj-tech".into(), site_id: "plant-1".into(), ..Default::default() },
        assignee: Some(engineer.into()),
        ..Default::default()
    };
    let earlier = w.dispatcher.create(&for_record("Chiller alarm", "fay")).await;
    let id = w.dispatcher.create(&for_record("Chiller alarm again", "eli")).await;

    let eli = &w.engineers[0];
    eli.sync().await;
    let ticket = eli.client().get(&id).expect("the ticket is on the device");
    assert_eq!((ticket.customer.name.as_str(), ticket.customer.tier.as_str()), ("上海张江科技有限公司", "gold"));
    assert_eq!((ticket.customer.id.as_str(), ticket.customer.site_id.as_str()), ("zj-tech", "plant-1"));
    let card = ticket.customer_card.expect("the card came with the ticket");
    assert_eq!(card.contacts.len(), 1);
    assert_eq!((card.contacts[0].name.as_str(), card.contacts[0].phone.as_str()), ("李四", "138 0000 1234"));
    assert_eq!(card.contract.as_ref().map(|c| c.level.as_str()), Some("7x24"));
    assert_eq!(card.site.as_ref().map(|s| s.label.as_str()), Some("一号厂房"));
    assert_eq!(card.recent_tickets.len(), 1);
    assert_eq!(
        (card.recent_tickets[0].id.as_str(), card.recent_tickets[0].title.as_str()),
        (earlier.as_str(), "Chiller alarm")
    );
    assert!(eli.client().get(&earlier).is_err(), "the earlier ticket itself is fay's: only its line is on the card");
    let card_json = serde_json::to_string(&card).expect("json");
    assert!(!card_json.contains("4711"), "the dispatchers' notes never reach a device");
    assert!(card_json.len() < 2_048, "a small card: {} bytes", card_json.len());

    // The records themselves are the dispatchers': the engineer's token reads none of them.
    let engineer = Dispatcher::new(&w.server, &w.tokens[0]);
    let refused = engineer.post_json("/v1/customers", &json!({"name": "Mine"})).await;
    assert_eq!(refused.map_err(|(status, _)| status), Err(403));
}
