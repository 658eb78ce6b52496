//! Helpers shared by the integration tests: where the shared test data
//! lives, and reading what a reader would see out of a view.
//!
//! The shared data (/work/shared/cases, /work/shared/corpus) sits beside the
//! repository and is never copied into it. When it is missing a test says
//! so and passes, except under CI (variable `CI` set), where it fails.

#![allow(dead_code)]

use std::io::Write;
use std::path::PathBuf;

use mailfront_mime::{BodyBlock, MessageView};

/// `<workspace root>/../shared/<sub>`, or None (with a note) when absent.
pub fn shared_dir(sub: &str) -> Option<PathBuf> {
    let dir = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared")).join(sub);
    if dir.is_dir() {
        return Some(dir);
    }
    if std::env::var_os("CI").is_some() {
        panic!(
            "{} is missing; CI needs the shared test data beside the repository",
            dir.display()
        );
    }
    // Straight to stderr, past the harness's capture, so a skip shows even
    // in a passing run.
    let _ = writeln!(
        std::io::stderr(),
        "skipped: {} is missing; lay out shared/ beside the repository",
        dir.display()
    );
    None
}

/// The bytes of one shared case file.
pub fn case(name: &str) -> Option<Vec<u8>> {
    let dir = shared_dir("cases")?;
    let path = dir.join(name);
    Some(std::fs::read(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display())))
}

/// The bytes of one of this crate's own fixtures.
pub fn fixture(name: &str) -> Vec<u8> {
    let path = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures")).join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

/// Wrap an HTML body in a minimal message, as a mail client would send it.
pub fn html_message(html: &[u8], charset: &str) -> Vec<u8> {
    let mut raw = format!(
        "From: Tester <t@example.org>\r\nSubject: html\r\nMIME-Version: 1.0\r\n\
         Content-Type: text/html; charset={charset}\r\n\r\n"
    )
    .into_bytes();
    raw.extend_from_slice(html);
    raw
}

/// The text content of an HTML fragment: tags removed, a few entities
/// decoded, whitespace collapsed. Good enough to find sentences.
pub fn visible_text(html: &str) -> String {
    let mut out = String::new();
    let mut in_tag = false;
    let mut in_style = false;
    let lower = html.to_ascii_lowercase();
    let mut i = 0;
    while i < html.len() {
        let rest = &lower[i..];
        if !in_tag && rest.starts_with("<style") {
            in_style = true;
        }
        if in_style && rest.starts_with("</style") {
            in_style = false;
        }
        let c = html[i..].chars().next().unwrap_or(' ');
        match c {
            '<' => in_tag = true,
            '>' if in_tag => {
                in_tag = false;
                out.push(' ');
            }
            _ if in_tag || in_style => {}
            _ => out.push(c),
        }
        i += c.len_utf8();
    }
    let out = out
        .replace("&nbsp;", " ")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&");
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Everything a reader would see of a view's body, nested messages
/// included (their headers excluded).
pub fn body_text(view: &MessageView) -> String {
    let mut parts = Vec::new();
    for block in &view.body {
        match block {
            BodyBlock::Text { html } | BodyBlock::Html { html } => parts.push(visible_text(html)),
            BodyBlock::Message(inner) => parts.push(body_text(inner)),
        }
    }
    parts.join(" ")
}

/// Every HTML string of a view's body, nested messages included.
pub fn body_html(view: &MessageView) -> String {
    let mut parts = Vec::new();
    for block in &view.body {
        match block {
            BodyBlock::Text { html } | BodyBlock::Html { html } => parts.push(html.clone()),
            BodyBlock::Message(inner) => parts.push(body_html(inner)),
        }
    }
    parts.join("\n")
}
