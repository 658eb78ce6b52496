//! What the user sees when a request cannot be answered as asked.
//!
//! Each variant of [`AppError`] names a condition and maps to one status and
//! one sentence a person can act on. Internal causes (IMAP failures, store
//! failures, bugs) all get one generic page that shows the request id; the
//! cause travels in the response's extensions and is logged once, inside the
//! request span, by the middleware in `web`. Nothing a server or a message
//! said is echoed into a page.

use std::time::Duration;

use askama::Template;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};

use mailfront_imap::ImapError;

use crate::mail::MailError;
use crate::pool::PoolError;
use crate::session::{StoreError, ThrottleUnavailable};

/// What the user is told when the mail server refuses a search.
pub const SEARCH_REFUSED: &str = "The mail server could not run this search.";

/// What to try then.
pub const SEARCH_REFUSED_HINT: &str =
    "Try other or fewer words; some servers search only plain ASCII text.";

/// The logged cause of an internal error; set on the response, read by the
/// request span middleware.
#[derive(Clone, Debug)]
pub struct InternalCause(pub String);

pub fn new_request_id() -> String {
    let mut bytes = [0u8; 6];
    getrandom::getrandom(&mut bytes).expect("the OS provides randomness");
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A request that ends in an error page.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("not signed in")]
    NotSignedIn { return_to: Option<String> },
    #[error("session expired")]
    SessionExpired,
    #[error("session busy")]
    SessionBusy {
        retry_after: Duration,
        repeatable: bool,
    },
    #[error("form expired or forged")]
    FormExpired,
    #[error("message already sent")]
    AlreadySent,
    #[error("bad request: {0}")]
    BadRequest(&'static str),
    #[error("page not found")]
    NotFound,
    #[error("folder not found")]
    MailboxNotFound,
    /// A folder that exists only to hold other folders (`\Noselect`).
    #[error("folder holds only folders")]
    FolderOfFolders,
    #[error("message gone")]
    MessageGone,
    #[error("message too large")]
    MessageTooLarge,
    /// A folder was not created, renamed, deleted or (un)subscribed; the
    /// message says why and what to do. `invalid_input` for a name refused
    /// before anything was sent (400), else the server declined (409).
    #[error("folder not changed")]
    FolderNotChanged {
        message: String,
        invalid_input: bool,
    },
    #[error("request too large")]
    TooLarge(&'static str),
    /// More request headers than a page is served for, mostly cookies.
    #[error("request headers too large")]
    HeadersTooLarge,
    #[error("search refused by the mail server")]
    SearchRefused,
    #[error("mail server unreachable")]
    MailServerUnreachable(String),
    #[error("mail server busy")]
    MailServerBusy(String),
    #[error("too many sign-in attempts")]
    TooManyAttempts { retry_after: Duration },
    #[error("session store unavailable")]
    StoreUnavailable(String),
    /// The mail server answered, but with something unusable: a response
    /// that does not parse, or a refusal mailfront has no page of its own
    /// for. Its cause is logged, never shown.
    #[error("mail server answered badly")]
    MailServerFault(String),
    #[error("internal error")]
    Internal(String),
}

impl From<MailError> for AppError {
    fn from(error: MailError) -> AppError {
        match error {
            MailError::MailboxNotFound => AppError::MailboxNotFound,
            MailError::MessageGone => AppError::MessageGone,
            MailError::MessageTooLarge { .. } => AppError::MessageTooLarge,
            MailError::SearchRefused => AppError::SearchRefused,
            MailError::FolderExists => AppError::FolderNotChanged {
                message: "A folder of that name exists already. Choose another name.".to_owned(),
                invalid_input: false,
            },
            MailError::FolderRefused { code, source } => {
                let server_text = match &source {
                    mailfront_imap::ImapError::CommandFailed { text, .. } => text.as_str(),
                    _ => "",
                };
                tracing::debug!(
                    error = %chain(&source),
                    code = code.as_deref().unwrap_or(""),
                    server_text,
                    "folder change refused"
                );
                AppError::FolderNotChanged {
                    message: folder_refusal_text(code.as_deref()).to_owned(),
                    invalid_input: false,
                }
            }
            MailError::NoFolderWithRole(_) | MailError::OverQuota => {
                AppError::Internal(chain(&error))
            }
            MailError::Pool(pool) => pool.into(),
            MailError::Imap(imap) => imap_error_page(imap),
        }
    }
}

/// The page for a form the framework could not read: "too large" when it
/// was over the body limit, else "could not be read".
pub fn unreadable_form(status: StatusCode) -> AppError {
    if status == StatusCode::PAYLOAD_TOO_LARGE {
        AppError::TooLarge("What was sent is larger than this site accepts.")
    } else {
        AppError::BadRequest("the form could not be read")
    }
}

/// The page for an IMAP failure that reached a handler: a lost connection
/// reads "unreachable", a server at its limits "busy", an answer that could
/// not be used "the mail server answered badly"; only a command mailfront
/// itself built wrongly is an internal error.
fn imap_error_page(imap: ImapError) -> AppError {
    let cause = chain(&imap);
    if imap.is_connection_lost() {
        return AppError::MailServerUnreachable(cause);
    }
    match imap {
        ImapError::Refused { .. } => AppError::MailServerUnreachable(cause),
        ImapError::ConnectionLimit | ImapError::Unavailable => AppError::MailServerBusy(cause),
        ImapError::InvalidArgument { .. } | ImapError::Unsupported { .. } => {
            AppError::Internal(cause)
        }
        _ => AppError::MailServerFault(cause),
    }
}

impl From<PoolError> for AppError {
    fn from(error: PoolError) -> AppError {
        let cause = chain(&error);
        match error {
            PoolError::Unreachable(_) | PoolError::Unresolvable(_) => {
                AppError::MailServerUnreachable(cause)
            }
            PoolError::ServerBusy | PoolError::WaitedTooLong | PoolError::Refused => {
                AppError::MailServerBusy(cause)
            }
            PoolError::AuthenticationFailed => AppError::SessionExpired,
            PoolError::LoginFailed(_) => AppError::Internal(cause),
        }
    }
}

impl From<StoreError> for AppError {
    fn from(error: StoreError) -> AppError {
        match error {
            StoreError::SessionEnded { .. } => AppError::NotSignedIn { return_to: None },
            StoreError::Corrupt { .. } => AppError::SessionExpired,
            // Another request holds the session now; this one's changes to
            // it were dropped, so the user is asked to try again.
            StoreError::LeaseLost { .. } => AppError::SessionBusy {
                retry_after: Duration::from_secs(2),
                repeatable: false,
            },
            other => AppError::StoreUnavailable(chain(&other)),
        }
    }
}

impl From<ThrottleUnavailable> for AppError {
    fn from(error: ThrottleUnavailable) -> AppError {
        AppError::StoreUnavailable(chain(&error))
    }
}

impl From<askama::Error> for AppError {
    fn from(error: askama::Error) -> AppError {
        AppError::Internal(format!("template failed: {error}"))
    }
}

/// Our words for a server's refusal of a folder change, by response code
/// (RFC 5530). The server's own text is logged, never shown.
fn folder_refusal_text(code: Option<&str>) -> &'static str {
    match code.map(str::to_ascii_uppercase).as_deref() {
        Some("ALREADYEXISTS") => "A folder of that name exists already. Choose another name.",
        Some("CANNOT") => {
            "The mail server cannot use this folder name. Choose another name, for example \
             one without punctuation at its start or end."
        }
        Some("NOPERM") => "You may not change this folder on this mail server.",
        Some("INUSE") => "The folder is in use by another program. Try again in a moment.",
        Some("LIMIT") => "The mail server allows no more folders, or no deeper folders, here.",
        Some("OVERQUOTA") => "Your mailbox is full, so the mail server made no new folder.",
        Some("NONEXISTENT") | Some("TRYCREATE") => {
            "This folder does not exist (any more). It may have been renamed or deleted."
        }
        _ => "The mail server refused this change to the folder. Check the name and try again.",
    }
}

