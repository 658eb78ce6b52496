//! Acting on messages: marking them read or unread, flagging them, moving
//! them to another folder and removing them for good.
//!
//! Every action names its messages by UID within the UIDVALIDITY the page
//! was built for. The mailbox's cached state is validated first, so a UID
//! that another client moved or deleted meanwhile is left out and counted,
//! never guessed at; a changed UIDVALIDITY acts on nothing. A write is sent
//! once on one borrowed connection and never retried: a connection lost
//! mid-command may have applied it. Afterwards the cache is changed at once
//! (flags of the cached rows, removed UIDs, folder counts) and the
//! connection's news is drained into it, so that the next page shows the
//! change without reloading the mailbox.
//!
//! # Limitations
//!
//! - Removing for good needs UIDPLUS (UID EXPUNGE of just the chosen UIDs);
//!   without it the action fails before anything is marked, since a plain
//!   EXPUNGE would also remove messages other clients marked `\Deleted`.
//! - Without MOVE and UIDPLUS, moved messages stay in their folder marked
//!   `\Deleted` (see `Connection::move_messages`): they leave the cache at
//!   once but come back at the next validation, which counts them.
//! - The cached HIGHESTMODSEQ is not advanced by mailfront's own changes, as
//!   that could hide a change another client made at the same moment. A
//!   page then served by another pooled connection fetches the UID list and
//!   the rows of its window again, once.

use std::collections::HashSet;
use std::sync::Arc;

use mailfront_imap::{Connection, FlagOp, ImapError};

use super::sync::lock;
use super::{Folder, FolderRole, MailError, MailService, SearchQuery, SortOrder};
use crate::cache::SharedMailbox;
use crate::metrics::bump;
use crate::pool::Credentials;

/// A change of flags a user can ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlagChange {
    MarkRead,
    MarkUnread,
    Flag,
    Unflag,
    /// A reply was sent (`\Answered`).
    MarkAnswered,
    /// The message was forwarded (`$Forwarded`).
    MarkForwarded,
}

impl FlagChange {
    fn store(self) -> (FlagOp, &'static str) {
        match self {
            FlagChange::MarkRead => (FlagOp::Add, "\\Seen"),
            FlagChange::MarkUnread => (FlagOp::Remove, "\\Seen"),
            FlagChange::Flag => (FlagOp::Add, "\\Flagged"),
            FlagChange::Unflag => (FlagOp::Remove, "\\Flagged"),
            FlagChange::MarkAnswered => (FlagOp::Add, "\\Answered"),
            FlagChange::MarkForwarded => (FlagOp::Add, "$Forwarded"),
        }
    }
}

/// Which messages of a mailbox an action names.
#[derive(Debug, Clone)]
pub struct Selection {
    pub raw_name: String,
    /// The UIDVALIDITY the page showing these UIDs was built for.
    pub uidvalidity: u32,
    pub uids: Vec<u32>,
}

/// What an action did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ActionOutcome {
    /// Messages the action was applied to.
    pub applied: usize,
    /// Selected messages that were no longer in the mailbox (moved or
    /// deleted by another client, or a stale page), left alone.
    pub missing: usize,
}

/// The message to show after one is taken out of a list: the next one in
/// the list's order, else the previous one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Neighbour {
    pub uid: u32,
    /// The page of the list that holds it once the message has left.
    pub page: usize,
}

impl MailService {
    /// Adds or removes a flag (see [`FlagChange`]) on the selected messages.
    pub async fn change_flags(
        &self,
        credentials: &Credentials,
        selection: &Selection,
        change: FlagChange,
    ) -> Result<ActionOutcome, MailError> {
        let account = credentials.user.as_str();
        let raw_name = selection.raw_name.as_str();
        let mut connection = self.pool.borrow(credentials, Some(raw_name)).await?;
        let (state, present) = self.present(&mut connection, account, selection).await?;
        let outcome = outcome(selection, &present);
        if present.is_empty() {
            return Ok(outcome);
        }

        self.ensure_selected(&mut connection, account, raw_name)
            .await?;
        let (op, flag) = change.store();
        bump(&self.metrics.commands.store);
        connection.store_flags(&present, op, &[flag]).await?;

        lock(&state).apply_own_flag_change(&present, flag, op == FlagOp::Add);
        self.absorb_events(&mut connection, account);
        self.refresh_counts(&mut connection, account, raw_name, Some(&state))
            .await;
        Ok(outcome)
    }

