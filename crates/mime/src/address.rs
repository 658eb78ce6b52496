//! Address lists of From, To, Cc and Reply-To (RFC 5322 section 3.4).
//!
//! It owns splitting a raw address header into mailboxes and decoding their
//! display names. It works on the raw bytes, before any RFC 2047 decoding,
//! so an encoded name that contains a comma cannot split a mailbox. It never
//! invents an address: a group with no members gives at most its name, and
//! text without an `@` is a name, never an email.

use crate::charset::decode_guess;
use crate::header::{clean_display_text, decode_header};

/// One mailbox of a From/To/Cc header, decoded.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MailAddress {
    pub name: Option<String>,
    pub email: Option<String>,
}

impl MailAddress {
    /// `Name <a@b>`, or whichever half exists.
    pub fn display(&self) -> String {
        match (&self.name, &self.email) {
            (Some(name), Some(email)) => format!("{name} <{email}>"),
            (Some(name), None) => name.clone(),
            (None, Some(email)) => email.clone(),
            (None, None) => String::new(),
        }
    }
}

/// A word of a display phrase, with its quotes removed.
struct Word {
    bytes: Vec<u8>,
}

/// What has been read of the current mailbox.
#[derive(Default)]
struct Pending {
    words: Vec<Word>,
    angle: Option<Vec<u8>>,
    comment: Option<Vec<u8>>,
}

impl Pending {
    fn is_empty(&self) -> bool {
        self.words.is_empty() && self.angle.is_none()
    }

    /// The phrase as one byte string, words separated by single spaces.
    fn phrase(words: &[Word]) -> Vec<u8> {
        let mut out = Vec::new();
        for (i, word) in words.iter().enumerate() {
            if i > 0 {
                out.push(b' ');
            }
            out.extend_from_slice(&word.bytes);
        }
        out
    }

    fn finish(self) -> Option<MailAddress> {
        let comment_name = self
            .comment
            .as_deref()
            .map(decode_name)
            .filter(|n| !n.is_empty());
        let (email, name_words): (Option<String>, Vec<Word>) = match self.angle {
            Some(angle) => (Some(decode_email(&angle)), self.words),
            None => {
                let at = self.words.iter().rposition(|w| w.bytes.contains(&b'@'));
                let mut words = self.words;
                let email = at.map(|i| decode_email(&words.remove(i).bytes));
                (email, words)
            }
        };

        let email = email.filter(|e| !e.is_empty());
        let name = Some(decode_name(&Self::phrase(&name_words)))
            .filter(|n| !n.is_empty())
            .or(comment_name)
            .filter(|n| email.as_deref().is_none_or(|e| !n.eq_ignore_ascii_case(e)));
        (name.is_some() || email.is_some()).then_some(MailAddress { name, email })
    }
}

fn decode_name(raw: &[u8]) -> String {
    let name = decode_header(raw);
    let name = name.trim().trim_matches('"').trim();
    clean_display_text(name)
}

/// An address inside angle brackets, without a source route and spaces.
fn decode_email(raw: &[u8]) -> String {
    let text = decode_guess(raw).text;
    let text = text.rsplit(':').next().unwrap_or("");
    text.chars()
        .filter(|c| !c.is_whitespace() && !c.is_control() && *c != '"')
        .collect()
}

/// Parse an address header value (raw bytes, folding allowed). Members of a
/// group are listed; an empty group yields its name alone.
pub fn parse_address_list(raw: &[u8]) -> Vec<MailAddress> {
    let mut out = Vec::new();
    let mut pending = Pending::default();
    let mut current_word: Vec<u8> = Vec::new();
    let mut group: Option<(Vec<u8>, usize)> = None;
    let mut i = 0;

    let flush_word = |word: &mut Vec<u8>, pending: &mut Pending| {
        if !word.is_empty() {
            pending.words.push(Word {
                bytes: std::mem::take(word),
            });
        }
    };
    while i < raw.len() {
        let byte = raw[i];
        match byte {
            b'"' => {
                let (text, next) = read_quoted(raw, i + 1);
                current_word.extend_from_slice(&text);
                i = next;
                continue;
            }
            b'(' => {
                flush_word(&mut current_word, &mut pending);
                let (text, next) = read_comment(raw, i + 1);
                pending.comment = Some(text);
                i = next;
                continue;
            }
            b'<' => {
                flush_word(&mut current_word, &mut pending);
                let end = raw[i + 1..]
                    .iter()
                    .position(|&b| b == b'>')
                    .map_or(raw.len(), |e| i + 1 + e);
                pending.angle = Some(raw[i + 1..end].to_vec());
                i = end + 1;
                continue;
            }
            b',' | b';' => {
                flush_word(&mut current_word, &mut pending);
                if let Some(address) = std::mem::take(&mut pending).finish() {
                    out.push(address);
                    if let Some((_, members)) = group.as_mut() {
                        *members += 1;
                    }
                }
                if byte == b';' {
                    close_group(group.take(), &mut out);
                }
            }
            b':' if group.is_none() && pending.angle.is_none() => {
                flush_word(&mut current_word, &mut pending);
                let words = std::mem::take(&mut pending).words;
                group = Some((Pending::phrase(&words), 0));
            }
            b' ' | b'\t' | b'\r' | b'\n' => flush_word(&mut current_word, &mut pending),
            _ => current_word.push(byte),
        }
        i += 1;
    }

    flush_word(&mut current_word, &mut pending);
    if !pending.is_empty() {
        if let Some(address) = pending.finish() {
            out.push(address);
            if let Some((_, members)) = group.as_mut() {
                *members += 1;
            }
        }
    }
    close_group(group, &mut out);
    out
}

