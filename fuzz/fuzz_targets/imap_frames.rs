//! A server's byte stream to the framer and parser: see `mailfront_fuzz::imap`.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    mailfront_fuzz::imap::imap_frames(data);
});
