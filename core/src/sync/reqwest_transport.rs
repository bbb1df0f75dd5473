//! The built-in HTTP client: reqwest with rustls (feature `reqwest-transport`, on by default).
//! The bindings build without it: a phone app's requests go through its own platform client
//! (docs/adr/0015), and leaving reqwest, hyper, rustls and ring out of the phone library saves
//! about a megabyte of it (docs/adr/0020).

use std::time::Duration;

use super::transport::{HttpRequest, HttpResponse, HttpTransport, Method, TransportError, TransportFuture};

/// The default transport: reqwest with rustls (ring), trusting the platform's roots (the
/// platform verifier) or only the given ones. For the CLI, tests and servers; not for Android,
/// where the platform verifier needs an initialisation only the app can do (docs/adr/0015).
#[derive(Clone, Debug)]
pub struct ReqwestTransport {
    http: reqwest::Client,
}

impl ReqwestTransport {
    /// A transport trusting the platform's root certificates.
    pub fn new(timeout: Duration) -> Result<Self, TransportError> {
        Self::build(timeout, None)
    }

    /// A transport trusting only the CA certificates in `pem` (one or more PEM blocks): a
    /// private CA in tests, or a pinned deployment.
    pub fn with_roots_pem(timeout: Duration, pem: &[u8]) -> Result<Self, TransportError> {
        let certs =
            reqwest::Certificate::from_pem_bundle(pem).map_err(|e| TransportError::Request(format!("CA: {e}")))?;
        if certs.is_empty() {
            return Err(TransportError::Request("CA: no certificate in the PEM".into()));
        }
        Self::build(timeout, Some(certs))
    }

    fn build(timeout: Duration, roots: Option<Vec<reqwest::Certificate>>) -> Result<Self, TransportError> {
        // Installing twice is harmless: the first one stays.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut builder = reqwest::Client::builder().timeout(timeout).connect_timeout(Duration::from_secs(10));
        if let Some(roots) = roots {
            builder = builder.tls_certs_only(roots);
        }
        let http = builder.build().map_err(|e| TransportError::Request(e.to_string()))?;
        Ok(ReqwestTransport { http })
    }

    async fn send_now(&self, request: HttpRequest) -> Result<HttpResponse, TransportError> {
        let method = match request.method {
            Method::Get => reqwest::Method::GET,
            Method::Head => reqwest::Method::HEAD,
            Method::Post => reqwest::Method::POST,
            Method::Patch => reqwest::Method::PATCH,
        };
        let mut builder = self.http.request(method, &request.url).timeout(request.timeout);
        for (name, value) in &request.headers {
            builder = builder.header(name, value);
        }
        if !request.body.is_empty() {
            builder = builder.body(request.body);
        }
        let response = builder.send().await.map_err(classify)?;
        let status = response.status().as_u16();
        let headers = response
            .headers()
            .iter()
            .filter_map(|(name, value)| Some((name.as_str().to_owned(), value.to_str().ok()?.to_owned())))
            .collect();
        let body = response.bytes().await.map_err(classify)?.to_vec();
        Ok(HttpResponse { status, headers, body })
    }
}

impl HttpTransport for ReqwestTransport {
    fn send(&self, request: HttpRequest) -> TransportFuture<'_> {
        Box::pin(self.send_now(request))
    }
}

/// A reqwest failure as a transport error: a rustls error anywhere in its causes is TLS.
fn classify(error: reqwest::Error) -> TransportError {
    let message = chain(&error);
    if error.is_timeout() {
        return TransportError::Timeout(message);
    }
    if error.is_builder() {
        return TransportError::Request(message);
    }
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&error);
    while let Some(cause) = source {
        if cause.is::<rustls::Error>() {
            return TransportError::Tls(message);
        }
        // rustls reports through io::Errors (nested), whose `source` skips what they wrap.
        source = match cause.downcast_ref::<std::io::Error>().and_then(|io| io.get_ref()) {
            Some(inner) => Some(inner as &(dyn std::error::Error + 'static)),
            None => cause.source(),
        };
    }
    TransportError::Network(message)
}

/// An error with its causes, as one line (reqwest's own message hides the reason).
fn chain(error: &dyn std::error::Error) -> String {
    let mut message = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !message.contains(&text) {
            message.push_str(": ");
            message.push_str(&text);
        }
        source = cause.source();
    }
    message
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pem_without_a_certificate_is_refused() {
        let refused = ReqwestTransport::with_roots_pem(Duration::from_secs(1), b"not a certificate");
        assert!(matches!(refused, Err(TransportError::Request(_))), "{refused:?}");
    }
}
