//! Putting the node together: settings in, a listening web server out.
//!
//! [`start`] builds every shared part (pool, session store, locks,
//! throttle), binds the listener and serves until the returned handle is
//! shut down. Tests use it to run a real node on `127.0.0.1:0`.
//!
//! The `session-store` setting picks where sessions, locks and login counts
//! live: the embedded store (a redb file in the data folder, locks and
//! counts in this process), or Redis, shared by every node, in which case
//! the node keeps nothing in its data folder.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::cache::MailCache;
use crate::config::{RedisSettings, SessionBackend, Settings};
use crate::mail::MailService;
use crate::metrics::Metrics;
use crate::pool::ImapPool;
use crate::session::redis::{
    shared_login_form_key, RedisLink, RedisLockSettings, RedisLocks, RedisStore, RedisThrottle,
};
use crate::session::{
    EmbeddedStore, LocalLocks, LocalThrottle, LockSettings, LoginThrottle, SessionLocks,
    SessionStore, ThrottleSettings,
};
use crate::web::{app, AppShared, AppState};

/// A node that is serving.
pub struct RunningServer {
    pub address: SocketAddr,
    pub state: AppState,
    shutdown: Option<oneshot::Sender<()>>,
    task: JoinHandle<std::io::Result<()>>,
    background: Vec<JoinHandle<()>>,
}

impl RunningServer {
    /// Stops accepting, lets running requests finish, and waits for the end.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        for task in &self.background {
            task.abort();
        }
        let result = (&mut self.task).await.context("server task panicked")?;
        self.state.mail.pool().shutdown().await;
        result.context("server failed")
    }

    /// Waits until the server ends by itself (for the binary).
    pub async fn wait(mut self) -> anyhow::Result<()> {
        let result = (&mut self.task).await.context("server task panicked")?;
        self.state.mail.pool().shutdown().await;
        result.context("server failed")
    }

    /// Asks the server to stop (for a signal handler).
    pub fn trigger_shutdown(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
    }
}

/// Builds the node's shared state from settings.
pub async fn build_state(settings: Settings) -> anyhow::Result<AppState> {
    build_parts(settings).await.map(|(state, _)| state)
}

/// Where sessions, locks and login counts live on this node.
struct SessionParts {
    sessions: Arc<dyn SessionStore>,
    locks: Arc<dyn SessionLocks>,
    /// The locks again when they are this process's own, for their counters.
    local_locks: Option<Arc<LocalLocks>>,
    throttle: LoginThrottle,
    login_form_key: [u8; 32],
    /// The embedded store, which needs purging now and then; Redis expires
    /// entries itself.
    embedded: Option<Arc<EmbeddedStore>>,
}

async fn build_parts(settings: Settings) -> anyhow::Result<(AppState, Option<Arc<EmbeddedStore>>)> {
    let metrics = Arc::new(Metrics::default());
    let tls = mailfront_imap::tls_client_config(settings.imap_ca_file.as_deref())
        .context("cannot set up TLS towards the IMAP server")?;
    let pool = ImapPool::new(
        settings.imap_server.clone(),
        tls,
        settings.imap_timeouts,
        settings.pool.clone(),
        metrics.clone(),
    );
    let cache = MailCache::new(settings.cache);
    let mail = MailService::new(
        pool,
        cache,
        metrics.clone(),
        settings.page_size,
        settings.max_message_bytes,
    );

    let lock_settings = LockSettings {
        max_waiters: settings.session_queue,
        max_wait: settings.session_wait,
    };
    let parts = match &settings.session_backend {
        SessionBackend::Embedded => embedded_parts(&settings, lock_settings)?,
        SessionBackend::Redis(redis) => redis_parts(redis, lock_settings).await?,
    };

    let state = AppState::new(AppShared {
        throttle: parts.throttle,
        settings,
        mail,
        sessions: parts.sessions,
        locks: parts.locks,
        local_locks: parts.local_locks,
        metrics,
        login_form_key: parts.login_form_key,
    });
    Ok((state, parts.embedded))
}

/// The single-node parts: a redb file in the data folder, locks, counts and
/// the login form key in this process.
fn embedded_parts(settings: &Settings, locks: LockSettings) -> anyhow::Result<SessionParts> {
    std::fs::create_dir_all(&settings.data_dir)
        .with_context(|| format!("cannot create the data folder {:?}", settings.data_dir))?;
    let store_path = settings.data_dir.join("sessions.redb");
    let embedded = Arc::new(
        EmbeddedStore::open(&store_path)
            .with_context(|| format!("cannot open the session store {store_path:?}"))?,
    );
    let locks = Arc::new(LocalLocks::new(locks));

    let mut login_form_key = [0u8; 32];
    getrandom::getrandom(&mut login_form_key)
        .map_err(|e| anyhow::anyhow!("no OS randomness: {e}"))?;
    Ok(SessionParts {
        sessions: embedded.clone(),
        locks: locks.clone(),
        local_locks: Some(locks),
        throttle: LoginThrottle::Local(LocalThrottle::new(ThrottleSettings::default())),
        login_form_key,
        embedded: Some(embedded),
    })
}

/// The shared parts: everything in Redis, read through one connection.
/// Fails when Redis cannot be reached at start, since the login form key
/// must come from it.
async fn redis_parts(redis: &RedisSettings, locks: LockSettings) -> anyhow::Result<SessionParts> {
    let link = RedisLink::open(redis).context("cannot set up the Redis connection")?;
    let login_form_key = shared_login_form_key(&link).await.with_context(|| {
        format!(
            "cannot read the shared login form key from Redis at {:?}",
            redis.url
        )
    })?;

    Ok(SessionParts {
        sessions: Arc::new(RedisStore::new(link.clone())),
        locks: Arc::new(RedisLocks::new(link.clone(), RedisLockSettings::new(locks))),
        local_locks: None,
        throttle: LoginThrottle::Shared(RedisThrottle::new(link, ThrottleSettings::default())),
        login_form_key,
        embedded: None,
    })
}

/// Binds the listener and starts serving in the background.
pub async fn start(settings: Settings) -> anyhow::Result<RunningServer> {
    let listen = settings.listen;
    let (state, embedded) = build_parts(settings).await?;
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot listen on {listen}"))?;
    let address = listener.local_addr().context("listener has no address")?;

    let (shutdown, shutdown_signal) = oneshot::channel::<()>();
    let router = app(state.clone()).into_make_service_with_connect_info::<SocketAddr>();
    let task = tokio::spawn(async move {
        axum::serve(listener, router)
            .with_graceful_shutdown(async move {
                let _ = shutdown_signal.await;
            })
            .await
    });

    let mut background = vec![state.mail.pool().spawn_reaper()];
    if let Some(embedded) = embedded {
        background.push(tokio::spawn(async move {
            let mut ticks = tokio::time::interval(Duration::from_secs(300));
            loop {
                ticks.tick().await;
                purge_expired(&embedded).await;
            }
        }));
    }
    tracing::info!(%address, "listening");
    Ok(RunningServer {
        address,
        state,
        shutdown: Some(shutdown),
        task,
        background,
    })
}

async fn purge_expired(store: &EmbeddedStore) {
    match store.purge_expired().await {
        Ok(0) => {}
        Ok(count) => tracing::info!(count, "expired sessions removed"),
        Err(error) => tracing::warn!(%error, "expired sessions could not be removed"),
    }
}
