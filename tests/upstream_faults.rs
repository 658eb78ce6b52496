//! Faults of the IMAP server that a real one will not show on demand, played
//! by the fake server of `fake_imap` and driven through the pages: a BYE in
//! the middle of a command and at the greeting (the shared case
//! `010-bye-mid-command.imap`, followed as written), a server that accepts
//! and never answers, and `NO [LIMIT]` at LOGIN.

mod app;
mod fake_imap;
mod support;

use std::time::{Duration, Instant};

use app::{Browser, Node, Page};
use fake_imap::{tokens, After, FakeImap, FakeMailbox, Greeting, Rule, Script, Transcript};
use mailfront::config::SettingsLayer;
use support::shared_dir;

/// A node in front of the fake server, with short IMAP timeouts so that a
/// silent server is given up quickly.
async fn node_for(fake: &FakeImap, name: &str) -> Node {
    Node::start(layer_for(fake, name)).await
}

/// A node whose accounts keep one IMAP connection each: the connection
/// numbers a script's rules name are then the pages' own, with no second
/// connection for the folder counts fetched in the background.
async fn one_connection_node_for(fake: &FakeImap, name: &str) -> Node {
    Node::start(SettingsLayer {
        pool_per_user: Some(1),
        ..layer_for(fake, name)
    })
    .await
}

/// Settings for a node in front of the fake server.
fn layer_for(fake: &FakeImap, name: &str) -> SettingsLayer {
    SettingsLayer {
        listen: Some("127.0.0.1:0".parse().unwrap()),
        imap_server: Some(fake.url()),
        data_dir: Some(app::scratch_dir(name)),
        imap_connect_timeout_ms: Some(1_000),
        imap_greeting_timeout_ms: Some(GREETING_TIMEOUT.as_millis() as u64),
        imap_login_timeout_ms: Some(1_000),
        imap_command_timeout_ms: Some(COMMAND_TIMEOUT.as_millis() as u64),
        ..SettingsLayer::default()
    }
}

const GREETING_TIMEOUT: Duration = Duration::from_millis(500);
const COMMAND_TIMEOUT: Duration = Duration::from_millis(1_000);

/// A value of the node's `/metrics` page.
async fn metric(node: &Node, name: &str) -> i64 {
    let text = Browser::new(&node.base).get("/metrics").await.text();
    text.lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("/metrics has no {name}:\n{text}"))
}

/// GETs a page and says how long the answer took.
async fn timed_get(browser: &Browser, path: &str) -> (Page, Duration) {
    let started = Instant::now();
    let page = browser.get(path).await;
    (page, started.elapsed())
}

/// What the shared case 010 says, read from its transcript.
struct ByeCase {
    user: String,
    password: String,
    inbox: FakeMailbox,
    message_path: String,
    /// Plays connection 1: BYE in answer to the body fetch, then close.
    bye_mid_fetch: Rule,
    /// The fresh connection's greeting and its answers (LOGIN aside).
    fresh_greeting: Vec<u8>,
    fresh_rules: Vec<Rule>,
    /// The greeting of variant B.
    refusal: Vec<u8>,
}

