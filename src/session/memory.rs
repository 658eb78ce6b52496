//! A session store in process memory, for tests and for trying mailfront
//! out; sessions are lost when the process exits.
//!
//! It owns a map from store key to record and expiry. Expiry uses tokio's
//! clock, so a test that pauses time and advances it sees entries expire
//! without sleeping. It keeps the same contract as every store: expired
//! entries are never returned and a save never revives an ended session.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use tokio::time::Instant;

use super::cookie::SessionId;
use super::record::SessionRecord;
use super::store::{next_revision, SessionStore, StoreError};

/// Session records in a map guarded by a mutex.
///
/// Memory grows with the number of live sessions; expired ones are dropped
/// when loaded or by [`MemoryStore::purge_expired`].
#[derive(Debug, Default)]
pub struct MemoryStore {
    /// Records by store key. Every method takes the lock for a few map
    /// operations and releases it before returning; it is a blocking mutex
    /// because no `.await` happens while it is held, which a std mutex makes
    /// cheaper than tokio's.
    entries: Mutex<HashMap<String, MemoryEntry>>,
}

#[derive(Debug)]
struct MemoryEntry {
    expires_at: Instant,
    record: SessionRecord,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Removes every expired entry and returns how many there were.
    pub fn purge_expired(&self) -> usize {
        let now = Instant::now();
        let mut entries = self.entries();

        let before = entries.len();
        entries.retain(|_, entry| entry.expires_at > now);
        before - entries.len()
    }

    /// Live and not yet purged entries.
    pub fn len(&self) -> usize {
        self.entries().len()
    }

    /// Whether the store holds no entry.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn entries(&self) -> MutexGuard<'_, HashMap<String, MemoryEntry>> {
        // A panic while the lock was held cannot leave the map half-changed:
        // each operation is a single insert, remove or retain.
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[async_trait]
impl SessionStore for MemoryStore {
    async fn load(&self, id: &SessionId) -> Result<Option<SessionRecord>, StoreError> {
        let key = id.store_key();
        let mut entries = self.entries();

        match entries.get(&key) {
            Some(entry) if entry.expires_at > Instant::now() => Ok(Some(entry.record.clone())),
            Some(_) => {
                entries.remove(&key);
                Ok(None)
            }
            None => Ok(None),
        }
    }

    async fn save(
        &self,
        id: &SessionId,
        record: &SessionRecord,
        ttl: Duration,
    ) -> Result<(), StoreError> {
        let key = id.store_key();
        let now = Instant::now();
        let mut entries = self.entries();

        let stored = entries
            .get(&key)
            .filter(|entry| entry.expires_at > now)
            .map(|entry| entry.record.revision);
        let mut record = record.clone();
        record.revision = next_revision(stored, record.revision)?;

        let expires_at = now.checked_add(ttl).unwrap_or_else(|| far_future(now));
        entries.insert(key, MemoryEntry { expires_at, record });
        Ok(())
    }

    async fn delete(&self, id: &SessionId) -> Result<(), StoreError> {
        self.entries().remove(&id.store_key());
        Ok(())
    }
}

/// A time no session reaches, for ttls too large to add to `now`.
fn far_future(now: Instant) -> Instant {
    now + Duration::from_secs(100 * 365 * 24 * 60 * 60)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::cookie::SessionCookie;

    fn record() -> SessionRecord {
        SessionRecord::new("alice@example.org".to_owned(), vec![1, 2, 3], 1_700_000_000)
    }

    #[tokio::test(start_paused = true)]
    async fn saved_record_loads_back_with_its_revision_bumped() {
        let store = MemoryStore::new();
        let id = SessionCookie::generate().id;

        store
            .save(&id, &record(), Duration::from_secs(60))
            .await
            .unwrap();
        let loaded = store.load(&id).await.unwrap().expect("saved record loads");

        assert_eq!(loaded.user, "alice@example.org");
        assert_eq!(loaded.revision, 1);
    }

    #[tokio::test(start_paused = true)]
    async fn entry_expires_after_its_ttl() {
        let store = MemoryStore::new();
        let id = SessionCookie::generate().id;
        store
            .save(&id, &record(), Duration::from_secs(60))
            .await
            .unwrap();

        tokio::time::advance(Duration::from_secs(59)).await;
        assert!(store.load(&id).await.unwrap().is_some());

        tokio::time::advance(Duration::from_secs(1)).await;
        assert!(store.load(&id).await.unwrap().is_none());
        assert!(store.is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn a_record_saved_twice_in_one_request_keeps_the_last_state() {
        let store = MemoryStore::new();
        let id = SessionCookie::generate().id;
        store
            .save(&id, &record(), Duration::from_secs(60))
            .await
            .unwrap();
        let mut loaded = store.load(&id).await.unwrap().unwrap();

        store
            .save(&id, &loaded, Duration::from_secs(60))
            .await
            .unwrap();
        loaded.flash = Some("second".to_owned());
        store
            .save(&id, &loaded, Duration::from_secs(60))
            .await
            .unwrap();

        let stored = store.load(&id).await.unwrap().unwrap();
        assert_eq!(stored.flash.as_deref(), Some("second"));
        assert_eq!(stored.revision, 3);
    }

    #[tokio::test(start_paused = true)]
    async fn save_after_delete_does_not_bring_the_session_back() {
        let store = MemoryStore::new();
        let id = SessionCookie::generate().id;
        store
            .save(&id, &record(), Duration::from_secs(60))
            .await
            .unwrap();
        let loaded = store.load(&id).await.unwrap().unwrap();

        store.delete(&id).await.unwrap();
        let refused = store.save(&id, &loaded, Duration::from_secs(60)).await;

        assert!(matches!(
            refused,
            Err(StoreError::SessionEnded { given: 1 })
        ));
        assert!(store.load(&id).await.unwrap().is_none());
    }

    #[tokio::test(start_paused = true)]
    async fn purge_removes_only_expired_entries() {
        let store = MemoryStore::new();
        let short = SessionCookie::generate().id;
        let long = SessionCookie::generate().id;
        store
            .save(&short, &record(), Duration::from_secs(10))
            .await
            .unwrap();
        store
            .save(&long, &record(), Duration::from_secs(100))
            .await
            .unwrap();

        tokio::time::advance(Duration::from_secs(50)).await;

        assert_eq!(store.purge_expired(), 1);
        assert_eq!(store.len(), 1);
        assert!(store.load(&long).await.unwrap().is_some());
    }
}
