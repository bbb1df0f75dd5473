//! The app's own HTTP client, plugged into the core's transport seam (docs/adr/0015).
//!
//! The library sends every request (sync, sign-in, uploads) through an [`HttpTransport`] the
//! app gives it: OkHttp on Android and the JVM, `URLSession` on Apple platforms (the Kotlin and
//! Swift layers ship one each). So the platform's trust store and the app's network security
//! config decide which servers are trusted, and enterprise or MDM CAs work. The library has no
//! HTTP client of its own to initialise: no code path can fail for want of an init call.
//! `send` is called on one of the library's background threads, never the caller's: it may
//! block until the answer comes.

use std::sync::Arc;

use fieldsync_core::sync::{self as core_sync, BlockingTransport};

use crate::FieldsyncError;

/// One HTTP header.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct TransportHeader {
    /// The header's name.
    pub name: String,
    /// Its value.
    pub value: String,
}

/// A request the library wants sent.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct TransportRequest {
    /// `GET`, `HEAD`, `POST` or `PATCH`.
    pub method: String,
    /// The absolute URL, query included.
    pub url: String,
    /// Headers to send (the bearer token among them).
    pub headers: Vec<TransportHeader>,
    /// The body (empty for `GET` and `HEAD`).
    pub body: Vec<u8>,
    /// Give up after this many milliseconds (connecting, sending and reading together).
    pub timeout_ms: u64,
}

/// The server's answer, whatever its status: the library reads error statuses itself.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct TransportResponse {
    /// The HTTP status.
    pub status: u16,
    /// The response headers.
    pub headers: Vec<TransportHeader>,
    /// The body.
    pub body: Vec<u8>,
}

/// Why no answer came back.
#[derive(Debug, thiserror::Error, uniffi::Error)]
pub enum TransportError {
    /// The server could not be reached or the connection broke (offline, DNS, refused, reset).
    #[error("network: {reason}")]
    Network {
        /// What the platform said.
        reason: String,
    },
    /// The server's certificate is not trusted, or the TLS handshake failed
    /// (`SSLHandshakeException`, `NSURLErrorServerCertificateUntrusted`, ...).
    #[error("TLS: {reason}")]
    Tls {
        /// What the platform said.
        reason: String,
    },
    /// No answer within the request's timeout.
    #[error("timed out: {reason}")]
    Timeout {
        /// What the platform said.
        reason: String,
    },
    /// The request could not be made at all.
    #[error("request: {reason}")]
    Request {
        /// What the platform said.
        reason: String,
    },
}

/// An exception the transport threw that is not a [`TransportError`]: reported as a failed
/// request (the sync fails with it on the status), never a crash.
impl From<uniffi::UnexpectedUniFFICallbackError> for TransportError {
    fn from(e: uniffi::UnexpectedUniFFICallbackError) -> Self {
        // The reason is the exception with its stack trace: its first line says enough.
        let first_line = e.reason.lines().next().unwrap_or_default();
        TransportError::Request { reason: format!("the app's HTTP transport failed: {first_line}") }
    }
}

/// Sends HTTP requests for the library, with the platform's own HTTP client.
#[uniffi::export(with_foreign)]
pub trait HttpTransport: Send + Sync {
    /// Sends `request` and returns the server's answer whatever its status; throws
    /// [`TransportError`] only when no answer came. Called on a background thread; may block.
    fn send(&self, request: TransportRequest) -> Result<TransportResponse, TransportError>;
}

/// The app's transport as the core's. There is no built-in client (the library is built
/// without reqwest, docs/adr/0020): without a transport, a typed error, never a panic at the
/// first handshake (Android's verifier would need an initialisation from the app's JNI context,
/// docs/adr/0015). The Kotlin and Swift layers always pass one.
pub(crate) fn required(
    transport: Option<Arc<dyn HttpTransport>>,
) -> Result<Arc<dyn core_sync::HttpTransport>, FieldsyncError> {
    match transport {
        Some(transport) => Ok(core_sync::on_blocking_pool(Arc::new(Platform(transport)))),
        None => Err(FieldsyncError::InvalidInput {
            reason:
                "no HTTP transport given: pass the platform's (Kotlin: OkHttpTransport; Swift: URLSessionTransport)"
                    .into(),
        }),
    }
}

struct Platform(Arc<dyn HttpTransport>);

impl BlockingTransport for Platform {
    fn send_blocking(
        &self,
        request: core_sync::HttpRequest,
    ) -> Result<core_sync::HttpResponse, core_sync::TransportError> {
        let answer = self.0.send(request.into())?;
        Ok(answer.into())
    }
}

impl From<core_sync::HttpRequest> for TransportRequest {
    fn from(r: core_sync::HttpRequest) -> Self {
        TransportRequest {
            method: r.method.as_str().to_owned(),
            url: r.url,
            headers: r.headers.into_iter().map(|(name, value)| TransportHeader { name, value }).collect(),
            body: r.body,
            timeout_ms: u64::try_from(r.timeout.as_millis()).unwrap_or(u64::MAX),
        }
    }
}

impl From<TransportResponse> for core_sync::HttpResponse {
    fn from(r: TransportResponse) -> Self {
        core_sync::HttpResponse {
            status: r.status,
            headers: r.headers.into_iter().map(|h| (h.name, h.value)).collect(),
            body: r.body,
        }
    }
}

impl From<TransportError> for core_sync::TransportError {
    fn from(e: TransportError) -> Self {
        match e {
            TransportError::Network { reason } => core_sync::TransportError::Network(reason),
            TransportError::Tls { reason } => core_sync::TransportError::Tls(reason),
            TransportError::Timeout { reason } => core_sync::TransportError::Timeout(reason),
            TransportError::Request { reason } => core_sync::TransportError::Request(reason),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn a_request_crosses_with_its_method_headers_body_and_timeout() {
        let core = core_sync::HttpRequest::new(core_sync::Method::Patch, "https://x.invalid/v1/blobs/ab?ticket=t")
            .header("Upload-Offset", "0")
            .body(vec![1, 2, 3])
            .timeout(Duration::from_secs(7));
        let crossed = TransportRequest::from(core);
        assert_eq!(crossed.method, "PATCH");
        assert_eq!(crossed.headers, vec![TransportHeader { name: "Upload-Offset".into(), value: "0".into() }]);
        assert_eq!((crossed.body.as_slice(), crossed.timeout_ms), (&[1u8, 2, 3][..], 7_000));
    }

    #[test]
    fn an_untrusted_certificate_stays_a_tls_error() {
        let e = core_sync::TransportError::from(TransportError::Tls { reason: "PKIX path building failed".into() });
        assert_eq!(e, core_sync::TransportError::Tls("PKIX path building failed".into()));
    }
}
