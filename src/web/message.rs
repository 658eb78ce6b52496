//! One message: its headers, its body, its attachments, its source.
//!
//! Text bodies are shown in the page, already escaped by the renderer. A
//! message with any HTML part shows its whole body inside a sandboxed frame
//! served from its own address with a strict Content-Security-Policy, so
//! that even a sanitiser miss cannot run script or reach the page. Parts are
//! always downloads unless they are images asked for inline; HTML and SVG
//! are never rendered under this site's origin.

use askama::Template;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use mailfront_mime::{
    content_disposition, render_message, BodyBlock, Disposition, MailAddress, MessageView,
    RenderOptions,
};
use serde::Deserialize;

use super::actions::{message_actions_url, ActionBar};
use super::compose::ComposeLinks;
use super::error::html;
use super::search::{fields_of, link_suffix, HiddenField, SearchParams};
use super::signed_in::SignedIn;
use super::views::Layout;
use super::{format, paths, AppError, AppState};
use crate::metrics::bump;

#[derive(Template)]
#[template(path = "message.html")]
struct MessagePage {
    layout: Layout,
    back_url: String,
    /// "Back to Inbox", or "Back to the search in Inbox".
    back_label: String,
    message: MessageSection,
    frame_url: Option<String>,
    /// "Show remote content": offered when the renderer removed some.
    remote_url: Option<String>,
    /// Remote content is shown now.
    remote_shown: bool,
    source_url: String,
    flagged: bool,
    /// What the last action did, shown once.
    flash: Option<String>,
    /// None for a forwarded message shown inside another.
    actions: Option<ActionBar>,
    /// Reply, forward and (in Drafts) edit; None for a forwarded message
    /// shown inside another.
    compose: Option<ComposeLinks>,
    page: i64,
    /// The search the message was opened from, for the action form.
    search_fields: Vec<HiddenField>,
    /// The messages before and after this one in the list's order.
    previous_url: Option<String>,
    next_url: Option<String>,
}

/// The headers, body and attachments of one message, also used for a
/// forwarded message shown inline.
struct MessageSection {
    subject: String,
    from: String,
    to: String,
    cc: String,
    date: String,
    /// Trusted HTML: text the renderer escaped, or a nested message's section.
    text_blocks: Vec<String>,
    attachments: Vec<AttachmentView>,
    problems: Vec<String>,
}

#[derive(Template)]
#[template(path = "section.html")]
struct NestedSection<'a> {
    message: &'a MessageSection,
}

struct AttachmentView {
    name: String,
    content_type: String,
    size: String,
    url: String,
    view_url: Option<String>,
}

#[derive(Template)]
#[template(path = "message_body.html")]
struct BodyFrame {
    /// Trusted HTML: sanitised bodies and escaped headings of nested messages.
    blocks: Vec<String>,
}

#[derive(Deserialize, Default)]
pub struct MessageQuery {
    page: Option<String>,
    /// Present when the user asked to load this message's remote content.
    remote: Option<String>,
    /// The search the message was opened from, if any.
    #[serde(flatten)]
    search: SearchParams,
}

#[derive(Deserialize, Default)]
pub struct BodyQuery {
    remote: Option<String>,
}

#[derive(Deserialize, Default)]
pub struct PartQuery {
    inline: Option<String>,
}

#[derive(Deserialize)]
pub struct MessagePath {
    mailbox: String,
    uidvalidity: u32,
    uid: u32,
}

#[derive(Deserialize)]
pub struct PartPath {
    mailbox: String,
    uidvalidity: u32,
    uid: u32,
    part: String,
}

