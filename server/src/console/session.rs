//! Console sign-in: a dispatcher's or admin's device token is exchanged for a session cookie
//! (HttpOnly, SameSite=Strict, 12 hours; Secure when the server is configured as reached over
//! HTTPS). The session lives in storage by its SHA-256 only,
//! so every server instance on one database knows it (docs/adr/0007). Every form carries a
//! CSRF token derived from the session; a post without it is refused.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Redirect, Response};
use fieldsync_core::time::{Millis, now_ms};
use fieldsync_core::workflow::Role;
use sha2::{Digest, Sha256};

use crate::auth::{self, Caller};
use crate::storage::SessionRecord;
use crate::{AppError, AppState, blocking};

/// The session cookie.
pub(crate) const SESSION_COOKIE: &str = "fieldsync_session";
/// The sign-in form's own CSRF cookie (there is no session yet to derive one from).
pub(crate) const LOGIN_COOKIE: &str = "fieldsync_login";
/// How long a session lasts.
pub(crate) const SESSION_TTL: Millis = 12 * 60 * 60 * 1000;

/// A signed-in dispatcher or admin.
#[derive(Clone, Debug)]
pub(crate) struct Session {
    /// Who, as the REST API's caller (the device whose token signed in).
    pub caller: Caller,
    /// The token every form of this session must send back.
    pub csrf: String,
    /// The cookie's value (to end the session).
    token: String,
    /// The language and zone of the pages this request gets.
    pub words: super::i18n::Words,
    /// The page asked for (path and query), for the language switch to come back to.
    pub here: String,
}

impl Session {
    /// The signed-in user's id.
    pub fn user(&self) -> &str {
        &self.caller.0.user_id
    }

    /// Refuses a form post whose CSRF field is not this session's token, or that comes from
    /// another origin.
    pub fn check(&self, headers: &HeaderMap, sent: &str) -> Result<(), AppError> {
        same_origin(headers)?;
        if constant_time_eq(sent.as_bytes(), self.csrf.as_bytes()) {
            Ok(())
        } else {
            Err(AppError::Forbidden("the form's CSRF token is missing or wrong: reload the page and try again".into()))
        }
    }

    /// Ends the session in storage.
    pub async fn end(self, state: &AppState) -> Result<(), AppError> {
        let hash = auth::token_hash(&self.token);
        let state = state.clone();
        blocking(move || Ok(state.storage().delete_session(&hash).map(|_| ())?)).await
    }
}

/// The CSRF token of a session: a hash of its secret cookie value, so every instance derives
/// the same one and a page of another site cannot know it.
pub(crate) fn csrf_for(session_token: &str) -> String {
    hex::encode(Sha256::digest(format!("fieldsync-console-csrf/{session_token}").as_bytes()))
}

/// Compares two byte strings in time independent of where they differ.
pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// A request whose `Origin` names another host than it was sent to is refused (browsers send
/// `Origin` on every form post; its absence is left to the CSRF token).
pub(crate) fn same_origin(headers: &HeaderMap) -> Result<(), AppError> {
    let Some(origin) = headers.get(header::ORIGIN) else { return Ok(()) };
    let origin = origin.to_str().unwrap_or_default();
    let origin_host = origin.split_once("://").map_or("", |(_, host)| host);
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or_default();
    if !host.is_empty() && origin_host == host {
        Ok(())
    } else {
        Err(AppError::Forbidden(format!("a form from {origin} may not post here")))
    }
}

/// The value of cookie `name`, if the request has it.
pub(crate) fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.to_owned())
}

/// A `Set-Cookie` value: HttpOnly (no script reads it), SameSite=Strict (no other site's
/// page sends it), scoped to the console; `Secure` when `secure` (the server is reached over
/// HTTPS: `ServerConfig::secure_cookies`, which the operator sets because a plain-HTTP server
/// cannot see the TLS in front of it).
pub(crate) fn set_cookie(name: &str, value: &str, max_age_secs: i64, path: &str, secure: bool) -> HeaderValue {
    let secure = if secure { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{name}={value}; Path={path}; Max-Age={max_age_secs}; HttpOnly; SameSite=Strict{secure}"
    ))
    .unwrap_or_else(|_| HeaderValue::from_static("invalid=; Max-Age=0"))
}

