//! Settings: what `mailfront serve` is told by flags, the environment and an
//! optional TOML file, merged in that order of precedence (a flag beats the
//! environment, the environment beats the file, the file beats the default).
//!
//! This module only reads and checks settings; it opens no sockets and no
//! files other than the TOML file. Everything downstream receives a resolved
//! [`Settings`] in which every value is present and valid.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::FixedOffset;
use clap::Args;
use serde::Deserialize;

/// One layer of settings. The same struct is filled from the command line
/// (with `MAILFRONT_*` environment variables as clap's fallback) and from
/// the TOML file; [`SettingsLayer::over`] stacks two layers.
#[derive(Args, Deserialize, Default, Debug, Clone)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct SettingsLayer {
    /// Address and port the web server listens on [default: 127.0.0.1:8080]
    #[arg(long, env = "MAILFRONT_LISTEN")]
    pub listen: Option<SocketAddr>,

    /// The IMAP server: imaps://host[:port] (implicit TLS, the default scheme),
    /// imap://host[:port] (STARTTLS) or imap+insecure://host[:port] (plain
    /// text, for a server on the same machine only)
    #[arg(long, env = "MAILFRONT_IMAP_SERVER")]
    pub imap_server: Option<String>,

    /// PEM file with the certificate authority of a private IMAP server,
    /// trusted in addition to the public roots
    #[arg(long, env = "MAILFRONT_IMAP_CA_FILE")]
    pub imap_ca_file: Option<PathBuf>,

    /// The SMTP submission server mail is sent through, with the user's own
    /// sign-in: smtp://host[:port] (STARTTLS, port 587 by default),
    /// smtps://host[:port] (implicit TLS, 465) or smtp+insecure://host[:port]
    /// (plain text, for a server on the same machine only) [default: none,
    /// sending is off]
    #[arg(long, env = "MAILFRONT_SMTP_SERVER")]
    pub smtp_server: Option<String>,

    /// PEM file with the certificate authority of a private SMTP server,
    /// trusted in addition to the public roots
    #[arg(long, env = "MAILFRONT_SMTP_CA_FILE")]
    pub smtp_ca_file: Option<PathBuf>,

    /// Domain added to a sign-in name without "@" to make the sender's
    /// address [default: localhost]
    #[arg(long, env = "MAILFRONT_MAIL_DOMAIN")]
    pub mail_domain: Option<String>,

    /// Largest compose form accepted, attachments included, in bytes
    /// [default: 26214400]
    #[arg(long, env = "MAILFRONT_MAX_UPLOAD_BYTES")]
    pub max_upload_bytes: Option<usize>,

    /// Messages per page in a folder [default: 20]
    #[arg(long, env = "MAILFRONT_PAGE_SIZE")]
    pub page_size: Option<usize>,

    /// Time zone dates are shown in: UTC or an offset such as +02:00 [default: UTC]
    #[arg(long, env = "MAILFRONT_TIME_ZONE")]
    pub time_zone: Option<String>,

    /// Folder for the session store (one file) [default: ./mailfront-data]
    #[arg(long, env = "MAILFRONT_DATA_DIR")]
    pub data_dir: Option<PathBuf>,

    /// Mark the session cookie Secure (set this when users reach mailfront
    /// over https through a proxy) [default: false]
    #[arg(long, env = "MAILFRONT_SECURE_COOKIES")]
    pub secure_cookies: Option<bool>,

    /// Most IMAP connections one user may have open from this node [default: 3]
    #[arg(long, env = "MAILFRONT_POOL_PER_USER")]
    pub pool_per_user: Option<usize>,

    /// Most IMAP connections this node opens in all [default: 256]
    #[arg(long, env = "MAILFRONT_POOL_PER_NODE")]
    pub pool_per_node: Option<usize>,

    /// "pooled" keeps logged-in connections between requests; "login-per-request"
    /// logs in for every request and exists only to measure the difference
    /// [default: pooled]
    #[arg(long, env = "MAILFRONT_POOL_MODE")]
    pub pool_mode: Option<String>,

    /// Seconds a pooled connection may sit idle before it is checked with NOOP
    /// on its next use [default: 5]
    #[arg(long, env = "MAILFRONT_POOL_CHECK_AFTER")]
    pub pool_check_after: Option<u64>,

    /// Seconds a pooled connection may sit idle before it is logged out [default: 300]
    #[arg(long, env = "MAILFRONT_POOL_IDLE_CLOSE")]
    pub pool_idle_close: Option<u64>,

    /// Seconds a request waits for a connection of its user's pool [default: 10]
    #[arg(long, env = "MAILFRONT_POOL_BORROW_WAIT")]
    pub pool_borrow_wait: Option<u64>,

    /// Seconds a resolved IMAP server address is reused before it is looked up again [default: 60]
    #[arg(long, env = "MAILFRONT_DNS_TTL")]
    pub dns_ttl: Option<u64>,

    /// Milliseconds allowed for the TCP connect to the IMAP server [default: 5000]
    #[arg(long, env = "MAILFRONT_IMAP_CONNECT_TIMEOUT_MS")]
    pub imap_connect_timeout_ms: Option<u64>,

    /// Milliseconds allowed for the greeting and TLS handshake [default: 5000]
    #[arg(long, env = "MAILFRONT_IMAP_GREETING_TIMEOUT_MS")]
    pub imap_greeting_timeout_ms: Option<u64>,

    /// Milliseconds allowed for LOGIN; keep it above the server's delay after
    /// failed logins (Dovecot's reaches 15 s) [default: 20000]
    #[arg(long, env = "MAILFRONT_IMAP_LOGIN_TIMEOUT_MS")]
    pub imap_login_timeout_ms: Option<u64>,

    /// Milliseconds allowed for any other IMAP command [default: 10000]
    #[arg(long, env = "MAILFRONT_IMAP_COMMAND_TIMEOUT_MS")]
    pub imap_command_timeout_ms: Option<u64>,

    /// Memory for cached IMAP results on this node, in MiB [default: 256]
    #[arg(long, env = "MAILFRONT_CACHE_MIB")]
    pub cache_mib: Option<u64>,

    /// Seconds a folder list (with its counts) is reused before it is fetched
    /// again; the counts of the folder being viewed are always current [default: 30]
    #[arg(long, env = "MAILFRONT_FOLDER_LIST_TTL")]
    pub folder_list_ttl: Option<u64>,

    /// Largest message, in bytes, that is fetched to be shown [default: 33554432]
    #[arg(long, env = "MAILFRONT_MAX_MESSAGE_BYTES")]
    pub max_message_bytes: Option<usize>,

    /// Minutes without a request after which a session ends [default: 30]
    #[arg(long, env = "MAILFRONT_SESSION_IDLE_MINUTES")]
    pub session_idle_minutes: Option<u64>,

    /// Hours after login at which a session ends whatever happens [default: 12]
    #[arg(long, env = "MAILFRONT_SESSION_MAX_HOURS")]
    pub session_max_hours: Option<u64>,

    /// Requests of one session that may wait while another of its requests
    /// runs; more get "still working" (HTTP 429) [default: 2]
    #[arg(long, env = "MAILFRONT_SESSION_QUEUE")]
    pub session_queue: Option<usize>,

    /// Seconds a request waits for its session before it gets "still working" [default: 10]
    #[arg(long, env = "MAILFRONT_SESSION_WAIT")]
    pub session_wait: Option<u64>,

    /// Addresses of reverse proxies whose X-Forwarded-For is believed
    /// (comma-separated) [default: none]
    #[arg(long, env = "MAILFRONT_TRUSTED_PROXIES", value_delimiter = ',')]
    pub trusted_proxies: Option<Vec<IpAddr>>,

    /// Where sessions, session locks and login counts live: "embedded" (a
    /// file in the data folder, one node only) or "redis" (shared by every
    /// node that uses the same Redis) [default: embedded]
    #[arg(long, env = "MAILFRONT_SESSION_STORE")]
    #[serde(alias = "session_store")]
    pub session_store: Option<String>,

    /// The Redis or Valkey server when session-store is redis:
    /// redis://[user:password@]host:port/db, or rediss://... for TLS. Prefer
    /// the environment variable: a password in a flag shows in the process list
    #[arg(long, env = "MAILFRONT_REDIS_URL", hide_env_values = true)]
    #[serde(alias = "redis_url")]
    pub redis_url: Option<String>,

    /// Milliseconds allowed for connecting to Redis and for each of its
    /// answers; past it the request gets "temporarily unavailable"
    /// [default: 2000]
    #[arg(long, env = "MAILFRONT_REDIS_TIMEOUT_MS")]
    #[serde(alias = "redis_timeout_ms")]
    pub redis_timeout_ms: Option<u64>,

    /// Prefix of every key mailfront writes in Redis, so that several
    /// installations can share one server [default: mailfront:]
    #[arg(long, env = "MAILFRONT_REDIS_KEY_PREFIX")]
    #[serde(alias = "redis_key_prefix")]
    pub redis_key_prefix: Option<String>,
}

