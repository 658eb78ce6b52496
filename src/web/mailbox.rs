//! The message list of a folder: one page of rows, the pager, the sort
//! menu and the search box. With a search in the URL the list holds the
//! matches, paged and sorted like the folder, and every link and form of
//! the page carries the search along (see `search`). Page numbers are
//! forgiving: a missing, malformed or out-of-range number shows the nearest
//! page that exists, never an error. A search that cannot be run (a date
//! that is no day, say) shows the folder page with the search box as sent
//! and a sentence on what to change.

use askama::Template;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{Redirect, Response};
use serde::Deserialize;

use super::actions::{list_actions_url, ActionBar};
use super::error::{html, SEARCH_REFUSED, SEARCH_REFUSED_HINT};
use super::search::{problem_text, SearchBox, SearchParams};
use super::signed_in::SignedIn;
use super::views::Layout;
use super::{format, paths, AppError, AppState};
use crate::mail::{FolderRole, MailError, MailboxPage, PageRequest, SortOrder};
use crate::metrics::bump;

#[derive(Template)]
#[template(path = "mailbox.html")]
struct MailboxView {
    layout: Layout,
    folder_label: String,
    total: usize,
    page: usize,
    page_count: usize,
    zone: String,
    show_recipient: bool,
    rows: Vec<RowView>,
    pager: Pager,
    sort_options: Vec<SortOption>,
    /// What the last action did, shown once.
    flash: Option<String>,
    actions: ActionBar,
    uidvalidity: u32,
    sort_token: String,
    search: SearchBox,
    /// Every row's box is ticked ("Tick all rows" was followed).
    all_ticked: bool,
    /// This page with every box ticked, and with none.
    tick_all_url: String,
    untick_url: String,
}

struct RowView {
    uid: u32,
    url: String,
    person: String,
    person_missing: bool,
    subject: String,
    subject_missing: bool,
    date: String,
    date_iso: String,
    size: String,
    unread: bool,
    flagged: bool,
    answered: bool,
    attachment: bool,
}

struct Pager {
    first: Option<String>,
    prev: Option<String>,
    next: Option<String>,
    last: Option<String>,
}

struct SortOption {
    token: String,
    label: &'static str,
    selected: bool,
}

#[derive(Deserialize, Default)]
pub struct MailboxQuery {
    page: Option<String>,
    sort: Option<String>,
    /// The last UID of the page the user came from ("Next").
    after: Option<String>,
    /// The first UID of the page the user came from ("Previous").
    before: Option<String>,
    #[serde(flatten)]
    search: SearchParams,
    /// `all`: show the page with every row's box ticked (no script needed).
    select: Option<String>,
}

pub async fn go_to_inbox(_signed_in: SignedIn) -> Redirect {
    Redirect::to(&paths::mailbox("INBOX"))
}

