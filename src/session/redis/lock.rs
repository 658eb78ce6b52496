//! The per-session request lock across nodes: a lease in Redis that one
//! request holds at a time, with a fencing token, and a queue of waiters
//! shared by all nodes.
//!
//! It owns, per session, the keys `<prefix>lock:<store key>` (the holder's
//! random token, expiring after the lease time), `<prefix>queue:<store key>`
//! (waiters by arrival) and `<prefix>seen:<store key>` (when each waiter last
//! asked), and the field `fence` of the session's record hash (see `store`):
//! a counter bumped at every grant that lives exactly as long as the session,
//! so it can neither expire under a stalled holder nor be started by a
//! cookie that names no session. It does not load or save records.
//!
//! Invariants: a lease is granted only when no other lease of the session
//! is live, to the first waiter in arrival order (or at once when nobody
//! waits); at most `max_waiters` requests wait per session, whatever their
//! node, and none longer than `max_wait`; only the holder's token can renew
//! or release a lease (Lua compare-then-act); while the request runs, a
//! background task renews its lease every third of the lease time; each
//! grant of a live session carries a larger fencing token than every grant
//! before it, which `RedisStore` checks on save (a session that does not
//! exist gets token 0: there is nothing to protect, and a save of it is
//! refused anyway). A waiter that stops asking (its node died) loses its
//! place after `STALE_WAITER`; a request that goes away gives back its
//! place, and a lease granted as it went, at once.
//!
//! Waiting is polling, starting at 5 ms and doubling up to 100 ms: simple,
//! bounded by `max_wait`, and cheap next to the requests being waited for.
//!
//! # Limitations
//!
//! - A holder that stalls longer than the lease time (a paused process, a
//!   Redis unreachable for renewals) loses its lease; the next request may
//!   then run beside it. Its IMAP work is not undone, but its session write
//!   is refused thanks to the fencing token.
//! - A lease is released by a task spawned when the guard drops: the next
//!   waiter may wait one round trip plus one poll longer than on one node.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use redis::Script;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::{int, millis, text, RedisFailure, RedisLink};
use crate::session::cookie::SessionId;
use crate::session::lock::{
    LockCounters, LockRefused, LockSettings, SessionLease, SessionLockGuard, SessionLocks,
};
use crate::session::random::random_array;

/// A waiter that has not asked for this long is taken for gone.
const STALE_WAITER: Duration = Duration::from_secs(3);

/// First pause between two polls of a waiter; doubles up to `MAX_POLL`.
const FIRST_POLL: Duration = Duration::from_millis(5);

/// Longest pause between two polls of a waiter.
const MAX_POLL: Duration = Duration::from_millis(100);

/// Shared head of `ENTER` and `POLL`: `prune` drops waiters that stopped
/// asking, `grant` hands out a lease, and the Redis clock gives `now` (ms,
/// for `seen`) and `arrival` (µs, the queue's order; exact in a Lua number).
const SCRIPT_HEAD: &str = r"
local function prune(now, stale)
  local gone = redis.call('ZRANGEBYSCORE', KEYS[4], '-inf', now - stale)
  for _, member in ipairs(gone) do
    redis.call('ZREM', KEYS[3], member)
    redis.call('ZREM', KEYS[4], member)
  end
end
local function grant(token, lease)
  redis.call('SET', KEYS[1], token, 'PX', lease)
  redis.call('ZREM', KEYS[3], token)
  redis.call('ZREM', KEYS[4], token)
  local fence = 0
  if redis.call('EXISTS', KEYS[2]) == 1 then
    fence = redis.call('HINCRBY', KEYS[2], 'fence', 1)
  end
  return {1, fence}
end
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
local arrival = tonumber(clock[1]) * 1000000 + tonumber(clock[2])
";

/// Takes the session or joins its queue.
/// KEYS: lock, session record, queue, seen. ARGV: token, lease ms, max
/// waiters, stale ms. Returns {1, fencing token} when granted, {0, 0} when
/// queued, {-1, 0} when the queue is full.
const ENTER: &str = r"
prune(now, tonumber(ARGV[4]))
local waiting = redis.call('ZCARD', KEYS[3])
if waiting == 0 and redis.call('EXISTS', KEYS[1]) == 0 then
  return grant(ARGV[1], tonumber(ARGV[2]))
