//! The customer's side of a visit (docs/adr/0012-customer-tracking-page.md): a tracking page
//! per ticket, with no account, live over SSE; the customer's messages and rating, written
//! into the ticket document by the server; the follow-up of a bad rating.
//!
//! - **Links.** Made when a ticket is dispatched. The token is 192 bits of HMAC-SHA256 under a
//!   server secret over the ticket id and the link's generation; storage keeps its SHA-256
//!   only (`storage::tracking`), so the dispatcher API can show a ticket's link again without
//!   it being stored. Revoking marks the ticket's links revoked; a new link is the next
//!   generation. A link stops working a configurable time after completion (or cancellation).
//! - **Privacy.** Whatever is wrong with a token (malformed, unknown, revoked, expired) is the
//!   same plain 404. What the page shows is decided by [`view::PublicView::of`] alone.
//! - **Limits.** Every request counts against its IP address first (so guessing is limited
//!   before any lookup), then against its token: views per minute, posts per hour.
//! - **Writes.** A message or a rating is checked by the shared rules
//!   (`workflow::check_customer_message`, `check_customer_rating`, `values`) and written with
//!   the server's customer actor through the one commit path (`documents::commit`), so it
//!   reaches the engineer's device on its next sync and the console live. A rating at or
//!   below `workflow::FOLLOW_UP_AT_OR_BELOW` opens a follow-up and fires the webhook event
//!   `customer_rating_low`.

pub mod i18n;
pub(crate) mod rate;
pub mod view;

use std::convert::Infallible;
use std::sync::OnceLock;
use std::time::Duration;

use automerge::{Automerge, ChangeHash, ReadDoc};
use axum::Router;
use axum::extract::{ConnectInfo, DefaultBodyLimit, FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use fieldsync_core::model::{Ticket, doc, ids};
use fieldsync_core::time::Millis;
use fieldsync_core::workflow::{self, EventKind, Status, values};
use futures_util::StreamExt;
use hmac::{KeyInit, Mac};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use tokio_stream::wrappers::BroadcastStream;

use crate::storage::HashBytes;
use crate::storage::tracking::{FollowUp, TrackingLink};
use crate::{AppError, AppState, blocking, documents};
use i18n::{Lang, Text, t};
use rate::Limiter;
use view::PublicView;

/// The device id the customer's changes are logged under (the change log's "who sent it").
pub const CUSTOMER_DEVICE: &str = "customer";
/// Largest body a message or rating form may have (URL-encoded CJK takes 9 bytes a character).
const MAX_POST_BYTES: usize = 32 * 1024;
/// Token length in hex characters (192 bits).
const TOKEN_HEX: usize = 48;

/// The tracking page's settings.
#[derive(Clone, Debug)]
pub struct TrackingConfig {
    /// The address customers reach this server at (`https://service.example.com`), for the
    /// links in webhook payloads and the API; the request's `Host` when unset (the API only).
    pub public_url: Option<String>,
    /// How long a link keeps working after the ticket is completed or cancelled. Default 30 days.
    pub link_ttl_after_completion: Duration,
    /// The customers' zone as an offset from UTC in minutes: times on the page and in
    /// notifications. Default +480 (China Standard Time, no daylight saving).
    pub utc_offset_minutes: i32,
    /// The language of the page when the browser names neither of ours, and of the `text` of
    /// notifications. Default Simplified Chinese.
    pub language: Lang,
    /// Page views and live connections per token per minute. Default 120.
    pub views_per_minute_per_token: u32,
    /// Requests per IP address per minute (any token, known or not). Default 600.
    pub views_per_minute_per_ip: u32,
    /// Messages and ratings per token per hour. Default 20.
    pub posts_per_hour_per_token: u32,
    /// Messages and ratings per IP address per hour. Default 60.
    pub posts_per_hour_per_ip: u32,
}

impl Default for TrackingConfig {
    fn default() -> Self {
        TrackingConfig {
            public_url: None,
            link_ttl_after_completion: Duration::from_secs(30 * 24 * 60 * 60),
            utc_offset_minutes: 480,
            language: Lang::Zh,
            views_per_minute_per_token: 120,
            views_per_minute_per_ip: 600,
            posts_per_hour_per_token: 20,
            posts_per_hour_per_ip: 60,
        }
    }
}

/// This instance's tracking state, in [`AppState`].
pub(crate) struct Runtime {
    secret: OnceLock<Vec<u8>>,
    views: Limiter,
    posts: Limiter,
}

impl Default for Runtime {
    fn default() -> Self {
        Runtime { secret: OnceLock::new(), views: Limiter::new(60_000), posts: Limiter::new(3_600_000) }
    }
}

/// The tracking routes.
pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/t/{token}", get(page))
        .route("/t/{token}/events", get(events))
        // A message is at most 1,000 characters and a comment 2,000: no body needs more.
        .route("/t/{token}/messages", post(message).layer(DefaultBodyLimit::max(MAX_POST_BYTES)))
        .route("/t/{token}/rating", post(rating).layer(DefaultBodyLimit::max(MAX_POST_BYTES)))
        // The service report (issue 15, item 4), once the job is completed.
        .route("/t/{token}/report.pdf", get(report))
        .route("/track-assets/{file}", get(asset))
}

