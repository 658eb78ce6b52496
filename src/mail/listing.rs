//! A window of a mailbox: the sorted UID list, cut into pages, and the list
//! rows of one page.
//!
//! The order comes from the server's SORT when it has the extension, and is
//! computed by mailfront from the messages' sort keys by the same rules
//! (RFC 5256) when it has not; either way it is kept in the cache.

use chrono::{DateTime, FixedOffset};
use mailfront_imap::{Address, MessageSummary};
use mailfront_mime::{decode_header, parse_date};

use super::sync::lock;
use super::{retry_read_once, MailError, MailService};
use crate::cache::SharedMailbox;
use crate::metrics::bump;
use crate::pool::{Credentials, PooledConnection};

/// What a folder is sorted by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SortField {
    Arrival,
    Date,
    From,
    Subject,
    Size,
}

/// A sort field and its direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
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
    /// When the server received the message (INTERNALDATE).
    pub internal_date: Option<DateTime<FixedOffset>>,
    pub size: Option<u32>,
    /// The message's flags as the server last reported them.
    pub flags: Vec<String>,
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
    /// Messages in the list: the mailbox, or the matches of a search.
    pub total: usize,
    /// The page shown, from 1; out-of-range requests are clamped.
    pub page: usize,
    /// Position of the first row in the sorted list (from 0). A page that
    /// follows an anchor may start between two page boundaries.
    pub start: usize,
    pub page_count: usize,
    /// The order used: the one asked for, with or without SORT.
    pub sort: SortOrder,
    pub rows: Vec<MessageRow>,
    /// Unread messages, as the server last counted them.
    pub unseen: Option<u32>,
}

/// Which page of a mailbox to show.
#[derive(Debug, Clone, Copy, Default)]
pub struct PageRequest {
    /// Page number from 1; clamped to the pages that exist.
    pub page: i64,
    /// Start right after this UID when it is still in the list (a "Next"
    /// link), so that mail arriving meanwhile does not shift the page.
    pub after: Option<u32>,
    /// End right before this UID when it is still in the list ("Previous").
    pub before: Option<u32>,
}

impl MailService {
    /// One page of a mailbox, served from the cache once it is validated.
    pub async fn mailbox_page(
        &self,
        credentials: &Credentials,
        raw_name: &str,
        request: PageRequest,
        sort: SortOrder,
    ) -> Result<MailboxPage, MailError> {
        retry_read_once!(
            self,
            self.mailbox_page_once(credentials, raw_name, request, sort)
                .await
        )
    }

    async fn mailbox_page_once(
        &self,
        credentials: &Credentials,
        raw_name: &str,
        request: PageRequest,
        sort: SortOrder,
    ) -> Result<MailboxPage, MailError> {
        let account = credentials.user.as_str();
        let mut connection = self.pool.borrow(credentials, Some(raw_name)).await?;
        let state = self
            .validated_state(&mut connection, account, raw_name, sort)
            .await?;
        let (list, sort) = self
            .sorted_list(&mut connection, account, raw_name, &state, sort)
            .await?;
        self.page_of_list(
            connection,
            credentials,
            raw_name,
            &state,
            &list,
            request,
            sort,
        )
        .await
    }

    /// The page of `list` (UIDs of the validated `state`, in `sort` order)
    /// that `request` asks for, with the rows the cache lacks fetched on
    /// `connection`, which is given back before the rows of the next page
    /// are prefetched.
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn page_of_list(
        &self,
        mut connection: PooledConnection,
        credentials: &Credentials,
        raw_name: &str,
        state: &SharedMailbox,
        list: &[u32],
        request: PageRequest,
        sort: SortOrder,
    ) -> Result<MailboxPage, MailError> {
        let account = credentials.user.as_str();
        let total = list.len();
        let page_size = self.page_size;
        let page_count = total.div_ceil(page_size).max(1);
        let start = window_start(list, request, page_size, page_count);
        let window: Vec<u32> = list.iter().skip(start).take(page_size).copied().collect();

        let missing: Vec<u32> = {
            let known = lock(state);
            window
                .iter()
                .copied()
                .filter(|uid| !known.rows.contains_key(uid))
                .collect()
        };
        if !missing.is_empty() {
            self.ensure_selected(&mut connection, account, raw_name)
                .await?;
            bump(&self.metrics.commands.fetch);
            let fetched = connection.fetch_summaries(&missing).await?;
            let mut known = lock(state);
            for summary in &fetched {
                known.rows.insert(summary.uid, row_from_summary(summary));
            }
        }
        self.absorb_events(&mut connection, account);
        drop(connection);
        let next_window: Vec<u32> = list
            .iter()
            .skip(start + page_size)
            .take(page_size)
            .copied()
            .collect();
        self.prefetch_rows(credentials, raw_name, state, next_window);

        let (rows, uidvalidity, unseen) = {
            let known = lock(state);
            let rows = window
                .iter()
                .filter_map(|uid| known.rows.get(uid).cloned())
                .collect();
            (rows, known.uidvalidity, known.unseen)
        };
        self.cache.store_mailbox(account, raw_name, state.clone());
        Ok(MailboxPage {
            raw_name: raw_name.to_owned(),
            uidvalidity,
            total,
            page: start / page_size + 1,
            start,
            page_count,
            sort,
            rows,
            unseen,
        })
    }
}

