//! The search box of a folder page, and the search a page was reached with.
//!
//! A search lives in the URL (`q`, `in`, `since`, `until`, `unread`,
//! `flagged`), so that it can be bookmarked. This module reads it from a
//! query string or a posted form, writes it back into links and hidden
//! fields (paging, sorting, opening a message, acting on messages and
//! coming back all keep it), and words what a search found or why it could
//! not be run. The rules of a search are `crate::mail::SearchQuery`'s; the
//! mail service runs it.

use serde::Deserialize;

use super::paths::encode_query;
use crate::mail::{
    DateBound, QueryProblem, SearchField, SearchInput, SearchQuery, MAX_TERMS, MAX_TEXT_BYTES,
};

/// Characters of search text shown in a sentence; the rest is cut.
const SHOWN_CHARS: usize = 60;

/// The search fields of a URL or a form, as sent.
#[derive(Deserialize, Default, Debug, Clone)]
pub struct SearchParams {
    q: Option<String>,
    #[serde(rename = "in")]
    field: Option<String>,
    since: Option<String>,
    until: Option<String>,
    unread: Option<String>,
    flagged: Option<String>,
}

impl SearchParams {
    /// Takes one field of a posted form when it belongs to a search, and
    /// says whether it did.
    pub fn take_pair(&mut self, name: &str, value: String) -> bool {
        let slot = match name {
            "q" => &mut self.q,
            "in" => &mut self.field,
            "since" => &mut self.since,
            "until" => &mut self.until,
            "unread" => &mut self.unread,
            "flagged" => &mut self.flagged,
            _ => return false,
        };
        *slot = Some(value);
        true
    }

    /// The search these fields ask for: `Ok(None)` for none.
    pub fn read(&self) -> Result<Option<SearchQuery>, QueryProblem> {
        SearchQuery::from_input(&SearchInput {
            text: self.q.as_deref(),
            field: self.field.as_deref(),
            since: self.since.as_deref(),
            until: self.until.as_deref(),
            unread: self.unread.as_deref(),
            flagged: self.flagged.as_deref(),
        })
    }

    /// The search these fields ask for, or none when they ask for none or
    /// for one that cannot be run. For pages reached from a results page,
    /// whose links were written from a checked search.
    pub fn read_or_none(&self) -> Option<SearchQuery> {
        self.read().ok().flatten()
    }
}

/// A field of a form that carries a search along.
pub struct HiddenField {
    pub name: &'static str,
    pub value: String,
}

/// The fields that carry a search in URLs and forms; none without one.
pub fn fields_of(query: Option<&SearchQuery>) -> Vec<HiddenField> {
    let Some(query) = query else {
        return Vec::new();
    };
    let mut fields = Vec::new();
    let mut add = |name, value: String| fields.push(HiddenField { name, value });

    if !query.text().is_empty() {
        add("q", query.text().to_owned());
    }
    if query.field() != SearchField::default() {
        add("in", query.field().token().to_owned());
    }
    if let Some(day) = query.since() {
        add("since", day.format("%Y-%m-%d").to_string());
    }
    if let Some(day) = query.until() {
        add("until", day.format("%Y-%m-%d").to_string());
    }
    if query.unread() {
        add("unread", "1".to_owned());
    }
    if query.flagged() {
        add("flagged", "1".to_owned());
    }
    fields
}

/// The search as `&name=value` pairs, to append to a URL that has a query
/// string already; empty without a search.
pub fn link_suffix(query: Option<&SearchQuery>) -> String {
    suffix_of(&fields_of(query))
}

fn suffix_of(fields: &[HiddenField]) -> String {
    fields
        .iter()
        .map(|field| format!("&{}={}", field.name, encode_query(&field.value)))
        .collect()
}

/// One entry of the field menu.
pub struct FieldOption {
    pub token: &'static str,
    pub label: &'static str,
    pub selected: bool,
}

/// What the search box of a folder page shows, and what the page says
/// about the search.
pub struct SearchBox {
    pub text: String,
    pub fields: Vec<FieldOption>,
    pub since: String,
    pub until: String,
    pub unread: bool,
    pub flagged: bool,
    /// A search is shown (its results, or its problem).
    pub active: bool,
    /// The folder without the search, in the same order.
    pub clear_url: String,
    /// "3 messages match …": set for results.
    pub summary: Option<String>,
    /// Where the text was looked for and which filters held.
    pub conditions: Option<String>,
    /// Why the search could not be run: set instead of results.
    pub problem: Option<String>,
    /// The search, for the other forms of the page.
    pub hidden: Vec<HiddenField>,
}

