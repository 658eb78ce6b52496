//! Login throttling: slows down password guessing without letting an
//! attacker lock the real user out.
//!
//! This module owns two limits, both counted on failed logins with
//! governor's GCRA: one per client network (an IPv4 address or an IPv6 /64),
//! which refuses further attempts for a while, and one per account name
//! (case-insensitive, from any address), which only delays attempts, by
//! growing steps up to a cap. It also owns `client_address`, which picks
//! the address to count. It does not sleep, check passwords or speak HTTP:
//! the web layer asks before checking a password and reports the outcome.
//!
//! Invariants: a decision never depends on whether an account exists; an
//! account's failures only ever delay it, by at most `max_delay`, so its
//! owner can get in from any network that is not itself refused; memory
//! holds only networks and accounts that failed recently, because stale
//! state is pruned every few hundred failures.
//!
//! Time is tokio's clock, so tests pause it and advance it.
//!
//! [`LoginThrottle`] is what the web layer holds: these in-process counts
//! ([`LocalThrottle`]) for one node, or the same rules counted in Redis
//! (`redis::RedisThrottle`) for several.
//!
//! # Limitations
//!
//! - [`LocalThrottle`] counts in this process: several nodes each allow the
//!   full quota; they need the Redis throttle.
//! - Decisions are taken before the password check and counts updated after
//!   it, so attempts already in flight when a limit runs out still get
//!   checked: a client that fires many attempts at once, or waits out one
//!   delay with many attempts in parallel, gets them all tried. Counting
//!   attempts in flight per network would close this.
//! - Clients behind one NAT or proxy share their network's limit.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use governor::clock::Clock;
use governor::middleware::{StateInformationMiddleware, StateSnapshot};
use governor::state::keyed::DashMapStateStore;
use governor::{NotUntil, Quota, RateLimiter};
use sha2::{Digest, Sha256};
use tokio::time::Instant;

/// Failures between two automatic prunes of stale state.
const PRUNE_EVERY: u64 = 256;

/// Limits of login throttling.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ThrottleSettings {
    /// Failed logins one client network may have in a burst; after that it
    /// is refused until the burst refills. Default 20.
    pub address_burst: u32,
    /// Time in which one failure of a network is forgiven. Default 30 s.
    pub address_interval: Duration,
    /// Failed logins of one account, from anywhere, before its logins are
    /// delayed. Default 5.
    pub account_burst: u32,
    /// Time in which one failure of an account is forgiven. Default 60 s.
    pub account_interval: Duration,
    /// First delay of an account over its limit; it doubles with each
    /// further failure. Default 1 s.
    pub first_delay: Duration,
    /// Longest delay. Default 10 s.
    pub max_delay: Duration,
}

impl Default for ThrottleSettings {
    fn default() -> Self {
        Self {
            address_burst: 20,
            address_interval: Duration::from_secs(30),
            account_burst: 5,
            account_interval: Duration::from_secs(60),
            first_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(10),
        }
    }
}

impl ThrottleSettings {
    /// The delay of an account with `strikes` failures past its limit:
    /// `first_delay` doubled for each strike after the first, capped.
    pub(crate) fn delay_for(&self, strikes: u32) -> Duration {
        let doublings = strikes.saturating_sub(1).min(31);
        self.first_delay
            .saturating_mul(1 << doublings)
            .min(self.max_delay)
    }
}

/// What to do with a login attempt before checking its password.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ThrottleDecision {
    /// Check the password now.
    Allow,
    /// Wait this long, then check the password.
    Delay(Duration),
    /// Do not check the password; the client may try again after
    /// `retry_after`.
    Refuse {
        /// Time until this client network may try again.
        retry_after: Duration,
    },
}

/// What the throttle decided, for the metrics page. Relaxed atomics.
#[derive(Debug, Default)]
pub struct ThrottleCounters {
    /// Attempts answered with `Delay`.
    pub delayed: AtomicU64,
    /// Attempts answered with `Refuse`.
    pub refused: AtomicU64,
    /// Failures reported.
    pub failures: AtomicU64,
}