pub async fn show_message(
    State(state): State<AppState>,
    mut signed_in: SignedIn,
    headers: HeaderMap,
    at: Result<Path<MessagePath>, PathRejection>,
    query: Result<Query<MessageQuery>, QueryRejection>,
) -> Result<Response, AppError> {
    let (at, query) = (message_at(at)?, query_or_default(query));
    let credentials = signed_in.credentials.clone();
    let sort = super::mailbox::remembered_sort(&signed_in, &at.mailbox);
    let opened = state
        .mail
        .open_message(
            &credentials,
            &at.mailbox,
            at.uidvalidity,
            at.uid,
            true,
            Some(sort),
        )
        .await?;
    let folders = state.mail.folders(&credentials).await?;
    bump(&state.metrics.page_views);

    let base = paths::message(&at.mailbox, at.uidvalidity, at.uid);
    let remote = query.remote.is_some() && asked_from_this_site(&headers);
    let view = render_message(&opened.raw, &render_options(&base, remote));
    let page_number = super::mailbox::parse_page(query.page.as_deref()).max(1);
    let searched = query.search.read_or_none();
    let kept = link_suffix(searched.as_ref());
    let folder_label = folders
        .iter()
        .find(|f| f.raw_name == at.mailbox)
        .map_or_else(
            || mailfront_imap::decode_mailbox_name(&at.mailbox),
            |f| f.full_label.clone(),
        );

    let has_html = contains_html(&view);
    let is_draft = folders
        .iter()
        .any(|f| f.raw_name == at.mailbox && f.role == Some(crate::mail::FolderRole::Drafts));
    let mut section = section_for(&state, &view, &base, "");
    if view.date.is_none() {
        section.date = format::full_date(opened.internal_date, state.settings.time_zone);
    }
    let title = section.subject.clone();
    let flash = signed_in.record.flash.take();
    if flash.is_some() {
        signed_in.save().await?;
    }
    let (previous, next) = opened.neighbours;
    let neighbour_url = |n: crate::mail::Neighbour| {
        format!(
            "{}?page={}",
            paths::message(&at.mailbox, at.uidvalidity, n.uid),
            n.page
        )
    };
    let actions = ActionBar::new(
        message_actions_url(&at.mailbox, at.uidvalidity, at.uid),
        &folders,
        &at.mailbox,
    );
    let page = MessagePage {
        layout: Layout::new(
            title,
            &signed_in.record.user,
            signed_in.csrf_token(),
            &folders,
            Some(&at.mailbox),
        ),
        back_url: format!("{}?page={page_number}{kept}", paths::mailbox(&at.mailbox)),
        back_label: if searched.is_some() {
            format!("Back to the search in {folder_label}")
        } else {
            format!("Back to {folder_label}")
        },
        message: section,
        frame_url: has_html.then(|| {
            let remote = if remote { "?remote=1" } else { "" };
            format!("{base}/body{remote}")
        }),
        remote_url: (view.had_remote_content && !remote)
            .then(|| format!("{base}?page={page_number}{kept}&remote=1")),
        remote_shown: remote,
        source_url: format!("{base}/source"),
        flagged: opened
            .flags
            .iter()
            .any(|f| f.eq_ignore_ascii_case("\\Flagged")),
        flash,
        actions: Some(actions),
        compose: Some(ComposeLinks::for_message(
            &at.mailbox,
            at.uidvalidity,
            at.uid,
            is_draft,
        )),
        page: page_number,
        search_fields: fields_of(searched.as_ref()),
        previous_url: previous.map(neighbour_url),
        next_url: next.map(neighbour_url),
    };
    let mut response = html(StatusCode::OK, page.render());
    response.headers_mut().insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    Ok(response)
}

/// The body document shown in the sandboxed frame.
pub async fn show_message_body(
    State(state): State<AppState>,
    signed_in: SignedIn,
    headers: HeaderMap,
    at: Result<Path<MessagePath>, PathRejection>,
    query: Result<Query<BodyQuery>, QueryRejection>,
) -> Result<Response, AppError> {
    let (at, query) = (message_at(at)?, query_or_default(query));
    let opened = peek(&state, &signed_in, &at.mailbox, at.uidvalidity, at.uid).await?;
    let base = paths::message(&at.mailbox, at.uidvalidity, at.uid);
    let remote = query.remote.is_some() && asked_from_this_site(&headers);
    let view = render_message(&opened.raw, &render_options(&base, remote));
    let frame = BodyFrame {
        blocks: frame_blocks(&state, &view),
    };

    Ok(frame_response(&frame, remote))
}

