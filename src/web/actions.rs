//! The forms that change messages: mark read or unread, flag, delete, move,
//! archive, from a folder's list (a selection of rows) or from one message.
//!
//! Every change is a POST that carries the session's CSRF token and a
//! one-time form token. A forged or missing token changes nothing and shows
//! the "form expired" page; a form token already applied (a double submit)
//! changes nothing either and answers with the same redirect as the first
//! submit. After a change the browser is sent back with a 303 (to the same
//! page and order of the list, or to the message's neighbour, keeping the
//! search the list or the message was reached from), and the
//! session's flash says once what happened. Nothing here speaks IMAP: the
//! mail service does the work.
//!
//! # Limitations
//!
//! - "Select all" covers the rows of the page shown, not the whole folder.
//! - A repeated submit of a form that took a message out of its folder goes
//!   to the list, not to the neighbour the first submit went to (the token
//!   store remembers that a form was applied, not where it led).
//! - Removing a message for good from its view asks for confirmation on a
//!   page that goes back to the list afterwards, not to the neighbour.
//! - Without script, ticking "select all" does not tick the rows' boxes
//!   (the server applies it to every row of the page; "Tick all rows"
//!   shows the page with the boxes ticked instead). With the shortcuts
//!   script it ticks them, and unticking a row unticks it.

use askama::Template;
use axum::extract::rejection::{FormRejection, PathRejection};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use serde::Deserialize;

use super::error::html;
use super::mailbox::parse_page;
use super::message::message_at;
use super::search::{fields_of, link_suffix, HiddenField, SearchParams};
use super::signed_in::SignedIn;
use super::views::Layout;
use super::{paths, AppError, AppState};
use crate::mail::{
    ActionOutcome, FlagChange, Folder, FolderRole, SearchQuery, Selection, SortOrder,
};
use crate::session::new_form_token;

/// The action bar of a list or a message view.
pub struct ActionBar {
    /// Where the form posts.
    pub url: String,
    /// A fresh one-time token for this form.
    pub form_token: String,
    /// Folders messages can be moved to (every selectable one but this).
    pub targets: Vec<MoveTarget>,
    /// The folder is the Trash: "Delete" removes for good, after a
    /// confirmation.
    pub in_trash: bool,
    pub has_archive: bool,
}

/// One entry of the "Move to" menu.
pub struct MoveTarget {
    pub raw_name: String,
    pub label: String,
}

impl ActionBar {
    pub fn new(url: String, folders: &[Folder], current: &str) -> ActionBar {
        ActionBar {
            url,
            form_token: new_form_token(),
            targets: folders
                .iter()
                .filter(|f| f.selectable && f.raw_name != current)
                .map(|f| MoveTarget {
                    raw_name: f.raw_name.clone(),
                    label: f.full_label.clone(),
                })
                .collect(),
            in_trash: has_role(folders, current, FolderRole::Trash),
            has_archive: folders
                .iter()
                .any(|f| f.raw_name != current && f.role == Some(FolderRole::Archive)),
        }
    }
}

/// The address of the list's action form.
pub fn list_actions_url(raw_name: &str) -> String {
    format!("{}/actions", paths::mailbox(raw_name))
}

/// The address of a message's action form.
pub fn message_actions_url(raw_name: &str, uidvalidity: u32, uid: u32) -> String {
    format!("{}/actions", paths::message(raw_name, uidvalidity, uid))
}

#[derive(Template)]
#[template(path = "confirm_delete.html")]
struct ConfirmDelete {
    layout: Layout,
    folder_label: String,
    count: usize,
    url: String,
    form_token: String,
    uidvalidity: u32,
    uids: Vec<u32>,
    page: usize,
    sort: String,
    /// The search the list was showing, kept for the way back.
    search_fields: Vec<HiddenField>,
    cancel_url: String,
}

/// What a user asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    Flags(FlagChange),
    Delete,
    /// Removal for good, confirmed (only inside the Trash).
    Destroy,
    Archive,
    Move,
}

impl Action {
    fn parse(text: &str) -> Option<Action> {
        Some(match text {
            "read" => Action::Flags(FlagChange::MarkRead),
            "unread" => Action::Flags(FlagChange::MarkUnread),
            "flag" => Action::Flags(FlagChange::Flag),
            "unflag" => Action::Flags(FlagChange::Unflag),
            "delete" => Action::Delete,
            "destroy" => Action::Destroy,
            "archive" => Action::Archive,
            "move" => Action::Move,
            _ => return None,
        })
    }
}

