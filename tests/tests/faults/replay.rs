//! A scripted replay: the deterministic reproduction of what the random test can only stumble
//! on.

use super::*;

/// The armed request's hooks: tell the test the first delivery was answered; wait for its go.
type Script = (tokio::sync::oneshot::Sender<()>, tokio::sync::oneshot::Receiver<()>);

/// A proxy that passes requests through, except the one armed: that one goes upstream, then the
/// test is told (`first_answered`) and runs its step, and on `go` the same request goes
/// upstream again; the device gets the first answer.
struct ReplayProxy {
    addr: SocketAddr,
    armed: Arc<tokio::sync::Mutex<Option<Script>>>,
    task: JoinHandle<()>,
}

impl Drop for ReplayProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl ReplayProxy {
    async fn start(upstream: SocketAddr) -> ReplayProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let addr = listener.local_addr().expect("proxy addr");
        let armed: Arc<tokio::sync::Mutex<Option<Script>>> = Arc::default();
        let task = tokio::spawn({
            let armed = armed.clone();
            async move {
                loop {
                    let Ok((mut client, _)) = listener.accept().await else { continue };
                    let script = armed.lock().await.take();
                    tokio::spawn(async move {
                        let Ok(Some(request)) = read_request(&mut client).await else { return };
                        let Ok(first) = forward(upstream, &request).await else { return };
                        if let Some((first_answered, go)) = script {
                            let _ = first_answered.send(());
                            let _ = go.await;
                            let _ = forward(upstream, &request).await;
                        }
                        let _ = client.write_all(&with_connection_close(&first)).await;
                        let _ = client.shutdown().await;
                    });
                }
            }
        });
        ReplayProxy { addr, armed, task }
    }

    /// Arms the script for the next request: returns (first answered, go).
    async fn arm(&self) -> (tokio::sync::oneshot::Receiver<()>, tokio::sync::oneshot::Sender<()>) {
        let (answered_tx, answered_rx) = tokio::sync::oneshot::channel();
        let (go_tx, go_rx) = tokio::sync::oneshot::channel();
        *self.armed.lock().await = Some((answered_tx, go_rx));
        (answered_rx, go_tx)
    }
}

/// Regression: a delivered-twice sync request whose response is cut (`more`) used to keep a
/// dispatcher change from the device until the ticket changed again. The duplicate (B) is processed after the answer the device gets (A); a dispatcher
/// note lands on the pushed ticket in between. B answers with the same cut cursor as A (the
/// cursor of a cut response is the last included sequence, not the current one) but records
/// the ticket's heads *with* the note as "sent, pending at that cursor". The device applied A
/// and comes back with that cursor, so the server takes B's heads as confirmed, decides the
/// device already has the note, and never sends it: the device's copy differs from the
/// server's for as long as nobody touches the ticket again, and nothing on the device is
/// pending. Now pending heads are confirmed only by a cursor that covers the document version
/// they came from.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_duplicated_cut_sync_request_still_delivers_the_dispatcher_note() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("server");
    std::fs::create_dir_all(&data).expect("data dir");
    // A tiny response budget: every response carries one unpushed ticket and says `more`.
    let config = fieldsync_server::ServerConfig { sync_budget_bytes: 1, ..Default::default() };
    let state = fieldsync_server::AppState::open(&data, config).expect("server state");
    let (_, _, dana) = state.add_user("dana", Role::Dispatcher).expect("dispatcher");
    let (eli, device_id, token) = state.add_user("eli", Role::Engineer).expect("engineer");
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let server_addr = listener.local_addr().expect("addr");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(fieldsync_server::serve(listener, state, async {
        let _ = stopped.await;
    }));
    let dispatcher = Dispatcher::at(&format!("http://{server_addr}"), &dana);
    let proxy = ReplayProxy::start(server_addr).await;

    let t1 = dispatcher.create(&job("one", &eli)).await;
    let t2 = dispatcher.create(&job("two", &eli)).await;
    let t3 = dispatcher.create(&job("three", &eli)).await;
    let identity = Identity { user_id: eli.clone(), device_id: device_id.clone(), role: Role::Engineer };
    let client = Client::open(dir.path().join("eli.sqlite"), identity).expect("open store");
    let engine =
        SyncEngine::new(client.clone(), SyncConfig::new(format!("http://{}", proxy.addr), token)).expect("engine");
    engine.sync_now().await.expect("first sync");
    assert_eq!(client.list(&ListFilter::default()).expect("list").len(), 3);

    // eli works on T2 offline; the dispatcher writes on T1 and T3, so the next answer is cut.
    client.accept(&t2).expect("accept");
    for id in [&t1, &t3] {
        dispatcher.act(id, &Command::AddNote { text: "call first".into() }).await.expect("note");
    }
    // The push of T2 is delivered twice; between the two deliveries the dispatcher adds a note
    // to T2.
    let (first_answered, go) = proxy.arm().await;
    let sync = tokio::spawn({
        let engine = engine.clone();
        async move { engine.sync_now().await }
    });
    first_answered.await.expect("the first delivery was answered");
    dispatcher.act(&t2, &Command::AddNote { text: "gate code 1234".into() }).await.expect("note on T2");
    go.send(()).expect("go");
    sync.await.expect("sync task").expect("sync through the replay");
    // Plenty of clean syncs afterwards: the note should arrive in the first.
    for _ in 0..3 {
        engine.sync_now().await.expect("clean sync");
    }

    let on_server = dispatcher.document(&t2).await;
    let on_device = client.get(&t2).expect("T2 on the device");
    let device_heads = sorted_heads(&Automerge::load(&client.export(&t2).expect("export")).expect("load"));
    println!(
        "T2 on the device: {} notes, pending {}; on the server: {} notes",
        on_device.notes.len(),
        client.pending_count().expect("pending"),
        read_ticket(&on_server).expect("server ticket").notes.len()
    );
    assert!(
        on_device.notes.iter().any(|n| n.text == "gate code 1234"),
        "the dispatcher's note on T2 never reached the device: {:?}",
        on_device.notes
    );
    assert_eq!(device_heads, sorted_heads(&on_server), "device and server differ on T2");
    let _ = stop.send(());
    server.await.expect("server task").expect("server ran");
}
