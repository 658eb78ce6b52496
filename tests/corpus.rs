//! The whole shared mail corpus read through mailfront's pages.
//!
//! Every file of `../shared/corpus/eml/**` is appended unchanged (no header
//! rewritten) to a fresh user's folders on the shared test Dovecot, one folder
//! per corpus folder, and opened through its message page, and through its
//! body frame when the page has one. Each page is compared with a reading of
//! the same bytes by the mailparse crate, never by mailfront's own MIME code:
//!
//! - the page answers 200, and so do its body frame, every download link and
//!   the viewer of every forwarded message;
//! - a distinctive line of the first text part a reader sees is in the text
//!   the page (or its frame) shows;
//! - the attachment lists hold as many links as the structure has parts to
//!   download, by the renderer's documented rules: attachments, named parts,
//!   parts that are not readable text and forwarded messages are listed; a
//!   forwarded message shown inline lists its own parts in its section, which
//!   the page shows only when no HTML is shown;
//! - no U+FFFD shows when every shown text part decodes cleanly in the
//!   charset it declares.
//!
//! A message on which mailparse and mailfront disagree for a reason that is
//! not a fault of mailfront is listed in [`KNOWN_DIFFERENCES`] with that
//! reason; a listed message that passes is named in the summary so the list
//! can shrink.

mod app;
mod support;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use app::{settings_for, Browser, Node};
use encoding_rs::Encoding;
use mailparse::{MailHeaderMap, ParsedMail};
use scraper::{ElementRef, Html, Selector};
use support::{running_in_ci, shared_dir, Dovecot};

/// Signed-in sessions reading pages at the same time: the pool's default
/// number of connections per user, so no request waits for a connection.
const READERS: usize = 3;

/// How many forwarded messages deep the renderer shows inline, as its view
/// documents.
const MAX_NESTED: usize = 8;

/// Text types that are data rather than something a person reads; the
/// renderer lists them for download. Kept by hand beside the renderer's own
/// list on purpose, so this test does not reuse the code it checks.
const DATA_TEXT: [&str; 7] = [
    "text/rtf",
    "text/calendar",
    "text/x-vcalendar",
    "text/vcard",
    "text/x-vcard",
    "text/directory",
    "text/x-vcard-data",
];

/// Machine reports the renderer shows as text.
const READABLE_REPORTS: [&str; 3] = [
    "message/delivery-status",
    "message/disposition-notification",
    "message/feedback-report",
];

/// HTML elements whose text a sanitiser keeps; a line is picked from an HTML
/// part only where every element around it is one of these.
const PLAIN_ELEMENTS: [&str; 35] = [
    "html",
    "body",
    "p",
    "div",
    "span",
    "font",
    "b",
    "i",
    "u",
    "em",
    "strong",
    "small",
    "big",
    "center",
    "a",
    "br",
    "table",
    "thead",
    "tbody",
    "tfoot",
    "tr",
    "td",
    "th",
    "ul",
    "ol",
    "li",
    "blockquote",
    "pre",
    "tt",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
];

/// What is checked for each message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Check {
    /// The server took the file.
    Appended,
    /// The page, its frame, its downloads and forwarded-message viewers
    /// answered 200.
    Answered,
    /// The chosen line of the first shown text part is on the page.
    TextShown,
    /// The attachment lists hold the expected number of links.
    AttachmentCount,
    /// No U+FFFD although every shown text part decodes cleanly.
    NoReplacement,
}

/// Messages on which the reading by mailparse and the page differ for a
/// reason that is not a fault of mailfront: (file under `eml/`, check, why).
const KNOWN_DIFFERENCES: &[(&str, Check, &str)] = &[
    (
        "mail-parser/malformed/017.eml",
        Check::AttachmentCount,
        "no `;` before `boundary=`: mailparse finds no parts, mailfront reads the \
         boundary anyway and lists the image",
    ),
    (
        "mail-parser/thirdparty/005.eml",
        Check::NoReplacement,
        "a binary UTF-16 part with bare LF line ends: Dovecot serves them as CRLF, \
         so the part mailfront gets has an odd number of bytes",
    ),
];

