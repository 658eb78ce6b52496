//! Searching a folder through the pages: text in each field, an encoded
//! non-ASCII subject, the sent-day range, the unread and flagged filters,
//! paging and sorting the matches, the pages for no match and for a search
//! that cannot be run, hostile search text, a server without SORT, and
//! results that follow changes made elsewhere. All against a real Dovecot
//! with known mail appended over IMAP, but for a search the server refuses,
//! which the scripted fake server plays.

mod app;
mod fake_imap;
mod support;

use app::{settings_for, Browser, Node, Page};
use fake_imap::{FakeImap, FakeMailbox, Rule, Script};
use support::Dovecot;

/// A short plain message.
fn message(subject: &str, from: &str, to: &str, date: &str, body: &str) -> Vec<u8> {
    format!(
        "From: {from}\r\nTo: {to}\r\nSubject: {subject}\r\nDate: {date}\r\n\
         Message-ID: <{}@example.org>\r\nMIME-Version: 1.0\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n",
        subject.len() * 7919 + date.len() + body.len()
    )
    .into_bytes()
}

/// The six messages of [`user_with_mail`], in arrival order: subject as
/// shown, From, To, Date, body, flags.
const MAIL: [(&str, &str, &str, &str, &str, &str); 6] = [
    (
        "Quarterly report",
        "Alice <alice@example.org>",
        "bob@example.org",
        "Fri, 10 May 2024 09:00:00 +0000",
        "numbers attached",
        "()",
    ),
    (
        "Lunch on Friday",
        "Bob <bob@example.org>",
        "alice@example.org",
        "Mon, 03 Jun 2024 12:00:00 +0000",
        "the usual place",
        "(\\Seen)",
    ),
    (
        "=?utf-8?q?Gr=C3=BC=C3=9Fe_aus_M=C3=BCnchen?=",
        "Carol <carol@example.org>",
        "reader@example.org",
        "Sat, 15 Jun 2024 08:30:00 +0000",
        "servus",
        "(\\Flagged)",
    ),
    (
        "Re: Quarterly report",
        "Bob <bob@example.org>",
        "alice@example.org",
        "Thu, 20 Jun 2024 17:45:00 +0000",
        "The numbers look fine. Dessert: pineapple.",
        "(\\Seen \\Flagged)",
    ),
    (
        "Holiday plans",
        "Dave <dave@example.org>",
        "carol@example.org",
        "Tue, 02 Jul 2024 07:15:00 +0000",
        "pineapple pizza in Napoli",
        "()",
    ),
    (
        "Odd {5} \"quoted\" \\ subject",
        "Eve <eve@example.org>",
        "reader@example.org",
        "Mon, 01 Apr 2024 10:00:00 +0000",
        "nothing to see",
        "(\\Seen)",
    ),
];

/// How the list shows the subject of message `n` of [`MAIL`] (from 1).
fn shown(n: usize) -> &'static str {
    match n {
        3 => "Grüße aus München",
        _ => MAIL[n - 1].0,
    }
}

/// A user whose INBOX holds [`MAIL`], arriving a minute apart in order.
fn user_with_mail(dovecot: &Dovecot, prefix: &str) -> (String, String) {
    let (user, password) = dovecot.new_user(prefix);
    let mut client = dovecot.client(&user, &password);
    for (n, (subject, from, to, date, body, flags)) in MAIL.iter().enumerate() {
        let arrival = format!("01-Aug-2024 10:{n:02}:00 +0000");
        let raw = message(subject, from, to, date, body);
        client.append("INBOX", flags, Some(&arrival), &raw);
    }
    client.create("Archive");
    client.logout();
    (user, password)
}

async fn node_for(dovecot: &Dovecot, name: &str) -> Node {
    let data = app::scratch_dir(name);
    Node::start(settings_for(dovecot, &data)).await
}

/// Subjects of the rows of a list page, in order.
fn subjects(page: &Page) -> Vec<String> {
    page.texts("td.subject")
}

/// The expected subjects of messages `ns` of [`MAIL`], in that order.
fn expected(ns: &[usize]) -> Vec<String> {
    ns.iter().map(|n| shown(*n).to_owned()).collect()
}

