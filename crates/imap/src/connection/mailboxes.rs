//! Mailbox commands: LIST, LSUB, STATUS, SELECT/EXAMINE, CREATE, RENAME,
//! DELETE, SUBSCRIBE and UNSUBSCRIBE (RFC 3501 section 6.3, RFC 6154,
//! RFC 7162).
//!
//! Names go out exactly as the server sent them in LIST (never re-encoded),
//! quoted or as literals. A missing mailbox is reported as
//! [`ImapError::MailboxNotFound`] whether the server says so with a code or,
//! for servers without codes, in a known text (see `quirks`).

use tracing::{info, instrument, warn};

use super::Connection;
use crate::command::Command;
use crate::error::{ImapError, RefusalKind, Stage};
use crate::quirks;
use crate::types::{ListedMailbox, MailboxStatus, SelectedMailbox};
use crate::wire::response::Untagged;

/// Maps a NO about a named mailbox: a missing mailbox becomes
/// `MailboxNotFound`, `ALREADYEXISTS` becomes `AlreadyExists`.
pub(super) fn mailbox_refusal(error: ImapError, raw_name: &str) -> ImapError {
    let ImapError::CommandFailed {
        status: RefusalKind::No,
        code,
        text,
        ..
    } = &error
    else {
        return error;
    };

    let code = code.as_deref().unwrap_or("").to_ascii_uppercase();
    if code == "NONEXISTENT"
        || code == "TRYCREATE"
        || (code.is_empty() && quirks::is_missing_mailbox_text(text))
    {
        ImapError::MailboxNotFound {
            mailbox: raw_name.to_owned(),
        }
    } else if code == "ALREADYEXISTS" {
        ImapError::AlreadyExists {
            mailbox: raw_name.to_owned(),
        }
    } else {
        error
    }
}

impl Connection {
    /// Lists every mailbox (`LIST "" "*"`), with `RETURN (SPECIAL-USE)` when
    /// the server offers SPECIAL-USE and LIST-EXTENDED. Entries whose name is
    /// not valid UTF-8 cannot be represented and are skipped with a warning.
    ///
    /// STATUS data through LIST-STATUS is not requested; call
    /// [`Connection::status`] per mailbox.
    #[instrument(level = "debug", parent = &self.span, skip_all)]
    pub async fn list_mailboxes(&mut self) -> Result<Vec<ListedMailbox>, ImapError> {
        let mut command = Command::new("LIST").raw(" \"\" \"*\"");
        if self.capabilities.special_use() && self.capabilities.has("LIST-EXTENDED") {
            command = command.raw(" RETURN (SPECIAL-USE)");
        }

        self.collect_listed(command).await
    }

    /// Asks STATUS for MESSAGES, UNSEEN, UIDNEXT, UIDVALIDITY and, with
    /// CONDSTORE, HIGHESTMODSEQ.
    #[instrument(level = "debug", parent = &self.span, skip_all)]
    pub async fn status(&mut self, raw_name: &str) -> Result<MailboxStatus, ImapError> {
        let items = if self.capabilities.condstore() {
            " (MESSAGES UNSEEN UIDNEXT UIDVALIDITY HIGHESTMODSEQ)"
        } else {
            " (MESSAGES UNSEEN UIDNEXT UIDVALIDITY)"
        };
        let command = Command::new("STATUS")
            .string(raw_name.as_bytes())
            .raw(items);

        let mut found: Option<MailboxStatus> = None;
        let mut other_name: Option<MailboxStatus> = None;
        let result = self
            .execute(
                command,
                self.policy(Stage::Command),
                |response| match response {
                    Untagged::MailboxStatus { name, status } => {
                        if name == raw_name.as_bytes() {
                            found = Some(status);
                        } else {
                            other_name = Some(status);
                        }
                        None
                    }
                    other => Some(other),
                },
            )
            .await;
        result.map_err(|e| mailbox_refusal(e, raw_name))?;

        // Some servers echo INBOX in another case or encoding; one answer is
        // still the answer.
        found.or(other_name).ok_or_else(|| ImapError::Protocol {
            detail: "STATUS completed without data".into(),
        })
    }

