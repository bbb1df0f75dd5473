use fieldsync_core::model::{Contact, Contract, CustomerSite, Sla, TicketIndex};
use fieldsync_core::workflow::Status;

use super::*;

fn record() -> Record {
    Record {
        id: "c1".into(),
        name: "  上海张江科技  ".into(),
        tier: " Gold ".into(),
        phone: String::new(),
        contacts: vec![
            Contact { name: "李四".into(), phone: "138 0000 0000".into(), role: "厂长".into() },
            Contact::default(),
        ],
        sites: vec![
            CustomerSite {
                id: String::new(), label: "一号厂房".into(), address: "上海市浦东新区张江路1号".into()
            },
            CustomerSite { id: "s1".into(), label: "HQ".into(), address: "1 Main St".into() },
        ],
        contract: Some(Contract {
            level: "24x7".into(),
            valid_from: "2026-01-01".into(),
            valid_until: "2026-12-31".into(),
        }),
        notes: String::new(),
    }
}

#[test]
fn a_record_is_trimmed_its_empty_entries_dropped_and_its_sites_given_unused_ids() {
    let r = record().normalized().expect("valid");
    assert_eq!((r.name.as_str(), r.tier.as_str()), ("上海张江科技", "gold"));
    assert_eq!(r.contacts.len(), 1, "the empty contact went");
    assert_eq!(r.sites.iter().map(|s| s.id.as_str()).collect::<Vec<_>>(), ["s2", "s1"], "s1 was taken");
    assert_eq!(r.phone_to_call(), "138 0000 0000", "no main phone: the first contact's");
    let text = r.search_text();
    for needle in ["张江", "李四", "浦东新区", "138 0000", "main st"] {
        assert!(text.contains(needle), "{needle} in {text:?}");
    }
}

#[test]
fn oversized_or_malformed_fields_are_refused_with_the_field_named() {
    let long = Record { name: "名".repeat(MAX_NAME_CHARS + 1), ..record() };
    assert_eq!(long.normalized(), Err(CustomerError::TooLong { field: "name".into(), max: MAX_NAME_CHARS }));
    let many =
        Record { contacts: vec![Contact { name: "x".into(), ..Contact::default() }; MAX_CONTACTS + 1], ..record() };
    assert!(matches!(many.normalized(), Err(CustomerError::TooLong { field, .. }) if field == "contacts"));
    let address = Record {
        sites: vec![CustomerSite { address: "x".repeat(MAX_ADDRESS_CHARS + 1), ..CustomerSite::default() }],
        ..record()
    };
    assert!(matches!(address.normalized(), Err(CustomerError::TooLong { field, .. }) if field == "sites[0].address"));
    let nameless = Record { name: " ".into(), ..record() };
    assert!(matches!(nameless.normalized(), Err(CustomerError::Invalid { field, .. }) if field == "name"));
    let twice = Record {
        sites: vec![
            CustomerSite { id: "a".into(), ..CustomerSite::default() },
            CustomerSite { id: "a".into(), address: "x".into(), ..CustomerSite::default() },
        ],
        ..record()
    };
    assert!(matches!(twice.normalized(), Err(CustomerError::Invalid { field, .. }) if field == "sites[1].id"));
    let bad_id = Record { id: "../etc".into(), ..record() };
    assert!(matches!(bad_id.normalized(), Err(CustomerError::Invalid { field, .. }) if field == "id"));
    let backwards = Record {
        contract: Some(Contract {
            level: "x".into(),
            valid_from: "2026-12-31".into(),
            valid_until: "2026-01-01".into(),
        }),
        ..record()
    };
    assert!(backwards.normalized().is_err());
    let not_a_day =
        Record { contract: Some(Contract { valid_from: "31/12/2026".into(), ..Contract::default() }), ..record() };
    assert!(not_a_day.normalized().is_err());
    let bell = Record { phone: "1\u{7}".into(), ..record() };
    assert!(bell.normalized().is_err());
}