// ---------------------------------------------------------------------------------------------
// Tokens and links

fn secret(state: &AppState) -> Result<&[u8], AppError> {
    let runtime = state.tracking_runtime();
    if let Some(secret) = runtime.secret.get() {
        return Ok(secret);
    }
    let fresh: [u8; 32] = rand::random();
    let stored = state.storage().tracking_secret(&fresh)?;
    Ok(runtime.secret.get_or_init(|| stored))
}

/// The token of a ticket's link of `generation`.
fn token_for(secret: &[u8], ticket_id: &str, generation: u32) -> String {
    // HMAC takes keys of any length: this cannot fail, but the trait says it may.
    let mut mac = <hmac::Hmac<Sha256> as KeyInit>::new_from_slice(secret)
        .unwrap_or_else(|_| <hmac::Hmac<Sha256> as KeyInit>::new(&Default::default()));
    mac.update(format!("fieldsync-tracking/{ticket_id}/{generation}").as_bytes());
    hex::encode(&mac.finalize().into_bytes()[..TOKEN_HEX / 2])
}

fn token_hash(token: &str) -> HashBytes {
    Sha256::digest(token.as_bytes()).into()
}

/// Makes the ticket's link of `generation`, if it has none of that generation. Blocking.
fn make_link(state: &AppState, ticket_id: &str, generation: u32) -> Result<String, AppError> {
    let token = token_for(secret(state)?, ticket_id, generation);
    state.storage().add_tracking_link(&TrackingLink {
        ticket_id: ticket_id.to_owned(),
        generation,
        token_sha256: token_hash(&token),
        created_at: state.now(),
        revoked_at: None,
    })?;
    Ok(token)
}

/// The token of the ticket's working link, made now if the ticket is dispatched and never had
/// one; `None` when its links are revoked or it is not dispatched yet. Blocking.
pub(crate) fn current_token(state: &AppState, ticket_id: &str, status: Status) -> Result<Option<String>, AppError> {
    match state.storage().latest_tracking_link(ticket_id)? {
        Some(link) if link.revoked_at.is_none() => Ok(Some(token_for(secret(state)?, ticket_id, link.generation))),
        Some(_) => Ok(None),
        None if status != Status::New => make_link(state, ticket_id, 1).map(Some),
        None => Ok(None),
    }
}

/// The ticket's working link as a URL under `base` (no trailing slash). Blocking.
pub(crate) fn current_url(
    state: &AppState,
    ticket_id: &str,
    status: Status,
    base: &str,
) -> Result<Option<String>, AppError> {
    Ok(current_token(state, ticket_id, status)?.map(|token| format!("{}/t/{token}", base.trim_end_matches('/'))))
}

