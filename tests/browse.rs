//! Signing in, the folder list, paging a mailbox and reading messages,
//! against a real Dovecot with known mail appended over IMAP.

mod app;
mod support;

use app::{settings_for, Browser, Node};
use support::Dovecot;

/// A short plain message with a subject, a sender and a date.
fn plain_message(subject: &str, from: &str, date: &str, body: &str) -> Vec<u8> {
    format!(
        "From: {from}\r\nTo: reader@example.org\r\nSubject: {subject}\r\nDate: {date}\r\n\
         Message-ID: <{}@example.org>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n",
        subject.replace(' ', ".")
    )
    .into_bytes()
}

/// A user with 45 messages "msg 01" .. "msg 45" in INBOX (appended in that
/// order, so msg 45 arrived last, but with Date headers in the opposite
/// order), an empty folder and a nested one.
fn mailbox_with_45(dovecot: &Dovecot) -> (String, String) {
    let (user, password) = dovecot.new_user("pager");
    let mut client = dovecot.client(&user, &password);
    for n in 1..=45 {
        let subject = format!("msg {n:02}");
        let date = format!("01 Mar 2024 10:{:02}:00 +0000", 46 - n);
        let flags = if n % 3 == 0 { "(\\Seen)" } else { "()" };
        let body = plain_message(
            &subject,
            "Sender <sender@example.org>",
            &format!("Fri, {date}"),
            "hello",
        );
        let arrival = format!("01-Apr-2024 10:{n:02}:00 +0000");
        client.append("INBOX", flags, Some(&arrival), &body);
    }
    client.create("Empty");
    client.create("Projects/2024");
    client.logout();
    (user, password)
}

async fn node_for(dovecot: &Dovecot, name: &str) -> Node {
    let data = app::scratch_dir(name);
    Node::start(settings_for(dovecot, &data)).await
}

#[tokio::test]
async fn pages_of_twenty_show_the_newest_arrival_first() {
    let Some(dovecot) = Dovecot::shared() else {
        return;
    };
    let (user, password) = mailbox_with_45(dovecot);
    let node = node_for(dovecot, "pages").await;
    let browser = Browser::signed_in(&node.base, &user, &password).await;

    let first = browser.get("/mail/INBOX").await;
    assert_eq!(first.status, 200, "{}", first.text());
    let subjects = first.texts("td.subject");
    let expected: Vec<String> = (26..=45).rev().map(|n| format!("msg {n:02}")).collect();
    assert_eq!(subjects, expected);
    assert!(first.text().contains("Page 1 of 3"));
    assert!(first.text().contains("45 messages"));
    let timing = first.headers["server-timing"].to_str().unwrap();
    let worked_ms: f64 = timing
        .strip_prefix("app;dur=")
        .and_then(|ms| ms.parse().ok())
        .unwrap_or_else(|| panic!("Server-Timing {timing:?}"));
    assert!(worked_ms > 0.0, "the node's own time: {timing}");
    assert_eq!(
        first.attrs("a[rel=next]", "href"),
        vec!["/mail/INBOX?page=2&sort=arrival-desc&after=26"]
    );
    assert!(first.attrs("a[rel=prev]", "href").is_empty());

    let unread_rows = first.attrs("tr.unread td.subject a", "href").len();
    let seen_in_window = (26..=45).filter(|n| n % 3 == 0).count();
    assert_eq!(unread_rows, 20 - seen_in_window);

    let second = browser.get("/mail/INBOX?page=2").await;
    let expected: Vec<String> = (6..=25).rev().map(|n| format!("msg {n:02}")).collect();
    assert_eq!(second.texts("td.subject"), expected);
    assert_eq!(
        second.attrs("a[rel=prev]", "href"),
        vec!["/mail/INBOX?page=1&sort=arrival-desc&before=25"]
    );

    let by_date = browser.get("/mail/INBOX?sort=date-desc").await;
    let expected: Vec<String> = (1..=20).map(|n| format!("msg {n:02}")).collect();
    assert_eq!(by_date.texts("td.subject"), expected);
    let remembered = browser.get("/mail/INBOX?page=2").await;
    assert_eq!(remembered.texts("td.subject")[0], "msg 21");
    browser.get("/mail/INBOX?sort=arrival-desc").await;

    let last = browser.get("/mail/INBOX?page=3").await;
    let expected: Vec<String> = (1..=5).rev().map(|n| format!("msg {n:02}")).collect();
    assert_eq!(last.texts("td.subject"), expected);
    assert!(last.text().contains("Page 3 of 3"));
    assert!(last.attrs("a[rel=next]", "href").is_empty());

    node.stop().await;
}

