//! Acting on messages through the pages (mark read or unread, flag, delete,
//! move, archive, remove for good), checked against what a second IMAP
//! client sees on the same real Dovecot.

mod app;
mod support;

use std::collections::BTreeMap;

use app::{settings_for, Browser, Node, Page};
use support::Dovecot;

/// A short plain message with a subject and a date.
fn plain_message(subject: &str, date: &str) -> Vec<u8> {
    format!(
        "From: Sender <sender@example.org>\r\nTo: reader@example.org\r\nSubject: {subject}\r\n\
         Date: {date}\r\nMessage-ID: <{}@example.org>\r\nMIME-Version: 1.0\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\r\nhello\r\n",
        subject.replace(' ', ".")
    )
    .into_bytes()
}

/// A user whose `folder` holds `count` unread messages "msg 01" .. in
/// arrival order, whose Date headers follow the same order.
fn user_with(dovecot: &Dovecot, prefix: &str, folder: &str, count: u32) -> (String, String) {
    let (user, password) = dovecot.new_user(prefix);
    let mut client = dovecot.client(&user, &password);
    if folder != "INBOX" {
        client.create(folder);
    }
    for n in 1..=count {
        let subject = format!("msg {n:02}");
        let date = format!("Fri, 01 Mar 2024 10:{n:02}:00 +0000");
        let arrival = format!("01-Apr-2024 10:{n:02}:00 +0000");
        client.append(
            folder,
            "()",
            Some(&arrival),
            &plain_message(&subject, &date),
        );
    }
    client.create("Elsewhere");
    client.logout();
    (user, password)
}

async fn node_for(dovecot: &Dovecot, name: &str) -> Node {
    let data = app::scratch_dir(name);
    Node::start(settings_for(dovecot, &data)).await
}

/// The flags of every message of a folder, by UID, as the server has them.
fn server_flags(
    dovecot: &Dovecot,
    user: &str,
    password: &str,
    folder: &str,
) -> BTreeMap<u32, String> {
    let mut client = dovecot.client(user, password);
    let mut flags = BTreeMap::new();
    if client.select(folder) > 0 {
        let lines = client
            .command("UID FETCH 1:* (FLAGS)")
            .expect("fetch flags");
        for line in lines.iter().filter(|l| l.contains(" FETCH ")) {
            let uid = line
                .split("UID ")
                .nth(1)
                .and_then(|rest| rest.split([' ', ')']).next())
                .and_then(|uid| uid.parse().ok())
                .expect("FETCH names its UID");
            let list = line.split("FLAGS (").nth(1).unwrap_or("").split(')').next();
            flags.insert(uid, list.unwrap_or("").to_owned());
        }
    }
    client.logout();
    flags
}

/// Messages in a folder, as the server counts them.
fn server_count(dovecot: &Dovecot, user: &str, password: &str, folder: &str) -> usize {
    let mut client = dovecot.client(user, password);
    let count = client.select(folder) as usize;
    client.logout();
    count
}

/// The hidden fields of a page's action form.
fn form_of(page: &Page) -> Vec<(String, String)> {
    ["csrf", "form_token", "uidvalidity", "page", "sort"]
        .into_iter()
        .filter_map(|name| Some((name.to_owned(), page.field(name)?)))
        .collect()
}

/// (subject, uid) of each row of a list page, in order.
fn rows(page: &Page) -> Vec<(String, u32)> {
    let subjects = page.texts("td.subject");
    let uids = page.attrs("td.pick input[name=uid]", "value");
    subjects
        .into_iter()
        .zip(uids.iter().map(|u| u.parse().expect("uid is a number")))
        .collect()
}

/// Submits a page's action form with an action and extra fields.
async fn submit(
    browser: &Browser,
    page: &Page,
    url: &str,
    action: &str,
    extra: &[(&str, String)],
) -> Page {
    let mut form = form_of(page);
    form.push(("action".to_owned(), action.to_owned()));
    form.extend(extra.iter().map(|(k, v)| ((*k).to_owned(), v.clone())));
    let pairs: Vec<(&str, &str)> = form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    browser.post(url, &pairs).await
}

fn uid_fields(uids: &[u32]) -> Vec<(&'static str, String)> {
    uids.iter().map(|uid| ("uid", uid.to_string())).collect()
}

fn path_of(location: &Option<String>) -> String {
    location.clone().expect("a redirect has a location")
}

