//! Framing: cutting the byte stream into whole responses (RFC 3501 section
//! 2.2.2), before any parsing.
//!
//! A frame is one response line plus every `{N}` or `{N+}` literal it
//! announces, with the lines that continue after each literal. This module
//! owns the read buffer and its bounds and never interprets a response. It
//! never allocates more than the configured limits: a frame whose line bytes
//! or literal bytes exceed them is an error, and the stream cannot be used
//! afterwards. A literal above the caller's smaller budget is read and
//! thrown away instead, which keeps the stream in sync.
//!
//! Line ends are normalised to CRLF in the frame, so a parser can rely on
//! `{N}\r\n` before each literal.

use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::time::{timeout_at, Instant};

/// Size bounds for what the server may send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Bytes outside literals in one response (default 1 MiB).
    pub max_line: usize,
    /// Bytes outside literals in one response to SEARCH or SORT, which list
    /// UIDs on one line (default 16 MiB, about two million UIDs).
    pub max_result_line: usize,
    /// Literal bytes in one response, e.g. a message body (default 64 MiB).
    pub max_literal: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_line: 1 << 20,
            max_result_line: 16 << 20,
            max_literal: 64 << 20,
        }
    }
}

/// One whole response as read from the wire.
#[derive(Debug, Default)]
pub(crate) struct Frame {
    /// The response bytes, each line ending in CRLF.
    pub bytes: Vec<u8>,
    /// The announced size of a literal that exceeded the budget and was
    /// discarded (the frame holds `{0}` in its place).
    pub skipped_literal: Option<u64>,
}

/// Why a frame could not be read.
#[derive(Debug)]
pub(crate) enum FrameError {
    /// The peer closed the stream.
    Eof,
    /// The deadline passed.
    TimedOut,
    /// A bound was exceeded; the value is the bound.
    TooLarge(usize),
    /// The operating system reported an error.
    Io(std::io::Error),
}

/// The bounds a single read works under.
#[derive(Debug, Clone, Copy)]
pub(crate) struct FrameBudget {
    /// Maximum bytes outside literals.
    pub line: usize,
    /// Literals above this size are discarded rather than kept.
    pub keep_literal: usize,
    /// Maximum literal bytes in total, kept or discarded.
    pub literal: usize,
    /// When the read must be done.
    pub deadline: Instant,
}

const READ_CHUNK: usize = 16 * 1024;

/// The read side of a connection: a buffer and the framing logic.
#[derive(Debug, Default)]
pub(crate) struct FrameReader {
    buf: Vec<u8>,
    start: usize,
}

impl FrameReader {
    /// True when bytes were received that no frame has consumed yet.
    pub fn has_buffered(&self) -> bool {
        self.start < self.buf.len()
    }

    /// Reads the next whole response.
    pub async fn read_frame<R>(
        &mut self,
        io: &mut R,
        budget: FrameBudget,
    ) -> Result<Frame, FrameError>
    where
        R: AsyncRead + Unpin,
    {
        let mut frame = Frame::default();
        let mut line_total = 0usize;
        let mut literal_total = 0usize;

        loop {
            let room = budget.line.saturating_sub(line_total);
            let len = self.next_line_len(io, room, budget).await?;
            line_total += len;

            let raw = &self.buf[self.start..self.start + len];
            let content = raw.strip_suffix(b"\n").unwrap_or(raw);
            let content = content.strip_suffix(b"\r").unwrap_or(content);
            let announced = literal_announcement(content);
            let content_len = content.len();
            frame.bytes.extend_from_slice(content);
            frame.bytes.extend_from_slice(b"\r\n");
            self.start += len;

            let Some((size, brace)) = announced else {
                self.compact();
                return Ok(frame);
            };

            let size_usize = usize::try_from(size).unwrap_or(usize::MAX);
            if size_usize > budget.literal.saturating_sub(literal_total) {
                return Err(FrameError::TooLarge(budget.literal));
            }
            literal_total += size_usize;

            if size_usize > budget.keep_literal {
                let cut = frame.bytes.len() - 2 - (content_len - brace);
                frame.bytes.truncate(cut);
                frame.bytes.extend_from_slice(b"{0}\r\n");
                frame.skipped_literal = Some(size);
                self.copy_literal(io, size_usize, None, budget.deadline)
                    .await?;
            } else {
                self.copy_literal(io, size_usize, Some(&mut frame.bytes), budget.deadline)
                    .await?;
            }
        }
    }

