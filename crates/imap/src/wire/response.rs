//! Server responses (RFC 3501 section 7, RFC 9051): tagged completions,
//! untagged data and status, and continuation requests.
//!
//! [`parse_response`] turns one frame into a [`Response`] that owns its data.
//! It does not track state; the connection decides what a response means for
//! the command in flight. Unknown response kinds parse as
//! [`Untagged::Other`], so a new extension never breaks a command. A
//! response that is malformed yields a [`ParseError`] naming its tag when the
//! tag could be read, so the caller can tell a skippable untagged response
//! from a lost completion.

use super::fetch::{flag_list, FetchData};
use super::sequence::expand_set;
use super::value::{Cursor, SyntaxError, Value};
use crate::types::{Capabilities, ListedMailbox, MailboxStatus};

/// One parsed response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Response {
    /// `+ ...`: the server waits for a literal.
    Continuation,
    /// `<tag> OK|NO|BAD ...`.
    Tagged {
        /// The tag as sent.
        tag: Vec<u8>,
        /// The completion.
        status: Status,
    },
    /// `* ...`.
    Untagged(Untagged),
}

/// OK, NO, BAD, BYE or PREAUTH, with its code and text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Status {
    pub kind: StatusKind,
    pub code: Option<Code>,
    /// The human-readable text, lossy UTF-8.
    pub text: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StatusKind {
    Ok,
    No,
    Bad,
    Bye,
    Preauth,
}

/// A response code (the bracketed part of a status text).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Code {
    Alert,
    Capability(Capabilities),
    UidValidity(u32),
    UidNext(u32),
    HighestModSeq(u64),
    NoModSeq,
    ReadOnly,
    ReadWrite,
    /// `APPENDUID <uidvalidity> <uid-set>`; the last UID of the set.
    AppendUid(u32),
    /// Any other code, by its uppercase name.
    Other(String),
}

impl Code {
    /// The code's name as the server spells it, uppercased.
    pub fn name(&self) -> String {
        match self {
            Code::Alert => "ALERT".into(),
            Code::Capability(_) => "CAPABILITY".into(),
            Code::UidValidity(_) => "UIDVALIDITY".into(),
            Code::UidNext(_) => "UIDNEXT".into(),
            Code::HighestModSeq(_) => "HIGHESTMODSEQ".into(),
            Code::NoModSeq => "NOMODSEQ".into(),
            Code::ReadOnly => "READ-ONLY".into(),
            Code::ReadWrite => "READ-WRITE".into(),
            Code::AppendUid(_) => "APPENDUID".into(),
            Code::Other(name) => name.clone(),
        }
    }
}

/// Untagged data and status responses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Untagged {
    Status(Status),
    Capability(Capabilities),
    Exists(u32),
    Recent(u32),
    Expunge(u32),
    Fetch(Box<FetchData>),
    Flags(Vec<String>),
    List(ListedMailbox),
    MailboxStatus {
        name: Vec<u8>,
        status: MailboxStatus,
    },
    Search(Vec<u32>),
    Sort(Vec<u32>),
    ESearch {
        tag: Option<Vec<u8>>,
        all: Vec<u32>,
    },
    Enabled(Vec<String>),
    Vanished {
        earlier: bool,
        uids: Vec<u32>,
    },
    /// A response this client does not use, by its uppercase name.
    Other(String),
}

/// A malformed response; holds no response data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ParseError {
    /// The tag, when the response was tagged and the tag was readable.
    pub tag: Option<Vec<u8>>,
    /// What went wrong.
    pub detail: String,
}

impl ParseError {
    fn new(tag: Option<&[u8]>, detail: impl Into<String>) -> Self {
        Self {
            tag: tag.map(<[u8]>::to_vec),
            detail: detail.into(),
        }
    }
}

impl From<SyntaxError> for ParseError {
    fn from(e: SyntaxError) -> Self {
        ParseError::new(None, e.to_string())
    }
}

