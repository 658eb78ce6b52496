//! Reading the `.imap` transcripts of the shared cases: `C: ` lines a client
//! sends, `S: ` lines a server sends, `#` comments that name the parts.
//!
//! This module only parses; it never talks to a socket. A transcript is cut
//! into sections at comments that start with `# connection` or `# variant`,
//! so a test can take the exchange of one connection and turn it into rules
//! of the fake server. Server lines keep their bytes exactly, without CRLF.

use std::path::Path;

/// One line of a transcript.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Line {
    /// A command as the client sends it, tag included.
    Client(String),
    /// A line the server sends, without its CRLF.
    Server(Vec<u8>),
}

/// A named part of a transcript, such as `connection 2 (fresh): ...`.
#[derive(Debug, Clone, Default)]
pub struct Section {
    /// The comment that opened the section, without `# `.
    pub title: String,
    pub lines: Vec<Line>,
}

/// One command of a section and what the server answered to it.
#[derive(Debug, Clone)]
pub struct Exchange {
    /// The tag the transcript used, which the fake server swaps for the
    /// client's.
    pub tag: String,
    /// The command without its tag, e.g. `UID FETCH 301 (BODY.PEEK[])`.
    pub command: String,
    /// Every server line up to the next command of the section.
    pub reply: Vec<Vec<u8>>,
}

/// A parsed transcript.
#[derive(Debug, Clone)]
pub struct Transcript {
    pub sections: Vec<Section>,
}

impl Transcript {
    /// Reads a transcript file; panics with the path when it cannot be read.
    pub fn load(path: &Path) -> Transcript {
        let bytes = std::fs::read(path)
            .unwrap_or_else(|e| panic!("cannot read the transcript {}: {e}", path.display()));
        Transcript::parse(&bytes)
    }

    /// Parses the `.imap` format; line ends may be CRLF or LF.
    pub fn parse(bytes: &[u8]) -> Transcript {
        let mut sections = vec![Section::default()];
        for raw in bytes.split(|&b| b == b'\n') {
            let line = raw.strip_suffix(b"\r").unwrap_or(raw);
            let current = sections.last_mut().expect("one section at least");

            if let Some(rest) = line.strip_prefix(b"C: ") {
                let text = String::from_utf8_lossy(rest).into_owned();
                current.lines.push(Line::Client(text));
            } else if let Some(rest) = line.strip_prefix(b"S: ") {
                current.lines.push(Line::Server(rest.to_vec()));
            } else if line == b"S:" {
                current.lines.push(Line::Server(Vec::new()));
            } else if let Some(comment) = line.strip_prefix(b"# ") {
                let comment = String::from_utf8_lossy(comment).into_owned();
                if comment.starts_with("connection") || comment.starts_with("variant") {
                    sections.push(Section {
                        title: comment,
                        lines: Vec::new(),
                    });
                }
            }
        }
        Transcript { sections }
    }

    /// The section whose title starts with `prefix`; panics when none does.
    pub fn section(&self, prefix: &str) -> &Section {
        self.sections
            .iter()
            .find(|s| s.title.starts_with(prefix))
            .unwrap_or_else(|| panic!("the transcript has no section {prefix:?}"))
    }
}

impl Section {
    /// The section's first line when the server speaks before any command:
    /// the greeting.
    pub fn greeting(&self) -> Option<Vec<u8>> {
        match self.lines.first() {
            Some(Line::Server(bytes)) => Some(bytes.clone()),
            _ => None,
        }
    }

    /// Every command of the section with the lines that answer it.
    pub fn exchanges(&self) -> Vec<Exchange> {
        let mut exchanges: Vec<Exchange> = Vec::new();
        for line in &self.lines {
            match line {
                Line::Client(text) => {
                    let (tag, command) = text.split_once(' ').unwrap_or((text.as_str(), ""));
                    exchanges.push(Exchange {
                        tag: tag.to_owned(),
                        command: command.to_owned(),
                        reply: Vec::new(),
                    });
                }
                Line::Server(bytes) => {
                    if let Some(last) = exchanges.last_mut() {
                        last.reply.push(bytes.clone());
                    }
                }
            }
        }
        exchanges
    }
}

impl Exchange {
    /// Whether the server answered with a tagged completion; a reply
    /// without one is a connection the server gave up.
    pub fn completed(&self) -> bool {
        let prefix = format!("{} ", self.tag);
        self.reply
            .iter()
            .any(|line| line.starts_with(prefix.as_bytes()))
    }

    /// The content of the first `{N}` literal of the reply, with the CRLFs
    /// of the lines it spans, cut to its announced size.
    pub fn literal(&self) -> Option<Vec<u8>> {
        let start = self.reply.iter().position(|line| line.ends_with(b"}"))?;
        let header = String::from_utf8_lossy(&self.reply[start]).into_owned();
        let size: usize = header.rsplit_once('{')?.1.strip_suffix('}')?.parse().ok()?;

        let mut bytes = Vec::new();
        for line in &self.reply[start + 1..] {
            bytes.extend_from_slice(line);
            bytes.extend_from_slice(b"\r\n");
            if bytes.len() >= size {
                break;
            }
        }
        bytes.truncate(size);
        Some(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sections_split_at_connection_comments() {
        let text = b"# about\nC: a1 NOOP\nS: a1 OK\n# connection 2 (fresh)\nS: * OK hi\n\
                     C: b1 UID FETCH 3 (BODY.PEEK[])\nS: * 1 FETCH (UID 3 BODY[] {5}\n\
                     S: abc\nS: )\nS: b1 OK done\n";
        let transcript = Transcript::parse(text);

        let second = transcript.section("connection 2");
        assert_eq!(second.greeting(), Some(b"* OK hi".to_vec()));
        let exchanges = second.exchanges();
        assert_eq!(exchanges.len(), 1);
        assert_eq!(exchanges[0].command, "UID FETCH 3 (BODY.PEEK[])");
        assert!(exchanges[0].completed());
        assert_eq!(exchanges[0].literal(), Some(b"abc\r\n".to_vec()));
    }
}
