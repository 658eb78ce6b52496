//! Section 1: page views per second and their latency with 1, 8 and 32
//! concurrent sessions, pooled and login-per-request side by side, with
//! the IMAP logins and cache validity checks each page view cost.
//!
//! It owns the runs: for every session count, a pooled node and then a
//! login-per-request node, each fresh, each run for the same number of
//! seconds right after the other, so that both see the same load from the
//! other users of the machine. Sessions sign in, then all walk together for
//! a quarter of the run's time before the clock starts, while each
//! account's pool grows to the connections the walk needs (the page view
//! and the node's prefetch of rows overlap); the counters are read from
//! `/metrics` around the timed stretch only, so neither sign-ins nor that
//! growth count as steady-state logins.
//!
//! Invariant: a run ends by itself, at its deadline or after a fixed number
//! of page views per session, whichever comes first.

use std::time::{Duration, Instant};

use crate::browse::{Session, Walked};
use crate::counters::Counters;
use crate::demo::Account;
use crate::nodes::{self, Mode};
use crate::stats::{fixed, ms, rate};
use crate::support::Dovecot;
use crate::table::Table;

/// The untimed walk before the clock starts, as a share of the timed one,
/// in which the pools grow to the size the walk needs.
const WARM_UP_SHARE: f64 = 0.25;

/// The most page views one session makes in one run.
const MAX_VIEWS_PER_SESSION: u64 = 200_000;

/// The session count at which the pooled/login-per-request ratio is quoted.
const RATIO_SESSIONS: usize = 8;

/// The outcome of one timed run.
pub struct Run {
    pub mode: Mode,
    pub sessions: usize,
    pub walked: Walked,
    pub elapsed: Duration,
    /// The node's counters over the timed stretch.
    pub counters: Counters,
}

impl Run {
    pub fn views_per_second(&self) -> f64 {
        self.walked.views.len() as f64 / self.elapsed.as_secs_f64()
    }

    fn logins_per_1000(&self) -> Option<f64> {
        rate(self.counters.logins, self.walked.views.len() as u64, 1000.0)
    }

    fn checks_per_view(&self) -> Option<f64> {
        let checks = self.counters.validity_checks?;
        rate(checks, self.walked.views.len() as u64, 1.0)
    }
}

/// Every run of the section, for each session count in `sessions`.
pub async fn measure(
    dovecot: &Dovecot,
    accounts: &[Account],
    sessions: &[usize],
    seconds: f64,
) -> Result<Vec<Run>, String> {
    let mut runs = Vec::new();
    for &count in sessions {
        for mode in Mode::BOTH {
            eprintln!("throughput: {count} sessions, {}", mode.setting());
            runs.push(run(dovecot, &accounts[..count], mode, seconds).await?);
        }
    }
    Ok(runs)
}

/// One run: a fresh node, one session per account, `seconds` of walking.
async fn run(
    dovecot: &Dovecot,
    accounts: &[Account],
    mode: Mode,
    seconds: f64,
) -> Result<Run, String> {
    let node = nodes::start(
        dovecot,
        &format!("{}-{}", mode.setting(), accounts.len()),
        mode,
    )
    .await;
    let mut sessions = Vec::with_capacity(accounts.len());
    for account in accounts {
        let (session, _) = Session::sign_in(&node.base, &account.user, &account.password).await?;
        sessions.push(session);
    }
    let observer = crate::app::Browser::new(&node.base);

    let warm_up = Duration::from_secs_f64(seconds * WARM_UP_SHARE);
    let (sessions, walked) = walk_all(sessions, warm_up).await?;
    if let Some(error) = walked.first_error {
        return Err(format!("a page view before the timed run failed; {error}"));
    }

    let before = Counters::read(&observer).await?;
    let started = Instant::now();
    let (_, walked) = walk_all(sessions, Duration::from_secs_f64(seconds)).await?;
    let elapsed = started.elapsed();
    let counters = Counters::read(&observer).await?.since(&before);

    node.stop().await;
    Ok(Run {
        mode,
        sessions: accounts.len(),
        walked,
        elapsed,
        counters,
    })
}