/// Login throttling, counted in this process or in Redis.
///
/// The decisions are the same; only the Redis one can fail, when Redis
/// cannot be reached.
pub enum LoginThrottle {
    /// Counts in this process, for a single node.
    Local(LocalThrottle),
    /// Counts in Redis, shared by every node.
    Shared(crate::session::redis::RedisThrottle),
}

/// The throttle's counts could not be read or written (Redis is down); the
/// cause was logged where it happened.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("login throttling is unavailable; retry in a minute")]
pub struct ThrottleUnavailable;

impl LoginThrottle {
    /// See [`LocalThrottle::check`].
    pub async fn check(
        &self,
        client: IpAddr,
        account: &str,
    ) -> Result<ThrottleDecision, ThrottleUnavailable> {
        match self {
            Self::Local(local) => Ok(local.check(client, account)),
            Self::Shared(shared) => shared.check(client, account).await,
        }
    }

    /// See [`LocalThrottle::record_failure`].
    pub async fn record_failure(
        &self,
        client: IpAddr,
        account: &str,
    ) -> Result<(), ThrottleUnavailable> {
        match self {
            Self::Local(local) => {
                local.record_failure(client, account);
                Ok(())
            }
            Self::Shared(shared) => shared.record_failure(client, account).await,
        }
    }

    /// See [`LocalThrottle::record_success`].
    pub async fn record_success(
        &self,
        client: IpAddr,
        account: &str,
    ) -> Result<(), ThrottleUnavailable> {
        match self {
            Self::Local(local) => {
                local.record_success(client, account);
                Ok(())
            }
            Self::Shared(shared) => shared.record_success(client, account).await,
        }
    }

    /// What this node's throttle decided, for the metrics page.
    pub fn counters(&self) -> &ThrottleCounters {
        match self {
            Self::Local(local) => local.counters(),
            Self::Shared(shared) => shared.counters(),
        }
    }
}

/// Login throttling for one process.
pub struct LocalThrottle {
    /// Fixed at construction.
    settings: ThrottleSettings,
    /// Failures per client network. Written by `record_failure`, pruned by
    /// `prune`; governor shards it internally (a `DashMap`) and takes no
    /// lock of ours.
    networks: Limiter<NetworkKey>,
    /// Failures per account, keyed by a hash of the normalised name. Same
    /// access as `networks`.
    accounts: Limiter<AccountKey>,
    /// Who is refused or delayed until when, decided when a limit runs out.
    /// Read by `check`, written by `record_*` and `prune`. A blocking mutex:
    /// every section is a few map operations and nothing in this module
    /// awaits, so it is never held across `.await`.
    penalties: Mutex<Penalties>,
    /// Failures since the last prune; bumped without a lock.
    failures_since_prune: AtomicU64,
    /// Bumped by `check` and `record_failure` without a lock.
    counters: ThrottleCounters,
    /// The zero of every time in this throttle.
    clock: TokioClock,
}

type Limiter<K> = RateLimiter<K, DashMapStateStore<K>, TokioClock, StateInformationMiddleware>;

/// Consequences of exhausted limits.
#[derive(Default)]
struct Penalties {
    /// Networks refused until the given time.
    networks: HashMap<NetworkKey, Duration>,
    /// Accounts delayed until the given time.
    accounts: HashMap<AccountKey, AccountPenalty>,
}

struct AccountPenalty {
    /// Failures while the account's limit was exhausted; sets the delay.
    strikes: u32,
    /// Delays apply until then.
    until: Duration,
}

/// A client network: an IPv4 address or the /64 prefix of an IPv6 address,
/// since one IPv6 client commonly has a whole /64.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum NetworkKey {
    V4([u8; 4]),
    V6([u8; 8]),
}

/// SHA-256 of the trimmed, lowercased account name: fixed size whatever was
/// typed, and no account names kept in memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct AccountKey([u8; 32]);

/// governor's clock on tokio's time: durations since the throttle started.
#[derive(Clone, Copy, Debug)]
struct TokioClock {
    origin: Instant,
}

impl Clock for TokioClock {
    type Instant = Duration;

    fn now(&self) -> Duration {
        Instant::now().saturating_duration_since(self.origin)
    }
}