    /// Selects a mailbox (EXAMINE when `read_only`), with `(CONDSTORE)` when
    /// the server offers it. On any failure nothing is selected afterwards.
    #[instrument(level = "debug", parent = &self.span, skip_all)]
    pub async fn select(
        &mut self,
        raw_name: &str,
        read_only: bool,
    ) -> Result<SelectedMailbox, ImapError> {
        let name = if read_only { "EXAMINE" } else { "SELECT" };
        let mut command = Command::new(name).string(raw_name.as_bytes());
        if self.capabilities.condstore() {
            command = command.raw(" (CONDSTORE)");
        }

        self.mailbox.begin_select(raw_name, read_only);
        // A [READ-ONLY] code on the completion reaches the pending mailbox.
        if let Err(e) = self
            .execute(command, self.policy(Stage::Command), Some)
            .await
        {
            self.mailbox.abort_select();
            return Err(mailbox_refusal(e, raw_name));
        }
        let selected = self
            .mailbox
            .finish_select()
            .ok_or_else(|| ImapError::Protocol {
                detail: "the selection was lost during SELECT".into(),
            })?;
        if selected.uidvalidity == 0 {
            warn!("the server selected a mailbox without UIDVALIDITY");
        }
        self.span.record("mailbox", raw_name);
        info!(
            mailbox = raw_name,
            exists = selected.exists,
            read_only = selected.read_only,
            "selected"
        );
        Ok(selected)
    }

    /// Creates a mailbox; `AlreadyExists` when it exists.
    #[instrument(level = "debug", parent = &self.span, skip_all)]
    pub async fn create(&mut self, raw_name: &str) -> Result<(), ImapError> {
        self.on_mailbox("CREATE", raw_name).await
    }

    /// Renames a mailbox; `MailboxNotFound` when `from_raw` is missing,
    /// `AlreadyExists` when `to_raw` exists.
    #[instrument(level = "debug", parent = &self.span, skip_all)]
    pub async fn rename(&mut self, from_raw: &str, to_raw: &str) -> Result<(), ImapError> {
        let command = Command::new("RENAME")
            .string(from_raw.as_bytes())
            .string(to_raw.as_bytes());
        let result = self
            .execute(command, self.policy(Stage::Command), Some)
            .await;
        result
            .map(|_| ())
            .map_err(|e| match mailbox_refusal(e, from_raw) {
                ImapError::AlreadyExists { .. } => ImapError::AlreadyExists {
                    mailbox: to_raw.to_owned(),
                },
                other => other,
            })?;
        self.mailbox.forget_selection_of(from_raw);
        Ok(())
    }

    /// Deletes a mailbox; `MailboxNotFound` when it is missing. Deleting the
    /// selected mailbox leaves nothing selected.
    #[instrument(level = "debug", parent = &self.span, skip_all)]
    pub async fn delete(&mut self, raw_name: &str) -> Result<(), ImapError> {
        self.on_mailbox("DELETE", raw_name).await?;
        self.mailbox.forget_selection_of(raw_name);
        Ok(())
    }

    /// Lists the subscribed mailboxes (`LSUB "" "*"`). LSUB is used rather
    /// than `LIST (SUBSCRIBED)` because every IMAP4rev1 server has it; the
    /// answers come back as [`ListedMailbox`] values like LIST's.
    #[instrument(level = "debug", parent = &self.span, skip_all)]
    pub async fn list_subscribed(&mut self) -> Result<Vec<ListedMailbox>, ImapError> {
        let command = Command::new("LSUB").raw(" \"\" \"*\"");
        self.collect_listed(command).await
    }

    /// Sends a LIST or LSUB and gathers the mailboxes it names.
    async fn collect_listed(&mut self, command: Command) -> Result<Vec<ListedMailbox>, ImapError> {
        let mut listed = Vec::new();
        self.execute(
            command,
            self.policy(Stage::Command),
            |response| match response {
                Untagged::List(mailbox) => {
                    listed.push(mailbox);
                    None
                }
                other => Some(other),
            },
        )
        .await?;
        Ok(listed)
    }

    /// Sends `verb` with one mailbox name, the whole command (CREATE,
    /// DELETE, SUBSCRIBE, UNSUBSCRIBE); a refusal names the mailbox.
    async fn on_mailbox(&mut self, verb: &'static str, raw_name: &str) -> Result<(), ImapError> {
        let command = Command::new(verb).string(raw_name.as_bytes());
        let result = self
            .execute(command, self.policy(Stage::Command), Some)
            .await;
        result.map(|_| ()).map_err(|e| mailbox_refusal(e, raw_name))
    }

    /// Adds a mailbox to the subscription list.
    #[instrument(level = "debug", parent = &self.span, skip_all)]
    pub async fn subscribe(&mut self, raw_name: &str) -> Result<(), ImapError> {
        self.on_mailbox("SUBSCRIBE", raw_name).await
    }

    /// Removes a mailbox from the subscription list. Servers accept this
    /// for a name that no longer exists, which is how a stale subscription
    /// is cleaned up.
    #[instrument(level = "debug", parent = &self.span, skip_all)]
    pub async fn unsubscribe(&mut self, raw_name: &str) -> Result<(), ImapError> {
        self.on_mailbox("UNSUBSCRIBE", raw_name).await
    }
}
