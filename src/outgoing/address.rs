//! Reading the To, Cc and Bcc fields a person typed into mailboxes.
//!
//! It owns splitting a field into addresses (at commas and semicolons that
//! are outside quotes and angle brackets) and checking each one. It never
//! guesses: text that is not an address is refused and named, so the form
//! can say which entry to fix.

use std::str::FromStr;

use lettre::message::Mailbox;

/// An entry of an address field that is not an address.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{entry:?} is not an email address; write it as name@example.org or Name <name@example.org>"
)]
pub struct BadAddress {
    /// The entry as typed, trimmed.
    pub entry: String,
}

/// The mailboxes of one field; an empty field gives none.
pub fn parse_mailboxes(field: &str) -> Result<Vec<Mailbox>, BadAddress> {
    split_entries(field)
        .into_iter()
        .map(|entry| {
            Mailbox::from_str(&entry).map_err(|_| BadAddress {
                entry: entry.clone(),
            })
        })
        .collect()
}

/// The entries of a field, trimmed, empty ones left out.
fn split_entries(field: &str) -> Vec<String> {
    let mut entries = Vec::new();
    let mut current = String::new();
    let (mut quoted, mut angle, mut escaped) = (false, false, false);

    for c in field.chars() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            '<' if !quoted => angle = true,
            '>' if !quoted => angle = false,
            ',' | ';' | '\n' | '\r' if !quoted && !angle => {
                entries.push(std::mem::take(&mut current));
                continue;
            }
            _ => {}
        }
        current.push(c);
    }
    entries.push(current);
    entries
        .into_iter()
        .map(|e| e.trim().to_owned())
        .filter(|e| !e.is_empty())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_with_commas_stay_one_address() {
        let parsed = parse_mailboxes("\"Doe, Jane\" <jane@example.org>; bob@example.org,").unwrap();
        assert_eq!(parsed.len(), 2);
        assert_eq!(parsed[0].email.to_string(), "jane@example.org");
        assert_eq!(parsed[0].name.as_deref(), Some("Doe, Jane"));
        assert_eq!(parsed[1].email.to_string(), "bob@example.org");
    }

    #[test]
    fn the_first_bad_entry_is_named() {
        let error = parse_mailboxes("ok@example.org, not an address, x@y.z").unwrap_err();
        assert_eq!(error.entry, "not an address");
        assert!(parse_mailboxes("   ").unwrap().is_empty());
    }
}
