//! Changing the folder tree: creating, renaming and deleting folders, and
//! subscribing to them or not.
//!
//! Names typed by a person are checked here before anything is sent
//! ([`check_level_name`]) and encoded to modified UTF-7; the new raw name is
//! the parent's raw name, the server's delimiter and the encoded level, so
//! the parent's bytes are never re-encoded. Every change is one command on
//! one borrowed connection, never retried. Afterwards the cached folder list
//! is dropped at once, so the next page lists the folders anew, and the
//! cached state of a renamed or deleted folder is dropped with it.
//!
//! Which folders may be renamed or deleted (not the special-use ones) is the
//! caller's decision; this module only refuses what the protocol cannot
//! carry.
//!
//! # Limitations
//!
//! - Renaming keeps a folder under its parent: moving it elsewhere in the
//!   tree is not offered.
//! - Cached states of a renamed or deleted folder's children are not
//!   dropped; they are keyed by the old names, which no longer validate and
//!   age out of the cache.
//! - Subscriptions are read with LSUB on every visit of the folder page;
//!   they are not cached.
//! - After a rename or a delete every idle pooled connection of the account
//!   is closed, since one may have the old folder selected and Dovecot ends
//!   such sessions; the next pages log in anew. A connection lent to
//!   another request at that moment may still meet that end: a read is
//!   retried, a write fails with the "unreachable" page.

use std::collections::HashSet;

use mailfront_imap::{encode_mailbox_name, Connection, ImapError, RefusalKind};

use super::{MailError, MailService};
use crate::metrics::bump;
use crate::pool::Credentials;

/// Characters one level of a folder name may have at most.
pub const MAX_LEVEL_CHARS: usize = 100;

/// Bytes a whole encoded name may have at most (Dovecot refuses longer
/// names, and so do many file systems under a Maildir).
pub const MAX_RAW_NAME_BYTES: usize = 250;

/// Why a typed folder name cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameProblem {
    #[error("the name is empty")]
    Empty,
    #[error("the name is longer than {MAX_LEVEL_CHARS} characters")]
    TooLong,
    #[error("the name contains the folder separator {0:?}")]
    HasDelimiter(char),
    #[error("the name contains a control character")]
    ControlCharacter,
    #[error("the name contains * or %")]
    Wildcard,
    #[error("the name is . or ..")]
    DotName,
    #[error("the whole folder path is too long")]
    PathTooLong,
}

impl NameProblem {
    /// A sentence for the person who typed the name, saying what to change.
    pub fn explanation(&self) -> String {
        match self {
            NameProblem::Empty => "The folder name is empty. Type a name.".to_owned(),
            NameProblem::TooLong => {
                format!("The folder name is too long. Use at most {MAX_LEVEL_CHARS} characters.")
            }
            NameProblem::HasDelimiter(delimiter) => format!(
                "The folder name contains \"{delimiter}\", which this server uses to separate \
                 folders from their parents. Choose a parent folder instead, or leave the \
                 character out."
            ),
            NameProblem::ControlCharacter => {
                "The folder name contains an invisible control character (a line break or a \
                 tab, say). Type the name again without it."
                    .to_owned()
            }
            NameProblem::Wildcard => {
                "Folder names cannot contain * or %: mail programs read them as wildcards."
                    .to_owned()
            }
            NameProblem::DotName => "\".\" and \"..\" cannot be folder names.".to_owned(),
            NameProblem::PathTooLong => {
                "The folder's whole path (parents and name) is too long for the mail server. \
                 Use a shorter name or a parent higher up."
                    .to_owned()
            }
        }
    }
}

/// Checks one level of a folder name as typed and returns it trimmed.
pub fn check_level_name(typed: &str, delimiter: Option<char>) -> Result<String, NameProblem> {
    let name = typed.trim();
    if name.is_empty() {
        return Err(NameProblem::Empty);
    }
    if name.chars().count() > MAX_LEVEL_CHARS {
        return Err(NameProblem::TooLong);
    }

    if name.chars().any(char::is_control) {
        return Err(NameProblem::ControlCharacter);
    }
    if let Some(delimiter) = delimiter.filter(|d| name.contains(*d)) {
        return Err(NameProblem::HasDelimiter(delimiter));
    }
    if name.contains(['*', '%']) {
        return Err(NameProblem::Wildcard);
    }
    if name == "." || name == ".." {
        return Err(NameProblem::DotName);
    }
    Ok(name.to_owned())
}