/// The verdict on one message for one check.
struct Finding {
    file: String,
    check: Check,
    detail: String,
}

/// One corpus file appended to the server.
struct Stored {
    file: String,
    mailbox: String,
    uidvalidity: u32,
    uid: u32,
    expected: Option<Expected>,
}

/// What the independent reading says a reader should see.
struct Expected {
    /// A line of the first shown text part with text, whitespace folded.
    line: Option<String>,
    /// Links the page's attachment lists should hold.
    downloads: usize,
    /// Every shown text part decodes cleanly in the charset it declares.
    clean: bool,
}

#[derive(Default)]
struct Tally {
    pages: usize,
    frames: usize,
    downloads: usize,
    lines_found: usize,
    findings: Vec<Finding>,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_corpus_message_reads_through_the_pages_as_its_structure_says() {
    let Some(shared) = shared_dir() else {
        return;
    };
    let root = shared.join("corpus/eml");
    if !root.is_dir() {
        let why = format!("{} is missing; the corpus test is skipped", root.display());
        assert!(!running_in_ci(), "{why} (CI is set, so this fails)");
        let _ = writeln!(std::io::stderr(), "skipped: {why}");
        return;
    }
    let Some(dovecot) = Dovecot::shared() else {
        return;
    };
    let mut files = Vec::new();
    eml_files(&root, &mut files);
    assert!(
        files.len() > 2_000,
        "expected the whole corpus under {}, found {} files",
        root.display(),
        files.len()
    );

    let started = Instant::now();
    let (user, password) = dovecot.new_user("corpus");
    let mut appender = Appender::login(dovecot.imap_port, &user, &password);
    let mut findings = Vec::new();
    let stored = append_all(&mut appender, &root, &files, &mut findings);
    appender.logout();
    let appended_in = started.elapsed();

    let data = app::scratch_dir("corpus");
    let node = Node::start(settings_for(dovecot, &data)).await;
    let stored = std::sync::Arc::new(stored);
    let mut workers = Vec::new();
    for reader in 0..READERS {
        let browser = Browser::signed_in(&node.base, &user, &password).await;
        let stored = stored.clone();
        workers.push(tokio::spawn(async move {
            let mut tally = Tally::default();
            for message in stored.iter().skip(reader).step_by(READERS) {
                read_message(&browser, message, &mut tally).await;
            }
            tally
        }));
    }
    let mut tally = Tally::default();
    for worker in workers {
        let part = worker.await.expect("a reader finishes");
        tally.pages += part.pages;
        tally.frames += part.frames;
        tally.downloads += part.downloads;
        tally.lines_found += part.lines_found;
        tally.findings.extend(part.findings);
    }
    node.stop().await;
    findings.append(&mut tally.findings);

    let (known, faults): (Vec<Finding>, Vec<Finding>) = findings
        .into_iter()
        .partition(|f| known_reason(f).is_some());
    let passing_known: Vec<&str> = KNOWN_DIFFERENCES
        .iter()
        .filter(|(file, check, _)| !known.iter().any(|f| f.file == *file && f.check == *check))
        .map(|(file, _, _)| *file)
        .collect();
    let unread: Vec<&str> = stored
        .iter()
        .filter(|m| m.expected.is_none())
        .map(|m| m.file.as_str())
        .collect();
    let _ = writeln!(
        std::io::stderr(),
        "corpus through the pages: {} messages appended in {:.1}s, {} pages, {} frames, \
         {} downloads, {} lines found, not read by mailparse: {:?}, {} known differences, \
         {} faults, {:.1}s in all{}",
        stored.len(),
        appended_in.as_secs_f64(),
        tally.pages,
        tally.frames,
        tally.downloads,
        tally.lines_found,
        unread,
        known.len(),
        faults.len(),
        started.elapsed().as_secs_f64(),
        if passing_known.is_empty() {
            String::new()
        } else {
            format!("; listed as known but passing now: {passing_known:?}")
        }
    );

    let report: Vec<String> = faults
        .iter()
        .map(|f| format!("{} [{:?}] {}", f.file, f.check, f.detail))
        .collect();
    assert!(
        faults.is_empty(),
        "{} findings on the corpus:\n{}",
        faults.len(),
        report.join("\n")
    );
}

fn known_reason(finding: &Finding) -> Option<&'static str> {
    KNOWN_DIFFERENCES
        .iter()
        .find(|(file, check, _)| finding.file == *file && finding.check == *check)
        .map(|(_, _, why)| *why)
}