/// The fields of an action form. Repeated fields (`uid`, `page_uid`) are
/// why the form is read as a list of pairs.
#[derive(Default)]
struct ActionForm {
    csrf: String,
    form_token: String,
    action: String,
    target: String,
    page: Option<String>,
    sort: Option<String>,
    uidvalidity: Option<u32>,
    uids: Vec<u32>,
    /// "Select all on this page" was ticked: `page_uids` count.
    all: bool,
    page_uids: Vec<u32>,
    /// The search the page showed, if any.
    search: SearchParams,
}

impl ActionForm {
    fn read(pairs: Vec<(String, String)>) -> ActionForm {
        let mut form = ActionForm::default();
        for (name, value) in pairs {
            match name.as_str() {
                "csrf" => form.csrf = value,
                "form_token" => form.form_token = value,
                "action" => form.action = value,
                "target" => form.target = value,
                "page" => form.page = Some(value),
                "sort" => form.sort = Some(value),
                "uidvalidity" => form.uidvalidity = value.parse().ok(),
                "uid" => form.uids.extend(value.parse::<u32>().ok()),
                "page_uid" => form.page_uids.extend(value.parse::<u32>().ok()),
                "all" => form.all = true,
                _ => {
                    form.search.take_pair(&name, value);
                }
            }
        }
        form
    }

    fn chosen_uids(&self) -> Vec<u32> {
        if self.all {
            self.page_uids.clone()
        } else {
            self.uids.clone()
        }
    }
}

#[derive(Deserialize)]
pub struct MessagePath {
    mailbox: String,
    uidvalidity: u32,
    uid: u32,
}

/// `POST /mail/{mailbox}/actions`: an action on rows of a list.
pub async fn act_on_list(
    State(state): State<AppState>,
    mut signed_in: SignedIn,
    raw_name: Result<Path<String>, PathRejection>,
    pairs: Result<Form<Vec<(String, String)>>, FormRejection>,
) -> Result<Response, AppError> {
    let Path(raw_name) = raw_name.map_err(|_| AppError::MailboxNotFound)?;
    let form = ActionForm::read(form_pairs(pairs)?);
    let page = parse_page(form.page.as_deref()).max(1) as usize;
    let sort = form
        .sort
        .as_deref()
        .and_then(SortOrder::from_token)
        .unwrap_or_else(|| remembered_sort(&signed_in, &raw_name));
    let searched = form.search.read_or_none();
    let back = format!(
        "{}{}",
        paths::mailbox_page(&raw_name, page, &sort.token()),
        link_suffix(searched.as_ref())
    );
    if !accept_form(&mut signed_in, &form)? {
        return Ok(see_other(&back));
    }

    let action = Action::parse(&form.action).ok_or(AppError::BadRequest("unknown action"))?;
    let uids = form.chosen_uids();
    let Some(uidvalidity) = form.uidvalidity.filter(|_| !uids.is_empty()) else {
        return flash_and_go(&mut signed_in, "Select at least one message.", &back).await;
    };
    let selection = Selection {
        raw_name: raw_name.clone(),
        uidvalidity,
        uids,
    };

    let folders = state.mail.folders(&signed_in.credentials).await?;
    let in_trash = has_role(&folders, &raw_name, FolderRole::Trash);
    if action == Action::Delete && in_trash {
        let view = confirm_view(&signed_in, &folders, &selection, page, sort, searched);
        signed_in.save().await?;
        return Ok(html(StatusCode::OK, view.render()));
    }

    let said = apply(
        &state,
        &signed_in,
        &folders,
        &selection,
        action,
        &form.target,
    )
    .await?;
    flash_and_go(&mut signed_in, &said, &back).await
}

