//! The MIME-to-page renderer and the HTML sanitiser.
//!
//! Beyond not panicking, the checks are: every body block is safe HTML by
//! an independent parse (see `html_check`); every listed attachment, here
//! and in forwarded messages, extracts with the size the view claims; a
//! download's Content-Disposition value never holds a control character.

use mailfront_mime::{
    content_disposition, extract_part, render_embedded_message, render_message, sanitize_html,
    BodyBlock, Disposition, MessageView, RenderOptions,
};

use crate::html_check::assert_safe_html;

/// Part numbers tried on every message, listed or not.
const PROBED_PARTS: [&str; 8] = ["1", "2", "3", "1.1", "1.2", "2.1", "2.2", "1.1.1"];

/// The first byte chooses the options (its low bit allows remote content);
/// the rest is a message as a server sends it.
pub fn mime_render(data: &[u8]) {
    let Some((&flags, raw)) = data.split_first() else {
        return;
    };
    let options = options_from(flags);

    let view = render_message(raw, &options);
    check_view(raw, &view, &options, 0);
    let _ = view.dump();

    for part_id in PROBED_PARTS {
        if let Some(part) = extract_part(raw, part_id) {
            check_disposition(&part.filename);
        }
    }
}

/// The first byte chooses the options; the rest is an HTML part's text.
pub fn html_sanitize(data: &[u8]) {
    let Some((&flags, html)) = data.split_first() else {
        return;
    };
    let options = options_from(flags);
    let html = String::from_utf8_lossy(html);

    let sanitized = sanitize_html(&html, &options);
    assert_safe_html(&sanitized.html, options.allow_remote);
}

fn options_from(flags: u8) -> RenderOptions {
    RenderOptions {
        part_url_prefix: "/mail/INBOX/7/42/part/".into(),
        allow_remote: flags & 1 == 1,
    }
}

fn check_view(raw: &[u8], view: &MessageView, options: &RenderOptions, depth: usize) {
    for block in &view.body {
        match block {
            BodyBlock::Text { html } => assert_safe_html(html, false),
            BodyBlock::Html { html } => assert_safe_html(html, options.allow_remote),
            BodyBlock::Message(nested) => check_view(raw, nested, options, depth + 1),
        }
    }

    for attachment in &view.attachments {
        let part = extract_part(raw, &attachment.part_id);
        let part = part.unwrap_or_else(|| panic!("part {} is listed", attachment.part_id));
        assert_eq!(
            part.data.len(),
            attachment.size,
            "part {} has the size its listing claims",
            attachment.part_id
        );
        check_disposition(&attachment.filename);

        if attachment.content_type == "message/rfc822" && depth < 4 {
            let nested = render_embedded_message(raw, &attachment.part_id, options);
            let nested = nested.expect("a listed forwarded message renders");
            check_view(raw, &nested, options, depth + 1);
        }
    }
}

fn check_disposition(filename: &str) {
    for disposition in [Disposition::Attachment, Disposition::Inline] {
        let value = content_disposition(disposition, filename);
        assert!(
            value.bytes().all(|b| (b' '..=b'~').contains(&b)),
            "a Content-Disposition value is printable ASCII: {value:?}"
        );
    }
}
