//! Single parts for downloads and `cid:` images, and the headers to send
//! them with.
//!
//! It owns finding a part by its IMAP part number (descending into
//! forwarded messages) and the Content-Disposition value for a download. It
//! never renders anything and never returns a part that does not exist.

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

use crate::entity::{parse_message, Entity};
use crate::render::{filename_for, render_at};
use crate::view::{MessageView, RenderOptions};

/// The decoded bytes of one part, with its type and filename. For a
/// message/rfc822 part the bytes are the whole embedded message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartContent {
    /// Lowercase `type/subtype`.
    pub content_type: String,
    pub filename: String,
    pub data: Vec<u8>,
}

/// How a browser should treat a download.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disposition {
    /// Save to disk.
    Attachment,
    /// Show in the browser (images, for example).
    Inline,
}

/// The decoded bytes of one part by its part id, for downloads and for
/// `cid:` images. A multipart part gives its raw body.
pub fn extract_part(raw: &[u8], part_id: &str) -> Option<PartContent> {
    with_part(raw, "", part_id, 0, &|entity| {
        let data = entity.decoded_body().data;
        PartContent {
            content_type: entity.mime_type().to_string(),
            filename: filename_for(entity, &data),
            data,
        }
    })
}

/// Render the forwarded message at `part_id` (a message/rfc822 part) as a
/// view of its own, with part numbers that stay valid for [`extract_part`]
/// on the outer message. None when the part is missing or not a message.
pub fn render_embedded_message(
    raw: &[u8],
    part_id: &str,
    options: &RenderOptions,
) -> Option<MessageView> {
    with_part(raw, "", part_id, 0, &|entity| {
        entity
            .is_embedded_message()
            .then(|| render_at(&entity.decoded_body().data, &entity.id, options, 1))
    })
    .flatten()
}

/// Find the part numbered `part_id` and apply `f` to it.
fn with_part<T>(
    raw: &[u8],
    prefix: &str,
    part_id: &str,
    depth: usize,
    f: &dyn Fn(&Entity<'_>) -> T,
) -> Option<T> {
    if depth > 16 || part_id.is_empty() {
        return None;
    }
    let root = parse_message(raw, prefix);
    for entity in root.walk() {
        if entity.id == part_id {
            return Some(f(entity));
        }
        let inside = part_id
            .strip_prefix(entity.id.as_str())
            .is_some_and(|r| r.starts_with('.'));
        if entity.is_embedded_message() && inside {
            let data = entity.decoded_body().data;
            return with_part(&data, &entity.id, part_id, depth + 1, f);
        }
    }
    None
}

/// Characters RFC 5987 `attr-char` allows unencoded.
const ATTR_CHAR: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'!')
    .remove(b'#')
    .remove(b'$')
    .remove(b'&')
    .remove(b'+')
    .remove(b'-')
    .remove(b'.')
    .remove(b'^')
    .remove(b'_')
    .remove(b'`')
    .remove(b'|')
    .remove(b'~');

/// A Content-Disposition header value for a download: `attachment` or
/// `inline`, an ASCII `filename="..."` fallback with quotes, backslashes,
/// CR/LF and control characters removed or replaced, and an RFC 6266/5987
/// `filename*=UTF-8''...` percent-encoded form.
pub fn content_disposition(disposition: Disposition, filename: &str) -> String {
    let kind = match disposition {
        Disposition::Attachment => "attachment",
        Disposition::Inline => "inline",
    };
    let clean: String = filename.chars().filter(|c| !c.is_control()).collect();
    let clean = clean.trim();
    let clean = if clean.is_empty() { "download" } else { clean };

    let fallback: String = clean
        .chars()
        .map(|c| match c {
            '"' => '\'',
            '\\' | '/' => '_',
            c if c.is_ascii() => c,
            _ => '_',
        })
        .collect();
    let encoded = utf8_percent_encode(clean, ATTR_CHAR);
    format!("{kind}; filename=\"{fallback}\"; filename*=UTF-8''{encoded}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn non_ascii_filename_gets_both_forms() {
        let value = content_disposition(Disposition::Attachment, "Übersicht €.pdf");
        assert_eq!(
            value,
            "attachment; filename=\"_bersicht _.pdf\"; \
             filename*=UTF-8''%C3%9Cbersicht%20%E2%82%AC.pdf"
        );
    }

    #[test]
    fn quotes_backslashes_and_line_breaks_cannot_inject() {
        let value = content_disposition(Disposition::Inline, "a\"b\\c\r\nSet-Cookie: x=1.txt");
        assert!(!value.contains('\r') && !value.contains('\n'));
        assert!(value.starts_with("inline; filename=\"a'b_cSet-Cookie: x=1.txt\"; filename*="));
        assert!(value.ends_with("filename*=UTF-8''a%22b%5CcSet-Cookie%3A%20x%3D1.txt"));
    }

    #[test]
    fn percent_and_parentheses_are_encoded_in_the_extended_form() {
        let value = content_disposition(Disposition::Attachment, "100% sicher (v2).txt");
        assert!(value.contains("filename=\"100% sicher (v2).txt\""));
        assert!(value.ends_with("UTF-8''100%25%20sicher%20%28v2%29.txt"));
    }

    #[test]
    fn empty_filename_becomes_download() {
        assert!(content_disposition(Disposition::Attachment, "\r\n").contains("\"download\""));
    }

    #[test]
    fn parts_inside_forwarded_messages_are_found() {
        let raw = b"Content-Type: multipart/mixed; boundary=o\r\n\r\n--o\r\n\r\nhi\r\n--o\r\n\
            Content-Type: message/rfc822\r\n\r\nSubject: inner\r\nContent-Type: multipart/mixed; \
            boundary=i\r\n\r\n--i\r\n\r\ntext\r\n--i\r\nContent-Type: text/csv; name=a.csv\r\n\
            \r\na,b\r\n--i--\r\n--o--\r\n";
        let csv = extract_part(raw, "2.2").unwrap();
        assert_eq!(csv.data, b"a,b");
        assert_eq!(csv.filename, "a.csv");
        let message = extract_part(raw, "2").unwrap();
        assert_eq!(message.content_type, "message/rfc822");
        assert_eq!(message.filename, "inner.eml");
        assert!(message.data.starts_with(b"Subject: inner"));
        assert!(extract_part(raw, "3").is_none());
        assert!(extract_part(raw, "2.9").is_none());
        assert!(extract_part(raw, "").is_none());
    }
}
