//! Session records in Redis: one hash per session, `rev` and `data` (the
//! record as JSON), expired by Redis itself (`PEXPIRE`).
//!
//! It owns the keys `<prefix>session:<store key>`, except for their field
//! `fence`, the fencing counter that `lock` bumps at every grant and this
//! module only reads: kept in the record's hash, it lives and expires with
//! the session.
//!
//! Invariants: the revision rule of `store` holds (a save of a session that
//! ended is refused, a new session starts at revision 1) and, because the
//! check and the write are one Lua script, holds across nodes; a save
//! carrying a fencing token is refused when a newer lease of the session
//! was handed out since, so a request whose lease ran out cannot overwrite
//! what the next holder wrote; nothing is ever revived, since an expired
//! hash is simply gone.

use std::time::Duration;

use async_trait::async_trait;
use redis::Script;

use super::{int, millis, text, RedisFailure, RedisLink};
use crate::session::cookie::SessionId;
use crate::session::record::SessionRecord;
use crate::session::store::{SessionStore, StoreError};

/// Check-and-set of one record.
///
/// KEYS: session hash. ARGV: the caller's revision, JSON, ttl in ms,
/// fencing token or "" when the caller holds none.
/// Returns {revision, 0} when stored, {-1, 0} when the session ended,
/// {-2, newest token} when a newer lease exists.
const SAVE: &str = r"
local fence = ARGV[4]
if fence ~= '' then
  local newest = tonumber(redis.call('HGET', KEYS[1], 'fence') or '0')
  if newest > tonumber(fence) then
    return {-2, newest}
  end
end
local stored = redis.call('HGET', KEYS[1], 'rev')
local given = tonumber(ARGV[1])
local revision
if stored then
  revision = math.max(tonumber(stored), given) + 1
elseif given == 0 then
  revision = 1
else
  return {-1, 0}
end
redis.call('HSET', KEYS[1], 'rev', revision, 'data', ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return {revision, 0}
";

/// Removes a record only while it still holds the given JSON, so that
/// dropping an undecodable entry cannot remove one saved meanwhile.
const REMOVE_IF_SAME: &str = r"
if redis.call('HGET', KEYS[1], 'data') == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
";

/// Session records in Redis, shared by every node with the same server and
/// key prefix.
pub struct RedisStore {
    /// Shared with the node's locks and throttle.
    link: RedisLink,
    save: Script,
    remove_if_same: Script,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore")
            .field("link", &self.link)
            .finish_non_exhaustive()
    }
}

impl RedisStore {
    /// A store over `link`.
    pub fn new(link: RedisLink) -> Self {
        Self {
            link,
            save: Script::new(SAVE),
            remove_if_same: Script::new(REMOVE_IF_SAME),
        }
    }

    fn record_key(&self, id: &SessionId) -> String {
        self.link.key("session", &id.store_key())
    }
}

#[async_trait]
impl SessionStore for RedisStore {
    async fn load(&self, id: &SessionId) -> Result<Option<SessionRecord>, StoreError> {
        let key = self.record_key(id);
        let command = redis::cmd("HMGET").arg(&key).arg("rev").arg("data").clone();

        let (revision, data): (Option<u64>, Option<Vec<u8>>) =
            self.link.query(&command).await.map_err(unavailable)?;
        let (Some(revision), Some(data)) = (revision, data) else {
            return Ok(None);
        };

        match serde_json::from_slice::<SessionRecord>(&data) {
            Ok(mut record) => {
                record.revision = revision;
                Ok(Some(record))
            }
            Err(error) => {
                let _: i64 = self
                    .link
                    .run_script(&self.remove_if_same, &[&key], &[data])
                    .await
                    .map_err(unavailable)?;
                Err(StoreError::Corrupt {
                    source: Box::new(error),
                })
            }
        }
    }

    async fn save(
        &self,
        id: &SessionId,
        record: &SessionRecord,
        ttl: Duration,
    ) -> Result<(), StoreError> {
        self.save_fenced(id, record, ttl, None).await
    }

    async fn save_fenced(
        &self,
        id: &SessionId,
        record: &SessionRecord,
        ttl: Duration,
        fence: Option<u64>,
    ) -> Result<(), StoreError> {
        let json = serde_json::to_vec(record).map_err(|error| StoreError::Unavailable {
            source: Box::new(error),
        })?;
        let key = self.record_key(id);
        let fence_arg = fence.map_or_else(|| text(""), int);
        let args = [int(record.revision), json, millis(ttl), fence_arg];

        let (outcome, newest): (i64, i64) = self
            .link
            .run_script(&self.save, &[&key], &args)
            .await
            .map_err(unavailable)?;
        match outcome {
            -1 => Err(StoreError::SessionEnded {
                given: record.revision,
            }),
            -2 => Err(StoreError::LeaseLost {
                held: fence.unwrap_or_default(),
                newest: u64::try_from(newest).unwrap_or_default(),
            }),
            _ => Ok(()),
        }
    }

    async fn delete(&self, id: &SessionId) -> Result<(), StoreError> {
        let command = redis::cmd("DEL").arg(self.record_key(id)).clone();

        let _: i64 = self.link.query(&command).await.map_err(unavailable)?;
        Ok(())
    }
}

fn unavailable(failure: RedisFailure) -> StoreError {
    StoreError::Unavailable {
        source: Box::new(failure),
    }
}
