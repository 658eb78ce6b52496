//! A message read as plain text, for quoting it in a reply or a forward and
//! for opening a saved draft again.
//!
//! It owns choosing the text a writer quotes: the plain-text alternative
//! when there is one, else the HTML one reduced to its text. It never
//! produces markup and never fails: a message without readable text gives
//! an empty string. Forwarded messages inside are left out (they are
//! attachments of the reply's source, not its words).

use crate::charset::decode_with_label;
use crate::entity::{parse_message, split_header_block, Entity};
use crate::header::{clean_display_text, decode_header};
use crate::html_text::html_to_text;
use crate::render::is_readable_text;
use crate::text::unflow;

/// The body text of a message as a writer would quote it, with `\n` line
/// ends and format=flowed undone.
pub fn plain_text(raw: &[u8]) -> String {
    let root = parse_message(raw, "");
    let mut parts = Vec::new();
    collect_text(&root, &mut parts);
    let text = parts.join("\n");
    text.trim_end().to_owned()
}

/// The first header field `name` of a message, RFC 2047 words decoded and
/// folding removed; None when the field is missing or empty.
pub fn header_value(raw: &[u8], name: &str) -> Option<String> {
    let (headers, _) = split_header_block(raw);
    let value = headers.get(name)?;
    let text = clean_display_text(&decode_header(value));
    let text = text.trim();
    (!text.is_empty()).then(|| text.to_owned())
}

fn collect_text(entity: &Entity<'_>, out: &mut Vec<String>) {
    if entity.is_multipart() {
        if entity.mime_type() == "multipart/alternative" {
            let plain = entity.children.iter().find(|c| has_plain_text(c));
            if let Some(child) = plain.or_else(|| entity.children.last()) {
                collect_text(child, out);
            }
            return;
        }
        let children: Vec<&Entity<'_>> = if entity.mime_type() == "multipart/related" {
            entity.children.first().into_iter().collect()
        } else {
            entity.children.iter().collect()
        };
        for child in children {
            collect_text(child, out);
        }
        return;
    }

    let is_body = is_readable_text(entity)
        && entity.disposition.as_ref().map(|d| d.value.as_str()) != Some("attachment")
        && (entity.filename().is_none()
            || entity.disposition.as_ref().map(|d| d.value.as_str()) == Some("inline"));
    if !is_body {
        return;
    }
    let data = entity.decoded_body().data;
    let label = entity.content_type.param("charset").unwrap_or("");
    let text = decode_with_label(&data, label).text;
    let text = if entity.mime_type() == "text/html" {
        html_to_text(&text)
    } else if entity
        .content_type
        .param("format")
        .is_some_and(|f| f.eq_ignore_ascii_case("flowed"))
    {
        let delsp = entity
            .content_type
            .param("delsp")
            .is_some_and(|d| d.eq_ignore_ascii_case("yes"));
        unflow(&text, delsp)
    } else {
        text
    };
    out.push(text.replace("\r\n", "\n"));
}

/// Whether an entity is or holds a text/plain body part.
fn has_plain_text(entity: &Entity<'_>) -> bool {
    entity
        .walk()
        .iter()
        .any(|e| e.mime_type() == "text/plain" && e.filename().is_none())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_plain_alternative_is_quoted_rather_than_the_html_one() {
        let raw = b"Subject: hi\r\nContent-Type: multipart/alternative; boundary=b\r\n\r\n\
            --b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nplain words\r\n\
            --b\r\nContent-Type: text/html\r\n\r\n<p>rich words</p>\r\n--b--\r\n";
        assert_eq!(plain_text(raw), "plain words");
    }

    #[test]
    fn html_alone_is_reduced_to_its_text() {
        let raw = b"Content-Type: text/html\r\n\r\n<p>one</p><p>two &amp; three</p>\r\n";
        assert_eq!(plain_text(raw).trim(), "one\ntwo & three");
    }

    #[test]
    fn attachments_are_not_quoted() {
        let raw = b"Content-Type: multipart/mixed; boundary=b\r\n\r\n\
            --b\r\nContent-Type: text/plain\r\n\r\nbody\r\n\
            --b\r\nContent-Type: text/plain; name=notes.txt\r\n\
            Content-Disposition: attachment; filename=notes.txt\r\n\r\nsecret\r\n--b--\r\n";
        assert_eq!(plain_text(raw), "body");
    }

    #[test]
    fn header_values_are_decoded_and_unfolded() {
        let raw = b"Subject: =?utf-8?q?Gr=C3=BC=C3=9Fe?=\r\nReferences: <a@x>\r\n <b@x>\r\n\r\n";
        assert_eq!(header_value(raw, "subject").as_deref(), Some("Grüße"));
        assert_eq!(
            header_value(raw, "references").as_deref(),
            Some("<a@x> <b@x>")
        );
        assert_eq!(header_value(raw, "in-reply-to"), None);
    }
}
