//! The dispatcher console: server-rendered pages (askama templates in `server/templates`), a
//! little plain JavaScript and CSS served from `server/static`, and live updates over SSE from
//! the same event source as `GET /v1/events`. No JavaScript build step.
//!
//! Dispatchers and admins sign in with a device token and get a session cookie ([`session`],
//! docs/adr/0007). Every change goes through the same `fieldsync_core::actions` the REST API
//! uses (`documents::create_ticket`, `documents::perform`): the console holds no workflow rules.
//! The pure parts (SLA policy and clocks, routing, conflicts, reports, CSV, SVG) are in their
//! own modules with their own tests. The webhooks pages call the webhooks module's functions
//! on [`AppState`], as `/v1/webhooks` does.

mod board;
mod complaint_pages;
mod conflicts;
mod customer_pages;
mod customer_words;
mod detail;
mod follow_ups;
mod i18n;
mod people;
mod report_pages;
mod reports;
mod revisits;
mod routing;
mod session;
mod settings_pages;
mod statistics_pages;
mod statistics_words;
use crate::sla;
mod webhook_pages;

use askama::Template;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use fieldsync_core::model::Ticket;
use fieldsync_core::time::Millis;
use fieldsync_core::workflow::Role;
use serde::Deserialize;

use crate::storage::IndexRow;
use crate::{AppError, AppState, blocking, tickets};
use session::Session;

/// The console's routes, under `/console`.
pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/console", get(|| async { Redirect::to("/console/board") }))
        .route("/console/login", get(login_form).post(login))
        .route("/console/logout", post(logout))
        .route("/console/language", post(set_language))
        .route("/console/board", get(board::page))
        .route("/console/board/columns", get(board::columns))
        .route("/console/events", get(events))
        .route("/console/tickets/new", get(board::new_ticket))
        .route("/console/tickets", post(board::create))
        .route("/console/suggest", get(board::suggest))
        .route("/console/tickets/{id}", get(detail::page))
        .route("/console/tickets/{id}/actions", post(detail::act))
        .route("/console/customers", get(customer_pages::list).post(customer_pages::create))
        .route("/console/customers/{id}", get(customer_pages::page).post(customer_pages::update))
        .route("/console/engineers", get(people::page))
        .route("/console/devices/{id}/revoke", post(people::revoke))
        .route("/console/reports", get(report_pages::page))
        .route("/console/follow-ups", get(follow_ups::page))
        .route("/console/follow-ups/{ticket_id}", post(follow_ups::record))
        .route("/console/revisits", get(revisits::page))
        .route("/console/complaints", get(complaint_pages::page))
        .route("/console/revisits/{ticket_id}", post(revisits::record))
        .route("/console/reports/{table}", get(report_pages::csv))
        .route("/console/statistics", get(statistics_pages::page))
        .route("/console/statistics/{report}", get(statistics_pages::csv))
        .route("/console/settings", get(settings_pages::page))
        .route("/console/settings/{which}", post(settings_pages::save))
        .route("/console/webhooks", get(webhook_pages::page).post(webhook_pages::create))
        .route("/console/webhooks/{id}", get(webhook_pages::detail))
        .route("/console/webhooks/{id}/enabled", post(webhook_pages::set_enabled))
        .route("/console/webhooks/{id}/delete", post(webhook_pages::delete))
        .route("/console/webhooks/{id}/deliveries/{delivery_id}/redeliver", post(webhook_pages::redeliver))
        .route("/console/blobs/{sha256}", get(blob))
        .route("/console/tickets/{id}/report.pdf", get(report_pdf))
        .route("/console/static/{file}", get(asset))
        .route("/favicon.ico", get(favicon))
        .layer(axum::middleware::from_fn(speak))
}

tokio::task_local! {
    /// The language of the request being answered, for pages rendered without a session (the
    /// error page).
    static LANG: i18n::Lang;
}

/// Answers every console request in its language (see [`i18n::choose`]).
async fn speak(request: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let lang = i18n::choose(request.headers());
    LANG.scope(lang, next.run(request)).await
}

/// The language of the request being answered (English outside one).
fn request_lang() -> i18n::Lang {
    LANG.try_with(|lang| *lang).unwrap_or(i18n::Lang::En)
}

/// A console failure, answered as an HTML page with the status the REST API would give.
#[derive(Debug)]
pub(crate) struct ConsoleError(pub AppError);