impl LocalThrottle {
    /// A throttle with the given limits; zero bursts count as one and zero
    /// intervals as one millisecond.
    pub fn new(settings: ThrottleSettings) -> Self {
        let clock = TokioClock {
            origin: Instant::now(),
        };
        Self {
            networks: limiter(settings.address_burst, settings.address_interval, clock),
            accounts: limiter(settings.account_burst, settings.account_interval, clock),
            settings,
            penalties: Mutex::new(Penalties::default()),
            failures_since_prune: AtomicU64::new(0),
            counters: ThrottleCounters::default(),
            clock,
        }
    }

    /// Before checking a password: `Refuse` when this client network has
    /// failed too often, `Delay` when this account has failed too often
    /// recently (from any address), `Allow` otherwise.
    pub fn check(&self, client: IpAddr, account: &str) -> ThrottleDecision {
        let now = self.clock.now();
        let network = NetworkKey::of(client);
        let account = AccountKey::of(account);
        let penalties = self.penalties();

        if let Some(&until) = penalties
            .networks
            .get(&network)
            .filter(|&&until| until > now)
        {
            self.counters.refused.fetch_add(1, Ordering::Relaxed);
            return ThrottleDecision::Refuse {
                retry_after: until - now,
            };
        }
        if let Some(penalty) = penalties.accounts.get(&account).filter(|p| p.until > now) {
            self.counters.delayed.fetch_add(1, Ordering::Relaxed);
            return ThrottleDecision::Delay(self.delay_for(penalty.strikes));
        }
        ThrottleDecision::Allow
    }

    /// After the IMAP server refused the credentials. Failures that say
    /// nothing about the password (server unreachable, too many connections)
    /// should not be reported.
    pub fn record_failure(&self, client: IpAddr, account: &str) {
        let now = self.clock.now();
        let network = NetworkKey::of(client);
        let account = AccountKey::of(account);
        self.counters.failures.fetch_add(1, Ordering::Relaxed);

        let network_until = exhausted_until(self.networks.check_key(&network), now);
        let account_until = exhausted_until(self.accounts.check_key(&account), now);

        let mut penalties = self.penalties();
        if let Some(until) = network_until {
            let refused = penalties.networks.entry(network).or_insert(until);
            *refused = (*refused).max(until);
        }
        if let Some(until) = account_until {
            let penalty = penalties
                .accounts
                .entry(account)
                .or_insert(AccountPenalty { strikes: 0, until });
            if self.is_stale(penalty, now) {
                penalty.strikes = 0;
            }
            penalty.strikes = penalty.strikes.saturating_add(1);
            penalty.until = penalty.until.max(until);
        }
        drop(penalties);

        if self.failures_since_prune.fetch_add(1, Ordering::Relaxed) + 1 >= PRUNE_EVERY {
            self.failures_since_prune.store(0, Ordering::Relaxed);
            self.prune();
        }
    }

    /// After a successful login: the account's delays end. The network's
    /// count stays, so that signing in to one's own account between guesses
    /// does not reset it.
    pub fn record_success(&self, _client: IpAddr, account: &str) {
        self.penalties().accounts.remove(&AccountKey::of(account));
    }

    /// Forgets networks and accounts whose last failure is about two
    /// intervals old (governor's rule for a count that is back to fresh) and
    /// whose penalties are over, and gives the memory back. Runs by itself
    /// every few hundred failures; call it from a timer to also shrink
    /// after a quiet period.
    pub fn prune(&self) {
        let now = self.clock.now();

        self.networks.retain_recent();
        self.networks.shrink_to_fit();
        self.accounts.retain_recent();
        self.accounts.shrink_to_fit();

        let mut penalties = self.penalties();
        penalties.networks.retain(|_, until| *until > now);
        penalties
            .accounts
            .retain(|_, penalty| !self.is_stale(penalty, now));
        penalties.networks.shrink_to_fit();
        penalties.accounts.shrink_to_fit();
    }

    /// Networks and accounts held in memory, for the metrics page.
    pub fn tracked_keys(&self) -> usize {
        let penalties = self.penalties();
        self.networks.len()
            + self.accounts.len()
            + penalties.networks.len()
            + penalties.accounts.len()
    }

