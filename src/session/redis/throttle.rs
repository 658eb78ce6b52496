//! Login throttling counted in Redis, so that every node sees every failed
//! login: the same two limits and decisions as `session::throttle`'s
//! `LocalThrottle`, counted with the same GCRA, in Lua scripts that run
//! atomically on the Redis clock.
//!
//! It owns the keys `<prefix>throttle:net:<network>` and
//! `<prefix>throttle:account:<hash>` (theoretical arrival times of each
//! limit), `<prefix>throttle:net-until:<network>` (a network refused until
//! then) and `<prefix>throttle:account-until:<hash>` (an account's strikes
//! and delay end). Every key expires once it no longer changes a decision,
//! so Redis holds only recent failures.
//!
//! Invariants: as for the local throttle, a decision never depends on
//! whether an account exists, and an account is only ever delayed, by at
//! most `max_delay`. Networks and accounts are named by a hex form of the
//! IPv4 address or IPv6 /64, and by a SHA-256 of the account name.
//!
//! # Limitations
//!
//! - As with the local throttle, decisions come before the password check
//!   and counts after it: attempts in flight together are all checked.
//! - Times are Redis's, in milliseconds; tokio's paused clock does not move
//!   them, so tests of this module wait for real.

use std::net::IpAddr;
use std::sync::atomic::Ordering;
use std::time::Duration;

use redis::Script;

use super::{int, millis, RedisFailure, RedisLink};
use crate::session::throttle::{
    AccountKey, NetworkKey, ThrottleCounters, ThrottleDecision, ThrottleSettings,
    ThrottleUnavailable,
};

/// Shared head of the scripts: the Redis clock in ms.
const CLOCK: &str = r"
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
";

/// Before a password check. KEYS: net-until, account-until.
/// Returns {2, ms until the network may try again}, {1, account strikes}
/// or {0, 0}.
const CHECK: &str = r"
local refused = tonumber(redis.call('GET', KEYS[1]) or '0')
if refused > now then
  return {2, refused - now}
end
local until_ms = tonumber(redis.call('HGET', KEYS[2], 'until') or '0')
if until_ms > now then
  return {1, tonumber(redis.call('HGET', KEYS[2], 'strikes') or '1')}
end
return {0, 0}
";

/// After a refused password. KEYS: net, net-until, account, account-until.
/// ARGV: network interval ms, network burst, account interval ms, account
/// burst. Returns 0.
const FAIL: &str = r"
-- One failure against a GCRA limit; the time until which the limit is
-- exhausted, or nil while it is not.
local function count(key, interval, burst)
  local tat = math.max(tonumber(redis.call('GET', key) or '0'), now)
  local tolerance = interval * (burst - 1)
  if tat - now > tolerance then
    return tat - tolerance
  end
  local next_tat = tat + interval
  redis.call('SET', key, next_tat, 'PX', next_tat - now)
  if next_tat - now > tolerance then
    return now + interval
  end
  return nil
end

local net_interval, net_burst = tonumber(ARGV[1]), tonumber(ARGV[2])
local account_interval, account_burst = tonumber(ARGV[3]), tonumber(ARGV[4])

local net_until = count(KEYS[1], net_interval, net_burst)
if net_until then
  local refused = math.max(tonumber(redis.call('GET', KEYS[2]) or '0'), net_until)
  redis.call('SET', KEYS[2], refused, 'PX', math.max(refused - now, 1))
end

local account_until = count(KEYS[3], account_interval, account_burst)
if account_until then
  local refill = account_interval * account_burst
  local strikes = tonumber(redis.call('HGET', KEYS[4], 'strikes') or '0')
  local until_ms = tonumber(redis.call('HGET', KEYS[4], 'until') or '0')
  if until_ms + refill <= now then
    strikes = 0
  end
  until_ms = math.max(until_ms, account_until)
  redis.call('HSET', KEYS[4], 'strikes', strikes + 1, 'until', until_ms)
  redis.call('PEXPIRE', KEYS[4], math.max(until_ms + refill - now, 1))
end
return 0
";

