//! Mailbox-level data: list entries, STATUS results and the selected mailbox.
//!
//! These are plain values filled in by the connection. Names are the server's
//! encoded names (modified UTF-7 or UTF-8), unescaped but otherwise unchanged,
//! so they can be sent back as they are; decode them for display with
//! [`crate::decode_mailbox_name`].

/// One entry of a LIST response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedMailbox {
    /// The name as the server sent it (quoting removed, still encoded).
    pub raw_name: String,
    /// The hierarchy delimiter; `None` for a flat name space (NIL).
    pub delimiter: Option<char>,
    /// Attributes as sent, e.g. `\Noselect`, `\HasChildren`, `\Sent`.
    pub attributes: Vec<String>,
}

impl ListedMailbox {
    /// True when the attribute (e.g. `\Noselect`) is present, in any case.
    pub fn has_attribute(&self, attribute: &str) -> bool {
        self.attributes
            .iter()
            .any(|a| a.eq_ignore_ascii_case(attribute))
    }

    /// False for `\Noselect` and `\NonExistent` entries, which cannot be
    /// selected.
    pub fn is_selectable(&self) -> bool {
        !self.has_attribute("\\Noselect") && !self.has_attribute("\\NonExistent")
    }

    /// The special-use attribute (RFC 6154), e.g. `\Sent`, if any.
    pub fn special_use(&self) -> Option<&str> {
        const USES: [&str; 7] = [
            "\\All",
            "\\Archive",
            "\\Drafts",
            "\\Flagged",
            "\\Junk",
            "\\Sent",
            "\\Trash",
        ];

        self.attributes
            .iter()
            .map(String::as_str)
            .find(|a| USES.iter().any(|u| u.eq_ignore_ascii_case(a)))
    }

    /// The display name: the decoded name, see [`crate::decode_mailbox_name`].
    pub fn decoded_name(&self) -> String {
        crate::decode_mailbox_name(&self.raw_name)
    }
}

/// The answer to STATUS; each field is `None` when the server left it out.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MailboxStatus {
    /// Number of messages.
    pub messages: Option<u32>,
    /// Number of messages without `\Seen`.
    pub unseen: Option<u32>,
    /// The next UID to be assigned.
    pub uidnext: Option<u32>,
    /// The UID validity value.
    pub uidvalidity: Option<u32>,
    /// The highest mod-sequence (CONDSTORE servers only).
    pub highestmodseq: Option<u64>,
}

/// The mailbox a connection has selected, kept current by the connection as
/// untagged responses arrive.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SelectedMailbox {
    /// The server's encoded name, as given to select.
    pub raw_name: String,
    /// True after EXAMINE or when the server answered `[READ-ONLY]`.
    pub read_only: bool,
    /// The number of messages, updated by EXISTS, EXPUNGE and VANISHED.
    pub exists: u32,
    /// The UID validity value; 0 if the server did not send one.
    pub uidvalidity: u32,
    /// The next UID, when the server sent it.
    pub uidnext: Option<u32>,
    /// The highest mod-sequence, when CONDSTORE is on and the server has
    /// mod-sequences for this mailbox.
    pub highestmodseq: Option<u64>,
    /// The flags defined in the mailbox (the FLAGS response).
    pub flags: Vec<String>,
}
