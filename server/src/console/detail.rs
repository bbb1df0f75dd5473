//! A ticket's detail page (fields, SLA milestones, timeline, work done, photos, signature,
//! feedback, conflicts) and the dispatcher's actions on it: assign or reassign, cancel,
//! reopen, note, and review a conflict. There is no delete, for any ticket.

use askama::Template;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};
use fieldsync_core::actions::Command;
use fieldsync_core::model::{ComplaintLevel, JobSummary, Ticket, TicketEvent, doc};
use fieldsync_core::time::Millis;
use fieldsync_core::workflow::{self, EventKind, Status};
use serde::Deserialize;

use super::i18n::Words;
use super::session::Session;
use super::{ConsoleError, Nav, People, conflicts, html, sla};
use crate::tickets::{Detail, HistoryEntry};
use crate::{AppError, AppState, blocking, tickets};

/// One line of the timeline: one change of the document.
pub(crate) struct TimelineRow {
    device_time: String,
    received: String,
    who: String,
    device: String,
    what: String,
    details: Vec<String>,
    server: bool,
}

/// A conflict as the page shows it.
pub(crate) struct ConflictView {
    kind: String,
    by: String,
    reason: String,
    pending: bool,
    marker: String,
}

/// A milestone row.
pub(crate) struct MilestoneRow {
    name: &'static str,
    deadline: String,
    met: String,
    verdict: &'static str,
    class: &'static str,
}

/// A record of work (note, part, time), voided ones kept and marked.
pub(crate) struct WorkRow {
    at: String,
    by: String,
    text: String,
    void: String,
}

pub(crate) struct PhotoView {
    sha256: String,
    thumbnail: String,
    caption: String,
    size: String,
}

pub(crate) struct SignatureView {
    signer: String,
    signed_at: String,
    png_sha256: String,
    summary_sha256: String,
    matches: bool,
}

pub(crate) struct CheckInView {
    at: String,
    by: String,
    place: String,
}

#[derive(Template)]
#[template(path = "detail.html")]
struct DetailPage {
    nav: Nav,
    t: Ticket,
    /// The ticket's change sequence as rendered: live events up to it are already shown.
    changed_seq: u64,
    status: &'static str,
    status_label: &'static str,
    clock_text: String,
    clock_class: &'static str,
    created: String,
    site: String,
    milestones: Vec<MilestoneRow>,
    timeline: Vec<TimelineRow>,
    check_ins: Vec<CheckInView>,
    notes: Vec<WorkRow>,
    parts: Vec<WorkRow>,
    times: Vec<WorkRow>,
    photos: Vec<PhotoView>,
    signature: Option<SignatureView>,
    feedback: String,
    customer_messages: Vec<WorkRow>,
    customer_rating: String,
    tracking_url: String,
    conflicts: Vec<ConflictView>,
    engineers: Vec<String>,
    can_assign: bool,
    /// The workflow allows putting it into the shared pool (new or rejected).
    can_pool: bool,
    assign_label: &'static str,
    can_cancel: bool,
    can_reopen: bool,
    taxonomy: crate::sla::taxonomy::Taxonomy,
    type_label: String,
    escalations: Vec<EscalationRow>,
    revisit: String,
    can_revisit: bool,
    complaint_levels: Vec<String>,
    complaint_level: String,
}

/// An escalation the server recorded, as the page lists it.
pub(crate) struct EscalationRow {
    at: String,
    clock: String,
    deadline: String,
    summary: String,
}

fn event_details(event: &TicketEvent, w: Words) -> String {
    let mut text = w.word(&event.kind);
    if let Some(assignee) = &event.assignee {
        text.push_str(&format!(" → {assignee}"));
    }
    if let Some(place) = &event.place {
        if let Some(distance) = place.distance_m {
            text.push_str(&format!(" ({distance:.0} {})", w.t("m from the site")));
        }
    }
    if event.revisit {
        text.push_str(&format!(" ({})", w.t("revisit: not fixed")));
    }
    if let Some(contact) = &event.contact {
        text.push_str(&format!(" [{}: {contact}]", w.t("reached")));
    }
    if let Some(reason) = &event.reason {
        text.push_str(&format!(": {}", w.refusal(reason)));
    }
    if let Some(summary) = event.summary.as_deref().filter(|s| !s.is_empty()) {
        text.push_str(&format!(": {summary}"));
    }
    if let Some(void) = &event.void {
        text.push_str(&format!(" [{}: {}]", w.t("voided by the server"), w.refusal(void)));
    }
    if let Some(device_at) = event.device_at {
        // The server moved the time into the ticket's life (docs/security.md, rule 6).
        let skew = (device_at - event.at) / 1000;
        text.push_str(&format!(
            " [{} {}, {} s {}; {} {}]",
            w.t("device clock said"),
            w.when(device_at),
            skew.abs(),
            w.t(if skew < 0 { "early" } else { "late" }),
            w.t("counted at"),
            w.when(event.at)
        ));
    }
    text
}

