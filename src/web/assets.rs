//! Fixed resources: the stylesheet, the keyboard shortcuts script, the
//! compose page's script, the metrics page and the page for addresses that
//! lead nowhere.

use std::sync::atomic::Ordering;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};

use super::{AppError, AppState};

const STYLESHEET: &str = include_str!("../../static/style.css");
const SHORTCUTS_SCRIPT: &str = include_str!("../../static/shortcuts.js");

/// Draft autosave for the compose page.
const COMPOSE_SCRIPT: &str = include_str!("../../static/compose.js");

pub async fn stylesheet() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        STYLESHEET,
    )
        .into_response()
}

/// The keyboard shortcuts. Every page works without it.
pub async fn shortcuts_script() -> Response {
    script(SHORTCUTS_SCRIPT)
}

/// The compose page's draft autosave. The page works without it.
pub async fn compose_script() -> Response {
    script(COMPOSE_SCRIPT)
}

fn script(text: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        text,
    )
        .into_response()
}

/// No icon: an empty answer the browser caches, instead of a "not found"
/// page on every visit.
pub async fn no_icon() -> Response {
    (
        StatusCode::NO_CONTENT,
        [(header::CACHE_CONTROL, "public, max-age=86400")],
    )
        .into_response()
}

/// Counters in the Prometheus text format. Bound to the same listener as the
/// pages; restrict it at the proxy when the node is reachable from outside.
pub async fn metrics(State(state): State<AppState>) -> Response {
    let waited = state.locks.counters().waited.load(Ordering::Relaxed);
    state
        .metrics
        .session_lock_waits
        .store(waited, Ordering::Relaxed);
    state
        .metrics
        .cache_bytes
        .store(state.mail.cache_bytes(), Ordering::Relaxed);
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        state.metrics.render(),
    )
        .into_response()
}

pub async fn not_found() -> AppError {
    AppError::NotFound
}