/// Every file below `dir`, sorted by path.
fn eml_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
        .flatten()
        .map(|e| e.path())
        .collect();
    entries.sort();

    for path in entries {
        if path.is_dir() {
            eml_files(&path, out);
        } else {
            out.push(path);
        }
    }
}

/// A file's path under `eml/` and its bytes.
type CorpusFile = (String, Vec<u8>);

/// Messages per MULTIAPPEND command.
const APPEND_BATCH: usize = 200;

/// Appends every file unchanged to a folder named after its corpus folder
/// and reads each one independently. A file the server refuses is a
/// finding.
fn append_all(
    appender: &mut Appender,
    root: &Path,
    files: &[PathBuf],
    findings: &mut Vec<Finding>,
) -> Vec<Stored> {
    let mut by_folder: Vec<(String, Vec<CorpusFile>)> = Vec::new();
    for path in files {
        let file = path.strip_prefix(root).unwrap().display().to_string();
        let folder = Path::new(&file).parent().unwrap().display().to_string();
        let mailbox = folder.replace('/', "-");
        let raw = std::fs::read(path).unwrap();
        match by_folder.iter_mut().find(|(name, _)| *name == mailbox) {
            Some((_, list)) => list.push((file, raw)),
            None => by_folder.push((mailbox, vec![(file, raw)])),
        }
    }

    let mut stored = Vec::new();
    for (mailbox, messages) in &by_folder {
        appender
            .command(format!("CREATE \"{mailbox}\"").as_bytes())
            .unwrap_or_else(|e| panic!("CREATE {mailbox} failed: {e}"));
        for batch in messages.chunks(APPEND_BATCH) {
            let raws: Vec<&[u8]> = batch.iter().map(|(_, raw)| raw.as_slice()).collect();
            let uids = match appender.append(mailbox, &raws) {
                Ok(uids) => uids.into_iter().map(Ok).collect(),
                // One refused message fails the whole command: find it.
                Err(_) => raws
                    .iter()
                    .map(|raw| appender.append(mailbox, &[raw]).map(|u| u[0]))
                    .collect::<Vec<_>>(),
            };
            for ((file, raw), uid) in batch.iter().zip(uids) {
                match uid {
                    Ok((uidvalidity, uid)) => stored.push(Stored {
                        file: file.clone(),
                        mailbox: mailbox.clone(),
                        uidvalidity,
                        uid,
                        expected: expect(raw),
                    }),
                    Err(e) => findings.push(Finding {
                        file: file.clone(),
                        check: Check::Appended,
                        detail: e,
                    }),
                }
            }
        }
    }
    stored
}

/// A bare IMAP connection that appends many messages in one command
/// (MULTIAPPEND, RFC 3502, with LITERAL+ literals, RFC 7888): one
/// transaction per batch instead of one per message. Reads and writes time
/// out after 30 seconds.
struct Appender {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
    next_tag: u32,
}