/// Exchanges a device token for a new session: `(cookie value, expiry)`. Engineers, unknown
/// and revoked tokens are refused.
pub(crate) fn sign_in(state: &AppState, device_token: &str) -> Result<(String, Millis), AppError> {
    let device_token = device_token.trim();
    if device_token.is_empty() || device_token.len() > 256 {
        return Err(AppError::Unauthorized);
    }
    let principal = state.storage().authenticate(&auth::token_hash(device_token))?.ok_or(AppError::Unauthorized)?;
    if principal.role == Role::Engineer {
        return Err(AppError::Forbidden("engineers cannot sign in to the console: use the app".into()));
    }
    if !principal.role.dispatches() {
        return Err(AppError::Forbidden("complaint handlers act through the API, not the console".into()));
    }
    let token = auth::new_token();
    let now = now_ms();
    let expires_at = now + SESSION_TTL;
    state.storage().create_session(&SessionRecord {
        token_sha256: auth::token_hash(&token),
        device_id: principal.device_id,
        created_at: now,
        expires_at,
    })?;
    Ok((token, expires_at))
}

/// Why a request has no session: pages send people to the sign-in form.
#[derive(Debug)]
pub(crate) struct SignInFirst;

impl IntoResponse for SignInFirst {
    fn into_response(self) -> Response {
        Redirect::to("/console/login").into_response()
    }
}

impl FromRequestParts<AppState> for Session {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let token = cookie(&parts.headers, SESSION_COOKIE)
            .filter(|t| !t.is_empty() && t.len() <= 128)
            .ok_or_else(|| SignInFirst.into_response())?;
        let hash = auth::token_hash(&token);
        let storage_state = state.clone();
        let principal = blocking(move || Ok(storage_state.storage().session(&hash, now_ms())?))
            .await
            .map_err(|e| super::ConsoleError(e).into_response())?
            .ok_or_else(|| SignInFirst.into_response())?;
        if !principal.role.dispatches() {
            return Err(SignInFirst.into_response());
        }
        let words = super::i18n::Words {
            lang: super::i18n::choose(&parts.headers),
            zone: state.config().tracking.utc_offset_minutes,
        };
        let here = parts.uri.path_and_query().map_or_else(|| "/console/board".to_owned(), |p| p.as_str().to_owned());
        Ok(Session { caller: Caller(principal), csrf: csrf_for(&token), token, words, here })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_are_found_among_others() {
        let mut headers = HeaderMap::new();
        headers.append(header::COOKIE, HeaderValue::from_static("a=1; fieldsync_session=abc; b=2"));
        assert_eq!(cookie(&headers, SESSION_COOKIE).as_deref(), Some("abc"));
        assert_eq!(cookie(&headers, "fieldsync"), None);
    }

    #[test]
    fn csrf_tokens_differ_per_session_and_compare_exactly() {
        assert_ne!(csrf_for("a"), csrf_for("b"));
        assert_eq!(csrf_for("a"), csrf_for("a"));
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
    }

    #[test]
    fn another_origin_is_refused() {
        let mut headers = HeaderMap::new();
        assert!(same_origin(&headers).is_ok(), "no Origin: left to the token");
        headers.insert(header::HOST, HeaderValue::from_static("127.0.0.1:7878"));
        headers.insert(header::ORIGIN, HeaderValue::from_static("http://127.0.0.1:7878"));
        assert!(same_origin(&headers).is_ok());
        headers.insert(header::ORIGIN, HeaderValue::from_static("http://evil.example"));
        assert!(same_origin(&headers).is_err());
    }

    #[test]
    fn session_cookies_are_http_only_and_strict_and_secure_when_told() {
        let value = set_cookie(SESSION_COOKIE, "t", 60, "/console", false);
        let text = value.to_str().expect("ascii");
        assert!(text.contains("HttpOnly") && text.contains("SameSite=Strict") && text.contains("Max-Age=60"), "{text}");
        assert!(!text.contains("Secure"), "{text}");
        let value = set_cookie(SESSION_COOKIE, "t", 60, "/console", true);
        let text = value.to_str().expect("ascii");
        assert!(text.contains("HttpOnly") && text.contains("SameSite=Strict") && text.ends_with("; Secure"), "{text}");
    }
}