/// Login throttling shared by every node that uses the same Redis and
/// prefix.
pub struct RedisThrottle {
    link: RedisLink,
    /// Fixed at construction; zero bursts count as one and zero intervals
    /// as one millisecond, as in the local throttle.
    settings: ThrottleSettings,
    check: Script,
    fail: Script,
    /// This node's share of the decisions, bumped without a lock.
    counters: ThrottleCounters,
}

impl std::fmt::Debug for RedisThrottle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisThrottle")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl RedisThrottle {
    /// A throttle over `link` with the given limits.
    pub fn new(link: RedisLink, settings: ThrottleSettings) -> Self {
        Self {
            link,
            settings,
            check: Script::new(&format!("{CLOCK}{CHECK}")),
            fail: Script::new(&format!("{CLOCK}{FAIL}")),
            counters: ThrottleCounters::default(),
        }
    }

    /// As `LocalThrottle::check`, across all nodes.
    pub async fn check(
        &self,
        client: IpAddr,
        account: &str,
    ) -> Result<ThrottleDecision, ThrottleUnavailable> {
        let keys = self.keys(client, account);

        let (kind, value): (i64, i64) = self
            .link
            .run_script(&self.check, &[&keys.net_until, &keys.account_until], &[])
            .await
            .map_err(unavailable)?;
        let value = u64::try_from(value).unwrap_or_default();
        match kind {
            2 => {
                self.counters.refused.fetch_add(1, Ordering::Relaxed);
                Ok(ThrottleDecision::Refuse {
                    retry_after: Duration::from_millis(value),
                })
            }
            1 => {
                self.counters.delayed.fetch_add(1, Ordering::Relaxed);
                let strikes = u32::try_from(value).unwrap_or(u32::MAX);
                Ok(ThrottleDecision::Delay(self.settings.delay_for(strikes)))
            }
            _ => Ok(ThrottleDecision::Allow),
        }
    }

    /// As `LocalThrottle::record_failure`, across all nodes.
    pub async fn record_failure(
        &self,
        client: IpAddr,
        account: &str,
    ) -> Result<(), ThrottleUnavailable> {
        let keys = self.keys(client, account);
        let settings = &self.settings;
        let interval = |value: Duration| millis(value.max(Duration::from_millis(1)));
        let args = [
            interval(settings.address_interval),
            int(settings.address_burst.max(1)),
            interval(settings.account_interval),
            int(settings.account_burst.max(1)),
        ];
        self.counters.failures.fetch_add(1, Ordering::Relaxed);

        let all = [
            &keys.net,
            &keys.net_until,
            &keys.account,
            &keys.account_until,
        ];
        let _: i64 = self
            .link
            .run_script(&self.fail, &all.map(String::as_str), &args)
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    /// As `LocalThrottle::record_success`: the account's delays end, the
    /// network's count stays.
    pub async fn record_success(
        &self,
        client: IpAddr,
        account: &str,
    ) -> Result<(), ThrottleUnavailable> {
        let keys = self.keys(client, account);
        let command = redis::cmd("DEL").arg(&keys.account_until).clone();

        let _: i64 = self.link.query(&command).await.map_err(unavailable)?;
        Ok(())
    }

    /// What this node's requests were told, for the metrics page.
    pub fn counters(&self) -> &ThrottleCounters {
        &self.counters
    }

    fn keys(&self, client: IpAddr, account: &str) -> ThrottleKeys {
        let network = NetworkKey::of(client).name();
        let account = AccountKey::of(account).name();
        ThrottleKeys {
            net: self.link.key("throttle:net", &network),
            net_until: self.link.key("throttle:net-until", &network),
            account: self.link.key("throttle:account", &account),
            account_until: self.link.key("throttle:account-until", &account),
        }
    }
}

/// The keys one attempt touches.
struct ThrottleKeys {
    net: String,
    net_until: String,
    account: String,
    account_until: String,
}

fn unavailable(failure: RedisFailure) -> ThrottleUnavailable {
    tracing::warn!(error = %failure, "login throttling unavailable");
    ThrottleUnavailable
}