#[test]
fn a_ticket_names_a_site_of_the_record_or_gets_the_first() {
    let r = record().normalized().expect("valid");
    assert_eq!(r.site("").expect("first").map(|s| s.id.as_str()), Some("s2"));
    assert_eq!(r.site("s1").expect("named").map(|s| s.label.as_str()), Some("HQ"));
    assert!(matches!(r.site("s9"), Err(CustomerError::UnknownSite { .. })));
    let snap = snapshot(&r, r.site("s1").expect("s1"));
    assert_eq!(
        (snap.name.as_str(), snap.tier.as_str(), snap.address.as_str(), snap.id.as_str(), snap.site_id.as_str()),
        ("上海张江科技", "gold", "1 Main St", "c1", "s1")
    );
}

fn row(id: &str, status: Status, created: i64) -> IndexRow {
    IndexRow {
        id: id.into(),
        index: TicketIndex {
            title: format!("Job {id}"),
            status,
            customer_name: "C".into(),
            ticket_type: "repair".into(),
            customer_id: "c1".into(),
            site_id: "s1".into(),
            created_at: Some(created),
            ..Default::default()
        },
        updated_at: created,
        changed_seq: 1,
    }
}

#[test]
fn the_card_is_bounded_whatever_the_record_holds() {
    let big = Record {
        name: "名".repeat(MAX_NAME_CHARS),
        contacts: vec![
            Contact {
                name: "名".repeat(MAX_NAME_CHARS),
                phone: "9".repeat(MAX_SHORT_CHARS),
                role: "职".repeat(MAX_ADDRESS_CHARS)
            };
            MAX_CONTACTS
        ],
        sites: vec![CustomerSite {
            id: "s1".into(),
            label: "厂".repeat(MAX_ADDRESS_CHARS),
            address: "路".repeat(MAX_ADDRESS_CHARS),
        }],
        notes: "秘".repeat(MAX_NOTES_CHARS),
        ..record()
    };
    let earlier: Vec<IndexRow> = (0..20)
        .map(|n| {
            row(&format!("t{n}"), Status::Completed, n).with(|t| {
                t.title = "题".repeat(200);
            })
        })
        .collect();
    let card = card(&big, big.sites.first(), &earlier, 9);
    assert_eq!((card.contacts.len(), card.recent_tickets.len()), (CARD_CONTACTS, CARD_RECENT_TICKETS));
    let json = serde_json::to_string(&card).expect("json");
    assert!(!json.contains('秘'), "dispatchers' notes stay on the server");
    assert!(json.len() <= 24 * 1024, "a card is at most 24 KiB, was {}", json.len());
}

#[test]
fn figures_count_open_and_closed_the_mean_first_response_and_breaches() {
    let mut late = row("late", Status::Completed, 0);
    late.sla = Sla { respond_by: Some(10), ..Sla::default() };
    late.responded_at = Some(30);
    let mut quick = row("quick", Status::Accepted, 100);
    quick.sla = Sla { respond_by: Some(1_000), resolve_by: Some(5_000), ..Sla::default() };
    quick.responded_at = Some(110);
    let mut overdue = row("overdue", Status::Dispatched, 200);
    overdue.sla = Sla { respond_by: Some(300), ..Sla::default() };
    let mut cancelled = row("cancelled", Status::Cancelled, 200);
    cancelled.sla = Sla { respond_by: Some(300), ..Sla::default() };
    let f = figures(&[late, quick, overdue, cancelled], 1_000);
    assert_eq!(
        f,
        Figures { tickets: 4, open: 2, closed: 2, mean_first_response_ms: Some(20), sla_breaches: 2 },
        "late met its respond_by late, overdue is past it unanswered; a cancelled one is not counted"
    );
    assert_eq!(figures(&[], 0).mean_first_response_ms, None);
}
