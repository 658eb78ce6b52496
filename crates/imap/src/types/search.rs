//! What a caller may ask for in SEARCH, SORT and STORE (RFC 3501 section
//! 6.4.4, RFC 5256).
//!
//! These are values only; turning them into protocol text, with quoting that
//! no user input can escape, is done by the command encoder.

use chrono::NaiveDate;

/// A field to sort by (RFC 5256 section 3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortField {
    /// ARRIVAL: the internal date.
    Arrival,
    /// DATE: the Date header, falling back to the internal date.
    Date,
    /// FROM: the first From mailbox.
    From,
    /// SUBJECT: the base subject.
    Subject,
    /// SIZE: RFC822.SIZE.
    Size,
    /// CC: the first Cc mailbox.
    Cc,
    /// TO: the first To mailbox.
    To,
}

/// One sort criterion: a field, optionally reversed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SortKey {
    /// The field.
    pub field: SortField,
    /// True for descending order (REVERSE).
    pub reverse: bool,
}

impl SortKey {
    /// Ascending order of `field`.
    pub fn ascending(field: SortField) -> Self {
        Self {
            field,
            reverse: false,
        }
    }

    /// Descending order of `field`.
    pub fn descending(field: SortField) -> Self {
        Self {
            field,
            reverse: true,
        }
    }
}

/// A search condition. Strings are sent as quoted strings or literals as
/// needed, with CHARSET UTF-8 when any is not ASCII.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SearchCriteria {
    /// Every message.
    All,
    /// These UIDs; an empty list matches nothing.
    Uids(Vec<u32>),
    /// Every UID from this one on (`UID n:*`). The server includes the
    /// highest UID even when it is below `n`, so callers filter the answer.
    UidsFrom(u32),
    /// The text anywhere in headers or body.
    Text(String),
    /// The From header contains the text.
    From(String),
    /// The To header contains the text.
    To(String),
    /// The Cc header contains the text.
    Cc(String),
    /// The Subject header contains the text.
    Subject(String),
    /// The body contains the text.
    Body(String),
    /// The named header contains the text.
    Header(String, String),
    /// Internal date on or after the day.
    Since(NaiveDate),
    /// Internal date before the day.
    Before(NaiveDate),
    /// Internal date on the day.
    On(NaiveDate),
    /// Date header on or after the day (`SENTSINCE`), its time and zone
    /// disregarded.
    SentSince(NaiveDate),
    /// Date header before the day (`SENTBEFORE`), its time and zone
    /// disregarded.
    SentBefore(NaiveDate),
    /// Without `\Seen`.
    Unseen,
    /// With `\Seen`.
    Seen,
    /// With `\Flagged`.
    Flagged,
    /// Without `\Flagged`.
    Unflagged,
    /// With `\Answered`.
    Answered,
    /// With `\Deleted`.
    Deleted,
    /// Without `\Deleted`.
    Undeleted,
    /// With `\Draft`.
    Draft,
    /// With the keyword (must be a valid atom).
    Keyword(String),
    /// RFC822.SIZE larger than the number.
    Larger(u32),
    /// RFC822.SIZE smaller than the number.
    Smaller(u32),
    /// The condition does not hold.
    Not(Box<SearchCriteria>),
    /// Either condition holds.
    Or(Box<SearchCriteria>, Box<SearchCriteria>),
    /// Every condition holds; an empty list means all messages.
    And(Vec<SearchCriteria>),
}

/// Whether STORE adds or removes flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlagOp {
    /// `+FLAGS.SILENT`.
    Add,
    /// `-FLAGS.SILENT`.
    Remove,
}