/// Where the page starts: after or before an anchor UID still in the list,
/// else at the clamped page number.
fn window_start(list: &[u32], request: PageRequest, page_size: usize, page_count: usize) -> usize {
    if let Some(after) = request.after {
        if let Some(position) = list.iter().position(|uid| *uid == after) {
            if position + 1 < list.len() {
                return position + 1;
            }
        }
    }
    if let Some(before) = request.before {
        if let Some(position) = list.iter().position(|uid| *uid == before) {
            return position.saturating_sub(page_size);
        }
    }
    let page = usize::try_from(request.page.max(1))
        .unwrap_or(1)
        .min(page_count);
    (page - 1) * page_size
}

impl MessageRow {
    /// Approximate bytes the row holds in a cache's map: the record and its
    /// map slot, then its text, which a hostile message can make long.
    pub fn weight(&self) -> usize {
        let text = |value: &Option<String>| value.as_ref().map_or(0, String::len);
        let flags: usize = self.flags.iter().map(|flag| 24 + flag.len()).sum();
        std::mem::size_of::<Self>()
            + 16
            + text(&self.from)
            + text(&self.to)
            + text(&self.subject)
            + flags
    }

    /// Takes a new flag list, as reported by the server.
    pub fn set_flags(&mut self, flags: &[String]) {
        let has = |flag: &str| flags.iter().any(|f| f.eq_ignore_ascii_case(flag));
        self.unread = !has("\\Seen");
        self.flagged = has("\\Flagged");
        self.answered = has("\\Answered");
        self.flags = flags.to_vec();
    }
}

pub(crate) fn row_from_summary(summary: &MessageSummary) -> MessageRow {
    let envelope = &summary.envelope;
    let date = envelope
        .date
        .as_deref()
        .and_then(|raw| parse_date(&String::from_utf8_lossy(raw)))
        .or(summary.internal_date);

    let mut row = MessageRow {
        uid: summary.uid,
        from: first_person(&envelope.from),
        to: first_person(&envelope.to),
        subject: envelope
            .subject
            .as_deref()
            .map(decode_header)
            .filter(|s| !s.trim().is_empty()),
        date,
        internal_date: summary.internal_date,
        size: summary.size,
        flags: Vec::new(),
        unread: true,
        flagged: false,
        answered: false,
        has_attachments: summary.has_attachments(),
    };
    row.set_flags(&summary.flags);
    row
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_continues_after_the_last_row_seen_even_when_mail_arrived() {
        let list: Vec<u32> = (1..=45).rev().collect();
        let plain = PageRequest {
            page: 2,
            after: None,
            before: None,
        };
        assert_eq!(window_start(&list, plain, 20, 3), 20);

        let mut shifted = vec![47, 46];
        shifted.extend(&list);
        let anchored = PageRequest {
            page: 2,
            after: Some(26),
            before: None,
        };
        assert_eq!(shifted[window_start(&shifted, anchored, 20, 3)], 25);
    }

    #[test]
    fn an_anchor_that_vanished_falls_back_to_the_page_number() {
        let list: Vec<u32> = (1..=45).rev().collect();
        let request = PageRequest {
            page: 3,
            after: Some(999),
            before: None,
        };
        assert_eq!(window_start(&list, request, 20, 3), 40);
        let too_far = PageRequest {
            page: 99,
            after: None,
            before: None,
        };
        assert_eq!(window_start(&list, too_far, 20, 3), 40);
    }

    #[test]
    fn previous_ends_right_before_the_first_row_seen() {
        let list: Vec<u32> = (1..=45).rev().collect();
        let request = PageRequest {
            page: 1,
            after: None,
            before: Some(25),
        };
        assert_eq!(window_start(&list, request, 20, 3), 0);
    }
}
