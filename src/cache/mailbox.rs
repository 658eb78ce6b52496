//! What is known about one mailbox of one user: its validity markers, every
//! UID, the sorted UID lists of the orders in use, list rows by UID, and the
//! matches of recent searches.
//!
//! This module only keeps and changes that knowledge; it never talks to the
//! server. Callers feed it what the server said (a STATUS, untagged events,
//! a fresh UID list, fetched rows) and ask it whether it still matches.
//! Invariant: `uids` is ascending, and every sorted list, every search
//! result, every row and every entry of the sort key table names only UIDs
//! in `uids`. Search results are forgotten at any change of the messages or
//! their flags that the state learns of. Outside an update
//! by the mail service, a mailbox with a sort key table has keys for every
//! UID.

use std::collections::HashMap;
use std::sync::Arc;

use mailfront_imap::{MailboxEvent, MailboxStatus, NewsMark};

use super::{Markers, SearchResults, SortKeyTable};
use crate::mail::{MessageRow, SortField, SortOrder};

/// Cached knowledge of one mailbox, valid for one UIDVALIDITY.
#[derive(Debug, Clone)]
pub struct MailboxState {
    pub uidvalidity: u32,
    /// The next UID the server will assign, as last seen.
    pub uidnext: u32,
    /// CONDSTORE's HIGHESTMODSEQ as last seen; `None` without CONDSTORE.
    pub highestmodseq: Option<u64>,
    /// Unread messages, from the last STATUS.
    pub unseen: Option<u32>,
    /// Every UID, ascending (which is sequence order).
    pub uids: Vec<u32>,
    /// Sorted UID lists of the orders that have been shown.
    pub sorted: HashMap<SortOrder, Arc<Vec<u32>>>,
    /// List rows by UID; only rows that were shown or prefetched.
    pub rows: HashMap<u32, MessageRow>,
    /// The sort keys of every message, when mailfront sorts this mailbox
    /// itself because the server has no SORT; `None` when the server sorts.
    pub sort_keys: Option<SortKeyTable>,
    /// Matches of recent searches, each valid for the markers it names.
    pub searches: SearchResults,
    /// Connections this state was last validated or loaded on, each at the
    /// mark it had then; see [`MailboxState::has_heard`].
    heard: Vec<NewsMark>,
    /// News items applied so far. Rows read on one connection while another
    /// connection's news was applied may be older than that news.
    pub news_applied: u64,
}

/// The most connections a state follows the news of; more than a user's
/// pool holds, so that only marks of closed connections fall out.
const MAX_HEARD: usize = 16;

/// What applying the server's news requires next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Freshness {
    /// The cache matches the server.
    Current,
    /// New messages arrived: their UIDs must be looked up and merged.
    NewMessages,
    /// Something cannot be applied piecemeal: the UID list must be fetched again.
    Resync,
    /// UIDVALIDITY changed: everything cached for the mailbox is void.
    Void,
}

impl MailboxState {
    /// A state from a complete, ascending UID list.
    pub fn new(uidvalidity: u32, uidnext: u32, highestmodseq: Option<u64>, uids: Vec<u32>) -> Self {
        MailboxState {
            uidvalidity,
            uidnext,
            highestmodseq,
            unseen: None,
            uids,
            sorted: HashMap::new(),
            rows: HashMap::new(),
            sort_keys: None,
            searches: SearchResults::default(),
            heard: Vec::new(),
            news_applied: 0,
        }
    }

    /// Applies a flag change stored through mailfront: the rows of `uids`
    /// gain (`add`) or lose `flag`, and search results, which may hang on
    /// it, are forgotten. The server tells other connections of the change
    /// but not, with a silent STORE, the one that made it.
    pub fn apply_own_flag_change(&mut self, uids: &[u32], flag: &str, add: bool) {
        self.searches.clear();
        for uid in uids {
            if let Some(row) = self.rows.get_mut(uid) {
                let mut flags = row.flags.clone();
                flags.retain(|f| !f.eq_ignore_ascii_case(flag));
                if add {
                    flags.push(flag.to_owned());
                }
                row.set_flags(&flags);
            }
        }
    }

    /// Notes that this state now reflects the mailbox as the connection at
    /// `mark` sees it: validated against the server (or loaded) on it, with
    /// its news taken up to the mark.
    pub fn note_heard(&mut self, mark: NewsMark) {
        self.heard.retain(|m| m.selection != mark.selection);
        if self.heard.len() >= MAX_HEARD {
            self.heard.remove(0);
        }
        self.heard.push(mark);
    }

