//! Regression tests for faults found on the message pages: each test pins
//! one fault, against a real Dovecot with the mail it needs appended over
//! IMAP.

mod app;
mod support;

use app::{settings_for, Browser, Node, Page};
use support::Dovecot;

/// A plain text message with the given subject and body.
fn text_message(subject: &str, body: &str) -> Vec<u8> {
    format!(
        "From: Sender <sender@example.org>\r\nTo: reader@example.org\r\nSubject: {subject}\r\n\
         Date: Fri, 01 Mar 2024 10:00:00 +0000\r\nMessage-ID: <one@example.org>\r\n\
         MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n"
    )
    .into_bytes()
}

/// A new user whose INBOX holds `messages`, in that order.
fn user_with(dovecot: &Dovecot, prefix: &str, messages: &[Vec<u8>]) -> (String, String) {
    let (user, password) = dovecot.new_user(prefix);
    let mut client = dovecot.client(&user, &password);
    for message in messages {
        client.append("INBOX", "()", None, message);
    }
    client.logout();
    (user, password)
}

/// A signed-in browser on a fresh node, and the addresses of the INBOX's
/// messages, newest first.
async fn reader(
    dovecot: &Dovecot,
    name: &str,
    messages: &[Vec<u8>],
) -> (Node, Browser, Vec<String>) {
    let (user, password) = user_with(dovecot, name, messages);
    let node = Node::start(settings_for(dovecot, &app::scratch_dir(name))).await;
    let browser = Browser::signed_in(&node.base, &user, &password).await;
    let list = browser.get("/mail/INBOX").await;
    assert_eq!(list.status, 200, "{}", list.text());
    let urls = list
        .attrs("td.subject a", "href")
        .into_iter()
        .map(|url| url.split('?').next().unwrap_or_default().to_owned())
        .collect();
    (node, browser, urls)
}

fn assert_message_not_found(page: &Page, what: &str) {
    assert_eq!(page.status, 404, "{what}: {}", page.text());
    let content_type = page.headers.get("content-type").expect("a content type");
    assert!(
        content_type
            .to_str()
            .unwrap_or_default()
            .starts_with("text/html"),
        "{what}: {content_type:?}"
    );
    assert!(
        page.text().contains("Message not found"),
        "{what}: {}",
        page.text()
    );
}

#[tokio::test]
async fn unreadable_message_addresses_get_the_message_not_found_page() {
    let Some(dovecot) = Dovecot::shared() else {
        return;
    };
    let one = text_message("plain", "hello");
    let (node, browser, urls) = reader(dovecot, "badpaths", &[one]).await;
    let message = &urls[0];
    let uidvalidity = message.split('/').nth(3).expect("a UIDVALIDITY segment");

    let mut asked = Vec::new();
    for uid in ["-1", "4294967296", "abc", "1.5"] {
        for tail in [
            "",
            "/body",
            "/source",
            "/part/1",
            "/part/1/view",
            "/part/1/body",
        ] {
            asked.push(format!("/mail/INBOX/{uidvalidity}/{uid}{tail}"));
        }
    }
    for tail in ["", "/body", "/source", "/part/1", "/part/1/view"] {
        asked.push(format!("/mail/INBOX/abc/1{tail}"));
        asked.push(format!("/mail/INBOX/-1/1{tail}"));
    }
    for path in &asked {
        assert_message_not_found(&browser.get(path).await, path);
    }

    let form = browser.get(message).await;
    let csrf = form
        .field("csrf")
        .expect("the message page has a CSRF field");
    for path in ["/mail/INBOX/abc/1/actions", "/mail/INBOX/1/-1/actions"] {
        let answer = browser
            .post(path, &[("csrf", &csrf), ("action", "read")])
            .await;
        assert_message_not_found(&answer, path);
    }
    node.stop().await;
}

