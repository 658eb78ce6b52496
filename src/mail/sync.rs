//! Keeping a cached mailbox state true before it is served.
//!
//! Every use of a cached state starts with the cheapest check the server
//! allows. On a connection that has the mailbox selected that is one NOOP:
//! the server syncs the connection's view and reports every change since
//! its last command as untagged news. When there is none, and the state was
//! last checked (or loaded) on this very selection with no news taken from
//! it since (its [`NewsMark`](mailfront_imap::NewsMark) is one the state has
//! noted), the state is current and nothing more is asked. Otherwise one
//! STATUS (MESSAGES UNSEEN UIDNEXT UIDVALIDITY, HIGHESTMODSEQ with
//! CONDSTORE) follows and is compared with the state.
//!
//! News by UID (VANISHED, FETCH with UID, as QRESYNC servers send it) is
//! applied piecemeal. When the STATUS shows HIGHESTMODSEQ moved and no
//! selected connection reported why, a `UID FETCH 1:* (UID FLAGS)
//! (CHANGEDSINCE ..)` (with VANISHED under QRESYNC) names what changed since
//! the cached mod-sequence, and only that is applied. New messages are
//! looked up from the last known UIDNEXT and merged; anything else (news by
//! sequence number, expunges a server without QRESYNC cannot name, a count
//! that does not add up) refetches the UID list; a new UIDVALIDITY drops the
//! mailbox's cache. Every connection's news is drained into the cache
//! before the connection selects another mailbox or goes back to the pool.
//!
//! A server with SORT sorts each order once. On a server without it, the
//! sort keys of every message are fetched once when the mailbox is loaded,
//! those of new messages when they are merged, and every order is computed
//! from them by the rules of `client_sort`.
//!
//! # Limitations
//! The NOOP-only check trusts the server to report every change to a
//! selected mailbox when it syncs, others' flag changes included, as RFC 3501
//! and RFC 7162 (for CONDSTORE) ask. A server that keeps quiet about flags
//! set by another client shows them here only once other news, or a
//! connection not followed yet, brings the STATUS back.
//!
//! On a server without CONDSTORE, a STATUS cannot tell that flags changed:
//! flags set by another client while no pooled connection had the mailbox
//! selected show only once the rows are fetched again (a resync, or the
//! mailbox leaving the cache).
//!
//! The first view of a large mailbox on a server without SORT waits for the
//! keys of every message: on Dovecot 2.3, 12 s for 100,000 messages whose
//! files were not read before, 1.7 s once they were; meanwhile further
//! requests of the session get the "still working" page.

use std::sync::{Arc, Mutex};

use mailfront_imap::{Connection, ImapError, MailboxEvent, MailboxStatus, SearchCriteria};

use super::client_sort::message_keys;
use super::listing::row_from_summary;
use super::{MailError, MailService, SortOrder};
use crate::cache::{Freshness, MailboxState, MessageKeys, SharedMailbox, SortKeyTable};
use crate::metrics::bump;
use crate::pool::Credentials;

/// New messages beyond this many are added to the UID list without their
/// rows, and the sorted lists are dropped to be sorted again.
const MAX_MERGED_ROWS: usize = 500;