    /// True when the state was validated (or loaded) on the connection at
    /// `mark` and no news was taken from it since. Such a connection that
    /// has the mailbox selected and hears nothing new on NOOP proves the
    /// state current, since a server reports every change to a selected
    /// mailbox on NOOP. News taken in between, even if applied here, moves
    /// the connection's mark: it must be validated with a STATUS again,
    /// which also brings the unread count that news cannot.
    pub fn has_heard(&self, mark: NewsMark) -> bool {
        self.heard.contains(&mark)
    }

    /// The markers a search result found now would be kept under.
    pub fn markers(&self) -> Markers {
        Markers {
            uidnext: self.uidnext,
            highestmodseq: self.highestmodseq,
            messages: self.uids.len(),
        }
    }

    /// Applies untagged news seen on a connection that has this mailbox
    /// selected. Only UID-based news is applied piecemeal; news by sequence
    /// number asks for a resync, since the connection that reported it may
    /// have a different view of sequence numbers than this cache.
    pub fn apply_events(&mut self, events: &[MailboxEvent]) -> Freshness {
        self.news_applied += events.len() as u64;
        let mut freshness = Freshness::Current;
        for event in events {
            match event {
                MailboxEvent::Vanished(uids) => self.remove(uids),
                MailboxEvent::FlagsChanged {
                    uid: Some(uid),
                    flags,
                    ..
                } => {
                    if let Some(row) = self.rows.get_mut(uid) {
                        row.set_flags(flags);
                    }
                    self.searches.clear();
                }
                MailboxEvent::FlagsChanged { uid: None, .. } => {
                    self.rows.clear();
                    self.searches.clear();
                }
                MailboxEvent::Expunged { .. } | MailboxEvent::EventsDropped => {
                    freshness = worse(freshness, Freshness::Resync);
                }
                MailboxEvent::Exists(count) => {
                    if *count as usize > self.uids.len() {
                        freshness = worse(freshness, Freshness::NewMessages);
                    }
                }
                MailboxEvent::UidValidityChanged { .. } => return Freshness::Void,
                MailboxEvent::Alert(_) => {}
            }
        }
        freshness
    }

    /// Compares with a STATUS answer: whether the cache still describes the
    /// mailbox, and if not what must be done.
    pub fn compare(&self, status: &MailboxStatus) -> Freshness {
        if status.uidvalidity.is_some_and(|v| v != self.uidvalidity) {
            return Freshness::Void;
        }
        let count_matches = status
            .messages
            .is_none_or(|m| m as usize == self.uids.len());
        let uidnext_matches = status.uidnext.is_none_or(|n| n == self.uidnext);
        let modseq_matches = match (status.highestmodseq, self.highestmodseq) {
            (Some(seen), Some(known)) => seen == known,
            _ => true,
        };
        match (count_matches, uidnext_matches, modseq_matches) {
            (true, true, true) => Freshness::Current,
            (_, false, _) if self.uids.len() < status.messages.unwrap_or(0) as usize => {
                Freshness::NewMessages
            }
            (true, true, false) => {
                // Only flags changed, on messages this cache cannot name.
                Freshness::Resync
            }
            _ => Freshness::Resync,
        }
    }

    /// Takes the markers of a STATUS answer as the new truth.
    pub fn note_status(&mut self, status: &MailboxStatus) {
        if let Some(uidnext) = status.uidnext {
            self.uidnext = uidnext;
        }
        if status.highestmodseq.is_some() {
            self.highestmodseq = status.highestmodseq;
        }
        self.unseen = status.unseen.or(self.unseen);
    }

    /// Forgets expunged messages everywhere.
    pub fn remove(&mut self, gone: &[u32]) {
        if gone.is_empty() {
            return;
        }
        let gone: std::collections::HashSet<u32> = gone.iter().copied().collect();
        self.uids.retain(|uid| !gone.contains(uid));
        self.searches.clear();
        for list in self.sorted.values_mut() {
            if list.iter().any(|uid| gone.contains(uid)) {
                *list = Arc::new(
                    list.iter()
                        .copied()
                        .filter(|uid| !gone.contains(uid))
                        .collect(),
                );
            }
        }
        self.rows.retain(|uid, _| !gone.contains(uid));
        if let Some(table) = self.sort_keys.as_mut() {
            table.remove(&gone);
        }
    }

