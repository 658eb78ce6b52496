//! What the server says it can do (RFC 3501 section 7.2.1).
//!
//! [`Capabilities`] only stores and answers; learning them (greeting, LOGIN
//! response codes, CAPABILITY) is the connection's job. Names compare without
//! regard to case, and the set is replaced as a whole whenever the server
//! announces a new list.

/// The capability list a server announced, e.g. `IMAP4rev1 SORT MOVE`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Capabilities {
    names: Vec<String>,
}

impl Capabilities {
    /// Builds a set from announced names; they are stored uppercased.
    pub fn new<I, S>(names: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut names: Vec<String> = names
            .into_iter()
            .map(|n| n.as_ref().to_ascii_uppercase())
            .collect();
        names.sort();
        names.dedup();
        Self { names }
    }

    /// True when `name` (any case) was announced.
    pub fn has(&self, name: &str) -> bool {
        self.names.binary_search(&name.to_ascii_uppercase()).is_ok()
    }

    /// The announced names, uppercased and sorted.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.names.iter().map(String::as_str)
    }

    /// True when nothing was announced yet.
    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    /// IMAP4rev2 (RFC 9051), which includes MOVE, UIDPLUS, ESEARCH and more.
    pub fn imap4rev2(&self) -> bool {
        self.has("IMAP4REV2")
    }

    /// SORT (RFC 5256).
    pub fn sort(&self) -> bool {
        self.has("SORT")
    }

    /// CONDSTORE (RFC 7162), also implied by QRESYNC.
    pub fn condstore(&self) -> bool {
        self.has("CONDSTORE") || self.has("QRESYNC")
    }

    /// QRESYNC (RFC 7162).
    pub fn qresync(&self) -> bool {
        self.has("QRESYNC")
    }

    /// SPECIAL-USE (RFC 6154) mailbox attributes.
    pub fn special_use(&self) -> bool {
        self.has("SPECIAL-USE")
    }

    /// MOVE (RFC 6851), part of IMAP4rev2.
    pub fn moves(&self) -> bool {
        self.has("MOVE") || self.imap4rev2()
    }

    /// UIDPLUS (RFC 4315): APPENDUID and UID EXPUNGE; part of IMAP4rev2.
    pub fn uidplus(&self) -> bool {
        self.has("UIDPLUS") || self.imap4rev2()
    }

    /// ESEARCH (RFC 4731), part of IMAP4rev2.
    pub fn esearch(&self) -> bool {
        self.has("ESEARCH") || self.imap4rev2()
    }

    /// ENABLE (RFC 5161), part of IMAP4rev2.
    pub fn enable(&self) -> bool {
        self.has("ENABLE") || self.imap4rev2()
    }

    /// LITERAL+ (RFC 7888): literals of any size without waiting.
    pub fn literal_plus(&self) -> bool {
        self.has("LITERAL+")
    }

    /// LITERAL- (RFC 7888): literals of at most 4096 bytes without waiting;
    /// part of IMAP4rev2.
    pub fn literal_minus(&self) -> bool {
        self.has("LITERAL-") || self.imap4rev2()
    }

    /// STARTTLS (RFC 3501 section 6.2.1).
    pub fn starttls(&self) -> bool {
        self.has("STARTTLS")
    }

    /// LOGINDISABLED: LOGIN is refused on this connection.
    pub fn login_disabled(&self) -> bool {
        self.has("LOGINDISABLED")
    }

    /// IDLE (RFC 2177).
    pub fn idle(&self) -> bool {
        self.has("IDLE")
    }

    /// The SASL mechanisms announced as `AUTH=<name>`.
    pub fn auth_mechanisms(&self) -> impl Iterator<Item = &str> {
        self.names().filter_map(|n| n.strip_prefix("AUTH="))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_compare_without_case() {
        let caps = Capabilities::new(["IMAP4rev1", "sort", "AUTH=PLAIN", "literal+"]);

        assert!(caps.has("imap4REV1"));
        assert!(caps.sort());
        assert!(caps.literal_plus());
        assert!(!caps.moves());
        assert_eq!(caps.auth_mechanisms().collect::<Vec<_>>(), ["PLAIN"]);
    }

    #[test]
    fn imap4rev2_implies_its_included_extensions() {
        let caps = Capabilities::new(["IMAP4rev2"]);

        assert!(caps.moves() && caps.uidplus() && caps.esearch() && caps.enable());
        assert!(!caps.sort());
    }
}
