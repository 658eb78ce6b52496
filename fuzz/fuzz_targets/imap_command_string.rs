//! A string through the command builder and back: see `mailfront_fuzz::imap`.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    mailfront_fuzz::imap::imap_command_string(data);
});
