//! A window of a mailbox: the sorted UID list, cut into pages, and the list
//! rows of one page.
//!
//! The order comes from the server's SORT when it has the extension. Without
//! SORT only arrival order is available (UID SEARCH ALL, which is arrival
//! order); another order requested of such a server falls back to arrival
//! order, and the page says which order it shows.

use chrono::{DateTime, FixedOffset};
use mailfront_imap::{Address, Connection, MessageSummary, SearchCriteria};
use mailfront_mime::{decode_header, parse_date};

use super::{retry_read_once, MailError, MailService};
use crate::metrics::bump;
use crate::pool::Credentials;

/// What a folder is sorted by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortField {
    Arrival,
    Date,
    From,
    Subject,
    Size,
}

/// A sort field and its direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SortOrder {
    pub field: SortField,
    pub descending: bool,
}

impl Default for SortOrder {
    /// Newest arrival first.
    fn default() -> Self {
        SortOrder {
            field: SortField::Arrival,
            descending: true,
        }
    }
}

impl SortOrder {
    /// Every order a user can pick, in menu order.
    pub const ALL: [SortOrder; 10] = {
        const fn order(field: SortField, descending: bool) -> SortOrder {
            SortOrder { field, descending }
        }
        [
            order(SortField::Arrival, true),
            order(SortField::Arrival, false),
            order(SortField::Date, true),
            order(SortField::Date, false),
            order(SortField::From, false),
            order(SortField::From, true),
            order(SortField::Subject, false),
            order(SortField::Subject, true),
            order(SortField::Size, true),
            order(SortField::Size, false),
        ]
    };

    /// The token used in URLs, such as `date-desc`.
    pub fn token(self) -> String {
        let field = match self.field {
            SortField::Arrival => "arrival",
            SortField::Date => "date",
            SortField::From => "from",
            SortField::Subject => "subject",
            SortField::Size => "size",
        };
        let direction = if self.descending { "desc" } else { "asc" };
        format!("{field}-{direction}")
    }

    /// Reads a URL token; anything unknown is `None`.
    pub fn from_token(token: &str) -> Option<SortOrder> {
        SortOrder::ALL
            .into_iter()
            .find(|order| order.token() == token)
    }

    /// Words for the sort menu.
    pub fn label(self) -> &'static str {
        match (self.field, self.descending) {
            (SortField::Arrival, true) => "Newest arrival first",
            (SortField::Arrival, false) => "Oldest arrival first",
            (SortField::Date, true) => "Newest date first",
            (SortField::Date, false) => "Oldest date first",
            (SortField::From, false) => "Sender A–Z",
            (SortField::From, true) => "Sender Z–A",
            (SortField::Subject, false) => "Subject A–Z",
            (SortField::Subject, true) => "Subject Z–A",
            (SortField::Size, true) => "Largest first",
            (SortField::Size, false) => "Smallest first",
        }
    }
}

/// One row of the message list, decoded for display.
#[derive(Debug, Clone)]
pub struct MessageRow {
    pub uid: u32,
    /// The first sender's name, or address; `None` when the message names none.
    pub from: Option<String>,
    /// The first recipient's name or address, for folders of sent mail.
    pub to: Option<String>,
    pub subject: Option<String>,
    /// The Date header, or the arrival time when that is missing or unreadable.
    pub date: Option<DateTime<FixedOffset>>,
    pub size: Option<u32>,
    pub unread: bool,
    pub flagged: bool,
    pub answered: bool,
    pub has_attachments: bool,
}

/// One page of a mailbox.
#[derive(Debug, Clone)]
pub struct MailboxPage {
    pub raw_name: String,
    pub uidvalidity: u32,
    /// Messages in the mailbox.
    pub total: usize,
    /// The page shown, from 1; out-of-range requests are clamped.
    pub page: usize,
    pub page_count: usize,
    /// The order actually used (may differ from the one asked for on a server without SORT).
    pub sort: SortOrder,
    pub rows: Vec<MessageRow>,
}

impl MailService {
    /// Page `page` (from 1, clamped to the pages that exist) of a mailbox.
    pub async fn mailbox_page(
        &self,
        credentials: &Credentials,
        raw_name: &str,
        page: i64,
        sort: SortOrder,
    ) -> Result<MailboxPage, MailError> {
        retry_read_once!(
            self,
            self.mailbox_page_once(credentials, raw_name, page, sort)
                .await
        )
    }

