//! HTTPS for `fieldsync serve --tls-cert --tls-key`: rustls (ring), TLS 1.2 and 1.3, HTTP/1.1.
//!
//! A [`TlsListener`] accepts TCP connections and completes each TLS handshake on a task of its
//! own, so a slow or failing client (one that does not trust the certificate, say) never holds
//! up the others; only finished handshakes reach the server. Certificates are read once, at
//! start (restart the server to rotate them).

use std::io;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

/// A handshake that has not finished in this long is dropped.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Why the certificate or key could not be used.
#[derive(Debug, thiserror::Error)]
#[error("TLS: {0}")]
pub struct TlsSetupError(String);

/// The server's TLS settings from a PEM certificate chain (the server's certificate first) and
/// a PEM private key (PKCS#8, PKCS#1 or SEC1).
pub fn server_config(cert_chain: &Path, private_key: &Path) -> Result<Arc<rustls::ServerConfig>, TlsSetupError> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let chain = CertificateDer::pem_file_iter(cert_chain)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| TlsSetupError(format!("certificate {}: {e}", cert_chain.display())))?;
    if chain.is_empty() {
        return Err(TlsSetupError(format!("certificate {}: no certificate in it", cert_chain.display())));
    }
    let key = PrivateKeyDer::from_pem_file(private_key)
        .map_err(|e| TlsSetupError(format!("key {}: {e}", private_key.display())))?;
    let mut config = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| TlsSetupError(format!("certificate and key: {e}")))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// TCP connections with their TLS handshake done, for `axum::serve` (through
/// [`crate::serve`]).
pub struct TlsListener {
    local: SocketAddr,
    handshaken: mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
    acceptor: tokio::task::JoinHandle<()>,
}

impl TlsListener {
    /// Serves TLS on `listener` with `config`. Must be called within a tokio runtime.
    pub fn new(listener: TcpListener, config: Arc<rustls::ServerConfig>) -> io::Result<TlsListener> {
        let local = listener.local_addr()?;
        let (done, handshaken) = mpsc::channel(64);
        let acceptor = tokio::spawn(accept_loop(listener, TlsAcceptor::from(config), done));
        Ok(TlsListener { local, handshaken, acceptor })
    }

    /// The address it listens on.
    pub fn address(&self) -> SocketAddr {
        self.local
    }
}

impl Drop for TlsListener {
    fn drop(&mut self) {
        self.acceptor.abort();
    }
}

async fn accept_loop(
    listener: TcpListener,
    acceptor: TlsAcceptor,
    done: mpsc::Sender<(TlsStream<TcpStream>, SocketAddr)>,
) {
    loop {
        let (tcp, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            // Out of file descriptors and the like: wait a little, as axum does for TCP.
            Err(_) => {
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let (acceptor, done) = (acceptor.clone(), done.clone());
        tokio::spawn(async move {
            // A client that does not trust us, or speaks no TLS, just goes away.
            if let Ok(Ok(tls)) = tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                let _ = done.send((tls, peer)).await;
            }
        });
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.handshaken.recv().await {
            Some(connection) => connection,
            // The accept loop only ends with the listener; nothing more will come.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        Ok(self.local)
    }
}
