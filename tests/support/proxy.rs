//! A fault-injecting TCP proxy for network backends: forwards connections to an upstream address, except that
//! chosen connections get an HTTP 503, are reset, or are delayed.
//!
//! Faults apply per connection, in the order connections are accepted. Clients keep connections alive, so give each
//! test its own proxy (and client) to know which requests meet which fault.
//!
//! The proxy also parses the HTTP/1.1 requests it forwards and logs each one's method and path, so tests can count
//! the round trips a command makes ([`FaultProxy::requests`]).

use std::collections::VecDeque;
use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// What happens to one connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Forward it untouched.
    Pass,
    /// Read the request, answer `503 Service Unavailable` (S3 `SlowDown`), close.
    ServiceUnavailable,
    /// Read a little of the request, then close the connection without answering.
    Reset,
    /// Wait, then forward.
    Delay(Duration),
}

#[derive(Default)]
struct Plan {
    next: VecDeque<Fault>,
    always: Option<Fault>,
    storm: Option<Storm>,
}

/// Faults drawn at random for every connection not covered by [`FaultProxy::fail_next`].
#[derive(Clone, Copy, Debug)]
pub struct Storm {
    /// Seed of the draws (the same seed gives the same sequence of faults).
    pub seed: u64,
    /// Share of connections answered 503 SlowDown, in percent.
    pub unavailable_pct: u64,
    /// Share of connections reset, in percent.
    pub reset_pct: u64,
    /// Share of connections delayed by `delay`, in percent.
    pub delay_pct: u64,
    /// How long a delayed connection waits before it is forwarded.
    pub delay: Duration,
}

impl Storm {
    fn draw(&mut self) -> Fault {
        self.seed = self.seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        let r = (self.seed >> 33) % 100;
        if r < self.unavailable_pct {
            Fault::ServiceUnavailable
        } else if r < self.unavailable_pct + self.reset_pct {
            Fault::Reset
        } else if r < self.unavailable_pct + self.reset_pct + self.delay_pct {
            Fault::Delay(self.delay)
        } else {
            Fault::Pass
        }
    }
}

/// The requests forwarded, each with when it was sent upstream; and the delay added before each request.
#[derive(Clone, Default)]
struct Log {
    sent: Arc<Mutex<Vec<(Instant, String)>>>,
    delay: Arc<Mutex<Duration>>,
}

