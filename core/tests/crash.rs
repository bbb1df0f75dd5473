//! Crash test: a child process does a burst of actions on a real store file and reports each
//! one the moment it returns; the parent kills it with SIGKILL at a random moment, reopens the
//! store and checks that every reported action is there and SQLite finds the file sound.
//!
//! The child is this same test binary, run with `CHILD_STORE_ENV` set, executing
//! [`burst_keeps_every_acknowledged_action`] in its endless mode.
//!
//! The same is done to `store::encrypt_existing` (docs/adr/0011): killed at any moment, it
//! leaves either the whole plaintext store or the whole encrypted one.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use fieldsync_core::model::{Identity, NewTicket};
use fieldsync_core::store::{StoreError, StoreKey, encrypt_existing};
use fieldsync_core::{Client, Error, OpenOptions, Role};
use rand::Rng;

const CHILD_STORE_ENV: &str = "FIELDSYNC_CRASH_CHILD_STORE";
const CHILD_ENCRYPT_ENV: &str = "FIELDSYNC_CRASH_CHILD_ENCRYPT";
const TRIALS: usize = 200;

fn identity() -> Identity {
    Identity { user_id: "disp".into(), device_id: "crash-device".into(), role: Role::Dispatcher }
}

fn open(path: &Path) -> Client {
    // Compact often so kills land during compaction too.
    let options = OpenOptions { compact_after_changes: 16, ..OpenOptions::default() };
    Client::open_with(path, identity(), options).expect("store opens")
}

/// One action: create a ticket now and then, otherwise add a numbered note to a random ticket.
/// Prints `CREATED id` / `NOTE id text` after the call returns.
fn act(client: &Client, tickets: &mut Vec<String>, counter: &mut u64, rng: &mut impl Rng, out: &mut impl Write) {
    *counter += 1;
    if tickets.is_empty() || rng.random_ratio(1, 8) {
        let new = NewTicket { title: format!("job {counter}"), assignee: Some("eng-1".into()), ..Default::default() };
        let id = client.create_ticket(&new).expect("create");
        writeln!(out, "CREATED {id}").expect("report");
        tickets.push(id);
    } else {
        let id = &tickets[rng.random_range(0..tickets.len())];
        let text = format!("n{}-{}", std::process::id(), counter);
        client.add_note(id, &text).expect("note");
        writeln!(out, "NOTE {id} {text}").expect("report");
    }
    out.flush().expect("flush");
}

