//! UID sets (RFC 3501 `sequence-set`): compact encoding for commands, cutting
//! long UID lists into commands of bounded length, and bounded expansion of
//! the sets servers send (ESEARCH, VANISHED, APPENDUID).
//!
//! Expansion never produces more than [`MAX_EXPANDED`] numbers, so a server
//! answering `1:4294967295` cannot exhaust memory.

/// The most UIDs one set may expand to.
pub(crate) const MAX_EXPANDED: usize = 10_000_000;

/// Encodes UIDs as a compact set: sorted, without duplicates, with runs
/// joined (`1:3,7,9:10`). Zeroes are dropped, since UIDs start at 1. Returns
/// `None` when nothing is left.
pub(crate) fn compact_set(uids: &[u32]) -> Option<String> {
    let mut sorted: Vec<u32> = uids.iter().copied().filter(|&u| u > 0).collect();
    sorted.sort_unstable();
    sorted.dedup();

    let mut out = String::new();
    let mut i = 0;
    while i < sorted.len() {
        let first = sorted[i];
        let mut last = first;
        while i + 1 < sorted.len() && sorted[i + 1] == last + 1 {
            i += 1;
            last = sorted[i];
        }
        if !out.is_empty() {
            out.push(',');
        }
        if first == last {
            out.push_str(&first.to_string());
        } else {
            out.push_str(&format!("{first}:{last}"));
        }
        i += 1;
    }
    (!out.is_empty()).then_some(out)
}

/// Cuts ascending, distinct UIDs into consecutive batches of at most
/// `max_uids` UIDs each, whose compact sets (see [`compact_set`]) take at
/// most `max_chars` bytes, so that no command line outgrows what servers
/// accept. `max_chars` below 21 (the longest single range) is taken as 21.
pub(crate) fn batches(sorted: &[u32], max_uids: usize, max_chars: usize) -> Vec<&[u32]> {
    let max_uids = max_uids.max(1);
    let max_chars = max_chars.max(21);
    let mut out = Vec::new();
    let (mut start, mut chars, mut i) = (0, 0, 0);

    while i < sorted.len() {
        let mut last = i;
        while last + 1 < sorted.len()
            && sorted[last + 1] == sorted[last].wrapping_add(1)
            && last + 1 - start < max_uids
        {
            last += 1;
        }
        let mut cost = digits(sorted[i]) + usize::from(i > start);
        if last > i {
            cost += 1 + digits(sorted[last]);
        }

        if i > start && chars + cost > max_chars {
            out.push(&sorted[start..i]);
            (start, chars) = (i, 0);
            continue;
        }
        chars += cost;
        i = last + 1;
        if i - start >= max_uids {
            out.push(&sorted[start..i]);
            (start, chars) = (i, 0);
        }
    }
    if start < sorted.len() {
        out.push(&sorted[start..]);
    }
    out
}

fn digits(n: u32) -> usize {
    n.checked_ilog10().map_or(1, |log| log as usize + 1)
}

/// Expands a set without `*`, such as `41,43:116`, in the order given.
/// `None` when it is malformed or larger than [`MAX_EXPANDED`].
pub(crate) fn expand_set(text: &[u8]) -> Option<Vec<u32>> {
    let text = std::str::from_utf8(text).ok()?;
    let mut out = Vec::new();
    for range in text.split(',') {
        let (a, b) = match range.split_once(':') {
            Some((a, b)) => (a.parse::<u32>().ok()?, b.parse::<u32>().ok()?),
            None => {
                let n = range.parse::<u32>().ok()?;
                (n, n)
            }
        };
        let (low, high) = (a.min(b), a.max(b));
        let count = usize::try_from(high - low).ok()?.checked_add(1)?;
        if out.len().checked_add(count)? > MAX_EXPANDED {
            return None;
        }
        out.extend(low..=high);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sets_are_compact_and_sorted() {
        assert_eq!(
            compact_set(&[9, 1, 2, 3, 7, 10, 3]).as_deref(),
            Some("1:3,7,9:10")
        );
        assert_eq!(compact_set(&[5]).as_deref(), Some("5"));
        assert_eq!(
            compact_set(&[u32::MAX, u32::MAX - 1]).as_deref(),
            Some("4294967294:4294967295")
        );
        assert_eq!(compact_set(&[]), None);
        assert_eq!(compact_set(&[0]), None);
    }

    #[test]
    fn sets_expand_in_order_and_within_bounds() {
        assert_eq!(
            expand_set(b"41,43:45,3:2"),
            Some(vec![41, 43, 44, 45, 2, 3])
        );
        assert_eq!(expand_set(b"1:4294967295"), None);
        assert_eq!(expand_set(b"1:*"), None);
        assert_eq!(expand_set(b""), None);
    }

    #[test]
    fn batches_cover_the_list_in_order_within_both_bounds() {
        let mut seed = 0x2545_f491_u32;
        for round in 0..200 {
            let mut uids = Vec::new();
            let mut uid = 1 + round;
            for _ in 0..(round * 7 % 300) {
                seed ^= seed << 13;
                seed ^= seed >> 17;
                seed ^= seed << 5;
                uid += if seed % 3 == 0 { 1 + seed % 50_000 } else { 1 };
                uids.push(uid);
            }
            let (max_uids, max_chars) = (1 + (round as usize % 40), 21 + round as usize % 60);

            let parts = batches(&uids, max_uids, max_chars);
            assert_eq!(parts.concat(), uids);
            for part in &parts {
                assert!(!part.is_empty() && part.len() <= max_uids);
                assert!(compact_set(part).unwrap().len() <= max_chars, "{part:?}");
            }
        }
    }

    #[test]
    fn one_long_run_is_cut_by_count_alone() {
        let uids: Vec<u32> = (1..=12_000).collect();

        let parts = batches(&uids, 5_000, 8_000);
        let sets: Vec<String> = parts.iter().filter_map(|p| compact_set(p)).collect();
        assert_eq!(sets, ["1:5000", "5001:10000", "10001:12000"]);
        assert!(batches(&[], 10, 100).is_empty());
        assert_eq!(batches(&[u32::MAX], 10, 0), [&[u32::MAX][..]]);
    }

    #[test]
    fn compact_then_expand_gives_the_sorted_set() {
        let uids = [17, 3, 4, 5, 99, 100, 18, 1];
        let set = compact_set(&uids).unwrap();
        let mut expected = uids.to_vec();
        expected.sort_unstable();

        assert_eq!(expand_set(set.as_bytes()), Some(expected));
    }
}
