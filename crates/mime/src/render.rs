//! From a raw message to a [`MessageView`].
//!
//! It owns the choices a reader sees: which alternative is shown, which
//! parts are body text and which are downloads, how forwarded messages
//! nest, and which damage is reported. It must not fail: every fault is
//! recorded as a problem and the rest of the message still renders. It
//! never shows a part twice as body text, and every part that is not body
//! text and not a container is listed as an attachment.

use std::collections::BTreeSet;

use crate::address::{parse_address_list, MailAddress};
use crate::charset::{charset_for_label, decode_guess, decode_with_label, Charset};
use crate::date::parse_date;
use crate::entity::{parse_message, split_header_block, DispositionKind, Entity, Headers};
use crate::header::{clean_display_text, decode_header};
use crate::problem::Problem;
use crate::sanitize::{sanitize_with_cids, CidMap, Sanitized};
use crate::text::{text_to_html, unflow};
use crate::transfer::TransferEncoding;
use crate::view::{AttachmentInfo, BodyBlock, MessageView, RenderOptions};

/// How many forwarded messages deep the renderer shows inline.
const MAX_MESSAGE_DEPTH: usize = 8;

/// Text types shown as downloads rather than read as text.
const NOT_READABLE_TEXT: [&str; 7] = [
    "text/rtf",
    "text/calendar",
    "text/x-vcalendar",
    "text/vcard",
    "text/x-vcard",
    "text/directory",
    "text/x-vcard-data",
];

/// Message parts that are machine reports but read fine as text.
const READABLE_REPORTS: [&str; 3] = [
    "message/delivery-status",
    "message/disposition-notification",
    "message/feedback-report",
];

/// Render never fails.
pub fn render_message(raw: &[u8], options: &RenderOptions) -> MessageView {
    render_at(raw, "", options, 0)
}

/// Render a message whose parts are numbered below `prefix` (the part
/// number of the message/rfc822 part holding it, or empty).
pub(crate) fn render_at(
    raw: &[u8],
    prefix: &str,
    options: &RenderOptions,
    depth: usize,
) -> MessageView {
    let root = parse_message(raw, prefix);
    let mut view = header_view(&root.headers);
    let mut renderer = Renderer {
        options,
        cids: content_ids(&root),
        depth,
        removed_remote: false,
        problems: Vec::new(),
        damaged_parts: BTreeSet::new(),
    };

    renderer.render(&root, &mut view.body);
    if view.body.is_empty() {
        if let Some(fallback) = root.walk().into_iter().find(|e| is_fallback_text(e)) {
            renderer.render_text(fallback, &mut view.body);
        }
    }
    view.attachments = renderer.attachments(&root);

    view.had_remote_content = renderer.removed_remote;
    let parse_problems = root
        .walk()
        .into_iter()
        .flat_map(|e| e.problems.iter().cloned());
    let problems = parse_problems.chain(renderer.problems);
    view.problems = problems.map(|p| p.to_string()).collect();
    view
}

fn header_view(headers: &Headers<'_>) -> MessageView {
    let addresses = |name: &str| -> Vec<MailAddress> {
        headers
            .get_all(name)
            .into_iter()
            .flat_map(parse_address_list)
            .collect()
    };
    let subject = headers
        .get("subject")
        .map(decode_header)
        .filter(|s| !s.is_empty());
    let date = headers
        .get("date")
        .and_then(|v| parse_date(&decode_guess(v).text));
    let message_id = headers
        .get("message-id")
        .map(|v| clean_display_text(&decode_guess(v).text))
        .filter(|s| !s.is_empty());

    MessageView {
        subject,
        from: addresses("from"),
        to: addresses("to"),
        cc: addresses("cc"),
        reply_to: addresses("reply-to"),
        date,
        message_id,
        ..MessageView::default()
    }
}

/// Content-ID to part number for every part of this message (not of
/// messages forwarded inside it).
fn content_ids(root: &Entity<'_>) -> CidMap {
    let with_ids = root
        .walk()
        .into_iter()
        .filter_map(|e| Some((e.content_id()?, e.id.clone())));
    let mut map = CidMap::new();
    for (cid, id) in with_ids {
        map.entry(cid).or_insert(id);
    }
    map
}

/// Text a person reads, as opposed to data that happens to be text/*.
pub(crate) fn is_readable_text(entity: &Entity<'_>) -> bool {
    let mime = entity.mime_type();
    (mime.starts_with("text/") && !NOT_READABLE_TEXT.contains(&mime))
        || READABLE_REPORTS.contains(&mime)
}

/// A readable part the sender meant as body text.
fn shows_in_body(entity: &Entity<'_>) -> bool {
    let disposition = entity.disposition_kind();
    is_readable_text(entity)
        && disposition != DispositionKind::Attachment
        && (disposition == DispositionKind::Inline || entity.filename().is_none())
}

