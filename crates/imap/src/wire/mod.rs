//! The wire format: reading and parsing what an IMAP server sends.
//!
//! `frame` cuts the stream into whole responses within size bounds, `value`
//! tokenizes one response, `response` gives it a type, `fetch` interprets
//! FETCH items, `header_fields` reads the header fields a FETCH returns and
//! `sequence` handles UID sets. Nothing here writes to the network or keeps
//! state between responses.

pub(crate) mod fetch;
pub(crate) mod frame;
pub(crate) mod header_fields;
pub(crate) mod response;
pub(crate) mod sequence;
pub(crate) mod value;
