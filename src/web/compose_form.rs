//! The compose form as posted: its fields, the files attached to it, and
//! the message it describes.
//!
//! It owns reading the multipart body (with the upload limit), carrying
//! files attached earlier in hidden fields (base64) and turning the typed
//! fields into a [`Letter`], naming the first entry that is not an address.
//! It never sends or stores anything.

use std::time::SystemTime;

use axum::extract::Multipart;
use axum::http::StatusCode;
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use lettre::message::Mailbox;

use super::message::without_format_controls;
use super::{format, AppError};
use crate::outgoing::{parse_mailboxes, FileAttachment, Letter};

/// A file of the form, attached earlier or carried from an original.
#[derive(Clone)]
pub struct KeptFile {
    pub name: String,
    pub content_type: String,
    pub data: Vec<u8>,
}

impl KeptFile {
    pub fn data_base64(&self) -> String {
        STANDARD.encode(&self.data)
    }

    pub fn size_label(&self) -> String {
        format::size(self.data.len() as u64)
    }
}

/// Everything the form holds, as typed.
#[derive(Default)]
pub struct ComposeForm {
    pub form_token: String,
    pub message_id: String,
    pub to: String,
    pub cc: String,
    pub bcc: String,
    pub subject: String,
    pub body: String,
    pub in_reply_to: String,
    pub references: String,
    /// "reply", "forward" or empty: what sending marks on the original.
    pub origin_kind: String,
    pub origin_mailbox: String,
    pub origin_uidvalidity: String,
    pub origin_uid: String,
    pub kept: Vec<KeptFile>,
}

/// The form's fields and the button pressed.
pub(super) struct Posted {
    pub csrf: String,
    pub action: String,
    pub form: ComposeForm,
}

/// Reads the multipart form. Files and fields together may not exceed
/// `limit` bytes of content; more gets the "too large" page.
pub(super) async fn read_posted(
    mut multipart: Multipart,
    limit: usize,
) -> Result<Posted, AppError> {
    let too_large =
        AppError::TooLarge("The attachments are larger than this site accepts in one message.");
    let unreadable = |error: axum::extract::multipart::MultipartError| {
        if error.status() == StatusCode::PAYLOAD_TOO_LARGE {
            AppError::TooLarge("The attachments are larger than this site accepts in one message.")
        } else {
            AppError::BadRequest("the form could not be read")
        }
    };

    let mut posted = Posted {
        csrf: String::new(),
        action: String::new(),
        form: ComposeForm::default(),
    };
    let (mut kept_names, mut kept_types, mut kept_data) = (Vec::new(), Vec::new(), Vec::new());
    let mut dropped: Vec<usize> = Vec::new();
    let mut uploads = Vec::new();
    let mut total = 0usize;

    while let Some(field) = multipart.next_field().await.map_err(unreadable)? {
        let name = field.name().unwrap_or_default().to_owned();
        if name == "attachment" {
            let file_name = field.file_name().unwrap_or_default().to_owned();
            let content_type = field
                .content_type()
                .unwrap_or("application/octet-stream")
                .to_owned();
            let data = field.bytes().await.map_err(unreadable)?;
            if file_name.is_empty() && data.is_empty() {
                continue;
            }
            total += data.len();
            if total > limit {
                return Err(too_large);
            }
            uploads.push(KeptFile {
                name: clean_file_name(&file_name),
                content_type,
                data: data.to_vec(),
            });
            continue;
        }

        let value = field.text().await.map_err(unreadable)?;
        let form = &mut posted.form;
        match name.as_str() {
            "csrf" => posted.csrf = value,
            "action" => posted.action = value,
            "form_token" => form.form_token = value,
            "message_id" => form.message_id = value.trim().to_owned(),
            "to" => form.to = value,
            "cc" => form.cc = value,
            "bcc" => form.bcc = value,
            "subject" => form.subject = value,
            "body" => form.body = value,
            "in_reply_to" => form.in_reply_to = value,
            "references" => form.references = value,
            "origin_kind" => form.origin_kind = value,
            "origin_mailbox" => form.origin_mailbox = value,
            "origin_uidvalidity" => form.origin_uidvalidity = value,
            "origin_uid" => form.origin_uid = value,
            "kept_name" => kept_names.push(value),
            "kept_type" => kept_types.push(value),
            "kept_data" => kept_data.push(value),
            "drop_kept" => dropped.extend(value.parse::<usize>().ok()),
            _ => {}
        }
    }

    let kept = kept_names.into_iter().zip(kept_types).zip(kept_data);
    for (index, ((name, content_type), data)) in kept.enumerate() {
        let data = STANDARD
            .decode(data.trim())
            .map_err(|_| AppError::BadRequest("an attached file could not be read"))?;
        if dropped.contains(&index) {
            continue;
        }
        total += data.len();
        if total > limit {
            return Err(too_large);
        }
        posted.form.kept.push(KeptFile {
            name: clean_file_name(&name),
            content_type,
            data,
        });
    }
    posted.form.kept.extend(uploads);
    Ok(posted)
}