/// The raw name of a folder called `level` (checked, decoded) inside the
/// folder `parent_raw` (or at the top when `None`).
pub fn child_raw_name(
    parent_raw: Option<&str>,
    delimiter: Option<char>,
    level: &str,
) -> Result<String, NameProblem> {
    let encoded = encode_mailbox_name(level);
    let raw = match (parent_raw, delimiter) {
        (Some(parent), Some(delimiter)) if !parent.is_empty() => {
            format!("{parent}{delimiter}{encoded}")
        }
        _ => encoded,
    };
    if raw.len() > MAX_RAW_NAME_BYTES {
        return Err(NameProblem::PathTooLong);
    }
    Ok(raw)
}

/// The raw name of the parent of `raw_name`, when it has one.
pub fn parent_raw_name(raw_name: &str, delimiter: Option<char>) -> Option<&str> {
    raw_name.rsplit_once(delimiter?).map(|(parent, _)| parent)
}

impl MailService {
    /// Creates the folder `raw_name` and subscribes to it, so that mail
    /// programs showing only subscribed folders show it too. A refused
    /// subscription leaves the folder created (and is only logged).
    pub async fn create_folder(
        &self,
        credentials: &Credentials,
        raw_name: &str,
    ) -> Result<(), MailError> {
        let mut connection = self.pool.borrow(credentials, None).await?;
        bump(&self.metrics.commands.other);
        let created = connection.create(raw_name).await;
        self.cache.forget_folders(&credentials.user);
        created.map_err(folder_refusal)?;

        bump(&self.metrics.commands.other);
        if let Err(error) = connection.subscribe(raw_name).await {
            if error.is_connection_lost() {
                return Err(error.into());
            }
            tracing::debug!(%error, "subscribing a new folder failed");
        }
        Ok(())
    }

    /// Renames the folder `from_raw` to `to_raw` (folders inside it move
    /// with it). Subscriptions follow the new names: Dovecot leaves them on
    /// the old ones.
    pub async fn rename_folder(
        &self,
        credentials: &Credentials,
        from_raw: &str,
        to_raw: &str,
        delimiter: Option<char>,
    ) -> Result<(), MailError> {
        let mut connection = self.pool.borrow(credentials, None).await?;
        self.leave_folder(&mut connection, from_raw).await?;
        bump(&self.metrics.commands.list);
        let subscribed = connection.list_subscribed().await?;
        bump(&self.metrics.commands.other);
        let renamed = connection.rename(from_raw, to_raw).await;
        self.cache.forget_folders(&credentials.user);
        self.cache.forget_mailbox(&credentials.user, from_raw);
        renamed.map_err(folder_refusal)?;
        self.pool.close_idle(&credentials.user);

        for old in subscribed.iter().map(|m| m.raw_name.as_str()) {
            let Some(new) = renamed_name(old, from_raw, to_raw, delimiter) else {
                continue;
            };
            bump(&self.metrics.commands.other);
            let moved = match connection.unsubscribe(old).await {
                Ok(()) => connection.subscribe(&new).await,
                Err(error) => Err(error),
            };
            if let Err(error) = moved {
                if error.is_connection_lost() {
                    return Err(error.into());
                }
                tracing::debug!(%error, "moving a subscription to the new name failed");
            }
        }
        Ok(())
    }

    /// Deletes the folder `raw_name` and every message in it.
    pub async fn delete_folder(
        &self,
        credentials: &Credentials,
        raw_name: &str,
    ) -> Result<(), MailError> {
        let mut connection = self.pool.borrow(credentials, None).await?;
        self.leave_folder(&mut connection, raw_name).await?;
        bump(&self.metrics.commands.other);
        let deleted = connection.delete(raw_name).await;
        self.cache.forget_folders(&credentials.user);
        self.cache.forget_mailbox(&credentials.user, raw_name);
        deleted.map_err(folder_refusal)?;
        self.pool.close_idle(&credentials.user);

        // A subscription outliving its folder would show up in other mail
        // programs as a folder that cannot be opened.
        bump(&self.metrics.commands.other);
        if let Err(error) = connection.unsubscribe(raw_name).await {
            if error.is_connection_lost() {
                return Err(error.into());
            }
            tracing::debug!(%error, "unsubscribing a deleted folder failed");
        }
        Ok(())
    }

    /// Selects the Inbox instead when the connection has `raw_name` (or a
    /// folder whose name starts with it) selected: Dovecot ends a session
    /// whose selected mailbox is deleted or renamed under it.
    async fn leave_folder(
        &self,
        connection: &mut Connection,
        raw_name: &str,
    ) -> Result<(), MailError> {
        let on_it = connection
            .selected()
            .is_some_and(|selected| selected.raw_name.starts_with(raw_name));
        if on_it {
            bump(&self.metrics.commands.select);
            connection.select("INBOX", true).await?;
        }
        Ok(())
    }

