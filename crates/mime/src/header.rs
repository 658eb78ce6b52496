//! Header field text: unfolding and RFC 2047 encoded words.
//!
//! It owns the conversion of one raw header value (bytes as found on the
//! wire or in an IMAP ENVELOPE) into display text. It knows nothing of the
//! header's syntax (addresses, parameters): callers split structured
//! headers first and decode the pieces. The result never contains line
//! breaks or other control characters, and contains U+FFFD only where the
//! input itself was damaged.

use crate::charset::{charset_for_label, decode_guess, decode_with_label, Charset};
use crate::transfer::{decode_base64, decode_quoted_printable};

/// Longest encoded text looked at in one encoded word. RFC 2047 allows 75
/// characters per word; real mailers exceed that, but a bound keeps a
/// header full of `=?` linear to scan.
const MAX_ENCODED_TEXT: usize = 2048;

/// One piece of a header value: raw text, or the bytes of an encoded word
/// with the charset they are in.
enum Segment<'a> {
    Raw(&'a [u8]),
    Encoded { charset: &'a str, data: Vec<u8> },
}

/// Decode a header value as found on the wire or in an IMAP ENVELOPE:
/// RFC 2047 encoded words (Q and B, any charset, adjacent words joined with
/// no space even when one UTF-8 character is split across two words,
/// folding with TAB/space removed), raw 8-bit bytes (UTF-8 if valid, else
/// windows-1252). Never returns U+FFFD for input that decodes cleanly.
pub fn decode_header(raw: &[u8]) -> String {
    let segments = split_encoded_words(raw);
    let mut out = String::with_capacity(raw.len());
    let mut i = 0;

    while i < segments.len() {
        match &segments[i] {
            Segment::Raw(bytes) => {
                let between_words = i > 0
                    && i + 1 < segments.len()
                    && matches!(segments[i - 1], Segment::Encoded { .. })
                    && matches!(segments[i + 1], Segment::Encoded { .. })
                    && bytes.iter().all(|b| b.is_ascii_whitespace());
                if !between_words {
                    out.push_str(&decode_guess(bytes).text);
                }
                i += 1;
            }
            Segment::Encoded { charset, .. } => {
                let (data, next) = join_same_charset(&segments, i, charset);
                out.push_str(&decode_word_bytes(&data, charset));
                i = next;
            }
        }
    }
    clean_display_text(&out)
}

/// Decode the bytes of joined encoded words. Words that claim UTF-8 but are
/// not are read as windows-1252, as their sender almost always meant.
fn decode_word_bytes(data: &[u8], charset: &str) -> String {
    let decoded = decode_with_label(data, charset);
    let claims_utf8 = charset_for_label(charset) == Charset::Known(encoding_rs::UTF_8);
    if decoded.had_errors && claims_utf8 {
        return decode_guess(data).text;
    }
    decoded.text
}

/// Concatenate the bytes of consecutive encoded words in one charset
/// (skipping the whitespace between them), so that a character split across
/// two words decodes whole. Returns the bytes and the next segment index.
fn join_same_charset(segments: &[Segment<'_>], start: usize, charset: &str) -> (Vec<u8>, usize) {
    let mut data = Vec::new();
    let mut i = start;

    while i < segments.len() {
        match &segments[i] {
            Segment::Encoded {
                charset: other,
                data: bytes,
            } if other.eq_ignore_ascii_case(charset) => {
                data.extend_from_slice(bytes);
                i += 1;
            }
            Segment::Raw(bytes)
                if bytes.iter().all(|b| b.is_ascii_whitespace())
                    && matches!(segments.get(i + 1), Some(Segment::Encoded { charset: other, .. })
                        if other.eq_ignore_ascii_case(charset)) =>
            {
                i += 1;
            }
            _ => break,
        }
    }
    (data, i)
}

/// Split a header value into raw runs and decoded encoded words.
fn split_encoded_words(raw: &[u8]) -> Vec<Segment<'_>> {
    let mut segments = Vec::new();
    let mut raw_start = 0;
    let mut i = 0;

    while i + 1 < raw.len() {
        if raw[i] == b'=' && raw[i + 1] == b'?' {
            if let Some((segment, end)) = parse_encoded_word(raw, i) {
                if raw_start < i {
                    segments.push(Segment::Raw(&raw[raw_start..i]));
                }
                segments.push(segment);
                i = end;
                raw_start = end;
                continue;
            }
        }
        i += 1;
    }
    if raw_start < raw.len() {
        segments.push(Segment::Raw(&raw[raw_start..]));
    }
    segments
}

/// Parse `=?charset?E?text?=` starting at `start`. Returns the segment and
/// the index just past it, or None when the bytes are not an encoded word.
fn parse_encoded_word(raw: &[u8], start: usize) -> Option<(Segment<'_>, usize)> {
    let rest = &raw[start + 2..];
    let charset_end = rest.iter().position(|&b| b == b'?')?;
    let charset = std::str::from_utf8(&rest[..charset_end]).ok()?;
    if charset.is_empty()
        || charset
            .bytes()
            .any(|b| b.is_ascii_whitespace() || b == b'=')
    {
        return None;
    }

    let encoding = *rest.get(charset_end + 1)?;
    if rest.get(charset_end + 2) != Some(&b'?') {
        return None;
    }
    let text_start = charset_end + 3;
    let window = &rest[text_start..rest.len().min(text_start + MAX_ENCODED_TEXT)];
    let text_len = window.windows(2).position(|w| w == b"?=")?;
    let text = &rest[text_start..text_start + text_len];
    if text.iter().any(|&b| b == b'\r' || b == b'\n') {
        return None;
    }

    let data = match encoding {
        b'B' | b'b' => decode_base64(text).data,
        b'Q' | b'q' => decode_quoted_printable(text, true),
        _ => return None,
    };
    let end = start + 2 + text_start + text_len + 2;
    Some((Segment::Encoded { charset, data }, end))
}

/// Unfold and tidy decoded header text: line breaks with the whitespace
/// after them become one space, other control characters become spaces, and
/// the ends are trimmed.
pub(crate) fn clean_display_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();

    while let Some(c) = chars.next() {
        if c == '\r' || c == '\n' {
            while matches!(chars.peek(), Some('\r' | '\n' | ' ' | '\t')) {
                chars.next();
            }
            if !out.ends_with(' ') {
                out.push(' ');
            }
        } else if c.is_control() {
            out.push(' ');
        } else {
            out.push(c);
        }
    }
    out.trim().to_string()
}

