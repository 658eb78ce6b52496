//! mailfront's message renderer: raw RFC 5322 messages to a view model for
//! the web pages.
//!
//! The crate owns everything between the bytes of a message and safe HTML:
//! MIME structure (module `entity`), transfer encodings, charsets, header
//! words, addresses, dates, plain text to HTML, and the HTML sanitiser. It
//! knows nothing of IMAP or HTTP; the web app fetches bytes and serves what
//! this crate returns.
//!
//! Promises a caller relies on: no function panics or fails on any input;
//! one damaged part never hides the rest of a message (it is shown as far
//! as it can be read and named in [`MessageView::problems`]); every HTML
//! string in a view is safe to embed as described on [`BodyBlock`].
//!
//! # Limitations
//!
//! - Encrypted (S/MIME, PGP/MIME) parts are listed as attachments, never
//!   decrypted; signatures are not verified.
//! - `uuencode` blocks inside text and `binhex` are shown as text.
//! - HTML that nests more than 400 elements deep (by a quick count of
//!   start and end tags) is shown as plain text, because parsing it would
//!   take time that grows with depth times size. Old markup with hundreds of
//!   unclosed `<font>` or `<span>` tags falls under this too.
//! - CSS is filtered declaration by declaration, not parsed: a declaration
//!   that contains an escape or `url()` to anything but a web address is
//!   dropped, even where a browser would find it harmless.

mod address;
mod charset;
mod css;
mod date;
mod entity;
mod extract;
mod header;
mod html_text;
mod link_targets;
mod params;
mod problem;
mod reading;
mod render;
mod sanitize;
mod text;
mod transfer;
mod utf7;
mod view;

pub use address::{parse_address_list, MailAddress};
pub use date::parse_date;
pub use extract::{
    content_disposition, extract_part, render_embedded_message, Disposition, PartContent,
};
pub use header::decode_header;
pub use problem::Problem;
pub use reading::{header_value, plain_text};
pub use render::render_message;
pub use sanitize::{sanitize_html, SanitizedHtml};
pub use text::text_to_html;
pub use view::{AttachmentInfo, BodyBlock, MessageView, RenderOptions};
