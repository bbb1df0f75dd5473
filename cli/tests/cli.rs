//! The `fieldsync` binary as a person uses it: a real server process, a dispatcher and an
//! engineer's device on the command line, offline and online.

mod common;

use std::process::{Command, Output};

use common::{BIN, Server, fails, ok};

#[test]
fn a_dispatcher_and_an_engineer_work_a_ticket_from_the_command_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("server");
    let data_s = data.to_str().expect("path");
    let dana = ok(&["user", "add", "dana", "--role", "dispatcher", "--data", data_s]).trim().to_owned();
    let eli = ok(&["user", "add", "eli", "--role", "engineer", "--data", data_s]).trim().to_owned();
    assert_eq!(dana.len(), 64, "a token is 32 random bytes in hex");
    assert!(fails(&["user", "add", "eli", "--role", "engineer", "--data", data_s]).contains("error:"));

    let server = Server::start(&data);
    let url = server.url.clone();
    let id = ok(&[
        "dispatch",
        "--server",
        &url,
        "--token",
        &dana,
        "create",
        "--title",
        "Boiler leaks",
        "--customer",
        "ACME",
        "--lat",
        "52.3702",
        "--lon",
        "4.8952",
        "--priority",
        "high",
        "--assignee",
        "eli",
    ])
    .trim()
    .to_owned();

    let store = dir.path().join("eli.sqlite");
    let store_s = store.to_str().expect("path");
    let device = |args: &[&str]| -> Vec<String> {
        let mut all = vec!["device".to_owned(), "--store".into(), store_s.into(), "--server".into(), url.clone()];
        all.extend(["--token".to_owned(), eli.clone()]);
        all.extend(args.iter().map(|a| a.to_string()));
        all
    };
    let run = |args: &[&str]| ok(&device(args).iter().map(String::as_str).collect::<Vec<_>>());
    assert!(run(&["sync"]).contains("received 1"));
    let listed: serde_json::Value = serde_json::from_str(&run(&["list", "--json"])).expect("json");
    assert_eq!(listed[0]["id"], id.as_str());
    assert_eq!(listed[0]["status"], "dispatched");

    // Offline: the server is gone; every command but sync still works.
    let addr = server.stop();
    run(&["accept", &id]);
    run(&["travel", &id]);
    let checked_in = run(&["check-in", &id, "--lat", "52.3703", "--lon", "4.8953"]);
    assert!(checked_in.contains("inside the site radius"), "{checked_in}");
    run(&["note", &id, "valve corroded"]);
    run(&["part", &id, "VALVE-22", "2"]);
    let err = fails(&device(&["accept", &id]).iter().map(String::as_str).collect::<Vec<_>>());
    assert!(err.contains("cannot accept: ticket is on site"), "{err}");
    let err = fails(&device(&["note", "no-such-ticket", "x"]).iter().map(String::as_str).collect::<Vec<_>>());
    assert!(err.contains("not found"), "{err}");
    // A photo and the customer's signature, offline too.
    let photo_file = dir.path().join("meter.jpg");
    std::fs::write(&photo_file, test_jpeg(1200, 900)).expect("photo file");
    let added = run(&["photo", &id, photo_file.to_str().expect("path"), "--caption", "meter"]);
    let photo_sha = added.split_whitespace().nth(2).expect("sha in output").to_owned();
    let strokes = dir.path().join("strokes.json");
    std::fs::write(&strokes, r#"[[{"x":0.1,"y":0.5,"t":0},{"x":0.5,"y":0.4,"t":40},{"x":0.9,"y":0.6,"t":80}]]"#)
        .expect("strokes");
    let signed = run(&["sign", &id, "--signer", "Ms Jansen", "--strokes", strokes.to_str().expect("path")]);
    assert!(signed.contains("signed by Ms Jansen"), "{signed}");
    let out = dir.path().join("photo-out.jpg");
    run(&["blob", &photo_sha, "--out", out.to_str().expect("path")]);
    assert!(std::fs::read(&out).expect("blob written").starts_with(&[0xFF, 0xD8]), "a JPEG");
    let status: serde_json::Value = serde_json::from_str(&run(&["status", "--json"])).expect("json");
    assert_eq!(status["pending"][0], id.as_str());
    assert_eq!(status["pending_uploads"], 3, "photo, thumbnail, signature");
    let err = fails(&device(&["sync"]).iter().map(String::as_str).collect::<Vec<_>>());
    assert!(err.contains("error:"), "sync fails offline with a message: {err}");
    // The service report, offline, to hand over on site.
    let offline_report = dir.path().join("offline-report.pdf");
    let wrote = run(&["report", &id, "--out", offline_report.to_str().expect("path")]);
    assert!(wrote.contains("wrote the service report"), "{wrote}");
    assert!(std::fs::read(&offline_report).expect("report written").starts_with(b"%PDF-"));

    // Back online on the same address: the work reaches the dispatcher.
    let server = Server::start_with(&data, &addr, &[]);
    let synced = run(&["sync"]);
    assert!(synced.contains("sent 1"), "{synced}");
    assert!(synced.contains("uploaded 3 blob(s)"), "{synced}");
    let status: serde_json::Value = serde_json::from_str(&run(&["status", "--json"])).expect("json");
    assert_eq!(status["pending"].as_array().map(Vec::len), Some(0));
    let shown: serde_json::Value =
        serde_json::from_str(&ok(&["dispatch", "--server", &url, "--token", &dana, "show", &id, "--json"]))
            .expect("json");
    assert_eq!(shown["status"], "on_site");
    assert_eq!(shown["notes"][0]["text"], "valve corroded");
    assert_eq!(shown["photos"][0]["sha256"], photo_sha.as_str());
    assert_eq!(shown["signature"]["signer"], "Ms Jansen");
    // The server's report of the same document is the device's, byte for byte.
    run(&["sync"]);
    let (device_pdf, server_pdf) = (dir.path().join("device.pdf"), dir.path().join("server.pdf"));
    run(&["report", &id, "--out", device_pdf.to_str().expect("path"), "--utc-offset-minutes", "480"]);
    let fetched = ok(&[
        "dispatch",
        "--server",
        &url,
        "--token",
        &dana,
        "report",
        &id,
        "--out",
        server_pdf.to_str().expect("path"),
        "--utc-offset-minutes",
        "480",
    ]);
    assert!(fetched.contains("wrote the service report"), "{fetched}");
    let (device_bytes, server_bytes) =
        (std::fs::read(&device_pdf).expect("pdf"), std::fs::read(&server_pdf).expect("pdf"));
    assert!(device_bytes == server_bytes, "device {} bytes, server {} bytes", device_bytes.len(), server_bytes.len());
    let exported = dir.path().join("ticket.automerge");
    run(&["export", &id, "--out", exported.to_str().expect("path")]);
    assert!(std::fs::metadata(&exported).expect("exported").len() > 100);
    server.stop();
}

