//! A fault-injecting TCP proxy for network backends: forwards connections to an upstream address, except that
//! chosen connections get an HTTP 503, are reset, or are delayed.
//!
//! Faults apply per connection, in the order connections are accepted. Clients keep connections alive, so give each
//! test its own proxy (and client) to know which requests meet which fault.

use std::collections::VecDeque;
use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

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
}

/// A running proxy; stops accepting when dropped.
pub struct FaultProxy {
    addr: SocketAddr,
    plan: Arc<Mutex<Plan>>,
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
        let accepted = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (plan, accepted, stop) = (plan.clone(), accepted.clone(), stop.clone());
            std::thread::spawn(move || {
                for conn in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(conn) = conn else { continue };
                    accepted.fetch_add(1, Ordering::SeqCst);
                    let fault = {
                        let mut p = plan.lock().expect("plan");
                        p.next.pop_front().or(p.always).unwrap_or(Fault::Pass)
                    };
                    std::thread::spawn(move || handle(conn, upstream, fault));
                }
            })
        };
        FaultProxy { addr, plan, accepted, stop, thread: Some(thread) }
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

    /// Forward everything from now on.
    pub fn heal(&self) {
        *self.plan.lock().expect("plan") = Plan::default();
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

fn handle(mut client: TcpStream, upstream: SocketAddr, fault: Fault) {
    let _ = client.set_nodelay(true);
    match fault {
        Fault::Pass => forward(client, upstream),
        Fault::Delay(d) => {
            std::thread::sleep(d);
            forward(client, upstream)
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

/// Copy bytes both ways until either side closes.
fn forward(client: TcpStream, upstream: SocketAddr) {
    let Ok(server) = TcpStream::connect(upstream) else { return };
    let _ = server.set_nodelay(true);
    let (Ok(mut client_r), Ok(mut server_w)) = (client.try_clone(), server.try_clone()) else { return };
    let up = std::thread::spawn(move || {
        let _ = std::io::copy(&mut client_r, &mut server_w);
        let _ = server_w.shutdown(Shutdown::Write);
    });
    let (mut server_r, mut client_w) = (server, client);
    let _ = std::io::copy(&mut server_r, &mut client_w);
    let _ = client_w.shutdown(Shutdown::Both);
    let _ = server_r.shutdown(Shutdown::Both);
    let _ = up.join();
}
