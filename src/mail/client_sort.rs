//! The rules of RFC 5256 for servers without SORT: from the raw values a
//! server sends (`fetch_sort_keys`), the keys it would have compared.
//!
//! It owns the rules and nothing else: the base subject (section 2.1), the
//! first From mailbox, the sent date with the arrival date as fallback, and
//! the comparison form of i;unicode-casemap (RFC 5051). It never talks to
//! the server and keeps no state; the cache keeps the keys and orders them
//! (`crate::cache::SortKeyTable`). Invariant: two strings it returns compare
//! bytewise exactly as i;unicode-casemap compares what they came from.
//!
//! # Limitations
//! - A blob (`[...]`) may hold any text but brackets, as Dovecot reads it;
//!   RFC 5256's grammar allows only ASCII there.
//! - The From key is the local part of the first address that has one; a
//!   group name or a bare name before it is passed over, and a quoted local
//!   part loses its quotes and spaces.
//! - Dovecot 2.3 leaves the Latin digraph letters (`Ǆ`, `ǅ`, `ǆ`, `Ǉ` to
//!   `ǌ`, `Ǳ` to `ǳ`) undecomposed, so with SORT it puts them after every
//!   ASCII letter; here, as RFC 5051 says, `ǅ` sorts as `D` then `Ž`.
//!   Other letters, accented or compatibility forms, sort as on Dovecot.

use icu_casemap::CaseMapper;
use icu_normalizer::DecomposingNormalizerBorrowed;
use mailfront_imap::SortKeys;
use mailfront_mime::{decode_header, parse_address_list, parse_date};

use crate::cache::MessageKeys;

/// The keys of one message, from what the server sent.
pub(crate) fn message_keys(raw: &SortKeys) -> MessageKeys {
    let arrival = raw.internal_date.map_or(0, |d| d.timestamp());
    let date = raw
        .date
        .as_deref()
        .and_then(|value| parse_date(&String::from_utf8_lossy(value)))
        .map_or(arrival, |d| d.timestamp());
    let subject = raw
        .subject
        .as_deref()
        .map(|value| casemap(&base_subject(&decode_header(value))))
        .unwrap_or_default();

    MessageKeys {
        uid: raw.uid,
        arrival,
        date,
        size: raw.size.unwrap_or(0),
        from: raw.from.as_deref().map(first_mailbox).unwrap_or_default(),
        subject,
    }
}

/// The first From mailbox (RFC 5256 section 3, FROM): the local part of the
/// first address, casemapped; empty when there is none.
fn first_mailbox(raw: &[u8]) -> String {
    parse_address_list(raw)
        .into_iter()
        .find_map(|address| address.email)
        .map(|email| match email.rsplit_once('@') {
            Some((local, _)) => casemap(local),
            None => casemap(&email),
        })
        .unwrap_or_default()
}

/// The comparison form of i;unicode-casemap (RFC 5051 section 2): each
/// character replaced by its simple titlecase mapping, then the whole
/// decomposed to NFKD. Bytewise order of these forms is the comparator's.
pub(crate) fn casemap(text: &str) -> String {
    const MAPPER: icu_casemap::CaseMapperBorrowed<'static> = CaseMapper::new();
    const NFKD: DecomposingNormalizerBorrowed<'static> = DecomposingNormalizerBorrowed::new_nfkd();

    // ASCII titlecases to upper case and has nothing to decompose.
    if text.is_ascii() {
        return text.to_ascii_uppercase();
    }
    let titled: String = text.chars().map(|c| MAPPER.simple_titlecase(c)).collect();
    NFKD.normalize(&titled).into_owned()
}

/// The base subject of RFC 5256 section 2.1, from a decoded subject:
/// whitespace folded, then `(fwd)` trailers, `Re:`/`Fw:`/`Fwd:` leaders,
/// `[blob]` prefixes and `[fwd: ...]` wrappers removed until none is left.
pub(crate) fn base_subject(decoded: &str) -> String {
    let mut subject = fold_whitespace(decoded);

    loop {
        let mut rest = strip_trailers(&subject);
        loop {
            if let Some(after) = strip_leader(rest) {
                rest = after;
            } else if let Some(after) = strip_blob(rest).filter(|after| !after.is_empty()) {
                rest = after;
            } else {
                break;
            }
        }

        match unwrap_fwd(rest) {
            Some(inner) => subject = inner.to_owned(),
            None => return rest.to_owned(),
        }
    }
}

