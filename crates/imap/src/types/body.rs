//! The MIME structure of a message from BODYSTRUCTURE (RFC 3501 section
//! 7.4.2), as far as a message list needs it.
//!
//! This module does not parse MIME itself; it only describes what the server
//! reported. Media types and parameter names are lowercased; parameter values
//! stay raw bytes. A message/rfc822 part keeps its inner structure.

/// One node of a body structure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BodyStructure {
    /// A leaf part (text, image, application, message/rfc822, ...).
    Single(BodyPart),
    /// A multipart container.
    Multipart(Multipart),
}

/// A leaf part.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BodyPart {
    /// The media type, lowercased, e.g. `text`.
    pub media_type: String,
    /// The subtype, lowercased, e.g. `plain`.
    pub subtype: String,
    /// Content-Type parameters, names lowercased.
    pub params: Vec<(String, Vec<u8>)>,
    /// Content-ID.
    pub id: Option<Vec<u8>>,
    /// Content-Description.
    pub description: Option<Vec<u8>>,
    /// Content-Transfer-Encoding, lowercased.
    pub encoding: Option<String>,
    /// Size of the encoded body in bytes.
    pub size: Option<u32>,
    /// Line count, for text and message/rfc822 parts.
    pub lines: Option<u32>,
    /// Content-Disposition, when the server sent extension data.
    pub disposition: Option<Disposition>,
    /// For message/rfc822: the inner message's structure.
    pub message: Option<Box<BodyStructure>>,
}

/// A multipart container.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Multipart {
    /// The subtype, lowercased, e.g. `mixed` or `alternative`.
    pub subtype: String,
    /// The child parts.
    pub parts: Vec<BodyStructure>,
    /// Content-Type parameters, when the server sent extension data.
    pub params: Vec<(String, Vec<u8>)>,
    /// Content-Disposition, when the server sent extension data.
    pub disposition: Option<Disposition>,
}

/// A Content-Disposition.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Disposition {
    /// The kind, lowercased, e.g. `attachment` or `inline`.
    pub kind: String,
    /// Its parameters, names lowercased.
    pub params: Vec<(String, Vec<u8>)>,
}

fn has_param(params: &[(String, Vec<u8>)], names: &[&str]) -> bool {
    params.iter().any(|(name, _)| {
        names
            .iter()
            .any(|n| name == n || name.starts_with(&format!("{n}*")))
    })
}

impl BodyPart {
    /// True when the part names a file: `filename` in the disposition or
    /// `name` in the content type (RFC 2231 forms included).
    pub fn has_file_name(&self) -> bool {
        let in_disposition = self
            .disposition
            .as_ref()
            .is_some_and(|d| has_param(&d.params, &["filename"]));
        in_disposition || has_param(&self.params, &["name"])
    }
}

impl BodyStructure {
    /// True when some part looks like an attachment: its disposition is
    /// `attachment`, it names a file, or it is a non-text leaf outside a
    /// multipart/alternative or multipart/related container. The inside of an
    /// attached message is not searched.
    pub fn has_attachments(&self) -> bool {
        self.any_attachment(false)
    }

    fn any_attachment(&self, in_alternative: bool) -> bool {
        match self {
            BodyStructure::Multipart(multi) => {
                let inner =
                    in_alternative || multi.subtype == "alternative" || multi.subtype == "related";
                multi.parts.iter().any(|part| part.any_attachment(inner))
            }
            BodyStructure::Single(part) => {
                let attached = part
                    .disposition
                    .as_ref()
                    .is_some_and(|d| d.kind == "attachment");
                attached || part.has_file_name() || (part.media_type != "text" && !in_alternative)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leaf(media_type: &str, subtype: &str) -> BodyStructure {
        BodyStructure::Single(BodyPart {
            media_type: media_type.into(),
            subtype: subtype.into(),
            ..BodyPart::default()
        })
    }

    fn multi(subtype: &str, parts: Vec<BodyStructure>) -> BodyStructure {
        BodyStructure::Multipart(Multipart {
            subtype: subtype.into(),
            parts,
            ..Multipart::default()
        })
    }

    #[test]
    fn plain_and_alternative_messages_have_no_attachments() {
        assert!(!leaf("text", "plain").has_attachments());
        assert!(!multi(
            "alternative",
            vec![leaf("text", "plain"), leaf("text", "html")]
        )
        .has_attachments());
        assert!(
            !multi("related", vec![leaf("text", "html"), leaf("image", "png")]).has_attachments()
        );
    }

    #[test]
    fn non_text_leaves_and_named_parts_are_attachments() {
        assert!(multi(
            "mixed",
            vec![leaf("text", "plain"), leaf("application", "pdf")]
        )
        .has_attachments());
        assert!(multi(
            "mixed",
            vec![leaf("text", "plain"), leaf("message", "rfc822")]
        )
        .has_attachments());

        let mut named = BodyPart {
            media_type: "text".into(),
            subtype: "csv".into(),
            ..BodyPart::default()
        };
        named
            .params
            .push(("name*".into(), b"utf-8''a.csv".to_vec()));
        assert!(multi("mixed", vec![BodyStructure::Single(named)]).has_attachments());
    }

    #[test]
    fn attachment_disposition_counts_even_on_text() {
        let part = BodyPart {
            media_type: "text".into(),
            subtype: "plain".into(),
            disposition: Some(Disposition {
                kind: "attachment".into(),
                params: vec![],
            }),
            ..BodyPart::default()
        };

        assert!(BodyStructure::Single(part).has_attachments());
    }
}
