//! The addresses of pages, built in one place so that every link encodes a
//! folder's raw name the same way.
//!
//! A folder is addressed by the server's raw (modified UTF-7) name, percent
//! encoded as one path segment: every byte except letters, digits, `-`, `_`
//! and `~` is encoded, so `/`, `.`, `%`, `&`, quotes and spaces survive the
//! round trip and a name such as `..` cannot be normalised away by a browser.

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'~');

/// One path segment or query value, percent-encoded.
pub fn encode_segment(text: &str) -> String {
    utf8_percent_encode(text, SEGMENT).to_string()
}

/// A query value, percent-encoded.
pub fn encode_query(text: &str) -> String {
    encode_segment(text)
}

/// The list of a folder.
pub fn mailbox(raw_name: &str) -> String {
    format!("/mail/{}", encode_segment(raw_name))
}

/// A page of a folder in a given order.
pub fn mailbox_page(raw_name: &str, page: usize, sort_token: &str) -> String {
    format!("{}?page={page}&sort={sort_token}", mailbox(raw_name))
}

/// A message, within the UIDVALIDITY its link was made for.
pub fn message(raw_name: &str, uidvalidity: u32, uid: u32) -> String {
    format!("{}/{uidvalidity}/{uid}", mailbox(raw_name))
}

/// A part of a message, by IMAP part number.
pub fn part(raw_name: &str, uidvalidity: u32, uid: u32, part_id: &str) -> String {
    format!(
        "{}/part/{}",
        message(raw_name, uidvalidity, uid),
        encode_segment(part_id)
    )
}

/// Whether a `next` target after sign-in is a path of this site (never
/// another origin, never a scheme-relative `//host`).
pub fn is_local_path(target: &str) -> bool {
    target.starts_with('/')
        && !target.starts_with("//")
        && !target.starts_with("/\\")
        && !target.chars().any(|c| c.is_control())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn odd_folder_names_become_one_segment() {
        assert_eq!(mailbox("INBOX"), "/mail/INBOX");
        assert_eq!(mailbox("a/b c"), "/mail/a%2Fb%20c");
        assert_eq!(mailbox(".."), "/mail/%2E%2E");
        assert_eq!(mailbox("Tom &- Jerry"), "/mail/Tom%20%26-%20Jerry");
        assert_eq!(mailbox("Projekt \"Alpha\""), "/mail/Projekt%20%22Alpha%22");
        assert_eq!(mailbox("back\\slash"), "/mail/back%5Cslash");
    }

    #[test]
    fn only_local_paths_are_followed_after_sign_in() {
        assert!(is_local_path("/mail/INBOX?page=2"));
        assert!(!is_local_path("//evil.example/"));
        assert!(!is_local_path("/\\evil.example/"));
        assert!(!is_local_path("https://evil.example/"));
        assert!(!is_local_path("/mail\r\nSet-Cookie: x"));
    }
}
