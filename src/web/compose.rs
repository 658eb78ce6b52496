//! Writing mail: the compose page, reply, reply all, forward (inline or as
//! an attached message), editing a saved draft, and the form's three
//! actions: Send, Save draft and Attach.
//!
//! The form is plain HTML that works without script, posted as
//! multipart/form-data with the session's CSRF token and a one-time form token.
//! The form token is spent only by a send that the SMTP server accepted, so a
//! double click on Send sends once (the second post gets the "already sent"
//! page), while a failed send, a saved draft or an attached file shows the same
//! form again with everything typed kept. Files attached earlier travel back in
//! the form as hidden fields, so nothing is kept on the server between
//! requests. The form itself is read in `compose_form` and filled from an
//! original in `quoting`; this module owns the pages and what each action does.
//!
//! # Limitations
//!
//! - Files already attached go back and forth with every re-shown form, in
//!   base64: a form with 20 MiB of files costs about 27 MiB each way.
//! - A reopened draft no longer knows the message it answers or forwards,
//!   so sending it sets no `\Answered` or `$Forwarded` mark there.
//! - Messages are plain text only.
//! - Autosave (a small script, once a minute) leaves out files chosen but
//!   not yet attached, and a save that lands after the message was sent from
//!   another tab files the draft again.

use askama::Template;
use axum::extract::multipart::MultipartRejection;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Multipart, Query, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use lettre::message::Mailbox;
use lettre::Address;
use serde::Deserialize;

use super::compose_form::{is_message_id, letter_from, read_posted, ComposeForm};
use super::error::html;
use super::message::query_or_default;
use super::quoting::fill_from_original;
use super::signed_in::SignedIn;
use super::views::Layout;
use super::{format, paths, AppError, AppState};
use crate::mail::{FlagChange, FolderRole, MailError, Selection};
use crate::outgoing::{Letter, SendError};
use crate::session::new_form_token;

/// What the page was opened for, and what sending it does to the original.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Mode {
    New,
    Reply,
    ReplyAll,
    Forward,
    ForwardAttached,
    EditDraft,
}

impl Mode {
    fn parse(text: &str) -> Option<Mode> {
        Some(match text {
            "reply" => Mode::Reply,
            "reply-all" => Mode::ReplyAll,
            "forward" => Mode::Forward,
            "forward-attached" => Mode::ForwardAttached,
            "draft" => Mode::EditDraft,
            _ => return None,
        })
    }

    /// The mark sending leaves on the original, by the form's
    /// `origin_kind`.
    fn mark_for(origin_kind: &str) -> Option<FlagChange> {
        match origin_kind {
            "reply" => Some(FlagChange::MarkAnswered),
            "forward" => Some(FlagChange::MarkForwarded),
            _ => None,
        }
    }
}

/// The links of a message page that open the compose page.
pub struct ComposeLinks {
    pub reply: String,
    pub reply_all: String,
    pub forward: String,
    pub forward_attached: String,
    /// Only for a message in the Drafts folder.
    pub edit_draft: Option<String>,
}

impl ComposeLinks {
    pub fn for_message(raw_name: &str, uidvalidity: u32, uid: u32, is_draft: bool) -> Self {
        let link = |mode: &str| {
            format!(
                "/compose?mode={mode}&mailbox={}&uidvalidity={uidvalidity}&uid={uid}",
                paths::encode_query(raw_name)
            )
        };
        ComposeLinks {
            reply: link("reply"),
            reply_all: link("reply-all"),
            forward: link("forward"),
            forward_attached: link("forward-attached"),
            edit_draft: is_draft.then(|| link("draft")),
        }
    }
}

#[derive(Deserialize, Default)]
pub struct ComposeQuery {
    mode: Option<String>,
    mailbox: Option<String>,
    uidvalidity: Option<u32>,
    uid: Option<u32>,
}

#[derive(Template)]
#[template(path = "compose.html")]
struct ComposePage {
    layout: Layout,
    heading: &'static str,
    from: String,
    form: ComposeForm,
    notice: Option<String>,
    problem: Option<String>,
    sending_enabled: bool,
    upload_limit: String,
}

