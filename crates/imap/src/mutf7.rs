//! Modified UTF-7 for mailbox names (RFC 3501 section 5.1.3).
//!
//! This module only converts between a server's encoded name and the text a
//! user reads. It never sends anything: commands always carry the server's
//! own encoded name, so a name is never encoded twice. Decoding never fails:
//! a name that is not valid modified UTF-7 (a lone `&`, a bad base64 run, a
//! broken surrogate pair) is returned unchanged, and so is a name that
//! already holds non-ASCII text (servers with UTF8=ACCEPT send such names).

/// The modified base64 alphabet: standard base64 with `,` in place of `/`.
const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,";

/// Encodes `name` for the wire: printable ASCII stays, `&` becomes `&-`,
/// everything else becomes `&<modified base64 of UTF-16BE>-`.
pub fn encode_mailbox_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut pending: Vec<u16> = Vec::new();

    for ch in name.chars() {
        if (' '..='~').contains(&ch) {
            flush_base64(&mut pending, &mut out);
            if ch == '&' {
                out.push_str("&-");
            } else {
                out.push(ch);
            }
        } else {
            let mut units = [0u16; 2];
            pending.extend_from_slice(ch.encode_utf16(&mut units));
        }
    }

    flush_base64(&mut pending, &mut out);
    out
}

fn flush_base64(units: &mut Vec<u16>, out: &mut String) {
    if units.is_empty() {
        return;
    }

    let bytes: Vec<u8> = units.iter().flat_map(|unit| unit.to_be_bytes()).collect();
    out.push('&');
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let sextets = [
            b[0] >> 2,
            (b[0] & 3) << 4 | b[1] >> 4,
            (b[1] & 15) << 2 | b[2] >> 6,
            b[2] & 63,
        ];
        for &sextet in &sextets[..chunk.len() + 1] {
            out.push(char::from(ALPHABET[usize::from(sextet)]));
        }
    }
    out.push('-');
    units.clear();
}

/// Decodes a server's encoded name for display. Input that is not valid
/// modified UTF-7 is returned unchanged (see [`try_decode_mailbox_name`]).
pub fn decode_mailbox_name(raw: &str) -> String {
    try_decode_mailbox_name(raw).unwrap_or_else(|| raw.to_owned())
}

/// Decodes a server's encoded name, or `None` when it is not valid modified
/// UTF-7. A name holding non-ASCII characters is taken as already decoded.
pub fn try_decode_mailbox_name(raw: &str) -> Option<String> {
    if !raw.is_ascii() {
        return Some(raw.to_owned());
    }

    let bytes = raw.as_bytes();
    let mut out = String::with_capacity(raw.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b'&' {
            out.push(char::from(bytes[i]));
            i += 1;
            continue;
        }

        let end = i + 1 + bytes[i + 1..].iter().position(|&b| b == b'-')?;
        let run = &bytes[i + 1..end];
        if run.is_empty() {
            out.push('&');
        } else {
            out.push_str(&decode_base64_run(run)?);
        }
        i = end + 1;
    }
    Some(out)
}

fn decode_base64_run(run: &[u8]) -> Option<String> {
    let mut bytes = Vec::with_capacity(run.len() * 3 / 4);
    let mut acc: u32 = 0;
    let mut bits = 0;
    for &b in run {
        let value = ALPHABET.iter().position(|&a| a == b)?;
        acc = (acc << 6) | value as u32;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            bytes.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }

    // Leftover bits must be padding zeros and the bytes whole UTF-16 units.
    if acc != 0 || bits >= 6 || bytes.len() % 2 != 0 {
        return None;
    }

    // Printable ASCII must be sent as itself, so a run holding it is broken.
    let units: Vec<u16> = bytes
        .chunks(2)
        .map(|p| u16::from_be_bytes([p[0], p[1]]))
        .collect();
    let text = char::decode_utf16(units)
        .collect::<Result<String, _>>()
        .ok()?;
    if text.chars().any(|ch| (' '..='~').contains(&ch)) {
        return None;
    }
    Some(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_names_decode_to_their_text() {
        assert_eq!(decode_mailbox_name("Entw&APw-rfe"), "Entwürfe");
        assert_eq!(decode_mailbox_name("Tom &- Jerry"), "Tom & Jerry");
        assert_eq!(decode_mailbox_name("&ZeVnLIqe-"), "日本語");
        assert_eq!(decode_mailbox_name("&ZeVnLIqe-/&U,BTFw-"), "日本語/台北");
        assert_eq!(decode_mailbox_name("INBOX"), "INBOX");
    }

    #[test]
    fn known_texts_encode_to_their_names() {
        assert_eq!(encode_mailbox_name("Entwürfe"), "Entw&APw-rfe");
        assert_eq!(encode_mailbox_name("Tom & Jerry"), "Tom &- Jerry");
        assert_eq!(encode_mailbox_name("日本語/台北"), "&ZeVnLIqe-/&U,BTFw-");
        assert_eq!(
            encode_mailbox_name("~peter/mail/台北/日本語"),
            "~peter/mail/&U,BTFw-/&ZeVnLIqe-"
        );
    }

    #[test]
    fn broken_names_decode_to_themselves() {
        for raw in [
            "Broken&Jjo",
            "&",
            "a&b",
            "&Jjo!-",
            "&ACE-",
            "&2D3-",
            "&AP,-",
            "&A-",
        ] {
            assert_eq!(decode_mailbox_name(raw), raw, "{raw}");
            assert_eq!(try_decode_mailbox_name(raw), None, "{raw}");
        }
    }

    #[test]
    fn names_with_utf8_are_taken_as_decoded() {
        assert_eq!(decode_mailbox_name("Entwürfe"), "Entwürfe");
    }

    #[test]
    fn an_encoded_ampersand_is_not_encoded_again() {
        assert_eq!(encode_mailbox_name("&"), "&-");
        assert_eq!(decode_mailbox_name("&-"), "&");
        assert_eq!(encode_mailbox_name("&-"), "&--");
        assert_eq!(decode_mailbox_name(&encode_mailbox_name("&APw-")), "&APw-");
    }

    #[test]
    fn generated_names_survive_a_round_trip() {
        // A fixed-seed generator over a pool that mixes ASCII, `&`, `-`,
        // Latin-1, CJK and characters outside the BMP.
        let pool: Vec<char> = "aZ09 &-.,/+~\"\\{}äöüßé€日本語台北😀𝄞\u{7f}\u{80}\u{ffff}"
            .chars()
            .collect();
        let mut state: u64 = 0x2545_f491_4f6c_dd1d;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };

        for _ in 0..5000 {
            let len = (next() % 12) as usize;
            let text: String = (0..len)
                .map(|_| pool[(next() % pool.len() as u64) as usize])
                .collect();
            let encoded = encode_mailbox_name(&text);

            assert!(
                encoded.bytes().all(|b| (0x20..0x7f).contains(&b)),
                "{encoded}"
            );
            assert_eq!(
                try_decode_mailbox_name(&encoded).as_deref(),
                Some(text.as_str())
            );
        }
    }

    #[test]
    fn random_bytes_never_panic_the_decoder() {
        let mut state: u64 = 7;
        for _ in 0..5000 {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let len = (state >> 60) as usize;
            let raw: String = (0..len)
                .map(|i| char::from(b"&-A+,z0/ "[((state >> (i * 4)) % 9) as usize]))
                .collect();
            let _ = decode_mailbox_name(&raw);
        }
    }
}