end
if waiting >= tonumber(ARGV[3]) then
  return {-1, 0}
end
redis.call('ZADD', KEYS[3], arrival, ARGV[1])
redis.call('ZADD', KEYS[4], now, ARGV[1])
redis.call('PEXPIRE', KEYS[3], ARGV[4])
redis.call('PEXPIRE', KEYS[4], ARGV[4])
return {0, 0}
";

/// A waiter asks again. Same KEYS and ARGV as `ENTER` (max waiters unused).
/// Returns {1, fencing token} when granted, {0, 0} when still waiting,
/// {-1, 0} when the waiter lost its place (taken for gone).
const POLL: &str = r"
prune(now, tonumber(ARGV[4]))
if not redis.call('ZSCORE', KEYS[3], ARGV[1]) then
  return {-1, 0}
end
redis.call('ZADD', KEYS[4], now, ARGV[1])
redis.call('PEXPIRE', KEYS[3], ARGV[4])
redis.call('PEXPIRE', KEYS[4], ARGV[4])
if redis.call('EXISTS', KEYS[1]) == 0 then
  local first = redis.call('ZRANGE', KEYS[3], 0, 0)
  if first[1] == ARGV[1] then
    return grant(ARGV[1], tonumber(ARGV[2]))
  end
end
return {0, 0}
";

/// A request that went away gives up its place, and the lease too if a
/// grant reached Redis just before the request went. KEYS: queue, seen,
/// lock. ARGV: token.
const LEAVE: &str = r"
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('ZREM', KEYS[2], ARGV[1])
if redis.call('GET', KEYS[3]) == ARGV[1] then
  redis.call('DEL', KEYS[3])
end
return 0
";

/// The holder extends its lease. KEYS: lock. ARGV: token, lease ms.
/// Returns 1, or 0 when the lease is no longer this holder's.
const RENEW: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
";

/// The holder gives the session back. KEYS: lock. ARGV: token.
const RELEASE: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
";

/// How the shared locks behave.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RedisLockSettings {
    /// Queue length and longest wait, as for one node.
    pub queue: LockSettings,
    /// Life of a lease that is not renewed. Default 10 s; renewed every
    /// third of it while the request runs.
    pub lease: Duration,
}

impl RedisLockSettings {
    /// The given queue rules and a 10 s lease.
    pub fn new(queue: LockSettings) -> Self {
        Self {
            queue,
            lease: Duration::from_secs(10),
        }
    }
}

/// Session locks shared by every node that uses the same Redis and prefix.
#[derive(Clone)]
pub struct RedisLocks {
    shared: Arc<Shared>,
}

/// What the locks, their waiters and their leases share.
struct Shared {
    link: RedisLink,
    settings: RedisLockSettings,
    scripts: Scripts,
    /// This node's share of the decisions, bumped without a lock.
    counters: LockCounters,
}

struct Scripts {
    enter: Script,
    poll: Script,
    leave: Script,
    renew: Script,
    release: Script,
}

/// The four keys of one session, in the order the scripts expect.
#[derive(Clone)]
struct SessionKeys {
    lock: String,
    /// The record hash, holding the fencing counter.
    record: String,
    queue: String,
    seen: String,
}

impl SessionKeys {
    fn all(&self) -> [&str; 4] {
        [&self.lock, &self.record, &self.queue, &self.seen]
    }
}

/// What `ENTER` or `POLL` answered.
enum Answer {
    Granted(u64),
    Waiting,
    /// `ENTER`: the queue is full. `POLL`: this waiter lost its place.
    NoPlace,
}

impl RedisLocks {
    /// Locks over `link`; their counters (see `SessionLocks::counters`) are
    /// this node's share only.
    pub fn new(link: RedisLink, settings: RedisLockSettings) -> Self {
        let with_head = |body: &str| Script::new(&format!("{SCRIPT_HEAD}{body}"));
        Self {
            shared: Arc::new(Shared {
                link,
                settings,
                scripts: Scripts {
                    enter: with_head(ENTER),
                    poll: with_head(POLL),
                    leave: Script::new(LEAVE),
                    renew: Script::new(RENEW),
                    release: Script::new(RELEASE),
                },
                counters: LockCounters::default(),
            }),
        }
    }
}

