//! The session cookie: a random session id and a random session key, both
//! chosen by the server.
//!
//! This module owns how they are generated, their text form (`<id>.<key>`,
//! each part base64url without padding) and the names derived from the id:
//! the store key and the log tag. It does not set cookie attributes (the web
//! layer does) and it never prints either value.
//!
//! Invariants: `parse` accepts exactly what `encode` produces, so
//! `parse(s).encode() == s` for every accepted `s`; the id is never written
//! anywhere in clear (stores are keyed by its SHA-256, logs carry a tag from
//! a different hash); the key is zeroed when it is dropped.

use std::fmt;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use zeroize::{Zeroize, ZeroizeOnDrop};

use super::random::random_array;

/// Bytes in an id and in a key.
const SECRET_LEN: usize = 32;

/// Characters of one cookie part: 32 bytes in base64 without padding.
const ENCODED_LEN: usize = 43;

/// Prefix hashed before the id to derive its log tag, so that the tag is not
/// a prefix of the store key.
const LOG_TAG_CONTEXT: &[u8] = b"mailfront session log tag\0";

/// Names one session. 32 random bytes; compared in constant time.
///
/// It is never stored as such: stores use [`SessionId::store_key`] and logs
/// use [`SessionId::log_tag`]. Its `Debug` shows only the log tag.
#[derive(Clone)]
pub struct SessionId([u8; SECRET_LEN]);

/// Opens the session's sealed password. 32 random bytes that live only in the
/// cookie and in memory while a request runs; zeroed when dropped.
///
/// Its `Debug` prints `[redacted]`.
#[derive(Clone)]
pub struct SessionKey([u8; SECRET_LEN]);

/// What the session cookie carries: the id that finds the session and the key
/// that opens its password. Neither alone is enough to act as the user.
#[derive(Clone, Debug)]
pub struct SessionCookie {
    /// Finds the session record in the store.
    pub id: SessionId,
    /// Opens the IMAP password sealed in that record.
    pub key: SessionKey,
}

impl SessionCookie {
    /// Draws a new id and key from the operating system's randomness.
    ///
    /// # Panics
    ///
    /// Panics when the operating system cannot provide randomness.
    pub fn generate() -> Self {
        Self {
            id: SessionId(random_array()),
            key: SessionKey(random_array()),
        }
    }

    /// Reads a cookie value of the form `<id>.<key>`.
    ///
    /// Returns `None` for anything `encode` would not produce: a missing or
    /// extra part, padding, the standard base64 alphabet, whitespace, a wrong
    /// length or non-zero trailing bits. A well-formed value proves nothing:
    /// the caller still has to find its id in the store.
    pub fn parse(value: &str) -> Option<Self> {
        let (id, key) = value.split_once('.')?;

        let mut cookie = Self {
            id: SessionId([0; SECRET_LEN]),
            key: SessionKey([0; SECRET_LEN]),
        };
        decode_part(id, &mut cookie.id.0)?;
        decode_part(key, &mut cookie.key.0)?;
        Some(cookie)
    }

    /// Writes the cookie value, `<id>.<key>`, 87 characters.
    ///
    /// The returned string holds the key in clear and is not zeroed when
    /// dropped; hand it to the response header and let it go.
    pub fn encode(&self) -> String {
        let mut value = String::with_capacity(2 * ENCODED_LEN + 1);
        URL_SAFE_NO_PAD.encode_string(self.id.0, &mut value);
        value.push('.');
        URL_SAFE_NO_PAD.encode_string(self.key.0, &mut value);
        value
    }
}

/// Decodes one base64url part into `out`, refusing every other length.
fn decode_part(part: &str, out: &mut [u8; SECRET_LEN]) -> Option<()> {
    if part.len() != ENCODED_LEN {
        return None;
    }

    match URL_SAFE_NO_PAD.decode_slice(part, out) {
        Ok(SECRET_LEN) => Some(()),
        _ => None,
    }
}

impl SessionId {
    /// The name stores file this session under: lowercase hex of SHA-256 of
    /// the id, 64 characters. A copy of the store therefore holds no id that
    /// could be replayed as a cookie.
    pub fn store_key(&self) -> String {
        hex(&self.digest())
    }

    /// A short name for logs and spans: the first 8 hex characters of a hash
    /// of the id that differs from the store key's hash.
    pub fn log_tag(&self) -> String {
        let tag = Sha256::new()
            .chain_update(LOG_TAG_CONTEXT)
            .chain_update(self.0)
            .finalize();
        hex(&tag[..4])
    }

    /// SHA-256 of the id: the bytes behind [`SessionId::store_key`], used
    /// where a fixed-size key is handier than text.
    pub(crate) fn digest(&self) -> [u8; 32] {
        Sha256::digest(self.0).into()
    }

    /// The raw id, for tests that look for it where it must not be.
    #[cfg(test)]
    pub(crate) fn as_bytes(&self) -> &[u8; SECRET_LEN] {
        &self.0
    }
}

impl PartialEq for SessionId {
    fn eq(&self, other: &Self) -> bool {
        self.0.ct_eq(&other.0).into()
    }
}

impl Eq for SessionId {}

impl fmt::Debug for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("SessionId").field(&self.log_tag()).finish()
    }
}

impl SessionKey {
    /// The raw key, for the password seal.
    pub(crate) fn as_bytes(&self) -> &[u8; SECRET_LEN] {
        &self.0
    }
}

impl Drop for SessionKey {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl ZeroizeOnDrop for SessionKey {}

impl fmt::Debug for SessionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// Lowercase hex of `bytes`.
fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";

