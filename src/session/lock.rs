//! The per-session request lock: one request at a time works on a session,
//! from loading its record to saving it, so parallel clicks neither lose
//! each other's changes nor race a logout.
//!
//! This module owns the lock interface ([`SessionLocks`]), the guard a
//! request holds ([`SessionLockGuard`]) and the in-process implementation
//! ([`LocalLocks`]). It does not load or save records and knows nothing of
//! HTTP; turning a refusal into a "still working, retry" answer is the web
//! layer's job.
//!
//! Invariants of `LocalLocks`: at most one guard per session exists at any
//! time; waiters are served in the order they joined the queue; at most
//! `max_waiters` wait per session and no one waits longer than `max_wait`;
//! a waiter whose future is dropped leaves the queue at once; a session with
//! neither holder nor waiter takes no memory.

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::cookie::SessionId;

/// How requests queue for a busy session.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LockSettings {
    /// Requests that may wait while another request holds the session; one
    /// more is refused at once. Default 2.
    pub max_waiters: usize,
    /// Longest a request waits before it is refused. Default 10 s.
    pub max_wait: Duration,
}

impl Default for LockSettings {
    fn default() -> Self {
        Self {
            max_waiters: 2,
            max_wait: Duration::from_secs(10),
        }
    }
}

/// Why a request did not get its session.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LockRefused {
    /// `max_waiters` requests were already waiting.
    #[error("session is busy with other requests; retry in a moment")]
    QueueFull,
    /// The session stayed busy for `max_wait`.
    #[error("session stayed busy too long; retry in a moment")]
    TimedOut,
    /// The shared lock service (Redis) could not be reached; the cause was
    /// logged where it happened.
    #[error("session lock service is unavailable; retry in a minute")]
    Unavailable,
}

/// Hands out the per-session lock.
///
/// `Err(LockRefused::Unavailable)` is only given by implementations that
/// depend on another service.
#[async_trait]
pub trait SessionLocks: Send + Sync + 'static {
    /// `Ok(guard)` when this request now holds the session;
    /// `Err(LockRefused::QueueFull)` at once when `max_waiters` requests
    /// already wait; `Err(LockRefused::TimedOut)` after `max_wait`.
    ///
    /// Dropping the returned future while it waits gives up its place.
    async fn acquire(&self, id: &SessionId) -> Result<SessionLockGuard, LockRefused>;

    /// What this node's requests got from the locks, for the metrics page.
    fn counters(&self) -> &LockCounters;
}

/// Something whose drop releases a held session: a local permit, or a lease
/// in a shared store whose `Drop` gives it back.
pub trait SessionLease: Send + Sync + 'static {}

/// Proof that this request holds its session. Dropping it releases the
/// session; [`SessionLockGuard::release`] does the same, explicitly.
pub struct SessionLockGuard {
    /// Released by its own `Drop`.
    _lease: Box<dyn SessionLease>,
    /// The fencing token of a lease that can run out (see
    /// [`SessionLockGuard::fence`]).
    fence: Option<u64>,
}

impl SessionLockGuard {
    /// Wraps a lease of any lock implementation that cannot run out while
    /// its holder lives.
    pub fn from_lease(lease: impl SessionLease) -> Self {
        Self {
            _lease: Box::new(lease),
            fence: None,
        }
    }

    /// Wraps a lease that may run out (a lease in a shared store whose
    /// holder stalls), with the fencing token it was granted under.
    pub fn from_fenced_lease(lease: impl SessionLease, fence: u64) -> Self {
        Self {
            _lease: Box::new(lease),
            fence: Some(fence),
        }
    }

    /// The fencing token: grows with every grant of this session, so a
    /// store can refuse the writes of a holder whose lease ran out and was
    /// granted to someone else. `None` for in-process locks.
    pub fn fence(&self) -> Option<u64> {
        self.fence
    }

    /// Releases the session now, before the guard would go out of scope.
    pub fn release(self) {
        drop(self);
    }
}

impl fmt::Debug for SessionLockGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionLockGuard").finish_non_exhaustive()
    }
}

