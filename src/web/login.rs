//! Signing in and out.
//!
//! Sign-in proves the password with a real LOGIN (the connection then joins
//! the pool), issues a brand-new session id (an id chosen before sign-in,
//! by anyone, is never promoted), and is throttled per client address and
//! per account. The form carries a token bound to a cookie, so another site
//! cannot sign a visitor into an account of its choosing. Every credential
//! failure reads the same, whether or not the account exists.

use std::net::{IpAddr, Ipv4Addr};

use askama::Template;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use serde::Deserialize;
use subtle::ConstantTimeEq;

use super::error::html;
use super::signed_in::{
    clear_cookie, cookie_value, now_unix, session_cookie, session_set_cookie, SignedIn,
};
use super::{paths, AppError, AppState};
use crate::mail::MailError;
use crate::pool::{Credentials, PoolError};
use crate::session::{
    client_address, new_form_token, seal_password, SessionCookie, SessionRecord, ThrottleDecision,
};
use mailfront_imap::Secret;

/// Cookie that binds the sign-in form to the browser that loaded it.
const LOGIN_COOKIE: &str = "mf_login";

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    error: Option<String>,
    notice: Option<String>,
    username: String,
    login_token: String,
    next: String,
}

#[derive(Deserialize)]
pub struct LoginQuery {
    next: Option<String>,
    signed_out: Option<String>,
}

/// The sign-in form (no `Debug`: it holds a password).
#[derive(Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    login_token: String,
    #[serde(default)]
    next: String,
}

pub async fn show_login(
    query: Result<Query<LoginQuery>, QueryRejection>,
    State(state): State<AppState>,
    parts: Parts,
) -> Response {
    let query = query.map_or(
        LoginQuery {
            next: None,
            signed_out: None,
        },
        |Query(q)| q,
    );
    let notice = query.signed_out.map(|_| "You have signed out.".to_owned());
    let next = query
        .next
        .filter(|n| paths::is_local_path(n))
        .unwrap_or_default();
    let token = reusable_login_token(&parts);
    login_page(
        &state,
        StatusCode::OK,
        None,
        notice,
        String::new(),
        next,
        token,
    )
}

/// The form token the browser holds already, so that a sign-in form left
/// open in another tab stays valid when this one loads.
fn reusable_login_token(parts: &Parts) -> Option<String> {
    cookie_value(parts, LOGIN_COOKIE).filter(|token| {
        (16..=64).contains(&token.len())
            && token
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    })
}

