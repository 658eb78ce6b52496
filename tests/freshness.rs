//! The cache is never stale: between page views a second IMAP client (the
//! user's phone) changes the mailbox, and every page mailfront then shows
//! equals what a node with an empty cache shows, in every sort order.

mod app;
mod support;

use app::{settings_for, Browser, Node, SORT_ORDERS as ORDERS};
use support::{Dovecot, ImapTestClient};

/// A message whose sort keys differ from its arrival position.
fn message(n: u32, subject: &str) -> Vec<u8> {
    let sender = ["zoe", "adam", "mia", "bob", "lea"][(n % 5) as usize];
    let day = (n * 7) % 28 + 1;
    let padding = "x".repeat(((n * 37) % 400) as usize);
    format!(
        "From: {sender} <{sender}@example.org>\r\nTo: reader@example.org\r\nSubject: {subject}\r\n\
         Date: {day:02} Feb 2024 08:{:02}:00 +0000\r\nMessage-ID: <fresh-{n}-{subject}@example.org>\r\n\
         MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{padding}\r\n",
        n % 60
    )
    .into_bytes()
}

fn fill(client: &mut ImapTestClient, mailbox: &str, count: u32) {
    for n in 1..=count {
        let arrival = format!("{:02}-Mar-2024 09:{:02}:00 +0000", n % 28 + 1, n % 60);
        client.append(
            mailbox,
            "()",
            Some(&arrival),
            &message(n, &format!("subject {n:02}")),
        );
    }
}

/// Every page's subjects, from page 1 to the last.
async fn all_pages(browser: &Browser, mailbox: &str, order: &str) -> Vec<Vec<String>> {
    let first = browser
        .get(&format!("/mail/{mailbox}?sort={order}&page=1"))
        .await;
    assert_eq!(first.status, 200, "{}", first.text());
    let count = first
        .texts("nav.pager .position")
        .first()
        .and_then(|t| {
            t.split(" of ")
                .nth(1)
                .and_then(|r| r.split(' ').next())
                .map(str::to_owned)
        })
        .and_then(|n| n.parse::<usize>().ok())
        .expect("pager shows the page count");
    let mut pages = vec![first.texts("td.subject")];
    for page in 2..=count {
        let next = browser
            .get(&format!("/mail/{mailbox}?sort={order}&page={page}"))
            .await;
        pages.push(next.texts("td.subject"));
    }
    pages
}

/// What a node with an empty cache shows.
async fn truth(
    dovecot: &Dovecot,
    user: &str,
    password: &str,
    mailbox: &str,
    order: &str,
) -> Vec<Vec<String>> {
    let data = app::scratch_dir(&format!("truth-{user}"));
    let node = Node::start(settings_for(dovecot, &data)).await;
    let browser = Browser::signed_in(&node.base, user, password).await;
    let pages = all_pages(&browser, mailbox, order).await;
    node.stop().await;
    pages
}

