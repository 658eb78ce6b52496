//! The sort keys of every message of one mailbox on a server without SORT,
//! and the orders computed from them.
//!
//! It keeps keys already reduced by the rules of RFC 5256 (see
//! `crate::mail::client_sort`, which builds them) and never talks to the
//! server or applies those rules itself. Its one rule is the order: a field
//! ascending, ties broken by arrival and then by UID (the server's
//! sequence order), as `crate::mail::sort_keys` asks a server with SORT; a
//! descending order is the ascending list reversed.
//!
//! The table is compact: per message one 32-byte record, and each distinct
//! sender mailbox or base subject stored once, however many messages share
//! it, with the strings' order kept as they come. Invariant: records are
//! ascending by UID, UIDs are distinct, and every string index in a record
//! names an entry of its pool.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use crate::mail::{SortField, SortOrder};

/// One message's keys, as the rules produce them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageKeys {
    pub uid: u32,
    /// INTERNALDATE in seconds since the epoch (UTC); 0 when unknown.
    pub arrival: i64,
    /// The sent date in seconds since the epoch (UTC).
    pub date: i64,
    /// RFC822.SIZE; 0 when unknown.
    pub size: u32,
    /// The first From mailbox, in the form compared bytewise.
    pub from: String,
    /// The base subject, in the form compared bytewise.
    pub subject: String,
}

/// One message in the table: 32 bytes.
#[derive(Debug, Clone, Copy)]
struct Record {
    uid: u32,
    size: u32,
    /// Index of the sender mailbox in `senders`.
    from: u32,
    /// Index of the base subject in `subjects`.
    subject: u32,
    arrival: i64,
    date: i64,
}

/// The keys of a mailbox's messages. Lives in the mailbox's cached state and
/// is changed under its lock, like the rest of the state.
#[derive(Debug, Clone, Default)]
pub struct SortKeyTable {
    /// One record per message, ascending by UID.
    records: Vec<Record>,
    /// Every distinct sender mailbox a record names.
    senders: StringPool,
    /// Every distinct base subject a record names.
    subjects: StringPool,
}

impl SortKeyTable {
    pub fn new() -> SortKeyTable {
        SortKeyTable::default()
    }

    /// Messages with keys.
    pub fn len(&self) -> usize {
        self.records.len()
    }

    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    pub fn contains(&self, uid: u32) -> bool {
        self.position(uid).is_ok()
    }

    /// The UIDs among `uids` that have no keys yet.
    pub fn missing(&self, uids: &[u32]) -> Vec<u32> {
        uids.iter()
            .copied()
            .filter(|uid| !self.contains(*uid))
            .collect()
    }

    /// Adds a message's keys, or replaces those it had.
    pub fn insert(&mut self, keys: MessageKeys) {
        let record = Record {
            uid: keys.uid,
            size: keys.size,
            from: self.senders.intern(keys.from),
            subject: self.subjects.intern(keys.subject),
            arrival: keys.arrival,
            date: keys.date,
        };
        match self.position(keys.uid) {
            Ok(at) => self.records[at] = record,
            Err(at) => self.records.insert(at, record),
        }
    }

    /// Forgets the keys of these messages.
    pub fn remove(&mut self, gone: &HashSet<u32>) {
        self.records.retain(|r| !gone.contains(&r.uid));
        if self.senders.len() > 2 * self.records.len() + 64 {
            self.senders
                .retain_used(self.records.iter_mut().map(|r| &mut r.from));
        }
        if self.subjects.len() > 2 * self.records.len() + 64 {
            self.subjects
                .retain_used(self.records.iter_mut().map(|r| &mut r.subject));
        }
    }