pub async fn submit_login(
    State(state): State<AppState>,
    parts: Parts,
    Form(form): Form<LoginForm>,
) -> Response {
    let next = if paths::is_local_path(&form.next) {
        form.next.clone()
    } else {
        String::new()
    };
    let retry = |error: &str, status| {
        login_page(
            &state,
            status,
            Some(error.to_owned()),
            None,
            form.username.clone(),
            next.clone(),
            reusable_login_token(&parts),
        )
    };

    let expected = cookie_value(&parts, LOGIN_COOKIE).unwrap_or_default();
    let token_matches =
        !expected.is_empty() && bool::from(expected.as_bytes().ct_eq(form.login_token.as_bytes()));
    if !token_matches || !same_origin(&parts) {
        return retry(
            "The sign-in form expired. Please sign in again.",
            StatusCode::FORBIDDEN,
        );
    }
    let username = form.username.trim().to_owned();
    if username.is_empty() || form.password.is_empty() {
        return retry(
            "Enter your user name and password.",
            StatusCode::BAD_REQUEST,
        );
    }
    if username.len() > 256
        || form.password.len() > 1024
        || username.chars().any(char::is_control)
        // IMAP cannot carry a NUL, and a server may cut the password there.
        || form.password.contains('\0')
    {
        return retry(
            "The user name or password is not correct.",
            StatusCode::UNAUTHORIZED,
        );
    }

    let client = client_ip(&state, &parts);
    let decision = match state.throttle.check(client, &username).await {
        Ok(decision) => decision,
        Err(unavailable) => return AppError::from(unavailable).into_response(),
    };
    match decision {
        ThrottleDecision::Allow => {}
        ThrottleDecision::Delay(delay) => {
            tracing::info!(
                delay_ms = delay.as_millis() as u64,
                "sign-in delayed by throttling"
            );
            tokio::time::sleep(delay).await;
        }
        ThrottleDecision::Refuse { retry_after } => {
            tracing::info!("sign-in refused by throttling");
            return AppError::TooManyAttempts { retry_after }.into_response();
        }
    }

    let credentials = Credentials {
        user: username.clone(),
        password: Secret::new(form.password),
        client: Some(client),
    };
    match state.mail.pool().sign_in(&credentials).await {
        Ok(connection) => drop(connection),
        Err(PoolError::AuthenticationFailed) => {
            if let Err(unavailable) = state.throttle.record_failure(client, &username).await {
                return AppError::from(unavailable).into_response();
            }
            tracing::info!("sign-in refused by the mail server");
            return retry(
                "The user name or password is not correct.",
                StatusCode::UNAUTHORIZED,
            );
        }
        Err(other) => return AppError::from(MailError::Pool(other)).into_response(),
    }
    if let Err(unavailable) = state.throttle.record_success(client, &username).await {
        return AppError::from(unavailable).into_response();
    }

    match start_session(&state, &parts, credentials).await {
        Ok(set_cookie) => {
            // Straight to the inbox: one request less than going through `/`.
            let target = if next.is_empty() {
                paths::mailbox("INBOX")
            } else {
                next
            };
            let mut response = Redirect::to(&target).into_response();
            let headers = response.headers_mut();
            headers.append(
                header::SET_COOKIE,
                set_cookie.parse().expect("cookie is ASCII"),
            );
            let secure = if state.settings.secure_cookies {
                "; Secure"
            } else {
                ""
            };
            let clear =
                format!("{LOGIN_COOKIE}=; Path=/login; HttpOnly; SameSite=Lax; Max-Age=0{secure}");
            headers.append(header::SET_COOKIE, clear.parse().expect("cookie is ASCII"));
            response
        }
        Err(error) => error.into_response(),
    }
}

/// Stores a new session and returns its `Set-Cookie` value. Any session the
/// browser brought along is deleted, never reused.
async fn start_session(
    state: &AppState,
    parts: &Parts,
    credentials: Credentials,
) -> Result<String, AppError> {
    if let Some(previous) = session_cookie(parts) {
        state.sessions.delete(&previous.id).await?;
    }

    let cookie = SessionCookie::generate();
    let sealed = seal_password(&cookie.key, &credentials.user, &credentials.password);
    let record = SessionRecord::new(credentials.user.clone(), sealed, now_unix());
    state
        .sessions
        .save(&cookie.id, &record, state.settings.session_idle)
        .await?;
    state
        .mail
        .pool()
        .session_seen(&credentials.user, &cookie.id.log_tag());
    tracing::info!(user = %credentials.user, session = %cookie.id.log_tag(), "signed in");

    let max_age = state.settings.session_max_age;
    Ok(session_set_cookie(
        &cookie.encode(),
        max_age,
        state.settings.secure_cookies,
    ))
}

#[derive(Deserialize)]
pub struct LogoutForm {
    #[serde(default)]
    csrf: String,
}

pub async fn submit_logout(
    State(state): State<AppState>,
    signed_in: SignedIn,
    parts: Parts,
    Form(form): Form<LogoutForm>,
) -> Result<Response, AppError> {
    if !same_origin(&parts) {
        return Err(AppError::FormExpired);
    }
    signed_in.check_csrf(&form.csrf)?;

    state.sessions.delete(&signed_in.cookie.id).await?;
    let tag = signed_in.cookie.id.log_tag();
    state
        .mail
        .pool()
        .session_ended(&signed_in.record.user, &tag);
    tracing::info!(session = %tag, "signed out");

    let mut response = Redirect::to("/login?signed_out=1").into_response();
    let clear = clear_cookie(super::SESSION_COOKIE, state.settings.secure_cookies);
    response
        .headers_mut()
        .append(header::SET_COOKIE, clear.parse().expect("cookie is ASCII"));
    Ok(response)
}

