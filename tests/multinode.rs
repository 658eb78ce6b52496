//! Several mailfront nodes sharing their sessions through Redis, each a real
//! `mailfront serve` process on its own port of 127.0.0.1, in front of one
//! private Dovecot (or, where a real server will not stall on demand, the
//! fake IMAP server): a session signed in on one node is served by all, its
//! clicks are serialised across nodes, a node killed while it holds a
//! session does not lock the user out for long, a Redis outage shows as
//! "try again" pages and heals by itself, login throttling counts across
//! nodes, and a sign-in form from one node is accepted by another.
//!
//! The nginx example of the README is run too, in front of two nodes.
//!
//! One Dovecot and one Redis serve the whole binary; each test gives its
//! nodes a key prefix of its own in Redis. The Redis restart test starts a
//! second Redis of its own, since a restart would disturb every other test.

mod app;
mod fake_imap;
mod support;

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use app::node_process::NodeProcess;
use app::{Browser, Page};
use fake_imap::{FakeImap, FakeMailbox, Rule, Script};
use futures_util::future::join_all;
use support::{Dovecot, Nginx, Redis};

/// The number of nodes most tests run.
const NODES: usize = 3;

/// Messages each test user gets in INBOX.
const MESSAGES: usize = 6;

/// What a node of a test is pointed at.
struct Backends<'a> {
    imap_url: String,
    redis: &'a Redis,
    /// Keys of this test's nodes in Redis start with this.
    key_prefix: String,
}

impl Backends<'_> {
    fn dovecot<'a>(dovecot: &Dovecot, redis: &'a Redis, test: &str) -> Backends<'a> {
        Backends {
            imap_url: format!("imap+insecure://127.0.0.1:{}", dovecot.imap_port),
            redis,
            key_prefix: format!("mf-{test}:"),
        }
    }

    fn fake<'a>(fake: &FakeImap, redis: &'a Redis, test: &str) -> Backends<'a> {
        Backends {
            imap_url: fake.url(),
            redis,
            key_prefix: format!("mf-{test}:"),
        }
    }

    /// The flags of node `n`: this IMAP server, Redis for sessions, its own
    /// data folder, then `extra`.
    fn flags(&self, dir: &Path, n: usize, extra: &[(&str, &str)]) -> Vec<(String, String)> {
        let data_dir = dir.join(format!("node{n}-data")).display().to_string();
        let own = [
            ("--imap-server", self.imap_url.clone()),
            ("--data-dir", data_dir),
            ("--session-store", "redis".to_owned()),
            ("--redis-url", self.redis.url()),
            ("--redis-key-prefix", self.key_prefix.clone()),
        ];
        let extra = extra
            .iter()
            .map(|(flag, value)| (*flag, (*value).to_owned()));
        own.into_iter()
            .chain(extra)
            .map(|(flag, value)| (flag.to_owned(), value))
            .collect()
    }
}

/// Starts `count` nodes (named node1, node2, ...) with the same flags, on
/// threads of their own so that the runtime keeps serving the fake server.
async fn start_nodes(
    backends: &Backends<'_>,
    dir: &Path,
    count: usize,
    extra: &[(&str, &str)],
) -> Vec<NodeProcess> {
    let starts = (1..=count).map(|n| {
        let flags = backends.flags(dir, n, extra);
        let dir = dir.to_owned();
        tokio::task::spawn_blocking(move || NodeProcess::start(&format!("node{n}"), &dir, &flags))
    });
    join_all(starts)
        .await
        .into_iter()
        .map(|started| started.expect("a node start does not panic"))
        .collect()
}

/// The same browser (same cookies) talking to another node.
fn on(browser: &Browser, node: &NodeProcess) -> Browser {
    Browser {
        base: node.base.clone(),
        ..browser.clone()
    }
}

