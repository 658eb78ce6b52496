//! Writing and sending mail through the pages: compose, reply, reply all,
//! forward, attachments, drafts, and what a failed or repeated send does.
//!
//! Mail goes through the real submission service of a private Dovecot
//! (`scripts/dovecot start --relay-port`), which relays it to an SMTP sink
//! on 127.0.0.1 that keeps every message byte for byte; the copies in Sent
//! and Drafts and the marks on originals are read back over IMAP. A full
//! mailbox, which Dovecot will not simulate without its quota plugin, is
//! played by the scripted fake IMAP server.

mod app;
mod fake_imap;
mod support;

use std::sync::OnceLock;
use std::time::Duration;

use app::{settings_for, Browser, Node, Page};
use fake_imap::{FakeImap, FakeMailbox, Rule, Script};
use mailfront::config::SettingsLayer;
use support::{CapturedMessage, Dovecot, SmtpCapture};

/// One Dovecot with submission and its sink, shared by the tests of this
/// binary; each test uses its own user and its own subjects.
struct Rig {
    capture: SmtpCapture,
    dovecot: Dovecot,
}

fn rig() -> Option<&'static Rig> {
    static RIG: OnceLock<Option<Rig>> = OnceLock::new();
    RIG.get_or_init(|| {
        let capture = SmtpCapture::start();
        let dovecot = Dovecot::start_private_with_submission(capture.port)?;
        Some(Rig { capture, dovecot })
    })
    .as_ref()
}

/// A node that sends through the rig's submission port.
async fn node_for(rig: &Rig, name: &str, max_upload: Option<usize>) -> Node {
    let data = app::scratch_dir(name);
    let port = rig
        .dovecot
        .submission_port
        .expect("the rig's Dovecot runs submission");
    let mut layer = settings_for(&rig.dovecot, &data);
    layer.smtp_server = Some(format!("smtp+insecure://127.0.0.1:{port}"));
    layer.max_upload_bytes = max_upload;
    Node::start(layer).await
}

/// The form's fields as a browser would post them, with changes.
fn form_fields(page: &Page, changes: &[(&str, &str)]) -> Vec<(String, String)> {
    let html = page.html();
    let inputs = scraper::Selector::parse("form.compose input, form.compose textarea").unwrap();
    let mut fields = Vec::new();
    for element in html.select(&inputs) {
        let value = element.value();
        let Some(name) = value.attr("name") else {
            continue;
        };
        if matches!(value.attr("type"), Some("file" | "checkbox")) {
            continue;
        }
        let text = if value.name() == "textarea" {
            element.text().collect::<String>()
        } else {
            value.attr("value").unwrap_or_default().to_owned()
        };
        fields.push((name.to_owned(), text));
    }
    for (name, text) in changes {
        match fields.iter_mut().find(|(n, _)| n == name) {
            Some(field) => field.1 = (*text).to_owned(),
            None => fields.push(((*name).to_owned(), (*text).to_owned())),
        }
    }
    fields
}

/// Posts the compose form as multipart/form-data with files.
async fn post_compose(
    browser: &Browser,
    fields: &[(String, String)],
    files: &[(&str, &str, Vec<u8>)],
) -> Page {
    let mut form = reqwest::multipart::Form::new();
    for (name, value) in fields {
        form = form.text(name.clone(), value.clone());
    }
    for (name, content_type, data) in files {
        let part = reqwest::multipart::Part::bytes(data.clone())
            .file_name((*name).to_owned())
            .mime_str(content_type)
            .unwrap();
        form = form.part("attachment", part);
    }
    let response = browser
        .client
        .post(format!("{}/compose", browser.base))
        .multipart(form)
        .send()
        .await
        .expect("POST answered");
    app::read(response).await
}