#[tokio::test]
async fn a_repeated_query_field_shows_the_message_as_if_asked_plainly() {
    let Some(dovecot) = Dovecot::shared() else {
        return;
    };
    let one = text_message("twice asked", "hello");
    let (node, browser, urls) = reader(dovecot, "dupquery", &[one]).await;
    let message = &urls[0];

    let page = browser.get(&format!("{message}?page=1&page=2")).await;
    assert_eq!(page.status, 200, "{}", page.text());
    assert_eq!(page.texts("h1.subject"), vec!["twice asked"]);
    let body = browser
        .get(&format!("{message}/body?remote=1&remote=2"))
        .await;
    assert_eq!(body.status, 200, "{}", body.text());
    let part = browser
        .get(&format!("{message}/part/1?inline=1&inline=2"))
        .await;
    assert_eq!(part.status, 200, "{}", part.text());
    node.stop().await;
}

/// An HTML message with one remote image.
fn html_with_remote_image() -> Vec<u8> {
    b"From: Shop <shop@example.org>\r\nTo: reader@example.org\r\nSubject: remote image\r\n\
      Date: Fri, 01 Mar 2024 10:00:00 +0000\r\nMIME-Version: 1.0\r\n\
      Content-Type: text/html; charset=utf-8\r\n\r\n\
      <p>Hello</p><img src=\"https://tracker.example.org/pixel.png\" alt=\"\">\r\n"
        .to_vec()
}

/// A GET sent with the `Sec-Fetch-Site` a browser would add.
async fn get_from(browser: &Browser, path: &str, site: &str) -> Page {
    let response = browser
        .client
        .get(format!("{}{path}", browser.base))
        .header("sec-fetch-site", site)
        .send()
        .await
        .expect("GET answered");
    app::read(response).await
}

fn policy(page: &Page) -> String {
    let value = page.headers.get("content-security-policy");
    value
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test]
async fn remote_content_is_shown_only_when_asked_from_this_site() {
    let Some(dovecot) = Dovecot::shared() else {
        return;
    };
    let (node, browser, urls) = reader(dovecot, "remotesite", &[html_with_remote_image()]).await;
    let message = &urls[0];
    let shown = "Remote images of this message are shown";

    for site in ["cross-site", "same-site"] {
        let page = get_from(&browser, &format!("{message}?remote=1"), site).await;
        assert_eq!(page.status, 200, "{}", page.text());
        assert!(!page.text().contains(shown), "{site}");
        assert_eq!(
            page.attrs("iframe.body-frame", "src"),
            vec![format!("{message}/body")]
        );
        let body = get_from(&browser, &format!("{message}/body?remote=1"), site).await;
        assert!(
            !policy(&body).contains("https:"),
            "{site}: {}",
            policy(&body)
        );
    }

    let page = get_from(&browser, &format!("{message}?remote=1"), "same-origin").await;
    assert!(page.text().contains(shown));
    let frame = format!("{message}/body?remote=1");
    assert_eq!(page.attrs("iframe.body-frame", "src"), vec![frame.clone()]);
    let body = get_from(&browser, &frame, "same-origin").await;
    assert!(policy(&body).contains("https:"), "{}", policy(&body));
    let plain = browser.get(&format!("{message}?remote=1")).await;
    assert!(
        plain.text().contains(shown),
        "no Sec-Fetch-Site is taken as this site"
    );
    node.stop().await;
}

#[tokio::test]
async fn a_huge_subject_is_shortened_in_the_heading_and_the_title() {
    let Some(dovecot) = Dovecot::shared() else {
        return;
    };
    let words = "lorem ipsum ".repeat(200_000 / 12);
    let subject: String = words
        .as_bytes()
        .chunks(60)
        .map(|line| String::from_utf8_lossy(line).into_owned())
        .collect::<Vec<_>>()
        .join("\r\n ");
    let huge = text_message(&subject, "hello");
    let (node, browser, urls) = reader(dovecot, "hugesubject", &[huge]).await;

    let page = browser.get(&urls[0]).await;
    assert_eq!(page.status, 200, "{}", page.text());
    let heading = page.texts("h1.subject").concat();
    assert!(heading.starts_with("lorem ipsum"), "{heading}");
    assert!(heading.ends_with('…'), "{heading}");
    assert!(heading.chars().count() <= 301, "{}", heading.len());
    let title = page.texts("title").concat();
    assert!(title.chars().count() <= 320, "{}", title.len());
    assert!(
        page.body.len() < 50_000,
        "page of {} bytes",
        page.body.len()
    );

    let source = browser.get(&format!("{}/source", urls[0])).await;
    assert!(
        source.body.len() > 200_000,
        "the source keeps the whole subject"
    );
    node.stop().await;
}

