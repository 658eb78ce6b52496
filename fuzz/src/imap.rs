//! IMAP response handling: the framer that cuts the stream into responses,
//! the tokenizer and the response parser.
//!
//! Beyond not panicking, the checks are: how the stream is split into reads
//! never changes the frames cut from it; every frame ends in CRLF and a
//! discarded literal was really above the budget; a tagged response has a
//! tag; a UID set expanded, compacted and expanded again holds the same
//! UIDs; any string a caller passes to a command reaches the server as one
//! string with the same bytes (quoted or literal), never as more protocol.

use std::pin::Pin;
use std::sync::OnceLock;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, ReadBuf};
use tokio::runtime::Runtime;
use tokio::time::Instant;

use crate::command::{Command, Part};
use crate::wire::frame::{FrameBudget, FrameError, FrameReader};
use crate::wire::response::{parse_response, Response, Untagged};
use crate::wire::sequence::{compact_set, expand_set};
use crate::wire::value::{Cursor, Value};

/// Sets larger than this are not compacted again: sorting millions of UIDs
/// per input would slow the fuzzer down without reaching new code.
const MAX_ROUND_TRIP_SET: usize = 100_000;

/// Parses the bytes as one response, and as a UID set.
pub fn imap_response(data: &[u8]) {
    match parse_response(data) {
        Ok(Response::Tagged { tag, status }) => {
            assert!(!tag.is_empty(), "a tagged response has a tag");
            if let Some(code) = &status.code {
                let _ = code.name();
            }
        }
        Ok(Response::Untagged(Untagged::Status(status))) => {
            if let Some(code) = &status.code {
                let _ = code.name();
            }
        }
        Ok(_) | Err(_) => {}
    }

    if let Some(uids) = expand_set(data) {
        check_set_round_trip(&uids);
    }
}

fn check_set_round_trip(uids: &[u32]) {
    if uids.len() > MAX_ROUND_TRIP_SET {
        return;
    }
    let mut expected: Vec<u32> = uids.iter().copied().filter(|&u| u > 0).collect();
    expected.sort_unstable();
    expected.dedup();

    match compact_set(uids) {
        None => assert!(expected.is_empty(), "a set of UIDs compacts to something"),
        Some(text) => {
            let again = expand_set(text.as_bytes());
            assert_eq!(again, Some(expected), "compacted set {text:?} expands back");
        }
    }
}

/// The bounds the framer runs under here: small, so that the fuzzer reaches
/// the size checks and the discarding of literals.
const BUDGET_LINE: usize = 2048;
const BUDGET_KEEP_LITERAL: usize = 256;
const BUDGET_LITERAL: usize = 4096;

/// How one read of the stream ended.
#[derive(Debug, PartialEq, Eq)]
enum End {
    Eof,
    TooLarge(usize),
    Other(String),
}

/// The first byte chooses how the rest is split into reads; the rest is
/// what a server sends. Frames are cut once from reads of up to 16 KiB and
/// once from small reads, compared, and each is parsed.
pub fn imap_frames(data: &[u8]) {
    let Some((&pattern, stream)) = data.split_first() else {
        return;
    };

    let (whole, whole_end) = cut_frames(stream, None);
    let (small, small_end) = cut_frames(stream, Some(pattern));
    assert_eq!(whole_end, small_end, "the framer ends the same way");
    assert_eq!(whole.len(), small.len(), "the framer cuts as many frames");
    for (a, b) in whole.iter().zip(&small) {
        assert_eq!(a, b, "the framer cuts the same frames");
    }

    for (bytes, skipped) in &whole {
        assert!(bytes.ends_with(b"\r\n"), "a frame ends in CRLF");
        if let Some(size) = skipped {
            assert!(
                *size > BUDGET_KEEP_LITERAL as u64,
                "only a big literal is discarded"
            );
        }
        let _ = parse_response(bytes);
    }
}

type CutFrame = (Vec<u8>, Option<u64>);

fn cut_frames(stream: &[u8], pattern: Option<u8>) -> (Vec<CutFrame>, End) {
    runtime().block_on(async {
        let mut io = Reads {
            data: stream,
            pattern,
            turn: 0,
        };
        let mut reader = FrameReader::default();
        let mut frames = Vec::new();
        loop {
            let budget = FrameBudget {
                line: BUDGET_LINE,
                keep_literal: BUDGET_KEEP_LITERAL,
                literal: BUDGET_LITERAL,
                deadline: Instant::now() + Duration::from_secs(60),
            };
            match reader.read_frame(&mut io, budget).await {
                Ok(frame) => frames.push((frame.bytes, frame.skipped_literal)),
                Err(FrameError::Eof) => return (frames, End::Eof),
                Err(FrameError::TooLarge(bound)) => return (frames, End::TooLarge(bound)),
                Err(other) => return (frames, End::Other(format!("{other:?}"))),
            }
        }
    })
}

fn runtime() -> &'static Runtime {
    static RUNTIME: OnceLock<Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .expect("a current-thread runtime starts")
    })
}

/// An in-memory stream whose reads are as large as the caller asks
/// (`pattern` None) or cycle through small sizes chosen by `pattern`.
struct Reads<'a> {
    data: &'a [u8],
    pattern: Option<u8>,
    turn: usize,
}

impl Reads<'_> {
    fn next_size(&mut self) -> usize {
        let Some(pattern) = self.pattern else {
            return usize::MAX;
        };
        self.turn += 1;
        let span = usize::from(pattern % 16) + 1;
        let step = usize::from(pattern / 16) + 1;
        (self.turn * step) % span + 1
    }
}

impl AsyncRead for Reads<'_> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let size = self.next_size().min(buf.remaining()).min(self.data.len());
        let (now, later) = self.data.split_at(size);
        buf.put_slice(now);
        self.data = later;
        Poll::Ready(Ok(()))
    }
}

/// Builds `SELECT <data>` as a caller's mailbox name would be sent, writes
/// it as the server receives it (a literal's bytes follow its `{N}` line),
/// and reads the argument back with the tokenizer.
pub fn imap_command_string(data: &[u8]) {
    let command = Command::new("SELECT").string(data);

    let mut wire = Vec::new();
    for part in command.parts() {
        match part {
            Part::Text(text) => {
                assert!(
                    !text.contains(&b'\r') && !text.contains(&b'\n'),
                    "command text never holds a line break: {text:?}"
                );
                wire.extend_from_slice(text);
            }
            Part::Literal(bytes) => {
                wire.extend_from_slice(format!("{{{}}}\r\n", bytes.len()).as_bytes());
                wire.extend_from_slice(bytes);
            }
        }
    }
    wire.extend_from_slice(b"\r\n");

    let mut cursor = Cursor::new(&wire);
    assert_eq!(
        cursor.atom().ok(),
        Some(&b"SELECT"[..]),
        "the command name comes first"
    );
    match cursor.value() {
        Ok(Value::Str(read)) => assert_eq!(&*read, data, "the argument reads back unchanged"),
        other => panic!("the argument is not one string: {other:?}"),
    }
    assert!(cursor.at_end(), "nothing follows the argument");
}
