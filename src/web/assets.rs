//! Fixed resources: the stylesheet, the metrics page and the page for
//! addresses that lead nowhere.

use std::sync::atomic::Ordering;

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};

use super::{AppError, AppState};

const STYLESHEET: &str = include_str!("../../static/style.css");

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

/// Counters in the Prometheus text format. Bound to the same listener as the
/// pages; restrict it at the proxy when the node is reachable from outside.
pub async fn metrics(State(state): State<AppState>) -> Response {
    let waited = state.locks.counters().waited.load(Ordering::Relaxed);
    state
        .metrics
        .session_lock_waits
        .store(waited, Ordering::Relaxed);
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
