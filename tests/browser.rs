//! mailfront's pages in a real browser: headless Chromium, driven over
//! WebDriver, against a node started in this process in front of the shared
//! test Dovecot.
//!
//! A reader signs in through the real form, sees the folder list and a page
//! of messages, follows Next and reads an HTML message in its sandboxed
//! frame. Hostile HTML mail (this file's own sample and the shared cases 011,
//! 012 and 017) runs no script and fetches nothing from another host: the
//! browser's proxy is a recorder on 127.0.0.1 that forwards nothing, and the
//! test compares what it recorded. The message list is photographed at phone
//! and desktop width into `target/browser-screenshots/`.
//!
//! Every test is skipped with a printed reason when Chromium, chromedriver or
//! Dovecot is missing, and fails instead when `CI` is set.

mod app;
mod support;

#[path = "browser/proxy.rs"]
mod proxy;
#[path = "browser/webdriver.rs"]
mod webdriver;

use std::path::PathBuf;
use std::time::Duration;

use app::{settings_for, Node};
use proxy::ProxyRecorder;
use serde_json::{json, Value};
use support::{shared_dir, Dovecot};
use webdriver::Chromium;

/// Messages in the inbox besides the HTML ones: three pages of twenty.
const PLAIN_MESSAGES: usize = 45;

/// How long a page or frame may take to show what a test waits for.
const PAGE_WAIT: Duration = Duration::from_secs(20);

/// How long a hostile message is watched for script or fetches after its
/// frame shows: longer than every timer and animation in the samples.
const WATCH: Duration = Duration::from_millis(1500);

const HTML_SUBJECT: &str = "Spring newsletter";
const HTML_SENTENCE: &str = "The community garden opens on Saturday at ten.";
const HOSTILE_SUBJECT: &str = "Hostile sample";

