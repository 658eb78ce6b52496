//! A fake HTTP proxy on 127.0.0.1 that records every connection a browser
//! makes to it and forwards nothing.
//!
//! A browser told to use it sends every request for a host other than
//! loopback here (plain requests as `GET http://host/...`, TLS as
//! `CONNECT host:443`), so the record is the list of everything the browser
//! tried to fetch from elsewhere. Every connection is answered with 502 and
//! closed: nothing ever leaves the machine.
//!
//! Invariants: the listener serves on its own thread and stops when the value
//! is dropped; it polls a stop flag, and each connection gets at most two
//! seconds to send its first line, so the thread always ends.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// Hosts the browser reaches on its own (component updates, account and
/// clock checks, the default search engine's preconnect), which no flag of
/// Debian's Chromium 156 turns off entirely. Requests to them are the
/// browser's, never a page's, so they are left out of what tests compare.
const BROWSER_SERVICE_DOMAINS: [&str; 4] = [
    "google.com",
    "googleapis.com",
    "gstatic.com",
    "duckduckgo.com",
];

/// What is recorded for a connection that sent no request line in time.
const NO_REQUEST: &str = "(a connection that sent no request line)";

/// The answer to every connection.
const BAD_GATEWAY: &[u8] =
    b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";

/// A running recorder.
pub struct ProxyRecorder {
    /// The port on 127.0.0.1 to give the browser.
    pub port: u16,
    /// First lines of the requests seen so far; the listener thread appends,
    /// tests read and clear. A std mutex: it is held only to push or copy.
    seen: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl ProxyRecorder {
    pub fn start() -> ProxyRecorder {
        let listener = TcpListener::bind("127.0.0.1:0").expect("a loopback port for the proxy");
        listener
            .set_nonblocking(true)
            .expect("a non-blocking listener");
        let port = listener.local_addr().expect("a bound address").port();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));

        let thread = {
            let (seen, stop) = (seen.clone(), stop.clone());
            std::thread::spawn(move || serve(listener, &seen, &stop))
        };
        ProxyRecorder {
            port,
            seen,
            stop,
            thread: Some(thread),
        }
    }

    /// Every request line recorded so far.
    pub fn seen(&self) -> Vec<String> {
        self.seen.lock().unwrap().clone()
    }

    /// The recorded requests that are not the browser's own service traffic.
    /// Connections that sent nothing are left out: Chromium opens spare
    /// connections to its proxy ahead of need, and a connection that names
    /// no host fetches nothing (it is closed unused, so a later request needs
    /// a new one, which is recorded).
    pub fn page_requests(&self) -> Vec<String> {
        let seen = self.seen();
        seen.into_iter()
            .filter(|line| *line != NO_REQUEST && !is_browser_service(line))
            .collect()
    }

    /// The hosts named by the requests recorded so far.
    pub fn hosts(&self) -> std::collections::BTreeSet<String> {
        self.seen()
            .iter()
            .filter_map(|line| host_of(line))
            .collect()
    }

    /// Forgets what was recorded so far.
    pub fn clear(&self) {
        self.seen.lock().unwrap().clear();
    }
}

impl Drop for ProxyRecorder {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn serve(listener: TcpListener, seen: &Mutex<Vec<String>>, stop: &AtomicBool) {
    while !stop.load(Ordering::Relaxed) {
        match listener.accept() {
            Ok((mut stream, _)) => {
                // Recorded before the answer, so a test whose browser has
                // seen the answer can rely on the record.
                let line = first_line(&mut stream);
                seen.lock().unwrap().push(line);
                let _ = stream.write_all(BAD_GATEWAY);
            }
            Err(_) => std::thread::sleep(Duration::from_millis(10)),
        }
    }
}

/// Reads the request line (at most 8 KiB, at most 2 s).
fn first_line(stream: &mut TcpStream) -> String {
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let _ = stream.set_write_timeout(Some(Duration::from_secs(2)));
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 1024];

    while buffer.len() < 8192 && !buffer.windows(2).any(|w| w == b"\r\n") {
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => break,
            Ok(n) => buffer.extend_from_slice(&chunk[..n]),
        }
    }

    let text = String::from_utf8_lossy(&buffer);
    let line = text.lines().next().unwrap_or_default().trim().to_owned();
    if line.is_empty() {
        NO_REQUEST.to_owned()
    } else {
        line
    }
}

/// Whether a request line names a host of the browser's own services.
fn is_browser_service(line: &str) -> bool {
    let Some(host) = host_of(line) else {
        return false;
    };
    BROWSER_SERVICE_DOMAINS
        .iter()
        .any(|domain| host == *domain || host.ends_with(&format!(".{domain}")))
}

/// The host of `CONNECT host:port ...` or `GET http://host[:port]/... ...`.
fn host_of(line: &str) -> Option<String> {
    if line == NO_REQUEST {
        return None;
    }
    let target = line.split_whitespace().nth(1)?;
    let authority = match target.split_once("://") {
        Some((_, rest)) => rest.split('/').next()?,
        None => target,
    };
    let host = authority.rsplit_once(':').map_or(authority, |(h, _)| h);
    Some(host.to_ascii_lowercase())
}