fn timeline(ticket: &Ticket, history: &[HistoryEntry], w: Words) -> Vec<TimelineRow> {
    history
        .iter()
        .map(|entry| {
            let who = if entry.server {
                w.t("server").to_owned()
            } else {
                entry.user_id.clone().unwrap_or_else(|| "?".into())
            };
            // The events a change recorded carry its stamp: the same device time and user.
            let details = ticket
                .events
                .iter()
                .filter(|e| e.device_at.unwrap_or(e.at) == entry.device_time && Some(&e.by) == entry.user_id.as_ref())
                .map(|e| event_details(e, w))
                .collect();
            TimelineRow {
                device_time: w.when(entry.device_time),
                received: w.when_opt(entry.server_received_at),
                who,
                device: entry.device_id.clone().unwrap_or_else(|| entry.actor.chars().take(12).collect()),
                what: entry.message.clone().unwrap_or_else(|| "change".into()),
                details,
                server: entry.server,
            }
        })
        .collect()
}

fn build(
    detail: Detail,
    people: &People,
    taxonomy: crate::sla::taxonomy::Taxonomy,
    nav: Nav,
    now: Millis,
) -> DetailPage {
    let Detail { ticket: t, history, tracking_url, changed_seq } = detail;
    let w = nav.w;
    let due = fieldsync_core::model::doc::sla_due_at(&t.sla, t.status, &t.milestones);
    let clock = sla::clock(due, t.status, now);
    let milestones = sla::milestones(&t.sla, &t.milestones, t.status, now)
        .into_iter()
        .map(|m| MilestoneRow {
            name: m.name,
            deadline: w.when_opt(m.deadline),
            met: w.when_opt(m.met_at),
            verdict: m.verdict,
            class: if m.breached {
                "breached"
            } else if m.met_at.is_some() {
                "met"
            } else {
                ""
            },
        })
        .collect();
    let pending: Vec<String> =
        conflicts::pending(&t, &|u| people.is_dispatcher(u)).into_iter().map(conflicts::marker).collect();
    let conflict_views = t
        .conflicts
        .iter()
        .map(|c| {
            let marker = conflicts::marker(c);
            ConflictView {
                kind: c.kind.clone(),
                by: c.by.clone(),
                reason: c.reason.clone(),
                pending: pending.contains(&marker),
                marker,
            }
        })
        .collect();
    let check_ins = t
        .events
        .iter()
        .filter(|e| e.kind == "checked_in")
        .map(|e| CheckInView {
            at: w.when(e.at),
            by: e.by.clone(),
            place: match e.place {
                Some(p) => {
                    let mut text =
                        format!("{:.5}, {:.5} (±{:.0} m)", p.location.lat, p.location.lon, p.location.accuracy_m);
                    if let (Some(d), Some(inside)) = (p.distance_m, p.inside_site) {
                        let verdict = w.t(if inside { "inside the site radius" } else { "OUTSIDE the site radius" });
                        text.push_str(&format!(": {d:.0} {}, {verdict}", w.t("m from the site")));
                    }
                    text
                }
                None => w.t("no location").into(),
            },
        })
        .collect();
    let void = |v: &Option<String>| v.clone().unwrap_or_default();
    let notes = t
        .notes
        .iter()
        .map(|n| WorkRow {
            at: w.when(n.at),
            by: n.by.clone(),
            text: if n.public { format!("[{}] {}", w.t("to the customer"), n.text) } else { n.text.clone() },
            void: void(&n.void),
        })
        .collect();
    let customer_messages = t
        .customer_messages
        .iter()
        .map(|m| WorkRow { at: w.when(m.at), by: m.by.clone(), text: m.text.clone(), void: String::new() })
        .collect();
    let customer_rating = t
        .customer_feedback
        .as_ref()
        .map(|f| {
            format!("{} / 5{}", f.rating, if f.comment.is_empty() { String::new() } else { format!(": {}", f.comment) })
        })
        .unwrap_or_default();
    let parts = t
        .parts
        .iter()
        .map(|p| WorkRow {
            at: w.when(p.at),
            by: p.by.clone(),
            text: format!("{} × {}", p.sku, p.qty),
            void: void(&p.void),
        })
        .collect();
    let times = t
        .time_entries
        .iter()
        .map(|e| WorkRow {
            at: w.when(e.at),
            by: e.by.clone(),
            text: format!("{} {} {}", e.minutes, w.t("min"), w.word(&e.kind)),
            void: void(&e.void),
        })
        .collect();
    let photos = t
        .photos
        .iter()
        .map(|p| PhotoView {
            sha256: p.sha256.clone(),
            thumbnail: if p.thumbnail_sha256.is_empty() { p.sha256.clone() } else { p.thumbnail_sha256.clone() },
            caption: p.caption.clone(),
            size: format!("{}×{}", p.width, p.height),
        })
        .collect();
    let signature = t.signature.as_ref().map(|s| SignatureView {
        signer: s.signer.clone(),
        signed_at: w.when(s.signed_at),
        png_sha256: s.png_sha256.clone(),
        summary_sha256: s.summary_sha256.clone(),
        matches: JobSummary::of(&t).sha256() == s.summary_sha256,
    });
    let feedback = t
        .feedback
        .as_ref()
        .map(|f| {
            format!("{} / 5{}", f.rating, if f.comment.is_empty() { String::new() } else { format!(": {}", f.comment) })
        })
        .unwrap_or_default();
    let site = t
        .site
        .map(|s| format!("{:.5}, {:.5}, {} {:.0} m", s.lat, s.lon, w.t("radius"), s.radius_m))
        .unwrap_or_else(|| "—".into());
    let revisit_due = doc::revisit_due_at(t.status, t.milestones.resolved_at, t.revisited_at, t.revisit_after);
    let revisit = match (revisit_due, t.revisited_at) {
        (_, Some(at)) => format!("{} {}", w.t("revisited, confirmed fixed:"), w.when(at)),
        (Some(due), None) => {
            let state = crate::sla::revisit::RevisitState::at(due, now);
            format!("{} {} ({})", w.t("revisit due"), w.when(due), w.t(state.label()))
        }
        (None, None) => w.t("no revisit due").to_owned(),
    };
    DetailPage {
        nav,
        revisit,
        can_revisit: t.status == Status::Completed && t.revisited_at.is_none(),
        complaint_levels: ComplaintLevel::ALL.iter().map(|l| l.as_str().to_owned()).collect(),
        complaint_level: t.complaint_level.map(|l| l.as_str().to_owned()).unwrap_or_default(),
        changed_seq,
        status: t.status.as_str(),
        status_label: w.status(t.status),
        clock_text: w.clock(&clock.text),
        clock_class: clock.state.class(),
        created: format!("{} {} {}", w.when(t.created_at), w.t("by"), t.created_by),
        site,
        milestones,
        timeline: timeline(&t, &history, w),
        check_ins,
        notes,
        parts,
        times,
        photos,
        signature,
        feedback,
        customer_messages,
        customer_rating,
        tracking_url: tracking_url.unwrap_or_default(),
        conflicts: conflict_views,
        engineers: people.engineers.clone(),
        can_assign: !t.status.is_final(),
        assign_label: if matches!(t.status, Status::New | Status::Pooled) { "Assign" } else { "Reassign" },
        can_pool: workflow::allows(EventKind::Pooled, t.status),
        can_cancel: !t.status.is_final(),
        can_reopen: t.status.is_final(),
        type_label: taxonomy.type_label(&t.classification.ticket_type).to_owned(),
        escalations: t
            .escalations
            .iter()
            .map(|e| EscalationRow {
                at: w.when(e.at),
                clock: e.clock.clone(),
                deadline: w.when(e.deadline),
                summary: e.summary.clone(),
            })
            .collect(),
        taxonomy,
        t,
    }
}

