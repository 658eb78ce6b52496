//! The Redis back end against a real `redis-server` started for this test
//! binary: session records, the shared session lock with its fencing
//! tokens, login throttling, the shared login form key, and what happens
//! while Redis is down.
//!
//! Two `RedisLink`s over one server stand for two nodes: they share nothing
//! but Redis.

mod support;

use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mailfront::config::{RedisSettings, RedisUrl};
use mailfront::session::redis::{
    shared_login_form_key, RedisLink, RedisLockSettings, RedisLocks, RedisStore, RedisThrottle,
};
use mailfront::session::{
    LockRefused, LockSettings, SessionCookie, SessionLocks, SessionRecord, SessionStore,
    StoreError, ThrottleDecision, ThrottleSettings,
};
use support::Redis;

const DAY: Duration = Duration::from_secs(86_400);

/// A server of its own for the calling test, or `None` (skipped) when
/// redis-server is missing outside CI.
fn redis(name: &str) -> Option<Redis> {
    Redis::start(&support::scratch_dir(&format!("redis-{name}")))
}

/// One node's connection, with keys under `prefix`.
fn link(redis: &Redis, prefix: &str) -> RedisLink {
    RedisLink::open(&RedisSettings {
        url: RedisUrl::parse(&redis.url()).expect("test URL is valid"),
        timeout: Duration::from_millis(500),
        key_prefix: prefix.to_owned(),
    })
    .expect("link opens")
}

fn record(user: &str) -> SessionRecord {
    SessionRecord::new(user.to_owned(), vec![1, 2, 3], 1_700_000_000)
}

fn locks(link: RedisLink, max_waiters: usize, max_wait: Duration) -> RedisLocks {
    RedisLocks::new(
        link,
        RedisLockSettings::new(LockSettings {
            max_waiters,
            max_wait,
        }),
    )
}