/// The message the sink received with this subject (as sent, encoded or
/// not), waiting up to 10 s.
fn captured_with(rig: &Rig, subject_marker: &str) -> CapturedMessage {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let found = rig
            .capture
            .messages()
            .into_iter()
            .find(|m| decoded_subject(m).contains(subject_marker));
        if let Some(message) = found {
            return message;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no message with subject {subject_marker:?} reached the sink"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn count_captured(rig: &Rig, subject_marker: &str) -> usize {
    rig.capture
        .messages()
        .iter()
        .filter(|m| decoded_subject(m).contains(subject_marker))
        .count()
}

fn decoded_subject(message: &CapturedMessage) -> String {
    mailparse::parse_mail(&message.data)
        .ok()
        .and_then(|parsed| {
            parsed
                .headers
                .iter()
                .find(|h| h.get_key_ref().eq_ignore_ascii_case("subject"))
                .map(|h| h.get_value())
        })
        .unwrap_or_default()
}

/// Messages of a folder as the server has them: (flags, raw bytes).
fn folder_messages(
    dovecot: &Dovecot,
    user: &str,
    password: &str,
    folder: &str,
) -> Vec<(String, String)> {
    let mut client = dovecot.client(user, password);
    let mut out = Vec::new();
    if client.select(folder) > 0 {
        let lines = client
            .command("UID FETCH 1:* (FLAGS BODY.PEEK[])")
            .expect("fetch");
        for line in lines.iter().filter(|l| l.contains(" FETCH ")) {
            let flags = line
                .split("FLAGS (")
                .nth(1)
                .and_then(|rest| rest.split(')').next())
                .unwrap_or_default()
                .to_owned();
            out.push((flags, line.clone()));
        }
    }
    client.logout();
    out
}

/// Flags of the messages of a folder.
fn folder_flags(dovecot: &Dovecot, user: &str, password: &str, folder: &str) -> Vec<String> {
    folder_messages(dovecot, user, password, folder)
        .into_iter()
        .map(|(flags, _)| flags)
        .collect()
}

/// Appends a message and returns the UIDVALIDITY and UID of INBOX's
/// newest message.
fn deliver(dovecot: &Dovecot, user: &str, password: &str, raw: &str) -> (u32, u32) {
    let mut client = dovecot.client(user, password);
    client.append("INBOX", "()", None, raw.as_bytes());
    client.select("INBOX");
    let status = client
        .command("STATUS INBOX (UIDVALIDITY UIDNEXT)")
        .expect("status");
    client.logout();
    let line = status
        .iter()
        .find(|l| l.contains("UIDVALIDITY"))
        .expect("status line");
    let number = |key: &str| -> u32 {
        line.split(key)
            .nth(1)
            .and_then(|rest| rest.trim().split([' ', ')']).next())
            .and_then(|n| n.parse().ok())
            .expect("a number")
    };
    (number("UIDVALIDITY"), number("UIDNEXT") - 1)
}

#[tokio::test]
async fn a_sent_message_arrives_as_written_and_a_copy_is_kept_in_sent() {
    let Some(rig) = rig() else {
        return;
    };
    let (user, password) = rig.dovecot.new_user("send-plain");
    let node = node_for(rig, "send-plain", None).await;
    let browser = Browser::signed_in(&node.base, &user, &password).await;

    let inbox = browser.get("/mail/INBOX").await;
    assert!(inbox
        .attrs("a.compose-link", "href")
        .contains(&"/compose".to_owned()));
    let form = browser.get("/compose").await;
    assert_eq!(form.status, 200, "{}", form.text());
    let message_id = form.field("message_id").expect("a Message-ID is chosen");
    // Larger than the 64 KiB every other form may be: the compose form has
    // its own limit.
    let attachment: Vec<u8> = (0..=255u8).cycle().take(300_000).collect();
    let fields = form_fields(
        &form,
        &[
            ("to", "Bob Example <bob@example.org>"),
            ("cc", "carol@example.org"),
            ("bcc", "hidden@example.org"),
            ("subject", "Grüße aus Köln send-plain"),
            (
                "body",
                "Hello Bob,\r\nsee the file.\r\n.\r\nA line with a dot.",
            ),
            ("action", "send"),
        ],
    );
    let sent = post_compose(
        &browser,
        &fields,
        &[(
            "Bericht-ä.bin",
            "application/octet-stream",
            attachment.clone(),
        )],
    )
    .await;
    assert_eq!(sent.status, 303, "{}", sent.text());
    assert_eq!(sent.location.as_deref(), Some("/mail/INBOX"));
    let after = browser.get("/mail/INBOX").await;
    assert!(after.text().contains("Message sent"), "{}", after.text());

    let message = captured_with(rig, "send-plain");
    let sender = format!("{user}@localhost");
    assert_eq!(message.mail_from, sender);
    let mut recipients = message.recipients.clone();
    recipients.sort();
    assert_eq!(
        recipients,
        ["bob@example.org", "carol@example.org", "hidden@example.org"]
    );
    assert_eq!(message.header("From").as_deref(), Some(sender.as_str()));
    assert!(message.header("To").unwrap().contains("<bob@example.org>"));
    assert_eq!(message.header("Message-ID"), Some(message_id.clone()));
    assert!(message.header("Date").is_some());
    assert!(
        message.header("Bcc").is_none(),
        "Bcc shows in the sent message"
    );
    let subject = message.header("Subject").unwrap();
    assert!(
        subject.starts_with("=?utf-8?"),
        "subject not encoded: {subject}"
    );
    assert!(message.data.is_ascii(), "the message holds raw 8-bit bytes");

    let parsed = mailparse::parse_mail(&message.data).unwrap();
    assert_eq!(parsed.subparts.len(), 2);
    let text = parsed.subparts[0].get_body().unwrap();
    assert_eq!(
        text,
        "Hello Bob,\r\nsee the file.\r\n.\r\nA line with a dot."
    );
    let file = &parsed.subparts[1];
    assert_eq!(
        file.get_content_disposition()
            .params
            .get("filename")
            .map(String::as_str),
        Some("Bericht-ä.bin")
    );
    assert_eq!(file.get_body_raw().unwrap(), attachment);

    let sent_copies = folder_messages(&rig.dovecot, &user, &password, "Sent");
    assert_eq!(sent_copies.len(), 1);
    assert!(sent_copies[0].0.contains("\\Seen"));
    assert!(
        sent_copies[0].1.contains("hidden@example.org"),
        "the own copy keeps Bcc"
    );
    node.stop().await;
}

#[tokio::test]
async fn reply_all_answers_the_thread_and_marks_the_original_answered() {
    let Some(rig) = rig() else {
        return;
    };
    let (user, password) = rig.dovecot.new_user("reply");
    let own = format!("{user}@localhost");
    let original = format!(
        "From: Carol <carol@example.org>\r\nTo: {own}, dave@example.org\r\n\
         Cc: erin@example.org\r\nSubject: Lunch plans\r\nDate: Fri, 01 Mar 2024 10:00:00 +0000\r\n\
         Message-ID: <orig-1@example.org>\r\nReferences: <root@example.org>\r\n\r\n\
         Shall we meet at noon?\r\nBring the map.\r\n"
    );
    let (uidvalidity, uid) = deliver(&rig.dovecot, &user, &password, &original);
    let node = node_for(rig, "reply", None).await;
    let browser = Browser::signed_in(&node.base, &user, &password).await;

    let shown = browser
        .get(&format!("/mail/INBOX/{uidvalidity}/{uid}"))
        .await;
    let links = shown.attrs("nav.compose-links a", "href");
    let reply_all = links
        .iter()
        .find(|l| l.contains("mode=reply-all"))
        .expect("a reply-all link");
    let form = browser.get(reply_all).await;
    assert_eq!(form.status, 200, "{}", form.text());
    let to = form.field("to").unwrap();
    let cc = form.field("cc").unwrap();
    assert!(to.contains("carol@example.org"), "{to}");
    assert!(
        cc.contains("dave@example.org") && cc.contains("erin@example.org"),
        "{cc}"
    );
    assert!(
        !to.contains(&own) && !cc.contains(&own),
        "own address kept: {to} / {cc}"
    );
    assert_eq!(form.field("subject").as_deref(), Some("Re: Lunch plans"));
    let body = form.texts("textarea[name=body]").join("");
    assert!(
        body.contains("wrote:") && body.contains("> Shall we meet at noon?"),
        "{body}"
    );

    let fields = form_fields(
        &form,
        &[
            ("subject", "Re: Lunch plans reply-test"),
            ("action", "send"),
        ],
    );
    let sent = post_compose(&browser, &fields, &[]).await;
    assert_eq!(sent.status, 303, "{}", sent.text());

    let message = captured_with(rig, "reply-test");
    assert_eq!(
        message.header("In-Reply-To").as_deref(),
        Some("<orig-1@example.org>")
    );
    assert_eq!(
        message.header("References").as_deref(),
        Some("<root@example.org> <orig-1@example.org>")
    );
    assert!(message.text().contains("> Bring the map."));
    let flags = folder_flags(&rig.dovecot, &user, &password, "INBOX");
    assert!(flags[0].contains("\\Answered"), "{flags:?}");

    let again = browser.get(reply_all).await;
    let fields = form_fields(&again, &[]);
    assert_eq!(
        fields
            .iter()
            .find(|(n, _)| n == "subject")
            .map(|(_, v)| v.as_str()),
        Some("Re: Lunch plans"),
        "Re: is not doubled"
    );
    node.stop().await;
}

#[tokio::test]
async fn forwarding_carries_the_attachments_and_marks_the_original_forwarded() {
    let Some(rig) = rig() else {
        return;
    };
    let (user, password) = rig.dovecot.new_user("forward");
    let original = "From: Frank <frank@example.org>\r\nTo: someone@example.org\r\n\
        Subject: Quarterly numbers\r\nDate: Fri, 01 Mar 2024 10:00:00 +0000\r\n\
        Message-ID: <fwd-orig@example.org>\r\nMIME-Version: 1.0\r\n\
        Content-Type: multipart/mixed; boundary=XX\r\n\r\n\
        --XX\r\nContent-Type: text/plain\r\n\r\nNumbers attached.\r\n\
        --XX\r\nContent-Type: application/pdf; name=q1.pdf\r\n\
        Content-Disposition: attachment; filename=q1.pdf\r\n\
        Content-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQKJcOkw7zDtsOf\r\n--XX--\r\n";
    let (uidvalidity, uid) = deliver(&rig.dovecot, &user, &password, original);
    let node = node_for(rig, "forward", None).await;
    let browser = Browser::signed_in(&node.base, &user, &password).await;

    let link = format!("/compose?mode=forward&mailbox=INBOX&uidvalidity={uidvalidity}&uid={uid}");
    let form = browser.get(&link).await;
    assert_eq!(form.status, 200, "{}", form.text());
    assert_eq!(
        form.field("subject").as_deref(),
        Some("Fwd: Quarterly numbers")
    );
    assert_eq!(form.field("kept_name").as_deref(), Some("q1.pdf"));
    let body = form.texts("textarea[name=body]").join("");
    assert!(body.contains("Numbers attached."), "{body}");

    let fields = form_fields(
        &form,
        &[
            ("to", "grace@example.org"),
            ("subject", "Fwd: numbers forward-inline"),
            ("action", "send"),
        ],
    );
    let sent = post_compose(&browser, &fields, &[]).await;
    assert_eq!(sent.status, 303, "{}", sent.text());
    let message = captured_with(rig, "forward-inline");
    let parsed = mailparse::parse_mail(&message.data).unwrap();
    let file = parsed
        .subparts
        .iter()
        .find(|p| p.ctype.mimetype == "application/pdf")
        .expect("the pdf is carried");
    assert_eq!(
        file.get_body_raw().unwrap(),
        b"%PDF-1.4\n%\xc3\xa4\xc3\xbc\xc3\xb6\xc3\x9f"
    );
    let flags = folder_flags(&rig.dovecot, &user, &password, "INBOX");
    assert!(flags[0].contains("$Forwarded"), "{flags:?}");

    let attached = browser
        .get(&format!(
            "/compose?mode=forward-attached&mailbox=INBOX&uidvalidity={uidvalidity}&uid={uid}"
        ))
        .await;
    assert_eq!(
        attached.field("kept_type").as_deref(),
        Some("message/rfc822")
    );
    let fields = form_fields(
        &attached,
        &[
            ("to", "grace@example.org"),
            ("subject", "Fwd: numbers forward-attached"),
            ("action", "send"),
        ],
    );
    let sent = post_compose(&browser, &fields, &[]).await;
    assert_eq!(sent.status, 303, "{}", sent.text());
    let message = captured_with(rig, "forward-attached");
    let parsed = mailparse::parse_mail(&message.data).unwrap();
    let inner = parsed
        .subparts
        .iter()
        .find(|p| p.ctype.mimetype == "message/rfc822")
        .expect("the original is attached");
    let inner_bytes = inner.get_body_raw().unwrap();
    assert!(String::from_utf8_lossy(&inner_bytes).contains("Message-ID: <fwd-orig@example.org>"));
    node.stop().await;
}

#[tokio::test]
async fn a_double_click_on_send_sends_once() {
    let Some(rig) = rig() else {
        return;
    };
    let (user, password) = rig.dovecot.new_user("double");
    let node = node_for(rig, "double", None).await;
    let browser = Browser::signed_in(&node.base, &user, &password).await;

    let form = browser.get("/compose").await;
    let fields = form_fields(
        &form,
        &[
            ("to", "bob@example.org"),
            ("subject", "only once double-send"),
            ("body", "hi"),
            ("action", "send"),
        ],
    );
    let (first, second) = tokio::join!(
        post_compose(&browser, &fields, &[]),
        post_compose(&browser, &fields, &[])
    );
    let mut statuses = [first.status, second.status];
    statuses.sort();
    assert_eq!(statuses, [303, 409], "{} / {}", first.text(), second.text());
    let repeated = if first.status == 409 { &first } else { &second };
    assert!(
        repeated.text().contains("already sent"),
        "{}",
        repeated.text()
    );

    let third = post_compose(&browser, &fields, &[]).await;
    assert_eq!(third.status, 409);
    std::thread::sleep(Duration::from_millis(300));
    captured_with(rig, "double-send");
    assert_eq!(count_captured(rig, "double-send"), 1);
    assert_eq!(
        folder_flags(&rig.dovecot, &user, &password, "Sent").len(),
        1
    );
    node.stop().await;
}

#[tokio::test]
async fn a_send_that_cannot_reach_the_server_keeps_everything_typed() {
    let Some(rig) = rig() else {
        return;
    };
    let (user, password) = rig.dovecot.new_user("smtp-down");
    let closed_port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let data = app::scratch_dir("smtp-down");
    let mut layer = settings_for(&rig.dovecot, &data);
    layer.smtp_server = Some(format!("smtp+insecure://127.0.0.1:{closed_port}"));
    let node = Node::start(layer).await;
    let browser = Browser::signed_in(&node.base, &user, &password).await;

    let form = browser.get("/compose").await;
    let fields = form_fields(
        &form,
        &[
            ("to", "bob@example.org"),
            ("subject", "kept when down"),
            ("body", "Every word of this stays."),
            ("action", "send"),
        ],
    );
    let page = post_compose(
        &browser,
        &fields,
        &[("notes.txt", "text/plain", b"file".to_vec())],
    )
    .await;
    assert_eq!(page.status, 502, "{}", page.text());
    assert!(page.text().contains("cannot be reached"), "{}", page.text());
    assert_eq!(page.field("to").as_deref(), Some("bob@example.org"));
    assert_eq!(page.field("subject").as_deref(), Some("kept when down"));
    assert_eq!(
        page.texts("textarea[name=body]").join(""),
        "Every word of this stays."
    );
    assert_eq!(page.field("kept_name").as_deref(), Some("notes.txt"));
    assert_eq!(page.field("form_token"), form.field("form_token"));
    assert!(folder_flags(&rig.dovecot, &user, &password, "Sent").is_empty());
    node.stop().await;
}

#[tokio::test]
async fn a_bad_address_is_named_and_the_form_kept() {
    let Some(rig) = rig() else {
        return;
    };
    let (user, password) = rig.dovecot.new_user("bad-address");
    let node = node_for(rig, "bad-address", None).await;
    let browser = Browser::signed_in(&node.base, &user, &password).await;

    let form = browser.get("/compose").await;
    let fields = form_fields(
        &form,
        &[
            ("to", "bob@example.org, bob at example"),
            ("subject", "bad address kept"),
            ("body", "typed text"),
            ("action", "send"),
        ],
    );
    let page = post_compose(&browser, &fields, &[]).await;
    assert_eq!(page.status, 422, "{}", page.text());
    let problem = page.texts(".notice.error").join(" ");
    assert!(
        problem.contains("\"bob at example\" is not an email address"),
        "{problem}"
    );
    assert_eq!(
        page.field("to").as_deref(),
        Some("bob@example.org, bob at example")
    );
    assert_eq!(page.texts("textarea[name=body]").join(""), "typed text");
    assert_eq!(count_captured(rig, "bad address kept"), 0);
    node.stop().await;
}

#[tokio::test]
async fn a_draft_is_saved_replaced_reopened_and_removed_once_sent() {
    let Some(rig) = rig() else {
        return;
    };
    let (user, password) = rig.dovecot.new_user("drafts");
    let node = node_for(rig, "drafts", None).await;
    let browser = Browser::signed_in(&node.base, &user, &password).await;

    let form = browser.get("/compose").await;
    let fields = form_fields(
        &form,
        &[
            ("to", "bob@example.org"),
            ("subject", "draft-flow"),
            ("body", "first words"),
            ("action", "save"),
        ],
    );
    let saved = post_compose(&browser, &fields, &[("a.txt", "text/plain", b"A".to_vec())]).await;
    assert_eq!(saved.status, 200, "{}", saved.text());
    assert!(saved.text().contains("Draft saved"));
    let drafts = folder_messages(&rig.dovecot, &user, &password, "Drafts");
    assert_eq!(drafts.len(), 1);
    assert!(drafts[0].0.contains("\\Draft"));

    let fields = form_fields(&saved, &[("body", "second words"), ("action", "save")]);
    let saved_again = post_compose(&browser, &fields, &[]).await;
    assert_eq!(saved_again.status, 200, "{}", saved_again.text());
    let drafts = folder_messages(&rig.dovecot, &user, &password, "Drafts");
    assert_eq!(drafts.len(), 1, "the older version is replaced");
    assert!(drafts[0].1.contains("second words"));

    let list = browser.get("/mail/Drafts").await;
    let link = list
        .attrs("td.subject a", "href")
        .into_iter()
        .next()
        .expect("the draft is listed");
    let shown = browser.get(&link).await;
    let edit = shown
        .attrs("nav.compose-links a", "href")
        .into_iter()
        .find(|l| l.contains("mode=draft"))
        .expect("an Edit draft link");
    let reopened = browser.get(&edit).await;
    assert_eq!(reopened.field("to").as_deref(), Some("bob@example.org"));
    assert_eq!(reopened.field("subject").as_deref(), Some("draft-flow"));
    assert_eq!(
        reopened.texts("textarea[name=body]").join(""),
        "second words"
    );
    assert_eq!(reopened.field("kept_name").as_deref(), Some("a.txt"));
    assert_eq!(reopened.field("message_id"), form.field("message_id"));

    let fields = form_fields(&reopened, &[("action", "send")]);
    let sent = post_compose(&browser, &fields, &[]).await;
    assert_eq!(sent.status, 303, "{}", sent.text());
    captured_with(rig, "draft-flow");
    assert!(folder_messages(&rig.dovecot, &user, &password, "Drafts").is_empty());
    node.stop().await;
}

#[tokio::test]
async fn an_upload_over_the_limit_gets_a_page_that_says_so() {
    let Some(rig) = rig() else {
        return;
    };
    let (user, password) = rig.dovecot.new_user("oversize");
    let node = node_for(rig, "oversize", Some(50_000)).await;
    let browser = Browser::signed_in(&node.base, &user, &password).await;

    let form = browser.get("/compose").await;
    assert!(form.text().contains("48.8 KiB") || form.text().contains("at most"));
    let fields = form_fields(
        &form,
        &[
            ("to", "bob@example.org"),
            ("subject", "too big"),
            ("action", "send"),
        ],
    );
    let page = post_compose(
        &browser,
        &fields,
        &[("big.bin", "application/octet-stream", vec![7u8; 60_000])],
    )
    .await;
    assert_eq!(page.status, 413, "{}", page.text());
    assert!(
        page.text().contains("larger than this site accepts"),
        "{}",
        page.text()
    );
    assert_eq!(count_captured(rig, "too big"), 0);
    node.stop().await;
}

#[tokio::test]
async fn a_draft_refused_for_a_full_mailbox_says_so_and_keeps_the_text() {
    let script = Script::new("ann", "secret")
        .mailbox(FakeMailbox::new("INBOX", 1))
        .mailbox(FakeMailbox::new("Drafts", 2))
        .rule(Rule::on("LIST").reply(&[
            "* LIST (\\HasNoChildren) \"/\" \"INBOX\"",
            "* LIST (\\HasNoChildren \\Drafts) \"/\" \"Drafts\"",
            "TAG OK LIST completed",
        ]))
        .rule(
            Rule::on("APPEND")
                .reply(&["TAG NO [OVERQUOTA] Quota exceeded (mailbox for user is full)"]),
        );
    let fake = FakeImap::start(script).await;
    let node = Node::start(SettingsLayer {
        listen: Some("127.0.0.1:0".parse().unwrap()),
        imap_server: Some(fake.url()),
        data_dir: Some(app::scratch_dir("over-quota")),
        ..SettingsLayer::default()
    })
    .await;
    let browser = Browser::signed_in(&node.base, "ann", "secret").await;

    let form = browser.get("/compose").await;
    assert_eq!(form.status, 200, "{}", form.text());
    assert!(form.text().contains("Sending is not set up"));
    let fields = form_fields(
        &form,
        &[
            ("to", "bob@example.org"),
            ("subject", "full box"),
            ("body", "words to keep"),
            ("action", "save"),
        ],
    );
    let page = post_compose(&browser, &fields, &[]).await;
    assert_eq!(page.status, 507, "{}", page.text());
    let problem = page.texts(".notice.error").join(" ");
    assert!(problem.contains("Your mailbox is full"), "{problem}");
    assert!(
        !page.text().contains("Quota exceeded"),
        "the server's own text is shown"
    );
    assert_eq!(page.texts("textarea[name=body]").join(""), "words to keep");
    assert_eq!(page.field("subject").as_deref(), Some("full box"));
    assert_eq!(fake.count("APPEND"), 1);
    node.stop().await;
}

#[tokio::test]
async fn a_send_whose_relay_is_down_keeps_everything_typed() {
    let mut capture = SmtpCapture::start();
    let Some(dovecot) = Dovecot::start_private_with_submission(capture.port) else {
        return;
    };
    capture.stop();
    let (user, password) = dovecot.new_user("relay-down");
    let data = app::scratch_dir("relay-down");
    let mut layer = settings_for(&dovecot, &data);
    let port = dovecot.submission_port.expect("submission runs");
    layer.smtp_server = Some(format!("smtp+insecure://127.0.0.1:{port}"));
    let node = Node::start(layer).await;
    let browser = Browser::signed_in(&node.base, &user, &password).await;

    let form = browser.get("/compose").await;
    let fields = form_fields(
        &form,
        &[
            ("to", "bob@example.org"),
            ("subject", "relay down"),
            ("body", "Still here."),
            ("action", "send"),
        ],
    );
    let page = post_compose(&browser, &fields, &[]).await;
    assert_eq!(page.status, 502, "{}", page.text());
    let problem = page.texts(".notice.error").join(" ");
    assert!(
        problem.contains("temporary failure") && problem.contains("was not sent"),
        "{problem}"
    );
    assert_eq!(page.texts("textarea[name=body]").join(""), "Still here.");
    assert!(capture.messages().is_empty());
    node.stop().await;
}

#[tokio::test]
async fn attached_files_stay_with_the_form_until_removed() {
    let Some(rig) = rig() else {
        return;
    };
    let (user, password) = rig.dovecot.new_user("attach");
    let node = node_for(rig, "attach", None).await;
    let browser = Browser::signed_in(&node.base, &user, &password).await;

    let form = browser.get("/compose").await;
    let fields = form_fields(&form, &[("to", "half typed"), ("action", "attach")]);
    let files = [
        ("one.txt", "text/plain", b"first".to_vec()),
        ("two.txt", "text/plain", b"second".to_vec()),
    ];
    let page = post_compose(&browser, &fields, &files).await;
    assert_eq!(page.status, 200, "{}", page.text());
    assert_eq!(
        page.attrs("input[name=kept_name]", "value"),
        ["one.txt", "two.txt"]
    );
    assert_eq!(page.field("to").as_deref(), Some("half typed"));

    let mut fields = form_fields(
        &page,
        &[
            ("to", "bob@example.org"),
            ("subject", "kept files attach-test"),
            ("action", "send"),
        ],
    );
    fields.push(("drop_kept".to_owned(), "0".to_owned()));
    let sent = post_compose(&browser, &fields, &[]).await;
    assert_eq!(sent.status, 303, "{}", sent.text());
    let message = captured_with(rig, "attach-test");
    let parsed = mailparse::parse_mail(&message.data).unwrap();
    let names: Vec<String> = parsed
        .subparts
        .iter()
        .filter_map(|p| p.get_content_disposition().params.get("filename").cloned())
        .collect();
    assert_eq!(names, ["two.txt"]);
    assert_eq!(parsed.subparts[1].get_body_raw().unwrap(), b"second");
    node.stop().await;
}

#[tokio::test]
async fn a_refused_recipient_is_named_and_nothing_is_sent() {
    let Some(rig) = rig() else {
        return;
    };
    let (user, password) = rig.dovecot.new_user("refused");
    let node = node_for(rig, "refused", None).await;
    let browser = Browser::signed_in(&node.base, &user, &password).await;

    let form = browser.get("/compose").await;
    let fields = form_fields(
        &form,
        &[
            ("to", "ok@example.org, refused-1@example.org"),
            ("subject", "refused-recipient"),
            ("body", "kept"),
            ("action", "send"),
        ],
    );
    let page = post_compose(&browser, &fields, &[]).await;
    assert_eq!(page.status, 502, "{}", page.text());
    let problem = page.texts(".notice.error").join(" ");
    assert!(
        problem.contains("refused the recipient refused-1@example.org"),
        "{problem}"
    );
    assert!(
        !problem.contains("no such mailbox"),
        "the server's own text is shown"
    );
    assert_eq!(page.texts("textarea[name=body]").join(""), "kept");
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(count_captured(rig, "refused-recipient"), 0);
    node.stop().await;
}

#[tokio::test]
async fn a_form_far_over_the_limit_gets_the_same_page() {
    let Some(rig) = rig() else {
        return;
    };
    let (user, password) = rig.dovecot.new_user("far-over");
    let node = node_for(rig, "far-over", Some(50_000)).await;
    let browser = Browser::signed_in(&node.base, &user, &password).await;

    let form = browser.get("/compose").await;
    let fields = form_fields(&form, &[("to", "bob@example.org"), ("action", "send")]);
    let huge = vec![b'x'; 1_500_000];
    let page = post_compose(
        &browser,
        &fields,
        &[("huge.bin", "application/octet-stream", huge)],
    )
    .await;
    assert_eq!(page.status, 413, "{}", page.text());
    assert!(
        page.text().contains("larger than this site accepts"),
        "{}",
        page.text()
    );
    node.stop().await;
}

#[tokio::test]
async fn only_the_compose_page_loads_its_autosave_script() {
    let Some(rig) = rig() else {
        return;
    };
    let (user, password) = rig.dovecot.new_user("autosave");
    let node = node_for(rig, "autosave", None).await;
    let browser = Browser::signed_in(&node.base, &user, &password).await;

    let policy = |page: &Page| {
        page.headers
            .get("content-security-policy")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let form = browser.get("/compose").await;
    assert!(
        policy(&form).contains("script-src 'self'"),
        "{}",
        policy(&form)
    );
    assert_eq!(
        form.attrs("script", "src"),
        ["/static/shortcuts.js", "/static/compose.js"]
    );
    let inbox = browser.get("/mail/INBOX").await;
    assert!(
        !policy(&inbox).contains("connect-src"),
        "only the compose page may send requests from script: {}",
        policy(&inbox)
    );
    assert_eq!(inbox.attrs("script", "src"), ["/static/shortcuts.js"]);

    let script = browser.get("/static/compose.js").await;
    assert_eq!(script.status, 200);
    let content_type = script
        .headers
        .get("content-type")
        .unwrap()
        .to_str()
        .unwrap();
    assert!(
        content_type.starts_with("text/javascript"),
        "{content_type}"
    );
    assert!(script.text().contains("data.set(\"action\", \"save\")"));
    node.stop().await;
}

#[tokio::test]
async fn mail_is_sent_over_starttls_with_a_private_ca() {
    let Some(rig) = rig() else {
        return;
    };
    let (user, password) = rig.dovecot.new_user("starttls");
    let data = app::scratch_dir("starttls");
    let port = rig.dovecot.submission_port.expect("submission runs");
    let mut layer = settings_for(&rig.dovecot, &data);
    layer.smtp_server = Some(format!("smtp://127.0.0.1:{port}"));
    layer.smtp_ca_file = Some(rig.dovecot.ca_file.clone());
    let node = Node::start(layer).await;
    let browser = Browser::signed_in(&node.base, &user, &password).await;

    let form = browser.get("/compose").await;
    let fields = form_fields(
        &form,
        &[
            ("to", "bob@example.org"),
            ("subject", "over tls starttls-test"),
            ("action", "send"),
        ],
    );
    let sent = post_compose(&browser, &fields, &[]).await;
    assert_eq!(sent.status, 303, "{}", sent.text());
    captured_with(rig, "starttls-test");
    let log = rig.dovecot.log_text();
    let login = format!("submission-login: Info: Login: user=<{user}>");
    let line = log
        .lines()
        .find(|l| l.contains(&login))
        .expect("a submission login");
    assert!(line.contains("TLS"), "not encrypted: {line}");
    node.stop().await;
}
