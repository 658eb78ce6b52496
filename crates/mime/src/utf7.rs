//! UTF-7 (RFC 2152) decoding for message bodies and headers that declare it.
//!
//! It owns nothing but the conversion from UTF-7 bytes to text. It must not
//! be used for IMAP mailbox names: those use modified UTF-7 (RFC 3501), a
//! different alphabet handled by the IMAP crate. Decoding never fails: a
//! damaged shifted sequence becomes U+FFFD and the result reports it.

const BASE64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

fn base64_value(byte: u8) -> Option<u32> {
    BASE64.iter().position(|&b| b == byte).map(|v| v as u32)
}

/// Decode UTF-7 bytes. Returns the text and whether anything was damaged
/// (bytes outside ASCII, a lone surrogate, or leftover bits that are not
/// zero).
pub(crate) fn decode_utf7(input: &[u8]) -> (String, bool) {
    let mut out = String::with_capacity(input.len());
    let mut damaged = false;
    let mut i = 0;

    while i < input.len() {
        let byte = input[i];
        if byte != b'+' {
            if byte.is_ascii() {
                out.push(byte as char);
            } else {
                out.push('\u{FFFD}');
                damaged = true;
            }
            i += 1;
            continue;
        }

        i += 1;
        if input.get(i) == Some(&b'-') {
            out.push('+');
            i += 1;
            continue;
        }

        let (units, consumed, clean) = decode_shifted(&input[i..]);
        damaged |= !clean;
        i += consumed;
        if input.get(i) == Some(&b'-') {
            i += 1;
        }
        for c in char::decode_utf16(units) {
            out.push(c.unwrap_or_else(|_| {
                damaged = true;
                '\u{FFFD}'
            }));
        }
    }
    (out, damaged)
}

/// Read base64 characters up to the first byte outside the alphabet and
/// return the UTF-16 code units they carry, how many bytes were read and
/// whether the padding bits were clean.
fn decode_shifted(input: &[u8]) -> (Vec<u16>, usize, bool) {
    let mut units = Vec::new();
    let mut bits: u32 = 0;
    let mut nbits = 0;
    let mut consumed = 0;

    for &byte in input {
        let Some(value) = base64_value(byte) else {
            break;
        };
        consumed += 1;
        bits = (bits << 6) | value;
        nbits += 6;
        if nbits >= 16 {
            nbits -= 16;
            units.push(((bits >> nbits) & 0xFFFF) as u16);
            bits &= (1 << nbits) - 1;
        }
    }

    let clean = nbits < 6 && bits == 0;
    (units, consumed, clean)
}

#[cfg(test)]
mod tests {
    use super::decode_utf7;

    #[test]
    fn plain_ascii_passes_through() {
        assert_eq!(decode_utf7(b"Hi Mom -!"), ("Hi Mom -!".to_string(), false));
    }

    #[test]
    fn shifted_sequences_decode_to_unicode() {
        assert_eq!(decode_utf7(b"Hi Mom -+Jjo--!").0, "Hi Mom -\u{263A}-!");
        assert_eq!(decode_utf7(b"+ZeVnLIqe-").0, "日本語");
        assert_eq!(decode_utf7(b"A+ImIDkQ.").0, "A\u{2262}\u{391}.");
    }

    #[test]
    fn plus_minus_is_a_literal_plus() {
        assert_eq!(decode_utf7(b"1 +- 1 = 2").0, "1 + 1 = 2");
    }

    #[test]
    fn surrogate_pairs_join_into_one_character() {
        assert_eq!(decode_utf7(b"+2D3eAA-").0, "\u{1F600}");
    }

    #[test]
    fn markup_hidden_in_utf7_is_revealed_as_text() {
        assert_eq!(decode_utf7(b"+ADw-script+AD4-").0, "<script>");
    }

    #[test]
    fn lone_surrogate_is_flagged_not_fatal() {
        let (text, damaged) = decode_utf7(b"a+2D0-b");
        assert!(damaged);
        assert!(text.starts_with('a') && text.ends_with('b'));
    }
}