/// A body document as the sandboxed frame gets it, with its own policy.
fn frame_response(frame: &BodyFrame, remote: bool) -> Response {
    let mut response = html(StatusCode::OK, frame.render());
    let headers = response.headers_mut();
    // Images (and only images) may come from elsewhere once the user asked
    // for remote content; scripts, frames, fonts and connections never.
    let policy = if remote {
        "sandbox allow-popups allow-popups-to-escape-sandbox; default-src 'none'; \
         style-src 'unsafe-inline'; img-src 'self' data: https: http:; \
         frame-ancestors 'self'; base-uri 'none'; form-action 'none'"
    } else {
        "sandbox allow-popups allow-popups-to-escape-sandbox; default-src 'none'; \
         style-src 'unsafe-inline'; img-src 'self' data:; frame-ancestors 'self'; \
         base-uri 'none'; form-action 'none'"
    };
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(policy),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(
        header::X_FRAME_OPTIONS,
        HeaderValue::from_static("SAMEORIGIN"),
    );
    response
}

/// The raw message as text.
pub async fn show_source(
    State(state): State<AppState>,
    mut signed_in: SignedIn,
    at: Result<Path<MessagePath>, PathRejection>,
) -> Result<Response, AppError> {
    let at = message_at(at)?;
    let opened = peek(&state, &signed_in, &at.mailbox, at.uidvalidity, at.uid).await?;
    // Converting a large message touches no session state: let the
    // session's next request in now.
    signed_in.release_early();
    let text = String::from_utf8_lossy(&opened.raw).into_owned();
    Ok((
        [
            (header::CONTENT_TYPE, "text/plain; charset=utf-8"),
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'none'; sandbox",
            ),
        ],
        text,
    )
        .into_response())
}

/// One part, as a download (or inline for images asked for inline).
pub async fn download_part(
    State(state): State<AppState>,
    mut signed_in: SignedIn,
    at: Result<Path<PartPath>, PathRejection>,
    query: Result<Query<PartQuery>, QueryRejection>,
) -> Result<Response, AppError> {
    let (at, query) = (message_at(at)?, query_or_default(query));
    let opened = peek(&state, &signed_in, &at.mailbox, at.uidvalidity, at.uid).await?;
    // Decoding an attachment touches no session state: let the session's
    // next request in now.
    signed_in.release_early();
    let part = mailfront_mime::extract_part(&opened.raw, &at.part).ok_or(AppError::NotFound)?;

    let inline_image = query.inline.is_some() && is_safe_inline_image(&part.content_type);
    let content_type = if inline_image || is_harmless_download_type(&part.content_type) {
        part.content_type.clone()
    } else {
        "application/octet-stream".to_owned()
    };
    let disposition = if inline_image {
        Disposition::Inline
    } else {
        Disposition::Attachment
    };
    let disposition = content_disposition(disposition, &without_format_controls(&part.filename));

    let mut response = part.data.into_response();
    let headers = response.headers_mut();
    let value = |text: &str| {
        HeaderValue::from_str(text)
            .unwrap_or_else(|_| HeaderValue::from_static("application/octet-stream"))
    };
    headers.insert(header::CONTENT_TYPE, value(&content_type));
    headers.insert(
        header::CONTENT_DISPOSITION,
        HeaderValue::from_str(&disposition)
            .unwrap_or_else(|_| HeaderValue::from_static("attachment")),
    );
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; sandbox"),
    );
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, no-store"),
    );
    Ok(response)
}

