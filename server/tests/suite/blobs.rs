//! Resumable blob upload over HTTP (docs/adr/0004), against a real server.

use std::io::Write;

use crate::common::{Device, Server, api_error, reference};
use fieldsync_core::Role;
use fieldsync_server::ServerConfig;
use fieldsync_server::blobs::BlobId;

const CHUNK: usize = 100 * 1024;

/// A fake JPEG of `n` bytes (the server sniffs the first bytes).
fn jpeg(n: usize, seed: u32) -> Vec<u8> {
    let mut bytes: Vec<u8> =
        (0..n as u32).map(|i| (i.wrapping_mul(2_654_435_761).wrapping_add(seed) >> 13) as u8).collect();
    bytes[..4].copy_from_slice(&[0xff, 0xd8, 0xff, 0xe0]);
    bytes
}

fn sha(bytes: &[u8]) -> String {
    BlobId::of(bytes).to_string()
}

struct Answer {
    status: u16,
    offset: Option<u64>,
    complete: bool,
    body: serde_json::Value,
}

async fn answer(response: reqwest::Response) -> Answer {
    let status = response.status().as_u16();
    let header = |name: &str| response.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let offset = header("upload-offset").map(|v| v.parse().expect("numeric Upload-Offset"));
    let complete = header("upload-complete").as_deref() == Some("1");
    let body = response.bytes().await.expect("body");
    Answer { status, offset, complete, body: serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null) }
}

async fn patch(
    server: &Server,
    token: &str,
    sha: &str,
    ticket: &str,
    offset: u64,
    length: u64,
    chunk: &[u8],
) -> Answer {
    let response = server
        .http
        .patch(server.url(&format!("/v1/blobs/{sha}?ticket={ticket}")))
        .bearer_auth(token)
        .header("content-type", "application/offset+octet-stream")
        .header("upload-offset", offset.to_string())
        .header("upload-length", length.to_string())
        .body(chunk.to_vec())
        .send()
        .await
        .expect("patch");
    answer(response).await
}

async fn head(server: &Server, token: &str, sha: &str) -> Answer {
    answer(server.http.head(server.url(&format!("/v1/blobs/{sha}"))).bearer_auth(token).send().await.expect("head"))
        .await
}

async fn get(server: &Server, token: &str, sha: &str) -> reqwest::Response {
    server.http.get(server.url(&format!("/v1/blobs/{sha}"))).bearer_auth(token).send().await.expect("get")
}

/// Uploads `data` in `CHUNK`-sized pieces, from `from`; asserts every answer.
async fn upload_from(server: &Server, token: &str, ticket: &str, data: &[u8], from: usize) {
    let name = sha(data);
    let length = data.len() as u64;
    let mut offset = from;
    while offset < data.len() {
        let end = (offset + CHUNK).min(data.len());
        let a = patch(server, token, &name, ticket, offset as u64, length, &data[offset..end]).await;
        assert_eq!(a.status, 204, "chunk at {offset}: {}", a.body);
        assert_eq!(a.offset, Some(end as u64));
        assert_eq!(a.complete, end == data.len(), "complete only with the last chunk");
        offset = end;
    }
}

struct Scene {
    server: Server,
    dana: Device,
    eli: Device,
    fay: Device,
    eli_ticket: String,
    fay_ticket: String,
}