#[tokio::test]
async fn changes_from_another_client_show_in_every_sort_order() {
    let Some(dovecot) = Dovecot::shared() else {
        return;
    };
    let (user, password) = dovecot.new_user("fresh");
    let mut phone = dovecot.client(&user, &password);
    fill(&mut phone, "INBOX", 45);

    let data = app::scratch_dir("fresh");
    let node = Node::start(settings_for(dovecot, &data)).await;
    let browser = Browser::signed_in(&node.base, &user, &password).await;

    for (round, order) in ORDERS.iter().enumerate() {
        let round = round as u32;
        let before = all_pages(&browser, "INBOX", order).await;
        assert_eq!(
            before,
            truth(dovecot, &user, &password, "INBOX", order).await,
            "{order}: cold"
        );

        let subject = format!("arrived {round:02}");
        let arrival = format!("01-Apr-2024 12:{round:02}:00 +0000");
        phone.append(
            "INBOX",
            "()",
            Some(&arrival),
            &message(100 + round, &subject),
        );
        let after_arrival = all_pages(&browser, "INBOX", order).await;
        assert!(
            after_arrival.concat().contains(&subject),
            "{order}: new message missing"
        );
        assert_eq!(
            after_arrival,
            truth(dovecot, &user, &password, "INBOX", order).await,
            "{order}: after arrival"
        );

        let victim = after_arrival[1][3].clone();
        let victim_uid = uid_of(&mut phone, &victim);
        phone.select("INBOX");
        phone.expunge_uid(victim_uid);
        let first = browser.get(&format!("/mail/INBOX?sort={order}")).await;
        assert_eq!(first.status, 200);
        let second = browser
            .get(&format!("/mail/INBOX?sort={order}&page=2"))
            .await;
        assert!(
            !second.texts("td.subject").contains(&victim),
            "{order}: expunged {victim} still shown"
        );
        let after_expunge = all_pages(&browser, "INBOX", order).await;
        assert_eq!(
            after_expunge,
            truth(dovecot, &user, &password, "INBOX", order).await,
            "{order}: after expunge"
        );

        let flagged = after_expunge[0][1].clone();
        let flagged_uid = uid_of(&mut phone, &flagged);
        phone.store(flagged_uid, "+FLAGS (\\Flagged)");
        let page = browser.get(&format!("/mail/INBOX?sort={order}")).await;
        assert!(
            page.texts("tr.flagged td.subject").contains(&flagged),
            "{order}: flag not shown"
        );
        phone.store(flagged_uid, "-FLAGS (\\Flagged)");
        let page = browser.get(&format!("/mail/INBOX?sort={order}")).await;
        assert!(
            !page.texts("tr.flagged td.subject").contains(&flagged),
            "{order}: unflag not shown"
        );
    }
    phone.logout();
    node.stop().await;
}

/// The UID of the message with this subject, asked of the server.
fn uid_of(client: &mut ImapTestClient, subject: &str) -> u32 {
    client.select("INBOX");
    let lines = client
        .command(&format!("UID SEARCH SUBJECT \"{subject}\""))
        .expect("search works");
    lines
        .iter()
        .find_map(|line| line.strip_prefix("* SEARCH "))
        .and_then(|rest| rest.split_whitespace().last())
        .and_then(|uid| uid.parse().ok())
        .unwrap_or_else(|| panic!("{subject} not found: {lines:?}"))
}

#[tokio::test]
async fn reading_through_mailfront_updates_the_list_at_once() {
    let Some(dovecot) = Dovecot::shared() else {
        return;
    };
    let (user, password) = dovecot.new_user("ownchange");
    let mut phone = dovecot.client(&user, &password);
    fill(&mut phone, "INBOX", 5);
    phone.logout();
    let data = app::scratch_dir("ownchange");
    let node = Node::start(settings_for(dovecot, &data)).await;
    let browser = Browser::signed_in(&node.base, &user, &password).await;

    let list = browser.get("/mail/INBOX").await;
    assert_eq!(list.attrs("tr.unread", "class").len(), 5);
    let unread_before = list.texts("nav.folders .folder-list li.current .unseen");
    assert_eq!(unread_before, vec!["5"]);
    let href = list.attrs("td.subject a", "href")[0].clone();
    assert_eq!(browser.get(&href).await.status, 200);

    let list = browser.get("/mail/INBOX").await;
    assert_eq!(list.attrs("tr.unread", "class").len(), 4);
    assert_eq!(
        list.texts("nav.folders .folder-list li.current .unseen"),
        vec!["4"]
    );
    node.stop().await;
}

#[tokio::test]
async fn a_recreated_mailbox_never_shows_an_old_link_as_another_message() {
    let Some(dovecot) = Dovecot::shared() else {
        return;
    };
    let (user, password) = dovecot.new_user("recreate");
    let mut phone = dovecot.client(&user, &password);
    phone.create("Box");
    fill(&mut phone, "Box", 3);

    let data = app::scratch_dir("recreate");
    let node = Node::start(settings_for(dovecot, &data)).await;
    let browser = Browser::signed_in(&node.base, &user, &password).await;
    let list = browser.get("/mail/Box").await;
    let old_link = list.attrs("td.subject a", "href")[0].clone();
    assert_eq!(browser.get(&old_link).await.status, 200);

    phone.delete_mailbox("Box");
    phone.create("Box");
    phone.append("Box", "()", None, &message(7, "reborn one"));
    phone.append("Box", "()", None, &message(8, "reborn two"));
    phone.append("Box", "()", None, &message(9, "reborn three"));

    let list = browser.get("/mail/Box").await;
    let mut subjects = list.texts("td.subject");
    subjects.sort();
    assert_eq!(subjects, vec!["reborn one", "reborn three", "reborn two"]);
    let stale = browser.get(&old_link).await;
    assert_eq!(stale.status, 404);
    assert!(stale.text().contains("This message was deleted or moved"));
    phone.logout();
    node.stop().await;
}

