//! The folder management page, `/folders`: every folder with its message
//! count and subscription, and the forms that create, rename, delete and
//! (un)subscribe folders.
//!
//! Every change is a POST to `/folders` that carries the session's CSRF
//! token and a one-time form token, checked exactly as the message actions
//! check them; a form applied before changes nothing and goes back to the
//! page. Deleting asks first, on a page that says how many messages will be
//! lost; only the form of that page deletes. Special-use folders (Inbox,
//! Sent, Drafts, Trash, Junk, Archive) are never renamed or deleted here,
//! whatever a form says. A name refused before or by the server gets a page
//! that says why. After a change the session's flash says what happened.
//!
//! # Limitations
//!
//! - A folder with folders inside cannot be deleted here: its children
//!   must be deleted first (Dovecot would otherwise keep them as `\Noselect`
//!   parents or refuse).
//! - A rename keeps the folder under its parent.
//! - The page and each change ask the server for the whole folder list
//!   (LIST and a STATUS per folder) instead of using the cached one, so
//!   that folders changed by other programs are right; on accounts with
//!   very many folders this page is slower than the others.

use askama::Template;
use axum::extract::rejection::FormRejection;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use serde::Deserialize;

use super::error::html;
use super::signed_in::SignedIn;
use super::views::Layout;
use super::{paths, AppError, AppState};
use crate::mail::{check_level_name, child_raw_name, parent_raw_name, Folder, NameProblem};
use crate::session::new_form_token;

/// Where the page lives and its forms post.
pub const FOLDERS_PATH: &str = "/folders";

#[derive(Template)]
#[template(path = "folders.html")]
struct FoldersView {
    layout: Layout,
    flash: Option<String>,
    rows: Vec<FolderRow>,
    /// Folders a new one can be made inside: (raw name, full label).
    parents: Vec<(String, String)>,
    create_token: String,
    delimiter: Option<char>,
}

/// One folder on the page, with a fresh token for each of its forms.
struct FolderRow {
    raw_name: String,
    full_label: String,
    /// The last level, what a rename changes.
    label: String,
    depth_class: String,
    url: Option<String>,
    total: Option<u32>,
    /// A special-use folder: listed, never renamed or deleted here.
    special: bool,
    subscribed: bool,
    subscribe_token: String,
    rename_token: String,
    delete_token: String,
}

#[derive(Template)]
#[template(path = "confirm_delete_folder.html")]
struct ConfirmDeleteFolder {
    layout: Layout,
    raw_name: String,
    full_label: String,
    count: u32,
    form_token: String,
}

/// The fields of every form of the page; each action reads the ones it
/// needs.
#[derive(Deserialize, Default)]
#[serde(default)]
pub struct FolderForm {
    csrf: String,
    form_token: String,
    action: String,
    /// The raw name of the folder acted on.
    folder: String,
    /// A typed name, for create and rename.
    name: String,
    /// The raw name of the parent for create; empty for the top level.
    parent: String,
    /// Set by the confirmation page's form only.
    confirmed: String,
}

/// `GET /folders`.
pub async fn show_folders(
    State(state): State<AppState>,
    mut signed_in: SignedIn,
) -> Result<Response, AppError> {
    let credentials = signed_in.credentials.clone();
    let folders = state.mail.fresh_folders(&credentials).await?;
    let subscribed = state.mail.subscriptions(&credentials).await?;

    let rows = folders
        .iter()
        .filter(|f| !f.raw_name.is_empty())
        .map(|f| FolderRow {
            raw_name: f.raw_name.clone(),
            full_label: f.full_label.clone(),
            label: last_level(f),
            depth_class: format!("depth-{}", f.depth.min(6)),
            url: f.selectable.then(|| paths::mailbox(&f.raw_name)),
            total: f.total,
            special: f.role.is_some(),
            subscribed: subscribed.contains(&f.raw_name),
            subscribe_token: new_form_token(),
            rename_token: new_form_token(),
            delete_token: new_form_token(),
        })
        .collect();
    let parents = folders
        .iter()
        .filter(|f| !f.raw_name.is_empty() && f.delimiter.is_some())
        .map(|f| (f.raw_name.clone(), f.full_label.clone()))
        .collect();

    let layout = Layout::new(
        "Folders".to_owned(),
        &signed_in.record.user,
        signed_in.csrf_token(),
        &folders,
        None,
    );
    let view = FoldersView {
        layout,
        flash: signed_in.record.flash.take(),
        rows,
        parents,
        create_token: new_form_token(),
        delimiter: server_delimiter(&folders),
    };
    if view.flash.is_some() {
        signed_in.save().await?;
    }
    Ok(html(StatusCode::OK, view.render()))
}

