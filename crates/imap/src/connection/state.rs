//! What a connection knows about its selected mailbox, and the queue of
//! events for the caller.
//!
//! [`MailboxState`] is updated from every untagged response and response
//! code, whichever command is running, so `selected()` stays true between
//! commands. It never does I/O. While a SELECT runs, updates go to the
//! pending mailbox and raise no events; the previous mailbox is deselected at
//! the start of the SELECT, as RFC 3501 says. The event queue holds at most
//! [`MAX_EVENTS`] entries; on overflow it keeps only alerts and adds
//! [`MailboxEvent::EventsDropped`].

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::types::{MailboxEvent, NewsMark, SelectedMailbox};
use crate::wire::fetch::FetchData;
use crate::wire::response::{Code, StatusKind, Untagged};

/// The most events kept between two calls of `take_events`.
pub(crate) const MAX_EVENTS: usize = 10_000;

/// The number of the last selection made in this process.
static LAST_SELECTION: AtomicU64 = AtomicU64::new(0);

#[derive(Debug, Default)]
pub(crate) struct MailboxState {
    selected: Option<SelectedMailbox>,
    pending: Option<SelectedMailbox>,
    /// UID validity last seen per mailbox on this connection.
    validity_seen: HashMap<String, u32>,
    events: Vec<MailboxEvent>,
    /// The number of the current selection, see [`NewsMark`].
    selection: u64,
    /// Events taken since the current selection was made.
    taken: u64,
}

impl MailboxState {
    pub fn selected(&self) -> Option<&SelectedMailbox> {
        self.selected.as_ref()
    }

    fn current(&mut self) -> Option<&mut SelectedMailbox> {
        self.pending.as_mut().or(self.selected.as_mut())
    }

    fn push(&mut self, event: MailboxEvent) {
        if self.events.len() >= MAX_EVENTS {
            self.events.retain(|e| matches!(e, MailboxEvent::Alert(_)));
            self.events.push(MailboxEvent::EventsDropped);
        }
        self.events.push(event);
    }

    /// Pushes a mailbox event only when a mailbox is selected and no SELECT
    /// is running.
    fn push_mailbox_event(&mut self, event: MailboxEvent) {
        if self.selected.is_some() && self.pending.is_none() {
            self.push(event);
        }
    }

    pub fn take_events(&mut self) -> Vec<MailboxEvent> {
        let events = std::mem::take(&mut self.events);
        self.taken += events.len() as u64;
        events
    }

    /// Where the caller stands in the selected mailbox's news; `None` when
    /// nothing is selected.
    pub fn news_mark(&self) -> Option<NewsMark> {
        self.selected.as_ref().map(|_| NewsMark {
            selection: self.selection,
            taken: self.taken,
        })
    }

    /// Applies a response code from any status response.
    pub fn observe_code(&mut self, code: &Code, text: &str) {
        match code {
            Code::Alert => self.push(MailboxEvent::Alert(text.to_owned())),
            Code::UidValidity(new) => {
                let selecting = self.pending.is_some();
                let Some(mailbox) = self.current() else {
                    return;
                };
                let old = mailbox.uidvalidity;
                mailbox.uidvalidity = *new;
                if !selecting && old != *new {
                    self.push(MailboxEvent::UidValidityChanged { old, new: *new });
                }
            }
            Code::UidNext(n) => {
                if let Some(mailbox) = self.current() {
                    mailbox.uidnext = Some(*n);
                }
            }
            Code::HighestModSeq(n) => {
                if let Some(mailbox) = self.current() {
                    mailbox.highestmodseq = Some(*n);
                }
            }
            Code::NoModSeq => {
                if let Some(mailbox) = self.current() {
                    mailbox.highestmodseq = None;
                }
            }
            Code::ReadOnly => {
                if let Some(mailbox) = self.pending.as_mut() {
                    mailbox.read_only = true;
                }
            }
            _ => {}
        }
    }

    /// Notes an untagged NO or BAD. While a mailbox is selected it means the
    /// server could not bring this connection's view up to date (Dovecot
    /// says so after another client deleted and recreated the mailbox):
    /// what the caller knows must be checked afresh.
    /// A NO with a response code (an `[ALERT]`, say) is a message for the
    /// user, not trouble with the view.
    pub fn observe_trouble(&mut self, kind: StatusKind, has_code: bool) {
        let trouble = matches!(kind, StatusKind::No | StatusKind::Bad) && !has_code;
        if trouble && self.pending.is_none() && self.current().is_some() {
            self.push_mailbox_event(MailboxEvent::EventsDropped);
        }
    }

    /// Applies an untagged response that changes mailbox state.
    pub fn observe(&mut self, response: &Untagged) {
        match response {
            Untagged::Status(status) => {
                if let Some(code) = &status.code {
                    self.observe_code(code, &status.text);
                }
            }
            Untagged::Exists(n) => {
                if let Some(mailbox) = self.current() {
                    mailbox.exists = *n;
                }
                self.push_mailbox_event(MailboxEvent::Exists(*n));
            }
            Untagged::Expunge(seq) => {
                if let Some(mailbox) = self.current() {
                    mailbox.exists = mailbox.exists.saturating_sub(1);
                }
                self.push_mailbox_event(MailboxEvent::Expunged { seq: *seq });
            }
            Untagged::Vanished { earlier, uids } => {
                if !earlier {
                    if let Some(mailbox) = self.current() {
                        let gone = u32::try_from(uids.len()).unwrap_or(u32::MAX);
                        mailbox.exists = mailbox.exists.saturating_sub(gone);
                    }
                }
                self.push_mailbox_event(MailboxEvent::Vanished(uids.clone()));
            }
            Untagged::Flags(flags) => {
                if let Some(mailbox) = self.current() {
                    mailbox.flags = flags.clone();
                }
            }
            _ => {}
        }
    }