    /// What the throttle decided since start, for the metrics page.
    pub fn counters(&self) -> &ThrottleCounters {
        &self.counters
    }

    /// `first_delay` doubled for each strike after the first, capped.
    fn delay_for(&self, strikes: u32) -> Duration {
        self.settings.delay_for(strikes)
    }

    /// Whether an account penalty ended long enough ago that the account's
    /// count has refilled completely: its strikes no longer matter.
    fn is_stale(&self, penalty: &AccountPenalty, now: Duration) -> bool {
        let refill = self.accounts_refill();
        penalty.until.saturating_add(refill) <= now
    }

    fn accounts_refill(&self) -> Duration {
        let interval = self.settings.account_interval.max(Duration::from_millis(1));
        interval.saturating_mul(self.settings.account_burst.max(1))
    }

    fn penalties(&self) -> MutexGuard<'_, Penalties> {
        // Every section leaves the maps consistent and cannot panic halfway,
        // so a poisoned lock still guards valid data.
        self.penalties
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

impl std::fmt::Debug for LocalThrottle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalThrottle")
            .field("settings", &self.settings)
            .field("tracked_keys", &self.tracked_keys())
            .finish_non_exhaustive()
    }
}

fn limiter<K>(burst: u32, interval: Duration, clock: TokioClock) -> Limiter<K>
where
    K: Clone + Eq + std::hash::Hash,
{
    let burst = NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN);
    let period = interval.max(Duration::from_millis(1));
    let quota = Quota::with_period(period)
        .expect("a period of at least 1 ms is valid")
        .allow_burst(burst);

    Limiter::new(quota, DashMapStateStore::default(), clock)
}

/// When a limit has just run out, the time until one more failure fits.
fn exhausted_until(
    outcome: Result<StateSnapshot, NotUntil<Duration>>,
    now: Duration,
) -> Option<Duration> {
    match outcome {
        Ok(state) if state.remaining_burst_capacity() == 0 => {
            Some(now + state.quota().replenish_interval())
        }
        Ok(_) => None,
        Err(not_until) => Some(now + not_until.wait_time_from(now)),
    }
}

impl NetworkKey {
    pub(crate) fn of(client: IpAddr) -> Self {
        match client.to_canonical() {
            IpAddr::V4(v4) => Self::V4(v4.octets()),
            IpAddr::V6(v6) => {
                let [a, b, c, d, e, f, g, h, ..] = v6.octets();
                Self::V6([a, b, c, d, e, f, g, h])
            }
        }
    }

    /// `v4-<hex>` or `v6-<hex of the /64>`, to name the network in a
    /// shared store.
    pub(crate) fn name(&self) -> String {
        let (family, bytes): (&str, &[u8]) = match self {
            Self::V4(octets) => ("v4", octets),
            Self::V6(prefix) => ("v6", prefix),
        };
        let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        format!("{family}-{hex}")
    }
}

impl AccountKey {
    pub(crate) fn of(account: &str) -> Self {
        Self(Sha256::digest(account.trim().to_lowercase()).into())
    }

    /// Hex of the hash, to name the account in a shared store.
    pub(crate) fn name(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }
}

/// The client address: `peer`, or when `peer` is a trusted proxy, the
/// nearest address in `forwarded_for` (an `X-Forwarded-For` value, several
/// headers joined with commas) that is not itself a trusted proxy.
///
/// Hops are read from the right, the last one a proxy added. When a hop
/// cannot be read (`unknown`, garbage), nothing left of it can be trusted
/// and the last address that could be read is returned. Addresses with a
/// port (`192.0.2.1:4711`, `[2001:db8::1]:443`) are accepted, and IPv4
/// addresses written as IPv6 (`::ffff:192.0.2.1`) are returned as IPv4.
pub fn client_address(
    peer: IpAddr,
    forwarded_for: Option<&str>,
    trusted_proxies: &[IpAddr],
) -> IpAddr {
    let is_trusted = |ip: IpAddr| trusted_proxies.iter().any(|p| p.to_canonical() == ip);
    let mut nearest = peer.to_canonical();
    if !is_trusted(nearest) {
        return nearest;
    }

    for hop in forwarded_for.unwrap_or_default().rsplit(',') {
        let Some(address) = parse_hop(hop.trim()) else {
            break;
        };
        nearest = address;
        if !is_trusted(address) {
            break;
        }
    }
    nearest
}

