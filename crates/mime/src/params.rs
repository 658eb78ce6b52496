//! Parameterised header values: Content-Type and Content-Disposition.
//!
//! It owns the split of `value; name=param; ...` into a lowercase value and
//! decoded parameters, including RFC 2231 extended parameters
//! (`filename*=utf-8'de'...`) and their continuations (`filename*0*`,
//! `filename*1`, ...), which may mix percent-encoded and plain sections.
//! An RFC 2231 form of a parameter always wins over the plain form of the
//! same name. It never fails: a parameter it cannot read is skipped.

use std::collections::BTreeMap;

use percent_encoding::percent_decode;

use crate::charset::{decode_guess, decode_with_label};
use crate::header::{clean_display_text, decode_header};

/// A header value with its parameters, names lowercased.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct ParamValue {
    /// The value before the first `;`, lowercased and trimmed.
    pub value: String,
    pub params: BTreeMap<String, String>,
}

impl ParamValue {
    pub(crate) fn param(&self, name: &str) -> Option<&str> {
        self.params.get(name).map(String::as_str)
    }
}

/// One section of an RFC 2231 parameter.
struct Section {
    index: u32,
    encoded: bool,
    raw: Vec<u8>,
}

/// Parse a raw header value such as `text/plain; charset="utf-8"`.
pub(crate) fn parse_param_value(raw: &[u8]) -> ParamValue {
    let unfolded: Vec<u8> = raw
        .iter()
        .copied()
        .filter(|&b| b != b'\r' && b != b'\n')
        .collect();
    let mut pieces = split_unquoted_semicolons(&unfolded);
    let first = pieces.first().copied().unwrap_or_default();
    let first = trim_bytes(first);

    // A parameter after the value without its `;` (`multipart/mixed
    // boundary="x"`) is still a parameter (corpus mail-parser/malformed/017).
    let value_end = first
        .iter()
        .position(|b| b.is_ascii_whitespace())
        .unwrap_or(first.len());
    let value = strip_comment(&first[..value_end]);
    let rest = trim_bytes(&first[value_end..]);
    if rest.contains(&b'=') && !rest.starts_with(b"(") {
        pieces.push(rest);
    }

    let mut params = BTreeMap::new();
    let mut extended: BTreeMap<String, Vec<Section>> = BTreeMap::new();
    for piece in pieces.into_iter().skip(1) {
        let Some(eq) = piece.iter().position(|&b| b == b'=') else {
            continue;
        };
        let key = String::from_utf8_lossy(&piece[..eq])
            .trim()
            .to_ascii_lowercase();
        let raw_value = unquote(trim_bytes(&piece[eq + 1..]));
        if key.is_empty() {
            continue;
        }

        match split_extended_key(&key) {
            Some((name, index, encoded)) => {
                extended.entry(name.to_string()).or_default().push(Section {
                    index,
                    encoded,
                    raw: raw_value,
                });
            }
            None => {
                params
                    .entry(key)
                    .or_insert_with(|| decode_plain_param(&raw_value));
            }
        }
    }

    for (name, sections) in extended {
        params.insert(name, join_sections(sections));
    }
    ParamValue { value, params }
}

/// The value part, lowercased, without a trailing comment.
fn strip_comment(value: &[u8]) -> String {
    let text = String::from_utf8_lossy(value);
    let text = text.split('(').next().unwrap_or("");
    text.trim().trim_matches('"').trim().to_ascii_lowercase()
}

fn trim_bytes(bytes: &[u8]) -> &[u8] {
    let start = bytes
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(bytes.len());
    let end = bytes
        .iter()
        .rposition(|b| !b.is_ascii_whitespace())
        .map_or(start, |e| e + 1);
    &bytes[start..end.max(start)]
}

/// Split on `;` outside quoted strings.
fn split_unquoted_semicolons(bytes: &[u8]) -> Vec<&[u8]> {
    let mut pieces = Vec::new();
    let mut start = 0;
    let mut in_quotes = false;
    let mut escaped = false;

    for (i, &b) in bytes.iter().enumerate() {
        if escaped {
            escaped = false;
        } else if in_quotes && b == b'\\' {
            escaped = true;
        } else if b == b'"' {
            in_quotes = !in_quotes;
        } else if b == b';' && !in_quotes {
            pieces.push(&bytes[start..i]);
            start = i + 1;
        }
    }
    pieces.push(&bytes[start..]);
    pieces
}

/// Remove surrounding quotes and backslash escapes. A backslash before
/// anything but `"` or `\` is kept, because Windows paths arrive unescaped.
fn unquote(bytes: &[u8]) -> Vec<u8> {
    let inner = match bytes {
        [b'"', inner @ .., b'"'] => inner,
        [b'"', inner @ ..] => inner,
        _ => return bytes.to_vec(),
    };
    let mut out = Vec::with_capacity(inner.len());
    let mut i = 0;
    while i < inner.len() {
        if inner[i] == b'\\' && matches!(inner.get(i + 1), Some(b'"' | b'\\')) {
            out.push(inner[i + 1]);
            i += 2;
        } else {
            out.push(inner[i]);
            i += 1;
        }
    }
    out
}

