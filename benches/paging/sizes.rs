//! Section 3: mailboxes of 1,000, 10,000 and 100,000 messages, first as raw
//! IMAP (what the server costs), then through mailfront (what a person
//! waits for).
//!
//! It owns, for each size, a fresh account loaded from the corpus, then:
//! - raw IMAP on one open connection of the support harness's plain client,
//!   which shares no code with mailfront's IMAP crate: the first SELECT and
//!   SORT after loading (Dovecot builds its sort index then); the median of
//!   SELECT, `UID SORT (REVERSE ARRIVAL) UTF-8 ALL` and `UID FETCH` of 20
//!   rows with the items mailfront asks for, each sample on a connection
//!   that has just logged in (login not timed), as a first view is; and SORT
//!   + FETCH again on a connection that has the mailbox selected;
//! - mailfront: the first folder page after sign-in (the median over as
//!   many nodes just started as there are samples), then cycles of Next,
//!   Prev, a message and Back to the folder, with the IMAP commands and the
//!   cache validity checks each view made, read from `/metrics` around it,
//!   and the node's own working time, read from each page's Server-Timing
//!   header, set beside the raw UID FETCH of 20 rows.
//!
//! No node runs while raw IMAP is timed. The section needs the corpus: its
//! loader is the only way to fill 100,000 messages in about a minute.

use std::time::{Duration, Instant};

use crate::app;
use crate::browse::Session;
use crate::counters::Counters;
use crate::demo::{self, Account, MailSource};
use crate::heap;
use crate::nodes::{self, Mode};
use crate::stats::{fixed, ms, rate, Samples};
use crate::support::{Dovecot, ImapTestClient};
use crate::table::Table;

/// The items mailfront fetches for a row of the message list.
const ROW_ITEMS: &str = "(UID FLAGS INTERNALDATE RFC822.SIZE ENVELOPE BODYSTRUCTURE)";

/// The order of mailfront's default view, newest arrival first.
const SORT: &str = "UID SORT (REVERSE ARRIVAL) UTF-8 ALL";

/// Rows per page, mailfront's default.
const PAGE_ROWS: usize = 20;

/// What one mailbox costs over raw IMAP.
#[derive(Default)]
pub struct RawImap {
    pub load: Duration,
    pub login: Samples,
    pub first_select_sort: Duration,
    pub select: Samples,
    pub sort: Samples,
    pub fetch: Samples,
    /// SELECT + SORT + FETCH, repetition by repetition.
    pub select_sort_fetch: Samples,
    /// SORT + FETCH with the mailbox already selected.
    pub sort_fetch: Samples,
}

/// One kind of warm view through mailfront, with what it cost upstream.
#[derive(Default)]
pub struct WarmStep {
    /// As the bench's client waits for it.
    pub times: Samples,
    /// The node's own working time (its Server-Timing header).
    pub server: Samples,
    pub counters: Counters,
    pub errors: u64,
}

/// What the node kept after showing the mailbox's first page in one more
/// sort order: the sorted UID list, plus the rows of that page and of the
/// next one (prefetched).
pub struct OrderCost {
    pub order: &'static str,
    /// Growth of the cache's own weighing (`mailfront_cache_bytes`).
    pub weighed: i64,
    /// Growth of the bench process's live heap, where the node runs.
    pub heap: i64,
}

/// What one mailbox costs through mailfront.
#[derive(Default)]
pub struct Through {
    /// The first page after sign-in, each sample on a node just started
    /// (its pool and cache empty).
    pub first_page: Samples,
    /// The node's own working time for that page.
    pub first_page_server: Samples,
    pub next: WarmStep,
    pub prev: WarmStep,
    pub message: WarmStep,
    pub back: WarmStep,
    /// One entry per sort order but the default.
    pub orders: Vec<OrderCost>,
    /// The cache's weighing once every order was shown.
    pub cache_bytes: u64,
}

/// Everything measured on one mailbox.
pub struct SizeRun {
    pub account: Account,
    pub raw: RawImap,
    pub through: Through,
}