#[tokio::test]
async fn a_renamed_or_deleted_folder_shows_as_gone() {
    let Some(dovecot) = Dovecot::shared() else {
        return;
    };
    let (user, password) = dovecot.new_user("renamed");
    let mut phone = dovecot.client(&user, &password);
    phone.create("Old");
    phone.create("Doomed");
    fill(&mut phone, "Old", 2);

    let data = app::scratch_dir("renamed");
    let node = Node::start(settings_for(dovecot, &data)).await;
    let browser = Browser::signed_in(&node.base, &user, &password).await;
    assert_eq!(browser.get("/mail/Old").await.status, 200);
    assert_eq!(browser.get("/mail/Doomed").await.status, 200);

    phone.rename_mailbox("Old", "New");
    phone.delete_mailbox("Doomed");
    for gone in ["/mail/Old", "/mail/Doomed"] {
        let page = browser.get(gone).await;
        assert_eq!(page.status, 404, "{gone}");
        assert!(page.text().contains("This folder does not exist"));
    }
    let inbox = browser.get("/mail/INBOX").await;
    let labels = inbox.texts("nav.folders .folder-list li a");
    assert!(
        labels.contains(&"New".to_owned()) && !labels.contains(&"Old".to_owned()),
        "{labels:?}"
    );
    phone.logout();
    node.stop().await;
}

#[tokio::test]
async fn a_message_expunged_between_list_and_open_reads_as_deleted() {
    let Some(dovecot) = Dovecot::shared() else {
        return;
    };
    let (user, password) = dovecot.new_user("between");
    let mut phone = dovecot.client(&user, &password);
    fill(&mut phone, "INBOX", 3);

    let data = app::scratch_dir("between");
    let node = Node::start(settings_for(dovecot, &data)).await;
    let browser = Browser::signed_in(&node.base, &user, &password).await;
    let list = browser.get("/mail/INBOX").await;
    let links = list.attrs("td.subject a", "href");
    let subjects = list.texts("td.subject");
    assert_eq!(browser.get(&links[1]).await.status, 200, "cached body");

    for (link, subject) in links.iter().zip(&subjects).take(2) {
        let uid = uid_of(&mut phone, subject);
        phone.select("INBOX");
        phone.expunge_uid(uid);
        let page = browser.get(link).await;
        assert_eq!(page.status, 404, "{subject}");
        assert!(page.text().contains("This message was deleted or moved"));
        assert!(!page.text().contains("subject 0"), "no other message shown");
    }
    phone.logout();
    node.stop().await;
}

/// The value of one line of the node's metrics page.
async fn metric(browser: &Browser, name: &str) -> u64 {
    let page = browser.get("/metrics").await;
    page.text()
        .lines()
        .find_map(|line| {
            line.strip_prefix(name)
                .and_then(|rest| rest.trim().parse().ok())
        })
        .unwrap_or_else(|| panic!("{name} missing from metrics"))
}