async fn scene(config: ServerConfig) -> Scene {
    let server = Server::start_with(config).await;
    let dana = server.user("dana", Role::Dispatcher);
    let eli = server.user("eli", Role::Engineer);
    let fay = server.user("fay", Role::Engineer);
    let eli_ticket = server.create_ticket(&dana.token, "Boiler leaks", Some("eli")).await;
    let fay_ticket = server.create_ticket(&dana.token, "Broken window", Some("fay")).await;
    Scene { server, dana, eli, fay, eli_ticket, fay_ticket }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_photo_uploads_in_three_chunks_and_reads_back() {
    let s = scene(ServerConfig::default()).await;
    let data = jpeg(3 * CHUNK - 1234, 1);
    let name = sha(&data);
    let unknown = head(&s.server, &s.eli.token, &name).await;
    assert_eq!((unknown.status, unknown.offset, unknown.complete), (200, Some(0), false));

    upload_from(&s.server, &s.eli.token, &s.eli_ticket, &data, 0).await;
    let done = head(&s.server, &s.eli.token, &name).await;
    assert_eq!((done.status, done.offset, done.complete), (200, Some(data.len() as u64), true));
    reference(&s.server, &s.dana.token, &s.eli_ticket, &name).await;

    for token in [&s.eli.token, &s.dana.token] {
        let response = get(&s.server, token, &name).await;
        assert_eq!(response.status(), 200);
        let headers = response.headers().clone();
        assert_eq!(headers["content-type"], "image/jpeg");
        assert_eq!(headers["cache-control"], "private, max-age=31536000, immutable");
        assert_eq!(response.bytes().await.expect("bytes").as_ref(), &data[..]);
    }
    s.server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupted_upload_resumes_from_the_servers_offset_even_after_a_restart() {
    let s = scene(ServerConfig::default()).await;
    let data = jpeg(3 * CHUNK, 2);
    let name = sha(&data);
    let length = data.len() as u64;
    for (offset, end) in [(0, CHUNK), (CHUNK, 2 * CHUNK)] {
        let a = patch(&s.server, &s.eli.token, &name, &s.eli_ticket, offset as u64, length, &data[offset..end]).await;
        assert_eq!((a.status, a.offset), (204, Some(end as u64)));
    }
    // The third chunk is cut off halfway: the link drops.
    let addr = s.server.base.trim_start_matches("http://").to_owned();
    let request = format!(
        "PATCH /v1/blobs/{name}?ticket={} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {}\r\n\
         Content-Type: application/offset+octet-stream\r\nUpload-Offset: {}\r\nUpload-Length: {length}\r\n\
         Content-Length: {CHUNK}\r\n\r\n",
        s.eli_ticket,
        s.eli.token,
        2 * CHUNK
    );
    let half = data[2 * CHUNK..2 * CHUNK + CHUNK / 2].to_vec();
    tokio::task::spawn_blocking(move || {
        let mut stream = std::net::TcpStream::connect(addr).expect("connect");
        stream.write_all(request.as_bytes()).expect("headers");
        stream.write_all(&half).expect("half a chunk");
        stream.flush().expect("flush");
        // Dropped: the connection closes mid-body.
    })
    .await
    .expect("raw client");
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    let after_cut = head(&s.server, &s.eli.token, &name).await;
    assert_eq!(after_cut.offset, Some(2 * CHUNK as u64), "half a chunk is not kept");
    assert!(!after_cut.complete);

    // The server restarts on the same data directory before the device comes back.
    let Scene { server, dana, eli, eli_ticket, .. } = s;
    let server = server.restart().await;
    let resumed = head(&server, &eli.token, &name).await;
    assert_eq!((resumed.status, resumed.offset, resumed.complete), (200, Some(2 * CHUNK as u64), false));
    upload_from(&server, &eli.token, &eli_ticket, &data, resumed.offset.unwrap_or(0) as usize).await;
    reference(&server, &dana.token, &eli_ticket, &name).await;
    let response = get(&server, &dana.token, &name).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.bytes().await.expect("bytes").as_ref(), &data[..]);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chunk_at_the_wrong_offset_gets_409_with_the_servers_offset() {
    let s = scene(ServerConfig::default()).await;
    let data = jpeg(2 * CHUNK, 3);
    let name = sha(&data);
    let length = data.len() as u64;
    let (eli, ticket) = (&s.eli.token, &s.eli_ticket);

    let early = patch(&s.server, eli, &name, ticket, 5, length, &data[5..10]).await;
    assert_eq!((early.status, early.offset), (409, Some(0)), "an unknown blob starts at 0");
    assert_eq!(api_error(&early.body).error, "offset_mismatch");

    patch(&s.server, eli, &name, ticket, 0, length, &data[..CHUNK]).await;
    for wrong in [0, CHUNK as u64 - 1, CHUNK as u64 + 1, 10 * length] {
        let a = patch(&s.server, eli, &name, ticket, wrong, length, &data[..10]).await;
        assert_eq!((a.status, a.offset), (409, Some(CHUNK as u64)), "offset {wrong}: {}", a.body);
        assert!(api_error(&a.body).message.contains(&CHUNK.to_string()), "{}", a.body);
    }
    let relength = patch(&s.server, eli, &name, ticket, CHUNK as u64, length + 1, &data[CHUNK..]).await;
    assert_eq!((relength.status, relength.offset), (409, Some(CHUNK as u64)));
    assert_eq!(api_error(&relength.body).error, "length_mismatch");

    let past_end = patch(&s.server, eli, &name, ticket, CHUNK as u64, length, &jpeg(CHUNK + 1, 9)).await;
    assert_eq!(past_end.status, 400, "a chunk past Upload-Length: {}", past_end.body);

    let unchanged = head(&s.server, eli, &name).await;
    assert_eq!(unchanged.offset, Some(CHUNK as u64), "no refused chunk was written");
    upload_from(&s.server, eli, ticket, &data, CHUNK).await;
    s.server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bytes_that_do_not_hash_to_the_name_get_422_and_nothing_is_kept() {
    let s = scene(ServerConfig::default()).await;
    let data = jpeg(CHUNK + 10, 4);
    let name = sha(b"not these bytes");
    let length = data.len() as u64;
    let first = patch(&s.server, &s.eli.token, &name, &s.eli_ticket, 0, length, &data[..CHUNK]).await;
    assert_eq!(first.status, 204);
    let last = patch(&s.server, &s.eli.token, &name, &s.eli_ticket, CHUNK as u64, length, &data[CHUNK..]).await;
    assert_eq!(last.status, 422);
    let error = api_error(&last.body);
    assert_eq!(error.error, "hash_mismatch");
    assert!(error.message.contains(&name) && error.message.contains(&sha(&data)), "{}", error.message);

    let gone = head(&s.server, &s.eli.token, &name).await;
    assert_eq!((gone.offset, gone.complete), (Some(0), false));
    assert_eq!(get(&s.server, &s.dana.token, &name).await.status(), 404);
    let blobs = s.server.dir.path().join("blobs");
    assert_eq!(std::fs::read_dir(blobs.join("partial")).expect("partial dir").count(), 0, "no partial left");
    assert!(!blobs.join(&name[..2]).join(&name).exists(), "no blob stored");
    s.server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_that_sent_a_blob_links_it_again_at_once_and_another_sends_it_too() {
    let s = scene(ServerConfig::default()).await;
    let data = jpeg(3 * CHUNK / 2, 5);
    let name = sha(&data);
    let length = data.len() as u64;
    upload_from(&s.server, &s.eli.token, &s.eli_ticket, &data, 0).await;
    // Eli's device attaches the same photo to another ticket: answered complete at once.
    let third = s.server.create_ticket(&s.dana.token, "Second visit", Some("eli")).await;
    let again = patch(&s.server, &s.eli.token, &name, &third, 0, length, b"").await;
    assert_eq!((again.status, again.offset, again.complete), (204, Some(length), true));

    // Fay's device has the same bytes for her ticket: the blob looks absent to it, and it
    // proves it has them by sending them (compared with the stored ones, not stored twice).
    assert_eq!(head(&s.server, &s.fay.token, &name).await.offset, Some(0));
    upload_from(&s.server, &s.fay.token, &s.fay_ticket, &data, 0).await;
    let mut linked = s.server.state.storage().blob_tickets(&name).expect("links");
    linked.sort();
    let mut expected = vec![s.eli_ticket.clone(), s.fay_ticket.clone(), third];
    expected.sort();
    assert_eq!(linked, expected);
    reference(&s.server, &s.dana.token, &s.fay_ticket, &name).await;
    let response = get(&s.server, &s.fay.token, &name).await;
    assert_eq!(response.status(), 200, "linked to fay's ticket now");
    assert_eq!(response.bytes().await.expect("bytes").as_ref(), &data[..]);
    s.server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_devices_uploading_the_same_new_blob_at_once_both_finish() {
    let s = scene(ServerConfig::default()).await;
    let data = jpeg(3 * CHUNK, 11);
    let name = sha(&data);
    let length = data.len() as u64;
    // Interleaved: each device sends its own chunks; the overlap is compared, the rest appended.
    let a = patch(&s.server, &s.eli.token, &name, &s.eli_ticket, 0, length, &data[..2 * CHUNK]).await;
    assert_eq!(a.offset, Some(2 * CHUNK as u64));
    let b = patch(&s.server, &s.fay.token, &name, &s.fay_ticket, 0, length, &data[..CHUNK]).await;
    assert_eq!((b.status, b.offset, b.complete), (204, Some(CHUNK as u64), false), "{}", b.body);
    upload_from(&s.server, &s.fay.token, &s.fay_ticket, &data, CHUNK).await;
    assert!(!head(&s.server, &s.eli.token, &name).await.complete, "eli has not sent it all yet");
    upload_from(&s.server, &s.eli.token, &s.eli_ticket, &data, 2 * CHUNK).await;
    assert_eq!(s.server.state.storage().blob_tickets(&name).expect("links").len(), 2);

    // Wrong bytes against an upload in progress start it over instead of blocking it.
    let other = jpeg(2 * CHUNK, 12);
    let other_name = sha(&other);
    let garbage = jpeg(CHUNK, 13);
    let g = patch(&s.server, &s.fay.token, &other_name, &s.fay_ticket, 0, 2 * CHUNK as u64, &garbage).await;
    assert_eq!(g.status, 204);
    let clash = patch(&s.server, &s.eli.token, &other_name, &s.eli_ticket, 0, 2 * CHUNK as u64, &other[..CHUNK]).await;
    assert_eq!((clash.status, clash.offset), (409, Some(0)), "{}", clash.body);
    upload_from(&s.server, &s.eli.token, &s.eli_ticket, &other, 0).await;
    s.server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn engineers_upload_and_read_only_for_their_tickets() {
    let s = scene(ServerConfig::default()).await;
    let data = jpeg(CHUNK, 6);
    let name = sha(&data);
    let length = data.len() as u64;

    let foreign = patch(&s.server, &s.fay.token, &name, &s.eli_ticket, 0, length, &data).await;
    assert_eq!(foreign.status, 403, "fay may not upload to eli's ticket");
    assert_eq!(head(&s.server, &s.fay.token, &name).await.offset, Some(0), "nothing stored");
    let missing = patch(&s.server, &s.fay.token, &name, "no-such-ticket", 0, length, &data).await;
    assert_eq!(missing.status, 404);
    let response = s
        .server
        .http
        .patch(s.server.url(&format!("/v1/blobs/{name}")))
        .bearer_auth(&s.eli.token)
        .header("content-type", "application/offset+octet-stream")
        .header("upload-offset", "0")
        .header("upload-length", length.to_string())
        .body(data.clone())
        .send()
        .await
        .expect("patch");
    assert_eq!(response.status(), 400, "the ticket is required");
    let no_token = s.server.http.head(s.server.url(&format!("/v1/blobs/{name}"))).send().await.expect("head");
    assert_eq!(no_token.status(), 401);

    upload_from(&s.server, &s.eli.token, &s.eli_ticket, &data, 0).await;
    reference(&s.server, &s.dana.token, &s.eli_ticket, &name).await;
    assert_eq!(get(&s.server, &s.fay.token, &name).await.status(), 403, "fay may not read eli's photo");
    assert_eq!(get(&s.server, &s.eli.token, &name).await.status(), 200);
    assert_eq!(get(&s.server, &s.dana.token, &name).await.status(), 200, "dispatchers read every blob");
    // A dispatcher may upload for any existing ticket.
    let other = jpeg(1_000, 7);
    upload_from(&s.server, &s.dana.token, &s.fay_ticket, &other, 0).await;
    assert_eq!(get(&s.server, &s.fay.token, &sha(&other)).await.status(), 403, "not referenced by the ticket");
    reference(&s.server, &s.dana.token, &s.fay_ticket, &sha(&other)).await;
    assert_eq!(get(&s.server, &s.fay.token, &sha(&other)).await.status(), 200);
    assert_eq!(get(&s.server, &s.dana.token, &sha(b"never uploaded")).await.status(), 404);
    s.server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blobs_and_chunks_above_the_limits_get_413() {
    let config = ServerConfig { max_blob_bytes: 1_000, max_chunk_bytes: 100, ..Default::default() };
    let s = scene(config).await;
    let data = jpeg(1_001, 8);
    let name = sha(&data);
    let big = patch(&s.server, &s.eli.token, &name, &s.eli_ticket, 0, 1_001, &data[..100]).await;
    assert_eq!(big.status, 413);
    assert_eq!(api_error(&big.body).error, "payload_too_large");
    assert!(api_error(&big.body).message.contains("1000"), "{}", big.body);

    let data = jpeg(1_000, 8);
    let name = sha(&data);
    let fat = patch(&s.server, &s.eli.token, &name, &s.eli_ticket, 0, 1_000, &data[..101]).await;
    assert_eq!(fat.status, 413, "a chunk above max_chunk_bytes");
    assert_eq!(head(&s.server, &s.eli.token, &name).await.offset, Some(0));
    for offset in (0..1_000).step_by(100) {
        let a =
            patch(&s.server, &s.eli.token, &name, &s.eli_ticket, offset, 1_000, &data[offset as usize..][..100]).await;
        assert_eq!(a.status, 204);
    }
    assert!(head(&s.server, &s.eli.token, &name).await.complete);
    s.server.stop().await;

    // Chunks may be larger than the sync endpoint's body limit, which stays as it is.
    let limits = fieldsync_server::limits::PushLimits { max_request_bytes: 64 * 1024, ..Default::default() };
    let config = ServerConfig { limits, max_chunk_bytes: 128 * 1024, ..Default::default() };
    let s = scene(config).await;
    let data = jpeg(100 * 1024, 9);
    let a = patch(&s.server, &s.eli.token, &sha(&data), &s.eli_ticket, 0, data.len() as u64, &data).await;
    assert_eq!((a.status, a.complete), (204, true), "{}", a.body);
    assert_eq!(s.server.sync_raw(&s.eli.token, vec![0u8; 100 * 1024]).await.status(), 413);
    s.server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_name_or_request_gets_400() {
    let s = scene(ServerConfig::default()).await;
    let good = sha(b"x");
    for bad in ["abc".to_owned(), good.to_uppercase(), format!("{good}0"), good.replace('a', "g")] {
        assert_eq!(head(&s.server, &s.eli.token, &bad).await.status, 400, "HEAD {bad}");
        assert_eq!(get(&s.server, &s.dana.token, &bad).await.status(), 400, "GET {bad}");
        let a = patch(&s.server, &s.eli.token, &bad, &s.eli_ticket, 0, 1, b"x").await;
        assert_eq!((a.status, api_error(&a.body).error.as_str()), (400, "bad_request"), "PATCH {bad}");
    }
    let url = s.server.url(&format!("/v1/blobs/{good}?ticket={}", s.eli_ticket));
    let send = |offset: &'static str, content_type: &'static str| {
        s.server
            .http
            .patch(url.clone())
            .bearer_auth(&s.eli.token)
            .header("content-type", content_type)
            .header("upload-offset", offset)
            .header("upload-length", "1")
            .body("x")
            .send()
    };
    assert_eq!(send("-1", "application/offset+octet-stream").await.expect("send").status(), 400);
    assert_eq!(send("zero", "application/offset+octet-stream").await.expect("send").status(), 400);
    assert_eq!(send("0", "image/jpeg").await.expect("send").status(), 415);
    assert_eq!(send("0", "application/offset+octet-stream").await.expect("send").status(), 204);
    s.server.stop().await;
}

/// Issue 13, attack 5: engineer B knows the SHA-256 of engineer A's photo and claims it for
/// B's own ticket with an empty `PATCH`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attack_blob_linked_without_its_bytes() {
    let s = scene(ServerConfig::default()).await;
    let photo = jpeg(2 * CHUNK + 17, 21);
    let name = sha(&photo);
    let length = photo.len() as u64;
    upload_from(&s.server, &s.eli.token, &s.eli_ticket, &photo, 0).await;
    reference(&s.server, &s.dana.token, &s.eli_ticket, &name).await;

    // Fay's device: the blob looks absent to it (its existence is not even confirmed).
    let probe = head(&s.server, &s.fay.token, &name).await;
    assert_eq!((probe.status, probe.offset, probe.complete), (200, Some(0), false));
    // An empty PATCH, and one claiming to be at the end: neither completes nor links.
    let empty = patch(&s.server, &s.fay.token, &name, &s.fay_ticket, 0, length, b"").await;
    assert!(!empty.complete, "an empty PATCH is not an upload: {}", empty.body);
    let at_end = patch(&s.server, &s.fay.token, &name, &s.fay_ticket, length, length, b"").await;
    assert_eq!((at_end.status, at_end.offset), (409, Some(0)), "{}", at_end.body);
    // Bytes of the right length that are not the photo's.
    let forged = jpeg(CHUNK, 22);
    let wrong = patch(&s.server, &s.fay.token, &name, &s.fay_ticket, 0, length, &forged).await;
    assert_eq!(wrong.status, 422, "{}", wrong.body);
    assert_eq!(s.server.state.storage().blob_tickets(&name).expect("links"), vec![s.eli_ticket.clone()], "not linked");
    // Even with her ticket's document naming the photo, fay cannot download it.
    reference(&s.server, &s.dana.token, &s.fay_ticket, &name).await;
    assert_eq!(get(&s.server, &s.fay.token, &name).await.status(), 403);

    // Eli and the dispatcher lost nothing.
    for token in [&s.eli.token, &s.dana.token] {
        let response = get(&s.server, token, &name).await;
        assert_eq!(response.status(), 200);
        assert_eq!(response.bytes().await.expect("bytes").as_ref(), &photo[..]);
    }
    assert!(head(&s.server, &s.eli.token, &name).await.complete);
    s.server.stop().await;
}