#[cfg(test)]
mod tests {
    use super::decode_header;

    #[test]
    fn plain_ascii_is_unchanged() {
        assert_eq!(decode_header(b"Hello world"), "Hello world");
    }

    #[test]
    fn q_encoded_words_split_inside_a_utf8_character_join() {
        let raw = b"=?UTF-8?Q?Einladung:=20Pr=C3?=\r\n\
            \t=?UTF-8?Q?=BCfungsplan=20f=C3=BCr=20n=C3?=\r\n =?utf-8?q?=A4chste=20Woche?=";
        assert_eq!(
            decode_header(raw),
            "Einladung: Prüfungsplan für nächste Woche"
        );
    }

    #[test]
    fn b_encoded_words_with_padding_in_the_middle_join() {
        let raw = b"=?UTF-8?B?SsM=?=\r\n =?UTF-8?B?vHJnZW4gTcO8bGxlcg==?= <jm@example.net>";
        assert_eq!(decode_header(raw), "Jürgen Müller <jm@example.net>");
    }

    #[test]
    fn split_shift_jis_character_joins_across_words() {
        // "日本" in Shift_JIS is 93 FA 96 7B; the second character is split.
        let raw = b"=?Shift_JIS?B?k/qW?= =?shift_jis?B?ew==?=";
        assert_eq!(decode_header(raw), "日本");
    }

    #[test]
    fn space_between_encoded_word_and_text_is_kept() {
        assert_eq!(
            decode_header(b"=?iso-8859-1?q?M=FCller?= and sons"),
            "Müller and sons"
        );
        assert_eq!(
            decode_header(b"Re: =?iso-8859-1?q?M=FCller?="),
            "Re: Müller"
        );
    }

    #[test]
    fn words_in_different_charsets_each_decode() {
        let raw = b"=?iso-8859-1?q?=FC?= =?koi8-r?b?8NLJ?=";
        assert_eq!(decode_header(raw), "üПри");
    }

    #[test]
    fn raw_utf8_and_raw_latin1_bytes_decode() {
        assert_eq!(decode_header("Grüße".as_bytes()), "Grüße");
        assert_eq!(decode_header(b"Gr\xfc\xdfe"), "Grüße");
    }

    #[test]
    fn malformed_encoded_words_stay_as_text() {
        assert_eq!(decode_header(b"=?utf-8?x?abc?="), "=?utf-8?x?abc?=");
        assert_eq!(decode_header(b"price =?= 5"), "price =?= 5");
        assert_eq!(
            decode_header(b"=?utf-8?q?unterminated"),
            "=?utf-8?q?unterminated"
        );
    }

    #[test]
    fn folding_becomes_one_space() {
        assert_eq!(decode_header(b"a long\r\n\tsubject"), "a long subject");
    }

    #[test]
    fn charset_with_language_suffix_decodes() {
        assert_eq!(decode_header(b"=?utf-8*de?q?Gr=C3=BC=C3=9Fe?="), "Grüße");
    }

    #[test]
    fn utf8_word_holding_latin1_bytes_reads_as_windows_1252() {
        assert_eq!(decode_header(b"=?utf-8?q?K=F6ln?="), "Köln");
    }

    #[test]
    fn header_full_of_openers_stays_fast() {
        let raw = b"=?a?q?".repeat(50_000);
        let started = std::time::Instant::now();
        assert!(!decode_header(&raw).is_empty());
        assert!(started.elapsed().as_secs() < 5);
    }

    #[test]
    fn utf7_encoded_word_decodes() {
        assert_eq!(decode_header(b"=?utf-7?q?Hi_+AKM-1?="), "Hi £1");
    }
}
