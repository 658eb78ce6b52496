//! Many clicks at once on one session, driven through the pages: every
//! request is served or told to retry ("still working", 429 with
//! Retry-After), none lands on a sign-in page or an error, nothing one
//! request wrote to the session is lost to a parallel one, and after
//! sign-out the old cookie opens nothing. Covers the shared case
//! `013-parallel-clicks-one-session.md` as far as the product goes today
//! (it has no "toggle read" action yet: message views stand in for it,
//! as they mark messages read).

mod app;
mod fake_imap;
mod support;

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use app::{settings_for, Browser, Node, Page};
use fake_imap::{FakeImap, FakeMailbox, Rule, Script};
use futures_util::future::join_all;
use mailfront::config::SettingsLayer;
use support::Dovecot;

/// How long a request may wait for its session (the node's default).
const SESSION_WAIT: Duration = Duration::from_secs(10);

/// A plain message numbered `n`, whose Date runs opposite to arrival.
fn message(n: usize) -> Vec<u8> {
    format!(
        "From: Sender {n} <s{n}@example.org>\r\nTo: reader@example.org\r\n\
         Subject: click {n:02}\r\nDate: Mon, 3 Jun 2024 {:02}:{:02}:00 +0000\r\n\
         Message-ID: <click-{n}@example.org>\r\n\r\nBody of message {n}.\r\n",
        23 - n / 60,
        59 - n % 60
    )
    .into_bytes()
}

/// A user with `count` messages in INBOX and two in Archive; returns the
/// user, the password, INBOX's UIDVALIDITY and its UIDs in arrival order.
fn user_with_mail(
    dovecot: &Dovecot,
    prefix: &str,
    count: usize,
) -> (String, String, u32, Vec<u32>) {
    let (user, password) = dovecot.new_user(prefix);
    let mut client = dovecot.client(&user, &password);
    let uids = (1..=count)
        .map(|n| client.append("INBOX", "()", None, &message(n)))
        .collect();
    let _ = client.command("CREATE Archive");
    for n in 1..=2 {
        client.append("Archive", "()", None, &message(100 + n));
    }
    let status = client
        .command("STATUS INBOX (UIDVALIDITY)")
        .expect("STATUS answers");
    let uidvalidity = status
        .iter()
        .find_map(|line| {
            line.split_once("UIDVALIDITY ")?
                .1
                .trim_end_matches(')')
                .parse()
                .ok()
        })
        .expect("STATUS gives the UIDVALIDITY");
    client.logout();
    (user, password, uidvalidity, uids)
}

/// A value of the node's `/metrics` page.
async fn metric(node: &Node, name: &str) -> i64 {
    let text = Browser::new(&node.base).get("/metrics").await.text();
    text.lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("/metrics has no {name}:\n{text}"))
}

/// Asserts that a 429 is the "still working" page that reloads itself, and
/// returns its Retry-After in seconds.
fn check_busy_page(page: &Page) -> u64 {
    let retry_after: u64 = page
        .headers
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .expect("a 429 carries Retry-After in seconds");
    assert_eq!(page.texts("h1"), vec!["Still working"], "{}", page.text());
    assert_eq!(
        page.attrs("meta[http-equiv=refresh]", "content"),
        vec![retry_after.to_string()]
    );
    assert!((1..=10).contains(&retry_after), "Retry-After {retry_after}");
    retry_after
}

/// Asserts that an answer is what a signed-in user should get for `path`:
/// the page itself, or for `/` the way to the inbox.
fn assert_served(page: &Page, path: &str) {
    if path == "/" {
        assert_eq!(page.status, 303, "{path}: {}", page.text());
        assert_eq!(page.location.as_deref(), Some("/mail/INBOX"));
        return;
    }
    assert_eq!(page.status, 200, "{path}: {}", page.text());
    assert!(page.field("csrf").is_some(), "{path} is a signed-in page");
}

/// Asserts that a first answer is served or "still working", never a
/// sign-in page or an error; says whether it was "still working".
fn assert_served_or_busy(page: &Page, path: &str) -> bool {
    if page.status == 429 {
        check_busy_page(page);
        return true;
    }
    assert!(
        !page.location.as_deref().unwrap_or("").starts_with("/login"),
        "{path} was sent to sign in"
    );
    assert_served(page, path);
    false
}

/// GETs every path at once; returns each answer with how long it took.
async fn all_at_once(browser: &Browser, paths: &[String]) -> Vec<(Page, Duration)> {
    join_all(paths.iter().map(|path| async move {
        let started = Instant::now();
        let page = browser.get(path).await;
        (page, started.elapsed())
    }))
    .await
}

