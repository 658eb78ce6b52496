//! Every message of the shared corpus (/work/shared/corpus/eml/**, 2,600+
//! real messages) rendered once. The checks compare against an independent
//! reading by the mailparse crate, not against this crate's own walk:
//!
//! - rendering never panics;
//! - a message with readable text shows non-empty text (or an image, when
//!   its only HTML part is one);
//! - the attachment list has as many entries as the MIME structure has
//!   downloadable parts;
//! - no U+FFFD appears in the body when every shown text part decodes
//!   cleanly in its declared charset;
//! - every listed attachment can be extracted with the size listed.

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use common::{body_html, body_text, shared_dir, visible_text};
use mailfront_mime::{extract_part, render_message, MessageView, RenderOptions};
use mailparse::{DispositionType, MailHeaderMap, ParsedMail};

/// Text types a reader reads; kept in step with the renderer's rule by
/// hand, on purpose, so the test does not reuse the code it checks.
fn is_readable_text(mime: &str) -> bool {
    let data_text = [
        "text/rtf",
        "text/calendar",
        "text/x-vcalendar",
        "text/vcard",
        "text/x-vcard",
        "text/directory",
        "text/x-vcard-data",
    ];
    let reports = [
        "message/delivery-status",
        "message/disposition-notification",
        "message/feedback-report",
    ];
    (mime.starts_with("text/") && !data_text.contains(&mime)) || reports.contains(&mime)
}

fn has_filename(part: &ParsedMail<'_>) -> bool {
    let named = |key: &String, value: &String| {
        (key.starts_with("filename") || key.starts_with("name")) && !value.trim().is_empty()
    };
    let disposition = part.get_content_disposition();
    disposition.params.iter().any(|(k, v)| named(k, v))
        || part.ctype.params.iter().any(|(k, v)| named(k, v))
}

/// Downloadable parts by the rule the view documents: embedded messages,
/// parts marked as attachments or named, and anything that is not text.
fn count_downloads(part: &ParsedMail<'_>) -> usize {
    let mime = part.ctype.mimetype.as_str();
    if mime.starts_with("multipart/") && !part.subparts.is_empty() {
        return part.subparts.iter().map(count_downloads).sum();
    }
    if mime.starts_with("multipart/") {
        return 0;
    }
    let attachment = part.get_content_disposition().disposition == DispositionType::Attachment;
    let embedded = matches!(mime, "message/rfc822" | "message/global");
    let valid_type = mime.contains('/');
    let listed =
        embedded || attachment || has_filename(part) || (valid_type && !is_readable_text(mime));
    usize::from(listed)
}

/// Readable, non-empty text parts outside any embedded message, and
/// whether all of them decode cleanly in a charset encoding_rs knows.
struct TextParts {
    any_text: bool,
    all_clean: bool,
}

fn text_parts(part: &ParsedMail<'_>, out: &mut TextParts) {
    for sub in &part.subparts {
        text_parts(sub, out);
    }
    let mime = part.ctype.mimetype.as_str();
    if !part.subparts.is_empty() || !matches!(mime, "text/plain" | "text/html") {
        return;
    }
    if part.get_content_disposition().disposition == DispositionType::Attachment {
        return;
    }
    let Ok(body) = part.get_body_raw() else {
        out.all_clean = false;
        return;
    };
    let readable = if mime == "text/html" {
        !visible_text(&String::from_utf8_lossy(&body)).is_empty()
    } else {
        body.iter().any(|b| !b.is_ascii_whitespace())
    };
    out.any_text |= readable;
    let label = part
        .ctype
        .params
        .get("charset")
        .map(String::as_str)
        .unwrap_or("us-ascii");
    let clean = encoding_rs::Encoding::for_label(label.trim().as_bytes())
        .and_then(|e| e.decode_without_bom_handling_and_without_replacement(&body))
        .is_some_and(|text| !text.contains('\u{FFFD}'));
    out.all_clean &= clean;
}

fn eml_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
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

#[derive(Default)]
struct Summary {
    messages: usize,
    panics: Vec<String>,
    empty_text: Vec<String>,
    count_mismatch: Vec<String>,
    replacement_chars: Vec<String>,
    not_extractable: Vec<String>,
    not_compared: usize,
    attachments: usize,
    with_problems: usize,
    remote_removed: usize,
}

