//! The canned mail of the fake server and how it is written on the wire:
//! FETCH items (ENVELOPE, BODYSTRUCTURE, flags, bodies), STATUS items and
//! UID sets.
//!
//! Every message is treated as one `text/plain` part; the envelope is taken
//! from its Date, Subject, From, To and Message-ID headers. Nothing here
//! reads a socket: the server module asks for bytes and sends them.

/// One message of a fake mailbox.
#[derive(Debug, Clone)]
pub struct FakeMessage {
    pub uid: u32,
    pub flags: Vec<String>,
    pub raw: Vec<u8>,
}

/// One mailbox of the fake server, its messages in UID order.
#[derive(Debug, Clone)]
pub struct FakeMailbox {
    pub name: String,
    pub uidvalidity: u32,
    pub messages: Vec<FakeMessage>,
}

impl FakeMailbox {
    /// An empty mailbox.
    pub fn new(name: &str, uidvalidity: u32) -> FakeMailbox {
        FakeMailbox {
            name: name.to_owned(),
            uidvalidity,
            messages: Vec::new(),
        }
    }

    /// Adds a message with the given UID (which must be above the others).
    pub fn with_message(mut self, uid: u32, raw: &[u8]) -> FakeMailbox {
        self.messages.push(FakeMessage {
            uid,
            flags: Vec::new(),
            raw: raw.to_vec(),
        });
        self
    }

    pub fn uid_next(&self) -> u32 {
        self.messages.last().map_or(1, |m| m.uid + 1)
    }

    pub fn unseen(&self) -> usize {
        self.messages
            .iter()
            .filter(|m| !m.has_flag("\\Seen"))
            .count()
    }

    /// The UIDs of a set such as `1:5,7,9:*`, present in this mailbox.
    pub fn uids_in(&self, set: &str) -> Vec<u32> {
        let highest = self.messages.last().map_or(0, |m| m.uid);
        let bound = |text: &str| {
            if text == "*" {
                highest
            } else {
                text.parse().unwrap_or(0)
            }
        };
        let mut wanted = Vec::new();
        for range in set.split(',') {
            let (low, high) = match range.split_once(':') {
                Some((a, b)) => (bound(a), bound(b)),
                None => (bound(range), bound(range)),
            };
            let (low, high) = (low.min(high), low.max(high));
            wanted.extend(
                self.messages
                    .iter()
                    .map(|m| m.uid)
                    .filter(|uid| (low..=high).contains(uid)),
            );
        }
        wanted.sort_unstable();
        wanted.dedup();
        wanted
    }

    /// The 1-based sequence number of a UID.
    pub fn seq_of(&self, uid: u32) -> Option<usize> {
        self.messages
            .iter()
            .position(|m| m.uid == uid)
            .map(|i| i + 1)
    }

    pub fn message_mut(&mut self, uid: u32) -> Option<&mut FakeMessage> {
        self.messages.iter_mut().find(|m| m.uid == uid)
    }

    /// `(MESSAGES n UNSEEN n ...)` for the items a STATUS command names.
    pub fn status_items(&self, asked: &str) -> String {
        let asked = asked.to_ascii_uppercase();
        let mut items = Vec::new();
        for (name, value) in [
            ("MESSAGES", self.messages.len() as u64),
            ("UNSEEN", self.unseen() as u64),
            ("UIDNEXT", u64::from(self.uid_next())),
            ("UIDVALIDITY", u64::from(self.uidvalidity)),
            ("HIGHESTMODSEQ", 1),
        ] {
            if asked.contains(name) {
                items.push(format!("{name} {value}"));
            }
        }
        format!("({})", items.join(" "))
    }
}

impl FakeMessage {
    pub fn has_flag(&self, flag: &str) -> bool {
        self.flags.iter().any(|f| f.eq_ignore_ascii_case(flag))
    }

    /// Applies `+FLAGS`, `-FLAGS` or `FLAGS` (`.SILENT` or not).
    pub fn apply(&mut self, op: &str, flags: &[String]) {
        if op.starts_with('+') {
            for flag in flags {
                if !self.has_flag(flag) {
                    self.flags.push(flag.clone());
                }
            }
        } else if op.starts_with('-') {
            self.flags
                .retain(|f| !flags.iter().any(|g| g.eq_ignore_ascii_case(f)));
        } else {
            self.flags = flags.to_vec();
        }
    }

