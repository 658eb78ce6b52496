//! Private Dovecot instances for integration tests, run by `scripts/dovecot`.
//!
//! It owns the instances a test binary starts: one shared instance, started
//! lazily, and private ones a test asks for. Each lives in its own folder under
//! `target/test-dovecot/` with its own ports on 127.0.0.1, users and log. It
//! never touches the system Dovecot. It never edits Dovecot's files itself:
//! every change goes through the script, so the demo and the tests configure
//! Dovecot the same way.
//!
//! Invariants: an instance is started with `--owner-pid` of this process, so
//! the script's watcher stops it when the test binary exits, even though the
//! shared instance is a static that is never dropped. Users are created with
//! names unique to the process, so tests running in parallel never share one.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use super::imap_client::ImapTestClient;
use super::{skip_or_fail, target_dir, workspace_root};

/// The exit status of `scripts/dovecot` when Dovecot is not installed.
const NOT_INSTALLED: i32 = 3;

/// Counts users created by this process, across all instances.
static NEXT_USER: AtomicU32 = AtomicU32::new(1);

/// Counts private instances started by this process.
static NEXT_PRIVATE: AtomicU32 = AtomicU32::new(1);

/// A running private Dovecot on 127.0.0.1.
pub struct Dovecot {
    /// The instance's state folder: `dovecot.conf`, `dovecot.log`, `passwd`,
    /// `mail/`, certificates.
    pub dir: PathBuf,
    /// Plain IMAP port on 127.0.0.1.
    pub imap_port: u16,
    /// Implicit TLS port on 127.0.0.1.
    pub imaps_port: u16,
    /// The private CA that signed the TLS certificate for `localhost` and
    /// 127.0.0.1.
    pub ca_file: PathBuf,
    /// PID of the Dovecot master process.
    pub pid: u32,
    /// SMTP submission port on 127.0.0.1 (AUTH for the same users), for an
    /// instance started with [`Dovecot::start_private_with_submission`].
    pub submission_port: Option<u16>,
    /// Whether dropping this value stops the instance (private ones only).
    stop_on_drop: bool,
}

impl Dovecot {
    /// One instance per test binary, started lazily through `scripts/dovecot`
    /// with `--owner-pid <this process>`, under `target/test-dovecot/<pid>/`.
    /// Returns `None` (and prints why) when Dovecot is not installed and `CI`
    /// is unset; panics with the reason when `CI` is set.
    ///
    /// Its connection limit per user and IP is Dovecot's default of 10.
    pub fn shared() -> Option<&'static Dovecot> {
        static SHARED: OnceLock<Option<Dovecot>> = OnceLock::new();

