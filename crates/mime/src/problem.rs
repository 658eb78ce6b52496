//! Faults found while reading a message, kept beside the rendered view.
//!
//! It owns the wording users see for damaged messages. A problem never stops
//! rendering: the part it names is still shown as far as it could be read.

use thiserror::Error;

/// Something wrong with one part of a message. Display text has the form
/// `<what failed>; <what the reader gets instead>`.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum Problem {
    /// A multipart body has no closing delimiter: the sender or a relay cut
    /// the message short.
    #[error("the message ends before its last MIME boundary (part {part}); what arrived is shown")]
    MissingCloseBoundary { part: String },

    /// A multipart body contains no delimiter at all.
    #[error("multipart part {part} has no parts; its raw text is shown instead")]
    NoParts { part: String },

    /// Base64 with stray bytes or cut inside a byte.
    #[error("part {part} has damaged base64; the bytes that could be decoded are shown")]
    DamagedBase64 { part: String },

    /// Bytes that are not valid in the declared charset.
    #[error("part {part} is not valid {charset}; unreadable bytes are shown as \u{FFFD}")]
    InvalidCharset { part: String, charset: String },

    /// Nesting beyond what the renderer follows.
    #[error("part {part} is nested too deeply; it is shown as raw text")]
    NestedTooDeeply { part: String },
}

#[cfg(test)]
mod tests {
    use super::Problem;

    #[test]
    fn problem_text_names_the_part_and_what_is_shown() {
        let text = Problem::MissingCloseBoundary { part: "1".into() }.to_string();
        assert!(text.starts_with("the message ends before its last MIME boundary"));
        assert!(text.contains("; what arrived is shown"));
    }
}