    /// The bytes of `* seq FETCH (...)` for the items named in `items`
    /// (`BODY[]` sets \Seen, `BODY.PEEK[]` does not), with CRLF.
    pub fn fetch_response(&mut self, seq: usize, items: &str) -> Vec<u8> {
        let items = items.to_ascii_uppercase();
        let wants_body = items.contains("BODY[]") || items.contains("BODY.PEEK[]");
        if items.contains("BODY[]") && !self.has_flag("\\Seen") {
            self.flags.push("\\Seen".to_owned());
        }

        let mut parts = vec![format!("UID {}", self.uid)];
        if items.contains("FLAGS") {
            parts.push(format!("FLAGS ({})", self.flags.join(" ")));
        }
        if items.contains("INTERNALDATE") {
            parts.push("INTERNALDATE \"01-Jun-2024 10:00:00 +0000\"".to_owned());
        }
        if items.contains("RFC822.SIZE") {
            parts.push(format!("RFC822.SIZE {}", self.raw.len()));
        }
        if items.contains("ENVELOPE") {
            parts.push(format!("ENVELOPE {}", envelope(&self.raw)));
        }
        if items.contains("BODYSTRUCTURE") {
            let lines = self.raw.split(|&b| b == b'\n').count();
            parts.push(format!(
                "BODYSTRUCTURE (\"TEXT\" \"PLAIN\" (\"CHARSET\" \"utf-8\") NIL NIL \"7BIT\" {} {})",
                self.raw.len(),
                lines
            ));
        }

        let mut out = format!("* {seq} FETCH ({}", parts.join(" ")).into_bytes();
        if wants_body {
            out.extend_from_slice(format!(" BODY[] {{{}}}\r\n", self.raw.len()).as_bytes());
            out.extend_from_slice(&self.raw);
        }
        out.extend_from_slice(b")\r\n");
        out
    }
}

/// The value of a header of a raw message (first occurrence, unfolded).
fn header(raw: &[u8], name: &str) -> Option<String> {
    let text = String::from_utf8_lossy(raw);
    let head = text.split("\r\n\r\n").next().unwrap_or_default();
    let mut found: Option<String> = None;
    for line in head.split("\r\n") {
        if let Some(value) = found.as_mut() {
            if line.starts_with([' ', '\t']) {
                value.push(' ');
                value.push_str(line.trim());
                continue;
            }
            break;
        }
        if let Some((key, value)) = line.split_once(':') {
            if key.eq_ignore_ascii_case(name) {
                found = Some(value.trim().to_owned());
            }
        }
    }
    found
}

/// An IMAP quoted string, or NIL.
fn nstring(value: Option<&str>) -> String {
    match value {
        Some(text) => format!("\"{}\"", text.replace('\\', "\\\\").replace('"', "\\\"")),
        None => "NIL".to_owned(),
    }
}

/// An address list of one mailbox from `Name <box@host>` or `box@host`.
fn address_list(value: Option<String>) -> String {
    let Some(value) = value else {
        return "NIL".to_owned();
    };
    let (name, address) = match value.rsplit_once('<') {
        Some((name, rest)) => {
            let name = name.trim().trim_matches('"');
            let name = (!name.is_empty()).then_some(name);
            (name, rest.trim_end_matches('>'))
        }
        None => (None, value.as_str()),
    };
    let (mailbox, host) = address.split_once('@').unwrap_or((address, ""));
    format!(
        "(({} NIL {} {}))",
        nstring(name),
        nstring(Some(mailbox)),
        nstring(Some(host))
    )
}

/// The ENVELOPE of a raw message.
fn envelope(raw: &[u8]) -> String {
    let from = address_list(header(raw, "From"));
    format!(
        "({} {} {from} {from} {from} {} NIL NIL NIL {})",
        nstring(header(raw, "Date").as_deref()),
        nstring(header(raw, "Subject").as_deref()),
        address_list(header(raw, "To")),
        nstring(header(raw, "Message-ID").as_deref()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uid_sets_name_only_present_messages() {
        let mailbox = FakeMailbox::new("INBOX", 7)
            .with_message(3, b"a")
            .with_message(5, b"b")
            .with_message(9, b"c");

        assert_eq!(mailbox.uids_in("1:4,9"), vec![3, 9]);
        assert_eq!(mailbox.uids_in("5:*"), vec![5, 9]);
        assert_eq!(mailbox.uids_in("*:4"), vec![5, 9]);
    }

    #[test]
    fn envelopes_quote_what_the_headers_say() {
        let raw = b"From: \"Ann Smith\" <ann@example.org>\r\nSubject: say \"hi\"\r\n\r\nbody";
        let env = envelope(raw);

        assert!(
            env.starts_with(
                "(NIL \"say \\\"hi\\\"\" ((\"Ann Smith\" NIL \"ann\" \"example.org\"))"
            ),
            "{env}"
        );
    }
}