/// `POST /folders`: create, rename, delete or (un)subscribe.
pub async fn change_folder(
    State(state): State<AppState>,
    mut signed_in: SignedIn,
    form: Result<Form<FolderForm>, FormRejection>,
) -> Result<Response, AppError> {
    let Form(form) = form.map_err(|rejection| super::error::unreadable_form(rejection.status()))?;
    signed_in.check_csrf(&form.csrf)?;
    if !crate::session::is_form_token(&form.form_token) {
        return Err(AppError::FormExpired);
    }
    if !signed_in.record.consume_form_token(&form.form_token) {
        return Ok(Redirect::to(FOLDERS_PATH).into_response());
    }

    let folders = state.mail.fresh_folders(&signed_in.credentials).await?;
    let said = match form.action.as_str() {
        "create" => create(&state, &signed_in, &folders, &form).await?,
        "rename" => rename(&state, &signed_in, &folders, &form).await?,
        "delete" => match delete(&state, &signed_in, &folders, &form).await? {
            Deleted::Done(said) => said,
            Deleted::Asking(view) => {
                signed_in.save().await?;
                return Ok(html(StatusCode::OK, view.render()));
            }
        },
        "subscribe" | "unsubscribe" => {
            let folder = existing(&folders, &form.folder)?;
            let subscribe = form.action == "subscribe";
            let credentials = &signed_in.credentials;
            state
                .mail
                .set_subscribed(credentials, &folder.raw_name, subscribe)
                .await?;
            let done = if subscribe {
                "subscribed to"
            } else {
                "unsubscribed from"
            };
            format!("You are now {done} '{}'.", folder.full_label)
        }
        _ => return Err(AppError::BadRequest("unknown folder action")),
    };

    signed_in.record.flash = Some(said);
    signed_in.save().await?;
    Ok(Redirect::to(FOLDERS_PATH).into_response())
}

/// Creates a folder at the top or inside a listed parent; says what it did.
async fn create(
    state: &AppState,
    signed_in: &SignedIn,
    folders: &[Folder],
    form: &FolderForm,
) -> Result<String, AppError> {
    let parent = match form.parent.as_str() {
        "" => None,
        raw => Some(existing(folders, raw)?),
    };
    let delimiter = parent.map_or_else(|| server_delimiter(folders), |p| p.delimiter);
    let level = check_level_name(&form.name, delimiter).map_err(invalid_name)?;
    let parent_raw = parent.map(|p| p.raw_name.as_str());
    let raw_name = child_raw_name(parent_raw, delimiter, &level).map_err(invalid_name)?;

    let credentials = &signed_in.credentials;
    state.mail.create_folder(credentials, &raw_name).await?;
    Ok(format!(
        "Folder '{}' created.",
        full_label_of(parent, &level)
    ))
}

/// Renames a folder that is not special, under the same parent.
async fn rename(
    state: &AppState,
    signed_in: &SignedIn,
    folders: &[Folder],
    form: &FolderForm,
) -> Result<String, AppError> {
    let folder = changeable(folders, &form.folder)?;
    let delimiter = folder.delimiter;
    let level = check_level_name(&form.name, delimiter).map_err(invalid_name)?;
    let parent = parent_raw_name(&folder.raw_name, delimiter);
    let to_raw = child_raw_name(parent, delimiter, &level).map_err(invalid_name)?;
    if to_raw == folder.raw_name {
        return Ok(format!(
            "Folder '{}' already has that name.",
            folder.full_label
        ));
    }

    let credentials = &signed_in.credentials;
    state
        .mail
        .rename_folder(credentials, &folder.raw_name, &to_raw, delimiter)
        .await?;
    Ok(format!(
        "Folder '{}' renamed to '{level}'.",
        folder.full_label
    ))
}

