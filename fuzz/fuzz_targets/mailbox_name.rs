//! Mailbox names to the modified UTF-7 codec: see `mailfront_fuzz::names`.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    mailfront_fuzz::names::mailbox_name(data);
});
