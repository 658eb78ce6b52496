//! The MIME structure of one message: header blocks, multipart splitting and
//! IMAP part numbers.
//!
//! It owns the walk from raw bytes to a tree of entities that borrow from
//! the input. It does not decode charsets or render anything, and it does
//! not descend into embedded messages (message/rfc822): a caller parses
//! their decoded bytes with a part-number prefix. Invariants: parsing never
//! fails; every byte of text that is not a header or a boundary line ends up
//! in some entity's body; part numbers follow RFC 3501 section 6.4.5.

use crate::charset::decode_guess;
use crate::header::clean_display_text;
use crate::params::{parse_param_value, ParamValue};
use crate::problem::Problem;
use crate::transfer::{decode_transfer, TransferDecoded, TransferEncoding};

/// How deep multiparts are followed inside one message.
const MAX_MULTIPART_DEPTH: usize = 40;

/// One header field, both halves raw. The value runs from after the colon
/// to the end of its last folded line and still contains the folding.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Header<'a> {
    pub name: &'a [u8],
    pub value: &'a [u8],
}

/// The header fields of an entity in their original order.
#[derive(Debug, Clone, Default)]
pub(crate) struct Headers<'a>(pub Vec<Header<'a>>);

impl<'a> Headers<'a> {
    /// The first field with this name (case-insensitive).
    pub(crate) fn get(&self, name: &str) -> Option<&'a [u8]> {
        self.0
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name.as_bytes()))
            .map(|h| h.value)
    }

    /// Every field with this name, in order.
    pub(crate) fn get_all(&self, name: &str) -> Vec<&'a [u8]> {
        let fields = self
            .0
            .iter()
            .filter(|h| h.name.eq_ignore_ascii_case(name.as_bytes()));
        fields.map(|h| h.value).collect()
    }
}

/// The disposition a part asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DispositionKind {
    Inline,
    Attachment,
    /// The header is missing or names something else.
    Unspecified,
}

/// One MIME entity (a message or a body part).
#[derive(Debug)]
pub(crate) struct Entity<'a> {
    /// IMAP part number ("1.2"); empty for the top of a multipart message.
    pub id: String,
    pub headers: Headers<'a>,
    /// Content-Type; `value` is a lowercase `type/subtype`, defaulted.
    pub content_type: ParamValue,
    pub disposition: Option<ParamValue>,
    pub transfer: TransferEncoding,
    /// The body, still transfer-encoded.
    pub body: &'a [u8],
    pub children: Vec<Entity<'a>>,
    pub problems: Vec<Problem>,
}

impl<'a> Entity<'a> {
    pub(crate) fn mime_type(&self) -> &str {
        &self.content_type.value
    }

    pub(crate) fn is_multipart(&self) -> bool {
        self.mime_type().starts_with("multipart/")
    }

    /// True for message/rfc822 and message/global: a whole message inside.
    pub(crate) fn is_embedded_message(&self) -> bool {
        matches!(self.mime_type(), "message/rfc822" | "message/global")
    }

    pub(crate) fn disposition_kind(&self) -> DispositionKind {
        match self.disposition.as_ref().map(|d| d.value.as_str()) {
            Some("inline") => DispositionKind::Inline,
            Some("attachment") => DispositionKind::Attachment,
            _ => DispositionKind::Unspecified,
        }
    }

    /// The file name the sender gave: Content-Disposition `filename` first,
    /// then Content-Type `name`, without any directory part.
    pub(crate) fn filename(&self) -> Option<String> {
        let from_disposition = self.disposition.as_ref().and_then(|d| d.param("filename"));
        let name = from_disposition.or_else(|| self.content_type.param("name"))?;
        let base = name.rsplit(['/', '\\']).next().unwrap_or("");
        let base = clean_display_text(base);
        (!base.is_empty()).then_some(base)
    }

    /// Content-ID without its angle brackets.
    pub(crate) fn content_id(&self) -> Option<String> {
        let raw = self.headers.get("content-id")?;
        let text = clean_display_text(&decode_guess(raw).text);
        let text = text.trim_start_matches('<').trim_end_matches('>').trim();
        (!text.is_empty()).then(|| text.to_string())
    }

    /// The body with its transfer encoding undone.
    pub(crate) fn decoded_body(&self) -> TransferDecoded {
        decode_transfer(self.body, self.transfer)
    }

    /// This entity and all below it, depth first, in MIME order.
    pub(crate) fn walk(&self) -> Vec<&Entity<'a>> {
        let mut out = Vec::new();
        let mut stack = vec![self];
        while let Some(entity) = stack.pop() {
            out.push(entity);
            stack.extend(entity.children.iter().rev());
        }
        out
    }
}

