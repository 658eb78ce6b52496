//! Filling the compose form from a message: the addressees and quoted text
//! of a reply or reply all, the forwarded text and files of a forward, the
//! attached original of a forward as attachment, and a saved draft opened
//! again.
//!
//! It reads messages through the MIME renderer and knows nothing of IMAP:
//! the caller fetches the original. Quoting uses the message's plain-text
//! reading (the text alternative when there is one) with "> " before each
//! line, under "On <date>, <from> wrote:".

use chrono::FixedOffset;
use lettre::message::Mailbox;
use mailfront_mime::{header_value, plain_text, render_message, MailAddress, RenderOptions};

use super::compose::Mode;
use super::compose_form::{clean_file_name, is_message_id, ComposeForm, KeptFile};
use super::format;
use super::message::without_format_controls;

/// Fills the form from the message answered, forwarded or reopened.
pub(super) fn fill_from_original(
    time_zone: FixedOffset,
    form: &mut ComposeForm,
    mode: Mode,
    sender: &Mailbox,
    raw: &[u8],
) {
    let view = render_message(raw, &RenderOptions::default());
    let subject = view.subject.clone().unwrap_or_default();
    let subject = without_format_controls(&subject);
    let from = people(&view.from);
    let date = format::full_date(view.date, time_zone);
    let text = plain_text(raw);

    match mode {
        Mode::New => {}
        Mode::Reply | Mode::ReplyAll => {
            let answer_to = if view.reply_to.is_empty() {
                &view.from
            } else {
                &view.reply_to
            };
            let own = sender.email.to_string().to_ascii_lowercase();
            let mut to: Vec<String> = Vec::new();
            push_addresses(&mut to, answer_to, &own);
            // A reply to one's own message (from Sent) goes to its
            // recipients, as a follow-up.
            if to.is_empty() && mode == Mode::Reply {
                push_addresses(&mut to, &view.to, &own);
            }
            if mode == Mode::ReplyAll {
                let mut cc = to.clone();
                push_addresses(&mut cc, &view.to, &own);
                push_addresses(&mut cc, &view.cc, &own);
                form.cc = cc[to.len()..].join(", ");
                if to.is_empty() && !cc.is_empty() {
                    to.push(cc.remove(0));
                    form.cc = cc.join(", ");
                }
            }
            form.to = to.join(", ");
            form.subject = prefixed("Re: ", &subject, &["re:"]);
            form.body = format!("\n\nOn {date}, {from} wrote:\n{}\n", quoted(&text));
            if let Some(id) = view.message_id.as_deref().filter(|id| is_message_id(id)) {
                form.in_reply_to = id.to_owned();
                let earlier = header_value(raw, "references").unwrap_or_default();
                form.references = format!("{earlier} {id}").trim().to_owned();
            }
        }
        Mode::Forward => {
            form.subject = prefixed("Fwd: ", &subject, &["fwd:", "fw:"]);
            form.body = format!(
                "\n\n---------- Forwarded message ----------\nFrom: {from}\nDate: {date}\n\
                 Subject: {subject}\nTo: {}\n\n{}\n",
                people(&view.to),
                quoted(&text)
            );
            form.kept = view
                .attachments
                .iter()
                .filter_map(|a| mailfront_mime::extract_part(raw, &a.part_id))
                .map(|part| KeptFile {
                    name: clean_file_name(&part.filename),
                    content_type: part.content_type,
                    data: part.data,
                })
                .collect();
        }
        Mode::ForwardAttached => {
            form.subject = prefixed("Fwd: ", &subject, &["fwd:", "fw:"]);
            let stem = if subject.trim().is_empty() {
                "forwarded message".to_owned()
            } else {
                subject.clone()
            };
            form.kept = vec![KeptFile {
                name: clean_file_name(&format!("{stem}.eml")),
                content_type: "message/rfc822".to_owned(),
                data: raw.to_vec(),
            }];
        }
        Mode::EditDraft => {
            let header = |name: &str| header_value(raw, name).unwrap_or_default();
            form.to = header("to");
            form.cc = header("cc");
            form.bcc = header("bcc");
            form.subject = subject;
            form.body = text;
            form.in_reply_to = header("in-reply-to");
            form.references = header("references");
            if let Some(id) = view.message_id.as_deref().filter(|id| is_message_id(id)) {
                form.message_id = id.to_owned();
            }
            form.kept = view
                .attachments
                .iter()
                .filter_map(|a| mailfront_mime::extract_part(raw, &a.part_id))
                .map(|part| KeptFile {
                    name: clean_file_name(&part.filename),
                    content_type: part.content_type,
                    data: part.data,
                })
                .collect();
        }
    }
}

/// Adds each address not already there and not the user's own.
fn push_addresses(list: &mut Vec<String>, addresses: &[MailAddress], own: &str) {
    for address in addresses {
        let Some(email) = address.email.as_deref() else {
            continue;
        };
        let lower = email.to_ascii_lowercase();
        let already = list
            .iter()
            .any(|entry| entry.to_ascii_lowercase().contains(&lower));
        if lower == own || already {
            continue;
        }
        let entry = match &address.name {
            Some(name) if !name.is_empty() => {
                format!("\"{}\" <{email}>", name.replace(['"', '\\'], ""))
            }
            _ => email.to_owned(),
        };
        list.push(entry);
    }
}

/// `prefix` + subject, unless the subject starts with one of `already`
/// (compared without case).
fn prefixed(prefix: &str, subject: &str, already: &[&str]) -> String {
    let lower = subject.trim_start().to_ascii_lowercase();
    if already.iter().any(|p| lower.starts_with(p)) {
        subject.trim().to_owned()
    } else {
        format!("{prefix}{}", subject.trim())
    }
}

/// Each line with "> " in front (">" alone for an empty line).
fn quoted(text: &str) -> String {
    text.lines()
        .map(|line| {
            if line.is_empty() {
                ">".to_owned()
            } else if line.starts_with('>') {
                format!(">{line}")
            } else {
                format!("> {line}")
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn people(addresses: &[MailAddress]) -> String {
    let shown: Vec<String> = addresses
        .iter()
        .map(MailAddress::display)
        .filter(|s| !s.is_empty())
        .collect();
    if shown.is_empty() {
        "(unknown sender)".to_owned()
    } else {
        without_format_controls(&shown.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reply_prefixes_are_not_doubled() {
        assert_eq!(prefixed("Re: ", "Lunch", &["re:"]), "Re: Lunch");
        assert_eq!(prefixed("Re: ", "RE: Lunch", &["re:"]), "RE: Lunch");
        assert_eq!(
            prefixed("Fwd: ", "Fw: Lunch", &["fwd:", "fw:"]),
            "Fw: Lunch"
        );
    }

    #[test]
    fn quoting_marks_every_line() {
        assert_eq!(quoted("one\n\n> two"), "> one\n>\n>> two");
    }

    #[test]
    fn reply_all_leaves_out_the_own_address_and_repeats() {
        let addresses = vec![
            MailAddress {
                name: Some("Me".to_owned()),
                email: Some("Me@Example.org".to_owned()),
            },
            MailAddress {
                name: None,
                email: Some("bob@example.org".to_owned()),
            },
            MailAddress {
                name: None,
                email: Some("BOB@example.org".to_owned()),
            },
        ];
        let mut list = Vec::new();
        push_addresses(&mut list, &addresses, "me@example.org");
        assert_eq!(list, vec!["bob@example.org".to_owned()]);
    }
}