/// Parses one frame.
pub(crate) fn parse_response(frame: &[u8]) -> Result<Response, ParseError> {
    let mut cursor = Cursor::new(frame);
    if cursor.eat(b'+') {
        return Ok(Response::Continuation);
    }
    if cursor.eat(b'*') {
        return untagged(&mut cursor).map(Response::Untagged);
    }

    let tag = cursor
        .atom()
        .map_err(|_| ParseError::new(None, "expected a tag"))?;
    cursor.skip_spaces();
    let status = status(&mut cursor).map_err(|e| ParseError::new(Some(tag), e.detail))?;
    match status.kind {
        StatusKind::Ok | StatusKind::No | StatusKind::Bad => Ok(Response::Tagged {
            tag: tag.to_vec(),
            status,
        }),
        _ => Err(ParseError::new(
            Some(tag),
            "a tagged response must be OK, NO or BAD",
        )),
    }
}

fn status(cursor: &mut Cursor<'_>) -> Result<Status, ParseError> {
    let word = cursor.atom()?.to_ascii_uppercase();
    let kind = match word.as_slice() {
        b"OK" => StatusKind::Ok,
        b"NO" => StatusKind::No,
        b"BAD" => StatusKind::Bad,
        b"BYE" => StatusKind::Bye,
        b"PREAUTH" => StatusKind::Preauth,
        _ => {
            return Err(ParseError::new(
                None,
                "expected OK, NO, BAD, BYE or PREAUTH",
            ))
        }
    };

    cursor.skip_spaces();
    let code = if cursor.eat(b'[') {
        Some(code(cursor))
    } else {
        None
    };
    cursor.skip_spaces();
    let text = String::from_utf8_lossy(cursor.rest()).into_owned();
    Ok(Status { kind, code, text })
}

/// Reads a code after its `[`, through the `]`. A code whose arguments do
/// not tokenize is kept by name and skipped to the next `]`.
fn code(cursor: &mut Cursor<'_>) -> Code {
    let start = cursor.clone();
    let parsed = (|| -> Result<Code, SyntaxError> {
        let name = cursor.atom()?.to_ascii_uppercase();
        let args = cursor.values_until_end()?;
        if !cursor.eat(b']') {
            return Err(SyntaxError {
                expected: "]",
                offset: 0,
            });
        }
        let number = args.first().and_then(Value::number::<u32>);
        Ok(match (name.as_slice(), number) {
            (b"ALERT", _) => Code::Alert,
            (b"CAPABILITY", _) => Code::Capability(capabilities(&args)),
            (b"UIDVALIDITY", Some(n)) => Code::UidValidity(n),
            (b"UIDNEXT", Some(n)) => Code::UidNext(n),
            (b"HIGHESTMODSEQ", _) => match args.first().and_then(Value::number::<u64>) {
                Some(n) => Code::HighestModSeq(n),
                None => Code::Other("HIGHESTMODSEQ".into()),
            },
            (b"NOMODSEQ", _) => Code::NoModSeq,
            (b"READ-ONLY", _) => Code::ReadOnly,
            (b"READ-WRITE", _) => Code::ReadWrite,
            (b"APPENDUID", Some(_)) => {
                let last = args
                    .get(1)
                    .and_then(Value::bytes)
                    .and_then(expand_set)
                    .and_then(|s| s.last().copied());
                last.map_or(Code::Other("APPENDUID".into()), Code::AppendUid)
            }
            _ => Code::Other(String::from_utf8_lossy(&name).into_owned()),
        })
    })();

    parsed.unwrap_or_else(|_| {
        *cursor = start;
        let name = cursor
            .atom()
            .map(|n| String::from_utf8_lossy(n).to_ascii_uppercase())
            .unwrap_or_default();
        cursor.skip_past(b']');
        Code::Other(name)
    })
}

