//! Building command text (RFC 3501 section 6) so that no argument can change
//! the command's meaning.
//!
//! Every caller-supplied string goes through [`Command::string`], which sends
//! a quoted string when that is safe and a literal otherwise (CR, LF, NUL,
//! 8-bit bytes, or long values), so a mailbox name or search text can never
//! end the line and start another command. Flags and keywords must be valid
//! atoms or they are refused. This module writes nothing to the network; the
//! connection sends the parts and handles literal continuations.
//!
//! `Debug` never shows a sensitive command's arguments (LOGIN).

use std::fmt;

use chrono::NaiveDate;

use crate::error::ImapError;
use crate::types::{SearchCriteria, SortField, SortKey};

/// Strings longer than this are sent as literals.
const MAX_QUOTED: usize = 1024;

/// The largest literal LITERAL- allows without a continuation.
pub(crate) const LITERAL_MINUS_MAX: usize = 4096;

/// One piece of a command.
#[derive(Clone)]
pub(crate) enum Part {
    /// Protocol text, already safe.
    Text(Vec<u8>),
    /// Bytes to send as a literal.
    Literal(Vec<u8>),
}

/// A command without its tag.
#[derive(Clone)]
pub(crate) struct Command {
    /// The command's name for errors and logs, e.g. `UID FETCH`.
    pub name: &'static str,
    parts: Vec<Part>,
    sensitive: bool,
}

impl Command {
    /// Starts a command whose text begins with `name`.
    pub fn new(name: &'static str) -> Self {
        Self {
            name,
            parts: vec![Part::Text(name.as_bytes().to_vec())],
            sensitive: false,
        }
    }

    /// Marks the arguments as secret: `Debug` shows only the name.
    pub fn sensitive(mut self) -> Self {
        self.sensitive = true;
        self
    }

    /// Appends protocol text written by this crate (never user input).
    pub fn raw(mut self, text: &str) -> Self {
        match self.parts.last_mut() {
            Some(Part::Text(last)) => last.extend_from_slice(text.as_bytes()),
            _ => self.parts.push(Part::Text(text.as_bytes().to_vec())),
        }
        self
    }

    /// Appends a space and `value` as a quoted string or a literal.
    pub fn string(self, value: &[u8]) -> Self {
        let mut cmd = self.raw(" ");
        if is_quotable(value) {
            let mut quoted = Vec::with_capacity(value.len() + 2);
            quoted.push(b'"');
            for &b in value {
                if b == b'"' || b == b'\\' {
                    quoted.push(b'\\');
                }
                quoted.push(b);
            }
            quoted.push(b'"');
            match cmd.parts.last_mut() {
                Some(Part::Text(last)) => last.extend_from_slice(&quoted),
                _ => cmd.parts.push(Part::Text(quoted)),
            }
        } else {
            cmd.parts.push(Part::Literal(value.to_vec()));
        }
        cmd
    }

    /// Appends a space and `value` as a literal, whatever it holds.
    pub fn literal(self, value: &[u8]) -> Self {
        let mut cmd = self.raw(" ");
        cmd.parts.push(Part::Literal(value.to_vec()));
        cmd
    }

    /// Appends a space and a parenthesised list of flags, each checked.
    pub fn flag_list(self, flags: &[&str]) -> Result<Self, ImapError> {
        for flag in flags {
            check_flag(flag)?;
        }
        Ok(self.raw(" (").raw(&flags.join(" ")).raw(")"))
    }

    /// The length of the last part, when it is text.
    fn text_len(&self) -> usize {
        match self.parts.last() {
            Some(Part::Text(t)) => t.len(),
            _ => 0,
        }
    }

    /// The pieces to send, in order.
    pub fn parts(&self) -> &[Part] {
        &self.parts
    }
}

