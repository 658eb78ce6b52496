//! The results of the last few searches in one mailbox, each with the
//! markers the mailbox had when it was run.
//!
//! It keeps lists and never decides on its own that one is still true: a
//! result is served only to a caller that names the same query, the same
//! order and the same markers, which the mail service reads from a mailbox
//! state it has just validated against the server. UIDVALIDITY is not among
//! the markers because the results live in the mailbox's state, which is
//! dropped whole when UIDVALIDITY changes. The state also empties this
//! table whenever it learns of a change to its messages or their flags.

use std::sync::Arc;

use crate::mail::{SearchQuery, SortOrder};

/// Results kept per mailbox; a further search pushes out the oldest.
const MAX_RESULTS: usize = 8;

/// What the server reported of a mailbox when a search was run. Any change
/// of messages moves UIDNEXT or the count; with CONDSTORE any change of
/// flags moves HIGHESTMODSEQ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Markers {
    pub uidnext: u32,
    pub highestmodseq: Option<u64>,
    pub messages: usize,
}

/// One search's matches, in one order.
#[derive(Debug, Clone)]
struct SearchResult {
    query: SearchQuery,
    order: SortOrder,
    markers: Markers,
    uids: Arc<Vec<u32>>,
}

/// The recent results of one mailbox, oldest first. Lives in the mailbox's
/// cached state and is changed under its lock.
#[derive(Debug, Clone, Default)]
pub struct SearchResults {
    entries: Vec<SearchResult>,
}

impl SearchResults {
    /// The matches of `query` in `order`, if they were found while the
    /// mailbox had exactly these markers.
    pub fn get(
        &self,
        query: &SearchQuery,
        order: SortOrder,
        markers: Markers,
    ) -> Option<Arc<Vec<u32>>> {
        self.entries
            .iter()
            .find(|e| e.query == *query && e.order == order && e.markers == markers)
            .map(|e| e.uids.clone())
    }

    /// Keeps the matches of `query` in `order`, found at `markers`,
    /// replacing any older result of the same search.
    pub fn insert(
        &mut self,
        query: SearchQuery,
        order: SortOrder,
        markers: Markers,
        uids: Arc<Vec<u32>>,
    ) {
        self.entries
            .retain(|e| !(e.query == query && e.order == order));
        if self.entries.len() >= MAX_RESULTS {
            self.entries.remove(0);
        }
        self.entries.push(SearchResult {
            query,
            order,
            markers,
            uids,
        });
    }

    /// Forgets every result.
    pub fn clear(&mut self) {
        self.entries.clear();
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Approximate bytes held, for the cache's weigher.
    pub fn weight(&self) -> usize {
        self.entries
            .iter()
            .map(|e| 96 + e.query.text().len() + e.uids.len() * 4)
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mail::SearchInput;

    fn query(text: &str) -> SearchQuery {
        let input = SearchInput {
            text: Some(text),
            ..SearchInput::default()
        };
        SearchQuery::from_input(&input)
            .expect("query is valid")
            .expect("query asks for something")
    }

    fn markers(uidnext: u32) -> Markers {
        Markers {
            uidnext,
            highestmodseq: Some(5),
            messages: 3,
        }
    }

    #[test]
    fn a_result_is_served_only_for_the_same_search_order_and_markers() {
        let mut results = SearchResults::default();
        let order = SortOrder::default();
        results.insert(query("lunch"), order, markers(4), Arc::new(vec![1, 3]));

        assert_eq!(
            results.get(&query("lunch"), order, markers(4)).as_deref(),
            Some(&vec![1, 3])
        );
        assert!(results.get(&query("lunch"), order, markers(5)).is_none());
        assert!(results.get(&query("dinner"), order, markers(4)).is_none());
        let other_order = SortOrder::ALL[1];
        assert!(results
            .get(&query("lunch"), other_order, markers(4))
            .is_none());
    }

    #[test]
    fn the_oldest_result_makes_room_and_a_repeat_replaces_its_own() {
        let mut results = SearchResults::default();
        let order = SortOrder::default();
        for n in 0..MAX_RESULTS + 2 {
            results.insert(query(&format!("w{n}")), order, markers(4), Arc::new(vec![]));
        }
        assert_eq!(results.len(), MAX_RESULTS);
        assert!(results.get(&query("w0"), order, markers(4)).is_none());
        assert!(results.get(&query("w9"), order, markers(4)).is_some());

        results.insert(query("w9"), order, markers(6), Arc::new(vec![2]));
        assert_eq!(results.len(), MAX_RESULTS);
        assert!(results.get(&query("w9"), order, markers(4)).is_none());
    }
}