impl<E: Into<AppError>> From<E> for ConsoleError {
    fn from(e: E) -> Self {
        ConsoleError(e.into())
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage {
    status: u16,
    message: String,
    w: i18n::Words,
}

impl IntoResponse for ConsoleError {
    fn into_response(self) -> Response {
        let (status, _) = self.0.status_and_code();
        let message = match &self.0 {
            AppError::Internal(detail) => {
                eprintln!("fieldsync-server: console: internal error: {detail}");
                "internal server error".to_owned()
            }
            other => other.to_string(),
        };
        let w = i18n::Words { lang: request_lang(), zone: 0 };
        let message = w.refusal(&message);
        match (ErrorPage { status: status.as_u16(), message: message.clone(), w }).render() {
            Ok(body) => (status, secure_headers(), body).into_response(),
            Err(_) => (status, message).into_response(),
        }
    }
}

/// What every page's response carries: HTML, no framing, no inline script, no caching.
fn secure_headers() -> [(header::HeaderName, HeaderValue); 5] {
    [
        (header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8")),
        (
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(
                "default-src 'self'; img-src 'self'; style-src 'self'; script-src 'self'; frame-ancestors 'none'; form-action 'self'",
            ),
        ),
        (header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")),
        (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        (header::REFERRER_POLICY, HeaderValue::from_static("same-origin")),
    ]
}

/// Renders a page.
pub(crate) fn html(page: &impl Template) -> Result<Response, ConsoleError> {
    let body = page.render().map_err(|e| AppError::Internal(format!("template: {e}")))?;
    Ok((secure_headers(), body).into_response())
}

/// What the layout needs on every signed-in page.
#[derive(Clone, Debug)]
pub(crate) struct Nav {
    /// The signed-in user.
    pub user: String,
    /// The session's CSRF token (the sign-out form).
    pub csrf: String,
    /// The current section ("board", "new", "engineers", "reports", "webhooks").
    pub active: &'static str,
    /// The user's language and the organisation's zone.
    pub w: i18n::Words,
    /// The page shown, for the language switch to come back to.
    pub here: String,
}

impl Nav {
    pub(crate) fn of(session: &Session, active: &'static str) -> Nav {
        Nav {
            user: session.user().to_owned(),
            csrf: session.csrf.clone(),
            active,
            w: session.words,
            here: session.here.clone(),
        }
    }

    /// `en` in the user's language.
    pub fn t<'a>(&self, en: &'a str) -> &'a str {
        self.w.t(en)
    }

    /// The class of a nav link.
    pub fn class(&self, section: &str) -> &'static str {
        if self.active == section { "active" } else { "" }
    }
}

/// The ticket view of an index row's document. Blocking.
pub(crate) fn ticket_of(state: &AppState, row: &IndexRow) -> Result<Option<Ticket>, AppError> {
    let Some(loaded) = crate::documents::load_at(state, &row.id, row.changed_seq)? else { return Ok(None) };
    Ok(Some(
        fieldsync_core::model::doc::read_ticket(&loaded.doc)
            .map_err(|e| AppError::Internal(format!("ticket {}: {e}", row.id)))?,
    ))
}

/// User ids by role. Blocking.
pub(crate) struct People {
    /// Engineers, by id.
    pub engineers: Vec<String>,
    /// Dispatchers and admins, by id.
    pub dispatchers: Vec<String>,
}

impl People {
    pub(crate) fn load(state: &AppState) -> Result<People, AppError> {
        let users = state.storage().list_users()?;
        let ids = |keep: &dyn Fn(Role) -> bool| users.iter().filter(|u| keep(u.role)).map(|u| u.id.clone()).collect();
        Ok(People {
            engineers: ids(&|r| r == Role::Engineer),
            dispatchers: ids(&|r| matches!(r, Role::Dispatcher | Role::Admin)),
        })
    }

    pub(crate) fn is_dispatcher(&self, user: &str) -> bool {
        self.dispatchers.iter().any(|d| d == user)
    }
}

// ---------------------------------------------------------------------------------------------
// Sign-in

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    csrf: String,
    error: String,
    w: i18n::Words,
}

async fn login_form(State(state): State<AppState>) -> Result<Response, ConsoleError> {
    let nonce = crate::auth::new_token();
    let w = i18n::Words { lang: request_lang(), zone: 0 };
    let mut response = html(&LoginPage { csrf: nonce.clone(), error: String::new(), w })?;
    let secure = state.config().secure_cookies;
    response
        .headers_mut()
        .append(header::SET_COOKIE, session::set_cookie(session::LOGIN_COOKIE, &nonce, 600, "/console/login", secure));
    Ok(response)
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct LoginForm {
    token: String,
    csrf: String,
}

async fn login(
    State(state): State<AppState>,
    headers: HeaderMap,
    form: axum::Form<LoginForm>,
) -> Result<Response, ConsoleError> {
    let axum::Form(form) = form;
    session::same_origin(&headers)?;
    let secure = state.config().secure_cookies;
    let expected = session::cookie(&headers, session::LOGIN_COOKIE).unwrap_or_default();
    if expected.is_empty() || !session::constant_time_eq(expected.as_bytes(), form.csrf.as_bytes()) {
        return Err(AppError::Forbidden("the sign-in form expired or came from elsewhere: reload it".into()).into());
    }
    let signed_in = blocking(move || session::sign_in(&state, &form.token)).await;
    let (token, _) = match signed_in {
        Ok(ok) => ok,
        Err(e @ (AppError::Unauthorized | AppError::Forbidden(_))) => {
            // A known token of someone who may not sign in here is forbidden, not unknown.
            let status =
                if matches!(e, AppError::Forbidden(_)) { StatusCode::FORBIDDEN } else { StatusCode::UNAUTHORIZED };
            let message = match e {
                AppError::Unauthorized => "unknown or revoked token".to_owned(),
                other => other.to_string(),
            };
            let w = i18n::Words { lang: request_lang(), zone: 0 };
            let error = w.refusal(&message);
            let mut response = html(&LoginPage { csrf: expected, error, w })?;
            *response.status_mut() = status;
            return Ok(response);
        }
        Err(e) => return Err(e.into()),
    };
    let mut response = Redirect::to("/console/board").into_response();
    let headers = response.headers_mut();
    headers.append(
        header::SET_COOKIE,
        session::set_cookie(session::SESSION_COOKIE, &token, session::SESSION_TTL / 1000, "/console", secure),
    );
    headers.append(header::SET_COOKIE, session::set_cookie(session::LOGIN_COOKIE, "", 0, "/console/login", secure));
    Ok(response)
}

/// A form with only the CSRF token.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct CsrfOnly {
    csrf: String,
}

async fn logout(
    State(state): State<AppState>,
    session: Session,
    headers: HeaderMap,
    axum::Form(form): axum::Form<CsrfOnly>,
) -> Result<Response, ConsoleError> {
    session.check(&headers, &form.csrf)?;
    let secure = state.config().secure_cookies;
    session.end(&state).await?;
    let mut response = Redirect::to("/console/login").into_response();
    response
        .headers_mut()
        .append(header::SET_COOKIE, session::set_cookie(session::SESSION_COOKIE, "", 0, "/console", secure));
    Ok(response)
}

/// The language switch: `lang` (`en`, `zh`) and where to go back to.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct LanguageForm {
    csrf: String,
    lang: String,
    back: String,
}