/// One `X-Forwarded-For` entry as an address.
fn parse_hop(hop: &str) -> Option<IpAddr> {
    let bare = hop
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(hop);
    let address = bare
        .parse::<IpAddr>()
        .or_else(|_| hop.parse::<SocketAddr>().map(|socket| socket.ip()))
        .ok()?;
    Some(address.to_canonical())
}

#[cfg(test)]
mod tests {
    use std::net::{Ipv4Addr, Ipv6Addr};

    use super::*;

    const ALICE: &str = "alice@example.org";
    const BOB: &str = "bob@example.org";

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    fn secs(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    /// One attempt with a wrong password, after honouring the decision.
    fn fail(throttle: &LocalThrottle, client: IpAddr, account: &str) -> ThrottleDecision {
        let decision = throttle.check(client, account);
        if !matches!(decision, ThrottleDecision::Refuse { .. }) {
            throttle.record_failure(client, account);
        }
        decision
    }

    #[tokio::test(start_paused = true)]
    async fn sixth_quick_wrong_password_for_one_account_is_delayed() {
        let throttle = LocalThrottle::new(ThrottleSettings::default());
        let attacker = ip("203.0.113.7");

        for attempt in 1..=5 {
            assert_eq!(
                fail(&throttle, attacker, ALICE),
                ThrottleDecision::Allow,
                "#{attempt}"
            );
        }

        assert_eq!(
            throttle.check(attacker, ALICE),
            ThrottleDecision::Delay(secs(1))
        );
    }

    #[tokio::test(start_paused = true)]
    async fn another_account_from_another_address_is_not_slowed_down() {
        let throttle = LocalThrottle::new(ThrottleSettings::default());
        for _ in 0..30 {
            fail(&throttle, ip("203.0.113.7"), ALICE);
        }

        let decision = throttle.check(ip("198.51.100.20"), BOB);
        throttle.record_success(ip("198.51.100.20"), BOB);

        assert_eq!(decision, ThrottleDecision::Allow);
    }

    #[tokio::test(start_paused = true)]
    async fn account_names_are_compared_without_case_or_surrounding_space() {
        let throttle = LocalThrottle::new(ThrottleSettings::default());

        for name in [
            "Alice@Example.org",
            "ALICE@EXAMPLE.ORG",
            " alice@example.org",
            ALICE,
            ALICE,
        ] {
            fail(&throttle, ip("203.0.113.7"), name);
        }

        assert!(matches!(
            throttle.check(ip("198.51.100.1"), "aLiCe@example.ORG "),
            ThrottleDecision::Delay(_)
        ));
    }

    #[tokio::test(start_paused = true)]
    async fn account_delays_grow_and_stop_at_the_cap() {
        let throttle = LocalThrottle::new(ThrottleSettings::default());
        for _ in 0..5 {
            fail(&throttle, ip("203.0.113.7"), ALICE);
        }

        let mut delays = Vec::new();
        for n in 0..7u8 {
            // Each guess comes from a fresh address, so only the account
            // limit applies.
            let client = IpAddr::V4(Ipv4Addr::new(192, 0, 2, n));
            match fail(&throttle, client, ALICE) {
                ThrottleDecision::Delay(delay) => {
                    tokio::time::advance(delay).await;
                    delays.push(delay.as_secs());
                }
                other => panic!("expected a delay, got {other:?}"),
            }
        }

        assert_eq!(delays, [1, 2, 4, 8, 10, 10, 10]);
    }

    #[tokio::test(start_paused = true)]
    async fn an_account_is_delayed_but_never_refused() {
        let throttle = LocalThrottle::new(ThrottleSettings::default());

        for n in 0..200u32 {
            let client = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, n as u16, 0, 0, 0, 1));
            let decision = fail(&throttle, client, ALICE);
            assert!(
                !matches!(decision, ThrottleDecision::Refuse { .. }),
                "attempt {n}"
            );
        }

