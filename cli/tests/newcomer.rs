//! The command line as a newcomer meets it (issue 17, item 6): the store remembers its server,
//! ids may be shortened, a refusal says what comes first, one cause reads the same from every
//! command, statuses read as the console shows them, and an admin manages a user's devices.

mod common;

use common::{Server, fails, ok, run};

#[test]
fn a_newcomer_is_guided_and_remembered() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("server");
    let data_s = data.to_str().expect("path");
    let dana = ok(&["user", "add", "dana", "--role", "dispatcher", "--data", data_s]).trim().to_owned();
    let eli = ok(&["user", "add", "eli", "--role", "engineer", "--data", data_s]).trim().to_owned();
    let server = Server::start(&data);
    let url = server.url.clone();
    let dispatch = |args: &[&str]| {
        let mut all = vec!["dispatch", "--server", url.as_str(), "--token", dana.as_str()];
        all.extend_from_slice(args);
        all.into_iter().map(str::to_owned).collect::<Vec<_>>()
    };
    let create = |title: &str| {
        ok(&dispatch(&["create", "--title", title, "--customer", "Acme Ltd", "--assignee", "eli"])).trim().to_owned()
    };
    let first = create("Boiler leaks");
    let second = create("Pump hums");

    // The first run learns the server and token; from then on the store knows them.
    let store = dir.path().join("eli.sqlite");
    let store_s = store.to_str().expect("path").to_owned();
    ok(&["device", "--store", &store_s, "--server", &url, "--token", &eli, "list"]);
    let device = |args: &[&str]| {
        let mut all = vec!["device", "--store", store_s.as_str()];
        all.extend_from_slice(args);
        all.into_iter().map(str::to_owned).collect::<Vec<_>>()
    };
    let synced = ok(&device(&["sync"]));
    assert!(synced.contains("received 2"), "sync without --server and --token: {synced}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let file = dir.path().join("eli.sqlite.identity.json");
        let mode = std::fs::metadata(&file).expect("identity file").permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "the file holding the token is its owner's alone");
    }

    // A unique prefix names a ticket; a shared one asks for more.
    let short = &first[..first.len() - 4];
    assert!(ok(&device(&["accept", short])).contains(&first));
    let shared: String = first.chars().zip(second.chars()).take_while(|(a, b)| a == b).map(|(a, _)| a).collect();
    assert!(!shared.is_empty(), "ids made a moment apart share their time prefix");
    let err = fails(&device(&["accept", &shared]));
    assert!(err.contains("type more") && err.contains(&first) && err.contains(&second), "{err}");

    // A refusal says what comes first.
    let err = fails(&device(&["complete", short]));
    assert!(err.contains("cannot complete: ticket is accepted; check in first"), "{err}");
    let err = fails(&device(&["note", &second, "hello"]));
    assert!(err.contains("cannot add a note: ticket is not accepted; accept first"), "{err}");

    // Statuses read as the console shows them; no empty brackets for a missing detail.
    ok(&device(&["check-in", short, "--lat", "52.37", "--lon", "4.89"]));
    let listed = ok(&device(&["list"]));
    assert!(listed.contains("on site") && !listed.contains("on_site"), "{listed}");
    let shown = ok(&device(&["show", short]));
    assert!(shown.contains("status on site"), "{shown}");
    assert!(shown.contains("customer Acme Ltd\n") && !shown.contains("()"), "{shown}");

    // The dispatcher's commands take prefixes too.
    let shown = ok(&dispatch(&["show", short, "--json"]));
    assert!(shown.contains(&first), "{shown}");

    // One cause, one wording: with the server gone, the device and the dispatcher both say
    // "network:".
    drop(server);
    let device_err = fails(&device(&["sync"]));
    let dispatch_err = fails(&dispatch(&["list"]));
    assert!(device_err.starts_with("error: network:"), "{device_err}");
    assert!(dispatch_err.starts_with("error: network:"), "{dispatch_err}");

    // A second phone for eli, listed and revoked from the command line.
    let token = ok(&["user", "add-device", "eli", "--data", data_s]).trim().to_owned();
    assert_eq!(token.len(), 64);
    let err = fails(&["user", "add-device", "nobody", "--data", data_s]);
    assert!(err.contains("no user \"nobody\""), "{err}");
    let devices = ok(&["user", "devices", "--user", "eli", "--data", data_s]);
    assert_eq!(devices.lines().count(), 2, "{devices}");
    let second_phone =
        devices.lines().find(|l| l.contains("never") || l.contains("last sync -")).expect("an unsynced device");
    let device_id = second_phone.split_whitespace().next().expect("id");
    assert!(ok(&["user", "revoke", device_id, "--data", data_s]).contains("revoked"));
    let devices = ok(&["user", "devices", "--user", "eli", "--data", data_s]);
    assert!(devices.lines().any(|l| l.starts_with(device_id) && l.contains("revoked")), "{devices}");
    assert!(fails(&["user", "revoke", "no-such-device", "--data", data_s]).contains("no device"));

    // Revoked means refused: the server says so with the same words a phone sees.
    let server = Server::start(&data);
    let (success, _, stderr) = run(&["dispatch", "--server", &server.url, "--token", &token, "list"]);
    assert!(!success && stderr.contains("the server refused this device's token"), "{stderr}");
}