impl Appender {
    fn login(port: u16, user: &str, password: &str) -> Appender {
        let stream = TcpStream::connect(("127.0.0.1", port)).expect("IMAP port reachable");
        let timeout = Some(Duration::from_secs(30));
        stream.set_read_timeout(timeout).unwrap();
        stream.set_write_timeout(timeout).unwrap();
        let mut appender = Appender {
            reader: BufReader::new(stream.try_clone().unwrap()),
            writer: stream,
            next_tag: 1,
        };

        let greeting = appender.read_line().expect("a greeting");
        assert!(greeting.starts_with("* OK"), "greeting {greeting:?}");
        let login = format!("LOGIN \"{user}\" \"{password}\"");
        appender.command(login.as_bytes()).expect("LOGIN accepted");
        let capabilities = appender
            .command(b"CAPABILITY")
            .expect("CAPABILITY answered");
        let capabilities = capabilities.join(" ");
        assert!(
            capabilities.contains("MULTIAPPEND") && capabilities.contains("LITERAL+"),
            "the test Dovecot should offer MULTIAPPEND and LITERAL+: {capabilities}"
        );
        appender
    }

    /// Appends `messages` to `mailbox` in one command; returns (UIDVALIDITY,
    /// UID) of each, in order.
    fn append(&mut self, mailbox: &str, messages: &[&[u8]]) -> Result<Vec<(u32, u32)>, String> {
        let mut command = format!("APPEND \"{mailbox}\"").into_bytes();
        for raw in messages {
            command.extend_from_slice(format!(" () {{{}+}}\r\n", raw.len()).as_bytes());
            command.extend_from_slice(raw);
        }

        let lines = self.command(&command)?;
        let tagged = lines.last().cloned().unwrap_or_default();
        let (uidvalidity, uids) = appended_uids(&tagged)
            .ok_or_else(|| format!("APPEND answer has no APPENDUID: {tagged}"))?;
        if uids.len() != messages.len() {
            return Err(format!(
                "{} UIDs for {} messages: {tagged}",
                uids.len(),
                messages.len()
            ));
        }
        Ok(uids.into_iter().map(|uid| (uidvalidity, uid)).collect())
    }

    /// Sends one tagged command and returns every line up to the tagged one;
    /// `Err` when the server answers NO or BAD.
    fn command(&mut self, command: &[u8]) -> Result<Vec<String>, String> {
        let tag = format!("A{}", self.next_tag);
        self.next_tag += 1;
        let mut bytes = format!("{tag} ").into_bytes();
        bytes.extend_from_slice(command);
        bytes.extend_from_slice(b"\r\n");
        self.writer.write_all(&bytes).map_err(|e| e.to_string())?;

        let mut lines = Vec::new();
        loop {
            let line = self.read_line()?;
            let status = line
                .strip_prefix(&format!("{tag} "))
                .map(|s| s.starts_with("OK"));
            lines.push(line);
            match status {
                Some(true) => return Ok(lines),
                Some(false) => return Err(lines.join("\n")),
                None => continue,
            }
        }
    }

    fn read_line(&mut self) -> Result<String, String> {
        let mut line = Vec::new();
        let n = self
            .reader
            .read_until(b'\n', &mut line)
            .map_err(|e| e.to_string())?;
        if n == 0 {
            return Err("the server closed the connection".to_owned());
        }
        Ok(String::from_utf8_lossy(&line).trim_end().to_owned())
    }

    fn logout(mut self) {
        let _ = self.command(b"LOGOUT");
    }
}

/// UIDVALIDITY and the UIDs of `[APPENDUID v set]` in a tagged OK, the set
/// being UIDs and ranges such as `4:6,9`.
fn appended_uids(tagged: &str) -> Option<(u32, Vec<u32>)> {
    let (_, rest) = tagged.split_once("[APPENDUID ")?;
    let (validity, rest) = rest.split_once(' ')?;
    let set = rest.split(']').next()?;

    let mut uids = Vec::new();
    for item in set.split(',') {
        match item.split_once(':') {
            Some((a, b)) => {
                let (a, b): (u32, u32) = (a.parse().ok()?, b.parse().ok()?);
                uids.extend(a.min(b)..=a.max(b));
            }
            None => uids.push(item.parse().ok()?),
        }
    }
    Some((validity.parse().ok()?, uids))
}

