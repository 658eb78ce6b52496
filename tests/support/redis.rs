//! Private Redis servers for integration tests.
//!
//! It owns the `redis-server` processes a test starts: each listens on
//! 127.0.0.1 on a port of its own, keeps nothing on disk (`--save ''`,
//! `--appendonly no`) unless the test asks for persistence with
//! [`Redis::start_with`], and writes its log into the folder the test gave. It
//! never touches a system Redis and never speaks to any other address.
//!
//! Invariants: a server is killed by its PID when its [`Redis`] value is
//! dropped or stopped; a small watcher shell, started beside it, kills it too
//! when the test process exits without running destructors (a static, a
//! crash). [`Redis::restart`] brings the server back on the same port, so a
//! URL handed out before stays valid; the data is gone after a restart,
//! unless the server was started with an append-only file.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use super::{skip_or_fail, target_dir};

/// Longest wait for a started server to answer PING.
const START_TIMEOUT: Duration = Duration::from_secs(10);

/// A running private `redis-server` on 127.0.0.1.
pub struct Redis {
    /// The folder given to [`Redis::start`]: working folder and `redis.log`.
    pub dir: PathBuf,
    /// The TCP port on 127.0.0.1; the same across restarts.
    pub port: u16,
    /// The server process while it runs; `None` after [`Redis::stop`].
    child: Mutex<Option<Child>>,
    /// Arguments given after the defaults at every launch (a later
    /// argument wins in redis-server), e.g. `--appendonly yes`.
    extra_args: Vec<String>,
}

impl Redis {
    /// Starts a server working in `dir` (created when missing) on a free
    /// port, and waits until it answers. Returns `None` and prints why when
    /// `redis-server` is not installed, or panics when `CI` is set.
    pub fn start(dir: &Path) -> Option<Redis> {
        Redis::start_with(dir, &[])
    }