    /// Every UID with keys, in `order`. Needs `&mut self` only to keep the
    /// strings' order up to date; the keys do not change.
    pub fn sorted(&mut self, order: SortOrder) -> Vec<u32> {
        let ranks = match order.field {
            SortField::From => self.senders.ranks(),
            SortField::Subject => self.subjects.ranks(),
            _ => Vec::new(),
        };
        let primary = |r: &Record| match order.field {
            SortField::Arrival => 0,
            SortField::Date => r.date,
            SortField::Size => i64::from(r.size),
            SortField::From => i64::from(ranks[r.from as usize]),
            SortField::Subject => i64::from(ranks[r.subject as usize]),
        };

        let mut keyed: Vec<(i64, i64, u32)> = self
            .records
            .iter()
            .map(|r| (primary(r), r.arrival, r.uid))
            .collect();
        keyed.sort_unstable();
        let mut uids: Vec<u32> = keyed.into_iter().map(|(_, _, uid)| uid).collect();
        if order.descending {
            uids.reverse();
        }
        uids
    }

    /// Approximate bytes held, for the cache's weigher.
    pub fn weight(&self) -> usize {
        let records = self.records.capacity() * std::mem::size_of::<Record>();
        records + self.senders.weight() + self.subjects.weight()
    }

    fn position(&self, uid: u32) -> Result<usize, usize> {
        match self.records.last() {
            Some(last) if last.uid < uid => Err(self.records.len()),
            _ => self.records.binary_search_by_key(&uid, |r| r.uid),
        }
    }
}

/// Distinct strings of one kind, each stored once, with their bytewise order
/// kept as strings come so that sorting by them compares numbers.
#[derive(Debug, Clone, Default)]
struct StringPool {
    /// The strings, by index.
    strings: Vec<Arc<str>>,
    /// The index of each string in `strings`.
    index: HashMap<Arc<str>, u32>,
    /// Indices of `strings` in bytewise order of their text. It covers the
    /// first `by_text.len()` strings; those added since are merged in when
    /// ranks are next asked for.
    by_text: Vec<u32>,
}

impl StringPool {
    fn len(&self) -> usize {
        self.strings.len()
    }

    fn intern(&mut self, text: String) -> u32 {
        if let Some(&at) = self.index.get(text.as_str()) {
            return at;
        }
        let at = u32::try_from(self.strings.len()).unwrap_or(u32::MAX);
        let text: Arc<str> = Arc::from(text);
        self.strings.push(text.clone());
        self.index.insert(text, at);
        at
    }

    /// The rank of every string in bytewise order, by index. No two strings
    /// share a rank, since the pool never holds a string twice.
    fn ranks(&mut self) -> Vec<u32> {
        self.place_new_strings();
        let mut ranks = vec![0; self.strings.len()];
        for (rank, &at) in self.by_text.iter().enumerate() {
            ranks[at as usize] = rank as u32;
        }
        ranks
    }

    /// Merges the strings added since the last ranking into `by_text`.
    fn place_new_strings(&mut self) {
        let placed = self.by_text.len();
        if placed == self.strings.len() {
            return;
        }
        let text = |at: &u32| &self.strings[*at as usize];
        let mut new: Vec<u32> = (placed as u32..self.strings.len() as u32).collect();
        new.sort_unstable_by(|a, b| text(a).cmp(text(b)));

        let mut merged = Vec::with_capacity(self.strings.len());
        let (mut old, mut new) = (self.by_text.iter().peekable(), new.iter().peekable());
        while let (Some(a), Some(b)) = (old.peek(), new.peek()) {
            if text(a) < text(b) {
                merged.extend(old.next());
            } else {
                merged.extend(new.next());
            }
        }
        merged.extend(old);
        merged.extend(new);
        self.by_text = merged;
    }