/// All sessions walk at once for `how_long`; returns them with what they did.
pub async fn walk_all(
    sessions: Vec<Session>,
    how_long: Duration,
) -> Result<(Vec<Session>, Walked), String> {
    let deadline = Instant::now() + how_long;
    let tasks: Vec<_> = sessions
        .into_iter()
        .map(|mut session| {
            tokio::spawn(async move {
                let walked = session.walk_until(deadline, MAX_VIEWS_PER_SESSION).await;
                (session, walked)
            })
        })
        .collect();

    let mut sessions = Vec::with_capacity(tasks.len());
    let mut walked = Walked::default();
    for task in tasks {
        let (session, done) = task
            .await
            .map_err(|e| format!("a session task failed; {e}"))?;
        sessions.push(session);
        walked.merge(done);
    }
    Ok((sessions, walked))
}

/// The section's table and the two figures with a target.
pub fn report(runs: &[Run], seconds: f64) -> String {
    let mut table = Table::new(&[
        "pool mode",
        ">sessions",
        ">page views",
        ">views/s",
        ">median ms",
        ">p99 ms",
        ">median folder page ms",
        ">median message ms",
        ">errors",
        ">IMAP logins / 1,000 views",
        ">IMAP commands / view",
        ">validity checks / view",
        ">IMAP connections at the end",
    ]);
    for run in runs {
        table.row(vec![
            run.mode.setting().to_owned(),
            run.sessions.to_string(),
            run.walked.views.len().to_string(),
            format!("{:.0}", run.views_per_second()),
            ms(run.walked.views.median()),
            ms(run.walked.views.p99()),
            ms(run.walked.folder_pages.median()),
            ms(run.walked.messages.median()),
            run.walked.errors.to_string(),
            fixed(run.logins_per_1000(), 1),
            fixed(
                rate(run.counters.commands, run.walked.views.len() as u64, 1.0),
                1,
            ),
            run.checks_per_view()
                .map_or_else(|| "not counted".to_owned(), |v| format!("{v:.2}")),
            run.counters.connections_open.to_string(),
        ]);
    }

    let mut out = format!(
        "### Throughput ({seconds} s per run, one account per session)\n\n{}\n",
        table.render()
    );
    for line in summary_lines(runs) {
        out.push_str(&line);
        out.push('\n');
    }
    for run in runs.iter().filter(|r| r.walked.errors > 0) {
        out.push_str(&format!(
            "- {} at {} sessions: {} failed requests, the first: {}\n",
            run.mode.setting(),
            run.sessions,
            run.walked.errors,
            run.walked.first_error.as_deref().unwrap_or("?")
        ));
    }
    out
}

/// The ratio at 8 sessions and the steady-state logins of the pooled runs.
fn summary_lines(runs: &[Run]) -> Vec<String> {
    let find = |mode, sessions| {
        runs.iter()
            .find(|r| r.mode == mode && r.sessions == sessions)
    };
    let ratio_at = runs
        .iter()
        .map(|r| r.sessions)
        .filter(|&s| s <= RATIO_SESSIONS)
        .max()
        .unwrap_or(RATIO_SESSIONS);

    let mut lines = Vec::new();
    if let (Some(pooled), Some(per_request)) = (
        find(Mode::Pooled, ratio_at),
        find(Mode::LoginPerRequest, ratio_at),
    ) {
        let ratio = pooled.views_per_second() / per_request.views_per_second();
        lines.push(format!(
            "- pooled / login-per-request, page views per second at {ratio_at} sessions: \
             **{ratio:.1}×** (target ≥ 5×)"
        ));
    }

    let pooled: Vec<&Run> = runs.iter().filter(|r| r.mode == Mode::Pooled).collect();
    let logins: u64 = pooled.iter().map(|r| r.counters.logins).sum();
    let views: u64 = pooled.iter().map(|r| r.walked.views.len() as u64).sum();
    if let Some(per_1000) = rate(logins, views, 1000.0) {
        lines.push(format!(
            "- IMAP logins per 1,000 page views, pooled, steady state (all pooled runs): \
             **{per_1000:.2}** ({logins} logins in {views} views; target ≤ 1)"
        ));
    }
    if runs.iter().all(|r| r.counters.validity_checks.is_none()) {
        lines.push(
            "- validity checks: the node publishes no \
             mailfront_cache_validity_checks_total counter"
                .to_owned(),
        );
    }
    lines
}
