//! The header block that a `BODY[HEADER.FIELDS (...)]` item carries (RFC 3501
//! section 6.4.5), read as RFC 5322 section 2.2 writes header fields.
//!
//! It only splits the block into fields and unfolds them; values are never
//! decoded (no RFC 2047 words, no charset). It is tolerant: line ends may be
//! CRLF or a bare LF, a continuation line with no field before it and a line
//! without a colon are skipped, and the block may lack its final blank line.
//! Field names compare without case. The first field of a name wins, since
//! RFC 5256 sorts by the first one and later copies are usually added by
//! relays.

/// The value of the first field called `name` (any case): the bytes after
/// the colon with every line break that starts a continuation removed, and
/// the whitespace at both ends trimmed. `None` when no field has that name.
pub(crate) fn field_value(block: &[u8], name: &str) -> Option<Vec<u8>> {
    let mut value: Option<Vec<u8>> = None;

    for line in block.split(|&b| b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            break;
        }
        if matches!(line[0], b' ' | b'\t') {
            if let Some(value) = value.as_mut() {
                value.extend_from_slice(line);
            }
            continue;
        }
        if value.is_some() {
            break;
        }

        let Some(colon) = line.iter().position(|&b| b == b':') else {
            continue;
        };
        let field_name = line[..colon].trim_ascii_end();
        if field_name.eq_ignore_ascii_case(name.as_bytes()) {
            value = Some(line[colon + 1..].to_vec());
        }
    }
    value.map(|v| v.trim_ascii().to_vec())
}

#[cfg(test)]
mod tests {
    use super::field_value;

    #[test]
    fn folded_fields_are_unfolded_and_names_match_in_any_case() {
        let block = b"Subject: a long\r\n\tsubject line\r\nFROM:  <a@x.org> \r\n\r\n";

        assert_eq!(
            field_value(block, "subject").as_deref(),
            Some(&b"a long\tsubject line"[..])
        );
        assert_eq!(
            field_value(block, "From").as_deref(),
            Some(&b"<a@x.org>"[..])
        );
        assert_eq!(field_value(block, "Date"), None);
    }

    #[test]
    fn the_first_of_two_fields_wins() {
        let block = b"Date: Mon, 1 Jan 2024 10:00:00 +0000\nDate: later\n";

        assert_eq!(
            field_value(block, "date").as_deref(),
            Some(&b"Mon, 1 Jan 2024 10:00:00 +0000"[..])
        );
    }

    #[test]
    fn stray_lines_and_empty_values_are_tolerated() {
        let block = b" orphan continuation\r\nno colon here\r\nSubject:\r\nFrom : b@y\r\n";

        assert_eq!(field_value(block, "subject").as_deref(), Some(&b""[..]));
        assert_eq!(field_value(block, "from").as_deref(), Some(&b"b@y"[..]));
        assert_eq!(field_value(b"", "from"), None);
        assert_eq!(field_value(b"\r\nFrom: after the end\r\n", "from"), None);
    }
}