/// An error and its sources on one line, for the log.
pub fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    title: &'a str,
    message: &'a str,
    hint: &'a str,
    request_id: Option<&'a str>,
    retry_seconds: Option<u64>,
    link: Option<(&'a str, &'a str)>,
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let sign_in = Some(("/login", "Sign in"));
        let inbox = Some(("/", "Go to your inbox"));
        let (status, title, message, hint, link, cause) = match &self {
            AppError::NotSignedIn { return_to } => {
                let target = match return_to {
                    Some(path) => format!("/login?next={}", super::paths::encode_query(path)),
                    None => "/login".to_owned(),
                };
                return Redirect::to(&target).into_response();
            }
            AppError::SessionExpired => (
                StatusCode::UNAUTHORIZED,
                "Session ended",
                "Your session has expired.",
                "Please sign in again.",
                sign_in,
                None,
            ),
            AppError::SessionBusy { retry_after, repeatable } => {
                return busy_page(*retry_after, *repeatable);
            }
            AppError::FormExpired => (
                StatusCode::FORBIDDEN,
                "Form expired",
                "This form has expired or did not come from this site, so nothing was changed.",
                "Go back, reload the page and try again.",
                inbox,
                None,
            ),
            AppError::AlreadySent => (
                StatusCode::CONFLICT,
                "Already sent",
                "This message was already sent, so it was not sent again.",
                "You will find it in your Sent folder.",
                inbox,
                None,
            ),
            AppError::BadRequest(what) => (
                StatusCode::BAD_REQUEST,
                "Request not understood",
                *what,
                "Check the address, or start again from your inbox.",
                inbox,
                None,
            ),
            AppError::NotFound => (
                StatusCode::NOT_FOUND,
                "Page not found",
                "There is no page at this address.",
                "Start again from your inbox.",
                inbox,
                None,
            ),
            AppError::MailboxNotFound => (
                StatusCode::NOT_FOUND,
                "Folder not found",
                "This folder does not exist. It may have been renamed or deleted.",
                "Pick a folder from your inbox's folder list.",
                inbox,
                None,
            ),
            AppError::FolderOfFolders => (
                StatusCode::NOT_FOUND,
                "No messages here",
                "This folder only holds other folders; it cannot hold messages itself.",
                "Open one of the folders under it in the folder list.",
                inbox,
                None,
            ),
            AppError::MessageGone => (
                StatusCode::NOT_FOUND,
                "Message not found",
                "This message was deleted or moved to another folder.",
                "Go back to the folder to see what it holds now.",
                inbox,
                None,
            ),
            AppError::MessageTooLarge => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "Message too large",
                "This message is larger than this webmail shows.",
                "Open it in a desktop mail program.",
                inbox,
                None,
            ),
            AppError::HeadersTooLarge => (
                StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
                "Request too large",
                "Your browser sent more header data than this site accepts, \
                 usually because it holds too many cookies for it.",
                "Delete the cookies your browser keeps for this site, then sign in again.",
                None,
                None,
            ),
            AppError::SearchRefused => (
                StatusCode::BAD_GATEWAY,
                "Search not possible",
                SEARCH_REFUSED,
                SEARCH_REFUSED_HINT,
                inbox,
                None,
            ),
            AppError::FolderNotChanged {
                message,
                invalid_input,
            } => (
                if *invalid_input {
                    StatusCode::BAD_REQUEST
                } else {
                    StatusCode::CONFLICT
                },
                "Folder not changed",
                message.as_str(),
                "Nothing was changed. Go back to your folders and try again.",
                Some(("/folders", "Back to your folders")),
                None,
            ),
            AppError::TooLarge(what) => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "Too large",
                *what,
                "Go back and send less at once.",
                inbox,
                None,
            ),
            AppError::MailServerUnreachable(cause) => (
                StatusCode::SERVICE_UNAVAILABLE,
                "Mail server unreachable",
                "The mail server cannot be reached right now.",
                "Please try again in a few minutes. If it keeps happening, tell your mail administrator.",
                None,
                Some(cause.clone()),
            ),
            AppError::MailServerBusy(cause) => (
                StatusCode::SERVICE_UNAVAILABLE,
                "Mail server busy",
                "The mail server refused the connection for now.",
                "Please try again in a minute.",
                None,
                Some(cause.clone()),
            ),
            AppError::TooManyAttempts { retry_after } => {
                let seconds = retry_after.as_secs().max(1);
                let text = format!("Too many sign-in attempts. Try again in {seconds} s.");
                let page = ErrorPage {
                    title: "Too many attempts",
                    message: &text,
                    hint: "Wait a moment; this protects your account from password guessing.",
                    request_id: None,
                    retry_seconds: None,
                    link: sign_in,
                };
                let mut response = html(StatusCode::TOO_MANY_REQUESTS, page.render());
                set_retry_after(&mut response, seconds);
                return response;
            }
            AppError::StoreUnavailable(cause) => (
                StatusCode::SERVICE_UNAVAILABLE,
                "Temporarily unavailable",
                "mailfront cannot reach its session store right now.",
                "Please try again in a minute.",
                None,
                Some(cause.clone()),
            ),
            AppError::MailServerFault(cause) => (
                StatusCode::BAD_GATEWAY,
                "Mail server error",
                "The mail server gave an answer mailfront could not use.",
                "Please try again. If it keeps happening, tell your mail administrator \
                 the request id below.",
                inbox,
                Some(cause.clone()),
            ),
            AppError::Internal(cause) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "Something went wrong",
                "mailfront could not complete this request.",
                "Please try again. If it keeps happening, tell your administrator the request id below.",
                inbox,
                Some(cause.clone()),
            ),
        };

        let request_id = new_request_id();
        let page = ErrorPage {
            title,
            message,
            hint,
            request_id: cause.as_ref().map(|_| request_id.as_str()),
            retry_seconds: None,
            link,
        };
        let mut response = html(status, page.render());
        if status == StatusCode::SERVICE_UNAVAILABLE {
            set_retry_after(&mut response, 30);
        }
        if let Some(cause) = cause {
            response
                .extensions_mut()
                .insert(InternalCause(format!("{cause} (error id {request_id})")));
        }
        response
    }
}