        SHARED
            .get_or_init(|| {
                remove_stale_instances();
                let dir = instances_dir().join(std::process::id().to_string());
                Dovecot::start(&dir, None, false, false, None)
            })
            .as_ref()
    }

    /// A separate instance whose users may each hold at most `max_userip`
    /// connections from one IP; stopped (and its folder removed unless the
    /// test panicked) on drop. `None` as for [`Dovecot::shared`].
    pub fn start_private(max_userip: u32) -> Option<Dovecot> {
        let n = NEXT_PRIVATE.fetch_add(1, Ordering::Relaxed);
        let dir = instances_dir().join(format!("{}-p{n}", std::process::id()));
        Dovecot::start(&dir, Some(max_userip), true, false, None)
    }

    /// A separate instance that advertises no SORT, ESORT or THREAD after
    /// login (`scripts/dovecot start --no-sort`), like a server without
    /// them; stopped on drop like [`Dovecot::start_private`].
    pub fn start_private_without_sort() -> Option<Dovecot> {
        let n = NEXT_PRIVATE.fetch_add(1, Ordering::Relaxed);
        let dir = instances_dir().join(format!("{}-p{n}", std::process::id()));
        Dovecot::start(&dir, None, true, true, None)
    }

    /// A separate instance that also runs Dovecot's SMTP submission service
    /// ([`Dovecot::submission_port`]), relaying every message to
    /// 127.0.0.1:`relay_port` (a test's [`super::SmtpCapture`]) and nowhere
    /// else; stopped on drop like [`Dovecot::start_private`].
    pub fn start_private_with_submission(relay_port: u16) -> Option<Dovecot> {
        let n = NEXT_PRIVATE.fetch_add(1, Ordering::Relaxed);
        let dir = instances_dir().join(format!("{}-p{n}", std::process::id()));
        Dovecot::start(&dir, None, true, false, Some(relay_port))
    }

    /// Creates a fresh user with a unique name built from `prefix` (tests run
    /// in parallel and must not share users) and returns (user, password).
    /// The user can log in as soon as this returns.
    pub fn new_user(&self, prefix: &str) -> (String, String) {
        let n = NEXT_USER.fetch_add(1, Ordering::Relaxed);
        let prefix: String = prefix
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() {
                    c.to_ascii_lowercase()
                } else {
                    '-'
                }
            })
            .collect();
        let user = format!("{prefix}-{}-{n}", std::process::id());
        let password = format!("pw-{:x}-{n}", nanos_now());

        let out = self.script(&["add-user", &user, &password]);
        check(&out, &format!("scripts/dovecot add-user {user}"));
        (user, password)
    }

    /// Ends every IMAP session of `user` (`doveadm kick`). Sessions close
    /// shortly after this returns, not necessarily before.
    pub fn kick(&self, user: &str) {
        let out = self.script(&["doveadm", "kick", user]);
        let said = String::from_utf8_lossy(&out.stdout).to_lowercase();

        // doveadm exits non-zero when the user had no session to end.
        if !out.status.success() && !said.contains("no users kicked") {
            check(&out, &format!("doveadm kick {user}"));
        }
    }

    /// Runs `doveadm` against this instance (e.g. `["mailbox", "status", ..]`)
    /// and returns its stdout; panics when it fails.
    pub fn doveadm(&self, args: &[&str]) -> String {
        let mut all = vec!["doveadm"];
        all.extend_from_slice(args);
        let out = self.script(&all);
        check(&out, &format!("doveadm {}", args.join(" ")));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The contents of `dovecot.log` so far.
    pub fn log_text(&self) -> String {
        let path = self.dir.join("dovecot.log");
        match std::fs::read(&path) {
            Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
            Err(e) => panic!("cannot read {}: {e}", path.display()),
        }
    }

    /// Successful IMAP logins of `user` in the log (plain and TLS).
    ///
    /// Dovecot writes its log through a separate process, so a login that
    /// just happened may be missing for a few milliseconds; use
    /// [`Dovecot::wait_for_logins`] to wait for an expected count.
    pub fn count_logins(&self, user: &str) -> usize {
        let needle = format!("imap-login: Info: Login: user=<{user}>,");
        self.log_text()
            .lines()
            .filter(|line| line.contains(&needle))
            .count()
    }

    /// Waits (at most `timeout`) until the log shows at least `at_least`
    /// logins of `user`, and returns the count seen last.
    pub fn wait_for_logins(&self, user: &str, at_least: usize, timeout: Duration) -> usize {
        let deadline = Instant::now() + timeout;
        loop {
            let count = self.count_logins(user);
            if count >= at_least || Instant::now() >= deadline {
                return count;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// A plain-IMAP client logged in as `user`; panics when the login fails.
    pub fn client(&self, user: &str, password: &str) -> ImapTestClient {
        self.try_client(user, password).unwrap_or_else(|e| {
            panic!(
                "IMAP login of {user} on port {} failed: {e}",
                self.imap_port
            )
        })
    }

    /// Like [`Dovecot::client`], but returns the server's refusal (e.g.
    /// `NO [LIMIT] ...`) instead of panicking.
    pub fn try_client(&self, user: &str, password: &str) -> Result<ImapTestClient, String> {
        let mut client = ImapTestClient::connect(self.imap_port)?;
        client.login(user, password)?;
        Ok(client)
    }

    fn start(
        dir: &Path,
        max_userip: Option<u32>,
        stop_on_drop: bool,
        no_sort: bool,
        relay_port: Option<u16>,
    ) -> Option<Dovecot> {
        if dir.exists() {
            stop_and_remove(dir);
        }

        let pid = std::process::id().to_string();
        let limit = max_userip.map(|n| n.to_string());
        let mut args = vec!["start", path_str(dir), "--owner-pid", &pid];
        if let Some(limit) = &limit {
            args.extend(["--max-userip", limit]);
        }
        if no_sort {
            args.push("--no-sort");
        }
        let relay = relay_port.map(|port| port.to_string());
        if let Some(relay) = &relay {
            args.extend(["--relay-port", relay]);
        }
        let out = run_script(&args);

        if out.status.code() == Some(NOT_INSTALLED) {
            let why = String::from_utf8_lossy(&out.stderr);
            return skip_or_fail(&format!("no private Dovecot for the tests: {}", why.trim()));
        }
        check(&out, "scripts/dovecot start");

        let line = String::from_utf8_lossy(&out.stdout);
        let mut dovecot = parse_start_line(line.trim())
            .unwrap_or_else(|| panic!("scripts/dovecot start printed an unexpected line: {line}"));
        dovecot.dir = dir.to_path_buf();
        dovecot.stop_on_drop = stop_on_drop;
        Some(dovecot)
    }

    fn script(&self, args: &[&str]) -> Output {
        let mut all = vec![args[0], path_str(&self.dir)];
        all.extend_from_slice(&args[1..]);
        run_script(&all)
    }
}

impl Drop for Dovecot {
    fn drop(&mut self) {
        if !self.stop_on_drop {
            return;
        }

        let out = run_script(&["stop", path_str(&self.dir)]);
        if !out.status.success() {
            eprintln!(
                "scripts/dovecot stop {} failed: {}",
                self.dir.display(),
                String::from_utf8_lossy(&out.stderr)
            );
            return;
        }

        // A failing test keeps the folder, so its log can be read.
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// Parses `imap=127.0.0.1:P imaps=127.0.0.1:T ca=PATH pid=N`, followed by
/// `submission=127.0.0.1:S` when the instance runs submission.
fn parse_start_line(line: &str) -> Option<Dovecot> {
    let mut imap_port = None;
    let mut imaps_port = None;
    let mut ca_file = None;
    let mut pid = None;
    let mut submission_port = None;

    for field in line.split_whitespace() {
        let (key, value) = field.split_once('=')?;
        match key {
            "imap" => imap_port = value.strip_prefix("127.0.0.1:")?.parse().ok(),
            "imaps" => imaps_port = value.strip_prefix("127.0.0.1:")?.parse().ok(),
            "ca" => ca_file = Some(PathBuf::from(value)),
            "pid" => pid = value.parse().ok(),
            "submission" => submission_port = value.strip_prefix("127.0.0.1:")?.parse().ok(),
            _ => return None,
        }
    }

    Some(Dovecot {
        dir: PathBuf::new(),
        imap_port: imap_port?,
        imaps_port: imaps_port?,
        ca_file: ca_file?,
        pid: pid?,
        submission_port,
        stop_on_drop: false,
    })
}

fn instances_dir() -> PathBuf {
    target_dir().join("test-dovecot")
}

/// Removes the folders of earlier test processes that have exited, keeping
/// those of processes still running (other test binaries, in parallel).
fn remove_stale_instances() {
    let Ok(entries) = std::fs::read_dir(instances_dir()) else {
        return;
    };

    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let owner = name.split('-').next().unwrap_or_default();
        let alive = Path::new("/proc").join(owner).exists();
        if !owner.is_empty() && owner.bytes().all(|b| b.is_ascii_digit()) && !alive {
            // Another test binary may be removing the same folder right now.
            let _ = run_script(&["stop", path_str(&entry.path())]);
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

fn stop_and_remove(dir: &Path) {
    let out = run_script(&["stop", path_str(dir)]);
    check(&out, &format!("scripts/dovecot stop {}", dir.display()));
    std::fs::remove_dir_all(dir).unwrap_or_else(|e| panic!("cannot remove {}: {e}", dir.display()));
}

fn run_script(args: &[&str]) -> Output {
    let script = workspace_root().join("scripts/dovecot");

    // Null stdin and piped outputs: the script detaches Dovecot from both.
    Command::new(&script)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()))
}

fn check(out: &Output, what: &str) {
    if !out.status.success() {
        panic!(
            "{what} failed ({}): {}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

fn path_str(path: &Path) -> &str {
    path.to_str()
        .unwrap_or_else(|| panic!("path {} is not UTF-8", path.display()))
}

fn nanos_now() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default()
}
