//! mailfront nodes as separate `mailfront serve` processes, for tests and
//! benches that need several nodes sharing one session store, or a node that
//! can be killed without destructors running.
//!
//! It owns the processes it starts: each runs the binary cargo built for the
//! test, listens on a port of 127.0.0.1 that the kernel picked, and writes
//! its log to `<name>.log` in the folder the caller gave. The port is read
//! from the node's own "mailfront serving" log line, so no port is guessed,
//! and the node counts as ready only once it answers `/login`.
//!
//! Invariants: a node is killed by its PID when its [`NodeProcess`] is
//! dropped; a small watcher shell, started beside it, kills it too when the
//! test process exits without running destructors. It never reads the
//! node's memory: tests see what a browser or an operator would see.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Longest wait for a started node to say where it listens and to answer.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// The log line with which `mailfront serve` says it is listening.
const SERVING_LINE: &str = "mailfront serving";

/// A running `mailfront serve` process.
pub struct NodeProcess {
    /// The name given at start, used for the log file and in messages.
    pub name: String,
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    /// The node's log: everything it wrote to stderr (it writes nothing
    /// else).
    pub log: PathBuf,
    child: Option<Child>,
}

impl NodeProcess {
    /// Starts `mailfront serve` with `flags` (pairs of a long flag and its
    /// value, e.g. `("--session-store", "redis")`), listening on a free port
    /// of 127.0.0.1, and waits until it answers. Its log goes to
    /// `<dir>/<name>.log`. Panics, quoting the log, when the node exits or
    /// stays silent for 30 s.
    pub fn start(name: &str, dir: &Path, flags: &[(String, String)]) -> NodeProcess {
        std::fs::create_dir_all(dir)
            .unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
        let log = dir.join(format!("{name}.log"));
        std::fs::File::create(&log)
            .unwrap_or_else(|e| panic!("cannot create {}: {e}", log.display()));

        let mut command = Command::new(env!("CARGO_BIN_EXE_mailfront"));
        command.arg("serve").args(["--listen", "127.0.0.1:0"]);
        for (flag, value) in flags {
            command.arg(flag).arg(value);
        }
        let mut child = command
            .env("MAILFRONT_LOG", "info,html5ever=error")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start mailfront serve for {name}: {e}"));
        watch_owner(child.id());

        let stderr = child.stderr.take().expect("stderr is piped");
        let address = copy_log_until_serving(stderr, log.clone());
        let mut node = NodeProcess {
            name: name.to_owned(),
            base: String::new(),
            log,
            child: Some(child),
        };
        let address = node.wait_for_address(&address);
        node.base = format!("http://{address}");
        node.wait_until_answering();
        node
    }

    /// The node's PID, or `None` once it was killed.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// `base` followed by `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// Kills the node at once with SIGKILL, as a crash or an OOM kill would:
    /// no request finishes, no lock is released, nothing is logged out.
    /// Returns when the process has exited.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        match self.child.as_mut() {
            Some(child) => matches!(child.try_wait(), Ok(None)),
            None => false,
        }
    }

    /// The node's log so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Receives the listening address found in the log, failing with the
    /// log when the node exits first or the deadline passes.
    fn wait_for_address(&mut self, found: &mpsc::Receiver<String>) -> String {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Ok(address) = found.recv_timeout(Duration::from_millis(50)) {
                return address;
            }
            if !self.is_running() {
                panic!(
                    "node {} exited at start; its log:\n{}",
                    self.name,
                    self.log_text()
                );
            }
            if Instant::now() >= deadline {
                panic!(
                    "node {} did not say where it listens within {START_TIMEOUT:?}; its log:\n{}",
                    self.name,
                    self.log_text()
                );
            }
        }
    }

    /// Polls `GET /login` until it answers 200.
    fn wait_until_answering(&mut self) {
        let deadline = Instant::now() + START_TIMEOUT;
        let url = self.url("/login");
        loop {
            if http_status(&url) == Some(200) {
                return;
            }
            if Instant::now() >= deadline || !self.is_running() {
                panic!(
                    "node {} does not answer GET /login; its log:\n{}",
                    self.name,
                    self.log_text()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for NodeProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Copies the node's stderr into its log file on a thread of its own, and
/// sends the address of the "mailfront serving" line once it shows.
fn copy_log_until_serving(
    stderr: impl std::io::Read + Send + 'static,
    log: PathBuf,
) -> mpsc::Receiver<String> {
    let (found, receiver) = mpsc::channel();
    std::thread::spawn(move || {
        let Ok(mut file) = std::fs::OpenOptions::new().append(true).open(&log) else {
            return;
        };
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            let _ = writeln!(file, "{line}");
            if line.contains(SERVING_LINE) {
                if let Some(address) = field(&line, "address") {
                    let _ = found.send(address.to_owned());
                }
            }
        }
    });
    receiver
}

/// The value of `name=value` in a log line.
fn field<'a>(line: &'a str, name: &str) -> Option<&'a str> {
    line.split_whitespace()
        .find_map(|word| word.strip_prefix(name)?.strip_prefix('='))
}

/// The status of a plain `GET`, or `None` when the node cannot be reached.
/// A blocking HTTP/1.0 exchange, so that callers need no runtime.
fn http_status(url: &str) -> Option<u16> {
    let rest = url.strip_prefix("http://")?;
    let (authority, path) = match rest.find('/') {
        Some(at) => rest.split_at(at),
        None => (rest, "/"),
    };
    let mut stream = std::net::TcpStream::connect(authority).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let request = format!("GET {path} HTTP/1.0\r\nHost: {authority}\r\n\r\n");
    stream.write_all(request.as_bytes()).ok()?;

    let mut status_line = String::new();
    BufReader::new(stream).read_line(&mut status_line).ok()?;
    status_line.split_whitespace().nth(1)?.parse().ok()
}

/// Starts a detached shell that kills `node` once this test process is
/// gone, and ends by itself as soon as either of them has exited.
fn watch_owner(node: u32) {
    let script = format!(
        "while kill -0 {owner} 2>/dev/null && kill -0 {node} 2>/dev/null; do sleep 1; done; \
         kill -9 {node} 2>/dev/null",
        owner = std::process::id()
    );
    let _ = Command::new("sh")
        .args(["-c", &script])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn();
}
