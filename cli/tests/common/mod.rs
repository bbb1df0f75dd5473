//! What the `fieldsync` binary's tests share: running the binary, and a `fieldsync serve`
//! process ready once it printed where it listens.
#![allow(dead_code)]

use std::ffi::OsStr;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_fieldsync");

/// Runs `fieldsync ARGS`: whether it succeeded, its stdout and its stderr.
pub fn run<S: AsRef<OsStr>>(args: &[S]) -> (bool, String, String) {
    let out = Command::new(BIN).args(args).output().expect("run fieldsync");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Runs `fieldsync ARGS`, which must succeed; its stdout.
pub fn ok<S: AsRef<OsStr> + std::fmt::Debug>(args: &[S]) -> String {
    let (success, stdout, stderr) = run(args);
    assert!(success, "fieldsync {args:?} failed: {stderr}");
    stdout
}

/// Runs `fieldsync ARGS`, which must fail; its stderr.
pub fn fails<S: AsRef<OsStr> + std::fmt::Debug>(args: &[S]) -> String {
    let (success, _, stderr) = run(args);
    assert!(!success, "fieldsync {args:?} should fail");
    stderr
}

/// A `fieldsync serve` process; its address is read from the line it prints when listening (no
/// waiting, no polling). Killed when dropped.
pub struct Server {
    child: Child,
    /// `http://host:port`.
    pub url: String,
}

impl Server {
    /// A server on `data`, on a free loopback port.
    pub fn start(data: &Path) -> Server {
        Server::start_with(data, "127.0.0.1:0", &[])
    }

    /// A server on `data` listening on `listen`, with more `serve` options.
    pub fn start_with(data: &Path, listen: &str, options: &[&str]) -> Server {
        let mut child = Command::new(BIN)
            .args(["serve", "--data", data.to_str().expect("path"), "--listen", listen])
            .args(options)
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn server");
        let mut line = String::new();
        BufReader::new(child.stderr.take().expect("stderr")).read_line(&mut line).expect("ready line");
        let url = line.split_whitespace().find(|w| w.starts_with("http://")).expect("url in ready line");
        Server { child, url: url.trim_end_matches(',').to_owned() }
    }

    /// `host:port`.
    pub fn address(&self) -> &str {
        self.url.trim_start_matches("http://")
    }

    /// Stops the server; the address it had.
    pub fn stop(mut self) -> String {
        self.kill();
        self.address().to_owned()
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}