/// An empty group contributes its name so a reader sees where mail went.
fn close_group(group: Option<(Vec<u8>, usize)>, out: &mut Vec<MailAddress>) {
    if let Some((name, 0)) = group {
        let name = decode_name(&name);
        if !name.is_empty() {
            out.push(MailAddress {
                name: Some(name),
                email: None,
            });
        }
    }
}

/// Read a quoted string body starting after the opening quote. Returns the
/// unescaped bytes and the index after the closing quote.
fn read_quoted(raw: &[u8], mut i: usize) -> (Vec<u8>, usize) {
    let mut out = Vec::new();
    while i < raw.len() {
        match raw[i] {
            b'\\' if i + 1 < raw.len() => {
                out.push(raw[i + 1]);
                i += 2;
            }
            b'"' => return (out, i + 1),
            b'\r' | b'\n' => i += 1,
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    (out, i)
}

/// Read a comment body starting after `(`, allowing nesting.
fn read_comment(raw: &[u8], mut i: usize) -> (Vec<u8>, usize) {
    let mut out = Vec::new();
    let mut depth = 1;
    while i < raw.len() {
        match raw[i] {
            b'\\' if i + 1 < raw.len() => {
                out.push(raw[i + 1]);
                i += 2;
                continue;
            }
            b'(' => depth += 1,
            b')' => {
                depth -= 1;
                if depth == 0 {
                    return (out, i + 1);
                }
            }
            _ => {}
        }
        out.push(raw[i]);
        i += 1;
    }
    (out, i)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn displays(raw: &[u8]) -> Vec<String> {
        parse_address_list(raw)
            .iter()
            .map(MailAddress::display)
            .collect()
    }

    #[test]
    fn name_and_angle_address_parse() {
        assert_eq!(
            displays(b"Alice Example <alice@example.org>"),
            ["Alice Example <alice@example.org>"]
        );
    }

    #[test]
    fn split_encoded_name_decodes_whole() {
        let raw = b"=?UTF-8?B?SsM=?=\r\n =?UTF-8?B?vHJnZW4gTcO8bGxlcg==?= <jm@example.net>";
        let list = parse_address_list(raw);
        assert_eq!(list[0].name.as_deref(), Some("Jürgen Müller"));
        assert_eq!(list[0].email.as_deref(), Some("jm@example.net"));
    }

    #[test]
    fn quoted_name_with_comma_and_escaped_quote_stays_one_mailbox() {
        let list = parse_address_list(br#""O\"Brien, Pat" <pat@example.net>, b@example.org"#);
        assert_eq!(list.len(), 2);
        assert_eq!(list[0].display(), "O\"Brien, Pat <pat@example.net>");
        assert_eq!(list[1].display(), "b@example.org");
    }

    #[test]
    fn encoded_name_containing_a_comma_does_not_split() {
        let list = parse_address_list(b"=?utf-8?q?Doe=2C_John?= <j@example.org>");
        assert_eq!(list.len(), 1);
        assert_eq!(list[0].name.as_deref(), Some("Doe, John"));
    }

    #[test]
    fn old_style_comment_name_is_used() {
        assert_eq!(
            displays(b"jdoe@example.org (John Doe)"),
            ["John Doe <jdoe@example.org>"]
        );
    }

    #[test]
    fn empty_group_yields_its_name_and_no_fake_address() {
        let list = parse_address_list(b"undisclosed-recipients:;");
        assert_eq!(
            list,
            [MailAddress {
                name: Some("undisclosed-recipients".into()),
                email: None
            }]
        );
    }

    #[test]
    fn group_members_are_listed() {
        let list = parse_address_list(b"Team: a@example.org, Bob <b@example.org>;, c@example.org");
        let emails: Vec<_> = list.iter().map(|a| a.email.clone().unwrap()).collect();
        assert_eq!(emails, ["a@example.org", "b@example.org", "c@example.org"]);
    }

    #[test]
    fn raw_latin1_name_decodes() {
        assert_eq!(
            displays(b"J\xfcrgen <j@example.org>"),
            ["Jürgen <j@example.org>"]
        );
    }

    #[test]
    fn empty_and_garbage_input_yield_nothing_or_names_only() {
        assert!(parse_address_list(b"").is_empty());
        assert!(parse_address_list(b" , ,").is_empty());
        assert_eq!(displays(b"nobody"), ["nobody"]);
        assert!(parse_address_list(b"nobody")[0].email.is_none());
    }

    #[test]
    fn unterminated_angle_and_quote_do_not_panic() {
        assert_eq!(displays(b"A <a@example.org"), ["A <a@example.org>"]);
        assert_eq!(parse_address_list(b"\"unterminated <x@y>").len(), 1);
    }

    #[test]
    fn name_equal_to_address_is_dropped() {
        assert_eq!(
            displays(b"\"a@example.org\" <a@example.org>"),
            ["a@example.org"]
        );
    }
}