impl MailService {
    /// The mailbox's cached state, checked against the server and brought up
    /// to date, or loaded when there is none (sorted in `order`).
    pub(crate) async fn validated_state(
        &self,
        connection: &mut Connection,
        account: &str,
        raw_name: &str,
        order: SortOrder,
    ) -> Result<SharedMailbox, MailError> {
        let Some(state) = self.cache.mailbox(account, raw_name) else {
            return self.load_state(connection, account, raw_name, order).await;
        };

        bump(&self.metrics.cache_validity_checks);
        let selected_here = connection
            .selected()
            .is_some_and(|s| s.raw_name == raw_name);
        let mut events = Vec::new();
        if selected_here {
            // A server reports others' changes to a selected mailbox only
            // when it syncs, which NOOP makes it do; STATUS alone may answer
            // from the connection's older view.
            bump(&self.metrics.commands.noop);
            connection.noop().await?;
            let mark = connection.news_mark();
            events = connection.take_events();
            let heard_all = mark.is_some_and(|mark| lock(&state).has_heard(mark));
            if events.is_empty() && heard_all {
                tracing::debug!(mailbox = raw_name, "cache validated by NOOP");
                return Ok(state);
            }
        } else {
            self.absorb_events(connection, account);
        }
        bump(&self.metrics.commands.status);
        let status = match connection.status(raw_name).await {
            Ok(status) => status,
            Err(error) => {
                return Err(self.forget_on_missing(account, raw_name, folder_refusal(error)))
            }
        };
        if selected_here {
            events.extend(connection.take_events());
        }
        if events
            .iter()
            .any(|e| matches!(e, MailboxEvent::EventsDropped))
        {
            tracing::debug!(
                mailbox = raw_name,
                "server lost the selected view; selecting again"
            );
            self.cache.forget_mailbox(account, raw_name);
            self.select_again(connection, account, raw_name).await?;
            return self.load_state(connection, account, raw_name, order).await;
        }

        let freshness = {
            let mut known = lock(&state);
            let from_events = known.apply_events(&events);
            let from_status = known.compare(&status);
            match (selected_here, from_events, from_status) {
                (_, Freshness::Void, _) | (_, _, Freshness::Void) => Freshness::Void,
                (true, Freshness::Current, Freshness::Resync) if counts_match(&known, &status) => {
                    // The selected connection reported every change; only
                    // HIGHESTMODSEQ moved, by the flag news just applied.
                    Freshness::Current
                }
                (_, from_events, from_status) => worst(from_events, from_status),
            }
        };

        // A STATUS tells that flags changed (HIGHESTMODSEQ moved), not which:
        // unless a selected connection reported them, ask the server.
        let modseq_moved = {
            let known = lock(&state);
            matches!(
                (status.highestmodseq, known.highestmodseq),
                (Some(seen), Some(noted)) if seen != noted
            )
        };
        let freshness = match freshness {
            Freshness::NewMessages | Freshness::Resync if !selected_here && modseq_moved => {
                self.catch_up_changes(connection, account, raw_name, &state, &status)
                    .await?
            }
            other => other,
        };

        match freshness {
            Freshness::Current => {}
            Freshness::Void => {
                tracing::debug!(mailbox = raw_name, "uidvalidity changed; cache dropped");
                self.cache.forget_mailbox(account, raw_name);
                return self.load_state(connection, account, raw_name, order).await;
            }
            Freshness::NewMessages => {
                self.merge_new_messages(connection, account, raw_name, &state)
                    .await?
            }
            Freshness::Resync => {
                self.resync(connection, account, raw_name, &state, &status)
                    .await?
            }
        }

        let consistent = {
            let mut known = lock(&state);
            known.note_status(&status);
            status
                .messages
                .is_none_or(|m| m as usize == known.uids.len())
        };
        if !consistent {
            self.resync(connection, account, raw_name, &state, &status)
                .await?;
        }
        follow_news_of(connection, raw_name, &state);
        tracing::debug!(mailbox = raw_name, ?freshness, "cache validated");
        self.cache
            .update_folder_counts(account, raw_name, status.messages, status.unseen);
        Ok(state)
    }

