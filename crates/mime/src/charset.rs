//! Conversion of bytes in a declared charset to text.
//!
//! It owns the mapping from MIME charset labels to decoders: every label
//! encoding_rs knows, a few aliases seen in real mail, UTF-7, and a fallback
//! for labels nobody knows. It never fails and never guesses a charset from
//! the content except in one case: a missing, unknown or "unknown-8bit"
//! label decodes as UTF-8 when the bytes are valid UTF-8, else as
//! windows-1252, so clean input never yields U+FFFD.

use encoding_rs::{Encoding, UTF_16BE, UTF_16LE, UTF_8, WINDOWS_1252};

use crate::utf7::decode_utf7;

/// Text decoded from bytes, and whether any byte was not valid in the
/// charset (each such byte became U+FFFD).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Decoded {
    pub text: String,
    pub had_errors: bool,
}

/// How a charset label is decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Charset {
    /// A decoder encoding_rs provides.
    Known(&'static Encoding),
    /// UTF-16 with a byte order mark; without one, the byte order that puts
    /// the zero bytes of ASCII characters in the high half, else big-endian
    /// as RFC 2781 says (Outlook Express sends little-endian without a
    /// mark: corpus spamassassin-t-data/spam/utf16.eml).
    Utf16,
    /// UTF-7 (RFC 2152).
    Utf7,
    /// No usable label: UTF-8 when valid, else windows-1252.
    Guess,
}

/// Map a MIME charset label to a decoder. Quotes, whitespace and an
/// RFC 2231 language suffix (`utf-8*en`) are ignored.
pub(crate) fn charset_for_label(label: &str) -> Charset {
    let label = label.trim().trim_matches(|c| c == '"' || c == '\'').trim();
    let label = label.split('*').next().unwrap_or("").to_ascii_lowercase();

    match label.as_str() {
        "" | "us-ascii" | "ascii" | "ansi_x3.4-1968" | "iso646-us" | "unknown-8bit"
        | "x-unknown" | "unknown" | "default" | "8bit" | "none" => return Charset::Guess,
        "utf-7" | "unicode-1-1-utf-7" | "x-unicode-2-0-utf-7" | "csunicode11utf7" => {
            return Charset::Utf7;
        }
        "utf-16" | "ucs-2" | "iso-10646-ucs-2" | "csunicode" | "unicode" => {
            return Charset::Utf16;
        }
        "utf8" | "utf_8" | "x-utf8" => return Charset::Known(UTF_8),
        "x-gbk" | "gb_2312-80" | "gb2312" | "chinese" | "cp936" | "x-gb2312" => {
            return Charset::Known(encoding_rs::GBK);
        }
        "ks_c_5601-1987" | "ks_c_5601" | "ksc5601" | "ks_c_5601-1989" | "cp949" | "uhc" => {
            return Charset::Known(encoding_rs::EUC_KR);
        }
        "iso-8859-8-i" | "iso_8859-8-i" => return Charset::Known(encoding_rs::ISO_8859_8_I),
        "x-sjis" | "sjis" | "cp932" | "ms932" | "windows-31j" => {
            return Charset::Known(encoding_rs::SHIFT_JIS);
        }
        _ => {}
    }

    if let Some(encoding) = Encoding::for_label_no_replacement(label.as_bytes()) {
        return Charset::Known(encoding);
    }
    if let Some(encoding) = respelled(&label).and_then(|l| Encoding::for_label(l.as_bytes())) {
        return Charset::Known(encoding);
    }
    Charset::Guess
}

/// Common misspellings: `iso8859_15`, `iso-8859_1`, `win-1251`, `cp-1250`.
fn respelled(label: &str) -> Option<String> {
    let compact: String = label
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .collect();
    if let Some(rest) = compact.strip_prefix("iso8859") {
        return Some(format!("iso-8859-{rest}"));
    }
    for prefix in ["windows", "win", "cp", "ms"] {
        if let Some(rest) = compact.strip_prefix(prefix) {
            if rest.len() == 4 && rest.starts_with("125") {
                return Some(format!("windows-{rest}"));
            }
        }
    }
    None
}

/// Decode bytes in the charset a label names.
pub(crate) fn decode_with_label(bytes: &[u8], label: &str) -> Decoded {
    decode(bytes, charset_for_label(label))
}

/// Decode bytes with a chosen charset.
pub(crate) fn decode(bytes: &[u8], charset: Charset) -> Decoded {
    match charset {
        Charset::Guess => decode_guess(bytes),
        Charset::Utf7 => {
            let (text, had_errors) = decode_utf7(bytes);
            Decoded { text, had_errors }
        }
        Charset::Utf16 => {
            let encoding = match bytes {
                [0xFF, 0xFE, ..] => UTF_16LE,
                [0xFE, 0xFF, ..] => UTF_16BE,
                _ if looks_little_endian(bytes) => UTF_16LE,
                _ => UTF_16BE,
            };
            let (text, _, had_errors) = encoding.decode(bytes);
            Decoded {
                text: text.into_owned(),
                had_errors,
            }
        }
        Charset::Known(encoding) => {
            let (text, had_errors) = encoding.decode_without_bom_handling(bytes);
            let text = text.strip_prefix('\u{FEFF}').unwrap_or(&text).to_string();
            Decoded { text, had_errors }
        }
    }
}