/// A plain message numbered `n`.
fn message(n: usize) -> Vec<u8> {
    format!(
        "From: Sender {n} <s{n}@example.org>\r\nTo: reader@example.org\r\n\
         Subject: node test {n:02}\r\nDate: Tue, 4 Jun 2024 10:{n:02}:00 +0000\r\n\
         Message-ID: <node-{n}@example.org>\r\n\r\nBody of message {n}.\r\n"
    )
    .into_bytes()
}

/// A user with [`MESSAGES`] messages in INBOX and one in each of `folders`.
fn user_with_mail(dovecot: &Dovecot, prefix: &str, folders: &[String]) -> (String, String) {
    let (user, password) = dovecot.new_user(prefix);
    let mut client = dovecot.client(&user, &password);
    for n in 1..=MESSAGES {
        client.append("INBOX", "()", None, &message(n));
    }
    for (n, folder) in folders.iter().enumerate() {
        client.create(folder);
        client.append(folder, "()", None, &message(100 + n));
    }
    client.logout();
    (user, password)
}

/// Asserts that `page` is a folder page of a signed-in session.
fn assert_folder_page(page: &Page, what: &str) {
    assert_eq!(page.status, 200, "{what}: {}", page.text());
    assert!(page.field("csrf").is_some(), "{what} is a signed-in page");
}

/// Asserts that `page` sends the browser to sign in.
fn assert_sent_to_sign_in(page: &Page, what: &str) {
    assert_eq!(page.status, 303, "{what}: {}", page.text());
    let location = page.location.as_deref().unwrap_or_default();
    assert!(location.starts_with("/login"), "{what} went to {location}");
}

/// A client that sends `cookie` as it is and keeps nothing the node sets.
async fn replay(url: &str, cookie: &str) -> Page {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client builds");
    let response = client
        .get(url)
        .header("cookie", cookie)
        .send()
        .await
        .expect("the node answers");
    app::read(response).await
}

/// GETs `path` until it is served, waiting Retry-After after each "still
/// working" (429), at most 60 times; returns the page and the 429s seen.
async fn click_until_served(browser: &Browser, path: &str) -> (Page, usize) {
    for retries in 0..60 {
        let page = browser.get(path).await;
        if page.status != 429 {
            return (page, retries);
        }
        let seconds: u64 = page
            .headers
            .get("retry-after")
            .and_then(|v| v.to_str().ok()?.parse().ok())
            .expect("a 429 says when to retry");
        assert!((1..=10).contains(&seconds), "Retry-After {seconds}");
        tokio::time::sleep(Duration::from_secs(seconds)).await;
    }
    panic!("{path} stayed busy for 60 tries");
}

