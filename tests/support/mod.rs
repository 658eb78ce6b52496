//! Test support shared by the root package's integration tests.
//!
//! It owns the way tests reach what lives outside the crate: the private
//! Dovecot started through `scripts/dovecot` ([`Dovecot`]), private Redis
//! servers ([`Redis`]), a plain IMAP
//! client for setting up mail and playing a second device
//! ([`ImapTestClient`]), an SMTP sink that keeps what Dovecot's submission
//! service relays ([`SmtpCapture`]), the shared inputs in `../shared`, and scratch folders.
//! It never uses the product's own code, so a fault in mailfront cannot hide
//! a fault in a test's setup.
//!
//! Invariants: every server it starts listens on 127.0.0.1 only and is tied to
//! the test process, so a test binary that exits without destructors leaves no
//! daemon behind. When something a test needs is missing, the helper prints
//! why and returns `None`, unless the environment variable `CI` is set: then
//! it panics, so a CI run can never pass by skipping.

// Each test binary compiles this module and uses a different part of it.
#![allow(dead_code, unused_imports)]

mod dovecot;
mod imap_client;
mod nginx;
mod redis;
mod smtp_capture;

pub use dovecot::Dovecot;
pub use imap_client::ImapTestClient;
pub use nginx::Nginx;
pub use redis::Redis;
pub use smtp_capture::{CapturedMessage, SmtpCapture};

use std::io::Write;
use std::path::{Path, PathBuf};

/// The workspace root, the folder holding `Cargo.toml` and `scripts/`.
pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Cargo's target folder: `CARGO_TARGET_DIR` when set, else `target/`.
pub fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => workspace_root().join(dir),
        None => workspace_root().join("target"),
    }
}

/// The shared test inputs (`<workspace root>/../shared`, holding `cases/`
/// and `corpus/`). Returns `None` and prints why when the folder is absent,
/// or panics when `CI` is set.
pub fn shared_dir() -> Option<PathBuf> {
    let dir = workspace_root().join("../shared");
    if dir.join("cases").is_dir() || dir.join("corpus").is_dir() {
        return Some(dir);
    }

    skip_or_fail(&format!(
        "{} holds neither cases/ nor corpus/; the tests that read real mail are skipped",
        dir.display()
    ))
}

/// A fresh, empty scratch folder named `name` for the calling test, under
/// `MAILFRONT_TEST_ROOT` when set (scripts/test sets it), else under
/// `target/test-scratch/`. One folder per process and name; an existing one
/// is emptied first, and those of exited test processes are removed.
pub fn scratch_dir(name: &str) -> PathBuf {
    let root = match std::env::var_os("MAILFRONT_TEST_ROOT") {
        Some(root) => PathBuf::from(root),
        None => target_dir().join("test-scratch"),
    };
    remove_folders_of_exited_processes(&root);
    let dir = root.join(format!("{}-{name}", std::process::id()));

    if dir.exists() {
        std::fs::remove_dir_all(&dir)
            .unwrap_or_else(|e| panic!("cannot empty {}: {e}", dir.display()));
    }
    std::fs::create_dir_all(&dir)
        .unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
    dir
}

/// Removes the entries `<pid>-...` of `root` whose process has exited. Errors
/// are ignored: another test binary may be cleaning up at the same time.
fn remove_folders_of_exited_processes(root: &Path) {
    let Ok(entries) = std::fs::read_dir(root) else {
        return;
    };

    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let owner = name.split('-').next().unwrap_or_default();
        let numeric = !owner.is_empty() && owner.bytes().all(|b| b.is_ascii_digit());
        if numeric && !Path::new("/proc").join(owner).exists() {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

/// Whether the environment variable `CI` is set (to anything but empty).
pub fn running_in_ci() -> bool {
    std::env::var_os("CI").is_some_and(|v| !v.is_empty())
}

/// Prints why a test cannot run and returns `None`; panics under CI.
///
/// The message goes straight to the process's stderr, past the test harness's
/// output capture, so a skip shows in a passing run too.
fn skip_or_fail<T>(why: &str) -> Option<T> {
    if running_in_ci() {
        panic!("{why} (CI is set, so this fails instead of skipping)");
    }
    let _ = writeln!(std::io::stderr(), "skipped: {why}");
    None
}