/// Parse a whole message. `prefix` is the part number of the message/rfc822
/// part that holds it, or empty for the top-level message.
pub(crate) fn parse_message<'a>(raw: &'a [u8], prefix: &str) -> Entity<'a> {
    parse_entity(raw, prefix, true, false, 0)
}

fn join_id(prefix: &str, n: usize) -> String {
    if prefix.is_empty() {
        n.to_string()
    } else {
        format!("{prefix}.{n}")
    }
}

/// Parse one entity. A message root that is not multipart gets the part
/// number `<prefix>.1`; a multipart keeps `prefix` and numbers its children.
fn parse_entity<'a>(
    raw: &'a [u8],
    id: &str,
    is_message_root: bool,
    in_digest: bool,
    depth: usize,
) -> Entity<'a> {
    let (headers, body_start) = split_header_block(raw);
    let body = &raw[body_start..];
    let mut content_type = headers
        .get("content-type")
        .map(parse_param_value)
        .unwrap_or_default();
    if !content_type.value.contains('/') {
        content_type.value = if in_digest {
            "message/rfc822"
        } else {
            "text/plain"
        }
        .to_string();
    }
    let disposition = headers.get("content-disposition").map(parse_param_value);
    let transfer_header = headers
        .get("content-transfer-encoding")
        .map(|v| decode_guess(v).text);

    let mut entity = Entity {
        id: id.to_string(),
        headers,
        content_type,
        disposition,
        transfer: TransferEncoding::from_header(transfer_header.as_deref()),
        body,
        children: Vec::new(),
        problems: Vec::new(),
    };
    if !entity.is_multipart() {
        if is_message_root {
            entity.id = join_id(id, 1);
        }
        return entity;
    }

    if depth >= MAX_MULTIPART_DEPTH {
        entity.problems.push(Problem::NestedTooDeeply {
            part: id.to_string(),
        });
        entity.content_type.value = "text/plain".to_string();
        return entity;
    }

    let boundary = entity
        .content_type
        .param("boundary")
        .unwrap_or("")
        .trim()
        .to_string();
    let mut split = split_multipart(body, boundary.as_bytes());
    if split.parts.is_empty() {
        if let Some(guessed) = guess_boundary(body) {
            split = split_multipart(body, guessed);
            if !split.parts.is_empty() {
                entity.problems.push(Problem::GuessedBoundary {
                    part: id.to_string(),
                });
            }
        }
    }
    if split.parts.is_empty() {
        entity.problems.push(Problem::NoParts {
            part: id.to_string(),
        });
        entity.content_type.value = "text/plain".to_string();
        if is_message_root {
            entity.id = join_id(id, 1);
        }
        return entity;
    }
    if !split.closed {
        entity.problems.push(Problem::MissingCloseBoundary {
            part: id.to_string(),
        });
    }

    let digest = entity.mime_type() == "multipart/digest";
    for (n, part) in split.parts.into_iter().enumerate() {
        let child_id = join_id(id, n + 1);
        entity
            .children
            .push(parse_entity(part, &child_id, false, digest, depth + 1));
    }
    entity
}

/// Split a header block from the body. Returns the fields and the offset of
/// the body. A line that is neither a field nor a continuation ends the
/// header block there, so no body text is lost when the blank line is
/// missing.
pub(crate) fn split_header_block(raw: &[u8]) -> (Headers<'_>, usize) {
    let mut fields: Vec<Header<'_>> = Vec::new();
    let mut pos = 0;

    if raw.starts_with(b"From ") {
        pos = next_line(raw, 0);
    }
    while pos < raw.len() {
        let end = next_line(raw, pos);
        let line = trim_line_end(&raw[pos..end]);
        if line.is_empty() {
            return (Headers(fields), end);
        }

        // A line of only whitespace followed by a line that does not
        // continue it ends the header block, as a blank line would (seen in
        // the corpus spam samples 015 to 017).
        let blank_like = line.iter().all(|&b| b == b' ' || b == b'\t');
        let next_continues = raw.get(end).is_some_and(|&b| b == b' ' || b == b'\t');
        if blank_like && !next_continues {
            return (Headers(fields), end);
        }

        if matches!(line[0], b' ' | b'\t') {
            if let Some(last) = fields.last_mut() {
                let start = last.value.as_ptr() as usize - raw.as_ptr() as usize;
                let value_end = pos + line.len();
                last.value = trim_leading_space(&raw[start..value_end]);
                pos = end;
                continue;
            }
        }
        match field_name_end(line) {
            Some(colon) => {
                let value = trim_leading_space(&raw[pos + colon + 1..pos + line.len()]);
                fields.push(Header {
                    name: trim_trailing_space(&line[..colon]),
                    value,
                });
                pos = end;
            }
            None => return (Headers(fields), pos),
        }
    }
    (Headers(fields), raw.len())
}

