//! Plain text to safe HTML.
//!
//! It owns escaping, line breaks, quote levels, clickable links and the
//! unwrapping of format=flowed text (RFC 3676). The output is a fragment in
//! which every character of the input is escaped; the only markup is what
//! this module writes (`div`, `br`, `blockquote`, `a`). Only http, https and
//! mailto links are made clickable.

use linkify::{LinkFinder, LinkKind};

/// Escape text for HTML content and double-quoted attribute values.
pub(crate) fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + text.len() / 8);
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// Plain text converted to safe HTML: escaped, links (http/https/mailto)
/// made clickable with rel="noopener noreferrer" target="_blank", quoted
/// lines (">") wrapped in `<blockquote class="mf-quote">` by depth. The
/// result is one `<div class="mf-text">` on a single source line: line breaks
/// are `<br>` and runs of spaces `&nbsp;`, so it reads right without any
/// stylesheet and also under `white-space: pre-wrap`.
pub fn text_to_html(text: &str) -> String {
    let text = text.replace("\r\n", "\n").replace('\r', "\n");
    let text = text.strip_suffix('\n').unwrap_or(&text);
    let mut out = String::with_capacity(text.len() * 5 / 4 + 32);
    let mut depth = 0;

    out.push_str("<div class=\"mf-text\">");
    for line in text.split('\n') {
        let (level, content) = split_quote_level(line);
        while depth < level {
            out.push_str("<blockquote class=\"mf-quote\">");
            depth += 1;
        }
        while depth > level {
            out.push_str("</blockquote>");
            depth -= 1;
        }
        push_line(&mut out, content);
        out.push_str("<br>");
    }
    for _ in 0..depth {
        out.push_str("</blockquote>");
    }
    out.push_str("</div>");
    out
}

/// Count leading `>` marks (spaces between them allowed) and return the
/// rest of the line without the marks and one following space.
fn split_quote_level(line: &str) -> (usize, &str) {
    let mut level = 0;
    let mut rest = line;
    loop {
        let trimmed = rest.trim_start_matches(' ');
        match trimmed.strip_prefix('>') {
            Some(after) if level > 0 || trimmed.len() == rest.len() => {
                level += 1;
                rest = after;
            }
            _ => break,
        }
    }
    if level > 0 {
        rest = rest.strip_prefix(' ').unwrap_or(rest);
    }
    (level, rest)
}

/// One line: links become anchors, runs of spaces and tabs stay visible.
fn push_line(out: &mut String, line: &str) {
    let mut finder = LinkFinder::new();
    finder.kinds(&[LinkKind::Url, LinkKind::Email]);

    let mut at_line_start = true;
    for span in finder.spans(line) {
        let href = match span.kind() {
            Some(LinkKind::Url) if is_safe_link(span.as_str()) => Some(span.as_str().to_string()),
            Some(LinkKind::Email) => Some(format!("mailto:{}", span.as_str())),
            _ => None,
        };
        match href {
            Some(href) => {
                out.push_str("<a href=\"");
                out.push_str(&escape_html(&href));
                out.push_str("\" rel=\"noopener noreferrer\" target=\"_blank\">");
                push_spaced(out, span.as_str(), at_line_start);
                out.push_str("</a>");
            }
            None => push_spaced(out, span.as_str(), at_line_start),
        }
        at_line_start = false;
    }
}

fn is_safe_link(url: &str) -> bool {
    let lower = url.to_ascii_lowercase();
    ["http://", "https://", "mailto:"]
        .iter()
        .any(|p| lower.starts_with(p))
}

/// Escape and keep consecutive spaces: every second space of a run and a
/// space at the start of a line become `&nbsp;`; a tab becomes four.
fn push_spaced(out: &mut String, text: &str, at_line_start: bool) {
    let escaped = escape_html(text);
    let mut previous_space = at_line_start;
    for c in escaped.chars() {
        match c {
            ' ' if previous_space => {
                out.push_str("&nbsp;");
                previous_space = false;
            }
            ' ' => {
                out.push(' ');
                previous_space = true;
            }
            '\t' => {
                out.push_str("&nbsp; &nbsp; ");
                previous_space = true;
            }
            _ => {
                out.push(c);
                previous_space = false;
            }
        }
    }
}

/// Undo format=flowed (RFC 3676): a line ending in a space continues on the
/// next line of the same quote depth; space-stuffing is removed; with
/// `delsp` the trailing space itself is deleted. The signature separator
/// `-- ` is never joined.
pub(crate) fn unflow(text: &str, delsp: bool) -> String {
    let text = text.replace("\r\n", "\n");
    let mut out = String::with_capacity(text.len());
    let mut open: Option<usize> = None;

    for line in text.split('\n') {
        let depth = line.bytes().take_while(|&b| b == b'>').count();
        let content = &line[depth..];
        let content = content.strip_prefix(' ').unwrap_or(content);

        if open.is_some_and(|d| d != depth) {
            out.push('\n');
            open = None;
        }
        if open.is_none() {
            out.push_str(&">".repeat(depth));
            if depth > 0 {
                out.push(' ');
            }
        }

        let flowed = content.ends_with(' ') && content != "-- ";
        if flowed {
            let kept = if delsp {
                &content[..content.len() - 1]
            } else {
                content
            };
            out.push_str(kept);
            open = Some(depth);
        } else {
            out.push_str(content);
            out.push('\n');
            open = None;
        }
    }
    if open.is_some() {
        out.push('\n');
    }
    out.strip_suffix('\n').unwrap_or(&out).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_in_text_is_escaped() {
        let html = text_to_html("<script>alert(1)</script> & \"x\"");
        assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt; &amp; &quot;x&quot;"));
        assert!(!html.contains("<script"));
    }

    #[test]
    fn web_and_mail_links_become_anchors() {
        let html = text_to_html("see https://example.org/a?b=1&c=2 or mail bob@example.org");
        assert!(html.contains(
            "<a href=\"https://example.org/a?b=1&amp;c=2\" \
             rel=\"noopener noreferrer\" target=\"_blank\">"
        ));
        assert!(html.contains("<a href=\"mailto:bob@example.org\""));
    }

    #[test]
    fn other_schemes_are_not_linked() {
        let html = text_to_html("javascript:alert(1) and ftp://example.org/x");
        assert!(!html.contains("<a "));
    }

    #[test]
    fn quoted_lines_nest_by_depth() {
        let html = text_to_html("hi\n> one\n>> two\n> > two too\nbye");
        assert_eq!(
            html,
            "<div class=\"mf-text\">hi<br><blockquote class=\"mf-quote\">one<br>\
             <blockquote class=\"mf-quote\">two<br>two too<br></blockquote></blockquote>\
             bye<br></div>"
        );
    }

    #[test]
    fn indentation_stays_visible() {
        let html = text_to_html("  two spaces");
        assert!(html.contains("&nbsp; two spaces"));
    }

    #[test]
    fn flowed_lines_join_and_fixed_lines_break() {
        let text = "This is a long \r\nparagraph.\r\nNext line\r\n>quoted \r\n>more\r\n-- \r\nsig";
        assert_eq!(
            unflow(text, false),
            "This is a long paragraph.\nNext line\n> quoted more\n-- \nsig"
        );
    }

    #[test]
    fn flowed_delsp_removes_the_joining_space() {
        assert_eq!(unflow("Kanji \r\ntext", true), "Kanjitext");
    }

    #[test]
    fn space_stuffing_is_removed() {
        assert_eq!(
            unflow(" From here\r\n >not quote", false),
            "From here\n>not quote"
        );
    }
}