#[tokio::test]
async fn marking_rows_read_keeps_page_and_order_and_says_how_many_once() {
    let Some(dovecot) = Dovecot::shared() else {
        return;
    };
    let (user, password) = user_with(dovecot, "mark-read", "INBOX", 45);
    let node = node_for(dovecot, "mark-read").await;
    let browser = Browser::signed_in(&node.base, &user, &password).await;

    let list = browser.get("/mail/INBOX?page=2&sort=date-asc").await;
    assert_eq!(list.status, 200, "{}", list.text());
    let shown = rows(&list);
    assert_eq!(shown[0].0, "msg 21");
    let picked: Vec<u32> = shown[..3].iter().map(|(_, uid)| *uid).collect();

    let answer = submit(
        &browser,
        &list,
        "/mail/INBOX/actions",
        "read",
        &uid_fields(&picked),
    )
    .await;
    assert_eq!(answer.status, 303, "{}", answer.text());
    assert_eq!(
        path_of(&answer.location),
        "/mail/INBOX?page=2&sort=date-asc"
    );

    let after = browser.get("/mail/INBOX?page=2&sort=date-asc").await;
    assert_eq!(after.texts(".flash"), vec!["3 messages marked as read."]);
    let unread: Vec<String> = after.texts("tr.unread td.subject");
    for subject in ["msg 21", "msg 22", "msg 23"] {
        assert!(
            !unread.contains(&subject.to_owned()),
            "{subject} still unread"
        );
    }
    assert!(unread.contains(&"msg 24".to_owned()));
    let again = browser.get("/mail/INBOX?page=2&sort=date-asc").await;
    assert!(again.texts(".flash").is_empty(), "the flash shows once");

    let flags = server_flags(dovecot, &user, &password, "INBOX");
    for uid in &picked {
        assert!(flags[uid].contains("\\Seen"), "uid {uid}: {}", flags[uid]);
    }
    assert_eq!(flags.values().filter(|f| f.contains("\\Seen")).count(), 3);

    let unread_answer = submit(
        &browser,
        &after,
        "/mail/INBOX/actions",
        "unread",
        &uid_fields(&picked[..1]),
    )
    .await;
    assert_eq!(unread_answer.status, 303);
    let flags = server_flags(dovecot, &user, &password, "INBOX");
    assert!(!flags[&picked[0]].contains("\\Seen"));
    node.stop().await;
}

#[tokio::test]
async fn select_all_flags_every_row_of_the_page_and_no_other() {
    let Some(dovecot) = Dovecot::shared() else {
        return;
    };
    let (user, password) = user_with(dovecot, "select-all", "INBOX", 25);
    let node = node_for(dovecot, "select-all").await;
    let browser = Browser::signed_in(&node.base, &user, &password).await;

    let list = browser.get("/mail/INBOX").await;
    let shown = rows(&list);
    assert_eq!(shown.len(), 20);
    let mut fields = vec![("all", "1".to_owned())];
    fields.extend(shown.iter().map(|(_, uid)| ("page_uid", uid.to_string())));
    let answer = submit(&browser, &list, "/mail/INBOX/actions", "flag", &fields).await;
    assert_eq!(answer.status, 303, "{}", answer.text());

    let after = browser.get(&path_of(&answer.location)).await;
    assert_eq!(after.texts(".flash"), vec!["20 messages flagged."]);
    assert_eq!(after.texts("tr.flagged td.subject").len(), 20);
    let flags = server_flags(dovecot, &user, &password, "INBOX");
    assert_eq!(
        flags.values().filter(|f| f.contains("\\Flagged")).count(),
        20
    );
    for (_, uid) in &shown {
        assert!(flags[uid].contains("\\Flagged"));
    }
    node.stop().await;
}

