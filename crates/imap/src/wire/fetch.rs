//! The data items of a FETCH response (RFC 3501 section 7.4.2): UID, FLAGS,
//! INTERNALDATE, RFC822.SIZE, ENVELOPE, BODYSTRUCTURE, `BODY[]`,
//! `BODY[HEADER.FIELDS (...)]` and MODSEQ.
//!
//! Interpretation is tolerant: items may come in any order, unknown items are
//! ignored, an item with an unexpected shape is left empty rather than
//! failing the response, and an address list may be NIL or `()`. Group
//! syntax becomes the `group` field of the members.

use chrono::{DateTime, FixedOffset};

use super::value::Value;
use crate::types::{Address, BodyPart, BodyStructure, Disposition, Envelope, Multipart};

/// What one FETCH response carried.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct FetchData {
    /// The message sequence number.
    pub seq: u32,
    pub uid: Option<u32>,
    pub flags: Option<Vec<String>>,
    pub internal_date: Option<DateTime<FixedOffset>>,
    pub size: Option<u32>,
    pub envelope: Option<Envelope>,
    pub body_structure: Option<BodyStructure>,
    /// The whole message (`BODY[]`, `BODY[]<0>` or `RFC822`); the inner
    /// `None` is a NIL body.
    pub body: Option<Option<Vec<u8>>>,
    /// The header block of a `BODY[HEADER.FIELDS (...)]` item; NIL gives an
    /// empty block.
    pub header_fields: Option<Vec<u8>>,
    pub modseq: Option<u64>,
}

