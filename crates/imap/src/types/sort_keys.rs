//! What sorting by the rules of RFC 5256 needs of one message: what
//! `fetch_sort_keys` returns per message.
//!
//! The values stay as the server sent them. Header values are the bytes after
//! the field's colon, unfolded but not decoded (no RFC 2047 words, no
//! charset), and the rules that turn them into sort keys (base subject, first
//! mailbox, sent date) belong to the caller. A value always has a UID.

use chrono::{DateTime, FixedOffset};

/// The raw sort keys of one message.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SortKeys {
    /// The message's UID.
    pub uid: u32,
    /// The server's arrival date (INTERNALDATE), if sent and parseable.
    pub internal_date: Option<DateTime<FixedOffset>>,
    /// RFC822.SIZE in bytes.
    pub size: Option<u32>,
    /// The first `Date:` field's value; `None` when the message has none.
    pub date: Option<Vec<u8>>,
    /// The first `From:` field's value; `None` when the message has none.
    pub from: Option<Vec<u8>>,
    /// The first `Subject:` field's value; `None` when the message has none.
    pub subject: Option<Vec<u8>>,
}