/// Every size in turn; `None` when the corpus is absent.
pub async fn measure(
    dovecot: &Dovecot,
    source: &MailSource,
    sizes: &[usize],
    samples: usize,
) -> Result<Option<Vec<SizeRun>>, String> {
    if !source.is_corpus() {
        eprintln!("sizes: skipped; ../shared/corpus is absent and generated mail is too slow");
        return Ok(None);
    }

    let mut runs = Vec::new();
    for &size in sizes {
        eprintln!("sizes: loading {size} messages");
        let (user, password) = dovecot.new_user("size");
        let started = Instant::now();
        let account = demo::fill_inbox(dovecot, source, &user, &password, size)?;
        let load = started.elapsed();

        eprintln!("sizes: raw IMAP on {} messages", account.messages);
        let raw = RawImap {
            load,
            ..raw_imap(dovecot, &account, samples)?
        };

        eprintln!("sizes: mailfront on {} messages", account.messages);
        let through = through_mailfront(dovecot, &account, samples).await?;
        runs.push(SizeRun {
            account,
            raw,
            through,
        });
    }
    Ok(Some(runs))
}

/// Times SELECT, SORT and FETCH on one connection of `account`.
fn raw_imap(dovecot: &Dovecot, account: &Account, samples: usize) -> Result<RawImap, String> {
    let mut raw = RawImap::default();
    for _ in 0..samples.min(5) {
        let started = Instant::now();
        let client = dovecot.try_client(&account.user, &account.password)?;
        raw.login.push(started.elapsed());
        client.logout();
    }

    let mut client = dovecot.try_client(&account.user, &account.password)?;
    let started = Instant::now();
    command(&mut client, "SELECT INBOX")?;
    let uids = sorted_uids(&command(&mut client, SORT)?);
    raw.first_select_sort = started.elapsed();
    let window: Vec<String> = uids.iter().take(PAGE_ROWS).map(u32::to_string).collect();
    let fetch = format!("UID FETCH {} {ROW_ITEMS}", window.join(","));

    for _ in 0..samples {
        let sort = timed(|| command(&mut client, SORT))?;
        let rows = timed(|| command(&mut client, &fetch))?;
        raw.sort_fetch.push(sort + rows);
    }
    client.logout();

    // The cold comparison: each sample on a connection that has just logged
    // in (the login not timed), as mailfront's first view of a mailbox is.
    for _ in 0..samples {
        let mut fresh = dovecot.try_client(&account.user, &account.password)?;
        let select = timed(|| command(&mut fresh, "SELECT INBOX"))?;
        let sort = timed(|| command(&mut fresh, SORT))?;
        let rows = timed(|| command(&mut fresh, &fetch))?;
        raw.select.push(select);
        raw.sort.push(sort);
        raw.fetch.push(rows);
        raw.select_sort_fetch.push(select + sort + rows);
        fresh.logout();
    }
    Ok(raw)
}

/// Signs in, shows the first page, then cycles Next, Prev, a message, Back.
async fn through_mailfront(
    dovecot: &Dovecot,
    account: &Account,
    samples: usize,
) -> Result<Through, String> {
    let mut through = Through::default();
    for sample in 1..samples {
        let name = format!("sizes-{}-cold-{sample}", account.messages);
        let node = nodes::start(dovecot, &name, Mode::Pooled).await;
        let (_, times) = Session::sign_in(&node.base, &account.user, &account.password).await?;
        through.first_page.push(times.first_page);
        if let Some(server) = times.first_page_server {
            through.first_page_server.push(server);
        }
        node.stop().await;
    }

    let node = nodes::start(
        dovecot,
        &format!("sizes-{}", account.messages),
        Mode::Pooled,
    )
    .await;
    let (mut session, times) =
        Session::sign_in(&node.base, &account.user, &account.password).await?;
    through.first_page.push(times.first_page);
    if let Some(server) = times.first_page_server {
        through.first_page_server.push(server);
    }

    for _ in 0..samples {
        counted(&mut session, &mut through.next, Click::Next).await?;
        counted(&mut session, &mut through.prev, Click::Prev).await?;
        if let Some(link) = session.links().first().cloned() {
            counted(&mut session, &mut through.message, Click::Open(link)).await?;
        }
        counted(&mut session, &mut through.back, Click::Back).await?;
    }
    through.orders = order_costs(&mut session, &node.base).await?;
    through.cache_bytes = Counters::read(&session.browser).await?.cache_bytes;
    node.stop().await;
    Ok(through)
}

