//! A plain-text reading of HTML, for markup the sanitiser must not parse.
//!
//! It owns two linear scans: an estimate of how deeply an HTML document
//! nests, and the extraction of its text. The HTML parser's cost grows with
//! depth times size, so a message built of tens of thousands of nested
//! elements would stall rendering; such markup is read as text instead.
//! Nothing here produces markup: the text is escaped by its caller.

/// Nesting beyond which HTML is read as text. Real mail stays far below:
/// deeply nested layout tables reach a few dozen levels.
pub(crate) const MAX_HTML_DEPTH: usize = 400;

/// Elements that never have content.
const VOID: [&str; 14] = [
    "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param", "source",
    "track", "wbr",
];

/// Elements a parser closes by itself when a sibling opens (or, for `a`,
/// when another link starts); unclosed ones do not nest.
const SELF_CLOSING_SIBLINGS: [&str; 18] = [
    "p", "li", "dt", "dd", "tr", "td", "th", "option", "optgroup", "thead", "tbody", "tfoot",
    "colgroup", "rp", "rt", "html", "body", "a",
];

/// One tag found by the scan.
struct TagAt<'a> {
    name: &'a str,
    closing: bool,
    self_closed: bool,
    /// Offset just past the `>`.
    end: usize,
}

/// Read the tag starting at `start` (a `<`), or None when it is not a tag.
fn tag_at(html: &str, start: usize) -> Option<TagAt<'_>> {
    let rest = &html[start + 1..];
    let closing = rest.starts_with('/');
    let name_start = start + 1 + usize::from(closing);
    let name_len = html[name_start..]
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == ':'))
        .unwrap_or(html.len() - name_start);
    if name_len == 0 || !html[name_start..].starts_with(|c: char| c.is_ascii_alphabetic()) {
        return None;
    }
    let end = html[start..]
        .find('>')
        .map_or(html.len(), |e| start + e + 1);
    Some(TagAt {
        name: &html[name_start..name_start + name_len],
        closing,
        self_closed: html[..end].ends_with("/>"),
        end,
    })
}

/// Whether the nesting of `html` goes past `limit` open elements, by a scan
/// that counts start and end tags the way a parser would in most cases.
pub(crate) fn nests_deeper_than(html: &str, limit: usize) -> bool {
    let mut depth: usize = 0;
    let mut pos = 0;

    while let Some(offset) = html[pos..].find('<') {
        let start = pos + offset;
        let Some(tag) = tag_at(html, start) else {
            pos = start + 1;
            continue;
        };
        pos = tag.end;
        let name = tag.name.to_ascii_lowercase();
        if VOID.contains(&name.as_str()) || SELF_CLOSING_SIBLINGS.contains(&name.as_str()) {
            continue;
        }
        if tag.closing {
            depth = depth.saturating_sub(1);
        } else if !tag.self_closed {
            depth += 1;
            if depth > limit {
                return true;
            }
        }
    }
    false
}

/// The text of an HTML document: tags, comments, scripts and style sheets
/// removed; line breaks where blocks end; common entities decoded.
pub(crate) fn html_to_text(html: &str) -> String {
    let lower = html.to_ascii_lowercase();
    let mut out = String::with_capacity(html.len() / 2);
    let mut pos = 0;

    while let Some(offset) = html[pos..].find('<') {
        let start = pos + offset;
        out.push_str(&decode_entities(&html[pos..start]));
        if lower[start..].starts_with("<!--") {
            pos = lower[start..]
                .find("-->")
                .map_or(html.len(), |e| start + e + 3);
            continue;
        }
        let Some(tag) = tag_at(html, start) else {
            out.push('<');
            pos = start + 1;
            continue;
        };
        let name = tag.name.to_ascii_lowercase();
        pos = tag.end;
        if !tag.closing && matches!(name.as_str(), "script" | "style" | "title" | "template") {
            let close = format!("</{name}");
            pos = lower[pos..].find(&close).map_or(html.len(), |e| pos + e);
        } else if matches!(
            name.as_str(),
            "br" | "p" | "div" | "tr" | "li" | "h1" | "h2" | "h3"
        ) && !out.ends_with('\n')
        {
            out.push('\n');
        }
    }
    out.push_str(&decode_entities(&html[pos..]));
    out
}

/// Decode `&lt;`, `&gt;`, `&amp;`, `&quot;`, `&apos;`, `&nbsp;` and numeric
/// references; leave anything else as written.
fn decode_entities(text: &str) -> String {
    if !text.contains('&') {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        rest = &rest[amp..];
        let Some(semi) = rest.find(';').filter(|&s| s <= 10) else {
            out.push('&');
            rest = &rest[1..];
            continue;
        };
        let entity = &rest[1..semi];
        let decoded = match entity {
            "lt" => Some('<'),
            "gt" => Some('>'),
            "amp" => Some('&'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            "nbsp" => Some('\u{a0}'),
            _ => numeric_reference(entity),
        };
        match decoded {
            Some(c) => {
                out.push(c);
                rest = &rest[semi + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

fn numeric_reference(entity: &str) -> Option<char> {
    let number = entity.strip_prefix('#')?;
    let value = match number.strip_prefix(['x', 'X']) {
        Some(hex) => u32::from_str_radix(hex, 16).ok()?,
        None => number.parse().ok()?,
    };
    char::from_u32(value).filter(|c| !c.is_control() || c.is_whitespace())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordinary_mail_markup_is_shallow() {
        let html = "<html><body><table><tr><td><p>a<p>b<li>c<br><img src=x></td></tr></table>";
        assert!(!nests_deeper_than(html, 10));
    }

    #[test]
    fn thousands_of_nested_divs_are_deep() {
        assert!(nests_deeper_than(&"<div>".repeat(5_000), MAX_HTML_DEPTH));
        assert!(!nests_deeper_than(
            &"<div></div>".repeat(5_000),
            MAX_HTML_DEPTH
        ));
    }

    #[test]
    fn text_keeps_words_and_drops_markup_scripts_and_comments() {
        let html =
            "<p>One &amp; <b>two</b></p><script>x()</script><!-- c --><div>3&#x33;&lt;</div>";
        assert_eq!(html_to_text(html), "\nOne & two\n33<\n");
    }

    #[test]
    fn stray_angle_brackets_and_unknown_entities_stay() {
        assert_eq!(html_to_text("a < b &unknown; c"), "a < b &unknown; c");
    }
}