/// A search URL of INBOX from query pairs, percent-encoded.
fn search_url(pairs: &[(&str, &str)]) -> String {
    let query: Vec<String> = pairs
        .iter()
        .map(|(k, v)| format!("{k}={}", mailfront::web::paths::encode_query(v)))
        .collect();
    format!("/mail/INBOX?{}", query.join("&"))
}

/// The page of a search, which must be a 200.
async fn search(browser: &Browser, pairs: &[(&str, &str)]) -> Page {
    let page = browser.get(&search_url(pairs)).await;
    assert_eq!(page.status, 200, "{pairs:?}: {}", page.text());
    page
}

fn summary(page: &Page) -> String {
    page.texts(".search-summary .matches")
        .into_iter()
        .next()
        .unwrap_or_default()
}

/// The value of one line of the node's metrics page.
async fn metric(browser: &Browser, name: &str) -> u64 {
    let page = browser.get("/metrics").await;
    page.text()
        .lines()
        .find_map(|line| line.strip_prefix(name)?.trim().parse().ok())
        .unwrap_or_else(|| panic!("{name} missing from metrics"))
}

/// Query pairs of a search, and the messages of [`MAIL`] it lists, in order.
type Case<'a> = (&'a [(&'a str, &'a str)], &'a [usize]);

const SORTS: &str = r#"mailfront_imap_commands_total{kind="sort"}"#;
const SEARCHES: &str = r#"mailfront_imap_commands_total{kind="search"}"#;

#[tokio::test]
async fn text_is_found_in_the_field_chosen() {
    let Some(dovecot) = Dovecot::shared() else {
        return;
    };
    let (user, password) = user_with_mail(dovecot, "search-fields");
    let node = node_for(dovecot, "search-fields").await;
    let browser = Browser::signed_in(&node.base, &user, &password).await;

    let cases: [Case; 7] = [
        (&[("q", "alice"), ("in", "from")], &[1]),
        (&[("q", "alice"), ("in", "to")], &[4, 2]),
        (&[("q", "quarterly"), ("in", "subject")], &[4, 1]),
        (&[("q", "pineapple"), ("in", "body")], &[5, 4]),
        (&[("q", "holiday")], &[5]),
        (&[("q", "\"look fine\" numbers"), ("in", "body")], &[4]),
        (&[("q", "numbers quarterly bob")], &[4, 1]),
    ];
    for (pairs, matches) in cases {
        let page = search(&browser, pairs).await;
        assert_eq!(subjects(&page), expected(matches), "{pairs:?}");
    }

    let page = search(&browser, &[("q", "pineapple"), ("in", "body")]).await;
    assert_eq!(summary(&page), "2 messages match “pineapple” in Inbox.");
    assert_eq!(
        page.texts(".search-summary .conditions"),
        ["Looked in the message text"]
    );
    assert_eq!(page.field("q").as_deref(), Some("pineapple"));
    assert_eq!(
        page.attrs("#search-field option[selected]", "value"),
        ["body"]
    );
    node.stop().await;
}

#[tokio::test]
async fn a_utf8_query_finds_an_encoded_subject() {
    let Some(dovecot) = Dovecot::shared() else {
        return;
    };
    let (user, password) = user_with_mail(dovecot, "search-utf8");
    let node = node_for(dovecot, "search-utf8").await;
    let browser = Browser::signed_in(&node.base, &user, &password).await;

    for text in ["Grüße", "München", "grüße aus"] {
        let page = search(&browser, &[("q", text), ("in", "subject")]).await;
        assert_eq!(subjects(&page), expected(&[3]), "{text}");
    }
    let page = search(&browser, &[("q", "Grüße")]).await;
    assert_eq!(subjects(&page), expected(&[3]));
    assert_eq!(summary(&page), "1 message matches “Grüße” in Inbox.");
    node.stop().await;
}

