//! What every session store offers, the errors it may report, and the
//! revision rule all stores apply on save.
//!
//! This module owns the contract, not a storage technique: `embedded` keeps
//! records in one local file, `memory` in the process, `redis` on a server
//! shared by several nodes. A store never sees a session id in clear nor a
//! password in clear: it files records under `SessionId::store_key` and the
//! password inside is sealed.
//!
//! Invariants every implementation keeps: an expired entry is never
//! returned; a save of a loaded record whose session was deleted or has
//! expired meanwhile is refused with `SessionEnded`, so a request still in
//! flight at logout cannot bring the session back.
//!
//! # Limitations
//!
//! A save does not detect a stale copy of a live session: the caller's copy
//! cannot learn the revision the store wrote, so a request that saves twice
//! would look stale. The session lock is what keeps requests of one session
//! from overwriting each other.

use std::error::Error;
use std::path::PathBuf;
use std::time::Duration;

use async_trait::async_trait;

use super::cookie::SessionId;
use super::record::SessionRecord;

/// Keeps session records between requests.
///
/// Callers hold the session's lock (see `lock`) from `load` to `save`, so
/// that requests of one session see each other's changes in order.
#[async_trait]
pub trait SessionStore: Send + Sync + 'static {
    /// The record of `id`, or `None` when there is none or it has expired.
    async fn load(&self, id: &SessionId) -> Result<Option<SessionRecord>, StoreError>;

    /// Stores `record` under `id` for `ttl` from now, with its revision
    /// bumped past both the stored one and the caller's.
    ///
    /// A record with revision 0 (fresh from `SessionRecord::new`) may
    /// create a session; any other record must find its session still live,
    /// or the save is refused with [`StoreError::SessionEnded`] and nothing
    /// changes. Saving the same record twice in one request is fine.
    async fn save(
        &self,
        id: &SessionId,
        record: &SessionRecord,
        ttl: Duration,
    ) -> Result<(), StoreError>;

    /// Like [`SessionStore::save`], from a request that holds its session
    /// under the fencing token `fence` (see `SessionLockGuard::fence`).
    /// A store shared by several nodes refuses the save with
    /// [`StoreError::LeaseLost`] when a newer token was handed out since,
    /// because the caller's lease then ran out while it worked. `None` means
    /// the caller's lock has no token (an in-process lock, which cannot run
    /// out) and saves unchecked.
    ///
    /// The default ignores the token: right for a store used with the
    /// in-process locks only.
    async fn save_fenced(
        &self,
        id: &SessionId,
        record: &SessionRecord,
        ttl: Duration,
        fence: Option<u64>,
    ) -> Result<(), StoreError> {
        let _ = fence;
        self.save(id, record, ttl).await
    }

    /// Removes the record of `id`; removing an absent record is not an error.
    async fn delete(&self, id: &SessionId) -> Result<(), StoreError>;
}

/// Why a session store could not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Another process holds the store file (redb locks it exclusively).
    #[error(
        "session store {} is already open in another process; stop that process or give \
         this one its own file",
        path.display()
    )]
    InUse {
        /// The file that is locked.
        path: PathBuf,
    },

    /// The store file could not be created or opened.
    #[error(
        "session store {} could not be opened; check that its folder exists and is writable",
        path.display()
    )]
    OpenFailed {
        /// The file that failed to open.
        path: PathBuf,
        /// What the storage engine reported.
        #[source]
        source: Box<dyn Error + Send + Sync>,
    },

    /// The store failed while reading or writing.
    #[error("session store is unavailable; check the disk or the store service and its log")]
    Unavailable {
        /// What the storage engine reported.
        #[source]
        source: Box<dyn Error + Send + Sync>,
    },

    /// A stored entry could not be decoded. The store removed it, so the
    /// session's user has to sign in again.
    #[error("stored session could not be decoded and was removed; the user must sign in again")]
    Corrupt {
        /// Why decoding failed.
        #[source]
        source: Box<dyn Error + Send + Sync>,
    },

    /// The caller's lease on the session ran out and another request got
    /// the session; this request's changes are dropped.
    #[error("session lease ran out while the request ran; the request must be repeated")]
    LeaseLost {
        /// Fencing token of the caller's lease.
        held: u64,
        /// Newest token handed out for the session.
        newest: u64,
    },

    /// The session of a loaded record was deleted (logout) or expired
    /// before the record was saved back; the user is signed out.
    #[error("session ended while the request ran; the user must sign in again")]
    SessionEnded {
        /// Revision of the record the caller tried to save.
        given: u64,
    },
}

/// The revision rule of `SessionStore::save`: given the revision in the
/// store (`None` when absent or expired) and the revision of the record to
/// save, the revision to store, or `SessionEnded`.
pub(crate) fn next_revision(stored: Option<u64>, given: u64) -> Result<u64, StoreError> {
    match stored {
        Some(current) => Ok(current.max(given).saturating_add(1)),
        None if given == 0 => Ok(1),
        None => Err(StoreError::SessionEnded { given }),
    }
}

/// Seconds of `ttl` rounded up, as an `i64`, saturating.
pub(crate) fn ttl_seconds(ttl: Duration) -> i64 {
    let whole = ttl
        .as_secs()
        .saturating_add(u64::from(ttl.subsec_nanos() > 0));
    i64::try_from(whole).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_session_saves_as_revision_one() {
        assert_eq!(next_revision(None, 0).unwrap(), 1);
    }

    #[test]
    fn a_save_from_the_loaded_revision_bumps_it() {
        assert_eq!(next_revision(Some(4), 4).unwrap(), 5);
    }

    #[test]
    fn saving_the_same_copy_twice_keeps_counting_up() {
        assert_eq!(next_revision(Some(5), 4).unwrap(), 6);
        assert_eq!(next_revision(Some(6), 4).unwrap(), 7);
    }

    #[test]
    fn a_caller_that_counts_ahead_is_not_moved_back() {
        assert_eq!(next_revision(Some(2), 9).unwrap(), 10);
    }

    #[test]
    fn a_save_after_the_session_ended_is_refused() {
        let refused = next_revision(None, 3).unwrap_err();

        assert!(matches!(refused, StoreError::SessionEnded { given: 3 }));
    }

    #[test]
    fn ttl_rounds_up_to_whole_seconds() {
        assert_eq!(ttl_seconds(Duration::from_millis(1)), 1);
        assert_eq!(ttl_seconds(Duration::from_secs(90)), 90);
        assert_eq!(ttl_seconds(Duration::MAX), i64::MAX);
    }

    #[test]
    fn error_messages_say_what_failed_and_what_to_try() {
        let in_use = StoreError::InUse {
            path: PathBuf::from("/var/lib/mailfront/sessions.redb"),
        };

        let text = in_use.to_string();

        assert!(text.starts_with("session store /var/lib/mailfront/sessions.redb is already"));
        assert!(text.contains("; stop that process"));
    }
}