    /// Selects the mailbox, sorts it in `order` (on the server, or here from
    /// the sort keys of every message) and caches the result.
    async fn load_state(
        &self,
        connection: &mut Connection,
        account: &str,
        raw_name: &str,
        order: SortOrder,
    ) -> Result<SharedMailbox, MailError> {
        let uidvalidity = self.ensure_selected(connection, account, raw_name).await?;
        let (uids, sorted, sort_keys) = if connection.capabilities().sort() {
            let sorted = self.sort_on_server(connection, order).await?;
            let mut uids = sorted.clone();
            uids.sort_unstable();
            (uids, sorted, None)
        } else {
            bump(&self.metrics.commands.search);
            let found = connection.uid_search(&SearchCriteria::All).await?;
            let mut table = SortKeyTable::new();
            for keys in self.fetch_keys(connection, &found).await? {
                table.insert(keys);
            }
            // A message expunged since the search has no keys.
            let uids: Vec<u32> = found.into_iter().filter(|u| table.contains(*u)).collect();
            (uids, table.sorted(order), Some(table))
        };
        let selected = connection.selected().cloned();

        let uidnext = selected
            .as_ref()
            .and_then(|s| s.uidnext)
            .unwrap_or_else(|| uids.last().map_or(1, |last| last + 1));
        let highestmodseq = selected.as_ref().and_then(|s| s.highestmodseq);
        let mut state = MailboxState::new(uidvalidity, uidnext, highestmodseq, uids);
        state.sorted.insert(order, Arc::new(sorted));
        state.sort_keys = sort_keys;

        // The unread count, for the folder list: cheap on the mailbox just
        // selected, and the only count SELECT does not give.
        bump(&self.metrics.commands.status);
        match connection.status(raw_name).await {
            Ok(status) => state.note_status(&status),
            Err(error) if error.is_connection_lost() => return Err(error.into()),
            Err(error) => tracing::debug!(%error, "no unread count for the folder list"),
        }
        let total = u32::try_from(state.uids.len()).ok();
        let unseen = state.unseen;
        let shared = Arc::new(Mutex::new(state));
        follow_news_of(connection, raw_name, &shared);
        self.cache.store_mailbox(account, raw_name, shared.clone());
        self.cache
            .update_folder_counts(account, raw_name, total, unseen);
        tracing::debug!(mailbox = raw_name, "mailbox loaded into the cache");
        Ok(shared)
    }

    /// Applies what changed since the state's HIGHESTMODSEQ, as a CHANGEDSINCE
    /// fetch reports it: the flags of messages changed since, and with
    /// QRESYNC the UIDs expunged since. Returns what is left to do: merge new
    /// messages, resync when expunges could not be named (CONDSTORE without
    /// QRESYNC) or the counts still differ, or nothing. Without CONDSTORE
    /// on the server, or a mod-sequence in the state, it asks for a resync.
    async fn catch_up_changes(
        &self,
        connection: &mut Connection,
        account: &str,
        raw_name: &str,
        state: &SharedMailbox,
        status: &MailboxStatus,
    ) -> Result<Freshness, MailError> {
        let since = lock(state).highestmodseq;
        let Some(since) = since.filter(|_| connection.capabilities().condstore()) else {
            return Ok(Freshness::Resync);
        };
        let uidvalidity = self.ensure_selected(connection, account, raw_name).await?;
        if uidvalidity != lock(state).uidvalidity {
            return Ok(Freshness::Void);
        }
        // The connection had another mailbox selected: the SELECT just made
        // left no older news of this one, so the events are the fetch's.
        bump(&self.metrics.commands.fetch);
        connection.fetch_changes_since(since).await?;
        let events = connection.take_events();

        // With QRESYNC every expunge since was named, so an equal count
        // means nothing arrived that is not known; without, UIDNEXT must
        // not have moved either.
        let expunges_named = connection.qresync_enabled();
        let mut known = lock(state);
        let from_events = known.apply_events(&events);
        let held = known.uids.len();
        let left = match status.messages.map(|m| m as usize) {
            Some(counted) if counted == held && expunges_named => Freshness::Current,
            Some(_) if counts_match(&known, status) => Freshness::Current,
            Some(counted) if held < counted => Freshness::NewMessages,
            _ => Freshness::Resync,
        };
        tracing::debug!(
            mailbox = raw_name,
            changes = events.len(),
            ?left,
            "changes since the cached mod-sequence applied"
        );
        Ok(worst(from_events, left))
    }

    /// Looks up the messages that arrived since the last known UIDNEXT and
    /// merges them.
    async fn merge_new_messages(
        &self,
        connection: &mut Connection,
        account: &str,
        raw_name: &str,
        state: &SharedMailbox,
    ) -> Result<(), MailError> {
        self.ensure_selected(connection, account, raw_name).await?;
        let (from, last_known) = {
            let known = lock(state);
            (known.uidnext, known.uids.last().copied().unwrap_or(0))
        };
        bump(&self.metrics.commands.search);
        let found = connection
            .uid_search(&SearchCriteria::UidsFrom(from))
            .await?;
        let new: Vec<u32> = found.into_iter().filter(|uid| *uid > last_known).collect();
        self.add_messages(connection, state, new).await
    }