impl SettingsLayer {
    /// Stacks `self` over `lower`: each value of `self` wins where present.
    pub fn over(self, lower: SettingsLayer) -> SettingsLayer {
        SettingsLayer {
            listen: self.listen.or(lower.listen),
            imap_server: self.imap_server.or(lower.imap_server),
            imap_ca_file: self.imap_ca_file.or(lower.imap_ca_file),
            smtp_server: self.smtp_server.or(lower.smtp_server),
            smtp_ca_file: self.smtp_ca_file.or(lower.smtp_ca_file),
            mail_domain: self.mail_domain.or(lower.mail_domain),
            max_upload_bytes: self.max_upload_bytes.or(lower.max_upload_bytes),
            page_size: self.page_size.or(lower.page_size),
            time_zone: self.time_zone.or(lower.time_zone),
            data_dir: self.data_dir.or(lower.data_dir),
            secure_cookies: self.secure_cookies.or(lower.secure_cookies),
            pool_per_user: self.pool_per_user.or(lower.pool_per_user),
            pool_per_node: self.pool_per_node.or(lower.pool_per_node),
            pool_mode: self.pool_mode.or(lower.pool_mode),
            pool_check_after: self.pool_check_after.or(lower.pool_check_after),
            pool_idle_close: self.pool_idle_close.or(lower.pool_idle_close),
            pool_borrow_wait: self.pool_borrow_wait.or(lower.pool_borrow_wait),
            dns_ttl: self.dns_ttl.or(lower.dns_ttl),
            imap_connect_timeout_ms: self
                .imap_connect_timeout_ms
                .or(lower.imap_connect_timeout_ms),
            imap_greeting_timeout_ms: self
                .imap_greeting_timeout_ms
                .or(lower.imap_greeting_timeout_ms),
            imap_login_timeout_ms: self.imap_login_timeout_ms.or(lower.imap_login_timeout_ms),
            imap_command_timeout_ms: self
                .imap_command_timeout_ms
                .or(lower.imap_command_timeout_ms),
            cache_mib: self.cache_mib.or(lower.cache_mib),
            folder_list_ttl: self.folder_list_ttl.or(lower.folder_list_ttl),
            max_message_bytes: self.max_message_bytes.or(lower.max_message_bytes),
            session_idle_minutes: self.session_idle_minutes.or(lower.session_idle_minutes),
            session_max_hours: self.session_max_hours.or(lower.session_max_hours),
            session_queue: self.session_queue.or(lower.session_queue),
            session_wait: self.session_wait.or(lower.session_wait),
            trusted_proxies: self.trusted_proxies.or(lower.trusted_proxies),
            session_store: self.session_store.or(lower.session_store),
            redis_url: self.redis_url.or(lower.redis_url),
            redis_timeout_ms: self.redis_timeout_ms.or(lower.redis_timeout_ms),
            redis_key_prefix: self.redis_key_prefix.or(lower.redis_key_prefix),
        }
    }