#[tokio::test]
async fn a_double_submit_applies_once_and_answers_with_the_same_redirect() {
    let Some(dovecot) = Dovecot::shared() else {
        return;
    };
    let (user, password) = user_with(dovecot, "double", "INBOX", 3);
    let node = node_for(dovecot, "double").await;
    let browser = Browser::signed_in(&node.base, &user, &password).await;

    let list = browser.get("/mail/INBOX").await;
    let uid = rows(&list)[0].1;
    let first = submit(
        &browser,
        &list,
        "/mail/INBOX/actions",
        "flag",
        &uid_fields(&[uid]),
    )
    .await;
    assert_eq!(first.status, 303);

    let mut other = dovecot.client(&user, &password);
    other.select("INBOX");
    other.store(uid, "-FLAGS (\\Flagged)");
    other.logout();
    let second = submit(
        &browser,
        &list,
        "/mail/INBOX/actions",
        "flag",
        &uid_fields(&[uid]),
    )
    .await;
    assert_eq!(second.status, 303, "{}", second.text());
    assert_eq!(second.location, first.location);
    let flags = server_flags(dovecot, &user, &password, "INBOX");
    assert!(
        !flags[&uid].contains("\\Flagged"),
        "applied twice: {}",
        flags[&uid]
    );
    node.stop().await;
}

#[tokio::test]
async fn forged_or_missing_tokens_show_form_expired_and_change_nothing() {
    let Some(dovecot) = Dovecot::shared() else {
        return;
    };
    let (user, password) = user_with(dovecot, "forged", "INBOX", 3);
    let node = node_for(dovecot, "forged").await;
    let browser = Browser::signed_in(&node.base, &user, &password).await;
    let list = browser.get("/mail/INBOX").await;
    let uid = rows(&list)[0].1;
    let form = form_of(&list);
    let field = |name: &str| form.iter().find(|(k, _)| k == name).unwrap().1.clone();
    let uid_text = uid.to_string();

    let forged = [
        ("csrf", "forged-token-value"),
        ("form_token", field("form_token").as_str()),
        ("uidvalidity", field("uidvalidity").as_str()),
        ("action", "read"),
        ("uid", uid_text.as_str()),
    ]
    .map(|(k, v)| (k, v.to_owned()));
    let no_csrf = [
        ("form_token", field("form_token")),
        ("uidvalidity", field("uidvalidity")),
        ("action", "read".to_owned()),
        ("uid", uid_text.clone()),
    ];
    let no_form_token = [
        ("csrf", field("csrf")),
        ("uidvalidity", field("uidvalidity")),
        ("action", "read".to_owned()),
        ("uid", uid_text.clone()),
    ];
    let made_up_form_token = [
        ("csrf", field("csrf")),
        ("form_token", "forged".to_owned()),
        ("uidvalidity", field("uidvalidity")),
        ("action", "read".to_owned()),
        ("uid", uid_text.clone()),
    ];
    let cases = [
        forged.to_vec(),
        no_csrf.to_vec(),
        no_form_token.to_vec(),
        made_up_form_token.to_vec(),
    ];
    for fields in cases {
        let pairs: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let answer = browser.post("/mail/INBOX/actions", &pairs).await;
        assert_eq!(answer.status, 403, "{pairs:?}");
        assert!(answer.text().contains("Form expired"), "{}", answer.text());
    }
    let message_answer = browser
        .post(
            &format!("/mail/INBOX/{}/{uid}/actions", field("uidvalidity")),
            &[("action", "flag"), ("form_token", &field("form_token"))],
        )
        .await;
    assert_eq!(message_answer.status, 403);

    let flags = server_flags(dovecot, &user, &password, "INBOX");
    assert!(flags.values().all(|f| !f.contains("\\Seen")), "{flags:?}");
    node.stop().await;
}

#[tokio::test]
async fn an_action_form_over_the_size_limit_gets_a_too_large_page() {
    let Some(dovecot) = Dovecot::shared() else {
        return;
    };
    let (user, password) = user_with(dovecot, "hugeform", "INBOX", 1);
    let node = node_for(dovecot, "hugeform").await;
    let browser = Browser::signed_in(&node.base, &user, &password).await;
    let list = browser.get("/mail/INBOX").await;
    let form = form_of(&list);
    let field = |name: &str| form.iter().find(|(k, _)| k == name).unwrap().1.clone();
    let padding = "9".repeat(200 * 1024);

    let answer = browser
        .post(
            "/mail/INBOX/actions",
            &[
                ("csrf", &field("csrf")),
                ("form_token", &field("form_token")),
                ("action", "read"),
                ("uid", &padding),
            ],
        )
        .await;
    assert_eq!(answer.status, 413, "{}", answer.text());
    assert!(answer.text().contains("larger than this site accepts"));
    node.stop().await;
}

