//! A private nginx for tests, in front of mailfront nodes on 127.0.0.1.
//!
//! It owns one `nginx` process per [`Nginx`]: run in the foreground as a
//! single process (`daemon off; master_process off;`), with its pid file,
//! logs and temporary folders in the folder the test gave, listening on a
//! port of 127.0.0.1 that was free a moment before. It never touches the
//! system's nginx, its configuration or its port 80.
//!
//! Invariants: the process is killed by its PID when the value is dropped;
//! a small watcher shell kills it too when the test process exits without
//! running destructors. The test supplies the `server` and `upstream`
//! blocks; this module adds only the frame that makes them runnable here.

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::skip_or_fail;

/// Longest wait for nginx to accept connections.
const START_TIMEOUT: Duration = Duration::from_secs(10);

/// A running private nginx.
pub struct Nginx {
    /// The folder of its configuration, logs and temporary files.
    pub dir: PathBuf,
    /// The port on 127.0.0.1 it listens on.
    pub port: u16,
    child: Child,
}

impl Nginx {
    /// A port on 127.0.0.1 that was free a moment ago, for the `listen`
    /// line of the configuration given to [`Nginx::start`].
    pub fn free_port() -> u16 {
        let listener = TcpListener::bind("127.0.0.1:0").expect("a free loopback port");
        listener.local_addr().expect("bound address").port()
    }

    /// Runs nginx with `http_blocks` (upstreams and servers, as they would
    /// stand inside `http { }`), one of which listens on 127.0.0.1:`port`,
    /// and waits until that port accepts. Returns `None` and prints why when
    /// nginx is not installed, or panics when `CI` is set.
    pub fn start(dir: &Path, port: u16, http_blocks: &str) -> Option<Nginx> {
        if !installed() {
            return skip_or_fail("nginx is not installed; the proxy test is skipped");
        }
        std::fs::create_dir_all(dir)
            .unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));

        let config = dir.join("nginx.conf");
        std::fs::write(&config, frame(dir, http_blocks))
            .unwrap_or_else(|e| panic!("cannot write {}: {e}", config.display()));
        let child = Command::new("nginx")
            .arg("-p")
            .arg(dir)
            .arg("-c")
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start nginx: {e}"));
        watch_owner(child.id());

        let mut nginx = Nginx {
            dir: dir.to_path_buf(),
            port,
            child,
        };
        nginx.wait_until_listening();
        Some(nginx)
    }

    /// `http://127.0.0.1:<port>`.
    pub fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// nginx's error log so far.
    pub fn error_log(&self) -> String {
        std::fs::read_to_string(self.dir.join("error.log")).unwrap_or_default()
    }

    fn wait_until_listening(&mut self) {
        let deadline = Instant::now() + START_TIMEOUT;
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("nginx exited at start ({status}):\n{}", self.error_log());
            }
            if Instant::now() >= deadline {
                panic!("nginx did not listen within 10 s:\n{}", self.error_log());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The whole configuration: one foreground process, everything it writes
/// inside `dir`, and the test's blocks inside `http`.
fn frame(dir: &Path, http_blocks: &str) -> String {
    let dir = dir.display();
    format!(
        "daemon off;\n\
         master_process off;\n\
         worker_processes 1;\n\
         pid {dir}/nginx.pid;\n\
         error_log {dir}/error.log warn;\n\
         events {{ worker_connections 256; }}\n\
         http {{\n\
         access_log {dir}/access.log;\n\
         client_body_temp_path {dir}/client_body;\n\
         proxy_temp_path {dir}/proxy;\n\
         fastcgi_temp_path {dir}/fastcgi;\n\
         uwsgi_temp_path {dir}/uwsgi;\n\
         scgi_temp_path {dir}/scgi;\n\
         {http_blocks}\n\
         }}\n"
    )
}

fn installed() -> bool {
    Command::new("nginx")
        .arg("-v")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

/// Starts a detached shell that kills `nginx` once this test process is
/// gone, and ends by itself as soon as either of them has exited.
fn watch_owner(nginx: u32) {
    let script = format!(
        "while kill -0 {owner} 2>/dev/null && kill -0 {nginx} 2>/dev/null; do sleep 1; done; \
         kill {nginx} 2>/dev/null",
        owner = std::process::id()
    );
    let _ = Command::new("sh")
        .args(["-c", &script])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn();
}
