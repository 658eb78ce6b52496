//! The ENVELOPE of a message (RFC 3501 section 7.4.2), as raw bytes.
//!
//! Fields keep the server's bytes: they may hold RFC 2047 encoded words or
//! raw 8-bit text, and decoding them is the caller's job. An empty string and
//! NIL both become `None`. Group syntax is folded into the members' `group`
//! field, so an empty group such as `undisclosed-recipients:;` produces no
//! address at all, never one without a mailbox or host.

/// The envelope of one message.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Envelope {
    /// The Date header, unparsed.
    pub date: Option<Vec<u8>>,
    /// The Subject header.
    pub subject: Option<Vec<u8>>,
    /// From addresses.
    pub from: Vec<Address>,
    /// Sender addresses; servers should copy From here when there is none,
    /// but some leave it empty (see [`Envelope::effective_sender`]).
    pub sender: Vec<Address>,
    /// Reply-To addresses; may be empty (see [`Envelope::effective_reply_to`]).
    pub reply_to: Vec<Address>,
    /// To addresses.
    pub to: Vec<Address>,
    /// Cc addresses.
    pub cc: Vec<Address>,
    /// Bcc addresses.
    pub bcc: Vec<Address>,
    /// The In-Reply-To header.
    pub in_reply_to: Option<Vec<u8>>,
    /// The Message-ID header.
    pub message_id: Option<Vec<u8>>,
}

impl Envelope {
    /// Sender, or From when the server sent no sender.
    pub fn effective_sender(&self) -> &[Address] {
        if self.sender.is_empty() {
            &self.from
        } else {
            &self.sender
        }
    }

    /// Reply-To, or From when the server sent no reply-to.
    pub fn effective_reply_to(&self) -> &[Address] {
        if self.reply_to.is_empty() {
            &self.from
        } else {
            &self.reply_to
        }
    }
}

/// One address of an envelope address list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Address {
    /// The display name (raw bytes, possibly RFC 2047 encoded).
    pub name: Option<Vec<u8>>,
    /// The obsolete source route, rarely present.
    pub route: Option<Vec<u8>>,
    /// The local part, before the `@`.
    pub mailbox: Option<Vec<u8>>,
    /// The domain, after the `@`.
    pub host: Option<Vec<u8>>,
    /// The name of the group this address belongs to, if it was listed
    /// inside group syntax (`team: a@x, b@y;`).
    pub group: Option<Vec<u8>>,
}

impl Address {
    /// `mailbox@host`, or the mailbox alone when there is no host; `None`
    /// when there is no mailbox.
    pub fn email(&self) -> Option<Vec<u8>> {
        let mut out = self.mailbox.clone()?;
        if let Some(host) = &self.host {
            out.push(b'@');
            out.extend_from_slice(host);
        }
        Some(out)
    }
}