    /// Keeps only the strings that `used` names, renumbering those in
    /// place; their order is kept.
    fn retain_used<'a>(&mut self, used: impl Iterator<Item = &'a mut u32>) {
        self.place_new_strings();
        let mut renumbered: Vec<Option<u32>> = vec![None; self.strings.len()];
        let old = std::mem::take(&mut self.strings);
        self.index.clear();
        for at in used {
            let before = *at as usize;
            *at = *renumbered[before].get_or_insert_with(|| {
                let fresh = self.strings.len() as u32;
                self.strings.push(old[before].clone());
                self.index.insert(old[before].clone(), fresh);
                fresh
            });
        }
        self.by_text = self
            .by_text
            .iter()
            .filter_map(|at| renumbered[*at as usize])
            .collect();
        self.strings.shrink_to_fit();
        self.index.shrink_to_fit();
    }

    /// Approximate bytes held.
    fn weight(&self) -> usize {
        let text: usize = self.strings.iter().map(|s| s.len() + 16).sum();
        text + self.strings.capacity() * 16
            + self.index.capacity() * 25
            + self.by_text.capacity() * 4
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(
        uid: u32,
        arrival: i64,
        date: i64,
        size: u32,
        from: &str,
        subject: &str,
    ) -> MessageKeys {
        MessageKeys {
            uid,
            arrival,
            date,
            size,
            from: from.into(),
            subject: subject.into(),
        }
    }

    fn order(field: SortField, descending: bool) -> SortOrder {
        SortOrder { field, descending }
    }

    /// A small xorshift generator: the same cases on every run.
    struct Cases(u64);

    impl Cases {
        fn next(&mut self, below: u64) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0 % below
        }

        /// A table of `n` messages whose keys collide often.
        fn table(&mut self, n: u32) -> (SortKeyTable, Vec<MessageKeys>) {
            let mut table = SortKeyTable::new();
            let mut all = Vec::new();
            for uid in 1..=n {
                let uid = uid * 3 + self.next(3) as u32;
                let k = keys(
                    uid,
                    self.next(5) as i64,
                    self.next(4) as i64 - 2,
                    self.next(3) as u32,
                    ["", "ANN", "ANNA", "BOB"][self.next(4) as usize],
                    ["", "A", "B", "A B"][self.next(4) as usize],
                );
                all.push(k.clone());
                table.insert(k);
            }
            (table, all)
        }
    }

    /// The value an order compares first.
    fn primary(k: &MessageKeys, field: SortField) -> (i64, &str) {
        match field {
            SortField::Arrival => (0, ""),
            SortField::Date => (k.date, ""),
            SortField::Size => (i64::from(k.size), ""),
            SortField::From => (0, k.from.as_str()),
            SortField::Subject => (0, k.subject.as_str()),
        }
    }

    #[test]
    fn every_order_is_a_total_order_broken_by_arrival_then_uid() {
        let mut cases = Cases(0x9e37_79b9_7f4a_7c15);
        for round in 0..50 {
            let (mut table, all) = cases.table(1 + round * 3);
            let by_uid: HashMap<u32, &MessageKeys> = all.iter().map(|k| (k.uid, k)).collect();
            for wanted in SortOrder::ALL {
                let list = table.sorted(order(wanted.field, false));
                assert_eq!(list.len(), table.len());
                for pair in list.windows(2) {
                    let (a, b) = (by_uid[&pair[0]], by_uid[&pair[1]]);
                    let a_key = (primary(a, wanted.field), a.arrival, a.uid);
                    let b_key = (primary(b, wanted.field), b.arrival, b.uid);
                    assert!(a_key < b_key, "{wanted:?}: {a:?} before {b:?}");
                }
            }
        }
    }

    #[test]
    fn descending_is_the_ascending_list_reversed() {
        let (mut table, _) = Cases(7).table(200);
        for field in [
            SortField::Arrival,
            SortField::Date,
            SortField::From,
            SortField::Size,
        ] {
            let mut up = table.sorted(order(field, false));
            up.reverse();
            assert_eq!(table.sorted(order(field, true)), up);
        }
    }

    #[test]
    fn the_order_does_not_depend_on_insertion_order_or_sorts_between() {
        let (mut table, mut all) = Cases(99).table(300);
        all.reverse();
        let mut again = SortKeyTable::new();
        for (n, k) in all.into_iter().enumerate() {
            again.insert(k);
            if n % 37 == 0 {
                again.sorted(order(SortField::Subject, n % 2 == 0));
                again.sorted(order(SortField::From, false));
            }
        }
        for wanted in SortOrder::ALL {
            assert_eq!(again.sorted(wanted), table.sorted(wanted), "{wanted:?}");
        }
    }

    #[test]
    fn removed_messages_leave_and_unused_strings_are_dropped() {
        let mut table = SortKeyTable::new();
        for uid in 1..=200 {
            table.insert(keys(uid, 0, 0, 0, &format!("sender {uid}"), "same"));
        }
        let gone: HashSet<u32> = (2..=200).collect();
        table.remove(&gone);

        assert_eq!(table.sorted(order(SortField::From, false)), [1]);
        assert_eq!((table.senders.len(), table.subjects.len()), (1, 1));
        table.insert(keys(1, 0, 0, 0, "other", "same"));
        assert_eq!(table.len(), 1);
        assert_eq!(table.missing(&[1, 2]), [2]);
    }

    /// A mailbox of 100,000 messages with 5,000 base subjects and 600
    /// senders. Prints the table's bytes per message and each order's time;
    /// in a release build every order must take well under 100 ms.
    #[test]
    fn a_hundred_thousand_messages_sort_quickly_in_little_memory() {
        let mut table = SortKeyTable::new();
        for uid in 1..=100_000u32 {
            let n = i64::from(uid);
            table.insert(keys(
                uid,
                1_700_000_000 + n * 37 % 100_000,
                1_700_000_000 + n * 7_919 % 3_000_000,
                2_000 + uid * 31 % 90_000,
                &format!("SENDER{:03}", uid * 13 % 600),
                &format!("WEEKLY STATUS REPORT NUMBER {}", uid * 17 % 5_000),
            ));
        }
        let per_message = table.weight() as f64 / table.len() as f64;
        println!("sort key table: {per_message:.1} bytes per message");
        assert!(per_message < 64.0, "{per_message}");

        let bound = if cfg!(debug_assertions) { 2_000 } else { 50 };
        for wanted in SortOrder::ALL {
            let started = std::time::Instant::now();
            let list = table.sorted(wanted);
            let elapsed = started.elapsed();
            println!("{wanted:?}: {elapsed:?}");
            assert_eq!(list.len(), 100_000);
            assert!(elapsed.as_millis() < bound, "{wanted:?} took {elapsed:?}");
        }
    }

    #[test]
    fn the_order_survives_dropping_unused_strings() {
        let (mut table, all) = Cases(5).table(400);
        table.sorted(order(SortField::From, false));
        let mut cases = Cases(11);
        let mut gone: HashSet<u32> = all
            .iter()
            .map(|k| k.uid)
            .filter(|_| cases.next(10) > 0)
            .collect();
        for n in 0..300 {
            table.insert(keys(
                9_000 + n,
                0,
                0,
                0,
                &format!("temp {n}"),
                &format!("t {n}"),
            ));
            gone.insert(9_000 + n);
        }
        table.sorted(order(SortField::Subject, false));
        for n in 0..100 {
            table.insert(keys(
                5_000 + n,
                0,
                0,
                0,
                &format!("new {n}"),
                &format!("s {n}"),
            ));
        }
        table.remove(&gone);
        assert!(table.senders.len() < 150, "{}", table.senders.len());

        let mut fresh = SortKeyTable::new();
        for k in all.into_iter().filter(|k| !gone.contains(&k.uid)) {
            fresh.insert(k);
        }
        for n in 0..100 {
            fresh.insert(keys(
                5_000 + n,
                0,
                0,
                0,
                &format!("new {n}"),
                &format!("s {n}"),
            ));
        }
        for wanted in SortOrder::ALL {
            assert_eq!(table.sorted(wanted), fresh.sorted(wanted), "{wanted:?}");
        }
    }

    #[test]
    fn strings_compare_bytewise_and_are_stored_once() {
        let mut table = SortKeyTable::new();
        table.insert(keys(1, 0, 0, 0, "ZED", "B"));
        table.insert(keys(2, 0, 0, 0, "ADA", "A"));
        table.insert(keys(3, 5, 0, 0, "ADA", "É"));
        table.insert(keys(4, 1, 0, 0, "ZED", "E"));

        assert_eq!(table.sorted(order(SortField::From, false)), [2, 3, 1, 4]);
        assert_eq!(table.sorted(order(SortField::Subject, false)), [2, 1, 4, 3]);
        assert_eq!((table.senders.len(), table.subjects.len()), (2, 4));
    }
}