impl std::fmt::Debug for RedisLocks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisLocks")
            .field("settings", &self.shared.settings)
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl SessionLocks for RedisLocks {
    async fn acquire(&self, id: &SessionId) -> Result<SessionLockGuard, LockRefused> {
        let shared = &self.shared;
        let keys = shared.keys(id);
        let token = new_token();
        let counters = &shared.counters;

        // From here until the lease exists, dropping this future (the
        // request went away) must not leave a place or a lease behind.
        let mut ticket = WaitTicket {
            shared: Arc::clone(shared),
            keys: keys.clone(),
            token: token.clone(),
            waiting: false,
            done: false,
        };
        match shared.ask(&shared.scripts.enter, &keys, &token).await? {
            Answer::Waiting => {}
            Answer::NoPlace => {
                ticket.done = true;
                counters.refused_queue_full.fetch_add(1, Ordering::Relaxed);
                return Err(LockRefused::QueueFull);
            }
            Answer::Granted(fence) => {
                ticket.done = true;
                return Ok(shared.lease(keys, token, fence));
            }
        }

        counters.waited.fetch_add(1, Ordering::Relaxed);
        ticket.waiting = true;
        let deadline = Instant::now() + shared.settings.queue.max_wait;
        let mut pause = FIRST_POLL;

        loop {
            let now = Instant::now();
            if now >= deadline {
                ticket.leave().await;
                counters.timed_out.fetch_add(1, Ordering::Relaxed);
                return Err(LockRefused::TimedOut);
            }
            tokio::time::sleep(pause.min(deadline - now)).await;
            pause = (pause * 2).min(MAX_POLL);

            // Losing the place means this waiter was taken for gone; it
            // queues again at the end, or is refused if the queue filled.
            let script = &shared.scripts.poll;
            let answer = match shared.ask(script, &keys, &token).await? {
                Answer::NoPlace => shared.ask(&shared.scripts.enter, &keys, &token).await?,
                answer => answer,
            };
            match answer {
                Answer::Waiting => {}
                Answer::NoPlace => {
                    ticket.done = true;
                    counters.refused_queue_full.fetch_add(1, Ordering::Relaxed);
                    return Err(LockRefused::QueueFull);
                }
                Answer::Granted(fence) => {
                    ticket.done = true;
                    return Ok(shared.lease(keys, token, fence));
                }
            }
        }
    }

    fn counters(&self) -> &LockCounters {
        &self.shared.counters
    }
}

impl Shared {
    fn keys(&self, id: &SessionId) -> SessionKeys {
        let name = id.store_key();
        SessionKeys {
            lock: self.link.key("lock", &name),
            record: self.link.key("session", &name),
            queue: self.link.key("queue", &name),
            seen: self.link.key("seen", &name),
        }
    }

    /// Runs `ENTER` or `POLL`; a failure is logged and becomes
    /// `LockRefused::Unavailable`.
    async fn ask(
        &self,
        script: &Script,
        keys: &SessionKeys,
        token: &str,
    ) -> Result<Answer, LockRefused> {
        let stale = STALE_WAITER.max(self.link.timeout() * 2);
        let args = [
            text(token),
            millis(self.settings.lease),
            int(self.settings.queue.max_waiters),
            millis(stale),
        ];

        let answer: Result<(i64, i64), RedisFailure> =
            self.link.run_script(script, &keys.all(), &args).await;
        match answer {
            Ok((1, fence)) => Ok(Answer::Granted(u64::try_from(fence).unwrap_or_default())),
            Ok((0, _)) => Ok(Answer::Waiting),
            Ok(_) => Ok(Answer::NoPlace),
            Err(failure) => {
                tracing::warn!(error = %failure, "session lock unavailable");
                Err(LockRefused::Unavailable)
            }
        }
    }

