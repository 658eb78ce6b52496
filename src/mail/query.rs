//! What a user searches a folder for: text in one field, a range of sent
//! days (both ends included), unread only, flagged only. Read from what a form sent, checked,
//! and turned into IMAP search criteria.
//!
//! It owns the rules of the search box and nothing else: it never talks to
//! the server and knows nothing of HTTP. Invariant: a [`SearchQuery`] that
//! exists was accepted (its dates are real days in order, its text is within
//! bounds and holds at least one condition), so building its criteria
//! cannot fail.
//!
//! The text is split into terms at white space; a term in double quotes
//! may hold spaces. A message matches when every term is found in the chosen
//! field and every filter holds. Control characters (line breaks, NUL)
//! count as white space, so they never reach the server; whatever else the
//! text holds is sent by the command encoder as a quoted string or a
//! literal, never as protocol syntax.
//!
//! # Limitations
//! - The date range compares the Date header (SENTSINCE, SENTBEFORE the day
//!   after the last), as the list shows it, on the day written in the
//!   header's own zone, not the reader's; a message without a Date header
//!   is matched by its arrival day.
//! - A search with only stray quotes or control characters asks for
//!   nothing, and shows the whole folder.
//! - Matching is the server's: Dovecot without a full-text index finds
//!   substrings, ignoring case, and reads every message for body searches.

use chrono::{Datelike, NaiveDate};
use mailfront_imap::SearchCriteria;

/// The longest search text accepted, in bytes.
pub const MAX_TEXT_BYTES: usize = 16 * 1024;

/// The most terms a search may hold.
pub const MAX_TERMS: usize = 16;

/// Where the text of a search is looked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum SearchField {
    /// Headers and body (TEXT).
    #[default]
    Everywhere,
    From,
    To,
    Subject,
    /// The body only (BODY).
    Body,
}

impl SearchField {
    /// Every field a user can pick, in menu order.
    pub const ALL: [SearchField; 5] = [
        SearchField::Everywhere,
        SearchField::From,
        SearchField::To,
        SearchField::Subject,
        SearchField::Body,
    ];

    /// The token used in URLs, such as `from`.
    pub fn token(self) -> &'static str {
        match self {
            SearchField::Everywhere => "text",
            SearchField::From => "from",
            SearchField::To => "to",
            SearchField::Subject => "subject",
            SearchField::Body => "body",
        }
    }

    /// Reads a URL token; anything unknown is `None`.
    pub fn from_token(token: &str) -> Option<SearchField> {
        SearchField::ALL.into_iter().find(|f| f.token() == token)
    }

    /// Words for the field menu.
    pub fn label(self) -> &'static str {
        match self {
            SearchField::Everywhere => "Everywhere",
            SearchField::From => "From",
            SearchField::To => "To",
            SearchField::Subject => "Subject",
            SearchField::Body => "Message text",
        }
    }

    fn criterion(self, term: String) -> SearchCriteria {
        match self {
            SearchField::Everywhere => SearchCriteria::Text(term),
            SearchField::From => SearchCriteria::From(term),
            SearchField::To => SearchCriteria::To(term),
            SearchField::Subject => SearchCriteria::Subject(term),
            SearchField::Body => SearchCriteria::Body(term),
        }
    }
}

/// What a search form sent, unchecked: `None` for a field it did not send.
#[derive(Debug, Clone, Copy, Default)]
pub struct SearchInput<'a> {
    pub text: Option<&'a str>,
    pub field: Option<&'a str>,
    pub since: Option<&'a str>,
    pub until: Option<&'a str>,
    pub unread: Option<&'a str>,
    pub flagged: Option<&'a str>,
}

/// Which end of the date range a problem is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DateBound {
    Since,
    Until,
}

/// Why a search form cannot be searched for.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueryProblem {
    #[error("search date is not a day; write it as YYYY-MM-DD")]
    NotADate { bound: DateBound, text: String },
    #[error("search date range is empty; the last day must not come before the first")]
    EmptyRange { since: NaiveDate, until: NaiveDate },
    #[error("search text is too long ({bytes} bytes); shorten it")]
    TooLong { bytes: usize },
    #[error("search text has too many terms ({terms}); leave some out")]
    TooManyTerms { terms: usize },
    #[error("search text holds no word to search for; type some")]
    NoWords { text: String },
}

/// A checked search.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SearchQuery {
    /// The text as typed, trimmed.
    text: String,
    terms: Vec<String>,
    field: SearchField,
    /// The first day of the range.
    since: Option<NaiveDate>,
    /// The last day of the range.
    until: Option<NaiveDate>,
    unread: bool,
    flagged: bool,
}

