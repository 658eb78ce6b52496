//! A session store in one local file (redb), for a single mailfront node.
//!
//! It owns the file and two tables in it: records filed under the store key
//! of their id (never the id itself), and an index of expiry times so that
//! purging does not scan every record. It does not decide how long a
//! session lives: the caller passes a ttl with each save.
//!
//! Invariants: every entry carries its expiry, and an expired entry is never
//! returned (loading one removes it); a save never brings back a session
//! that was deleted or has expired; only one process has the file
//! open, because redb locks it exclusively and a second opener gets
//! [`StoreError::InUse`].
//!
//! redb blocks on disk I/O, so each call runs on tokio's blocking pool with
//! `spawn_blocking`; the async methods only await that task.
//!
//! # Limitations
//!
//! - One node only: the file lock keeps other processes out, so several
//!   nodes need a networked store behind the same trait.
//! - Every write is flushed to the disk (`fdatasync`) before the call
//!   returns, and redb runs one write at a time: about 0.35 ms per save on
//!   a local SSD, so a node manages a few thousand saves a second. A web
//!   layer that saves on every request pays that on every request.
//! - A call whose future is dropped still runs to its end on the blocking
//!   pool: a save may land after its request went away.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use redb::{Database, DatabaseError, ReadableTable, ReadableTableMetadata, TableDefinition};

use super::cookie::SessionId;
use super::record::SessionRecord;
use super::store::{next_revision, ttl_seconds, SessionStore, StoreError};

/// Records by store key: a header (format, expiry, revision), then JSON.
const RECORDS: TableDefinition<&str, &[u8]> = TableDefinition::new("sessions");

/// One row per record: (expires_at, store key).
const EXPIRY: TableDefinition<(i64, &str), ()> = TableDefinition::new("session_expiry");

/// The first byte of every entry in the current format.
const ENTRY_V1: u8 = 1;

/// Bytes before the JSON: format, expires_at (i64 BE), revision (u64 BE).
const HEADER_LEN: usize = 1 + 8 + 8;

/// Memory redb may use to cache pages of the file.
const CACHE_BYTES: usize = 32 * 1024 * 1024;

/// The current unix second. The wall clock, except in tests that move time.
pub type UnixClock = Arc<dyn Fn() -> i64 + Send + Sync>;

/// Session records in one redb file.
pub struct EmbeddedStore {
    /// The open file. Each call clones the `Arc` into a blocking task; redb
    /// runs one write transaction at a time and lets reads proceed beside
    /// it, so no lock of ours is needed.
    db: Arc<Database>,
    /// Where the file is, for error messages.
    path: PathBuf,
    /// Read once per call, before the blocking task starts.
    clock: UnixClock,
}

impl std::fmt::Debug for EmbeddedStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmbeddedStore")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

/// Why one stored entry could not be read back.
#[derive(Debug, thiserror::Error)]
enum EntryError {
    #[error(
        "entry header is truncated or of an unknown format; it was written by another version"
    )]
    Header,
    #[error("entry record is not valid JSON for this version; it was written by another version")]
    Record(#[from] serde_json::Error),
}

/// The fixed part of a stored entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct EntryHeader {
    expires_at: i64,
    revision: u64,
}

