//! The session record: what the server remembers about one signed-in
//! browser between requests, and the rules on it (expiry, CSRF, one-time
//! form tokens).
//!
//! This module owns the record's fields and its serialised form (serde),
//! not where it is kept (see `store`) nor how the password inside it is
//! sealed (see `crypto`). It does no I/O and reads no clock: every function
//! that depends on time takes `now` in unix seconds.
//!
//! Invariants: the CSRF token of a record never changes during its life and
//! is only ever compared in constant time; `used_form_tokens` holds at most
//! [`MAX_USED_FORM_TOKENS`] entries, each in the shape `new_form_token`
//! produces; `Debug` prints no secret, no flash text and no folder name.

use std::collections::{BTreeMap, VecDeque};
use std::fmt;
use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use subtle::ConstantTimeEq;

use super::random::random_array;

/// How many applied form tokens a record remembers; older ones are forgotten.
pub const MAX_USED_FORM_TOKENS: usize = 64;

/// Bytes of randomness in a form token.
const FORM_TOKEN_BYTES: usize = 16;

/// Characters of a form token: 16 bytes in base64 without padding.
const FORM_TOKEN_LEN: usize = 22;

/// Characters of a CSRF token: a 32-byte HMAC in base64 without padding.
const CSRF_TOKEN_LEN: usize = 43;

/// The message the CSRF token authenticates.
const CSRF_CONTEXT: &[u8] = b"csrf";

/// One signed-in session as the store keeps it.
///
/// The web layer loads it at the start of a request (with the session lock
/// held), changes it, and saves it once before releasing the lock.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionRecord {
    /// The IMAP user name as the user typed it at login; also the additional
    /// data of the sealed password.
    pub user: String,
    /// The IMAP password sealed with the session key (see `crypto`).
    pub sealed_password: Vec<u8>,
    /// When the user signed in, unix seconds.
    pub created_at: i64,
    /// When the session last served a request, unix seconds.
    pub last_seen: i64,
    /// Key of the session's CSRF token.
    pub csrf_secret: [u8; 32],
    /// One-time form tokens already applied, oldest first, at most
    /// [`MAX_USED_FORM_TOKENS`].
    #[serde(default)]
    pub used_form_tokens: VecDeque<String>,
    /// Sort order the user chose, by folder name.
    #[serde(default)]
    pub folder_sort: BTreeMap<String, String>,
    /// One message to show on the next page, then clear.
    #[serde(default)]
    pub flash: Option<String>,
    /// Grows with every save; 0 only for a record not saved yet, which is
    /// the only kind a store accepts for a session it does not hold (see
    /// `SessionStore::save`).
    #[serde(default)]
    pub revision: u64,
}

/// How long a session lives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ExpiryPolicy {
    /// Time without a request after which the session ends. Default 30 min.
    pub idle: Duration,
    /// Time after login at which the session ends whatever happens. Default
    /// 12 h.
    pub absolute: Duration,
}

impl Default for ExpiryPolicy {
    fn default() -> Self {
        Self {
            idle: Duration::from_secs(30 * 60),
            absolute: Duration::from_secs(12 * 60 * 60),
        }
    }
}

impl SessionRecord {
    /// A record for a login that just succeeded, with a fresh CSRF secret.
    ///
    /// # Panics
    ///
    /// Panics when the operating system cannot provide randomness.
    pub fn new(user: String, sealed_password: Vec<u8>, now: i64) -> Self {
        Self {
            user,
            sealed_password,
            created_at: now,
            last_seen: now,
            csrf_secret: random_array(),
            used_form_tokens: VecDeque::new(),
            folder_sort: BTreeMap::new(),
            flash: None,
            revision: 0,
        }
    }

    /// The unix second at which this session ends: idle time after the last
    /// request or the absolute limit after login, whichever comes first.
    pub fn expires_at(&self, policy: &ExpiryPolicy) -> i64 {
        let idle_end = self.last_seen.saturating_add(seconds(policy.idle));
        let absolute_end = self.created_at.saturating_add(seconds(policy.absolute));
        idle_end.min(absolute_end)
    }

    /// Whether the session has ended at `now`, by idleness or by age.
    pub fn is_expired(&self, policy: &ExpiryPolicy, now: i64) -> bool {
        now >= self.expires_at(policy)
    }

    /// How long the store should keep the record from `now`: the ttl to pass
    /// to `SessionStore::save`. Zero when the session has ended.
    pub fn time_to_live(&self, policy: &ExpiryPolicy, now: i64) -> Duration {
        let left = self.expires_at(policy).saturating_sub(now);
        Duration::from_secs(u64::try_from(left).unwrap_or(0))
    }