    /// Returns the length of the next line including its LF, reading more
    /// as needed but never buffering more than `room` bytes of it.
    async fn next_line_len<R>(
        &mut self,
        io: &mut R,
        room: usize,
        budget: FrameBudget,
    ) -> Result<usize, FrameError>
    where
        R: AsyncRead + Unpin,
    {
        let mut scanned = 0;
        loop {
            let pending = &self.buf[self.start..];
            if let Some(pos) = pending[scanned..].iter().position(|&b| b == b'\n') {
                let len = scanned + pos + 1;
                if len > room {
                    return Err(FrameError::TooLarge(budget.line));
                }
                return Ok(len);
            }
            scanned = pending.len();
            if scanned > room {
                return Err(FrameError::TooLarge(budget.line));
            }

            self.fill(io, budget.deadline).await?;
        }
    }

    async fn fill<R>(&mut self, io: &mut R, deadline: Instant) -> Result<(), FrameError>
    where
        R: AsyncRead + Unpin,
    {
        if self.start > 0 && self.start * 2 >= self.buf.len() {
            self.compact();
        }

        let old_len = self.buf.len();
        self.buf.resize(old_len + READ_CHUNK, 0);
        let read = timeout_at(deadline, io.read(&mut self.buf[old_len..])).await;
        let n = match read {
            Err(_) => Err(FrameError::TimedOut),
            Ok(Err(e)) => Err(FrameError::Io(e)),
            Ok(Ok(0)) => Err(FrameError::Eof),
            Ok(Ok(n)) => Ok(n),
        };
        self.buf
            .truncate(old_len + n.as_ref().copied().unwrap_or(0));
        n.map(|_| ())
    }

    /// Moves `size` literal bytes into `out`, or drops them when `out` is
    /// `None`.
    async fn copy_literal<R>(
        &mut self,
        io: &mut R,
        size: usize,
        mut out: Option<&mut Vec<u8>>,
        deadline: Instant,
    ) -> Result<(), FrameError>
    where
        R: AsyncRead + Unpin,
    {
        let mut left = size;
        while left > 0 {
            if !self.has_buffered() {
                self.compact();
                self.fill(io, deadline).await?;
            }

            let take = left.min(self.buf.len() - self.start);
            if let Some(out) = out.as_deref_mut() {
                out.extend_from_slice(&self.buf[self.start..self.start + take]);
            }
            self.start += take;
            left -= take;
        }
        Ok(())
    }

    fn compact(&mut self) {
        if self.start == self.buf.len() {
            self.buf.clear();
        } else {
            self.buf.drain(..self.start);
        }
        self.start = 0;
    }
}