#[tokio::test]
async fn next_after_the_first_page_logs_in_no_connection() {
    let Some(dovecot) = Dovecot::shared() else {
        return;
    };
    let (user, password) = dovecot.new_user("loneconn");
    let mut phone = dovecot.client(&user, &password);
    fill(&mut phone, "INBOX", 45);
    phone.logout();
    let data = app::scratch_dir("loneconn");
    let node = Node::start(settings_for(dovecot, &data)).await;
    let browser = Browser::signed_in(&node.base, &user, &password).await;
    let logins = "mailfront_imap_logins_total";

    let first = browser.get("/mail/INBOX").await;
    let next = first.attrs("a[rel=next]", "href")[0].clone();
    // The folder counts are fetched in the background on a second
    // connection after the first page; Next must log in none.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while metric(&browser, logins).await < 2 {
        assert!(
            std::time::Instant::now() < deadline,
            "the folder counts got a connection"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let before = metric(&browser, logins).await;
    assert_eq!(browser.get(&next).await.status, 200);
    assert_eq!(
        metric(&browser, logins).await,
        before,
        "Next reused a connection"
    );
    node.stop().await;
}

#[tokio::test]
async fn the_next_page_is_prefetched_and_served_without_a_fetch() {
    let Some(dovecot) = Dovecot::shared() else {
        return;
    };
    let (user, password) = dovecot.new_user("prefetch");
    let mut phone = dovecot.client(&user, &password);
    fill(&mut phone, "INBOX", 45);
    phone.logout();
    let data = app::scratch_dir("prefetch");
    let node = Node::start(settings_for(dovecot, &data)).await;
    let browser = Browser::signed_in(&node.base, &user, &password).await;
    // A second session's sign-in leaves a second idle connection: prefetch
    // never takes an account's last idle one.
    let _other = Browser::signed_in(&node.base, &user, &password).await;
    let fetches = r#"mailfront_imap_commands_total{kind="fetch"}"#;

    let before = metric(&browser, fetches).await;
    let first = browser.get("/mail/INBOX").await;
    let next = first.attrs("a[rel=next]", "href")[0].clone();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let mut prefetched = metric(&browser, fetches).await;
    while prefetched < before + 2 && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        prefetched = metric(&browser, fetches).await;
    }
    assert_eq!(
        prefetched,
        before + 2,
        "the page's rows, then the next window in the background"
    );

    // The folder counts, fetched in the background too, hold a connection
    // until done; a prefetch never takes the account's last free one.
    app::background_settled(&node.base).await;
    let second = browser.get(&next).await;
    assert_eq!(second.texts("td.subject").len(), 20);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let mut after_second = metric(&browser, fetches).await;
    while after_second < prefetched + 1 && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        after_second = metric(&browser, fetches).await;
    }
    assert_eq!(
        after_second,
        prefetched + 1,
        "page 2 from the cache; only page 3 prefetched"
    );
    node.stop().await;
}

#[tokio::test]
async fn an_unchanged_mailbox_is_checked_with_one_noop_and_news_still_shows() {
    let Some(dovecot) = Dovecot::shared() else {
        return;
    };
    let (user, password) = dovecot.new_user("noopcheck");
    let mut phone = dovecot.client(&user, &password);
    fill(&mut phone, "INBOX", 45);
    let data = app::scratch_dir("noopcheck");
    let node = Node::start(settings_for(dovecot, &data)).await;
    let browser = Browser::signed_in(&node.base, &user, &password).await;
    let status = r#"mailfront_imap_commands_total{kind="status"}"#;
    let noop = r#"mailfront_imap_commands_total{kind="noop"}"#;

    // Every connection that has INBOX selected gets validated once with
    // STATUS; from then on the cache follows its news.
    for _ in 0..3 {
        assert_eq!(browser.get("/mail/INBOX").await.status, 200);
        app::background_settled(&node.base).await;
    }
    let (status_before, noop_before) =
        (metric(&browser, status).await, metric(&browser, noop).await);
    for _ in 0..3 {
        assert_eq!(browser.get("/mail/INBOX").await.status, 200);
    }
    assert_eq!(metric(&browser, status).await, status_before, "no STATUS");
    assert_eq!(
        metric(&browser, noop).await,
        noop_before + 3,
        "one NOOP a view"
    );
    let cached = metric(&browser, "mailfront_cache_bytes").await;
    assert!(cached > 45 * 4, "the cache weighs what it holds: {cached}");

    let first = browser.get("/mail/INBOX").await.texts("td.subject")[0].clone();
    let uid = uid_of(&mut phone, &first);
    phone.store(uid, "+FLAGS (\\Flagged)");
    let page = browser.get("/mail/INBOX").await;
    assert!(page.texts("tr.flagged td.subject").contains(&first));
    phone.append("INBOX", "()", None, &message(99, "late arrival"));
    let page = browser.get("/mail/INBOX").await;
    assert_eq!(page.texts("td.subject")[0], "late arrival");
    phone.logout();
    node.stop().await;
}