impl SearchQuery {
    /// Checks what a form sent. `Ok(None)` when it asks for nothing (no
    /// terms and no filter), which means the whole folder. An unknown field
    /// token means every field, as an unknown sort token means the usual
    /// order; a box is ticked when its value is not empty.
    pub fn from_input(input: &SearchInput<'_>) -> Result<Option<SearchQuery>, QueryProblem> {
        let text = input.text.unwrap_or_default().trim();
        if text.len() > MAX_TEXT_BYTES {
            return Err(QueryProblem::TooLong { bytes: text.len() });
        }
        let terms = split_terms(text);
        if terms.len() > MAX_TERMS {
            return Err(QueryProblem::TooManyTerms { terms: terms.len() });
        }
        if terms.is_empty() && !text.is_empty() {
            return Err(QueryProblem::NoWords {
                text: text.to_owned(),
            });
        }

        let since = parse_day(input.since, DateBound::Since)?;
        let until = parse_day(input.until, DateBound::Until)?;
        if let (Some(since), Some(until)) = (since, until) {
            if since > until {
                return Err(QueryProblem::EmptyRange { since, until });
            }
        }
        let ticked = |value: Option<&str>| value.is_some_and(|v| !v.trim().is_empty());
        let query = SearchQuery {
            text: if terms.is_empty() {
                String::new()
            } else {
                text.to_owned()
            },
            terms,
            field: input
                .field
                .and_then(SearchField::from_token)
                .unwrap_or_default(),
            since,
            until,
            unread: ticked(input.unread),
            flagged: ticked(input.flagged),
        };
        let asks_something = !query.terms.is_empty()
            || query.since.is_some()
            || query.until.is_some()
            || query.unread
            || query.flagged;
        Ok(asks_something.then_some(query))
    }

    /// The text as typed (trimmed); empty when the search has no terms.
    pub fn text(&self) -> &str {
        &self.text
    }

    pub fn terms(&self) -> &[String] {
        &self.terms
    }

    pub fn field(&self) -> SearchField {
        self.field
    }

    pub fn since(&self) -> Option<NaiveDate> {
        self.since
    }

    pub fn until(&self) -> Option<NaiveDate> {
        self.until
    }

    pub fn unread(&self) -> bool {
        self.unread
    }

    pub fn flagged(&self) -> bool {
        self.flagged
    }

    /// Whether the matches depend on flags, which a server without
    /// CONDSTORE changes without any marker a client could compare.
    pub fn depends_on_flags(&self) -> bool {
        self.unread || self.flagged
    }

    /// The IMAP criteria: every term in the field, and every filter.
    pub fn criteria(&self) -> SearchCriteria {
        let mut all: Vec<SearchCriteria> = self
            .terms
            .iter()
            .map(|term| self.field.criterion(term.clone()))
            .collect();
        all.extend(self.since.map(SearchCriteria::SentSince));
        all.extend(
            self.until
                .and_then(|last| last.succ_opt())
                .map(SearchCriteria::SentBefore),
        );
        if self.unread {
            all.push(SearchCriteria::Unseen);
        }
        if self.flagged {
            all.push(SearchCriteria::Flagged);
        }

        match all.len() {
            1 => all.remove(0),
            _ => SearchCriteria::And(all),
        }
    }
}

/// Splits search text into terms: runs of non-space characters, or what
/// stands between a double quote that starts a term and the next one (to
/// the end when none follows). Control characters separate terms.
pub fn split_terms(text: &str) -> Vec<String> {
    let cleaned: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let mut terms = Vec::new();
    let mut rest = cleaned.as_str();

    loop {
        rest = rest.trim_start();
        if rest.is_empty() {
            return terms;
        }
        let (term, after) = match rest.strip_prefix('"') {
            Some(quoted) => match quoted.find('"') {
                Some(end) => (&quoted[..end], &quoted[end + 1..]),
                None => (quoted, ""),
            },
            None => {
                let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
                rest.split_at(end)
            }
        };
        let term = term.trim();
        if !term.is_empty() {
            terms.push(term.to_owned());
        }
        rest = after;
    }
}