    /// Marks a request served at `now`. A clock that stepped back does not
    /// move `last_seen` back.
    pub fn touch(&mut self, now: i64) {
        self.last_seen = self.last_seen.max(now);
    }

    /// The session's CSRF token: HMAC-SHA256 of `"csrf"` under the record's
    /// secret, base64url without padding. The same for the whole session.
    pub fn csrf_token(&self) -> String {
        URL_SAFE_NO_PAD.encode(self.csrf_tag())
    }

    /// Whether `token` is this session's CSRF token, compared in constant
    /// time. Anything not shaped like a token is refused.
    pub fn verify_csrf(&self, token: &str) -> bool {
        if token.len() != CSRF_TOKEN_LEN {
            return false;
        }

        let mut given = [0u8; 32];
        match URL_SAFE_NO_PAD.decode_slice(token, &mut given) {
            Ok(32) => given.ct_eq(&self.csrf_tag()).into(),
            _ => false,
        }
    }

    /// Applies a one-time form token: `true` the first time, `false` when it
    /// was already applied (a double submit) or is not shaped like a token
    /// from [`new_form_token`].
    ///
    /// The token is not bound to the session or signed: it stops the same
    /// form from being applied twice, while `verify_csrf` is what proves the
    /// request came from our page. Only the newest [`MAX_USED_FORM_TOKENS`]
    /// are remembered, so a form submitted again after 64 newer forms were
    /// applied is accepted again.
    pub fn consume_form_token(&mut self, token: &str) -> bool {
        if !is_form_token(token) || self.used_form_tokens.iter().any(|used| used == token) {
            return false;
        }

        self.used_form_tokens.push_back(token.to_owned());
        while self.used_form_tokens.len() > MAX_USED_FORM_TOKENS {
            self.used_form_tokens.pop_front();
        }
        true
    }

    /// Whether `token` was applied already, without applying it: for a form
    /// whose token is spent only once its action succeeded.
    pub fn was_form_token_applied(&self, token: &str) -> bool {
        self.used_form_tokens.iter().any(|used| used == token)
    }

    fn csrf_tag(&self) -> [u8; 32] {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.csrf_secret)
            .expect("HMAC accepts keys of any length");
        mac.update(CSRF_CONTEXT);
        mac.finalize().into_bytes().into()
    }
}

impl fmt::Debug for SessionRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionRecord")
            .field("user", &self.user)
            .field(
                "sealed_password",
                &format_args!("[{} bytes]", self.sealed_password.len()),
            )
            .field("created_at", &self.created_at)
            .field("last_seen", &self.last_seen)
            .field("csrf_secret", &format_args!("[redacted]"))
            .field("used_form_tokens", &self.used_form_tokens.len())
            .field("folder_sort", &self.folder_sort.len())
            .field("flash", &self.flash.as_ref().map(|_| format_args!("[set]")))
            .field("revision", &self.revision)
            .finish()
    }
}

/// A new one-time form token: 16 random bytes, base64url without padding.
///
/// # Panics
///
/// Panics when the operating system cannot provide randomness.
pub fn new_form_token() -> String {
    URL_SAFE_NO_PAD.encode(random_array::<FORM_TOKEN_BYTES>())
}

