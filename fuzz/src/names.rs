//! The mailbox-name codec (modified UTF-7): decoding never panics, and
//! encoding then decoding gives back the name.

use mailfront_imap::{decode_mailbox_name, encode_mailbox_name, try_decode_mailbox_name};

/// Decodes the bytes as a server's name, then round-trips them as a
/// user's name.
pub fn mailbox_name(data: &[u8]) {
    let name = String::from_utf8_lossy(data);

    let decoded = decode_mailbox_name(&name);
    if let Some(strict) = try_decode_mailbox_name(&name) {
        assert_eq!(strict, decoded, "decode and try_decode disagree");
    } else {
        assert_eq!(decoded, name, "an undecodable name comes back unchanged");
    }

    let encoded = encode_mailbox_name(&name);
    assert!(
        encoded.bytes().all(|b| (b' '..=b'~').contains(&b)),
        "an encoded name is printable ASCII: {encoded:?}"
    );
    assert_eq!(
        try_decode_mailbox_name(&encoded).as_deref(),
        Some(&*name),
        "encoding {name:?} as {encoded:?} does not decode back"
    );
}