    /// Like [`Redis::start`], with `args` passed to every launch after the
    /// defaults, which they override: `["--appendonly", "yes",
    /// "--appendfsync", "always"]` gives a server whose data survives
    /// [`Redis::restart`], even though a restart kills it.
    pub fn start_with(dir: &Path, args: &[&str]) -> Option<Redis> {
        if !installed() {
            return skip_or_fail("redis-server is not installed; the Redis tests are skipped");
        }
        std::fs::create_dir_all(dir)
            .unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));

        let redis = Redis {
            dir: dir.to_path_buf(),
            port: free_port(),
            child: Mutex::new(None),
            extra_args: args.iter().map(|arg| (*arg).to_owned()).collect(),
        };
        redis.launch();
        Some(redis)
    }

    /// One server per test binary, started on first use under
    /// `target/test-redis/<pid>/`, for tests that only need some Redis. It
    /// is a static, so it is never dropped: the watcher ends it with the
    /// process. Tests that stop or restart Redis, or count its keys, start
    /// their own with [`Redis::start`]. `None` as for [`Redis::start`].
    pub fn shared() -> Option<&'static Redis> {
        static SHARED: OnceLock<Option<Redis>> = OnceLock::new();

        SHARED
            .get_or_init(|| {
                let dir = target_dir()
                    .join("test-redis")
                    .join(std::process::id().to_string());
                let _ = std::fs::remove_dir_all(&dir);
                Redis::start(&dir)
            })
            .as_ref()
    }

    /// `redis://127.0.0.1:<port>/0`, the URL for mailfront's `redis_url`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    /// PID of the server process, or `None` while it is stopped.
    pub fn pid(&self) -> Option<u32> {
        self.child().as_ref().map(Child::id)
    }

    /// Kills the server (by its PID) and waits until it has exited. Stopping
    /// a stopped server does nothing.
    pub fn stop(&self) {
        if let Some(mut child) = self.child().take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Stops the server if it runs, then starts a fresh, empty one on the
    /// same port and waits until it answers.
    pub fn restart(&self) {
        self.stop();
        self.launch();
    }

    /// Sends one command (e.g. `["GET", "key"]`) and returns the reply in a
    /// plain form: a status or bulk string as is, an integer in decimal,
    /// `(nil)` for a missing value, an array as its items joined by `\n`.
    /// Panics when the server cannot be reached or answers with an error.
    pub fn command(&self, args: &[&str]) -> String {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port))
            .unwrap_or_else(|e| panic!("cannot reach redis on port {}: {e}", self.port));
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .expect("read timeout can be set");

        stream
            .write_all(&encode_command(args))
            .unwrap_or_else(|e| panic!("cannot send {args:?} to redis: {e}"));
        let mut reader = BufReader::new(stream);
        read_reply(&mut reader).unwrap_or_else(|e| panic!("redis {args:?} failed: {e}"))
    }

    /// Keys matching `pattern` (the `KEYS` command; fine for a test server).
    pub fn keys(&self, pattern: &str) -> Vec<String> {
        let reply = self.command(&["KEYS", pattern]);
        reply.lines().map(str::to_owned).collect()
    }

    fn child(&self) -> std::sync::MutexGuard<'_, Option<Child>> {
        self.child.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Starts `redis-server` on `self.port` and waits for PING to answer.
    fn launch(&self) {
        let log = self.dir.join("redis.log");
        let port = self.port.to_string();
        let child = Command::new("redis-server")
            .args(["--bind", "127.0.0.1", "--port", &port])
            .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
            .arg("--dir")
            .arg(&self.dir)
            .arg("--logfile")
            .arg(&log)
            .args(&self.extra_args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start redis-server: {e}"));
        watch_owner(child.id());
        *self.child() = Some(child);

        let deadline = Instant::now() + START_TIMEOUT;
        while !self.answers_ping() {
            if let Some(status) = self.child().as_mut().and_then(|c| c.try_wait().ok()?) {
                panic!(
                    "redis-server on port {} exited at start ({status}); see {}",
                    self.port,
                    log.display()
                );
            }
            if Instant::now() >= deadline {
                panic!(
                    "redis-server on port {} did not answer within 10 s",
                    self.port
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn answers_ping(&self) -> bool {
        let Ok(mut stream) = TcpStream::connect(("127.0.0.1", self.port)) else {
            return false;
        };
        let _ = stream.set_read_timeout(Some(Duration::from_secs(1)));
        if stream.write_all(b"PING\r\n").is_err() {
            return false;
        }

        let mut answer = [0u8; 7];
        stream.read_exact(&mut answer).is_ok() && &answer == b"+PONG\r\n"
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.stop();
    }
}

fn installed() -> bool {
    Command::new("redis-server")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

/// A port on 127.0.0.1 that was free a moment ago.
fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("a free loopback port");
    listener.local_addr().expect("bound address").port()
}

/// Starts a detached shell that kills `server` once this test process is
/// gone, and ends by itself as soon as either of them has exited.
fn watch_owner(server: u32) {
    let script = format!(
        "while kill -0 {owner} 2>/dev/null && kill -0 {server} 2>/dev/null; do sleep 1; done; \
         kill {server} 2>/dev/null",
        owner = std::process::id()
    );
    let _ = Command::new("sh")
        .args(["-c", &script])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn();
}

fn encode_command(args: &[&str]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for arg in args {
        out.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
        out.extend_from_slice(arg.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out
}

fn read_reply(reader: &mut impl BufRead) -> Result<String, String> {
    let mut line = String::new();
    reader
        .read_line(&mut line)
        .map_err(|e| format!("cannot read the reply: {e}"))?;
    let line = line.trim_end_matches("\r\n");
    let (kind, rest) = line.split_at(line.len().min(1));

    match kind {
        "+" | ":" => Ok(rest.to_owned()),
        "-" => Err(rest.to_owned()),
        "$" if rest == "-1" => Ok("(nil)".to_owned()),
        "$" => {
            let len: usize = rest.parse().map_err(|_| format!("bad length {rest}"))?;
            let mut data = vec![0u8; len + 2];
            reader
                .read_exact(&mut data)
                .map_err(|e| format!("cannot read a bulk reply: {e}"))?;
            data.truncate(len);
            Ok(String::from_utf8_lossy(&data).into_owned())
        }
        "*" if rest == "-1" => Ok("(nil)".to_owned()),
        "*" => {
            let count: usize = rest.parse().map_err(|_| format!("bad count {rest}"))?;
            let items = (0..count)
                .map(|_| read_reply(reader))
                .collect::<Result<Vec<_>, _>>()?;
            Ok(items.join("\n"))
        }
        _ => Err(format!("unexpected reply line {line:?}")),
    }
}