/// `POST /mail/{mailbox}/{uidvalidity}/{uid}/actions`: an action on the
/// message shown. Taking the message out of its folder moves on to its
/// neighbour in the list's order.
pub async fn act_on_message(
    State(state): State<AppState>,
    mut signed_in: SignedIn,
    at: Result<Path<MessagePath>, PathRejection>,
    pairs: Result<Form<Vec<(String, String)>>, FormRejection>,
) -> Result<Response, AppError> {
    let at = message_at(at)?;
    let form = ActionForm::read(form_pairs(pairs)?);
    let page = parse_page(form.page.as_deref()).max(1) as usize;
    let sort = remembered_sort(&signed_in, &at.mailbox);
    let searched = form.search.read_or_none();
    let kept = link_suffix(searched.as_ref());
    let list = format!(
        "{}{kept}",
        paths::mailbox_page(&at.mailbox, page, &sort.token())
    );
    let here = format!(
        "{}?page={page}{kept}",
        paths::message(&at.mailbox, at.uidvalidity, at.uid)
    );
    let action = Action::parse(&form.action);
    let leaves = matches!(
        action,
        Some(Action::Delete | Action::Destroy | Action::Archive | Action::Move)
    );
    if !accept_form(&mut signed_in, &form)? {
        // The first submit may have taken the message away: the list is
        // the one place that exists either way.
        return Ok(see_other(if leaves { &list } else { &here }));
    }

    let action = action.ok_or(AppError::BadRequest("unknown action"))?;
    let selection = Selection {
        raw_name: at.mailbox.clone(),
        uidvalidity: at.uidvalidity,
        uids: vec![at.uid],
    };
    let folders = state.mail.folders(&signed_in.credentials).await?;
    if action == Action::Delete && has_role(&folders, &at.mailbox, FolderRole::Trash) {
        let view = confirm_view(&signed_in, &folders, &selection, page, sort, searched);
        signed_in.save().await?;
        return Ok(html(StatusCode::OK, view.render()));
    }

    let neighbour = if leaves {
        let credentials = &signed_in.credentials;
        state
            .mail
            .neighbour(credentials, &selection, at.uid, sort, searched.as_ref())
            .await?
    } else {
        None
    };
    let said = apply(
        &state,
        &signed_in,
        &folders,
        &selection,
        action,
        &form.target,
    )
    .await?;

    let next = match action {
        Action::Flags(FlagChange::MarkUnread) => list,
        Action::Flags(_) => here,
        _ => match neighbour {
            Some(n) => format!(
                "{}?page={}{kept}",
                paths::message(&at.mailbox, at.uidvalidity, n.uid),
                n.page
            ),
            None => list,
        },
    };
    flash_and_go(&mut signed_in, &said, &next).await
}

/// The fields of a posted form; a body that is not a form changes nothing.
fn form_pairs(
    pairs: Result<Form<Vec<(String, String)>>, FormRejection>,
) -> Result<Vec<(String, String)>, AppError> {
    pairs
        .map(|Form(pairs)| pairs)
        .map_err(|rejection| super::error::unreadable_form(rejection.status()))
}

/// Checks the CSRF token and applies the form token. `Ok(false)` for a
/// form applied before (answer as the first submit did, change nothing).
fn accept_form(signed_in: &mut SignedIn, form: &ActionForm) -> Result<bool, AppError> {
    signed_in.check_csrf(&form.csrf)?;
    if !crate::session::is_form_token(&form.form_token) {
        return Err(AppError::FormExpired);
    }
    Ok(signed_in.record.consume_form_token(&form.form_token))
}

/// Runs an action and says what it did, in words for the flash.
async fn apply(
    state: &AppState,
    signed_in: &SignedIn,
    folders: &[Folder],
    selection: &Selection,
    action: Action,
    target: &str,
) -> Result<String, AppError> {
    let credentials = &signed_in.credentials;
    let mail = &state.mail;
    let (outcome, done) = match action {
        Action::Flags(change) => {
            let outcome = mail.change_flags(credentials, selection, change).await?;
            let done = match change {
                FlagChange::MarkRead => "marked as read",
                FlagChange::MarkUnread => "marked as unread",
                FlagChange::Flag => "flagged",
                FlagChange::Unflag => "unflagged",
                FlagChange::MarkAnswered => "marked as answered",
                FlagChange::MarkForwarded => "marked as forwarded",
            };
            (outcome, done.to_owned())
        }
        Action::Delete | Action::Archive => {
            let role = if action == Action::Delete {
                FolderRole::Trash
            } else {
                FolderRole::Archive
            };
            let Some(folder) = folders.iter().find(|f| f.role == Some(role)) else {
                return Ok(format!(
                    "There is no {} folder on this server; nothing was changed.",
                    role.label()
                ));
            };
            let outcome = mail
                .move_to(credentials, selection, &folder.raw_name)
                .await?;
            (outcome, format!("moved to {}", folder.label))
        }
        Action::Destroy => {
            if !has_role(folders, &selection.raw_name, FolderRole::Trash) {
                return Err(AppError::BadRequest(
                    "messages are deleted for good only from the Trash",
                ));
            }
            let outcome = mail.expunge(credentials, selection).await?;
            (outcome, "deleted for good".to_owned())
        }
        Action::Move => {
            let Some(folder) = folders
                .iter()
                .find(|f| f.selectable && f.raw_name == target && f.raw_name != selection.raw_name)
            else {
                return Ok("Choose a folder to move the messages to.".to_owned());
            };
            let outcome = mail
                .move_to(credentials, selection, &folder.raw_name)
                .await?;
            (outcome, format!("moved to {}", folder.full_label))
        }
    };
    Ok(describe(outcome, &done))
}

