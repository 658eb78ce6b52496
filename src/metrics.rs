//! Counters of what the node does, rendered in the Prometheus text format
//! for `/metrics`.
//!
//! Every counter is a relaxed atomic: readers may see a slightly old value,
//! which is fine for monitoring, and no lock is ever taken on the hot path.
//! This module only counts; it decides nothing.

use std::fmt::Write;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;

/// The node's counters. One instance lives in the application state and is
/// shared by the pool, the session layer and the web handlers.
#[derive(Default, Debug)]
pub struct Metrics {
    /// IMAP LOGIN commands sent (successful or not); written by the pool.
    pub imap_logins: AtomicU64,
    /// LOGINs the server refused as wrong credentials; written by the pool.
    pub imap_login_failures: AtomicU64,
    /// LOGINs the server refused because the account has too many connections.
    pub imap_login_limit_refusals: AtomicU64,
    /// IMAP connections currently open; raised and lowered by the pool.
    pub imap_connections_open: AtomicI64,
    /// Borrowers that had to wait because all of their user's connections were lent.
    pub pool_borrow_waits: AtomicU64,
    /// Connections found dead on reuse or during a command and replaced.
    pub pool_reconnects: AtomicU64,
    /// IMAP commands sent, by kind; written by the mail service.
    pub commands: CommandCounters,
    /// Pages rendered for a logged-in user.
    pub page_views: AtomicU64,
    /// Requests that waited for their session's lock.
    pub session_lock_waits: AtomicU64,
    /// Requests answered "still working" (HTTP 429) because their session was busy.
    pub requests_rejected: AtomicU64,
    /// Cache validity checks made before serving cached IMAP data.
    pub cache_validity_checks: AtomicU64,
    /// Background IMAP work running now (prefetches, folder counts).
    pub background_tasks: Arc<AtomicI64>,
    /// Approximate bytes the IMAP cache holds, by its own weighing; set by
    /// whoever renders the metrics.
    pub cache_bytes: AtomicU64,
}

/// Counts one background task as running until dropped.
pub struct BackgroundTask {
    running: Arc<AtomicI64>,
}

impl Metrics {
    /// Marks a background task as running; the returned guard unmarks it.
    pub fn background_task(&self) -> BackgroundTask {
        self.background_tasks.fetch_add(1, Ordering::Relaxed);
        BackgroundTask {
            running: self.background_tasks.clone(),
        }
    }
}

impl Drop for BackgroundTask {
    fn drop(&mut self) {
        self.running.fetch_sub(1, Ordering::Relaxed);
    }
}

/// IMAP commands sent, one counter per kind that a page view uses.
#[derive(Default, Debug)]
pub struct CommandCounters {
    pub select: AtomicU64,
    pub list: AtomicU64,
    pub status: AtomicU64,
    pub sort: AtomicU64,
    pub search: AtomicU64,
    pub fetch: AtomicU64,
    pub store: AtomicU64,
    pub noop: AtomicU64,
    pub other: AtomicU64,
}

/// Adds one to a counter.
pub fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

impl Metrics {
    /// The Prometheus text exposition of every counter.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);

        counter(
            &mut out,
            "mailfront_imap_logins_total",
            "IMAP LOGIN commands sent.",
            get(&self.imap_logins),
        );
        counter(
            &mut out,
            "mailfront_imap_login_failures_total",
            "LOGINs refused for wrong credentials.",
            get(&self.imap_login_failures),
        );
        counter(
            &mut out,
            "mailfront_imap_login_limit_refusals_total",
            "LOGINs refused because the account had too many connections.",
            get(&self.imap_login_limit_refusals),
        );
        gauge(
            &mut out,
            "mailfront_imap_connections_open",
            "IMAP connections open now.",
            self.imap_connections_open.load(Ordering::Relaxed),
        );
        gauge(
            &mut out,
            "mailfront_background_tasks",
            "Background IMAP work running now.",
            self.background_tasks.load(Ordering::Relaxed),
        );
        gauge(
            &mut out,
            "mailfront_cache_bytes",
            "Approximate bytes held by the cache of IMAP results.",
            get(&self.cache_bytes),
        );
        counter(
            &mut out,
            "mailfront_pool_borrow_waits_total",
            "Requests that waited for a pooled connection.",
            get(&self.pool_borrow_waits),
        );
        counter(
            &mut out,
            "mailfront_pool_reconnects_total",
            "Dead pooled connections replaced.",
            get(&self.pool_reconnects),
        );

        let _ = writeln!(
            out,
            "# HELP mailfront_imap_commands_total IMAP commands sent, by kind."
        );
        let _ = writeln!(out, "# TYPE mailfront_imap_commands_total counter");
        let c = &self.commands;
        for (kind, value) in [
            ("select", &c.select),
            ("list", &c.list),
            ("status", &c.status),
            ("sort", &c.sort),
            ("search", &c.search),
            ("fetch", &c.fetch),
            ("store", &c.store),
            ("noop", &c.noop),
            ("other", &c.other),
        ] {
            let _ = writeln!(
                out,
                "mailfront_imap_commands_total{{kind=\"{kind}\"}} {}",
                get(value)
            );
        }

        counter(
            &mut out,
            "mailfront_page_views_total",
            "Pages served to logged-in users.",
            get(&self.page_views),
        );
        counter(
            &mut out,
            "mailfront_session_lock_waits_total",
            "Requests that waited for their session.",
            get(&self.session_lock_waits),
        );
        counter(
            &mut out,
            "mailfront_requests_rejected_total",
            "Requests answered 'still working' because their session was busy.",
            get(&self.requests_rejected),
        );
        counter(
            &mut out,
            "mailfront_cache_validity_checks_total",
            "Validity checks made before cached IMAP data was served.",
            get(&self.cache_validity_checks),
        );
        out
    }
}

fn counter(out: &mut String, name: &str, help: &str, value: u64) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} counter");
    let _ = writeln!(out, "{name} {value}");
}

fn gauge(out: &mut String, name: &str, help: &str, value: impl std::fmt::Display) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} gauge");
    let _ = writeln!(out, "{name} {value}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rendered_counters_carry_their_values() {
        let metrics = Metrics::default();
        bump(&metrics.imap_logins);
        bump(&metrics.commands.fetch);
        let text = metrics.render();
        assert!(text.contains("mailfront_imap_logins_total 1\n"));
        assert!(text.contains("mailfront_imap_commands_total{kind=\"fetch\"} 1\n"));
        assert!(text.contains("# TYPE mailfront_imap_connections_open gauge"));
    }
}