/// Without the environment variable: a short burst in this process, then every action is
/// checked. With it (the child): an endless burst until the parent kills the process.
#[test]
fn burst_keeps_every_acknowledged_action() {
    let mut rng = rand::rng();
    if let Ok(path) = std::env::var(CHILD_STORE_ENV) {
        let client = open(Path::new(&path));
        let mut tickets: Vec<String> =
            client.list(&Default::default()).expect("list").into_iter().map(|s| s.id).collect();
        let mut stdout = std::io::stdout().lock();
        let mut counter = 0;
        loop {
            act(&client, &mut tickets, &mut counter, &mut rng, &mut stdout);
        }
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("store.sqlite");
    let mut acks = Vec::new();
    {
        let client = open(&path);
        let (mut tickets, mut counter) = (Vec::new(), 0);
        for _ in 0..100 {
            act(&client, &mut tickets, &mut counter, &mut rng, &mut acks);
        }
    }
    let mut expected = Expectations::default();
    expected.absorb(&String::from_utf8(acks).expect("utf8"));
    expected.verify(&path);
}

/// What the children reported as done.
#[derive(Default)]
struct Expectations {
    tickets: BTreeSet<String>,
    notes: BTreeMap<String, BTreeSet<String>>,
    actions: usize,
}

impl Expectations {
    /// Takes complete `CREATED`/`NOTE` lines; a line cut short by the kill is ignored (its
    /// action had not been reported as returned).
    fn absorb(&mut self, output: &str) {
        for line in output.split_inclusive('\n').filter(|l| l.ends_with('\n')) {
            let mut words = line.split_whitespace();
            match (words.next(), words.next(), words.next()) {
                (Some("CREATED"), Some(id), None) => {
                    self.tickets.insert(id.to_owned());
                    self.actions += 1;
                }
                (Some("NOTE"), Some(id), Some(text)) => {
                    self.notes.entry(id.to_owned()).or_default().insert(text.to_owned());
                    self.actions += 1;
                }
                _ => {}
            }
        }
    }

    fn verify(&self, path: &Path) {
        let client = open(path);
        assert_eq!(client.open_report().moved_aside, None, "the store was never unopenable");
        client.store().integrity_check().expect("PRAGMA integrity_check says ok");
        let listed: BTreeSet<String> =
            client.list(&Default::default()).expect("list").into_iter().map(|s| s.id).collect();
        for id in &self.tickets {
            assert!(listed.contains(id), "acknowledged ticket {id} is listed");
        }
        for (id, texts) in &self.notes {
            let ticket = client.get(id).expect("acknowledged ticket loads");
            let stored: BTreeSet<&str> = ticket.notes.iter().map(|n| n.text.as_str()).collect();
            for text in texts {
                assert!(stored.contains(text.as_str()), "acknowledged note {text} on {id} survived");
            }
        }
    }
}

#[test]
fn sigkill_at_random_moments_loses_no_acknowledged_action() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("store.sqlite");
    let exe = std::env::current_exe().expect("test binary");
    let mut rng = rand::rng();
    let mut expected = Expectations::default();
    let started = Instant::now();
    // At least TRIALS kills; on a loaded machine, where the children get less done before
    // their random moment, more (up to four times as many) until they acknowledged more actions
    // than there were kills — so the test never passes on children that did nothing.
    let mut trial = 0;
    while trial < TRIALS || (expected.actions <= TRIALS && trial < 4 * TRIALS) {
        let mut child = Command::new(&exe)
            .args(["--exact", "burst_keeps_every_acknowledged_action", "--nocapture", "--test-threads=1"])
            .env(CHILD_STORE_ENV, &path)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn child");
        let stdout = child.stdout.take().expect("child stdout");
        let reader = std::thread::spawn(move || {
            let mut all = String::new();
            let mut lines = BufReader::new(stdout);
            let mut line = String::new();
            while lines.read_line(&mut line).map(|n| n > 0).unwrap_or(false) {
                all.push_str(&line);
                line.clear();
            }
            all.push_str(&line);
            all
        });
        // Anywhere from during the store's opening to deep in the burst.
        std::thread::sleep(Duration::from_micros(rng.random_range(0..120_000)));
        child.kill().expect("SIGKILL");
        let status = child.wait().expect("reap");
        assert!(!status.success(), "trial {trial}: the child must die by the signal, not finish: {status}");
        expected.absorb(&reader.join().expect("reader"));
        if trial % 20 == 19 {
            expected.verify(&path);
        }
        trial += 1;
    }
    expected.verify(&path);
    assert!(
        expected.actions > TRIALS,
        "the children got real work done: {} actions in {trial} trials",
        expected.actions
    );
    eprintln!(
        "crash test: {trial} SIGKILL trials, {} acknowledged actions ({} tickets), all present, integrity ok, {:.1} s",
        expected.actions,
        expected.tickets.len(),
        started.elapsed().as_secs_f64()
    );
}

fn store_key() -> StoreKey {
    StoreKey::from_bytes(&[0x3c; StoreKey::LEN]).expect("32 bytes")
}

/// The tickets and notes in the store, opened with `key` (or `None` when that key does not fit).
fn contents(path: &Path, key: Option<StoreKey>) -> Option<BTreeMap<String, Vec<String>>> {
    let options = OpenOptions { store_key: key, ..OpenOptions::default() };
    let client = match Client::open_with(path, identity(), options) {
        Ok(client) => client,
        Err(Error::Store(StoreError::NotEncrypted | StoreError::KeyRequired)) => return None,
        Err(e) => panic!("the store must open one way or the other: {e}"),
    };
    assert_eq!(client.open_report().moved_aside, None);
    client.store().integrity_check().expect("integrity");
    let ids: Vec<String> = client.list(&Default::default()).expect("list").into_iter().map(|s| s.id).collect();
    Some(
        ids.into_iter()
            .map(|id| {
                let notes = client.get(&id).expect("get").notes.into_iter().map(|n| n.text).collect();
                (id, notes)
            })
            .collect(),
    )
}

