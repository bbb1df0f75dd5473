//! HTTPS end to end: the server behind `fieldsync serve --tls-cert/--tls-key`'s TLS listener
//! with a certificate from a private CA made here, devices that trust that CA (a trust store
//! given to the transport), and a device that trusts another CA: it ends in a typed TLS error
//! on the sync status, promptly, with its work still pending.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use fieldsync_core::model::{Identity, NewTicket};
use fieldsync_core::sync::{ReqwestTransport, SyncConfig, SyncEngine, SyncError};
use fieldsync_core::{Client, Role, Status};
use fieldsync_server::tls::{TlsListener, server_config};
use fieldsync_server::{AppState, ServerConfig};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};

/// A CA: its certificate (PEM) and what signs with it.
struct Ca {
    pem: String,
    issuer: Issuer<'static, KeyPair>,
}

fn private_ca(name: &str) -> Ca {
    let key = KeyPair::generate().expect("CA key");
    let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, name);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let pem = params.self_signed(&key).expect("CA certificate").pem();
    Ca { pem, issuer: Issuer::new(params, key) }
}

/// A server certificate for 127.0.0.1 signed by `ca`, written as PEM files into `dir`.
fn server_certificate(ca: &Ca, dir: &Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let key = KeyPair::generate().expect("server key");
    let params = CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()]).expect("params");
    let cert = params.signed_by(&key, &ca.issuer).expect("server certificate");
    let (cert_path, key_path) = (dir.join("server.pem"), dir.join("server.key"));
    std::fs::write(&cert_path, cert.pem()).expect("write certificate");
    std::fs::write(&key_path, key.serialize_pem()).expect("write key");
    (cert_path, key_path)
}

/// The server on 127.0.0.1:0 over TLS, as `fieldsync serve --tls-cert --tls-key` runs it.
async fn https_server(state: AppState, cert: &Path, key: &Path) -> SocketAddr {
    let tls = server_config(cert, key).expect("TLS config");
    let tcp = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let listener = TlsListener::new(tcp, tls).expect("TLS listener");
    let addr = listener.address();
    tokio::spawn(fieldsync_server::serve(listener, state, std::future::pending()));
    addr
}

fn device(dir: &Path, url: &str, user: &(String, String, String), role: Role, trusted_ca: &str) -> SyncEngine {
    let (user_id, device_id, token) = user.clone();
    let client =
        Client::open(dir.join(format!("{user_id}.sqlite")), Identity { user_id, device_id, role }).expect("store");
    let mut config = SyncConfig::new(url, token);
    config.request_timeout = Duration::from_secs(5);
    let transport = ReqwestTransport::with_roots_pem(config.request_timeout, trusted_ca.as_bytes()).expect("roots");
    SyncEngine::with_transport(client, config, Arc::new(transport)).expect("engine")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn devices_that_trust_the_private_ca_sync_and_one_that_does_not_gets_a_tls_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ca = private_ca("fieldsync test CA");
    let (cert, key) = server_certificate(&ca, dir.path());
    let data = dir.path().join("server");
    std::fs::create_dir_all(&data).expect("data");
    let state = AppState::open(&data, ServerConfig::default()).expect("state");
    let dana = state.add_user("dana", Role::Dispatcher).expect("dana");
    let eli = state.add_user("eli", Role::Engineer).expect("eli");
    let url = format!("https://{}", https_server(state, &cert, &key).await);

    let dispatcher = device(dir.path(), &url, &dana, Role::Dispatcher, &ca.pem);
    let new = NewTicket { title: "boiler".into(), assignee: Some("eli".into()), ..Default::default() };
    let id = dispatcher.client().create_ticket(&new).expect("create");
    dispatcher.sync_now().await.expect("the dispatcher syncs over HTTPS");
    let engineer = device(dir.path(), &url, &eli, Role::Engineer, &ca.pem);
    let report = engineer.sync_now().await.expect("the engineer syncs over HTTPS");
    assert_eq!(report.received, vec![id.clone()]);
    engineer.client().accept(&id).expect("accept");
    engineer.sync_now().await.expect("push");
    dispatcher.sync_now().await.expect("pull");
    assert_eq!(dispatcher.client().get(&id).expect("get").status, Status::Accepted);

    // The same engineer's store, on a device that trusts another CA only.
    let stranger = private_ca("someone else's CA");
    drop(engineer);
    let wary = device(dir.path(), &url, &eli, Role::Engineer, &stranger.pem);
    wary.client().add_note(&id, "written while the certificate is not trusted").expect("note");
    let started = std::time::Instant::now();
    let refused = tokio::time::timeout(Duration::from_secs(20), wary.sync_now())
        .await
        .expect("a typed error, not a hang")
        .expect_err("an untrusted certificate");
    assert!(matches!(refused, SyncError::Tls(_)), "{refused:?}");
    assert!(!refused.is_transient(), "not retried as if offline");
    assert!(started.elapsed() < Duration::from_secs(5), "at once, not after a timeout: {:?}", started.elapsed());
    let status = wary.status();
    assert_eq!(status.last_failure, Some(refused.clone()), "typed on the status");
    assert_eq!(status.pending_tickets, 1, "the note waits, nothing lost");
}
