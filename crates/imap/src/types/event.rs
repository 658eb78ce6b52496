//! News about the selected mailbox that arrived outside a command's own
//! answer: the connection queues them, the caller drains them with
//! `take_events` to keep its cache true.
//!
//! Events are facts in the order the server sent them. The queue is bounded;
//! when it overflows, older events are dropped and
//! [`MailboxEvent::EventsDropped`] tells the caller to revalidate.

/// Something the server reported on its own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MailboxEvent {
    /// The mailbox now holds this many messages (EXISTS).
    Exists(u32),
    /// The message with this sequence number was expunged; later sequence
    /// numbers shift down by one.
    Expunged {
        /// The sequence number before the expunge.
        seq: u32,
    },
    /// These UIDs were expunged (VANISHED, when QRESYNC is on).
    Vanished(Vec<u32>),
    /// A message's flags changed (an unsolicited FETCH).
    FlagsChanged {
        /// The message's sequence number.
        seq: u32,
        /// Its UID, when the server included it.
        uid: Option<u32>,
        /// The complete new flag list.
        flags: Vec<String>,
    },
    /// An `[ALERT]` text, which the protocol says must reach the user.
    Alert(String),
    /// The selected mailbox's UID validity changed: every cached UID is void.
    UidValidityChanged {
        /// The value known before.
        old: u32,
        /// The new value.
        new: u32,
    },
    /// The queue overflowed and earlier events were lost, or the server said
    /// NO or BAD about the selected mailbox outside a command's answer:
    /// revalidate.
    EventsDropped,
}

/// How far a caller has taken the news of a connection's selected mailbox:
/// which selection it is (no two SELECTs in one process share a number) and
/// how many events have been taken from it so far.
///
/// Two equal marks mean no event was taken in between. A cache checked
/// against the server on this connection at some mark, that finds the
/// connection still at that mark with an empty queue after NOOP, missed
/// nothing the server told this connection since.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct NewsMark {
    /// The selection, numbered when its SELECT completed.
    pub selection: u64,
    /// Events taken from this selection.
    pub taken: u64,
}