/// A forwarded message (a message/rfc822 part) shown like a message: text
/// bodies in the page, and the whole body in a sandboxed frame of its own
/// when any part of it is HTML.
pub async fn show_attached_message(
    State(state): State<AppState>,
    signed_in: SignedIn,
    headers: HeaderMap,
    at: Result<Path<PartPath>, PathRejection>,
    query: Result<Query<BodyQuery>, QueryRejection>,
) -> Result<Response, AppError> {
    let (at, query) = (message_at(at)?, query_or_default(query));
    let remote = query.remote.is_some() && asked_from_this_site(&headers);
    let view = attached_view(&state, &signed_in, &at, remote).await?;
    let folders = state.mail.folders(&signed_in.credentials).await?;

    let base = paths::message(&at.mailbox, at.uidvalidity, at.uid);
    let part_url = format!("{base}/part/{}", paths::encode_segment(&at.part));
    let section = section_for(&state, &view, &base, "");
    let page = MessagePage {
        layout: Layout::new(
            section.subject.clone(),
            &signed_in.record.user,
            signed_in.csrf_token(),
            &folders,
            Some(&at.mailbox),
        ),
        back_url: base.clone(),
        back_label: "Back to the message".to_owned(),
        message: section,
        frame_url: contains_html(&view).then(|| {
            let remote = if remote { "?remote=1" } else { "" };
            format!("{part_url}/body{remote}")
        }),
        remote_url: (view.had_remote_content && !remote)
            .then(|| format!("{part_url}/view?remote=1")),
        remote_shown: remote,
        source_url: part_url,
        flagged: false,
        flash: None,
        actions: None,
        compose: None,
        page: 1,
        search_fields: Vec::new(),
        previous_url: None,
        next_url: None,
    };
    Ok(html(StatusCode::OK, page.render()))
}

/// The body document of a forwarded message, shown in the sandboxed frame
/// of its page with the same policy as a message's own body.
pub async fn show_attached_message_body(
    State(state): State<AppState>,
    signed_in: SignedIn,
    headers: HeaderMap,
    at: Result<Path<PartPath>, PathRejection>,
    query: Result<Query<BodyQuery>, QueryRejection>,
) -> Result<Response, AppError> {
    let (at, query) = (message_at(at)?, query_or_default(query));
    let remote = query.remote.is_some() && asked_from_this_site(&headers);
    let view = attached_view(&state, &signed_in, &at, remote).await?;
    let frame = BodyFrame {
        blocks: frame_blocks(&state, &view),
    };
    Ok(frame_response(&frame, remote))
}

/// The forwarded message in a part, rendered with part numbers of the
/// message holding it. A part that is not a message is not found.
async fn attached_view(
    state: &AppState,
    signed_in: &SignedIn,
    at: &PartPath,
    remote: bool,
) -> Result<MessageView, AppError> {
    let opened = peek(state, signed_in, &at.mailbox, at.uidvalidity, at.uid).await?;
    let base = paths::message(&at.mailbox, at.uidvalidity, at.uid);
    let options = render_options(&base, remote);
    mailfront_mime::render_embedded_message(&opened.raw, &at.part, &options)
        .ok_or(AppError::NotFound)
}

/// The message a path names. A UIDVALIDITY or UID that is not a number in
/// range names no message, and gets the same page as a message that is gone.
pub(super) fn message_at<T>(at: Result<Path<T>, PathRejection>) -> Result<T, AppError> {
    at.map(|Path(at)| at).map_err(|_| AppError::MessageGone)
}

/// A page's query, or no options at all when the query cannot be read (a
/// repeated or malformed field): the page is shown as if asked plainly.
pub(super) fn query_or_default<T: Default>(query: Result<Query<T>, QueryRejection>) -> T {
    query.map(|Query(query)| query).unwrap_or_default()
}

/// Whether a request may turn remote content on: a link from another site
/// must not open a message with its remote images shown (which tells their
/// senders it was read). Browsers say where a request came from in
/// `Sec-Fetch-Site`; a request without it (an older browser, a program) is
/// taken as coming from this site.
fn asked_from_this_site(headers: &HeaderMap) -> bool {
    match headers.get("sec-fetch-site") {
        None => true,
        Some(value) => matches!(value.to_str(), Ok("same-origin" | "none")),
    }
}