fn bye_case() -> Option<ByeCase> {
    let path = shared_dir()?.join("cases/010-bye-mid-command.imap");
    let transcript = Transcript::load(&path);
    let pooled = transcript.section("connection 1").exchanges();
    let fresh = transcript.section("connection 2");
    let exchanges = fresh.exchanges();
    let find = |name: &str| {
        exchanges
            .iter()
            .find(|e| e.command.starts_with(name))
            .unwrap_or_else(|| panic!("case 010 has no {name} on the fresh connection"))
    };

    let login = tokens(&find("LOGIN").command);
    let select = find("SELECT");
    let uidvalidity: u32 = select
        .reply
        .iter()
        .find_map(|line| {
            let text = String::from_utf8_lossy(line).into_owned();
            let rest = text.split_once("[UIDVALIDITY ")?.1.to_owned();
            rest.split(']').next()?.parse().ok()
        })
        .expect("the SELECT of case 010 names the UIDVALIDITY");
    let fetch = find("UID FETCH");
    let uid: u32 = tokens(&fetch.command)[2].parse().expect("one UID");
    let body = fetch
        .literal()
        .expect("the fetch of case 010 has a literal");

    let fresh_rules = exchanges
        .iter()
        .filter(|e| !e.command.starts_with("LOGIN"))
        .map(|e| Rule::from_exchange(e).on_connection(2).times(1))
        .collect();
    Some(ByeCase {
        user: login[1].clone(),
        password: login[2].clone(),
        inbox: FakeMailbox::new("INBOX", uidvalidity).with_message(uid, &body),
        message_path: format!("/mail/INBOX/{uidvalidity}/{uid}"),
        bye_mid_fetch: Rule::from_exchange(&pooled[0]).on_connection(1).times(1),
        fresh_greeting: fresh.greeting().expect("the fresh connection is greeted"),
        fresh_rules,
        refusal: transcript
            .section("variant B")
            .greeting()
            .expect("variant B greets"),
    })
}

#[tokio::test]
async fn a_bye_during_a_pooled_fetch_is_retried_once_on_a_fresh_connection() {
    let Some(case) = bye_case() else {
        return;
    };
    let mut script = Script::new(&case.user, &case.password)
        .mailbox(case.inbox.clone())
        .rule(case.bye_mid_fetch.clone())
        .greet_connection(2, Greeting::Line(case.fresh_greeting.clone()));
    for rule in &case.fresh_rules {
        script = script.rule(rule.clone());
    }
    let fake = FakeImap::start(script).await;
    let node = one_connection_node_for(&fake, "bye-mid-fetch").await;
    let browser = Browser::signed_in(&node.base, &case.user, &case.password).await;

    let inbox = browser.get("/mail/INBOX").await;
    assert_eq!(inbox.status, 200, "{}", inbox.text());
    assert_eq!(
        fake.connections(),
        1,
        "the folder page used the sign-in connection"
    );

    let (message, took) = timed_get(&browser, &case.message_path).await;
    assert_eq!(
        message.status,
        200,
        "{:?} {}",
        fake.commands(),
        message.text()
    );
    assert!(
        message.text().contains("Hello again."),
        "{}",
        message.text()
    );
    assert_eq!(message.texts("h1.subject"), vec!["still here"]);
    assert!(took < Duration::from_secs(5), "the retry took {took:?}");
    assert_eq!(fake.connections(), 2, "exactly one reconnect");
    assert_eq!(fake.count("LOGIN"), 2);

    let again = browser.get("/mail/INBOX").await;
    assert_eq!(again.status, 200, "still signed in: {}", again.text());
    let on_first: Vec<String> = fake
        .commands()
        .into_iter()
        .filter(|(n, _)| *n == 1)
        .map(|(_, line)| line)
        .collect();
    assert!(
        on_first.last().is_some_and(|l| l.contains("BODY.PEEK[]")),
        "nothing was sent on the connection after its BYE: {on_first:?}"
    );
    assert_eq!(metric(&node, "mailfront_imap_connections_open").await, 1);
    assert_eq!(metric(&node, "mailfront_pool_reconnects_total").await, 1);
    node.stop().await;
}