/// A message whose attachment name and subject carry a right-to-left
/// override, so that the name reads as a PDF while it ends in `.exe`.
fn disguised_attachment() -> Vec<u8> {
    b"From: =?UTF-8?Q?Billing=E2=80=AE?= <billing@example.org>\r\n\
      To: reader@example.org\r\nSubject: =?UTF-8?Q?Your_invoice=E2=80=AEfdp.exe?=\r\n\
      Date: Fri, 01 Mar 2024 10:00:00 +0000\r\nMIME-Version: 1.0\r\n\
      Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n\
      --b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nSee attached.\r\n\
      --b\r\nContent-Type: application/octet-stream\r\n\
      Content-Disposition: attachment; filename*=UTF-8''invoice%E2%80%AEfdp%E2%80%8B.exe\r\n\
      Content-Transfer-Encoding: base64\r\n\r\nTVqQAA==\r\n--b--\r\n"
        .to_vec()
}

#[tokio::test]
async fn a_direction_override_cannot_disguise_an_attachment_name() {
    let Some(dovecot) = Dovecot::shared() else {
        return;
    };
    let (node, browser, urls) = reader(dovecot, "bidiname", &[disguised_attachment()]).await;
    let message = &urls[0];
    let list = browser.get("/mail/INBOX").await;
    assert_eq!(
        list.texts("td.subject a bdi").len(),
        1,
        "the list isolates subjects"
    );
    assert_eq!(
        list.texts("td.person bdi").len(),
        1,
        "the list isolates senders"
    );

    let page = browser.get(message).await;
    assert_eq!(page.status, 200, "{}", page.text());
    assert!(!page.text().contains('\u{202E}'), "{}", page.text());
    assert!(!page.text().contains('\u{200B}'));
    assert_eq!(page.texts("ul.attachments a bdi"), vec!["invoicefdp.exe"]);
    assert_eq!(page.texts("h1.subject bdi"), vec!["Your invoicefdp.exe"]);
    assert_eq!(
        page.texts("dl.headers dd bdi").first().map(String::as_str),
        Some("Billing <billing@example.org>")
    );

    let download = page.attrs("ul.attachments a[download]", "href");
    let part = browser.get(&download[0]).await;
    assert_eq!(part.status, 200);
    let disposition = part
        .headers
        .get("content-disposition")
        .expect("a disposition");
    let disposition = disposition.to_str().expect("an ASCII header");
    assert!(
        disposition.contains("filename*=UTF-8''invoicefdp.exe"),
        "{disposition}"
    );
    assert!(!disposition.contains("%E2%80"), "{disposition}");
    node.stop().await;
}

/// A message that forwards `inner` as its second part.
fn forwarding(inner: &str) -> Vec<u8> {
    format!(
        "From: Friend <friend@example.org>\r\nTo: reader@example.org\r\nSubject: Fwd: news\r\n\
         Date: Fri, 01 Mar 2024 10:00:00 +0000\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=\"outer\"\r\n\r\n\
         --outer\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nHave a look.\r\n\
         --outer\r\nContent-Type: message/rfc822\r\n\r\n{inner}\r\n--outer--\r\n"
    )
    .into_bytes()
}

const FORWARDED_HTML: &str = "From: News <news@example.org>\r\nSubject: Weekly news\r\n\
    Date: Thu, 29 Feb 2024 09:00:00 +0000\r\nMIME-Version: 1.0\r\n\
    Content-Type: multipart/mixed; boundary=\"inner\"\r\n\r\n\
    --inner\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nA text block first.\r\n\
    --inner\r\nContent-Type: text/html; charset=utf-8\r\n\r\n\
    <p>The <b>HTML</b> news.</p><script>alert(1)</script>\r\n--inner--";