    /// Replaces the UID list with the server's complete one: UIDs no longer
    /// there are forgotten; new ones are merged (see [`MailboxState::merge_new`]).
    pub fn reconcile(&mut self, fresh: Vec<u32>) -> Vec<u32> {
        let fresh_set: std::collections::HashSet<u32> = fresh.iter().copied().collect();
        let gone: Vec<u32> = self
            .uids
            .iter()
            .copied()
            .filter(|u| !fresh_set.contains(u))
            .collect();
        self.remove(&gone);
        let known: std::collections::HashSet<u32> = self.uids.iter().copied().collect();
        let added: Vec<u32> = fresh.into_iter().filter(|u| !known.contains(u)).collect();
        added
    }

    /// Adds new messages, whose rows are given. An order whose list can take
    /// them at its newest end without changing the rest (arrival and date
    /// orders, when every new message is at least as new as the newest one
    /// known) is extended in place; any other order's list is dropped, to be
    /// sorted again by the server when it is next shown. With a sort key
    /// table every list is dropped, since sorting the keys again costs less
    /// than a server's SORT and cannot disagree with them; the caller adds
    /// the new messages' keys.
    pub fn merge_new(&mut self, new_rows: Vec<MessageRow>) {
        // Two requests that found the same new mail at once both merge it:
        // the second finds it known already.
        let new_rows: Vec<MessageRow> = new_rows
            .into_iter()
            .filter(|row| self.uids.binary_search(&row.uid).is_err())
            .collect();
        if new_rows.is_empty() {
            return;
        }
        self.searches.clear();
        let mut new_uids: Vec<u32> = new_rows.iter().map(|r| r.uid).collect();
        new_uids.sort_unstable();
        self.uids.extend(new_uids.iter().copied());
        self.uids.sort_unstable();
        self.uids.dedup();

        if self.sort_keys.is_some() {
            self.sorted.clear();
        }
        let orders: Vec<SortOrder> = self.sorted.keys().copied().collect();
        for order in orders {
            let list = self.sorted.get(&order).cloned().unwrap_or_default();
            match self.extend_at_newest_end(order, &list, &new_rows) {
                Some(extended) => {
                    self.sorted.insert(order, Arc::new(extended));
                }
                None => {
                    self.sorted.remove(&order);
                }
            }
        }
        for row in new_rows {
            self.rows.insert(row.uid, row);
        }
        if let Some(last) = self.uids.last() {
            self.uidnext = self.uidnext.max(last + 1);
        }
    }

    fn extend_at_newest_end(
        &self,
        order: SortOrder,
        list: &[u32],
        new_rows: &[MessageRow],
    ) -> Option<Vec<u32>> {
        let key = |row: &MessageRow| match order.field {
            SortField::Arrival => row.internal_date,
            SortField::Date => row.date,
            _ => None,
        };
        if !matches!(order.field, SortField::Arrival | SortField::Date) {
            return None;
        }
        let newest_known = if order.descending {
            list.first()
        } else {
            list.last()
        };
        let newest_key = match newest_known {
            Some(uid) => Some(key(self.rows.get(uid)?)?),
            None => None,
        };

        let mut incoming: Vec<&MessageRow> = new_rows.iter().collect();
        for row in &incoming {
            let row_key = key(row)?;
            if newest_key.is_some_and(|newest| row_key < newest) {
                return None;
            }
        }
        incoming.sort_by_key(|row| (key(row), row.uid));
        let incoming: Vec<u32> = incoming.iter().map(|r| r.uid).collect();
        let mut extended = Vec::with_capacity(list.len() + incoming.len());
        if order.descending {
            extended.extend(incoming.iter().rev());
            extended.extend_from_slice(list);
        } else {
            extended.extend_from_slice(list);
            extended.extend(incoming);
        }
        Some(extended)
    }

    /// Approximate bytes held, for the cache's weigher.
    pub fn weight(&self) -> u32 {
        let lists: usize = self.sorted.values().map(|l| l.len() * 4).sum();
        let rows: usize = self.rows.values().map(MessageRow::weight).sum();
        let keys = self.sort_keys.as_ref().map_or(0, SortKeyTable::weight);
        let searches = self.searches.weight();
        let total = 256 + self.uids.len() * 4 + lists + rows + keys + searches;
        u32::try_from(total).unwrap_or(u32::MAX)
    }
}