fn capabilities(values: &[Value<'_>]) -> Capabilities {
    Capabilities::new(values.iter().filter_map(Value::text))
}

fn untagged(cursor: &mut Cursor<'_>) -> Result<Untagged, ParseError> {
    cursor.skip_spaces();
    let first = cursor.atom()?;

    if let Ok(number) = std::str::from_utf8(first).unwrap_or("").parse::<u32>() {
        cursor.skip_spaces();
        let kind = cursor.atom()?.to_ascii_uppercase();
        return Ok(match kind.as_slice() {
            b"EXISTS" => Untagged::Exists(number),
            b"RECENT" => Untagged::Recent(number),
            b"EXPUNGE" => Untagged::Expunge(number),
            b"FETCH" => {
                let items = cursor.value()?;
                if !matches!(items, Value::List(_)) {
                    return Err(ParseError::new(None, "expected the FETCH item list"));
                }
                Untagged::Fetch(Box::new(FetchData::from_items(number, items.items())))
            }
            _ => Untagged::Other(String::from_utf8_lossy(&kind).into_owned()),
        });
    }

    let name = first.to_ascii_uppercase();
    match name.as_slice() {
        b"OK" | b"NO" | b"BAD" | b"BYE" | b"PREAUTH" => status_after_word(cursor, &name),
        b"CAPABILITY" => Ok(Untagged::Capability(capabilities(
            &cursor.values_until_end()?,
        ))),
        b"FLAGS" => Ok(Untagged::Flags(flag_list(&cursor.value()?))),
        b"ENABLED" => {
            let values = cursor.values_until_end()?;
            Ok(Untagged::Enabled(
                values
                    .iter()
                    .filter_map(Value::text)
                    .map(|t| t.to_ascii_uppercase())
                    .collect(),
            ))
        }
        b"LIST" | b"LSUB" | b"XLIST" => list(cursor),
        b"STATUS" => mailbox_status(cursor),
        b"SEARCH" | b"SORT" => {
            let values = cursor.values_until_end()?;
            let numbers = values
                .iter()
                .filter(|v| matches!(v, Value::Atom(_)))
                .filter_map(Value::number)
                .collect();
            Ok(if name == b"SEARCH" {
                Untagged::Search(numbers)
            } else {
                Untagged::Sort(numbers)
            })
        }
        b"ESEARCH" => esearch(cursor),
        b"VANISHED" => vanished(cursor),
        _ => Ok(Untagged::Other(String::from_utf8_lossy(&name).into_owned())),
    }
}

/// Finishes a status response whose first word was already read.
fn status_after_word(cursor: &mut Cursor<'_>, word: &[u8]) -> Result<Untagged, ParseError> {
    let kind = match word {
        b"OK" => StatusKind::Ok,
        b"NO" => StatusKind::No,
        b"BAD" => StatusKind::Bad,
        b"BYE" => StatusKind::Bye,
        _ => StatusKind::Preauth,
    };
    cursor.skip_spaces();
    let code = if cursor.eat(b'[') {
        Some(code(cursor))
    } else {
        None
    };
    cursor.skip_spaces();
    let text = String::from_utf8_lossy(cursor.rest()).into_owned();
    Ok(Untagged::Status(Status { kind, code, text }))
}

fn list(cursor: &mut Cursor<'_>) -> Result<Untagged, ParseError> {
    let attributes = flag_list(&cursor.value()?);
    let delimiter = match cursor.value()? {
        Value::Nil => None,
        other => other
            .bytes()
            .and_then(|b| std::str::from_utf8(b).ok())
            .and_then(|s| s.chars().next()),
    };
    let name = cursor.value()?;
    let raw = name
        .bytes()
        .ok_or_else(|| ParseError::new(None, "expected a mailbox name"))?;
    let raw_name = String::from_utf8(raw.to_vec())
        .map_err(|_| ParseError::new(None, "mailbox name is not UTF-8"))?;

    Ok(Untagged::List(ListedMailbox {
        raw_name,
        delimiter,
        attributes,
    }))
}

fn mailbox_status(cursor: &mut Cursor<'_>) -> Result<Untagged, ParseError> {
    let name = cursor.value()?.bytes().unwrap_or_default().to_vec();
    let items = cursor.value()?;
    let mut status = MailboxStatus::default();
    for pair in items.items().chunks(2) {
        let [key, value] = pair else { break };
        match key.bytes().map(<[u8]>::to_ascii_uppercase).as_deref() {
            Some(b"MESSAGES") => status.messages = value.number(),
            Some(b"UNSEEN") => status.unseen = value.number(),
            Some(b"UIDNEXT") => status.uidnext = value.number(),
            Some(b"UIDVALIDITY") => status.uidvalidity = value.number(),
            Some(b"HIGHESTMODSEQ") => status.highestmodseq = value.number(),
            _ => {}
        }
    }
    Ok(Untagged::MailboxStatus { name, status })
}

/// `* ESEARCH [(TAG "x")] [UID] (name value)*`; only ALL is kept.
fn esearch(cursor: &mut Cursor<'_>) -> Result<Untagged, ParseError> {
    let values = cursor.values_until_end()?;
    let mut tag = None;
    let mut rest = values.as_slice();
    if let Some(Value::List(correlator)) = rest.first() {
        if correlator.first().is_some_and(|v| v.is_atom("TAG")) {
            tag = correlator.get(1).and_then(Value::bytes).map(<[u8]>::to_vec);
        }
        rest = &rest[1..];
    }

    let mut all = Vec::new();
    for (i, value) in rest.iter().enumerate() {
        if value.is_atom("ALL") {
            let set = rest.get(i + 1).and_then(Value::bytes);
            all = set
                .and_then(expand_set)
                .ok_or_else(|| ParseError::new(None, "bad ESEARCH ALL set"))?;
        }
    }
    Ok(Untagged::ESearch { tag, all })
}

fn vanished(cursor: &mut Cursor<'_>) -> Result<Untagged, ParseError> {
    let values = cursor.values_until_end()?;
    let earlier = values
        .first()
        .is_some_and(|v| v.items().first().is_some_and(|e| e.is_atom("EARLIER")));
    let set = values.last().and_then(Value::bytes);
    let uids = set
        .and_then(expand_set)
        .ok_or_else(|| ParseError::new(None, "bad VANISHED set"))?;
    Ok(Untagged::Vanished { earlier, uids })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn untagged(input: &[u8]) -> Untagged {
        match parse_response(input) {
            Ok(Response::Untagged(u)) => u,
            other => panic!("not untagged: {other:?}"),
        }
    }

    #[test]
    fn tagged_completions_keep_their_code_and_text() {
        let got = parse_response(b"A3 NO [NONEXISTENT] Mailbox doesn't exist: Foo\r\n").unwrap();

        let Response::Tagged { tag, status } = got else {
            panic!("tagged")
        };
        assert_eq!(tag, b"A3");
        assert_eq!(status.kind, StatusKind::No);
        assert_eq!(status.code.as_ref().unwrap().name(), "NONEXISTENT");
        assert_eq!(status.text, "Mailbox doesn't exist: Foo");
    }

    #[test]
    fn response_codes_with_arguments_are_read() {
        let Untagged::Status(s) = untagged(b"* OK [UIDVALIDITY 1717000000] ok") else {
            panic!()
        };
        assert_eq!(s.code, Some(Code::UidValidity(1_717_000_000)));

        let Untagged::Status(s) = untagged(b"* OK [CAPABILITY IMAP4rev1 SORT] hi") else {
            panic!()
        };
        assert!(matches!(s.code, Some(Code::Capability(c)) if c.sort()));

        let Response::Tagged { status, .. } =
            parse_response(b"A1 OK [APPENDUID 38505 3955] done").unwrap()
        else {
            panic!()
        };
        assert_eq!(status.code, Some(Code::AppendUid(3955)));

        let Untagged::Status(s) = untagged(b"* OK [HIGHESTMODSEQ 715194045007] x") else {
            panic!()
        };
        assert_eq!(s.code, Some(Code::HighestModSeq(715_194_045_007)));
    }

    #[test]
    fn an_odd_code_is_kept_by_name_and_the_text_survives() {
        let Untagged::Status(s) = untagged(b"* NO [WEIRD \"unclosed] text") else {
            panic!()
        };

        assert_eq!(s.code, Some(Code::Other("WEIRD".into())));
        assert_eq!(s.kind, StatusKind::No);
        assert_eq!(s.text, "text");
    }

    #[test]
    fn data_responses_are_read() {
        assert_eq!(untagged(b"* 5 EXISTS"), Untagged::Exists(5));
        assert_eq!(untagged(b"* 3 EXPUNGE"), Untagged::Expunge(3));
        assert_eq!(
            untagged(b"* SEARCH 2 3 5 (MODSEQ 917162500)"),
            Untagged::Search(vec![2, 3, 5])
        );
        assert_eq!(untagged(b"* SORT"), Untagged::Sort(vec![]));
        assert_eq!(
            untagged(b"* ESEARCH (TAG \"A5\") UID COUNT 4 ALL 1:3,9"),
            Untagged::ESearch {
                tag: Some(b"A5".to_vec()),
                all: vec![1, 2, 3, 9]
            }
        );
        assert_eq!(
            untagged(b"* VANISHED (EARLIER) 41,43:44"),
            Untagged::Vanished {
                earlier: true,
                uids: vec![41, 43, 44]
            }
        );
        assert_eq!(untagged(b"* XYZZY 1 2"), Untagged::Other("XYZZY".into()));
    }

    #[test]
    fn list_entries_unescape_names_and_keep_nil_delimiters() {
        let Untagged::List(m) = untagged(b"* LIST (\\HasNoChildren) \"/\" \"back\\\\slash\"")
        else {
            panic!()
        };
        assert_eq!(m.raw_name, "back\\slash");
        assert_eq!(m.delimiter, Some('/'));

        let Untagged::List(m) = untagged(b"* LIST (\\Noselect) NIL {12}\r\nKunden {alt}") else {
            panic!()
        };
        assert_eq!(m.raw_name, "Kunden {alt}");
        assert_eq!(m.delimiter, None);

        let Untagged::List(m) = untagged(b"* LIST () \"/\" 2024") else {
            panic!()
        };
        assert_eq!(m.raw_name, "2024");
    }

    #[test]
    fn status_responses_are_read() {
        let got = untagged(b"* STATUS \"INBOX\" (MESSAGES 3 UIDNEXT 10 HIGHESTMODSEQ 99)");

        let Untagged::MailboxStatus { name, status } = got else {
            panic!()
        };
        assert_eq!(name, b"INBOX");
        assert_eq!(status.messages, Some(3));
        assert_eq!(status.uidnext, Some(10));
        assert_eq!(status.highestmodseq, Some(99));
        assert_eq!(status.unseen, None);
    }

    #[test]
    fn a_malformed_tagged_response_names_its_tag() {
        let err = parse_response(b"A9 MAYBE later").unwrap_err();

        assert_eq!(err.tag.as_deref(), Some(&b"A9"[..]));
        assert!(parse_response(b"* 1 FETCH (UID").unwrap_err().tag.is_none());
    }

    #[test]
    fn random_frames_never_panic_the_parser() {
        let pieces: [&[u8]; 24] = [
            b"* ",
            b"A1 ",
            b"+ ",
            b"OK ",
            b"NO ",
            b"[",
            b"]",
            b"(",
            b")",
            b"\"",
            b"\\",
            b"{3}\r\n",
            b"{99}\r\n",
            b"NIL ",
            b"FETCH ",
            b"1 ",
            b"ENVELOPE ",
            b"BODYSTRUCTURE ",
            b"LIST ",
            b"ESEARCH ",
            b"ALL 1:3",
            b"UID ",
            b"\xff",
            b"VANISHED ",
        ];
        let mut state: u64 = 0xdead_beef_cafe_f00d;
        for _ in 0..30_000 {
            let mut frame = Vec::new();
            for _ in 0..(state % 20) {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                frame.extend_from_slice(pieces[(state % pieces.len() as u64) as usize]);
            }
            let _ = parse_response(&frame);
        }
    }
}