#[tokio::test]
async fn an_empty_selection_asks_for_at_least_one_message() {
    let Some(dovecot) = Dovecot::shared() else {
        return;
    };
    let (user, password) = user_with(dovecot, "empty-pick", "INBOX", 3);
    let node = node_for(dovecot, "empty-pick").await;
    let browser = Browser::signed_in(&node.base, &user, &password).await;

    let list = browser.get("/mail/INBOX").await;
    let answer = submit(&browser, &list, "/mail/INBOX/actions", "delete", &[]).await;
    assert_eq!(answer.status, 303);
    let after = browser.get(&path_of(&answer.location)).await;
    assert_eq!(after.texts(".flash"), vec!["Select at least one message."]);
    assert_eq!(server_count(dovecot, &user, &password, "INBOX"), 3);
    assert_eq!(server_count(dovecot, &user, &password, "Trash"), 0);
    node.stop().await;
}

#[tokio::test]
async fn a_message_moved_by_another_client_is_named_and_the_rest_is_applied() {
    let Some(dovecot) = Dovecot::shared() else {
        return;
    };
    let (user, password) = user_with(dovecot, "moved-meanwhile", "INBOX", 4);
    let node = node_for(dovecot, "moved-meanwhile").await;
    let browser = Browser::signed_in(&node.base, &user, &password).await;

    let list = browser.get("/mail/INBOX").await;
    let shown = rows(&list);
    let picked = [shown[0].1, shown[1].1];
    let uidvalidity = list.field("uidvalidity").unwrap();
    let message_url = format!("/mail/INBOX/{uidvalidity}/{}", picked[0]);
    let message = browser.get(&message_url).await;
    assert_eq!(message.status, 200);
    let mut other = dovecot.client(&user, &password);
    other.select("INBOX");
    other
        .command(&format!("UID MOVE {} Elsewhere", picked[0]))
        .expect("the other client moves a message");
    other.logout();

    let answer = submit(
        &browser,
        &list,
        "/mail/INBOX/actions",
        "flag",
        &uid_fields(&picked),
    )
    .await;
    assert_eq!(answer.status, 303, "{}", answer.text());
    let after = browser.get(&path_of(&answer.location)).await;
    assert_eq!(
        after.texts(".flash"),
        vec![
            "1 message flagged. 1 message was no longer in this folder (moved or deleted \
             elsewhere) and was left alone."
        ]
    );
    assert_eq!(rows(&after).len(), 3);
    let flags = server_flags(dovecot, &user, &password, "INBOX");
    assert!(flags[&picked[1]].contains("\\Flagged"));
    assert_eq!(
        flags.values().filter(|f| f.contains("\\Flagged")).count(),
        1
    );
    let moved = server_flags(dovecot, &user, &password, "Elsewhere");
    assert!(
        moved.values().all(|f| !f.contains("\\Flagged")),
        "{moved:?}"
    );

    let gone = submit(
        &browser,
        &message,
        &format!("{message_url}/actions"),
        "delete",
        &[],
    )
    .await;
    assert_eq!(gone.status, 303, "{}", gone.text());
    let told = browser.get_following(&path_of(&gone.location)).await;
    assert!(
        told.text().contains("no longer in this folder"),
        "{}",
        told.text()
    );
    node.stop().await;
}

#[tokio::test]
async fn flag_and_unflag_from_the_message_view() {
    let Some(dovecot) = Dovecot::shared() else {
        return;
    };
    let (user, password) = user_with(dovecot, "view-flag", "INBOX", 2);
    let node = node_for(dovecot, "view-flag").await;
    let browser = Browser::signed_in(&node.base, &user, &password).await;

    let list = browser.get("/mail/INBOX").await;
    let uid = rows(&list)[0].1;
    let uidvalidity = list.field("uidvalidity").unwrap();
    let here = format!("/mail/INBOX/{uidvalidity}/{uid}");
    let view = browser.get(&format!("{here}?page=1")).await;
    assert_eq!(view.status, 200);

    let answer = submit(&browser, &view, &format!("{here}/actions"), "flag", &[]).await;
    assert_eq!(answer.status, 303, "{}", answer.text());
    assert_eq!(path_of(&answer.location), format!("{here}?page=1"));
    let flagged = browser.get(&path_of(&answer.location)).await;
    assert_eq!(flagged.texts(".flash"), vec!["1 message flagged."]);
    assert!(flagged.text().contains("⚑ flagged"));

    let answer = submit(
        &browser,
        &flagged,
        &format!("{here}/actions"),
        "unflag",
        &[],
    )
    .await;
    let unflagged = browser.get(&path_of(&answer.location)).await;
    assert!(!unflagged.text().contains("⚑ flagged"));

    let answer = submit(
        &browser,
        &unflagged,
        &format!("{here}/actions"),
        "unread",
        &[],
    )
    .await;
    assert_eq!(
        path_of(&answer.location),
        "/mail/INBOX?page=1&sort=arrival-desc"
    );
    let flags = server_flags(dovecot, &user, &password, "INBOX");
    assert!(!flags[&uid].contains("\\Seen") && !flags[&uid].contains("\\Flagged"));
    node.stop().await;
}

