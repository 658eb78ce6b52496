//! A message a person wrote, and its bytes in RFC 5322 form.
//!
//! It owns the shape of what mailfront sends and files: plain text only,
//! attachments as parts of a multipart/mixed message, non-ASCII subjects
//! and names as RFC 2047 words and file names as RFC 2231 parameters (both
//! by lettre). The Message-ID and Date are chosen by the caller, so that
//! the copy filed in Sent or Drafts and the copy sent are the same message.

use std::time::SystemTime;

use lettre::message::header::{ContentTransferEncoding, ContentType};
use lettre::message::{Attachment, Body, Mailbox, MessageBuilder, MultiPart, SinglePart};
use lettre::{Address, Message};

/// One attached file.
#[derive(Clone, PartialEq, Eq)]
pub struct FileAttachment {
    /// The name the file is offered under, without folders.
    pub name: String,
    /// `type/subtype` as given by the browser or the original message.
    pub content_type: String,
    pub data: Vec<u8>,
}

impl std::fmt::Debug for FileAttachment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileAttachment")
            .field("content_type", &self.content_type)
            .field("bytes", &self.data.len())
            .finish()
    }
}

/// A message ready to be turned into bytes.
#[derive(Clone)]
pub struct Letter {
    pub from: Mailbox,
    pub to: Vec<Mailbox>,
    pub cc: Vec<Mailbox>,
    pub bcc: Vec<Mailbox>,
    pub subject: String,
    /// Plain text, any line ends.
    pub body: String,
    /// Message-ID of the message answered, with angle brackets.
    pub in_reply_to: Option<String>,
    /// The thread's Message-IDs, oldest first, separated by spaces.
    pub references: Option<String>,
    /// This message's Message-ID, with angle brackets.
    pub message_id: String,
    pub date: SystemTime,
    pub attachments: Vec<FileAttachment>,
}

/// Why a message could not be put together.
#[derive(Debug, thiserror::Error)]
pub enum LetterError {
    #[error("the message could not be built; {0}")]
    Build(#[from] lettre::error::Error),
    #[error("the message could not be built; an address is not usable: {0}")]
    Envelope(String),
}

impl Letter {
    /// Every address the message goes to (To, Cc and Bcc), each once.
    pub fn recipients(&self) -> Vec<Address> {
        let mut all: Vec<Address> = Vec::new();
        for mailbox in self.to.iter().chain(&self.cc).chain(&self.bcc) {
            if !all.contains(&mailbox.email) {
                all.push(mailbox.email.clone());
            }
        }
        all
    }

    /// The message's bytes. `keep_bcc` keeps the Bcc header (for the
    /// sender's own copy); a sent message never shows it.
    pub fn to_bytes(&self, keep_bcc: bool) -> Result<Vec<u8>, LetterError> {
        let mut builder = Message::builder()
            .from(self.from.clone())
            .subject(self.subject.clone())
            .message_id(Some(self.message_id.clone()))
            .date(self.date);
        for mailbox in &self.to {
            builder = builder.to(mailbox.clone());
        }
        for mailbox in &self.cc {
            builder = builder.cc(mailbox.clone());
        }
        for mailbox in &self.bcc {
            builder = builder.bcc(mailbox.clone());
        }
        if let Some(id) = &self.in_reply_to {
            builder = builder.in_reply_to(id.clone());
        }
        if let Some(ids) = &self.references {
            builder = builder.references(ids.clone());
        }
        if keep_bcc {
            builder = builder.keep_bcc();
        }
        builder = self.with_envelope(builder)?;

        let text = SinglePart::plain(self.body.replace("\r\n", "\n").replace('\n', "\r\n"));
        let message = if self.attachments.is_empty() {
            builder.singlepart(text)?
        } else {
            let mut parts = MultiPart::mixed().singlepart(text);
            for file in &self.attachments {
                parts = parts.singlepart(attachment_part(file));
            }
            builder.multipart(parts)?
        };
        Ok(message.formatted())
    }