/// Reads a day written `YYYY-MM-DD`, as a date field of a form sends it;
/// an empty value is no day. Years have four digits, as IMAP writes them.
fn parse_day(text: Option<&str>, bound: DateBound) -> Result<Option<NaiveDate>, QueryProblem> {
    let Some(text) = text.map(str::trim).filter(|t| !t.is_empty()) else {
        return Ok(None);
    };
    let well_formed = text.len() == 10
        && text.bytes().enumerate().all(|(i, b)| match i {
            4 | 7 => b == b'-',
            _ => b.is_ascii_digit(),
        });
    let day = well_formed
        .then(|| NaiveDate::parse_from_str(text, "%Y-%m-%d").ok())
        .flatten()
        .filter(|day| day.year() >= 1000);
    match day {
        Some(day) => Ok(Some(day)),
        None => Err(QueryProblem::NotADate {
            bound,
            text: text.to_owned(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    fn query(input: SearchInput<'_>) -> SearchQuery {
        SearchQuery::from_input(&input).unwrap().unwrap()
    }

    #[test]
    fn terms_split_at_spaces_and_quotes_keep_phrases() {
        assert_eq!(split_terms("  lunch   friday "), ["lunch", "friday"]);
        assert_eq!(
            split_terms(r#"report "next week" o"brien"#),
            ["report", "next week", "o\"brien"]
        );
        assert_eq!(split_terms(r#""unclosed phrase"#), ["unclosed phrase"]);
        assert_eq!(split_terms(r#""" "  ""#), Vec::<String>::new());
        assert_eq!(split_terms("a\r\nA1 LOGOUT\0x"), ["a", "A1", "LOGOUT", "x"]);
        assert_eq!(split_terms("Grüße {5}"), ["Grüße", "{5}"]);
    }

    #[test]
    fn any_text_gives_tidy_terms_and_never_panics() {
        let pieces = [
            "\"", " ", "\r\n", "\0", "\t", "x", "Grüße", "{5}", "\\", ")", "(", "*", "é",
            "\u{202e}", "\u{7f}", "  ", "a b",
        ];
        let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
        for _ in 0..5_000 {
            let mut text = String::new();
            for _ in 0..(seed % 12) {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                text.push_str(pieces[(seed % pieces.len() as u64) as usize]);
            }
            seed = seed.wrapping_add(0x2545_f491);

            let input = SearchInput {
                text: Some(&text),
                ..SearchInput::default()
            };
            let Ok(found) = SearchQuery::from_input(&input) else {
                continue;
            };
            for term in found.iter().flat_map(|q| q.terms()) {
                assert!(!term.is_empty(), "{text:?}");
                assert_eq!(term.trim(), term, "{text:?}");
                assert!(!term.chars().any(char::is_control), "{text:?}");
            }
            if let Some(query) = found {
                assert_ne!(query.criteria(), SearchCriteria::All, "{text:?}");
            }
        }
    }

    #[test]
    fn an_empty_form_asks_for_nothing() {
        let empty = SearchInput {
            text: Some("   "),
            field: Some("from"),
            since: Some(""),
            until: Some(""),
            ..SearchInput::default()
        };
        assert_eq!(SearchQuery::from_input(&empty), Ok(None));
        assert_eq!(SearchQuery::from_input(&SearchInput::default()), Ok(None));
    }

    #[test]
    fn every_term_and_filter_becomes_one_criterion() {
        let q = query(SearchInput {
            text: Some("lunch \"next week\""),
            field: Some("subject"),
            since: Some("2024-06-01"),
            until: Some("2024-06-30"),
            unread: Some("1"),
            flagged: Some("on"),
        });

        assert_eq!(
            q.criteria(),
            SearchCriteria::And(vec![
                SearchCriteria::Subject("lunch".into()),
                SearchCriteria::Subject("next week".into()),
                SearchCriteria::SentSince(day(2024, 6, 1)),
                SearchCriteria::SentBefore(day(2024, 7, 1)),
                SearchCriteria::Unseen,
                SearchCriteria::Flagged,
            ])
        );
        assert!(q.depends_on_flags());
    }

    #[test]
    fn one_condition_is_sent_alone_and_unknown_fields_mean_everywhere() {
        let q = query(SearchInput {
            text: Some("lunch"),
            field: Some("cc"),
            ..SearchInput::default()
        });
        assert_eq!(q.field(), SearchField::Everywhere);
        assert_eq!(q.criteria(), SearchCriteria::Text("lunch".into()));

        let unread = query(SearchInput {
            unread: Some("1"),
            ..SearchInput::default()
        });
        assert_eq!(unread.criteria(), SearchCriteria::Unseen);
        assert_eq!(unread.text(), "");
    }

    #[test]
    fn dates_must_be_real_days_in_order() {
        for bad in [
            "2024-13-01",
            "2024-02-30",
            "1.6.2024",
            "2024-6-1",
            "0999-01-01",
            "x",
        ] {
            let input = SearchInput {
                since: Some(bad),
                ..SearchInput::default()
            };
            assert_eq!(
                SearchQuery::from_input(&input),
                Err(QueryProblem::NotADate {
                    bound: DateBound::Since,
                    text: bad.to_owned()
                }),
                "{bad}"
            );
        }

        let reversed = SearchInput {
            since: Some("2024-06-02"),
            until: Some("2024-06-01"),
            ..SearchInput::default()
        };
        assert!(matches!(
            SearchQuery::from_input(&reversed),
            Err(QueryProblem::EmptyRange { .. })
        ));
        let one_day = SearchInput {
            since: Some("2024-06-02"),
            until: Some("2024-06-02"),
            ..SearchInput::default()
        };
        assert_eq!(
            query(one_day).criteria(),
            SearchCriteria::And(vec![
                SearchCriteria::SentSince(day(2024, 6, 2)),
                SearchCriteria::SentBefore(day(2024, 6, 3)),
            ])
        );
    }

    #[test]
    fn overlong_text_and_too_many_terms_are_refused() {
        let long = "a".repeat(MAX_TEXT_BYTES + 1);
        let input = SearchInput {
            text: Some(&long),
            ..SearchInput::default()
        };
        assert_eq!(
            SearchQuery::from_input(&input),
            Err(QueryProblem::TooLong {
                bytes: MAX_TEXT_BYTES + 1
            })
        );

        let many = "w ".repeat(MAX_TERMS + 1);
        let input = SearchInput {
            text: Some(&many),
            ..SearchInput::default()
        };
        assert_eq!(
            SearchQuery::from_input(&input),
            Err(QueryProblem::TooManyTerms {
                terms: MAX_TERMS + 1
            })
        );
    }
}
