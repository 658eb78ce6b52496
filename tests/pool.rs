//! The IMAP pool against a real Dovecot, driven through the pages: many
//! sessions of one account stay within the server's connection limit, a pool
//! whose cap is above that limit learns the lower one, connections ended by
//! `doveadm kick` are replaced (one alone with exactly one new LOGIN), and a
//! session outlives a restart of the node.

mod app;
mod support;

use std::sync::atomic::Ordering;
use std::time::Duration;

use app::{settings_for, Browser, Node, Page};
use futures_util::future::join_all;
use support::Dovecot;

/// The line Dovecot logs when it refuses a LOGIN for the connection limit.
const LIMIT_LINE: &str = "Maximum number of connections";

/// A plain message numbered `n`.
fn message(n: usize) -> Vec<u8> {
    format!(
        "From: Sender <sender@example.org>\r\nTo: reader@example.org\r\n\
         Subject: pooled {n:02}\r\nDate: Mon, 3 Jun 2024 10:{:02}:00 +0000\r\n\
         Message-ID: <pool-{n}@example.org>\r\n\r\nBody of message {n}.\r\n",
        n % 60
    )
    .into_bytes()
}

/// A user with `count` messages in INBOX and two in a folder Archive;
/// returns the user, the password and the paths of the INBOX messages in
/// UID order. The set-up session has ended (in Dovecot's log) on return,
/// so it takes none of the user's connections.
fn user_with_mail(dovecot: &Dovecot, prefix: &str, count: usize) -> (String, String, Vec<String>) {
    let (user, password) = dovecot.new_user(prefix);
    let mut client = dovecot.client(&user, &password);
    let uids: Vec<u32> = (1..=count)
        .map(|n| client.append("INBOX", "()", None, &message(n)))
        .collect();
    let _ = client.command("CREATE Archive");
    for n in 1..=2 {
        client.append("Archive", "()", None, &message(100 + n));
    }
    let status = client
        .command("STATUS INBOX (UIDVALIDITY)")
        .expect("STATUS answers");
    let uidvalidity: u32 = status
        .iter()
        .find_map(|line| {
            let rest = line.split_once("UIDVALIDITY ")?.1;
            rest.trim_end_matches(')').parse().ok()
        })
        .expect("STATUS gives the UIDVALIDITY");
    client.logout();
    wait_for_disconnects(dovecot, &user, 1);

    let paths = uids
        .iter()
        .map(|uid| format!("/mail/INBOX/{uidvalidity}/{uid}"))
        .collect();
    (user, password, paths)
}

/// Sessions of `user` that Dovecot logged as ended.
fn disconnects(dovecot: &Dovecot, user: &str) -> usize {
    let needle = format!("imap({user})<");
    dovecot
        .log_text()
        .lines()
        .filter(|line| line.contains(&needle) && line.contains("Disconnected"))
        .count()
}