/// Shows the mailbox's first page in every other sort order, one at a
/// time, and notes what the node kept from each, once its background work
/// (the prefetch of the next page) has ended.
async fn order_costs(session: &mut Session, base: &str) -> Result<Vec<OrderCost>, String> {
    app::background_settled(base).await;
    let mut costs = Vec::new();
    for order in app::SORT_ORDERS.into_iter().skip(1) {
        let weighed_before = Counters::read(&session.browser).await?.cache_bytes;
        let heap_before = heap::live_bytes();

        let view = session
            .folder_page(&format!("/mail/INBOX?sort={order}"))
            .await;
        view.outcome?;
        app::background_settled(base).await;

        let weighed_after = Counters::read(&session.browser).await?.cache_bytes;
        costs.push(OrderCost {
            order,
            weighed: weighed_after as i64 - weighed_before as i64,
            heap: heap::live_bytes() - heap_before,
        });
    }
    Ok(costs)
}

/// What a person clicks on.
enum Click {
    /// The Next link of the folder page shown.
    Next,
    /// The Previous link of the folder page shown.
    Prev,
    /// A message link of the folder page shown.
    Open(String),
    /// The browser's Back button, from a message to its folder page.
    Back,
}

/// Makes one view and adds its time and counter deltas to `step`.
async fn counted(session: &mut Session, step: &mut WarmStep, click: Click) -> Result<(), String> {
    let before = Counters::read(&session.browser).await?;
    let made = match click {
        Click::Next => session.click_next().await,
        Click::Prev => session.click_prev().await,
        Click::Open(link) => session.open(&link).await,
        Click::Back => session.go_back().await,
    };
    let after = Counters::read(&session.browser).await?;
    let delta = after.since(&before);

    match made.outcome {
        Ok(()) => {
            step.times.push(made.elapsed);
            if let Some(server) = made.server {
                step.server.push(server);
            }
        }
        Err(_) => step.errors += 1,
    }
    step.counters.commands += delta.commands;
    step.counters.logins += delta.logins;
    step.counters.page_views += delta.page_views;
    step.counters.validity_checks = match (step.counters.validity_checks, delta.validity_checks) {
        (None, Some(d)) => Some(d),
        (Some(sum), Some(d)) => Some(sum + d),
        (sum, None) => sum,
    };
    Ok(())
}

fn timed<T>(work: impl FnOnce() -> Result<T, String>) -> Result<Duration, String> {
    let started = Instant::now();
    work()?;
    Ok(started.elapsed())
}

fn command(client: &mut ImapTestClient, line: &str) -> Result<Vec<String>, String> {
    client
        .command(line)
        .map_err(|e| format!("{line} failed; {e}"))
}

/// A view's time as a multiple of the raw commands it is compared with.
fn ratio_to_raw(cold: Option<Duration>, raw: Option<Duration>) -> String {
    match (cold, raw) {
        (Some(cold), Some(raw)) if !raw.is_zero() => {
            format!("{:.2}×", cold.as_secs_f64() / raw.as_secs_f64())
        }
        _ => "–".to_owned(),
    }
}

fn median_of(values: &[f64]) -> Option<f64> {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted.get(sorted.len() / 2).copied()
}

/// The UIDs of a `* SORT` response, in order.
fn sorted_uids(lines: &[String]) -> Vec<u32> {
    lines
        .iter()
        .filter_map(|line| line.strip_prefix("* SORT"))
        .flat_map(|rest| rest.split_whitespace().filter_map(|n| n.parse().ok()))
        .collect()
}