/// "Still working on your previous request": a GET page reloads itself, a
/// form submission is never re-sent.
fn busy_page(retry_after: Duration, repeatable: bool) -> Response {
    let seconds = retry_after.as_secs().max(1);
    let page = ErrorPage {
        title: "Still working",
        message: "Still working on your previous request.",
        hint: if repeatable {
            "This page will reload by itself in a moment."
        } else {
            "This action was not applied. When the previous one has finished, go back and submit it again."
        },
        request_id: None,
        retry_seconds: repeatable.then_some(seconds),
        link: None,
    };
    let mut response = html(StatusCode::TOO_MANY_REQUESTS, page.render());
    set_retry_after(&mut response, seconds);
    response
}

fn set_retry_after(response: &mut Response, seconds: u64) {
    if let Ok(value) = HeaderValue::from_str(&seconds.to_string()) {
        response.headers_mut().insert(header::RETRY_AFTER, value);
    }
}

/// An HTML response, or a bare text one if the template failed.
pub fn html(status: StatusCode, rendered: Result<String, askama::Error>) -> Response {
    match rendered {
        Ok(body) => (
            status,
            [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
            body,
        )
            .into_response(),
        Err(error) => {
            let mut response = (
                StatusCode::INTERNAL_SERVER_ERROR,
                "mailfront could not render this page.",
            )
                .into_response();
            response
                .extensions_mut()
                .insert(InternalCause(format!("template failed: {error}")));
            response
        }
    }
}