#[tokio::test]
async fn a_bye_at_the_greeting_of_the_retry_shows_a_busy_page_and_keeps_the_session() {
    let Some(case) = bye_case() else {
        return;
    };
    let script = Script::new(&case.user, &case.password)
        .mailbox(case.inbox.clone())
        .rule(case.bye_mid_fetch.clone())
        .greet_connection(2, Greeting::Line(case.refusal.clone()));
    let fake = FakeImap::start(script).await;
    let node = one_connection_node_for(&fake, "bye-greeting").await;
    let browser = Browser::signed_in(&node.base, &case.user, &case.password).await;
    assert_eq!(browser.get("/mail/INBOX").await.status, 200);

    let (refused, took) = timed_get(&browser, &case.message_path).await;
    assert_eq!(refused.status, 503, "{}", refused.text());
    assert_eq!(refused.texts("h1"), vec!["Mail server busy"]);
    assert!(refused
        .text()
        .contains("The mail server refused the connection for now."));
    assert!(
        !refused.text().contains("Too many connections"),
        "no server text is echoed"
    );
    assert!(took < Duration::from_secs(5), "the refusal took {took:?}");
    assert_eq!(fake.connections(), 2);

    let later = browser.get(&case.message_path).await;
    assert_eq!(later.status, 200, "still signed in: {}", later.text());
    assert!(later.text().contains("Hello again."));
    assert_eq!(fake.connections(), 3);
    assert_eq!(metric(&node, "mailfront_imap_connections_open").await, 1);
    node.stop().await;
}

#[tokio::test]
async fn a_server_that_never_greets_gets_an_unreachable_page_within_the_timeout() {
    let script = Script::new("ann", "secret").greeting(Greeting::Silent);
    let fake = FakeImap::start(script).await;
    let node = node_for(&fake, "silent-greeting").await;

    let browser = Browser::new(&node.base);
    let started = Instant::now();
    let page = browser.sign_in("ann", "secret").await;
    let took = started.elapsed();
    assert_eq!(page.status, 503, "{}", page.text());
    assert!(page
        .text()
        .contains("The mail server cannot be reached right now."));
    assert!(took >= GREETING_TIMEOUT, "gave up after {took:?}");
    assert!(
        took < GREETING_TIMEOUT + Duration::from_secs(3),
        "gave up after {took:?}"
    );
    node.stop().await;
}

#[tokio::test]
async fn a_command_that_stalls_is_given_up_and_the_session_stays_usable() {
    let inbox = FakeMailbox::new("INBOX", 9).with_message(
        4,
        b"From: Ann <ann@example.org>\r\nSubject: stalled\r\n\r\nStill readable.\r\n",
    );
    let script = Script::new("ann", "secret").mailbox(inbox).rule(
        Rule::on("UID FETCH 4 (BODY.PEEK[])")
            .on_connection(1)
            .reply(&[])
            .then(After::Stall),
    );
    let fake = FakeImap::start(script).await;
    let node = one_connection_node_for(&fake, "stalled-command").await;
    let browser = Browser::signed_in(&node.base, "ann", "secret").await;
    assert_eq!(browser.get("/mail/INBOX").await.status, 200);
    fake.set_greeting(Greeting::Silent);

    let (page, took) = timed_get(&browser, "/mail/INBOX/9/4").await;
    assert_eq!(page.status, 503, "{}", page.text());
    assert!(page
        .text()
        .contains("The mail server cannot be reached right now."));
    let bound = COMMAND_TIMEOUT + GREETING_TIMEOUT;
    assert!(took >= bound, "gave up after {took:?}");
    assert!(
        took < bound + Duration::from_secs(3),
        "gave up after {took:?}"
    );

    fake.set_greeting(Greeting::ok());
    let (page, took) = timed_get(&browser, "/mail/INBOX/9/4").await;
    assert_eq!(
        page.status,
        200,
        "no worker or lock left hanging: {}",
        page.text()
    );
    assert!(page.text().contains("Still readable."));
    assert!(took < Duration::from_secs(5), "took {took:?}");
    assert_eq!(metric(&node, "mailfront_imap_connections_open").await, 1);
    node.stop().await;
}

const LIMIT: &str = "TAG NO [LIMIT] Maximum number of connections from user+IP exceeded";

