//! A raw message to the renderer: see `mailfront_fuzz::mime`.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    mailfront_fuzz::mime::mime_render(data);
});
