//! The Redis back end against a real `redis-server` started for this test
//! binary: session records, the shared session lock with its fencing
//! tokens, login throttling, the shared login form key, and what happens
//! while Redis is down.
//!
//! Two `RedisLink`s over one server stand for two nodes: they share nothing
//! but Redis. The last tests run two whole nodes in this process in front of
//! the shared Dovecot, and one browser whose requests alternate between them
//! as a load balancer without sticky sessions would send them.

mod app;
mod fake_imap;
mod support;

use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use app::{settings_for, Browser, Node};
use fake_imap::{FakeImap, Script};
use mailfront::config::SettingsLayer;
use mailfront::config::{RedisSettings, RedisUrl};
use mailfront::session::redis::{
    shared_login_form_key, RedisLink, RedisLockSettings, RedisLocks, RedisStore, RedisThrottle,
};
use mailfront::session::{
    LockRefused, LockSettings, SessionCookie, SessionLocks, SessionRecord, SessionStore,
    StoreError, ThrottleDecision, ThrottleSettings,
};
use support::{Dovecot, Redis};

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
    let store = RedisStore::new(link(&redis, "mf:"));
    store.save(&id, &record("frank"), DAY).await.unwrap();
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
    assert_eq!(
        fences,
        (1..=30).collect::<Vec<u64>>(),
        "a new token per grant"
    );
    let loaded = store
        .load(&id)
        .await
        .unwrap()
        .expect("the counter spares the record");
    assert_eq!(loaded.revision, 1);
}