#[test]
fn every_corpus_message_renders_with_its_text_and_attachments() {
    let Some(dir) = shared_dir("corpus/eml") else {
        return;
    };
    let mut files = Vec::new();
    eml_files(&dir, &mut files);
    assert!(
        files.len() > 2_000,
        "expected the whole corpus, found {} files",
        files.len()
    );

    let started = Instant::now();
    let mut summary = Summary::default();
    for path in &files {
        check_message(path, &dir, &mut summary);
    }
    let elapsed = started.elapsed();

    // Straight to stderr, past the harness's capture, so the summary shows
    // in a passing run too.
    let _ = writeln!(
        std::io::stderr(),
        "corpus: {} messages in {:.1}s, {} attachments, {} with problems, {} with remote content \
         removed, {} not compared (mailparse could not read them)",
        summary.messages,
        elapsed.as_secs_f64(),
        summary.attachments,
        summary.with_problems,
        summary.remote_removed,
        summary.not_compared,
    );
    let failures = [
        ("panicked", &summary.panics),
        ("show no text although they have some", &summary.empty_text),
        (
            "list a different number of attachments",
            &summary.count_mismatch,
        ),
        (
            "show U+FFFD although they decode cleanly",
            &summary.replacement_chars,
        ),
    ];
    for (what, list) in &failures {
        assert!(
            list.is_empty(),
            "{} messages {what}: {:?}",
            list.len(),
            list
        );
    }
}

fn check_message(path: &Path, root: &Path, summary: &mut Summary) {
    let raw = std::fs::read(path).unwrap();
    let name = path
        .strip_prefix(root)
        .unwrap_or(path)
        .display()
        .to_string();
    summary.messages += 1;

    let options = RenderOptions::default();
    let Ok(view) = std::panic::catch_unwind(|| render_message(&raw, &options)) else {
        summary.panics.push(name);
        return;
    };
    summary.attachments += view.attachments.len();
    for attachment in &view.attachments {
        let extracted = extract_part(&raw, &attachment.part_id).map(|p| p.data.len());
        if extracted != Some(attachment.size) {
            summary
                .not_extractable
                .push(format!("{name}: part {}", attachment.part_id));
        }
    }
    summary.with_problems += usize::from(!view.problems.is_empty());
    summary.remote_removed += usize::from(view.had_remote_content);

    let Ok(parsed) = mailparse::parse_mail(&raw) else {
        summary.not_compared += 1;
        return;
    };
    compare(&parsed, &view, name, summary);
}

/// Messages on which mailparse sees less structure than there is, each
/// with what it misses. Their attachment counts are not compared.
const MAILPARSE_MISREADS: &[(&str, &str)] = &[(
    "mail-parser/malformed/017.eml",
    "no `;` before boundary=, so mailparse finds no parts",
)];

fn compare(parsed: &ParsedMail<'_>, view: &MessageView, name: String, summary: &mut Summary) {
    let expected = count_downloads(parsed);
    let misread = MAILPARSE_MISREADS.iter().any(|(n, _)| name.ends_with(n));
    if expected != view.attachments.len() && !misread {
        let ids: Vec<&str> = view
            .attachments
            .iter()
            .map(|a| a.part_id.as_str())
            .collect();
        summary
            .count_mismatch
            .push(format!("{name}: expected {expected}, listed {ids:?}"));
    }

    let mut text = TextParts {
        any_text: false,
        all_clean: true,
    };
    text_parts(parsed, &mut text);
    let shown = body_text(view);
    let is_encrypted = parsed
        .headers
        .get_first_value("content-type")
        .is_some_and(|v| v.to_ascii_lowercase().contains("multipart/encrypted"));
    let shows_an_image = body_html(view).contains("<img");
    if text.any_text && !is_encrypted && shown.trim().is_empty() && !shows_an_image {
        summary.empty_text.push(name.clone());
    }
    if text.any_text && text.all_clean && body_html(view).contains('\u{FFFD}') {
        summary.replacement_chars.push(name);
    }
}
