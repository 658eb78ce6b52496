//! The IMAP connection pool: logged-in connections per account, lent to
//! requests and taken back, so that a page view pays for neither a TCP
//! connect nor a LOGIN.
//!
//! It owns every upstream connection of the node, keyed by account. It never
//! parses mail and never decides what a page shows. Invariants a borrower
//! relies on:
//! - A lent connection is logged in as the borrower's account, with a
//!   password the server accepted (the borrower's password is compared with
//!   the accepted one by a keyed fingerprint, never stored in the clear).
//! - At most `per_user` connections of one account are open on this node,
//!   fewer once the server answered `NO [LIMIT]`; at most `per_node` in all.
//! - A connection that saw EOF, BYE, a timeout or a lost parse is dropped,
//!   never returned to the pool.
//!
//! # Limitations
//! A cap learnt from `NO [LIMIT]` stays lowered until the account's pool is
//! emptied and rebuilt (after its connections idle out), even if the other
//! client that used up the server's allowance has gone since.

mod resolver;

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hmac::{Hmac, Mac};
use mailfront_imap::{Connection, ImapError, Secret, Security, Timeouts};
use sha2::Sha256;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::config::{ImapServer, PoolMode, PoolSettings, Transport};
use crate::metrics::{bump, Metrics};
pub use resolver::{ResolveFailed, Resolver};

/// An account name and its password, as a session holds them.
#[derive(Clone, Debug)]
pub struct Credentials {
    pub user: String,
    pub password: Secret<String>,
    /// The address of the person the request came from. A connection opened
    /// for the request tells it to the server (IMAP ID `x-originating-ip`),
    /// so that a server trusting this node counts failed logins per person.
    pub client: Option<std::net::IpAddr>,
}