impl fmt::Debug for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.sensitive {
            return write!(f, "Command({} [redacted])", self.name);
        }

        let mut text = String::new();
        for part in &self.parts {
            match part {
                Part::Text(t) => text.push_str(&String::from_utf8_lossy(t)),
                Part::Literal(l) => text.push_str(&format!("{{{} bytes}}", l.len())),
            }
        }
        write!(f, "Command({text})")
    }
}

/// True when `value` may be sent as a quoted string: 7-bit, no NUL, CR or
/// LF, and not too long.
fn is_quotable(value: &[u8]) -> bool {
    value.len() <= MAX_QUOTED
        && value
            .iter()
            .all(|&b| (0x01..0x80).contains(&b) && b != b'\r' && b != b'\n')
}

fn is_atom_char(b: u8) -> bool {
    b.is_ascii_graphic() && !b"(){%*\"\\]".contains(&b)
}

/// Accepts `\Seen`-style system flags and keyword atoms.
pub(crate) fn check_flag(flag: &str) -> Result<(), ImapError> {
    let body = flag.strip_prefix('\\').unwrap_or(flag);
    if body.is_empty() || !body.bytes().all(is_atom_char) {
        return Err(ImapError::InvalidArgument {
            detail: "a flag must be an atom such as \\Seen or $Label".into(),
        });
    }
    Ok(())
}

/// The RFC 5256 name of a sort field.
fn sort_field(field: SortField) -> &'static str {
    match field {
        SortField::Arrival => "ARRIVAL",
        SortField::Date => "DATE",
        SortField::From => "FROM",
        SortField::Subject => "SUBJECT",
        SortField::Size => "SIZE",
        SortField::Cc => "CC",
        SortField::To => "TO",
    }
}

/// Appends ` (REVERSE DATE SUBJECT)`-style sort criteria; no keys sorts by
/// sequence (ARRIVAL would differ, so the empty list is refused).
pub(crate) fn sort_keys(cmd: Command, keys: &[SortKey]) -> Result<Command, ImapError> {
    if keys.is_empty() {
        return Err(ImapError::InvalidArgument {
            detail: "give at least one sort key".into(),
        });
    }

    let words: Vec<String> = keys
        .iter()
        .map(|k| {
            format!(
                "{}{}",
                if k.reverse { "REVERSE " } else { "" },
                sort_field(k.field)
            )
        })
        .collect();
    Ok(cmd.raw(" (").raw(&words.join(" ")).raw(")"))
}

/// `UID SORT (<keys>) UTF-8 <criteria>` (RFC 5256 section 3). The charset
/// is always named, as SORT requires one.
pub(crate) fn sort_command(
    keys: &[SortKey],
    criteria: &SearchCriteria,
) -> Result<Command, ImapError> {
    search_key(
        sort_keys(Command::new("UID SORT"), keys)?.raw(" UTF-8"),
        criteria,
    )
}

/// `UID SEARCH [RETURN (ALL)] [CHARSET UTF-8] <criteria>`: the ESEARCH form
/// (RFC 4731) when the server has it, and the charset only when a string is
/// not ASCII, since some servers know no other charset than US-ASCII.
pub(crate) fn search_command(
    criteria: &SearchCriteria,
    esearch: bool,
) -> Result<Command, ImapError> {
    let mut command = Command::new("UID SEARCH");
    if esearch {
        command = command.raw(" RETURN (ALL)");
    }
    if needs_utf8(criteria) {
        command = command.raw(" CHARSET UTF-8");
    }
    search_key(command, criteria)
}

/// True when some string in the criteria is not ASCII, so the command must
/// name CHARSET UTF-8.
pub(crate) fn needs_utf8(criteria: &SearchCriteria) -> bool {
    use SearchCriteria as C;
    match criteria {
        C::Text(s) | C::From(s) | C::To(s) | C::Cc(s) | C::Subject(s) | C::Body(s) => !s.is_ascii(),
        C::Header(name, value) => !name.is_ascii() || !value.is_ascii(),
        C::Not(inner) => needs_utf8(inner),
        C::Or(a, b) => needs_utf8(a) || needs_utf8(b),
        C::And(all) => all.iter().any(needs_utf8),
        _ => false,
    }
}

