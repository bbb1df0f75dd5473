//! The fault-injecting HTTP/1.1 proxy between devices and the server (tests/tests/faults.rs, the
//! chaos harness). One request per connection: the proxy reads the whole request, draws a
//! [`Fault`] for it and then drops, resets, delays, truncates, duplicates or reorders it.
//!
//! Every fault is one a mobile link or a load balancer really produces; the server and the
//! device engine must turn each into, at worst, a failed attempt that the next sync repairs.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// What the proxy does to one request (one connection).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Fault {
    /// Forward untouched.
    Pass,
    /// Read the request, close without forwarding.
    DropRequest,
    /// Close mid-request, with unread request bytes (the kernel answers with a reset).
    Reset,
    /// Wait 0–300 ms before forwarding.
    DelayRequest,
    /// Wait 0–300 ms before answering.
    DelayResponse,
    /// Forward (the server applies the push), then close without answering.
    DropResponse,
    /// Forward, answer a strict prefix of the response, close.
    Truncate,
    /// Send the request upstream twice, one after the other; answer one of the two.
    DuplicateSequential,
    /// Send the request upstream twice at once; answer one of the two.
    DuplicateConcurrent,
    /// Close without answering and deliver the request upstream 0.2–1.5 s later, after the
    /// device has given up on it and (usually) sent newer requests: the server sees a stale
    /// request after fresher ones (an old cursor, an old upload offset).
    Reorder,
}

impl Fault {
    /// Every fault, `Pass` first.
    pub const ALL: [Fault; 10] = [
        Fault::Pass,
        Fault::DropRequest,
        Fault::Reset,
        Fault::DelayRequest,
        Fault::DelayResponse,
        Fault::DropResponse,
        Fault::Truncate,
        Fault::DuplicateSequential,
        Fault::DuplicateConcurrent,
        Fault::Reorder,
    ];

    /// Relative weights while faults are on.
    fn weight(self) -> u32 {
        match self {
            Fault::Pass => 30,
            _ => 8,
        }
    }

    fn index(self) -> usize {
        Fault::ALL.iter().position(|f| *f == self).unwrap_or(0)
    }
}

/// One connection's draw, made when it is accepted.
#[derive(Clone, Copy, Debug)]
struct Plan {
    fault: Fault,
    delay: Duration,
    /// Where to cut (truncate), which duplicate to answer: any number, reduced as needed.
    pick: u64,
}

/// What the proxy has done so far.
#[derive(Default)]
pub struct ProxyStats {
    injected: [AtomicU64; Fault::ALL.len()],
    /// Connections accepted.
    pub connections: AtomicU64,
    /// Requests sent to the server (duplicates and reordered deliveries included).
    pub upstream_requests: AtomicU64,
    /// Connections the proxy gave up on (peer gone, server down, timeout).
    pub proxy_errors: AtomicU64,
    /// Reordered requests not delivered yet.
    pub held: AtomicU64,
}

/// A running proxy to one upstream address; stops when dropped.
pub struct Proxy {
    addr: SocketAddr,
    faults_on: Arc<AtomicBool>,
    stats: Arc<ProxyStats>,
    task: JoinHandle<()>,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Proxy {
    /// Listens on 127.0.0.1:0 and forwards to `upstream`, with faults on; `seed` fixes the
    /// draws (not the interleaving of tasks).
    pub async fn start(upstream: SocketAddr, seed: u64) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let addr = listener.local_addr().expect("proxy addr");
        let faults_on = Arc::new(AtomicBool::new(true));
        let stats = Arc::new(ProxyStats::default());
        let rng = Arc::new(Mutex::new(StdRng::seed_from_u64(seed)));
        let task = tokio::spawn({
            let (faults_on, stats) = (faults_on.clone(), stats.clone());
            async move {
                loop {
                    let Ok((client, _)) = listener.accept().await else { continue };
                    stats.connections.fetch_add(1, Ordering::Relaxed);
                    let plan = {
                        let mut rng = rng.lock().expect("rng");
                        draw(&mut rng, faults_on.load(Ordering::SeqCst))
                    };
                    let stats = stats.clone();
                    tokio::spawn(async move {
                        // A stuck peer cannot keep a connection task alive forever.
                        let handled =
                            tokio::time::timeout(Duration::from_secs(30), handle(client, upstream, plan, &stats)).await;
                        if !matches!(handled, Ok(Ok(()))) {
                            stats.proxy_errors.fetch_add(1, Ordering::Relaxed);
                        }
                    });
                }
            }
        });
        Proxy { addr, faults_on, stats, task }
    }