#[tokio::test]
async fn malformed_or_out_of_range_pages_show_the_nearest_page() {
    let Some(dovecot) = Dovecot::shared() else {
        return;
    };
    let (user, password) = mailbox_with_45(dovecot);
    let node = node_for(dovecot, "bounds").await;
    let browser = Browser::signed_in(&node.base, &user, &password).await;

    for (asked, shown) in [
        ("0", 1),
        ("-1", 1),
        ("999", 3),
        ("abc", 1),
        ("2;drop", 1),
        ("", 1),
    ] {
        let page = browser.get(&format!("/mail/INBOX?page={asked}")).await;
        assert_eq!(page.status, 200, "page={asked}");
        assert!(
            page.text().contains(&format!("Page {shown} of 3")),
            "page={asked}"
        );
    }

    let empty = browser.get("/mail/Empty").await;
    assert_eq!(empty.status, 200);
    assert!(empty.text().contains("No messages."));
    assert!(empty.text().contains("Page 1 of 1"));

    let missing = browser.get("/mail/No%20such%20folder").await;
    assert_eq!(missing.status, 404);
    assert!(missing.text().contains("This folder does not exist"));
    node.stop().await;
}

#[tokio::test]
async fn the_folder_list_puts_inbox_and_special_folders_first_with_counts() {
    let Some(dovecot) = Dovecot::shared() else {
        return;
    };
    let (user, password) = mailbox_with_45(dovecot);
    let node = node_for(dovecot, "folders").await;
    let browser = Browser::signed_in(&node.base, &user, &password).await;

    let page = browser.get("/mail/INBOX").await;
    let labels = page.texts("nav.folders .folder-list li a, nav.folders .folder-list li .noselect");
    assert_eq!(labels.first().map(String::as_str), Some("Inbox"));
    let position = |name: &str| {
        labels
            .iter()
            .position(|l| l == name)
            .unwrap_or_else(|| panic!("{name} in {labels:?}"))
    };
    assert!(position("Sent") < position("Empty"));
    assert!(position("Trash") < position("Empty"));
    assert!(position("Projects") < position("2024"));

    let unseen = page.texts("nav.folders .folder-list li.current .unseen");
    assert_eq!(unseen, vec![(45 - 15).to_string()]);
    assert_eq!(
        page.attrs(
            "nav.folders .folder-list a[title^=\"Projects › 2024\"]",
            "href"
        ),
        vec!["/mail/Projects%2F2024"]
    );

    let parent = browser.get("/mail/Projects").await;
    assert_eq!(parent.status, 404);
    assert!(
        parent.text().contains("only holds other folders"),
        "{}",
        parent.text()
    );
    node.stop().await;
}

#[tokio::test]
async fn a_wrong_password_and_an_unknown_user_read_the_same() {
    let Some(dovecot) = Dovecot::shared() else {
        return;
    };
    let (user, _) = dovecot.new_user("wrongpw");
    let node = node_for(dovecot, "wrongpw").await;

    let wrong = Browser::new(&node.base)
        .sign_in(&user, "not the password")
        .await;
    let unknown = Browser::new(&node.base)
        .sign_in("nobody-here", "whatever")
        .await;
    assert_eq!(wrong.status, 401);
    assert_eq!(unknown.status, 401);
    assert_eq!(
        wrong.texts("p.error"),
        vec!["The user name or password is not correct."]
    );
    assert_eq!(unknown.texts("p.error"), wrong.texts("p.error"));
    node.stop().await;
}

#[tokio::test]
async fn an_unreachable_mail_server_gets_a_503_page() {
    let Some(dovecot) = Dovecot::shared() else {
        return;
    };
    let data = app::scratch_dir("down");
    let closed_port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let mut layer = settings_for(dovecot, &data);
    layer.imap_server = Some(format!("imap+insecure://127.0.0.1:{closed_port}"));
    let node = Node::start(layer).await;

    let page = Browser::new(&node.base).sign_in("someone", "secret").await;
    assert_eq!(page.status, 503);
    assert!(page.text().contains("The mail server cannot be reached"));
    node.stop().await;
}

#[tokio::test]
async fn signing_out_ends_the_session() {
    let Some(dovecot) = Dovecot::shared() else {
        return;
    };
    let (user, password) = dovecot.new_user("signout");
    let node = node_for(dovecot, "signout").await;
    let browser = Browser::signed_in(&node.base, &user, &password).await;

    let inbox = browser.get("/mail/INBOX").await;
    assert_eq!(inbox.status, 200);
    let csrf = inbox.field("csrf").expect("sign-out form has a token");
    let cookie = browser.cookie_header();
    assert!(cookie.contains("mf_session="));

    let forged = browser.post("/logout", &[("csrf", "forged")]).await;
    assert_eq!(forged.status, 403);
    assert_eq!(browser.get("/mail/INBOX").await.status, 200);

    let out = browser.post("/logout", &[("csrf", &csrf)]).await;
    assert_eq!(out.status, 303);
    assert_eq!(out.location.as_deref(), Some("/login?signed_out=1"));

    let replay = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(node.url("/mail/INBOX"))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(replay.status().as_u16(), 303);
    node.stop().await;
}