/// The section's two tables, or why it did not run.
pub fn report(runs: Option<&[SizeRun]>, samples: usize) -> String {
    let Some(runs) = runs else {
        return "### Mailbox sizes\n\nNot measured: ../shared/corpus is absent.\n".to_owned();
    };

    let mut raw = Table::new(&[
        ">messages",
        ">load s",
        ">connect + LOGIN ms",
        ">first SELECT + SORT after load ms",
        ">SELECT ms",
        ">UID SORT ms",
        ">UID FETCH 20 ms",
        ">SELECT + SORT + FETCH ms",
        ">SORT + FETCH, selected ms",
    ]);
    for run in runs {
        let r = &run.raw;
        raw.row(vec![
            run.account.messages.to_string(),
            format!("{:.1}", r.load.as_secs_f64()),
            ms(r.login.median()),
            ms(Some(r.first_select_sort)),
            ms(r.select.median()),
            ms(r.sort.median()),
            ms(r.fetch.median()),
            ms(r.select_sort_fetch.median()),
            ms(r.sort_fetch.median()),
        ]);
    }

    let mut web = Table::new(&[
        ">messages",
        ">first page after sign-in, fresh node ms",
        ">÷ raw SELECT + SORT + FETCH",
        ">target 1.2 × raw + 1 ms",
        ">Next ms",
        ">Prev ms",
        ">message ms",
        ">Back ms",
        ">IMAP commands / warm view",
        ">validity checks / warm view",
        ">errors",
    ]);
    for run in runs {
        let t = &run.through;
        let steps = [&t.next, &t.prev, &t.message, &t.back];
        let views: u64 = steps.iter().map(|s| s.times.len() as u64).sum();
        let commands: u64 = steps.iter().map(|s| s.counters.commands).sum();
        let checks: Option<u64> = steps.iter().map(|s| s.counters.validity_checks).sum();
        let errors: u64 = steps.iter().map(|s| s.errors).sum();
        web.row(vec![
            run.account.messages.to_string(),
            ms(t.first_page.median()),
            ratio_to_raw(t.first_page.median(), run.raw.select_sort_fetch.median()),
            ms(run
                .raw
                .select_sort_fetch
                .median()
                .map(|raw| raw.mul_f64(1.2) + Duration::from_millis(1))),
            ms(t.next.times.median()),
            ms(t.prev.times.median()),
            ms(t.message.times.median()),
            ms(t.back.times.median()),
            fixed(rate(commands, views, 1.0), 1),
            fixed(checks.and_then(|c| rate(c, views, 1.0)), 2),
            errors.to_string(),
        ]);
    }

    let mut server = Table::new(&[
        ">messages",
        ">first page after sign-in, node's time ms",
        ">raw UID FETCH 20, selected ms",
        ">Next, node's time ms",
        ">Prev, node's time ms",
        ">Back, node's time ms",
        ">message, node's time ms",
        ">slowest warm page ÷ raw FETCH",
        ">target",
    ]);
    for run in runs {
        let t = &run.through;
        let raw_fetch = run.raw.fetch.median();
        let slowest = [&t.next, &t.prev, &t.back]
            .iter()
            .filter_map(|step| step.server.median())
            .max();
        server.row(vec![
            run.account.messages.to_string(),
            ms(t.first_page_server.median()),
            ms(raw_fetch),
            ms(t.next.server.median()),
            ms(t.prev.server.median()),
            ms(t.back.server.median()),
            ms(t.message.server.median()),
            ratio_to_raw(slowest, raw_fetch),
            "≤ 1.00×".to_owned(),
        ]);
    }

    let mut memory = Table::new(&[
        ">messages",
        ">cache, all 10 orders shown, MiB",
        ">one more order, weighed, bytes / message",
        ">one more order, live heap, bytes / message",
        ">live heap, fewest – most",
    ]);
    for run in runs {
        let t = &run.through;
        let messages = run.account.messages.max(1) as f64;
        let per_message = |bytes: i64| bytes as f64 / messages;
        let weighed: Vec<f64> = t.orders.iter().map(|c| per_message(c.weighed)).collect();
        let heap: Vec<f64> = t.orders.iter().map(|c| per_message(c.heap)).collect();
        memory.row(vec![
            run.account.messages.to_string(),
            format!("{:.2}", t.cache_bytes as f64 / (1 << 20) as f64),
            fixed(median_of(&weighed), 2),
            fixed(median_of(&heap), 2),
            match (
                t.orders.iter().min_by_key(|c| c.heap),
                t.orders.iter().max_by_key(|c| c.heap),
            ) {
                (Some(low), Some(high)) => format!(
                    "{:.2} ({}) – {:.2} ({})",
                    per_message(low.heap),
                    low.order,
                    per_message(high.heap),
                    high.order
                ),
                _ => "–".to_owned(),
            },
        ]);
    }

    format!(
        "### Mailbox sizes: raw IMAP on one open connection (medians of {samples})\n\n{}\n\
         ### Mailbox sizes: through mailfront, pooled (medians of {samples} fresh nodes and cycles)\n\n{}\n\
         ### Mailbox sizes: the node's own time, warm pages against raw FETCH (medians)\n\n{}\n\
         ### Mailbox sizes: memory of one more sort order (its UID list, and the rows of its first two pages)\n\n{}",
        raw.render(),
        web.render(),
        server.render(),
        memory.render()
    )
}