    let mut text = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        text.push(char::from(DIGITS[usize::from(byte >> 4)]));
        text.push(char::from(DIGITS[usize::from(byte & 0x0f)]));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encoded_part(bytes: &[u8]) -> String {
        URL_SAFE_NO_PAD.encode(bytes)
    }

    #[test]
    fn generated_cookie_survives_encode_and_parse() {
        let cookie = SessionCookie::generate();
        let value = cookie.encode();

        let parsed = SessionCookie::parse(&value).expect("an encoded cookie parses");

        assert_eq!(value.len(), 87);
        assert_eq!(parsed.id, cookie.id);
        assert_eq!(parsed.key.as_bytes(), cookie.key.as_bytes());
        assert_eq!(parsed.encode(), value);
    }

    #[test]
    fn two_generated_cookies_share_neither_id_nor_key() {
        let first = SessionCookie::generate();
        let second = SessionCookie::generate();

        assert_ne!(first.id, second.id);
        assert_ne!(first.key.as_bytes(), second.key.as_bytes());
    }

    #[test]
    fn malformed_cookie_values_are_rejected() {
        let good = SessionCookie::generate().encode();
        let (id, key) = good.split_once('.').unwrap();
        let other_alphabet = good.replace('-', "+").replace('_', "/");
        let mut rejected = vec![
            String::new(),
            ".".to_owned(),
            id.to_owned(),
            format!("{id}."),
            format!(".{key}"),
            format!("{id}.{key}.{key}"),
            format!("{id}={key}"),
            format!("{id}=.{key}="),
            format!(" {good}"),
            format!("{good}\n"),
            format!("{id}.{}", &key[1..]),
            format!("{id}.{key}A"),
            format!("{id}.{}é", &key[..42]),
            "planted0by0someone0else000000".to_owned(),
            format!("{}.{}", encoded_part(&[7; 31]), encoded_part(&[7; 31])),
            format!("{}.{}", encoded_part(&[7; 33]), encoded_part(&[7; 33])),
        ];
        if other_alphabet != good {
            rejected.push(other_alphabet);
        }

        for value in rejected {
            assert!(SessionCookie::parse(&value).is_none(), "accepted {value:?}");
        }
    }

    #[test]
    fn cookie_value_planted_in_the_fixation_case_is_rejected() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../shared/cases/016-session-fixation-and-cookie.md");
        let Ok(case) = std::fs::read_to_string(&path) else {
            assert!(
                std::env::var_os("CI").is_none(),
                "{} is missing",
                path.display()
            );
            println!("skipped: {} is missing", path.display());
            return;
        };

        let planted = case
            .split("mf_session=")
            .nth(1)
            .and_then(|rest| rest.split('`').next())
            .expect("the case names a planted mf_session value");

        assert!(!planted.is_empty());
        assert!(
            SessionCookie::parse(planted).is_none(),
            "accepted {planted:?}"
        );
    }

    #[test]
    fn cookie_part_with_non_zero_trailing_bits_is_rejected() {
        let good = SessionCookie::generate().encode();
        let (id, key) = good.split_once('.').unwrap();

        // 32 bytes leave 2 unused bits in the last character: only the
        // characters whose value has those bits clear are canonical.
        let last = key.as_bytes()[42];
        let canonical: Vec<char> = "AEIMQUYcgkosw048".chars().collect();
        assert!(canonical.contains(&char::from(last)));
        let forged_last = if last == b'A' { 'B' } else { 'F' };
        let forged = format!("{id}.{}{forged_last}", &key[..42]);

        assert!(SessionCookie::parse(&forged).is_none());
    }

    #[test]
    fn store_key_is_the_hex_sha256_of_the_id_and_hides_it() {
        let cookie = SessionCookie::generate();
        let store_key = cookie.id.store_key();
        let value = cookie.encode();
        let (id_part, _) = value.split_once('.').unwrap();

        assert_eq!(store_key.len(), 64);
        assert!(store_key
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
        assert_eq!(store_key, hex(&Sha256::digest(cookie.id.0)));
        assert!(!store_key.contains(id_part));
        assert!(!store_key.contains(&hex(&cookie.id.0)));
    }

    #[test]
    fn log_tag_is_short_and_unrelated_to_the_store_key() {
        let id = SessionCookie::generate().id;
        let tag = id.log_tag();

        assert_eq!(tag.len(), 8);
        assert!(tag.bytes().all(|b| b.is_ascii_hexdigit()));
        assert!(!id.store_key().starts_with(&tag));
        assert_eq!(tag, id.clone().log_tag());
    }

    #[test]
    fn debug_of_cookie_prints_neither_id_nor_key() {
        let cookie = SessionCookie::generate();
        let value = cookie.encode();
        let (id_part, key_part) = value.split_once('.').unwrap();

        let printed = format!("{cookie:?} {:?} {:#?}", cookie.key, cookie.id);

        assert!(printed.contains("[redacted]"));
        assert!(printed.contains(&cookie.id.log_tag()));
        for secret in [
            id_part,
            key_part,
            &hex(&cookie.id.0),
            &hex(cookie.key.as_bytes()),
        ] {
            assert!(!printed.contains(secret), "debug output leaks {secret}");
        }
        assert!(!printed.contains(&format!("{:?}", cookie.key.as_bytes())));
    }

    #[test]
    fn ids_differing_in_one_byte_are_not_equal() {
        let id = SessionCookie::generate().id;
        let mut other = id.clone();
        other.0[31] ^= 1;

        assert_eq!(id, id.clone());
        assert_ne!(id, other);
    }
}