/// When `line` ends in `{N}` or `{N+}`, returns N and the index of `{`.
pub(crate) fn literal_announcement(line: &[u8]) -> Option<(u64, usize)> {
    let body = line.strip_suffix(b"}")?;
    let body = body.strip_suffix(b"+").unwrap_or(body);
    let digits = body.iter().rev().take_while(|b| b.is_ascii_digit()).count();
    let brace = body.len().checked_sub(digits + 1)?;
    if digits == 0 || digits > 19 || body[brace] != b'{' {
        return None;
    }

    let text = std::str::from_utf8(&body[brace + 1..]).ok()?;
    Some((text.parse().ok()?, brace))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn budget(line: usize, keep: usize, literal: usize) -> FrameBudget {
        FrameBudget {
            line,
            keep_literal: keep,
            literal,
            deadline: Instant::now() + Duration::from_secs(5),
        }
    }

    async fn frames(input: &[u8], b: FrameBudget) -> Vec<Result<Frame, FrameError>> {
        let mut reader = FrameReader::default();
        let mut io = input;
        let mut out = Vec::new();
        loop {
            let next = reader.read_frame(&mut io, b).await;
            let stop = next.is_err();
            out.push(next);
            if stop {
                return out;
            }
        }
    }

    #[test]
    fn literal_announcements_are_found_only_at_the_line_end() {
        assert_eq!(
            literal_announcement(b"* 1 FETCH (BODY[] {37}"),
            Some((37, 18))
        );
        assert_eq!(literal_announcement(b"a LOGIN {5+}"), Some((5, 8)));
        assert_eq!(literal_announcement(b"{0}"), Some((0, 0)));
        assert_eq!(literal_announcement(b"* OK {}"), None);
        assert_eq!(literal_announcement(b"* OK {x1}"), None);
        assert_eq!(literal_announcement(b"* OK 12}"), None);
        assert_eq!(literal_announcement(b"* OK {99999999999999999999}"), None);
    }

    #[tokio::test]
    async fn literals_stay_in_the_frame_of_their_line() {
        let input = b"* 1 FETCH (BODY[] {7}\r\nab\r\n)\r\n) X\r\n* OK\nA1 OK done\r\n";
        let got = frames(input, budget(100, 100, 100)).await;

        assert_eq!(
            got[0].as_ref().unwrap().bytes,
            b"* 1 FETCH (BODY[] {7}\r\nab\r\n)\r\n) X\r\n"
        );
        assert_eq!(got[1].as_ref().unwrap().bytes, b"* OK\r\n");
        assert_eq!(got[2].as_ref().unwrap().bytes, b"A1 OK done\r\n");
        assert!(matches!(got[3], Err(FrameError::Eof)));
    }

    #[tokio::test]
    async fn a_long_line_is_refused_without_buffering_it_all() {
        let mut input = b"* OK ".to_vec();
        input.extend(std::iter::repeat_n(b'x', 100_000));
        input.extend_from_slice(b"\r\n");
        let got = frames(&input, budget(1000, 100, 100)).await;

        assert!(matches!(got[0], Err(FrameError::TooLarge(1000))));
    }

    #[tokio::test]
    async fn a_literal_above_the_limit_is_refused_before_reading_it() {
        let got = frames(b"* 1 FETCH (BODY[] {999999999}\r\n", budget(100, 10, 1000)).await;

        assert!(matches!(got[0], Err(FrameError::TooLarge(1000))));
    }

    #[tokio::test]
    async fn a_literal_above_the_budget_is_skipped_and_the_stream_stays_in_sync() {
        let input = b"* 1 FETCH (UID 4 BODY[] {12}\r\n0123456789\r\n)\r\nA1 OK\r\n";
        let got = frames(input, budget(100, 5, 100)).await;

        let first = got[0].as_ref().unwrap();
        assert_eq!(first.bytes, b"* 1 FETCH (UID 4 BODY[] {0}\r\n)\r\n");
        assert_eq!(first.skipped_literal, Some(12));
        assert_eq!(got[1].as_ref().unwrap().bytes, b"A1 OK\r\n");
    }

    #[tokio::test]
    async fn end_of_stream_inside_a_literal_is_reported() {
        let got = frames(b"* 1 FETCH (BODY[] {50}\r\nshort", budget(100, 100, 100)).await;

        assert!(matches!(got[0], Err(FrameError::Eof)));
    }

    #[tokio::test]
    async fn random_input_never_panics_the_framer() {
        let alphabet = b"{}+0123456789\r\n *()\"\\A";
        let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
        for _ in 0..2000 {
            let mut input = Vec::new();
            for _ in 0..(state % 200) {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                input.push(alphabet[(state % alphabet.len() as u64) as usize]);
            }
            let got = frames(&input, budget(64, 16, 64)).await;
            assert!(got.last().unwrap().is_err());
        }
    }
}