/// Opens one message like a reader and records what differs.
async fn read_message(browser: &Browser, message: &Stored, tally: &mut Tally) {
    let mut finding = |check: Check, detail: String| {
        tally.findings.push(Finding {
            file: message.file.clone(),
            check,
            detail,
        })
    };
    let path = format!(
        "/mail/{}/{}/{}",
        message.mailbox, message.uidvalidity, message.uid
    );

    let page = browser.get(&path).await;
    tally.pages += 1;
    if page.status != 200 {
        let text = excerpt(&page.text());
        finding(
            Check::Answered,
            format!("{path} answered {}: {text}", page.status),
        );
        return;
    }
    let MessagePage {
        frame_src,
        downloads,
        viewers,
        names,
        mut shown,
    } = MessagePage::read(&page.text());

    if let Some(src) = &frame_src {
        let frame = browser.get(src).await;
        tally.frames += 1;
        if frame.status != 200 {
            finding(Check::Answered, format!("{src} answered {}", frame.status));
            return;
        }
        shown = shown_text(&frame.html(), "body");
    }
    for href in downloads.iter().chain(&viewers) {
        let answer = browser.get(href).await;
        tally.downloads += 1;
        if answer.status != 200 {
            finding(
                Check::Answered,
                format!("{href} answered {}", answer.status),
            );
        }
    }

    let Some(expected) = &message.expected else {
        return;
    };
    if expected.downloads != downloads.len() {
        let detail = format!("expected {}, the page lists {names:?}", expected.downloads);
        finding(Check::AttachmentCount, detail);
    }
    if let Some(line) = &expected.line {
        if shown.contains(line.as_str()) {
            tally.lines_found += 1;
        } else {
            let detail = format!("{line:?} is not in {:?}", excerpt(&shown));
            finding(Check::TextShown, detail);
        }
    }
    if expected.clean && shown.contains('\u{FFFD}') {
        let at = shown.find('\u{FFFD}').unwrap_or(0);
        let before = &shown[..at];
        let start = before.char_indices().rev().nth(60).map_or(0, |(i, _)| i);
        let around: String = shown[start..].chars().take(120).collect();
        finding(Check::NoReplacement, format!("U+FFFD in {around:?}"));
    }
}

/// What the test reads off a message page.
struct MessagePage {
    frame_src: Option<String>,
    downloads: Vec<String>,
    viewers: Vec<String>,
    names: Vec<String>,
    /// The text of the body shown in the page itself, folded.
    shown: String,
}

impl MessagePage {
    fn read(text: &str) -> MessagePage {
        let html = Html::parse_document(text);
        MessagePage {
            frame_src: attr_values(&html, "iframe.body-frame", "src").pop(),
            downloads: attr_values(&html, "ul.attachments li a[download]", "href"),
            viewers: attr_values(&html, "ul.attachments li a:not([download])", "href"),
            names: texts(&html, "ul.attachments li a[download]"),
            shown: shown_text(&html, "div.body"),
        }
    }
}

fn attr_values(html: &Html, selector: &str, attribute: &str) -> Vec<String> {
    let selector = Selector::parse(selector).expect("a valid selector");
    html.select(&selector)
        .filter_map(|e| e.value().attr(attribute).map(str::to_owned))
        .collect()
}

fn texts(html: &Html, selector: &str) -> Vec<String> {
    let selector = Selector::parse(selector).expect("a valid selector");
    html.select(&selector)
        .map(|e| fold(&e.text().collect::<String>()))
        .collect()
}

/// The text a reader sees in every element matching `selector`: text nodes
/// as they stand, a space for each line break or block edge, and runs of
/// whitespace (NBSP included) folded to one space.
fn shown_text(html: &Html, selector: &str) -> String {
    let selector = Selector::parse(selector).expect("a valid selector");
    let mut text = String::new();
    for element in html.select(&selector) {
        for node in element.descendants() {
            if let Some(t) = node.value().as_text() {
                text.push_str(t);
            } else if let Some(e) = node.value().as_element() {
                if BREAKING_ELEMENTS.contains(&e.name()) {
                    text.push(' ');
                }
            }
        }
        text.push(' ');
    }
    fold(&text)
}