/// Whether `token` has the shape `new_form_token` produces; a form whose
/// token has not is forged or damaged, never merely sent twice.
pub fn is_form_token(token: &str) -> bool {
    token.len() == FORM_TOKEN_LEN
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Whole seconds of `duration` as an `i64`, saturating.
fn seconds(duration: Duration) -> i64 {
    i64::try_from(duration.as_secs()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOGIN_AT: i64 = 1_700_000_000;

    fn record() -> SessionRecord {
        SessionRecord::new("alice@example.org".to_owned(), vec![1, 2, 3], LOGIN_AT)
    }

    #[test]
    fn default_policy_is_thirty_minutes_idle_and_twelve_hours_absolute() {
        let policy = ExpiryPolicy::default();

        assert_eq!(policy.idle, Duration::from_secs(1800));
        assert_eq!(policy.absolute, Duration::from_secs(43_200));
    }

    #[test]
    fn session_expires_after_idle_time_without_requests() {
        let policy = ExpiryPolicy::default();
        let record = record();

        assert!(!record.is_expired(&policy, LOGIN_AT + 1799));
        assert!(record.is_expired(&policy, LOGIN_AT + 1800));
        assert_eq!(
            record.time_to_live(&policy, LOGIN_AT + 1000),
            Duration::from_secs(800)
        );
    }

    #[test]
    fn requests_keep_a_session_alive_until_the_absolute_limit() {
        let policy = ExpiryPolicy::default();
        let mut record = record();

        let mut now = LOGIN_AT;
        while now < LOGIN_AT + 43_200 - 600 {
            now += 600;
            assert!(!record.is_expired(&policy, now), "ended early at {now}");
            record.touch(now);
        }

        assert!(record.is_expired(&policy, LOGIN_AT + 43_200));
        assert_eq!(
            record.time_to_live(&policy, LOGIN_AT + 43_200),
            Duration::ZERO
        );
    }

    #[test]
    fn touch_never_moves_last_seen_back() {
        let mut record = record();

        record.touch(LOGIN_AT + 50);
        record.touch(LOGIN_AT + 10);

        assert_eq!(record.last_seen, LOGIN_AT + 50);
    }

    #[test]
    fn huge_policy_durations_do_not_overflow() {
        let policy = ExpiryPolicy {
            idle: Duration::MAX,
            absolute: Duration::MAX,
        };

        assert!(!record().is_expired(&policy, i64::MAX - 1));
    }

    #[test]
    fn csrf_token_of_the_session_verifies() {
        let record = record();
        let token = record.csrf_token();

        assert_eq!(token.len(), CSRF_TOKEN_LEN);
        assert_eq!(token, record.csrf_token());
        assert!(record.verify_csrf(&token));
    }

    #[test]
    fn csrf_tokens_of_other_sessions_and_altered_tokens_are_refused() {
        let record = record();
        let other = SessionRecord::new(record.user.clone(), Vec::new(), LOGIN_AT);
        let token = record.csrf_token();
        let mut altered = token.clone().into_bytes();
        altered[5] = if altered[5] == b'A' { b'B' } else { b'A' };

        assert!(!record.verify_csrf(&other.csrf_token()));
        assert!(!record.verify_csrf(&String::from_utf8(altered).unwrap()));
        assert!(!record.verify_csrf(""));
        assert!(!record.verify_csrf(&token[..42]));
        assert!(!record.verify_csrf(&format!("{token}=")));
        assert!(!record.verify_csrf(&URL_SAFE_NO_PAD.encode([0u8; 32])));
    }

    #[test]
    fn a_form_token_applies_once() {
        let mut record = record();
        let token = new_form_token();

        assert_eq!(token.len(), FORM_TOKEN_LEN);
        assert!(!record.was_form_token_applied(&token));
        assert!(record.consume_form_token(&token));
        assert!(record.was_form_token_applied(&token));
        assert!(!record.consume_form_token(&token));
        assert!(record.consume_form_token(&new_form_token()));
    }

    #[test]
    fn used_form_tokens_keep_only_the_newest_64() {
        let mut record = record();
        let tokens: Vec<String> = (0..100).map(|_| new_form_token()).collect();

        for token in &tokens {
            assert!(record.consume_form_token(token));
        }

        assert_eq!(record.used_form_tokens.len(), MAX_USED_FORM_TOKENS);
        assert_eq!(record.used_form_tokens.front(), Some(&tokens[36]));
        assert!(!record.consume_form_token(&tokens[99]));
        assert!(record.consume_form_token(&tokens[0]));
    }

    #[test]
    fn strings_not_shaped_like_form_tokens_are_refused_and_not_stored() {
        let mut record = record();

        for token in [
            "",
            "short",
            &"x".repeat(23),
            &"x".repeat(10_000),
            "abc+def/ghi=jklmnopqrs",
        ] {
            assert!(!record.consume_form_token(token), "accepted {token:?}");
        }
        assert!(record.used_form_tokens.is_empty());
    }

    #[test]
    fn record_survives_serialisation() {
        let mut record = record();
        record.consume_form_token(&new_form_token());
        record
            .folder_sort
            .insert("INBOX".to_owned(), "date-desc".to_owned());
        record.flash = Some("Moved 3 messages.".to_owned());
        record.revision = 7;

        let json = serde_json::to_vec(&record).unwrap();
        let back: SessionRecord = serde_json::from_slice(&json).unwrap();

        assert_eq!(back, record);
        assert!(back.verify_csrf(&record.csrf_token()));
    }

    #[test]
    fn debug_of_record_prints_no_secret() {
        let mut record = record();
        record.sealed_password = b"sealed-bytes-here".to_vec();
        record.flash = Some("Message from Bob moved".to_owned());
        record
            .folder_sort
            .insert("Private/Health".to_owned(), "date".to_owned());
        let token = new_form_token();
        record.consume_form_token(&token);

        let printed = format!("{record:?} {record:#?}");

        assert!(printed.contains("alice@example.org"));
        assert!(printed.contains("[redacted]"));
        for secret in [
            record.csrf_token(),
            format!("{:?}", record.csrf_secret),
            format!("{:?}", record.sealed_password),
            "sealed-bytes".to_owned(),
            "Bob".to_owned(),
            "Health".to_owned(),
            token,
        ] {
            assert!(!printed.contains(&secret), "debug output leaks {secret}");
        }
    }
}