/// `POST /console/language`: remembers the user's choice in a cookie (a year) and goes back to
/// the page it was made on.
async fn set_language(
    State(state): State<AppState>,
    session: Session,
    headers: HeaderMap,
    axum::Form(form): axum::Form<LanguageForm>,
) -> Result<Response, ConsoleError> {
    session.check(&headers, &form.csrf)?;
    let lang = i18n::Lang::parse(&form.lang)
        .ok_or_else(|| AppError::BadRequest(format!("unknown language {:?}: en or zh", form.lang)))?;
    // Only a page of the console: never a redirect elsewhere.
    let back = if form.back.starts_with("/console/") && !form.back.starts_with("//") && !form.back.contains('\\') {
        form.back
    } else {
        "/console/board".to_owned()
    };
    let mut response = Redirect::to(&back).into_response();
    let secure = state.config().secure_cookies;
    response.headers_mut().append(
        header::SET_COOKIE,
        session::set_cookie(i18n::LANG_COOKIE, lang.code(), 365 * 24 * 60 * 60, "/console", secure),
    );
    Ok(response)
}

// ---------------------------------------------------------------------------------------------
// Live events, blobs, static files

async fn events(State(state): State<AppState>, _session: Session) -> Response {
    tickets::event_stream(&state).into_response()
}

async fn blob(State(state): State<AppState>, session: Session, Path(sha256): Path<String>) -> Response {
    match crate::uploads::send_blob(state, session.caller, &sha256).await {
        Ok(response) => response,
        Err(e) => ConsoleError(e).into_response(),
    }
}

/// The ticket's service report for the signed-in user (the REST endpoint's rules), its times
/// in the organisation's zone like the console's.
async fn report_pdf(State(state): State<AppState>, session: Session, Path(id): Path<String>) -> Response {
    let query = crate::report::ReportQuery::now_in_zone(session.words.zone);
    match crate::report::send(state, session.caller, id, query).await {
        Ok(response) => response,
        Err(e) => ConsoleError(e).into_response(),
    }
}

const CONSOLE_JS: &str = include_str!("../../static/console.js");
const CONSOLE_CSS: &str = include_str!("../../static/console.css");

const FAVICON_SVG: &str = include_str!("../../static/favicon.svg");

/// The icon browsers ask for on every page (console and tracking page): an SVG, which every
/// current browser shows as a tab icon.
async fn favicon() -> Response {
    ([(header::CONTENT_TYPE, "image/svg+xml"), (header::CACHE_CONTROL, "public, max-age=86400")], FAVICON_SVG)
        .into_response()
}

async fn asset(Path(file): Path<String>) -> Response {
    let (body, content_type) = match file.as_str() {
        "console.js" => (CONSOLE_JS, "text/javascript; charset=utf-8"),
        "console.css" => (CONSOLE_CSS, "text/css; charset=utf-8"),
        _ => return ConsoleError(AppError::NotFound(format!("no static file {file}"))).into_response(),
    };
    ([(header::CONTENT_TYPE, content_type), (header::CACHE_CONTROL, "no-cache")], body).into_response()
}

/// Now, for clocks (one reading per request), by the server's clock.
pub(crate) fn now(state: &AppState) -> Millis {
    state.now()
}
