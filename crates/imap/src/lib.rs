//! mailfront's IMAP client: one connection to an IMAP server, with typed
//! commands, a tolerant response parser, TLS and timeouts.
//!
//! This crate owns the protocol and nothing above it: no pooling, retrying,
//! caching or rendering, and it never decodes mail (envelope fields stay raw
//! bytes). A [`Connection`] runs one command at a time; every socket wait is
//! bounded by a [`Timeouts`] value, and any failure that could leave the
//! stream out of sync makes the connection unusable for good
//! ([`Connection::is_usable`]). Passwords travel in [`Secret`] and never
//! reach a log or an error.
//!
//! Modules follow the protocol's concerns: `wire` reads what servers send
//! (framing, tokens, responses, FETCH data, UID sets), `command` builds what
//! we send with safe quoting, `connection` runs commands and tracks the
//! selected mailbox, `types` holds the values exchanged with callers,
//! `mutf7` converts mailbox names, `quirks` names tolerated server
//! deviations.
//!
//! # Limitations
//!
//! - Authentication is LOGIN only: no AUTHENTICATE (PLAIN, XOAUTH2,
//!   OAUTHBEARER), so servers with LOGINDISABLED after TLS cannot be used.
//! - No IDLE and no NOTIFY: news arrives only with the next command (NOOP).
//! - No QRESYNC resynchronisation on SELECT: QRESYNC is enabled (so expunges
//!   arrive as VANISHED with UIDs) but SELECT does not pass known modseqs.
//! - No ESORT, THREAD, LIST-STATUS, COMPRESS, ID, NAMESPACE, BINARY or
//!   partial fetches; a message body is fetched whole, up to a size bound.
//! - APPEND sends a plain literal, so a message containing NUL bytes is
//!   refused by the server.
//! - Mailbox names that are not valid UTF-8 are skipped by LIST.
//! - Without MOVE and UIDPLUS, a move leaves the originals marked `\Deleted`.
//! - A PREAUTH greeting is refused, since this client always logs in.

#![warn(missing_docs)]

mod command;
mod connection;
mod error;
mod mutf7;
mod quirks;
mod secret;
mod types;
mod wire;

pub use connection::{tls_client_config, Connection, Security, Timeouts};
pub use error::{ImapError, RefusalKind, Stage};
pub use mutf7::{decode_mailbox_name, encode_mailbox_name, try_decode_mailbox_name};
pub use secret::Secret;
pub use types::{
    Address, BodyPart, BodyStructure, Capabilities, Disposition, Envelope, FlagOp, ListedMailbox,
    MailboxEvent, MailboxStatus, MessageSummary, Multipart, NewsMark, SearchCriteria,
    SelectedMailbox, SortField, SortKey, SortKeys,
};
pub use wire::frame::Limits;

/// Re-exported so callers can name the TLS configuration type.
pub use rustls;
