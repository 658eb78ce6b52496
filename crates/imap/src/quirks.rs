//! Named deviations of real servers that the client tolerates.
//!
//! Each quirk says which server does it and which fixture pins it. Quirks
//! only widen what the client accepts; the client never sends non-standard
//! syntax because of one. Tolerances that follow from reading the grammar
//! generously (an empty address list `()` where NIL is meant, 8-bit bytes in
//! quoted strings) live in the parser instead, see `wire::fetch`.

/// Dovecot refuses an extra connection after accepting the password with a
/// tagged NO whose text starts with "Maximum number of connections"; the
/// `[LIMIT]` code is not sent by every version. Pinned by fixture
/// `110-connection-dies-elsewhere.imap` (segment 5) and by the private
/// Dovecot 2.3 test of the connection limit.
pub(crate) fn is_connection_limit_text(text: &str) -> bool {
    text.to_ascii_lowercase()
        .contains("maximum number of connections")
}

/// Servers without the `[NONEXISTENT]` code say a mailbox is missing in
/// prose: Dovecot "Mailbox doesn't exist", Courier and Cyrus "Mailbox does
/// not exist", UW "No such mailbox", Exchange "The specified folder could
/// not be found". Pinned by fixture `108-list-more-odd-names.imap`.
pub(crate) fn is_missing_mailbox_text(text: &str) -> bool {
    const TEXTS: [&str; 5] = [
        "doesn't exist",
        "does not exist",
        "no such mailbox",
        "could not be found",
        "unknown mailbox",
    ];

    let lower = text.to_ascii_lowercase();
    TEXTS.iter().any(|t| lower.contains(t))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dovecot_connection_limit_text_is_recognised() {
        assert!(is_connection_limit_text(
            "Maximum number of connections from user+IP exceeded (mail_max_userip_connections=10)"
        ));
        assert!(!is_connection_limit_text("Authentication failed."));
    }

    #[test]
    fn missing_mailbox_texts_are_recognised() {
        assert!(is_missing_mailbox_text("Mailbox doesn't exist: Foo"));
        assert!(is_missing_mailbox_text(
            "The specified folder could not be found in the store"
        ));
        assert!(!is_missing_mailbox_text("Permission denied"));
    }
}