    /// Moves the selected messages to `target_raw` (UID MOVE when the server
    /// has it).
    pub async fn move_to(
        &self,
        credentials: &Credentials,
        selection: &Selection,
        target_raw: &str,
    ) -> Result<ActionOutcome, MailError> {
        let account = credentials.user.as_str();
        let raw_name = selection.raw_name.as_str();
        if target_raw == raw_name {
            return Ok(ActionOutcome::default());
        }
        let mut connection = self.pool.borrow(credentials, Some(raw_name)).await?;
        let (state, present) = self.present(&mut connection, account, selection).await?;
        let outcome = outcome(selection, &present);
        if present.is_empty() {
            return Ok(outcome);
        }

        self.ensure_selected(&mut connection, account, raw_name)
            .await?;
        bump(&self.metrics.commands.other);
        let moved = connection.move_messages(&present, target_raw).await;
        if let Err(error) = moved {
            return Err(self.forget_on_missing(account, target_raw, error.into()));
        }

        self.forget_removed(&mut connection, account, raw_name, &state, &present)
            .await;
        self.refresh_counts(&mut connection, account, target_raw, None)
            .await;
        Ok(outcome)
    }

    /// Removes the selected messages for good: `\Deleted`, then UID
    /// EXPUNGE of just those UIDs, so that messages other clients marked
    /// deleted stay. Needs UIDPLUS.
    pub async fn expunge(
        &self,
        credentials: &Credentials,
        selection: &Selection,
    ) -> Result<ActionOutcome, MailError> {
        let account = credentials.user.as_str();
        let raw_name = selection.raw_name.as_str();
        let mut connection = self.pool.borrow(credentials, Some(raw_name)).await?;
        let (state, present) = self.present(&mut connection, account, selection).await?;
        let outcome = outcome(selection, &present);
        if present.is_empty() {
            return Ok(outcome);
        }

        if !connection.capabilities().uidplus() {
            return Err(MailError::Imap(ImapError::Unsupported {
                capability: "UIDPLUS",
            }));
        }
        self.ensure_selected(&mut connection, account, raw_name)
            .await?;
        bump(&self.metrics.commands.store);
        connection
            .store_flags(&present, FlagOp::Add, &["\\Deleted"])
            .await?;
        bump(&self.metrics.commands.other);
        connection.uid_expunge(&present).await?;

        self.forget_removed(&mut connection, account, raw_name, &state, &present)
            .await;
        Ok(outcome)
    }

    /// The message to show once `uid` has left the list in `order` (the
    /// matches of `search`, when the message was opened from a search): the
    /// next one, else the previous one, else none.
    pub async fn neighbour(
        &self,
        credentials: &Credentials,
        selection: &Selection,
        uid: u32,
        order: SortOrder,
        search: Option<&SearchQuery>,
    ) -> Result<Option<Neighbour>, MailError> {
        let account = credentials.user.as_str();
        let raw_name = selection.raw_name.as_str();
        let mut connection = self.pool.borrow(credentials, Some(raw_name)).await?;
        let state = self
            .validated_state(&mut connection, account, raw_name, order)
            .await?;
        if lock(&state).uidvalidity != selection.uidvalidity {
            return Ok(None);
        }
        let list = match search {
            Some(query) => {
                let matches = self
                    .search_results(&mut connection, account, raw_name, &state, query, order)
                    .await?;
                if matches.contains(&uid) {
                    matches
                } else {
                    // The message may match no more (opening it marked it
                    // read): it stands where the folder's order puts it.
                    let (folder, _) = self
                        .sorted_list(&mut connection, account, raw_name, &state, order)
                        .await?;
                    Arc::new(place_among(&folder, &matches, uid))
                }
            }
            None => {
                self.sorted_list(&mut connection, account, raw_name, &state, order)
                    .await?
                    .0
            }
        };
        self.absorb_events(&mut connection, account);

        let Some(position) = list.iter().position(|u| *u == uid) else {
            return Ok(None);
        };
        let (neighbour, index_after) = match (list.get(position + 1), position.checked_sub(1)) {
            (Some(next), _) => (*next, position),
            (None, Some(before)) => (list[before], before),
            (None, None) => return Ok(None),
        };
        Ok(Some(Neighbour {
            uid: neighbour,
            page: index_after / self.page_size.max(1) + 1,
        }))
    }

    /// The messages before and after `uid` in the list of `order`, from a
    /// state validated on `connection` in the same request.
    pub(super) async fn neighbours_of(
        &self,
        connection: &mut Connection,
        account: &str,
        raw_name: &str,
        state: &SharedMailbox,
        uid: u32,
        order: SortOrder,
    ) -> Result<(Option<Neighbour>, Option<Neighbour>), MailError> {
        let (list, _) = self
            .sorted_list(connection, account, raw_name, state, order)
            .await?;
        let Some(position) = list.iter().position(|u| *u == uid) else {
            return Ok((None, None));
        };
        let page_size = self.page_size.max(1);
        let at = |index: usize| Neighbour {
            uid: list[index],
            page: index / page_size + 1,
        };
        let previous = position.checked_sub(1).map(at);
        let next = (position + 1 < list.len()).then(|| at(position + 1));
        Ok((previous, next))
    }