/// Asks again, as the "still working" page does, after each Retry-After
/// (at most 30 times), until the page is served.
async fn retry_until_served(browser: &Browser, path: &str) -> Page {
    for _ in 0..30 {
        let page = browser.get(path).await;
        if page.status != 429 {
            return page;
        }
        let seconds = check_busy_page(&page);
        tokio::time::sleep(Duration::from_secs(seconds)).await;
    }
    panic!("{path} stayed busy for 30 tries");
}

/// A client that sends `cookie` as it is, keeping nothing the node sets.
fn replay_client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(60))
        .build()
        .expect("client builds")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thirty_clicks_at_once_on_one_session_are_served_or_told_to_retry() {
    let Some(dovecot) = Dovecot::shared() else {
        return;
    };
    let (user, password, uidvalidity, uids) = user_with_mail(dovecot, "thirty", 12);
    let node = Node::start(settings_for(dovecot, &app::scratch_dir("thirty"))).await;
    let browser = Browser::signed_in(&node.base, &user, &password).await;

    let paths: Vec<String> = (0..30)
        .map(|i| match i % 3 {
            0 => format!("/mail/INBOX?page={}", 1 + i % 2),
            1 => format!("/mail/INBOX/{uidvalidity}/{}", uids[i % uids.len()]),
            _ => "/mail/Archive".to_owned(),
        })
        .collect();
    let answers = all_at_once(&browser, &paths).await;

    let mut busy = 0;
    for ((page, took), path) in answers.iter().zip(&paths) {
        assert!(
            *took < SESSION_WAIT + Duration::from_secs(3),
            "{path} took {took:?}"
        );
        if assert_served_or_busy(page, path) {
            busy += 1;
        }
    }
    assert!(busy > 0, "thirty clicks at once overflow a queue of two");
    assert!(busy < 30, "at least one click was served");
    assert_eq!(
        metric(&node, "mailfront_requests_rejected_total").await,
        busy as i64,
        "every 429 is counted"
    );
    let locks = node.server.state.local_locks.as_ref().expect("local locks");
    let counters = locks.counters();
    assert_eq!(
        counters.refused_queue_full.load(Ordering::Relaxed),
        busy as u64
    );
    assert_eq!(counters.timed_out.load(Ordering::Relaxed), 0);

    let after = browser.get("/mail/INBOX").await;
    assert_served(&after, "/mail/INBOX");
    assert_eq!(after.texts("header .user"), vec![user]);
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_shared_case_of_parallel_clicks_then_sign_out() {
    let Some(dovecot) = Dovecot::shared() else {
        return;
    };
    let (user, password, uidvalidity, uids) = user_with_mail(dovecot, "case013", 60);
    let node = Node::start(settings_for(dovecot, &app::scratch_dir("case013"))).await;
    let browser = Browser::signed_in(&node.base, &user, &password).await;
    let view = |n: usize| format!("/mail/INBOX/{uidvalidity}/{}", uids[n - 1]);

    // Step 1: 25 requests at once. The page views ask for orders that the
    // session remembers, INBOX's and Archive's, written by parallel requests.
    let mut paths: Vec<String> = vec!["/".to_owned(); 5];
    for page in [1, 2, 3, 1, 2, 3] {
        paths.push(format!("/mail/INBOX?page={page}&sort=date-asc"));
    }
    paths.extend((1..=8).map(view));
    paths.extend(std::iter::repeat_n(view(9), 4));
    paths.extend(std::iter::repeat_n(
        "/mail/Archive?sort=subject-desc".to_owned(),
        2,
    ));
    assert_eq!(paths.len(), 25);
    let answers = all_at_once(&browser, &paths).await;

    let mut waiting = Vec::new();
    for ((page, took), path) in answers.iter().zip(&paths) {
        assert!(
            *took < SESSION_WAIT + Duration::from_secs(3),
            "{path} took {took:?}"
        );
        if assert_served_or_busy(page, path) {
            waiting.push(path.clone());
        }
    }
    let retried = join_all(
        waiting
            .iter()
            .map(|path| retry_until_served(&browser, path)),
    )
    .await;
    for (page, path) in retried.iter().zip(&waiting) {
        assert_served(page, path);
    }

    // Step 3: the remembered orders are those the parallel requests wrote,
    // and every viewed message is read.
    let inbox = browser.get("/mail/INBOX").await;
    assert_served(&inbox, "/mail/INBOX");
    assert_eq!(
        inbox.attrs("select#sort option[selected]", "value"),
        vec!["date-asc"]
    );
    assert_eq!(
        inbox.texts("td.subject a")[0],
        "click 60",
        "oldest date first"
    );
    let archive = browser.get("/mail/Archive").await;
    assert_eq!(
        archive.attrs("select#sort option[selected]", "value"),
        vec!["subject-desc"]
    );
    let mut client = dovecot.client(&user, &password);
    client.select("INBOX");
    let flags = client
        .command("UID FETCH 1:9 (FLAGS)")
        .expect("FETCH answers");
    let seen = flags.iter().filter(|line| line.contains("\\Seen")).count();
    assert_eq!(seen, 9, "{flags:?}");
    client.logout();

    // Step 4: sign out, then five requests at once with the old cookie.
    let cookie = browser.cookie_header();
    let csrf = inbox.field("csrf").expect("the page has a sign-out form");
    let out = browser.post("/logout", &[("csrf", &csrf)]).await;
    assert_eq!(out.status, 303);
    assert_eq!(out.location.as_deref(), Some("/login?signed_out=1"));

    let replay = replay_client();
    let old: Vec<String> = vec![
        "/mail/INBOX".to_owned(),
        "/mail/INBOX?page=2".to_owned(),
        view(1),
        view(9),
        "/mail/Archive".to_owned(),
    ];
    let answers = join_all(
        old.iter()
            .map(|path| replay.get(node.url(path)).header("cookie", &cookie).send()),
    )
    .await;
    for (answer, path) in answers.into_iter().zip(&old) {
        let answer = answer.expect("answered");
        assert_eq!(answer.status().as_u16(), 303, "{path}");
        let location = answer.headers()["location"].to_str().unwrap().to_owned();
        assert!(
            location.starts_with("/login?next="),
            "{path} went to {location}"
        );
    }
    let again = replay
        .get(node.url("/mail/INBOX"))
        .header("cookie", &cookie)
        .send()
        .await
        .expect("answered");
    assert_eq!(again.status().as_u16(), 303, "the old session stays ended");
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_fetch_holds_back_its_own_session_only_within_the_lock_timeout() {
    let mut inbox = FakeMailbox::new("INBOX", 11);
    for n in 1..=12 {
        inbox = inbox.with_message(n as u32, &message(n));
    }
    let slow = Duration::from_secs(8);
    let script = Script::new("ann", "secret")
        .mailbox(inbox)
        .mailbox(FakeMailbox::new("Archive", 12).with_message(1, &message(101)))
        .rule(Rule::on("UID FETCH 5 (BODY.PEEK[])").delay(slow).times(1));
    let fake = FakeImap::start(script).await;
    let node = Node::start(SettingsLayer {
        listen: Some("127.0.0.1:0".parse().unwrap()),
        imap_server: Some(fake.url()),
        data_dir: Some(app::scratch_dir("slow-fetch")),
        ..SettingsLayer::default()
    })
    .await;
    let browser = Browser::signed_in(&node.base, "ann", "secret").await;
    let other_session = Browser::signed_in(&node.base, "ann", "secret").await;

    let started = Instant::now();
    let slow_view = {
        let browser = browser.clone();
        tokio::spawn(async move { browser.get("/mail/INBOX/11/5").await })
    };
    let deadline = Instant::now() + Duration::from_secs(5);
    while fake.count("UID FETCH 5 (UID BODY.PEEK[])") == 0 {
        assert!(Instant::now() < deadline, "the slow fetch never started");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    let paths: Vec<String> = (0..24)
        .map(|i| match i % 4 {
            0 => "/".to_owned(),
            1 => format!("/mail/INBOX?page={}", 1 + i % 3),
            2 => format!("/mail/INBOX/11/{}", 1 + i % 4),
            _ => "/mail/Archive".to_owned(),
        })
        .collect();
    let others = all_at_once(&browser, &paths);
    let elsewhere = async {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let started = Instant::now();
        let page = other_session.get("/mail/INBOX/11/3").await;
        (page, started.elapsed())
    };
    let (others, (elsewhere, elsewhere_took)) = tokio::join!(others, elsewhere);

    assert_served(&elsewhere, "/mail/INBOX/11/3");
    assert!(
        elsewhere_took < Duration::from_secs(4),
        "another session waited {elsewhere_took:?} for the slow fetch"
    );
    let slow_page = slow_view.await.expect("the slow view ends");
    assert_served(&slow_page, "/mail/INBOX/11/5");
    assert!(started.elapsed() >= slow);
    let mut busy = 0;
    for ((page, took), path) in others.iter().zip(&paths) {
        assert!(
            *took < SESSION_WAIT + Duration::from_secs(2),
            "{path} took {took:?}"
        );
        if assert_served_or_busy(page, path) {
            busy += 1;
        }
    }
    assert!(
        busy >= 24 - 2,
        "at most two requests queue behind the slow one"
    );

    let after = retry_until_served(&browser, "/mail/INBOX").await;
    assert_served(&after, "/mail/INBOX");
    node.stop().await;
}