    /// Fetches the complete UID list again and reconciles the cache with it.
    async fn resync(
        &self,
        connection: &mut Connection,
        account: &str,
        raw_name: &str,
        state: &SharedMailbox,
        status: &MailboxStatus,
    ) -> Result<(), MailError> {
        let uidvalidity = self.ensure_selected(connection, account, raw_name).await?;
        if uidvalidity != lock(state).uidvalidity {
            self.cache.forget_mailbox(account, raw_name);
            return Err(MailError::Imap(mailfront_imap::ImapError::Protocol {
                detail: "uidvalidity changed during a resync".into(),
            }));
        }
        bump(&self.metrics.commands.search);
        let fresh = connection.uid_search(&SearchCriteria::All).await?;
        let added = {
            let mut known = lock(state);
            let modseq_moved = match (status.highestmodseq, known.highestmodseq) {
                (Some(seen), Some(known_modseq)) => seen != known_modseq,
                _ => true,
            };
            if modseq_moved {
                known.rows.clear();
                known.searches.clear();
            }
            known.reconcile(fresh)
        };
        tracing::debug!(
            mailbox = raw_name,
            added = added.len(),
            "mailbox resynchronised"
        );
        self.add_messages(connection, state, added).await
    }

    async fn add_messages(
        &self,
        connection: &mut Connection,
        state: &SharedMailbox,
        new: Vec<u32>,
    ) -> Result<(), MailError> {
        if new.is_empty() {
            return Ok(());
        }
        let sorted_here = lock(state).sort_keys.is_some();
        let keys = if sorted_here {
            self.fetch_keys(connection, &new).await?
        } else {
            Vec::new()
        };
        if new.len() > MAX_MERGED_ROWS {
            let mut known = lock(state);
            known.uids.extend(new);
            known.uids.sort_unstable();
            known.uids.dedup();
            known.sorted.clear();
            known.searches.clear();
            add_keys(&mut known, keys);
            return Ok(());
        }
        bump(&self.metrics.commands.fetch);
        let rows: Vec<_> = connection
            .fetch_summaries(&new)
            .await?
            .iter()
            .map(row_from_summary)
            .collect();
        let mut known = lock(state);
        known.merge_new(rows);
        add_keys(&mut known, keys);
        Ok(())
    }

    /// The sort keys of `uids`, by the rules of RFC 5256; messages expunged
    /// meanwhile have none.
    async fn fetch_keys(
        &self,
        connection: &mut Connection,
        uids: &[u32],
    ) -> Result<Vec<MessageKeys>, MailError> {
        if uids.is_empty() {
            return Ok(Vec::new());
        }
        bump(&self.metrics.commands.fetch);
        let raw = connection.fetch_sort_keys(uids).await?;
        Ok(raw.iter().map(message_keys).collect())
    }

    /// Fetches, in the background, the rows of a window the user is likely
    /// to ask for next (the next page). It runs only when a spare idle
    /// connection (preferably with the mailbox selected, else it selects
    /// it) and a prefetch slot of the node are free at once, so it never
    /// delays a request; a failure is
    /// only logged. The rows it adds are validated like any other before
    /// they are served.
    pub(crate) fn prefetch_rows(
        &self,
        credentials: &Credentials,
        raw_name: &str,
        state: &SharedMailbox,
        window: Vec<u32>,
    ) {
        let missing: Vec<u32> = {
            let known = lock(state);
            window
                .into_iter()
                .filter(|uid| !known.rows.contains_key(uid))
                .collect()
        };
        if missing.is_empty() {
            return;
        }
        let Ok(slot) = self.prefetch_slots.clone().try_acquire_owned() else {
            return;
        };
        let Some(mut connection) = self.pool.try_borrow_idle(credentials, raw_name) else {
            return;
        };

        let service = self.clone();
        let state = state.clone();
        let account = credentials.user.clone();
        let raw_name = raw_name.to_owned();
        let running = self.metrics.background_task();
        tokio::spawn(async move {
            let _running = running;
            let _slot = slot;
            let (uidvalidity, news_before) = {
                let known = lock(&state);
                (known.uidvalidity, known.news_applied)
            };
            let selected = service
                .ensure_selected(&mut connection, &account, &raw_name)
                .await;
            if !matches!(selected, Ok(now) if now == uidvalidity) {
                return;
            }
            bump(&service.metrics.commands.fetch);
            match connection.fetch_summaries(&missing).await {
                Ok(summaries) => {
                    let mut known = lock(&state);
                    if known.news_applied != news_before {
                        // Flags read here may predate news applied meanwhile
                        // from another connection; the page fetches its own.
                        tracing::debug!("prefetched rows dropped: news came meanwhile");
                        drop(known);
                        service.absorb_events(&mut connection, &account);
                        return;
                    }
                    for summary in &summaries {
                        if known.uids.binary_search(&summary.uid).is_ok() {
                            known.rows.insert(summary.uid, row_from_summary(summary));
                        }
                    }
                }
                Err(error) => tracing::debug!(%error, "prefetch failed"),
            }
            service.absorb_events(&mut connection, &account);
        });
    }

