//! The view model handed to the web app, and its stable text dump.
//!
//! It owns the shapes the app renders (message, body blocks, attachments)
//! and nothing of how they are computed. Every string in a view is either
//! plain text for the app to escape (names, subjects, file names) or a
//! fragment this crate has already made safe (the `html` of a body block).

use chrono::{DateTime, FixedOffset};

use crate::address::MailAddress;

/// How to render a message for one page.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RenderOptions {
    /// URL prefix under which the web app serves this message's parts by
    /// part id; used to rewrite `cid:` references of multipart/related
    /// images (e.g. "/m/INBOX/123/4567/part/").
    pub part_url_prefix: String,
    /// When false (the default) every remote URL (http/https/ftp/
    /// protocol-relative) in img src, srcset, background, CSS url(),
    /// @import, link, frames, video/audio poster is removed; links
    /// (`<a href>`) stay but show their target.
    pub allow_remote: bool,
}

/// A message ready for display.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MessageView {
    pub subject: Option<String>,
    pub from: Vec<MailAddress>,
    pub to: Vec<MailAddress>,
    pub cc: Vec<MailAddress>,
    pub reply_to: Vec<MailAddress>,
    pub date: Option<DateTime<FixedOffset>>,
    pub message_id: Option<String>,
    /// What a reader sees, in order: for multipart/alternative the best part
    /// (HTML preferred, else text); message/rfc822 parts that are not
    /// attachments rendered inline as nested views.
    pub body: Vec<BodyBlock>,
    /// Every downloadable part: attachments, inline images, forwarded
    /// messages (message/rfc822, named "`<Subject>.eml`" when the part has no
    /// filename), in MIME order. Parts inside a forwarded message belong to
    /// that message's own view.
    pub attachments: Vec<AttachmentInfo>,
    /// Something remote was removed.
    pub had_remote_content: bool,
    /// Damage found while reading, e.g. "the message ends before its last
    /// MIME boundary ...". Parts inside a forwarded message report in that
    /// message's own view.
    pub problems: Vec<String>,
}

/// One block of a message body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BodyBlock {
    /// Plain text converted to safe HTML: escaped, links (http/https/mailto)
    /// made clickable with rel="noopener noreferrer" target="_blank", quoted
    /// lines (">") marked, format=flowed honoured.
    Text { html: String },
    /// An HTML part after the allow-list sanitiser. The app shows it in a
    /// sandboxed frame; this string is a fragment to put inside `<body>`.
    Html { html: String },
    /// A forwarded/embedded message shown inline.
    Message(Box<MessageView>),
}

/// A part a reader can download.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttachmentInfo {
    /// IMAP part number, "1.2" style.
    pub part_id: String,
    /// The sender's name for it without directories, or one made up from
    /// the subject (forwarded messages) or the part number and type.
    pub filename: String,
    /// Lowercase `type/subtype`.
    pub content_type: String,
    /// Size in bytes after transfer decoding.
    pub size: usize,
    /// Content-ID without angle brackets.
    pub content_id: Option<String>,
    /// Meant to be shown inline (Content-Disposition inline, or an image
    /// with a Content-ID that is not marked as an attachment).
    pub inline: bool,
}

impl MessageView {
    /// A stable, line-based text form of the view for golden tests and
    /// debugging. Nested messages are indented by two spaces per level.
    pub fn dump(&self) -> String {
        let mut out = String::new();
        self.dump_into(&mut out, "");
        out
    }

    fn dump_into(&self, out: &mut String, indent: &str) {
        let line = |out: &mut String, key: &str, value: &str| {
            out.push_str(&format!("{indent}{key}: {value}\n"));
        };
        let addresses = |list: &[MailAddress]| {
            list.iter()
                .map(MailAddress::display)
                .collect::<Vec<_>>()
                .join(", ")
        };

        line(out, "subject", self.subject.as_deref().unwrap_or("-"));
        line(out, "from", &addresses(&self.from));
        line(out, "to", &addresses(&self.to));
        line(out, "cc", &addresses(&self.cc));
        line(out, "reply-to", &addresses(&self.reply_to));
        let date = self
            .date
            .map(|d| d.to_rfc3339())
            .unwrap_or_else(|| "-".into());
        line(out, "date", &date);
        line(out, "message-id", self.message_id.as_deref().unwrap_or("-"));
        line(
            out,
            "remote-content-removed",
            &self.had_remote_content.to_string(),
        );
        for problem in &self.problems {
            line(out, "problem", problem);
        }
        for a in &self.attachments {
            let cid = a.content_id.as_deref().unwrap_or("-");
            let value = format!(
                "{} {} {} bytes inline={} cid={} name={:?}",
                a.part_id, a.content_type, a.size, a.inline, cid, a.filename
            );
            line(out, "attachment", &value);
        }
        for block in &self.body {
            match block {
                BodyBlock::Text { html } => dump_html(out, indent, "text", html),
                BodyBlock::Html { html } => dump_html(out, indent, "html", html),
                BodyBlock::Message(view) => {
                    out.push_str(&format!("{indent}message:\n"));
                    view.dump_into(out, &format!("{indent}  "));
                }
            }
        }
    }
}

fn dump_html(out: &mut String, indent: &str, kind: &str, html: &str) {
    out.push_str(&format!("{indent}{kind}:\n"));
    for line in html.replace("<br>", "<br>\n").lines() {
        out.push_str(&format!("{indent}  | {line}\n"));
    }
}