/// A running proxy; stops accepting when dropped.
pub struct FaultProxy {
    addr: SocketAddr,
    plan: Arc<Mutex<Plan>>,
    requests: Log,
    accepted: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl FaultProxy {
    /// Listen on a free loopback port and forward to `upstream`.
    pub fn start(upstream: SocketAddr) -> FaultProxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind proxy");
        let addr = listener.local_addr().expect("proxy address");
        let plan = Arc::new(Mutex::new(Plan::default()));
        let requests = Log::default();
        let accepted = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (plan, accepted, stop, requests) = (plan.clone(), accepted.clone(), stop.clone(), requests.clone());
            std::thread::spawn(move || {
                for conn in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(conn) = conn else { continue };
                    accepted.fetch_add(1, Ordering::SeqCst);
                    let fault = {
                        let mut p = plan.lock().expect("plan");
                        let drawn = p.storm.as_mut().map(Storm::draw);
                        p.next.pop_front().or(p.always).or(drawn).unwrap_or(Fault::Pass)
                    };
                    let requests = requests.clone();
                    std::thread::spawn(move || handle(conn, upstream, fault, requests));
                }
            })
        };
        FaultProxy { addr, plan, requests, accepted, stop, thread: Some(thread) }
    }

    /// The URL to give a client instead of the upstream's.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The next `n` connections get `fault` (after any already queued).
    pub fn fail_next(&self, n: usize, fault: Fault) {
        let mut p = self.plan.lock().expect("plan");
        p.next.extend(std::iter::repeat_n(fault, n));
    }

    /// Every connection not covered by [`fail_next`](Self::fail_next) gets `fault`.
    pub fn fail_always(&self, fault: Fault) {
        self.plan.lock().expect("plan").always = Some(fault);
    }

    /// Every connection not covered by [`fail_next`](Self::fail_next) or [`fail_always`](Self::fail_always) gets
    /// a fault drawn from `storm`.
    pub fn storm(&self, storm: Storm) {
        self.plan.lock().expect("plan").storm = Some(storm);
    }

    /// Forward everything from now on.
    pub fn heal(&self) {
        *self.plan.lock().expect("plan") = Plan::default();
    }

    /// The requests forwarded so far, as `METHOD /path?query`, in the order they were sent.
    pub fn requests(&self) -> Vec<String> {
        self.requests.sent.lock().expect("request log").iter().map(|(_, r)| r.clone()).collect()
    }

    /// Forget the requests logged so far.
    pub fn clear_requests(&self) {
        self.requests.sent.lock().expect("request log").clear();
    }

    /// Hold every request `d` before forwarding it, as a distant server's round trip would.
    pub fn delay_requests(&self, d: Duration) {
        *self.requests.delay.lock().expect("delay") = d;
    }

    /// Sequential rounds among the requests logged so far (how many requests each), with [`delay_requests`](Self::delay_requests) set to
    /// `delay`: requests sent within `delay / 2` of a round's first are in that round (sent together, in
    /// parallel); one sent later waited for an answer, so it starts a new round.
    pub fn request_rounds(&self, delay: Duration) -> Vec<usize> {
        let sent = self.requests.sent.lock().expect("request log");
        let mut rounds: Vec<usize> = Vec::new();
        let mut first: Option<Instant> = None;
        for (t, _) in sent.iter() {
            match first {
                Some(f) if t.duration_since(f) < delay / 2 => *rounds.last_mut().expect("a round") += 1,
                _ => {
                    rounds.push(1);
                    first = Some(*t);
                }
            }
        }
        rounds
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.addr);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn handle(mut client: TcpStream, upstream: SocketAddr, fault: Fault, log: Log) {
    let _ = client.set_nodelay(true);
    match fault {
        Fault::Pass => forward(client, upstream, log),
        Fault::Delay(d) => {
            std::thread::sleep(d);
            forward(client, upstream, log)
        }
        Fault::Reset => {
            let _ = client.set_read_timeout(Some(Duration::from_secs(5)));
            let mut buf = [0u8; 16];
            let _ = client.read(&mut buf);
            // Dropping with unread request bytes makes the kernel send a reset.
        }
        Fault::ServiceUnavailable => {
            let _ = client.set_read_timeout(Some(Duration::from_secs(5)));
            drain_request(&mut client);
            let body = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>SlowDown</Code>\
                        <Message>Please reduce your request rate.</Message></Error>";
            let response = format!(
                "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/xml\r\nContent-Length: {}\r\n\
                 Connection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = client.write_all(response.as_bytes());
            let _ = client.flush();
            let _ = client.shutdown(Shutdown::Write);
            // Let the client read the answer before the socket goes away.
            let mut sink = [0u8; 4096];
            while matches!(client.read(&mut sink), Ok(n) if n > 0) {}
        }
    }
}

/// Read one request: headers, then a `Content-Length` body if any (without waiting for `100-continue` bodies).
fn drain_request(client: &mut TcpStream) {
    let mut data = Vec::new();
    let mut buf = [0u8; 8192];
    let header_end = loop {
        match client.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => data.extend_from_slice(&buf[..n]),
        }
        if let Some(i) = data.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        if data.len() > 1 << 20 {
            return;
        }
    };
    let headers = String::from_utf8_lossy(&data[..header_end]).to_ascii_lowercase();
    if headers.contains("expect: 100-continue") {
        return;
    }
    let len: usize = headers
        .lines()
        .find_map(|l| l.strip_prefix("content-length:").map(|v| v.trim().parse().unwrap_or(0)))
        .unwrap_or(0);
    let mut remaining = len.saturating_sub(data.len() - header_end);
    while remaining > 0 {
        match client.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => remaining = remaining.saturating_sub(n),
        }
    }
}