    /// The folder with a special use, from the folder list.
    pub async fn folder_with_role(
        &self,
        credentials: &Credentials,
        role: FolderRole,
    ) -> Result<Option<Folder>, MailError> {
        let folders = self.folders(credentials).await?;
        Ok(folders.into_iter().find(|f| f.role == Some(role)))
    }

    /// Validates the mailbox and keeps the selected UIDs it still holds, in
    /// ascending order; none when its UIDVALIDITY changed.
    async fn present(
        &self,
        connection: &mut Connection,
        account: &str,
        selection: &Selection,
    ) -> Result<(SharedMailbox, Vec<u32>), MailError> {
        let state = self
            .validated_state(
                connection,
                account,
                &selection.raw_name,
                SortOrder::default(),
            )
            .await?;

        let known = lock(&state);
        let mut present: Vec<u32> = if known.uidvalidity == selection.uidvalidity {
            selection
                .uids
                .iter()
                .copied()
                .filter(|uid| known.uids.binary_search(uid).is_ok())
                .collect()
        } else {
            Vec::new()
        };
        drop(known);
        present.sort_unstable();
        present.dedup();
        Ok((state, present))
    }

    /// Takes messages that left the mailbox out of its cached state, drains
    /// the connection's news and corrects the folder's counts.
    async fn forget_removed(
        &self,
        connection: &mut Connection,
        account: &str,
        raw_name: &str,
        state: &SharedMailbox,
        removed: &[u32],
    ) {
        lock(state).remove(removed);
        self.absorb_events(connection, account);
        self.refresh_counts(connection, account, raw_name, Some(state))
            .await;
    }

    /// Asks the server for a folder's counts and puts them in the cached
    /// folder list (and the unread count in the mailbox's state). A failure
    /// here drops the folder list instead: the action itself succeeded.
    ///
    /// The state's HIGHESTMODSEQ and UIDNEXT are left as they were, so the
    /// next validation still notices changes other clients made meanwhile.
    pub(super) async fn refresh_counts(
        &self,
        connection: &mut Connection,
        account: &str,
        raw_name: &str,
        state: Option<&SharedMailbox>,
    ) {
        bump(&self.metrics.commands.status);
        match connection.status(raw_name).await {
            Ok(status) => {
                if let Some(state) = state {
                    lock(state).unseen = status.unseen;
                }
                self.cache
                    .update_folder_counts(account, raw_name, status.messages, status.unseen);
            }
            Err(error) => {
                tracing::debug!(%error, mailbox = raw_name, "status after an action failed");
                self.cache.forget_folders(account);
            }
        }
        self.absorb_events(connection, account);
    }
}

/// The matches of a search, and `uid` among them, in the folder's order
/// (`folder`), which is the order of the matches too.
fn place_among(folder: &[u32], matches: &[u32], uid: u32) -> Vec<u32> {
    let matched: HashSet<u32> = matches.iter().copied().collect();
    folder
        .iter()
        .copied()
        .filter(|u| *u == uid || matched.contains(u))
        .collect()
}

fn outcome(selection: &Selection, present: &[u32]) -> ActionOutcome {
    let mut asked = selection.uids.clone();
    asked.sort_unstable();
    asked.dedup();
    ActionOutcome {
        applied: present.len(),
        missing: asked.len() - present.len(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_message_that_left_the_matches_keeps_its_place_among_them() {
        let folder = [9, 8, 7, 6, 5, 4];
        assert_eq!(place_among(&folder, &[8, 6, 4], 7), vec![8, 7, 6, 4]);
        assert_eq!(place_among(&folder, &[8, 6], 9), vec![9, 8, 6]);
        assert_eq!(place_among(&folder, &[], 5), vec![5]);
    }

    #[test]
    fn repeated_uids_count_once() {
        let selection = Selection {
            raw_name: "INBOX".to_owned(),
            uidvalidity: 1,
            uids: vec![3, 1, 3, 2],
        };
        assert_eq!(
            outcome(&selection, &[1, 3]),
            ActionOutcome {
                applied: 2,
                missing: 1
            }
        );
    }

    #[test]
    fn each_change_stores_one_system_flag() {
        assert_eq!(FlagChange::MarkRead.store(), (FlagOp::Add, "\\Seen"));
        assert_eq!(FlagChange::MarkUnread.store(), (FlagOp::Remove, "\\Seen"));
        assert_eq!(FlagChange::Flag.store(), (FlagOp::Add, "\\Flagged"));
        assert_eq!(FlagChange::Unflag.store(), (FlagOp::Remove, "\\Flagged"));
    }
}