    /// Reads a TOML file whose keys are the long flag names.
    pub fn from_toml_file(path: &Path) -> Result<SettingsLayer, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::FileUnreadable {
            path: path.to_owned(),
            source,
        })?;
        toml::from_str(&text).map_err(|source| ConfigError::FileInvalid {
            path: path.to_owned(),
            source,
        })
    }
}

/// How the web node talks to the IMAP server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PoolMode {
    /// Logged-in connections are kept and lent to requests.
    Pooled,
    /// Every request logs in and out: only for measuring what pooling saves.
    LoginPerRequest,
}

/// Transport security towards the IMAP server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    ImplicitTls,
    StartTls,
    Plain,
}

/// Where the IMAP server is and how to reach it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImapServer {
    pub host: String,
    pub port: u16,
    pub transport: Transport,
}

impl ImapServer {
    /// Reads `imaps://host[:port]`, `imap://host[:port]` or
    /// `imap+insecure://host[:port]`. A bare `host[:port]` means imaps.
    pub fn parse(text: &str) -> Result<ImapServer, ConfigError> {
        let invalid = || ConfigError::ImapServerInvalid {
            value: text.to_owned(),
        };
        let (transport, rest) = match text.split_once("://") {
            Some(("imaps", rest)) => (Transport::ImplicitTls, rest),
            Some(("imap", rest)) => (Transport::StartTls, rest),
            Some(("imap+insecure", rest)) => (Transport::Plain, rest),
            Some(_) => return Err(invalid()),
            None => (Transport::ImplicitTls, text),
        };
        let default_port = match transport {
            Transport::ImplicitTls => 993,
            Transport::StartTls | Transport::Plain => 143,
        };
        let (host, port) = host_and_port(rest, default_port).ok_or_else(invalid)?;
        Ok(ImapServer {
            host,
            port,
            transport,
        })
    }
}