#[tokio::test]
async fn folders_with_odd_names_list_open_and_link_back_to_themselves() {
    let Some(dovecot) = Dovecot::shared() else {
        return;
    };
    let (user, password) = dovecot.new_user("oddnames");
    let mut client = dovecot.client(&user, &password);
    // Raw (modified UTF-7) names as the server stores them, and how they read.
    let folders = [
        ("Entw&APw-rfe", "Entwürfe"),
        ("Tom &- Jerry", "Tom & Jerry"),
        ("Projekt \"Alpha\"", "Projekt \"Alpha\""),
        ("Kunden {alt}", "Kunden {alt}"),
        ("2024", "2024"),
        ("&ZeVnLIqe-/&U,BTFw-", "台北"),
        ("100% sure?", "100% sure?"),
        ("<script>alert(8)", "<script>alert(8)"),
    ];
    for (raw, _) in folders {
        client.create(raw);
        let subject = format!("inside {}", raw.len());
        client.append(
            raw,
            "()",
            None,
            &plain_message(
                &subject,
                "A <a@example.org>",
                "Tue, 5 Mar 2024 10:00:00 +0000",
                "x",
            ),
        );
    }
    client.logout();

    let node = node_for(dovecot, "oddnames").await;
    let browser = Browser::signed_in(&node.base, &user, &password).await;
    let inbox = browser.get("/mail/INBOX").await;
    let labels =
        inbox.texts("nav.folders .folder-list li a, nav.folders .folder-list li .noselect");
    assert!(
        !inbox.text().contains("<script>alert(8)"),
        "the name is escaped"
    );

    for (raw, label) in folders {
        assert!(labels.contains(&label.to_owned()), "{label} in {labels:?}");
        let href = format!("/mail/{}", mailfront::web::paths::encode_segment(raw));
        let page = browser.get(&href).await;
        assert_eq!(page.status, 200, "{raw}");
        assert_eq!(
            page.texts("td.subject"),
            vec![format!("inside {}", raw.len())],
            "{raw}"
        );
        let current = page.attrs("nav.folders .folder-list li.current a", "href");
        assert_eq!(current, vec![href.clone()], "{raw}");
        let message = page.attrs("td.subject a", "href")[0].clone();
        assert_eq!(browser.get(&message).await.status, 200, "{raw}");
    }
    node.stop().await;
}

#[tokio::test]
async fn oversized_or_unreadable_requests_get_pages_that_say_so() {
    let Some(dovecot) = Dovecot::shared() else {
        return;
    };
    let node = node_for(dovecot, "toolarge").await;
    let browser = Browser::new(&node.base);
    let huge = "x".repeat(100 * 1024);
    let page = browser
        .post("/login", &[("username", "a"), ("password", &huge)])
        .await;
    assert_eq!(page.status, 413);
    assert!(
        page.text().contains("larger than this site accepts"),
        "{}",
        page.text()
    );

    let wrong_type = browser
        .client
        .post(node.url("/login"))
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong_type.status().as_u16(), 400);
    assert!(wrong_type
        .text()
        .await
        .unwrap()
        .contains("could not be read"));
    node.stop().await;
}

/// A NUL or another control character never reaches the IMAP server: a
/// folder address holding one is "not found" (Dovecot would cut the name at
/// the NUL and show another folder), a password holding one is refused.
#[tokio::test]
async fn control_characters_in_addresses_and_passwords_are_refused() {
    let Some(dovecot) = Dovecot::shared() else {
        return;
    };
    let (user, password) = dovecot.new_user("nul");
    let node = node_for(dovecot, "nul").await;

    let cut = Browser::new(&node.base)
        .sign_in(&user, &format!("{password}\0anything"))
        .await;
    assert_eq!(cut.status, 401, "{}", cut.text());

    let browser = Browser::signed_in(&node.base, &user, &password).await;
    for path in [
        "/mail/INBOX%00junk",
        "/mail/INBOX%0Ax",
        "/mail/INBOX%00/1/1",
    ] {
        let page = browser.get(path).await;
        assert_eq!(page.status, 404, "{path}: {}", page.text());
    }
    assert_eq!(browser.get("/mail/INBOX").await.status, 200);
    assert_eq!(browser.get("/favicon.ico").await.status, 204);
    node.stop().await;
}