/// Whether UTF-16 without a byte order mark has more zero bytes in odd
/// positions than in even ones, as little-endian text of mostly Latin
/// characters has.
fn looks_little_endian(bytes: &[u8]) -> bool {
    let sample = &bytes[..bytes.len().min(4096)];
    let zeros_at = |parity: usize| {
        sample
            .iter()
            .skip(parity)
            .step_by(2)
            .filter(|&&b| b == 0)
            .count()
    };
    zeros_at(1) > zeros_at(0)
}

/// UTF-8 when the bytes are valid UTF-8, else windows-1252 (which maps
/// every byte, so this never reports errors).
pub(crate) fn decode_guess(bytes: &[u8]) -> Decoded {
    match std::str::from_utf8(bytes) {
        Ok(text) => {
            let text = text.strip_prefix('\u{FEFF}').unwrap_or(text).to_string();
            Decoded {
                text,
                had_errors: false,
            }
        }
        Err(_) => {
            let (text, _) = WINDOWS_1252.decode_without_bom_handling(bytes);
            Decoded {
                text: text.into_owned(),
                had_errors: false,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latin1_label_decodes_umlauts() {
        assert_eq!(decode_with_label(b"M\xfcller", "ISO-8859-1").text, "Müller");
    }

    #[test]
    fn misspelled_labels_still_find_their_charset() {
        assert_eq!(decode_with_label(b"\xa4", "iso8859_15").text, "€");
        assert_eq!(decode_with_label(b"\xc0", "win-1251").text, "А");
        assert_eq!(decode_with_label(b"\x80", "cp1252").text, "€");
    }

    #[test]
    fn gbk_aliases_decode_as_gbk() {
        for label in ["gb2312", "x-gbk", "GBK"] {
            assert_eq!(decode_with_label(b"\xd6\xd0\xce\xc4", label).text, "中文");
        }
    }

    #[test]
    fn korean_legacy_label_decodes_as_euc_kr() {
        assert_eq!(decode_with_label(b"\xc7\xd1", "ks_c_5601-1987").text, "한");
    }

    #[test]
    fn japanese_charsets_decode() {
        assert_eq!(
            decode_with_label(b"\x93\xfa\x96\x7b", "Shift_JIS").text,
            "日本"
        );
        assert_eq!(
            decode_with_label(b"\xc6\xfc\xcb\xdc", "euc-jp").text,
            "日本"
        );
        let jis = b"\x1b$BF|K\\\x1b(B";
        assert_eq!(decode_with_label(jis, "iso-2022-jp").text, "日本");
    }

    #[test]
    fn koi8_and_big5_and_hebrew_decode() {
        assert_eq!(decode_with_label(b"\xf0\xd2\xc9", "koi8-r").text, "При");
        assert_eq!(decode_with_label(b"\xa4\xa4", "big5").text, "中");
        assert_eq!(decode_with_label(b"\xf9", "iso-8859-8-i").text, "ש");
    }

    #[test]
    fn utf16_without_bom_is_big_endian_and_with_bom_follows_it() {
        assert_eq!(decode_with_label(b"\x00H\x00i", "utf-16").text, "Hi");
        assert_eq!(
            decode_with_label(b"\xff\xfeH\x00i\x00", "UTF-16").text,
            "Hi"
        );
        assert_eq!(decode_with_label(b"H\x00i\x00", "utf-16le").text, "Hi");
    }

    #[test]
    fn utf16_without_bom_whose_zero_bytes_come_second_is_little_endian() {
        let decoded = decode_with_label(b"\r\x00\n\x00D\x00e\x00a\x00r\x00", "utf-16");
        assert_eq!(decoded.text, "\r\nDear");
        assert!(!decoded.had_errors);
        assert_eq!(
            decode_with_label(b"\x00D\x00e\x00a\x00r", "utf-16").text,
            "Dear"
        );
    }

    #[test]
    fn unknown_labels_guess_utf8_then_windows_1252() {
        assert_eq!(
            decode_with_label("Grüße".as_bytes(), "unknown-8bit").text,
            "Grüße"
        );
        assert_eq!(decode_with_label(b"Gr\xfc\xdfe", "x-no-such").text, "Grüße");
        assert!(!decode_with_label(b"Gr\xfc\xdfe", "").had_errors);
    }

    #[test]
    fn utf7_label_uses_the_utf7_decoder() {
        assert_eq!(decode_with_label(b"Hi +AKM-1", "utf-7").text, "Hi £1");
    }

    #[test]
    fn invalid_bytes_in_a_strict_charset_are_reported() {
        let decoded = decode_with_label(b"ok \xff", "utf-8");
        assert!(decoded.had_errors);
        assert!(decoded.text.starts_with("ok "));
    }
}
