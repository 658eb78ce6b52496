//! The node's counters as its `/metrics` page shows them, read before and
//! after a measured stretch.
//!
//! It owns the parsing of the few Prometheus lines the tables need. It reads
//! the public page only, never the node's memory, so the figures are the
//! ones an operator would see. A counter the node does not publish (the
//! cache's validity checks, before a cache exists) reads as `None`.

use crate::app::Browser;

/// The counters of one node at one moment.
#[derive(Debug, Clone, Copy, Default)]
pub struct Counters {
    /// `mailfront_imap_logins_total`.
    pub logins: u64,
    /// `mailfront_page_views_total`.
    pub page_views: u64,
    /// `mailfront_imap_commands_total`, all kinds together.
    pub commands: u64,
    /// `mailfront_cache_validity_checks_total`, when published.
    pub validity_checks: Option<u64>,
    /// `mailfront_pool_reconnects_total`.
    pub reconnects: u64,
    /// `mailfront_imap_connections_open`, a gauge: the value at the end
    /// when taken from [`Counters::since`].
    pub connections_open: u64,
    /// `mailfront_cache_bytes`, a gauge like the one above.
    pub cache_bytes: u64,
}

impl Counters {
    /// Reads the node's `/metrics` page through `browser`.
    pub async fn read(browser: &Browser) -> Result<Counters, String> {
        let url = format!("{}/metrics", browser.base);
        let response = browser
            .client
            .get(&url)
            .send()
            .await
            .map_err(|e| format!("GET {url} failed; {e}"))?;
        let text = response
            .text()
            .await
            .map_err(|e| format!("reading {url} failed; {e}"))?;
        Ok(Counters::parse(&text))
    }

    /// Picks the counters out of a Prometheus text exposition.
    pub fn parse(text: &str) -> Counters {
        let mut counters = Counters::default();
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let Some((name, value)) = line.rsplit_once(' ') else {
                continue;
            };
            let Ok(value) = value.parse::<u64>() else {
                continue;
            };
            match name {
                "mailfront_imap_logins_total" => counters.logins = value,
                "mailfront_page_views_total" => counters.page_views = value,
                "mailfront_cache_validity_checks_total" => {
                    counters.validity_checks = Some(value);
                }
                "mailfront_pool_reconnects_total" => counters.reconnects = value,
                "mailfront_imap_connections_open" => counters.connections_open = value,
                "mailfront_cache_bytes" => counters.cache_bytes = value,
                _ if name.starts_with("mailfront_imap_commands_total{") => {
                    counters.commands += value;
                }
                _ => {}
            }
        }
        counters
    }

    /// What happened between `earlier` and `self`; gauges keep their value
    /// of `self`.
    pub fn since(&self, earlier: &Counters) -> Counters {
        Counters {
            logins: self.logins.saturating_sub(earlier.logins),
            page_views: self.page_views.saturating_sub(earlier.page_views),
            commands: self.commands.saturating_sub(earlier.commands),
            validity_checks: match (self.validity_checks, earlier.validity_checks) {
                (Some(now), Some(then)) => Some(now.saturating_sub(then)),
                _ => None,
            },
            reconnects: self.reconnects.saturating_sub(earlier.reconnects),
            connections_open: self.connections_open,
            cache_bytes: self.cache_bytes,
        }
    }
}
