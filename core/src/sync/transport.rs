//! The one door the sync engine goes out through: an HTTP request in, a status, headers and a
//! body out, or a typed [`TransportError`] (docs/adr/0015).
//!
//! The engine builds every request (sync, `/v1/me`, blob uploads) as an [`HttpRequest`] and
//! reads every answer from an [`HttpResponse`]; it never names an HTTP library. The CLI, the
//! server's tests and the benchmarks use `ReqwestTransport` (feature `reqwest-transport`); a
//! phone app gives its own
//! platform client (OkHttp, `HttpsURLConnection`, `URLSession`) through the bindings, so the
//! platform's trust store and network security config decide which servers are trusted.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

/// An HTTP method the protocol uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    /// `GET`
    Get,
    /// `HEAD`
    Head,
    /// `POST`
    Post,
    /// `PATCH`
    Patch,
}

impl Method {
    /// The method's name on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Head => "HEAD",
            Method::Post => "POST",
            Method::Patch => "PATCH",
        }
    }
}

/// A request as the engine builds it: absolute URL, headers (the bearer token among them),
/// body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpRequest {
    /// The method.
    pub method: Method,
    /// The absolute URL, query included.
    pub url: String,
    /// Header names and values, in order.
    pub headers: Vec<(String, String)>,
    /// The body (empty for `GET` and `HEAD`).
    pub body: Vec<u8>,
    /// Give up on this request after this long (connecting, sending and reading together).
    pub timeout: Duration,
}

/// How long a request may take unless the engine says otherwise.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

impl HttpRequest {
    /// A request with no headers and no body, and the default 30 s timeout.
    pub fn new(method: Method, url: impl Into<String>) -> Self {
        HttpRequest { method, url: url.into(), headers: Vec::new(), body: Vec::new(), timeout: DEFAULT_TIMEOUT }
    }

    /// Sets the timeout.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Adds a header.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Sets the body.
    pub fn body(mut self, body: Vec<u8>) -> Self {
        self.body = body;
        self
    }
}

/// The server's answer, whatever its status.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HttpResponse {
    /// The HTTP status.
    pub status: u16,
    /// Header names and values (names compared case-insensitively by [`HttpResponse::header`]).
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

impl HttpResponse {
    /// The first value of header `name`, compared case-insensitively.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// 2xx.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

/// Why no answer came back.
#[derive(Clone, Debug, thiserror::Error, PartialEq, Eq)]
pub enum TransportError {
    /// The server could not be reached, or the connection broke (offline, DNS, refused, reset).
    #[error("network: {0}")]
    Network(String),
    /// The server's certificate was not trusted, or the TLS handshake failed: retrying will
    /// not help until the server or the device's trust settings change.
    #[error("TLS: {0}")]
    Tls(String),
    /// No answer within the request timeout.
    #[error("timed out: {0}")]
    Timeout(String),
    /// The request could not be made at all (a malformed URL, an unusable client).
    #[error("request: {0}")]
    Request(String),
}

/// A boxed future of one request's outcome.
pub type TransportFuture<'a> = Pin<Box<dyn Future<Output = Result<HttpResponse, TransportError>> + Send + 'a>>;

/// Sends one HTTP request and returns the answer, whatever its status. Implementations must
/// not follow the protocol themselves (no retries of non-idempotent requests): the engine
/// decides what to retry. The engine bounds every call with its request timeout, so a
/// transport that never answers ends in [`TransportError::Timeout`], not a hang.
pub trait HttpTransport: Send + Sync + 'static {
    /// Sends `request`.
    fn send(&self, request: HttpRequest) -> TransportFuture<'_>;
}

/// A transport whose `send` blocks until the answer comes: a platform HTTP client called
/// from one of the library's threads (the bindings' foreign transport, docs/adr/0015).
/// [`on_blocking_pool`] makes it an [`HttpTransport`].
pub trait BlockingTransport: Send + Sync + 'static {
    /// Sends `request` and waits for the answer, at most `request.timeout`.
    fn send_blocking(&self, request: HttpRequest) -> Result<HttpResponse, TransportError>;
}

/// `transport` as an [`HttpTransport`]: each request runs on tokio's blocking pool, so a
/// platform client that blocks never holds up the runtime. A panic in it reaches the engine,
/// which reports it as [`SyncError::Internal`](super::SyncError::Internal).
pub fn on_blocking_pool(transport: Arc<dyn BlockingTransport>) -> Arc<dyn HttpTransport> {
    Arc::new(OnBlockingPool(transport))
}

struct OnBlockingPool(Arc<dyn BlockingTransport>);

impl HttpTransport for OnBlockingPool {
    fn send(&self, request: HttpRequest) -> TransportFuture<'_> {
        let transport = self.0.clone();
        Box::pin(async move {
            match tokio::task::spawn_blocking(move || transport.send_blocking(request)).await {
                Ok(answer) => answer,
                Err(stopped) => match stopped.try_into_panic() {
                    Ok(panic) => std::panic::resume_unwind(panic),
                    Err(stopped) => Err(TransportError::Request(format!("the request's thread stopped: {stopped}"))),
                },
            }
        })
    }
}

/// The transport of an engine without a server (a temporary store for an app's unit tests,
/// docs/adr/0027): every request fails as if the network were down, before anything is sent.
pub(crate) struct NoServer;

/// What a sync without a server reports.
pub(crate) const NO_SERVER: &str = "no server: this client has a temporary store";

impl HttpTransport for NoServer {
    fn send(&self, _request: HttpRequest) -> TransportFuture<'_> {
        Box::pin(async { Err(TransportError::Network(NO_SERVER.into())) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_are_found_whatever_their_case() {
        let response = HttpResponse {
            status: 204,
            headers: vec![("upload-offset".into(), "42".into()), ("Upload-Complete".into(), "?1".into())],
            body: Vec::new(),
        };
        assert_eq!(response.header("Upload-Offset"), Some("42"));
        assert_eq!(response.header("UPLOAD-COMPLETE"), Some("?1"));
        assert_eq!(response.header("Upload-Length"), None);
        assert!(response.is_success());
    }
}