#[tokio::test]
async fn delete_moves_to_trash_and_in_trash_removes_for_good_after_confirming() {
    let Some(dovecot) = Dovecot::shared() else {
        return;
    };
    let (user, password) = user_with(dovecot, "delete", "INBOX", 5);
    let node = node_for(dovecot, "delete").await;
    let browser = Browser::signed_in(&node.base, &user, &password).await;

    let list = browser.get("/mail/INBOX").await;
    let picked: Vec<u32> = rows(&list)[..2].iter().map(|(_, uid)| *uid).collect();
    let answer = submit(
        &browser,
        &list,
        "/mail/INBOX/actions",
        "delete",
        &uid_fields(&picked),
    )
    .await;
    assert_eq!(answer.status, 303, "{}", answer.text());
    let after = browser.get(&path_of(&answer.location)).await;
    assert_eq!(after.texts(".flash"), vec!["2 messages moved to Trash."]);
    assert_eq!(rows(&after).len(), 3);
    assert_eq!(server_count(dovecot, &user, &password, "INBOX"), 3);
    assert_eq!(server_count(dovecot, &user, &password, "Trash"), 2);

    let trash = browser.get("/mail/Trash").await;
    let in_trash: Vec<u32> = rows(&trash).iter().map(|(_, uid)| *uid).collect();
    assert_eq!(in_trash.len(), 2);
    let confirm = submit(
        &browser,
        &trash,
        "/mail/Trash/actions",
        "delete",
        &uid_fields(&in_trash[..1]),
    )
    .await;
    assert_eq!(confirm.status, 200, "{}", confirm.text());
    assert!(confirm.text().contains("Delete for good?"));
    assert_eq!(
        server_count(dovecot, &user, &password, "Trash"),
        2,
        "nothing yet"
    );

    let mut form = form_of(&confirm);
    form.extend(
        confirm
            .attrs("form.confirm input[name=uid]", "value")
            .into_iter()
            .map(|v| ("uid".to_owned(), v)),
    );
    form.push(("action".to_owned(), "destroy".to_owned()));
    let pairs: Vec<(&str, &str)> = form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let done = browser.post("/mail/Trash/actions", &pairs).await;
    assert_eq!(done.status, 303, "{}", done.text());
    let after = browser.get(&path_of(&done.location)).await;
    assert_eq!(after.texts(".flash"), vec!["1 message deleted for good."]);
    assert_eq!(rows(&after).len(), 1);
    assert_eq!(server_count(dovecot, &user, &password, "Trash"), 1);
    node.stop().await;
}

#[tokio::test]
async fn move_and_archive_put_messages_in_the_chosen_folder() {
    let Some(dovecot) = Dovecot::shared() else {
        return;
    };
    let (user, password) = user_with(dovecot, "move", "INBOX", 4);
    let node = node_for(dovecot, "move").await;
    let browser = Browser::signed_in(&node.base, &user, &password).await;

    let list = browser.get("/mail/INBOX").await;
    let shown = rows(&list);
    assert!(list
        .attrs("select[name=target] option", "value")
        .contains(&"Elsewhere".to_owned()));
    let mut fields = uid_fields(&[shown[0].1]);
    fields.push(("target", "Elsewhere".to_owned()));
    let answer = submit(&browser, &list, "/mail/INBOX/actions", "move", &fields).await;
    assert_eq!(answer.status, 303, "{}", answer.text());
    let after = browser.get(&path_of(&answer.location)).await;
    assert_eq!(after.texts(".flash"), vec!["1 message moved to Elsewhere."]);
    assert_eq!(server_count(dovecot, &user, &password, "Elsewhere"), 1);

    let answer = submit(
        &browser,
        &after,
        "/mail/INBOX/actions",
        "archive",
        &uid_fields(&[shown[1].1]),
    )
    .await;
    let after = browser.get(&path_of(&answer.location)).await;
    assert_eq!(after.texts(".flash"), vec!["1 message moved to Archive."]);
    assert_eq!(server_count(dovecot, &user, &password, "Archive"), 1);
    assert_eq!(server_count(dovecot, &user, &password, "INBOX"), 2);
    let elsewhere = browser.get("/mail/Elsewhere").await;
    assert_eq!(rows(&elsewhere)[0].0, shown[0].0);
    node.stop().await;
}