/// Elements at whose start a reader sees a new line.
const BREAKING_ELEMENTS: [&str; 12] = [
    "br",
    "p",
    "div",
    "tr",
    "td",
    "th",
    "li",
    "blockquote",
    "pre",
    "h1",
    "h2",
    "h3",
];

fn fold(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn excerpt(text: &str) -> String {
    text.chars().take(300).collect()
}

// The independent reading.

/// What a reader should see in `raw`, or `None` when mailparse cannot read
/// the message at all (then only the answers are checked).
fn expect(raw: &[u8]) -> Option<Expected> {
    let reading = read_structure(raw, 0)?;
    let any_html = reading.shown.iter().any(|part| part.html);
    let downloads = reading.listed + if any_html { 0 } else { reading.nested_listed };
    let line = reading.shown.iter().find_map(distinctive_line);
    let clean = reading.shown.iter().all(decodes_cleanly);
    Some(Expected {
        line,
        downloads,
        clean,
    })
}

/// The parts of one message (and of the forwarded messages shown inside it)
/// that matter to a reader.
#[derive(Default)]
struct Reading {
    /// Text parts shown as body, in reading order, blank ones left out.
    shown: Vec<TextPart>,
    /// Body blocks: shown text parts plus forwarded messages shown inline.
    blocks: usize,
    /// Parts listed for download by this message itself.
    listed: usize,
    /// Parts listed by forwarded messages shown inline, at every depth.
    nested_listed: usize,
}

struct TextPart {
    html: bool,
    /// The body after its transfer encoding is undone.
    data: Vec<u8>,
    /// The declared charset label, or empty.
    charset: String,
}

fn read_structure(raw: &[u8], depth: usize) -> Option<Reading> {
    let parsed = mailparse::parse_mail(raw).ok()?;
    let mut reading = Reading {
        listed: count_listed(&parsed),
        ..Reading::default()
    };

    collect_shown(&parsed, depth, &mut reading);
    if reading.blocks == 0 {
        if let Some(fallback) = first_readable(&parsed) {
            push_text(fallback, &mut reading);
        }
    }
    Some(reading)
}

/// The type as the renderer treats it: a type without a slash is plain
/// text, and so is a multipart in which no part was found.
fn mime_of(part: &ParsedMail<'_>) -> String {
    let mime = part.ctype.mimetype.trim().to_ascii_lowercase();
    if !mime.contains('/') || (mime.starts_with("multipart/") && part.subparts.is_empty()) {
        return "text/plain".to_owned();
    }
    mime
}

fn is_container(part: &ParsedMail<'_>) -> bool {
    mime_of(part).starts_with("multipart/")
}

fn is_forwarded(mime: &str) -> bool {
    matches!(mime, "message/rfc822" | "message/global")
}

fn is_readable(mime: &str) -> bool {
    (mime.starts_with("text/") && !DATA_TEXT.contains(&mime)) || READABLE_REPORTS.contains(&mime)
}

/// The Content-Disposition token, lowercase, or empty without the header.
fn disposition(part: &ParsedMail<'_>) -> String {
    let value = part
        .headers
        .get_first_value("Content-Disposition")
        .unwrap_or_default();
    let token = value.split(';').next().unwrap_or_default();
    token.trim().to_ascii_lowercase()
}

/// Whether the sender named the part (a `filename` or `name` parameter,
/// plain or RFC 2231, with something left after any directory).
fn has_filename(part: &ParsedMail<'_>) -> bool {
    let named = |value: &String| {
        let base = value.rsplit(['/', '\\']).next().unwrap_or_default();
        !base.trim().is_empty()
    };
    let content_disposition = part.get_content_disposition();
    let in_disposition = content_disposition
        .params
        .iter()
        .any(|(key, value)| key.starts_with("filename") && named(value));
    let in_type = part
        .ctype
        .params
        .iter()
        .any(|(key, value)| key.starts_with("name") && named(value));
    in_disposition || in_type
}

/// A readable part meant as body text: not an attachment, and either marked
/// inline or without a file name.
fn shows_as_text(part: &ParsedMail<'_>) -> bool {
    let disposition = disposition(part);
    is_readable(&mime_of(part))
        && disposition != "attachment"
        && (disposition == "inline" || !has_filename(part))
}

/// Parts offered for download in this message, not counting those inside
/// forwarded messages.
fn count_listed(part: &ParsedMail<'_>) -> usize {
    if is_container(part) {
        return part.subparts.iter().map(count_listed).sum();
    }
    let mime = mime_of(part);
    let listed = is_forwarded(&mime)
        || disposition(part) == "attachment"
        || has_filename(part)
        || !is_readable(&mime);
    usize::from(listed)
}

/// Walks what a reader sees: the richest alternative, the root of a
/// related group, every part of other multiparts, forwarded messages that
/// are not attachments.
fn collect_shown(part: &ParsedMail<'_>, depth: usize, reading: &mut Reading) {
    let mime = mime_of(part);
    if is_container(part) {
        let chosen: Vec<&ParsedMail<'_>> = match mime.as_str() {
            "multipart/alternative" => richest_alternative(part).into_iter().collect(),
            "multipart/related" => related_root(part).into_iter().collect(),
            _ => part.subparts.iter().collect(),
        };
        for child in chosen {
            collect_shown(child, depth, reading);
        }
        return;
    }

    if is_forwarded(&mime) {
        if disposition(part) == "attachment" || depth + 1 > MAX_NESTED {
            return;
        }
        let inner_raw = part.get_body_raw().unwrap_or_default();
        if let Some(inner) = read_structure(&inner_raw, depth + 1) {
            reading.blocks += 1;
            reading.nested_listed += inner.listed + inner.nested_listed;
            reading.shown.extend(inner.shown);
        }
        return;
    }
    if shows_as_text(part) {
        push_text(part, reading);
    }
}