/// What the lock did, for the metrics page. Relaxed atomics: a reader may
/// see a slightly old value.
#[derive(Debug, Default)]
pub struct LockCounters {
    /// Requests that got their session, at once or after waiting.
    pub granted: AtomicU64,
    /// Requests that had to wait (and then got it, timed out or left).
    pub waited: AtomicU64,
    /// Requests refused at once because the queue was full.
    pub refused_queue_full: AtomicU64,
    /// Requests refused after waiting `max_wait`.
    pub timed_out: AtomicU64,
    /// Waiting requests that went away (their future was dropped).
    pub abandoned: AtomicU64,
}

/// Session locks for one process.
///
/// # Limitations
///
/// Requests are serialised only within this process. Several nodes serving
/// one session need a shared lease (for instance in Redis) behind
/// [`SessionLocks`].
#[derive(Clone)]
pub struct LocalLocks {
    shared: Arc<Shared>,
}

/// State shared by `LocalLocks`, its guards and its waiters.
struct Shared {
    /// Fixed at construction.
    settings: LockSettings,
    /// One slot per session that has a holder or waiters, keyed by the
    /// SHA-256 of its id. `acquire`, waiter tickets and leases take the lock
    /// for a few map operations. It is a blocking mutex because it is never
    /// held across `.await`: the semaphore is cloned out of the slot and the
    /// lock released before any waiting, so tokio's async mutex would only
    /// add cost.
    slots: Mutex<HashMap<[u8; 32], Slot>>,
    /// Bumped by `acquire` and by waiter tickets, without any lock.
    counters: LockCounters,
}

/// The lock of one session.
struct Slot {
    /// One permit: whoever has it holds the session. tokio's semaphore
    /// queues waiters first come, first served, hands a released permit
    /// straight to the first waiter, and forgets a waiter whose future is
    /// dropped. Changed only under `Shared::slots`.
    permit: Arc<Semaphore>,
    /// Requests holding or waiting for this session. The slot is removed
    /// when it reaches zero.
    users: usize,
    /// Requests waiting, not yet holding.
    waiting: usize,
}

/// What `acquire` decided under the map lock.
enum Entry {
    Granted(OwnedSemaphorePermit),
    Wait(Arc<Semaphore>),
    Refused,
}

impl LocalLocks {
    /// Locks with the given queue length and wait limit.
    pub fn new(settings: LockSettings) -> Self {
        Self {
            shared: Arc::new(Shared {
                settings,
                slots: Mutex::new(HashMap::new()),
                counters: LockCounters::default(),
            }),
        }
    }

    /// Requests now waiting for session `id` (not counting its holder).
    pub fn waiting(&self, id: &SessionId) -> usize {
        self.shared
            .slots()
            .get(&id.digest())
            .map_or(0, |slot| slot.waiting)
    }

    /// Sessions now held or waited for; zero when all requests are done.
    pub fn tracked_sessions(&self) -> usize {
        self.shared.slots().len()
    }

    /// What the locks did since start, for the metrics page.
    pub fn counters(&self) -> &LockCounters {
        &self.shared.counters
    }
}

impl fmt::Debug for LocalLocks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LocalLocks")
            .field("settings", &self.shared.settings)
            .field("tracked_sessions", &self.tracked_sessions())
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl SessionLocks for LocalLocks {
    async fn acquire(&self, id: &SessionId) -> Result<SessionLockGuard, LockRefused> {
        let key = id.digest();
        let counters = &self.shared.counters;

        let semaphore = match self.shared.enter(key) {
            Entry::Granted(permit) => {
                counters.granted.fetch_add(1, Ordering::Relaxed);
                return Ok(self.shared.lease(key, permit));
            }
            Entry::Refused => {
                counters.refused_queue_full.fetch_add(1, Ordering::Relaxed);
                return Err(LockRefused::QueueFull);
            }
            Entry::Wait(semaphore) => semaphore,
        };

        counters.waited.fetch_add(1, Ordering::Relaxed);
        let mut ticket = WaitTicket {
            shared: Arc::clone(&self.shared),
            key,
            outcome: WaitOutcome::Abandoned,
        };
        let waited = tokio::time::timeout(self.shared.settings.max_wait, semaphore.acquire_owned());

        match waited.await {
            Ok(Ok(permit)) => {
                ticket.outcome = WaitOutcome::Granted;
                drop(ticket);
                counters.granted.fetch_add(1, Ordering::Relaxed);
                Ok(self.shared.lease(key, permit))
            }
            // The semaphore is never closed; were it, waiting on would be
            // pointless, so the request is refused like a timeout.
            Ok(Err(_)) | Err(_) => {
                ticket.outcome = WaitOutcome::TimedOut;
                counters.timed_out.fetch_add(1, Ordering::Relaxed);
                Err(LockRefused::TimedOut)
            }
        }
    }

    fn counters(&self) -> &LockCounters {
        &self.shared.counters
    }
}

