//! The signed-in request: cookie, session lock, session record and IMAP
//! credentials, gathered before a handler runs.
//!
//! The lock is taken before the record is read, and held until the
//! [`SignedIn`] value is dropped, which is when the handler returns: two
//! requests of one session never run their session work at the same time,
//! and a record written by one is what the next one reads. A handler that no
//! longer needs the session may call [`SignedIn::release_early`].

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, Method};

use super::{AppError, AppState};
use crate::metrics::bump;
use crate::pool::Credentials;
use crate::session::{
    open_password, ExpiryPolicy, LockRefused, SessionCookie, SessionLockGuard, SessionRecord,
};

/// Name of the session cookie.
pub const SESSION_COOKIE: &str = "mf_session";

/// A request whose session is valid and locked for this request.
pub struct SignedIn {
    pub cookie: SessionCookie,
    pub record: SessionRecord,
    pub credentials: Credentials,
    lock: Option<SessionLockGuard>,
    /// The lock's fencing token, kept after an early release.
    fence: Option<u64>,
    state: AppState,
}

impl SignedIn {
    /// Writes the record back (its revision bumped by the store).
    pub async fn save(&mut self) -> Result<(), AppError> {
        self.record.last_seen = now_unix();
        let ttl = self.state.settings.session_idle;
        self.state
            .sessions
            .save_fenced(&self.cookie.id, &self.record, ttl, self.fence)
            .await?;
        Ok(())
    }

    /// Gives up the session lock before the handler ends. Only for handlers
    /// whose remaining work touches no session state.
    pub fn release_early(&mut self) {
        if let Some(lock) = self.lock.take() {
            lock.release();
        }
    }

    /// The CSRF token for forms on the page being built.
    pub fn csrf_token(&self) -> String {
        self.record.csrf_token()
    }

    /// Checks a submitted CSRF token; a missing or wrong one means the form
    /// is forged or from an older session.
    pub fn check_csrf(&self, submitted: &str) -> Result<(), AppError> {
        if self.record.verify_csrf(submitted) {
            Ok(())
        } else {
            Err(AppError::FormExpired)
        }
    }
}

impl FromRequestParts<AppState> for SignedIn {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, AppError> {
        let return_to = (parts.method == Method::GET)
            .then(|| parts.uri.path_and_query().map(|p| p.as_str().to_owned()))
            .flatten();
        let not_signed_in = || AppError::NotSignedIn {
            return_to: return_to.clone(),
        };
        let cookie = session_cookie(parts).ok_or_else(not_signed_in)?;
        tracing::Span::current().record("session", cookie.id.log_tag());

        let lock = match state.locks.acquire(&cookie.id).await {
            Ok(lock) => lock,
            Err(LockRefused::Unavailable) => {
                return Err(AppError::StoreUnavailable(
                    "session lock service unavailable".to_owned(),
                ));
            }
            Err(refused) => {
                // An ended session is not busy: requests that still carry
                // its cookie (other tabs after a sign-out) must get the
                // sign-in page, not be asked to retry.
                if state.sessions.load(&cookie.id).await?.is_none() {
                    return Err(not_signed_in());
                }
                bump(&state.metrics.requests_rejected);
                tracing::debug!(?refused, "session busy");
                let repeatable = parts.method == Method::GET || parts.method == Method::HEAD;
                return Err(AppError::SessionBusy {
                    retry_after: Duration::from_secs(2),
                    repeatable,
                });
            }
        };

        let record = match state.sessions.load(&cookie.id).await? {
            Some(record) => record,
            None => return Err(not_signed_in()),
        };
        let now = now_unix();
        if record.is_expired(&expiry_policy(state), now) {
            state.sessions.delete(&cookie.id).await?;
            return Err(AppError::SessionExpired);
        }
        let password = open_password(&cookie.key, &record.user, &record.sealed_password)
            .ok_or_else(not_signed_in)?;
        tracing::Span::current().record("user", record.user.as_str());

        let credentials = Credentials {
            user: record.user.clone(),
            password,
            client: Some(super::login::client_ip(state, parts)),
        };
        let mut signed_in = SignedIn {
            cookie,
            record,
            credentials,
            fence: lock.fence(),
            lock: Some(lock),
            state: state.clone(),
        };
        if now - signed_in.record.last_seen >= 60 {
            signed_in.save().await?;
        }
        Ok(signed_in)
    }
}

impl From<LockRefused> for AppError {
    fn from(refused: LockRefused) -> AppError {
        match refused {
            LockRefused::Unavailable => {
                AppError::StoreUnavailable("session lock service unavailable".to_owned())
            }
            LockRefused::QueueFull | LockRefused::TimedOut => AppError::SessionBusy {
                retry_after: Duration::from_secs(2),
                repeatable: true,
            },
        }
    }
}

/// The session cookie of a request, if it has a well-formed one.
pub fn session_cookie(parts: &Parts) -> Option<SessionCookie> {
    cookie_value(parts, SESSION_COOKIE).and_then(|value| SessionCookie::parse(&value))
}

/// The value of one cookie of a request.
pub fn cookie_value(parts: &Parts, name: &str) -> Option<String> {
    parts
        .headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|line| line.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.to_owned())
}

/// A `Set-Cookie` value for the session cookie.
pub fn session_set_cookie(value: &str, max_age: Duration, secure: bool) -> String {
    let secure = if secure { "; Secure" } else { "" };
    format!(
        "{SESSION_COOKIE}={value}; Path=/; HttpOnly; SameSite=Lax; Max-Age={}{secure}",
        max_age.as_secs()
    )
}

/// A `Set-Cookie` value that removes a cookie.
pub fn clear_cookie(name: &str, secure: bool) -> String {
    let secure = if secure { "; Secure" } else { "" };
    format!("{name}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0{secure}")
}

pub fn expiry_policy(state: &AppState) -> ExpiryPolicy {
    ExpiryPolicy {
        idle: state.settings.session_idle,
        absolute: state.settings.session_max_age,
    }
}

pub fn now_unix() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}