/// The host and port of a server address after its scheme (`host`,
/// `host:port`, `[v6]:port`, a trailing `/` allowed); `None` when either is
/// unusable.
fn host_and_port(rest: &str, default_port: u16) -> Option<(String, u16)> {
    let (host, port) = split_host_port(rest.trim_end_matches('/'))?;
    let port = match port {
        Some(port) => port.parse().ok()?,
        None => default_port,
    };
    if host.is_empty() || host.contains(['/', '@', ' ']) {
        return None;
    }
    Some((host.to_owned(), port))
}

/// Where the SMTP submission server is and how to reach it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmtpServer {
    pub host: String,
    pub port: u16,
    pub transport: Transport,
}

impl SmtpServer {
    /// Reads `smtp://host[:port]` (STARTTLS), `smtps://host[:port]` or
    /// `smtp+insecure://host[:port]`. The scheme is required.
    pub fn parse(text: &str) -> Result<SmtpServer, ConfigError> {
        let invalid = || ConfigError::SmtpServerInvalid {
            value: text.to_owned(),
        };
        let (transport, rest) = match text.split_once("://") {
            Some(("smtps", rest)) => (Transport::ImplicitTls, rest),
            Some(("smtp", rest)) => (Transport::StartTls, rest),
            Some(("smtp+insecure", rest)) => (Transport::Plain, rest),
            _ => return Err(invalid()),
        };
        let default_port = match transport {
            Transport::ImplicitTls => 465,
            Transport::StartTls | Transport::Plain => 587,
        };
        let (host, port) = host_and_port(rest, default_port).ok_or_else(invalid)?;
        Ok(SmtpServer {
            host,
            port,
            transport,
        })
    }
}

/// Splits `host:port`, `[v6]:port`, `host` or `[v6]`.
fn split_host_port(text: &str) -> Option<(&str, Option<&str>)> {
    if let Some(bracketed) = text.strip_prefix('[') {
        let (host, after) = bracketed.split_once(']')?;
        return match after {
            "" => Some((host, None)),
            _ => Some((host, Some(after.strip_prefix(':')?))),
        };
    }
    match text.rsplit_once(':') {
        Some((host, port)) if !host.contains(':') => Some((host, Some(port))),
        Some(_) => Some((text, None)),
        None => Some((text, None)),
    }
}

