//! The HTTP surface: one module per page, the router that joins them, and
//! the middleware every request passes through (request span, security
//! headers, logging of internal errors).
//!
//! Nothing here speaks IMAP or parses MIME: pages ask the mail service for
//! data and hand the message renderer raw bytes. [`app`] returns the router
//! so that tests can drive it without a socket.

mod actions;
mod assets;
mod compose;
mod compose_form;
mod error;
mod folders;
mod format;
mod help;
mod listener;
mod login;
mod mailbox;
mod message;
pub mod paths;
mod quoting;
mod search;
mod signed_in;
mod views;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request};
use axum::handler::Handler;
use axum::http::{header, HeaderValue};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use tracing::Instrument;

use crate::config::Settings;
use crate::mail::MailService;
use crate::metrics::Metrics;
use crate::session::{LoginThrottle, SessionLocks, SessionStore};
pub use error::AppError;
pub use listener::serve;
pub use signed_in::SESSION_COOKIE;

/// Everything a handler may use, shared by all requests.
#[derive(Clone)]
pub struct AppState {
    inner: Arc<AppShared>,
}

/// The parts of [`AppState`]. Each is safe to share: the session store and
/// locks synchronise themselves, the mail service through its pool.
pub struct AppShared {
    pub settings: Settings,
    pub mail: MailService,
    /// Sends what users write; holds no connection between sends.
    pub submitter: crate::outgoing::Submitter,
    pub sessions: Arc<dyn SessionStore>,
    pub locks: Arc<dyn SessionLocks>,
    /// The same locks when they are this process's own, for their counters.
    pub local_locks: Option<Arc<crate::session::LocalLocks>>,
    pub throttle: LoginThrottle,
    pub metrics: Arc<Metrics>,
    /// Key for the login form's token, random per process.
    pub login_form_key: [u8; 32],
}

impl AppState {
    pub fn new(shared: AppShared) -> AppState {
        AppState {
            inner: Arc::new(shared),
        }
    }
}

impl std::ops::Deref for AppState {
    type Target = AppShared;

    fn deref(&self) -> &AppShared {
        &self.inner
    }
}

/// The whole web application.
pub fn app(state: AppState) -> Router {
    // Files already attached travel back in the form in base64 (4/3 of
    // their size), beside up to the limit of new ones.
    let upload_limit = state.settings.max_upload_bytes;
    let compose_body_limit = upload_limit
        .saturating_add(upload_limit / 3)
        .saturating_add(1 << 20);
    let mail_routes = Router::new()
        .route("/", get(mailbox::go_to_inbox))
        .route("/mail/{mailbox}", get(mailbox::show_mailbox))
        .route(
            "/compose",
            get(compose::show_compose)
                .post(compose::submit_compose.layer(DefaultBodyLimit::max(compose_body_limit))),
        )
        .route("/mail/{mailbox}/actions", post(actions::act_on_list))
        .route(
            "/mail/{mailbox}/{uidvalidity}/{uid}",
            get(message::show_message),
        )
        .route(
            "/mail/{mailbox}/{uidvalidity}/{uid}/actions",
            post(actions::act_on_message),
        )
        .route(
            "/mail/{mailbox}/{uidvalidity}/{uid}/body",
            get(message::show_message_body),
        )
        .route(
            "/mail/{mailbox}/{uidvalidity}/{uid}/source",
            get(message::show_source),
        )
        .route(
            "/mail/{mailbox}/{uidvalidity}/{uid}/part/{part}",
            get(message::download_part),
        )
        .route(
            "/mail/{mailbox}/{uidvalidity}/{uid}/part/{part}/view",
            get(message::show_attached_message),
        )
        .route(
            "/mail/{mailbox}/{uidvalidity}/{uid}/part/{part}/body",
            get(message::show_attached_message_body),
        );

    Router::new()
        .merge(mail_routes)
        .route("/login", get(login::show_login).post(login::submit_login))
        .route("/logout", post(login::submit_logout))
        .route(
            folders::FOLDERS_PATH,
            get(folders::show_folders).post(folders::change_folder),
        )
        .route("/help", get(help::show_help))
        .route("/static/style.css", get(assets::stylesheet))
        .route("/favicon.ico", get(assets::no_icon))
        .route("/static/shortcuts.js", get(assets::shortcuts_script))
        .route("/static/compose.js", get(assets::compose_script))
        .route("/metrics", get(assets::metrics))
        .fallback(assets::not_found)
        .layer(DefaultBodyLimit::max(64 * 1024))
        .layer(middleware::from_fn(plain_rejections_as_pages))
        .layer(middleware::from_fn(control_characters_are_not_found))
        .layer(middleware::from_fn(listener::check_header_limits))
        .layer(middleware::from_fn(security_headers))
        .layer(middleware::from_fn(request_span))
        .with_state(state)
}