/// Why no connection could be lent.
#[derive(Debug, thiserror::Error)]
pub enum PoolError {
    #[error("mail server cannot be reached; check that it runs and that this node may connect")]
    Unreachable(#[source] ImapError),
    #[error("mail server name does not resolve")]
    Unresolvable(#[from] ResolveFailed),
    #[error("mail server refused the credentials")]
    AuthenticationFailed,
    #[error("mail server allows no more connections for this account; try again shortly")]
    ServerBusy,
    #[error("mail server refused the connection; try again later")]
    Refused,
    #[error("all connections of this account stayed busy; try again shortly")]
    WaitedTooLong,
    #[error("mail server failed during login")]
    LoginFailed(#[source] ImapError),
}

/// The pool of one node. Cheap to clone; clones share the same connections.
#[derive(Clone)]
pub struct ImapPool {
    shared: Arc<PoolShared>,
}

struct PoolShared {
    server: ImapServer,
    tls: Arc<rustls::ClientConfig>,
    timeouts: Timeouts,
    settings: PoolSettings,
    resolver: Resolver,
    /// Every account's pool, created on first use and removed by the reaper
    /// once it holds no connection. A std mutex: held only for a lookup or an
    /// insert, never across `.await`.
    accounts: Mutex<HashMap<String, Arc<AccountPool>>>,
    /// One permit per connection this node may still open; each open
    /// connection holds one until it closes.
    node_slots: Arc<Semaphore>,
    /// Key of the password fingerprints, random per process.
    fingerprint_key: [u8; 32],
    /// Set when the node stops: connections coming back are closed.
    closed: Arc<std::sync::atomic::AtomicBool>,
    metrics: Arc<Metrics>,
}

/// The connections of one account on this node.
struct AccountPool {
    /// One permit per connection that may be lent at once. A borrower holds
    /// one for as long as it has a connection; `NO [LIMIT]` makes the pool
    /// forget permits, which lowers the cap.
    lend_slots: Arc<Semaphore>,
    /// Permits still to forget because the cap was lowered while they were
    /// taken; each is forgotten the next time it is taken. Raised when the
    /// cap falls, lowered only by `take_lend_slot`.
    surplus: AtomicUsize,
    /// Logged-in connections nobody has borrowed, the most recently returned
    /// last. A std mutex: push and pop only, never held across `.await`.
    idle: Mutex<Vec<IdleConnection>>,
    /// Fingerprint of the password the server last accepted for this
    /// account; written after every successful LOGIN, read by every borrow.
    accepted: Mutex<Option<[u8; 32]>>,
    /// Connections open now, lent or idle; changed only by [`OpenConnection`].
    open: AtomicUsize,
    /// When a lent connection of this account last came back dead. Idle
    /// connections returned before then have likely died of the same cause
    /// (a kick, a server restart), so they are checked with NOOP before they
    /// are lent. A std mutex, held to copy or set it, never across `.await`.
    found_dead: Mutex<Option<Instant>>,
    /// The current cap: `per_user` until the server says otherwise.
    cap: AtomicUsize,
    /// Log tags of the sessions seen using this account on this node since
    /// the account's pool was created. A std mutex, never held across
    /// `.await`. Decides whether a sign-out may close idle connections.
    sessions: Mutex<HashSet<String>>,
}

impl AccountPool {
    /// Notes that a lent connection came back dead.
    fn note_dead_connection(&self) {
        *self.found_dead.lock().expect("found_dead lock poisoned") = Some(Instant::now());
    }

    /// Whether a connection returned at `returned_at` was already idle when
    /// another connection of the account was found dead.
    fn idle_when_one_died(&self, returned_at: Instant) -> bool {
        let found_dead = *self.found_dead.lock().expect("found_dead lock poisoned");
        found_dead.is_some_and(|dead| returned_at <= dead)
    }

    /// Lowers the cap to `open` when it is higher, and the permits with it,
    /// or borrowers would open connections only to be refused: `slot` and
    /// the free permits now, taken ones when they are next taken. Otherwise
    /// gives `slot` back. Says whether the cap was lowered.
    fn lower_cap(&self, open: usize, slot: OwnedSemaphorePermit) -> bool {
        let lower = |cap: usize| (cap > open).then_some(open);
        let Ok(previous) = self
            .cap
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, lower)
        else {
            drop(slot);
            return false;
        };

        slot.forget();
        let more = previous - open - 1;
        let retired = self.lend_slots.forget_permits(more);
        self.surplus.fetch_add(more - retired, Ordering::SeqCst);
        true
    }
}

struct IdleConnection {
    connection: OpenConnection,
    returned_at: Instant,
}

/// A live connection with the bookkeeping that must follow it to its end.
struct OpenConnection {
    imap: Option<Connection>,
    account: Arc<AccountPool>,
    metrics: Arc<Metrics>,
    _node_slot: OwnedSemaphorePermit,
}

impl Drop for OpenConnection {
    fn drop(&mut self) {
        self.account.open.fetch_sub(1, Ordering::SeqCst);
        self.metrics
            .imap_connections_open
            .fetch_sub(1, Ordering::Relaxed);
    }
}

impl OpenConnection {
    fn imap(&mut self) -> &mut Connection {
        self.imap
            .as_mut()
            .expect("connection present until dropped")
    }

    /// Logs out and waits for the server's answer (at most the command
    /// timeout); the slot is freed when this returns.
    async fn logout(mut self) {
        if let Some(imap) = self.imap.take() {
            imap.logout().await;
        }
    }

    /// Logs out in the background; the slot is freed when that finishes.
    fn close(self) {
        tokio::spawn(self.logout());
    }
}

/// A connection lent to one request. Dropping it gives it back (or closes it
/// when it is no longer usable).
pub struct PooledConnection {
    connection: Option<OpenConnection>,
    _lend_slot: OwnedSemaphorePermit,
    mode: PoolMode,
    fresh: bool,
    /// The pool's shut-down flag.
    closed: Arc<std::sync::atomic::AtomicBool>,
}

impl PooledConnection {
    /// Whether this connection was opened and logged in for this borrow.
    pub fn is_fresh(&self) -> bool {
        self.fresh
    }
}

impl std::ops::Deref for PooledConnection {
    type Target = Connection;

    fn deref(&self) -> &Connection {
        self.connection
            .as_ref()
            .and_then(|c| c.imap.as_ref())
            .expect("connection present until dropped")
    }
}

impl std::ops::DerefMut for PooledConnection {
    fn deref_mut(&mut self) -> &mut Connection {
        self.connection
            .as_mut()
            .expect("connection present until dropped")
            .imap()
    }
}

impl Drop for PooledConnection {
    fn drop(&mut self) {
        let Some(mut connection) = self.connection.take() else {
            return;
        };
        if !connection.imap().is_usable() {
            tracing::debug!(
                conn_id = connection.imap().id(),
                "connection dropped as unusable"
            );
            connection.account.note_dead_connection();
            return;
        }
        if self.mode == PoolMode::LoginPerRequest || self.closed.load(Ordering::SeqCst) {
            connection.close();
            return;
        }
        let account = connection.account.clone();
        account
            .idle
            .lock()
            .expect("idle lock poisoned")
            .push(IdleConnection {
                connection,
                returned_at: Instant::now(),
            });
    }
}

/// The key of an account's pool: the user name lowercased, since servers
/// (Dovecot among them) accept any case of a name for one account, and the
/// per-account cap must hold however the user typed it.
///
/// Connections are still lent only for the exact name and password that
/// logged them in: two spellings of one name share the cap, and a request
/// under the other spelling logs in afresh (closing an idle connection to
/// make room) rather than borrow a connection it did not prove.
fn account_key(user: &str) -> String {
    user.to_lowercase()
}

impl ImapPool {
    /// A pool for one IMAP server. It opens nothing until the first borrow.
    pub fn new(
        server: ImapServer,
        tls: Arc<rustls::ClientConfig>,
        timeouts: Timeouts,
        settings: PoolSettings,
        metrics: Arc<Metrics>,
    ) -> ImapPool {
        let mut fingerprint_key = [0u8; 32];
        getrandom::getrandom(&mut fingerprint_key).expect("the OS provides randomness");
        let resolver = Resolver::new(&server.host, server.port, settings.dns_ttl);
        ImapPool {
            shared: Arc::new(PoolShared {
                node_slots: Arc::new(Semaphore::new(settings.per_node)),
                server,
                tls,
                timeouts,
                settings,
                resolver,
                accounts: Mutex::new(HashMap::new()),
                fingerprint_key,
                closed: Arc::new(std::sync::atomic::AtomicBool::new(false)),
                metrics,
            }),
        }
    }

    /// Checks a password with a real LOGIN on a new connection, which then
    /// joins the pool. Used at sign-in, where a password must be proven.
    pub async fn sign_in(&self, credentials: &Credentials) -> Result<PooledConnection, PoolError> {
        let account = self.account(&credentials.user);
        let slot = self.take_lend_slot(&account).await?;
        self.make_room(&account).await;
        self.open_and_lend(&account, credentials, slot).await
    }

    /// Lends an idle connection, preferring one that has `mailbox` selected,
    /// at once or not at all: never waits, never opens or logs in a connection, never
    /// takes the account's last free slot or its last idle connection. For
    /// background work that must not delay a request.
    pub fn try_borrow_idle(
        &self,
        credentials: &Credentials,
        mailbox: &str,
    ) -> Option<PooledConnection> {
        let account = self.existing_account(&credentials.user)?;
        if account.lend_slots.available_permits() < 2 {
            return None;
        }
        let trusted = *account.accepted.lock().expect("accepted lock poisoned")
            == Some(self.fingerprint(credentials));
        if !trusted || self.shared.settings.mode != PoolMode::Pooled {
            return None;
        }
        let slot = account.lend_slots.clone().try_acquire_owned().ok()?;
        let connection = {
            let mut idle = account.idle.lock().expect("idle lock poisoned");
            // Leave at least one idle connection for the account's next
            // request, which would otherwise log in a new one.
            if idle.len() < 2 {
                return None;
            }
            let check_after = self.shared.settings.check_after;
            let recent = |entry: &IdleConnection| entry.returned_at.elapsed() < check_after;
            let has_mailbox = |entry: &IdleConnection| {
                let selected = entry.connection.imap.as_ref().and_then(|c| c.selected());
                selected.is_some_and(|s| s.raw_name == mailbox)
            };
            let index = idle
                .iter()
                .rposition(|entry| recent(entry) && has_mailbox(entry))
                .or_else(|| idle.iter().rposition(recent))?;
            idle.remove(index).connection
        };
        Some(PooledConnection {
            connection: Some(connection),
            _lend_slot: slot,
            mode: self.shared.settings.mode,
            fresh: false,
            closed: self.shared.closed.clone(),
        })
    }

    /// Whether background work of the account can ever get a connection
    /// from [`ImapPool::borrow_spare`]: pooled mode, and a cap that leaves
    /// one connection to the account's requests.
    pub fn lends_spares(&self, user: &str) -> bool {
        let cap = self
            .existing_account(user)
            .map_or(self.shared.settings.per_user, |a| {
                a.cap.load(Ordering::SeqCst)
            });
        self.shared.settings.mode == PoolMode::Pooled && cap >= 2
    }

    /// Lends a connection for background work that must not delay a
    /// request: a recently used idle one when the account has two or more
    /// idle, else a newly opened one when the account is below its cap. It
    /// never waits for a lend slot and never takes the account's last free
    /// one, so a request of the account always finds a slot. A refused or
    /// failed login gives `None` (and `NO [LIMIT]` lowers the cap, as for
    /// any borrower).
    pub async fn borrow_spare(&self, credentials: &Credentials) -> Option<PooledConnection> {
        let account = self.existing_account(&credentials.user)?;
        let trusted = *account.accepted.lock().expect("accepted lock poisoned")
            == Some(self.fingerprint(credentials));
        if !trusted || self.shared.settings.mode != PoolMode::Pooled {
            return None;
        }
        if account.lend_slots.available_permits() < 2 || account.surplus.load(Ordering::SeqCst) > 0
        {
            return None;
        }
        let slot = account.lend_slots.clone().try_acquire_owned().ok()?;

        let idle = {
            let mut idle = account.idle.lock().expect("idle lock poisoned");
            let check_after = self.shared.settings.check_after;
            let fresh = idle
                .iter()
                .rposition(|entry| entry.returned_at.elapsed() < check_after);
            match fresh {
                Some(index) if idle.len() >= 2 => Some(idle.remove(index).connection),
                _ => None,
            }
        };
        if let Some(connection) = idle {
            return Some(PooledConnection {
                connection: Some(connection),
                _lend_slot: slot,
                mode: self.shared.settings.mode,
                fresh: false,
                closed: self.shared.closed.clone(),
            });
        }

        if account.open.load(Ordering::SeqCst) >= account.cap.load(Ordering::SeqCst) {
            return None;
        }
        match self.open(&account, credentials).await {
            Ok(connection) => Some(PooledConnection {
                connection: Some(connection),
                _lend_slot: slot,
                mode: self.shared.settings.mode,
                fresh: true,
                closed: self.shared.closed.clone(),
            }),
            Err(PoolError::ServerBusy) => {
                let open = account.open.load(Ordering::SeqCst);
                if open > 0 && account.lower_cap(open, slot) {
                    tracing::info!(cap = open, "account pool capped by the server's limit");
                }
                None
            }
            Err(error) => {
                tracing::debug!(%error, "no spare connection for background work");
                None
            }
        }
    }

    /// Lends a logged-in connection of the account, preferring one that has
    /// `mailbox` selected. Waits (bounded) when all are lent.
    pub async fn borrow(
        &self,
        credentials: &Credentials,
        mailbox: Option<&str>,
    ) -> Result<PooledConnection, PoolError> {
        let account = self.account(&credentials.user);
        let fingerprint = self.fingerprint(credentials);

        let slot = self.take_lend_slot(&account).await?;
        let trusted =
            *account.accepted.lock().expect("accepted lock poisoned") == Some(fingerprint);
        if trusted && self.shared.settings.mode == PoolMode::Pooled {
            if let Some(connection) = self.take_idle(&account, mailbox).await {
                return Ok(PooledConnection {
                    connection: Some(connection),
                    _lend_slot: slot,
                    mode: self.shared.settings.mode,
                    fresh: false,
                    closed: self.shared.closed.clone(),
                });
            }
        }

        self.make_room(&account).await;
        self.open_and_lend(&account, credentials, slot).await
    }

    /// Closes every idle connection of the account (used at sign-out of its
    /// last session and when its password stops working).
    pub fn close_idle(&self, user: &str) {
        let Some(account) = self.existing_account(user) else {
            return;
        };
        let idle: Vec<IdleConnection> = std::mem::take(&mut *account.idle.lock().expect("idle"));
        for entry in idle {
            entry.connection.close();
        }
    }

    /// Notes that a session of the account made a request on this node.
    pub fn session_seen(&self, user: &str, session_tag: &str) {
        let account = self.account(user);
        let mut sessions = account.sessions.lock().expect("sessions lock poisoned");
        if !sessions.contains(session_tag) {
            sessions.insert(session_tag.to_owned());
        }
    }

    /// Notes that a session signed out. When no other session of the account
    /// is known on this node, its idle connections are logged out; other
    /// sessions keep theirs.
    pub fn session_ended(&self, user: &str, session_tag: &str) {
        let Some(account) = self.existing_account(user) else {
            return;
        };
        let none_left = {
            let mut sessions = account.sessions.lock().expect("sessions lock poisoned");
            sessions.remove(session_tag);
            sessions.is_empty()
        };
        if none_left {
            self.close_idle(user);
        }
    }

    /// Logs out every idle connection of every account and waits (bounded
    /// by the command timeout) for the LOGOUTs; used when the node stops.
    /// Connections lent at that moment are closed when they come back.
    pub async fn shutdown(&self) {
        let accounts: Vec<Arc<AccountPool>> = {
            let map = self.shared.accounts.lock().expect("accounts lock poisoned");
            map.values().cloned().collect()
        };
        let mut logouts = Vec::new();
        for account in accounts {
            let idle: Vec<IdleConnection> =
                std::mem::take(&mut *account.idle.lock().expect("idle"));
            for mut entry in idle {
                if let Some(imap) = entry.connection.imap.take() {
                    logouts.push(async move {
                        imap.logout().await;
                        drop(entry);
                    });
                }
            }
        }
        futures_util::future::join_all(logouts).await;
        self.shared.closed.store(true, Ordering::SeqCst);
    }

    /// Number of connections of the account open on this node.
    pub fn open_connections(&self, user: &str) -> usize {
        self.existing_account(user)
            .map_or(0, |a| a.open.load(Ordering::SeqCst))
    }

    /// Logs out connections idle for longer than the configured time and
    /// forgets accounts with no connection. Call it every few seconds.
    pub fn reap_idle(&self) {
        let limit = self.shared.settings.idle_close;
        let accounts: Vec<(String, Arc<AccountPool>)> = {
            let map = self.shared.accounts.lock().expect("accounts lock poisoned");
            map.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
        };
        for (_, account) in &accounts {
            let expired: Vec<IdleConnection> = {
                let mut idle = account.idle.lock().expect("idle lock poisoned");
                let (old, young): (Vec<_>, Vec<_>) = idle
                    .drain(..)
                    .partition(|entry| entry.returned_at.elapsed() >= limit);
                *idle = young;
                old
            };
            for entry in expired {
                tracing::debug!("idle connection logged out");
                entry.connection.close();
            }
        }

        let mut map = self.shared.accounts.lock().expect("accounts lock poisoned");
        map.retain(|_, account| {
            Arc::strong_count(account) > 1 || account.open.load(Ordering::SeqCst) > 0
        });
    }

    /// Starts the background task that calls [`ImapPool::reap_idle`].
    pub fn spawn_reaper(&self) -> tokio::task::JoinHandle<()> {
        let pool = self.clone();
        let every = (self.shared.settings.idle_close / 4)
            .clamp(Duration::from_secs(1), Duration::from_secs(30));
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(every);
            loop {
                ticks.tick().await;
                pool.reap_idle();
            }
        })
    }