/// A small JPEG with some texture, made in the test.
fn test_jpeg(width: u16, height: u16) -> Vec<u8> {
    let mut rgb = Vec::with_capacity(usize::from(width) * usize::from(height) * 3);
    for y in 0..height {
        for x in 0..width {
            rgb.extend_from_slice(&[(x % 251) as u8, (y % 241) as u8, ((x ^ y) % 239) as u8]);
        }
    }
    let mut out = Vec::new();
    jpeg_encoder::Encoder::new(&mut out, 90).encode(&rgb, width, height, jpeg_encoder::ColorType::Rgb).expect("jpeg");
    out
}

/// `fieldsync device` on an encrypted store: the key from a file or the environment, a clear
/// error without it or with another one, and `device encrypt` for a store that was plaintext.
#[test]
fn a_device_store_is_encrypted_with_a_key_file_and_refused_without_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let key_file = dir.path().join("store.key");
    std::fs::write(&key_file, format!("{}\n", "5a".repeat(32))).expect("key file");
    let key_s = key_file.to_str().expect("path");
    // The identity a first sync would have saved, so no server is needed.
    let with_identity = |name: &str| {
        let store = dir.path().join(name);
        std::fs::write(
            dir.path().join(format!("{name}.identity.json")),
            r#"{"user_id": "eli", "device_id": "eli-phone", "role": "engineer"}"#,
        )
        .expect("identity");
        store.to_str().expect("path").to_owned()
    };
    let device = |store: &str, key: Option<&str>, env_key: Option<&str>, args: &[&str]| {
        let mut command = Command::new(BIN);
        command
            .args(["device", "--store", store])
            .env_remove("FIELDSYNC_STORE_KEY")
            .env_remove("FIELDSYNC_STORE_KEY_FILE");
        if let Some(key) = key {
            command.args(["--key-file", key]);
        }
        if let Some(env_key) = env_key {
            command.env("FIELDSYNC_STORE_KEY", env_key);
        }
        command.args(args).output().expect("run fieldsync")
    };
    let stderr = |out: &Output| String::from_utf8_lossy(&out.stderr).into_owned();

    let encrypted = with_identity("encrypted.sqlite");
    let out = device(&encrypted, Some(key_s), None, &["list", "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let raw = std::fs::read(&encrypted).expect("store file");
    assert!(!raw.starts_with(b"SQLite format 3"), "created encrypted");
    let out = device(&encrypted, None, None, &["list"]);
    assert!(!out.status.success() && stderr(&out).contains("this store is encrypted"), "{}", stderr(&out));
    let out = device(&encrypted, None, Some(&"00".repeat(32)), &["list"]);
    assert!(!out.status.success() && stderr(&out).contains("wrong key"), "{}", stderr(&out));
    assert_eq!(std::fs::read(&encrypted).expect("store file"), raw, "refused opens change nothing");
    let out = device(&encrypted, None, Some(&"5A".repeat(32)), &["status", "--json"]);
    assert!(out.status.success(), "the same key from the environment: {}", stderr(&out));
    let out = device(&encrypted, None, Some("not-hex"), &["list"]);
    assert!(!out.status.success() && stderr(&out).contains("FIELDSYNC_STORE_KEY"), "{}", stderr(&out));

    let plain = with_identity("plain.sqlite");
    assert!(device(&plain, None, None, &["list"]).status.success());
    let out = device(&plain, Some(key_s), None, &["list"]);
    assert!(!out.status.success() && stderr(&out).contains("not encrypted"), "{}", stderr(&out));
    let out = device(&plain, Some(key_s), None, &["encrypt"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!std::fs::read(&plain).expect("store file").starts_with(b"SQLite format 3"));
    assert!(device(&plain, Some(key_s), None, &["list"]).status.success());
    assert!(!device(&plain, None, None, &["list"]).status.success());
}

/// One HTTP/1.1 request over a plain socket to a server on loopback: the whole answer as text.
fn http(url: &str, request: &str) -> String {
    use std::io::{Read, Write};
    let address = url.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(address).expect("connect");
    let request = request.replace("{host}", address);
    stream.write_all(request.as_bytes()).expect("send");
    let mut answer = String::new();
    stream.read_to_string(&mut answer).expect("answer");
    answer
}

#[test]
fn serve_options_allow_private_webhooks_and_secure_cookies() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("server");
    let data_s = data.to_str().expect("path");
    let dana = ok(&["user", "add", "dana", "--role", "dispatcher", "--data", data_s]).trim().to_owned();
    // Disabled: a webhook that is only created, never sent (and no ticket event happens).
    let body = r#"{"url":"http://127.0.0.1:9/hook","events":["completed"],"enabled":false}"#;
    let create = format!(
        "POST /v1/webhooks HTTP/1.1\r\nHost: {{host}}\r\nAuthorization: Bearer {dana}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let login = "GET /console/login HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n";
    let cookie = |answer: &str| {
        answer.lines().find(|l| l.to_ascii_lowercase().starts_with("set-cookie:")).unwrap_or_default().to_owned()
    };

    let plain = Server::start(&data);
    let refused = http(&plain.url, &create);
    assert!(refused.starts_with("HTTP/1.1 400") && refused.contains("loopback"), "{refused}");
    let answer = http(&plain.url, login);
    assert!(cookie(&answer).contains("HttpOnly") && !cookie(&answer).contains("Secure"), "{answer}");
    plain.stop();

    let onprem = Server::start_with(&data, "127.0.0.1:0", &["--allow-private-webhooks", "--secure-cookies"]);
    let created = http(&onprem.url, &create);
    assert!(created.starts_with("HTTP/1.1 201"), "{created}");
    let answer = http(&onprem.url, login);
    assert!(cookie(&answer).contains("; Secure"), "{answer}");
    onprem.stop();
}
