//! The fuzz targets of mailfront: what each one feeds to the product and
//! which properties it checks beyond "does not panic".
//!
//! This crate owns the checks; the files under `fuzz_targets/` only hand
//! libFuzzer's bytes to a function here. It must not change what the
//! product does, so it never wraps or patches product code: a failed check
//! panics, and libFuzzer keeps the input as a crash.
//!
//! The IMAP wire parser is private to `mailfront-imap`. Rather than widen
//! that library's API for a test tool, this crate compiles the very same
//! source files (`wire`, `command`, and the `types` and `error` they use)
//! as its own modules and calls the parser and the command builder
//! directly. Those files may only depend on each other and on
//! `crate::decode_mailbox_name`; a new dependency of theirs has to be
//! mirrored here before this crate builds again.

#[path = "../../crates/imap/src/types/mod.rs"]
#[allow(dead_code, unused_imports)]
mod types;

#[path = "../../crates/imap/src/error.rs"]
#[allow(dead_code)]
mod error;

#[path = "../../crates/imap/src/command.rs"]
#[allow(dead_code)]
mod command;

#[path = "../../crates/imap/src/wire/mod.rs"]
#[allow(dead_code)]
mod wire;

use mailfront_imap::decode_mailbox_name;

pub mod html_check;
pub mod imap;
pub mod mime;
pub mod names;