/// Waits (at most 5 s) until `condition` holds.
async fn eventually(what: &str, mut condition: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while !condition().await {
        assert!(
            Instant::now() < deadline,
            "{what} did not happen within 5 s"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_session_saved_on_one_node_is_loaded_on_another() {
    let Some(redis) = redis("shared") else { return };
    let first = RedisStore::new(link(&redis, "mf:"));
    let second = RedisStore::new(link(&redis, "mf:"));
    let cookie = SessionCookie::generate();

    first.save(&cookie.id, &record("alice"), DAY).await.unwrap();
    let mut loaded = second.load(&cookie.id).await.unwrap().expect("shared");
    assert_eq!((loaded.user.as_str(), loaded.revision), ("alice", 1));

    loaded.flash = Some("moved".into());
    second.save(&cookie.id, &loaded, DAY).await.unwrap();
    let again = first.load(&cookie.id).await.unwrap().unwrap();
    assert_eq!((again.flash.as_deref(), again.revision), (Some("moved"), 2));

    let keys = redis.keys("*");
    assert_eq!(keys, vec![format!("mf:session:{}", cookie.id.store_key())]);
}

#[tokio::test]
async fn a_save_after_logout_never_revives_the_session() {
    let Some(redis) = redis("revive") else { return };
    let store = RedisStore::new(link(&redis, "mf:"));
    let cookie = SessionCookie::generate();
    store.save(&cookie.id, &record("bob"), DAY).await.unwrap();
    let in_flight = store.load(&cookie.id).await.unwrap().unwrap();

    store.delete(&cookie.id).await.unwrap();
    let late = store.save(&cookie.id, &in_flight, DAY).await;

    assert!(matches!(late, Err(StoreError::SessionEnded { given: 1 })));
    assert!(store.load(&cookie.id).await.unwrap().is_none());
    store
        .delete(&cookie.id)
        .await
        .expect("deleting twice is fine");
}

#[tokio::test]
async fn redis_expires_a_session_after_its_ttl() {
    let Some(redis) = redis("expiry") else { return };
    let store = RedisStore::new(link(&redis, "mf:"));
    let cookie = SessionCookie::generate();

    store
        .save(&cookie.id, &record("carol"), Duration::from_millis(300))
        .await
        .unwrap();
    assert!(store.load(&cookie.id).await.unwrap().is_some());

    eventually("expiry", async || {
        store.load(&cookie.id).await.unwrap().is_none()
    })
    .await;
    let stale = SessionRecord {
        revision: 1,
        ..record("carol")
    };
    let late = store.save(&cookie.id, &stale, DAY).await;
    assert!(matches!(late, Err(StoreError::SessionEnded { .. })));
}

#[tokio::test]
async fn an_undecodable_record_is_removed_and_reported() {
    let Some(redis) = redis("corrupt") else {
        return;
    };
    let store = RedisStore::new(link(&redis, "mf:"));
    let cookie = SessionCookie::generate();
    let key = format!("mf:session:{}", cookie.id.store_key());
    redis.command(&["HSET", &key, "rev", "3", "data", "{not json"]);

    let loaded = store.load(&cookie.id).await;

    assert!(matches!(loaded, Err(StoreError::Corrupt { .. })));
    assert_eq!(redis.command(&["EXISTS", &key]), "0");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_never_hold_one_session_at_once() {
    let Some(redis) = redis("exclusive") else {
        return;
    };
    let nodes = [
        locks(link(&redis, "mf:"), 8, Duration::from_secs(10)),
        locks(link(&redis, "mf:"), 8, Duration::from_secs(10)),
    ];
    let id = SessionCookie::generate().id;
    let holders = Arc::new(AtomicUsize::new(0));

    let mut tasks = Vec::new();
    for n in 0..6 {
        let (locks, id, holders) = (nodes[n % 2].clone(), id.clone(), Arc::clone(&holders));
        tasks.push(tokio::spawn(async move {
            let mut fences = Vec::new();
            for _ in 0..5 {
                let guard = locks.acquire(&id).await.expect("eight may wait");
                assert_eq!(holders.fetch_add(1, Ordering::SeqCst), 0, "overlap");
                fences.push(guard.fence().expect("shared leases are fenced"));
                tokio::time::sleep(Duration::from_millis(3)).await;
                holders.fetch_sub(1, Ordering::SeqCst);
                drop(guard);
            }
            fences
        }));
    }

    let mut fences = Vec::new();
    for task in tasks {
        fences.extend(task.await.unwrap());
    }
    fences.sort_unstable();
    fences.dedup();
    assert_eq!(fences.len(), 30, "every grant has its own fencing token");
}

#[tokio::test]
async fn the_waiter_queue_is_counted_across_nodes() {
    let Some(redis) = redis("queue") else { return };
    let first = locks(link(&redis, "mf:"), 2, Duration::from_secs(10));
    let second = locks(link(&redis, "mf:"), 2, Duration::from_secs(10));
    let id = SessionCookie::generate().id;
    let queue = format!("mf:queue:{}", id.store_key());
    let holder = first.acquire(&id).await.unwrap();

    let (a, b) = (first.clone(), second.clone());
    let (id_a, id_b) = (id.clone(), id.clone());
    let waiting_a = tokio::spawn(async move { a.acquire(&id_a).await });
    eventually("first waiter", async || {
        redis.command(&["ZCARD", &queue]) == "1"
    })
    .await;
    let waiting_b = tokio::spawn(async move { b.acquire(&id_b).await });
    eventually("second waiter", async || {
        redis.command(&["ZCARD", &queue]) == "2"
    })
    .await;

    let third = second.acquire(&id).await;
    assert_eq!(third.unwrap_err(), LockRefused::QueueFull);

    drop(holder);
    let next = waiting_a.await.unwrap().expect("first in line gets it");
    drop(next);
    assert!(waiting_b.await.unwrap().is_ok());
    assert_eq!(
        second.counters().refused_queue_full.load(Ordering::Relaxed),
        1
    );
}

#[tokio::test]
async fn a_waiter_is_refused_after_max_wait_and_leaves_the_queue() {
    let Some(redis) = redis("timeout") else {
        return;
    };
    let locks = locks(link(&redis, "mf:"), 2, Duration::from_millis(300));
    let id = SessionCookie::generate().id;
    let _holder = locks.acquire(&id).await.unwrap();

    let started = Instant::now();
    let refused = locks.acquire(&id).await.unwrap_err();

    assert_eq!(refused, LockRefused::TimedOut);
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert!(started.elapsed() < Duration::from_secs(2));
    let queue = format!("mf:queue:{}", id.store_key());
    assert_eq!(redis.command(&["ZCARD", &queue]), "0");
}

#[tokio::test]
async fn a_dropped_waiter_gives_its_place_back() {
    let Some(redis) = redis("abandon") else {
        return;
    };
    let locks = locks(link(&redis, "mf:"), 1, Duration::from_secs(10));
    let id = SessionCookie::generate().id;
    let queue = format!("mf:queue:{}", id.store_key());
    let holder = locks.acquire(&id).await.unwrap();

    let (gone, gone_id) = (locks.clone(), id.clone());
    let waiter = tokio::spawn(async move { gone.acquire(&gone_id).await });
    eventually("waiter queued", async || {
        redis.command(&["ZCARD", &queue]) == "1"
    })
    .await;
    waiter.abort();
    eventually("place given back", async || {
        redis.command(&["ZCARD", &queue]) == "0"
    })
    .await;

    let (next, next_id) = (locks.clone(), id.clone());
    let next = tokio::spawn(async move { next.acquire(&next_id).await });
    drop(holder);
    assert!(next.await.unwrap().is_ok());
}

#[tokio::test]
async fn a_lease_is_renewed_while_its_request_runs() {
    let Some(redis) = redis("renew") else { return };
    let locks = RedisLocks::new(
        link(&redis, "mf:"),
        RedisLockSettings {
            queue: LockSettings::default(),
            lease: Duration::from_millis(300),
        },
    );
    let id = SessionCookie::generate().id;
    let lock_key = format!("mf:lock:{}", id.store_key());

    let guard = locks.acquire(&id).await.unwrap();
    tokio::time::sleep(Duration::from_millis(900)).await;
    assert_eq!(redis.command(&["EXISTS", &lock_key]), "1", "still held");

    drop(guard);
    eventually("release", async || {
        redis.command(&["EXISTS", &lock_key]) == "0"
    })
    .await;
}

#[tokio::test]
async fn a_request_whose_lease_ran_out_cannot_write_the_session() {
    let Some(redis) = redis("fence") else { return };
    let link = link(&redis, "mf:");
    let store = RedisStore::new(link.clone());
    let locks = locks(link, 2, Duration::from_secs(10));
    let cookie = SessionCookie::generate();
    store.save(&cookie.id, &record("dave"), DAY).await.unwrap();

    let stalled = locks.acquire(&cookie.id).await.unwrap();
    let stalled_copy = store.load(&cookie.id).await.unwrap().unwrap();
    // The stalled holder's lease runs out (as if its renewals stopped).
    redis.command(&["DEL", &format!("mf:lock:{}", cookie.id.store_key())]);
    let next = locks.acquire(&cookie.id).await.expect("the lease is free");
    assert!(next.fence() > stalled.fence());

    let mut fresh = store.load(&cookie.id).await.unwrap().unwrap();
    fresh.flash = Some("from the new holder".into());
    store
        .save_fenced(&cookie.id, &fresh, DAY, next.fence())
        .await
        .unwrap();
    let late = store
        .save_fenced(&cookie.id, &stalled_copy, DAY, stalled.fence())
        .await;

    assert!(
        matches!(late, Err(StoreError::LeaseLost { .. })),
        "{late:?}"
    );
    let kept = store.load(&cookie.id).await.unwrap().unwrap();
    assert_eq!(kept.flash.as_deref(), Some("from the new holder"));
}

#[tokio::test]
async fn login_failures_count_on_every_node() {
    let Some(redis) = redis("throttle") else {
        return;
    };
    let settings = ThrottleSettings::default();
    let first = RedisThrottle::new(link(&redis, "mf:"), settings);
    let second = RedisThrottle::new(link(&redis, "mf:"), settings);
    let attacker: IpAddr = "198.51.100.7".parse().unwrap();
    let elsewhere: IpAddr = "203.0.113.9".parse().unwrap();

    for n in 0..5 {
        let node = if n % 2 == 0 { &first } else { &second };
        assert_eq!(
            node.check(attacker, "Eve").await.unwrap(),
            ThrottleDecision::Allow
        );
        node.record_failure(attacker, "Eve").await.unwrap();
    }

    let delayed = ThrottleDecision::Delay(settings.first_delay);
    assert_eq!(second.check(attacker, "eve ").await.unwrap(), delayed);
    assert_eq!(first.check(elsewhere, "EVE").await.unwrap(), delayed);
    first.record_failure(attacker, "eve").await.unwrap();
    assert_eq!(
        second.check(elsewhere, "eve").await.unwrap(),
        ThrottleDecision::Delay(settings.first_delay * 2)
    );

    second.record_success(elsewhere, "eve").await.unwrap();
    assert_eq!(
        first.check(attacker, "eve").await.unwrap(),
        ThrottleDecision::Allow
    );
}

#[tokio::test]
async fn a_network_is_refused_on_every_node_once_its_burst_is_spent() {
    let Some(redis) = redis("network") else {
        return;
    };
    let settings = ThrottleSettings {
        address_burst: 3,
        ..ThrottleSettings::default()
    };
    let first = RedisThrottle::new(link(&redis, "mf:"), settings);
    let second = RedisThrottle::new(link(&redis, "mf:"), settings);
    let guesser: IpAddr = "2001:db8:1:2::10".parse().unwrap();
    let same_prefix: IpAddr = "2001:db8:1:2::99".parse().unwrap();

    for n in 0..3 {
        first
            .record_failure(guesser, &format!("user{n}"))
            .await
            .unwrap();
    }

    let decision = second.check(same_prefix, "someone").await.unwrap();
    let ThrottleDecision::Refuse { retry_after } = decision else {
        panic!("the /64 has spent its burst: {decision:?}");
    };
    assert!(retry_after > Duration::from_secs(25) && retry_after <= Duration::from_secs(30));
    let other: IpAddr = "2001:db8:1:3::10".parse().unwrap();
    assert_eq!(
        first.check(other, "someone").await.unwrap(),
        ThrottleDecision::Allow
    );
}

#[tokio::test]
async fn nodes_agree_on_one_login_form_key() {
    let Some(redis) = redis("formkey") else {
        return;
    };

    let first = shared_login_form_key(&link(&redis, "mf:")).await.unwrap();
    let second = shared_login_form_key(&link(&redis, "mf:")).await.unwrap();
    let other_site = shared_login_form_key(&link(&redis, "other:"))
        .await
        .unwrap();

    assert_eq!(first, second);
    assert_ne!(first, other_site);
}

#[tokio::test]
async fn while_redis_is_down_calls_fail_quickly_and_resume_after() {
    let Some(redis) = redis("outage") else { return };
    let link = link(&redis, "mf:");
    let store = RedisStore::new(link.clone());
    let locks = locks(link.clone(), 2, Duration::from_secs(10));
    let throttle = RedisThrottle::new(link, ThrottleSettings::default());
    let cookie = SessionCookie::generate();
    store.save(&cookie.id, &record("erin"), DAY).await.unwrap();

    redis.stop();
    let started = Instant::now();
    let loaded = store.load(&cookie.id).await;
    assert!(matches!(loaded, Err(StoreError::Unavailable { .. })));
    let saved = store.save(&cookie.id, &record("erin"), DAY).await;
    assert!(matches!(saved, Err(StoreError::Unavailable { .. })));
    assert_eq!(
        locks.acquire(&cookie.id).await.unwrap_err(),
        LockRefused::Unavailable
    );
    let client: IpAddr = "192.0.2.1".parse().unwrap();
    assert!(throttle.check(client, "erin").await.is_err());
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "each call is bounded"
    );

    redis.restart();
    eventually("reconnect", async || store.load(&cookie.id).await.is_ok()).await;
    store.save(&cookie.id, &record("erin"), DAY).await.unwrap();
    assert!(store.load(&cookie.id).await.unwrap().is_some());
    assert!(locks.acquire(&cookie.id).await.is_ok());
}
