//! Faults found while reading a message, kept beside the rendered view.
//!
//! It owns the wording users see for damaged messages. A problem never stops
//! rendering: the part it names is still shown as far as it could be read.

use thiserror::Error;

/// Something wrong with one part of a message. Display text has the form
/// `<what failed>; <what the reader gets instead>`. A `part` is an IMAP part
/// number; empty means the body of the top-level message.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum Problem {
    /// A multipart body has no closing delimiter: the sender or a relay cut
    /// the message short.
    #[error(
        "the message ends before its last MIME boundary{}; what arrived is shown",
        within(.part)
    )]
    MissingCloseBoundary { part: String },

    /// A multipart body contains no delimiter at all.
    #[error("{} has no MIME parts; its raw text is shown instead", place(.part))]
    NoParts { part: String },

    /// The boundary parameter is missing or never used, but the body has
    /// delimiter lines of another boundary.
    #[error(
        "{} has no usable MIME boundary parameter; its parts were found by the delimiter lines",
        place(.part)
    )]
    GuessedBoundary { part: String },

    /// Base64 with stray bytes or cut inside a byte.
    #[error("{} has damaged base64; the bytes that could be decoded are shown", place(.part))]
    DamagedBase64 { part: String },

    /// Bytes that are not valid in the declared charset.
    #[error("{} is not valid {charset}; unreadable bytes are shown as \u{FFFD}", place(.part))]
    InvalidCharset { part: String, charset: String },

    /// Text declared as UTF-8 that is not, read as windows-1252 instead
    /// (what such text almost always is).
    #[error("{} is not valid {charset}; it is shown as windows-1252", place(.part))]
    ReadAsWindows1252 { part: String, charset: String },

    /// HTML nested so deeply that parsing it would stall rendering.
    #[error("{} nests its HTML too deeply to display; its text is shown instead", place(.part))]
    HtmlTooDeep { part: String },

    /// Nesting beyond what the renderer follows.
    #[error("{} is nested too deeply; it is shown as raw text", place(.part))]
    NestedTooDeeply { part: String },
}

/// "part 1.2", or "the message body" for the top-level body.
fn place(part: &str) -> String {
    if part.is_empty() {
        "the message body".to_string()
    } else {
        format!("part {part}")
    }
}

/// " (in part 1.2)", or nothing for the top-level body.
fn within(part: &str) -> String {
    if part.is_empty() {
        String::new()
    } else {
        format!(" (in part {part})")
    }
}

#[cfg(test)]
mod tests {
    use super::Problem;

    #[test]
    fn problem_text_names_the_part_and_what_is_shown() {
        let text = Problem::MissingCloseBoundary { part: "2".into() }.to_string();
        assert_eq!(
            text,
            "the message ends before its last MIME boundary (in part 2); what arrived is shown"
        );
        let text = Problem::NoParts {
            part: String::new(),
        }
        .to_string();
        assert_eq!(
            text,
            "the message body has no MIME parts; its raw text is shown instead"
        );
    }
}