/// Gives each request a span with its id, method and route, and logs once
/// the internal cause of an error page, inside that span.
async fn request_span(request: Request, next: Next) -> Response {
    let request_id = error::new_request_id();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let span = tracing::info_span!(
        "request",
        request_id = %request_id,
        method = %request.method(),
        route = %route,
        session = tracing::field::Empty,
        user = tracing::field::Empty,
    );

    async move {
        let started = std::time::Instant::now();
        let mut response = next.run(request).await;
        if let Some(cause) = response.extensions().get::<error::InternalCause>() {
            tracing::error!(cause = %cause.0, status = response.status().as_u16(), "request failed");
        }
        let elapsed_ms = started.elapsed().as_secs_f64() * 1000.0;
        tracing::debug!(
            status = response.status().as_u16(),
            elapsed_ms,
            "request done"
        );
        add_server_timing(&mut response, elapsed_ms);
        response
    }
    .instrument(span)
    .await
}

/// Tells the browser (its developer tools show it) and benchmarks how long
/// the node worked on the request, from its head being read to the answer
/// being ready: `Server-Timing: app;dur=<milliseconds>`. A body that is
/// streamed afterwards is not counted.
fn add_server_timing(response: &mut Response, elapsed_ms: f64) {
    let value = format!("app;dur={elapsed_ms:.3}");
    if let Ok(value) = header::HeaderValue::from_str(&value) {
        response
            .headers_mut()
            .insert(header::HeaderName::from_static("server-timing"), value);
    }
}

/// Answers "not found" for a path whose decoded form holds a control
/// character (`%00`, `%0A`): no page has such an address, and a folder name
/// holding a NUL would reach the IMAP server, which may cut it there and
/// show another folder under a made-up name.
async fn control_characters_are_not_found(request: Request, next: Next) -> Response<Body> {
    let decoded = percent_encoding::percent_decode_str(request.uri().path());
    if decoded.into_iter().any(|byte| byte < 0x20 || byte == 0x7f) {
        return axum::response::IntoResponse::into_response(AppError::NotFound);
    }
    next.run(request).await
}

/// Turns the framework's own plain-text rejections (a form too large, a
/// body of the wrong type, a method not allowed) into mailfront's pages, so
/// that every wrong input gets a page that says what happened.
async fn plain_rejections_as_pages(request: Request, next: Next) -> Response<Body> {
    let response = next.run(request).await;
    let is_plain = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_none_or(|v| v.starts_with("text/plain"));
    if !response.status().is_client_error() || !is_plain {
        return response;
    }
    let error = match response.status() {
        axum::http::StatusCode::PAYLOAD_TOO_LARGE => {
            AppError::TooLarge("What was sent is larger than this site accepts.")
        }
        axum::http::StatusCode::NOT_FOUND => AppError::NotFound,
        axum::http::StatusCode::METHOD_NOT_ALLOWED => {
            AppError::BadRequest("This address does not take that kind of request.")
        }
        _ => AppError::BadRequest("This request could not be read."),
    };
    axum::response::IntoResponse::into_response(error)
}

/// The headers every page carries unless its handler set its own.
///
/// Scripts may come only from this site's own files (`script-src 'self'`,
/// no inline code, no `eval`): that admits the keyboard shortcuts file and
/// nothing a message could bring. Message bodies never get this policy:
/// their handlers set their own, which allows no script at all.
async fn security_headers(request: Request, next: Next) -> Response<Body> {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    let defaults = [
        (
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
             frame-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::X_FRAME_OPTIONS, "DENY"),
    ];
    for (name, value) in defaults {
        headers
            .entry(name)
            .or_insert(HeaderValue::from_static(value));
    }
    if !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}

/// The peer address, when the server was started with connect info.
pub(crate) fn peer_address(request_parts: &axum::http::request::Parts) -> Option<SocketAddr> {
    request_parts
        .extensions
        .get::<axum::extract::ConnectInfo<SocketAddr>>()
        .map(|info| info.0)
}