#[tokio::test]
async fn the_day_range_includes_both_ends() {
    let Some(dovecot) = Dovecot::shared() else {
        return;
    };
    let (user, password) = user_with_mail(dovecot, "search-dates");
    let node = node_for(dovecot, "search-dates").await;
    let browser = Browser::signed_in(&node.base, &user, &password).await;

    let cases: [Case; 4] = [
        (
            &[("since", "2024-06-03"), ("until", "2024-06-20")],
            &[4, 3, 2],
        ),
        (&[("since", "2024-06-16")], &[5, 4]),
        (&[("until", "2024-05-31")], &[6, 1]),
        (&[("q", "quarterly"), ("since", "2024-06-01")], &[4]),
    ];
    for (pairs, matches) in cases {
        let page = search(&browser, pairs).await;
        assert_eq!(subjects(&page), expected(matches), "{pairs:?}");
    }

    let page = search(&browser, &[("since", "2024-06-16")]).await;
    assert_eq!(summary(&page), "2 messages match the filters in Inbox.");
    assert_eq!(
        page.texts(".search-summary .conditions"),
        ["Sent on or after 16 Jun 2024"]
    );
    node.stop().await;
}

#[tokio::test]
async fn unread_and_flagged_filters_combine_with_text() {
    let Some(dovecot) = Dovecot::shared() else {
        return;
    };
    let (user, password) = user_with_mail(dovecot, "search-flags");
    let node = node_for(dovecot, "search-flags").await;
    let browser = Browser::signed_in(&node.base, &user, &password).await;

    let cases: [Case; 4] = [
        (&[("unread", "1")], &[5, 3, 1]),
        (&[("flagged", "1")], &[4, 3]),
        (&[("unread", "1"), ("flagged", "1")], &[3]),
        (&[("q", "pineapple"), ("unread", "1")], &[5]),
    ];
    for (pairs, matches) in cases {
        let page = search(&browser, pairs).await;
        assert_eq!(subjects(&page), expected(matches), "{pairs:?}");
    }
    let page = search(&browser, &[("unread", "1"), ("flagged", "1")]).await;
    assert_eq!(
        page.attrs("input[name=unread][checked]", "value"),
        ["1"],
        "the box stays ticked"
    );
    node.stop().await;
}

/// A user whose INBOX holds `count` messages "match NN" (arriving in that
/// order, with Date headers and senders in the opposite order) and three
/// that do not match.
fn user_with_many(dovecot: &Dovecot, prefix: &str, count: u32) -> (String, String) {
    let (user, password) = dovecot.new_user(prefix);
    let mut client = dovecot.client(&user, &password);
    for n in 1..=count {
        let raw = message(
            &format!("match {n:02}"),
            &format!("sender{:02}@example.org", 100 - n),
            "reader@example.org",
            &format!("Fri, 01 Mar 2024 10:{:02}:00 +0000", 59 - n),
            "hello",
        );
        let arrival = format!("01-Apr-2024 10:{n:02}:00 +0000");
        client.append("INBOX", "()", Some(&arrival), &raw);
        if n % 15 == 0 {
            let other = message(
                &format!("other {n}"),
                "x@example.org",
                "reader@example.org",
                "Fri, 01 Mar 2024 11:00:00 +0000",
                "hello",
            );
            client.append("INBOX", "()", Some(&arrival), &other);
        }
    }
    client.logout();
    (user, password)
}

/// "match 01" .. in the order of `numbers`.
fn matches(numbers: impl Iterator<Item = u32>) -> Vec<String> {
    numbers.map(|n| format!("match {n:02}")).collect()
}