/// `GET /compose`: an empty form, or one filled from a message.
pub async fn show_compose(
    State(state): State<AppState>,
    signed_in: SignedIn,
    query: Result<Query<ComposeQuery>, QueryRejection>,
) -> Result<Response, AppError> {
    let query = query_or_default(query);
    let sender = sender_mailbox(&state, &signed_in)?;
    let mut form = ComposeForm {
        form_token: new_form_token(),
        message_id: new_message_id(&sender.email),
        ..ComposeForm::default()
    };

    let mode = match query.mode.as_deref() {
        None | Some("") | Some("new") => Mode::New,
        Some(other) => Mode::parse(other).ok_or(AppError::BadRequest("unknown compose mode"))?,
    };
    if mode != Mode::New {
        let (Some(raw_name), Some(uidvalidity), Some(uid)) =
            (query.mailbox, query.uidvalidity, query.uid)
        else {
            return Err(AppError::BadRequest("the message to answer is not named"));
        };
        let opened = state
            .mail
            .open_message(
                &signed_in.credentials,
                &raw_name,
                uidvalidity,
                uid,
                false,
                None,
            )
            .await?;
        fill_from_original(
            state.settings.time_zone,
            &mut form,
            mode,
            &sender,
            &opened.raw,
        );
        if matches!(
            mode,
            Mode::Reply | Mode::ReplyAll | Mode::Forward | Mode::ForwardAttached
        ) {
            form.origin_kind = match mode {
                Mode::Reply | Mode::ReplyAll => "reply",
                _ => "forward",
            }
            .to_owned();
            form.origin_mailbox = raw_name;
            form.origin_uidvalidity = uidvalidity.to_string();
            form.origin_uid = uid.to_string();
        }
    }

    let heading = match mode {
        Mode::New => "New message",
        Mode::Reply | Mode::ReplyAll => "Reply",
        Mode::Forward | Mode::ForwardAttached => "Forward",
        Mode::EditDraft => "Edit draft",
    };
    let page = compose_page(&state, &signed_in, heading, &sender, form, None, None).await?;
    Ok(compose_response(StatusCode::OK, &page))
}

/// `POST /compose`: Send, Save draft or Attach.
pub async fn submit_compose(
    State(state): State<AppState>,
    mut signed_in: SignedIn,
    multipart: Result<Multipart, MultipartRejection>,
) -> Result<Response, AppError> {
    let limit = state.settings.max_upload_bytes;
    let multipart = multipart.map_err(|_| AppError::BadRequest("the form could not be read"))?;
    let posted = read_posted(multipart, limit).await?;
    signed_in.check_csrf(&posted.csrf)?;
    if !crate::session::is_form_token(&posted.form.form_token) {
        return Err(AppError::FormExpired);
    }
    if signed_in
        .record
        .was_form_token_applied(&posted.form.form_token)
    {
        return Err(AppError::AlreadySent);
    }

    let sender = sender_mailbox(&state, &signed_in)?;
    let mut form = posted.form;
    if form.message_id.is_empty() || !is_message_id(&form.message_id) {
        form.message_id = new_message_id(&sender.email);
    }
    if posted.action == "attach" {
        let notice = "Attached. Nothing is sent until you press Send.".to_owned();
        return reshow(&state, &signed_in, &sender, form, Some(notice), None, 200).await;
    }
    let letter = match letter_from(&form, &sender) {
        Ok(letter) => letter,
        Err(problem) => {
            return reshow(&state, &signed_in, &sender, form, None, Some(problem), 422).await;
        }
    };

    match posted.action.as_str() {
        "save" => save_draft(&state, &signed_in, &sender, form, &letter).await,
        "send" => send(&state, &mut signed_in, &sender, form, &letter).await,
        _ => Err(AppError::BadRequest("unknown compose action")),
    }
}

/// Files a new version of the draft and removes the older ones.
async fn save_draft(
    state: &AppState,
    signed_in: &SignedIn,
    sender: &Mailbox,
    form: ComposeForm,
    letter: &Letter,
) -> Result<Response, AppError> {
    let bytes = letter
        .to_bytes(true)
        .map_err(|e| AppError::Internal(e.to_string()))?;
    let credentials = &signed_in.credentials;
    let filed = state
        .mail
        .file_message(
            credentials,
            FolderRole::Drafts,
            &["\\Draft", "\\Seen"],
            &bytes,
        )
        .await;
    let filed = match filed {
        Ok(filed) => filed,
        Err(error) => {
            let problem = filing_problem(error, "draft")?;
            return reshow(state, signed_in, sender, form, None, Some(problem), 507).await;
        }
    };

    let removed = state
        .mail
        .remove_by_message_id(credentials, &filed.raw_name, &form.message_id, filed.uid)
        .await;
    if let Err(error) = removed {
        tracing::debug!(%error, "older drafts could not be removed");
    }
    let notice = "Draft saved in Drafts.".to_owned();
    reshow(state, signed_in, sender, form, Some(notice), None, 200).await
}