impl SearchBox {
    /// The box of a folder shown without a search.
    pub fn idle(clear_url: String) -> SearchBox {
        SearchBox {
            text: String::new(),
            fields: field_options(SearchField::default()),
            since: String::new(),
            until: String::new(),
            unread: false,
            flagged: false,
            active: false,
            clear_url,
            summary: None,
            conditions: None,
            problem: None,
            hidden: Vec::new(),
        }
    }

    /// The box showing `query`, whose `matches` are listed.
    pub fn results(
        query: &SearchQuery,
        matches: usize,
        folder_label: &str,
        clear_url: String,
    ) -> SearchBox {
        let day = |d: Option<chrono::NaiveDate>| {
            d.map(|d| d.format("%Y-%m-%d").to_string())
                .unwrap_or_default()
        };
        SearchBox {
            text: query.text().to_owned(),
            fields: field_options(query.field()),
            since: day(query.since()),
            until: day(query.until()),
            unread: query.unread(),
            flagged: query.flagged(),
            active: true,
            clear_url,
            summary: Some(summary(query, matches, folder_label)),
            conditions: Some(conditions(query)),
            problem: None,
            hidden: fields_of(Some(query)),
        }
    }

    /// The box holding what was sent, with the reason it was not searched
    /// (see [`problem_text`]).
    pub fn refused(params: &SearchParams, problem: String, clear_url: String) -> SearchBox {
        let field = params
            .field
            .as_deref()
            .and_then(SearchField::from_token)
            .unwrap_or_default();
        let ticked = |value: &Option<String>| value.as_deref().is_some_and(|v| !v.is_empty());
        SearchBox {
            text: params.q.clone().unwrap_or_default(),
            fields: field_options(field),
            since: params.since.clone().unwrap_or_default(),
            until: params.until.clone().unwrap_or_default(),
            unread: ticked(&params.unread),
            flagged: ticked(&params.flagged),
            active: true,
            clear_url,
            summary: None,
            conditions: None,
            problem: Some(problem),
            hidden: Vec::new(),
        }
    }
}

impl SearchBox {
    /// The search of the results shown, as [`link_suffix`] writes it;
    /// empty without results.
    pub fn link_suffix(&self) -> String {
        suffix_of(&self.hidden)
    }
}

fn field_options(chosen: SearchField) -> Vec<FieldOption> {
    SearchField::ALL
        .into_iter()
        .map(|field| FieldOption {
            token: field.token(),
            label: field.label(),
            selected: field == chosen,
        })
        .collect()
}

/// "No messages match “lunch” in Inbox." and the like.
pub fn summary(query: &SearchQuery, matches: usize, folder_label: &str) -> String {
    let what = if query.text().is_empty() {
        "the filters".to_owned()
    } else {
        format!("“{}”", shortened(query.text()))
    };
    match matches {
        0 => format!("No messages match {what} in {folder_label}."),
        1 => format!("1 message matches {what} in {folder_label}."),
        n => format!("{n} messages match {what} in {folder_label}."),
    }
}

/// "Looked in From · unread only · sent on or before 30 Jun 2024".
pub fn conditions(query: &SearchQuery) -> String {
    let mut parts = Vec::new();
    if !query.text().is_empty() {
        parts.push(
            match query.field() {
                SearchField::Everywhere => "Looked everywhere in the messages",
                SearchField::From => "Looked in From",
                SearchField::To => "Looked in To",
                SearchField::Subject => "Looked in Subject",
                SearchField::Body => "Looked in the message text",
            }
            .to_owned(),
        );
    }
    if query.unread() {
        parts.push("unread only".to_owned());
    }
    if query.flagged() {
        parts.push("flagged only".to_owned());
    }
    if let Some(day) = query.since() {
        parts.push(format!("sent on or after {}", day.format("%-d %b %Y")));
    }
    if let Some(day) = query.until() {
        parts.push(format!("sent on or before {}", day.format("%-d %b %Y")));
    }

    let mut text = parts.join(" · ");
    if let Some(first) = text.get(..1) {
        text = first.to_uppercase() + &text[1..];
    }
    text
}