#[tokio::test]
async fn many_matches_are_paged_and_sorted_with_the_search_kept() {
    let Some(dovecot) = Dovecot::shared() else {
        return;
    };
    let (user, password) = user_with_many(dovecot, "search-pages", 45);
    let node = node_for(dovecot, "search-pages").await;
    let browser = Browser::signed_in(&node.base, &user, &password).await;

    let first = search(&browser, &[("q", "match"), ("in", "subject")]).await;
    assert_eq!(subjects(&first), matches((26..=45).rev()));
    assert_eq!(summary(&first), "45 messages match “match” in Inbox.");
    assert!(first.text().contains("Page 1 of 3"));

    let next = first.attrs("nav.pager a[rel=next]", "href");
    assert_eq!(next.len(), 1);
    assert!(
        next[0].contains("q=match") && next[0].contains("in=subject"),
        "{next:?}"
    );
    let second = browser.get(&next[0]).await;
    assert_eq!(subjects(&second), matches((6..=25).rev()));
    let third = browser
        .get(&second.attrs("nav.pager a[rel=next]", "href")[0])
        .await;
    assert_eq!(subjects(&third), matches((1..=5).rev()));
    let back = browser
        .get(&third.attrs("nav.pager a[rel=prev]", "href")[0])
        .await;
    assert_eq!(subjects(&back), matches((6..=25).rev()));

    // The sort menu carries the search; each order is the folder's.
    assert_eq!(first.field("q").as_deref(), Some("match"));
    let orders: [(&str, Vec<String>); 4] = [
        ("date-asc", matches((26..=45).rev())),
        ("subject-asc", matches(1..=20)),
        ("from-asc", matches((26..=45).rev())),
        ("arrival-asc", matches(1..=20)),
    ];
    for (order, rows) in orders {
        let page = search(
            &browser,
            &[("q", "match"), ("in", "subject"), ("sort", order)],
        )
        .await;
        assert_eq!(subjects(&page), rows, "{order}");
        let next = page.attrs("nav.pager a[rel=next]", "href");
        assert!(next[0].contains(&format!("sort={order}")) && next[0].contains("q=match"));
    }
    let by_subject = search(
        &browser,
        &[
            ("q", "match"),
            ("in", "subject"),
            ("sort", "subject-desc"),
            ("page", "3"),
        ],
    )
    .await;
    assert_eq!(
        subjects(&by_subject),
        matches(1..=5).into_iter().rev().collect::<Vec<_>>()
    );
    node.stop().await;
}

#[tokio::test]
async fn the_message_view_and_actions_return_to_the_results() {
    let Some(dovecot) = Dovecot::shared() else {
        return;
    };
    let (user, password) = user_with_many(dovecot, "search-return", 25);
    let node = node_for(dovecot, "search-return").await;
    let browser = Browser::signed_in(&node.base, &user, &password).await;

    let second = search(
        &browser,
        &[("q", "match"), ("in", "subject"), ("page", "2")],
    )
    .await;
    assert_eq!(subjects(&second), matches((1..=5).rev()));
    let link = second.attrs("td.subject a", "href")[0].clone();
    assert!(
        link.contains("page=2") && link.contains("q=match"),
        "{link}"
    );

    let opened = browser.get(&link).await;
    assert_eq!(opened.status, 200);
    let back = opened.attrs("nav.crumbs a", "href")[0].clone();
    assert_eq!(back, "/mail/INBOX?page=2&q=match&in=subject");
    assert_eq!(
        opened.texts("nav.crumbs a")[0],
        "‹ Back to the search in Inbox"
    );
    let list = browser.get(&back).await;
    assert_eq!(subjects(&list), matches((1..=5).rev()));

    // Flagging from the message stays on it, search kept.
    let form = |page: &Page, action: &str| {
        let mut pairs = vec![("action".to_owned(), action.to_owned())];
        for name in ["csrf", "form_token", "page", "q", "in"] {
            if let Some(value) = page.field(name) {
                pairs.push((name.to_owned(), value));
            }
        }
        pairs
    };
    let action_url = opened.attrs("form.message-actions", "action")[0].clone();
    let pairs = form(&opened, "flag");
    let pairs: Vec<(&str, &str)> = pairs
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let flagged = browser.post(&action_url, &pairs).await;
    assert_eq!(flagged.status, 303);
    assert_eq!(
        flagged.location.as_deref(),
        Some(
            format!(
                "{}?page=2&q=match&in=subject",
                link.split('?').next().unwrap()
            )
            .as_str()
        )
    );

    // Deleting from the message moves on to its neighbour in the results.
    let opened = browser.get(&link).await;
    let pairs = form(&opened, "delete");
    let pairs: Vec<(&str, &str)> = pairs
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let deleted = browser.post(&action_url, &pairs).await;
    assert_eq!(deleted.status, 303);
    let next = deleted.location.clone().expect("a redirect");
    assert!(
        next.contains("q=match") && next.contains("in=subject"),
        "{next}"
    );
    let neighbour = browser.get(&next).await;
    assert_eq!(neighbour.texts("h1.subject"), ["match 04"]);

    // A message opened from unread results is read by then; deleting it
    // still moves on to the next unread match.
    let unread = search(
        &browser,
        &[("q", "match"), ("in", "subject"), ("unread", "1")],
    )
    .await;
    assert_eq!(subjects(&unread)[..3], matches([25, 24, 23].into_iter()));
    let link = unread.attrs("td.subject a", "href")[1].clone();
    let opened = browser.get(&link).await;
    assert_eq!(opened.texts("h1.subject"), ["match 24"]);
    let action_url = opened.attrs("form.message-actions", "action")[0].clone();
    let mut pairs = form(&opened, "delete");
    pairs.extend(opened.field("unread").map(|v| ("unread".to_owned(), v)));
    let pairs: Vec<(&str, &str)> = pairs
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let deleted = browser.post(&action_url, &pairs).await;
    let next = deleted.location.clone().expect("a redirect");
    assert!(next.contains("unread=1"), "{next}");
    let neighbour = browser.get(&next).await;
    assert_eq!(neighbour.texts("h1.subject"), ["match 23"]);

    // Acting on rows of the results goes back to the same results.
    let list = search(
        &browser,
        &[("q", "match"), ("in", "subject"), ("unread", "1")],
    )
    .await;
    assert_eq!(subjects(&list)[0], "match 25");
    let uid = list.attrs("td.pick input[name=uid]", "value")[0].clone();
    let mut pairs: Vec<(&str, String)> = vec![("action", "read".to_owned()), ("uid", uid)];
    for name in [
        "csrf",
        "form_token",
        "uidvalidity",
        "page",
        "sort",
        "q",
        "in",
        "unread",
    ] {
        let value = list
            .field(name)
            .unwrap_or_else(|| panic!("{name} in the list form"));
        pairs.push((name, value));
    }
    let pairs: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let done = browser.post("/mail/INBOX/actions", &pairs).await;
    assert_eq!(done.status, 303);
    let location = done.location.clone().expect("a redirect");
    assert_eq!(
        location,
        "/mail/INBOX?page=1&sort=arrival-desc&q=match&in=subject&unread=1"
    );
    let after = browser.get(&location).await;
    assert_eq!(after.texts(".flash"), ["1 message marked as read."]);
    assert_eq!(
        subjects(&after)[0],
        "match 22",
        "the read one left the unread results"
    );
    // 25 matches: two moved to the Trash (05, 24), three read (04 and 23
    // opened, 25 marked).
    assert_eq!(summary(&after), "20 messages match “match” in Inbox.");
    node.stop().await;
}