/// A text/html mail of this file's own, with a script, event handlers,
/// javascript: links, remote images, remote CSS, a refresh, frames and an
/// SVG animation. Every script in it would leave a "pwned" title or a
/// `data-pwned` marker, or call `beacon.invalid` through the proxy.
const HOSTILE_HTML: &str = r#"<html><head>
<title>HIDE: title text</title>
<meta http-equiv="refresh" content="0;url=http://refresh.invalid/">
<link rel="stylesheet" href="http://link.invalid/x.css">
<style>@import url("http://import.invalid/x.css");
body { background: url(http://style.invalid/bg.png) }</style>
<base href="http://base.invalid/">
</head>
<body onload="document.title='pwned-onload'">
<p>Hostile sample: this sentence stays visible.</p>
<script>document.title='pwned-script';
document.body.setAttribute('data-pwned','script');
new Image().src='http://beacon.invalid/script';</script>
<img src="http://tracker.invalid/x.png" width="1" height="1" alt="">
<img src="missing.png"
  onerror="document.title='pwned-onerror';new Image().src='http://beacon.invalid/onerror'">
<img srcset="http://srcset.invalid/a.png 2x" alt="">
<div style="background-image:url('http://css.invalid/bg.png')">A styled block.</div>
<a href="javascript:document.title='pwned-link'">Open the report</a>
<a href=" JaVa&#09;ScRiPt:document.title='pwned-link2'">Read online</a>
<svg width="40" height="40"><animate attributeName="x" dur="0.1s"
  onbegin="document.title='pwned-svg';document.documentElement.setAttribute('data-pwned','svg')"/>
<image href="http://svg.invalid/i.png" width="10" height="10"/></svg>
<iframe src="http://frame.invalid/"></iframe>
<object data="http://object.invalid/x"></object>
<video poster="http://poster.invalid/p.png"></video>
<form action="http://form.invalid/">
<input type="image" src="http://input.invalid/i.png" alt="go"></form>
<table background="http://table.invalid/bg.png"><tr><td>A table cell.</td></tr></table>
<p style="behavior:url(http://htc.invalid/x.htc)">End of the hostile sample.</p>
</body></html>
"#;

/// A hostile mail to open, and the sentences its frame must show.
struct HostileMail {
    subject: String,
    html: String,
    visible: Vec<&'static str>,
    hidden: Vec<&'static str>,
}

fn hostile_mails() -> Vec<HostileMail> {
    let mut mails = vec![HostileMail {
        subject: HOSTILE_SUBJECT.to_owned(),
        html: HOSTILE_HTML.to_owned(),
        visible: vec![
            "Hostile sample: this sentence stays visible.",
            "A styled block.",
            "A table cell.",
            "End of the hostile sample.",
        ],
        hidden: vec!["HIDE: title text"],
    }];
    let Some(shared) = shared_dir() else {
        return mails;
    };

    let cases: [(&str, &str, Vec<&str>, Vec<&str>); 3] = [
        (
            "011-svg-use-data-uri.html",
            "Case 011 SVG use",
            vec!["Quarterly chart below", "End of message."],
            vec![],
        ),
        (
            "012-svg-animate-set-href.html",
            "Case 012 SVG animate",
            vec!["Your documents:", "Unsubscribe"],
            vec![],
        ),
        (
            "017-unknown-tags-keep-text.html",
            "Case 017 unknown tags",
            vec!["KEEP 1", "KEEP 2", "KEEP 3", "KEEP 4", "KEEP 5"],
            vec!["HIDE: title text", "HIDE: script output"],
        ),
    ];
    for (file, subject, visible, hidden) in cases {
        let path = shared.join("cases").join(file);
        let html = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
        mails.push(HostileMail {
            subject: subject.to_owned(),
            html,
            visible,
            hidden,
        });
    }
    mails
}

fn message(subject: &str, content_type: &str, body: &str, n: usize) -> Vec<u8> {
    format!(
        "From: Sender <sender@example.org>\r\nTo: reader@example.org\r\nSubject: {subject}\r\n\
         Date: Mon, 04 Mar 2024 10:{:02}:00 +0000\r\nMessage-ID: <browser-{n}@example.org>\r\n\
         MIME-Version: 1.0\r\nContent-Type: {content_type}\r\n\r\n{}\r\n",
        n % 60,
        body.replace("\r\n", "\n").replace('\n', "\r\n")
    )
    .into_bytes()
}

/// A user whose INBOX holds [`PLAIN_MESSAGES`] plain messages, then the HTML
/// message and the hostile ones (so they arrive last and list first), and a
/// second folder.
fn mailbox_for_the_browser(dovecot: &Dovecot, name: &str) -> (String, String) {
    let (user, password) = dovecot.new_user(name);
    let mut client = dovecot.client(&user, &password);
    for n in 1..=PLAIN_MESSAGES {
        let subject = format!("Weekly note {n:02}");
        let body = format!("Note number {n}.");
        let raw = message(&subject, "text/plain; charset=utf-8", &body, n);
        client.append("INBOX", "()", None, &raw);
    }

    let html = format!(
        "<html><body><h1>Spring</h1><p style=\"color:#2a6\">{HTML_SENTENCE}</p></body></html>"
    );
    let raw = message(HTML_SUBJECT, "text/html; charset=utf-8", &html, 100);
    client.append("INBOX", "()", None, &raw);
    for (n, mail) in hostile_mails().iter().enumerate() {
        let raw = message(
            &mail.subject,
            "text/html; charset=utf-8",
            &mail.html,
            200 + n,
        );
        client.append("INBOX", "()", None, &raw);
    }
    client.create("Archive");
    client.logout();
    (user, password)
}

/// A node, a signed-in browser and the proxy recorder behind it.
struct Setup {
    node: Node,
    browser: Chromium,
    proxy: ProxyRecorder,
}

/// Starts everything and signs in through the form at `width` x `height`;
/// `None` when something needed is missing (and `CI` is unset).
async fn signed_in_browser(name: &str, width: u32, height: u32) -> Option<Setup> {
    let dovecot = Dovecot::shared()?;
    let (user, password) = mailbox_for_the_browser(dovecot, name);
    let scratch = app::scratch_dir(name);
    let proxy = ProxyRecorder::start();
    let browser = Chromium::launch(&scratch.join("profile"), width, height, proxy.port).await?;
    let node = Node::start(settings_for(dovecot, &scratch.join("node"))).await;

    browser.goto(&node.url("/login")).await;
    let username = browser.wait_for("input[name=username]", PAGE_WAIT).await;
    browser.type_into(&username, &user).await;
    let field = browser.wait_for("input[name=password]", PAGE_WAIT).await;
    browser.type_into(&field, &password).await;
    let submit = browser
        .wait_for("form.login button[type=submit]", PAGE_WAIT)
        .await;
    browser.click(&submit).await;
    let landed = browser.wait_for("nav.folders, p.error", PAGE_WAIT).await;
    let error = browser.texts("p.error").await;
    assert!(
        error.is_empty(),
        "signing in failed: {error:?} ({landed:?})"
    );
    Some(Setup {
        node,
        browser,
        proxy,
    })
}

impl Setup {
    /// The address of the message whose subject link reads `subject` on the
    /// current list page.
    async fn message_link(&self, subject: &str) -> String {
        let found = self
            .browser
            .execute(
                "return [...document.querySelectorAll('td.subject a')]\
                 .filter(a => a.textContent.trim() === arguments[0])\
                 .map(a => a.getAttribute('href'))[0] || null;",
                vec![json!(subject)],
            )
            .await;
        let href = found.as_str();
        href.unwrap_or_else(|| panic!("no row for {subject:?} on the page"))
            .to_owned()
    }

    /// Enters the body frame of the current message page and waits until
    /// its text contains `sentence`; returns the frame's visible text.
    async fn frame_text_with(&self, sentence: &str) -> String {
        let frame = self.browser.wait_for("iframe.body-frame", PAGE_WAIT).await;
        self.browser.enter_frame(&frame).await;
        let deadline = std::time::Instant::now() + PAGE_WAIT;
        loop {
            let text = self
                .browser
                .execute(
                    "return document.body ? document.body.innerText : '';",
                    vec![],
                )
                .await;
            let text = text.as_str().unwrap_or_default().to_owned();
            if text.contains(sentence) {
                return text;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the frame never showed {sentence:?}; it shows {text:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn stop(self) {
        drop(self.browser);
        self.node.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reader_signs_in_pages_through_the_inbox_and_reads_an_html_message() {
    let Some(setup) = signed_in_browser("browser-read", 1280, 900).await else {
        return;
    };
    let browser = &setup.browser;

    let folders = browser.texts("nav.folders .folder-list li a").await;
    assert_eq!(
        folders.first().map(String::as_str),
        Some("Inbox"),
        "{folders:?}"
    );
    assert!(folders.iter().any(|f| f == "Archive"), "{folders:?}");
    assert!(browser.current_url().await.contains("/mail/INBOX"));
    let first_page = browser.texts("table.messages td.subject").await;
    assert_eq!(first_page.len(), 20, "{first_page:?}");
    assert!(
        first_page.contains(&HTML_SUBJECT.to_owned()),
        "{first_page:?}"
    );
    let position = browser.texts("nav.pager .position").await.concat();
    assert!(position.starts_with("Page 1 of 3"), "{position}");

    let next = browser.wait_for("nav.pager a[rel=next]", PAGE_WAIT).await;
    browser.click(&next).await;
    let deadline = std::time::Instant::now() + PAGE_WAIT;
    while !browser
        .texts("nav.pager .position")
        .await
        .concat()
        .starts_with("Page 2")
    {
        assert!(
            std::time::Instant::now() < deadline,
            "Next did not lead to page 2"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let second_page = browser.texts("table.messages td.subject").await;
    assert_eq!(second_page.len(), 20, "{second_page:?}");
    assert!(
        second_page.iter().all(|s| !first_page.contains(s)),
        "{second_page:?}"
    );

    let back = browser.wait_for("nav.pager a[rel=prev]", PAGE_WAIT).await;
    browser.click(&back).await;
    browser.wait_for("table.messages", PAGE_WAIT).await;
    let href = setup.message_link(HTML_SUBJECT).await;
    let link = browser
        .wait_for(&format!("td.subject a[href=\"{href}\"]"), PAGE_WAIT)
        .await;
    browser.click(&link).await;
    let subject = browser.wait_for("h1.subject", PAGE_WAIT).await;
    assert_eq!(browser.text(&subject).await, HTML_SUBJECT);
    let shown = setup.frame_text_with(HTML_SENTENCE).await;
    assert!(shown.contains("Spring"), "{shown}");
    browser.leave_frames().await;

    let sign_out = browser.wait_for("form.logout button", PAGE_WAIT).await;
    browser.click(&sign_out).await;
    let notice = browser.wait_for("form.login, p.error", PAGE_WAIT).await;
    assert!(browser.texts("p.error").await.is_empty(), "{notice:?}");
    assert!(browser.current_url().await.contains("/login"));
    browser.goto(&setup.node.url("/mail/INBOX")).await;
    browser.wait_for("form.login", PAGE_WAIT).await;

    setup.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_html_mail_runs_no_script_and_fetches_nothing_from_elsewhere() {
    let Some(setup) = signed_in_browser("browser-hostile", 1280, 900).await else {
        return;
    };
    let browser = &setup.browser;
    let inbox = setup.node.url("/mail/INBOX");

    // The recorder must see what the browser sends elsewhere, or an empty
    // record would prove nothing.
    let _ = browser
        .try_command(
            "POST",
            "/url",
            json!({ "url": "http://proxy-check.invalid/" }),
        )
        .await;
    let checked = setup.proxy.page_requests();
    assert!(
        checked
            .iter()
            .any(|line| line.contains("proxy-check.invalid")),
        "the browser did not use the recording proxy: {checked:?}"
    );
    setup.proxy.clear();

    for mail in hostile_mails() {
        browser.goto(&inbox).await;
        let href = setup.message_link(&mail.subject).await;
        browser.goto(&setup.node.url(&href)).await;
        let page_title = browser.execute("return document.title;", vec![]).await;
        let windows = browser.window_count().await;

        let shown = setup.frame_text_with(mail.visible[0]).await;
        tokio::time::sleep(WATCH).await;
        for sentence in &mail.visible {
            assert!(
                shown.contains(sentence),
                "{}: {sentence:?} not in {shown:?}",
                mail.subject
            );
        }
        for sentence in &mail.hidden {
            assert!(
                !shown.contains(sentence),
                "{}: {sentence:?} shows",
                mail.subject
            );
        }
        let state = frame_state(browser).await;
        assert_no_script_ran(&mail.subject, &state);
        assert_links_are_harmless(&mail.subject, &state);

        click_every_link_that_goes_nowhere(browser).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        let after = frame_state(browser).await;
        assert_no_script_ran(&mail.subject, &after);
        browser.leave_frames().await;
        let title_after = browser.execute("return document.title;", vec![]).await;
        assert_eq!(
            title_after, page_title,
            "{}: the page title changed",
            mail.subject
        );
        assert_eq!(
            browser.window_count().await,
            windows,
            "{}: a window opened",
            mail.subject
        );

        let fetched = setup.proxy.page_requests();
        assert!(
            fetched.is_empty(),
            "{}: the browser fetched from elsewhere: {fetched:?}",
            mail.subject
        );
    }
    let _ = writeln_stderr(&format!(
        "browser: hostile mails checked; hosts the browser itself asked for: {:?}",
        setup.proxy.hosts()
    ));
    setup.stop().await;
}

/// What a script in the frame would have changed, and where links point.
async fn frame_state(browser: &Chromium) -> Value {
    browser
        .execute(
            r#"
            const xlink = 'http://www.w3.org/1999/xlink';
            const targets = [];
            for (const e of document.querySelectorAll('*')) {
                for (const name of ['href', 'src', 'action', 'formaction', 'xlink:href']) {
                    const v = e.getAttribute(name);
                    if (v !== null) targets.push(v);
                }
                const x = e.getAttributeNS(xlink, 'href');
                if (x !== null) targets.push(x);
                if (e.href && e.href.animVal !== undefined) targets.push(e.href.animVal);
            }
            return {
                title: document.title,
                markers: document.querySelectorAll('[data-pwned]').length,
                animations: document.querySelectorAll('set, animate, script').length,
                targets: targets,
            };
            "#,
            vec![],
        )
        .await
}

fn assert_no_script_ran(subject: &str, state: &Value) {
    let title = state["title"].as_str().unwrap_or_default();
    assert!(
        !title.contains("pwned"),
        "{subject}: a script set the title {title:?}"
    );
    assert_eq!(
        state["markers"],
        json!(0),
        "{subject}: a script left a marker"
    );
}

/// Every link, source and action in the frame is a web, mail or in-message
/// address, never a script or data document.
fn assert_links_are_harmless(subject: &str, state: &Value) {
    assert_eq!(
        state["animations"],
        json!(0),
        "{subject}: script or SVG animation elements survived"
    );
    let targets = state["targets"].as_array().cloned().unwrap_or_default();
    for target in targets {
        let target = target.as_str().unwrap_or_default();
        let squeezed: String = target
            .chars()
            .filter(|c| !c.is_whitespace() && !c.is_control())
            .collect::<String>()
            .to_ascii_lowercase();
        let harmful = ["javascript:", "vbscript:", "data:text", "data:image/svg"]
            .iter()
            .any(|scheme| squeezed.starts_with(scheme));
        assert!(!harmful, "{subject}: a harmful target survived: {target:?}");
    }
}

/// Clicks every link and SVG text in the frame whose target is not a web or
/// mail address (a click on those would open a popup to the proxy, which
/// is a reader's choice, not a fetch by the mail).
async fn click_every_link_that_goes_nowhere(browser: &Chromium) {
    let elements = browser
        .find_all("a:not([href^='http']):not([href^='mailto']), svg text")
        .await;
    for element in elements.iter().take(20) {
        // A hidden or covered element cannot be clicked; that is no fault.
        let _ = browser.try_click(element).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_message_list_reads_at_phone_and_desktop_width() {
    let Some(setup) = signed_in_browser("browser-widths", 1280, 900).await else {
        return;
    };
    let browser = &setup.browser;
    let folder = screenshot_dir();

    for (label, width, height) in [("desktop", 1280, 900), ("phone", 390, 844)] {
        browser.resize(width, height).await;
        browser.goto(&setup.node.url("/mail/INBOX")).await;
        browser.wait_for("table.messages", PAGE_WAIT).await;
        let viewport = browser
            .execute(
                "return [window.innerWidth, document.documentElement.scrollWidth];",
                vec![],
            )
            .await;
        let inner = viewport[0].as_u64().unwrap_or_default();
        let scroll = viewport[1].as_u64().unwrap_or_default();
        assert_eq!(
            inner,
            u64::from(width),
            "{label}: the viewport is {viewport}"
        );
        assert!(
            scroll <= inner,
            "{label}: the list is wider than the screen: {viewport}"
        );

        let png = browser.screenshot().await;
        let path = folder.join(format!("inbox-{label}.png"));
        std::fs::write(&path, &png).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let (png_width, png_height) = png_size(&png).unwrap_or_else(|| {
            panic!("{} is not a PNG", path.display());
        });
        assert_eq!(png_width, width, "{}", path.display());
        assert!(png_height > 0 && png.len() > 1_000, "{}", path.display());

        let href = setup.message_link(HTML_SUBJECT).await;
        browser.goto(&setup.node.url(&href)).await;
        setup.frame_text_with(HTML_SENTENCE).await;
        browser.leave_frames().await;
        let png = browser.screenshot().await;
        let path = folder.join(format!("message-{label}.png"));
        std::fs::write(&path, &png).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert!(png_size(&png).is_some(), "{} is not a PNG", path.display());
    }
    let _ = writeln_stderr(&format!("browser: screenshots in {}", folder.display()));
    setup.stop().await;
}

fn screenshot_dir() -> PathBuf {
    let dir = support::target_dir().join("browser-screenshots");
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    dir
}

/// Width and height from a PNG's signature and IHDR chunk.
fn png_size(bytes: &[u8]) -> Option<(u32, u32)> {
    let signature = b"\x89PNG\r\n\x1a\n";
    if bytes.len() < 24 || !bytes.starts_with(signature) || &bytes[12..16] != b"IHDR" {
        return None;
    }
    let width = u32::from_be_bytes(bytes[16..20].try_into().ok()?);
    let height = u32::from_be_bytes(bytes[20..24].try_into().ok()?);
    Some((width, height))
}

/// Writes past the test harness's output capture, so it shows in passing
/// runs too.
fn writeln_stderr(line: &str) -> std::io::Result<()> {
    use std::io::Write;
    writeln!(std::io::stderr(), "{line}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_keyboard_moves_through_the_list_opens_flags_and_shows_help() {
    let Some(setup) = signed_in_browser("browser-keys", 1280, 900).await else {
        return;
    };
    let browser = &setup.browser;
    browser.wait_for("table.messages", PAGE_WAIT).await;
    let subjects = browser.texts("table.messages td.subject").await;
    assert!(subjects.len() >= 2, "{subjects:?}");

    browser.press_keys("jjo").await;
    let subject = browser.wait_for("h1.subject", PAGE_WAIT).await;
    assert_eq!(browser.text(&subject).await, subjects[1]);

    // In a message, j and k open the next and the previous one.
    browser.press_keys("j").await;
    wait_for_subject(browser, &subjects[2]).await;
    browser.press_keys("k").await;
    wait_for_subject(browser, &subjects[1]).await;

    // r answers the message on the compose page; back to the message.
    browser.press_keys("r").await;
    browser
        .wait_for("form.compose input[name=subject]", PAGE_WAIT)
        .await;
    let reply_subject = browser
        .execute(
            "return document.querySelector('form.compose input[name=subject]').value;",
            vec![],
        )
        .await;
    let expected = if subjects[1].to_ascii_lowercase().starts_with("re:") {
        subjects[1].clone()
    } else {
        format!("Re: {}", subjects[1])
    };
    assert_eq!(reply_subject, json!(expected));
    browser
        .execute("history.back(); return true;", vec![])
        .await;
    wait_for_subject(browser, &subjects[1]).await;

    browser.press_keys("u").await;
    browser.wait_for("table.messages", PAGE_WAIT).await;
    browser.press_keys("js").await;
    let flash = browser.wait_for("p.flash", PAGE_WAIT).await;
    assert_eq!(browser.text(&flash).await, "1 message flagged.");
    let flagged = browser.texts("table.messages tr.flagged td.subject").await;
    assert_eq!(flagged, [subjects[0].clone()]);

    // Ticking "select all" ticks every row's box.
    let all = browser.wait_for("label.select-all input", PAGE_WAIT).await;
    browser.click(&all).await;
    let ticked = browser
        .find_all("td.pick input[name=uid]:checked")
        .await
        .len();
    assert_eq!(ticked, subjects.len());

    // Keys typed into a text field stay there.
    browser.goto(&setup.node.url("/folders")).await;
    let name = browser.wait_for("input#new-name", PAGE_WAIT).await;
    let path = screenshot_dir().join("folders-desktop.png");
    std::fs::write(&path, browser.screenshot().await)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    browser.click(&name).await;
    browser.press_keys("j?u").await;
    let typed = browser
        .execute("return document.getElementById('new-name').value;", vec![])
        .await;
    assert_eq!(typed, json!("j?u"));
    assert!(browser.current_url().await.ends_with("/folders"));

    // Escape (WebDriver's key U+E00C) leaves the field; then ? works.
    browser.press_keys("\u{E00C}?").await;
    browser.wait_for("table.shortcuts", PAGE_WAIT).await;
    assert!(browser.current_url().await.ends_with("/help"));
    let path = screenshot_dir().join("help-desktop.png");
    std::fs::write(&path, browser.screenshot().await)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    setup.stop().await;
}

/// Waits until the message page shows `subject` as its heading.
async fn wait_for_subject(browser: &Chromium, subject: &str) {
    let deadline = std::time::Instant::now() + PAGE_WAIT;
    loop {
        let shown = browser.texts("h1.subject").await;
        if shown.first().map(String::as_str) == Some(subject) {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the page never showed {subject:?}; it shows {shown:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
