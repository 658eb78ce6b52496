//! Part of section 4 (`nodes`): what a request pays for its session before
//! and after its own work, with the session in Redis and with the embedded
//! store: taking the session's lock alone, and the whole round of a signed-in
//! request (lock, load the record, save it back, release the lock).
//!
//! It owns these timings, taken in the bench's process through the
//! library's own types, over loopback to the bench's private Redis. Each
//! round uses a session of its own, as requests of many users would, so no
//! round waits for another's release. It changes nothing a node uses.

use std::sync::Arc;
use std::time::{Duration, Instant};

use mailfront::config::{RedisSettings, RedisUrl};
use mailfront::session::redis::{RedisLink, RedisLockSettings, RedisLocks, RedisStore};
use mailfront::session::{
    EmbeddedStore, LocalLocks, LockSettings, SessionCookie, SessionLocks, SessionRecord,
    SessionStore,
};

use crate::stats::{ms, Samples};
use crate::support::{scratch_dir, Redis};
use crate::table::Table;

/// Life of the records saved.
const TTL: Duration = Duration::from_secs(600);

/// The timings of one back end.
pub struct Cost {
    pub backend: &'static str,
    /// Taking the lock of a session nobody holds.
    pub acquire: Samples,
    /// Lock, load, save, release.
    pub round: Samples,
}

/// Times `rounds` rounds on each back end; none when Redis is not
/// installed (outside CI, where that fails).
pub async fn measure(rounds: usize) -> Result<Vec<Cost>, String> {
    let dir = scratch_dir("bench-lock-cost");
    let Some(redis) = Redis::start(&dir.join("redis")) else {
        return Ok(Vec::new());
    };

    let embedded = EmbeddedStore::open(&dir.join("sessions.redb"))
        .map_err(|e| format!("the embedded store did not open; {e}"))?;
    let local = LocalLocks::new(LockSettings::default());
    let on_disk = time_rounds("embedded", &local, &embedded, rounds).await?;

    let settings = RedisSettings {
        url: RedisUrl::parse(&redis.url()).map_err(|e| format!("{e}"))?,
        timeout: Duration::from_secs(2),
        key_prefix: "bench-lock-cost:".to_owned(),
    };
    let link = RedisLink::open(&settings).map_err(|e| format!("no link to Redis; {e}"))?;
    let locks = RedisLocks::new(
        link.clone(),
        RedisLockSettings::new(LockSettings::default()),
    );
    let store = Arc::new(RedisStore::new(link));
    let shared = time_rounds("redis", &locks, store.as_ref(), rounds).await?;
    Ok(vec![on_disk, shared])
}

async fn time_rounds(
    backend: &'static str,
    locks: &dyn SessionLocks,
    store: &dyn SessionStore,
    rounds: usize,
) -> Result<Cost, String> {
    let mut cost = Cost {
        backend,
        acquire: Samples::default(),
        round: Samples::default(),
    };
    let now = chrono::Utc::now().timestamp();

    // A first round opens connections and loads scripts: not timed.
    for n in 0..=rounds {
        let cookie = SessionCookie::generate();
        let mut record = SessionRecord::new(format!("bench{n}"), vec![7; 64], now);
        store
            .save(&cookie.id, &record, TTL)
            .await
            .map_err(|e| format!("{backend}: a record could not be saved; {e}"))?;

        let started = Instant::now();
        let guard = locks
            .acquire(&cookie.id)
            .await
            .map_err(|e| format!("{backend}: the lock was refused; {e}"))?;
        let acquired = started.elapsed();
        let loaded = store
            .load(&cookie.id)
            .await
            .map_err(|e| format!("{backend}: the record could not be loaded; {e}"))?;
        record = loaded.ok_or_else(|| format!("{backend}: the record saved is missing"))?;
        record.last_seen = now + 1;
        store
            .save(&cookie.id, &record, TTL)
            .await
            .map_err(|e| format!("{backend}: the record could not be saved back; {e}"))?;
        guard.release();
        let round = started.elapsed();

        if n > 0 {
            cost.acquire.push(acquired);
            cost.round.push(round);
        }
    }
    Ok(cost)
}

/// The timings as a table.
pub fn report(costs: &[Cost]) -> String {
    let mut table = Table::new(&[
        "session store",
        ">rounds",
        ">lock median ms",
        ">lock p99 ms",
        ">lock + load + save + release median ms",
        ">p99 ms",
    ]);
    for cost in costs {
        table.row(vec![
            cost.backend.to_owned(),
            cost.round.len().to_string(),
            ms(cost.acquire.median()),
            ms(cost.acquire.p99()),
            ms(cost.round.median()),
            ms(cost.round.p99()),
        ]);
    }
    let title = "### The session's own cost per request (one session per round, Redis on loopback)";
    if costs.is_empty() {
        return format!("{title}\n\nNot measured: redis-server is not installed.\n");
    }
    format!(
        "{title}\n\n{}\nRedis locks send the release in the background: it loads the \
         connection but is not in the round's time.\n",
        table.render()
    )
}