#[tokio::test]
async fn a_folder_renamed_or_recreated_while_selected_is_noticed() {
    let Some(dovecot) = Dovecot::shared() else {
        return;
    };
    let (user, password) = dovecot.new_user("selrename");
    let mut phone = dovecot.client(&user, &password);
    phone.create("Old");
    phone.create("Box");
    fill(&mut phone, "Old", 2);
    fill(&mut phone, "Box", 2);
    let data = app::scratch_dir("selrename");
    let node = Node::start(settings_for(dovecot, &data)).await;
    let browser = Browser::signed_in(&node.base, &user, &password).await;

    // Shown twice, so that the second view is validated by NOOP alone.
    for folder in ["/mail/Old", "/mail/Box"] {
        for _ in 0..2 {
            assert_eq!(browser.get(folder).await.status, 200, "{folder}");
            app::background_settled(&node.base).await;
        }
    }
    phone.rename_mailbox("Old", "New");
    let page = browser.get("/mail/Old").await;
    assert_eq!(page.status, 404);
    assert!(page.text().contains("This folder does not exist"));

    phone.delete_mailbox("Box");
    phone.create("Box");
    phone.append("Box", "()", None, &message(5, "reborn"));
    let page = browser.get("/mail/Box").await;
    assert_eq!(page.status, 200);
    assert_eq!(page.texts("td.subject"), vec!["reborn"]);
    phone.logout();
    node.stop().await;
}

#[tokio::test]
async fn changes_made_while_another_folder_was_open_are_fetched_by_mod_sequence() {
    let Some(dovecot) = Dovecot::shared() else {
        return;
    };
    let (user, password) = dovecot.new_user("modseq");
    let mut phone = dovecot.client(&user, &password);
    phone.create("Other");
    fill(&mut phone, "INBOX", 30);
    fill(&mut phone, "Other", 2);
    let data = app::scratch_dir("modseq");
    // One connection: going to another folder leaves INBOX unselected, so
    // INBOX is checked by STATUS and no connection reported the changes.
    let layer = mailfront::config::SettingsLayer {
        pool_per_user: Some(1),
        ..settings_for(dovecot, &data)
    };
    let node = Node::start(layer).await;
    let browser = Browser::signed_in(&node.base, &user, &password).await;
    let searches = r#"mailfront_imap_commands_total{kind="search"}"#;
    let order = "date-asc";

    assert_eq!(
        all_pages(&browser, "INBOX", order).await,
        truth(dovecot, &user, &password, "INBOX", order).await
    );
    let first = browser.get(&format!("/mail/INBOX?sort={order}")).await;
    let flagged = first.texts("td.subject")[2].clone();
    leave_inbox(&browser, &mut phone, 1).await;

    // Flags only: applied from the changes since the cached mod-sequence,
    // without fetching the UID list again.
    let uid = uid_of(&mut phone, &flagged);
    phone.store(uid, "+FLAGS (\\Flagged)");
    let before = metric(&browser, searches).await;
    let page = browser.get(&format!("/mail/INBOX?sort={order}")).await;
    assert!(
        page.texts("tr.flagged td.subject").contains(&flagged),
        "flag not shown"
    );
    assert_eq!(
        metric(&browser, searches).await,
        before,
        "no UID list fetched"
    );

    // Flags, an expunge and new mail at once.
    leave_inbox(&browser, &mut phone, 2).await;
    phone.store(uid, "-FLAGS (\\Flagged)");
    let victim = page.texts("td.subject")[5].clone();
    let victim_uid = uid_of(&mut phone, &victim);
    phone.select("INBOX");
    phone.expunge_uid(victim_uid);
    phone.append("INBOX", "()", None, &message(77, "while away"));
    let pages = all_pages(&browser, "INBOX", order).await;
    assert_eq!(
        pages,
        truth(dovecot, &user, &password, "INBOX", order).await
    );
    let page = browser.get(&format!("/mail/INBOX?sort={order}")).await;
    assert!(!page.texts("tr.flagged td.subject").contains(&flagged));
    assert!(!pages.concat().contains(&victim));
    assert!(pages.concat().contains(&"while away".to_owned()));

    // A flag change and new mail at once: the count grows as if only mail
    // had arrived.
    leave_inbox(&browser, &mut phone, 3).await;
    phone.store(uid, "+FLAGS (\\Flagged)");
    phone.append("INBOX", "()", None, &message(78, "later still"));
    let page = browser.get(&format!("/mail/INBOX?sort={order}")).await;
    assert!(
        page.texts("tr.flagged td.subject").contains(&flagged),
        "flag changed beside new mail not shown"
    );
    assert_eq!(
        all_pages(&browser, "INBOX", order).await,
        truth(dovecot, &user, &password, "INBOX", order).await
    );
    phone.logout();
    node.stop().await;
}