/// Waits (at most 10 s) until Dovecot logged `at_least` ended sessions.
fn wait_for_disconnects(dovecot: &Dovecot, user: &str, at_least: usize) {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while disconnects(dovecot, user) < at_least {
        assert!(
            std::time::Instant::now() < deadline,
            "Dovecot did not log {at_least} ended sessions of {user}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// LOGINs of `user` counted after giving Dovecot's log writer a moment to
/// catch up with ones beyond `expected` (at most 500 ms).
fn settled_logins(dovecot: &Dovecot, user: &str, expected: usize) -> usize {
    let count = dovecot.wait_for_logins(user, expected, Duration::from_secs(5));
    dovecot.wait_for_logins(user, count + 1, Duration::from_millis(500))
}

/// A value of the node's `/metrics` page.
async fn metric(node: &Node, name: &str) -> i64 {
    let text = Browser::new(&node.base).get("/metrics").await.text();
    text.lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("/metrics has no {name}:\n{text}"))
}

/// GETs a page as a browser does: a "still working" answer (429) is
/// checked and asked again after its Retry-After, at most 30 times. Returns
/// the final page and how many 429s came first.
async fn visit(browser: &Browser, path: &str) -> (Page, usize) {
    let mut busy = 0;
    loop {
        let page = browser.get(path).await;
        if page.status != 429 {
            return (page, busy);
        }
        busy += 1;
        let seconds = check_busy_page(&page);
        assert!(busy < 30, "{path} stayed busy for {busy} tries");
        tokio::time::sleep(Duration::from_secs(seconds)).await;
    }
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

/// Requests the session lock refused: (queue full, waited too long).
fn lock_refusals(node: &Node) -> (u64, u64) {
    let locks = node.server.state.local_locks.as_ref().expect("local locks");
    let counters = locks.counters();
    (
        counters.refused_queue_full.load(Ordering::Relaxed),
        counters.timed_out.load(Ordering::Relaxed),
    )
}

/// Asserts a page is a page of the mail, not an error or a sign-in page.
fn assert_served(page: &Page, path: &str) {
    assert_eq!(page.status, 200, "{path}: {}", page.text());
    assert!(page.location.is_none(), "{path} redirected");
    assert!(page.field("csrf").is_some(), "{path} is a signed-in page");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eight_sessions_of_one_account_stay_within_the_servers_connection_limit() {
    const CAP: usize = 3;
    let Some(dovecot) = Dovecot::start_private(CAP as u32) else {
        return;
    };
    let (user, password, messages) = user_with_mail(&dovecot, "eight", 25);
    let mut layer = settings_for(&dovecot, &app::scratch_dir("eight-sessions"));
    layer.pool_per_user = Some(CAP);
    let node = Node::start(layer).await;

    let mut browsers = Vec::new();
    for _ in 0..8 {
        browsers.push(Browser::signed_in(&node.base, &user, &password).await);
    }
    let before_clicks = settled_logins(&dovecot, &user, 1 + 8);
    assert_eq!(
        before_clicks,
        1 + 8,
        "one LOGIN per sign-in, after the set-up:\n{}",
        dovecot.log_text()
    );

    let clicks = [
        "/mail/INBOX".to_owned(),
        "/mail/INBOX?page=2".to_owned(),
        messages[3].clone(),
        messages[20].clone(),
        "/mail/Archive".to_owned(),
    ];
    let sessions = browsers.iter().map(|browser| {
        join_all(clicks.iter().map(move |path| async move {
            let (page, busy) = visit(browser, path).await;
            (path.clone(), page, busy)
        }))
    });
    let answers: Vec<_> = join_all(sessions).await.into_iter().flatten().collect();

    assert_eq!(answers.len(), 8 * clicks.len());
    for (path, page, _) in &answers {
        assert_served(page, path);
    }
    let busy: usize = answers.iter().map(|(_, _, busy)| busy).sum();
    let (queue_full, timed_out) = lock_refusals(&node);
    assert_eq!(queue_full, busy as u64, "each 429 came from a full queue");
    assert_eq!(timed_out, 0, "no click waited out the lock timeout");
    let log = dovecot.log_text();
    assert!(
        !log.contains(LIMIT_LINE),
        "Dovecot refused a connection:\n{log}"
    );
    let new_logins = settled_logins(&dovecot, &user, before_clicks) - before_clicks;
    assert!(new_logins <= CAP, "{new_logins} LOGINs while clicking");
    assert!(metric(&node, "mailfront_imap_connections_open").await <= CAP as i64);
    assert_eq!(
        metric(&node, "mailfront_imap_login_limit_refusals_total").await,
        0
    );
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pool_cap_above_the_servers_limit_is_lowered_to_it() {
    let Some(dovecot) = Dovecot::start_private(2) else {
        return;
    };
    let (user, password, messages) = user_with_mail(&dovecot, "capped", 5);
    let mut layer = settings_for(&dovecot, &app::scratch_dir("capped"));
    layer.pool_per_user = Some(3);
    let node = Node::start(layer).await;

    let mut browsers = Vec::new();
    for _ in 0..3 {
        browsers.push(Browser::signed_in(&node.base, &user, &password).await);
    }
    let refusals = metric(&node, "mailfront_imap_login_limit_refusals_total").await;
    assert!(refusals >= 1, "the third sign-in met the server's limit");

    let clicks = ["/mail/INBOX", &messages[0], "/mail/Archive", &messages[4]];
    for round in 0..3 {
        let sessions = browsers.iter().map(|browser| {
            join_all(clicks.iter().map(move |path| async move {
                let (page, _) = visit(browser, path).await;
                (path.to_string(), page)
            }))
        });
        for (path, page) in join_all(sessions).await.into_iter().flatten() {
            assert_served(&page, &path);
        }
        assert_eq!(
            metric(&node, "mailfront_imap_login_limit_refusals_total").await,
            refusals,
            "round {round} met the limit again: the pool did not keep the lower cap"
        );
    }
    assert!(metric(&node, "mailfront_imap_connections_open").await <= 2);
    node.stop().await;
}

#[tokio::test]
async fn a_kicked_connection_is_replaced_with_one_new_login() {
    let Some(dovecot) = Dovecot::shared() else {
        return;
    };
    let (user, password, messages) = user_with_mail(dovecot, "kicked", 3);
    let node = Node::start(settings_for(dovecot, &app::scratch_dir("kicked"))).await;
    let browser = Browser::signed_in(&node.base, &user, &password).await;
    let (first, _) = visit(&browser, &messages[0]).await;
    assert_served(&first, &messages[0]);
    app::background_settled(&node.base).await;
    assert_eq!(
        metric(&node, "mailfront_imap_connections_open").await,
        2,
        "the page's and the folder counts'"
    );
    let logins = settled_logins(dovecot, &user, 3);
    assert_eq!(logins, 3, "the set-up, the sign-in and the folder counts");

    let ended = disconnects(dovecot, &user);
    dovecot.kick(&user);
    wait_for_disconnects(dovecot, &user, ended + 2);

    let (second, _) = visit(&browser, &messages[1]).await;
    assert_served(&second, &messages[1]);
    assert!(second.text().contains("Body of message 2."));
    assert_eq!(settled_logins(dovecot, &user, logins + 1), logins + 1);
    assert_eq!(metric(&node, "mailfront_imap_connections_open").await, 1);
    node.stop().await;
}

#[tokio::test]
async fn a_session_outlives_a_restart_of_the_node() {
    let Some(dovecot) = Dovecot::shared() else {
        return;
    };
    let (user, password, messages) = user_with_mail(dovecot, "restart", 2);
    let data = app::scratch_dir("restart");
    let node = Node::start(settings_for(dovecot, &data)).await;
    let browser = Browser::signed_in(&node.base, &user, &password).await;
    let (before, _) = visit(&browser, "/mail/INBOX").await;
    assert_served(&before, "/mail/INBOX");
    node.stop().await;

    let node = Node::start(settings_for(dovecot, &data)).await;
    let same_cookie = Browser {
        base: node.base.clone(),
        ..browser.clone()
    };
    let (after, _) = visit(&same_cookie, &messages[1]).await;
    assert_served(&after, &messages[1]);
    assert!(after.text().contains("Body of message 2."));
    assert_eq!(after.texts("header .user"), vec![user.clone()]);
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_kicked_connection_is_replaced_not_only_the_first() {
    let Some(dovecot) = Dovecot::shared() else {
        return;
    };
    let (user, password, messages) = user_with_mail(dovecot, "kicked-all", 3);
    let node = Node::start(settings_for(dovecot, &app::scratch_dir("kicked-all"))).await;
    let first = Browser::signed_in(&node.base, &user, &password).await;
    let second = Browser::signed_in(&node.base, &user, &password).await;
    let (a, b) = tokio::join!(first.get(&messages[0]), second.get(&messages[1]));
    assert_served(&a, &messages[0]);
    assert_served(&b, &messages[1]);
    app::background_settled(&node.base).await;
    let open = metric(&node, "mailfront_imap_connections_open").await;
    assert!(
        (2..=3).contains(&open),
        "two sessions at once hold two connections, the folder counts maybe a third: {open}"
    );

    let ended = disconnects(dovecot, &user);
    dovecot.kick(&user);
    wait_for_disconnects(dovecot, &user, ended + open as usize);

    let (page, _) = visit(&first, &messages[2]).await;
    assert_served(&page, &messages[2]);
    assert!(page.text().contains("Body of message 3."));
    // Every dead connection was dropped: what stays open is what the page
    // opened anew (one, or two on a loaded machine where a second request
    // of the page found the first still lent), all of it alive.
    let open = metric(&node, "mailfront_imap_connections_open").await;
    assert!((1..=2).contains(&open), "{open} open after the kick");
    assert_eq!(open as usize, imap_sessions_of(dovecot, &user));
    node.stop().await;
}

/// IMAP sessions of `user` Dovecot has now.
fn imap_sessions_of(dovecot: &Dovecot, user: &str) -> usize {
    dovecot
        .doveadm(&["who", "-1", user])
        .lines()
        .filter(|line| line.split_whitespace().next() == Some(user))
        .count()
}