pub async fn show_mailbox(
    State(state): State<AppState>,
    mut signed_in: SignedIn,
    Path(raw_name): Path<String>,
    query: Result<Query<MailboxQuery>, QueryRejection>,
) -> Result<Response, AppError> {
    // An unreadable query (a repeated key, say) shows the first page.
    let query = query.map_or_else(|_| MailboxQuery::default(), |Query(q)| q);
    let request = PageRequest {
        page: parse_page(query.page.as_deref()),
        after: query.after.as_deref().and_then(|uid| uid.parse().ok()),
        before: query.before.as_deref().and_then(|uid| uid.parse().ok()),
    };
    let asked = query.sort.as_deref().and_then(SortOrder::from_token);
    let sort = asked.unwrap_or_else(|| remembered_sort(&signed_in, &raw_name));
    let search = query.search.read();

    let credentials = signed_in.credentials.clone();
    // Why a search was not run, and the status that goes with it.
    let mut refusal = search
        .as_ref()
        .err()
        .map(|problem| (problem_text(problem), StatusCode::BAD_REQUEST));
    let listing = match &search {
        Ok(None) => {
            let page = state
                .mail
                .mailbox_page(&credentials, &raw_name, request, sort)
                .await;
            match page {
                Err(MailError::MailboxNotFound) => {
                    return Err(missing_folder(&state, &credentials, &raw_name).await)
                }
                other => other?,
            }
        }
        Ok(Some(wanted)) => {
            let found = state
                .mail
                .search_page(&credentials, &raw_name, wanted, request, sort)
                .await;
            match found {
                Err(MailError::SearchRefused) => {
                    let text = format!("{SEARCH_REFUSED} {SEARCH_REFUSED_HINT}");
                    refusal = Some((text, StatusCode::BAD_GATEWAY));
                    nothing_listed(&raw_name, sort)
                }
                other => other?,
            }
        }
        Err(_) => {
            let folders = state.mail.folders(&credentials).await?;
            let exists = folders
                .iter()
                .any(|f| f.raw_name == raw_name && f.selectable);
            if !exists {
                return Err(AppError::MailboxNotFound);
            }
            nothing_listed(&raw_name, sort)
        }
    };
    // After the page: its validation has just put this folder's counts
    // into the cached folder list.
    let mut folders = state.mail.folders(&credentials).await?;
    if let (Ok(None), Some(current)) =
        (&search, folders.iter_mut().find(|f| f.raw_name == raw_name))
    {
        current.total = u32::try_from(listing.total).ok();
        current.unseen = listing.unseen.or(current.unseen);
    }
    bump(&state.metrics.page_views);

    let role = folders
        .iter()
        .find(|f| f.raw_name == raw_name)
        .and_then(|f| f.role);
    let label = folders.iter().find(|f| f.raw_name == raw_name).map_or_else(
        || mailfront_imap::decode_mailbox_name(&raw_name),
        |f| f.full_label.clone(),
    );
    let clear_url = paths::mailbox_page(&raw_name, 1, &sort.token());
    let (search_box, status, title) = match (&search, refusal) {
        (_, Some((problem, status))) => (
            SearchBox::refused(&query.search, problem, clear_url),
            status,
            format!("Search in {label}"),
        ),
        (Ok(Some(wanted)), None) => (
            SearchBox::results(wanted, listing.total, &label, clear_url),
            StatusCode::OK,
            format!("Search in {label}"),
        ),
        _ => (SearchBox::idle(clear_url), StatusCode::OK, label.clone()),
    };
    let layout = Layout::new(
        title,
        &signed_in.record.user,
        signed_in.csrf_token(),
        &folders,
        Some(&raw_name),
    );
    let actions = ActionBar::new(list_actions_url(&raw_name), &folders, &raw_name);
    let mut view = build_view(&state, layout, label, &listing, role, actions, search_box);
    view.all_ticked = query.select.as_deref() == Some("all");
    view.flash = signed_in.record.flash.take();
    let sort_changed = asked.is_some_and(|order| remember_sort(&mut signed_in, &raw_name, order));
    if view.flash.is_some() || sort_changed {
        signed_in.save().await?;
    }
    Ok(html(status, view.render()))
}

/// The empty list shown beside a search that could not be run.
/// Why a folder could not be opened: it is gone, or it is listed as one
/// that only holds other folders.
async fn missing_folder(
    state: &AppState,
    credentials: &crate::pool::Credentials,
    raw_name: &str,
) -> AppError {
    let Ok(folders) = state.mail.folders(credentials).await else {
        return AppError::MailboxNotFound;
    };
    let only_folders = folders
        .iter()
        .any(|f| f.raw_name == raw_name && !f.selectable);
    if only_folders {
        AppError::FolderOfFolders
    } else {
        AppError::MailboxNotFound
    }
}

fn nothing_listed(raw_name: &str, sort: SortOrder) -> MailboxPage {
    MailboxPage {
        raw_name: raw_name.to_owned(),
        uidvalidity: 0,
        total: 0,
        page: 1,
        start: 0,
        page_count: 1,
        sort,
        rows: Vec::new(),
        unseen: None,
    }
}

/// Folders whose chosen order a session remembers at most; past that, the
/// choice for the folder first in name order is forgotten to make room.
const REMEMBERED_SORTS: usize = 100;

/// The order remembered for a folder, else newest arrival first.
pub(super) fn remembered_sort(signed_in: &SignedIn, raw_name: &str) -> SortOrder {
    signed_in
        .record
        .folder_sort
        .get(raw_name)
        .and_then(|token| SortOrder::from_token(token))
        .unwrap_or_default()
}

/// Remembers the order chosen for a folder that was just shown (so names
/// of folders that do not exist never reach the session). Returns whether
/// the record changed.
fn remember_sort(signed_in: &mut SignedIn, raw_name: &str, order: SortOrder) -> bool {
    let token = order.token();
    let remembered = &mut signed_in.record.folder_sort;
    if remembered.get(raw_name) == Some(&token) {
        return false;
    }
    if order == SortOrder::default() {
        return remembered.remove(raw_name).is_some();
    }
    if remembered.len() >= REMEMBERED_SORTS && !remembered.contains_key(raw_name) {
        let first = remembered.keys().next().cloned();
        if let Some(first) = first {
            remembered.remove(&first);
        }
    }
    remembered.insert(raw_name.to_owned(), token);
    true
}