/// Fetches a message without marking it read: for its frame, parts and
/// source, which a browser loads after the message page itself.
async fn peek(
    state: &AppState,
    signed_in: &SignedIn,
    mailbox: &str,
    uidvalidity: u32,
    uid: u32,
) -> Result<crate::mail::OpenedMessage, AppError> {
    let credentials = &signed_in.credentials;
    Ok(state
        .mail
        .open_message(credentials, mailbox, uidvalidity, uid, false, None)
        .await?)
}

fn render_options(message_base: &str, allow_remote: bool) -> RenderOptions {
    RenderOptions {
        part_url_prefix: format!("{message_base}/part/"),
        allow_remote,
    }
}

fn contains_html(view: &MessageView) -> bool {
    view.body.iter().any(|block| match block {
        BodyBlock::Html { .. } => true,
        BodyBlock::Message(inner) => contains_html(inner),
        BodyBlock::Text { .. } => false,
    })
}

/// The page section of a message. `part_prefix` is prepended to part ids of
/// a message nested inside another ("2." for the message in part 2).
fn section_for(
    state: &AppState,
    view: &MessageView,
    message_base: &str,
    part_prefix: &str,
) -> MessageSection {
    let zone = state.settings.time_zone;
    let text_blocks = if contains_html(view) {
        Vec::new()
    } else {
        view.body
            .iter()
            .filter_map(|block| match block {
                BodyBlock::Text { html } => Some(html.clone()),
                BodyBlock::Message(inner) => {
                    let nested = section_for(state, inner, message_base, part_prefix);
                    NestedSection { message: &nested }.render().ok()
                }
                BodyBlock::Html { .. } => None,
            })
            .collect()
    };
    let attachments = view
        .attachments
        .iter()
        .map(|attachment| {
            let part_id = format!("{part_prefix}{}", attachment.part_id);
            let url = format!("{message_base}/part/{}", paths::encode_segment(&part_id));
            let is_message = attachment.content_type == "message/rfc822"
                || attachment.content_type == "message/global";
            AttachmentView {
                name: without_format_controls(&attachment.filename),
                content_type: attachment.content_type.clone(),
                size: format::size(attachment.size as u64),
                view_url: is_message.then(|| format!("{url}/view")),
                url,
            }
        })
        .collect();

    MessageSection {
        subject: view
            .subject
            .as_deref()
            .filter(|s| !s.trim().is_empty())
            .map(without_format_controls)
            .filter(|s| !s.trim().is_empty())
            .map_or_else(|| "(no subject)".to_owned(), |s| shortened(&s)),
        from: people(&view.from).unwrap_or_else(|| "(unknown sender)".to_owned()),
        to: people(&view.to).unwrap_or_default(),
        cc: people(&view.cc).unwrap_or_default(),
        date: format::full_date(view.date, zone),
        text_blocks,
        attachments,
        problems: view.problems.clone(),
    }
}

fn frame_blocks(state: &AppState, view: &MessageView) -> Vec<String> {
    let zone = state.settings.time_zone;
    view.body
        .iter()
        .map(|block| match block {
            BodyBlock::Text { html } | BodyBlock::Html { html } => html.clone(),
            BodyBlock::Message(inner) => {
                let heading = format!(
                    "Forwarded message from {} on {}: {}",
                    people(&inner.from).unwrap_or_else(|| "(unknown sender)".to_owned()),
                    format::full_date(inner.date, zone),
                    inner
                        .subject
                        .as_deref()
                        .map(without_format_controls)
                        .map_or_else(|| "(no subject)".to_owned(), |s| shortened(&s))
                );
                let inner_blocks = frame_blocks(state, inner).concat();
                format!(
                    "<blockquote class=\"forwarded\"><p class=\"heading\">{}</p>\
                     {inner_blocks}</blockquote>",
                    format::escape_html(&heading)
                )
            }
        })
        .collect()
}

/// The most characters of a subject shown in a heading or a tab title.
const SHOWN_SUBJECT_CHARS: usize = 300;