impl Shared {
    fn slots(&self) -> MutexGuard<'_, HashMap<[u8; 32], Slot>> {
        // Nothing that can panic runs while the lock is held, and each
        // critical section leaves the map consistent, so a poisoned lock
        // still guards valid data.
        self.slots.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Takes the session at once, joins its queue, or is refused.
    fn enter(&self, key: [u8; 32]) -> Entry {
        let mut slots = self.slots();
        let slot = slots.entry(key).or_insert_with(|| Slot {
            permit: Arc::new(Semaphore::new(1)),
            users: 0,
            waiting: 0,
        });

        // A free permit means nobody holds or waits: the semaphore hands a
        // released permit to its first waiter, so it is never free while
        // anyone queues.
        if let Ok(permit) = Arc::clone(&slot.permit).try_acquire_owned() {
            slot.users += 1;
            return Entry::Granted(permit);
        }
        if slot.waiting >= self.settings.max_waiters {
            return Entry::Refused;
        }

        slot.users += 1;
        slot.waiting += 1;
        Entry::Wait(Arc::clone(&slot.permit))
    }

    fn lease(self: &Arc<Self>, key: [u8; 32], permit: OwnedSemaphorePermit) -> SessionLockGuard {
        SessionLockGuard::from_lease(LocalLease {
            shared: Arc::clone(self),
            key,
            permit: Some(permit),
        })
    }

    /// One user of `key` is gone; drops the slot when it was the last.
    fn leave(slots: &mut HashMap<[u8; 32], Slot>, key: &[u8; 32]) {
        if let Some(slot) = slots.get_mut(key) {
            slot.users -= 1;
            if slot.users == 0 {
                slots.remove(key);
            }
        }
    }
}

/// A session held in this process.
struct LocalLease {
    shared: Arc<Shared>,
    key: [u8; 32],
    /// Taken in `drop`; always `Some` before.
    permit: Option<OwnedSemaphorePermit>,
}

impl SessionLease for LocalLease {}

impl Drop for LocalLease {
    fn drop(&mut self) {
        let mut slots = self.shared.slots();

        // Released under the map lock, so that a newcomer cannot see the
        // slot gone while this permit still exists.
        drop(self.permit.take());
        Shared::leave(&mut slots, &self.key);
    }
}

/// How a wait ended, as known when its ticket drops.
#[derive(Clone, Copy, PartialEq, Eq)]
enum WaitOutcome {
    /// The waiting future was dropped before the wait ended.
    Abandoned,
    TimedOut,
    /// The waiter now holds the session; its lease counts it as a user.
    Granted,
}

/// A place in a session's queue. Dropping it, whichever way the wait ended,
/// gives the place back; this is what makes `acquire` cancellation-safe.
struct WaitTicket {
    shared: Arc<Shared>,
    key: [u8; 32],
    outcome: WaitOutcome,
}