/// The message the form describes, or a sentence naming what to fix.
pub(super) fn letter_from(form: &ComposeForm, sender: &Mailbox) -> Result<Letter, String> {
    let field = |label: &str, text: &str| {
        parse_mailboxes(text).map_err(|bad| {
            format!(
                "{label}: \"{}\" is not an email address. Write it as name@example.org or \
                 Name <name@example.org>, and separate addresses with commas.",
                bad.entry
            )
        })
    };
    let optional = |text: &str| {
        let text = text.trim();
        (!text.is_empty()).then(|| text.to_owned())
    };

    Ok(Letter {
        from: sender.clone(),
        to: field("To", &form.to)?,
        cc: field("Cc", &form.cc)?,
        bcc: field("Bcc", &form.bcc)?,
        subject: subject_line(&form.subject),
        body: form.body.clone(),
        in_reply_to: optional(&form.in_reply_to).filter(|id| is_message_id(id)),
        references: message_ids(&form.references),
        message_id: form.message_id.clone(),
        date: SystemTime::now(),
        attachments: form
            .kept
            .iter()
            .map(|file| FileAttachment {
                name: file.name.clone(),
                content_type: file.content_type.clone(),
                data: file.data.clone(),
            })
            .collect(),
    })
}

/// Whether text is shaped like `<left@right>` with nothing a header could
/// be broken with.
pub(super) fn is_message_id(text: &str) -> bool {
    let Some(inner) = text.strip_prefix('<').and_then(|t| t.strip_suffix('>')) else {
        return false;
    };
    inner.contains('@')
        && inner.len() <= 250
        && inner
            .chars()
            .all(|c| c.is_ascii_graphic() && !matches!(c, '<' | '>' | '"' | '\\'))
}

/// The well-formed Message-IDs of a References field, or None.
fn message_ids(text: &str) -> Option<String> {
    let ids: Vec<&str> = text
        .split_whitespace()
        .filter(|id| is_message_id(id))
        .collect();
    (!ids.is_empty()).then(|| ids.join(" "))
}

/// A file name without folders or control characters, never empty.
pub(super) fn clean_file_name(name: &str) -> String {
    let base = name.rsplit(['/', '\\']).next().unwrap_or_default();
    let clean = without_format_controls(base);
    let clean = clean.trim();
    if clean.is_empty() {
        "attachment".to_owned()
    } else {
        clean.to_owned()
    }
}

/// The subject as one header line: line breaks and tabs typed or pasted into
/// it become single spaces (words stay apart), other control and format
/// characters go.
fn subject_line(typed: &str) -> String {
    let spaced: String = typed
        .split(['\r', '\n', '\t'])
        .filter(|piece| !piece.trim().is_empty())
        .map(str::trim)
        .collect::<Vec<_>>()
        .join(" ");
    without_format_controls(&spaced)
}

#[cfg(test)]
mod tests {
    #[test]
    fn line_breaks_in_a_subject_become_spaces() {
        assert_eq!(
            super::subject_line("Hi\r\nBcc: victim@evil.example\r\n X-Injected: 1\t "),
            "Hi Bcc: victim@evil.example X-Injected: 1"
        );
        assert_eq!(super::subject_line("  plain  "), "plain");
    }

    use super::*;

    #[test]
    fn only_well_formed_message_ids_are_used_in_headers() {
        assert!(is_message_id("<abc@example.org>"));
        assert!(!is_message_id("abc@example.org"));
        assert!(!is_message_id("<abc@example.org>\r\nBcc: x@y"));
        assert!(!is_message_id("<a b@c>"));
    }
}
