//! The mail service: what each page needs from the IMAP server, asked for
//! through the pool.
//!
//! It knows folders, windows of a mailbox, searches and messages; it knows nothing of
//! HTTP, cookies or HTML. Every operation borrows one pooled connection for
//! its whole duration and gives it back before returning. A read-only
//! operation whose connection died under it (EOF, BYE, timeout) is retried
//! once on a fresh connection; an operation that changes state never is.

mod actions;
mod client_sort;
mod filing;
mod folders;
mod listing;
mod manage;
mod message;
mod query;
mod search;
mod sync;

use std::sync::Arc;

use mailfront_imap::ImapError;

use crate::cache::MailCache;
use crate::metrics::Metrics;
use crate::pool::{ImapPool, PoolError};
pub use actions::{ActionOutcome, FlagChange, Neighbour, Selection};
pub use filing::FiledCopy;
pub use folders::{Folder, FolderRole};
pub use listing::{MailboxPage, MessageRow, PageRequest, SortField, SortOrder};
pub use manage::{check_level_name, child_raw_name, parent_raw_name, NameProblem};
pub use message::OpenedMessage;
pub use query::{
    split_terms, DateBound, QueryProblem, SearchField, SearchInput, SearchQuery, MAX_TERMS,
    MAX_TEXT_BYTES,
};

/// What pages ask of the mail server.
#[derive(Clone)]
pub struct MailService {
    pool: ImapPool,
    cache: MailCache,
    /// Background prefetches that may run at once on this node.
    prefetch_slots: Arc<tokio::sync::Semaphore>,
    /// Accounts whose folder counts are being fetched in the background.
    folder_counting: folders::FolderCounting,
    metrics: Arc<Metrics>,
    page_size: usize,
    max_message_bytes: usize,
}

/// Why a mail operation did not give an answer.
#[derive(Debug, thiserror::Error)]
pub enum MailError {
    #[error("connection pool could not lend a connection")]
    Pool(#[from] PoolError),
    #[error("folder does not exist (any more)")]
    MailboxNotFound,
    #[error("message does not exist (any more)")]
    MessageGone,
    #[error("message is larger than this server shows ({limit} bytes)")]
    MessageTooLarge { limit: usize },
    #[error("mail server refused a search; try other words")]
    SearchRefused,
    #[error("a folder of that name exists already")]
    FolderExists,
    /// The server declined to create, rename, delete or (un)subscribe a
    /// folder; `code` is its response code, if it gave one.
    #[error("mail server refused the folder change")]
    FolderRefused {
        code: Option<String>,
        #[source]
        source: ImapError,
    },
    #[error("the account has no folder for {0:?}")]
    NoFolderWithRole(FolderRole),
    #[error("the mail server refused to store a message: the account is full")]
    OverQuota,
    #[error("mail server failed a command")]
    Imap(#[source] ImapError),
}

impl From<ImapError> for MailError {
    fn from(error: ImapError) -> MailError {
        match error {
            ImapError::MailboxNotFound { .. } => MailError::MailboxNotFound,
            ImapError::AlreadyExists { .. } => MailError::FolderExists,
            other => MailError::Imap(other),
        }
    }
}

impl MailError {
    /// Whether retrying on a fresh connection may succeed: the connection was
    /// lost and the operation did not change anything.
    fn connection_lost(&self) -> bool {
        match self {
            MailError::Imap(error) => error.is_connection_lost(),
            _ => false,
        }
    }
}

impl MailService {
    /// Approximate bytes the cache holds now.
    pub fn cache_bytes(&self) -> u64 {
        self.cache.weighted_size()
    }

    pub fn new(
        pool: ImapPool,
        cache: MailCache,
        metrics: Arc<Metrics>,
        page_size: usize,
        max_message_bytes: usize,
    ) -> Self {
        MailService {
            pool,
            cache,
            prefetch_slots: Arc::new(tokio::sync::Semaphore::new(4)),
            folder_counting: folders::FolderCounting::default(),
            metrics,
            page_size,
            max_message_bytes,
        }
    }

    pub fn pool(&self) -> &ImapPool {
        &self.pool
    }

    pub fn cache(&self) -> &MailCache {
        &self.cache
    }

    pub fn page_size(&self) -> usize {
        self.page_size
    }
}

/// Runs a read-only operation and, when its connection was lost under it,
/// once more on a fresh connection. `$attempt` is an expression that borrows
/// a connection, does the work and returns `Result<_, MailError>`.
macro_rules! retry_read_once {
    ($service:expr, $attempt:expr) => {{
        let first = $attempt;
        match first {
            Err(error) if error.connection_lost() => {
                tracing::debug!(%error, "connection lost during a read; retrying once");
                $crate::metrics::bump(&$service.metrics.pool_reconnects);
                $attempt
            }
            other => other,
        }
    }};
}
pub(crate) use retry_read_once;

/// The SORT keys of an order, always ascending: a descending order is the
/// ascending list reversed by the caller. Ties are broken by arrival, so
/// that pages are stable.
///
/// Asking the server for REVERSE keys would be equivalent by RFC 5256, but
/// Dovecot 2.3 answers `(REVERSE FROM REVERSE ARRIVAL)` in a wrong order on
/// a session that saw a message arrive after it first sorted (the new
/// message lands among older ones); `(FROM ARRIVAL)` stays right. The
/// freshness tests compare a long-lived session with a fresh one in every
/// order and caught this.
pub(crate) fn sort_keys(order: SortOrder) -> Vec<mailfront_imap::SortKey> {
    use mailfront_imap::{SortField as Imap, SortKey};

    let field = match order.field {
        SortField::Arrival => Imap::Arrival,
        SortField::Date => Imap::Date,
        SortField::From => Imap::From,
        SortField::Subject => Imap::Subject,
        SortField::Size => Imap::Size,
    };
    if field == Imap::Arrival {
        vec![SortKey::ascending(Imap::Arrival)]
    } else {
        vec![SortKey::ascending(field), SortKey::ascending(Imap::Arrival)]
    }
}
