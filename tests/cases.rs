//! The shared cases about showing mail, appended unchanged to a real Dovecot
//! and opened through mailfront, each beside a fixture of our own for the
//! same kind of fault.

mod app;
mod support;

use app::{settings_for, Browser, Node};
use support::{shared_dir, Dovecot};

/// Appends files to a fresh user's INBOX and returns a signed-in browser,
/// the node, and the UIDs in append order.
async fn open_with(
    dovecot: &Dovecot,
    name: &str,
    messages: &[(Vec<u8>, Option<&str>)],
    zone: Option<&str>,
) -> (Browser, Node, Vec<u32>, u32) {
    let (user, password) = dovecot.new_user(name);
    let mut client = dovecot.client(&user, &password);
    let uids: Vec<u32> = messages
        .iter()
        .map(|(raw, date)| client.append("INBOX", "()", *date, raw))
        .collect();
    client.logout();

    let data = app::scratch_dir(name);
    let mut layer = settings_for(dovecot, &data);
    layer.time_zone = zone.map(str::to_owned);
    let node = Node::start(layer).await;
    let browser = Browser::signed_in(&node.base, &user, &password).await;
    let list = browser.get("/mail/INBOX").await;
    let href = list
        .attrs("td.subject a", "href")
        .into_iter()
        .next()
        .expect("a row");
    let uidvalidity: u32 = href.split('/').nth(3).unwrap().parse().unwrap();
    (browser, node, uids, uidvalidity)
}

fn case(name: &str) -> Option<Vec<u8>> {
    let dir = shared_dir()?;
    Some(std::fs::read(dir.join("cases").join(name)).expect("case file readable"))
}

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(support::workspace_root().join("tests/fixtures").join(name))
        .expect("fixture readable")
}

#[tokio::test]
async fn split_encoded_words_read_whole_in_list_and_view() {
    let Some(dovecot) = Dovecot::shared() else {
        return;
    };
    let Some(sample) = case("001-encoded-word-split-utf8.eml") else {
        return;
    };
    let ours = fixture("split-encoded-word-latin1.eml");
    let (browser, node, uids, validity) =
        open_with(dovecot, "case001", &[(sample, None), (ours, None)], None).await;

    let list = browser.get("/mail/INBOX").await;
    let subjects = list.texts("td.subject");
    let people = list.texts("td.person");
    assert!(
        subjects.contains(&"Einladung: Prüfungsplan für nächste Woche".to_owned()),
        "{subjects:?}"
    );
    assert!(people.contains(&"Jürgen Müller".to_owned()), "{people:?}");
    assert!(
        subjects.contains(&"Größenänderung erledigt".to_owned()),
        "{subjects:?}"
    );
    assert!(!list.text().contains('\u{FFFD}') && !list.text().contains("=?"));

    let view = browser
        .get(&format!("/mail/INBOX/{validity}/{}", uids[0]))
        .await;
    assert_eq!(
        view.texts("h1.subject"),
        vec!["Einladung: Prüfungsplan für nächste Woche"]
    );
    assert!(view.texts("dl.headers dd")[0].starts_with("Jürgen Müller"));
    node.stop().await;
}