/// When nothing qualified as body text, the first readable part that is
/// not an explicit attachment is shown, so a message is never blank.
fn is_fallback_text(entity: &Entity<'_>) -> bool {
    !entity.is_multipart()
        && is_readable_text(entity)
        && entity.disposition_kind() != DispositionKind::Attachment
        && entity.body.iter().any(|b| !b.is_ascii_whitespace())
}

/// Parts offered for download: everything that is neither a container nor
/// plain body text. Shown inline text parts with a filename are listed too.
pub(crate) fn is_listed(entity: &Entity<'_>) -> bool {
    if entity.is_multipart() {
        return false;
    }
    entity.is_embedded_message()
        || entity.disposition_kind() == DispositionKind::Attachment
        || entity.filename().is_some()
        || !is_readable_text(entity)
}

struct Renderer<'o> {
    options: &'o RenderOptions,
    cids: CidMap,
    depth: usize,
    removed_remote: bool,
    problems: Vec<Problem>,
    /// Parts whose damaged base64 is already reported.
    damaged_parts: BTreeSet<String>,
}

impl Renderer<'_> {
    fn render(&mut self, entity: &Entity<'_>, out: &mut Vec<BodyBlock>) {
        if !entity.is_multipart() {
            self.render_leaf(entity, out);
            return;
        }
        match entity.mime_type() {
            "multipart/alternative" => {
                if let Some(best) = best_alternative(entity) {
                    self.render(best, out);
                }
            }
            "multipart/related" => {
                if let Some(root) = related_root(entity) {
                    self.render(root, out);
                }
            }
            _ => {
                for child in &entity.children {
                    self.render(child, out);
                }
            }
        }
    }

    fn render_leaf(&mut self, entity: &Entity<'_>, out: &mut Vec<BodyBlock>) {
        if entity.is_embedded_message() {
            if entity.disposition_kind() != DispositionKind::Attachment {
                self.render_embedded(entity, out);
            }
            return;
        }
        if shows_in_body(entity) {
            self.render_text(entity, out);
        }
    }

    fn render_embedded(&mut self, entity: &Entity<'_>, out: &mut Vec<BodyBlock>) {
        if self.depth + 1 > MAX_MESSAGE_DEPTH {
            self.problems.push(Problem::NestedTooDeeply {
                part: entity.id.clone(),
            });
            return;
        }
        let data = self.decoded_data(entity);
        let view = render_at(&data, &entity.id, self.options, self.depth + 1);
        self.removed_remote |= view.had_remote_content;
        out.push(BodyBlock::Message(Box::new(view)));
    }

    /// Decode a text part in its charset and convert it to a body block.
    fn render_text(&mut self, entity: &Entity<'_>, out: &mut Vec<BodyBlock>) {
        let data = self.decoded_data(entity);
        let is_html = entity.mime_type() == "text/html";
        let label = match entity.content_type.param("charset") {
            Some(label) => label.to_string(),
            None if is_html => sniff_html_charset(&data).unwrap_or_default(),
            None => String::new(),
        };
        let mut decoded = decode_with_label(&data, &label);
        if decoded.had_errors {
            let part = entity.id.clone();
            let charset = if label.is_empty() {
                "text".to_string()
            } else {
                label.clone()
            };
            // Text that claims UTF-8 and is not is almost always Latin-1 or
            // windows-1252 (golden malformed/004).
            if charset_for_label(&label) == Charset::Known(encoding_rs::UTF_8) {
                decoded = decode_guess(&data);
                self.problems
                    .push(Problem::ReadAsWindows1252 { part, charset });
            } else {
                self.problems
                    .push(Problem::InvalidCharset { part, charset });
            }
        }
        if decoded.text.trim().is_empty() {
            return;
        }

        if is_html {
            match sanitize_with_cids(&decoded.text, self.options, &self.cids) {
                Sanitized::Html(sanitized) => {
                    self.removed_remote |= sanitized.had_remote_content;
                    out.push(BodyBlock::Html {
                        html: sanitized.html,
                    });
                }
                Sanitized::TooDeep { text_html } => {
                    self.problems.push(Problem::HtmlTooDeep {
                        part: entity.id.clone(),
                    });
                    out.push(BodyBlock::Text { html: text_html });
                }
            }
            return;
        }
        let flowed = entity
            .content_type
            .param("format")
            .is_some_and(|f| f.eq_ignore_ascii_case("flowed"));
        let text = if flowed {
            let delsp = entity
                .content_type
                .param("delsp")
                .is_some_and(|d| d.eq_ignore_ascii_case("yes"));
            unflow(&decoded.text, delsp)
        } else {
            decoded.text
        };
        out.push(BodyBlock::Text {
            html: text_to_html(&text),
        });
    }

    /// The transfer-decoded body; damaged base64 is reported once per part.
    fn decoded_data(&mut self, entity: &Entity<'_>) -> Vec<u8> {
        let decoded = entity.decoded_body();
        if decoded.damaged
            && entity.transfer == TransferEncoding::Base64
            && self.damaged_parts.insert(entity.id.clone())
        {
            self.problems.push(Problem::DamagedBase64 {
                part: entity.id.clone(),
            });
        }
        decoded.data
    }

    fn attachments(&mut self, root: &Entity<'_>) -> Vec<AttachmentInfo> {
        let listed = root.walk().into_iter().filter(|e| is_listed(e));
        let mut out = Vec::new();
        for entity in listed {
            let data = self.decoded_data(entity);
            let content_id = entity.content_id();
            let disposition = entity.disposition_kind();
            let inline = disposition == DispositionKind::Inline
                || (disposition == DispositionKind::Unspecified && content_id.is_some());
            out.push(AttachmentInfo {
                part_id: entity.id.clone(),
                filename: filename_for(entity, &data),
                content_type: entity.mime_type().to_string(),
                size: data.len(),
                content_id,
                inline,
            });
        }
        out
    }
}

