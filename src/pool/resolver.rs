//! The IMAP server's address, looked up once and kept for a while.
//!
//! A page view must not pay for a DNS lookup. The addresses are reused until
//! their time to live runs out or a connect to them fails, whichever comes
//! first. This module resolves names; it never connects.

use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Cached addresses of one host and port.
#[derive(Debug)]
pub struct Resolver {
    host: String,
    port: u16,
    ttl: Duration,
    /// The last answer and when it was fetched. A std mutex: it guards a
    /// copy-out of a small vector and is never held across `.await`.
    cached: Mutex<Option<(Vec<SocketAddr>, Instant)>>,
}

/// The name could not be turned into an address.
#[derive(Debug, thiserror::Error)]
#[error("cannot resolve {host}; check the IMAP server name and this node's DNS")]
pub struct ResolveFailed {
    pub host: String,
    #[source]
    pub source: std::io::Error,
}

impl Resolver {
    pub fn new(host: &str, port: u16, ttl: Duration) -> Resolver {
        Resolver {
            host: host.to_owned(),
            port,
            ttl,
            cached: Mutex::new(None),
        }
    }

    /// The server's addresses, from the cache while it is fresh.
    pub async fn addresses(&self) -> Result<Vec<SocketAddr>, ResolveFailed> {
        if let Some((addrs, fetched)) = &*self.cached.lock().expect("resolver lock poisoned") {
            if fetched.elapsed() < self.ttl {
                return Ok(addrs.clone());
            }
        }

        let fail = |source| ResolveFailed {
            host: self.host.clone(),
            source,
        };
        let found: Vec<SocketAddr> = tokio::net::lookup_host((self.host.as_str(), self.port))
            .await
            .map_err(fail)?
            .collect();
        if found.is_empty() {
            return Err(fail(std::io::Error::new(
                std::io::ErrorKind::NotFound,
                "no addresses",
            )));
        }

        tracing::debug!(host = %self.host, count = found.len(), "imap server resolved");
        *self.cached.lock().expect("resolver lock poisoned") =
            Some((found.clone(), Instant::now()));
        Ok(found)
    }

    /// Forgets the cached answer, so the next connect looks the name up again.
    pub fn forget(&self) {
        *self.cached.lock().expect("resolver lock poisoned") = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_literal_address_resolves_without_dns() {
        let resolver = Resolver::new("127.0.0.1", 993, Duration::from_secs(60));
        let addrs = resolver.addresses().await.unwrap();
        assert_eq!(addrs, vec![SocketAddr::from(([127, 0, 0, 1], 993))]);
    }

    #[tokio::test]
    async fn a_forgotten_answer_is_fetched_again() {
        let resolver = Resolver::new("127.0.0.1", 143, Duration::from_secs(60));
        resolver.addresses().await.unwrap();
        assert!(resolver.cached.lock().unwrap().is_some());
        resolver.forget();
        assert!(resolver.cached.lock().unwrap().is_none());
    }
}