/// The base of the links this server hands out: the configured public URL, else `host`.
pub(crate) fn base_url(state: &AppState, host: Option<&str>) -> String {
    match (&state.config().tracking.public_url, host) {
        (Some(url), _) => url.trim_end_matches('/').to_owned(),
        (None, Some(host)) => format!("http://{host}"),
        (None, None) => String::new(),
    }
}

/// Revokes the ticket's links (the customer's page answers 404 from now on). Blocking.
pub(crate) fn revoke(state: &AppState, ticket_id: &str) -> Result<u64, AppError> {
    let revoked = state.storage().revoke_tracking_links(ticket_id, state.now())?;
    // Nudges this instance's open pages of the ticket: their live streams look again and end.
    // (With PostgreSQL, events come from the database: they end at the ticket's next change.)
    if let Some(row) = state.storage().ticket_row(ticket_id)? {
        state.publish(crate::TicketChanged { id: row.id, status: row.index.status, seq: row.changed_seq });
    }
    Ok(revoked)
}

/// Revokes the ticket's links and makes the next one; returns its token. Blocking.
pub(crate) fn renew(state: &AppState, ticket_id: &str) -> Result<String, AppError> {
    let next = state.storage().latest_tracking_link(ticket_id)?.map_or(1, |l| l.generation + 1);
    revoke(state, ticket_id)?;
    make_link(state, ticket_id, next)
}

