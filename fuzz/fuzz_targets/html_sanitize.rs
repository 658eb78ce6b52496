//! An HTML part to the sanitiser: see `mailfront_fuzz::mime`.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    mailfront_fuzz::mime::html_sanitize(data);
});