#[tokio::test]
async fn no_match_says_so_and_the_search_can_be_cleared() {
    let Some(dovecot) = Dovecot::shared() else {
        return;
    };
    let (user, password) = user_with_mail(dovecot, "search-none");
    let node = node_for(dovecot, "search-none").await;
    let browser = Browser::signed_in(&node.base, &user, &password).await;

    let page = search(&browser, &[("q", "zebra"), ("sort", "date-asc")]).await;
    assert_eq!(summary(&page), "No messages match “zebra” in Inbox.");
    assert!(subjects(&page).is_empty());
    assert!(page.texts("p.empty").is_empty(), "no bare 'No messages.'");
    let clear = page.attrs("a.clear-search", "href");
    assert_eq!(clear, ["/mail/INBOX?page=1&sort=date-asc"]);

    let folder = browser.get(&clear[0]).await;
    assert_eq!(subjects(&folder).len(), 6);
    assert!(folder.attrs("a.clear-search", "href").is_empty());
    assert!(folder.texts(".search-summary").is_empty());

    // An empty form is the folder, not a search.
    let empty = search(
        &browser,
        &[("q", " "), ("in", "from"), ("since", ""), ("until", "")],
    )
    .await;
    assert_eq!(subjects(&empty).len(), 6);
    assert!(empty.texts(".search-summary").is_empty());
    node.stop().await;
}