#[tokio::test]
async fn rfc2231_filenames_download_under_their_real_names() {
    let Some(dovecot) = Dovecot::shared() else {
        return;
    };
    let Some(sample) = case("002-rfc2231-filename-continuation.eml") else {
        return;
    };
    let (browser, node, uids, validity) =
        open_with(dovecot, "case002", &[(sample, None)], None).await;

    let view = browser
        .get(&format!("/mail/INBOX/{validity}/{}", uids[0]))
        .await;
    let names = view.texts("ul.attachments li a[download]");
    assert_eq!(
        names,
        vec![
            "Quartalsbericht Übersicht € Ausgaben.pdf",
            "100% sicher (v2).txt"
        ]
    );

    let hrefs = view.attrs("ul.attachments li a[download]", "href");
    let download = browser.get(&hrefs[1]).await;
    assert_eq!(download.status, 200);
    let disposition = download.headers["content-disposition"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(disposition.starts_with("attachment"), "{disposition}");
    assert!(
        disposition.contains("filename*=UTF-8''100%25%20sicher%20%28v2%29.txt"),
        "{disposition}"
    );
    assert!(!disposition.contains('\r') && !disposition.contains('\n'));
    node.stop().await;
}

#[tokio::test]
async fn a_multipart_without_its_closing_boundary_shows_body_and_attachment() {
    let Some(dovecot) = Dovecot::shared() else {
        return;
    };
    let Some(sample) = case("003-multipart-missing-close-boundary.eml") else {
        return;
    };
    let ours = fixture("alternative-truncated.eml");
    let (browser, node, uids, validity) =
        open_with(dovecot, "case003", &[(sample, None), (ours, None)], None).await;

    let view = browser
        .get(&format!("/mail/INBOX/{validity}/{}", uids[0]))
        .await;
    assert_eq!(view.status, 200);
    assert!(!view.texts("div.body").concat().trim().is_empty());
    let links = view.attrs("ul.attachments li a[download]", "href");
    let names = view.texts("ul.attachments li a[download]");
    assert_eq!(names, vec!["notes.txt"]);
    let notes = browser.get(&links[0]).await;
    assert_eq!(
        notes.text().trim_end().lines().count(),
        3,
        "{}",
        notes.text()
    );

    let base = format!("/mail/INBOX/{validity}/{}", uids[1]);
    let truncated = browser.get(&base).await;
    assert_eq!(truncated.status, 200);
    assert!(
        !truncated.texts("p.notice").is_empty(),
        "the damage is flagged"
    );
    let body = browser.get(&format!("{base}/body")).await;
    let shown = body.text();
    assert!(
        shown.contains("The plain part survives") || shown.contains("The HTML part is cut off"),
        "{shown}"
    );
    node.stop().await;
}

#[tokio::test]
async fn a_message_without_a_date_shows_its_arrival_date_in_list_and_view() {
    let Some(dovecot) = Dovecot::shared() else {
        return;
    };
    let Some(sample) = case("004-no-date-header.eml") else {
        return;
    };
    let ours = fixture("unreadable-date.eml");
    let messages = [
        (sample, Some("14-Mar-2024 09:30:00 +0000")),
        (ours, Some("02-Feb-2025 08:15:00 +0000")),
    ];
    let (browser, node, uids, validity) = open_with(dovecot, "case004", &messages, None).await;

    let list = browser.get("/mail/INBOX?sort=arrival-desc").await;
    let dates = list.texts("td.date");
    assert_eq!(dates, vec!["2 Feb 2025 08:15", "14 Mar 2024 09:30"]);

    for _ in 0..2 {
        let view = browser
            .get(&format!("/mail/INBOX/{validity}/{}", uids[0]))
            .await;
        assert!(view.text().contains("14 Mar 2024 09:30"), "{}", view.text());
    }
    let by_date = browser.get("/mail/INBOX?sort=date-asc").await;
    assert_eq!(
        by_date.texts("td.date"),
        vec!["14 Mar 2024 09:30", "2 Feb 2025 08:15"]
    );
    node.stop().await;
}

#[tokio::test]
async fn a_date_with_a_comment_shows_in_the_users_zone() {
    let Some(dovecot) = Dovecot::shared() else {
        return;
    };
    let Some(sample) = case("005-date-comment-timezone.eml") else {
        return;
    };
    let ours = fixture("date-obsolete-zone.eml");
    let (browser, node, uids, validity) = open_with(
        dovecot,
        "case005",
        &[(sample, None), (ours, None)],
        Some("+02:00"),
    )
    .await;

    let list = browser.get("/mail/INBOX").await;
    let dates = list.texts("td.date");
    assert!(dates.contains(&"6 Jun 2024 12:27".to_owned()), "{dates:?}");
    assert!(dates.contains(&"1 Jul 2024 17:00".to_owned()), "{dates:?}");
    let view = browser
        .get(&format!("/mail/INBOX/{validity}/{}", uids[0]))
        .await;
    assert!(view.text().contains("6 Jun 2024 12:27 +02:00"));
    node.stop().await;
}

#[tokio::test]
async fn forwarded_messages_without_names_are_listed_and_open() {
    let Some(dovecot) = Dovecot::shared() else {
        return;
    };
    let Some(sample) = case("015-forwarded-rfc822-no-filename.eml") else {
        return;
    };
    let (browser, node, uids, validity) =
        open_with(dovecot, "case015", &[(sample, None)], None).await;

    let view = browser
        .get(&format!("/mail/INBOX/{validity}/{}", uids[0]))
        .await;
    let names = view.texts("ul.attachments li a[download]");
    assert!(
        names.contains(&"Budget question.eml".to_owned()),
        "{names:?}"
    );
    assert!(
        names.contains(&"Re: Budget question.eml".to_owned()),
        "{names:?}"
    );
    assert!(
        view.text().contains("Frank"),
        "the forwarder's own text stays"
    );

    let opens = view.attrs("ul.attachments li a:not([download])", "href");
    assert_eq!(opens.len(), 2);
    let mut csv_downloads = 0;
    for href in &opens {
        let inner = browser.get(href).await;
        assert_eq!(inner.status, 200, "{href}");
        let inner_names = inner.texts("ul.attachments li a[download]");
        let inner_links = inner.attrs("ul.attachments li a[download]", "href");
        for (name, link) in inner_names.iter().zip(inner_links) {
            if name == "budget.csv" {
                let download = browser.get(&link).await;
                assert_eq!(download.status, 200);
                assert!(String::from_utf8_lossy(&download.body).contains(','));
                csv_downloads += 1;
            }
        }
    }
    assert_eq!(
        csv_downloads, 1,
        "budget.csv inside the first forwarded message downloads"
    );
    node.stop().await;
}

/// A text/html message whose body is `html`.
fn html_message(subject: &str, html: &[u8]) -> Vec<u8> {
    let mut message = format!(
        "From: Sender <sender@example.org>\r\nTo: reader@example.org\r\nSubject: {subject}\r\n\
         Date: Tue, 5 Mar 2024 10:00:00 +0000\r\nMIME-Version: 1.0\r\n\
         Content-Type: text/html; charset=utf-8\r\n\r\n"
    )
    .into_bytes();
    message.extend_from_slice(html);
    message
}

#[tokio::test]
async fn unknown_tags_keep_their_text_in_the_sandboxed_body() {
    let Some(dovecot) = Dovecot::shared() else {
        return;
    };
    let Some(sample) = case("017-unknown-tags-keep-text.html") else {
        return;
    };
    let ours = html_message(
        "Vendor markup",
        b"<mso:wrapper><st1:place>KEEP A: smart tag text.</st1:place></mso:wrapper>\
          <my-widget><span>KEEP B: widget text.</span></my-widget>\
          <object data=\"x.swf\">HIDE-OR-KEEP fallback</object><iframe src=\"https://x.invalid/\">HIDE C</iframe>",
    );
    let messages = [(html_message("Case 017", &sample), None), (ours, None)];
    let (browser, node, uids, validity) = open_with(dovecot, "case017", &messages, None).await;

    let base = format!("/mail/INBOX/{validity}/{}", uids[0]);
    let view = browser.get(&base).await;
    assert_eq!(
        view.attrs("iframe.body-frame", "src"),
        vec![format!("{base}/body")]
    );
    assert!(view.attrs("iframe.body-frame", "sandbox")[0]
        .split(' ')
        .all(|t| t != "allow-scripts"));

    let body = browser.get(&format!("{base}/body")).await;
    let policy = body.headers["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        policy.contains("sandbox") && policy.contains("default-src 'none'"),
        "{policy}"
    );
    let text = body.text();
    for n in 1..=5 {
        assert!(
            text.contains(&format!("KEEP {n}:")),
            "KEEP {n} missing from {text}"
        );
    }
    assert!(
        !text.contains("HIDE: title") && !text.contains("HIDE: script"),
        "{text}"
    );
    assert!(!text.to_ascii_lowercase().contains("<script"), "{text}");

    let ours = browser
        .get(&format!("/mail/INBOX/{validity}/{}/body", uids[1]))
        .await;
    let text = ours.text();
    assert!(
        text.contains("KEEP A: smart tag text.") && text.contains("KEEP B: widget text."),
        "{text}"
    );
    assert!(
        !text.contains("HIDE C") && !text.contains("x.invalid"),
        "{text}"
    );
    node.stop().await;
}

#[tokio::test]
async fn remote_images_load_only_on_request_and_inline_images_always() {
    let Some(dovecot) = Dovecot::shared() else {
        return;
    };
    let png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x06\0\0\0\x1f\x15\xc4\x89";
    let related = format!(
        "From: Shop <shop@example.org>\r\nTo: reader@example.org\r\nSubject: Newsletter\r\n\
         Date: Tue, 5 Mar 2024 10:00:00 +0000\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/related; boundary=\"rel\"\r\n\r\n--rel\r\n\
         Content-Type: text/html; charset=utf-8\r\n\r\n\
         <p>Hello</p><img src=\"cid:logo@shop\" alt=\"logo\">\
         <img src=\"https://tracker.invalid/pixel.png\" alt=\"pixel\">\r\n--rel\r\n\
         Content-Type: image/png\r\nContent-ID: <logo@shop>\r\nContent-Transfer-Encoding: base64\r\n\r\n{}\r\n--rel--\r\n",
        base64_encode(png)
    );
    let (browser, node, uids, validity) =
        open_with(dovecot, "remote", &[(related.into_bytes(), None)], None).await;

    let base = format!("/mail/INBOX/{validity}/{}", uids[0]);
    let view = browser.get(&base).await;
    let frame = browser
        .get(&view.attrs("iframe.body-frame", "src")[0])
        .await;
    assert!(
        !frame.text().contains("tracker.invalid"),
        "{}",
        frame.text()
    );
    let inline = frame.attrs("img", "src");
    assert_eq!(inline.len(), 1, "{inline:?}");
    let logo = browser.get(&inline[0]).await;
    assert_eq!(logo.status, 200);
    assert_eq!(logo.body, png.to_vec());

    let show = view.attrs("p.remote a", "href");
    assert_eq!(show.len(), 1, "a link offers remote content");
    let with_remote = browser.get(&show[0]).await;
    let frame_src = with_remote.attrs("iframe.body-frame", "src")[0].clone();
    assert!(frame_src.ends_with("?remote=1"));
    let frame = browser.get(&frame_src).await;
    assert!(frame.text().contains("https://tracker.invalid/pixel.png"));
    let policy = frame.headers["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        policy.contains("img-src 'self' data: https:") && policy.contains("default-src 'none'")
    );
    node.stop().await;
}

fn base64_encode(bytes: &[u8]) -> String {
    const TABLE: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | u32::from(*b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(TABLE[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}