/// Reads a page number; anything that is not a number means page 1, a
/// number too large to read means the last page, and any other number out
/// of range is clamped by the mail service.
pub fn parse_page(text: Option<&str>) -> i64 {
    let Some(text) = text.map(str::trim) else {
        return 1;
    };
    match text.parse::<i64>() {
        Ok(page) => page,
        Err(_) if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) => i64::MAX,
        Err(_) => 1,
    }
}

fn build_view(
    state: &AppState,
    layout: Layout,
    folder_label: String,
    listing: &MailboxPage,
    role: Option<FolderRole>,
    actions: ActionBar,
    search: SearchBox,
) -> MailboxView {
    let kept = search.link_suffix();
    let zone = state.settings.time_zone;
    let show_recipient = matches!(role, Some(FolderRole::Sent | FolderRole::Drafts));
    let rows = listing
        .rows
        .iter()
        .map(|row| {
            let person = if show_recipient { &row.to } else { &row.from };
            let person = person
                .as_deref()
                .map(super::message::without_format_controls);
            let subject = row
                .subject
                .as_deref()
                .map(super::message::without_format_controls);
            RowView {
                uid: row.uid,
                url: format!(
                    "{}?page={}{kept}",
                    paths::message(&listing.raw_name, listing.uidvalidity, row.uid),
                    listing.page
                ),
                person_missing: person.is_none(),
                person: person.unwrap_or_else(|| {
                    if show_recipient {
                        "(no recipient)"
                    } else {
                        "(unknown sender)"
                    }
                    .to_owned()
                }),
                subject_missing: subject.is_none(),
                subject: subject.unwrap_or_else(|| "(no subject)".to_owned()),
                date: format::list_date(row.date, zone),
                date_iso: format::iso_date(row.date, zone),
                size: row
                    .size
                    .map(|s| format::size(u64::from(s)))
                    .unwrap_or_default(),
                unread: row.unread,
                flagged: row.flagged,
                answered: row.answered,
                attachment: row.has_attachments,
            }
        })
        .collect();

    let sort_token = listing.sort.token();
    let link = |page: usize| {
        format!(
            "{}{kept}",
            paths::mailbox_page(&listing.raw_name, page, &sort_token)
        )
    };
    let first_uid = listing.rows.first().map(|row| row.uid);
    let last_uid = listing.rows.last().map(|row| row.uid);
    let is_first = listing.start == 0;
    let is_last = listing.start + listing.rows.len() >= listing.total;
    let pager = Pager {
        first: (!is_first).then(|| link(1)),
        prev: (!is_first).then(|| {
            let anchor = first_uid
                .map(|uid| format!("&before={uid}"))
                .unwrap_or_default();
            format!("{}{anchor}", link(listing.page.saturating_sub(1).max(1)))
        }),
        next: (!is_last).then(|| {
            let anchor = last_uid
                .map(|uid| format!("&after={uid}"))
                .unwrap_or_default();
            format!("{}{anchor}", link(listing.page + 1))
        }),
        last: (!is_last).then(|| link(listing.page_count)),
    };
    let sort_options = SortOrder::ALL
        .iter()
        .map(|order| SortOption {
            token: order.token(),
            label: order.label(),
            selected: *order == listing.sort,
        })
        .collect();

    MailboxView {
        layout,
        folder_label,
        total: listing.total,
        page: listing.page,
        page_count: listing.page_count,
        zone: format::zone_label(zone),
        show_recipient,
        rows,
        pager,
        sort_options,
        flash: None,
        actions,
        uidvalidity: listing.uidvalidity,
        all_ticked: false,
        tick_all_url: format!("{}&select=all", link(listing.page)),
        untick_url: link(listing.page),
        sort_token,
        search,
    }
}

#[cfg(test)]
mod tests {
    use super::parse_page;

    #[test]
    fn malformed_page_numbers_mean_the_first_page() {
        assert_eq!(parse_page(None), 1);
        assert_eq!(parse_page(Some("abc")), 1);
        assert_eq!(parse_page(Some("2;drop")), 1);
        assert_eq!(parse_page(Some("-1")), -1);
        assert_eq!(parse_page(Some("999")), 999);
        assert_eq!(parse_page(Some("99999999999999999999999")), i64::MAX);
    }
}