/// Every setting, resolved and checked.
#[derive(Debug, Clone)]
pub struct Settings {
    pub listen: SocketAddr,
    pub imap_server: ImapServer,
    pub imap_ca_file: Option<PathBuf>,
    /// None: sending is off (drafts still work).
    pub smtp_server: Option<SmtpServer>,
    pub smtp_ca_file: Option<PathBuf>,
    pub mail_domain: String,
    pub max_upload_bytes: usize,
    pub page_size: usize,
    pub time_zone: FixedOffset,
    pub data_dir: PathBuf,
    pub secure_cookies: bool,
    pub pool: PoolSettings,
    pub imap_timeouts: mailfront_imap::Timeouts,
    pub max_message_bytes: usize,
    pub cache: crate::cache::CacheSettings,
    pub session_idle: Duration,
    pub session_max_age: Duration,
    pub session_queue: usize,
    pub session_wait: Duration,
    pub trusted_proxies: Vec<IpAddr>,
    pub session_backend: SessionBackend,
}

/// Where sessions, their locks and login counts are kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionBackend {
    /// A redb file in the data folder, locks and counts in the process.
    Embedded,
    /// A Redis (or Valkey) server shared by all nodes.
    Redis(RedisSettings),
}

/// How to reach Redis when it keeps the sessions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedisSettings {
    /// The server, possibly with a password in it.
    pub url: RedisUrl,
    /// Limit for connecting and for each answer.
    pub timeout: Duration,
    /// Put before every key mailfront writes.
    pub key_prefix: String,
}

/// A `redis://` or `rediss://` URL. Its `Debug` hides the password, so
/// settings can be logged.
#[derive(Clone, PartialEq, Eq)]
pub struct RedisUrl(String);

impl RedisUrl {
    /// Checks the scheme; the rest is read by the Redis client on start.
    pub fn parse(text: &str) -> Result<RedisUrl, ConfigError> {
        let scheme = text.split_once("://").map(|(scheme, _)| scheme);
        match scheme {
            Some("redis" | "rediss") if text.len() > scheme.map_or(0, str::len) + 3 => {
                Ok(RedisUrl(text.to_owned()))
            }
            _ => Err(ConfigError::RedisUrlInvalid {
                shown: redact_url(text),
            }),
        }
    }

    /// The URL as given, password included: only for the Redis client.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for RedisUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RedisUrl({:?})", redact_url(&self.0))
    }
}

/// `text` with everything between `://` and the last `@` replaced by `***`.
fn redact_url(text: &str) -> String {
    match (text.split_once("://"), text.rfind('@')) {
        (Some((scheme, _)), Some(at)) => format!("{scheme}://***{}", &text[at..]),
        _ => text.to_owned(),
    }
}

/// How the IMAP pool behaves.
#[derive(Debug, Clone)]
pub struct PoolSettings {
    pub mode: PoolMode,
    pub per_user: usize,
    pub per_node: usize,
    pub check_after: Duration,
    pub idle_close: Duration,
    pub borrow_wait: Duration,
    pub dns_ttl: Duration,
}