#[tokio::test]
async fn a_limit_refusal_at_sign_in_reads_busy_never_wrong_password() {
    let script = Script::new("ann", "secret").rule(Rule::on("LOGIN").reply(&[LIMIT]));
    let fake = FakeImap::start(script).await;
    let node = node_for(&fake, "limit-sign-in").await;

    let started = Instant::now();
    let page = tokio::time::timeout(
        Duration::from_secs(20),
        Browser::new(&node.base).sign_in("ann", "secret"),
    )
    .await
    .expect("a refused sign-in is answered");
    assert_eq!(page.status, 503, "{}", page.text());
    assert_eq!(page.texts("h1"), vec!["Mail server busy"]);
    assert!(!page.text().contains("not correct"), "{}", page.text());
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(fake.count("LOGIN"), 1, "one refusal, no retry storm");
    assert_eq!(
        metric(&node, "mailfront_imap_login_limit_refusals_total").await,
        1
    );
    assert_eq!(metric(&node, "mailfront_imap_connections_open").await, 0);
    node.stop().await;
}

#[tokio::test]
async fn a_limit_refusal_with_no_connection_open_keeps_the_user_signed_in() {
    let inbox = FakeMailbox::new("INBOX", 3).with_message(
        1,
        b"From: Ann <ann@example.org>\r\nSubject: hello\r\n\r\nHi.\r\n",
    );
    let script = Script::new("ann", "secret").mailbox(inbox);
    let fake = FakeImap::start(script).await;
    let node = node_for(&fake, "limit-later").await;
    let browser = Browser::signed_in(&node.base, "ann", "secret").await;

    // The pooled connection dies at its next command, and the server refuses
    // every new one for now.
    fake.add_rule(
        Rule::on("LIST")
            .on_connection(1)
            .reply(&[])
            .then(After::Close),
    );
    fake.add_rule(Rule::on("LOGIN").reply(&[LIMIT]));
    let page = tokio::time::timeout(Duration::from_secs(20), browser.get("/mail/INBOX"))
        .await
        .expect("a refused page is answered");
    assert_eq!(page.status, 503, "{}", page.text());
    assert_eq!(page.texts("h1"), vec!["Mail server busy"]);
    let logins = fake.count("LOGIN");
    assert_eq!(
        logins, 2,
        "the sign-in and one refused LOGIN, no retry loop"
    );

    fake.clear_rules();
    let page = browser.get("/mail/INBOX").await;
    assert_eq!(page.status, 200, "still signed in: {}", page.text());
    assert_eq!(page.texts("td.subject"), vec!["hello"]);
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cap_lowered_by_the_server_holds_borrowers_back_instead_of_logging_in_again() {
    let inbox = FakeMailbox::new("INBOX", 5).with_message(
        7,
        b"From: Ann <ann@example.org>\r\nSubject: slow\r\n\r\nWorth the wait.\r\n",
    );
    let script = Script::new("ann", "secret").mailbox(inbox).limit(1).rule(
        Rule::on("UID FETCH 7 (BODY.PEEK[])")
            .delay(Duration::from_millis(1_500))
            .times(1),
    );
    let fake = FakeImap::start(script).await;
    // The slow fetch must not time out: that would free the connection.
    let mut layer = layer_for(&fake, "lowered-cap");
    layer.imap_command_timeout_ms = Some(10_000);
    let node = Node::start(layer).await;
    let reader = Browser::signed_in(&node.base, "ann", "secret").await;
    let lister = Browser::signed_in(&node.base, "ann", "secret").await;
    assert_eq!(fake.count("LOGIN"), 2, "the second sign-in met the limit");

    let slow = reader.get("/mail/INBOX/5/7");
    let list = async {
        tokio::time::sleep(Duration::from_millis(200)).await;
        lister.get("/mail/INBOX").await
    };
    let (slow, list) = tokio::join!(slow, list);
    assert_eq!(slow.status, 200, "{}", slow.text());
    assert!(slow.text().contains("Worth the wait."));
    assert_eq!(list.status, 200, "{}", list.text());
    assert_eq!(
        fake.count("LOGIN"),
        2,
        "the list waited for the one connection the server allows"
    );
    assert_eq!(
        metric(&node, "mailfront_imap_login_limit_refusals_total").await,
        1
    );
    node.stop().await;
}