/// IMAP connections `user` has open now, as `doveadm who` counts them.
fn imap_connections(dovecot: &Dovecot, user: &str) -> usize {
    let listing = dovecot.doveadm(&["who", "-1", user]);
    listing
        .lines()
        .filter(|line| line.split_whitespace().next() == Some(user))
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_signed_in_on_one_node_is_served_by_all_and_ended_by_any() {
    let (Some(dovecot), Some(redis)) = (Dovecot::shared(), Redis::shared()) else {
        return;
    };
    let (user, password) = user_with_mail(dovecot, "everywhere", &[]);
    let dir = support::scratch_dir("everywhere");
    let backends = Backends::dovecot(dovecot, redis, "everywhere");
    let nodes = start_nodes(&backends, &dir, NODES, &[]).await;

    let set_up = dovecot.wait_for_logins(&user, 1, Duration::from_secs(2));
    let first = Browser::signed_in(&nodes[0].base, &user, &password).await;
    assert_folder_page(&first.get("/mail/INBOX").await, "INBOX on node 1");
    app::background_settled(&nodes[0].base).await;

    // Each other node logs in for its own pool (once for the page, once
    // more for the folder counts it fetches in the background), and never
    // again.
    for (n, node) in nodes.iter().enumerate().skip(1) {
        let browser = on(&first, node);
        let page = browser.get("/mail/INBOX").await;
        assert_folder_page(&page, &format!("INBOX on node {}", n + 1));
        assert_eq!(page.texts("header .user"), vec![user.clone()]);
        app::background_settled(&node.base).await;
    }
    let one_per_node = dovecot.count_logins(&user);
    assert!(
        (set_up + NODES..=set_up + 2 * NODES).contains(&one_per_node),
        "one or two IMAP logins per node: {} after {set_up} of the set-up",
        one_per_node - set_up
    );

    for round in 0..3 {
        for (n, node) in nodes.iter().enumerate() {
            let page = on(&first, node).get("/mail/INBOX?page=1").await;
            assert_folder_page(&page, &format!("round {round} on node {}", n + 1));
        }
    }
    assert_eq!(
        dovecot.count_logins(&user),
        one_per_node,
        "paging on warm nodes logs in no more"
    );

    // Sign out on the last node; the old cookie opens nothing anywhere.
    let cookie = first.cookie_header();
    let last = on(&first, &nodes[NODES - 1]);
    let inbox = last.get("/mail/INBOX").await;
    let csrf = inbox.field("csrf").expect("the page has a sign-out form");
    let out = last.post("/logout", &[("csrf", &csrf)]).await;
    assert_eq!(out.status, 303, "{}", out.text());
    assert_eq!(out.location.as_deref(), Some("/login?signed_out=1"));
    for (n, node) in nodes.iter().enumerate() {
        let page = replay(&node.url("/mail/INBOX"), &cookie).await;
        assert_sent_to_sign_in(&page, &format!("the old cookie on node {}", n + 1));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thirty_clicks_over_three_nodes_are_serialised_and_stay_within_the_pools() {
    let (Some(dovecot), Some(redis)) = (Dovecot::shared(), Redis::shared()) else {
        return;
    };
    let folders: Vec<String> = (1..=30).map(|n| format!("Click{n:02}")).collect();
    let (user, password) = user_with_mail(dovecot, "clicks", &folders);
    let dir = support::scratch_dir("clicks");
    let backends = Backends::dovecot(dovecot, redis, "clicks");
    let pool_per_user = 3;
    let nodes = start_nodes(&backends, &dir, NODES, &[("--pool-per-user", "3")]).await;
    let browser = Browser::signed_in(&nodes[0].base, &user, &password).await;

    // Watch the user's IMAP connections while the clicks run.
    let clicking = Arc::new(AtomicBool::new(true));
    let most_connections = Arc::new(AtomicUsize::new(0));
    let watcher = {
        let clicking = clicking.clone();
        let most = most_connections.clone();
        let user = user.clone();
        std::thread::spawn(move || {
            while clicking.load(Ordering::Relaxed) {
                most.fetch_max(imap_connections(dovecot, &user), Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(50));
            }
        })
    };

    // Every click asks a folder of its own to be sorted by subject, which
    // the session remembers: a click that ran beside another on a second
    // node would save a record without the other's choice. A click told to
    // retry asks again after Retry-After, as the "still working" page does.
    let clicks = folders.iter().enumerate().map(|(i, folder)| {
        let browser = on(&browser, &nodes[i % NODES]);
        let path = format!("/mail/{folder}?sort=subject-asc");
        async move { (click_until_served(&browser, &path).await, folder.clone()) }
    });
    let answers = join_all(clicks).await;
    clicking.store(false, Ordering::Relaxed);
    watcher.join().expect("the watcher does not panic");

    let mut retried = 0;
    for ((page, retries), folder) in &answers {
        assert_folder_page(page, folder);
        retried += retries;
    }
    assert!(
        retried > 0,
        "thirty clicks at once overflow the session's queue"
    );
    eprintln!("30 clicks served after {retried} answers of \"still working\"");
    let served: Vec<&String> = answers.iter().map(|(_, folder)| folder).collect();

    for (n, folder) in served.iter().enumerate() {
        let page = on(&browser, &nodes[n % NODES])
            .get(&format!("/mail/{folder}"))
            .await;
        assert_folder_page(&page, folder);
        let chosen = page.attrs("select#sort option[selected]", "value");
        assert_eq!(
            chosen,
            vec!["subject-asc"],
            "the order chosen for {folder} was kept"
        );
    }
    assert_folder_page(&browser.get("/mail/INBOX").await, "INBOX after the clicks");

    let most = most_connections.load(Ordering::Relaxed);
    eprintln!("at most {most} IMAP connections of the user at once");
    assert!(
        most <= NODES * pool_per_user,
        "{most} IMAP connections at once, more than {NODES} nodes x {pool_per_user}"
    );
    let refused = dovecot
        .log_text()
        .lines()
        .filter(|line| line.contains(&user) && line.contains("Maximum number of connections"))
        .count();
    assert_eq!(refused, 0, "Dovecot refused none of the user's connections");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_killed_while_it_holds_a_session_does_not_lock_the_user_out() {
    let Some(redis) = Redis::shared() else {
        return;
    };
    let inbox = (1..=MESSAGES as u32).fold(FakeMailbox::new("INBOX", 77), |mailbox, uid| {
        mailbox.with_message(uid, &message(uid as usize))
    });
    let fake = FakeImap::start(Script::new("holder", "secret").mailbox(inbox)).await;
    let dir = support::scratch_dir("killed");
    let backends = Backends::fake(&fake, redis, "killed");
    // Node 1 waits for the stalled server far longer than the test runs.
    let mut first = start_nodes(
        &backends,
        &dir,
        1,
        &[("--imap-command-timeout-ms", "300000")],
    )
    .await
    .remove(0);
    let second = start_nodes(
        &backends,
        &dir.join("second"),
        1,
        &[("--session-wait", "2")],
    )
    .await
    .remove(0);

    let browser = Browser::signed_in(&first.base, "holder", "secret").await;
    assert_folder_page(&browser.get("/mail/INBOX").await, "INBOX on node 1");
    // The folder counts fetched in the background send STATUS too.
    app::background_settled(&first.base).await;

    // A page view checks the mailbox with NOOP on the connection that has
    // it selected (here, the one that showed the first page); the next one
    // gets its answer only long after node 1 is gone.
    let checks = || fake.count("NOOP");
    let checks_before = checks();
    fake.add_rule(Rule::on("NOOP").delay(Duration::from_secs(600)).times(1));
    let stuck = tokio::spawn({
        let url = first.url("/mail/INBOX");
        let client = browser.client.clone();
        async move { client.get(url).send().await }
    });
    let deadline = Instant::now() + Duration::from_secs(20);
    while checks() == checks_before {
        assert!(
            Instant::now() < deadline,
            "node 1 never checked the mailbox"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // While node 1 holds the session, node 2 cannot have it.
    let other = on(&browser, &second);
    let busy = other.get("/mail/INBOX").await;
    assert_eq!(busy.status, 429, "node 2 waits for node 1: {}", busy.text());

    tokio::task::spawn_blocking(move || {
        first.kill();
        first
    })
    .await
    .expect("the kill does not panic");
    let killed_at = Instant::now();
    assert!(
        stuck.await.expect("the request task ends").is_err(),
        "node 1 died mid-request"
    );

    let deadline = killed_at + Duration::from_secs(60);
    let page = loop {
        let page = other.get("/mail/INBOX").await;
        if page.status != 429 || Instant::now() >= deadline {
            break page;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let waited = killed_at.elapsed();
    assert_folder_page(&page, "INBOX on node 2 after node 1 died");
    // The lease lives 10 s unless renewed; node 2 asks every 2 s at most.
    assert!(waited < Duration::from_secs(16), "node 2 took {waited:?}");
    eprintln!("node 2 served the session {waited:?} after node 1 was killed");
}

/// A Redis of this test's own that appends every write to its log before
/// answering, so that a kill loses nothing.
fn persistent_redis(dir: &Path) -> Option<Redis> {
    Redis::start_with(dir, &["--appendonly", "yes", "--appendfsync", "always"])
}

/// Pages through INBOX on every node, one request at a time, until `stop`;
/// returns every status seen, in order.
async fn light_load(browser: Browser, nodes: Vec<String>, stop: Arc<AtomicBool>) -> Vec<u16> {
    let mut statuses = Vec::new();
    let mut turn = 0;
    // Bounded as well as stopped: at most ten minutes of requests.
    let deadline = Instant::now() + Duration::from_secs(600);
    while !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
        let base = &nodes[turn % nodes.len()];
        let browser = Browser {
            base: base.clone(),
            ..browser.clone()
        };
        let page = browser.get("/mail/INBOX").await;
        if page.status == 503 {
            assert!(
                page.headers.contains_key("retry-after"),
                "a 503 says when to retry"
            );
        }
        statuses.push(page.status);
        turn += 1;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    statuses
}

/// GETs `path` until it answers `status`, for at most `limit`.
async fn wait_for_status(browser: &Browser, path: &str, status: u16, limit: Duration) -> Page {
    let deadline = Instant::now() + limit;
    loop {
        let page = browser.get(path).await;
        if page.status == status || Instant::now() >= deadline {
            return page;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_restart_shows_try_again_pages_and_heals_by_itself() {
    let Some(dovecot) = Dovecot::shared() else {
        return;
    };
    let dir = support::scratch_dir("restart");
    let Some(redis) = persistent_redis(&dir.join("redis")) else {
        return;
    };
    let (user, password) = user_with_mail(dovecot, "restart", &[]);
    let backends = Backends::dovecot(dovecot, &redis, "restart");
    let nodes = start_nodes(&backends, &dir, 2, &[]).await;
    let browser = Browser::signed_in(&nodes[0].base, &user, &password).await;
    assert_folder_page(&browser.get("/mail/INBOX").await, "INBOX before the outage");

    let stop = Arc::new(AtomicBool::new(false));
    let bases = nodes.iter().map(|n| n.base.clone()).collect();
    let load = tokio::spawn(light_load(browser.clone(), bases, stop.clone()));
    tokio::time::sleep(Duration::from_millis(300)).await;

    redis.stop();
    let down = wait_for_status(&browser, "/mail/INBOX", 503, Duration::from_secs(15)).await;
    assert_eq!(
        down.status,
        503,
        "a page while Redis is down: {}",
        down.text()
    );
    assert_eq!(down.texts("h1"), vec!["Temporarily unavailable"]);
    for node in &nodes {
        let page = on(&browser, node).get("/mail/INBOX").await;
        assert_eq!(page.status, 503, "{} while Redis is down", node.name);
        assert!(page.headers.contains_key("retry-after"));
    }

    redis.restart();
    let started = Instant::now();
    for node in &nodes {
        let page = wait_for_status(
            &on(&browser, node),
            "/mail/INBOX",
            200,
            Duration::from_secs(30),
        )
        .await;
        assert_folder_page(&page, &format!("{} after Redis came back", node.name));
    }
    eprintln!(
        "both nodes served again {:?} after Redis restarted",
        started.elapsed()
    );

    stop.store(true, Ordering::Relaxed);
    let statuses = load.await.expect("the load task does not panic");
    let unexpected: Vec<u16> = statuses
        .iter()
        .copied()
        .filter(|s| ![200, 429, 503].contains(s))
        .collect();
    assert!(unexpected.is_empty(), "the load saw {unexpected:?}");
    let last_outage = statuses.iter().rposition(|s| *s == 503);
    let last_outage = last_outage.expect("the load saw the outage");
    assert!(
        statuses[last_outage..].contains(&200),
        "the load was served again after the outage: {statuses:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_persistence_a_redis_restart_asks_users_to_sign_in_again() {
    let Some(dovecot) = Dovecot::shared() else {
        return;
    };
    let dir = support::scratch_dir("forgetful");
    let Some(redis) = Redis::start(&dir.join("redis")) else {
        return;
    };
    let (user, password) = user_with_mail(dovecot, "forgetful", &[]);
    let backends = Backends::dovecot(dovecot, &redis, "forgetful");
    let nodes = start_nodes(&backends, &dir, 2, &[]).await;
    let browser = Browser::signed_in(&nodes[0].base, &user, &password).await;
    assert_folder_page(
        &browser.get("/mail/INBOX").await,
        "INBOX before the restart",
    );

    redis.restart();
    let other = on(&browser, &nodes[1]);
    let page = wait_for_status(&other, "/mail/INBOX", 303, Duration::from_secs(30)).await;
    assert_sent_to_sign_in(&page, "the forgotten session");

    let again = Browser::signed_in(&nodes[1].base, &user, &password).await;
    assert_folder_page(
        &again.get("/mail/INBOX").await,
        "INBOX after signing in again",
    );
}

/// One sign-in through the form of `form_node`, posted to `post_node`.
async fn attempt(
    form_node: &NodeProcess,
    post_node: &NodeProcess,
    user: &str,
    password: &str,
    client: &str,
) -> (Page, Duration) {
    app::sign_in_attempt(&form_node.base, &post_node.base, user, password, client).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guessing_spread_over_the_nodes_is_throttled_as_on_one_node() {
    let Some(redis) = Redis::shared() else {
        return;
    };
    let mut script = Script::new("victim", "right-one").account("owner", "theirs");
    for n in 1..=30 {
        script = script.account(&format!("user{n}"), &format!("pw{n}"));
    }
    let fake = FakeImap::start(script).await;
    let dir = support::scratch_dir("guessing");
    let backends = Backends::fake(&fake, redis, "guessing");
    let nodes = start_nodes(
        &backends,
        &dir,
        NODES,
        &[("--trusted-proxies", "127.0.0.1")],
    )
    .await;
    let node = |n: usize| &nodes[n % NODES];

    // One account guessed from five networks, one node after the other.
    let mut quick = Vec::new();
    for n in 0..5 {
        let client = format!("198.51.100.{}", n + 1);
        let (page, took) = attempt(node(n), node(n + 1), "victim", "wrong", &client).await;
        assert_eq!(page.status, 401, "guess {n}: {}", page.text());
        quick.push(took);
    }
    let slowest = quick.iter().max().copied().unwrap_or_default();
    assert!(
        slowest < Duration::from_secs(1),
        "five guesses took {quick:?}"
    );
    let (sixth, took) = attempt(node(5), node(5), "victim", "wrong", "198.51.100.6").await;
    assert!(
        app::refused_by_throttle(&sixth)
            || (sixth.status == 401 && took >= Duration::from_secs(1) && took > slowest),
        "the sixth guess, on another node, is delayed: {} after {took:?}",
        sixth.status
    );

    // One network guessing many accounts is refused after twenty failures,
    // however the attempts are spread.
    let attacker = "203.0.113.7";
    let mut refused_at = None;
    for n in 1..=30 {
        let (page, _) = attempt(node(n), node(n + 1), &format!("user{n}"), "wrong", attacker).await;
        if app::refused_by_throttle(&page) {
            refused_at = Some(n);
            break;
        }
        assert_eq!(page.status, 401, "attempt {n}: {}", page.text());
    }
    assert_eq!(
        refused_at,
        Some(21),
        "the 21st failure from one network is refused"
    );

    // The owner, from a network of their own, still gets in on any node.
    let (page, _) = attempt(node(0), node(2), "owner", "theirs", "192.0.2.44").await;
    assert_eq!(page.status, 303, "{}", page.text());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sign_in_form_from_one_node_is_accepted_by_another() {
    let (Some(dovecot), Some(redis)) = (Dovecot::shared(), Redis::shared()) else {
        return;
    };
    let (user, password) = user_with_mail(dovecot, "crossform", &[]);
    let dir = support::scratch_dir("crossform");
    let backends = Backends::dovecot(dovecot, redis, "crossform");
    let nodes = start_nodes(&backends, &dir, 2, &[]).await;

    let browser = Browser::new(&nodes[0].base);
    let form = browser.get("/login").await;
    let token = form.field("login_token").expect("the form has a token");
    let elsewhere = on(&browser, &nodes[1]);
    let answer = elsewhere
        .post(
            "/login",
            &[
                ("username", user.as_str()),
                ("password", password.as_str()),
                ("login_token", token.as_str()),
                ("next", ""),
            ],
        )
        .await;
    assert_eq!(answer.status, 303, "{}", answer.text());
    assert_folder_page(&browser.get_following("/").await, "INBOX on node 1");
}

/// The nginx example of the README, pointed at `nodes` and listening on
/// 127.0.0.1:`port` over plain HTTP (the test client speaks no TLS).
fn readme_nginx_example(nodes: &[NodeProcess], port: u16) -> String {
    let readme = std::fs::read_to_string(support::workspace_root().join("README.md"))
        .expect("README.md is readable");
    let example = readme
        .split("```nginx\n")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .expect("the README has an nginx example");

    let address = |node: &NodeProcess| node.base.trim_start_matches("http://").to_owned();
    let replacements = [
        ("10.0.0.11:8080".to_owned(), address(&nodes[0])),
        ("10.0.0.12:8080".to_owned(), address(&nodes[1])),
        (
            "listen 443 ssl;".to_owned(),
            format!("listen 127.0.0.1:{port};"),
        ),
    ];
    let mut config = example.to_owned();
    for (from, to) in &replacements {
        assert!(config.contains(from.as_str()), "the example has {from:?}");
        config = config.replace(from.as_str(), to);
    }
    config
        .lines()
        .filter(|line| !line.trim_start().starts_with("ssl_certificate"))
        .collect::<Vec<_>>()
        .join("\n")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_readme_nginx_example_spreads_one_session_over_two_nodes() {
    let (Some(dovecot), Some(redis)) = (Dovecot::shared(), Redis::shared()) else {
        return;
    };
    let (user, password) = user_with_mail(dovecot, "nginx", &[]);
    let dir = support::scratch_dir("nginx");
    let backends = Backends::dovecot(dovecot, redis, "nginx");
    let nodes = start_nodes(&backends, &dir, 2, &[("--trusted-proxies", "127.0.0.1")]).await;
    let port = Nginx::free_port();
    let config = readme_nginx_example(&nodes, port);
    let Some(nginx) = Nginx::start(&dir.join("nginx"), port, &config) else {
        return;
    };

    let browser = Browser::signed_in(&nginx.base(), &user, &password).await;
    for n in 0..6 {
        let page = browser.get("/mail/INBOX").await;
        assert_folder_page(&page, &format!("page view {n} through nginx"));
    }
    for node in &nodes {
        let metrics = Browser::new(&node.base).get("/metrics").await.text();
        let views: u64 = metrics
            .lines()
            .find_map(|line| {
                line.strip_prefix("mailfront_page_views_total ")?
                    .parse()
                    .ok()
            })
            .expect("the node counts page views");
        assert!(views >= 2, "{} served {views} of the page views", node.name);
    }

    let blocked = Browser::new(&nginx.base()).get("/metrics").await;
    assert_eq!(blocked.status, 403, "the proxy hides /metrics");

    // A form posted through the proxy keeps its Host, so the Origin check
    // of the node sees its own site.
    let inbox = browser.get("/mail/INBOX").await;
    let csrf = inbox.field("csrf").expect("the page has a sign-out form");
    let out = browser
        .client
        .post(format!("{}/logout", nginx.base()))
        .header("origin", nginx.base())
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .expect("the sign-out is answered");
    assert_eq!(out.status().as_u16(), 303, "{}", nginx.error_log());
    let after = browser.get("/mail/INBOX").await;
    assert_sent_to_sign_in(&after, "INBOX after signing out through nginx");
}
