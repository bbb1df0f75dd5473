//! The service report against a real server (docs/adr/0013): the device (offline, from its
//! store) and the server (`GET /v1/tickets/{id}/report.pdf`, from storage and the blob store)
//! make the same bytes for the same heads; who may fetch it.

use fieldsync_core::Role;
use fieldsync_core::client::ReportRequest;
use fieldsync_core::media::StrokePoint;
use fieldsync_core::model::{Customer, Location, NewPhoto, NewTicket, PhotoInput, Site};
use fieldsync_core::report::ReportOptions;
use fieldsync_e2e::{Device, Dispatcher, TestServer, camera_jpeg, sorted_heads};

/// GET `path` with `token` (none: no Authorization): status and body.
async fn get(server: &TestServer, token: Option<&str>, path: &str) -> (u16, Vec<u8>) {
    let mut request = reqwest::Client::new().get(format!("{}{path}", server.url()));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.expect("request");
    let status = response.status().as_u16();
    let content_type = response.headers().get("content-type").and_then(|v| v.to_str().ok()).map(str::to_owned);
    let body = response.bytes().await.expect("body").to_vec();
    if status == 200 {
        assert_eq!(content_type.as_deref(), Some("application/pdf"));
    }
    (status, body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn device_and_server_make_the_same_report_for_the_same_heads_and_only_for_readers() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("server");
    std::fs::create_dir_all(&data).expect("data dir");
    let server = TestServer::start(&data).await;
    let (_, _, dana) = server.add_user("dana", Role::Dispatcher);
    let dispatcher = Dispatcher::new(&server, &dana);
    let eli_user = server.add_user("eli", Role::Engineer);
    let fay_user = server.add_user("fay", Role::Engineer);
    let eli = Device::new(dir.path(), &server, &eli_user, Role::Engineer);

    let id = dispatcher
        .create(&NewTicket {
            title: "空调不制冷 Air conditioning not cooling".into(),
            customer: Customer {
                name: "上海某某科技有限公司".into(),
                address: "上海市徐汇区漕溪北路 1 号".into(),
                ..Default::default()
            },
            site: Some(Site { lat: 31.19, lon: 121.43, radius_m: 150.0 }),
            assignee: Some("eli".into()),
            ..Default::default()
        })
        .await;
    eli.sync().await;
    let e = eli.client();
    e.accept(&id).expect("accept");
    e.start_travel(&id).expect("travel");
    e.check_in(&id, Location { lat: 31.1901, lon: 121.4301, accuracy_m: 5.0 }).expect("check in");
    e.start_work(&id).expect("work");
    e.add_note(&id, "压缩机电容损坏，已更换。").expect("note");
    e.add_note(&id, "Compressor capacitor replaced.").expect("note");
    e.add_part(&id, "CAP-45UF", 1).expect("part");
    e.log_time(&id, 50, "labour").expect("time");
    for seed in 1..=2 {
        let photo = NewPhoto {
            source: PhotoInput::Bytes(camera_jpeg(1200, 900, seed)),
            caption: format!("照片 {seed}"),
            taken_at: Some(1_780_000_000_000 + i64::from(seed)),
            location: None,
        };
        e.add_photo_blocking(&id, &photo).expect("photo");
    }
    let stroke: Vec<StrokePoint> = (0..30)
        .map(|i| StrokePoint { x: 0.1 + i as f32 * 0.025, y: 0.5 + ((i as f32) * 0.5).sin() * 0.2, t: i * 16 })
        .collect();
    e.capture_signature(&id, "李女士", &[stroke]).expect("sign");
    e.complete(&id, "已修复 Fixed").expect("complete");

    // Up: the document and every blob. Then down: whatever the server added (its corrections).
    for _ in 0..4 {
        eli.sync().await;
        if e.uploads().expect("uploads").iter().all(|u| u.state == "done")
            && eli.heads(&id) == sorted_heads(&dispatcher.document(&id).await)
        {
            break;
        }
    }
    let heads = eli.heads(&id);
    assert_eq!(heads, sorted_heads(&dispatcher.document(&id).await), "device and server hold the same document");

    let options = ReportOptions { utc_offset_minutes: 480 };
    let on_device = e.service_report_pdf(&id, &ReportRequest { options, ..Default::default() }).expect("device report");
    let (status, on_server) =
        get(&server, Some(&dana), &format!("/v1/tickets/{id}/report.pdf?utc_offset_minutes=480")).await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&on_server));
    assert!(on_server.starts_with(b"%PDF-"));
    assert!(
        on_device == on_server,
        "device ({} bytes) and server ({} bytes) made different reports",
        on_device.len(),
        on_server.len()
    );

    // The same heads asked for explicitly, on both sides, at a later time of the ticket too.
    let hex: Vec<String> = heads.iter().map(ToString::to_string).collect();
    let (status, at_heads) = get(
        &server,
        Some(&dana),
        &format!("/v1/tickets/{id}/report.pdf?utc_offset_minutes=480&heads={}", hex.join(",")),
    )
    .await;
    assert_eq!(status, 200);
    assert!(at_heads == on_server, "a report at the current heads is the report now");

    // Who may read it: the assignee, dispatchers; not another engineer, not without a token.
    let (status, eli_copy) =
        get(&server, Some(&eli_user.2), &format!("/v1/tickets/{id}/report.pdf?utc_offset_minutes=480")).await;
    assert_eq!(status, 200);
    assert!(eli_copy == on_server);
    let (status, body) = get(&server, Some(&fay_user.2), &format!("/v1/tickets/{id}/report.pdf")).await;
    assert_eq!(status, 403, "another engineer: {}", String::from_utf8_lossy(&body));
    assert!(!body.starts_with(b"%PDF"));
    let (status, _) = get(&server, None, &format!("/v1/tickets/{id}/report.pdf")).await;
    assert_eq!(status, 401);
    let (status, _) = get(&server, Some(&dana), "/v1/tickets/01a00000-0000-7000-8000-000000000000/report.pdf").await;
    assert_eq!(status, 404);
    let (status, _) = get(&server, Some(&dana), &format!("/v1/tickets/{id}/report.pdf?heads=nothex")).await;
    assert_eq!(status, 400);
    let (status, _) =
        get(&server, Some(&dana), &format!("/v1/tickets/{id}/report.pdf?heads={}", "ab".repeat(32))).await;
    assert_eq!(status, 400, "a head the document does not have");
}
