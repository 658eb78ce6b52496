//! Every seed through its target's checks, without libFuzzer: a plain
//! `cargo test` in `fuzz/` shows that the checks hold on the seeds and that
//! this crate still builds against the product's sources. Inputs libFuzzer
//! kept in `fuzz/corpus/<target>` are replayed too when that folder exists.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

type Check = fn(&[u8]);

const TARGETS: [(&str, Check); 6] = [
    ("imap_response", mailfront_fuzz::imap::imap_response),
    ("imap_frames", mailfront_fuzz::imap::imap_frames),
    (
        "imap_command_string",
        mailfront_fuzz::imap::imap_command_string,
    ),
    ("mime_render", mailfront_fuzz::mime::mime_render),
    ("html_sanitize", mailfront_fuzz::mime::html_sanitize),
    ("mailbox_name", mailfront_fuzz::names::mailbox_name),
];

fn files_in(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
}

#[test]
fn every_seed_passes_its_targets_checks() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for (target, check) in TARGETS {
        let seeds = files_in(&root.join("seeds").join(target));
        assert!(!seeds.is_empty(), "fuzz/seeds/{target} holds seeds");

        let corpus = files_in(&root.join("corpus").join(target));
        for path in seeds.iter().chain(&corpus) {
            // A running fuzzer may delete a corpus file meanwhile.
            let Ok(data) = std::fs::read(path) else {
                assert!(!seeds.contains(path), "seed {} reads", path.display());
                continue;
            };
            let passed = catch_unwind(AssertUnwindSafe(|| check(&data))).is_ok();
            assert!(passed, "{target} fails on {}", path.display());
        }
        println!(
            "{target}: {} seeds, {} corpus inputs",
            seeds.len(),
            corpus.len()
        );
    }
}

#[test]
fn the_html_check_reads_css_quotes_as_a_browser_does() {
    // An open quote ends at the line break, so the second line's text is a
    // declaration of `p` to a browser, with a remote background.
    let html = "<style>p { a: \" }\n\"\n; background: url(//t.example/x.png); } q { color: red }\n\
                </style><p>hi</p>";
    let refused = catch_unwind(|| mailfront_fuzz::html_check::assert_safe_html(html, false));
    assert!(refused.is_err(), "the remote background is found");

    let harmless = "<style>p { color: red }\n</style><p style=\"color: blue\">hi</p>";
    mailfront_fuzz::html_check::assert_safe_html(harmless, false);
}