/// After a stored write: a dispatch among the new events makes the ticket's first link. Never
/// fails the write (a problem is logged; the API makes the link on demand too). `before` are
/// the replaced version's heads (`None`: a new ticket).
pub(crate) fn after_commit(state: &AppState, ticket_id: &str, before: Option<&[ChangeHash]>, after: &Automerge) {
    let seen = before.map_or(0, |heads| doc::event_count_at(after, heads));
    if doc::event_count(after) == seen {
        return;
    }
    let dispatched = doc::read_events(after)
        .iter()
        .skip(seen)
        .any(|e| e.kind == EventKind::Dispatched.as_str() || e.kind == EventKind::Reassigned.as_str());
    if dispatched {
        if let Err(e) = current_token(state, ticket_id, Status::Dispatched) {
            eprintln!("fieldsync-server: tracking link of ticket {ticket_id} not made: {e}");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Resolving a token

struct Resolved {
    ticket: Ticket,
    engineer_name: Option<String>,
}

/// The ticket a token shows, if the token is one of a working link. Blocking.
fn resolve(state: &AppState, token: &str) -> Result<Option<Resolved>, AppError> {
    if token.len() != TOKEN_HEX || !token.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
        return Ok(None);
    }
    let Some(link) = state.storage().tracking_link(&token_hash(token))? else { return Ok(None) };
    if link.revoked_at.is_some() {
        return Ok(None);
    }
    let Some(row) = state.storage().ticket_row(&link.ticket_id)? else { return Ok(None) };
    let ttl = Millis::try_from(state.config().tracking.link_ttl_after_completion.as_millis()).unwrap_or(Millis::MAX);
    let ended_at = match row.status {
        Status::Completed => row.resolved_at,
        Status::Cancelled => Some(row.updated_at),
        _ => None,
    };
    if ended_at.is_some_and(|ended| state.now() > ended.saturating_add(ttl)) {
        return Ok(None);
    }
    let Some(loaded) = documents::load_at(state, &row.id, row.changed_seq)? else { return Ok(None) };
    let ticket = doc::read_ticket(&loaded.doc).map_err(|e| AppError::Internal(e.to_string()))?;
    let engineer_name = match &ticket.assignee {
        Some(id) => state.storage().user(id)?.map(|u| u.name),
        None => None,
    };
    Ok(Some(Resolved { ticket, engineer_name }))
}

fn view_of(state: &AppState, resolved: &Resolved, lang: Lang) -> PublicView {
    PublicView::of(
        &resolved.ticket,
        resolved.engineer_name.as_deref(),
        lang,
        state.config().tracking.utc_offset_minutes,
    )
}

// ---------------------------------------------------------------------------------------------
// Requests

/// The caller's address as the socket saw it (a proxy's `X-Forwarded-For` is not believed:
/// docs/adr/0012). Unknown when the server was not started with connection info.
pub(crate) struct ClientIp(String);

impl<S: Send + Sync> FromRequestParts<S> for ClientIp {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let ip = parts.extensions.get::<ConnectInfo<crate::PeerAddr>>().map(|c| c.0.0.ip().to_string());
        Ok(ClientIp(ip.unwrap_or_else(|| "unknown".into())))
    }
}

/// The one answer to anything wrong with a token.
fn not_found() -> Response {
    (StatusCode::NOT_FOUND, page_headers("text/plain; charset=utf-8"), "Not Found").into_response()
}

fn too_many(retry_after_ms: Millis) -> Response {
    let seconds = (retry_after_ms / 1000).max(1).to_string();
    let mut response =
        (StatusCode::TOO_MANY_REQUESTS, page_headers("text/plain; charset=utf-8"), "Too Many Requests").into_response();
    if let Ok(value) = HeaderValue::from_str(&seconds) {
        response.headers_mut().insert(header::RETRY_AFTER, value);
    }
    response
}

/// What every tracking response carries: the token is in the URL, so no referrer leaves the
/// page, nothing is cached, nothing is framed and search engines stay out.
fn page_headers(content_type: &'static str) -> [(header::HeaderName, HeaderValue); 6] {
    [
        (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
        (
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(
                "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
            ),
        ),
        (header::REFERRER_POLICY, HeaderValue::from_static("no-referrer")),
        (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        (header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")),
        (header::HeaderName::from_static("x-robots-tag"), HeaderValue::from_static("noindex, nofollow")),
    ]
}

enum Kind {
    View,
    Post,
}

/// Counts the request against its IP address.
fn limit_ip(state: &AppState, ip: &ClientIp, kind: &Kind) -> Result<(), Refused> {
    let config = &state.config().tracking;
    let runtime = state.tracking_runtime();
    let now = state.now();
    let (limiter, per_ip) = match kind {
        Kind::View => (&runtime.views, config.views_per_minute_per_ip),
        Kind::Post => (&runtime.posts, config.posts_per_hour_per_ip),
    };
    limiter.hit(&format!("ip/{}", ip.0), per_ip, now).map_err(Refused::TooMany)
}

/// `?lang=` on a page address.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct LangQuery {
    lang: Option<String>,
}

fn language(state: &AppState, query: &LangQuery, headers: &HeaderMap) -> Lang {
    query.lang.as_deref().and_then(Lang::parse).unwrap_or_else(|| {
        let accept = headers.get(header::ACCEPT_LANGUAGE).and_then(|v| v.to_str().ok());
        Lang::from_accept_language(accept, state.config().tracking.language)
    })
}

/// Resolves `token` after the IP limit, then applies the token limit.
async fn admit(state: &AppState, ip: &ClientIp, token: &str, kind: Kind) -> Result<Resolved, Refused> {
    limit_ip(state, ip, &kind)?;
    let (state2, token2) = (state.clone(), token.to_owned());
    match blocking(move || resolve(&state2, &token2)).await {
        Ok(Some(resolved)) => {
            limit_token(state, token, &kind)?;
            Ok(resolved)
        }
        Ok(None) => Err(Refused::NotFound),
        Err(e) => Err(Refused::Failed(e)),
    }
}

/// Counts the request against its (working) token.
fn limit_token(state: &AppState, token: &str, kind: &Kind) -> Result<(), Refused> {
    let config = &state.config().tracking;
    let runtime = state.tracking_runtime();
    let (limiter, per_token) = match kind {
        Kind::View => (&runtime.views, config.views_per_minute_per_token),
        Kind::Post => (&runtime.posts, config.posts_per_hour_per_token),
    };
    limiter.hit(&format!("token/{token}"), per_token, state.now()).map_err(Refused::TooMany)
}

/// Why a tracking request is not served.
enum Refused {
    /// Anything wrong with the token: the plain 404.
    NotFound,
    /// Over a limit; retry after this many milliseconds.
    TooMany(Millis),
    /// The server failed.
    Failed(AppError),
}

impl IntoResponse for Refused {
    fn into_response(self) -> Response {
        match self {
            Refused::NotFound => not_found(),
            Refused::TooMany(retry_after_ms) => too_many(retry_after_ms),
            Refused::Failed(e) => e.into_response(),
        }
    }
}

#[derive(askama::Template)]
#[template(path = "track.html")]
struct TrackPage {
    v: PublicView,
    token: String,
    lang_tag: &'static str,
    s: Strings,
    completed: bool,
}

/// The page's fixed words.
struct Strings {
    page_title: &'static str,
    cancelled: &'static str,
    engineer: &'static str,
    eta: &'static str,
    updates: &'static str,
    no_updates: &'static str,
    message_label: &'static str,
    send: &'static str,
    sent: &'static str,
    rate_title: &'static str,
    rate_comment: &'static str,
    rate_send: &'static str,
    rated: &'static str,
    report: &'static str,
    times_in: &'static str,
    live: &'static str,
    offline: &'static str,
}

impl Strings {
    fn of(lang: Lang) -> Strings {
        Strings {
            page_title: t(lang, Text::PageTitle),
            cancelled: t(lang, Text::Cancelled),
            engineer: t(lang, Text::EngineerIs),
            eta: t(lang, Text::Eta),
            updates: t(lang, Text::Updates),
            no_updates: t(lang, Text::NoUpdates),
            message_label: t(lang, Text::MessageLabel),
            send: t(lang, Text::Send),
            sent: t(lang, Text::Sent),
            rate_title: t(lang, Text::RateTitle),
            rate_comment: t(lang, Text::RateComment),
            rate_send: t(lang, Text::RateSend),
            rated: t(lang, Text::Rated),
            report: t(lang, Text::Report),
            times_in: t(lang, Text::TimesIn),
            live: t(lang, Text::Live),
            offline: t(lang, Text::Offline),
        }
    }
}

/// `GET /t/{token}`.
async fn page(
    State(state): State<AppState>,
    Path(token): Path<String>,
    Query(query): Query<LangQuery>,
    headers: HeaderMap,
    ip: ClientIp,
) -> Response {
    let resolved = match admit(&state, &ip, &token, Kind::View).await {
        Ok(resolved) => resolved,
        Err(refused) => return refused.into_response(),
    };
    let lang = language(&state, &query, &headers);
    let page = TrackPage {
        v: view_of(&state, &resolved, lang),
        token,
        lang_tag: lang.tag(),
        s: Strings::of(lang),
        completed: resolved.ticket.status == Status::Completed,
    };
    match askama::Template::render(&page) {
        Ok(body) => (page_headers("text/html; charset=utf-8"), body).into_response(),
        Err(e) => AppError::Internal(format!("template: {e}")).into_response(),
    }
}

/// `GET /t/{token}/report.pdf`: the ticket's service report, the same as the engineer hands
/// over and the console downloads, in the customers' zone; a plain 404 before completion.
async fn report(State(state): State<AppState>, Path(token): Path<String>, ip: ClientIp) -> Response {
    let resolved = match admit(&state, &ip, &token, Kind::View).await {
        Ok(resolved) => resolved,
        Err(refused) => return refused.into_response(),
    };
    if resolved.ticket.status != Status::Completed {
        return not_found();
    }
    let id = resolved.ticket.id.clone();
    let offset = state.config().tracking.utc_offset_minutes;
    let made = blocking(move || {
        let row = state.storage().ticket_row(&id)?.ok_or_else(|| AppError::NotFound("not found".into()))?;
        crate::report::render(&state, &row, &[], offset)
    })
    .await;
    match made {
        Ok(pdf) => {
            let mut response = (page_headers("application/pdf"), pdf).into_response();
            response.headers_mut().insert(
                header::CONTENT_DISPOSITION,
                HeaderValue::from_static("attachment; filename=\"service-report.pdf\""),
            );
            response
        }
        Err(e) => e.into_response(),
    }
}

/// `GET /t/{token}/events`: `event: state` with the page's [`PublicView`] as JSON, at once and
/// after every change of the ticket; the stream ends when the link stops working.
async fn events(
    State(state): State<AppState>,
    Path(token): Path<String>,
    Query(query): Query<LangQuery>,
    headers: HeaderMap,
    ip: ClientIp,
) -> Response {
    let resolved = match admit(&state, &ip, &token, Kind::View).await {
        Ok(resolved) => resolved,
        Err(refused) => return refused.into_response(),
    };
    let lang = language(&state, &query, &headers);
    let ticket_id = resolved.ticket.id.clone();
    let first = serde_json::to_string(&view_of(&state, &resolved, lang)).unwrap_or_default();
    let mut shutdown = state.inner.shutdown.subscribe();
    let updates = BroadcastStream::new(state.subscribe())
        .filter(move |item| std::future::ready(item.as_ref().map_or(true, |change| change.id == ticket_id)))
        .then(move |_| {
            let (state, token) = (state.clone(), token.clone());
            async move {
                let state2 = state.clone();
                match blocking(move || resolve(&state2, &token)).await {
                    Ok(Some(resolved)) => serde_json::to_string(&view_of(&state, &resolved, lang)).ok(),
                    _ => None,
                }
            }
        })
        .take_while(|view| std::future::ready(view.is_some()))
        .map(|view| Ok::<_, Infallible>(Event::default().event("state").data(view.unwrap_or_default())))
        .take_until(async move {
            let _ = shutdown.wait_for(|stopping| *stopping).await;
        });
    let opening = futures_util::stream::once(async move { Ok(Event::default().event("state").data(first)) });
    let mut response = Sse::new(opening.chain(updates)).keep_alive(KeepAlive::default()).into_response();
    let h = response.headers_mut();
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// A message as posted.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct MessageForm {
    text: String,
}

/// A rating as posted.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct RatingForm {
    rating: String,
    comment: String,
}

/// Answers a post: JSON `{ "ok": true }` / `{ "error": ... }` to the page's script, a
/// redirect back to the page for a plain form.
fn answer(headers: &HeaderMap, token: &str, result: Result<(), AppError>) -> Response {
    let wants_json = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|accept| accept.contains("application/json"));
    match (result, wants_json) {
        (Ok(()), true) => axum::Json(serde_json::json!({ "ok": true })).into_response(),
        (Ok(()), false) => Redirect::to(&format!("/t/{token}")).into_response(),
        (Err(AppError::Internal(detail)), _) => AppError::Internal(detail).into_response(),
        (Err(e), _) => {
            let (status, _) = e.status_and_code();
            (status, axum::Json(serde_json::json!({ "error": e.to_string() }))).into_response()
        }
    }
}

/// `POST /t/{token}/messages`.
async fn message(
    State(state): State<AppState>,
    Path(token): Path<String>,
    headers: HeaderMap,
    ip: ClientIp,
    axum::Form(form): axum::Form<MessageForm>,
) -> Response {
    let resolved = match admit(&state, &ip, &token, Kind::Post).await {
        Ok(resolved) => resolved,
        Err(refused) => return refused.into_response(),
    };
    let id = resolved.ticket.id;
    let result = blocking(move || leave_message(&state, &id, form.text.trim())).await;
    answer(&headers, &token, result)
}

/// `POST /t/{token}/rating`.
async fn rating(
    State(state): State<AppState>,
    Path(token): Path<String>,
    headers: HeaderMap,
    ip: ClientIp,
    axum::Form(form): axum::Form<RatingForm>,
) -> Response {
    let resolved = match admit(&state, &ip, &token, Kind::Post).await {
        Ok(resolved) => resolved,
        Err(refused) => return refused.into_response(),
    };
    let id = resolved.ticket.id;
    let result = match form.rating.trim().parse::<u8>() {
        Ok(rating) => blocking(move || rate(&state, &id, rating, form.comment.trim())).await,
        Err(_) => Err(AppError::BadRequest("rating must be a whole number from 1 to 5".into())),
    };
    answer(&headers, &token, result)
}

const TRACK_JS: &str = include_str!("../../static/track.js");
const TRACK_CSS: &str = include_str!("../../static/track.css");

async fn asset(Path(file): Path<String>) -> Response {
    let (body, content_type) = match file.as_str() {
        "track.js" => (TRACK_JS, "text/javascript; charset=utf-8"),
        "track.css" => (TRACK_CSS, "text/css; charset=utf-8"),
        _ => return not_found(),
    };
    ([(header::CONTENT_TYPE, content_type), (header::CACHE_CONTROL, "public, max-age=3600")], body).into_response()
}

// ---------------------------------------------------------------------------------------------
// The customer's writes

/// Writes one change by the customer into the ticket, retrying when another writer raced it:
/// `check` decides on the document as it stands, `edit` writes. Blocking.
fn write_as_customer(
    state: &AppState,
    ticket_id: &str,
    message: &str,
    check: impl Fn(&Automerge) -> Result<(), AppError>,
    edit: impl Fn(&mut automerge::transaction::Transaction<'_>, Millis) -> Result<(), doc::ModelError>,
) -> Result<(), AppError> {
    for _ in 0..documents::WRITE_ATTEMPTS {
        let loaded =
            documents::load_for_write(state, ticket_id)?.ok_or_else(|| AppError::NotFound("not found".into()))?;
        check(&loaded.doc)?;
        let mut document = loaded.doc.fork().with_actor(crate::actors::customer_actor());
        let at = state.now();
        let hash = doc::edit(&mut document, at, message, |tx| edit(tx, at))
            .map_err(|e| AppError::Internal(format!("customer write: {e}")))?;
        let change = document
            .get_change_by_hash(&hash)
            .ok_or_else(|| AppError::Internal("the customer's write produced no change".into()))?;
        if documents::commit(state, ticket_id, Some(&loaded), document, &[change], CUSTOMER_DEVICE, at)?.is_some() {
            return Ok(());
        }
    }
    Err(AppError::Conflict("the ticket is busy, try again".into()))
}

/// Leaves the customer's message on the ticket. Blocking.
pub(crate) fn leave_message(state: &AppState, ticket_id: &str, text: &str) -> Result<(), AppError> {
    values::customer_message(text).map_err(|bad| AppError::BadRequest(bad.0))?;
    write_as_customer(
        state,
        ticket_id,
        "customer message",
        |document| {
            let status = doc::derive(document).state.status;
            workflow::check_customer_message(status, doc::customer_message_count(document))
                .map_err(|refusal| AppError::Conflict(refusal.to_string()))
        },
        |tx, at| doc::append_customer_message(tx, &ids::new_id(), text, at),
    )
}

/// Records the customer's rating; a bad one opens a follow-up and fires `customer_rating_low`.
/// Blocking.
pub(crate) fn rate(state: &AppState, ticket_id: &str, rating: u8, comment: &str) -> Result<(), AppError> {
    values::rating(u64::from(rating))
        .and_then(|()| values::optional_text(comment, "comment", values::MAX_COMMENT_CHARS))
        .map_err(|bad| AppError::BadRequest(bad.0))?;
    write_as_customer(
        state,
        ticket_id,
        "customer rating",
        |document| {
            let status = doc::derive(document).state.status;
            workflow::check_customer_rating(status, doc::has_customer_feedback(document))
                .map_err(|refusal| AppError::Conflict(refusal.to_string()))
        },
        |tx, at| doc::put_customer_feedback(tx, rating, comment, at),
    )?;
    if workflow::needs_follow_up(rating) {
        let at = state.now();
        let opened = state.storage().open_follow_up(&FollowUp {
            ticket_id: ticket_id.to_owned(),
            rating,
            comment: comment.to_owned(),
            opened_at: at,
            followed_up_by: None,
            followed_up_at: None,
            outcome: None,
        })?;
        if opened {
            crate::webhooks::enqueue_low_rating(state, ticket_id, rating, comment, at);
        }
    }
    Ok(())
}