impl FetchData {
    /// Reads the items of `* <seq> FETCH (<items>)`.
    pub fn from_items(seq: u32, items: &[Value<'_>]) -> Self {
        let mut data = FetchData {
            seq,
            ..FetchData::default()
        };
        for pair in items.chunks(2) {
            let [name, value] = pair else { break };
            let Some(name) = name.bytes() else { continue };
            let name = name.to_ascii_uppercase();
            match name.as_slice() {
                b"UID" => data.uid = value.number(),
                b"FLAGS" => data.flags = Some(flag_list(value)),
                b"INTERNALDATE" => data.internal_date = value.bytes().and_then(parse_internal_date),
                b"RFC822.SIZE" => data.size = value.number(),
                b"ENVELOPE" => data.envelope = Some(envelope(value)),
                b"BODYSTRUCTURE" | b"BODY" => data.body_structure = body_structure(value),
                b"MODSEQ" => data.modseq = value.items().first().and_then(Value::number),
                b"RFC822" => data.body = Some(value.bytes().map(<[u8]>::to_vec)),
                _ if name.starts_with(b"BODY[]") => {
                    data.body = Some(value.bytes().map(<[u8]>::to_vec))
                }
                _ if name.starts_with(b"BODY[HEADER.FIELDS (") => {
                    data.header_fields = Some(value.bytes().unwrap_or_default().to_vec())
                }
                _ => {}
            }
        }
        data
    }

    /// Takes over every item `later` carries (a server may split one
    /// message's data over several responses).
    pub fn merge(&mut self, later: FetchData) {
        self.uid = later.uid.or(self.uid);
        self.flags = later.flags.or(self.flags.take());
        self.internal_date = later.internal_date.or(self.internal_date);
        self.size = later.size.or(self.size);
        self.envelope = later.envelope.or(self.envelope.take());
        self.body_structure = later.body_structure.or(self.body_structure.take());
        self.body = later.body.or(self.body.take());
        self.header_fields = later.header_fields.or(self.header_fields.take());
        self.modseq = later.modseq.or(self.modseq);
    }
}

/// Reads a flag list; atoms and strings both count.
pub(crate) fn flag_list(value: &Value<'_>) -> Vec<String> {
    value.items().iter().filter_map(Value::text).collect()
}

/// Parses `03-Jun-2024 08:15:02 +0000` (the day may be space padded).
pub(crate) fn parse_internal_date(raw: &[u8]) -> Option<DateTime<FixedOffset>> {
    let text = std::str::from_utf8(raw).ok()?.trim();
    DateTime::parse_from_str(text, "%d-%b-%Y %H:%M:%S %z").ok()
}

/// Reads an ENVELOPE; missing or odd fields stay empty.
pub(crate) fn envelope(value: &Value<'_>) -> Envelope {
    let items = value.items();
    let field = |i: usize| items.get(i).and_then(Value::nstring);
    let list = |i: usize| items.get(i).map(address_list).unwrap_or_default();

    Envelope {
        date: field(0),
        subject: field(1),
        from: list(2),
        sender: list(3),
        reply_to: list(4),
        to: list(5),
        cc: list(6),
        bcc: list(7),
        in_reply_to: field(8),
        message_id: field(9),
    }
}

/// Reads an address list. A group start (host NIL, mailbox = group name)
/// and end (host and mailbox NIL) produce no address of their own.
fn address_list(value: &Value<'_>) -> Vec<Address> {
    let mut out = Vec::new();
    let mut group: Option<Vec<u8>> = None;
    for item in value.items() {
        let fields = item.items();
        if fields.is_empty() {
            continue;
        }
        let field = |i: usize| fields.get(i).and_then(Value::nstring);
        let (mailbox, host) = (field(2), field(3));

        match (&mailbox, &host) {
            (Some(name), None) => group = Some(name.clone()),
            (None, None) => group = None,
            _ => out.push(Address {
                name: field(0),
                route: field(1),
                mailbox,
                host,
                group: group.clone(),
            }),
        }
    }
    out
}

/// Reads a BODYSTRUCTURE (or the non-extensible BODY form).
pub(crate) fn body_structure(value: &Value<'_>) -> Option<BodyStructure> {
    let items = value.items();
    match items.first()? {
        Value::List(_) => Some(BodyStructure::Multipart(multipart(items))),
        _ => Some(BodyStructure::Single(single_part(items)?)),
    }
}

fn multipart(items: &[Value<'_>]) -> Multipart {
    let children = items
        .iter()
        .take_while(|v| matches!(v, Value::List(_)))
        .count();
    let parts = items[..children]
        .iter()
        .filter_map(body_structure)
        .collect();
    let rest = &items[children..];

    Multipart {
        subtype: rest
            .first()
            .and_then(lower_text)
            .unwrap_or_else(|| "mixed".into()),
        parts,
        params: rest.get(1).map(params).unwrap_or_default(),
        disposition: rest.get(2).and_then(disposition),
    }
}

fn single_part(items: &[Value<'_>]) -> Option<BodyPart> {
    let media_type = items.first().and_then(lower_text)?;
    let subtype = items.get(1).and_then(lower_text).unwrap_or_default();
    let mut part = BodyPart {
        params: items.get(2).map(params).unwrap_or_default(),
        id: items.get(3).and_then(Value::nstring),
        description: items.get(4).and_then(Value::nstring),
        encoding: items.get(5).and_then(lower_text),
        size: items.get(6).and_then(Value::number),
        ..BodyPart::default()
    };

    let is_message = media_type == "message" && (subtype == "rfc822" || subtype == "global");
    let extension_start = if is_message && matches!(items.get(8), Some(Value::List(_))) {
        part.message = items.get(8).and_then(body_structure).map(Box::new);
        part.lines = items.get(9).and_then(Value::number);
        10
    } else if media_type == "text" {
        part.lines = items.get(7).and_then(Value::number);
        8
    } else {
        7
    };

    // Extension data: MD5, then the disposition.
    part.disposition = items.get(extension_start + 1).and_then(disposition);
    part.media_type = media_type;
    part.subtype = subtype;
    Some(part)
}

fn lower_text(value: &Value<'_>) -> Option<String> {
    value
        .bytes()
        .map(|b| String::from_utf8_lossy(b).to_ascii_lowercase())
}

fn params(value: &Value<'_>) -> Vec<(String, Vec<u8>)> {
    value
        .items()
        .chunks(2)
        .filter_map(|pair| match pair {
            [name, value] => Some((
                lower_text(name)?,
                value.bytes().unwrap_or_default().to_vec(),
            )),
            _ => None,
        })
        .collect()
}

/// Reads `("attachment" ("filename" "a.pdf"))`; a bare string is taken as
/// the kind alone.
fn disposition(value: &Value<'_>) -> Option<Disposition> {
    match value {
        Value::List(items) => Some(Disposition {
            kind: items.first().and_then(lower_text)?,
            params: items.get(1).map(params).unwrap_or_default(),
        }),
        Value::Str(_) | Value::Atom(_) => Some(Disposition {
            kind: lower_text(value)?,
            params: vec![],
        }),
        Value::Nil => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::value::Cursor;

    fn fetch(input: &[u8]) -> FetchData {
        let value = Cursor::new(input).value().unwrap();
        FetchData::from_items(1, value.items())
    }

    #[test]
    fn internal_dates_with_padded_days_parse() {
        let date = parse_internal_date(b" 3-Jun-2024 08:15:02 +0200").unwrap();

        assert_eq!(date.to_rfc3339(), "2024-06-03T08:15:02+02:00");
        assert!(parse_internal_date(b"03-jun-2024 08:15:02 -0700").is_some());
        assert!(parse_internal_date(b"yesterday").is_none());
    }

    #[test]
    fn groups_fold_into_their_members() {
        let data = fetch(
            b"(ENVELOPE (NIL NIL NIL NIL NIL ((NIL NIL \"team\" NIL)(\"A\" NIL \"a\" \"x.org\")\
              (NIL NIL NIL NIL)(\"B\" NIL \"b\" \"y.org\")) NIL NIL NIL NIL))",
        );
        let to = data.envelope.unwrap().to;

        assert_eq!(to.len(), 2);
        assert_eq!(to[0].group.as_deref(), Some(&b"team"[..]));
        assert_eq!(to[0].email().as_deref(), Some(&b"a@x.org"[..]));
        assert_eq!(to[1].group, None);
    }

    #[test]
    fn a_short_envelope_fills_what_it_has() {
        let data = fetch(b"(UID 5 ENVELOPE (\"Mon, 1 Jan 2024\" \"Hi\"))");
        let envelope = data.envelope.unwrap();

        assert_eq!(data.uid, Some(5));
        assert_eq!(envelope.subject.as_deref(), Some(&b"Hi"[..]));
        assert!(envelope.from.is_empty() && envelope.message_id.is_none());
    }

    #[test]
    fn body_structures_of_common_shapes_are_read() {
        let data = fetch(
            b"(BODYSTRUCTURE ((\"text\" \"plain\" (\"charset\" \"utf-8\") NIL NIL \"7bit\" 10 1 \
              NIL NIL NIL) (\"APPLICATION\" \"PDF\" (\"NAME\" \"a.pdf\") NIL NIL \"BASE64\" 400 \
              NIL (\"attachment\" (\"filename\" \"a.pdf\")) NIL) \"mixed\" (\"boundary\" \"x\") \
              NIL NIL))",
        );
        let Some(BodyStructure::Multipart(multi)) = data.body_structure else {
            panic!("multipart")
        };
        let BodyStructure::Single(pdf) = &multi.parts[1] else {
            panic!("single")
        };

        assert_eq!(multi.subtype, "mixed");
        assert_eq!(pdf.media_type, "application");
        assert_eq!(pdf.params, vec![("name".to_string(), b"a.pdf".to_vec())]);
        assert_eq!(pdf.disposition.as_ref().unwrap().kind, "attachment");
        assert_eq!(pdf.encoding.as_deref(), Some("base64"));
    }

    #[test]
    fn an_attached_message_keeps_its_inner_structure() {
        let data = fetch(
            b"(BODYSTRUCTURE (\"message\" \"rfc822\" NIL NIL NIL \"7bit\" 300 \
              (NIL \"Inner\" NIL NIL NIL NIL NIL NIL NIL NIL) \
              (\"text\" \"plain\" NIL NIL NIL \"7bit\" 20 2) 12 NIL (\"inline\" NIL) NIL))",
        );
        let Some(BodyStructure::Single(part)) = data.body_structure else {
            panic!("single")
        };

        assert_eq!(part.lines, Some(12));
        let inner = part.message.as_deref();
        assert!(matches!(inner, Some(BodyStructure::Single(p)) if p.subtype == "plain"));
        assert_eq!(part.disposition.unwrap().kind, "inline");
    }

    #[test]
    fn whole_body_items_are_taken_and_other_sections_ignored() {
        let data = fetch(b"(BODY[HEADER] {2}\r\nhi BODY[]<0> \"whole\")");

        assert_eq!(data.body, Some(Some(b"whole".to_vec())));
        assert_eq!(data.header_fields, None);
    }

    #[test]
    fn header_fields_items_are_taken_but_not_their_negation() {
        let data =
            fetch(b"(UID 4 BODY[HEADER.FIELDS (DATE FROM SUBJECT)] {14}\r\nSubject: x\r\n\r\n)");
        assert_eq!(
            data.header_fields.as_deref(),
            Some(&b"Subject: x\r\n\r\n"[..])
        );

        let nil = fetch(b"(body[header.fields (subject)] NIL)");
        assert_eq!(nil.header_fields, Some(Vec::new()));
        let negated = fetch(b"(BODY[HEADER.FIELDS.NOT (SUBJECT)] \"Date: x\")");
        assert_eq!(negated.header_fields, None);
    }
}