#[tokio::test]
async fn a_search_that_cannot_run_gets_a_page_saying_why() {
    let Some(dovecot) = Dovecot::shared() else {
        return;
    };
    let (user, password) = user_with_mail(dovecot, "search-bad");
    let node = node_for(dovecot, "search-bad").await;
    let browser = Browser::signed_in(&node.base, &user, &password).await;

    let long = "a".repeat(17 * 1024);
    let many = "w ".repeat(17);
    let cases: [(&[(&str, &str)], &str); 6] = [
        (
            &[("q", "lunch"), ("since", "2024-13-45")],
            "“2024-13-45” is not a date",
        ),
        (&[("until", "yesterday")], "“yesterday” is not a date"),
        (
            &[("since", "2024-06-02"), ("until", "2024-06-01")],
            "The dates are the wrong way round",
        ),
        (&[("q", &long)], "The search text is too long"),
        (&[("q", &many)], "The search text has 17 words"),
        (&[("q", "\"")], "“\"” holds no word to search for"),
    ];
    for (pairs, said) in cases {
        let page = browser.get(&search_url(pairs)).await;
        assert_eq!(page.status, 400, "{said}");
        let content_type = page.headers["content-type"].to_str().unwrap_or_default();
        assert!(content_type.starts_with("text/html"), "{content_type}");
        let problem = page.texts(".search-problem");
        assert!(
            problem.len() == 1 && problem[0].starts_with(said),
            "{problem:?}"
        );
        assert!(subjects(&page).is_empty());
        assert!(page.attrs("a.clear-search", "href").len() == 1);
    }
    let kept = browser
        .get(&search_url(&[("q", "lunch"), ("since", "2024-13-45")]))
        .await;
    assert_eq!(
        kept.field("q").as_deref(),
        Some("lunch"),
        "the form keeps the text"
    );

    let missing = browser.get("/mail/Nowhere?since=2024-13-45").await;
    assert_eq!(missing.status, 404);
    node.stop().await;
}

#[tokio::test]
async fn hostile_search_text_is_searched_for_and_never_breaks_the_connection() {
    let Some(dovecot) = Dovecot::shared() else {
        return;
    };
    let (user, password) = user_with_mail(dovecot, "search-hostile");
    let node = node_for(dovecot, "search-hostile").await;
    let browser = Browser::signed_in(&node.base, &user, &password).await;

    // Text that is protocol syntax is found as text.
    let found: [(&str, &str); 4] = [
        ("{5}", "subject"),
        ("\"quoted", "subject"),
        ("\\", "subject"),
        ("{5}\r\n\"quoted\"", "subject"),
    ];
    for (text, field) in found {
        let page = search(&browser, &[("q", text), ("in", field)]).await;
        assert_eq!(subjects(&page), expected(&[6]), "{text:?}");
    }

    // 10 kB as one term full of syntax, and as one quoted phrase.
    let mut one_term = String::new();
    while one_term.len() < 10 * 1024 {
        one_term.push_str("x\"y\\{5})(*%]");
    }
    let phrase = format!("\"{}", "word ".repeat(2048));
    let nothing = [
        "a\r\nA1 LOGOUT",
        "x\" OR ALL \"",
        "{5}\r\nhello",
        "{999999999}",
        ") UNDELETED (",
        "zebra\0",
        &one_term,
        &phrase,
    ];
    for text in nothing {
        for field in ["text", "subject", "body"] {
            let page = search(&browser, &[("q", text), ("in", field)]).await;
            assert!(subjects(&page).is_empty(), "{text:?} in {field}");
        }
    }

    // 10 kB of many short terms is refused with a page, before any IMAP.
    let mut many_terms = String::new();
    while many_terms.len() < 10 * 1024 {
        many_terms.push_str("x\"y\\{5}\r\n)(*%]");
    }
    let refused = browser.get(&search_url(&[("q", &many_terms)])).await;
    assert_eq!(refused.status, 400);
    assert!(refused.texts(".search-problem")[0].contains("words"));

    let still = search(&browser, &[("q", "pineapple")]).await;
    assert_eq!(
        subjects(&still),
        expected(&[5, 4]),
        "the connection is still in step"
    );
    let reconnects = metric(&browser, "mailfront_pool_reconnects_total").await;
    assert_eq!(reconnects, 0, "no connection was lost on the way");
    node.stop().await;
}