impl Settings {
    /// Fills in defaults and checks every value.
    pub fn resolve(layer: SettingsLayer) -> Result<Settings, ConfigError> {
        let imap_server = match layer.imap_server {
            Some(text) => ImapServer::parse(&text)?,
            None => return Err(ConfigError::ImapServerMissing),
        };
        let smtp_server = layer
            .smtp_server
            .as_deref()
            .map(SmtpServer::parse)
            .transpose()?;
        let mail_domain = layer.mail_domain.unwrap_or_else(|| "localhost".to_owned());
        if mail_domain.is_empty() || mail_domain.contains(['@', ' ', '<', '>']) {
            return Err(ConfigError::MailDomainInvalid { value: mail_domain });
        }
        let max_upload_bytes = layer.max_upload_bytes.unwrap_or(25 << 20);
        if max_upload_bytes < 1024 {
            return Err(ConfigError::OutOfRange {
                name: "max-upload-bytes",
                allowed: "at least 1024",
            });
        }
        let page_size = layer.page_size.unwrap_or(20);
        if !(1..=500).contains(&page_size) {
            return Err(ConfigError::OutOfRange {
                name: "page-size",
                allowed: "1 to 500",
            });
        }
        let per_user = layer.pool_per_user.unwrap_or(3);
        let per_node = layer.pool_per_node.unwrap_or(256);
        if per_user == 0 || per_node == 0 {
            return Err(ConfigError::OutOfRange {
                name: "pool-per-user and pool-per-node",
                allowed: "at least 1",
            });
        }
        let mode = match layer.pool_mode.as_deref() {
            None | Some("pooled") => PoolMode::Pooled,
            Some("login-per-request") => PoolMode::LoginPerRequest,
            Some(other) => {
                return Err(ConfigError::PoolModeInvalid {
                    value: other.to_owned(),
                })
            }
        };
        let time_zone = parse_time_zone(layer.time_zone.as_deref().unwrap_or("UTC"))?;
        let session_backend = session_backend(
            layer.session_store.as_deref(),
            layer.redis_url.as_deref(),
            layer.redis_timeout_ms,
            layer.redis_key_prefix,
        )?;
        let millis =
            |value: Option<u64>, default: u64| Duration::from_millis(value.unwrap_or(default));

        Ok(Settings {
            listen: layer
                .listen
                .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 8080))),
            imap_server,
            imap_ca_file: layer.imap_ca_file,
            smtp_server,
            smtp_ca_file: layer.smtp_ca_file,
            mail_domain,
            max_upload_bytes,
            page_size,
            time_zone,
            data_dir: layer
                .data_dir
                .unwrap_or_else(|| PathBuf::from("mailfront-data")),
            secure_cookies: layer.secure_cookies.unwrap_or(false),
            pool: PoolSettings {
                mode,
                per_user,
                per_node,
                check_after: Duration::from_secs(layer.pool_check_after.unwrap_or(5)),
                idle_close: Duration::from_secs(layer.pool_idle_close.unwrap_or(300)),
                borrow_wait: Duration::from_secs(layer.pool_borrow_wait.unwrap_or(10)),
                dns_ttl: Duration::from_secs(layer.dns_ttl.unwrap_or(60)),
            },
            imap_timeouts: mailfront_imap::Timeouts {
                connect: millis(layer.imap_connect_timeout_ms, 5_000),
                greeting: millis(layer.imap_greeting_timeout_ms, 5_000),
                login: millis(layer.imap_login_timeout_ms, 20_000),
                command: millis(layer.imap_command_timeout_ms, 10_000),
            },
            max_message_bytes: layer.max_message_bytes.unwrap_or(32 << 20),
            cache: crate::cache::CacheSettings {
                capacity_bytes: layer.cache_mib.unwrap_or(256).max(8) << 20,
                folder_list_ttl: Duration::from_secs(layer.folder_list_ttl.unwrap_or(30)),
            },
            session_idle: Duration::from_secs(60 * layer.session_idle_minutes.unwrap_or(30)),
            session_max_age: Duration::from_secs(3600 * layer.session_max_hours.unwrap_or(12)),
            session_queue: layer.session_queue.unwrap_or(2),
            session_wait: Duration::from_secs(layer.session_wait.unwrap_or(10)),
            trusted_proxies: layer.trusted_proxies.unwrap_or_default(),
            session_backend,
        })
    }
}

/// Reads `session-store` and, for Redis, the settings it needs.
fn session_backend(
    store: Option<&str>,
    url: Option<&str>,
    timeout_ms: Option<u64>,
    key_prefix: Option<String>,
) -> Result<SessionBackend, ConfigError> {
    match store {
        None | Some("embedded") => Ok(SessionBackend::Embedded),
        Some("redis") => {
            let url = RedisUrl::parse(url.ok_or(ConfigError::RedisUrlMissing)?)?;
            let timeout_ms = timeout_ms.unwrap_or(2_000);
            if timeout_ms == 0 {
                return Err(ConfigError::OutOfRange {
                    name: "redis-timeout-ms",
                    allowed: "at least 1",
                });
            }
            Ok(SessionBackend::Redis(RedisSettings {
                url,
                timeout: Duration::from_millis(timeout_ms),
                key_prefix: key_prefix.unwrap_or_else(|| "mailfront:".to_owned()),
            }))
        }
        Some(other) => Err(ConfigError::SessionStoreInvalid {
            value: other.to_owned(),
        }),
    }
}