/// Copy bytes both ways until either side closes, logging the requests that go up.
fn forward(client: TcpStream, upstream: SocketAddr, log: Log) {
    let Ok(server) = TcpStream::connect(upstream) else { return };
    let _ = server.set_nodelay(true);
    let (Ok(mut client_r), Ok(mut server_w)) = (client.try_clone(), server.try_clone()) else { return };
    let up = std::thread::spawn(move || {
        let mut scanner = RequestScanner::default();
        let mut buf = vec![0u8; 64 << 10];
        loop {
            let n = match client_r.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            if scanner.idle() {
                let d = *log.delay.lock().expect("delay");
                if !d.is_zero() {
                    std::thread::sleep(d);
                }
            }
            let now = Instant::now();
            for r in scanner.feed(&buf[..n]) {
                log.sent.lock().expect("request log").push((now, r));
            }
            if server_w.write_all(&buf[..n]).is_err() {
                break;
            }
        }
        let _ = server_w.shutdown(Shutdown::Write);
    });
    let (mut server_r, mut client_w) = (server, client);
    let _ = std::io::copy(&mut server_r, &mut client_w);
    let _ = client_w.shutdown(Shutdown::Both);
    let _ = server_r.shutdown(Shutdown::Both);
    let _ = up.join();
}

/// Finds the request lines in an HTTP/1.1 byte stream: headers, then a `Content-Length` or chunked body.
#[derive(Default)]
struct RequestScanner {
    /// Header bytes of the request being read.
    head: Vec<u8>,
    /// Body bytes still to skip (`Content-Length`), or the chunked-body state.
    body: Body,
}

#[derive(Default)]
enum Body {
    #[default]
    None,
    Length(usize),
    /// A chunk-size line being read.
    ChunkSize(Vec<u8>),
    /// Chunk data (plus its CRLF) still to skip.
    ChunkData(usize),
    /// Trailer lines after the last chunk, until an empty line.
    Trailer(Vec<u8>),
}

impl RequestScanner {
    /// Between requests: the next bytes start a new one.
    fn idle(&self) -> bool {
        self.head.is_empty() && matches!(self.body, Body::None)
    }

    /// Take more bytes; returns the request lines completed in them.
    fn feed(&mut self, mut data: &[u8]) -> Vec<String> {
        let mut out = Vec::new();
        while !data.is_empty() {
            match &mut self.body {
                Body::Length(n) => {
                    let k = (*n).min(data.len());
                    *n -= k;
                    data = &data[k..];
                    if *n == 0 {
                        self.body = Body::None;
                    }
                }
                Body::ChunkData(n) => {
                    let k = (*n).min(data.len());
                    *n -= k;
                    data = &data[k..];
                    if *n == 0 {
                        self.body = Body::ChunkSize(Vec::new());
                    }
                }
                Body::ChunkSize(line) | Body::Trailer(line) => {
                    let Some(i) = data.iter().position(|&b| b == b'\n') else {
                        line.extend_from_slice(data);
                        break;
                    };
                    line.extend_from_slice(&data[..=i]);
                    data = &data[i + 1..];
                    let text = String::from_utf8_lossy(line).trim().to_string();
                    self.body = match &self.body {
                        Body::Trailer(_) if text.is_empty() => Body::None,
                        Body::Trailer(_) => Body::Trailer(Vec::new()),
                        _ => {
                            let size =
                                usize::from_str_radix(text.split(';').next().unwrap_or("0").trim(), 16).unwrap_or(0);
                            if size == 0 {
                                Body::Trailer(Vec::new())
                            } else {
                                Body::ChunkData(size + 2)
                            }
                        }
                    };
                }
                Body::None => {
                    let start = self.head.len().saturating_sub(3);
                    self.head.extend_from_slice(data);
                    data = &[];
                    let Some(end) = self.head[start..].windows(4).position(|w| w == b"\r\n\r\n").map(|i| start + i + 4)
                    else {
                        continue;
                    };
                    let rest = self.head.split_off(end);
                    let head = String::from_utf8_lossy(&std::mem::take(&mut self.head)).into_owned();
                    let mut lines = head.lines();
                    let request = lines.next().unwrap_or_default();
                    let mut parts = request.split(' ');
                    out.push(format!("{} {}", parts.next().unwrap_or_default(), parts.next().unwrap_or_default()));
                    let mut len = 0;
                    let mut chunked = false;
                    for l in lines {
                        let l = l.to_ascii_lowercase();
                        if let Some(v) = l.strip_prefix("content-length:") {
                            len = v.trim().parse().unwrap_or(0);
                        } else if l.starts_with("transfer-encoding:") && l.contains("chunked") {
                            chunked = true;
                        }
                    }
                    self.body = if chunked {
                        Body::ChunkSize(Vec::new())
                    } else if len > 0 {
                        Body::Length(len)
                    } else {
                        Body::None
                    };
                    out.extend(self.feed(&rest));
                }
            }
        }
        out
    }
}
