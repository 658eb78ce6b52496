//! Putting the node together: settings in, a listening web server out.
//!
//! [`start`] builds every shared part (pool, session store, locks,
//! throttle), binds the listener and serves until the returned handle is
//! shut down. Tests use it to run a real node on `127.0.0.1:0`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::cache::MailCache;
use crate::config::Settings;
use crate::mail::MailService;
use crate::metrics::Metrics;
use crate::pool::ImapPool;
use crate::session::{
    EmbeddedStore, LocalLocks, LockSettings, LoginThrottle, SessionStore, ThrottleSettings,
};
use crate::web::{app, serve, AppShared, AppState};

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
pub fn build_state(settings: Settings) -> anyhow::Result<AppState> {
    build_parts(settings).map(|(state, _)| state)
}

fn build_parts(settings: Settings) -> anyhow::Result<(AppState, Arc<EmbeddedStore>)> {
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

    let submitter = crate::outgoing::Submitter::new(
        settings.smtp_server.clone(),
        settings.smtp_ca_file.as_deref(),
    )
    .context("cannot set up sending")?;

    std::fs::create_dir_all(&settings.data_dir)
        .with_context(|| format!("cannot create the data folder {:?}", settings.data_dir))?;
    let store_path = settings.data_dir.join("sessions.redb");
    let embedded = Arc::new(
        EmbeddedStore::open(&store_path)
            .with_context(|| format!("cannot open the session store {store_path:?}"))?,
    );
    let sessions: Arc<dyn SessionStore> = embedded.clone();
    let locks = Arc::new(LocalLocks::new(LockSettings {
        max_waiters: settings.session_queue,
        max_wait: settings.session_wait,
    }));

    let mut login_form_key = [0u8; 32];
    getrandom::getrandom(&mut login_form_key)
        .map_err(|e| anyhow::anyhow!("no OS randomness: {e}"))?;
    let state = AppState::new(AppShared {
        throttle: LoginThrottle::new(ThrottleSettings::default()),
        settings,
        mail,
        submitter,
        sessions,
        locks: locks.clone(),
        local_locks: Some(locks),
        metrics,
        login_form_key,
    });
    Ok((state, embedded))
}

/// Binds the listener and starts serving in the background.
pub async fn start(settings: Settings) -> anyhow::Result<RunningServer> {
    let listen = settings.listen;
    let (state, embedded) = build_parts(settings)?;
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot listen on {listen}"))?;
    let address = listener.local_addr().context("listener has no address")?;

    let (shutdown, shutdown_signal) = oneshot::channel::<()>();
    let router = app(state.clone());
    let task = tokio::spawn(serve(listener, router, async move {
        let _ = shutdown_signal.await;
    }));

    let reaper = state.mail.pool().spawn_reaper();
    let purger = tokio::spawn(async move {
        let mut ticks = tokio::time::interval(Duration::from_secs(300));
        loop {
            ticks.tick().await;
            purge_expired(&embedded).await;
        }
    });
    tracing::info!(%address, "listening");
    Ok(RunningServer {
        address,
        state,
        shutdown: Some(shutdown),
        task,
        background: vec![reaper, purger],
    })
}

async fn purge_expired(store: &EmbeddedStore) {
    match store.purge_expired().await {
        Ok(0) => {}
        Ok(count) => tracing::info!(count, "expired sessions removed"),
        Err(error) => tracing::warn!(%error, "expired sessions could not be removed"),
    }
}