/// Reads `UTC`, `Z` or an offset such as `+02:00`, `-0530`.
pub fn parse_time_zone(text: &str) -> Result<FixedOffset, ConfigError> {
    let invalid = || ConfigError::TimeZoneInvalid {
        value: text.to_owned(),
    };
    let trimmed = text.trim();
    if trimmed.eq_ignore_ascii_case("utc") || trimmed.eq_ignore_ascii_case("z") {
        return Ok(FixedOffset::east_opt(0).expect("zero offset is valid"));
    }
    let trimmed = trimmed
        .strip_prefix("UTC")
        .or_else(|| trimmed.strip_prefix("utc"))
        .unwrap_or(trimmed);
    let (sign, digits) = match trimmed.chars().next() {
        Some('+') => (1, &trimmed[1..]),
        Some('-') => (-1, &trimmed[1..]),
        _ => return Err(invalid()),
    };
    let digits: String = digits.chars().filter(|c| *c != ':').collect();
    if digits.len() != 4 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid());
    }
    let hours: i32 = digits[..2].parse().map_err(|_| invalid())?;
    let minutes: i32 = digits[2..].parse().map_err(|_| invalid())?;
    if hours > 14 || minutes > 59 {
        return Err(invalid());
    }
    FixedOffset::east_opt(sign * (hours * 3600 + minutes * 60)).ok_or_else(invalid)
}