impl EmbeddedStore {
    /// Opens the store file at `path`, creating it when missing.
    ///
    /// Fails with [`StoreError::InUse`] when another process (or another
    /// `EmbeddedStore` in this one) has the file open.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        Self::open_with_clock(path, Arc::new(unix_now))
    }

    /// Like [`EmbeddedStore::open`], with a clock of unix seconds of the
    /// caller's choice, for tests that move time.
    pub fn open_with_clock(path: &Path, clock: UnixClock) -> Result<Self, StoreError> {
        let db = Database::builder()
            .set_cache_size(CACHE_BYTES)
            .create(path)
            .map_err(|error| open_error(path, error))?;

        create_tables(&db).map_err(|error| match error {
            StoreError::Unavailable { source } => StoreError::OpenFailed {
                path: path.to_owned(),
                source,
            },
            other => other,
        })?;

        Ok(Self {
            db: Arc::new(db),
            path: path.to_owned(),
            clock,
        })
    }

    /// Removes every expired entry and returns how many there were. Run it
    /// now and then (every few minutes) so that sessions nobody comes back
    /// to do not fill the file.
    pub async fn purge_expired(&self) -> Result<usize, StoreError> {
        self.run(|db, now| {
            let txn = db.begin_write().map_err(unavailable)?;
            let purged = {
                let mut records = txn.open_table(RECORDS).map_err(unavailable)?;
                let mut expiry = txn.open_table(EXPIRY).map_err(unavailable)?;

                let mut due = Vec::new();
                for row in expiry
                    .range(..(now.saturating_add(1), ""))
                    .map_err(unavailable)?
                {
                    let (key, _) = row.map_err(unavailable)?;
                    let (expires_at, store_key) = key.value();
                    due.push((expires_at, store_key.to_owned()));
                }
                for (expires_at, store_key) in &due {
                    records.remove(store_key.as_str()).map_err(unavailable)?;
                    expiry
                        .remove((*expires_at, store_key.as_str()))
                        .map_err(unavailable)?;
                }
                due.len()
            };

            txn.commit().map_err(unavailable)?;
            Ok(purged)
        })
        .await
    }

    /// Entries in the file, expired or not, for the metrics page.
    pub async fn entry_count(&self) -> Result<u64, StoreError> {
        self.run(|db, _| {
            let txn = db.begin_read().map_err(unavailable)?;
            let records = txn.open_table(RECORDS).map_err(unavailable)?;
            records.len().map_err(unavailable)
        })
        .await
    }

    /// Runs `job` on the blocking pool with the database and the current
    /// unix second.
    async fn run<T, F>(&self, job: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Database, i64) -> Result<T, StoreError> + Send + 'static,
    {
        let db = Arc::clone(&self.db);
        let now = (self.clock)();

        tokio::task::spawn_blocking(move || job(&db, now))
            .await
            .map_err(|error| StoreError::Unavailable {
                source: Box::new(error),
            })?
    }
}

#[async_trait]
impl SessionStore for EmbeddedStore {
    async fn load(&self, id: &SessionId) -> Result<Option<SessionRecord>, StoreError> {
        let key = id.store_key();

        self.run(move |db, now| {
            let txn = db.begin_read().map_err(unavailable)?;
            let records = txn.open_table(RECORDS).map_err(unavailable)?;
            let Some(entry) = records.get(key.as_str()).map_err(unavailable)? else {
                return Ok(None);
            };

            let seen = entry.value().to_vec();
            drop(entry);
            drop(records);
            drop(txn);

            match decode_entry(&seen) {
                Ok((header, record)) if header.expires_at > now => Ok(Some(record)),
                Ok(_) => {
                    remove_entry(db, &key, Some(&seen))?;
                    Ok(None)
                }
                Err(error) => {
                    remove_entry(db, &key, Some(&seen))?;
                    Err(StoreError::Corrupt {
                        source: Box::new(error),
                    })
                }
            }
        })
        .await
    }

    async fn save(
        &self,
        id: &SessionId,
        record: &SessionRecord,
        ttl: Duration,
    ) -> Result<(), StoreError> {
        let key = id.store_key();
        let given = record.revision;
        let mut json = serde_json::to_vec(record).map_err(|error| StoreError::Unavailable {
            source: Box::new(error),
        })?;

        self.run(move |db, now| {
            let txn = db.begin_write().map_err(unavailable)?;
            {
                let mut records = txn.open_table(RECORDS).map_err(unavailable)?;
                let mut expiry = txn.open_table(EXPIRY).map_err(unavailable)?;

                let old = records
                    .get(key.as_str())
                    .map_err(unavailable)?
                    .and_then(|entry| decode_header(entry.value()));
                let live = old.filter(|header| header.expires_at > now);
                let revision = next_revision(live.map(|header| header.revision), given)?;

                // The JSON carries the caller's revision; the header's is
                // the one that counts, and decode_entry puts it back.
                let header = EntryHeader {
                    expires_at: now.saturating_add(ttl_seconds(ttl)),
                    revision,
                };
                let entry = encode_entry(header, &mut json);
                records
                    .insert(key.as_str(), entry.as_slice())
                    .map_err(unavailable)?;
                if let Some(old) = old {
                    expiry
                        .remove((old.expires_at, key.as_str()))
                        .map_err(unavailable)?;
                }
                expiry
                    .insert((header.expires_at, key.as_str()), ())
                    .map_err(unavailable)?;
            }
            txn.commit().map_err(unavailable)
        })
        .await
    }