    fn lease(self: &Arc<Self>, keys: SessionKeys, token: String, fence: u64) -> SessionLockGuard {
        self.counters.granted.fetch_add(1, Ordering::Relaxed);
        let renewer = tokio::spawn(renew_until_dropped(
            Arc::clone(self),
            keys.lock.clone(),
            token.clone(),
        ));
        let lease = RedisLease {
            shared: Arc::clone(self),
            lock_key: keys.lock,
            token,
            renewer,
        };
        SessionLockGuard::from_fenced_lease(lease, fence)
    }
}

/// Renews a lease every third of its time until aborted (by the lease's
/// drop) or until the lease turns out to be someone else's.
async fn renew_until_dropped(shared: Arc<Shared>, lock_key: String, token: String) {
    let every = shared.settings.lease / 3;
    let args = [text(&token), millis(shared.settings.lease)];

    loop {
        tokio::time::sleep(every).await;
        let renewed: Result<i64, RedisFailure> = shared
            .link
            .run_script(&shared.scripts.renew, &[&lock_key], &args)
            .await;
        match renewed {
            Ok(1) => {}
            Ok(_) => {
                tracing::warn!("session lease ran out while its request ran");
                return;
            }
            // The next tick tries again; the lease lasts three ticks.
            Err(failure) => tracing::debug!(error = %failure, "session lease not renewed"),
        }
    }
}

/// A session held through Redis. Dropping it stops the renewals and
/// releases the lease in a spawned task.
struct RedisLease {
    shared: Arc<Shared>,
    lock_key: String,
    token: String,
    renewer: JoinHandle<()>,
}

impl SessionLease for RedisLease {}

impl Drop for RedisLease {
    fn drop(&mut self) {
        self.renewer.abort();

        let shared = Arc::clone(&self.shared);
        let lock_key = std::mem::take(&mut self.lock_key);
        let token = std::mem::take(&mut self.token);
        spawn_if_in_runtime(async move {
            let released: Result<i64, RedisFailure> = shared
                .link
                .run_script(&shared.scripts.release, &[&lock_key], &[text(&token)])
                .await;
            if let Err(failure) = released {
                // The lease runs out by itself after its time.
                tracing::debug!(error = %failure, "session lease not released");
            }
        });
    }
}

/// An acquirer's claim on a session: its place in the queue, or a lease
/// granted but not yet handed over. Dropping it before `acquire` ended (the
/// request went away) gives both back in a spawned task.
struct WaitTicket {
    shared: Arc<Shared>,
    keys: SessionKeys,
    token: String,
    /// Set once the acquirer joined the queue, for the counters.
    waiting: bool,
    /// Set once the claim was turned into a lease or a refusal, or was
    /// given back.
    done: bool,
}

impl WaitTicket {
    async fn leave(&mut self) {
        self.done = true;
        leave_queue(&self.shared, &self.keys, &self.token).await;
    }
}

impl Drop for WaitTicket {
    fn drop(&mut self) {
        if self.done {
            return;
        }

        if self.waiting {
            self.shared
                .counters
                .abandoned
                .fetch_add(1, Ordering::Relaxed);
        }
        let (shared, keys) = (Arc::clone(&self.shared), self.keys.clone());
        let token = std::mem::take(&mut self.token);
        spawn_if_in_runtime(async move { leave_queue(&shared, &keys, &token).await });
    }
}

async fn leave_queue(shared: &Shared, keys: &SessionKeys, token: &str) {
    let left: Result<i64, RedisFailure> = shared
        .link
        .run_script(
            &shared.scripts.leave,
            &[&keys.queue, &keys.seen, &keys.lock],
            &[text(token)],
        )
        .await;
    if let Err(failure) = left {
        // The place is pruned once it has not been asked for a while.
        tracing::debug!(error = %failure, "session queue place not given back");
    }
}

/// Spawns `task` on the current tokio runtime; outside one (a guard dropped
/// after shutdown) the work is skipped and Redis expiry does it later.
fn spawn_if_in_runtime(task: impl std::future::Future<Output = ()> + Send + 'static) {
    if let Ok(runtime) = tokio::runtime::Handle::try_current() {
        runtime.spawn(task);
    }
}

/// A random token naming one acquirer: 16 bytes, hex.
fn new_token() -> String {
    random_array::<16>()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
