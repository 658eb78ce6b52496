//! Sessions, session locks and login counts kept in Redis (or Valkey), so
//! that several mailfront nodes behind a load balancer share them.
//!
//! This module owns the connection ([`RedisLink`]): one multiplexed
//! connection per node, opened lazily and reopened by the client after a
//! failure, every call bounded by the configured timeout. Its children use
//! it: `store` keeps records, `lock` hands out leases with fencing tokens,
//! `throttle` counts failed logins, `form_key` shares the login form key.
//!
//! Invariants: every key starts with the configured prefix and names a
//! session only by its store key (a hash, never the id); a Redis that cannot
//! be reached, or answers too slowly, yields an error within the timeout,
//! never a hang and never a partly written state, because each change is a
//! single command or a Lua script that Redis runs atomically.
//!
//! # Limitations
//!
//! - Redis is trusted like the local disk is for the embedded store: anyone
//!   who can write to it can end sessions or lift login limits (though not
//!   read passwords, which stay sealed with a key only the cookie holds).
//! - Durability is Redis's own: with persistence off, a Redis restart signs
//!   everyone out.
//! - `rediss://` trusts the system's certificate authorities only; a Redis
//!   with a private CA needs that CA in the system store.
//! - A node cannot start while Redis is unreachable, since it reads the
//!   shared login form key at start; once running, it rides out outages.

pub mod form_key;
pub mod lock;
pub mod store;
pub mod throttle;

use std::time::Duration;

use redis::aio::ConnectionManager;
use redis::{Client, ConnectionInfo, IntoConnectionInfo, RedisError};

use crate::config::RedisSettings;

pub use form_key::shared_login_form_key;
pub use lock::{RedisLockSettings, RedisLocks};
pub use store::RedisStore;
pub use throttle::RedisThrottle;

