//! Golden files: `tests/golden/<suite>/NNN.eml` rendered and compared with
//! `NNN.out` beside it (the text dump of the view). On a mismatch the actual
//! output is written to `NNN.failed` and named in the failure. Running with
//! `MAILFRONT_BLESS=1` rewrites the `.out` files; review their diff.

use std::path::{Path, PathBuf};

use mailfront_mime::{render_message, RenderOptions};

fn suite_dir(suite: &str) -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/golden")).join(suite)
}

fn run_suite(suite: &str) {
    let dir = suite_dir(suite);
    let mut messages: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "eml"))
        .collect();
    messages.sort();
    assert!(
        !messages.is_empty(),
        "golden suite {} is empty",
        dir.display()
    );

    let bless = std::env::var_os("MAILFRONT_BLESS").is_some();
    let mismatches: Vec<String> = messages
        .iter()
        .filter_map(|path| check_one(path, bless))
        .collect();
    assert!(
        mismatches.is_empty(),
        "golden output differs; compare: {}",
        mismatches.join(", ")
    );
}

/// Render one message; return the path of the `.failed` file on mismatch.
fn check_one(path: &Path, bless: bool) -> Option<String> {
    let options = RenderOptions {
        part_url_prefix: "/part/".to_string(),
        allow_remote: false,
    };
    let raw = std::fs::read(path).unwrap();
    let actual = render_message(&raw, &options).dump();
    let expected_path = path.with_extension("out");
    let failed_path = path.with_extension("failed");

    if bless {
        std::fs::write(&expected_path, &actual).unwrap();
    }
    let expected = std::fs::read_to_string(&expected_path).unwrap_or_default();
    if expected == actual {
        let _ = std::fs::remove_file(&failed_path);
        return None;
    }
    std::fs::write(&failed_path, &actual).unwrap();
    Some(format!(
        "{} with {}",
        failed_path.display(),
        expected_path.display()
    ))
}

#[test]
fn well_formed_messages_render_as_recorded() {
    run_suite("rfc");
}

#[test]
fn malformed_messages_render_as_recorded() {
    run_suite("malformed");
}