/// `name*` is section 0, encoded; `name*3` plain; `name*3*` encoded.
fn split_extended_key(key: &str) -> Option<(&str, u32, bool)> {
    let (name, rest) = key.split_once('*')?;
    if rest.is_empty() {
        return Some((name, 0, true));
    }
    let (digits, encoded) = match rest.strip_suffix('*') {
        Some(digits) => (digits, true),
        None => (rest, false),
    };
    let index = digits.parse().ok()?;
    Some((name, index, encoded))
}

/// A plain parameter: encoded words are decoded (a common violation of
/// RFC 2047, which forbids them here), raw 8-bit bytes are read as UTF-8 or
/// windows-1252.
fn decode_plain_param(raw: &[u8]) -> String {
    if raw.windows(2).any(|w| w == b"=?") {
        decode_header(raw)
    } else {
        clean_display_text(&decode_guess(raw).text)
    }
}

/// Join RFC 2231 sections in index order and decode them in the charset the
/// first section names.
fn join_sections(mut sections: Vec<Section>) -> String {
    sections.sort_by_key(|s| s.index);
    let mut charset = String::new();
    let mut bytes = Vec::new();

    for (n, section) in sections.iter().enumerate() {
        let mut raw = section.raw.as_slice();
        if n == 0 && section.encoded {
            if let Some((label, rest)) = split_charset_prefix(raw) {
                charset = label;
                raw = rest;
            }
        }
        if section.encoded {
            bytes.extend(percent_decode(raw));
        } else {
            bytes.extend_from_slice(raw);
        }
    }

    let text = if charset.is_empty() {
        decode_guess(&bytes).text
    } else {
        decode_with_label(&bytes, &charset).text
    };
    clean_display_text(&text)
}

/// Split `charset'language'rest`.
fn split_charset_prefix(raw: &[u8]) -> Option<(String, &[u8])> {
    let first = raw.iter().position(|&b| b == b'\'')?;
    let second = first + 1 + raw[first + 1..].iter().position(|&b| b == b'\'')?;
    let label = String::from_utf8_lossy(&raw[..first]).into_owned();
    Some((label, &raw[second + 1..]))
}

#[cfg(test)]
mod tests {
    use super::parse_param_value;

    #[test]
    fn simple_content_type_parses() {
        let p = parse_param_value(b"Text/Plain; charset=\"UTF-8\"; format=flowed");
        assert_eq!(p.value, "text/plain");
        assert_eq!(p.param("charset"), Some("UTF-8"));
        assert_eq!(p.param("format"), Some("flowed"));
    }

    #[test]
    fn parameter_without_its_semicolon_is_still_read() {
        let p = parse_param_value(b"multipart/mixed\r\n\tboundary=\"b1\"");
        assert_eq!(p.value, "multipart/mixed");
        assert_eq!(p.param("boundary"), Some("b1"));
    }

    #[test]
    fn comment_after_the_value_is_ignored() {
        assert_eq!(
            parse_param_value(b"text/plain (plain text)").value,
            "text/plain"
        );
    }

    #[test]
    fn quoted_semicolon_does_not_split() {
        let p = parse_param_value(b"attachment; filename=\"a;b.txt\"; size=3");
        assert_eq!(p.param("filename"), Some("a;b.txt"));
        assert_eq!(p.param("size"), Some("3"));
    }

    #[test]
    fn continuations_mixing_encoded_and_plain_sections_join() {
        let raw = b"attachment;\r\n filename*0*=UTF-8''Quartalsbericht%20%C3%9Cbersicht%20;\r\n\
            \x20filename*1*=%E2%82%AC%20Ausgaben;\r\n filename*2=\".pdf\"";
        let p = parse_param_value(raw);
        assert_eq!(
            p.param("filename"),
            Some("Quartalsbericht Übersicht € Ausgaben.pdf")
        );
    }

    #[test]
    fn plain_sections_are_not_percent_decoded() {
        let raw =
            b"attachment;\r\n\tfilename*0*=utf-8'de'100%25%20;\r\n\tfilename*1=\"sicher (v2).txt\"";
        assert_eq!(
            parse_param_value(raw).param("filename"),
            Some("100% sicher (v2).txt")
        );
    }

    #[test]
    fn extended_form_wins_over_plain_form() {
        let raw = b"attachment; filename=\"fallback.txt\"; filename*=iso-8859-1''M%FCller.txt";
        assert_eq!(parse_param_value(raw).param("filename"), Some("Müller.txt"));
    }

    #[test]
    fn sections_out_of_order_are_sorted() {
        let raw = b"inline; name*1=\"def\"; name*0=\"abc\"";
        assert_eq!(parse_param_value(raw).param("name"), Some("abcdef"));
    }

    #[test]
    fn encoded_words_in_a_plain_parameter_decode() {
        let raw = b"application/pdf; name=\"=?utf-8?B?w5xiZXJzaWNodC5wZGY=?=\"";
        assert_eq!(parse_param_value(raw).param("name"), Some("Übersicht.pdf"));
    }

    #[test]
    fn windows_path_backslashes_survive_unquoting() {
        let raw = b"attachment; filename=\"C:\\temp\\a.txt\"";
        assert_eq!(
            parse_param_value(raw).param("filename"),
            Some("C:\\temp\\a.txt")
        );
    }

    #[test]
    fn raw_latin1_parameter_decodes() {
        let raw = b"attachment; filename=\"M\xfcller.txt\"";
        assert_eq!(parse_param_value(raw).param("filename"), Some("Müller.txt"));
    }
}
