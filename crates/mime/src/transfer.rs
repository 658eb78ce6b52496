//! Content-Transfer-Encoding decoding (RFC 2045): base64 and
//! quoted-printable, both lenient.
//!
//! It owns the byte-level undoing of a transfer encoding and nothing about
//! charsets or MIME structure. Decoding never fails: damaged input yields
//! every byte that could be recovered and a flag, so a caller can show the
//! text that is there and record the damage.

/// Bytes recovered from an encoded body, and whether the input was damaged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TransferDecoded {
    pub data: Vec<u8>,
    pub damaged: bool,
}

/// A transfer encoding as named in Content-Transfer-Encoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TransferEncoding {
    Base64,
    QuotedPrintable,
    /// 7bit, 8bit, binary, or anything unknown: the bytes are used as they
    /// are.
    Identity,
}

impl TransferEncoding {
    pub(crate) fn from_header(value: Option<&str>) -> Self {
        let value = value
            .unwrap_or("")
            .trim()
            .trim_matches('"')
            .to_ascii_lowercase();
        match value.as_str() {
            "base64" => Self::Base64,
            "quoted-printable" => Self::QuotedPrintable,
            _ => Self::Identity,
        }
    }
}

/// Undo a transfer encoding.
pub(crate) fn decode_transfer(body: &[u8], encoding: TransferEncoding) -> TransferDecoded {
    match encoding {
        TransferEncoding::Base64 => decode_base64(body),
        TransferEncoding::QuotedPrintable => TransferDecoded {
            data: decode_quoted_printable(body, false),
            damaged: false,
        },
        TransferEncoding::Identity => TransferDecoded {
            data: body.to_vec(),
            damaged: false,
        },
    }
}

fn base64_value(byte: u8) -> Option<u8> {
    match byte {
        b'A'..=b'Z' => Some(byte - b'A'),
        b'a'..=b'z' => Some(byte - b'a' + 26),
        b'0'..=b'9' => Some(byte - b'0' + 52),
        b'+' | b'-' => Some(62),
        b'/' | b'_' => Some(63),
        _ => None,
    }
}

/// Decode base64, skipping whitespace and treating `=` as the end of one
/// group (some senders concatenate padded blocks). Other stray bytes are
/// skipped and flagged. Text after a padding `=` that is not base64 (a
/// mailing list's footer appended to an encoded body: corpus
/// spamassassin-t-data/nice/cjk_big5-base64.1) ends the data there and is
/// left out; a footer after data that needs no padding cannot be told from
/// damage and is decoded as such.
pub(crate) fn decode_base64(input: &[u8]) -> TransferDecoded {
    let mut data = Vec::with_capacity(input.len() / 4 * 3);
    let mut damaged = false;
    let mut group: u32 = 0;
    let mut count = 0;
    let last_foreign = input
        .iter()
        .rposition(|&b| base64_value(b).is_none() && b != b'=' && !b.is_ascii_whitespace());

    for (at, &byte) in input.iter().enumerate() {
        if let Some(value) = base64_value(byte) {
            group = (group << 6) | u32::from(value);
            count += 1;
            if count == 4 {
                data.extend_from_slice(&[(group >> 16) as u8, (group >> 8) as u8, group as u8]);
                group = 0;
                count = 0;
            }
        } else if byte == b'=' {
            flush_partial_group(&mut data, group, count);
            damaged |= count == 1;
            group = 0;
            count = 0;
            if last_foreign.is_some_and(|foreign| foreign > at) {
                return TransferDecoded { data, damaged };
            }
        } else if !byte.is_ascii_whitespace() {
            damaged = true;
        }
    }

    flush_partial_group(&mut data, group, count);
    damaged |= count == 1;
    TransferDecoded { data, damaged }
}

fn flush_partial_group(data: &mut Vec<u8>, group: u32, count: u32) {
    match count {
        2 => data.push((group >> 4) as u8),
        3 => data.extend_from_slice(&[(group >> 10) as u8, (group >> 2) as u8]),
        _ => {}
    }
}

fn hex_value(byte: u8) -> Option<u8> {
    (byte as char).to_digit(16).map(|v| v as u8)
}

/// Decode quoted-printable. A `=` that starts no valid escape is kept as it
/// is; `=` before a line end (or at the very end, as when a soft break
/// precedes a boundary) joins the lines. With `header` set, `_` means a
/// space (RFC 2047 Q encoding).
pub(crate) fn decode_quoted_printable(input: &[u8], header: bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(input.len());
    let mut i = 0;

    while i < input.len() {
        let byte = input[i];
        if byte == b'_' && header {
            out.push(b' ');
            i += 1;
            continue;
        }
        if byte != b'=' {
            out.push(byte);
            i += 1;
            continue;
        }

        if let (Some(hi), Some(lo)) = (
            input.get(i + 1).copied().and_then(hex_value),
            input.get(i + 2).copied().and_then(hex_value),
        ) {
            out.push(hi << 4 | lo);
            i += 3;
            continue;
        }

        let mut j = i + 1;
        while j < input.len() && (input[j] == b' ' || input[j] == b'\t') {
            j += 1;
        }
        match input.get(j) {
            None => i = j,
            Some(b'\n') => i = j + 1,
            Some(b'\r') if input.get(j + 1) == Some(&b'\n') => i = j + 2,
            _ => {
                out.push(b'=');
                i += 1;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_with_line_breaks_decodes() {
        let decoded = decode_base64(b"SGVs\r\nbG8=\r\n");
        assert_eq!(decoded.data, b"Hello");
        assert!(!decoded.damaged);
    }

    #[test]
    fn base64_with_padding_in_the_middle_keeps_both_blocks() {
        assert_eq!(decode_base64(b"SsM=vHI=").data, b"J\xc3\xbcr");
    }

    #[test]
    fn text_after_the_final_padding_is_not_decoded_as_data() {
        let decoded = decode_base64(b"SGk=\r\n\r\n____\r\nA list@example.org\r\n");
        assert_eq!(decoded.data, b"Hi");
        assert!(!decoded.damaged);
    }

    #[test]
    fn broken_base64_keeps_what_decodes_and_is_flagged() {
        let decoded = decode_base64(b"SGVsbG8g*d29y");
        assert!(decoded.damaged);
        assert_eq!(decoded.data, b"Hello wor");
    }

    #[test]
    fn unpadded_base64_is_complete_and_not_flagged() {
        let decoded = decode_base64(b"SGVsbG8gd29");
        assert!(!decoded.damaged);
        assert_eq!(decoded.data, b"Hello wo");
    }

    #[test]
    fn base64_cut_inside_a_byte_is_flagged() {
        let decoded = decode_base64(b"SGVsbG8gd");
        assert!(decoded.damaged);
        assert_eq!(decoded.data, b"Hello ");
    }

    #[test]
    fn quoted_printable_soft_breaks_join_lines() {
        assert_eq!(
            decode_quoted_printable(b"ab=\r\ncd=  \nef", false),
            b"abcdef"
        );
    }

    #[test]
    fn quoted_printable_soft_break_at_the_very_end_is_dropped() {
        assert_eq!(
            decode_quoted_printable(b"last words=", false),
            b"last words"
        );
    }

    #[test]
    fn quoted_printable_invalid_escapes_are_kept_literally() {
        assert_eq!(
            decode_quoted_printable(b"a=ZZb =C3=BC", false),
            "a=ZZb ü".as_bytes()
        );
    }

    #[test]
    fn header_q_encoding_turns_underscores_into_spaces() {
        assert_eq!(decode_quoted_printable(b"a_b=5F", true), b"a b_");
    }
}