    /// Turns a FETCH that no command claimed into a flag-change event. Its
    /// MODSEQ does not move `highestmodseq`: only the server's own
    /// HIGHESTMODSEQ codes vouch that nothing older is missing.
    pub fn unclaimed_fetch(&mut self, data: FetchData) {
        if let Some(flags) = data.flags {
            let (seq, uid) = (data.seq, data.uid);
            self.push_mailbox_event(MailboxEvent::FlagsChanged { seq, uid, flags });
        }
    }

    /// Deselects the current mailbox and starts collecting a new one.
    pub fn begin_select(&mut self, raw_name: &str, read_only: bool) {
        self.selected = None;
        self.pending = Some(SelectedMailbox {
            raw_name: raw_name.to_owned(),
            read_only,
            ..Default::default()
        });
    }

    /// Makes the pending mailbox the selected one and drops events that
    /// were about the previous mailbox (alerts are kept).
    pub fn finish_select(&mut self) -> Option<SelectedMailbox> {
        let mailbox = self.pending.take()?;
        self.events.retain(|e| matches!(e, MailboxEvent::Alert(_)));

        let previous = self
            .validity_seen
            .insert(mailbox.raw_name.clone(), mailbox.uidvalidity);
        if let Some(old) = previous.filter(|&old| old != mailbox.uidvalidity) {
            self.push(MailboxEvent::UidValidityChanged {
                old,
                new: mailbox.uidvalidity,
            });
        }
        self.selected = Some(mailbox.clone());
        self.selection = LAST_SELECTION.fetch_add(1, Ordering::Relaxed) + 1;
        self.taken = 0;
        Some(mailbox)
    }

    /// Forgets a SELECT that failed: nothing is selected afterwards.
    pub fn abort_select(&mut self) {
        self.pending = None;
        self.selected = None;
    }

    /// Forgets the selection, e.g. after the selected mailbox was deleted.
    pub fn forget_selection_of(&mut self, raw_name: &str) {
        if self
            .selected
            .as_ref()
            .is_some_and(|m| m.raw_name == raw_name)
        {
            self.selected = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn selected(exists: u32) -> MailboxState {
        let mut state = MailboxState::default();
        state.begin_select("INBOX", false);
        state.observe(&Untagged::Exists(exists));
        state.observe_code(&Code::UidValidity(7), "");
        state.finish_select();
        state
    }

    #[test]
    fn select_responses_fill_the_mailbox_without_events() {
        let mut state = selected(4);

        assert_eq!(state.selected().unwrap().exists, 4);
        assert_eq!(state.selected().unwrap().uidvalidity, 7);
        assert!(state.take_events().is_empty());
    }

    #[test]
    fn exists_expunge_and_vanished_keep_the_count_and_raise_events() {
        let mut state = selected(4);
        state.observe(&Untagged::Exists(5));
        state.observe(&Untagged::Expunge(2));
        state.observe(&Untagged::Vanished {
            earlier: false,
            uids: vec![8, 9],
        });
        state.observe(&Untagged::Vanished {
            earlier: true,
            uids: vec![1],
        });

        assert_eq!(state.selected().unwrap().exists, 2);
        assert_eq!(state.take_events().len(), 4);
        assert!(state.take_events().is_empty());
    }

    #[test]
    fn the_news_mark_moves_with_taken_events_and_each_selection() {
        let mut state = selected(4);
        let first = state.news_mark().expect("a mailbox is selected");

        assert!(state.take_events().is_empty());
        assert_eq!(state.news_mark(), Some(first));

        state.observe(&Untagged::Exists(5));
        assert_eq!(state.news_mark(), Some(first), "untaken news moves nothing");
        state.take_events();
        let after = state.news_mark().expect("still selected");
        assert_eq!(after.selection, first.selection);
        assert_eq!(after.taken, first.taken + 1);

        state.begin_select("INBOX", false);
        assert_eq!(
            state.news_mark(),
            None,
            "nothing is selected while selecting"
        );
        state.finish_select();
        let again = state.news_mark().expect("selected again");
        assert_ne!(again.selection, first.selection);
        assert_eq!(again.taken, 0);
    }

    #[test]
    fn a_changed_uid_validity_is_an_event() {
        let mut state = selected(1);
        state.observe_code(&Code::UidValidity(8), "");

        assert_eq!(
            state.take_events(),
            vec![MailboxEvent::UidValidityChanged { old: 7, new: 8 }]
        );
    }

    #[test]
    fn the_queue_is_bounded_and_says_when_it_dropped_events() {
        let mut state = selected(1);
        state.observe_code(&Code::Alert, "quota");
        for n in 0..(MAX_EVENTS as u32 + 5) {
            state.observe(&Untagged::Exists(n));
        }
        let events = state.take_events();

        assert!(events.len() <= MAX_EVENTS);
        assert_eq!(events[0], MailboxEvent::Alert("quota".into()));
        assert!(events.contains(&MailboxEvent::EventsDropped));
    }
}
