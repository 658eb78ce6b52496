//! One IMAP response (and a UID set) to the parser: see `mailfront_fuzz::imap`.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    mailfront_fuzz::imap::imap_response(data);
});