    /// The URL devices use.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Its address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Turns faults on or off for connections accepted from now on.
    pub fn set_faults(&self, on: bool) {
        self.faults_on.store(on, Ordering::SeqCst);
    }

    /// How many times `fault` was applied.
    pub fn injected(&self, fault: Fault) -> u64 {
        self.stats.injected[fault.index()].load(Ordering::Relaxed)
    }

    /// Its counters.
    pub fn stats(&self) -> &ProxyStats {
        &self.stats
    }

    /// Waits (at most `limit`) until every reordered request has been delivered; returns
    /// whether they all were.
    pub async fn deliver_held(&self, limit: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + limit;
        while self.stats.held.load(Ordering::SeqCst) > 0 {
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        true
    }
}

fn draw(rng: &mut StdRng, faults_on: bool) -> Plan {
    let fault = if faults_on {
        let total: u32 = Fault::ALL.iter().map(|f| f.weight()).sum();
        let mut n = rng.random_range(0..total);
        let mut chosen = Fault::Pass;
        for fault in Fault::ALL {
            if n < fault.weight() {
                chosen = fault;
                break;
            }
            n -= fault.weight();
        }
        chosen
    } else {
        Fault::Pass
    };
    Plan { fault, delay: Duration::from_millis(rng.random_range(0..=300)), pick: rng.random() }
}

async fn handle(
    mut client: TcpStream,
    upstream: SocketAddr,
    plan: Plan,
    stats: &Arc<ProxyStats>,
) -> std::io::Result<()> {
    let count = |fault: Fault| stats.injected[fault.index()].fetch_add(1, Ordering::Relaxed);
    if plan.fault == Fault::Reset {
        // Take a few bytes of the request and close with the rest unread: a reset mid-request.
        let mut first = [0u8; 16];
        if client.read(&mut first).await? > 0 {
            count(Fault::Reset);
        }
        return Ok(());
    }
    let Some(request) = read_request(&mut client).await? else { return Ok(()) };
    if plan.fault == Fault::Reorder {
        count(Fault::Reorder);
        stats.held.fetch_add(1, Ordering::SeqCst);
        let stats = stats.clone();
        // Later than any delay fault, so fresher requests of the same device usually overtake it.
        let late = Duration::from_millis(200) + plan.delay * 4;
        tokio::spawn(async move {
            tokio::time::sleep(late).await;
            stats.upstream_requests.fetch_add(1, Ordering::Relaxed);
            // The answer goes nowhere: the device stopped waiting long ago.
            let _ = forward(upstream, &request).await;
            stats.held.fetch_sub(1, Ordering::SeqCst);
        });
        return Ok(());
    }
    let round_trip = || async {
        stats.upstream_requests.fetch_add(1, Ordering::Relaxed);
        forward(upstream, &request).await
    };
    let response = match plan.fault {
        Fault::DropRequest => {
            count(Fault::DropRequest);
            return Ok(());
        }
        Fault::DelayRequest => {
            tokio::time::sleep(plan.delay).await;
            round_trip().await?
        }
        Fault::DuplicateSequential => {
            let first = round_trip().await;
            let second = round_trip().await;
            count(Fault::DuplicateSequential);
            pick_one(first, second, plan.pick)?
        }
        Fault::DuplicateConcurrent => {
            let (first, second) = tokio::join!(round_trip(), round_trip());
            count(Fault::DuplicateConcurrent);
            pick_one(first, second, plan.pick)?
        }
        _ => round_trip().await?,
    };
    let response = with_connection_close(&response);
    match plan.fault {
        Fault::DropResponse => {
            count(Fault::DropResponse);
            return Ok(());
        }
        Fault::Truncate if response.len() > 1 => {
            let cut = 1 + usize::try_from(plan.pick % (response.len() as u64 - 1)).unwrap_or(0);
            client.write_all(&response[..cut]).await?;
            count(Fault::Truncate);
            return client.shutdown().await;
        }
        Fault::DelayResponse => {
            tokio::time::sleep(plan.delay).await;
            count(Fault::DelayResponse);
        }
        Fault::DelayRequest => {
            count(Fault::DelayRequest);
        }
        Fault::Pass => {
            count(Fault::Pass);
        }
        _ => {}
    }
    client.write_all(&response).await?;
    client.shutdown().await
}

fn pick_one(first: std::io::Result<Vec<u8>>, second: std::io::Result<Vec<u8>>, pick: u64) -> std::io::Result<Vec<u8>> {
    match (first, second) {
        (Ok(a), Ok(b)) => Ok(if pick % 2 == 0 { a } else { b }),
        (Ok(a), Err(_)) => Ok(a),
        (Err(_), Ok(b)) => Ok(b),
        (Err(e), Err(_)) => Err(e),
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// The head (without its blank line) split into its first line and header lines.
fn split_head(head: &[u8]) -> (String, Vec<String>) {
    let text = String::from_utf8_lossy(head);
    let mut lines = text.split("\r\n").map(str::to_owned);
    let first = lines.next().unwrap_or_default();
    (first, lines.filter(|l| !l.is_empty()).collect())
}

/// The head rebuilt with every `Connection` header replaced by `Connection: close`.
fn close_head(first: &str, headers: &[String]) -> Vec<u8> {
    let mut out = format!("{first}\r\n");
    for header in headers {
        if !header.to_ascii_lowercase().starts_with("connection:") {
            out.push_str(header);
            out.push_str("\r\n");
        }
    }
    out.push_str("Connection: close\r\n\r\n");
    out.into_bytes()
}

/// Reads one HTTP/1.1 request (head, then `Content-Length` bytes of body) and returns it with
/// `Connection: close`; `None` when the client went away first.
pub async fn read_request(client: &mut TcpStream) -> std::io::Result<Option<Vec<u8>>> {
    const MAX_HEAD: usize = 64 * 1024;
    const MAX_BODY: usize = 16 * 1024 * 1024;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    let head_end = loop {
        if let Some(at) = find(&buf, b"\r\n\r\n") {
            break at;
        }
        if buf.len() > MAX_HEAD {
            return Err(std::io::Error::other("request head too long"));
        }
        let n = client.read(&mut chunk).await?;
        if n == 0 {
            return Ok(None);
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let (first, headers) = split_head(&buf[..head_end]);
    let mut length = 0usize;
    for header in &headers {
        let (name, value) = header.split_once(':').unwrap_or((header, ""));
        let name = name.trim().to_ascii_lowercase();
        if name == "transfer-encoding" {
            return Err(std::io::Error::other("chunked requests are not framed by this proxy"));
        }
        if name == "content-length" {
            length = value.trim().parse().map_err(std::io::Error::other)?;
        }
    }
    if length > MAX_BODY {
        return Err(std::io::Error::other("request body too long"));
    }
    let body_start = head_end + 4;
    while buf.len() < body_start + length {
        let n = client.read(&mut chunk).await?;
        if n == 0 {
            return Ok(None);
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let mut request = close_head(&first, &headers);
    request.extend_from_slice(&buf[body_start..body_start + length]);
    Ok(Some(request))
}

/// One new upstream connection: write the request, read the response until the server closes.
pub async fn forward(upstream: SocketAddr, request: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut server = TcpStream::connect(upstream).await?;
    server.write_all(request).await?;
    let mut response = Vec::new();
    server.read_to_end(&mut response).await?;
    if response.is_empty() {
        return Err(std::io::Error::other("upstream closed without answering"));
    }
    Ok(response)
}

/// The response with `Connection: close`, so the client never reuses the connection.
pub fn with_connection_close(response: &[u8]) -> Vec<u8> {
    let Some(head_end) = find(response, b"\r\n\r\n") else { return response.to_vec() };
    let (first, headers) = split_head(&response[..head_end]);
    let mut out = close_head(&first, &headers);
    out.extend_from_slice(&response[head_end + 4..]);
    out
}
