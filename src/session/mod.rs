//! Sessions: who is signed in, what they chose, and the rules that keep one
//! browser's requests from trampling each other or an attacker from guessing
//! passwords quickly.
//!
//! This module tree owns the session cookie (`cookie`), the stored record
//! and its CSRF and form-token rules (`record`), the sealed IMAP password
//! (`crypto`), the stores that keep records (`store`, `embedded`, `memory`),
//! the per-session request lock (`lock`), login throttling (`throttle`), and
//! a Redis back end for the last three shared by several nodes (`redis`).
//! It knows nothing of HTTP or IMAP: the web layer reads cookies and
//! headers, hands over plain values and turns refusals into pages.
//!
//! Invariants a caller relies on: a store never holds a live cookie (records
//! are filed under a hash of the id, and the password in them is sealed with
//! a key that lives only in the cookie); an expired record is never
//! returned; a record is loaded, changed and saved while its session's lock
//! is held, and saving it never revives a session that ended meanwhile.
//! Nothing here logs or prints an id, a key, a token or a password.

pub mod cookie;
pub mod crypto;
pub mod embedded;
pub mod lock;
pub mod memory;
pub mod record;
pub mod redis;
pub mod store;
pub mod throttle;

mod random;

pub use cookie::{SessionCookie, SessionId, SessionKey};
pub use crypto::{open_password, seal_password};
pub use embedded::EmbeddedStore;
pub use lock::{
    LocalLocks, LockCounters, LockRefused, LockSettings, SessionLease, SessionLockGuard,
    SessionLocks,
};
pub use memory::MemoryStore;
pub use record::{is_form_token, new_form_token, ExpiryPolicy, SessionRecord};
pub use store::{SessionStore, StoreError};
pub use throttle::{
    client_address, LocalThrottle, LoginThrottle, ThrottleDecision, ThrottleSettings,
    ThrottleUnavailable,
};