fn login_page(
    state: &AppState,
    status: StatusCode,
    error: Option<String>,
    notice: Option<String>,
    username: String,
    next: String,
    token: Option<String>,
) -> Response {
    let login_token = token.unwrap_or_else(new_form_token);
    let page = LoginPage {
        error,
        notice,
        username,
        login_token: login_token.clone(),
        next,
    };
    let mut response = html(status, page.render());
    let secure = if state.settings.secure_cookies {
        "; Secure"
    } else {
        ""
    };
    let cookie =
        format!("{LOGIN_COOKIE}={login_token}; Path=/login; HttpOnly; SameSite=Lax{secure}");
    response
        .headers_mut()
        .append(header::SET_COOKIE, cookie.parse().expect("cookie is ASCII"));
    response
}

/// The client's address: the peer, or what a trusted proxy reports.
pub(super) fn client_ip(state: &AppState, parts: &Parts) -> IpAddr {
    let peer = super::peer_address(parts).map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |a| a.ip());
    let forwarded = parts
        .headers
        .get("x-forwarded-for")
        .and_then(|v| v.to_str().ok());
    client_address(peer, forwarded, &state.settings.trusted_proxies)
}

/// A second line of defence behind the form tokens: a browser's POST from
/// another site carries that site's Origin or `Sec-Fetch-Site: cross-site`.
///
/// Every page of this site is served with `Referrer-Policy: no-referrer`, so
/// a browser sends `Origin: null` with a form POST from it (Fetch standard,
/// "append a request Origin header"). A sandboxed frame sends `null` too, so
/// `null` counts as this site only with `Sec-Fetch-Site: same-origin`, which
/// no page can forge.
pub fn same_origin(parts: &Parts) -> bool {
    let site = parts
        .headers
        .get("sec-fetch-site")
        .and_then(|v| v.to_str().ok());
    if site == Some("cross-site") {
        return false;
    }
    let Some(origin) = parts
        .headers
        .get(header::ORIGIN)
        .and_then(|v| v.to_str().ok())
    else {
        return true;
    };
    if origin == "null" {
        return site == Some("same-origin");
    }

    let host = parts
        .headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let origin_host = origin.split_once("://").map_or("", |(_, rest)| rest);
    origin_host.eq_ignore_ascii_case(host)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn post_with(headers: &[(&str, &str)]) -> Parts {
        let mut request = axum::http::Request::builder().method("POST").uri("/login");
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        request.body(()).expect("a request").into_parts().0
    }

    #[test]
    fn a_form_post_from_a_no_referrer_page_of_this_site_is_same_origin() {
        let parts = post_with(&[
            ("host", "127.0.0.1:8080"),
            ("origin", "null"),
            ("sec-fetch-site", "same-origin"),
        ]);
        assert!(same_origin(&parts));
    }

    #[test]
    fn a_null_origin_without_same_origin_fetch_metadata_is_refused() {
        let sandboxed = post_with(&[
            ("host", "127.0.0.1:8080"),
            ("origin", "null"),
            ("sec-fetch-site", "cross-site"),
        ]);
        let bare = post_with(&[("host", "127.0.0.1:8080"), ("origin", "null")]);
        assert!(!same_origin(&sandboxed));
        assert!(!same_origin(&bare));
    }

    #[test]
    fn another_sites_origin_is_refused_and_ours_accepted() {
        let other = post_with(&[("host", "mail.example"), ("origin", "https://evil.example")]);
        let ours = post_with(&[("host", "mail.example"), ("origin", "https://mail.example")]);
        assert!(!same_origin(&other));
        assert!(same_origin(&ours));
    }
}