/// Step 1: every run of spaces, tabs and line breaks becomes one space.
fn fold_whitespace(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if is_wsp(c) || c == '\r' || c == '\n' {
            if !out.ends_with(' ') {
                out.push(' ');
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Step 2: removes `subj-trailer`s (`(fwd)` or whitespace) from the end.
fn strip_trailers(mut text: &str) -> &str {
    loop {
        if let Some(before) = text.strip_suffix(is_wsp) {
            text = before;
        } else if text.len() >= 5
            && text.is_char_boundary(text.len() - 5)
            && text[text.len() - 5..].eq_ignore_ascii_case("(fwd)")
        {
            text = &text[..text.len() - 5];
        } else {
            return text;
        }
    }
}

/// Step 3: removes one `subj-leader`, i.e. `*subj-blob subj-refwd` or one
/// whitespace character.
fn strip_leader(text: &str) -> Option<&str> {
    if let Some(after) = text.strip_prefix(is_wsp) {
        return Some(after);
    }
    let mut rest = text;
    while let Some(after) = strip_blob(rest) {
        rest = after;
    }
    strip_refwd(rest)
}

/// `subj-refwd = ("re" / ("fw" ["d"])) *WSP [subj-blob] ":"`.
fn strip_refwd(text: &str) -> Option<&str> {
    let rest = strip_prefix_ignore_case(text, "re")
        .or_else(|| strip_prefix_ignore_case(text, "fwd"))
        .or_else(|| strip_prefix_ignore_case(text, "fw"))?;
    let rest = rest.trim_start_matches(is_wsp);
    let rest = strip_blob(rest).unwrap_or(rest);
    rest.strip_prefix(':')
}

/// `subj-blob = "[" *BLOBCHAR "]" *WSP`: what follows a blob at the start,
/// or `None` when the text does not start with one.
fn strip_blob(text: &str) -> Option<&str> {
    let inner = text.strip_prefix('[')?;
    let end = inner.find(['[', ']'])?;
    if inner[end..].starts_with('[') {
        return None;
    }
    Some(inner[end + 1..].trim_start_matches(is_wsp))
}

/// Step 6: the text inside `[fwd: ...]`, when the whole subject is that.
fn unwrap_fwd(text: &str) -> Option<&str> {
    let inner = strip_prefix_ignore_case(text, "[fwd:")?;
    inner.strip_suffix(']')
}

fn strip_prefix_ignore_case<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    let head = text.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &text[prefix.len()..])
}

fn is_wsp(c: char) -> bool {
    c == ' ' || c == '\t'
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::DateTime;

    #[test]
    fn reply_and_forward_leaders_of_rfc_5256_are_removed() {
        let cases = [
            ("Re: lunch", "lunch"),
            ("RE:lunch", "lunch"),
            ("re : lunch", "lunch"),
            ("Re: Re: RE: lunch", "lunch"),
            ("Fwd: lunch", "lunch"),
            ("FW: lunch", "lunch"),
            ("fw:lunch", "lunch"),
            ("Re[2]: lunch", "lunch"),
            ("Fwd [list]: lunch", "lunch"),
            ("[list] Re: lunch", "lunch"),
            ("[a][b] Fwd: Re: lunch", "lunch"),
            ("Re: [list] Fwd: x", "x"),
        ];
        for (subject, base) in cases {
            assert_eq!(base_subject(subject), base, "{subject:?}");
        }
    }

    #[test]
    fn blobs_go_only_when_something_is_left() {
        let cases = [
            ("[list] lunch", "lunch"),
            ("[list]   lunch", "lunch"),
            ("[list]", "[list]"),
            ("[a] [b]", "[b]"),
            ("[a] [b] c", "c"),
            ("[unclosed lunch", "[unclosed lunch"),
            ("[a [b] c", "[a [b] c"),
            ("[Liste für Ärzte] Termin", "Termin"),
        ];
        for (subject, base) in cases {
            assert_eq!(base_subject(subject), base, "{subject:?}");
        }
    }

    #[test]
    fn fwd_trailers_and_wrappers_are_removed() {
        let cases = [
            ("lunch (fwd)", "lunch"),
            ("lunch (FWD) (fwd)  ", "lunch"),
            ("[fwd: lunch]", "lunch"),
            ("[Fwd: Re: lunch (fwd)]", "lunch"),
            ("Fwd: [fwd: [fwd: lunch]]", "lunch"),
            ("[fwd: ]", ""),
            ("[fwd: lunch", "[fwd: lunch"),
        ];
        for (subject, base) in cases {
            assert_eq!(base_subject(subject), base, "{subject:?}");
        }
    }

    #[test]
    fn whitespace_is_folded_and_look_alikes_are_kept() {
        let cases = [
            ("  many   spaces\there  ", "many spaces here"),
            ("", ""),
            ("Re:", ""),
            ("Re: ", ""),
            ("Reply: lunch", "Reply: lunch"),
            ("Re lunch", "Re lunch"),
            ("Fwdx: lunch", "Fwdx: lunch"),
            ("lunch (fwd) again", "lunch (fwd) again"),
            ("Ré: lunch", "Ré: lunch"),
        ];
        for (subject, base) in cases {
            assert_eq!(base_subject(subject), base, "{subject:?}");
        }
    }

    #[test]
    fn base_subjects_are_stable_and_tidy_for_any_mix_of_pieces() {
        let pieces = [
            "Re:", "re", "Fwd:", "FW :", "fw", "[list]", "[fwd:", "]", "(fwd)", "(FWD", " ", "\t",
            "x", "É", ":", "[", "Re[2]:", "  ",
        ];
        let mut seed = 0x2545_f491_4f6c_dd1d_u64;
        for _ in 0..5_000 {
            let mut subject = String::new();
            for _ in 0..(seed % 9) {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                subject.push_str(pieces[(seed % pieces.len() as u64) as usize]);
            }
            seed = seed.wrapping_add(0x9e37_79b9);

            let base = base_subject(&subject);
            assert_eq!(base_subject(&base), base, "{subject:?}");
            assert_eq!(base.trim(), base, "{subject:?}");
            assert!(!base.contains("  ") && !base.contains('\t'), "{subject:?}");
            assert!(subject.len() >= base.len(), "{subject:?}");
        }
    }

    #[test]
    fn casemap_titlecases_and_decomposes() {
        assert_eq!(casemap("hello"), "HELLO");
        assert_eq!(casemap("Straße"), "STRAßE", "simple mappings only");
        assert_eq!(casemap("ǆ"), "Dz\u{30c}", "titlecase, not uppercase");
        assert_eq!(casemap("é"), "E\u{301}");
        assert_eq!(casemap("É"), casemap("e\u{301}"));
        assert_eq!(casemap("ﬁle"), "fiLE", "NFKD after titlecasing");
        assert!(casemap("Éa") < casemap("F"));
    }

    fn raw(uid: u32) -> SortKeys {
        SortKeys {
            uid,
            internal_date: DateTime::parse_from_rfc3339("2024-03-01T09:00:00+01:00").ok(),
            size: Some(42),
            ..SortKeys::default()
        }
    }

    #[test]
    fn keys_come_from_decoded_headers() {
        let mut message = raw(7);
        message.subject = Some(b"=?utf-8?q?Re=3A_=5Bliste=5D_Caf=C3=A9?= (fwd)".to_vec());
        message.from = Some(b"\"Doe, Jane\" <Jane.Doe@Example.org>, bob@x.org".to_vec());
        message.date = Some(b"Fri, 01 Mar 2024 23:30:00 -0500".to_vec());

        let keys = message_keys(&message);
        assert_eq!(keys.subject, casemap("Café"));
        assert_eq!(keys.from, "JANE.DOE");
        assert_eq!(keys.date, 1_709_353_800, "normalised to UTC");
        assert_eq!(keys.arrival, 1_709_280_000);
        assert_eq!((keys.uid, keys.size), (7, 42));
    }

    #[test]
    fn a_missing_or_unreadable_date_falls_back_to_arrival() {
        let missing = message_keys(&raw(1));
        let mut garbled = raw(2);
        garbled.date = Some(b"not a date at all".to_vec());
        let garbled = message_keys(&garbled);

        assert_eq!(missing.date, missing.arrival);
        assert_eq!(garbled.date, garbled.arrival);
        assert_eq!((missing.subject.as_str(), missing.from.as_str()), ("", ""));
    }

    #[test]
    fn a_group_or_bare_name_gives_way_to_the_first_real_mailbox() {
        assert_eq!(first_mailbox(b"undisclosed-recipients:;"), "");
        assert_eq!(first_mailbox(b"Team: ann@x.org, bob@y.org;"), "ANN");
        assert_eq!(first_mailbox(b"=?utf-8?q?Zo=C3=AB?= <zoe@x.org>"), "ZOE");
        assert_eq!(first_mailbox(b""), "");
    }
}