fn worse(a: Freshness, b: Freshness) -> Freshness {
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

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{FixedOffset, TimeZone};

    fn row(uid: u32, minute: u32) -> MessageRow {
        let date = FixedOffset::east_opt(0)
            .unwrap()
            .with_ymd_and_hms(2024, 1, 1, 10, minute, 0)
            .unwrap();
        MessageRow {
            uid,
            from: None,
            to: None,
            subject: None,
            date: Some(date),
            internal_date: Some(date),
            size: Some(100),
            flags: Vec::new(),
            unread: true,
            flagged: false,
            answered: false,
            has_attachments: false,
        }
    }

    fn state_with(uids: &[u32]) -> MailboxState {
        let mut state = MailboxState::new(7, uids.last().unwrap() + 1, Some(10), uids.to_vec());
        for (i, uid) in uids.iter().enumerate() {
            state.rows.insert(*uid, row(*uid, i as u32));
        }
        let newest_first: Vec<u32> = uids.iter().rev().copied().collect();
        state
            .sorted
            .insert(SortOrder::default(), Arc::new(newest_first));
        state
    }

    fn mark(selection: u64, taken: u64) -> NewsMark {
        NewsMark { selection, taken }
    }

    #[test]
    fn a_connection_is_followed_at_the_mark_it_was_noted_at() {
        let mut state = state_with(&[1, 2]);
        assert!(!state.has_heard(mark(1, 0)), "a new state follows nobody");

        state.note_heard(mark(1, 3));
        assert!(state.has_heard(mark(1, 3)));
        assert!(!state.has_heard(mark(1, 4)), "news taken since");
        assert!(!state.has_heard(mark(2, 3)), "another selection");

        // Noting a selection again replaces its older mark.
        state.note_heard(mark(1, 9));
        assert!(state.has_heard(mark(1, 9)));
        assert!(!state.has_heard(mark(1, 3)));
    }

    #[test]
    fn only_the_latest_connections_are_followed() {
        let mut state = state_with(&[1]);
        for selection in 0..(MAX_HEARD as u64 + 2) {
            state.note_heard(mark(selection, 0));
        }
        assert!(!state.has_heard(mark(0, 0)));
        assert!(!state.has_heard(mark(1, 0)));
        assert!(state.has_heard(mark(MAX_HEARD as u64 + 1, 0)));
    }

    #[test]
    fn the_text_of_rows_is_weighed() {
        let mut state = state_with(&[1, 2]);
        let before = state.weight();
        state.rows.get_mut(&1).unwrap().subject = Some("x".repeat(10_000));
        assert!(state.weight() >= before + 10_000);
    }

    #[test]
    fn vanished_messages_leave_every_list() {
        let mut state = state_with(&[1, 2, 3, 4]);
        let freshness = state.apply_events(&[MailboxEvent::Vanished(vec![2, 4])]);
        assert_eq!(freshness, Freshness::Current);
        assert_eq!(state.uids, vec![1, 3]);
        assert_eq!(*state.sorted[&SortOrder::default()], vec![3, 1]);
        assert!(!state.rows.contains_key(&2));
    }

    #[test]
    fn an_expunge_by_sequence_number_asks_for_a_resync() {
        let mut state = state_with(&[1, 2, 3]);
        assert_eq!(
            state.apply_events(&[MailboxEvent::Expunged { seq: 2 }]),
            Freshness::Resync
        );
        assert_eq!(state.uids, vec![1, 2, 3], "nothing guessed");
    }

    #[test]
    fn flag_news_by_uid_updates_the_row() {
        let mut state = state_with(&[1, 2]);
        let event = MailboxEvent::FlagsChanged {
            seq: 2,
            uid: Some(2),
            flags: vec!["\\Seen".into(), "\\Flagged".into()],
        };
        state.apply_events(&[event]);
        assert!(!state.rows[&2].unread);
        assert!(state.rows[&2].flagged);
    }

    #[test]
    fn a_changed_uidvalidity_voids_the_mailbox() {
        let state = state_with(&[1, 2]);
        let status = MailboxStatus {
            messages: Some(2),
            unseen: None,
            uidnext: Some(3),
            uidvalidity: Some(8),
            highestmodseq: Some(10),
        };
        assert_eq!(state.compare(&status), Freshness::Void);
    }

    #[test]
    fn status_tells_new_mail_from_other_changes() {
        let state = state_with(&[1, 2]);
        let same = MailboxStatus {
            messages: Some(2),
            unseen: None,
            uidnext: Some(3),
            uidvalidity: Some(7),
            highestmodseq: Some(10),
        };
        assert_eq!(state.compare(&same), Freshness::Current);
        let more = MailboxStatus {
            messages: Some(3),
            uidnext: Some(4),
            highestmodseq: Some(11),
            ..same.clone()
        };
        assert_eq!(state.compare(&more), Freshness::NewMessages);
        let flags_only = MailboxStatus {
            highestmodseq: Some(12),
            ..same.clone()
        };
        assert_eq!(state.compare(&flags_only), Freshness::Resync);
        let replaced = MailboxStatus {
            uidnext: Some(4),
            ..same
        };
        assert_eq!(state.compare(&replaced), Freshness::Resync);
    }

    #[test]
    fn newer_mail_is_merged_on_top_without_resorting() {
        let mut state = state_with(&[1, 2, 3]);
        state.merge_new(vec![row(5, 30), row(4, 20)]);
        assert_eq!(state.uids, vec![1, 2, 3, 4, 5]);
        assert_eq!(*state.sorted[&SortOrder::default()], vec![5, 4, 3, 2, 1]);
        assert_eq!(state.uidnext, 6);
    }

    #[test]
    fn mail_merged_twice_is_listed_once() {
        let mut state = state_with(&[1, 2, 3]);
        state.merge_new(vec![row(4, 20)]);
        state.merge_new(vec![row(4, 20)]);
        assert_eq!(state.uids, vec![1, 2, 3, 4]);
        assert_eq!(*state.sorted[&SortOrder::default()], vec![4, 3, 2, 1]);
    }

    #[test]
    fn a_flag_stored_here_changes_the_row_and_forgets_searches() {
        let mut state = state_with(&[1, 2]);
        let input = crate::mail::SearchInput {
            text: Some("anything"),
            ..Default::default()
        };
        let query = crate::mail::SearchQuery::from_input(&input)
            .unwrap()
            .unwrap();
        let markers = state.markers();
        state
            .searches
            .insert(query, SortOrder::default(), markers, Arc::new(vec![1]));

        state.apply_own_flag_change(&[1], "\\Seen", true);
        assert!(!state.rows[&1].unread);
        assert!(state.searches.is_empty());
        state.apply_own_flag_change(&[1], "\\seen", false);
        assert!(state.rows[&1].unread);
    }

    #[test]
    fn older_mail_drops_the_list_for_the_server_to_sort_again() {
        let mut state = state_with(&[10, 11, 12]);
        let by_size = SortOrder {
            field: SortField::Size,
            descending: true,
        };
        state.sorted.insert(by_size, Arc::new(vec![10, 11, 12]));
        state.merge_new(vec![row(13, 0)]);
        assert!(
            !state.sorted.contains_key(&SortOrder::default()),
            "13 is older than 12"
        );
        assert!(!state.sorted.contains_key(&by_size));
        assert!(state.uids.contains(&13));
    }

    #[test]
    fn expunged_messages_leave_the_sort_key_table_and_new_ones_drop_every_list() {
        let mut state = state_with(&[1, 2, 3]);
        let mut table = SortKeyTable::new();
        for uid in [1, 2, 3] {
            table.insert(crate::cache::MessageKeys {
                uid,
                arrival: i64::from(uid),
                date: 0,
                size: 0,
                from: String::new(),
                subject: String::new(),
            });
        }
        state.sort_keys = Some(table);

        assert_eq!(state.reconcile(vec![1, 3, 4]), vec![4]);
        let table = state.sort_keys.as_ref().unwrap();
        assert_eq!(table.missing(&[1, 2, 3]), [2]);
        state.merge_new(vec![row(4, 59)]);
        assert!(state.sorted.is_empty(), "sorted again from the keys");
        assert_eq!(state.uids, vec![1, 3, 4]);
    }

    #[test]
    fn reconcile_forgets_the_gone_and_reports_the_new() {
        let mut state = state_with(&[1, 2, 3]);
        let added = state.reconcile(vec![1, 3, 4]);
        assert_eq!(added, vec![4]);
        assert_eq!(state.uids, vec![1, 3]);
        assert_eq!(*state.sorted[&SortOrder::default()], vec![3, 1]);
    }
}
