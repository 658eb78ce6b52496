//! The values the client hands to its callers and takes from them.
//!
//! Nothing here does I/O or knows the wire syntax: parsing into these types
//! lives in `wire`, encoding from them in `command`.

mod body;
mod capabilities;
mod envelope;
mod event;
mod mailbox;
mod search;
mod sort_keys;
mod summary;

pub use body::{BodyPart, BodyStructure, Disposition, Multipart};
pub use capabilities::Capabilities;
pub use envelope::{Address, Envelope};
pub use event::{MailboxEvent, NewsMark};
pub use mailbox::{ListedMailbox, MailboxStatus, SelectedMailbox};
pub use search::{FlagOp, SearchCriteria, SortField, SortKey};
pub use sort_keys::SortKeys;
pub use summary::MessageSummary;