#[tokio::test]
async fn results_follow_changes_made_elsewhere() {
    let Some(dovecot) = Dovecot::shared() else {
        return;
    };
    let (user, password) = user_with_mail(dovecot, "search-fresh");
    let node = node_for(dovecot, "search-fresh").await;
    let browser = Browser::signed_in(&node.base, &user, &password).await;
    let unread = [("unread", "1")];

    let first = search(&browser, &unread).await;
    assert_eq!(subjects(&first), expected(&[5, 3, 1]));
    let sorts = metric(&browser, SORTS).await;
    let again = search(&browser, &unread).await;
    assert_eq!(subjects(&again), expected(&[5, 3, 1]));
    assert_eq!(
        metric(&browser, SORTS).await,
        sorts,
        "served from the cache"
    );

    // Another device reads one and a new unread message arrives.
    let mut phone = dovecot.client(&user, &password);
    phone.select("INBOX");
    let uids = phone.command("UID SEARCH SUBJECT Holiday").expect("search");
    let uid: u32 = uids
        .iter()
        .find_map(|l| l.strip_prefix("* SEARCH ")?.trim().parse().ok())
        .expect("Holiday has a UID");
    phone.store(uid, "+FLAGS (\\Seen)");
    let after_read = search(&browser, &unread).await;
    assert_eq!(subjects(&after_read), expected(&[3, 1]));

    let raw = message(
        "Fresh news",
        "Zed <zed@example.org>",
        "reader@example.org",
        "Wed, 07 Aug 2024 09:00:00 +0000",
        "hello",
    );
    phone.append("INBOX", "()", None, &raw);
    let after_new = search(&browser, &unread).await;
    let mut with_new = vec!["Fresh news".to_owned()];
    with_new.extend(expected(&[3, 1]));
    assert_eq!(subjects(&after_new), with_new);

    phone.expunge_uid(uid);
    let text = search(&browser, &[("q", "pineapple")]).await;
    assert_eq!(
        subjects(&text),
        expected(&[4]),
        "the expunged match is gone"
    );
    phone.logout();
    node.stop().await;
}

#[tokio::test]
async fn a_server_without_sort_searches_and_sorts_here() {
    let Some(plain) = Dovecot::start_private_without_sort() else {
        return;
    };
    let (user, password) = user_with_mail(&plain, "search-nosort");
    let node = node_for(&plain, "search-nosort").await;
    let browser = Browser::signed_in(&node.base, &user, &password).await;

    let cases: [Case; 5] = [
        (&[("q", "pineapple")], &[5, 4]),
        (&[("q", "pineapple"), ("sort", "date-desc")], &[5, 4]),
        (
            &[("q", "quarterly"), ("in", "subject"), ("sort", "from-asc")],
            &[1, 4],
        ),
        (&[("q", "Grüße"), ("in", "subject")], &[3]),
        (&[("unread", "1"), ("sort", "subject-asc")], &[3, 5, 1]),
    ];
    for (pairs, matches) in cases {
        let page = search(&browser, pairs).await;
        assert_eq!(subjects(&page), expected(matches), "{pairs:?}");
    }
    let none = search(&browser, &[("q", "{5}\r\nzebra")]).await;
    assert_eq!(summary(&none), "No messages match “{5} zebra” in Inbox.");

    assert_eq!(metric(&browser, SORTS).await, 0, "nothing asked of SORT");
    assert!(metric(&browser, SEARCHES).await >= 6);
    node.stop().await;
}