/// `GET /console/tickets/{id}`.
pub(crate) async fn page(
    State(state): State<AppState>,
    session: Session,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ConsoleError> {
    let nav = Nav::of(&session, "board");
    let host = headers.get(axum::http::header::HOST).and_then(|h| h.to_str().ok()).map(str::to_owned);
    let page = blocking(move || {
        let people = People::load(&state)?;
        let taxonomy = crate::manage::taxonomy(&state)?.value;
        let mut detail = tickets::detail_of(&state, &id)?;
        let base = crate::tracking::base_url(&state, host.as_deref());
        detail.tracking_url = crate::tracking::current_url(&state, &id, detail.ticket.status, &base)?;
        Ok(build(detail, &people, taxonomy, nav, super::now(&state)))
    })
    .await?;
    html(&page)
}

/// An action form as posted.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct ActionForm {
    csrf: String,
    action: String,
    engineer: String,
    reason: String,
    text: String,
    conflict: String,
    #[serde(rename = "type")]
    ticket_type: String,
    product: String,
    module: String,
    version: String,
    level: String,
    unit: String,
}

impl ActionForm {
    fn command(&self) -> Result<Command, AppError> {
        Ok(match self.action.as_str() {
            "assign" => Command::Assign { engineer: self.engineer.trim().to_owned() },
            "cancel" => Command::Cancel { reason: self.reason.trim().to_owned() },
            "pool" => Command::Pool { group: None },
            "reopen" => Command::Reopen { reason: self.reason.trim().to_owned() },
            "note" => Command::AddNote { text: self.text.trim().to_owned() },
            // An answer to the customer: shown on their tracking page.
            "public_note" => Command::AddPublicNote { text: self.text.trim().to_owned() },
            "reclassify" => Command::Reclassify {
                classification: fieldsync_core::model::Classification {
                    ticket_type: self.ticket_type.trim().to_owned(),
                    product: self.product.trim().to_owned(),
                    module: self.module.trim().to_owned(),
                    version: self.version.trim().to_owned(),
                },
            },
            "set_complaint" => Command::SetComplaint {
                level: ComplaintLevel::parse(self.level.trim())
                    .ok_or_else(|| AppError::BadRequest(format!("unknown complaint level {:?}", self.level)))?,
                unit: self.unit.trim().to_owned(),
            },
            // A review is a dispatcher's note carrying the conflict's marker: it stays in the
            // history like every other change.
            "review" => {
                let marker = self.conflict.trim();
                if !(marker.starts_with("[conflict ") && marker.ends_with(']')) {
                    return Err(AppError::BadRequest("no conflict named".into()));
                }
                let text = self.text.trim();
                let text = if text.is_empty() { "Reviewed, kept as is" } else { text };
                Command::AddNote { text: format!("{text} {marker}") }
            }
            other => return Err(AppError::BadRequest(format!("unknown action {other:?}"))),
        })
    }
}