/// Without the environment variable: encrypts a store in this process and checks it. With it
/// (the child): encrypts the store it names, says so, and waits to be killed.
#[test]
fn encrypting_a_store_keeps_everything() {
    if let Ok(path) = std::env::var(CHILD_ENCRYPT_ENV) {
        encrypt_existing(Path::new(&path), &store_key()).expect("encrypt");
        println!("ENCRYPTED");
        loop {
            std::thread::park();
        }
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("store.sqlite");
    let mut rng = rand::rng();
    fill_for_encryption(&path, &mut rng);
    let before = contents(&path, None).expect("plaintext");
    encrypt_existing(&path, &store_key()).expect("encrypt");
    assert_eq!(contents(&path, None), None, "no longer opens without the key");
    assert_eq!(contents(&path, Some(store_key())), Some(before));
}

fn fill_for_encryption(path: &Path, rng: &mut impl Rng) {
    let client = open(path);
    let (mut tickets, mut counter) = (Vec::new(), 0);
    for _ in 0..100 {
        act(&client, &mut tickets, &mut counter, rng, &mut std::io::sink());
    }
}

#[test]
fn sigkill_while_encrypting_leaves_one_whole_store() {
    const ENCRYPT_TRIALS: usize = 24;
    let dir = tempfile::tempdir().expect("tempdir");
    let exe = std::env::current_exe().expect("test binary");
    let mut rng = rand::rng();
    let original = dir.path().join("original.sqlite");
    fill_for_encryption(&original, &mut rng);
    let expected = contents(&original, None).expect("plaintext");
    let (mut plaintext, mut encrypted, mut mid_copy) = (0, 0, 0);
    // How long a child takes from its start to the end of the rename: kills are spread over it.
    let mut window = Duration::from_millis(60);
    for trial in 0..ENCRYPT_TRIALS {
        let path = dir.path().join(format!("trial-{trial}.sqlite"));
        // The store as the app left it: its WAL holds the last commits.
        std::fs::copy(&original, &path).expect("copy");
        let wal = dir.path().join("original.sqlite-wal");
        if wal.exists() {
            std::fs::copy(&wal, dir.path().join(format!("trial-{trial}.sqlite-wal"))).expect("copy WAL");
        }
        let mut child = Command::new(&exe)
            .args(["--exact", "encrypting_a_store_keeps_everything", "--nocapture", "--test-threads=1"])
            .env(CHILD_ENCRYPT_ENV, &path)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn child");
        let stdout = child.stdout.take().expect("child stdout");
        let started = Instant::now();
        let reader = std::thread::spawn(move || {
            let mut all = String::new();
            let _ = std::io::Read::read_to_string(&mut BufReader::new(stdout), &mut all);
            all
        });
        if trial == 0 {
            // The first child runs to the end; its time sets the window for the others.
            while !reader.is_finished() && started.elapsed() < Duration::from_secs(30) {
                let done = std::fs::read(&path).map(|b| !b.starts_with(b"SQLite format 3")).unwrap_or(false);
                if done {
                    window = started.elapsed() + started.elapsed() / 5;
                    break;
                }
                std::thread::sleep(Duration::from_millis(1));
            }
        } else {
            std::thread::sleep(window.mul_f64(rng.random_range(0.0..1.0)));
        }
        child.kill().expect("SIGKILL");
        child.wait().expect("reap");
        let reported = reader.join().expect("reader").contains("ENCRYPTED");
        mid_copy += usize::from(dir.path().join(format!("trial-{trial}.sqlite.encrypting")).exists());
        match contents(&path, None) {
            Some(found) => {
                assert!(!reported, "trial {trial}: reported encrypted, but the store is plaintext");
                assert_eq!(found, expected, "trial {trial}: the plaintext store is whole");
                plaintext += 1;
                // The interrupted run's leftovers do not stop the next one.
                encrypt_existing(&path, &store_key()).expect("encrypt after an interrupted run");
            }
            None => encrypted += 1,
        }
        assert_eq!(contents(&path, Some(store_key())), Some(expected.clone()), "trial {trial}: encrypted and whole");
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(dir.path().join(format!("trial-{trial}.sqlite{suffix}")));
        }
    }
    eprintln!(
        "encryption crash test: {ENCRYPT_TRIALS} SIGKILL trials over {:.0} ms, {plaintext} left plaintext ({mid_copy} in the middle of the copy), {encrypted} encrypted",
        window.as_secs_f64() * 1_000.0
    );
    assert!(encrypted > 0, "the first child ran to the end");
}