/// Offset just past the next `\n` at or after `pos`, or the end.
fn next_line(raw: &[u8], pos: usize) -> usize {
    raw[pos..]
        .iter()
        .position(|&b| b == b'\n')
        .map_or(raw.len(), |i| pos + i + 1)
}

fn trim_line_end(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}

fn trim_leading_space(bytes: &[u8]) -> &[u8] {
    let start = bytes
        .iter()
        .position(|&b| b != b' ' && b != b'\t')
        .unwrap_or(bytes.len());
    &bytes[start..]
}

fn trim_trailing_space(bytes: &[u8]) -> &[u8] {
    let end = bytes
        .iter()
        .rposition(|&b| b != b' ' && b != b'\t')
        .map_or(0, |e| e + 1);
    &bytes[..end]
}

/// The colon offset when the line starts with a field name: printable ASCII
/// without a colon, optionally followed by spaces before the colon.
fn field_name_end(line: &[u8]) -> Option<usize> {
    let colon = line.iter().position(|&b| b == b':')?;
    let name = trim_trailing_space(&line[..colon]);
    let valid = !name.is_empty() && name.iter().all(|&b| (33..=126).contains(&b));
    valid.then_some(colon)
}

/// The bodies between the delimiters of a multipart, and whether the close
/// delimiter was found.
struct MultipartSplit<'a> {
    parts: Vec<&'a [u8]>,
    closed: bool,
}

/// Split a multipart body at lines `--boundary` (RFC 2046 section 5.1.1).
/// The line break before a delimiter belongs to the delimiter. Without a
/// close delimiter the last part runs to the end of the input.
fn split_multipart<'a>(body: &'a [u8], boundary: &[u8]) -> MultipartSplit<'a> {
    let mut parts = Vec::new();
    let mut part_start: Option<usize> = None;
    let mut pos = 0;

    if boundary.is_empty() {
        return MultipartSplit {
            parts,
            closed: false,
        };
    }
    while pos < body.len() {
        let end = next_line(body, pos);
        if let Some(is_close) = delimiter_kind(trim_line_end(&body[pos..end]), boundary) {
            if let Some(start) = part_start {
                parts.push(&body[start..strip_line_break_before(body, start, pos)]);
            }
            if is_close {
                return MultipartSplit {
                    parts,
                    closed: true,
                };
            }
            part_start = Some(end);
        }
        pos = end;
    }

    if let Some(start) = part_start {
        parts.push(&body[start.min(body.len())..]);
    }
    MultipartSplit {
        parts,
        closed: false,
    }
}

/// When the declared boundary is missing or never used, the first line
/// that looks like a delimiter (`--` and a token, among the first lines of
/// the body) names the boundary the sender really used (golden
/// malformed/006; corpus mail-parser/malformed/004 and spam/badmime2.txt).
fn guess_boundary(body: &[u8]) -> Option<&[u8]> {
    let mut pos = 0;
    for _ in 0..20 {
        if pos >= body.len() {
            break;
        }
        let end = next_line(body, pos);
        let line = trim_line_end(&body[pos..end]);
        if let Some(token) = line.strip_prefix(b"--") {
            let token = trim_trailing_space(token);
            let plausible = token.len() >= 2 && !token.iter().any(|b| b.is_ascii_whitespace());
            if plausible && !token.ends_with(b"--") {
                return Some(token);
            }
        }
        pos = end;
    }
    None
}

/// Some(true) for a close delimiter, Some(false) for a part delimiter.
/// Trailing whitespace after the boundary is allowed.
fn delimiter_kind(line: &[u8], boundary: &[u8]) -> Option<bool> {
    let rest = line.strip_prefix(b"--")?.strip_prefix(boundary)?;
    let (is_close, rest) = match rest.strip_prefix(b"--") {
        Some(rest) => (true, rest),
        None => (false, rest),
    };
    rest.iter()
        .all(|b| b.is_ascii_whitespace())
        .then_some(is_close)
}