/// What the user is told when a search cannot be run, and what to do.
pub fn problem_text(problem: &QueryProblem) -> String {
    match problem {
        QueryProblem::NotADate { bound, text } => {
            let which = match bound {
                DateBound::Since => "first",
                DateBound::Until => "last",
            };
            format!(
                "“{}” is not a date, so nothing was searched. Write the {which} day of the \
                 range as year-month-day, for example 2024-06-01.",
                shortened(text)
            )
        }
        QueryProblem::EmptyRange { since, until } => format!(
            "The dates are the wrong way round (from {} to {}), so nothing was searched. \
             Pick a last day that is not before the first.",
            since.format("%Y-%m-%d"),
            until.format("%Y-%m-%d")
        ),
        QueryProblem::TooLong { bytes } => format!(
            "The search text is too long ({bytes} bytes; at most {MAX_TEXT_BYTES}), so \
             nothing was searched. Search for a shorter part of it."
        ),
        QueryProblem::NoWords { text } => format!(
            "“{}” holds no word to search for, so nothing was searched. Type a word, \
             or clear the search to see the whole folder.",
            shortened(text)
        ),
        QueryProblem::TooManyTerms { terms } => format!(
            "The search text has {terms} words; at most {MAX_TERMS} are searched for, so \
             nothing was searched. Leave some out, or put a phrase in double quotes."
        ),
    }
}

/// The first characters of a text, with an ellipsis when cut, and with
/// control characters shown as spaces.
fn shortened(text: &str) -> String {
    let mut shown: String = text
        .chars()
        .take(SHOWN_CHARS)
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if text.chars().nth(SHOWN_CHARS).is_some() {
        shown.push('…');
    }
    shown
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> SearchParams {
        let mut params = SearchParams::default();
        for (name, value) in pairs {
            assert!(params.take_pair(name, (*value).to_owned()), "{name}");
        }
        params
    }

    #[test]
    fn a_search_survives_the_round_trip_through_a_link() {
        let sent = params(&[
            ("q", "Grüße & \"next week\""),
            ("in", "subject"),
            ("since", "2024-06-01"),
            ("unread", "on"),
        ]);
        let query = sent.read().unwrap().unwrap();
        let suffix = link_suffix(Some(&query));
        assert_eq!(
            suffix,
            "&q=Gr%C3%BC%C3%9Fe%20%26%20%22next%20week%22&in=subject&since=2024-06-01&unread=1"
        );

        #[derive(Deserialize)]
        struct PageQuery {
            page: Option<String>,
            #[serde(flatten)]
            search: SearchParams,
        }
        let uri: axum::http::Uri = format!("/mail/INBOX?page=2{suffix}").parse().unwrap();
        let axum::extract::Query(back) =
            axum::extract::Query::<PageQuery>::try_from_uri(&uri).unwrap();
        assert_eq!(back.page.as_deref(), Some("2"));
        assert_eq!(back.search.read().unwrap(), Some(query));
    }

    #[test]
    fn fields_of_another_form_are_left_alone() {
        let mut params = SearchParams::default();
        assert!(!params.take_pair("page", "2".to_owned()));
        assert!(params.read_or_none().is_none());
        assert_eq!(link_suffix(None), "");
    }

    #[test]
    fn summaries_count_and_quote_a_shortened_text() {
        let query = params(&[("q", "lunch")]).read().unwrap().unwrap();
        assert_eq!(
            summary(&query, 0, "Inbox"),
            "No messages match “lunch” in Inbox."
        );
        assert_eq!(
            summary(&query, 1, "Inbox"),
            "1 message matches “lunch” in Inbox."
        );
        assert_eq!(
            summary(&query, 21, "Inbox"),
            "21 messages match “lunch” in Inbox."
        );

        let long = "x".repeat(500);
        let query = params(&[("q", &long)]).read().unwrap().unwrap();
        let said = summary(&query, 0, "Inbox");
        assert!(
            said.contains(&format!("“{}…”", "x".repeat(SHOWN_CHARS))),
            "{said}"
        );
    }

    #[test]
    fn conditions_name_the_field_and_every_filter() {
        let query = params(&[
            ("q", "bob"),
            ("in", "from"),
            ("flagged", "1"),
            ("until", "2024-06-30"),
        ])
        .read()
        .unwrap()
        .unwrap();
        assert_eq!(
            conditions(&query),
            "Looked in From · flagged only · sent on or before 30 Jun 2024"
        );
        let unread = params(&[("unread", "1")]).read().unwrap().unwrap();
        assert_eq!(conditions(&unread), "Unread only");
        assert_eq!(
            summary(&unread, 2, "Inbox"),
            "2 messages match the filters in Inbox."
        );
    }

    #[test]
    fn a_bad_date_is_named_in_the_problem() {
        let problem = params(&[("since", "2024-13-01")]).read().unwrap_err();
        let text = problem_text(&problem);
        assert!(text.starts_with("“2024-13-01” is not a date"), "{text}");
        assert!(text.contains("2024-06-01"), "{text}");
    }
}