const FORWARDED_TEXT: &str = "From: News <news@example.org>\r\nSubject: Plain news\r\n\
    Date: Thu, 29 Feb 2024 09:00:00 +0000\r\nMIME-Version: 1.0\r\n\
    Content-Type: text/plain; charset=utf-8\r\n\r\nOnly plain words here.";

#[tokio::test]
async fn a_forwarded_html_message_shows_its_body_in_a_sandboxed_frame() {
    let Some(dovecot) = Dovecot::shared() else {
        return;
    };
    let messages = [forwarding(FORWARDED_TEXT), forwarding(FORWARDED_HTML)];
    let (node, browser, urls) = reader(dovecot, "fwdframe", &messages).await;
    let (html_message, text_message) = (&urls[0], &urls[1]);

    let outer = browser.get(html_message).await;
    assert_eq!(
        outer.attrs("ul.attachments a", "href")[1],
        format!("{html_message}/part/2/view")
    );
    let view = browser.get(&format!("{html_message}/part/2/view")).await;
    assert_eq!(view.status, 200, "{}", view.text());
    assert_eq!(view.texts("h1.subject"), vec!["Weekly news"]);
    let frame = format!("{html_message}/part/2/body");
    assert_eq!(view.attrs("iframe.body-frame", "src"), vec![frame.clone()]);
    assert_eq!(
        view.attrs("iframe.body-frame", "sandbox"),
        vec!["allow-popups allow-popups-to-escape-sandbox"]
    );

    let body = browser.get(&frame).await;
    assert_eq!(body.status, 200, "{}", body.text());
    let message_body = browser.get(&format!("{html_message}/body")).await;
    assert_eq!(policy(&body), policy(&message_body));
    assert!(policy(&body).starts_with("sandbox "), "{}", policy(&body));
    let text = body.texts("body").concat();
    assert!(text.contains("A text block first."), "{text}");
    assert!(text.contains("The HTML news."), "{text}");
    assert!(!body.text().contains("<script"), "{}", body.text());

    let plain = browser.get(&format!("{text_message}/part/2/view")).await;
    assert_eq!(plain.status, 200, "{}", plain.text());
    assert!(plain.attrs("iframe", "src").is_empty());
    assert_eq!(plain.texts("div.body"), vec!["Only plain words here."]);
    let not_a_message = browser.get(&format!("{text_message}/part/1/body")).await;
    assert_eq!(not_a_message.status, 404);
    node.stop().await;
}

/// A file of this package, read as text.
fn package_file(path: &str) -> String {
    let full = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(path);
    std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("{}: {e}", full.display()))
}

#[test]
fn the_action_bar_row_boxes_and_flash_have_styles_on_every_width() {
    let css = package_file("static/style.css");
    let (wide, phone) = css
        .split_once("@media (max-width: 720px)")
        .expect("a phone section");
    let pages = package_file("templates/action_bar.html")
        + &package_file("templates/mailbox.html")
        + &package_file("templates/message.html");

    for class in [
        "actions",
        "list-actions",
        "message-actions",
        "select-all",
        "pick",
        "flash",
    ] {
        assert!(pages.contains(class), "no page uses the class {class}");
        assert!(wide.contains(&format!(".{class}")), "no style for .{class}");
    }
    for rule in [
        ".actions button",
        ".actions select",
        "td.pick {",
        "td.pick input",
    ] {
        assert!(phone.contains(rule), "no phone style for {rule}");
    }
    assert!(!css.contains("<script") && !css.contains("expression("));

    // The fixed table layout takes widths from the header row: the rule
    // for the date column must name the header cell that reads "Date".
    let head = pages.split("<thead>").nth(1).expect("a table head");
    let head = head.split("</thead>").next().unwrap_or_default();
    let date_column = head
        .split("<th")
        .skip(1)
        .position(|cell| cell.contains(">Date"))
        .expect("a Date column")
        + 1;
    let rule = format!("table.messages th:nth-child({date_column}), table.messages td.date");
    assert!(
        wide.contains(&rule),
        "no width rule for the Date column {date_column}"
    );
}