    fn account(&self, user: &str) -> Arc<AccountPool> {
        let mut map = self.shared.accounts.lock().expect("accounts lock poisoned");
        map.entry(account_key(user))
            .or_insert_with(|| {
                let cap = self.shared.settings.per_user;
                Arc::new(AccountPool {
                    lend_slots: Arc::new(Semaphore::new(cap)),
                    surplus: AtomicUsize::new(0),
                    idle: Mutex::new(Vec::new()),
                    accepted: Mutex::new(None),
                    open: AtomicUsize::new(0),
                    found_dead: Mutex::new(None),
                    cap: AtomicUsize::new(cap),
                    sessions: Mutex::new(HashSet::new()),
                })
            })
            .clone()
    }

    fn existing_account(&self, user: &str) -> Option<Arc<AccountPool>> {
        self.shared
            .accounts
            .lock()
            .expect("accounts lock poisoned")
            .get(&account_key(user))
            .cloned()
    }

    fn fingerprint(&self, credentials: &Credentials) -> [u8; 32] {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.shared.fingerprint_key)
            .expect("HMAC takes any key length");
        mac.update(credentials.user.as_bytes());
        mac.update(&[0]);
        mac.update(credentials.password.expose().as_bytes());
        mac.finalize().into_bytes().into()
    }

    /// Takes a lend permit of the account, waiting at most `borrow_wait`
    /// in all. A permit the lowered cap no longer allows is forgotten, and
    /// another is waited for.
    async fn take_lend_slot(
        &self,
        account: &AccountPool,
    ) -> Result<OwnedSemaphorePermit, PoolError> {
        let deadline = tokio::time::Instant::now() + self.shared.settings.borrow_wait;
        let mut waited = false;
        loop {
            let slot = match account.lend_slots.clone().try_acquire_owned() {
                Ok(slot) => slot,
                Err(_) => {
                    if !waited {
                        bump(&self.shared.metrics.pool_borrow_waits);
                        waited = true;
                    }
                    let permit = account.lend_slots.clone().acquire_owned();
                    match tokio::time::timeout_at(deadline, permit).await {
                        Ok(Ok(slot)) => slot,
                        Ok(Err(_closed)) => return Err(PoolError::ServerBusy),
                        Err(_elapsed) => return Err(PoolError::WaitedTooLong),
                    }
                }
            };

            let retire = account
                .surplus
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1));
            if retire.is_err() {
                return Ok(slot);
            }
            slot.forget();
        }
    }

    /// Takes an idle connection, preferring one with `mailbox` selected;
    /// checks with NOOP one that idled a while or was idle when another
    /// connection of the account was found dead, and drops any that is dead
    /// or idled past the limit.
    async fn take_idle(
        &self,
        account: &AccountPool,
        mailbox: Option<&str>,
    ) -> Option<OpenConnection> {
        let settings = &self.shared.settings;
        loop {
            let entry = {
                let mut idle = account.idle.lock().expect("idle lock poisoned");
                let preferred = mailbox.and_then(|wanted| {
                    idle.iter().rposition(|entry| {
                        let imap = entry.connection.imap.as_ref();
                        imap.and_then(|c| c.selected())
                            .is_some_and(|s| s.raw_name == wanted)
                    })
                });
                match preferred {
                    Some(index) => idle.remove(index),
                    None => idle.pop()?,
                }
            };

            let idle_for = entry.returned_at.elapsed();
            let mut connection = entry.connection;
            if idle_for >= settings.idle_close {
                connection.close();
                continue;
            }
            let suspect = account.idle_when_one_died(entry.returned_at);
            if idle_for >= settings.check_after || suspect {
                bump(&self.shared.metrics.commands.noop);
                if connection.imap().noop().await.is_err() || !connection.imap().is_usable() {
                    tracing::debug!("idle connection found dead; replacing it");
                    bump(&self.shared.metrics.pool_reconnects);
                    continue;
                }
            }
            return Some(connection);
        }
    }

    /// Logs out one idle connection when the account is at its cap, so that
    /// a new one may be opened (a borrower whose password differs from the
    /// accepted one must log in afresh even while idle connections exist).
    /// It waits for the LOGOUT: until the server has ended that session, the
    /// session counts against the server's limit, and a LOGIN sent meanwhile
    /// is refused.
    async fn make_room(&self, account: &AccountPool) {
        if account.open.load(Ordering::SeqCst) < account.cap.load(Ordering::SeqCst) {
            return;
        }
        let oldest = {
            let mut idle = account.idle.lock().expect("idle lock poisoned");
            (!idle.is_empty()).then(|| idle.remove(0))
        };
        if let Some(entry) = oldest {
            entry.connection.logout().await;
        }
    }

    /// Opens and logs in a connection and lends it. On `NO [LIMIT]` lowers
    /// the account's cap and waits for a connection another request returns.
    async fn open_and_lend(
        &self,
        account: &Arc<AccountPool>,
        credentials: &Credentials,
        mut slot: OwnedSemaphorePermit,
    ) -> Result<PooledConnection, PoolError> {
        loop {
            match self.open(account, credentials).await {
                Ok(connection) => {
                    return Ok(PooledConnection {
                        connection: Some(connection),
                        _lend_slot: slot,
                        mode: self.shared.settings.mode,
                        fresh: true,
                        closed: self.shared.closed.clone(),
                    })
                }
                Err(PoolError::ServerBusy) => {
                    let open = account.open.load(Ordering::SeqCst);
                    if open == 0 {
                        return Err(PoolError::ServerBusy);
                    }
                    if account.lower_cap(open, slot) {
                        tracing::info!(cap = open, "account pool capped by the server's limit");
                    }
                    slot = self.take_lend_slot(account).await?;
                    let trusted_fingerprint = self.fingerprint(credentials);
                    let trusted = *account.accepted.lock().expect("accepted lock")
                        == Some(trusted_fingerprint);
                    if trusted {
                        if let Some(connection) = self.take_idle(account, None).await {
                            return Ok(PooledConnection {
                                connection: Some(connection),
                                _lend_slot: slot,
                                mode: self.shared.settings.mode,
                                fresh: false,
                                closed: self.shared.closed.clone(),
                            });
                        }
                    }
                }
                Err(other) => return Err(other),
            }
        }
    }

    /// Connects to the first address that answers and logs in.
    async fn open(
        &self,
        account: &Arc<AccountPool>,
        credentials: &Credentials,
    ) -> Result<OpenConnection, PoolError> {
        let shared = &self.shared;
        let node_slot = match tokio::time::timeout(
            shared.settings.borrow_wait,
            shared.node_slots.clone().acquire_owned(),
        )
        .await
        {
            Ok(Ok(slot)) => slot,
            _ => return Err(PoolError::WaitedTooLong),
        };

        let mut imap = self.connect().await?;
        account.open.fetch_add(1, Ordering::SeqCst);
        shared
            .metrics
            .imap_connections_open
            .fetch_add(1, Ordering::Relaxed);
        let mut connection = OpenConnection {
            imap: None,
            account: account.clone(),
            metrics: shared.metrics.clone(),
            _node_slot: node_slot,
        };

        if let Some(client) = credentials.client {
            let address = client.to_string();
            let fields = [
                ("name", "mailfront"),
                ("x-originating-ip", address.as_str()),
            ];
            if let Err(error) = imap.send_client_id(&fields).await {
                tracing::debug!(%error, "ID before login failed");
            }
        }
        bump(&shared.metrics.imap_logins);
        let login = imap.login(&credentials.user, &credentials.password).await;
        connection.imap = Some(imap);
        match login {
            Ok(()) => {
                let fingerprint = self.fingerprint(credentials);
                *account.accepted.lock().expect("accepted lock poisoned") = Some(fingerprint);
                tracing::info!(conn_id = connection.imap().id(), "imap login");
                Ok(connection)
            }
            Err(ImapError::AuthenticationFailed { .. }) => {
                bump(&shared.metrics.imap_login_failures);
                connection.close();
                Err(PoolError::AuthenticationFailed)
            }
            Err(ImapError::ConnectionLimit) => {
                bump(&shared.metrics.imap_login_limit_refusals);
                // A refused LOGIN left no session to log out of. Dropping the
                // connection now takes it out of `open` before the caller
                // compares that count with the cap.
                drop(connection);
                Err(PoolError::ServerBusy)
            }
            Err(error) if error.is_connection_lost() => Err(PoolError::Unreachable(error)),
            Err(error) => Err(PoolError::LoginFailed(error)),
        }
    }

    async fn connect(&self) -> Result<Connection, PoolError> {
        let shared = &self.shared;
        let security = match shared.server.transport {
            Transport::ImplicitTls => Security::ImplicitTls,
            Transport::StartTls => Security::StartTls,
            Transport::Plain => Security::Plain,
        };
        let addresses = shared.resolver.addresses().await?;

        let mut last_error = None;
        for address in addresses {
            let attempt = Connection::connect(
                address,
                &shared.server.host,
                security,
                shared.tls.clone(),
                shared.timeouts,
            )
            .await;
            match attempt {
                Ok(imap) => return Ok(imap),
                Err(error) => {
                    tracing::debug!(%address, %error, "imap connect failed");
                    last_error = Some(error);
                }
            }
        }
        shared.resolver.forget();
        let error = last_error.expect("resolver returns at least one address");
        Err(match error {
            ImapError::Refused { .. } => PoolError::Refused,
            other => PoolError::Unreachable(other),
        })
    }
}