/// Sends, then files the copy in Sent, marks the original and removes the
/// draft. Only the SMTP send decides success: what follows it is reported
/// in the flash when it fails.
async fn send(
    state: &AppState,
    signed_in: &mut SignedIn,
    sender: &Mailbox,
    form: ComposeForm,
    letter: &Letter,
) -> Result<Response, AppError> {
    let recipients = letter.recipients();
    if recipients.is_empty() {
        let problem = "Add at least one recipient in To, Cc or Bcc.".to_owned();
        return reshow(state, signed_in, sender, form, None, Some(problem), 422).await;
    }
    let built = letter
        .to_bytes(false)
        .and_then(|sent| Ok((sent, letter.to_bytes(true)?)));
    let (sent_bytes, own_copy) = built.map_err(|e| AppError::Internal(e.to_string()))?;

    let credentials = signed_in.credentials.clone();
    let sent = state
        .submitter
        .send(&credentials, &sender.email, &recipients, &sent_bytes)
        .await;
    if let Err(error) = sent {
        // The error's own text only: the server's reply it wraps may name
        // recipients, which are never logged.
        tracing::info!(%error, "message not sent");
        let problem = send_problem(&error);
        return reshow(state, signed_in, sender, form, None, Some(problem), 502).await;
    }
    signed_in.record.consume_form_token(&form.form_token);
    signed_in.save().await?;

    let mut said = vec!["Message sent.".to_owned()];
    let filed = state
        .mail
        .file_message(&credentials, FolderRole::Sent, &["\\Seen"], &own_copy)
        .await;
    if let Err(error) = filed {
        tracing::info!(error = %super::error::chain(&error), "sent copy not filed");
        said.push(
            match error {
                MailError::NoFolderWithRole(_) => "There is no Sent folder, so no copy was kept.",
                MailError::OverQuota => "Your mailbox is full, so no copy was kept in Sent.",
                _ => "No copy could be kept in Sent.",
            }
            .to_owned(),
        );
    }
    mark_original(state, &credentials, &form).await;
    remove_sent_draft(state, &credentials, &form.message_id).await;

    signed_in.record.flash = Some(said.join(" "));
    signed_in.save().await?;
    let back = if form.origin_mailbox.is_empty() {
        "INBOX"
    } else {
        form.origin_mailbox.as_str()
    };
    Ok(Redirect::to(&paths::mailbox(back)).into_response())
}

/// Sets `\Answered` or `$Forwarded` on the message replied to or forwarded;
/// a message gone meanwhile is left alone.
async fn mark_original(
    state: &AppState,
    credentials: &crate::pool::Credentials,
    form: &ComposeForm,
) {
    let Some(change) = Mode::mark_for(&form.origin_kind) else {
        return;
    };
    let (Ok(uidvalidity), Ok(uid)) = (
        form.origin_uidvalidity.parse::<u32>(),
        form.origin_uid.parse::<u32>(),
    ) else {
        return;
    };
    let selection = Selection {
        raw_name: form.origin_mailbox.clone(),
        uidvalidity,
        uids: vec![uid],
    };
    if let Err(error) = state
        .mail
        .change_flags(credentials, &selection, change)
        .await
    {
        tracing::info!(error = %super::error::chain(&error), "original not marked");
    }
}

/// Removes the saved drafts of a message that was just sent.
async fn remove_sent_draft(
    state: &AppState,
    credentials: &crate::pool::Credentials,
    message_id: &str,
) {
    let drafts = state
        .mail
        .folder_with_role(credentials, FolderRole::Drafts)
        .await;
    let Ok(Some(drafts)) = drafts else {
        return;
    };
    let removed = state
        .mail
        .remove_by_message_id(credentials, &drafts.raw_name, message_id, None)
        .await;
    if let Err(error) = removed {
        tracing::info!(error = %super::error::chain(&error), "draft of a sent message kept");
    }
}