/// Shared case 014, step 1: deleting every message of the last page lands
/// on the new last page, not on an empty list.
#[tokio::test]
async fn deleting_all_of_the_last_page_lands_on_page_2_of_2() {
    let Some(dovecot) = Dovecot::shared() else {
        return;
    };
    let (user, password) = user_with(dovecot, "case-014-1", "Paging", 45);
    let node = node_for(dovecot, "case-014-1").await;
    let browser = Browser::signed_in(&node.base, &user, &password).await;

    let last = browser.get("/mail/Paging?page=3&sort=date-desc").await;
    let shown = rows(&last);
    assert_eq!(shown.len(), 5);
    let mut fields = vec![("all", "1".to_owned())];
    fields.extend(shown.iter().map(|(_, uid)| ("page_uid", uid.to_string())));
    let answer = submit(&browser, &last, "/mail/Paging/actions", "delete", &fields).await;
    assert_eq!(answer.status, 303, "{}", answer.text());

    let landed = browser.get(&path_of(&answer.location)).await;
    assert_eq!(landed.status, 200);
    assert!(landed.text().contains("Page 2 of 2"), "{}", landed.text());
    let expected: Vec<String> = (6..=25).rev().map(|n| format!("msg {n:02}")).collect();
    assert_eq!(landed.texts("td.subject"), expected);
    assert_eq!(landed.texts(".flash"), vec!["5 messages moved to Trash."]);
    node.stop().await;
}

/// Shared case 014, step 5: deleting the last message of page 1 from its
/// view moves on to the next message, never back to the deleted one.
#[tokio::test]
async fn deleting_from_the_message_view_moves_on_to_the_next_message() {
    let Some(dovecot) = Dovecot::shared() else {
        return;
    };
    let (user, password) = user_with(dovecot, "case-014-5", "Paging", 45);
    let node = node_for(dovecot, "case-014-5").await;
    let browser = Browser::signed_in(&node.base, &user, &password).await;

    let first = browser.get("/mail/Paging?page=1&sort=date-desc").await;
    let (subject, uid) = rows(&first)[19].clone();
    assert_eq!(subject, "msg 26");
    let uidvalidity = first.field("uidvalidity").unwrap();
    let here = format!("/mail/Paging/{uidvalidity}/{uid}");
    let view = browser.get(&format!("{here}?page=1")).await;
    assert_eq!(view.status, 200);

    let answer = submit(&browser, &view, &format!("{here}/actions"), "delete", &[]).await;
    assert_eq!(answer.status, 303, "{}", answer.text());
    let next = browser.get(&path_of(&answer.location)).await;
    assert_eq!(next.status, 200, "{}", next.text());
    assert_eq!(next.texts("h1.subject"), vec!["msg 25"]);
    assert!(path_of(&answer.location).ends_with("?page=1"));

    let again = submit(&browser, &view, &format!("{here}/actions"), "delete", &[]).await;
    assert_eq!(again.status, 303, "{}", again.text());
    assert_eq!(
        path_of(&again.location),
        "/mail/Paging?page=1&sort=date-desc"
    );
    assert_eq!(server_count(dovecot, &user, &password, "Trash"), 1);

    let old = browser.get(&here).await;
    assert_eq!(old.status, 404);
    let list = browser.get("/mail/Paging?page=1").await;
    assert_eq!(rows(&list)[19].0, "msg 25");
    node.stop().await;
}

/// The number of IMAP commands of one kind the node has sent.
async fn commands_sent(browser: &Browser, kind: &str) -> u64 {
    let page = browser.get("/metrics").await;
    let name = format!("mailfront_imap_commands_total{{kind=\"{kind}\"}} ");
    page.text()
        .lines()
        .find_map(|line| line.strip_prefix(&name)?.parse().ok())
        .unwrap_or_else(|| panic!("{name} missing from metrics"))
}