    /// The UID list of `order`: from the cache, sorted by the server, or
    /// sorted here from the cached sort keys (fetching those still missing).
    pub(crate) async fn sorted_list(
        &self,
        connection: &mut Connection,
        account: &str,
        raw_name: &str,
        state: &SharedMailbox,
        order: SortOrder,
    ) -> Result<(Arc<Vec<u32>>, SortOrder), MailError> {
        let missing_keys = {
            let known = lock(state);
            if let Some(list) = known.sorted.get(&order) {
                return Ok((list.clone(), order));
            }
            known
                .sort_keys
                .as_ref()
                .map(|table| table.missing(&known.uids))
        };

        if let Some(missing) = missing_keys {
            let keys = if missing.is_empty() {
                Vec::new()
            } else {
                self.ensure_selected(connection, account, raw_name).await?;
                self.fetch_keys(connection, &missing).await?
            };
            let mut known = lock(state);
            add_keys(&mut known, keys);
            let list = Arc::new(sort_here(&mut known, order));
            known.sorted.insert(order, list.clone());
            return Ok((list, order));
        }

        self.ensure_selected(connection, account, raw_name).await?;
        let list = Arc::new(self.sort_on_server(connection, order).await?);
        let mut known = lock(state);
        if list.len() != known.uids.len() {
            let mut all = (*list).clone();
            all.sort_unstable();
            let added = known.reconcile(all.clone());
            if !added.is_empty() {
                known.sorted.clear();
                known.searches.clear();
            }
            known.uids = all;
        }
        known.sorted.insert(order, list.clone());
        Ok((list, order))
    }

    /// `UID SORT` in `order`; the server must have SORT.
    async fn sort_on_server(
        &self,
        connection: &mut Connection,
        order: SortOrder,
    ) -> Result<Vec<u32>, MailError> {
        bump(&self.metrics.commands.sort);
        let mut uids = connection
            .uid_sort(&super::sort_keys(order), &SearchCriteria::All)
            .await?;
        if order.descending {
            uids.reverse();
        }
        // Kept in the cache for as long as the mailbox is: no spare room.
        uids.shrink_to_fit();
        Ok(uids)
    }

    /// Selects the mailbox unless the connection has it selected already
    /// (read-write), draining the news of the mailbox it leaves into the
    /// cache first. Returns the UIDVALIDITY.
    pub(crate) async fn ensure_selected(
        &self,
        connection: &mut Connection,
        account: &str,
        raw_name: &str,
    ) -> Result<u32, MailError> {
        if let Some(selected) = connection.selected() {
            if selected.raw_name == raw_name && !selected.read_only {
                return Ok(selected.uidvalidity);
            }
        }
        self.select_again(connection, account, raw_name).await
    }

    /// Selects the mailbox even when it is selected already, draining the
    /// news of the mailbox it leaves into the cache first.
    async fn select_again(
        &self,
        connection: &mut Connection,
        account: &str,
        raw_name: &str,
    ) -> Result<u32, MailError> {
        self.absorb_events(connection, account);

        bump(&self.metrics.commands.select);
        match connection.select(raw_name, false).await {
            Ok(selected) => Ok(selected.uidvalidity),
            Err(error) => Err(self.forget_on_missing(account, raw_name, folder_refusal(error))),
        }
    }