/// A setting that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("no IMAP server configured; pass --imap-server imaps://host:port")]
    ImapServerMissing,
    #[error("IMAP server {value:?} not understood; use imaps://host:port, imap://host:port (STARTTLS) or imap+insecure://host:port")]
    ImapServerInvalid { value: String },
    #[error(
        "SMTP server {value:?} not understood; \
         use smtps://host:port, smtp://host:port (STARTTLS) or smtp+insecure://host:port"
    )]
    SmtpServerInvalid { value: String },
    #[error("mail domain {value:?} is not a domain; give one such as example.org")]
    MailDomainInvalid { value: String },
    #[error("time zone {value:?} not understood; use UTC or an offset such as +02:00")]
    TimeZoneInvalid { value: String },
    #[error("pool mode {value:?} not understood; use pooled or login-per-request")]
    PoolModeInvalid { value: String },
    #[error("session store {value:?} not understood; use embedded or redis")]
    SessionStoreInvalid { value: String },
    #[error(
        "session-store is redis but no Redis is named; set MAILFRONT_REDIS_URL=redis://host:port/0"
    )]
    RedisUrlMissing,
    #[error(
        "Redis URL {shown:?} not understood; use redis://[user:password@]host:port/db or \
         rediss://..."
    )]
    RedisUrlInvalid { shown: String },
    #[error("{name} out of range; allowed is {allowed}")]
    OutOfRange {
        name: &'static str,
        allowed: &'static str,
    },
    #[error("cannot read settings file {path:?}; check the path and its permissions")]
    FileUnreadable {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("settings file {path:?} is not valid; {source}")]
    FileInvalid {
        path: PathBuf,
        source: toml::de::Error,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn imap_server_urls_name_their_transport() {
        let tls = ImapServer::parse("imaps://mail.example.org").unwrap();
        assert_eq!((tls.port, tls.transport), (993, Transport::ImplicitTls));

        let starttls = ImapServer::parse("imap://mail.example.org:1143").unwrap();
        assert_eq!(
            (starttls.port, starttls.transport),
            (1143, Transport::StartTls)
        );

        let plain = ImapServer::parse("imap+insecure://127.0.0.1:10143").unwrap();
        assert_eq!(plain.host, "127.0.0.1");
        assert_eq!(plain.transport, Transport::Plain);

        let v6 = ImapServer::parse("imaps://[::1]:9993").unwrap();
        assert_eq!((v6.host.as_str(), v6.port), ("::1", 9993));
    }

    #[test]
    fn plain_imap_is_never_chosen_by_accident() {
        assert!(ImapServer::parse("imap+plain://host").is_err());
        assert!(ImapServer::parse("http://host").is_err());
        let bare = ImapServer::parse("mail.example.org").unwrap();
        assert_eq!(bare.transport, Transport::ImplicitTls);
    }

    #[test]
    fn smtp_server_urls_name_their_transport() {
        let starttls = SmtpServer::parse("smtp://mail.example.org").unwrap();
        assert_eq!(
            (starttls.port, starttls.transport),
            (587, Transport::StartTls)
        );

        let tls = SmtpServer::parse("smtps://mail.example.org").unwrap();
        assert_eq!((tls.port, tls.transport), (465, Transport::ImplicitTls));

        let plain = SmtpServer::parse("smtp+insecure://127.0.0.1:2525").unwrap();
        assert_eq!(
            (plain.host.as_str(), plain.port, plain.transport),
            ("127.0.0.1", 2525, Transport::Plain)
        );

        assert!(SmtpServer::parse("mail.example.org").is_err());
        assert!(SmtpServer::parse("smtp+plain://host").is_err());
    }

    #[test]
    fn time_zones_read_as_offsets() {
        assert_eq!(parse_time_zone("UTC").unwrap().local_minus_utc(), 0);
        assert_eq!(parse_time_zone("+02:00").unwrap().local_minus_utc(), 7200);
        assert_eq!(parse_time_zone("-0530").unwrap().local_minus_utc(), -19800);
        assert!(parse_time_zone("Europe/Berlin").is_err());
        assert!(parse_time_zone("+25:00").is_err());
    }

    #[test]
    fn flags_beat_the_file_and_the_file_beats_defaults() {
        let file: SettingsLayer =
            toml::from_str("imap-server = \"imaps://file.example\"\npage-size = 50\n").unwrap();
        let flags = SettingsLayer {
            page_size: Some(10),
            ..SettingsLayer::default()
        };
        let settings = Settings::resolve(flags.over(file)).unwrap();
        assert_eq!(settings.page_size, 10);
        assert_eq!(settings.imap_server.host, "file.example");
        assert_eq!(settings.pool.per_user, 3);
    }

    #[test]
    fn the_embedded_session_store_is_the_default() {
        let layer = SettingsLayer {
            imap_server: Some("imaps://mail.example".into()),
            ..SettingsLayer::default()
        };

        let settings = Settings::resolve(layer).unwrap();

        assert_eq!(settings.session_backend, SessionBackend::Embedded);
    }

    #[test]
    fn redis_settings_come_from_the_file_in_either_spelling() {
        let file: SettingsLayer = toml::from_str(
            "imap-server = \"imaps://mail.example\"\nsession_store = \"redis\"\n\
             redis-url = \"redis://u:secret@127.0.0.1:6390/2\"\nredis_timeout_ms = 500\n",
        )
        .unwrap();

        let settings = Settings::resolve(file).unwrap();

        let SessionBackend::Redis(redis) = settings.session_backend else {
            panic!("redis was asked for");
        };
        assert_eq!(redis.url.expose(), "redis://u:secret@127.0.0.1:6390/2");
        assert_eq!(redis.timeout, Duration::from_millis(500));
        assert_eq!(redis.key_prefix, "mailfront:");
        assert!(!format!("{:?}", redis.url).contains("secret"));
    }

    #[test]
    fn a_redis_store_without_a_usable_url_is_refused() {
        let base = || SettingsLayer {
            imap_server: Some("imaps://mail.example".into()),
            session_store: Some("redis".into()),
            ..SettingsLayer::default()
        };
        let wrong_scheme = SettingsLayer {
            redis_url: Some("http://:hunter2@cache:6379".into()),
            ..base()
        };
        let unknown_store = SettingsLayer {
            session_store: Some("memcached".into()),
            ..base()
        };

        assert!(matches!(
            Settings::resolve(base()),
            Err(ConfigError::RedisUrlMissing)
        ));
        let refused = Settings::resolve(wrong_scheme).unwrap_err().to_string();
        assert!(refused.contains("not understood") && !refused.contains("hunter2"));
        assert!(matches!(
            Settings::resolve(unknown_store),
            Err(ConfigError::SessionStoreInvalid { .. })
        ));
    }

    #[test]
    fn unknown_file_keys_are_refused() {
        assert!(toml::from_str::<SettingsLayer>("page_sise = 3").is_err());
    }
}