/// Why Redis could not serve a call.
#[derive(Debug, thiserror::Error)]
pub enum RedisFailure {
    /// No answer within the timeout (server down, network, overload).
    #[error("redis did not answer within {} ms; check that it runs", timeout.as_millis())]
    TimedOut {
        /// The limit that passed.
        timeout: Duration,
    },
    /// The client reported an error (connection refused, script error...).
    #[error("redis could not be reached or failed the call; check that it runs and the URL")]
    Failed(#[from] RedisError),
    /// An answer of an unexpected shape (another program uses the prefix?).
    #[error("redis answered {what} unexpectedly; is another program using the key prefix?")]
    Unexpected {
        /// What was asked.
        what: &'static str,
    },
}

/// The connection to Redis shared by the store, the locks and the throttle
/// of one node. Cloning is cheap: clones share one multiplexed connection.
#[derive(Clone)]
pub struct RedisLink {
    /// Reconnects by itself after a failure; every clone sends over the same
    /// socket, so no lock of ours is involved.
    manager: ConnectionManager,
    /// Bound on each call, connecting included.
    timeout: Duration,
    /// Put before every key.
    prefix: String,
}

impl std::fmt::Debug for RedisLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisLink")
            .field("timeout", &self.timeout)
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

/// Why the connection could not even be set up.
#[derive(Debug, thiserror::Error)]
pub enum RedisSetupError {
    /// The URL was refused by the client.
    #[error("redis URL is not usable; use redis://[user:password@]host:port/db or rediss://")]
    BadUrl(#[source] RedisError),
    /// The client could not be built.
    #[error("redis client could not be set up")]
    Client(#[source] RedisError),
}

impl RedisLink {
    /// A link to the server in `settings`. It does not connect yet: the
    /// first call does, and a server that is down makes calls fail with
    /// [`RedisFailure`] until it is back.
    ///
    /// Needs a tokio runtime.
    pub fn open(settings: &RedisSettings) -> Result<Self, RedisSetupError> {
        // rustls needs a process-wide crypto provider for rediss://; the
        // IMAP side passes its provider explicitly and installs none.
        let _ = rustls::crypto::ring::default_provider().install_default();

        let info: ConnectionInfo = settings
            .url
            .expose()
            .into_connection_info()
            .map_err(RedisSetupError::BadUrl)?;
        let client = Client::open(info).map_err(RedisSetupError::Client)?;
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(Some(settings.timeout))
            .set_response_timeout(Some(settings.timeout))
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_millis(500));
        let manager = ConnectionManager::new_lazy_with_config(client, config)
            .map_err(RedisSetupError::Client)?;

        Ok(Self {
            manager,
            timeout: settings.timeout,
            prefix: settings.key_prefix.clone(),
        })
    }

    /// `prefix` + `kind` + `:` + `name`, e.g. `mailfront:session:ab12...`.
    pub(crate) fn key(&self, kind: &str, name: &str) -> String {
        format!("{}{kind}:{name}", self.prefix)
    }

    /// The limit on every call.
    pub(crate) fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Runs a script with `keys` and `args`, bounded by the timeout.
    pub(crate) async fn run_script<T: redis::FromRedisValue>(
        &self,
        script: &redis::Script,
        keys: &[&str],
        args: &[Vec<u8>],
    ) -> Result<T, RedisFailure> {
        let mut invocation = script.prepare_invoke();
        for key in keys {
            invocation.key(*key);
        }
        for arg in args {
            invocation.arg(arg);
        }

        let mut connection = self.manager.clone();
        let call = invocation.invoke_async(&mut connection);
        match tokio::time::timeout(self.timeout, call).await {
            Ok(result) => Ok(result?),
            Err(_) => Err(RedisFailure::TimedOut {
                timeout: self.timeout,
            }),
        }
    }

    /// Sends one command, bounded by the timeout.
    pub(crate) async fn query<T: redis::FromRedisValue>(
        &self,
        command: &redis::Cmd,
    ) -> Result<T, RedisFailure> {
        let mut connection = self.manager.clone();
        let call = command.query_async(&mut connection);
        match tokio::time::timeout(self.timeout, call).await {
            Ok(result) => Ok(result?),
            Err(_) => Err(RedisFailure::TimedOut {
                timeout: self.timeout,
            }),
        }
    }
}

/// A whole number as a script argument.
pub(crate) fn int(value: impl TryInto<i64>) -> Vec<u8> {
    value
        .try_into()
        .unwrap_or(i64::MAX)
        .to_string()
        .into_bytes()
}

/// Milliseconds of `duration` as a script argument, at least 1.
pub(crate) fn millis(duration: Duration) -> Vec<u8> {
    int(duration.as_millis().max(1))
}

/// Text as a script argument.
pub(crate) fn text(value: &str) -> Vec<u8> {
    value.as_bytes().to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::RedisUrl;

    fn settings(url: &str) -> RedisSettings {
        RedisSettings {
            url: RedisUrl::parse(url).unwrap(),
            timeout: Duration::from_millis(300),
            key_prefix: "site-a:".to_owned(),
        }
    }

    #[tokio::test]
    async fn keys_start_with_the_prefix() {
        let link = RedisLink::open(&settings("redis://127.0.0.1:1/0")).unwrap();

        assert_eq!(link.key("session", "ab12"), "site-a:session:ab12");
        assert!(!format!("{link:?}").contains("127.0.0.1:1"));
    }

    #[tokio::test]
    async fn a_server_that_is_not_there_fails_a_call_within_the_timeout() {
        let link = RedisLink::open(&settings("redis://127.0.0.1:1/0")).unwrap();
        let started = std::time::Instant::now();

        let answer: Result<String, RedisFailure> = link.query(&redis::cmd("PING")).await;

        assert!(answer.is_err());
        assert!(started.elapsed() < Duration::from_secs(2));
    }

    #[test]
    fn a_url_the_client_cannot_read_is_refused_at_open() {
        let refused = RedisLink::open(&settings("redis://127.0.0.1:notaport/0"));

        assert!(matches!(refused, Err(RedisSetupError::BadUrl(_))));
    }
}