    /// Applies a connection's pending news to the cached state of the
    /// mailbox it has selected; a state the news cannot be applied to is
    /// dropped, to be loaded afresh when next shown.
    pub(crate) fn absorb_events(&self, connection: &mut Connection, account: &str) {
        let Some(raw_name) = connection.selected().map(|s| s.raw_name.clone()) else {
            return;
        };
        let events = connection.take_events();
        if events.is_empty() {
            return;
        }
        let Some(state) = self.cache.mailbox(account, &raw_name) else {
            return;
        };
        let freshness = lock(&state).apply_events(&events);
        if freshness != Freshness::Current {
            self.cache.forget_mailbox(account, &raw_name);
        }
    }

    /// A vanished mailbox also leaves the cache, and so does the folder list
    /// that still named it.
    pub(crate) fn forget_on_missing(
        &self,
        account: &str,
        raw_name: &str,
        error: MailError,
    ) -> MailError {
        if matches!(error, MailError::MailboxNotFound) {
            self.cache.forget_mailbox(account, raw_name);
            self.cache.forget_folders(account);
        }
        error
    }
}

/// What a refused SELECT or STATUS means for the user: a folder the server
/// will not open (NO, BAD, or a name it cannot take) is a folder that is not
/// there. The server's words go to the log only.
fn folder_refusal(error: ImapError) -> MailError {
    match error {
        ImapError::CommandFailed {
            command,
            code,
            text,
            ..
        } => {
            tracing::debug!(command, ?code, text = %text, "folder refused by the server");
            MailError::MailboxNotFound
        }
        ImapError::InvalidArgument { detail } => {
            tracing::debug!(detail = %detail, "folder name refused before sending");
            MailError::MailboxNotFound
        }
        other => other.into(),
    }
}

/// Locks a mailbox state. A poisoned lock means a panic mid-update; the
/// state is still structurally sound (every update keeps the invariants
/// step by step), so it is used.
pub(crate) fn lock(state: &SharedMailbox) -> std::sync::MutexGuard<'_, MailboxState> {
    state
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Notes that `state` was just loaded or validated on `connection`, at the
/// news mark of its selection of the mailbox, if it has one. Any news taken
/// from the connection later moves its mark, so its next check is a STATUS
/// again.
fn follow_news_of(connection: &Connection, raw_name: &str, state: &SharedMailbox) {
    let selected_here = connection
        .selected()
        .is_some_and(|s| s.raw_name == raw_name);
    if let Some(mark) = connection.news_mark().filter(|_| selected_here) {
        lock(state).note_heard(mark);
    }
}

/// Adds fetched sort keys to the state's table, for messages it still holds.
fn add_keys(state: &mut MailboxState, keys: Vec<MessageKeys>) {
    let MailboxState {
        uids, sort_keys, ..
    } = state;
    let Some(table) = sort_keys.as_mut() else {
        return;
    };
    for keys in keys {
        if uids.binary_search(&keys.uid).is_ok() {
            table.insert(keys);
        }
    }
}

/// Sorts the state's messages from its sort key table. Messages that still
/// lack keys after they were fetched were expunged meanwhile: they leave the
/// state, and the next validation finds out what else changed.
fn sort_here(state: &mut MailboxState, order: SortOrder) -> Vec<u32> {
    let Some(table) = state.sort_keys.as_ref() else {
        return Vec::new();
    };
    let gone = table.missing(&state.uids);
    state.remove(&gone);
    state
        .sort_keys
        .as_mut()
        .map(|table| table.sorted(order))
        .unwrap_or_default()
}

fn counts_match(state: &MailboxState, status: &MailboxStatus) -> bool {
    status
        .messages
        .is_none_or(|m| m as usize == state.uids.len())
        && status.uidnext.is_none_or(|n| n == state.uidnext)
}

fn worst(a: Freshness, b: Freshness) -> Freshness {
    let rank = |f| match f {
        Freshness::Current => 0,
        Freshness::NewMessages => 1,
        Freshness::Resync => 2,
        Freshness::Void => 3,
    };
    if rank(b) > rank(a) {
        b
    } else {
        a
    }
}