fn push_text(part: &ParsedMail<'_>, reading: &mut Reading) {
    let data = part.get_body_raw().unwrap_or_default();
    if data.iter().all(|b| b.is_ascii_whitespace()) {
        return;
    }
    reading.blocks += 1;
    reading.shown.push(TextPart {
        html: mime_of(part) == "text/html",
        data,
        charset: part
            .ctype
            .params
            .get("charset")
            .cloned()
            .unwrap_or_default(),
    });
}

/// A part's rank as an alternative: 3 when it shows HTML, 2 when it shows
/// text, 1 for a container or forwarded message, 0 otherwise.
fn alternative_rank(part: &ParsedMail<'_>) -> u8 {
    let leaves: Vec<&ParsedMail<'_>> = part.parts().filter(|p| !is_container(p)).collect();
    if leaves
        .iter()
        .any(|p| mime_of(p) == "text/html" && shows_as_text(p))
    {
        3
    } else if leaves.iter().any(|p| shows_as_text(p)) {
        2
    } else if is_container(part) || is_forwarded(&mime_of(part)) {
        1
    } else {
        0
    }
}

/// The last of the best-ranked alternatives (RFC 2046 puts the richest
/// last), or none when no alternative has anything to show.
fn richest_alternative<'p, 'a>(part: &'p ParsedMail<'a>) -> Option<&'p ParsedMail<'a>> {
    let best = part.subparts.iter().map(alternative_rank).max()?;
    if best == 0 {
        return None;
    }
    part.subparts
        .iter()
        .rev()
        .find(|p| alternative_rank(p) == best)
}

/// The part named by `start`, else the first part.
fn related_root<'p, 'a>(part: &'p ParsedMail<'a>) -> Option<&'p ParsedMail<'a>> {
    let start = part.ctype.params.get("start").map(|s| {
        s.trim_matches(|c: char| c == '<' || c == '>' || c.is_whitespace())
            .to_owned()
    });
    let named = start.and_then(|start| {
        part.subparts.iter().find(|p| {
            p.headers
                .get_first_value("Content-ID")
                .is_some_and(|id| id.trim().trim_matches(['<', '>']) == start)
        })
    });
    named.or_else(|| part.subparts.first())
}