/// A subject as headings show it: cut after [`SHOWN_SUBJECT_CHARS`]
/// characters, with "…" where it was cut. The whole text stays in the
/// message's source.
fn shortened(subject: &str) -> String {
    match subject.char_indices().nth(SHOWN_SUBJECT_CHARS) {
        Some((end, _)) => format!("{}…", subject[..end].trim_end()),
        None => subject.to_owned(),
    }
}

fn people(addresses: &[MailAddress]) -> Option<String> {
    let shown: Vec<String> = addresses
        .iter()
        .map(MailAddress::display)
        .filter(|s| !s.is_empty())
        .collect();
    (!shown.is_empty()).then(|| without_format_controls(&shown.join(", ")))
}

/// Text from a message as a page shows it: without control characters and
/// without the invisible Unicode format characters (general category Cf:
/// direction overrides, embeddings and isolates, zero-width spaces, word
/// joiners, tags), which could make `invoice\u{202E}fdp.exe` read as
/// `invoiceexe.pdf` or reverse the rest of a line.
///
/// The zero-width non-joiner and joiner (U+200C, U+200D) are kept: they
/// shape Persian and Indic words and emoji sequences, and move no text.
pub(super) fn without_format_controls(text: &str) -> String {
    text.chars()
        .filter(|&c| !c.is_control() && !is_format_character(c))
        .collect()
}

/// Whether a character is of general category Cf (Unicode 15.1), but for
/// the joiners U+200C and U+200D.
fn is_format_character(c: char) -> bool {
    matches!(
        c,
        '\u{AD}'
            | '\u{600}'..='\u{605}'
            | '\u{61C}'
            | '\u{6DD}'
            | '\u{70F}'
            | '\u{890}'..='\u{891}'
            | '\u{8E2}'
            | '\u{180E}'
            | '\u{200B}'
            | '\u{200E}'..='\u{200F}'
            | '\u{202A}'..='\u{202E}'
            | '\u{2060}'..='\u{2064}'
            | '\u{2066}'..='\u{206F}'
            | '\u{FEFF}'
            | '\u{FFF9}'..='\u{FFFB}'
            | '\u{110BD}'
            | '\u{110CD}'
            | '\u{13430}'..='\u{1343F}'
            | '\u{1BCA0}'..='\u{1BCA3}'
            | '\u{1D173}'..='\u{1D17A}'
            | '\u{E0001}'
            | '\u{E0020}'..='\u{E007F}'
    )
}

fn is_safe_inline_image(content_type: &str) -> bool {
    matches!(
        content_type,
        "image/png" | "image/gif" | "image/jpeg" | "image/webp"
    )
}

/// Types a browser will not run as a document of this site.
fn is_harmless_download_type(content_type: &str) -> bool {
    let lower = content_type.to_ascii_lowercase();
    let dangerous = lower.contains("html")
        || lower.contains("xml")
        || lower.contains("svg")
        || lower.contains("javascript")
        || lower.starts_with("multipart/");
    !dangerous && lower.contains('/')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn direction_overrides_and_invisible_characters_are_taken_out_of_names() {
        let name = "invoice\u{202E}fdp.exe";
        assert_eq!(without_format_controls(name), "invoicefdp.exe");
        let hidden = "a\u{200B}b\u{2066}c\u{2069}d\u{061C}e\u{200E}f\u{FEFF}g\u{E0041}\th";
        assert_eq!(without_format_controls(hidden), "abcdefgh");
        let family = "\u{1F468}\u{200D}\u{1F469}\u{200D}\u{1F467} \u{645}\u{200C}\u{6CC}";
        assert_eq!(without_format_controls(family), family);
    }

    #[test]
    fn a_long_subject_is_cut_after_three_hundred_characters() {
        let long = "é".repeat(200_000);
        let shown = shortened(&long);
        assert_eq!(shown.chars().count(), SHOWN_SUBJECT_CHARS + 1);
        assert!(shown.ends_with('…'));
        assert_eq!(shortened("short one"), "short one");
    }
}
