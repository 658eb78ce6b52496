//! A deliberately simple blocking IMAP client for test setup.
//!
//! It owns one plain TCP connection to 127.0.0.1 and speaks just enough
//! IMAP4rev1 (RFC 3501) to put mail in place and to act as "the user's phone"
//! between page views: tagged commands, literals in both directions, APPEND
//! with UIDPLUS (RFC 4315). It shares no code with the product's IMAP crate, so the
//! two cannot hide each other's faults. It never retries and never hides a
//! server's answer: `command` returns every line it got.
//!
//! Invariants: one command is in flight at a time, and a literal inside a
//! response is folded into its line (decoded lossily as UTF-8), so each
//! returned `String` is one complete response. Reads and writes time out after
//! 30 seconds, so a test never hangs on a silent server.
//!
//! Mailbox names are sent as given: a name outside ASCII must be passed in
//! modified UTF-7 (RFC 3501 section 5.1.3).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

const IO_TIMEOUT: Duration = Duration::from_secs(30);

/// A logged-in (after [`ImapTestClient::login`]) plain IMAP connection.
pub struct ImapTestClient {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
    next_tag: u32,
    /// The server's greeting line, e.g. `* OK [CAPABILITY ...] Dovecot ready.`
    pub greeting: String,
}

impl ImapTestClient {
    /// Connects to 127.0.0.1:`port` and reads the greeting; fails unless it
    /// is `* OK`.
    pub fn connect(port: u16) -> Result<ImapTestClient, String> {
        let stream = TcpStream::connect(("127.0.0.1", port))
            .map_err(|e| format!("connecting to 127.0.0.1:{port} failed; {e}"))?;
        stream
            .set_read_timeout(Some(IO_TIMEOUT))
            .map_err(|e| e.to_string())?;
        stream
            .set_write_timeout(Some(IO_TIMEOUT))
            .map_err(|e| e.to_string())?;
        let writer = stream.try_clone().map_err(|e| e.to_string())?;

        let mut client = ImapTestClient {
            reader: BufReader::new(stream),
            writer,
            next_tag: 1,
            greeting: String::new(),
        };
        client.greeting = client.read_response()?;
        if !client.greeting.starts_with("* OK") {
            return Err(format!("the server greeted with {:?}", client.greeting));
        }
        Ok(client)
    }

    /// Sends `LOGIN user password`; returns the server's refusal as `Err`.
    pub fn login(&mut self, user: &str, password: &str) -> Result<(), String> {
        self.command(&format!("LOGIN {} {}", quote(user), quote(password)))
            .map(|_| ())
    }

    /// Sends one tagged command (without tag or CRLF) and returns the
    /// untagged lines followed by the tagged one. `Err` holds all lines when
    /// the server answers NO or BAD, or the I/O failure.
    pub fn command(&mut self, line: &str) -> Result<Vec<String>, String> {
        let tag = self.send_tagged(line.as_bytes())?;
        self.read_until_tagged(&tag)
    }

    /// Sends a command that ends in one synchronising literal: `line` is sent
    /// with ` {N}` appended, then `literal` once the server asks for it.
    pub fn command_with_literal(
        &mut self,
        line: &str,
        literal: &[u8],
    ) -> Result<Vec<String>, String> {
        let head = format!("{line} {{{}}}", literal.len());
        let tag = self.send_tagged(head.as_bytes())?;

        let mut lines = Vec::new();
        loop {
            let response = self.read_response()?;
            if response.starts_with('+') {
                break;
            }
            let tagged = response.starts_with(&format!("{tag} "));
            lines.push(response);
            if tagged {
                return Err(lines.join("\n"));
            }
        }

        let mut bytes = literal.to_vec();
        bytes.extend_from_slice(b"\r\n");
        self.writer
            .write_all(&bytes)
            .map_err(|e| format!("sending the literal failed; {e}"))?;
        let mut rest = self.read_until_tagged(&tag)?;
        lines.append(&mut rest);
        Ok(lines)
    }

    /// Creates `mailbox`; panics when the server refuses.
    pub fn create(&mut self, mailbox: &str) {
        self.expect_ok(&format!("CREATE {}", quote(mailbox)));
    }

    /// Appends `message` to `mailbox` with `flags` (e.g. `"\\Seen \\Flagged"`,
    /// a parenthesised list such as `"(\\Seen)"` or `"()"`, or `""`) and an
    /// optional INTERNALDATE such as `"14-Mar-2024 09:30:00 +0000"`; returns the
    /// new UID from APPENDUID.
    pub fn append(
        &mut self,
        mailbox: &str,
        flags: &str,
        internal_date: Option<&str>,
        message: &[u8],
    ) -> u32 {
        let mut line = format!("APPEND {}", quote(mailbox));
        let flags = flags.trim();
        if flags.starts_with('(') {
            line.push_str(&format!(" {flags}"));
        } else if !flags.is_empty() {
            line.push_str(&format!(" ({flags})"));
        }
        if let Some(date) = internal_date {
            line.push_str(&format!(" \"{date}\""));
        }

        let lines = self
            .command_with_literal(&line, message)
            .unwrap_or_else(|e| panic!("APPEND to {mailbox} failed: {e}"));
        let tagged = lines.last().map(String::as_str).unwrap_or_default();
        appenduid(tagged).unwrap_or_else(|| panic!("APPEND answer has no APPENDUID: {tagged}"))
    }

