//! Print the view of each message file named on the command line, in the
//! same text form the golden tests compare.
//!
//! `cargo run -p mailfront-mime --example render -- message.eml ...`

fn main() {
    let options = mailfront_mime::RenderOptions {
        part_url_prefix: "/part/".to_string(),
        allow_remote: std::env::var_os("ALLOW_REMOTE").is_some(),
    };
    for path in std::env::args().skip(1) {
        match std::fs::read(&path) {
            Ok(raw) => {
                println!("== {path}");
                print!("{}", mailfront_mime::render_message(&raw, &options).dump());
            }
            Err(e) => eprintln!("cannot read {path}: {e}; check the path"),
        }
    }
}
