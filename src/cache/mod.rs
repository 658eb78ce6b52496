//! The node's cache of what IMAP servers already said, per user: folder
//! lists, mailbox states (UID lists, sorted lists, list rows, the sort keys
//! of mailboxes on servers without SORT, and the results of recent
//! searches) and message bodies.
//!
//! It only stores; whether an entry may be served is decided by the mail
//! service, which validates a mailbox state against the server before every
//! use. Bodies never need validating: a message's bytes never change for a
//! UID within one UIDVALIDITY, and both are part of the key. Every key starts
//! with the account, so one user's entries are never served to another,
//! whatever their mailboxes and UIDVALIDITY values have in common.
//!
//! Memory is bounded by weight (approximate bytes) with least-recently-used
//! eviction; a user who has not been seen for a while loses entries first.
//!
//! # Limitations
//! A mailbox state is weighed when it is stored; growth between two stores
//! (new rows of one page view) is counted at the next store.

mod mailbox;
mod search;
mod sort_keys;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use moka::policy::EvictionPolicy;
use moka::sync::Cache;

pub use mailbox::{Freshness, MailboxState};
pub use search::{Markers, SearchResults};
pub use sort_keys::{MessageKeys, SortKeyTable};

use crate::mail::Folder;

/// A mailbox state shared by the requests of one user. A std mutex: it is
/// held to read or change the state, never across `.await`.
pub type SharedMailbox = Arc<Mutex<MailboxState>>;

