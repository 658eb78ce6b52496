//! A hostile IMAP server seen through the pages: a line that never ends, a
//! literal of gigabytes, responses that do not parse. The user who asked
//! gets a page that says what happened within the timeouts, the node's
//! memory stays bounded, and another user of the same node is served as
//! usual meanwhile.
//!
//! The memory check reads the resident size of this test process, which
//! holds the node and the fake server: the one test of this binary runs
//! alone, and the fake server makes its floods in small chunks as it
//! writes them, so the growth it measures is the node's.

mod app;
mod fake_imap;
mod support;

use std::time::{Duration, Instant};

use app::{Browser, Node};
use fake_imap::{After, FakeImap, FakeMailbox, Rule, Script};
use mailfront::config::SettingsLayer;

const UIDVALIDITY: u32 = 9;
const COMMAND_TIMEOUT: Duration = Duration::from_secs(2);

/// What each hostile answer may add to the process's resident size. The
/// floods below send hundreds of megabytes and announce gigabytes.
const MEMORY_BOUND: u64 = 48 << 20;

fn message(subject: &str, body: &str) -> Vec<u8> {
    format!("From: Ann <ann@example.org>\r\nSubject: {subject}\r\n\r\n{body}\r\n").into_bytes()
}

fn fetch_of(uid: u32) -> String {
    format!("UID FETCH {uid} (BODY.PEEK[])")
}

/// The fake server: messages 4 to 6 are answered with hostile bytes, 8 is
/// ordinary mail that the other user reads meanwhile.
fn hostile_script() -> Script {
    let inbox = FakeMailbox::new("INBOX", UIDVALIDITY)
        .with_message(4, &message("endless line", "never shown"))
        .with_message(5, &message("huge literal", "never shown"))
        .with_message(6, &message("garbage", "never shown"))
        .with_message(8, &message("ordinary", "Bob can read this."));

    let endless_line = Rule::on(&fetch_of(4))
        .reply(&[])
        .then(After::Flood(512 << 20));
    let huge_literal = Rule::on(&fetch_of(5))
        .reply(&["* 1 FETCH (UID 5 BODY[] {3000000000}"])
        .then(After::Flood(256 << 20));
    let garbage = Rule::on(&fetch_of(6)).reply(&[
        "* 1 FETCH (UID 6 BODY[] \"unterminated ((( {12",
        "* \u{1}\u{2} BAD-THING ]]]",
        "TAG OK done",
    ]);

    Script::new("ann", "secret")
        .account("bob", "hunter2")
        .mailbox(inbox)
        .rule(endless_line)
        .rule(huge_literal)
        .rule(garbage)
}

fn settings(fake: &FakeImap) -> SettingsLayer {
    SettingsLayer {
        listen: Some("127.0.0.1:0".parse().unwrap()),
        imap_server: Some(fake.url()),
        data_dir: Some(app::scratch_dir("hostile-upstream")),
        imap_connect_timeout_ms: Some(1_000),
        imap_greeting_timeout_ms: Some(1_000),
        imap_login_timeout_ms: Some(1_000),
        imap_command_timeout_ms: Some(COMMAND_TIMEOUT.as_millis() as u64),
        ..SettingsLayer::default()
    }
}

/// This process's resident set size in bytes, from /proc.
fn resident_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let kib: u64 = status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS in /proc/self/status");
    kib * 1024
}

/// Bob opens his ordinary message `rounds` times and says how long the
/// slowest view took.
async fn bob_reads(browser: &Browser, rounds: usize) -> Duration {
    let mut slowest = Duration::ZERO;
    for _ in 0..rounds {
        let started = Instant::now();
        let page = browser.get(&format!("/mail/INBOX/{UIDVALIDITY}/8")).await;
        slowest = slowest.max(started.elapsed());
        assert_eq!(page.status, 200, "bob is served: {}", page.text());
        assert!(page.text().contains("ordinary"), "{}", page.text());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    slowest
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn floods_and_garbage_get_a_page_keep_memory_bounded_and_spare_other_users() {
    let fake = FakeImap::start(hostile_script()).await;
    let node = Node::start(settings(&fake)).await;
    let ann = Browser::signed_in(&node.base, "ann", "secret").await;
    let bob = Browser::signed_in(&node.base, "bob", "hunter2").await;
    assert_eq!(ann.get("/mail/INBOX").await.status, 200);
    bob_reads(&bob, 2).await;

    let too_large = (&[413][..], "larger than this webmail shows");
    let unreadable = (&[502, 503][..], "mail server");
    let cases = [
        (4, "endless line", too_large),
        (5, "huge literal", too_large),
        (6, "garbage", unreadable),
    ];
    for (uid, what, (statuses, says)) in cases {
        let before = resident_bytes();
        let path = format!("/mail/INBOX/{UIDVALIDITY}/{uid}");
        let started = Instant::now();
        let (page, bob_slowest) = tokio::join!(ann.get(&path), bob_reads(&bob, 5));
        let took = started.elapsed();
        let grown = resident_bytes().saturating_sub(before);
        eprintln!("{what}: resident size grew by {} KiB", grown >> 10);

        let text = page.text();
        assert!(
            statuses.contains(&page.status),
            "{what}: a clear error page, got {}: {text}",
            page.status
        );
        assert!(!text.contains("never shown"), "{what}: {text}");
        assert!(text.contains(says), "{what}: the page says why: {text}");
        let bound = 2 * COMMAND_TIMEOUT + Duration::from_secs(3);
        assert!(took < bound, "{what}: answered after {took:?}");
        assert!(
            grown < MEMORY_BOUND,
            "{what}: resident size grew by {} MiB",
            grown >> 20
        );
        assert!(
            bob_slowest < Duration::from_secs(2),
            "{what}: bob waited {bob_slowest:?} for a page"
        );

        let list = ann.get("/mail/INBOX").await;
        assert_eq!(list.status, 200, "{what}: ann goes on: {}", list.text());
    }

    node.stop().await;
}