#[tokio::test]
async fn removing_for_good_from_results_in_the_trash_returns_to_them() {
    let Some(dovecot) = Dovecot::shared() else {
        return;
    };
    let (user, password) = dovecot.new_user("search-trash");
    let mut client = dovecot.client(&user, &password);
    for n in 1..=3 {
        let raw = message(
            &format!("old note {n}"),
            "Ann <ann@example.org>",
            "reader@example.org",
            "Fri, 01 Mar 2024 10:00:00 +0000",
            "bye",
        );
        client.append("Trash", "()", None, &raw);
    }
    client.append(
        "Trash",
        "()",
        None,
        &message(
            "keep",
            "x@example.org",
            "y@example.org",
            "Fri, 01 Mar 2024",
            "x",
        ),
    );
    client.logout();
    let node = node_for(dovecot, "search-trash").await;
    let browser = Browser::signed_in(&node.base, &user, &password).await;

    let results = browser.get("/mail/Trash?q=note&in=subject").await;
    assert_eq!(results.status, 200, "{}", results.text());
    assert_eq!(subjects(&results).len(), 3);
    let uid = results.attrs("td.pick input[name=uid]", "value")[0].clone();
    let mut pairs: Vec<(&str, String)> = vec![("action", "delete".to_owned()), ("uid", uid)];
    for name in [
        "csrf",
        "form_token",
        "uidvalidity",
        "page",
        "sort",
        "q",
        "in",
    ] {
        pairs.push((name, results.field(name).expect("list form field")));
    }
    let pairs: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let confirm = browser.post("/mail/Trash/actions", &pairs).await;
    assert_eq!(confirm.status, 200, "{}", confirm.text());
    let cancel = confirm.attrs("form.confirm a", "href");
    assert_eq!(
        cancel,
        ["/mail/Trash?page=1&sort=arrival-desc&q=note&in=subject"]
    );

    let mut pairs: Vec<(String, String)> = vec![("action".to_owned(), "destroy".to_owned())];
    for name in [
        "csrf",
        "form_token",
        "uidvalidity",
        "page",
        "sort",
        "q",
        "in",
        "uid",
    ] {
        let value = confirm.field(name).expect("confirm form field");
        pairs.push((name.to_owned(), value));
    }
    let pairs: Vec<(&str, &str)> = pairs
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let done = browser.post("/mail/Trash/actions", &pairs).await;
    assert_eq!(done.status, 303);
    let back = done.location.clone().expect("a redirect");
    assert_eq!(
        back,
        "/mail/Trash?page=1&sort=arrival-desc&q=note&in=subject"
    );
    let after = browser.get(&back).await;
    assert_eq!(after.texts(".flash"), ["1 message deleted for good."]);
    assert_eq!(summary(&after), "2 messages match “note” in Trash.");
    node.stop().await;
}

#[tokio::test]
async fn a_search_the_server_refuses_gets_a_page_and_the_folder_stays_usable() {
    let raw = message(
        "lunch",
        "ann@example.org",
        "bob@example.org",
        "Fri, 01 Mar 2024 10:00:00 +0000",
        "hi",
    );
    let inbox = FakeMailbox::new("INBOX", 9).with_message(1, &raw);
    let refuse = Rule::on("UID SORT (ARRIVAL) UTF-8 SUBJECT")
        .reply(&["TAG NO [BADCHARSET (US-ASCII)] Refused: Grüße"]);
    let script = Script::new("ann", "secret").mailbox(inbox).rule(refuse);
    let fake = FakeImap::start(script).await;
    let mut layer = settings_for_fake(&fake);
    layer.data_dir = Some(app::scratch_dir("search-refused"));
    let node = Node::start(layer).await;
    let browser = Browser::signed_in(&node.base, "ann", "secret").await;

    let refused = browser
        .get(&search_url(&[("q", "Grüße"), ("in", "subject")]))
        .await;
    assert_eq!(refused.status, 502, "{}", refused.text());
    assert_eq!(
        refused.texts(".search-problem"),
        [
            "The mail server could not run this search. Try other or fewer words; some servers \
          search only plain ASCII text."
        ]
    );
    assert!(
        !refused.text().contains("Refused:"),
        "no server text is echoed"
    );
    assert_eq!(refused.field("q").as_deref(), Some("Grüße"));

    let folder = browser.get("/mail/INBOX").await;
    assert_eq!(folder.status, 200);
    assert_eq!(subjects(&folder), ["lunch"]);
    app::background_settled(&node.base).await;
    assert_eq!(
        fake.connections(),
        2,
        "the sign-in's, kept through the refusal, and the folder counts'"
    );
    node.stop().await;
}

/// Settings for a node in front of the fake server.
fn settings_for_fake(fake: &FakeImap) -> mailfront::config::SettingsLayer {
    mailfront::config::SettingsLayer {
        listen: Some("127.0.0.1:0".parse().unwrap()),
        imap_server: Some(fake.url()),
        ..mailfront::config::SettingsLayer::default()
    }
}