        let owner = throttle.check(ip("198.51.100.20"), ALICE);
        assert_eq!(owner, ThrottleDecision::Delay(secs(10)));
    }

    #[tokio::test(start_paused = true)]
    async fn a_successful_login_ends_the_account_delay() {
        let throttle = LocalThrottle::new(ThrottleSettings::default());
        for _ in 0..8 {
            fail(&throttle, ip("203.0.113.7"), ALICE);
        }

        throttle.record_success(ip("198.51.100.20"), ALICE);

        assert_eq!(
            throttle.check(ip("198.51.100.20"), ALICE),
            ThrottleDecision::Allow
        );
    }

    #[tokio::test(start_paused = true)]
    async fn the_account_delay_ends_when_failures_age_out() {
        let throttle = LocalThrottle::new(ThrottleSettings::default());
        for _ in 0..5 {
            fail(&throttle, ip("203.0.113.7"), ALICE);
        }
        assert!(matches!(
            throttle.check(ip("203.0.113.7"), ALICE),
            ThrottleDecision::Delay(_)
        ));

        tokio::time::advance(secs(60)).await;

        assert_eq!(
            throttle.check(ip("203.0.113.7"), ALICE),
            ThrottleDecision::Allow
        );
    }

    #[tokio::test(start_paused = true)]
    async fn an_address_that_fails_too_often_is_refused_with_a_retry_time() {
        let throttle = LocalThrottle::new(ThrottleSettings::default());
        let attacker = ip("203.0.113.7");

        // Spraying many accounts avoids the account delays entirely.
        for n in 0..20 {
            assert_eq!(
                fail(&throttle, attacker, &format!("user{n}@example.org")),
                ThrottleDecision::Allow
            );
        }
        let refused = throttle.check(attacker, "user99@example.org");

        assert_eq!(
            refused,
            ThrottleDecision::Refuse {
                retry_after: secs(30)
            }
        );
        assert_eq!(
            throttle.check(ip("203.0.113.8"), "user99@example.org"),
            ThrottleDecision::Allow
        );
        assert_eq!(throttle.counters().refused.load(Ordering::Relaxed), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn a_refused_address_may_try_again_after_the_retry_time() {
        let throttle = LocalThrottle::new(ThrottleSettings::default());
        let attacker = ip("203.0.113.7");
        for n in 0..20 {
            fail(&throttle, attacker, &format!("user{n}@example.org"));
        }
        let ThrottleDecision::Refuse { retry_after } = throttle.check(attacker, "x@example.org")
        else {
            panic!("the address should be refused");
        };

        tokio::time::advance(retry_after - Duration::from_millis(1)).await;
        assert!(matches!(
            throttle.check(attacker, "x@example.org"),
            ThrottleDecision::Refuse { .. }
        ));
        tokio::time::advance(Duration::from_millis(1)).await;
        assert_eq!(
            fail(&throttle, attacker, "x@example.org"),
            ThrottleDecision::Allow
        );

        // One failure fits per interval; the next is refused again.
        assert_eq!(
            throttle.check(attacker, "y@example.org"),
            ThrottleDecision::Refuse {
                retry_after: secs(30)
            }
        );
    }

    #[tokio::test(start_paused = true)]
    async fn addresses_of_one_ipv6_slash_64_share_a_limit() {
        let throttle = LocalThrottle::new(ThrottleSettings::default());

        for n in 0..20u16 {
            let client = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 1, 2, n, n, n, n));
            fail(&throttle, client, &format!("user{n}@example.org"));
        }

        assert!(matches!(
            throttle.check(ip("2001:db8:1:2::99"), BOB),
            ThrottleDecision::Refuse { .. }
        ));
        assert_eq!(
            throttle.check(ip("2001:db8:1:3::99"), BOB),
            ThrottleDecision::Allow
        );
    }

    #[tokio::test(start_paused = true)]
    async fn ipv4_written_as_ipv6_counts_as_the_same_client() {
        let throttle = LocalThrottle::new(ThrottleSettings::default());

        for n in 0..20 {
            fail(
                &throttle,
                ip("::ffff:203.0.113.7"),
                &format!("user{n}@example.org"),
            );
        }

        assert!(matches!(
            throttle.check(ip("203.0.113.7"), BOB),
            ThrottleDecision::Refuse { .. }
        ));
    }

    #[tokio::test(start_paused = true)]
    async fn memory_holds_only_recent_failures() {
        let throttle = LocalThrottle::new(ThrottleSettings::default());
        for n in 0..1000u32 {
            let client = IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + n));
            throttle.record_failure(client, &format!("user{n}@example.org"));
        }
        assert!(throttle.tracked_keys() >= 2000);

        tokio::time::advance(secs(120)).await;
        throttle.prune();

        assert_eq!(throttle.tracked_keys(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn pruning_runs_by_itself_as_failures_come_in() {
        let throttle = LocalThrottle::new(ThrottleSettings::default());

        for n in 0..2000u32 {
            let client = IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + n));
            throttle.record_failure(client, "nobody@example.org");
            // A new address every 100 ms, each kept for two 30 s intervals:
            // about 600 are live at any time, plus those since the last prune.
            tokio::time::advance(Duration::from_millis(100)).await;
        }

        assert!(throttle.tracked_keys() <= 600 + PRUNE_EVERY as usize + 3);
    }

    #[test]
    fn client_address_is_the_peer_unless_the_peer_is_a_trusted_proxy() {
        let proxy = ip("10.0.0.1");

        assert_eq!(
            client_address(ip("203.0.113.7"), Some("1.2.3.4"), &[proxy]),
            ip("203.0.113.7")
        );
        assert_eq!(
            client_address(ip("203.0.113.7"), Some("1.2.3.4"), &[]),
            ip("203.0.113.7")
        );
        assert_eq!(client_address(proxy, None, &[proxy]), proxy);
        assert_eq!(client_address(proxy, Some(""), &[proxy]), proxy);
    }

    #[test]
    fn client_address_behind_a_trusted_proxy_is_the_last_hop() {
        let proxy = ip("10.0.0.1");

        let client = client_address(proxy, Some("198.51.100.9, 203.0.113.7"), &[proxy]);

        assert_eq!(client, ip("203.0.113.7"));
    }

    #[test]
    fn client_address_skips_a_chain_of_trusted_proxies() {
        let proxies = [ip("10.0.0.1"), ip("10.0.0.2")];

        let client = client_address(proxies[0], Some("6.6.6.6, 203.0.113.7,10.0.0.2"), &proxies);

        assert_eq!(client, ip("203.0.113.7"));
    }

    #[test]
    fn client_address_stops_at_a_hop_it_cannot_read() {
        let proxy = ip("10.0.0.1");

        assert_eq!(
            client_address(proxy, Some("203.0.113.7, unknown"), &[proxy]),
            proxy
        );
        assert_eq!(client_address(proxy, Some("garbage,,"), &[proxy]), proxy);
    }

    #[test]
    fn client_address_accepts_ports_brackets_and_mapped_ipv4() {
        let proxy = ip("::1");

        for (header, expected) in [
            ("192.0.2.1:4711", "192.0.2.1"),
            ("[2001:db8::1]:443", "2001:db8::1"),
            ("[2001:db8::1]", "2001:db8::1"),
            ("::ffff:192.0.2.1", "192.0.2.1"),
        ] {
            assert_eq!(
                client_address(proxy, Some(header), &[proxy]),
                ip(expected),
                "{header}"
            );
        }
        assert_eq!(
            client_address(ip("::ffff:10.0.0.1"), Some("192.0.2.1"), &[ip("10.0.0.1")]),
            ip("192.0.2.1")
        );
    }

    #[test]
    fn shared_names_group_an_ipv6_64_and_hide_the_account() {
        let v4 = NetworkKey::of(ip("::ffff:192.0.2.1")).name();
        let v6 = NetworkKey::of(ip("2001:db8:1:2::7")).name();
        let same_64 = NetworkKey::of(ip("2001:db8:1:2:ffff::1")).name();

        assert_eq!(v4, "v4-c0000201");
        assert_eq!(v6, "v6-20010db800010002");
        assert_eq!(v6, same_64);
        let account = AccountKey::of(" Alice@Example.org ").name();
        assert_eq!(account, AccountKey::of(ALICE).name());
        assert_eq!(account.len(), 64);
        assert!(!account.contains("alice"));
    }
}