    async fn mailbox_page_once(
        &self,
        credentials: &Credentials,
        raw_name: &str,
        page: i64,
        sort: SortOrder,
    ) -> Result<MailboxPage, MailError> {
        let mut connection = self.pool.borrow(credentials, Some(raw_name)).await?;
        let uidvalidity = self.ensure_selected(&mut connection, raw_name).await?;
        let (uids, sort) = self.sorted_uids(&mut connection, sort).await?;

        let total = uids.len();
        let page_count = total.div_ceil(self.page_size).max(1);
        let page = usize::try_from(page.max(1)).unwrap_or(1).min(page_count);
        let start = (page - 1) * self.page_size;
        let window = &uids[start.min(total)..(start + self.page_size).min(total)];

        bump(&self.metrics.commands.fetch);
        let summaries = connection.fetch_summaries(window).await?;
        let rows = summaries.iter().map(row_from_summary).collect();
        Ok(MailboxPage {
            raw_name: raw_name.to_owned(),
            uidvalidity,
            total,
            page,
            page_count,
            sort,
            rows,
        })
    }

    /// Selects the mailbox unless the connection has it selected already, and
    /// returns its UIDVALIDITY.
    pub(crate) async fn ensure_selected(
        &self,
        connection: &mut Connection,
        raw_name: &str,
    ) -> Result<u32, MailError> {
        if let Some(selected) = connection.selected() {
            if selected.raw_name == raw_name && !selected.read_only {
                return Ok(selected.uidvalidity);
            }
        }
        bump(&self.metrics.commands.select);
        let selected = connection.select(raw_name, false).await?;
        Ok(selected.uidvalidity)
    }

    async fn sorted_uids(
        &self,
        connection: &mut Connection,
        wanted: SortOrder,
    ) -> Result<(Vec<u32>, SortOrder), MailError> {
        if connection.capabilities().sort() {
            bump(&self.metrics.commands.sort);
            let keys = super::sort_keys(wanted);
            let uids = connection.uid_sort(&keys, &SearchCriteria::All).await?;
            return Ok((uids, wanted));
        }

        bump(&self.metrics.commands.search);
        let mut uids = connection.uid_search(&SearchCriteria::All).await?;
        let used = SortOrder {
            field: SortField::Arrival,
            descending: wanted.field != SortField::Arrival || wanted.descending,
        };
        if used.descending {
            uids.reverse();
        }
        Ok((uids, used))
    }
}

fn row_from_summary(summary: &MessageSummary) -> MessageRow {
    let envelope = &summary.envelope;
    let has_flag = |flag: &str| summary.flags.iter().any(|f| f.eq_ignore_ascii_case(flag));
    let date = envelope
        .date
        .as_deref()
        .and_then(|raw| parse_date(&String::from_utf8_lossy(raw)))
        .or(summary.internal_date);

    MessageRow {
        uid: summary.uid,
        from: first_person(&envelope.from),
        to: first_person(&envelope.to),
        subject: envelope
            .subject
            .as_deref()
            .map(decode_header)
            .filter(|s| !s.trim().is_empty()),
        date,
        size: summary.size,
        unread: !has_flag("\\Seen"),
        flagged: has_flag("\\Flagged"),
        answered: has_flag("\\Answered"),
        has_attachments: summary.has_attachments(),
    }
}

/// The display name of the first real mailbox in an address list, or its
/// address; group markers and empty entries are skipped.
pub(crate) fn first_person(addresses: &[Address]) -> Option<String> {
    addresses.iter().find_map(|address| {
        let name = address
            .name
            .as_deref()
            .map(decode_header)
            .filter(|n| !n.trim().is_empty());
        let email = match (&address.mailbox, &address.host) {
            (Some(mailbox), Some(host)) => Some(format!(
                "{}@{}",
                String::from_utf8_lossy(mailbox),
                String::from_utf8_lossy(host)
            )),
            _ => None,
        };
        match (name, email) {
            (Some(name), _) => Some(name),
            (None, Some(email)) => Some(email),
            (None, None) => None,
        }
    })
}
