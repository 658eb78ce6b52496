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
//! it. Invariant: records are ascending by UID, UIDs are distinct, and every
//! string index in a record names an entry of the string pool.

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
    /// Index of the sender mailbox in the string pool.
    from: u32,
    /// Index of the base subject in the string pool.
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
    /// Every distinct string a record names, by index.
    strings: Vec<Arc<str>>,
    /// The index of each string in `strings`.
    index: HashMap<Arc<str>, u32>,
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
            from: self.intern(keys.from),
            subject: self.intern(keys.subject),
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
        if self.strings.len() > 2 * self.records.len() + 64 {
            self.drop_unused_strings();
        }
    }

    /// Every UID with keys, in `order`.
    pub fn sorted(&self, order: SortOrder) -> Vec<u32> {
        let primary: Box<dyn Fn(&Record) -> i64> = match order.field {
            SortField::Arrival => Box::new(|_| 0),
            SortField::Date => Box::new(|r| r.date),
            SortField::Size => Box::new(|r| i64::from(r.size)),
            SortField::From => {
                let ranks = self.string_ranks();
                Box::new(move |r| i64::from(ranks[r.from as usize]))
            }
            SortField::Subject => {
                let ranks = self.string_ranks();
                Box::new(move |r| i64::from(ranks[r.subject as usize]))
            }
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
        let text: usize = self.strings.iter().map(|s| s.len() + 16).sum();
        let pool = self.strings.capacity() * 16 + self.index.capacity() * 25;
        records + text + pool
    }

    fn position(&self, uid: u32) -> Result<usize, usize> {
        match self.records.last() {
            Some(last) if last.uid < uid => Err(self.records.len()),
            _ => self.records.binary_search_by_key(&uid, |r| r.uid),
        }
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

    /// The rank of every pool string in bytewise order: equal ranks only
    /// for equal strings, which the pool never holds twice.
    fn string_ranks(&self) -> Vec<u32> {
        let mut by_text: Vec<u32> = (0..self.strings.len() as u32).collect();
        by_text.sort_unstable_by(|a, b| self.strings[*a as usize].cmp(&self.strings[*b as usize]));
        let mut ranks = vec![0; self.strings.len()];
        for (rank, at) in by_text.into_iter().enumerate() {
            ranks[at as usize] = rank as u32;
        }
        ranks
    }

    /// Rebuilds the pool with only the strings records still name.
    fn drop_unused_strings(&mut self) {
        let old = std::mem::take(&mut self.strings);
        self.index.clear();
        let mut renumbered: HashMap<u32, u32> = HashMap::new();
        let mut records = std::mem::take(&mut self.records);
        for record in &mut records {
            for field in [&mut record.from, &mut record.subject] {
                let text = &old[*field as usize];
                *field = *renumbered
                    .entry(*field)
                    .or_insert_with(|| self.intern(text.to_string()));
            }
        }
        self.records = records;
        self.strings.shrink_to_fit();
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
            let (table, all) = cases.table(1 + round * 3);
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
        let (table, _) = Cases(7).table(200);
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
    fn the_order_does_not_depend_on_insertion_order() {
        let (table, mut all) = Cases(99).table(300);
        all.reverse();
        let mut again = SortKeyTable::new();
        for k in all {
            again.insert(k);
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
        assert!(table.strings.len() <= 2, "{}", table.strings.len());
        table.insert(keys(1, 0, 0, 0, "other", "same"));
        assert_eq!(table.len(), 1);
        assert_eq!(table.missing(&[1, 2]), [2]);
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
        assert_eq!(table.strings.len(), 6);
    }
}