/// `POST /console/tickets/{id}/actions`.
pub(crate) async fn act(
    State(state): State<AppState>,
    session: Session,
    headers: HeaderMap,
    Path(id): Path<String>,
    axum::Form(form): axum::Form<ActionForm>,
) -> Result<Response, ConsoleError> {
    session.check(&headers, &form.csrf)?;
    let target = format!("/console/tickets/{id}");
    // The tracking link is not part of the ticket's document: revoking or renewing it is no
    // workflow action.
    match form.action.as_str() {
        "revoke_link" => {
            blocking(move || crate::tracking::revoke(&state, &id).map(|_| ())).await?;
            return Ok(Redirect::to(&target).into_response());
        }
        "new_link" => {
            blocking(move || crate::tracking::renew(&state, &id).map(|_| ())).await?;
            return Ok(Redirect::to(&target).into_response());
        }
        _ => {}
    }
    let command = form.command()?;
    let caller = session.caller.clone();
    blocking(move || crate::documents::perform(&state, &caller, &id, &command).map(|_| ())).await?;
    Ok(Redirect::to(&target).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn action_forms_become_commands() {
        let form = |action: &str| ActionForm { action: action.into(), reason: "r".into(), ..Default::default() };
        assert_eq!(form("cancel").command().ok(), Some(Command::Cancel { reason: "r".into() }));
        assert_eq!(form("reopen").command().ok(), Some(Command::Reopen { reason: "r".into() }));
        assert!(form("delete").command().is_err(), "there is no delete");
        let review = ActionForm { action: "review".into(), conflict: "[conflict e1]".into(), ..Default::default() };
        assert_eq!(review.command().ok(), Some(Command::AddNote { text: "Reviewed, kept as is [conflict e1]".into() }));
        let bogus = ActionForm { action: "review".into(), conflict: "e1".into(), ..Default::default() };
        assert!(bogus.command().is_err());
    }

    #[test]
    fn a_clamped_event_shows_the_devices_own_clock_on_the_timeline() {
        let event = TicketEvent {
            id: "e1".into(),
            kind: "checked_in".into(),
            at: 1_000_000,
            by: "eli".into(),
            role: None,
            device: "d".into(),
            assignee: None,
            place: None,
            reason: None,
            summary: None,
            eta: None,
            void: None,
            device_at: Some(1_000_000 - 86_400_000),
            contact: None,
            revisit: false,
        };
        let text = event_details(&event, Words { lang: crate::tracking::i18n::Lang::En, zone: 0 });
        assert!(text.contains("device clock said") && text.contains("86400 s early"), "{text}");
        let honest = TicketEvent { device_at: None, ..event };
        assert!(
            !event_details(&honest, Words { lang: crate::tracking::i18n::Lang::En, zone: 0 }).contains("device clock")
        );
    }
}
