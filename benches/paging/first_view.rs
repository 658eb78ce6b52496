//! Section 2: how long a person waits for the first page after signing in,
//! and for a page view once the session is warm, on the demo mailbox.
//!
//! It owns a sequence of single-person visits: sign in, follow the redirect
//! to INBOX (the first page), make a fixed number of page views (Next, Prev
//! and an opened message now and then, as in the throughput runs), sign out.
//! Each sample is a fresh node visited twice: the first visit finds the
//! node's pool and cache empty (a person the node has not seen since it
//! started); the second comes back after signing out, which logged out the
//! idle connections but kept what the cache holds (a returning person).
//! Both pool modes are measured, one after the other.

use crate::browse::{Session, Walked};
use crate::demo::Account;
use crate::nodes::{self, Mode};
use crate::stats::{ms, Samples};
use crate::support::Dovecot;
use crate::table::Table;

/// Page views of each visit after its first page.
const WARM_VIEWS: u64 = 20;

/// The timings of one pool mode.
pub struct Visits {
    pub mode: Mode,
    /// The POST of the login form of a first visit.
    pub sign_in: Samples,
    /// The first page of a first visit to a fresh node.
    pub first_page: Samples,
    /// Sign-in plus first page of a first visit, visit by visit.
    pub to_inbox: Samples,
    /// The first page of a second visit to the same node.
    pub returning_first_page: Samples,
    /// The warm page views of every visit.
    pub warm: Walked,
}

/// The rows of the section's table.
const MEASURES: [&str; 7] = [
    "sign-in (POST /login, checks the password)",
    "first page after sign-in, fresh node (GET / → /mail/INBOX)",
    "sign-in + first page, fresh node",
    "first page after signing in again on the same node",
    "page view on a warm session (all kinds)",
    "folder page on a warm session (Next/Previous)",
    "message on a warm session",
];

impl Visits {
    /// The samples of row `index` of [`MEASURES`].
    fn measure(&self, index: usize) -> &Samples {
        match index {
            0 => &self.sign_in,
            1 => &self.first_page,
            2 => &self.to_inbox,
            3 => &self.returning_first_page,
            4 => &self.warm.views,
            5 => &self.warm.folder_pages,
            _ => &self.warm.messages,
        }
    }
}

/// `visits` fresh nodes per pool mode, each visited twice by `account`.
pub async fn measure(
    dovecot: &Dovecot,
    account: &Account,
    visits: usize,
) -> Result<Vec<Visits>, String> {
    let mut all = Vec::new();
    for mode in Mode::BOTH {
        eprintln!(
            "first view: {visits} nodes visited twice, {}",
            mode.setting()
        );
        let mut timings = Visits {
            mode,
            sign_in: Samples::default(),
            first_page: Samples::default(),
            to_inbox: Samples::default(),
            returning_first_page: Samples::default(),
            warm: Walked::default(),
        };

        for n in 0..visits {
            let name = format!("first-view-{}-{n}", mode.setting());
            let node = nodes::start(dovecot, &name, mode).await;
            for returning in [false, true] {
                let (mut session, times) =
                    Session::sign_in(&node.base, &account.user, &account.password).await?;
                if returning {
                    timings.returning_first_page.push(times.first_page);
                } else {
                    timings.sign_in.push(times.sign_in);
                    timings.first_page.push(times.first_page);
                    timings.to_inbox.push(times.sign_in + times.first_page);
                }
                timings.warm.merge(session.walk(WARM_VIEWS).await);
                session.sign_out().await?;
            }
            node.stop().await;
        }
        all.push(timings);
    }
    Ok(all)
}

/// The section's table: one row per measure, two columns per pool mode.
pub fn report(all: &[Visits], account: &Account) -> String {
    let mut headers = vec!["measure (one person, demo mailbox)".to_owned()];
    for visits in all {
        headers.push(format!(">{} median ms", visits.mode.setting()));
        headers.push(format!(">{} p99 ms", visits.mode.setting()));
    }
    let headers: Vec<&str> = headers.iter().map(String::as_str).collect();
    let mut table = Table::new(&headers);

    for (index, label) in MEASURES.iter().enumerate() {
        let mut cells = vec![(*label).to_owned()];
        for visits in all {
            cells.push(ms(visits.measure(index).median()));
            cells.push(ms(visits.measure(index).p99()));
        }
        table.row(cells);
    }

    let nodes = all.first().map_or(0, |v| v.sign_in.len());
    let mut out = format!(
        "### First page and warm page views ({nodes} fresh nodes per mode, each visited \
         twice, {WARM_VIEWS} warm views per visit, INBOX of {} messages)\n\n{}",
        account.messages,
        table.render()
    );
    for visits in all.iter().filter(|v| v.warm.errors > 0) {
        out.push_str(&format!(
            "\n- {}: {} failed warm page views, the first: {}\n",
            visits.mode.setting(),
            visits.warm.errors,
            visits.warm.first_error.as_deref().unwrap_or("?")
        ));
    }
    out
}