/// What a failed send page says: what happened and what to do.
fn send_problem(error: &SendError) -> String {
    match error {
        SendError::NotConfigured => {
            "Sending is not set up on this server, so the message was not sent. Save it as a \
             draft and tell your administrator."
                .to_owned()
        }
        SendError::Unreachable(_) => "The outgoing mail server cannot be reached right now, so \
             the message was not sent. Try again in a few minutes, or save it as a draft."
            .to_owned(),
        SendError::Deferred(_) => "The outgoing mail server could not take the message right \
             now (it reported a temporary failure), so the message was not sent. Try again in a \
             few minutes, or save it as a draft."
            .to_owned(),
        SendError::Tls(_) => "A secure connection to the outgoing mail server could not be made, \
             so the message was not sent. Tell your administrator."
            .to_owned(),
        SendError::AuthRefused(_) => "The outgoing mail server did not accept your sign-in, so \
             the message was not sent. Sign out and in again, then send it again."
            .to_owned(),
        SendError::SenderRefused(_) => "The outgoing mail server refused your address as the \
             sender, so the message was not sent."
            .to_owned(),
        SendError::RecipientRefused { address, .. } => format!(
            "The outgoing mail server refused the recipient {address}, so the message was not \
             sent to anyone. Check that address and send again."
        ),
        SendError::MessageRefused(_) => "The outgoing mail server refused the message (it may be \
             too large), so it was not sent. Remove attachments and send again."
            .to_owned(),
        SendError::Unknown(_) => "The connection to the outgoing mail server was lost while \
             sending, so the message may or may not have been sent. Ask a recipient whether it \
             arrived before you send it again."
            .to_owned(),
    }
}

/// What a failed save says; errors other than a full mailbox or a missing
/// Drafts folder are pages of their own.
fn filing_problem(error: MailError, what: &str) -> Result<String, AppError> {
    match error {
        MailError::OverQuota => Ok(format!(
            "Your mailbox is full: the mail server refused to store the {what}. Delete some \
             messages (and empty the Trash), then save again. Nothing you typed was lost."
        )),
        MailError::NoFolderWithRole(_) => Ok(format!(
            "Your account has no Drafts folder, so the {what} could not be saved."
        )),
        other => Err(other.into()),
    }
}

/// The policy of the compose page: every page's, plus its one script
/// (`/static/compose.js`, draft autosave) and the requests that script makes
/// to this site. No other page may run script.
const COMPOSE_POLICY: &str = "default-src 'none'; style-src 'self'; img-src 'self' data:; \
     frame-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; \
     script-src 'self'; connect-src 'self'";

/// A compose page as a response, with its own policy.
fn compose_response(status: StatusCode, page: &ComposePage) -> Response {
    let mut response = html(status, page.render());
    response.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(COMPOSE_POLICY),
    );
    response
}

/// The form shown again with a notice or a problem.
async fn reshow(
    state: &AppState,
    signed_in: &SignedIn,
    sender: &Mailbox,
    form: ComposeForm,
    notice: Option<String>,
    problem: Option<String>,
    status: u16,
) -> Result<Response, AppError> {
    let heading = if form.origin_kind == "reply" {
        "Reply"
    } else if form.origin_kind == "forward" {
        "Forward"
    } else {
        "New message"
    };
    let page = compose_page(state, signed_in, heading, sender, form, notice, problem).await?;
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
    Ok(compose_response(status, &page))
}

async fn compose_page(
    state: &AppState,
    signed_in: &SignedIn,
    heading: &'static str,
    sender: &Mailbox,
    form: ComposeForm,
    notice: Option<String>,
    problem: Option<String>,
) -> Result<ComposePage, AppError> {
    let folders = state.mail.folders(&signed_in.credentials).await?;
    Ok(ComposePage {
        layout: Layout::new(
            heading.to_owned(),
            &signed_in.record.user,
            signed_in.csrf_token(),
            &folders,
            None,
        ),
        heading,
        from: sender.to_string(),
        form,
        notice,
        problem,
        sending_enabled: state.submitter.is_configured(),
        upload_limit: format::size(state.settings.max_upload_bytes as u64),
    })
}

/// The user's address: the sign-in name when it is an address, else the
/// name at the configured mail domain.
fn sender_mailbox(state: &AppState, signed_in: &SignedIn) -> Result<Mailbox, AppError> {
    let user = signed_in.record.user.as_str();
    let address = if user.contains('@') {
        user.to_owned()
    } else {
        format!("{user}@{}", state.settings.mail_domain)
    };
    address
        .parse::<Address>()
        .map(|email| Mailbox::new(None, email))
        .map_err(|_| {
            AppError::BadRequest("your sign-in name does not make an email address to send from")
        })
}

/// A fresh Message-ID at the sender's domain.
fn new_message_id(sender: &Address) -> String {
    let mut bytes = [0u8; 16];
    getrandom::getrandom(&mut bytes).expect("the OS provides randomness");
    let random: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("<{random}@{}>", sender.domain())
}