    /// A draft may have no recipient yet, which lettre's own envelope
    /// refuses; the envelope is never used for a draft, so the sender
    /// stands in for the recipients.
    fn with_envelope(&self, builder: MessageBuilder) -> Result<MessageBuilder, LetterError> {
        let mut to = self.recipients();
        if to.is_empty() {
            to.push(self.from.email.clone());
        }
        let envelope = lettre::address::Envelope::new(Some(self.from.email.clone()), to)
            .map_err(|e| LetterError::Envelope(e.to_string()))?;
        Ok(builder.envelope(envelope))
    }
}

/// A file as a part. A forwarded message (message/rfc822) keeps a 7bit or
/// 8bit encoding, as RFC 2046 asks, after its line ends are made CRLF.
///
/// Known shortcoming: a forwarded message with a line over 998 bytes cannot
/// be 7bit or 8bit; it is sent quoted-printable, which RFC 2046 does not
/// allow for message/rfc822 but common mail programs read.
fn attachment_part(file: &FileAttachment) -> SinglePart {
    let content_type = ContentType::parse(&file.content_type)
        .unwrap_or_else(|_| ContentType::parse("application/octet-stream").expect("valid type"));
    let is_message = file.content_type.eq_ignore_ascii_case("message/rfc822");
    if is_message {
        let data = with_crlf_line_ends(&file.data);
        let body = Body::new_with_encoding(data, ContentTransferEncoding::SevenBit)
            .or_else(|data| Body::new_with_encoding(data, ContentTransferEncoding::EightBit));
        if let Ok(body) = body {
            return Attachment::new(file.name.clone()).body(body, content_type);
        }
    }
    Attachment::new(file.name.clone()).body(file.data.clone(), content_type)
}

/// `data` with every bare LF or CR made a CRLF, the line end MIME requires.
fn with_crlf_line_ends(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + data.len() / 32);
    let mut bytes = data.iter().copied().peekable();
    while let Some(byte) = bytes.next() {
        match byte {
            b'\r' => {
                out.extend_from_slice(b"\r\n");
                if bytes.peek() == Some(&b'\n') {
                    bytes.next();
                }
            }
            b'\n' => out.extend_from_slice(b"\r\n"),
            other => out.push(other),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bare_line_ends_become_crlf() {
        assert_eq!(
            with_crlf_line_ends(b"a\nb\r\nc\rd\r"),
            b"a\r\nb\r\nc\r\nd\r\n".to_vec()
        );
    }

    fn letter() -> Letter {
        Letter {
            from: "Alice <alice@example.org>".parse().unwrap(),
            to: vec!["bob@example.org".parse().unwrap()],
            cc: Vec::new(),
            bcc: vec!["hidden@example.org".parse().unwrap()],
            subject: "Grüße aus Köln".to_owned(),
            body: "line one\nline two\n".to_owned(),
            in_reply_to: Some("<orig@example.org>".to_owned()),
            references: Some("<root@example.org> <orig@example.org>".to_owned()),
            message_id: "<new@example.org>".to_owned(),
            date: SystemTime::UNIX_EPOCH,
            attachments: vec![FileAttachment {
                name: "Bericht_ä.txt".to_owned(),
                content_type: "text/plain".to_owned(),
                data: b"attached".to_vec(),
            }],
        }
    }

    #[test]
    fn bcc_is_left_out_of_sent_bytes_but_kept_in_the_own_copy() {
        let sent = String::from_utf8(letter().to_bytes(false).unwrap()).unwrap();
        let kept = String::from_utf8(letter().to_bytes(true).unwrap()).unwrap();

        assert!(!sent.contains("hidden@example.org"));
        assert!(kept.contains("hidden@example.org"));
        assert_eq!(letter().recipients().len(), 2);
    }

    #[test]
    fn non_ascii_subject_and_file_name_are_encoded() {
        let bytes = letter().to_bytes(false).unwrap();
        assert!(bytes.is_ascii(), "the message holds raw 8-bit bytes");
        let text = String::from_utf8(bytes).unwrap();

        assert!(text.contains("Subject: =?utf-8?"));
        assert!(text.contains("Message-ID: <new@example.org>"));
        assert!(text.contains("In-Reply-To: <orig@example.org>"));
        assert!(text.contains("filename*"));
        assert_eq!(
            mailfront_mime::header_value(text.as_bytes(), "subject").as_deref(),
            Some("Grüße aus Köln")
        );
    }

    #[test]
    fn a_draft_without_recipients_can_be_built() {
        let mut draft = letter();
        draft.to.clear();
        draft.bcc.clear();
        assert!(draft.to_bytes(true).is_ok());
    }
}
