//! Login throttling through the sign-in form, with the node behind a trusted
//! proxy so that `X-Forwarded-For` poses as different clients: after five
//! quick wrong passwords for one account, the next attempts are delayed by
//! growing steps, while another account signing in from another address is
//! not slowed down at all.
//!
//! The answer times are measured against the fake IMAP server, which refuses
//! a wrong password at once. Dovecot delays a failed LOGIN by two seconds and
//! every LOGIN from an address with recent failures by up to fifteen more,
//! which would hide a one second difference; the test against Dovecot checks
//! the throttle's decisions and counters instead.

mod app;
mod fake_imap;
mod support;

use std::sync::atomic::Ordering;
use std::time::Duration;

use app::{settings_for, Node, Page};
use fake_imap::{FakeImap, Script};
use futures_util::future::join_all;
use mailfront::config::SettingsLayer;
use mailfront::session::ThrottleDecision;
use support::Dovecot;

const ATTACKER: &str = "203.0.113.7";
const NEIGHBOUR: &str = "198.51.100.9";
const OWNER: &str = "192.0.2.44";
const WRONG: &str = "The user name or password is not correct.";

/// The throttle's first delay (its default).
const FIRST_DELAY: Duration = Duration::from_secs(1);

/// A node that believes the `X-Forwarded-For` of requests from 127.0.0.1.
async fn node_behind_proxy(mut layer: SettingsLayer) -> Node {
    layer.trusted_proxies = Some(vec!["127.0.0.1".parse().unwrap()]);
    Node::start(layer).await
}

/// One sign-in through the form, posing as `client`; returns the answer to
/// the POST and how long it took.
async fn attempt(node: &Node, user: &str, password: &str, client: &str) -> (Page, Duration) {
    app::sign_in_attempt(&node.base, &node.base, user, password, client).await
}

/// (delayed, refused) as counted by the node's throttle.
fn throttle_counts(node: &Node) -> (u64, u64) {
    let counters = node.server.state.throttle.counters();
    (
        counters.delayed.load(Ordering::Relaxed),
        counters.refused.load(Ordering::Relaxed),
    )
}

#[tokio::test]
async fn the_sixth_wrong_password_is_delayed_and_another_account_elsewhere_is_not() {
    let script = Script::new("victim", "right-one").account("neighbour", "theirs");
    let fake = FakeImap::start(script).await;
    let data = app::scratch_dir("throttle-timing");
    let node = node_behind_proxy(SettingsLayer {
        listen: Some("127.0.0.1:0".parse().unwrap()),
        imap_server: Some(fake.url()),
        data_dir: Some(data),
        ..SettingsLayer::default()
    })
    .await;

    let mut quick = Vec::new();
    for n in 1..=5 {
        let (page, took) = attempt(&node, "victim", &format!("guess-{n}"), ATTACKER).await;
        assert_eq!(page.status, 401, "attempt {n}: {}", page.text());
        assert_eq!(page.texts("p.error"), vec![WRONG]);
        quick.push(took);
    }
    let slowest = *quick.iter().max().expect("five attempts");
    assert!(slowest < FIRST_DELAY, "undelayed attempts took {quick:?}");
    assert_eq!(throttle_counts(&node), (0, 0));

    let (sixth, took) = attempt(&node, "victim", "guess-6", ATTACKER).await;
    if !app::refused_by_throttle(&sixth) {
        assert_eq!(sixth.status, 401, "{}", sixth.text());
        assert!(
            took >= FIRST_DELAY && took > slowest,
            "the sixth attempt took {took:?}, the first five {quick:?}"
        );
        assert_eq!(throttle_counts(&node), (1, 0));
    }
    let (seventh, took) = attempt(&node, "victim", "guess-7", ATTACKER).await;
    if !app::refused_by_throttle(&seventh) {
        assert_eq!(seventh.status, 401, "{}", seventh.text());
        assert!(took >= 2 * FIRST_DELAY, "the delay doubles: {took:?}");
    }

    let before = throttle_counts(&node);
    let (page, took) = attempt(&node, "neighbour", "theirs", NEIGHBOUR).await;
    assert_eq!(page.status, 303, "{}", page.text());
    assert!(took < FIRST_DELAY, "the neighbour waited {took:?}");
    assert_eq!(
        throttle_counts(&node),
        before,
        "the neighbour was let through"
    );
    assert_eq!(fake.count("LOGIN"), 8, "every attempt reached the server");
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn against_dovecot_failures_slow_only_the_guessed_account() {
    let Some(dovecot) = Dovecot::start_private(10) else {
        return;
    };
    let (victim, _) = dovecot.new_user("victim");
    let (neighbour, neighbour_password) = dovecot.new_user("neighbour");
    let mut layer = settings_for(&dovecot, &app::scratch_dir("throttle-dovecot"));
    // Dovecot delays LOGINs from an address with recent failures by up to
    // 15 s (its auth penalty), on top of 2 s per failure.
    layer.imap_login_timeout_ms = Some(30_000);
    let node = node_behind_proxy(layer).await;

    let guesses = (1..=5).map(|n| {
        let password = format!("guess-{n}");
        let node = &node;
        let victim = &victim;
        async move { attempt(node, victim, &password, ATTACKER).await.0 }
    });
    for page in join_all(guesses).await {
        assert_eq!(page.status, 401, "{}", page.text());
        assert_eq!(page.texts("p.error"), vec![WRONG]);
    }
    assert_eq!(
        throttle_counts(&node),
        (0, 0),
        "five failures are not throttled"
    );

    let throttle = &node.server.state.throttle;
    let guesser = throttle
        .check(ATTACKER.parse().unwrap(), &victim)
        .await
        .unwrap();
    assert_eq!(guesser, ThrottleDecision::Delay(Duration::from_secs(1)));
    let owner = throttle
        .check(OWNER.parse().unwrap(), &victim)
        .await
        .unwrap();
    assert!(matches!(owner, ThrottleDecision::Delay(_)), "{owner:?}");
    let other = throttle
        .check(NEIGHBOUR.parse().unwrap(), &neighbour)
        .await
        .unwrap();
    assert_eq!(other, ThrottleDecision::Allow);

    // Every LOGIN of the node comes from one address, so Dovecot's penalty
    // for the guesses slows this one too; mailfront lets it through at once.
    let before = throttle_counts(&node);
    let (page, _) = attempt(&node, &neighbour, &neighbour_password, NEIGHBOUR).await;
    assert_eq!(page.status, 303, "the neighbour gets in: {}", page.text());
    assert_eq!(
        throttle_counts(&node),
        before,
        "and is neither delayed nor refused"
    );
    node.stop().await;
}
