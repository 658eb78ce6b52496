//! The IMAP password at rest: sealed with the session key, which lives only
//! in the cookie, while the sealed bytes live only in the store. Neither a
//! copy of the store nor a stolen cookie alone reveals the password.
//!
//! This module owns the sealed format and nothing else: it does not decide
//! where the bytes are kept and it never logs. The format is one version
//! byte (1), a 24-byte random nonce, then the XChaCha20-Poly1305 ciphertext
//! and tag. The user name is the additional authenticated data, so a sealed
//! password copied into another user's record does not open.
//!
//! Invariants: `open_password` returns `Some` only for bytes that
//! `seal_password` produced with the same key and the exact same user
//! string; any altered, truncated or extended input gives `None`.

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{Key, XChaCha20Poly1305, XNonce};
use mailfront_imap::Secret;
use zeroize::Zeroize;

use super::cookie::SessionKey;
use super::random::random_array;

/// The first byte of every sealed password in the current format.
const FORMAT_V1: u8 = 1;

/// Bytes of an XChaCha20 nonce.
const NONCE_LEN: usize = 24;

/// Bytes of a Poly1305 tag.
const TAG_LEN: usize = 16;

/// Seals `password` under the session key with a fresh random nonce; the
/// user name is bound to it as additional data.
///
/// # Panics
///
/// Panics when the operating system cannot provide randomness.
pub fn seal_password(key: &SessionKey, user: &str, password: &Secret<String>) -> Vec<u8> {
    let cipher = XChaCha20Poly1305::new(Key::from_slice(key.as_bytes()));
    let nonce: [u8; NONCE_LEN] = random_array();
    let payload = Payload {
        msg: password.expose().as_bytes(),
        aad: user.as_bytes(),
    };

    // Encryption only fails for messages of hundreds of gigabytes.
    let ciphertext = cipher
        .encrypt(XNonce::from_slice(&nonce), payload)
        .expect("a password is far below the XChaCha20-Poly1305 length limit");

    let mut sealed = Vec::with_capacity(1 + NONCE_LEN + ciphertext.len());
    sealed.push(FORMAT_V1);
    sealed.extend_from_slice(&nonce);
    sealed.extend_from_slice(&ciphertext);
    sealed
}

/// Opens a sealed password with the session key and the user name it was
/// sealed for; `None` when the key or user differ, when the bytes were
/// altered, or when they are not in a known format.
pub fn open_password(key: &SessionKey, user: &str, sealed: &[u8]) -> Option<Secret<String>> {
    let (&version, rest) = sealed.split_first()?;
    if version != FORMAT_V1 || rest.len() < NONCE_LEN + TAG_LEN {
        return None;
    }

    let (nonce, ciphertext) = rest.split_at(NONCE_LEN);
    let cipher = XChaCha20Poly1305::new(Key::from_slice(key.as_bytes()));
    let payload = Payload {
        msg: ciphertext,
        aad: user.as_bytes(),
    };
    let plain = cipher.decrypt(XNonce::from_slice(nonce), payload).ok()?;

    match String::from_utf8(plain) {
        Ok(password) => Some(Secret::new(password)),
        Err(not_text) => {
            not_text.into_bytes().zeroize();
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::cookie::SessionCookie;

    const USER: &str = "alice@example.org";

    fn password() -> Secret<String> {
        Secret::new("correct horse battery staple".to_owned())
    }

    #[test]
    fn sealed_password_opens_with_its_key_and_user() {
        let key = SessionCookie::generate().key;

        let sealed = seal_password(&key, USER, &password());
        let opened = open_password(&key, USER, &sealed).expect("opens with its own key");

        assert_eq!(opened.expose(), password().expose());
        assert_eq!(
            sealed.len(),
            1 + NONCE_LEN + password().expose().len() + TAG_LEN
        );
    }

    #[test]
    fn sealed_password_does_not_open_with_another_key() {
        let sealed = seal_password(&SessionCookie::generate().key, USER, &password());

        assert!(open_password(&SessionCookie::generate().key, USER, &sealed).is_none());
    }

    #[test]
    fn sealed_password_does_not_open_for_another_user() {
        let key = SessionCookie::generate().key;
        let sealed = seal_password(&key, USER, &password());

        for other in [
            "bob@example.org",
            "Alice@example.org",
            "alice@example.org ",
            "",
        ] {
            assert!(
                open_password(&key, other, &sealed).is_none(),
                "opened for {other:?}"
            );
        }
    }

    #[test]
    fn any_altered_byte_is_detected() {
        let key = SessionCookie::generate().key;
        let sealed = seal_password(&key, USER, &password());

        for index in 0..sealed.len() {
            for bit in [0x01, 0x80] {
                let mut altered = sealed.clone();
                altered[index] ^= bit;
                assert!(
                    open_password(&key, USER, &altered).is_none(),
                    "byte {index}"
                );
            }
        }
    }

    #[test]
    fn truncated_or_extended_seals_do_not_open() {
        let key = SessionCookie::generate().key;
        let sealed = seal_password(&key, USER, &password());
        let mut extended = sealed.clone();
        extended.push(0);

        for len in 0..sealed.len() {
            assert!(
                open_password(&key, USER, &sealed[..len]).is_none(),
                "length {len}"
            );
        }
        assert!(open_password(&key, USER, &extended).is_none());
    }

    #[test]
    fn sealing_twice_gives_different_bytes_without_the_password_in_them() {
        let key = SessionCookie::generate().key;

        let first = seal_password(&key, USER, &password());
        let second = seal_password(&key, USER, &password());

        assert_ne!(first, second);
        let plain = password().expose().as_bytes().to_vec();
        assert!(!first.windows(plain.len()).any(|w| w == plain.as_slice()));
    }

    #[test]
    fn empty_and_non_ascii_passwords_round_trip() {
        let key = SessionCookie::generate().key;

        for text in ["", "pässwörd ☃ 日本"] {
            let sealed = seal_password(&key, USER, &Secret::new(text.to_owned()));
            let opened = open_password(&key, USER, &sealed).expect("opens");
            assert_eq!(opened.expose(), text);
        }
    }

    #[test]
    fn sealed_bytes_that_are_not_text_do_not_open() {
        let key = SessionCookie::generate().key;
        let cipher = XChaCha20Poly1305::new(Key::from_slice(key.as_bytes()));
        let nonce = [9u8; NONCE_LEN];
        let payload = Payload {
            msg: &[0xff, 0xfe][..],
            aad: USER.as_bytes(),
        };
        let mut sealed = vec![FORMAT_V1];
        sealed.extend_from_slice(&nonce);
        sealed.extend(cipher.encrypt(XNonce::from_slice(&nonce), payload).unwrap());

        assert!(open_password(&key, USER, &sealed).is_none());
    }
}