#[tokio::test]
async fn the_list_after_an_action_is_served_from_the_updated_cache() {
    let Some(dovecot) = Dovecot::shared() else {
        return;
    };
    let (user, password) = user_with(dovecot, "cache-follows", "INBOX", 30);
    let node = node_for(dovecot, "cache-follows").await;
    let browser = Browser::signed_in(&node.base, &user, &password).await;
    // A second session leaves a second idle connection, so that the next
    // page's rows are prefetched (never on an account's last idle one): the
    // rows that move up into page 1 after the delete are then cached.
    let _other = Browser::signed_in(&node.base, &user, &password).await;

    let list = browser.get("/mail/INBOX").await;
    let shown = rows(&list);
    let picked: Vec<u32> = shown[..2].iter().map(|(_, uid)| *uid).collect();
    for action in ["read", "flag", "delete"] {
        let page = browser.get("/mail/INBOX").await;
        let answer = submit(
            &browser,
            &page,
            "/mail/INBOX/actions",
            action,
            &uid_fields(&picked),
        )
        .await;
        assert_eq!(answer.status, 303, "{}", answer.text());

        let kinds = ["select", "sort", "search", "fetch"];
        let mut before = Vec::new();
        for kind in kinds {
            before.push(commands_sent(&browser, kind).await);
        }
        let after = browser.get(&path_of(&answer.location)).await;
        for (kind, count) in kinds.iter().zip(before) {
            let now = commands_sent(&browser, kind).await;
            assert_eq!(now, count, "the list after {action} sent {kind}");
        }
        let texts = after.text();
        match action {
            "read" => {
                assert_eq!(after.texts("tr.unread td.subject").len(), 18, "{texts}");
                let unseen = after.texts("nav.folders .folder-list li.current span.unseen");
                assert_eq!(unseen, vec!["28"]);
            }
            "flag" => assert_eq!(after.texts("tr.flagged td.subject").len(), 2, "{texts}"),
            _ => {
                assert!(!rows(&after).iter().any(|(_, uid)| picked.contains(uid)));
                assert!(texts.contains("28 messages"), "{texts}");
                let trash =
                    after.attrs("nav.folders .folder-list a[href=\"/mail/Trash\"]", "title");
                assert_eq!(trash, vec!["Trash · 2 messages"]);
            }
        }
    }
    node.stop().await;
}

#[tokio::test]
async fn tick_all_rows_shows_the_page_with_every_box_ticked_without_script() {
    let Some(dovecot) = Dovecot::shared() else {
        return;
    };
    let (user, password) = user_with(dovecot, "tick-all", "INBOX", 25);
    let node = node_for(dovecot, "tick-all").await;
    let browser = Browser::signed_in(&node.base, &user, &password).await;

    let list = browser.get("/mail/INBOX?page=2&sort=date-asc").await;
    assert!(list.attrs("td.pick input[checked]", "value").is_empty());
    let link = list.attrs("p.selection a", "href");
    assert_eq!(link, ["/mail/INBOX?page=2&sort=date-asc&select=all"]);

    let ticked = browser.get(&link[0]).await;
    assert_eq!(ticked.status, 200, "{}", ticked.text());
    let boxes = ticked.attrs("td.pick input[checked]", "value");
    assert_eq!(boxes.len(), 5, "page 2 of 25 holds 5 rows");
    assert_eq!(
        ticked.attrs("p.selection a", "href"),
        ["/mail/INBOX?page=2&sort=date-asc"]
    );

    // What a browser sends for the ticked boxes: every row's uid.
    let uids: Vec<u32> = boxes.iter().map(|b| b.parse().unwrap()).collect();
    let answer = submit(
        &browser,
        &ticked,
        "/mail/INBOX/actions",
        "flag",
        &uid_fields(&uids),
    )
    .await;
    let after = browser.get(&path_of(&answer.location)).await;
    assert_eq!(after.texts(".flash"), vec!["5 messages flagged."]);
    let flags = server_flags(dovecot, &user, &password, "INBOX");
    assert_eq!(
        flags.values().filter(|f| f.contains("\\Flagged")).count(),
        5
    );
    node.stop().await;
}