    async fn delete(&self, id: &SessionId) -> Result<(), StoreError> {
        let key = id.store_key();

        self.run(move |db, _| remove_entry(db, &key, None)).await
    }
}

/// Creates both tables, so that reads never meet a missing one.
fn create_tables(db: &Database) -> Result<(), StoreError> {
    let txn = db.begin_write().map_err(unavailable)?;
    txn.open_table(RECORDS).map_err(unavailable)?;
    txn.open_table(EXPIRY).map_err(unavailable)?;
    txn.commit().map_err(unavailable)
}

/// Removes the record filed under `key` and its expiry row, if any. With
/// `only_if`, only when the stored entry is still exactly those bytes, so that
/// a load that found an expired entry cannot remove one saved meanwhile.
fn remove_entry(db: &Database, key: &str, only_if: Option<&[u8]>) -> Result<(), StoreError> {
    let txn = db.begin_write().map_err(unavailable)?;
    {
        let mut records = txn.open_table(RECORDS).map_err(unavailable)?;
        let mut expiry = txn.open_table(EXPIRY).map_err(unavailable)?;

        if let Some(expected) = only_if {
            let current = records.get(key).map_err(unavailable)?;
            if current.is_none_or(|entry| entry.value() != expected) {
                return Ok(());
            }
        }
        let removed = records.remove(key).map_err(unavailable)?;
        if let Some(header) = removed.and_then(|entry| decode_header(entry.value())) {
            expiry
                .remove((header.expires_at, key))
                .map_err(unavailable)?;
        }
    }
    txn.commit().map_err(unavailable)
}

/// Header then JSON; takes the JSON buffer to avoid a copy.
fn encode_entry(header: EntryHeader, json: &mut Vec<u8>) -> Vec<u8> {
    let mut entry = Vec::with_capacity(HEADER_LEN + json.len());
    entry.push(ENTRY_V1);
    entry.extend_from_slice(&header.expires_at.to_be_bytes());
    entry.extend_from_slice(&header.revision.to_be_bytes());
    entry.append(json);
    entry
}

fn decode_header(entry: &[u8]) -> Option<EntryHeader> {
    let (&format, rest) = entry.split_first()?;
    if format != ENTRY_V1 || rest.len() < HEADER_LEN - 1 {
        return None;
    }

    let (expires_at, rest) = rest.split_at(8);
    let revision = &rest[..8];
    Some(EntryHeader {
        expires_at: i64::from_be_bytes(expires_at.try_into().ok()?),
        revision: u64::from_be_bytes(revision.try_into().ok()?),
    })
}

fn decode_entry(entry: &[u8]) -> Result<(EntryHeader, SessionRecord), EntryError> {
    let header = decode_header(entry).ok_or(EntryError::Header)?;

    let mut record: SessionRecord = serde_json::from_slice(&entry[HEADER_LEN..])?;
    record.revision = header.revision;
    Ok((header, record))
}

fn open_error(path: &Path, error: DatabaseError) -> StoreError {
    match error {
        DatabaseError::DatabaseAlreadyOpen => StoreError::InUse {
            path: path.to_owned(),
        },
        other => StoreError::OpenFailed {
            path: path.to_owned(),
            source: Box::new(other),
        },
    }
}

fn unavailable(error: impl Into<redb::Error>) -> StoreError {
    StoreError::Unavailable {
        source: Box::new(error.into()),
    }
}