    /// Subscribes to the folder `raw_name`, or unsubscribes from it.
    pub async fn set_subscribed(
        &self,
        credentials: &Credentials,
        raw_name: &str,
        subscribed: bool,
    ) -> Result<(), MailError> {
        let mut connection = self.pool.borrow(credentials, None).await?;
        bump(&self.metrics.commands.other);
        let result = if subscribed {
            connection.subscribe(raw_name).await
        } else {
            connection.unsubscribe(raw_name).await
        };
        result.map_err(folder_refusal)
    }

    /// The raw names of the subscribed folders.
    pub async fn subscriptions(
        &self,
        credentials: &Credentials,
    ) -> Result<HashSet<String>, MailError> {
        let mut connection = self.pool.borrow(credentials, None).await?;
        bump(&self.metrics.commands.list);
        let listed = connection.list_subscribed().await?;
        Ok(listed.into_iter().map(|m| m.raw_name).collect())
    }

    /// How many messages the folder holds now, asked of the server (not the
    /// cache), for a confirmation that says what will be lost.
    pub async fn message_count(
        &self,
        credentials: &Credentials,
        raw_name: &str,
    ) -> Result<u32, MailError> {
        let mut connection = self.pool.borrow(credentials, None).await?;
        bump(&self.metrics.commands.status);
        let status = connection.status(raw_name).await?;
        Ok(status.messages.unwrap_or(0))
    }
}

/// The name `name` has after `from_raw` was renamed to `to_raw`: itself or
/// a folder inside it; `None` for any other folder.
fn renamed_name(
    name: &str,
    from_raw: &str,
    to_raw: &str,
    delimiter: Option<char>,
) -> Option<String> {
    if name == from_raw {
        return Some(to_raw.to_owned());
    }
    let rest = name.strip_prefix(from_raw)?;
    let delimiter = delimiter?;
    rest.starts_with(delimiter)
        .then(|| format!("{to_raw}{rest}"))
}

/// Sorts a refused folder command into what the page says about it. The
/// server's own text stays in the error for the log.
fn folder_refusal(error: ImapError) -> MailError {
    match error {
        ImapError::CommandFailed {
            status: RefusalKind::No,
            ref code,
            ..
        } => MailError::FolderRefused {
            code: code.clone(),
            source: error,
        },
        other => other.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typed_names_are_trimmed_and_checked() {
        assert_eq!(
            check_level_name("  Projects ", Some('/')),
            Ok("Projects".into())
        );
        assert_eq!(check_level_name(" \t ", Some('/')), Err(NameProblem::Empty));
        assert_eq!(
            check_level_name("a/b", Some('/')),
            Err(NameProblem::HasDelimiter('/'))
        );
        assert_eq!(check_level_name("a/b", Some('.')), Ok("a/b".into()));
        assert_eq!(
            check_level_name("a\nb", None),
            Err(NameProblem::ControlCharacter)
        );
        assert_eq!(check_level_name("50%", None), Err(NameProblem::Wildcard));
        assert_eq!(check_level_name("..", None), Err(NameProblem::DotName));
        let long = "x".repeat(MAX_LEVEL_CHARS + 1);
        assert_eq!(check_level_name(&long, None), Err(NameProblem::TooLong));
        assert!(check_level_name(&"ä".repeat(MAX_LEVEL_CHARS), None).is_ok());
    }

    #[test]
    fn child_names_keep_the_parents_raw_bytes_and_encode_the_new_level() {
        assert_eq!(
            child_raw_name(Some("Kunden &AMQ-"), Some('/'), "Grüße").unwrap(),
            "Kunden &AMQ-/Gr&APwA3w-e"
        );
        assert_eq!(
            child_raw_name(None, Some('/'), "Tom & Jerry").unwrap(),
            "Tom &- Jerry"
        );
        assert_eq!(child_raw_name(Some("a"), None, "b").unwrap(), "b");
        let deep = "p".repeat(MAX_RAW_NAME_BYTES);
        assert_eq!(
            child_raw_name(Some(&deep), Some('/'), "x"),
            Err(NameProblem::PathTooLong)
        );
    }

    #[test]
    fn a_rename_carries_the_folder_and_its_children_only() {
        let renamed = |name| renamed_name(name, "a/b", "a/c", Some('/'));
        assert_eq!(renamed("a/b").as_deref(), Some("a/c"));
        assert_eq!(renamed("a/b/x").as_deref(), Some("a/c/x"));
        assert_eq!(renamed("a/bx"), None);
        assert_eq!(renamed("a"), None);
    }

    #[test]
    fn the_parent_is_everything_before_the_last_delimiter() {
        assert_eq!(parent_raw_name("a/b/c", Some('/')), Some("a/b"));
        assert_eq!(parent_raw_name("top", Some('/')), None);
        assert_eq!(parent_raw_name("a/b", None), None);
    }
}