impl Drop for WaitTicket {
    fn drop(&mut self) {
        if self.outcome == WaitOutcome::Abandoned {
            self.shared
                .counters
                .abandoned
                .fetch_add(1, Ordering::Relaxed);
        }

        let mut slots = self.shared.slots();
        if let Some(slot) = slots.get_mut(&self.key) {
            slot.waiting -= 1;
        }
        if self.outcome != WaitOutcome::Granted {
            Shared::leave(&mut slots, &self.key);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::future::Future;
    use std::pin::pin;
    use std::sync::atomic::AtomicUsize;
    use std::task::{Context, Poll, Waker};

    use super::*;
    use crate::session::cookie::SessionCookie;

    fn locks(max_waiters: usize, max_wait: Duration) -> LocalLocks {
        LocalLocks::new(LockSettings {
            max_waiters,
            max_wait,
        })
    }

    /// Polls `future` once without a runtime waker.
    fn poll_once<F: Future>(future: std::pin::Pin<&mut F>) -> Poll<F::Output> {
        future.poll(&mut Context::from_waker(Waker::noop()))
    }

    /// Spawns an acquirer and waits until it is queued.
    async fn spawn_waiter(
        locks: &LocalLocks,
        id: &SessionId,
    ) -> tokio::task::JoinHandle<Result<SessionLockGuard, LockRefused>> {
        let before = locks.waiting(id);
        let (task_locks, task_id) = (locks.clone(), id.clone());
        let handle = tokio::spawn(async move { task_locks.acquire(&task_id).await });
        while locks.waiting(id) == before {
            tokio::task::yield_now().await;
        }
        handle
    }

    #[test]
    fn default_settings_queue_two_and_wait_ten_seconds() {
        let settings = LockSettings::default();

        assert_eq!(settings.max_waiters, 2);
        assert_eq!(settings.max_wait, Duration::from_secs(10));
    }

    #[tokio::test(start_paused = true)]
    async fn two_acquirers_never_hold_the_same_session_at_once() {
        let locks = locks(2, Duration::from_secs(10));
        let id = SessionCookie::generate().id;
        let holders = Arc::new(AtomicUsize::new(0));

        let mut tasks = Vec::new();
        for _ in 0..2 {
            let (locks, id, holders) = (locks.clone(), id.clone(), Arc::clone(&holders));
            tasks.push(tokio::spawn(async move {
                for _ in 0..50 {
                    let guard = locks.acquire(&id).await.expect("two never fill the queue");
                    assert_eq!(holders.fetch_add(1, Ordering::SeqCst), 0, "overlap");
                    tokio::time::sleep(Duration::from_millis(1)).await;
                    holders.fetch_sub(1, Ordering::SeqCst);
                    drop(guard);
                }
            }));
        }

        for task in tasks {
            task.await.unwrap();
        }
        assert_eq!(locks.tracked_sessions(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn a_waiter_beyond_max_waiters_is_refused_at_once() {
        let locks = locks(2, Duration::from_secs(10));
        let id = SessionCookie::generate().id;
        let _holder = locks.acquire(&id).await.unwrap();
        let first = spawn_waiter(&locks, &id).await;
        let second = spawn_waiter(&locks, &id).await;

        let mut third = pin!(locks.acquire(&id));

        assert!(matches!(
            poll_once(third.as_mut()),
            Poll::Ready(Err(LockRefused::QueueFull))
        ));
        assert_eq!(locks.waiting(&id), 2);
        assert_eq!(
            locks.counters().refused_queue_full.load(Ordering::Relaxed),
            1
        );
        first.abort();
        second.abort();
    }

    #[tokio::test(start_paused = true)]
    async fn a_waiter_is_refused_after_max_wait() {
        let locks = locks(2, Duration::from_secs(10));
        let id = SessionCookie::generate().id;
        let _holder = locks.acquire(&id).await.unwrap();
        let waiter = spawn_waiter(&locks, &id).await;

        tokio::time::advance(Duration::from_millis(9_999)).await;
        assert!(!waiter.is_finished());
        tokio::time::advance(Duration::from_millis(1)).await;

        assert_eq!(waiter.await.unwrap().unwrap_err(), LockRefused::TimedOut);
        assert_eq!(locks.waiting(&id), 0);
        assert_eq!(locks.counters().timed_out.load(Ordering::Relaxed), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn a_dropped_waiter_gives_up_its_place_at_once() {
        let locks = locks(1, Duration::from_secs(10));
        let id = SessionCookie::generate().id;
        let holder = locks.acquire(&id).await.unwrap();

        {
            let mut gone = pin!(locks.acquire(&id));
            assert!(poll_once(gone.as_mut()).is_pending());
            assert_eq!(locks.waiting(&id), 1);
        }
        assert_eq!(locks.waiting(&id), 0);
        let next = spawn_waiter(&locks, &id).await;
        holder.release();

        assert!(next.await.unwrap().is_ok());
        assert_eq!(locks.counters().abandoned.load(Ordering::Relaxed), 1);
        assert_eq!(locks.tracked_sessions(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn a_waiter_dropped_after_being_handed_the_lock_passes_it_on() {
        let locks = locks(2, Duration::from_secs(10));
        let id = SessionCookie::generate().id;
        let holder = locks.acquire(&id).await.unwrap();
        let mut first = Box::pin(locks.acquire(&id));
        assert!(poll_once(first.as_mut()).is_pending());
        let second = spawn_waiter(&locks, &id).await;

        // The permit goes to the first waiter, which is dropped unpolled.
        holder.release();
        drop(first);

        assert!(second.await.unwrap().is_ok());
        assert_eq!(locks.tracked_sessions(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn waiters_get_the_session_in_arrival_order() {
        let locks = locks(5, Duration::from_secs(10));
        let id = SessionCookie::generate().id;
        let holder = locks.acquire(&id).await.unwrap();
        let order = Arc::new(Mutex::new(Vec::new()));

        let mut tasks = Vec::new();
        for n in 0..5 {
            let (task_locks, task_id, order) = (locks.clone(), id.clone(), Arc::clone(&order));
            let before = locks.waiting(&id);
            tasks.push(tokio::spawn(async move {
                let _guard = task_locks.acquire(&task_id).await.unwrap();
                order.lock().unwrap().push(n);
                tokio::time::sleep(Duration::from_millis(5)).await;
            }));
            while locks.waiting(&id) == before {
                tokio::task::yield_now().await;
            }
        }
        holder.release();
        for task in tasks {
            task.await.unwrap();
        }

        assert_eq!(*order.lock().unwrap(), vec![0, 1, 2, 3, 4]);
    }

    #[tokio::test(start_paused = true)]
    async fn different_sessions_do_not_wait_for_each_other() {
        let locks = locks(0, Duration::from_secs(10));
        let first = SessionCookie::generate().id;
        let second = SessionCookie::generate().id;

        let _a = locks.acquire(&first).await.unwrap();
        let b = locks.acquire(&second).await;

        assert!(b.is_ok());
        assert_eq!(
            locks.acquire(&first).await.unwrap_err(),
            LockRefused::QueueFull
        );
        assert_eq!(locks.tracked_sessions(), 2);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn thirty_concurrent_acquirers_are_granted_or_refused_and_never_overlap() {
        let locks = locks(2, Duration::from_secs(10));
        let id = SessionCookie::generate().id;
        let holders = Arc::new(AtomicUsize::new(0));
        let start = Arc::new(tokio::sync::Barrier::new(30));

        let mut tasks = Vec::new();
        for _ in 0..30 {
            let (locks, id) = (locks.clone(), id.clone());
            let (holders, start) = (Arc::clone(&holders), Arc::clone(&start));
            tasks.push(tokio::spawn(async move {
                start.wait().await;
                let guard = locks.acquire(&id).await?;
                assert_eq!(holders.fetch_add(1, Ordering::SeqCst), 0, "overlap");
                tokio::time::sleep(Duration::from_millis(2)).await;
                holders.fetch_sub(1, Ordering::SeqCst);
                drop(guard);
                Ok::<(), LockRefused>(())
            }));
        }

        let (mut granted, mut refused) = (0, 0);
        for task in tasks {
            match task.await.unwrap() {
                Ok(()) => granted += 1,
                Err(LockRefused::QueueFull) => refused += 1,
                Err(LockRefused::TimedOut) => panic!("nobody waits 10 s here"),
                Err(LockRefused::Unavailable) => panic!("local locks depend on nothing"),
            }
        }

        assert_eq!(granted + refused, 30);
        assert!(granted >= 1, "someone must get the session");
        assert_eq!(locks.counters().granted.load(Ordering::Relaxed), granted);
        assert_eq!(
            locks.counters().refused_queue_full.load(Ordering::Relaxed),
            refused
        );
        assert_eq!(locks.tracked_sessions(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn many_sessions_leave_no_slots_behind() {
        let locks = locks(2, Duration::from_secs(10));

        for _ in 0..1000 {
            let guard = locks.acquire(&SessionCookie::generate().id).await.unwrap();
            assert_eq!(locks.tracked_sessions(), 1);
            drop(guard);
        }

        assert_eq!(locks.tracked_sessions(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn a_guard_from_any_lease_releases_on_drop() {
        struct CountedLease(Arc<AtomicUsize>);
        impl SessionLease for CountedLease {}
        impl Drop for CountedLease {
            fn drop(&mut self) {
                self.0.fetch_add(1, Ordering::SeqCst);
            }
        }
        let released = Arc::new(AtomicUsize::new(0));

        let guard = SessionLockGuard::from_lease(CountedLease(Arc::clone(&released)));
        assert_eq!(released.load(Ordering::SeqCst), 0);
        guard.release();

        assert_eq!(released.load(Ordering::SeqCst), 1);
        assert!(format!("{:?}", locks(1, Duration::ZERO)).contains("tracked_sessions: 0"));
    }
}