fn strip_line_break_before(body: &[u8], start: usize, mut end: usize) -> usize {
    if end > start && body[end - 1] == b'\n' {
        end -= 1;
        if end > start && body[end - 1] == b'\r' {
            end -= 1;
        }
    }
    end
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_and_body_split_at_the_blank_line() {
        let raw = b"Subject: hi\r\n there\r\nFrom: a@b\r\n\r\nbody\r\n";
        let (headers, start) = split_header_block(raw);
        assert_eq!(headers.get("subject"), Some(&b"hi\r\n there"[..]));
        assert_eq!(headers.get("FROM"), Some(&b"a@b"[..]));
        assert_eq!(&raw[start..], b"body\r\n");
    }

    #[test]
    fn a_line_that_is_no_header_starts_the_body() {
        let raw = b"Subject: hi\nThis is text without a blank line\n";
        let (headers, start) = split_header_block(raw);
        assert_eq!(headers.0.len(), 1);
        assert_eq!(&raw[start..], b"This is text without a blank line\n");
    }

    #[test]
    fn whitespace_only_line_ends_the_headers() {
        let raw = b"Subject: x\r\n \r\n--b=:1\r\nbody";
        let (headers, start) = split_header_block(raw);
        assert_eq!(headers.0.len(), 1);
        assert_eq!(&raw[start..], b"--b=:1\r\nbody");
    }

    #[test]
    fn mbox_from_line_is_skipped() {
        let raw = b"From a@b Mon Jan 1 00:00:00 2024\nSubject: x\n\nbody";
        let (headers, _) = split_header_block(raw);
        assert_eq!(headers.get("subject"), Some(&b"x"[..]));
    }

    #[test]
    fn single_part_message_is_part_one() {
        let entity = parse_message(b"Subject: x\r\n\r\nbody", "");
        assert_eq!(entity.id, "1");
        assert_eq!(entity.mime_type(), "text/plain");
        let nested = parse_message(b"Subject: x\r\n\r\nbody", "3");
        assert_eq!(nested.id, "3.1");
    }

    #[test]
    fn multipart_children_are_numbered_from_one() {
        let raw = b"Content-Type: multipart/mixed; boundary=b\r\n\r\npre\r\n--b\r\n\r\none\r\n\
            --b\r\nContent-Type: multipart/alternative; boundary=c\r\n\r\n--c\r\n\r\ntwo-a\r\n\
            --c--\r\n--b--\r\nepilogue";
        let entity = parse_message(raw, "");
        let ids: Vec<&str> = entity.walk().iter().map(|e| e.id.as_str()).collect();
        assert_eq!(ids, ["", "1", "2", "2.1"]);
        assert_eq!(entity.children[0].body, b"one");
        assert_eq!(entity.children[1].children[0].body, b"two-a");
        assert!(entity.problems.is_empty());
    }

    #[test]
    fn missing_close_boundary_keeps_the_last_part_and_is_flagged() {
        let raw = b"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\r\none\r\n--b\r\n\
            \r\nlast words";
        let entity = parse_message(raw, "");
        assert_eq!(entity.children.len(), 2);
        assert_eq!(entity.children[1].body, b"last words");
        assert!(matches!(
            entity.problems[0],
            Problem::MissingCloseBoundary { .. }
        ));
    }

    #[test]
    fn boundary_prefix_of_a_longer_line_is_not_a_delimiter() {
        let raw = b"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\r\n--bb is text\r\n\
            --b--\r\n";
        let entity = parse_message(raw, "");
        assert_eq!(entity.children.len(), 1);
        assert_eq!(entity.children[0].body, b"--bb is text");
    }

    #[test]
    fn boundary_missing_from_the_header_is_guessed_from_the_body() {
        let raw = b"Content-Type: multipart/mixed\r\n\r\n--real\r\n\r\none\r\n--real\r\n\r\n\
            two\r\n--real--\r\n";
        let entity = parse_message(raw, "");
        assert_eq!(entity.children.len(), 2);
        assert_eq!(entity.children[1].body, b"two");
        assert!(matches!(
            entity.problems[0],
            Problem::GuessedBoundary { .. }
        ));
    }

    #[test]
    fn multipart_without_delimiters_becomes_text() {
        let raw = b"Content-Type: multipart/mixed; boundary=zz\r\n\r\njust text";
        let entity = parse_message(raw, "");
        assert_eq!(entity.mime_type(), "text/plain");
        assert_eq!(entity.body, b"just text");
        assert_eq!(entity.id, "1");
        assert!(matches!(entity.problems[0], Problem::NoParts { .. }));
    }

    #[test]
    fn digest_parts_default_to_embedded_messages() {
        let raw = b"Content-Type: multipart/digest; boundary=d\r\n\r\n--d\r\n\r\nSubject: in\r\n\
            \r\nx\r\n--d--";
        let entity = parse_message(raw, "");
        assert!(entity.children[0].is_embedded_message());
    }

    #[test]
    fn filename_prefers_disposition_and_drops_directories() {
        let raw = b"Content-Type: text/plain; name=a.txt\r\nContent-Disposition: attachment; \
            filename=\"C:\\dir\\b.txt\"\r\n\r\nx";
        assert_eq!(parse_message(raw, "").filename().as_deref(), Some("b.txt"));
    }

    #[test]
    fn deep_nesting_stops_without_overflowing() {
        let mut raw = Vec::new();
        for _ in 0..200 {
            raw.extend_from_slice(b"Content-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\n");
        }
        raw.extend_from_slice(b"\r\ntext");
        let entity = parse_message(&raw, "");
        assert!(entity.walk().iter().any(|e| !e.problems.is_empty()));
    }
}