/// HTML first, then plain text, then anything else readable; the last of
/// equals wins, as RFC 2046 orders alternatives from plain to rich.
fn best_alternative<'e, 'a>(entity: &'e Entity<'a>) -> Option<&'e Entity<'a>> {
    let score = |e: &Entity<'_>| -> u8 {
        let leaves = e.walk();
        let has_html = leaves
            .iter()
            .any(|l| l.mime_type() == "text/html" && shows_in_body(l));
        if has_html {
            3
        } else if leaves.iter().any(|l| shows_in_body(l)) {
            2
        } else if e.is_multipart() || e.is_embedded_message() {
            1
        } else {
            0
        }
    };
    let best = entity
        .children
        .iter()
        .map(|c| (score(c), c))
        .max_by_key(|(s, _)| *s)?;
    let top = best.0;
    if top == 0 {
        return None;
    }
    entity.children.iter().rev().find(|c| score(c) == top)
}

/// The part named by the `start` parameter, else the first part.
fn related_root<'e, 'a>(entity: &'e Entity<'a>) -> Option<&'e Entity<'a>> {
    let start = entity
        .content_type
        .param("start")
        .map(|s| s.trim_matches(['<', '>', ' ']));
    let named = start.and_then(|s| {
        entity
            .children
            .iter()
            .find(|c| c.content_id().as_deref() == Some(s))
    });
    named.or_else(|| entity.children.first())
}

/// A charset declared in a `<meta>` element near the start of an HTML part.
fn sniff_html_charset(data: &[u8]) -> Option<String> {
    let head = &data[..data.len().min(4096)];
    let lower = String::from_utf8_lossy(head).to_ascii_lowercase();
    let meta = lower.find("<meta")?;
    let at = meta + lower[meta..].find("charset=")? + "charset=".len();
    let label: String = lower[at..]
        .trim_start_matches(['"', '\''])
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':'))
        .collect();
    (!label.is_empty()).then_some(label)
}

/// The name offered for a download.
pub(crate) fn filename_for(entity: &Entity<'_>, data: &[u8]) -> String {
    if let Some(name) = entity.filename() {
        return name;
    }
    if entity.is_embedded_message() {
        let (headers, _) = split_header_block(data);
        let subject = headers
            .get("subject")
            .map(decode_header)
            .unwrap_or_default();
        let safe: String = subject
            .chars()
            .filter(|c| !c.is_control())
            .map(|c| if matches!(c, '/' | '\\') { '_' } else { c })
            .collect();
        let safe = safe.trim();
        let stem = if safe.is_empty() {
            "forwarded message"
        } else {
            safe
        };
        return format!("{stem}.eml");
    }
    format!("part-{}{}", entity.id, extension_for(entity.mime_type()))
}

fn extension_for(mime: &str) -> &'static str {
    match mime {
        "text/plain" => ".txt",
        "text/html" => ".html",
        "text/calendar" => ".ics",
        "text/x-vcard" | "text/vcard" => ".vcf",
        "image/png" => ".png",
        "image/jpeg" | "image/jpg" | "image/pjpeg" => ".jpg",
        "image/gif" => ".gif",
        "image/webp" => ".webp",
        "application/pdf" => ".pdf",
        "application/zip" => ".zip",
        "application/pgp-signature" => ".asc",
        "application/pkcs7-signature" | "application/x-pkcs7-signature" => ".p7s",
        "message/delivery-status" => ".txt",
        _ => ".bin",
    }
}