    /// Selects `mailbox` read-write and returns its EXISTS count.
    pub fn select(&mut self, mailbox: &str) -> u32 {
        let lines = self.expect_ok(&format!("SELECT {}", quote(mailbox)));
        lines
            .iter()
            .find_map(|line| {
                line.strip_prefix("* ")?
                    .strip_suffix(" EXISTS")?
                    .parse()
                    .ok()
            })
            .unwrap_or_else(|| panic!("SELECT {mailbox} gave no EXISTS: {lines:?}"))
    }

    /// `UID STORE uid <op_and_flags>` in the selected mailbox, e.g.
    /// `store(7, "+FLAGS (\\Seen)")`.
    pub fn store(&mut self, uid: u32, op_and_flags: &str) {
        self.expect_ok(&format!("UID STORE {uid} {op_and_flags}"));
    }

    /// Removes one message of the selected mailbox: `\Deleted`, then
    /// `UID EXPUNGE` of that UID only.
    pub fn expunge_uid(&mut self, uid: u32) {
        self.expect_ok(&format!("UID STORE {uid} +FLAGS.SILENT (\\Deleted)"));
        self.expect_ok(&format!("UID EXPUNGE {uid}"));
    }

    /// Deletes `mailbox`; panics when the server refuses.
    pub fn delete_mailbox(&mut self, mailbox: &str) {
        self.expect_ok(&format!("DELETE {}", quote(mailbox)));
    }

    /// Renames `from` to `to`; panics when the server refuses.
    pub fn rename_mailbox(&mut self, from: &str, to: &str) {
        self.expect_ok(&format!("RENAME {} {}", quote(from), quote(to)));
    }

    /// Sends LOGOUT and closes the connection.
    pub fn logout(mut self) {
        self.expect_ok("LOGOUT");
    }

    fn expect_ok(&mut self, line: &str) -> Vec<String> {
        self.command(line)
            .unwrap_or_else(|e| panic!("{line} failed: {e}"))
    }

    fn send_tagged(&mut self, line: &[u8]) -> Result<String, String> {
        let tag = format!("T{}", self.next_tag);
        self.next_tag += 1;

        let mut bytes = format!("{tag} ").into_bytes();
        bytes.extend_from_slice(line);
        bytes.extend_from_slice(b"\r\n");
        self.writer
            .write_all(&bytes)
            .map_err(|e| format!("sending {tag} failed; {e}"))?;
        Ok(tag)
    }

    fn read_until_tagged(&mut self, tag: &str) -> Result<Vec<String>, String> {
        let prefix = format!("{tag} ");
        let mut lines = Vec::new();
        loop {
            let response = self.read_response()?;
            let status = response
                .strip_prefix(&prefix)
                .map(|rest| rest.starts_with("OK"));
            lines.push(response);
            match status {
                Some(true) => return Ok(lines),
                Some(false) => return Err(lines.join("\n")),
                None => continue,
            }
        }
    }

    /// Reads one response line, folding in any literals it announces.
    fn read_response(&mut self) -> Result<String, String> {
        let mut response = Vec::new();
        loop {
            let mut line = Vec::new();
            let n = self
                .reader
                .read_until(b'\n', &mut line)
                .map_err(|e| format!("reading from the server failed; {e}"))?;
            if n == 0 {
                let partial = String::from_utf8_lossy(&response).into_owned();
                return Err(format!(
                    "the server closed the connection (after {partial:?})"
                ));
            }
            while line.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
                line.pop();
            }
            response.extend_from_slice(&line);

            let Some(size) = literal_size(&line) else {
                return Ok(String::from_utf8_lossy(&response).into_owned());
            };
            let mut literal = vec![0; size];
            self.reader
                .read_exact(&mut literal)
                .map_err(|e| format!("reading a {size}-byte literal failed; {e}"))?;
            response.extend_from_slice(b"\r\n");
            response.extend_from_slice(&literal);
        }
    }
}

/// The size N of a line ending in `{N}` (or `{N+}`), if it does.
fn literal_size(line: &[u8]) -> Option<usize> {
    let line = std::str::from_utf8(line).ok()?;
    let inner = line.strip_suffix('}')?;
    let (_, digits) = inner.rsplit_once('{')?;
    digits.trim_end_matches('+').parse().ok()
}

/// The UID of `[APPENDUID <uidvalidity> <uid>]` in a tagged OK.
fn appenduid(tagged: &str) -> Option<u32> {
    let (_, rest) = tagged.split_once("[APPENDUID ")?;
    let (_validity, rest) = rest.split_once(' ')?;
    rest.split(']').next()?.parse().ok()
}

/// An IMAP quoted string.
fn quote(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}