/// The folder list as fetched, with when.
#[derive(Debug, Clone)]
pub struct FolderListing {
    pub folders: Vec<Folder>,
    pub fetched_at: Instant,
    /// Whether every folder's counts were asked for since the list was
    /// fetched; until then some counts are missing or carried over from the
    /// list before.
    pub counted: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct MailboxKey {
    account: Arc<str>,
    raw_name: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct BodyKey {
    account: Arc<str>,
    raw_name: String,
    uidvalidity: u32,
    uid: u32,
}

/// Sizes of the cache.
#[derive(Debug, Clone, Copy)]
pub struct CacheSettings {
    /// Bytes for all entries of the node together.
    pub capacity_bytes: u64,
    /// How long a folder list is shown before it is fetched again.
    pub folder_list_ttl: Duration,
}

/// The cache of one node. Cheap to clone; clones share entries.
#[derive(Clone)]
pub struct MailCache {
    mailboxes: Cache<MailboxKey, SharedMailbox>,
    bodies: Cache<BodyKey, Arc<Vec<u8>>>,
    folders: Cache<Arc<str>, Arc<FolderListing>>,
    folder_list_ttl: Duration,
}

impl MailCache {
    /// A cache holding about `capacity_bytes`: a quarter for mailbox states
    /// and folder lists, the rest for message bodies.
    pub fn new(settings: CacheSettings) -> MailCache {
        let states = (settings.capacity_bytes / 4).max(1 << 20);
        let bodies = settings.capacity_bytes.saturating_sub(states).max(1 << 20);
        MailCache {
            mailboxes: Cache::builder()
                .max_capacity(states)
                .weigher(|_key: &MailboxKey, state: &SharedMailbox| {
                    state.lock().map_or(1024, |s| s.weight())
                })
                .eviction_policy(EvictionPolicy::lru())
                .build(),
            bodies: Cache::builder()
                .max_capacity(bodies)
                .weigher(|_key: &BodyKey, body: &Arc<Vec<u8>>| {
                    u32::try_from(body.len() + 64).unwrap_or(u32::MAX)
                })
                .eviction_policy(EvictionPolicy::lru())
                .build(),
            folders: Cache::builder()
                .max_capacity(10_000)
                .eviction_policy(EvictionPolicy::lru())
                .build(),
            folder_list_ttl: settings.folder_list_ttl,
        }
    }

    pub fn mailbox(&self, account: &str, raw_name: &str) -> Option<SharedMailbox> {
        self.mailboxes.get(&mailbox_key(account, raw_name))
    }

    /// Stores (or re-weighs after a change) a mailbox state.
    pub fn store_mailbox(&self, account: &str, raw_name: &str, state: SharedMailbox) {
        self.mailboxes.insert(mailbox_key(account, raw_name), state);
    }

    pub fn forget_mailbox(&self, account: &str, raw_name: &str) {
        self.mailboxes.invalidate(&mailbox_key(account, raw_name));
    }

    pub fn body(
        &self,
        account: &str,
        raw_name: &str,
        uidvalidity: u32,
        uid: u32,
    ) -> Option<Arc<Vec<u8>>> {
        self.bodies
            .get(&body_key(account, raw_name, uidvalidity, uid))
    }

    pub fn store_body(
        &self,
        account: &str,
        raw_name: &str,
        uidvalidity: u32,
        uid: u32,
        body: Arc<Vec<u8>>,
    ) {
        self.bodies
            .insert(body_key(account, raw_name, uidvalidity, uid), body);
    }

    /// The folder list while it is younger than the configured time to live.
    pub fn folders(&self, account: &str) -> Option<Arc<FolderListing>> {
        self.folders_of_any_age(account)
            .filter(|listing| listing.fetched_at.elapsed() < self.folder_list_ttl)
    }

    /// The folder list however old, for counts to carry over to a new one.
    pub fn folders_of_any_age(&self, account: &str) -> Option<Arc<FolderListing>> {
        self.folders.get(account)
    }

    pub fn store_folders(&self, account: &str, folders: Vec<Folder>, counted: bool) {
        let listing = FolderListing {
            folders,
            fetched_at: Instant::now(),
            counted,
        };
        self.folders.insert(Arc::from(account), Arc::new(listing));
    }

    /// Puts the counts of `counted` into the cached folder list, folder by
    /// folder (by raw name), and marks it counted. A list replaced or
    /// dropped meanwhile keeps what it has.
    pub fn store_folder_counts(&self, account: &str, counted: &[Folder]) {
        let Some(listing) = self.folders.get(account) else {
            return;
        };
        let mut changed = (*listing).clone();
        for folder in &mut changed.folders {
            if let Some(fresh) = counted.iter().find(|c| c.raw_name == folder.raw_name) {
                folder.total = fresh.total.or(folder.total);
                folder.unseen = fresh.unseen.or(folder.unseen);
            }
        }
        changed.counted = true;
        self.folders.insert(Arc::from(account), Arc::new(changed));
    }

    /// Changes the counts of one folder in a cached folder list (from a
    /// STATUS seen while validating that mailbox).
    pub fn update_folder_counts(
        &self,
        account: &str,
        raw_name: &str,
        total: Option<u32>,
        unseen: Option<u32>,
    ) {
        let Some(listing) = self.folders.get(account) else {
            return;
        };
        let Some(folder) = listing.folders.iter().find(|f| f.raw_name == raw_name) else {
            return;
        };
        if folder.total == total && folder.unseen == unseen {
            return;
        }
        let mut changed = (*listing).clone();
        for folder in changed
            .folders
            .iter_mut()
            .filter(|f| f.raw_name == raw_name)
        {
            folder.total = total.or(folder.total);
            folder.unseen = unseen.or(folder.unseen);
        }
        self.folders.insert(Arc::from(account), Arc::new(changed));
    }

    pub fn forget_folders(&self, account: &str) {
        self.folders.invalidate(account);
    }

    /// Approximate bytes held now (for reports and benchmarks).
    pub fn weighted_size(&self) -> u64 {
        self.mailboxes.run_pending_tasks();
        self.bodies.run_pending_tasks();
        self.mailboxes.weighted_size() + self.bodies.weighted_size()
    }
}

fn mailbox_key(account: &str, raw_name: &str) -> MailboxKey {
    MailboxKey {
        account: Arc::from(account),
        raw_name: raw_name.to_owned(),
    }
}

fn body_key(account: &str, raw_name: &str, uidvalidity: u32, uid: u32) -> BodyKey {
    BodyKey {
        account: Arc::from(account),
        raw_name: raw_name.to_owned(),
        uidvalidity,
        uid,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cache() -> MailCache {
        MailCache::new(CacheSettings {
            capacity_bytes: 8 << 20,
            folder_list_ttl: Duration::from_secs(30),
        })
    }

    #[test]
    fn one_users_entries_are_never_anothers() {
        let cache = cache();
        let state = Arc::new(Mutex::new(MailboxState::new(1, 2, None, vec![1])));
        cache.store_mailbox("alice", "INBOX", state);
        cache.store_body("alice", "INBOX", 1, 1, Arc::new(b"secret".to_vec()));
        assert!(cache.mailbox("bob", "INBOX").is_none());
        assert!(cache.body("bob", "INBOX", 1, 1).is_none());
        assert!(cache.mailbox("alice", "INBOX").is_some());
    }

    #[test]
    fn bodies_are_keyed_by_uidvalidity() {
        let cache = cache();
        cache.store_body("alice", "INBOX", 1, 5, Arc::new(b"old".to_vec()));
        assert!(cache.body("alice", "INBOX", 2, 5).is_none());
    }

    #[test]
    fn memory_stays_under_the_capacity() {
        let cache = MailCache::new(CacheSettings {
            capacity_bytes: 4 << 20,
            folder_list_ttl: Duration::from_secs(30),
        });
        for uid in 0..200 {
            cache.store_body("alice", "INBOX", 1, uid, Arc::new(vec![0u8; 64 * 1024]));
        }
        assert!(
            cache.weighted_size() <= 4 << 20,
            "{}",
            cache.weighted_size()
        );
    }
}