/// "3 messages marked as read", and a word on messages that were gone.
fn describe(outcome: ActionOutcome, done: &str) -> String {
    let messages = |n: usize| {
        if n == 1 {
            "1 message".to_owned()
        } else {
            format!("{n} messages")
        }
    };
    if outcome.applied == 0 {
        return "The selected messages are no longer in this folder (moved or deleted \
                elsewhere); nothing was changed."
            .to_owned();
    }

    let mut text = format!("{} {done}.", messages(outcome.applied));
    if outcome.missing > 0 {
        let verb = if outcome.missing == 1 { "was" } else { "were" };
        text.push_str(&format!(
            " {} {verb} no longer in this folder (moved or deleted elsewhere) and {verb} left \
             alone.",
            messages(outcome.missing)
        ));
    }
    text
}

fn confirm_view(
    signed_in: &SignedIn,
    folders: &[Folder],
    selection: &Selection,
    page: usize,
    sort: SortOrder,
    searched: Option<SearchQuery>,
) -> ConfirmDelete {
    let raw_name = &selection.raw_name;
    let folder_label = folders
        .iter()
        .find(|f| &f.raw_name == raw_name)
        .map_or_else(
            || mailfront_imap::decode_mailbox_name(raw_name),
            |f| f.full_label.clone(),
        );
    let mut uids = selection.uids.clone();
    uids.sort_unstable();
    uids.dedup();
    ConfirmDelete {
        layout: Layout::new(
            "Delete for good?".to_owned(),
            &signed_in.record.user,
            signed_in.csrf_token(),
            folders,
            Some(raw_name),
        ),
        folder_label,
        count: uids.len(),
        url: list_actions_url(raw_name),
        form_token: new_form_token(),
        uidvalidity: selection.uidvalidity,
        uids,
        page,
        sort: sort.token(),
        search_fields: fields_of(searched.as_ref()),
        cancel_url: format!(
            "{}{}",
            paths::mailbox_page(raw_name, page, &sort.token()),
            link_suffix(searched.as_ref())
        ),
    }
}

fn has_role(folders: &[Folder], raw_name: &str, role: FolderRole) -> bool {
    folders
        .iter()
        .any(|f| f.raw_name == raw_name && f.role == Some(role))
}

fn remembered_sort(signed_in: &SignedIn, raw_name: &str) -> SortOrder {
    signed_in
        .record
        .folder_sort
        .get(raw_name)
        .and_then(|token| SortOrder::from_token(token))
        .unwrap_or_default()
}

async fn flash_and_go(
    signed_in: &mut SignedIn,
    text: &str,
    to: &str,
) -> Result<Response, AppError> {
    signed_in.record.flash = Some(text.to_owned());
    signed_in.save().await?;
    Ok(see_other(to))
}

fn see_other(to: &str) -> Response {
    Redirect::to(to).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_flash_counts_what_was_done_and_what_was_gone() {
        let done = ActionOutcome {
            applied: 3,
            missing: 0,
        };
        assert_eq!(
            describe(done, "marked as read"),
            "3 messages marked as read."
        );
        let partly = ActionOutcome {
            applied: 1,
            missing: 1,
        };
        assert_eq!(
            describe(partly, "flagged"),
            "1 message flagged. 1 message was no longer in this folder (moved or deleted \
             elsewhere) and was left alone."
        );
        assert!(describe(ActionOutcome::default(), "flagged").contains("nothing was changed"));
    }

    #[test]
    fn select_all_takes_every_row_of_the_page() {
        let pairs = vec![
            ("uid".to_owned(), "4".to_owned()),
            ("all".to_owned(), "1".to_owned()),
            ("page_uid".to_owned(), "4".to_owned()),
            ("page_uid".to_owned(), "5".to_owned()),
        ];
        assert_eq!(ActionForm::read(pairs).chosen_uids(), vec![4, 5]);
    }
}
