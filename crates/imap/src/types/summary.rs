//! One row of a message list: what `fetch_summaries` returns per message.
//!
//! A summary is assembled from the FETCH items UID, FLAGS, INTERNALDATE,
//! RFC822.SIZE, ENVELOPE and BODYSTRUCTURE. Items the server left out stay
//! empty; a summary always has a UID.

use chrono::{DateTime, FixedOffset};

use super::{BodyStructure, Envelope};

/// One message as shown in a list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MessageSummary {
    /// The message's UID.
    pub uid: u32,
    /// Its flags as sent, e.g. `\Seen`, `$Forwarded`.
    pub flags: Vec<String>,
    /// The server's arrival date (INTERNALDATE), if sent and parseable.
    pub internal_date: Option<DateTime<FixedOffset>>,
    /// RFC822.SIZE in bytes.
    pub size: Option<u32>,
    /// The envelope; all empty when the server sent none.
    pub envelope: Envelope,
    /// The body structure, when the server sent a parseable one.
    pub body: Option<BodyStructure>,
}

impl MessageSummary {
    /// True when the body structure shows an attachment, see
    /// [`BodyStructure::has_attachments`]; false without a body structure.
    pub fn has_attachments(&self) -> bool {
        self.body
            .as_ref()
            .is_some_and(BodyStructure::has_attachments)
    }

    /// True when the flag (e.g. `\Seen`) is set, in any case.
    pub fn has_flag(&self, flag: &str) -> bool {
        self.flags.iter().any(|f| f.eq_ignore_ascii_case(flag))
    }
}