/// Header floods: too many cookies or header lines get a page that says
/// what to do; a head beyond what the protocol layer reads is refused with
/// no harm to the node, which goes on serving.
#[tokio::test]
async fn header_floods_get_a_page_and_leave_the_node_serving() {
    let Some(dovecot) = Dovecot::shared() else {
        return;
    };
    let node = node_for(dovecot, "headerflood").await;
    let client = reqwest::Client::new();

    let cookie_jar = (0..60)
        .map(|n| format!("junk{n}={}", "c".repeat(900)))
        .collect::<Vec<_>>()
        .join("; ");
    let too_many_cookies = client
        .get(node.url("/login"))
        .header("cookie", cookie_jar)
        .send()
        .await
        .unwrap();
    assert_eq!(too_many_cookies.status().as_u16(), 431);
    let text = too_many_cookies.text().await.unwrap();
    assert!(text.contains("Delete the cookies"), "{text}");

    let mut many_lines = client.get(node.url("/login"));
    for n in 0..300 {
        many_lines = many_lines.header(format!("x-filler-{n}"), "1");
    }
    let many_lines = many_lines.send().await.unwrap();
    assert_eq!(many_lines.status().as_u16(), 431);
    assert!(many_lines.text().await.unwrap().contains("header data"));

    let beyond_the_protocol_layer = client
        .get(node.url("/login"))
        .header("x-flood", "f".repeat(2 << 20))
        .send()
        .await;
    if let Ok(response) = beyond_the_protocol_layer {
        assert!(response.status().is_client_error(), "{}", response.status());
    }

    let login = client.get(node.url("/login")).send().await.unwrap();
    assert_eq!(login.status().as_u16(), 200, "the node goes on serving");
    node.stop().await;
}

/// Case 016: the session id is issued anew at sign-in, a planted or old id
/// leads to the sign-in page, the cookie carries its flags, and the id is
/// dead after sign-out.
#[tokio::test]
async fn session_ids_are_issued_at_sign_in_and_die_at_sign_out() {
    let Some(dovecot) = Dovecot::shared() else {
        return;
    };
    let planted = match support::shared_dir() {
        Some(dir) => {
            let case =
                std::fs::read_to_string(dir.join("cases/016-session-fixation-and-cookie.md"))
                    .expect("case 016 readable");
            assert!(
                case.contains("attackerchosen"),
                "case 016 names the planted value"
            );
            "mf_session=attackerchosen0000000000000000".to_owned()
        }
        None => return,
    };
    let (user, password) = dovecot.new_user("fixation");
    let node = node_for(dovecot, "fixation").await;
    let raw = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();

    let login_form = raw
        .get(node.url("/login"))
        .header("cookie", &planted)
        .send()
        .await
        .unwrap();
    let set_before: Vec<String> = login_form
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect();
    assert!(
        set_before.iter().all(|c| !c.starts_with("mf_session=")),
        "no session before sign-in"
    );
    let body = login_form.text().await.unwrap();
    let token = body
        .split("name=\"login_token\" value=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap();

    let signed_in = raw
        .post(node.url("/login"))
        .header("cookie", format!("{planted}; mf_login={token}"))
        .form(&[
            ("username", user.as_str()),
            ("password", &password),
            ("login_token", token),
            ("next", ""),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(signed_in.status().as_u16(), 303);
    let issued = signed_in
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .find(|c| c.starts_with("mf_session="))
        .expect("a session cookie is issued");
    assert!(!issued.contains("attackerchosen"));
    for flag in ["HttpOnly", "SameSite=Lax", "Path=/"] {
        assert!(issued.contains(flag), "{flag} in {issued}");
    }
    let session = issued.split(';').next().unwrap().to_owned();

    let with_planted = raw
        .get(node.url("/mail/INBOX"))
        .header("cookie", &planted)
        .send()
        .await
        .unwrap();
    assert_eq!(
        with_planted.status().as_u16(),
        303,
        "the planted id is nobody's session"
    );
    let with_issued = raw
        .get(node.url("/mail/INBOX"))
        .header("cookie", &session)
        .send()
        .await
        .unwrap();
    assert_eq!(with_issued.status().as_u16(), 200);
    let page = with_issued.text().await.unwrap();
    let csrf = page
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_owned();

    let out = raw
        .post(node.url("/logout"))
        .header("cookie", &session)
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(out.status().as_u16(), 303);
    let replay = raw
        .get(node.url("/mail/INBOX"))
        .header("cookie", &session)
        .send()
        .await
        .unwrap();
    assert_eq!(replay.status().as_u16(), 303);
    assert!(replay.headers()["location"]
        .to_str()
        .unwrap()
        .starts_with("/login"));
    node.stop().await;
}