fn date(day: &NaiveDate) -> String {
    day.format("%-d-%b-%Y").to_string()
}

/// Appends a space and the search key for `criteria`.
pub(crate) fn search_key(cmd: Command, criteria: &SearchCriteria) -> Result<Command, ImapError> {
    use SearchCriteria as C;
    Ok(match criteria {
        C::All => cmd.raw(" ALL"),
        C::Uids(uids) => match crate::wire::sequence::compact_set(uids) {
            Some(set) => cmd.raw(" UID ").raw(&set),
            None => cmd.raw(" NOT ALL"),
        },
        C::UidsFrom(first) => cmd.raw(&format!(" UID {}:*", (*first).max(1))),
        C::Text(s) => cmd.raw(" TEXT").string(s.as_bytes()),
        C::From(s) => cmd.raw(" FROM").string(s.as_bytes()),
        C::To(s) => cmd.raw(" TO").string(s.as_bytes()),
        C::Cc(s) => cmd.raw(" CC").string(s.as_bytes()),
        C::Subject(s) => cmd.raw(" SUBJECT").string(s.as_bytes()),
        C::Body(s) => cmd.raw(" BODY").string(s.as_bytes()),
        C::Header(name, value) => cmd
            .raw(" HEADER")
            .string(name.as_bytes())
            .string(value.as_bytes()),
        C::Since(day) => cmd.raw(" SINCE ").raw(&date(day)),
        C::Before(day) => cmd.raw(" BEFORE ").raw(&date(day)),
        C::On(day) => cmd.raw(" ON ").raw(&date(day)),
        C::SentSince(day) => cmd.raw(" SENTSINCE ").raw(&date(day)),
        C::SentBefore(day) => cmd.raw(" SENTBEFORE ").raw(&date(day)),
        C::Unseen => cmd.raw(" UNSEEN"),
        C::Seen => cmd.raw(" SEEN"),
        C::Flagged => cmd.raw(" FLAGGED"),
        C::Unflagged => cmd.raw(" UNFLAGGED"),
        C::Answered => cmd.raw(" ANSWERED"),
        C::Deleted => cmd.raw(" DELETED"),
        C::Undeleted => cmd.raw(" UNDELETED"),
        C::Draft => cmd.raw(" DRAFT"),
        C::Keyword(k) => {
            if k.starts_with('\\') {
                return Err(ImapError::InvalidArgument {
                    detail: "a keyword cannot start with \\".into(),
                });
            }
            check_flag(k)?;
            cmd.raw(" KEYWORD ").raw(k)
        }
        C::Larger(n) => cmd.raw(&format!(" LARGER {n}")),
        C::Smaller(n) => cmd.raw(&format!(" SMALLER {n}")),
        C::Not(inner) => search_key(cmd.raw(" NOT"), inner)?,
        C::Or(a, b) => search_key(search_key(cmd.raw(" OR"), a)?, b)?,
        C::And(all) => match all.as_slice() {
            [] => cmd.raw(" ALL"),
            [one] => search_key(cmd, one)?,
            many => {
                let mut cmd = cmd.raw(" (");
                let mark = (cmd.parts.len() - 1, cmd.text_len());
                for item in many {
                    cmd = search_key(cmd, item)?;
                }
                // Each key starts with a space; the first one follows "(".
                if let Some(Part::Text(text)) = cmd.parts.get_mut(mark.0) {
                    text.remove(mark.1);
                }
                cmd.raw(")")
            }
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::value::{Cursor, Value};

    /// Renders a command as it would go on the wire with LITERAL+.
    fn wire(cmd: &Command) -> Vec<u8> {
        let mut out = Vec::new();
        for part in cmd.parts() {
            match part {
                Part::Text(t) => out.extend_from_slice(t),
                Part::Literal(l) => {
                    out.extend_from_slice(format!("{{{}}}\r\n", l.len()).as_bytes());
                    out.extend_from_slice(l);
                }
            }
        }
        out
    }

    #[test]
    fn safe_strings_are_quoted_with_escapes() {
        let cmd = Command::new("SELECT").string(br#"Projekt "Alpha" \ {x}"#);

        assert_eq!(wire(&cmd), br#"SELECT "Projekt \"Alpha\" \\ {x}""#);
    }

    #[test]
    fn line_breaks_nul_and_8bit_force_a_literal() {
        for value in [
            &b"a\r\nA2 DELETE INBOX"[..],
            b"nul\0byte",
            b"Entw\xc3\xbcrfe",
            b"lf\n",
        ] {
            let cmd = Command::new("SELECT").string(value);

            assert!(
                matches!(cmd.parts().last(), Some(Part::Literal(l)) if l == value),
                "{value:?}"
            );
        }
        let long = vec![b'a'; MAX_QUOTED + 1];
        assert!(matches!(
            Command::new("X").string(&long).parts().last(),
            Some(Part::Literal(_))
        ));
    }

    #[test]
    fn encoded_strings_parse_back_to_the_same_bytes() {
        let alphabet = b"a \"\\{}()\r\n\0\x7f\x80\xffz%*]";
        let mut state: u64 = 99;
        for _ in 0..5000 {
            let mut value = Vec::new();
            for _ in 0..(state % 16) {
                state = state
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                value.push(alphabet[((state >> 40) % alphabet.len() as u64) as usize]);
            }
            let bytes = wire(&Command::new("X").string(&value));
            let mut cursor = Cursor::new(&bytes[1..]);

            let parsed = cursor.value().unwrap();
            assert_eq!(parsed.bytes(), Some(&value[..]), "{value:?}");
            assert!(!matches!(parsed, Value::Atom(_)));
            assert!(cursor.at_end());
        }
    }

    #[test]
    fn login_debug_output_hides_the_arguments() {
        let cmd = Command::new("LOGIN")
            .sensitive()
            .string(b"alice")
            .string(b"s3cret-pw");
        let shown = format!("{cmd:?}");

        assert_eq!(shown, "Command(LOGIN [redacted])");
        assert!(!shown.contains("s3cret"));
    }

    #[test]
    fn flags_must_be_atoms() {
        assert!(Command::new("X")
            .flag_list(&["\\Seen", "$Forwarded", "Junk"])
            .is_ok());
        for bad in ["", "\\", "a b", "x)", "\\Seen\r\nA1 LOGOUT", "(", "*", "ä"] {
            assert!(Command::new("X").flag_list(&[bad]).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn search_criteria_encode_with_quoting_and_nesting() {
        let day = NaiveDate::from_ymd_opt(2024, 6, 1).unwrap();
        let criteria = SearchCriteria::And(vec![
            SearchCriteria::Unseen,
            SearchCriteria::Since(day),
            SearchCriteria::Or(
                Box::new(SearchCriteria::From("o\"brien".into())),
                Box::new(SearchCriteria::Subject("{5}".into())),
            ),
            SearchCriteria::Not(Box::new(SearchCriteria::Uids(vec![3, 1, 2]))),
        ]);
        let cmd = search_key(Command::new("UID SEARCH"), &criteria).unwrap();

        assert_eq!(
            String::from_utf8(wire(&cmd)).unwrap(),
            r#"UID SEARCH (UNSEEN SINCE 1-Jun-2024 OR FROM "o\"brien" SUBJECT "{5}" NOT UID 1:3)"#
        );
        assert!(!needs_utf8(&criteria));
        assert!(needs_utf8(&SearchCriteria::Not(Box::new(
            SearchCriteria::Text("Grüße".into())
        ))));
    }

    #[test]
    fn empty_uid_sets_match_nothing_instead_of_breaking_syntax() {
        let from = search_key(Command::new("UID SEARCH"), &SearchCriteria::UidsFrom(17)).unwrap();
        assert_eq!(
            String::from_utf8(wire(&from)).unwrap(),
            "UID SEARCH UID 17:*"
        );
        let cmd = search_key(Command::new("UID SEARCH"), &SearchCriteria::Uids(vec![])).unwrap();

        assert_eq!(wire(&cmd), b"UID SEARCH NOT ALL");
    }

    #[test]
    fn keywords_with_spaces_are_refused() {
        let bad = SearchCriteria::Keyword("a b".into());

        assert!(search_key(Command::new("UID SEARCH"), &bad).is_err());
    }

    #[test]
    fn a_search_of_a_webmail_form_goes_out_as_one_safe_line() {
        let june = NaiveDate::from_ymd_opt(2024, 6, 1).unwrap();
        let july = NaiveDate::from_ymd_opt(2024, 7, 1).unwrap();
        let criteria = SearchCriteria::And(vec![
            SearchCriteria::From("o\"brien".into()),
            SearchCriteria::Subject("{5}".into()),
            SearchCriteria::SentSince(june),
            SearchCriteria::SentBefore(july),
            SearchCriteria::Unseen,
            SearchCriteria::Flagged,
        ]);

        let esearch = search_command(&criteria, true).unwrap();
        assert_eq!(
            String::from_utf8(wire(&esearch)).unwrap(),
            r#"UID SEARCH RETURN (ALL) (FROM "o\"brien" SUBJECT "{5}" SENTSINCE 1-Jun-2024 "#
                .to_owned()
                + "SENTBEFORE 1-Jul-2024 UNSEEN FLAGGED)"
        );
        let plain = search_command(&criteria, false).unwrap();
        assert!(wire(&plain).starts_with(b"UID SEARCH (FROM "));
    }

    #[test]
    fn non_ascii_search_text_names_the_charset_and_goes_as_a_literal() {
        let criteria = SearchCriteria::Subject("Grüße".into());
        let cmd = search_command(&criteria, false).unwrap();

        assert_eq!(
            wire(&cmd),
            "UID SEARCH CHARSET UTF-8 SUBJECT {7}\r\nGrüße".as_bytes()
        );
    }

    #[test]
    fn line_breaks_and_long_search_text_cannot_start_a_new_command() {
        let hostile = SearchCriteria::Text("x\r\nA2 DELETE INBOX".into());
        let cmd = search_command(&hostile, true).unwrap();
        assert_eq!(
            wire(&cmd),
            b"UID SEARCH RETURN (ALL) TEXT {18}\r\nx\r\nA2 DELETE INBOX"
        );

        let long = "a".repeat(10_000);
        let cmd = search_command(&SearchCriteria::Body(long.clone()), false).unwrap();
        let mut expected = b"UID SEARCH BODY {10000}\r\n".to_vec();
        expected.extend_from_slice(long.as_bytes());
        assert_eq!(wire(&cmd), expected);
    }

    #[test]
    fn a_sort_carries_the_search_criteria_after_its_charset() {
        let keys = [
            SortKey::ascending(SortField::From),
            SortKey::ascending(SortField::Arrival),
        ];
        let criteria = SearchCriteria::And(vec![
            SearchCriteria::To("bob".into()),
            SearchCriteria::Text("Café".into()),
        ]);
        let cmd = sort_command(&keys, &criteria).unwrap();

        assert_eq!(
            wire(&cmd),
            "UID SORT (FROM ARRIVAL) UTF-8 (TO \"bob\" TEXT {5}\r\nCafé)".as_bytes()
        );
    }

    #[test]
    fn sort_keys_encode_reverse() {
        let keys = [
            SortKey::descending(SortField::Date),
            SortKey::ascending(SortField::Subject),
        ];
        let cmd = sort_keys(Command::new("UID SORT"), &keys).unwrap();

        assert_eq!(wire(&cmd), b"UID SORT (REVERSE DATE SUBJECT)");
    }
}