#[tokio::test]
async fn a_cookie_that_names_no_session_leaves_nothing_behind() {
    let Some(redis) = redis("nosession") else {
        return;
    };
    let locks = locks(link(&redis, "mf:"), 2, Duration::from_secs(10));
    let id = SessionCookie::generate().id;

    let guard = locks.acquire(&id).await.unwrap();
    assert_eq!(guard.fence(), Some(0));
    drop(guard);

    eventually("release", async || redis.keys("*").is_empty()).await;
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
async fn waiters_of_both_nodes_get_the_session_in_arrival_order() {
    let Some(redis) = redis("order") else { return };
    let nodes = [
        locks(link(&redis, "mf:"), 4, Duration::from_secs(10)),
        locks(link(&redis, "mf:"), 4, Duration::from_secs(10)),
    ];
    let id = SessionCookie::generate().id;
    let queue = format!("mf:queue:{}", id.store_key());
    let holder = nodes[0].acquire(&id).await.unwrap();
    let order = Arc::new(std::sync::Mutex::new(Vec::new()));

    let mut tasks = Vec::new();
    for n in 0..4 {
        let (locks, task_id, order) = (nodes[n % 2].clone(), id.clone(), Arc::clone(&order));
        tasks.push(tokio::spawn(async move {
            let _guard = locks.acquire(&task_id).await.unwrap();
            order.lock().unwrap().push(n);
            tokio::time::sleep(Duration::from_millis(20)).await;
        }));
        let queued = (n + 1).to_string();
        eventually("queued", async || {
            redis.command(&["ZCARD", &queue]) == queued
        })
        .await;
    }
    drop(holder);
    for task in tasks {
        task.await.unwrap();
    }

    assert_eq!(*order.lock().unwrap(), vec![0, 1, 2, 3]);
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
async fn a_request_that_goes_away_while_redis_grants_leaves_no_lease() {
    let Some(redis) = redis("gone") else { return };
    let locks = locks(link(&redis, "mf:"), 2, Duration::from_secs(10));
    let id = SessionCookie::generate().id;
    let lock_key = format!("mf:lock:{}", id.store_key());

    // Scripts are loaded by a first use; then writes wait, so the grant
    // reaches Redis after the request is gone.
    drop(locks.acquire(&SessionCookie::generate().id).await.unwrap());
    redis.command(&["CLIENT", "PAUSE", "300", "WRITE"]);
    let (gone, gone_id) = (locks.clone(), id.clone());
    let request = tokio::spawn(async move { gone.acquire(&gone_id).await });
    tokio::time::sleep(Duration::from_millis(100)).await;
    request.abort();

    // Once the pause is over, the session is free at once, not after the
    // ten seconds of an orphaned lease.
    tokio::time::sleep(Duration::from_millis(400)).await;
    let started = Instant::now();
    let next = locks.acquire(&id).await;
    assert!(next.is_ok());
    assert!(started.elapsed() < Duration::from_secs(2), "not by expiry");
    assert_eq!(redis.command(&["EXISTS", &lock_key]), "1");
}

#[tokio::test]
async fn a_lease_is_renewed_while_its_request_runs() {
    let Some(redis) = redis("renew") else { return };
    let locks = RedisLocks::new(
        link(&redis, "mf:"),
        RedisLockSettings {
            queue: LockSettings::default(),
            lease: Duration::from_millis(900),
        },
    );
    let id = SessionCookie::generate().id;
    let lock_key = format!("mf:lock:{}", id.store_key());

    let guard = locks.acquire(&id).await.unwrap();
    tokio::time::sleep(Duration::from_millis(2_500)).await;
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
    let Some(redis) = Redis::shared() else {
        return;
    };

    let first = shared_login_form_key(&link(redis, "formkey:"))
        .await
        .unwrap();
    let second = shared_login_form_key(&link(redis, "formkey:"))
        .await
        .unwrap();
    let other_site = shared_login_form_key(&link(redis, "other:")).await.unwrap();

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

    // A longer outage, with requests failing all along.
    for _ in 0..6 {
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(store.load(&cookie.id).await.is_err());
    }
    redis.restart();
    eventually("reconnect", async || store.load(&cookie.id).await.is_ok()).await;
    store.save(&cookie.id, &record("erin"), DAY).await.unwrap();
    assert!(store.load(&cookie.id).await.unwrap().is_some());
    assert!(locks.acquire(&cookie.id).await.is_ok());
}

/// A node in front of `dovecot` keeping its sessions in `redis`.
async fn redis_node(dovecot: &Dovecot, redis: &Redis, name: &str) -> Node {
    let data_dir = support::scratch_dir(&format!("node-{name}"));
    Node::start(SettingsLayer {
        session_store: Some("redis".into()),
        redis_url: Some(redis.url()),
        redis_timeout_ms: Some(500),
        ..settings_for(dovecot, &data_dir)
    })
    .await
}

/// The same browser (same cookies) talking to another node.
fn on_node(browser: &Browser, node: &Node) -> Browser {
    Browser {
        client: browser.client.clone(),
        base: node.base.clone(),
        jar: Arc::clone(&browser.jar),
    }
}

#[tokio::test]
async fn a_browser_moves_freely_between_nodes_sharing_redis() {
    let Some(dovecot) = Dovecot::shared() else {
        return;
    };
    let Some(redis) = redis("nodes") else { return };
    let (user, password) = dovecot.new_user("redis-nodes");
    let first = redis_node(dovecot, &redis, "first").await;
    let second = redis_node(dovecot, &redis, "second").await;
    let on_first = Browser::new(&first.base);
    let on_second = on_node(&on_first, &second);

    // The sign-in form comes from one node and is posted to the other.
    let form = on_first.get("/login").await;
    let token = form.field("login_token").expect("the form has a token");
    let fields = [
        ("username", user.as_str()),
        ("password", password.as_str()),
        ("login_token", token.as_str()),
        ("next", ""),
    ];
    let signed_in = on_second.post("/login", &fields).await;
    assert_eq!(signed_in.status, 303, "{}", signed_in.text());

    for browser in [&on_first, &on_second, &on_first] {
        let inbox = browser.get_following("/").await;
        assert_eq!(inbox.status, 200, "{}", inbox.text());
    }
    assert!(!first.data_dir.join("sessions.redb").exists());
    assert!(!second.data_dir.join("sessions.redb").exists());

    let inbox = on_first.get_following("/").await;
    let csrf = inbox.field("csrf").expect("the inbox has a sign-out form");
    let signed_out = on_second.post("/logout", &[("csrf", csrf.as_str())]).await;
    assert_eq!(signed_out.status, 303, "{}", signed_out.text());
    let after = on_first.get("/mail/INBOX").await;
    assert_eq!(after.status, 303, "the session ended on every node");
    assert!(after.location.unwrap_or_default().contains("/login"));
    first.stop().await;
    second.stop().await;
}

#[tokio::test]
async fn a_redis_outage_gives_a_retry_page_and_service_comes_back() {
    let Some(dovecot) = Dovecot::shared() else {
        return;
    };
    let Some(redis) = redis("web-outage") else {
        return;
    };
    let (user, password) = dovecot.new_user("redis-outage");
    let node = redis_node(dovecot, &redis, "outage").await;
    let browser = Browser::signed_in(&node.base, &user, &password).await;

    // A paused Redis keeps its data: the session survives the pause.
    redis.command(&["CLIENT", "PAUSE", "1500", "ALL"]);
    let paused = browser.get("/mail/INBOX").await;
    assert_eq!(paused.status, 503, "{}", paused.text());
    assert!(paused.headers.contains_key("retry-after"));
    assert!(paused.text().contains("Temporarily unavailable"));
    let mut back = None;
    eventually("the end of the pause", async || {
        let page = browser.get("/mail/INBOX").await;
        let done = page.status == 200;
        back = Some(page);
        done
    })
    .await;
    assert!(back.is_some());

    // A stopped Redis: sign-ins get the same page, not a wrong-password one.
    redis.stop();
    let down = Browser::new(&node.base).sign_in(&user, &password).await;
    assert_eq!(down.status, 503, "{}", down.text());
    redis.restart();
    eventually("reconnect", async || {
        browser.get("/mail/INBOX").await.status != 503
    })
    .await;
    let again = Browser::new(&node.base).sign_in(&user, &password).await;
    assert_eq!(again.status, 303, "{}", again.text());
    node.stop().await;
}

#[tokio::test]
async fn a_session_busy_on_one_node_is_busy_on_the_other() {
    let Some(dovecot) = Dovecot::shared() else {
        return;
    };
    let Some(redis) = redis("web-busy") else {
        return;
    };
    let (user, password) = dovecot.new_user("redis-busy");
    let first = redis_node(dovecot, &redis, "busy-first").await;
    let data_dir = support::scratch_dir("node-busy-second");
    let second = Node::start(SettingsLayer {
        session_store: Some("redis".into()),
        redis_url: Some(redis.url()),
        session_queue: Some(1),
        session_wait: Some(1),
        ..settings_for(dovecot, &data_dir)
    })
    .await;
    let on_first = Browser::signed_in(&first.base, &user, &password).await;
    let on_second = on_node(&on_first, &second);
    let cookie = on_first.cookie_header();
    let value = cookie
        .split("; ")
        .find_map(|pair| pair.strip_prefix("mf_session="))
        .expect("signed in");
    let id = SessionCookie::parse(value).expect("a session cookie").id;

    // A request of the first node holds the session; one waits for it.
    let held = first.server.state.locks.acquire(&id).await.unwrap();
    let waiting = tokio::spawn({
        let browser = on_second.clone();
        async move { browser.get("/mail/INBOX").await }
    });
    let queue = format!("mailfront:queue:{}", id.store_key());
    eventually("a waiter", async || {
        redis.command(&["ZCARD", &queue]) == "1"
    })
    .await;

    let refused = on_second.get("/mail/INBOX").await;
    assert_eq!(refused.status, 429, "{}", refused.text());
    assert!(refused.text().contains("Still working"));
    let timed_out = waiting.await.unwrap();
    assert_eq!(timed_out.status, 429, "after the one second wait");

    drop(held);
    eventually("the session is free", async || {
        on_second.get("/mail/INBOX").await.status == 200
    })
    .await;
    first.stop().await;
    second.stop().await;
}

#[tokio::test]
async fn wrong_passwords_on_either_node_count_for_both() {
    let Some(redis) = redis("web-throttle") else {
        return;
    };
    let fake = FakeImap::start(Script::new("victim", "right-one")).await;
    let mut nodes = Vec::new();
    for name in ["throttle-first", "throttle-second"] {
        nodes.push(
            Node::start(SettingsLayer {
                listen: Some("127.0.0.1:0".parse().unwrap()),
                imap_server: Some(fake.url()),
                data_dir: Some(support::scratch_dir(name)),
                session_store: Some("redis".into()),
                redis_url: Some(redis.url()),
                trusted_proxies: Some(vec!["127.0.0.1".parse().unwrap()]),
                ..SettingsLayer::default()
            })
            .await,
        );
    }
    let attacker: IpAddr = "203.0.113.7".parse().unwrap();

    for n in 0..5 {
        let browser = Browser::new(&nodes[n % 2].base);
        let token = browser.get("/login").await.field("login_token").unwrap();
        let guess = format!("guess-{n}");
        let answer = browser
            .client
            .post(format!("{}/login", browser.base))
            .header("x-forwarded-for", attacker.to_string())
            .form(&[
                ("username", "victim"),
                ("password", guess.as_str()),
                ("login_token", token.as_str()),
                ("next", ""),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status().as_u16(), 401, "attempt {n}");
    }

    // Three failures were seen by one node and two by the other; both now
    // delay the account, as one node would after five.
    let delayed = ThrottleDecision::Delay(ThrottleSettings::default().first_delay);
    for node in &nodes {
        let decision = node.server.state.throttle.check(attacker, "victim").await;
        assert_eq!(decision.unwrap(), delayed);
    }
    for node in nodes {
        node.stop().await;
    }
}