/// Seconds since the Unix epoch by the wall clock; 0 before 1970.
fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| i64::try_from(elapsed.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use std::process::Command;
    use std::sync::atomic::{AtomicI64, Ordering};

    use super::*;
    use crate::session::cookie::SessionCookie;
    use crate::session::crypto::seal_password;
    use crate::session::record::ExpiryPolicy;
    use mailfront_imap::Secret;

    const START: i64 = 1_700_000_000;

    /// A folder under the system temp dir, removed when dropped.
    struct TempDir(PathBuf);

    impl TempDir {
        fn new() -> Self {
            let name = format!(
                "mailfront-session-test-{}-{}",
                std::process::id(),
                SessionCookie::generate().id.log_tag()
            );
            let path = std::env::temp_dir().join(name);
            std::fs::create_dir_all(&path).unwrap();
            Self(path)
        }

        fn file(&self) -> PathBuf {
            self.0.join("sessions.redb")
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    /// A store whose clock the test moves.
    fn open_at(path: &Path, now: &Arc<AtomicI64>) -> EmbeddedStore {
        let now = Arc::clone(now);
        EmbeddedStore::open_with_clock(path, Arc::new(move || now.load(Ordering::SeqCst))).unwrap()
    }

    fn record() -> SessionRecord {
        SessionRecord::new("alice@example.org".to_owned(), vec![1, 2, 3], START)
    }

    const HOUR: Duration = Duration::from_secs(3600);

    #[tokio::test]
    async fn a_restarted_process_keeps_its_sessions() {
        let dir = TempDir::new();
        let id = SessionCookie::generate().id;
        let mut saved = record();
        saved
            .folder_sort
            .insert("INBOX".to_owned(), "from".to_owned());

        let store = EmbeddedStore::open(&dir.file()).unwrap();
        store.save(&id, &saved, HOUR).await.unwrap();
        drop(store);
        let reopened = EmbeddedStore::open(&dir.file()).unwrap();
        let loaded = reopened
            .load(&id)
            .await
            .unwrap()
            .expect("session survives reopen");

        saved.revision = 1;
        assert_eq!(loaded, saved);
    }

    #[tokio::test]
    async fn opening_in_a_missing_folder_names_the_file_and_the_fix() {
        let dir = TempDir::new();
        let path = dir.0.join("missing").join("sessions.redb");

        let error = EmbeddedStore::open(&path).unwrap_err();

        assert!(matches!(error, StoreError::OpenFailed { .. }));
        let text = error.to_string();
        assert!(text.contains(&path.display().to_string()), "{text}");
        assert!(text.contains("check that its folder exists"), "{text}");
    }

    #[tokio::test]
    async fn unknown_id_loads_as_none() {
        let dir = TempDir::new();
        let store = EmbeddedStore::open(&dir.file()).unwrap();

        assert!(store
            .load(&SessionCookie::generate().id)
            .await
            .unwrap()
            .is_none());
    }

    #[tokio::test]
    async fn deleted_session_is_gone_and_deleting_twice_is_fine() {
        let dir = TempDir::new();
        let store = EmbeddedStore::open(&dir.file()).unwrap();
        let id = SessionCookie::generate().id;
        store.save(&id, &record(), HOUR).await.unwrap();

        store.delete(&id).await.unwrap();
        store.delete(&id).await.unwrap();

        assert!(store.load(&id).await.unwrap().is_none());
        assert_eq!(store.entry_count().await.unwrap(), 0);
    }

    #[tokio::test]
    async fn expired_entry_is_not_returned_and_is_removed() {
        let dir = TempDir::new();
        let now = Arc::new(AtomicI64::new(START));
        let store = open_at(&dir.file(), &now);
        let id = SessionCookie::generate().id;
        store
            .save(&id, &record(), Duration::from_secs(1800))
            .await
            .unwrap();

        now.store(START + 1799, Ordering::SeqCst);
        assert!(store.load(&id).await.unwrap().is_some());

        now.store(START + 1800, Ordering::SeqCst);
        assert!(store.load(&id).await.unwrap().is_none());
        assert_eq!(store.entry_count().await.unwrap(), 0);
        assert_eq!(store.purge_expired().await.unwrap(), 0);
    }

    #[tokio::test]
    async fn idle_and_absolute_expiry_reach_the_store_through_the_ttl() {
        let dir = TempDir::new();
        let now = Arc::new(AtomicI64::new(START));
        let store = open_at(&dir.file(), &now);
        let policy = ExpiryPolicy::default();
        let id = SessionCookie::generate().id;
        let mut record = record();

        // A request every 20 minutes keeps the session until its 12th hour.
        let mut at = START;
        while at < START + 12 * 3600 {
            now.store(at, Ordering::SeqCst);
            if at > START {
                record = store.load(&id).await.unwrap().expect("alive while used");
            }
            record.touch(at);
            let ttl = record.time_to_live(&policy, at);
            store.save(&id, &record, ttl).await.unwrap();
            at += 20 * 60;
        }
        now.store(START + 12 * 3600, Ordering::SeqCst);
        assert!(store.load(&id).await.unwrap().is_none(), "absolute limit");

        // Without requests the session ends after 30 idle minutes.
        let idle = SessionCookie::generate().id;
        let fresh = SessionRecord::new("bob@example.org".to_owned(), Vec::new(), START);
        now.store(START, Ordering::SeqCst);
        store
            .save(&idle, &fresh, fresh.time_to_live(&policy, START))
            .await
            .unwrap();
        now.store(START + 30 * 60, Ordering::SeqCst);
        assert!(store.load(&idle).await.unwrap().is_none(), "idle limit");
    }

    #[tokio::test]
    async fn purge_removes_only_expired_entries() {
        let dir = TempDir::new();
        let now = Arc::new(AtomicI64::new(START));
        let store = open_at(&dir.file(), &now);
        let ids: Vec<SessionId> = (0..10).map(|_| SessionCookie::generate().id).collect();
        for (minutes, id) in ids.iter().enumerate() {
            let ttl = Duration::from_secs(60 * (minutes as u64 + 1));
            store.save(id, &record(), ttl).await.unwrap();
        }

        now.store(START + 4 * 60, Ordering::SeqCst);

        assert_eq!(store.purge_expired().await.unwrap(), 4);
        assert_eq!(store.entry_count().await.unwrap(), 6);
        assert!(store.load(&ids[3]).await.unwrap().is_none());
        assert!(store.load(&ids[4]).await.unwrap().is_some());
    }

    #[tokio::test]
    async fn resaving_moves_the_expiry_instead_of_adding_one() {
        let dir = TempDir::new();
        let now = Arc::new(AtomicI64::new(START));
        let store = open_at(&dir.file(), &now);
        let id = SessionCookie::generate().id;
        store
            .save(&id, &record(), Duration::from_secs(60))
            .await
            .unwrap();

        let mut loaded = store.load(&id).await.unwrap().unwrap();
        loaded.flash = Some("saved".to_owned());
        store.save(&id, &loaded, HOUR).await.unwrap();
        now.store(START + 120, Ordering::SeqCst);

        assert_eq!(store.purge_expired().await.unwrap(), 0);
        let reloaded = store.load(&id).await.unwrap().expect("new ttl applies");
        assert_eq!(reloaded.flash.as_deref(), Some("saved"));
        assert_eq!(reloaded.revision, 2);
    }

    #[tokio::test]
    async fn a_deleted_session_stays_deleted_and_double_saves_are_fine() {
        let dir = TempDir::new();
        let store = EmbeddedStore::open(&dir.file()).unwrap();
        let id = SessionCookie::generate().id;
        store.save(&id, &record(), HOUR).await.unwrap();
        let mut loaded = store.load(&id).await.unwrap().unwrap();

        store.save(&id, &loaded, HOUR).await.unwrap();
        loaded.flash = Some("second".to_owned());
        store.save(&id, &loaded, HOUR).await.unwrap();
        assert_eq!(
            store.load(&id).await.unwrap().unwrap().flash.as_deref(),
            Some("second")
        );
        store.delete(&id).await.unwrap();
        let revived = store.save(&id, &loaded, HOUR).await;

        assert!(matches!(
            revived,
            Err(StoreError::SessionEnded { given: 1 })
        ));
        assert!(store.load(&id).await.unwrap().is_none());
    }

    #[tokio::test]
    async fn an_expired_session_cannot_be_saved_back_to_life() {
        let dir = TempDir::new();
        let now = Arc::new(AtomicI64::new(START));
        let store = open_at(&dir.file(), &now);
        let id = SessionCookie::generate().id;
        store
            .save(&id, &record(), Duration::from_secs(60))
            .await
            .unwrap();
        let loaded = store.load(&id).await.unwrap().unwrap();

        now.store(START + 60, Ordering::SeqCst);
        let refused = store.save(&id, &loaded, HOUR).await;

        assert!(matches!(refused, Err(StoreError::SessionEnded { .. })));
    }

    #[tokio::test]
    async fn an_undecodable_entry_is_reported_once_then_gone() {
        let dir = TempDir::new();
        let store = EmbeddedStore::open(&dir.file()).unwrap();
        let id = SessionCookie::generate().id;
        let txn = store.db.begin_write().unwrap();
        txn.open_table(RECORDS)
            .unwrap()
            .insert(id.store_key().as_str(), &b"\x09garbage"[..])
            .unwrap();
        txn.commit().unwrap();

        let first = store.load(&id).await;
        let second = store.load(&id).await;

        assert!(matches!(first, Err(StoreError::Corrupt { .. })));
        assert!(matches!(second, Ok(None)));
    }

    #[tokio::test]
    async fn the_file_holds_neither_the_cookie_nor_the_password() {
        let dir = TempDir::new();
        let store = EmbeddedStore::open(&dir.file()).unwrap();
        let cookie = SessionCookie::generate();
        let password = Secret::new("tr0ub4dor&3-unique".to_owned());
        let sealed = seal_password(&cookie.key, "alice@example.org", &password);
        let record = SessionRecord::new("alice@example.org".to_owned(), sealed, START);

        store.save(&cookie.id, &record, HOUR).await.unwrap();
        drop(store);
        let bytes = std::fs::read(dir.file()).unwrap();

        let value = cookie.encode();
        let (id_part, key_part) = value.split_once('.').unwrap();
        let contains = |needle: &[u8]| bytes.windows(needle.len()).any(|w| w == needle);
        assert!(
            contains(cookie.id.store_key().as_bytes()),
            "entry is filed by store key"
        );
        assert!(!contains(id_part.as_bytes()));
        assert!(!contains(key_part.as_bytes()));
        assert!(!contains(cookie.id.as_bytes()));
        assert!(!contains(cookie.key.as_bytes()));
        assert!(!contains(password.expose().as_bytes()));
    }

    #[tokio::test]
    async fn a_second_opener_in_this_process_is_told_the_file_is_in_use() {
        let dir = TempDir::new();
        let _store = EmbeddedStore::open(&dir.file()).unwrap();

        let second = EmbeddedStore::open(&dir.file());

        match second {
            Err(error @ StoreError::InUse { .. }) => {
                assert!(error
                    .to_string()
                    .contains("already open in another process"));
            }
            other => panic!("expected InUse, got {other:?}"),
        }
    }

    /// Environment variable that turns the next test into the second
    /// process of `a_second_process_is_told_the_file_is_in_use`.
    const CHILD_PATH_VAR: &str = "MAILFRONT_SESSION_STORE_CHILD_PATH";

    #[test]
    fn child_process_opens_the_store_named_in_its_environment() {
        let Some(path) = std::env::var_os(CHILD_PATH_VAR) else {
            return;
        };

        match EmbeddedStore::open(Path::new(&path)) {
            Err(StoreError::InUse { .. }) => println!("child saw the store in use"),
            other => panic!("expected InUse, got {other:?}"),
        }
    }

    #[test]
    fn a_second_process_is_told_the_file_is_in_use() {
        let dir = TempDir::new();
        let _store = EmbeddedStore::open(&dir.file()).unwrap();

        let output = Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "session::embedded::tests::child_process_opens_the_store_named_in_its_environment",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD_PATH_VAR, dir.file())
            .output()
            .unwrap();

        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(output.status.success(), "child failed: {stdout}");
        assert!(
            stdout.contains("child saw the store in use"),
            "child output: {stdout}"
        );
    }
}