/// When nothing else shows, the first readable part that is not an
/// attachment and has more than whitespace is shown as body.
fn first_readable<'a>(part: &'a ParsedMail<'a>) -> Option<&'a ParsedMail<'a>> {
    part.parts().find(|p| {
        let data = p.get_body_raw().unwrap_or_default();
        !is_container(p)
            && is_readable(&mime_of(p))
            && disposition(p) != "attachment"
            && data.iter().any(|b| !b.is_ascii_whitespace())
    })
}

/// The encoding a declared label names, when encoding_rs knows it; no label
/// reads as US-ASCII.
fn declared_encoding(label: &str) -> Option<&'static Encoding> {
    let label = label.trim().trim_matches(['"', '\'']).trim();
    let label = if label.is_empty() { "us-ascii" } else { label };
    Encoding::for_label(label.as_bytes())
}

/// Whether a label promises nothing beyond ASCII (or promises nothing).
fn is_ascii_label(label: &str) -> bool {
    let label = label.trim().trim_matches(['"', '\'']).trim();
    label.is_empty()
        || label.eq_ignore_ascii_case("us-ascii")
        || label.eq_ignore_ascii_case("ascii")
}

fn decodes_cleanly(part: &TextPart) -> bool {
    let Some(encoding) = declared_encoding(&part.charset) else {
        return false;
    };
    encoding
        .decode_without_bom_handling_and_without_replacement(&part.data)
        .is_some_and(|text| !text.contains('\u{FFFD}'))
}

/// The first line of a part a reader would recognise: at least 16
/// characters and three words, not quoted. Where the declared charset does
/// not decode the part cleanly (or declares only ASCII), only lines of
/// plain ASCII are considered, since any reasonable decoding keeps them.
fn distinctive_line(part: &TextPart) -> Option<String> {
    let clean = decodes_cleanly(part) && !is_ascii_label(&part.charset);
    // UTF-7 shifts into base64 after a `+`, so only lines without one read
    // the same in ASCII.
    let is_utf7 = part.charset.to_ascii_lowercase().contains("utf-7");
    let text = match declared_encoding(&part.charset) {
        Some(encoding) if clean => encoding
            .decode_without_bom_handling_and_without_replacement(&part.data)
            .map(|t| t.into_owned())
            .unwrap_or_default(),
        _ => String::from_utf8_lossy(&part.data).into_owned(),
    };
    let lines = if part.html {
        html_lines(&text)
    } else {
        text.lines().map(str::to_owned).collect()
    };

    lines.into_iter().find_map(|line| {
        let folded = fold(&line);
        let words = folded.split(' ').count();
        let usable = folded.chars().count() >= 16
            && words >= 3
            && !folded.starts_with('>')
            && !folded.chars().any(|c| c.is_control() || c == '\u{FFFD}')
            && (clean || folded.is_ascii())
            && !(is_utf7 && folded.contains('+'));
        usable.then(|| shorten(&folded))
    })
}

/// At most about 100 characters, cut at a space.
fn shorten(line: &str) -> String {
    if line.chars().count() <= 100 {
        return line.to_owned();
    }
    let cut = line.char_indices().nth(100).map_or(line.len(), |(i, _)| i);
    let end = line[..cut].rfind(' ').unwrap_or(cut);
    line[..end].to_owned()
}

/// The text nodes of an HTML part's body that sit only inside plain text
/// markup, each folded.
fn html_lines(html: &str) -> Vec<String> {
    let document = Html::parse_document(html);
    let body = Selector::parse("body").expect("a valid selector");
    let Some(body) = document.select(&body).next() else {
        return Vec::new();
    };

    let mut lines = Vec::new();
    for node in body.descendants() {
        let Some(text) = node.value().as_text() else {
            continue;
        };
        let plain = node
            .ancestors()
            .filter_map(ElementRef::wrap)
            .all(|e| PLAIN_ELEMENTS.contains(&e.value().name()));
        if plain {
            lines.push(fold(text));
        }
    }
    lines
}