/// What a delete form led to.
enum Deleted {
    Done(String),
    /// Not confirmed yet: the page that asks.
    Asking(Box<ConfirmDeleteFolder>),
}

/// Deletes a folder that is not special and holds no folders, once the
/// confirmation page's form says so; until then, that page.
async fn delete(
    state: &AppState,
    signed_in: &SignedIn,
    folders: &[Folder],
    form: &FolderForm,
) -> Result<Deleted, AppError> {
    let folder = changeable(folders, &form.folder)?;
    refuse_with_children(folders, folder)?;
    let credentials = &signed_in.credentials;
    let count = if folder.selectable {
        state
            .mail
            .message_count(credentials, &folder.raw_name)
            .await?
    } else {
        0
    };

    if form.confirmed != "yes" {
        return Ok(Deleted::Asking(Box::new(ConfirmDeleteFolder {
            layout: Layout::new(
                "Delete folder?".to_owned(),
                &signed_in.record.user,
                signed_in.csrf_token(),
                folders,
                None,
            ),
            raw_name: folder.raw_name.clone(),
            full_label: folder.full_label.clone(),
            count,
            form_token: new_form_token(),
        })));
    }

    state
        .mail
        .delete_folder(credentials, &folder.raw_name)
        .await?;
    Ok(Deleted::Done(format!(
        "Folder '{}' deleted with {}.",
        folder.full_label,
        messages(count)
    )))
}

/// The listed folder with this raw name.
fn existing<'a>(folders: &'a [Folder], raw_name: &str) -> Result<&'a Folder, AppError> {
    folders
        .iter()
        .find(|f| !f.raw_name.is_empty() && f.raw_name == raw_name)
        .ok_or(AppError::MailboxNotFound)
}

/// The listed folder with this raw name, if it may be renamed or deleted.
fn changeable<'a>(folders: &'a [Folder], raw_name: &str) -> Result<&'a Folder, AppError> {
    let folder = existing(folders, raw_name)?;
    match folder.role {
        Some(role) => Err(AppError::FolderNotChanged {
            message: format!(
                "{} is a special folder that mail programs rely on; it cannot be renamed or \
                 deleted here.",
                role.label()
            ),
            invalid_input: true,
        }),
        None => Ok(folder),
    }
}

fn refuse_with_children(folders: &[Folder], folder: &Folder) -> Result<(), AppError> {
    let Some(delimiter) = folder.delimiter else {
        return Ok(());
    };
    let prefix = format!("{}{delimiter}", folder.raw_name);
    if folders.iter().any(|f| f.raw_name.starts_with(&prefix)) {
        return Err(AppError::FolderNotChanged {
            message: format!(
                "'{}' holds other folders. Delete or rename those first.",
                folder.full_label
            ),
            invalid_input: true,
        });
    }
    Ok(())
}

fn invalid_name(problem: NameProblem) -> AppError {
    AppError::FolderNotChanged {
        message: problem.explanation(),
        invalid_input: true,
    }
}

/// The delimiter most folders use (Inbox's, on servers that list it).
fn server_delimiter(folders: &[Folder]) -> Option<char> {
    folders
        .iter()
        .find(|f| f.raw_name.eq_ignore_ascii_case("INBOX"))
        .or_else(|| folders.iter().find(|f| !f.raw_name.is_empty()))
        .and_then(|f| f.delimiter)
}

/// The last level of a folder's decoded name.
fn last_level(folder: &Folder) -> String {
    let decoded = mailfront_imap::decode_mailbox_name(&folder.raw_name);
    match folder.delimiter {
        Some(delimiter) => decoded
            .rsplit(delimiter)
            .next()
            .unwrap_or(&decoded)
            .to_owned(),
        None => decoded,
    }
}

fn full_label_of(parent: Option<&Folder>, level: &str) -> String {
    match parent {
        Some(parent) => format!("{} › {level}", parent.full_label),
        None => level.to_owned(),
    }
}

fn messages(count: u32) -> String {
    if count == 1 {
        "1 message".to_owned()
    } else {
        format!("{count} messages")
    }
}