/// Shows the folder Other after new mail came to it, which makes the node
/// select Other on its only connection.
async fn leave_inbox(browser: &Browser, phone: &mut ImapTestClient, round: u32) {
    let subject = format!("elsewhere {round}");
    phone.append("Other", "()", None, &message(200 + round, &subject));
    let page = browser.get("/mail/Other").await;
    assert!(page.texts("td.subject").contains(&subject));
}

#[tokio::test]
async fn a_message_read_here_leaves_the_unread_search_at_once() {
    let Some(dovecot) = Dovecot::shared() else {
        return;
    };
    let (user, password) = dovecot.new_user("readsearch");
    let mut phone = dovecot.client(&user, &password);
    fill(&mut phone, "INBOX", 12);
    phone.logout();
    let data = app::scratch_dir("readsearch");
    let node = Node::start(settings_for(dovecot, &data)).await;
    let browser = Browser::signed_in(&node.base, &user, &password).await;
    let unread = "/mail/INBOX?sort=arrival-desc&unread=1";

    // Shown a few times, so that the search is checked by NOOP alone.
    for _ in 0..3 {
        assert_eq!(browser.get(unread).await.texts("td.subject").len(), 12);
        app::background_settled(&node.base).await;
    }
    for read in 1..=3 {
        let list = browser.get(unread).await;
        let opened = list.texts("td.subject")[0].clone();
        let link = list.attrs("td.subject a", "href")[0].clone();
        assert_eq!(browser.get(&link).await.status, 200);
        app::background_settled(&node.base).await;

        let after = browser.get(unread).await.texts("td.subject");
        assert!(
            !after.contains(&opened),
            "{opened} read, still listed: {after:?}"
        );
        assert_eq!(after.len(), 12 - read);
    }
    node.stop().await;
}

#[tokio::test]
async fn new_mail_found_by_concurrent_views_is_listed_once() {
    let Some(dovecot) = Dovecot::shared() else {
        return;
    };
    let (user, password) = dovecot.new_user("twicemerged");
    let mut phone = dovecot.client(&user, &password);
    fill(&mut phone, "INBOX", 45);
    let data = app::scratch_dir("twicemerged");
    let node = Node::start(settings_for(dovecot, &data)).await;
    let first = Browser::signed_in(&node.base, &user, &password).await;
    let second = Browser::signed_in(&node.base, &user, &password).await;
    let order = "arrival-desc";
    for _ in 0..3 {
        for browser in [&first, &second] {
            all_pages(browser, "INBOX", order).await;
            app::background_settled(&node.base).await;
        }
    }

    for round in 0..6u32 {
        let subject = format!("burst {round:02}");
        let arrival = format!("03-Apr-2024 12:{round:02}:00 +0000");
        phone.append(
            "INBOX",
            "()",
            Some(&arrival),
            &message(700 + round, &subject),
        );
        let views: Vec<_> = (0..4)
            .map(|task| {
                let browser = if task % 2 == 0 { &first } else { &second }.clone();
                let url = format!("/mail/INBOX?sort={order}");
                tokio::spawn(async move { browser.get(&url).await.texts("td.subject") })
            })
            .collect();
        for view in views {
            let shown = view.await.expect("the view ends");
            let times = shown.iter().filter(|s| **s == subject).count();
            assert_eq!(times, 1, "round {round}: {shown:?}");
        }
        app::background_settled(&node.base).await;
        let truth = truth(dovecot, &user, &password, "INBOX", order).await;
        for browser in [&first, &second] {
            assert_eq!(
                all_pages(browser, "INBOX", order).await,
                truth,
                "round {round}"
            );
        }
    }
    phone.logout();
    node.stop().await;
}
